//! `GET /oauth/callback?code&state`: verifies the signed state (tenant, 10-minute expiry, one
//! use), exchanges the code at the token endpoint (HubSpot failures mapped to 503 temporary /
//! 400 spent grant / 502 refused), finds the portal, stores the refresh token
//! in the tenant's secret and the portal on the tenant, and answers a small HTML page.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::Utc;
use std::collections::HashMap;

use super::oauth_state::{self, StateError};
use super::public_url::{PublicUrl, OAUTH_CALLBACK_PATH};
use super::AppState;
use crate::hubspot::oauth::{self, OAuthApp};
use crate::hubspot::{HubSpotError, OAuthFailure};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route(OAUTH_CALLBACK_PATH, get(callback))
        .with_state(state)
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
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>{0}</title></head>\
             <body style=\"font-family:sans-serif;max-width:40em;margin:4em auto\"><h1>{0}</h1><p>{1}</p></body></html>",
            esc(title),
            esc(message)
        )),
    )
        .into_response()
}

async fn callback(
    State(s): State<AppState>,
    public: PublicUrl,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    match handle(&s, &public.oauth_redirect_uri(), &q).await {
        Ok(portal) => page(
            StatusCode::OK,
            "HubSpot connected",
            &format!("HubSpot portal {portal} is connected. You can close this window."),
        ),
        Err((status, message)) => {
            let mut resp = page(status, "HubSpot was not connected", &message);
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

/// An OAuth failure as the admin sees it: a HubSpot outage is a 503 to retry (the code is
/// spent, so "retry" means starting the connection again), a spent or revoked grant a 400, a
/// refused request a 502 (our app's registration is wrong, not the admin's input).
fn upstream(context: &str, e: &HubSpotError) -> (StatusCode, String) {
    match e {
        HubSpotError::OAuth {
            kind: OAuthFailure::Temporary,
            ..
        } => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{context}: HubSpot is temporarily unavailable ({e}). Start the connection again in a minute."
            ),
        ),
        HubSpotError::OAuth {
            kind: OAuthFailure::InvalidGrant,
            ..
        } => (
            StatusCode::BAD_REQUEST,
            format!("{context}: {e}. Start the connection again."),
        ),
        _ => (StatusCode::BAD_GATEWAY, format!("{context}: {e}")),
    }
}

async fn handle(
    s: &AppState,
    redirect_uri: &str,
    q: &HashMap<String, String>,
) -> Result<u64, (StatusCode, String)> {
    let bad = |m: &str| (StatusCode::BAD_REQUEST, m.to_string());
    if let Some(err) = q.get("error") {
        let reason = if err == "access_denied" {
            "Access was denied on HubSpot's consent screen.".to_string()
        } else {
            format!(
                "HubSpot reported: {}",
                err.chars().take(100).collect::<String>()
            )
        };
        return Err((StatusCode::BAD_REQUEST, reason));
    }
    let state = q
        .get("state")
        .ok_or_else(|| bad("The link has no state parameter."))?;
    let code = q
        .get("code")
        .ok_or_else(|| bad("The link has no code parameter."))?;
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "oauth callback failed");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on our side; try again.".to_string(),
        )
    };
    let app = s.secrets.app().await.map_err(|e| internal(&e))?;
    let payload = oauth_state::verify(&app.state_signing_key, state, Utc::now().timestamp())
        .map_err(|e| match e {
            StateError::Expired => (StatusCode::BAD_REQUEST, e.to_string()),
            StateError::Tampered => (StatusCode::BAD_REQUEST, e.to_string()),
        })?;
    // One use: the nonce is recorded with a conditional write that outlives the state.
    let first = s
        .repo
        .mark_once(
            &payload.tenant,
            &format!("oauth-state:{}", payload.nonce),
            chrono::Duration::minutes(15),
        )
        .await
        .map_err(|e| internal(&e))?;
    if !first {
        return Err(bad(
            "This sign-in link was already used; start the connection again.",
        ));
    }
    let mut tenant = s
        .repo
        .get_tenant(&payload.tenant)
        .await
        .map_err(|e| internal(&e))?
        .ok_or_else(|| bad("The tenant of this link no longer exists."))?;
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
    let tokens = oauth::exchange_code(&s.hubspot_api_base, version, &oauth_app, code)
        .await
        .map_err(|e| upstream("HubSpot did not accept the authorization", &e))?;
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
            return Err((
                StatusCode::CONFLICT,
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
    Ok(portal)
}
