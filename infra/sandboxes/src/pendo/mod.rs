//! Pendo sandbox: per-region hosts (`/{region}/api/v1/...`, a key works only in its region and
//! anything else is a 403 with an empty body), the aggregation API, metadata schema and
//! writes (HTTP 200 even when rows fail), segments, a request limit with 429, fault injection,
//! counts, mutations between runs, and webhook emission.

pub mod data;
pub mod pipeline;
mod rollups;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::limits::{take_fault, Fault, RollingLimit};
use data::{parse_account, parse_visitor, Dataset, DatasetConfig};

pub const REGIONS: &[&str] = &["us", "us1", "eu", "jp", "au"];

pub struct PendoState {
    pub data: Dataset,
    /// integration key → (region, write access)
    pub keys: HashMap<String, (String, bool)>,
    pub limit: RollingLimit,
    pub faults: Vec<Fault>,
    /// Random faults on every API request (none by default).
    pub chaos: Option<crate::limits::Chaos>,
    pub counts: BTreeMap<String, u64>,
}

pub type Shared = Arc<Mutex<PendoState>>;

#[derive(Clone)]
pub struct PendoSandbox {
    pub base_url: String,
    pub state: Shared,
}

#[derive(Clone, Debug)]
pub struct PendoSandboxConfig {
    pub dataset: DatasetConfig,
    pub requests_per_second: usize,
}

impl Default for PendoSandboxConfig {
    fn default() -> Self {
        Self {
            dataset: DatasetConfig::default(),
            requests_per_second: 50,
        }
    }
}

impl PendoSandbox {
    pub async fn start(cfg: PendoSandboxConfig) -> std::io::Result<Self> {
        Self::start_on(cfg, 0).await
    }

    pub async fn start_on(cfg: PendoSandboxConfig, port: u16) -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(PendoState {
            data: Dataset::generate(cfg.dataset),
            keys: HashMap::new(),
            limit: RollingLimit::new(cfg.requests_per_second, Duration::from_secs(1)),
            faults: Vec::new(),
            chaos: None,
            counts: BTreeMap::new(),
        }));
        let running = crate::serve(router(state.clone()), port).await?;
        Ok(Self {
            base_url: running.base_url,
            state,
        })
    }

    /// Registers an integration key valid in `region`; returns the API base for that region.
    pub fn add_key(&self, key: &str, region: &str, write_access: bool) -> String {
        self.state
            .lock()
            .unwrap()
            .keys
            .insert(key.to_string(), (region.to_string(), write_access));
        self.region_base(region)
    }

    pub fn region_base(&self, region: &str) -> String {
        format!("{}/{region}", self.base_url)
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut PendoState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn count(&self, key: &str) -> u64 {
        self.with(|s| s.counts.get(key).copied().unwrap_or(0))
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.with(|s| s.counts.clone())
    }

    pub fn inject(&self, fault: Fault) {
        self.with(|s| s.faults.push(fault));
    }
}

async fn gate(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
    next: Next,
) -> Response {
    let region = params.get("region").cloned().unwrap_or_default();
    let path = req.uri().path().to_string();
    let key = req
        .headers()
        .get("x-pendo-integration-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let fault = {
        let mut s = state.lock().unwrap();
        let template: String = path
            .splitn(3, '/')
            .nth(2)
            .map(|rest| format!("{} /{rest}", req.method()))
            .unwrap_or_default();
        let template = if template.contains("/metadata/") && template.contains("/value") {
            template
                .replace("/visitor/", "/{kind}/")
                .replace("/account/", "/{kind}/")
        } else {
            template
        };
        *s.counts.entry(template).or_default() += 1;
        let ok = key
            .as_ref()
            .and_then(|k| s.keys.get(k))
            .is_some_and(|(r, _)| *r == region);
        if !ok {
            return StatusCode::FORBIDDEN.into_response();
        }
        if !s.limit.admit() {
            return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
        }
        take_fault(&mut s.faults, &path).or_else(|| s.chaos.as_mut().and_then(|c| c.draw()))
    };
    if let Some(f) = fault {
        match f.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
            "drop" => return crate::limits::dropped_connection(),
            "cut" => {
                let processed = next.run(req).await;
                return crate::limits::cut_body(processed.status());
            }
            "429" => return (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response(),
            code => {
                let status = code
                    .parse::<u16>()
                    .ok()
                    .and_then(|c| StatusCode::from_u16(c).ok());
                return (
                    status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "Unexpected error occurred",
                )
                    .into_response();
            }
        }
    }
    next.run(req).await
}

async fn verify(State(state): State<Shared>, req: Request) -> Response {
    let key = req
        .headers()
        .get("x-pendo-integration-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let s = state.lock().unwrap();
    let write = s.keys.get(&key).map(|(_, w)| *w).unwrap_or(false);
    Json(json!({"valid": true, "writeAccess": write})).into_response()
}

async fn aggregation(State(state): State<Shared>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid JSON").into_response();
    };
    let Some(pipeline) = body["request"]["pipeline"].as_array() else {
        return (StatusCode::BAD_REQUEST, "request.pipeline is required").into_response();
    };
    let pipeline = pipeline.clone();
    // A pipeline over a large subscription takes its time under the lock: on a blocking
    // thread, so the runtime's workers stay free to take up (and count) other requests.
    crate::blocking(move || {
        let s = state.lock().unwrap();
        match pipeline::run(&s.data, &pipeline) {
            Ok(rows) => {
                Json(json!({"startTime": chrono::Utc::now().timestamp_millis(), "results": rows}))
                    .into_response()
            }
            Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
        }
    })
    .await
}

async fn schema(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let kind = params.get("kind").cloned().unwrap_or_default();
    let s = state.lock().unwrap();
    let Some(fields) = s.data.schema.get(&kind) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let custom: serde_json::Map<String, Value> = fields
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                json!({"Type": t, "DisplayName": n, "isHidden": false, "isDeleted": false}),
            )
        })
        .collect();
    let mut body = json!({"auto": {"id": {"Type": "string"}}, "agent": {"email": {"Type": "string"}}, "custom": custom});
    if kind == "visitor" {
        // The Pendo-managed GDPR flag (pendo.md §2.5, §3 `…/pendo/value/{id}/donotprocess`).
        body["pendo"] =
            json!({"donotprocess": {"Type": "boolean", "DisplayName": "Do Not Process"}});
    }
    Json(body).into_response()
}

fn type_ok(expected: &str, v: &Value) -> bool {
    match expected {
        "string" => v.is_string(),
        "float" => v.is_number(),
        "integer" => v.as_i64().is_some(),
        "boolean" => v.is_boolean(),
        "time" => v.as_i64().is_some(),
        _ => true,
    }
}

async fn write_values(
    State(state): State<Shared>,
    Path(params): Path<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    let kind = params.get("kind").cloned().unwrap_or_default();
    let group = params.get("group").cloned().unwrap_or_default();
    if !["visitor", "account"].contains(&kind.as_str())
        || !["custom", "agent"].contains(&group.as_str())
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(rows) = serde_json::from_slice::<Vec<Value>>(&body) else {
        return (StatusCode::BAD_REQUEST, "body must be a JSON array").into_response();
    };
    let mut s = state.lock().unwrap();
    let id_field = if kind == "visitor" {
        "visitorId"
    } else {
        "accountId"
    };
    let (mut updated, mut failed, mut missing, mut errors) = (0u64, 0u64, Vec::new(), Vec::new());
    let schema = s.data.schema.get(&kind).cloned().unwrap_or_default();
    for row in &rows {
        let id = row[id_field].as_str().unwrap_or_default().to_string();
        let known = if kind == "visitor" {
            parse_visitor(&id).is_some_and(|v| v < s.data.cfg.visitors)
        } else {
            parse_account(&id).is_some_and(|a| a < s.data.cfg.accounts)
        };
        if !known {
            missing.push(id);
            continue;
        }
        let values = row["values"].as_object().cloned().unwrap_or_default();
        let bad = values.iter().find_map(|(f, v)| match schema.get(f) {
            None => Some(format!("field {f} does not exist in {group} metadata")),
            Some(t) if !v.is_null() && !type_ok(t, v) => {
                Some(format!("value for {f} is not of type {t}"))
            }
            _ => None,
        });
        if let Some(e) = bad {
            failed += 1;
            errors.push(json!({"id": id, "error": e}));
            continue;
        }
        let entry = s.data.custom.entry((kind.clone(), id)).or_default();
        for (f, v) in values {
            entry.insert(f, v);
        }
        updated += 1;
    }
    Json(json!({"kind": kind, "total": rows.len(), "updated": updated, "failed": failed, "missing": missing, "errors": errors}))
        .into_response()
}

async fn segments() -> Response {
    Json(json!([
        {"id": "seg-power-users", "name": "Power users", "kind": "Segment", "createdByApi": false},
        {"id": "seg-dormant", "name": "Dormant", "kind": "Segment", "createdByApi": false}
    ]))
    .into_response()
}

/// Changes between runs: a new day of events, new NPS answers, changed emails.
#[derive(Deserialize, Default)]
pub struct Mutation {
    #[serde(default)]
    pub advance_days: i32,
    /// (visitor index, day offset from the new today (negative = past), minutes, events)
    #[serde(default)]
    pub activity: Vec<(usize, i32, u32, u32)>,
    /// (visitor index, score, text)
    #[serde(default)]
    pub nps: Vec<(usize, u64, String)>,
    /// Answers given at a given time: (visitor index, score, text, epoch ms); the text
    /// follow-up comes 4 s after the score (across midnight when the score is just before it).
    #[serde(default)]
    pub nps_at: Vec<(usize, u64, String, i64)>,
    /// Days erased from history (Pendo data deletion): (visitor index, day offset from the
    /// new today).
    #[serde(default)]
    pub erase: Vec<(usize, i32)>,
    /// Visitors moving to another account: (visitor index, account index).
    #[serde(default)]
    pub moves: Vec<(usize, usize)>,
    /// New visitors added after the existing ones.
    #[serde(default)]
    pub add_visitors: usize,
    /// (visitor index, flagged): sets or clears Pendo's do-not-process flag.
    #[serde(default)]
    pub do_not_process: Vec<(usize, bool)>,
    /// (segment id, visitor index, member): joins or leaves a segment.
    #[serde(default)]
    pub segments: Vec<(String, usize, bool)>,
}

pub fn apply_mutation(s: &mut PendoState, m: Mutation) {
    s.data.cfg.today += m.advance_days;
    let today = s.data.cfg.today;
    for (v, offset, minutes, events) in m.activity {
        s.data
            .overrides
            .insert((v, today + offset), (minutes, events));
    }
    // A day of changes: its answers were given on the day that just ended.
    let at = (today as i64 - 1) * data::DAY_MS + 3_600_000;
    for (v, score, text) in m.nps {
        record_nps(s, v, score, text, at);
    }
    for (v, score, text, at_ms) in m.nps_at {
        record_nps(s, v, score, text, at_ms);
    }
    for (v, offset) in m.erase {
        s.data.overrides.insert((v, today + offset), (0, 0));
    }
    for (v, a) in m.moves {
        s.data.move_visitor(v, a);
    }
    if m.add_visitors > 0 {
        s.data.add_visitors(m.add_visitors);
    }
    for (segment, v, member) in m.segments {
        s.data.segment_overrides.insert((segment, v), member);
    }
    for (v, flagged) in m.do_not_process {
        if flagged {
            s.data.do_not_process.insert(v);
        } else {
            s.data.do_not_process.remove(&v);
        }
    }
}

/// Records one NPS answer (score, then its text follow-up 4 s later) given at `at_ms`.
pub fn record_nps(s: &mut PendoState, v: usize, score: u64, text: String, at_ms: i64) {
    let score_poll = s.data.cfg.nps_score_poll.clone();
    let text_poll = s.data.cfg.nps_text_poll.clone();
    s.data.polls.push(data::PollEvent {
        visitor: v,
        poll_id: score_poll,
        response: json!(score),
        browser_time: at_ms,
    });
    s.data.polls.push(data::PollEvent {
        visitor: v,
        poll_id: text_poll,
        response: json!(text),
        browser_time: at_ms + 4_000,
    });
}

/// NPS answers given in-app: recorded in the subscription and delivered to a webhook URL the way
/// Pendo's URL webhooks post them (`event`, `uniqueId`, `visitorId`, `accountId`, `timestamp` in
/// seconds, `properties`).
#[derive(Deserialize)]
pub struct EmitNps {
    pub url: String,
    /// (visitor index, score, text)
    pub answers: Vec<(usize, u64, String)>,
}

impl PendoSandbox {
    /// Records the answers and posts one webhook per answer; returns the HTTP statuses.
    pub async fn emit_nps(&self, req: EmitNps) -> Vec<u16> {
        emit_nps(&self.state, req).await
    }
}

async fn emit_nps(state: &Shared, req: EmitNps) -> Vec<u16> {
    let bodies: Vec<Value> = {
        let mut s = state.lock().unwrap();
        let now = chrono::Utc::now();
        let bodies = req
            .answers
            .iter()
            .map(|(v, score, text)| {
                json!({"app": {"id": -323232, "name": "sandbox", "platform": "web"},
                       "subscription": {"id": 4_802_463_602_049_999u64, "name": "sandbox"},
                       "event": "npsSubmitted", "visitorId": data::visitor_id(*v),
                       "accountId": data::account_id(s.data.primary_account(*v)),
                       "timestamp": now.timestamp(),
                       "uniqueId": format!("{:040x}", data::mix(*v as u64 ^ (now.timestamp_micros() as u64).rotate_left(17))),
                       "properties": {"guideId": s.data.cfg.nps_guide_id, "pollId": s.data.cfg.nps_score_poll,
                                      "pollResponse": score, "text": text}})
            })
            .collect();
        // Recorded when given (the webhook's `timestamp`), as Pendo does: an answer of today
        // is in today's poll events, not yesterday's.
        for (v, score, text) in req.answers {
            record_nps(&mut s, v, score, text, now.timestamp_millis());
        }
        bodies
    };
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for b in bodies {
        let status = client
            .post(&req.url)
            .json(&b)
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        statuses.push(status);
    }
    statuses
}

pub fn router(state: Shared) -> Router {
    let api = Router::new()
        .route("/{region}/api/v1/token/verify", get(verify))
        .route("/{region}/api/v1/aggregation", post(aggregation))
        .route("/{region}/api/v1/metadata/schema/{kind}", get(schema))
        .route(
            "/{region}/api/v1/metadata/{kind}/{group}/value",
            post(write_values),
        )
        .route("/{region}/api/v1/segment", get(segments))
        .layer(axum::middleware::from_fn_with_state(state.clone(), gate));
    let control = Router::new()
        .route(
            "/_sandbox/faults",
            crate::limits::fault_route::<PendoState>(),
        )
        .route(
            "/_sandbox/stats",
            get(|State(s): State<Shared>| async move {
                let s = s.lock().unwrap();
                Json(json!({"counts": s.counts, "rejected_429": s.limit.rejected}))
            }),
        )
        .route(
            "/_sandbox/webhooks/nps",
            post(
                |State(s): State<Shared>, Json(req): Json<EmitNps>| async move {
                    Json(emit_nps(&s, req).await)
                },
            ),
        )
        .route(
            "/_sandbox/mutate",
            post(
                |State(s): State<Shared>, Json(m): Json<Mutation>| async move {
                    apply_mutation(&mut s.lock().unwrap(), m);
                    StatusCode::NO_CONTENT
                },
            ),
        );
    api.merge(control).with_state(state)
}

impl crate::limits::Faulty for PendoState {
    fn faults(&mut self) -> &mut Vec<Fault> {
        &mut self.faults
    }
}
