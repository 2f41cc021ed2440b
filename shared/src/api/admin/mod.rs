//! The admin API (`/v1`): tenants, credentials, HubSpot connect, sync configuration,
//! enable/disable, run now, dry run, run history and status.

mod account;
mod catalog;
mod config;
mod config_checks;
pub(crate) mod doc;
mod health;
mod privacy;
mod runs;
mod tenants;
pub mod views;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use chrono::{Duration, Timelike, Utc};
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, JsonBody};
use super::public_url::PublicUrl;
use super::{oauth_state, AppState, MAX_BODY};
use crate::domain::{
    Job, ObjectKind, RuleKind, RuleSet, RuleSetInput, RunId, RunStatus, SyncConfig,
    SyncConfigInput, Tenant, TenantId, TenantStatus, Trigger,
};
use crate::hubspot::oauth::{self, OAuthApp};
use crate::secret::SecretString;
use crate::sync::{RunRequest, SyncEngine, SyncOptions};

use account::*;
use catalog::*;
use config::*;
use health::*;
use privacy::*;
use runs::*;
use tenants::*;
use views::*;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/v1/tenants/{id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route(
            "/v1/tenants/{id}/visitors/{visitor_id}",
            axum::routing::delete(erase_visitor_route),
        )
        .route("/v1/tenants/{id}/pendo", put(put_pendo))
        .route("/v1/tenants/{id}/hubspot/connect", post(connect_hubspot))
        .route(
            "/v1/tenants/{id}/hubspot",
            axum::routing::delete(disconnect_hubspot),
        )
        .route("/v1/me", get(me))
        .route("/v1/tenants/{id}/config", put(put_config).get(get_config))
        .route("/v1/tenants/{id}/rules", put(put_rules).get(get_rules))
        .route("/v1/tenants/{id}/enable", post(enable))
        .route("/v1/tenants/{id}/disable", post(disable))
        .route("/v1/tenants/{id}/runs", post(run_now).get(list_runs))
        .route("/v1/tenants/{id}/dry-run", post(dry_run))
        .route("/v1/tenants/{id}/runs/{run_id}", get(get_run))
        .route("/v1/tenants/{id}/status", get(status))
        .route("/v1/tenants/{id}/webhook", get(webhook_url))
        .route("/v1/tenants/{id}/hubspot/schema", get(hubspot_schema))
        .route("/v1/tenants/{id}/pendo/schema", get(pendo_schema))
        .route("/v1/openapi.json", get(openapi))
        .merge(super::console::router())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(super::error::json_errors))
        .with_state(state)
}

/// A failure of HubSpot or Pendo, as the admin API answers it.
pub(super) trait Upstream: std::fmt::Display {
    /// The tenant's own credentials or set-up were refused: only the admin can fix that.
    fn needs_attention(&self) -> bool;
}

impl Upstream for crate::hubspot::HubSpotError {
    fn needs_attention(&self) -> bool {
        crate::hubspot::HubSpotError::needs_attention(self)
    }
}

impl Upstream for crate::pendo::PendoError {
    fn needs_attention(&self) -> bool {
        crate::pendo::PendoError::needs_attention(self)
    }
}

impl Upstream for crate::sync::SyncError {
    fn needs_attention(&self) -> bool {
        crate::sync::SyncError::needs_attention(self)
    }
}

/// A refused connection (revoked token, a key of another region) is the tenant's state, a 409
/// saying what to do; an outage or a limit on their side is a 502.
pub(super) fn upstream_err(what: &str, e: impl Upstream) -> ApiError {
    if e.needs_attention() {
        ApiError::conflict(format!(
            "{what}: {e}. Fix the connection (console: Setup) and try again"
        ))
    } else {
        ApiError::upstream(format!("{what}: {e}"))
    }
}

fn tenant_id(raw: &str) -> Result<TenantId, ApiError> {
    // A malformed id cannot exist: answer like any unknown tenant.
    TenantId::parse(raw).map_err(|_| ApiError::not_found("tenant"))
}

async fn load(state: &AppState, caller: &Caller, raw: &str) -> Result<Tenant, ApiError> {
    let id = tenant_id(raw)?;
    caller.tenant(&id)?;
    state
        .repo
        .get_tenant(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("tenant"))
}

fn limit(q: &PageQuery) -> Result<usize, ApiError> {
    match q.limit {
        None => Ok(50),
        Some(n) if (1..=200).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid("limit", "must be 1-200")),
    }
}

fn page_query(
    q: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<PageQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {}", e.body_text())))
}

/// The HubSpot API path family the tenant is on (its config; 2026-03 when it has none).
async fn api_version(
    s: &AppState,
    t: &Tenant,
) -> Result<crate::hubspot::HubSpotApiVersion, ApiError> {
    Ok(s.repo
        .get_config(&t.id)
        .await?
        .unwrap_or_default()
        .hubspot_api_version)
}

/// The HubSpot app and the state-signing key. `redirect_uri` is only sent in the code flow
/// (authorize and exchange); revocation ignores it.
async fn app(s: &AppState, redirect_uri: String) -> Result<(OAuthApp, SecretString), ApiError> {
    let app = s.secrets.app().await?;
    Ok((
        OAuthApp {
            client_id: app.hubspot_client_id,
            client_secret: app.hubspot_client_secret,
            redirect_uri,
        },
        app.state_signing_key,
    ))
}
