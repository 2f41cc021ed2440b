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

use axum::extract::{DefaultBodyLimit, Path, State};
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
use crate::sync::SyncEngine;

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

/// A page request from the query string (`after`, `limit`), each parameter checked by name: an
/// unknown or repeated parameter, a `limit` outside 1-200 or a malformed `after` is a 422
/// naming it.
pub(super) struct Paging {
    pub after: Option<String>,
    pub limit: usize,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Paging {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        Paging::parse(parts.uri.query().unwrap_or(""), &[]).map(|(p, _)| p)
    }
}

/// `GET /v1/tenants`' query: a page, and optionally only tenants in one `status`.
pub(super) struct TenantListQuery {
    pub page: Paging,
    pub status: Option<crate::domain::TenantStatus>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for TenantListQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        let (page, extra) = Paging::parse(parts.uri.query().unwrap_or(""), &["status"])?;
        let status = match extra.get("status") {
            None => None,
            Some(s) => Some(
                serde_json::from_value(serde_json::Value::String(s.clone())).map_err(|_| {
                    ApiError::invalid("status", "must be enabled, disabled or needs_attention")
                })?,
            ),
        };
        Ok(Self { page, status })
    }
}

impl Paging {
    /// Default page size.
    const DEFAULT_LIMIT: usize = 50;

    /// Parses `after` and `limit`, and the route's `extra` parameters (returned by name).
    pub(super) fn parse(
        query: &str,
        extra: &[&str],
    ) -> Result<(Self, std::collections::BTreeMap<String, String>), ApiError> {
        let mut after = None;
        let mut limit = None;
        let mut others = std::collections::BTreeMap::new();
        for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let slot_taken = match key.as_ref() {
                "after" => after.replace(value.to_string()).is_some(),
                "limit" => limit.replace(value.to_string()).is_some(),
                k if extra.contains(&k) => {
                    others.insert(k.to_string(), value.to_string()).is_some()
                }
                other => {
                    let shown: String =
                        other.chars().filter(|c| !c.is_control()).take(40).collect();
                    let takes: Vec<&str> =
                        ["after", "limit"].iter().chain(extra).copied().collect();
                    return Err(ApiError::invalid(
                        shown,
                        format!(
                            "unknown query parameter (this route takes {})",
                            takes.join(", ")
                        ),
                    ));
                }
            };
            if slot_taken {
                return Err(ApiError::invalid(key.to_string(), "given twice"));
            }
        }
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(l) => match l.parse::<usize>() {
                Ok(n) if (1..=200).contains(&n) => n,
                _ => return Err(ApiError::invalid("limit", "must be a whole number 1-200")),
            },
        };
        if let Some(a) = &after {
            if a.is_empty() || a.len() > 512 || a.chars().any(char::is_control) {
                return Err(ApiError::invalid(
                    "after",
                    "must be the `next` value of the previous page (1-512 printable characters)",
                ));
            }
        }
        Ok((Self { after, limit }, others))
    }
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
