//! reqwest adapter of [`HubSpotApi`]: per-portal rolling-window limiter (110 req / 10 s by
//! default), a separate search limiter (5 req/s), bounded jittered retries, call counting.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::oauth::{self, OAuthApp};
use super::schema::pendo_property_specs;
use super::{
    paths, BatchOutcome, HsRecord, HubSpotApi, HubSpotError, PropertyInfo, RecordFailure,
    SchemaReport, SearchCursor, SearchPage, WriteInput,
};
use crate::domain::{ObjectKind, PENDO_GROUP};
use crate::http::{CallCounter, RetryPolicy, RollingWindowLimiter};
use crate::secret::SecretString;

pub const BATCH_LIMIT: usize = 100;
pub const SEARCH_PAGE: usize = 200;

#[derive(Clone, Debug)]
pub struct HubSpotConfig {
    pub api_base: String,
    /// Burst limit per portal per `window` (110 / 10 s for public apps; 190 or 250 for private apps).
    pub requests_per_window: usize,
    pub window: Duration,
    pub search_per_second: usize,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl Default for HubSpotConfig {
    fn default() -> Self {
        Self {
            api_base: "https://api.hubapi.com".into(),
            requests_per_window: 110,
            window: Duration::from_secs(10),
            search_per_second: 5,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
        }
    }
}

pub enum Auth {
    /// OAuth app install: access tokens come from the refresh token and are cached.
    OAuth {
        app: OAuthApp,
        refresh_token: SecretString,
    },
    /// Private app / service key.
    Static(SecretString),
}

struct CachedToken {
    token: SecretString,
    refresh_at: Instant,
}

pub struct HubSpotClient {
    http: reqwest::Client,
    cfg: HubSpotConfig,
    auth: Auth,
    token: Mutex<Option<CachedToken>>,
    limiter: RollingWindowLimiter,
    search_limiter: RollingWindowLimiter,
    calls: CallCounter,
}

enum Lane {
    Standard,
    Search,
}

impl HubSpotClient {
    pub fn new(cfg: HubSpotConfig, auth: Auth) -> Self {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .build()
            .expect("reqwest client");
        Self {
            limiter: RollingWindowLimiter::new(cfg.requests_per_window, cfg.window),
            search_limiter: RollingWindowLimiter::new(
                cfg.search_per_second,
                Duration::from_secs(1),
            ),
            http,
            cfg,
            auth,
            token: Mutex::new(None),
            calls: CallCounter::default(),
        }
    }

    /// A valid access token, refreshed *ahead* of expiry (at 80 % of `expires_in`, and never
    /// later than a minute before), never in reaction to a 401.
    async fn access_token(&self) -> Result<SecretString, HubSpotError> {
        let (app, refresh_token) = match &self.auth {
            Auth::Static(t) => return Ok(t.clone()),
            Auth::OAuth { app, refresh_token } => (app, refresh_token),
        };
        let mut cached = self.token.lock().await;
        if let Some(c) = cached.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        self.calls.incr("hubspot.oauth");
        let set = oauth::refresh(&self.cfg.api_base, app, refresh_token).await?;
        let lifetime = Duration::from_secs(set.expires_in);
        let ahead = (lifetime / 5).max(Duration::from_secs(60)).min(lifetime);
        *cached = Some(CachedToken {
            token: set.access_token.clone(),
            refresh_at: Instant::now() + lifetime - ahead,
        });
        Ok(set.access_token)
    }

    /// Sends one request with limiter, retries and error mapping. Returns status and JSON body
    /// for 2xx and 404 (absent things are the caller's business).
    async fn call(
        &self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        lane: Lane,
    ) -> Result<(u16, Value), HubSpotError> {
        self.call_with(kind, method, path, body, lane, true).await
    }

    /// `idempotent = false`: only a 429 (rejected before any work) is retried; a 5xx or a lost
    /// connection may have created the record, so it is reported instead of repeated.
    async fn call_with(
        &self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
        lane: Lane,
        idempotent: bool,
    ) -> Result<(u16, Value), HubSpotError> {
        let url = format!("{}{}", self.cfg.api_base, path);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            match lane {
                Lane::Standard => self.limiter.acquire().await,
                Lane::Search => self.search_limiter.acquire().await,
            }
            let token = self.access_token().await?;
            self.calls.incr(kind);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(token.expose());
            if let Some(b) = body {
                req = req.json(b);
            }
            let outcome = req.send().await;
            let (retry_reason, retry_after) = match outcome {
                Err(e) if !idempotent => {
                    return Err(HubSpotError::RetriesExhausted {
                        operation: kind.into(),
                        attempts: attempt,
                        last: format!("not retried (not idempotent): {}", e.without_url()),
                    })
                }
                Err(e) => (format!("transport: {}", e.without_url()), None),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let bytes = match resp.bytes().await {
                        Ok(b) => b,
                        Err(e) => {
                            self.wait_or_give_up(
                                kind,
                                attempt,
                                format!("body: {}", e.without_url()),
                                None,
                            )
                            .await?;
                            continue;
                        }
                    };
                    let json: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    match status {
                        200..=299 | 404 => return Ok((status, json)),
                        429 => {
                            let policy =
                                json["policyName"].as_str().unwrap_or_default().to_string();
                            if policy == "DAILY" {
                                return Err(HubSpotError::DailyLimit {
                                    operation: kind.into(),
                                });
                            }
                            // The server saw more than we did (other apps share the portal):
                            // stand back for a whole window.
                            let pause = match lane {
                                Lane::Search => Duration::from_secs(1),
                                Lane::Standard => self.cfg.window,
                            };
                            match lane {
                                Lane::Search => self.search_limiter.penalize(pause).await,
                                Lane::Standard => self.limiter.penalize(pause).await,
                            }
                            (
                                format!("429 {policy}"),
                                retry_after.or(Some(Duration::ZERO)),
                            )
                        }
                        423 => (
                            "423 locked".to_string(),
                            retry_after.or(Some(Duration::from_secs(2))),
                        ),
                        500..=599 if !idempotent => {
                            return Err(HubSpotError::Api {
                                operation: kind.into(),
                                status,
                                category: "NOT_RETRIED".into(),
                                message: format!(
                                    "not retried (not idempotent): {}",
                                    message_of(&json)
                                ),
                            })
                        }
                        500..=599 => (format!("{status} {}", message_of(&json)), retry_after),
                        401 => {
                            return Err(HubSpotError::Unauthorized {
                                operation: kind.into(),
                                message: message_of(&json),
                            })
                        }
                        403 if json["category"] == "MISSING_SCOPES" => {
                            return Err(HubSpotError::MissingScopes {
                                operation: kind.into(),
                                message: message_of(&json),
                            })
                        }
                        _ => {
                            return Err(HubSpotError::Api {
                                operation: kind.into(),
                                status,
                                category: json["category"].as_str().unwrap_or_default().to_string(),
                                message: message_of(&json),
                            })
                        }
                    }
                }
            };
            self.wait_or_give_up(kind, attempt, retry_reason, retry_after)
                .await?;
        }
    }

    async fn wait_or_give_up(
        &self,
        kind: &str,
        attempt: u32,
        reason: String,
        retry_after: Option<Duration>,
    ) -> Result<(), HubSpotError> {
        self.cfg
            .retry
            .pause("hubspot", kind, attempt, reason, retry_after)
            .await
            .map_err(|e| HubSpotError::RetriesExhausted {
                operation: kind.into(),
                attempts: e.attempts,
                last: e.last,
            })
    }

    async fn batch_write(
        &self,
        kind: ObjectKind,
        op: &str,
        id_property: Option<&str>,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        let mut outcome = BatchOutcome::default();
        for chunk in inputs.chunks(BATCH_LIMIT) {
            let body_inputs: Vec<Value> = chunk
                .iter()
                .map(|i| {
                    let mut v = json!({"id": i.key, "properties": i.properties, "objectWriteTraceId": i.key});
                    if let Some(p) = id_property {
                        v["idProperty"] = json!(p);
                    }
                    v
                })
                .collect();
            let (status, body) = self
                .call(
                    "hubspot.write",
                    Method::POST,
                    &paths::batch(kind.hubspot_object(), op),
                    Some(&json!({"inputs": body_inputs})),
                    Lane::Standard,
                )
                .await?;
            if status == 404 {
                return Err(HubSpotError::Api {
                    operation: format!("batch/{op}"),
                    status,
                    category: "NOT_FOUND".into(),
                    message: message_of(&body),
                });
            }
            let part = parse_batch(&body, chunk, id_property);
            outcome.ok.extend(part.ok);
            outcome.failed.extend(part.failed);
        }
        Ok(outcome)
    }
}

impl HubSpotClient {
    async fn batch_read(
        &self,
        object: &str,
        id_property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        let mut out = Vec::new();
        for chunk in values.chunks(BATCH_LIMIT) {
            let inputs: Vec<Value> = chunk.iter().map(|v| json!({"id": v})).collect();
            let mut body =
                json!({"properties": properties, "propertiesWithHistory": [], "inputs": inputs});
            // Record ids are the default; `idProperty` names a unique property (or email).
            if id_property != "hs_object_id" {
                body["idProperty"] = json!(id_property);
            }
            let (_, resp) = self
                .call(
                    "hubspot.read",
                    Method::POST,
                    &paths::batch(object, "read"),
                    Some(&body),
                    Lane::Standard,
                )
                .await?;
            out.extend(records(&resp)?);
        }
        Ok(out)
    }
}

fn message_of(v: &Value) -> String {
    v["message"]
        .as_str()
        .unwrap_or("no message")
        .chars()
        .take(500)
        .collect()
}

/// Maps a 200/207 batch response back to inputs. Any input without a result and without an
/// error is reported as failed: nothing is assumed to have succeeded.
fn parse_batch(body: &Value, inputs: &[WriteInput], id_property: Option<&str>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    let mut pending: HashMap<&str, &WriteInput> =
        inputs.iter().map(|i| (i.key.as_str(), i)).collect();
    for r in body["results"].as_array().into_iter().flatten() {
        let id = r["id"].as_str().unwrap_or_default().to_string();
        let key = match id_property {
            Some(p) => r["properties"][p].as_str().map(str::to_string),
            None => Some(id.clone()),
        };
        if let Some(key) = key {
            if pending.remove(key.as_str()).is_some() {
                outcome.ok.push((key, id));
            }
        }
    }
    for e in body["errors"].as_array().into_iter().flatten() {
        let message = e["message"]
            .as_str()
            .unwrap_or("record rejected")
            .to_string();
        let detail = e["errors"].as_array().and_then(|d| d.first());
        let property = detail
            .and_then(|d| d["context"]["propertyName"][0].as_str())
            .or_else(|| e["context"]["propertyName"][0].as_str())
            .map(str::to_string);
        let detail_msg = detail
            .and_then(|d| d["message"].as_str())
            .unwrap_or_default();
        let keys: Vec<String> = e["context"]["objectWriteTraceId"]
            .as_array()
            .or_else(|| e["context"]["ids"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_string))
            .collect();
        for key in keys {
            if pending.remove(key.as_str()).is_some() {
                outcome.failed.push(RecordFailure {
                    key,
                    property: property.clone(),
                    message: if detail_msg.is_empty() {
                        message.clone()
                    } else {
                        format!("{message}: {detail_msg}")
                    },
                });
            }
        }
    }
    let mut rest: Vec<&str> = pending.into_keys().collect();
    rest.sort();
    for key in rest {
        outcome.failed.push(RecordFailure {
            key: key.to_string(),
            property: None,
            message: "HubSpot returned no result for this record".into(),
        });
    }
    outcome
}

/// The `results` array of a response, typed.
fn results<T: serde::de::DeserializeOwned>(
    body: &Value,
    operation: &str,
) -> Result<Vec<T>, HubSpotError> {
    serde_json::from_value(body["results"].clone()).map_err(|e| HubSpotError::Decode {
        operation: operation.into(),
        message: e.to_string(),
    })
}

fn records(body: &Value) -> Result<Vec<HsRecord>, HubSpotError> {
    results(body, "records")
}

#[async_trait]
impl HubSpotApi for HubSpotClient {
    async fn ensure_schema(&self, kind: ObjectKind) -> Result<SchemaReport, HubSpotError> {
        let object = kind.hubspot_object();
        let mut report = SchemaReport::default();
        let existing: BTreeMap<String, PropertyInfo> = self
            .list_properties(kind)
            .await?
            .into_iter()
            .map(|p| (p.name.clone(), p))
            .collect();
        let mut missing = Vec::new();
        for (name, ty, body) in pendo_property_specs(kind) {
            match existing.get(&name) {
                Some(p) if p.kind != ty => report.wrong_type.push((name, p.kind.clone())),
                Some(_) => {}
                None => missing.push(body),
            }
        }
        if missing.is_empty() {
            return Ok(report);
        }
        let (status, _) = self
            .call(
                "hubspot.schema",
                Method::GET,
                &paths::group(object, PENDO_GROUP),
                None,
                Lane::Standard,
            )
            .await?;
        if status == 404 {
            let (s, body) = self
                .call(
                    "hubspot.schema",
                    Method::POST,
                    &paths::groups(object),
                    Some(&json!({"name": PENDO_GROUP, "label": "Pendo", "displayOrder": -1})),
                    Lane::Standard,
                )
                .await?;
            if s == 404 {
                return Err(HubSpotError::Api {
                    operation: "create group".into(),
                    status: s,
                    category: String::new(),
                    message: message_of(&body),
                });
            }
            report.group_created = true;
        }
        let (_, body) = self
            .call(
                "hubspot.schema",
                Method::POST,
                &paths::properties_batch_create(object),
                Some(&json!({"inputs": missing})),
                Lane::Standard,
            )
            .await?;
        for r in body["results"].as_array().into_iter().flatten() {
            if let Some(n) = r["name"].as_str() {
                report.created.push(n.to_string());
            }
        }
        if let Some(first) = body["errors"].as_array().and_then(|e| e.first()) {
            return Err(HubSpotError::Api {
                operation: "create properties".into(),
                status: 207,
                category: first["category"].as_str().unwrap_or_default().into(),
                message: message_of(first),
            });
        }
        Ok(report)
    }

    async fn list_properties(&self, kind: ObjectKind) -> Result<Vec<PropertyInfo>, HubSpotError> {
        let (_, body) = self
            .call(
                "hubspot.schema",
                Method::GET,
                &paths::properties(kind.hubspot_object()),
                None,
                Lane::Standard,
            )
            .await?;
        results(&body, "list properties")
    }

    async fn read_by(
        &self,
        kind: ObjectKind,
        id_property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        self.batch_read(kind.hubspot_object(), id_property, values, properties)
            .await
    }

    async fn read_records(
        &self,
        object: &str,
        ids: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        self.batch_read(object, "hs_object_id", ids, properties)
            .await
    }

    async fn update(
        &self,
        kind: ObjectKind,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        self.batch_write(kind, "update", None, inputs).await
    }

    async fn upsert(
        &self,
        kind: ObjectKind,
        id_property: &str,
        inputs: Vec<WriteInput>,
    ) -> Result<BatchOutcome, HubSpotError> {
        self.batch_write(kind, "upsert", Some(id_property), inputs)
            .await
    }

    async fn search_modified(
        &self,
        kind: ObjectKind,
        cursor: &SearchCursor,
        properties: &[String],
    ) -> Result<SearchPage, HubSpotError> {
        let modified = match kind {
            ObjectKind::Visitor => "lastmodifieddate",
            ObjectKind::Account => "hs_lastmodifieddate",
        };
        // Keyset paging on hs_object_id instead of `after`: every page is a fresh query, so the
        // 10,000-result cap never applies, and equal timestamps cannot stall the cursor.
        let body = json!({
            "filterGroups": [{"filters": [
                {"propertyName": modified, "operator": "GTE", "value": cursor.since_ms.to_string()},
                {"propertyName": "hs_object_id", "operator": "GT", "value": cursor.after_id.to_string()},
            ]}],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": SEARCH_PAGE,
        });
        let (_, resp) = self
            .call(
                "hubspot.search",
                Method::POST,
                &paths::search(kind.hubspot_object()),
                Some(&body),
                Lane::Search,
            )
            .await?;
        let records = records(&resp)?;
        let last_id = records.last().and_then(|r| r.id.parse::<u64>().ok());
        let next = match last_id {
            Some(id) if records.len() == SEARCH_PAGE => Some(SearchCursor {
                since_ms: cursor.since_ms,
                after_id: id,
            }),
            _ => None,
        };
        Ok(SearchPage { records, next })
    }

    async fn search_eq(
        &self,
        kind: ObjectKind,
        property: &str,
        value: &str,
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        let body = json!({
            "filterGroups": [{"filters": [{"propertyName": property, "operator": "EQ", "value": value}]}],
            "properties": properties,
            "limit": 10,
        });
        let (_, resp) = self
            .call(
                "hubspot.search",
                Method::POST,
                &paths::search(kind.hubspot_object()),
                Some(&body),
                Lane::Search,
            )
            .await?;
        records(&resp)
    }

    async fn create_record(
        &self,
        object: &str,
        properties: BTreeMap<String, String>,
        associations: &[(String, u32)],
    ) -> Result<String, HubSpotError> {
        let assoc: Vec<Value> = associations
            .iter()
            .map(|(to, type_id)| {
                json!({"to": {"id": to}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]})
            })
            .collect();
        let body = json!({"properties": properties, "associations": assoc});
        let (status, resp) = self
            .call_with(
                "hubspot.write",
                Method::POST,
                &paths::object(object),
                Some(&body),
                Lane::Standard,
                false,
            )
            .await?;
        match resp["id"].as_str() {
            Some(id) if status < 300 => Ok(id.to_string()),
            _ => Err(HubSpotError::Api {
                operation: format!("create {object}"),
                status,
                category: resp["category"].as_str().unwrap_or_default().into(),
                message: message_of(&resp),
            }),
        }
    }

    async fn update_record(
        &self,
        object: &str,
        id: &str,
        properties: BTreeMap<String, String>,
    ) -> Result<(), HubSpotError> {
        let (status, resp) = self
            .call(
                "hubspot.write",
                Method::PATCH,
                &paths::object_id(object, id),
                Some(&json!({"properties": properties})),
                Lane::Standard,
            )
            .await?;
        if status == 404 {
            return Err(HubSpotError::Api {
                operation: format!("update {object}"),
                status,
                category: "OBJECT_NOT_FOUND".into(),
                message: message_of(&resp),
            });
        }
        Ok(())
    }

    async fn deal_pipelines(&self) -> Result<Vec<super::Pipeline>, HubSpotError> {
        let (_, resp) = self
            .call(
                "hubspot.read",
                Method::GET,
                paths::DEAL_PIPELINES,
                None,
                Lane::Standard,
            )
            .await?;
        results(&resp, "pipelines")
    }

    async fn associations(
        &self,
        from: &str,
        id: &str,
        to: &str,
    ) -> Result<Vec<String>, HubSpotError> {
        let (_, resp) = self
            .call(
                "hubspot.read",
                Method::GET,
                &paths::associations(from, id, to),
                None,
                Lane::Standard,
            )
            .await?;
        Ok(resp["results"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                r["toObjectId"]
                    .as_u64()
                    .map(|i| i.to_string())
                    .or_else(|| r["toObjectId"].as_str().map(str::to_string))
            })
            .collect())
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(k: &str) -> WriteInput {
        WriteInput {
            key: k.into(),
            properties: BTreeMap::new(),
        }
    }

    #[test]
    fn multi_status_maps_errors_to_inputs_and_never_assumes_success() {
        let body = json!({
            "status": "COMPLETE",
            "results": [{"id": "11", "properties": {"pendo_visitor_id": "a"}}],
            "numErrors": 1,
            "errors": [{"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid",
                        "context": {"objectWriteTraceId": ["b"]},
                        "errors": [{"message": "INVALID_DATE", "code": "INVALID_DATE", "context": {"propertyName": ["pendo_latest_nps_date"]}}]}]
        });
        let out = parse_batch(
            &body,
            &[input("a"), input("b"), input("c")],
            Some("pendo_visitor_id"),
        );
        assert_eq!(out.ok, vec![("a".to_string(), "11".to_string())]);
        assert_eq!(out.failed.len(), 2);
        assert_eq!(out.failed[0].key, "b");
        assert_eq!(
            out.failed[0].property.as_deref(),
            Some("pendo_latest_nps_date")
        );
        assert_eq!(out.failed[1].key, "c");
    }
}
