//! Webhooks as HubSpot sends them (reference/hubspot.md §7): when a record changes through the
//! API or the control endpoints, events (`contact.propertyChange`, `*.creation`, `*.deletion`,
//! `*.merge`) are queued and POSTed to the app's target URL in batches of up to 100, signed
//! with the v3 signature (HMAC-SHA256 of method + URL + body + timestamp, keyed with the app's
//! client secret, base64) and retried on any failure, up to 10 attempts (HubSpot spreads them
//! over 24 h; the sandbox waits `retry_after` × attempt so tests stay short).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{HubSpotState, Shared};

/// HubSpot gives up after this many attempts.
pub const MAX_ATTEMPTS: u32 = 10;
const BATCH: usize = 100;

/// Where the app's webhooks go, and what is waiting to be sent.
#[derive(Default)]
pub struct Outbox {
    pub target: Option<String>,
    pub app_id: u64,
    /// Events not sent yet, with their attempt number and when they may be sent.
    queue: Vec<(Value, u32, Instant)>,
    next_event_id: u64,
    pub retry_after: Duration,
    pub delivered: u64,
    pub failed_attempts: u64,
    pub dropped: u64,
}

impl Outbox {
    pub fn new(retry_after: Duration) -> Self {
        Self {
            retry_after,
            ..Default::default()
        }
    }
}

impl HubSpotState {
    /// Queues one event for `object`'s record `id` (nothing when no target is set).
    pub fn emit(&mut self, object: &str, action: &str, id: u64, extra: Value) {
        if self.webhooks.target.is_none() {
            return;
        }
        let singular = match object {
            "contacts" => "contact",
            "companies" => "company",
            _ => return,
        };
        self.webhooks.next_event_id += 1;
        let mut e = json!({
            "eventId": self.webhooks.next_event_id, "subscriptionId": 1,
            "portalId": self.cfg.portal_id, "appId": self.webhooks.app_id,
            "occurredAt": self.now_ms(), "subscriptionType": format!("{singular}.{action}"),
            "attemptNumber": 0, "objectId": id, "changeSource": "CRM_UI",
        });
        if let (Some(m), Some(x)) = (e.as_object_mut(), extra.as_object()) {
            m.extend(x.clone());
        }
        self.webhooks.queue.push((e, 0, Instant::now()));
    }

    /// Applies property values as an edit in HubSpot's UI or API would, with their events.
    pub fn edit(&mut self, object: &str, id: u64, props: BTreeMap<String, String>) {
        let now = self.now_ms();
        let modified = super::values::modified_property(object);
        let mut changed = Vec::new();
        if let Some(r) = self.objects.get_mut(object).and_then(|m| m.get_mut(&id)) {
            for (k, v) in props {
                if r.properties.get(&k) != Some(&v) {
                    changed.push((k.clone(), r.properties.get(&k).cloned(), v.clone()));
                }
                r.properties.insert(k, v);
            }
            r.updated_ms = now;
            r.properties
                .insert(modified.into(), super::values::iso(now));
        }
        for (k, old, v) in changed {
            self.index_change(object, id, &k, old.as_deref(), &v);
            self.emit(
                object,
                "propertyChange",
                id,
                json!({"propertyName": k, "propertyValue": v}),
            );
        }
    }
}

/// The v3 signature of a request HubSpot sends.
pub fn sign_v3(secret: &str, method: &str, url: &str, body: &str, timestamp_ms: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{method}{url}{body}{timestamp_ms}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Delivers queued events every 100 ms while the sandbox runs.
pub(super) fn start_sender(state: Shared) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("client");
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let due = {
                let mut s = state.lock().unwrap();
                let Some(target) = s.webhooks.target.clone() else {
                    continue;
                };
                let now = Instant::now();
                let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut s.webhooks.queue)
                    .into_iter()
                    .partition(|(_, _, at)| *at <= now);
                s.webhooks.queue = later;
                if ready.is_empty() {
                    continue;
                }
                (target, s.cfg.client_secret.clone(), ready)
            };
            let (target, secret, ready) = due;
            for chunk in ready.chunks(BATCH) {
                let events: Vec<Value> = chunk
                    .iter()
                    .map(|(e, attempt, _)| {
                        let mut e = e.clone();
                        e["attemptNumber"] = json!(attempt);
                        e
                    })
                    .collect();
                let body = Value::Array(events).to_string();
                let ts = chrono::Utc::now().timestamp_millis();
                let ok = client
                    .post(&target)
                    .header("content-type", "application/json")
                    .header(
                        "X-HubSpot-Signature-v3",
                        sign_v3(&secret, "POST", &target, &body, ts),
                    )
                    .header("X-HubSpot-Request-Timestamp", ts.to_string())
                    .body(body)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success());
                let mut s = state.lock().unwrap();
                if ok {
                    s.webhooks.delivered += chunk.len() as u64;
                    continue;
                }
                s.webhooks.failed_attempts += 1;
                let retry = s.webhooks.retry_after;
                for (e, attempt, _) in chunk {
                    if attempt + 1 >= MAX_ATTEMPTS {
                        s.webhooks.dropped += 1;
                    } else {
                        let at = Instant::now() + retry * (attempt + 1);
                        s.webhooks.queue.push((e.clone(), attempt + 1, at));
                    }
                }
            }
        }
    });
}

#[derive(Deserialize)]
struct TargetBody {
    url: Option<String>,
    #[serde(default)]
    app_id: u64,
}

#[derive(Deserialize)]
struct EditBody {
    object: String,
    id: u64,
    properties: BTreeMap<String, String>,
}

/// `POST /_sandbox/webhooks` `{url, app_id}` sets (or with `url: null` clears) the target;
/// `POST /_sandbox/edit` `{object, id, properties}` edits a record as a user would.
pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            "/_sandbox/webhooks",
            post(
                |State(s): State<Shared>, Json(b): Json<TargetBody>| async move {
                    let mut s = s.lock().unwrap();
                    s.webhooks.target = b.url;
                    s.webhooks.app_id = b.app_id;
                    Json(json!({"delivered": s.webhooks.delivered, "dropped": s.webhooks.dropped}))
                },
            ),
        )
        .route(
            "/_sandbox/edit",
            post(
                |State(s): State<Shared>, Json(b): Json<EditBody>| async move {
                    s.lock().unwrap().edit(&b.object, b.id, b.properties);
                    Json(json!({"id": b.id}))
                },
            ),
        )
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_an_independent_computation() {
        // printf 'POSThttps://example.com/hook{"a":1}1700000000000'
        //   | openssl dgst -sha256 -hmac secret -binary | base64
        assert_eq!(
            super::sign_v3(
                "secret",
                "POST",
                "https://example.com/hook",
                r#"{"a":1}"#,
                1_700_000_000_000
            ),
            "hqBIlfEV33VJdmaT5HywrynIn3NURN7MPP8XagCfa14="
        );
    }
}
