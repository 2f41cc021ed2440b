//! The two-way sync engine: one run per tenant, under its lease, in phases that checkpoint
//! after every batch so a run can stop when its time budget runs low and continue in the next
//! invocation with nothing skipped and nothing written twice.
//!
//! Phases: schema → activity (visitors, accounts) → NPS → push (visitors, accounts) → lifecycle
//! rules → pull (contacts, companies).

pub(crate) mod engine;
pub mod fields;
mod pull;
mod push;
mod usage;

pub use engine::{RunResult, SyncEngine, SyncOutcome};

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
}

impl SyncError {
    /// Errors only an admin can fix; the tenant goes to needs-attention instead of retrying.
    pub fn needs_attention(&self) -> bool {
        match self {
            SyncError::HubSpot(e) => e.needs_attention(),
            SyncError::Pendo(e) => e.needs_attention(),
            SyncError::Config(_) => true,
            _ => false,
        }
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
}

impl SyncOptions {
    pub fn new(today: i32) -> Self {
        Self {
            today,
            budget: None,
            dry_run: false,
            page_size: 500,
            backfill_days: 360,
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
    pub continuations: u32,
}

pub(crate) const PHASES: [&str; 9] = [
    "schema",
    "activity:visitors",
    "activity:accounts",
    "nps",
    "push:visitors",
    "push:accounts",
    "rules",
    "pull:contacts",
    "pull:companies",
];

/// A planned write (dry run report and samples).
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PlannedWrite {
    pub direction: crate::domain::Direction,
    pub object: crate::domain::ObjectKind,
    pub id: String,
    pub values: std::collections::BTreeMap<String, serde_json::Value>,
}
