//! Typed response bodies of the admin API. They are what the handlers serialise and what the
//! OpenAPI document describes (utoipa derives), so the document cannot drift from the answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

use crate::domain::{
    PendoRegion, RecordError, RunCounts, RunId, RunRecord, RunStatus, Tenant, TenantId,
    TenantStatus,
};
use crate::sync::PlannedWrite;

/// Paging: `after` is the `next` cursor of the previous page.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// The `next` value of the previous page.
    #[serde(default)]
    #[param(max_length = 512)]
    pub after: Option<String>,
    /// Page size (default 50).
    #[serde(default)]
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    #[schema(value_type = TenantId)]
    pub id: String,
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub display_name: String,
    pub pendo_region: PendoRegion,
}

/// Give at least one of the two.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub display_name: Option<String>,
    #[serde(default)]
    pub pendo_region: Option<PendoRegion>,
}

/// A Pendo integration key created with "Allow Write Access", and its region.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PendoCredentials {
    pub region: PendoRegion,
    /// Printable ASCII; surrounding spaces are trimmed. Stored only in Secrets, never returned.
    #[schema(min_length = 1, max_length = 512, pattern = "^\\s*[!-~]+\\s*$", format = Password)]
    pub integration_key: String,
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectBody {
    /// Allow connecting a different HubSpot portal than the one connected now.
    #[serde(default)]
    pub reconnect: bool,
}

#[derive(Serialize, ToSchema)]
pub struct TenantPage {
    pub items: Vec<Tenant>,
    /// Cursor of the next page; `null` on the last one.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RunPage {
    pub items: Vec<RunRecord>,
    pub next: Option<String>,
}

/// One run with a page of its per-record errors.
#[derive(Serialize, ToSchema)]
pub struct RunDetail {
    pub run: RunRecord,
    pub errors: Vec<RecordError>,
    /// Cursor of the next page of errors.
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthorizeUrl {
    /// HubSpot's consent page with our signed, single-use state.
    pub authorize_url: String,
    /// When the state expires (Unix seconds).
    pub expires_at: i64,
}

#[derive(Serialize, ToSchema)]
pub struct WebhookUrl {
    pub url: String,
}

#[derive(Serialize, ToSchema)]
pub struct Enabled {
    pub tenant: Tenant,
    /// The immediate sync's job.
    pub job_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct RunNowAccepted {
    /// `null` when the request joined a run already queued or running.
    pub job_id: Option<String>,
    pub coalesced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct DryRunReport {
    pub counts: RunCounts,
    pub api_calls: BTreeMap<String, u64>,
    /// The records a sync would change, with the values it would write.
    pub would_write: Vec<PlannedWrite>,
}

#[derive(Serialize, ToSchema)]
pub struct LastRun {
    pub run_id: RunId,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
}

/// A tenant's overall health: `needs_attention` (an admin must act; see `attention`),
/// `failing` (the last finished run failed as a whole), `degraded` (it finished with failing
/// records), `ok`.
#[derive(Serialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    Degraded,
    Failing,
    NeedsAttention,
}

#[derive(Serialize, ToSchema)]
pub struct StatusView {
    pub tenant_id: TenantId,
    pub status: TenantStatus,
    pub health: Health,
    pub attention_reason: Option<String>,
    /// What an admin must do, when only an admin can fix the tenant.
    pub attention: Option<crate::domain::Attention>,
    /// Failed runs in a row, newest first (runs still going are not counted).
    pub consecutive_failed_runs: u64,
    /// The last finished run's error, when it failed as a whole.
    pub last_error: Option<String>,
    pub pendo_connected: bool,
    pub hubspot_connected: bool,
    pub hubspot_portal_id: Option<u64>,
    pub last_run: Option<LastRun>,
    pub last_success: Option<DateTime<Utc>>,
    pub lag_seconds: Option<i64>,
    pub next_scheduled: Option<DateTime<Utc>>,
    pub failing_records: u64,
    /// The last finished run's failing records grouped by reason, largest group first.
    pub failures_by_reason: Vec<super::health::FailureGroup>,
    /// Custom events: sending, the month's allowance used, or refused by the portal (with
    /// what to do). `null` until events are configured and a sync ran.
    pub events: Option<crate::sync::events::EventsStatus>,
    /// When the newest HubSpot webhook event for this tenant happened (`occurredAt`); `null`
    /// until live HubSpot updates arrive.
    pub hubspot_last_event_at: Option<DateTime<Utc>>,
}
