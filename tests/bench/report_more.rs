//! The main run's report, continued: the naive baseline side by side, the Pendo pull, the engine
//! alone, the webhook burst, Lambda packages and the cost per tenant-day.

use std::fmt::Write;

use crate::baseline::{Comparison, Naive};
use crate::extras::{Burst, DiffRate, LambdaPackage, PendoPull, DIFF_RATE_GOAL};
use crate::prices::{self, Usage};
use crate::report::{goal_rows, hubspot_calls, invocations, met, thousands, wall};
use crate::Scenario;

pub fn comparison(md: &mut String, c: Option<&Comparison>) {
    let Some(c) = c else {
        return;
    };
    let _ = writeln!(md, "## Side by side with the naive per-record approach\n");
    let _ = writeln!(
        md,
        "Both measured in this run on {} visitors, each on its own fresh sandboxes with the same \
         seeded dataset (its own HubSpot portal, so its own rate budget): an initial sync, then \
         a daily sync after a day on which 1 % of visitors were active. The naive approach does \
         what a typical workflow tool does, with the same client and limiter: for each visitor, \
         compute its values (our field code over its usage history, read in-process: no Pendo \
         call is counted against it), search the contact (`pendo_visitor_id EQ …`), update it. \
         It keeps no state, so it neither diffs nor batches, and writes contacts only (ours also \
         writes companies and pulls HubSpot edits back). HubSpot calls exclude OAuth token \
         refreshes.\n",
        thousands(c.n as u64)
    );
    let _ = writeln!(
        md,
        "| sync of {} visitors | naive calls | our calls | calls naive ÷ ours | naive wall s | our wall s | wall naive ÷ ours |",
        thousands(c.n as u64)
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|");
    let row = |md: &mut String, what: &str, naive: &Naive, ours: &Scenario| {
        let _ = writeln!(
            md,
            "| {what} | {} | {} | {:.1}× | {:.1} | {:.1} | {:.1}× |",
            naive.calls,
            hubspot_calls(ours),
            naive.calls as f64 / hubspot_calls(ours).max(1) as f64,
            naive.seconds,
            wall(ours),
            naive.seconds / wall(ours).max(0.001),
        );
    };
    row(md, "initial", &c.naive_initial, &c.ours_initial);
    row(md, "daily, 1 % active", &c.naive_daily, &c.ours_daily);
    let searches = c.naive_initial.searches + c.naive_daily.searches;
    let seconds = c.naive_initial.seconds + c.naive_daily.seconds;
    let _ = writeln!(
        md,
        "\nThe naive syncs sent {searches} searches in {seconds:.0} s ({:.1} per second) for {} visitors each.\n",
        searches as f64 / seconds.max(0.001),
        c.naive_initial.visitors
    );
}

pub fn pendo_pull(md: &mut String, pulls: &[PendoPull]) {
    let _ = writeln!(md, "## Pendo: full pull of all visitors\n");
    let _ = writeln!(
        md,
        "| visitors | aggregation calls (500 per page, keyset) | wall s |"
    );
    let _ = writeln!(md, "|---|---|---|");
    for p in pulls {
        let _ = writeln!(md, "| {} | {} | {:.1} |", p.visitors, p.calls, p.seconds);
    }
    let _ = writeln!(md);
}

pub fn engine(md: &mut String, diff: &DiffRate, burst: &Burst) {
    let rate = diff.records as f64 / diff.cpu_seconds;
    let _ = writeln!(md, "## Engine alone\n");
    let _ = writeln!(md, "- Records diffed per CPU-second, single thread, over {} records (each record's values computed from its usage history, fingerprinted and compared with yesterday's fingerprint, the property map built for the {} that changed as the windows moved a day; `diff_record`, as the push runs it, on pages of {} histories parsed from their stored JSON just before, as the push reads them): **{:.0}** ({:.2} CPU s); goal ≥ {}: {}.", thousands(diff.records as u64), thousands(diff.changed as u64), diff.page, rate, diff.cpu_seconds, thousands(DIFF_RATE_GOAL as u64), met(rate >= DIFF_RATE_GOAL));
    let _ = writeln!(md, "- Stored usage history per visitor (compact active-day list + latest NPS, JSON): **{:.0} bytes** on average for {:.0} active days of 360, versus 360 rows per visitor for a day-per-row design ({} rows for these {} records).\n", diff.history_bytes_avg, diff.active_days_avg, thousands(360 * diff.records as u64), thousands(diff.records as u64));
    let _ = writeln!(md, "## Webhook burst\n");
    let _ = writeln!(md, "{} NPS webhooks for {} distinct visitors through the intake router on the embedded store (every second one a redelivery): {:.1} s, {:.0} events/s; {} duplicates dropped; **{} sync job(s)** enqueued.\n", burst.events, burst.visitors, burst.seconds, burst.events as f64 / burst.seconds.max(0.001), burst.duplicates, burst.jobs);
}

/// Only what this run measured: nothing when no package was built.
pub fn lambdas(md: &mut String, lambdas: &[LambdaPackage]) {
    let measured = |l: &LambdaPackage| l.arm64_bytes.is_some() || l.init_ms.is_some();
    if !lambdas.iter().any(measured) {
        return;
    }
    let _ = writeln!(md, "## Lambda packages, this run\n");
    let _ = writeln!(md, "| function | arm64 bootstrap (stripped) | zipped | init to first `/next` ({} release build) |", std::env::consts::ARCH);
    let _ = writeln!(md, "|---|---|---|---|");
    for l in lambdas.iter().filter(|l| measured(l)) {
        let mb = |b: Option<u64>| {
            b.map_or("not built".into(), |b| {
                format!("{:.1} MB", b as f64 / 1_048_576.0)
            })
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            l.name,
            mb(l.arm64_bytes),
            mb(l.arm64_zip_bytes),
            l.init_ms
                .map_or("not built".into(), |m| format!("{m:.0} ms"))
        );
    }
    let _ = writeln!(md, "\nInit time: process spawn → first `GET /2018-06-01/runtime/invocation/next` against the harness's Lambda Runtime API emulator.\n");
}

pub fn cost(md: &mut String, scenarios: &[Scenario]) {
    let _ = writeln!(md, "## Cost per tenant-day\n");
    let _ = writeln!(md, "For every tenant size of this run, from the measured counts of its initial sync and of its daily 1 % sync (one full sync per day), at public on-demand prices (us-east-1): {}. DynamoDB units are counted by the store wrapper (1 read unit per 4 KB strongly consistent, 1 write unit per 1 KB, per item). HubSpot and Pendo calls cost nothing per call but are the budget the tables above show.\n", prices::describe());
    let _ = writeln!(md, "| tenant size | scenario | invocations | Lambda GB-s | DynamoDB WRU / RRU | SQS requests | Secrets calls | $ per day |");
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for s in goal_rows(scenarios) {
        let u = Usage::of_sync(
            s.child["run"]["busy_seconds"].as_f64().unwrap_or(0.0),
            invocations(s),
            s.child["store_write_units"].as_u64().unwrap_or(0),
            s.child["store_read_units"].as_u64().unwrap_or(0),
        );
        let _ = writeln!(
            md,
            "| {} visitors | {} | {} | {:.1} | {} / {} | {} | {} | ${:.4} |",
            thousands(s.n as u64),
            s.name,
            u.invocations,
            u.gb_seconds(),
            u.write_units,
            u.read_units,
            u.sqs_requests,
            u.secrets_calls,
            u.dollars()
        );
    }
    md.push('\n');
}
