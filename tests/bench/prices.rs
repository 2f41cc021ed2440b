//! Public on-demand prices, us-east-1, as published in 2026: the same inputs as the cost table
//! in report.rs (kept equal by hand: report.rs is edited elsewhere), as one function so the
//! fleet's per-tenant costs use exactly that model.

pub const LAMBDA_GB_S_ARM: f64 = 0.000_013_333_4;
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
pub const DDB_WRU: f64 = 0.625 / 1e6;
pub const DDB_RRU: f64 = 0.125 / 1e6;
pub const SQS_REQUEST: f64 = 0.40 / 1e6;
pub const SECRETS_CALL: f64 = 0.05 / 10_000.0;
pub const WORKER_GB: f64 = 0.5;

/// What one tenant's day used.
#[derive(Clone, Debug, Default)]
pub struct Usage {
    pub busy_seconds: f64,
    pub jobs: u64,
    pub write_units: u64,
    pub read_units: u64,
}

impl Usage {
    /// Dollars, counted as report.rs counts them: per job one SQS send, receive and delete, and
    /// three Secrets Manager reads (the tenant secret for each client and the app secret).
    pub fn dollars(&self) -> f64 {
        self.busy_seconds * WORKER_GB * LAMBDA_GB_S_ARM
            + self.jobs as f64 * LAMBDA_REQUEST
            + self.write_units as f64 * DDB_WRU
            + self.read_units as f64 * DDB_RRU
            + (self.jobs * 3) as f64 * SQS_REQUEST
            + (self.jobs * 3) as f64 * SECRETS_CALL
    }
}
