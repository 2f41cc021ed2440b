//! OAuth endpoints: authorize (auto-consents unless told to deny), token, introspect and revoke
//! under both `/oauth/v3` and `/oauth/2026-03`.

use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::Shared;
use crate::limits::take_targeted_fault;

/// HubSpot's OAuth error: RFC 6749 `error`/`error_description` plus the fields of every other
/// HubSpot error (`status`, `message`, `category`, `correlationId`; reference/hubspot.md §1, §6).
fn oauth_error(error: &str, description: &str, status: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(
            json!({"error": error, "error_description": description, "status": status,
                    "message": description, "category": "BAD_REQUEST",
                    "correlationId": uuid::Uuid::new_v4().to_string()}),
        ),
    )
        .into_response()
}

async fn authorize(State(s): State<Shared>, Query(q): Query<HashMap<String, String>>) -> Response {
    let redirect = match q.get("redirect_uri") {
        Some(r) => r.clone(),
        None => return (StatusCode::BAD_REQUEST, "missing redirect_uri").into_response(),
    };
    let state = q.get("state").cloned().unwrap_or_default();
    let mut s = s.lock().unwrap();
    if q.get("client_id") != Some(&s.cfg.client_id) {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    }
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let enc = |v: &str| url_encode(v);
    if s.deny_consent {
        return Redirect::to(&format!(
            "{redirect}{sep}error=access_denied&error_description=user%20denied&state={}",
            enc(&state)
        ))
        .into_response();
    }
    let code = format!("sbx-code-{}", uuid::Uuid::new_v4().simple());
    s.codes.insert(code.clone(), redirect.clone());
    Redirect::to(&format!("{redirect}{sep}code={code}&state={}", enc(&state))).into_response()
}

fn url_encode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn token(
    State(s): State<Shared>,
    uri: axum::http::Uri,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let mut s = s.lock().unwrap();
    if f.get("client_id") != Some(&s.cfg.client_id)
        || f.get("client_secret") != Some(&s.cfg.client_secret)
    {
        return oauth_error(
            "invalid_client",
            "client id or secret is wrong",
            "BAD_CLIENT_ID",
        );
    }
    let refresh = match f.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let code = f.get("code").cloned().unwrap_or_default();
            // HubSpot refuses an exchange whose redirect_uri differs from the authorize
            // request's (reference/hubspot.md §1); the code is spent either way.
            match s.codes.remove(&code) {
                None => {
                    return oauth_error(
                        "invalid_grant",
                        "code is invalid or expired",
                        "BAD_AUTH_CODE",
                    )
                }
                Some(issued_for) if f.get("redirect_uri") != Some(&issued_for) => {
                    return oauth_error(
                        "invalid_grant",
                        "redirect_uri does not match the one the code was issued for",
                        "BAD_REDIRECT_URI",
                    )
                }
                Some(_) => {}
            }
            let r = format!("sbx-refresh-{}", uuid::Uuid::new_v4().simple());
            s.refresh_tokens.insert(r.clone());
            r
        }
        Some("refresh_token") => {
            let r = f.get("refresh_token").cloned().unwrap_or_default();
            if !s.refresh_tokens.contains(&r) {
                return oauth_error(
                    "invalid_grant",
                    "refresh token is invalid, expired or revoked",
                    "BAD_REFRESH_TOKEN",
                );
            }
            r
        }
        _ => {
            return oauth_error(
                "unsupported_grant_type",
                "grant_type is not supported",
                "BAD_GRANT_TYPE",
            )
        }
    };
    let access = format!("sbx-access-{}", uuid::Uuid::new_v4().simple());
    let lifetime = s.cfg.token_lifetime_secs;
    s.access_tokens.insert(
        access.clone(),
        Instant::now() + Duration::from_secs(lifetime),
    );
    *s.counts.entry(format!("POST {}", uri.path())).or_default() += 1;
    Json(
        json!({"token_type": "bearer", "refresh_token": refresh, "access_token": access,
                "expires_in": lifetime, "token_use": "access_token", "hub_id": s.cfg.portal_id}),
    )
    .into_response()
}

/// Token introspection as HubSpot answers it: the whole token info object for an active token
/// (`token, user, hub_domain, scopes, hub_id, app_id, expires_in, user_id, token_type`, with
/// v3's `active, client_id, token_use`; reference/hubspot.md §1), `{"active": false}` otherwise.
async fn introspect(State(s): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let s = s.lock().unwrap();
    let token = f.get("token").cloned().unwrap_or_default();
    let left = s
        .access_tokens
        .get(&token)
        .and_then(|e| e.checked_duration_since(Instant::now()))
        .filter(|d| !d.is_zero());
    let Some(left) = left else {
        return Json(json!({"active": false})).into_response();
    };
    let portal = s.cfg.portal_id;
    Json(json!({
        "active": true, "token": token, "token_type": "access", "token_use": "access_token",
        "user": "admin@sandbox.example", "user_id": 1_000_001, "hub_domain": format!("sandbox-{portal}.example"),
        "hub_id": portal, "app_id": 424_242, "client_id": s.cfg.client_id,
        "scopes": ["oauth", "crm.objects.contacts.read", "crm.objects.contacts.write",
                   "crm.objects.companies.read", "crm.objects.companies.write",
                   "crm.schemas.contacts.read", "crm.schemas.contacts.write",
                   "crm.schemas.companies.read", "crm.schemas.companies.write",
                   "crm.objects.deals.read", "crm.objects.deals.write"],
        "expires_in": left.as_secs(),
    }))
    .into_response()
}

/// The OAuth v1 paths are deprecated (sunset 2027-02-16, reference/hubspot.md §0) and the
/// service never calls them: the sandbox answers them as a path it does not serve.
async fn not_served() -> Response {
    super::err(
        StatusCode::NOT_FOUND,
        "OBJECT_NOT_FOUND",
        "resource not found",
    )
}

async fn revoke(State(s): State<Shared>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut s = s.lock().unwrap();
    if let Some(t) = f.get("token") {
        s.refresh_tokens.remove(t);
    }
    StatusCode::OK.into_response()
}

/// Faults aimed at an OAuth path (`path_contains` set): HubSpot outages during connect or
/// refresh, and its rate limit, answered with HubSpot's rate-limit body
/// (`{"status":"error","message":"You have reached your rate limit.","errorType":"RATE_LIMIT"}`,
/// reference/hubspot.md §6) and `Retry-After` when the fault carries one. Counted as
/// `POST <path> <kind>`.
async fn oauth_gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let fault = {
        let mut s = state.lock().unwrap();
        let fault = take_targeted_fault(&mut s.faults, &path);
        if let Some(f) = &fault {
            *s.counts
                .entry(format!("{} {path} {}", req.method(), f.kind))
                .or_default() += 1;
        }
        fault
    };
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    match fault.kind.as_str() {
        "drop" => crate::limits::dropped_connection(),
        "429" => {
            let mut resp = (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({"status": "error", "message": "You have reached your rate limit.",
                            "errorType": "RATE_LIMIT", "correlationId": uuid::Uuid::new_v4().to_string()})),
            )
                .into_response();
            if let Some(secs) = fault.retry_after_secs {
                resp.headers_mut()
                    .insert("retry-after", secs.to_string().parse().expect("header"));
            }
            resp
        }
        kind => {
            let status = kind
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            super::err(status, "INTERNAL_ERROR", "injected fault")
        }
    }
}

pub fn routes(state: Shared) -> Router<Shared> {
    Router::new()
        .route("/oauth/authorize", get(authorize))
        .route("/oauth/v3/token", post(token))
        .route("/oauth/2026-03/token", post(token))
        .route("/oauth/v3/token/introspect", post(introspect))
        .route("/oauth/2026-03/token/introspect", post(introspect))
        .route("/oauth/v3/token/revoke", post(revoke))
        .route("/oauth/2026-03/token/revoke", post(revoke))
        .route("/oauth/v1/token", post(not_served))
        .layer(axum::middleware::from_fn_with_state(state, oauth_gate))
}
