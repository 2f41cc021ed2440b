//! The two-way sync engine: one run per tenant, under its lease, in phases that checkpoint
//! after every batch so a run can stop when its time budget runs low and continue in the next
//! invocation with nothing skipped and nothing written twice.
//!
//! Phases: schema, then two lanes side by side — activity (visitors, accounts) → NPS → push
//! (visitors, accounts) → lifecycle rules, and pull (contacts, companies) — then segments →
//! custom events (see [`lanes`] for why and what keeps the lanes apart).

mod create;
mod drift;
pub(crate) mod engine;
pub mod events;
pub mod fields;
mod identity;
mod in_flight;
mod lanes;
mod link;
mod live;
mod nps;
mod own_writes;
pub mod privacy;
mod pull;
mod push;
pub(crate) mod reread;
mod scoped;
mod segments;
mod usage;

pub use engine::{RunRequest, RunResult, SyncEngine, SyncOutcome};
pub use live::{ChangesRequest, ChangesResult};
pub use reread::RereadPolicy;
pub use scoped::{ScopedOutcome, ScopedRequest, SCOPED_MAX_IDS};

use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::domain::{RunId, Trigger};
use crate::hubspot::HubSpotError;
use crate::pendo::PendoError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    HubSpot(#[from] HubSpotError),
    #[error(transparent)]
    Pendo(#[from] PendoError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("lost the tenant lease mid-run; another worker took over")]
    LeaseLost,
    #[error(transparent)]
    Stopped(#[from] crate::http::Stopped),
    /// Our own infrastructure (queue, secrets backend) failed; the job is retried.
    #[error("infrastructure: {0}")]
    Infra(String),
}

impl SyncError {
    /// Why the run was stopped from outside, whichever layer noticed first.
    pub fn stopped(&self) -> Option<crate::http::Stopped> {
        match self {
            SyncError::Stopped(s)
            | SyncError::HubSpot(HubSpotError::Stopped(s))
            | SyncError::Pendo(PendoError::Stopped(s))
            | SyncError::Store(StoreError::Fenced(s)) => Some(*s),
            SyncError::LeaseLost => Some(crate::http::Stopped::LeaseLost),
            _ => None,
        }
    }

    /// Errors only an admin can fix; the tenant goes to needs-attention instead of retrying.
    pub fn needs_attention(&self) -> bool {
        self.attention().is_some()
    }

    /// What an admin must do, for errors only an admin can fix (`None`: retried on its own).
    pub fn attention(&self) -> Option<crate::domain::Attention> {
        let kind = match self {
            SyncError::HubSpot(e) => e.attention_kind(),
            SyncError::Pendo(e) => e.attention_kind(),
            SyncError::Config(_) => Some(crate::domain::AttentionKind::Configuration),
            _ => None,
        }?;
        Some(crate::domain::Attention::new(kind, self.to_string()))
    }
}

#[derive(Clone, Debug)]
pub struct SyncOptions {
    /// The last complete day (day number); usage windows end here.
    pub today: i32,
    /// Stop and continue in a new invocation once this much time has been used.
    pub budget: Option<Duration>,
    /// Compute what would be written without writing to HubSpot or Pendo.
    pub dry_run: bool,
    /// Pendo visitors/accounts per page (HubSpot writes are always ≤100 per call).
    pub page_size: usize,
    /// First-time history depth in days (two 180-day windows).
    pub backfill_days: i32,
    /// Last day (day number) NPS answers are read through: `today` for the daily run; the
    /// current, still running day for a webhook job, so an answer given minutes ago is pushed
    /// now. Only complete days are recorded as read, so a partial day is read again later.
    pub nps_through: i32,
    /// Days before `today` (inclusive of it) re-read on every run, for events and NPS answers
    /// Pendo processes late (mobile and server-side sources) or corrects; unchanged days write
    /// nothing (pendo.md "Freshness").
    pub reread_days: i32,
    /// A full re-read of the whole history (360 days of activity, 365 of NPS) runs when the
    /// last one is at least this many days old; it also catches erased history.
    pub reconcile_every_days: i32,
    /// Set from outside (lease keeper) to stop the run between batches.
    pub cancel: crate::http::Cancel,
}

impl SyncOptions {
    pub fn new(today: i32) -> Self {
        Self {
            today,
            budget: None,
            dry_run: false,
            page_size: 500,
            backfill_days: 360,
            nps_through: today,
            reread_days: 3,
            reconcile_every_days: 7,
            cancel: Default::default(),
        }
    }
}

/// Where an interrupted run resumes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub run_id: RunId,
    pub trigger: Trigger,
    pub job_id: String,
    pub phase: usize,
    /// Last Pendo id processed in the current phase.
    pub after: Option<String>,
    /// The pull lane's phase while it runs beside the push lane (see [`lanes`]); `None` in a
    /// checkpoint written before the lanes, whose pull ran after the push.
    #[serde(default)]
    pub pull_phase: Option<usize>,
    /// The pull lane's position inside its phase.
    #[serde(default)]
    pub pull_after: Option<String>,
    /// The companies' pull lane, beside the contacts' (`None`: a checkpoint from before it,
    /// whose pull lane pulled both, contacts first).
    #[serde(default)]
    pub pull_accounts_phase: Option<usize>,
    #[serde(default)]
    pub pull_accounts_after: Option<String>,
    /// The link lane's phase, beside the usage backfill (`None`: not started, or a checkpoint
    /// from before it).
    #[serde(default)]
    pub link_phase: Option<usize>,
    #[serde(default)]
    pub link_after: Option<String>,
    /// The account usage backfill's phase, beside the visitors' (`None`: a checkpoint from
    /// before that lane, whose push lane ran it).
    #[serde(default)]
    pub backfill_phase: Option<usize>,
    #[serde(default)]
    pub backfill_after: Option<String>,
    /// NPS's phase, beside the visitors' usage backfill (`None`: a checkpoint from before that
    /// lane, whose push lane ran NPS after the backfill).
    #[serde(default)]
    pub nps_phase: Option<usize>,
    #[serde(default)]
    pub nps_after: Option<String>,
    pub continuations: u32,
}

/// Phase names by number (numbers are stored in checkpoints: new phases go at the end).
pub(crate) const PHASES: [&str; 13] = [
    "schema",
    "activity:visitors",
    "activity:accounts",
    "nps",
    "push:visitors",
    "push:accounts",
    "rules",
    "pull:contacts",
    "pull:companies",
    "segments",
    "events",
    "link:visitors",
    "link:accounts",
];

/// A planned write (dry run report and samples).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedWrite {
    pub direction: crate::domain::Direction,
    pub object: crate::domain::ObjectKind,
    /// `source → target` ids, for people.
    pub id: String,
    /// The values the write would set (`null` clears).
    pub values: std::collections::BTreeMap<String, serde_json::Value>,
    /// The HubSpot record a push would write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hubspot_id: Option<String>,
    /// What the target holds now for the same keys, when the dry run read it (the first rows
    /// of its report): shown beside `values`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}
