//! Public on-demand prices (us-east-1, as published in 2026) and the cost of a day of syncs
//! from measured counts. Kept apart from the report so every cost table (per tenant, per fleet)
//! prices the same counts the same way.

/// Lambda arm64, per GB-second.
pub const LAMBDA_GB_S_ARM: f64 = 0.000_013_333_4;
/// Lambda, per invocation.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
/// DynamoDB on-demand, per write request unit.
pub const DDB_WRU: f64 = 0.625 / 1e6;
/// DynamoDB on-demand, per read request unit.
pub const DDB_RRU: f64 = 0.125 / 1e6;
/// SQS standard queue, per request.
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
/// Secrets Manager, per API call.
pub const SECRETS_CALL: f64 = 0.05 / 10_000.0;
/// Memory the worker function is deployed with (template.yaml), GB.
pub const WORKER_GB: f64 = 0.5;
/// SQS requests per worker invocation: the send that enqueued the job, the receive, the delete.
pub const SQS_REQUESTS_PER_JOB: u64 = 3;
/// Secrets Manager calls per worker invocation: the tenant secret for each client and the app
/// secret (read once per cold invocation at most; counted on every one to stay on the safe side).
pub const SECRETS_CALLS_PER_JOB: u64 = 3;

/// What one tenant's syncs of a day use.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Worker seconds across invocations.
    pub busy_seconds: f64,
    /// Worker invocations (1 + continuations per run).
    pub invocations: u64,
    pub write_units: u64,
    pub read_units: u64,
    pub sqs_requests: u64,
    pub secrets_calls: u64,
}

impl Usage {
    /// One sync's usage from its measured counts; SQS and Secrets calls follow from the
    /// invocations.
    pub fn of_sync(busy_seconds: f64, invocations: u64, write_units: u64, read_units: u64) -> Self {
        Usage {
            busy_seconds,
            invocations,
            write_units,
            read_units,
            sqs_requests: invocations * SQS_REQUESTS_PER_JOB,
            secrets_calls: invocations * SECRETS_CALLS_PER_JOB,
        }
    }

    pub fn gb_seconds(&self) -> f64 {
        self.busy_seconds * WORKER_GB
    }

    /// Dollars for this usage.
    pub fn dollars(&self) -> f64 {
        self.gb_seconds() * LAMBDA_GB_S_ARM
            + self.invocations as f64 * LAMBDA_REQUEST
            + self.write_units as f64 * DDB_WRU
            + self.read_units as f64 * DDB_RRU
            + self.sqs_requests as f64 * SQS_REQUEST
            + self.secrets_calls as f64 * SECRETS_CALL
    }
}

/// The price list as one sentence, for a report.
pub fn describe() -> String {
    format!(
        "Lambda arm64 ${LAMBDA_GB_S_ARM} per GB-s at {WORKER_GB} GB and ${:.2} per million requests; \
         DynamoDB on-demand ${:.3} per million write units and ${:.3} per million read units; SQS \
         ${:.2} per million requests ({SQS_REQUESTS_PER_JOB} per invocation: send, receive, delete); \
         Secrets Manager ${:.2} per 10,000 calls ({SECRETS_CALLS_PER_JOB} per invocation)",
        LAMBDA_REQUEST * 1e6,
        DDB_WRU * 1e6,
        DDB_RRU * 1e6,
        SQS_REQUEST * 1e6,
        SECRETS_CALL * 10_000.0
    )
}
