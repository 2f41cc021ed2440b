use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::{ObjectKind, RunId, TenantId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Schedule,
    Enable,
    RunNow,
    Webhook,
    Continuation,
    DryRun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    /// Every record written.
    Succeeded,
    /// Finished, but some records failed; they are retried on the next run.
    Partial,
    /// Stopped by an error that affects the whole tenant (auth, config, outage).
    Failed,
    /// Time budget reached; a continuation job picks up from the checkpoint.
    Continued,
    /// Stopped without finishing (worker killed, lease expired); the next job resumed it.
    Interrupted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Push,
    Pull,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunCounts {
    pub pushed: u64,
    pub pulled: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub retried: u64,
    pub resolved: u64,
    pub ambiguous: u64,
    pub unmatched: u64,
    #[serde(default)]
    pub actions: u64,
    /// Pushed properties a person had edited in HubSpot, overwritten with Pendo's values.
    #[serde(default)]
    pub overwritten: u64,
    /// Visitors Pendo flags do-not-process, left out of every HubSpot write.
    #[serde(default)]
    pub do_not_process: u64,
    /// Newly flagged visitors whose Pendo properties were cleared in HubSpot.
    #[serde(default)]
    pub privacy_cleared: u64,
    /// Custom event occurrences sent to HubSpot.
    #[serde(default)]
    pub events_sent: u64,
    /// Event property values cut to HubSpot's length limits (sent cut, never rejected).
    #[serde(default)]
    pub events_truncated: u64,
    /// Event rows of visitors with no linked contact and no e-mail-shaped id (not sent).
    #[serde(default)]
    pub events_unlinked: u64,
    /// Segment members who joined / left a mapped segment and were written to HubSpot.
    #[serde(default)]
    pub segment_joined: u64,
    #[serde(default)]
    pub segment_left: u64,
}

impl RunCounts {
    pub fn add(&mut self, other: &RunCounts) {
        self.pushed += other.pushed;
        self.pulled += other.pulled;
        self.unchanged += other.unchanged;
        self.failed += other.failed;
        self.retried += other.retried;
        self.resolved += other.resolved;
        self.ambiguous += other.ambiguous;
        self.unmatched += other.unmatched;
        self.actions += other.actions;
        self.overwritten += other.overwritten;
        self.do_not_process += other.do_not_process;
        self.privacy_cleared += other.privacy_cleared;
        self.events_sent += other.events_sent;
        self.events_truncated += other.events_truncated;
        self.events_unlinked += other.events_unlinked;
        self.segment_joined += other.segment_joined;
        self.segment_left += other.segment_left;
    }
}

/// One record that did not sync, with enough context for an admin to fix it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordError {
    pub direction: Direction,
    pub object: ObjectKind,
    pub object_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRecord {
    pub run_id: RunId,
    pub tenant_id: TenantId,
    pub job_id: String,
    pub trigger: Trigger,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    #[serde(default)]
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    /// API calls by kind, e.g. `hubspot.write`, `pendo.aggregation`.
    #[serde(default)]
    pub api_calls: BTreeMap<String, u64>,
    #[serde(default)]
    pub error: Option<String>,
    /// Number of invocations (1 + continuations) the run took.
    #[serde(default = "one")]
    pub invocations: u32,
    /// Per-record errors stored for this run (paged separately).
    #[serde(default)]
    pub errors_recorded: u64,
    /// Seconds spent across invocations.
    #[serde(default)]
    pub busy_seconds: f64,
    /// What the lifecycle rules did (first 1,000; `counts.actions` has the total).
    #[serde(default)]
    pub actions: Vec<super::ActionRecord>,
    /// The interrupted run this one carried on from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<RunId>,
    /// Time and API calls per phase, in the order the phases ran (across invocations).
    #[serde(default)]
    pub phases: Vec<PhaseStats>,
}

/// One phase of a run: `schema`, `visitor activity`, …, `account pull`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PhaseStats {
    pub phase: String,
    /// Wall time spent in the phase, seconds.
    pub seconds: f64,
    /// HubSpot and Pendo requests the phase sent (retries included).
    pub api_calls: u64,
}

impl RunRecord {
    /// Adds `seconds` and `api_calls` to `phase` (appended the first time it runs).
    pub fn add_phase(&mut self, phase: &str, seconds: f64, api_calls: u64) {
        match self.phases.iter_mut().find(|p| p.phase == phase) {
            Some(p) => {
                p.seconds += seconds;
                p.api_calls += api_calls;
            }
            None => self.phases.push(PhaseStats {
                phase: phase.to_string(),
                seconds,
                api_calls,
            }),
        }
    }
}

fn one() -> u32 {
    1
}

impl RunRecord {
    pub fn start(
        run_id: RunId,
        tenant_id: TenantId,
        job_id: String,
        trigger: Trigger,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            run_id,
            tenant_id,
            job_id,
            trigger,
            status: RunStatus::Running,
            started_at: now,
            finished_at: None,
            counts: RunCounts::default(),
            api_calls: BTreeMap::new(),
            error: None,
            invocations: 1,
            errors_recorded: 0,
            busy_seconds: 0.0,
            actions: Vec::new(),
            resumed_from: None,
            phases: Vec::new(),
        }
    }
}
