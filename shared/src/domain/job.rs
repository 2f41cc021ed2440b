use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{RunId, TenantId, Trigger};

/// A unit of work on the job queue. Every job is for exactly one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Stable id: a retried or repeated enqueue of the same work carries the same id.
    pub job_id: String,
    pub tenant_id: TenantId,
    pub kind: JobKind,
    pub enqueued_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobKind {
    /// Full two-way sync (daily schedule, enable, run now).
    Full { trigger: Trigger },
    /// Only these visitors/accounts (from webhooks, coalesced).
    Incremental {
        visitor_ids: Vec<String>,
        account_ids: Vec<String>,
    },
    /// Drain the tenant's HubSpot change log (fed by HubSpot webhooks): a scoped pull of
    /// just the records named there. `window` is the coalescing window (epoch minute) whose
    /// events queued it.
    HubSpotChanges { window: i64 },
    /// Resume a run that ran out of time budget.
    Continuation { run_id: RunId, trigger: Trigger },
}

/// Dedupe marker held while a "run now" job is queued or running: further requests join it
/// instead of queueing more full syncs. The worker clears it when that run ends; the TTL frees
/// it if the job is lost.
pub const RUN_NOW_MARKER: &str = "run-now-pending";
pub const RUN_NOW_MARKER_TTL_HOURS: i64 = 2;

/// Dedupe marker held while a HubSpot change job of `window` is queued: later events of the
/// window are covered by it. The job clears it when it starts draining.
pub fn hubspot_window_marker(window: i64) -> String {
    format!("hsjob:{window}")
}

/// Dedupe marker held while the Pendo webhook job of `window` is queued (job ids
/// `wh-<tenant>-<window>`); the job clears it when it starts.
pub fn pendo_window_marker(window: i64) -> String {
    format!("whjob:{window}")
}

impl Job {
    /// The coalescing window of a Pendo webhook job (`wh-<tenant>-<window>`).
    pub fn pendo_window(&self) -> Option<i64> {
        match self.kind {
            JobKind::Incremental { .. } => self.job_id.rsplit('-').next()?.parse().ok(),
            _ => None,
        }
    }

    /// The job draining a tenant's HubSpot change log, one per coalescing window.
    pub fn hubspot_changes(tenant_id: TenantId, window: i64, now: DateTime<Utc>) -> Self {
        Self {
            job_id: format!("hs-{tenant_id}-{window}"),
            tenant_id,
            kind: JobKind::HubSpotChanges { window },
            enqueued_at: now,
        }
    }

    /// The trigger of a full run or of its continuation; `None` for incremental jobs.
    pub fn trigger(&self) -> Option<Trigger> {
        match &self.kind {
            JobKind::Full { trigger } | JobKind::Continuation { trigger, .. } => Some(*trigger),
            JobKind::Incremental { .. } | JobKind::HubSpotChanges { .. } => None,
        }
    }

    /// The daily job id: tenant + date, so any retry of that day's fan-out maps to the same id.
    pub fn daily(tenant_id: TenantId, date: NaiveDate, now: DateTime<Utc>) -> Self {
        Self {
            job_id: format!("daily-{}-{}", tenant_id, date.format("%Y%m%d")),
            tenant_id,
            kind: JobKind::Full {
                trigger: Trigger::Schedule,
            },
            enqueued_at: now,
        }
    }

    pub fn full(tenant_id: TenantId, trigger: Trigger, now: DateTime<Utc>) -> Self {
        Self {
            job_id: format!("{}-{}", trigger_name(trigger), uuid::Uuid::new_v4()),
            tenant_id,
            kind: JobKind::Full { trigger },
            enqueued_at: now,
        }
    }

    pub fn continuation(
        tenant_id: TenantId,
        run_id: RunId,
        trigger: Trigger,
        seq: u32,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            job_id: format!("cont-{run_id}-{seq}"),
            tenant_id,
            kind: JobKind::Continuation { run_id, trigger },
            enqueued_at: now,
        }
    }
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::Schedule => "daily",
        Trigger::Enable => "enable",
        Trigger::RunNow => "run-now",
        Trigger::Webhook => "webhook",
        Trigger::Continuation => "cont",
        Trigger::DryRun => "dry-run",
    }
}
