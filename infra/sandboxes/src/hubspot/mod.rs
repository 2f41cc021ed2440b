//! HubSpot sandbox: OAuth (authorize, token, introspect, revoke), properties and groups,
//! CRM object batch read/create/update/upsert, search (200 per page, 10,000 cap, 5 req/s),
//! the 10-second rolling burst limit with HubSpot's 429 body, fault injection and counts.
//! Every endpoint answers on both path families, the date-versioned `2026-03` and the legacy
//! `v3`/`v4` ones, from one state ([`both`]); answers are shaped as HubSpot's official Python
//! client parses them in strict mode (`infra/scripts/hubspot_conformance.py`).

mod engagements;
pub mod events;
pub mod lists;
mod oauth;
mod objects;
mod properties;
mod refusals;
mod search;
pub mod values;
pub mod webhooks;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::limits::{take_fault, Fault, RollingLimit};
pub use engagements::Association;
use values::PropertyDef;

#[derive(Clone, Debug)]
pub struct HubSpotSandboxConfig {
    pub portal_id: u64,
    pub client_id: String,
    pub client_secret: String,
    pub burst_per_window: usize,
    pub window: Duration,
    pub search_per_second: usize,
    pub token_lifetime_secs: u64,
}

impl Default for HubSpotSandboxConfig {
    fn default() -> Self {
        Self {
            portal_id: 4_242_424,
            client_id: "sandbox-client".into(),
            client_secret: "sandbox-secret".into(),
            burst_per_window: 110,
            window: Duration::from_secs(10),
            search_per_second: 5,
            token_lifetime_secs: 1800,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Record {
    pub id: u64,
    pub properties: BTreeMap<String, String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

pub struct HubSpotState {
    pub cfg: HubSpotSandboxConfig,
    pub burst: RollingLimit,
    pub search: RollingLimit,
    pub faults: Vec<Fault>,
    /// Random faults on every API request (none by default).
    pub chaos: Option<crate::limits::Chaos>,
    pub counts: BTreeMap<String, u64>,
    pub access_tokens: HashMap<String, Instant>,
    pub refresh_tokens: HashSet<String>,
    /// Authorization codes issued, with the redirect URI each was issued for.
    pub codes: HashMap<String, String>,
    pub deny_consent: bool,
    pub groups: HashMap<String, BTreeMap<String, Value>>,
    pub properties: HashMap<String, BTreeMap<String, PropertyDef>>,
    pub objects: HashMap<String, BTreeMap<u64, Record>>,
    pub next_id: u64,
    /// When set, every write is stamped with this time (many records sharing one timestamp).
    pub frozen_ms: Option<i64>,
    /// Record ids whose writes fail with a per-record validation error (207), until removed.
    pub reject_writes: HashSet<u64>,
    pub associations: Vec<Association>,
    /// object → merged record id → the id it was merged into.
    pub merged: HashMap<String, HashMap<u64, u64>>,
    /// When set, every authenticated API request is kept in `requests` (tests assert on what
    /// was sent, e.g. that a do-not-process visitor never appears in any request).
    pub log_requests: bool,
    pub requests: Vec<LoggedRequest>,
    /// The portal has an Enterprise tier (custom events allowed); `false` refuses them.
    pub custom_events: bool,
    /// Custom event definitions by internal name (as created).
    pub event_definitions: BTreeMap<String, Value>,
    pub event_completions: Vec<events::Completion>,
    /// Occurrence uuids already counted.
    pub event_uuids: HashSet<String>,
    /// Lists (Lists API) by id.
    pub lists: BTreeMap<u64, lists::SandboxList>,
    /// The app's webhook target and the events waiting for delivery.
    pub webhooks: webhooks::Outbox,
    /// Batch lookups by a unique property, built on first use: (object, property) → normalised
    /// value → lowest record id holding it. Kept up to date by `insert` and `edit`; forgotten
    /// by merges, archives and direct changes through [`HubSpotSandbox::with`].
    pub(crate) unique_index: HashMap<(String, String), HashMap<String, u64>>,
    /// Record inputs received by batch update/upsert calls, all objects (a record written
    /// twice counts twice).
    pub inputs_written: u64,
}

/// One API request as the sandbox received it.
#[derive(Clone, Debug)]
pub struct LoggedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
}

impl HubSpotState {
    fn new(cfg: HubSpotSandboxConfig) -> Self {
        let mut properties = HashMap::new();
        let mut objects = HashMap::new();
        let mut groups = HashMap::new();
        for obj in ["contacts", "companies", "deals", "tasks"] {
            properties.insert(
                obj.to_string(),
                values::default_properties(obj)
                    .into_iter()
                    .map(|p| (p.name.clone(), p))
                    .collect(),
            );
            objects.insert(obj.to_string(), BTreeMap::new());
            let info = if obj == "contacts" {
                "contactinformation"
            } else {
                "companyinformation"
            };
            groups.insert(
                obj.to_string(),
                [info, "objectinformation"]
                    .iter()
                    .map(|g| {
                        (
                            g.to_string(),
                            json!({"name": g, "label": g, "displayOrder": 0, "archived": false}),
                        )
                    })
                    .collect(),
            );
        }
        Self {
            burst: RollingLimit::new(cfg.burst_per_window, cfg.window),
            search: RollingLimit::new(cfg.search_per_second, Duration::from_secs(1)),
            cfg,
            faults: Vec::new(),
            chaos: None,
            counts: BTreeMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashSet::new(),
            codes: HashMap::new(),
            deny_consent: false,
            groups,
            properties,
            objects,
            next_id: 100_001,
            frozen_ms: None,
            reject_writes: HashSet::new(),
            associations: Vec::new(),
            merged: HashMap::new(),
            log_requests: false,
            requests: Vec::new(),
            unique_index: HashMap::new(),
            inputs_written: 0,
            custom_events: true,
            event_definitions: BTreeMap::new(),
            event_completions: Vec::new(),
            event_uuids: HashSet::new(),
            lists: BTreeMap::new(),
            webhooks: webhooks::Outbox::new(Duration::from_secs(1)),
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.frozen_ms
            .unwrap_or_else(|| chrono::Utc::now().timestamp_millis())
    }

    /// Creates a record directly (test and demo seeding); stamps id and timestamps.
    pub fn insert(&mut self, object: &str, mut props: BTreeMap<String, String>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let now = self.now_ms();
        if let Some(e) = props.get_mut("email") {
            *e = values::normalise_email(e);
        }
        props.insert("hs_object_id".into(), id.to_string());
        props.insert("createdate".into(), values::iso(now));
        props.insert(values::modified_property(object).into(), values::iso(now));
        for ((o, p), index) in self.unique_index.iter_mut() {
            if let Some(v) = props.get(p).filter(|_| o == object) {
                index.entry(index_key(p, v)).or_insert(id);
            }
        }
        self.objects.entry(object.to_string()).or_default().insert(
            id,
            Record {
                id,
                properties: props,
                created_ms: now,
                updated_ms: now,
            },
        );
        self.emit(object, "creation", id, json!({}));
        id
    }

    /// Merges record `merged` into `into`, as "Merge" in HubSpot does: the merged record is
    /// gone, its id answers with the survivor (whose `hs_merged_object_ids` lists it), and
    /// empty properties of the survivor take the merged record's values.
    pub fn merge(&mut self, object: &str, merged: u64, into: u64) {
        self.forget_indexes(object);
        let Some(gone) = self.objects.get_mut(object).and_then(|m| m.remove(&merged)) else {
            return;
        };
        let now = self.now_ms();
        if let Some(r) = self.objects.get_mut(object).and_then(|m| m.get_mut(&into)) {
            for (k, v) in gone.properties {
                r.properties.entry(k).or_insert(v);
            }
            let ids = r
                .properties
                .get("hs_merged_object_ids")
                .filter(|v| !v.is_empty())
                .map_or(merged.to_string(), |v| format!("{v};{merged}"));
            r.properties.insert("hs_merged_object_ids".into(), ids);
            r.properties
                .insert(values::modified_property(object).into(), values::iso(now));
            r.updated_ms = now;
        }
        self.merged
            .entry(object.to_string())
            .or_default()
            .insert(merged, into);
        self.emit(
            object,
            "merge",
            into,
            json!({"primaryObjectId": into, "mergedObjectIds": [merged, into], "newObjectId": into}),
        );
    }

    /// [`HubSpotState::edit`] with `(property, value)` pairs (`""` clears one).
    pub fn edit_pairs(&mut self, object: &str, id: u64, changes: &[(&str, &str)]) {
        let props = changes
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.edit(object, id, props);
    }

    /// Archives (deletes) a record: reads and writes by its id find nothing.
    pub fn archive(&mut self, object: &str, id: u64) {
        self.forget_indexes(object);
        if let Some(m) = self.objects.get_mut(object) {
            if m.remove(&id).is_some() {
                self.emit(object, "deletion", id, json!({}));
            }
        }
    }

    pub(crate) fn forget_indexes(&mut self, object: &str) {
        self.unique_index.retain(|(o, _), _| o != object);
    }

    /// Follows a value of `property` on record `id` going from `old` to `new`.
    pub(crate) fn index_change(
        &mut self,
        object: &str,
        id: u64,
        property: &str,
        old: Option<&str>,
        new: &str,
    ) {
        let key = (object.to_string(), property.to_string());
        let Some(index) = self.unique_index.get_mut(&key) else {
            return;
        };
        if old.is_some_and(|o| index.get(&index_key(property, o)) == Some(&id)) {
            // The holder of a value let go of it: another record may hold it too.
            self.unique_index.remove(&key);
            return;
        }
        if !new.is_empty() {
            let holder = index.entry(index_key(property, new)).or_insert(id);
            *holder = (*holder).min(id);
        }
    }

    /// The record an id stands for now, following merges.
    pub fn survivor(&self, object: &str, mut id: u64) -> u64 {
        let merged = self.merged.get(object);
        while let Some(next) = merged.and_then(|m| m.get(&id)) {
            id = *next;
        }
        id
    }

    /// The record whose `property` is `value` (`hs_object_id`: the id, following merges).
    pub fn lookup_one(&self, object: &str, property: &str, value: &str) -> Option<u64> {
        if property == "hs_object_id" {
            let id = self.survivor(object, value.parse().ok()?);
            return self.objects.get(object)?.contains_key(&id).then_some(id);
        }
        self.find_by(object, property, value).first().map(|r| r.id)
    }

    /// The contact that has `email` as its primary or one of its additional addresses.
    pub fn contact_with_email(&self, email: &str) -> Option<u64> {
        self.objects.get("contacts")?.values().find_map(|r| {
            let primary = r
                .properties
                .get("email")
                .is_some_and(|e| e.eq_ignore_ascii_case(email));
            let additional = r
                .properties
                .get("hs_additional_emails")
                .is_some_and(|v| v.split(';').any(|e| e.trim().eq_ignore_ascii_case(email)));
            (primary || additional).then_some(r.id)
        })
    }

    pub fn find_by(&self, object: &str, property: &str, value: &str) -> Vec<&Record> {
        let ci = property == "email";
        self.objects
            .get(object)
            .into_iter()
            .flat_map(|m| m.values())
            .filter(|r| {
                r.properties.get(property).is_some_and(|v| {
                    if ci {
                        v.eq_ignore_ascii_case(value)
                    } else {
                        v == value
                    }
                })
            })
            .collect()
    }
}

pub type Shared = Arc<Mutex<HubSpotState>>;

/// Handle to a running sandbox: its URL and direct access to its state for assertions.
#[derive(Clone)]
pub struct HubSpotSandbox {
    pub base_url: String,
    pub state: Shared,
}

impl HubSpotSandbox {
    pub async fn start(cfg: HubSpotSandboxConfig) -> std::io::Result<Self> {
        Self::start_on(cfg, 0).await
    }

    pub async fn start_on(cfg: HubSpotSandboxConfig, port: u16) -> std::io::Result<Self> {
        let state: Shared = Arc::new(Mutex::new(HubSpotState::new(cfg)));
        let running = crate::serve(router(state.clone()), port).await?;
        webhooks::start_sender(state.clone());
        Ok(Self {
            base_url: running.base_url,
            state,
        })
    }

    /// Issues a refresh token as if an admin had installed the app (tests, demo).
    pub fn issue_refresh_token(&self) -> String {
        let t = format!("sbx-refresh-{}", uuid::Uuid::new_v4().simple());
        self.state.lock().unwrap().refresh_tokens.insert(t.clone());
        t
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state.lock().unwrap().counts.clone()
    }

    pub fn count(&self, key: &str) -> u64 {
        self.counts().get(key).copied().unwrap_or(0)
    }

    pub fn reset_counts(&self) {
        self.state.lock().unwrap().counts.clear();
    }

    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut HubSpotState) -> T) -> T {
        let mut s = self.state.lock().unwrap();
        // The closure may change anything: lookups are rebuilt on next use.
        s.unique_index.clear();
        f(&mut s)
    }
}

/// Registers `handler` under a legacy path and its 2026-03 twin: HubSpot answers both families
/// from the same data, and so does the sandbox (reference/hubspot.md §0).
pub(crate) fn both(
    router: Router<Shared>,
    legacy: &str,
    dated: &str,
    handler: axum::routing::MethodRouter<Shared>,
) -> Router<Shared> {
    router.route(legacy, handler.clone()).route(dated, handler)
}

pub fn error_body(category: &str, message: &str) -> Value {
    json!({"status": "error", "message": message, "correlationId": uuid::Uuid::new_v4().to_string(), "category": category})
}

pub fn err(status: StatusCode, category: &str, message: &str) -> Response {
    (status, Json(error_body(category, message))).into_response()
}

/// Normalises a path into its template for counting: ids become `{id}`.
fn count_key(method: &str, path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .map(|p| {
            if !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) {
                "{id}"
            } else {
                p
            }
        })
        .collect();
    format!("{method} {}", parts.join("/"))
}

/// Auth, rate limits, faults and counting for every `/crm` request.
async fn crm_gate(State(state): State<Shared>, req: Request, next: Next) -> Response {
    // Taken before any lock: the rate limits count the request from here (`admit_at`).
    let arrived = Instant::now();
    let path = req.uri().path().to_string();
    let method = req.method().to_string();
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let logging = state.lock().unwrap().log_requests;
    let req = if logging {
        let query = req.uri().query().unwrap_or_default().to_string();
        let (parts, body) = req.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        state.lock().unwrap().requests.push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        });
        Request::from_parts(parts, axum::body::Body::from(bytes))
    } else {
        req
    };
    let (fault, limited) = {
        let mut s = state.lock().unwrap();
        *s.counts.entry(count_key(&method, &path)).or_default() += 1;
        let valid = token
            .as_ref()
            .and_then(|t| s.access_tokens.get(t))
            .is_some_and(|exp| *exp > Instant::now());
        if !valid {
            return err(
                StatusCode::UNAUTHORIZED,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 authentication.",
            );
        }
        let fault = take_fault(&mut s.faults, &path);
        let is_search = path.ends_with("/search");
        let limited = if is_search {
            !s.search.admit_at(arrived)
        } else {
            !s.burst.admit_at(arrived)
        };
        // Chaos applies to requests the limits admitted, as an outage behind the gate would.
        let fault = match fault {
            None if !limited => s.chaos.as_mut().and_then(|c| c.draw()),
            f => f,
        };
        (fault, limited.then_some(is_search))
    };
    if let Some(is_search) = limited {
        let (message, policy) = if is_search {
            ("You have reached your secondly limit.", "SECONDLY")
        } else {
            (
                "You have reached your ten_secondly_rolling limit.",
                "TEN_SECONDLY_ROLLING",
            )
        };
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(
                json!({"status": "error", "message": message, "errorType": "RATE_LIMIT",
                        "correlationId": uuid::Uuid::new_v4().to_string(), "policyName": policy}),
            ),
        )
            .into_response();
    }
    if let Some(f) = fault {
        match f.kind.as_str() {
            "slow" => tokio::time::sleep(Duration::from_millis(f.delay_ms)).await,
            "drop" => return crate::limits::dropped_connection(),
            "cut" => {
                let processed = next.run(req).await;
                return crate::limits::cut_body(processed.status());
            }
            "429" => {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(json!({"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                                "errorType": "RATE_LIMIT", "policyName": "TEN_SECONDLY_ROLLING"})),
                )
                    .into_response()
            }
            code => {
                let status = code.parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok());
                return err(
                    status.unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                    "INTERNAL_ERROR",
                    "injected fault",
                );
            }
        }
    }
    next.run(req).await
}

#[derive(Deserialize)]
struct SeedBody {
    object: String,
    records: Vec<BTreeMap<String, String>>,
}

/// An archive (`/_sandbox/archive`: properties ignored) of one record; edits go through
/// `/_sandbox/edit` (see `webhooks.rs`), which also sends their webhook events.
#[derive(Deserialize)]
struct ArchiveBody {
    object: String,
    id: u64,
}

fn control_routes() -> Router<Shared> {
    Router::new()
        .route(
            "/_sandbox/faults",
            crate::limits::fault_route::<HubSpotState>(),
        )
        .route(
            "/_sandbox/stats",
            get(|State(s): State<Shared>| async move {
                let s = s.lock().unwrap();
                Json(
                    json!({"counts": s.counts, "rejected_429": s.burst.rejected + s.search.rejected,
                            "peak_window": s.burst.peak, "burst_limit": s.burst.max}),
                )
            }),
        )
        .route("/_sandbox/events", events::readback_route())
        .route(
            "/_sandbox/seed",
            post(
                |State(s): State<Shared>, Json(b): Json<SeedBody>| async move {
                    let mut s = s.lock().unwrap();
                    let ids: Vec<u64> = b
                        .records
                        .into_iter()
                        .map(|r| s.insert(&b.object, r))
                        .collect();
                    Json(json!({"ids": ids}))
                },
            ),
        )
        .route(
            "/_sandbox/archive",
            post(
                |State(s): State<Shared>, Json(b): Json<ArchiveBody>| async move {
                    s.lock().unwrap().archive(&b.object, b.id);
                    Json(json!({"id": b.id}))
                },
            ),
        )
        .route(
            "/_sandbox/refresh-token",
            post(|State(s): State<Shared>| async move {
                let t = format!("sbx-refresh-{}", uuid::Uuid::new_v4().simple());
                s.lock().unwrap().refresh_tokens.insert(t.clone());
                Json(json!({"refresh_token": t}))
            }),
        )
}

pub fn router(state: Shared) -> Router {
    let crm = Router::new()
        .merge(properties::routes())
        .merge(objects::routes())
        .merge(search::routes())
        .merge(engagements::routes())
        .merge(events::routes())
        .merge(lists::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crm_gate,
        ));
    Router::new()
        .merge(oauth::routes(state.clone()))
        .merge(control_routes())
        .merge(webhooks::routes())
        .merge(crm)
        .with_state(state)
}

impl crate::limits::Faulty for HubSpotState {
    fn faults(&mut self) -> &mut Vec<Fault> {
        &mut self.faults
    }
}

/// How a unique property's value is looked up: e-mail addresses case-insensitively and
/// normalised as HubSpot stores them, everything else exactly.
pub(crate) fn index_key(property: &str, value: &str) -> String {
    if property == "email" {
        values::normalise_email(value).to_ascii_lowercase()
    } else {
        value.to_string()
    }
}
