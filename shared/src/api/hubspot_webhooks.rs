//! `POST /webhooks/hubspot`: HubSpot's app webhooks (one target URL for every installed portal).
//!
//! Every request must carry a valid v3 signature made with the app's client secret
//! ([`crate::hubspot::webhook`]); anything else is 401 and nothing is stored or queued. Events
//! are deduplicated on `eventId`, routed by `portalId` to the tenant connected to that portal,
//! and written to the tenant's change log (latest `occurredAt` per record wins); at most one
//! scoped pull job per tenant per minute drains the log. HubSpot expects an answer within 5 s
//! and retries any 4xx/5xx or timeout up to 10 times over 24 h (reference/hubspot.md §7): the
//! handler only reads and writes the store and enqueues, never calling HubSpot or Pendo.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, OriginalUri, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::{Duration, Utc};
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;

use super::error::ApiError;
use super::public_url::{PublicBase, RequestOrigin};
use super::{IntakeState, MAX_BODY};
use crate::domain::{hubspot_window_marker, Job, ObjectKind, SyncConfig, Tenant, TenantStatus};
use crate::hubspot::webhook::{
    verify_v3, Change, HubSpotEvent, RawHubSpotEvent, SignedRequest, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use crate::store::repo::{ChangeEntry, LiveStatus, LoggedChange, LIVE_CURSOR};

pub const HUBSPOT_WEBHOOK_PATH: &str = "/webhooks/hubspot";
/// Events of one tenant within this window are drained by one job, delivered at its end.
pub const COALESCE_SECS: i64 = 60;
/// HubSpot retries for 24 h; an event id is remembered a little longer.
const DEDUPE_HOURS: i64 = 26;
/// Store calls of one request run this many at a time (a delivery holds up to 100 events
/// and HubSpot waits 5 s at most).
const CONCURRENCY: usize = 16;
pub fn router(state: IntakeState) -> Router {
    Router::new()
        .route(HUBSPOT_WEBHOOK_PATH, post(intake))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The URL HubSpot called, as it signed it: our public base plus path and query. Locally
/// (no configured base, no API Gateway) the Host header names it.
fn signed_uri(
    base: &PublicBase,
    origin: Option<&RequestOrigin>,
    headers: &HeaderMap,
    uri: &axum::http::Uri,
) -> Option<String> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let base = match (base, origin) {
        (PublicBase::Fixed(b), _) => b.clone(),
        (PublicBase::FromRequest, Some(o)) => o.0.clone(),
        (PublicBase::FromRequest, None) => {
            format!("http://{}", headers.get("host")?.to_str().ok()?)
        }
    };
    Some(format!("{base}{path}"))
}

async fn intake(
    State(s): State<IntakeState>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    origin: Option<axum::Extension<RequestOrigin>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
            format!("request body rejected: {}", e.body_text()),
        )
    })?;
    let full_uri = signed_uri(
        &s.public_base,
        origin.as_ref().map(|o| &o.0),
        &headers,
        &uri,
    )
    .ok_or_else(ApiError::unauthorized)?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let app = s.secrets.app().await?;
    verify_v3(
        app.hubspot_client_secret.expose(),
        &SignedRequest {
            method: method.as_str(),
            uri: &full_uri,
            body: &body,
            signature: header(SIGNATURE_HEADER),
            timestamp: header(TIMESTAMP_HEADER),
        },
        Utc::now().timestamp_millis(),
    )
    .map_err(|e| {
        tracing::warn!(reason = %e, "HubSpot webhook refused");
        ApiError::unauthorized()
    })?;
    let value: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    let Value::Array(raw) = value else {
        return Err(ApiError::bad_request("expected a JSON array of events"));
    };
    let mut events = Vec::new();
    for (i, v) in raw.into_iter().enumerate() {
        let raw: RawHubSpotEvent = serde_json::from_value(v).map_err(|e| {
            ApiError::invalid(
                format!("[{i}]"),
                format!("not a HubSpot webhook event: {e}"),
            )
        })?;
        events.extend(raw.validate().map_err(|(field, msg)| {
            ApiError::invalid(format!("[{i}].{field}"), format!("{field} {msg}"))
        })?);
    }
    let mut by_portal: BTreeMap<u64, Vec<HubSpotEvent>> = BTreeMap::new();
    for e in events {
        by_portal.entry(e.portal_id).or_default().push(e);
    }
    let mut totals = Counts::default();
    for (portal, events) in by_portal {
        let Some(tenant) = s.repo.tenant_for_portal(portal).await? else {
            // An uninstalled or unknown portal: answered 2xx so HubSpot stops retrying.
            tracing::info!(
                portal,
                events = events.len(),
                "HubSpot events for no tenant"
            );
            totals.unknown_portal += events.len() as u32;
            continue;
        };
        totals.add(&for_tenant(&s, &tenant, events).await?);
    }
    Ok((
        StatusCode::OK,
        Json(json!({
            "accepted": totals.accepted, "duplicates": totals.duplicates,
            "ignored": totals.ignored, "unknown_portal": totals.unknown_portal,
        })),
    )
        .into_response())
}

#[derive(Default)]
struct Counts {
    accepted: u32,
    duplicates: u32,
    ignored: u32,
    unknown_portal: u32,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.accepted += o.accepted;
        self.duplicates += o.duplicates;
        self.ignored += o.ignored;
        self.unknown_portal += o.unknown_portal;
    }
}

/// Whether a property change can alter what the tenant pulls: a mapped property or the join.
fn relevant(config: Option<&SyncConfig>, e: &HubSpotEvent) -> bool {
    match (&e.change, &e.property) {
        (Change::Changed, Some(p)) => config.is_some_and(|c| {
            c.join_property(e.kind) == p || c.pull_for(e.kind).any(|m| &m.hubspot_property == p)
        }),
        _ => true,
    }
}

async fn for_tenant(
    s: &IntakeState,
    tenant: &Tenant,
    events: Vec<HubSpotEvent>,
) -> Result<Counts, ApiError> {
    let mut counts = Counts::default();
    let config = s.repo.get_config(&tenant.id).await?;
    let newest = events.iter().map(|e| e.occurred_at_ms).max().unwrap_or(0);
    // Duplicates first: an event id already handled is dropped (a merge's entries share one).
    let keys: Vec<String> = events
        .iter()
        .map(|e| format!("hs:{}", e.event_id))
        .collect();
    let seen: Vec<bool> = futures::stream::iter(keys.into_iter().map(|key| {
        let repo = s.repo.clone();
        let id = tenant.id.clone();
        async move { repo.is_marked(&id, &key).await }
    }))
    .buffered(CONCURRENCY)
    .try_collect()
    .await?;
    let mut fresh_ids = Vec::new();
    let mut to_log = Vec::new();
    for (e, seen) in events.into_iter().zip(seen) {
        if seen {
            counts.duplicates += 1;
            continue;
        }
        if !fresh_ids.contains(&e.event_id) {
            fresh_ids.push(e.event_id.clone());
        }
        if !relevant(config.as_ref(), &e) {
            counts.ignored += 1;
            continue;
        }
        counts.accepted += 1;
        to_log.push(e);
    }
    let entries: Vec<(ObjectKind, u64, ChangeEntry)> = to_log
        .iter()
        .map(|e| {
            let change = match e.change {
                Change::Changed => LoggedChange::Changed,
                Change::Deleted => LoggedChange::Deleted,
                Change::MergedInto(survivor) => LoggedChange::Merged { survivor },
            };
            let entry = ChangeEntry {
                change,
                occurred_at_ms: e.occurred_at_ms,
            };
            (e.kind, e.object_id, entry)
        })
        .collect();
    futures::stream::iter(entries.into_iter().map(|(kind, object_id, entry)| {
        let repo = s.repo.clone();
        let id = tenant.id.clone();
        async move { repo.log_change(&id, kind, object_id, &entry).await }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<()>>()
    .await?;
    if !to_log.is_empty() && tenant.status == TenantStatus::Enabled {
        enqueue_drain(s, tenant).await?;
    }
    // Seen only once logged and queued: a failure above answers 5xx and HubSpot's retry is
    // taken. A crash in between logs the same change twice, which converges.
    futures::stream::iter(fresh_ids.into_iter().map(|event_id| {
        let repo = s.repo.clone();
        let id = tenant.id.clone();
        async move {
            repo.mark_once(
                &id,
                &format!("hs:{event_id}"),
                Duration::hours(DEDUPE_HOURS),
            )
            .await
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect::<Vec<bool>>()
    .await?;
    let previous: Option<LiveStatus> = s.repo.get_cursor(&tenant.id, LIVE_CURSOR).await?;
    s.repo
        .put_cursor(
            &tenant.id,
            LIVE_CURSOR,
            &LiveStatus {
                last_event_at_ms: previous.map_or(newest, |p| p.last_event_at_ms.max(newest)),
                last_received_at: Utc::now(),
            },
        )
        .await?;
    tracing::info!(tenant_id = %tenant.id, accepted = counts.accepted, duplicates = counts.duplicates, ignored = counts.ignored, "HubSpot events received");
    Ok(counts)
}

/// Queues the job that drains the change log, once per tenant per window. A job already
/// queued for this window (its marker is written after its enqueue) is delivered after the
/// window ends, so it reads these entries too.
async fn enqueue_drain(s: &IntakeState, tenant: &Tenant) -> Result<(), ApiError> {
    let window = Utc::now().timestamp() / COALESCE_SECS;
    let key = hubspot_window_marker(window);
    if s.repo.is_marked(&tenant.id, &key).await? {
        return Ok(());
    }
    let job = Job::hubspot_changes(tenant.id.clone(), window, Utc::now());
    s.queue
        .send(
            std::slice::from_ref(&job),
            std::time::Duration::from_secs(COALESCE_SECS as u64),
        )
        .await
        .map_err(|e| {
            tracing::warn!(tenant_id = %tenant.id, error = %e, "HubSpot change job not queued; HubSpot will retry");
            ApiError::from(e)
        })?;
    s.repo
        .mark_once(&tenant.id, &key, Duration::hours(2))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_uri_uses_the_public_base_or_the_host() {
        let uri: axum::http::Uri = "/webhooks/hubspot?x=1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:3000".parse().unwrap());
        assert_eq!(
            signed_uri(&PublicBase::Fixed("https://a.test".into()), None, &h, &uri).as_deref(),
            Some("https://a.test/webhooks/hubspot?x=1")
        );
        assert_eq!(
            signed_uri(
                &PublicBase::FromRequest,
                Some(&RequestOrigin("https://gw.test/prod".into())),
                &h,
                &uri
            )
            .as_deref(),
            Some("https://gw.test/prod/webhooks/hubspot?x=1")
        );
        assert_eq!(
            signed_uri(&PublicBase::FromRequest, None, &h, &uri).as_deref(),
            Some("http://127.0.0.1:3000/webhooks/hubspot?x=1")
        );
    }

    #[test]
    fn only_pulled_properties_and_the_join_matter() {
        let config: SyncConfig = serde_json::from_value(json!({"pull": [
            {"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "title"}]}))
        .unwrap();
        let e = |p: &str| HubSpotEvent {
            event_id: "1".into(),
            portal_id: 1,
            kind: ObjectKind::Visitor,
            object_id: 5,
            occurred_at_ms: 1,
            change: Change::Changed,
            property: Some(p.into()),
            change_source: None,
        };
        assert!(relevant(Some(&config), &e("jobtitle")));
        assert!(relevant(Some(&config), &e("pendo_visitor_id")));
        assert!(!relevant(Some(&config), &e("pendo_last_visit")));
        let deleted = HubSpotEvent {
            change: Change::Deleted,
            property: None,
            ..e("x")
        };
        assert!(relevant(None, &deleted));
    }
}
