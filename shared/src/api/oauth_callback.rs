//! `GET /oauth/callback?code&state`: verifies the signed state (tenant, 10-minute expiry, one
//! use), exchanges the code at the token endpoint, finds the portal, stores the refresh token
//! in the tenant's secret and the portal on the tenant.
//!
//! Answers JSON (`{"connected": true, "tenant_id", "portal_id"}` or the common error body)
//! unless the caller prefers `text/html` in its `Accept` header, as the admin's browser coming
//! back from HubSpot's consent screen does; then a small page with the same message.
//!
//! The state is consumed only once the exchange succeeded or HubSpot refused the code for good
//! (a 4xx): after a HubSpot outage (429/5xx) the same link can be opened again.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use std::collections::HashMap;

use super::error::ApiError;
use super::oauth_state::{self, StateError};
use super::public_url::{PublicUrl, OAUTH_CALLBACK_PATH};
use super::AppState;
use crate::domain::TenantId;
use crate::hubspot::oauth::{self, OAuthApp};
use crate::hubspot::{HubSpotError, OAuthFailure};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(OAUTH_CALLBACK_PATH, get(callback))
        .with_state(state)
}

/// Whether the client ranks `text/html` above JSON in its `Accept` header (RFC 9110 §12.5.1:
/// media ranges with `q` weights; a tie, `*/*` or no header means JSON).
pub fn prefers_html(headers: &HeaderMap) -> bool {
    let Some(accept) = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let essence = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        match essence.as_str() {
            "text/html" => html = html.max(q + 0.002),
            "text/*" => html = html.max(q + 0.001),
            "application/json" => json = json.max(q + 0.002),
            "application/*" => json = json.max(q + 0.001),
            "*/*" => {
                html = html.max(q);
                json = json.max(q);
            }
            _ => {}
        }
    }
    html > json
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    (
        status,
        Html(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{0}</h1><p>{1}</p></body></html>",
            esc(title),
            esc(message)
        )),
    )
        .into_response()
}

/// A connected portal, as the JSON answer shows it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Connected {
    pub connected: bool,
    pub tenant_id: String,
    pub portal_id: u64,
}

async fn callback(
    State(s): State<AppState>,
    public: PublicUrl,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let html = prefers_html(&headers);
    match handle(&s, &public.oauth_redirect_uri(), &q).await {
        Ok((_, portal)) if html => page(
            StatusCode::OK,
            "HubSpot connected",
            &format!("HubSpot portal {portal} is connected. You can close this window."),
        ),
        Ok((tenant, portal)) => Json(Connected {
            connected: true,
            tenant_id: tenant.to_string(),
            portal_id: portal,
        })
        .into_response(),
        Err(e) => {
            let status = e.status;
            let mut resp = if html {
                page(status, "HubSpot was not connected", &e.message)
            } else {
                e.into_response()
            };
            if status == StatusCode::SERVICE_UNAVAILABLE {
                resp.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(RETRY_AFTER_SECS),
                );
            }
            resp
        }
    }
}

/// Seconds an admin is told to wait after a temporary HubSpot failure (`Retry-After`).
const RETRY_AFTER_SECS: u64 = 60;

/// An OAuth failure as the admin sees it: a HubSpot outage (429/5xx) is a 503 to retry with
/// the same link; any 4xx (spent, expired or wrong code, refused request) is a 400 with
/// HubSpot's message, and the connection starts again; anything else a 502.
fn upstream(context: &str, e: &HubSpotError) -> ApiError {
    match e {
        HubSpotError::OAuth {
            kind: OAuthFailure::Temporary,
            ..
        } => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream_unavailable",
            format!(
                "{context}: HubSpot is temporarily unavailable ({e}). Open the same link again in a minute."
            ),
        ),
        HubSpotError::OAuth { .. } => ApiError::new(
            StatusCode::BAD_REQUEST,
            "oauth_refused",
            format!("{context}: {e}. Start the connection again."),
        )
        .field("code"),
        _ => ApiError::upstream(format!("{context}: {e}")),
    }
}

/// Whether HubSpot's answer settles the code for good (the state is then spent too).
fn definitive(e: &HubSpotError) -> bool {
    !matches!(
        e,
        HubSpotError::OAuth {
            kind: OAuthFailure::Temporary,
            ..
        }
    )
}

async fn handle(
    s: &AppState,
    redirect_uri: &str,
    q: &HashMap<String, String>,
) -> Result<(TenantId, u64), ApiError> {
    let bad = |field: &str, m: &str| ApiError::bad_request(m).field(field);
    if let Some(err) = q.get("error") {
        let reason = if err == "access_denied" {
            "Access was denied on HubSpot's consent screen.".to_string()
        } else {
            format!(
                "HubSpot reported: {}",
                err.chars().take(100).collect::<String>()
            )
        };
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "consent_refused", reason).field("error"),
        );
    }
    let state = q
        .get("state")
        .ok_or_else(|| bad("state", "The link has no state parameter."))?;
    let code = q
        .get("code")
        .ok_or_else(|| bad("code", "The link has no code parameter."))?;
    let internal = |e: &dyn std::fmt::Display| ApiError::internal("oauth callback", e);
    let app = s.secrets.app().await.map_err(|e| internal(&e))?;
    let payload = oauth_state::verify(&app.state_signing_key, state, Utc::now().timestamp())
        .map_err(|e| match e {
            StateError::Expired | StateError::Tampered => bad("state", &e.to_string()),
        })?;
    // One use: the nonce is recorded with a conditional write that outlives the state, once
    // HubSpot has settled the code (below).
    let nonce_key = format!("oauth-state:{}", payload.nonce);
    let used = |s: &AppState| {
        let (tenant, key) = (payload.tenant.clone(), nonce_key.clone());
        let repo = s.repo.clone();
        async move {
            repo.mark_once(&tenant, &key, chrono::Duration::minutes(15))
                .await
                .map_err(|e| internal(&e))
        }
    };
    let already = || {
        bad(
            "state",
            "This sign-in link was already used; start the connection again.",
        )
    };
    if s.repo
        .is_marked(&payload.tenant, &nonce_key)
        .await
        .map_err(|e| internal(&e))?
    {
        return Err(already());
    }
    let mut tenant = s
        .repo
        .get_tenant(&payload.tenant)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| bad("state", "The tenant of this link no longer exists."))?;
    let oauth_app = OAuthApp {
        client_id: app.hubspot_client_id,
        client_secret: app.hubspot_client_secret,
        redirect_uri: redirect_uri.to_string(),
    };
    // A tenant moved back to the legacy paths connects through them too.
    let version = s
        .repo
        .get_config(&tenant.id)
        .await
        .map_err(|e| internal(&e))?
        .unwrap_or_default()
        .hubspot_api_version;
    let exchanged = oauth::exchange_code(&s.hubspot_api_base, version, &oauth_app, code).await;
    let settled = exchanged.as_ref().map_or_else(definitive, |_| true);
    if settled && !used(s).await? {
        // A concurrent open of the same link got there first.
        return Err(already());
    }
    let tokens = exchanged.map_err(|e| upstream("HubSpot did not accept the authorization", &e))?;
    let portal = match tokens.hub_id {
        Some(h) => h,
        None => oauth::introspect_hub_id(
            &s.hubspot_api_base,
            version,
            &oauth_app,
            &tokens.access_token,
        )
        .await
        .map_err(|e| upstream("could not identify the HubSpot portal", &e))?,
    };
    if let Some(existing) = tenant.hubspot_portal_id {
        if existing != portal && !payload.reconnect {
            return Err(ApiError::conflict(
                format!(
                    "This tenant is connected to HubSpot portal {existing}; connecting portal {portal} needs an explicit reconnect."
                ),
            ));
        }
    }
    let mut secrets = s
        .secrets
        .tenant(&tenant.id)
        .await
        .map_err(|e| internal(&e))?;
    secrets.hubspot_refresh_token = Some(tokens.refresh_token);
    s.secrets
        .put_tenant(&tenant.id, &secrets)
        .await
        .map_err(|e| internal(&e))?;
    tenant.hubspot_portal_id = Some(portal);
    if tenant.status == crate::domain::TenantStatus::NeedsAttention {
        tenant.status = crate::domain::TenantStatus::Enabled;
        tenant.clear_attention();
    }
    s.repo
        .update_tenant(&tenant, Utc::now())
        .await
        .map_err(|e| internal(&e))?;
    // HubSpot's webhooks name the portal only: they are routed to the tenant through this.
    s.repo
        .put_portal(portal, &tenant.id)
        .await
        .map_err(|e| internal(&e))?;
    tracing::info!(tenant_id = %tenant.id, portal, "HubSpot connected");
    Ok((tenant.id, portal))
}
