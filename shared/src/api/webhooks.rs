//! `POST /webhooks/pendo/{tenant}/{token}`: Pendo URL webhooks can send no custom headers, so
//! the per-tenant secret is an unguessable URL token, compared in constant time. Events are
//! deduplicated on `uniqueId` (marked seen, with a TTL, only once its job is queued) and
//! coalesced into at most one incremental job per tenant per minute; nothing calls Pendo or
//! HubSpot inline.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use serde_json::{json, Value};

use super::error::ApiError;
use super::{constant_time_eq, IntakeState, MAX_BODY};
use crate::domain::{Job, JobKind, TenantId};
use crate::domain::{LatestNps, ObjectKind};
use crate::pendo::webhook::{RawWebhookEvent, WebhookKind};
use crate::store::repo::PendoChange;
use futures::{StreamExt, TryStreamExt};

/// Bursts within this window become one job.
const COALESCE_SECS: i64 = 60;

/// The intake's routes: Pendo's per-tenant URL and HubSpot's app-wide one.
pub fn router(state: IntakeState) -> Router {
    Router::new()
        .route("/webhooks/pendo/{tenant}/{token}", post(intake))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone())
        .merge(super::hubspot_webhooks::router(state))
}

async fn intake(
    State(s): State<IntakeState>,
    Path((tenant, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    // An unknown tenant and a wrong token get the same answer, so the route cannot be used to
    // find out which tenants exist.
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this webhook URL is not valid; copy it again from the tenant's webhook settings",
        )
    };
    let id = TenantId::parse(&tenant).map_err(|_| refused())?;
    let t = s.repo.get_tenant(&id).await?.ok_or_else(refused)?;
    let secrets = s.secrets.tenant(&t.id).await?;
    let expected = secrets.webhook_token.ok_or_else(refused)?;
    if !constant_time_eq(expected.expose().as_bytes(), token.as_bytes()) {
        return Err(refused());
    }
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body rejected: {}", e.body_text()),
        )
    })?;
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct.starts_with("application/json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Content-Type must be application/json",
        ));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("body is not valid UTF-8"))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let raw_events: Vec<Value> = match value {
        Value::Array(a) if !a.is_empty() && a.len() <= 1000 => a,
        Value::Array(_) => return Err(ApiError::bad_request("expected 1-1000 events")),
        v @ Value::Object(_) => vec![v],
        _ => {
            return Err(ApiError::bad_request(
                "expected a JSON object or an array of objects",
            ))
        }
    };
    let mut events = Vec::with_capacity(raw_events.len());
    for (i, v) in raw_events.into_iter().enumerate() {
        let raw: RawWebhookEvent = serde_json::from_value(v).map_err(|e| {
            ApiError::invalid(format!("[{i}]"), format!("not a Pendo webhook event: {e}"))
        })?;
        let e = raw.validate().map_err(|(field, msg)| {
            ApiError::invalid(format!("[{i}].{field}"), format!("{field} {msg}"))
        })?;
        events.push(e);
    }
    // An event counts as seen only once the job covering it is queued: the markers are
    // written after the enqueue, so a failed enqueue (answered 5xx) leaves Pendo's retry
    // free to deliver it again. A crash in between queues a duplicate job, which is harmless.
    let (mut accepted, mut duplicates, mut ignored) = (0u32, 0u32, 0u32);
    let mut visitors = Vec::new();
    let mut accounts = Vec::new();
    let mut fresh = Vec::new();
    let mut sightings = Vec::new();
    for e in events {
        let key = format!("wh:{}", e.unique_id);
        if fresh.contains(&key) || s.repo.is_marked(&t.id, &key).await? {
            duplicates += 1;
            continue;
        }
        fresh.push(key);
        if !e.kind.relevant() {
            ignored += 1;
            tracing::debug!(tenant_id = %t.id, kind = ?e.kind, "ignored webhook event type");
            continue;
        }
        accepted += 1;
        let at_ms = e
            .timestamp_ms
            .unwrap_or_else(|| Utc::now().timestamp_millis());
        let sighting = PendoChange {
            at_ms,
            nps: e
                .nps_score
                .filter(|_| e.kind == WebhookKind::NpsSubmitted)
                .map(|score| LatestNps {
                    score,
                    text: None,
                    at_ms,
                }),
        };
        sightings.extend(
            e.visitor_id
                .iter()
                .map(|v| (ObjectKind::Visitor, v.clone(), sighting.clone())),
        );
        sightings.extend(
            e.account_id
                .iter()
                .map(|a| (ObjectKind::Account, a.clone(), sighting.clone())),
        );
        visitors.extend(e.visitor_id);
        accounts.extend(e.account_id);
    }
    // The scoped job syncs what the log names: every id of the window, whichever request
    // brought it (the job carries only the first request's ids).
    futures::stream::iter(sightings.into_iter().map(|(kind, pendo_id, change)| {
        let repo = s.repo.clone();
        let id = t.id.clone();
        async move { repo.log_pendo_change(&id, kind, &pendo_id, &change).await }
    }))
    .buffer_unordered(16)
    .try_collect::<Vec<()>>()
    .await?;
    let mut job_id = None;
    if accepted > 0 {
        let bucket = Utc::now().timestamp() / COALESCE_SECS;
        let key = crate::domain::pendo_window_marker(bucket);
        // A job of this window is already queued (marked only after its enqueue succeeded)
        // and not yet delivered: it covers these events too.
        if !s.repo.is_marked(&t.id, &key).await? {
            visitors.sort();
            visitors.dedup();
            accounts.sort();
            accounts.dedup();
            let job = Job {
                job_id: format!("wh-{}-{bucket}", t.id),
                tenant_id: t.id.clone(),
                kind: JobKind::Incremental {
                    visitor_ids: visitors,
                    account_ids: accounts,
                },
                enqueued_at: Utc::now(),
            };
            // Delivered at the end of the window, so the burst is in Pendo's API by then.
            s.queue
                .send(
                    std::slice::from_ref(&job),
                    std::time::Duration::from_secs(COALESCE_SECS as u64),
                )
                .await
                .map_err(|e| {
                    tracing::warn!(tenant_id = %t.id, error = %e, "webhook job not queued; Pendo will retry");
                    ApiError::from(e)
                })?;
            s.repo.mark_once(&t.id, &key, Duration::hours(2)).await?;
            job_id = Some(job.job_id);
        }
    }
    for key in fresh {
        s.repo.mark_once(&t.id, &key, Duration::hours(48)).await?;
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"accepted": accepted, "duplicates": duplicates, "ignored": ignored, "job_id": job_id})),
    )
        .into_response())
}
