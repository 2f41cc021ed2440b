//! reqwest adapter of [`HubSpotApi`]: per-portal rolling-window limiter (110 req / 10 s by
//! default), a separate search limiter (5 req/s), bounded jittered retries, call counting.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

use super::batch::{message_of, records, results};
use super::oauth::OAuthApp;
use super::schema::pendo_property_specs;
use super::{
    BatchOutcome, HsRecord, HubSpotApi, HubSpotError, PropertyInfo, SchemaReport, SearchCursor,
    SearchPage, WriteInput,
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
    /// Path family: 2026-03 by default, legacy per tenant (see [`super::paths`]).
    pub api_version: super::HubSpotApiVersion,
    /// Checked before every request attempt (a deleted tenant's run sends nothing more).
    pub cancel: crate::http::Cancel,
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
            api_version: Default::default(),
            cancel: Default::default(),
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

pub(super) struct CachedToken {
    pub(super) token: SecretString,
    pub(super) refresh_at: Instant,
}

pub struct HubSpotClient {
    pub(super) http: reqwest::Client,
    pub(super) cfg: HubSpotConfig,
    pub(super) auth: Auth,
    pub(super) token: Mutex<Option<CachedToken>>,
    pub(super) limits: Arc<PortalLimits>,
    pub(super) calls: CallCounter,
}

/// The request budget of one portal: the burst window and the search window. Shared by every
/// client of the same portal in a process, so consecutive jobs do not each start from zero.
pub struct PortalLimits {
    pub(super) burst: RollingWindowLimiter,
    pub(super) search: RollingWindowLimiter,
}

impl PortalLimits {
    pub fn new(cfg: &HubSpotConfig) -> Self {
        Self {
            burst: RollingWindowLimiter::new(cfg.requests_per_window, cfg.window),
            // HubSpot counts a search when its gateway takes it in, so a slot counts from
            // the answer or send + guard, as the burst window does: a search lane counting
            // from answers ran at 5 per (1 s + answer time), 4.5/s in a daily pass.
            search: RollingWindowLimiter::new(cfg.search_per_second, Duration::from_secs(1)),
        }
    }

    /// The process-wide limits of a portal, keyed by API base and tenant (one portal each).
    pub fn shared(cfg: &HubSpotConfig, portal_key: &str) -> Arc<Self> {
        static REGISTRY: std::sync::LazyLock<std::sync::Mutex<HashMap<String, Arc<PortalLimits>>>> =
            std::sync::LazyLock::new(Default::default);
        let key = format!("{}|{portal_key}", cfg.api_base);
        REGISTRY
            .lock()
            .expect("limits registry")
            .entry(key)
            .or_insert_with(|| Arc::new(Self::new(cfg)))
            .clone()
    }
}

pub(crate) enum Lane {
    Standard,
    Search,
}

impl HubSpotClient {
    pub fn new(cfg: HubSpotConfig, auth: Auth) -> Self {
        let limits = Arc::new(PortalLimits::new(&cfg));
        Self::with_limits(cfg, auth, limits)
    }

    /// A client drawing on an existing portal budget (see [`PortalLimits::shared`]).
    pub fn with_limits(cfg: HubSpotConfig, auth: Auth, limits: Arc<PortalLimits>) -> Self {
        let http = crate::http::client_builder()
            .timeout(cfg.timeout)
            .build()
            .expect("reqwest client");
        Self {
            limits,
            http,
            cfg,
            auth,
            token: Mutex::new(None),
            calls: CallCounter::default(),
        }
    }
}

impl HubSpotClient {
    /// One search request, on the search lane (its own 5 / s limit).
    async fn search(&self, kind: ObjectKind, body: &Value) -> Result<Value, HubSpotError> {
        let (_, resp) = self
            .call(
                "hubspot.search",
                Method::POST,
                &self.paths().search(kind.hubspot_object()),
                Some(body),
                Lane::Search,
            )
            .await?;
        Ok(resp)
    }
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
            let must_be_unique = body["hasUniqueValue"] == json!(true);
            match existing.get(&name) {
                // HubSpot cannot make an existing property unique, and every lookup and
                // upsert by it would fail: nothing that depends on it may run.
                Some(p) if must_be_unique && !p.has_unique_value => {
                    return Err(HubSpotError::IdPropertyNotUnique {
                        object: object.into(),
                        property: name,
                        message: "hasUniqueValue is false".into(),
                    })
                }
                Some(p) if p.kind != ty => report.wrong_type.push((name, p.kind.clone())),
                Some(_) => {}
                None => missing.push(body),
            }
        }
        report.properties = existing.into_values().collect();
        if missing.is_empty() {
            return Ok(report);
        }
        let (status, _) = self
            .call(
                "hubspot.schema",
                Method::GET,
                &self.paths().group(object, PENDO_GROUP),
                None,
                Lane::Standard,
            )
            .await?;
        if status == 404 {
            let (s, body) = self
                .call(
                    "hubspot.schema",
                    Method::POST,
                    &self.paths().groups(object),
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
                &self.paths().properties_batch_create(object),
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
                &self.paths().properties(kind.hubspot_object()),
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
        // Leaving windows out: one filter group per gap between them (groups are ORed).
        let mut ranges: Vec<(i64, Option<i64>)> = Vec::new();
        let mut lo = cursor.since_ms;
        for &(a, b) in &cursor.skip {
            if a > lo {
                ranges.push((lo, Some(a)));
            }
            lo = lo.max(b + 1);
        }
        ranges.push((lo, None));
        let groups: Vec<_> = ranges
            .iter()
            .map(|(lo, hi)| {
                let mut filters = vec![
                    json!({"propertyName": modified, "operator": "GTE", "value": lo.to_string()}),
                    json!({"propertyName": "hs_object_id", "operator": "GT", "value": cursor.after_id.to_string()}),
                ];
                if let Some(hi) = hi {
                    filters.push(json!({"propertyName": modified, "operator": "LT", "value": hi.to_string()}));
                }
                json!({"filters": filters})
            })
            .collect();
        let body = json!({
            "filterGroups": groups,
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": properties,
            "limit": SEARCH_PAGE,
        });
        let resp = self.search(kind, &body).await?;
        let records = records(&resp)?;
        let last_id = records.last().and_then(|r| r.id.parse::<u64>().ok());
        let next = match last_id {
            Some(id) if records.len() == SEARCH_PAGE => Some(SearchCursor {
                after_id: id,
                ..cursor.clone()
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
        let resp = self.search(kind, &body).await?;
        records(&resp)
    }

    async fn search_any(
        &self,
        kind: ObjectKind,
        property: &str,
        values: &[String],
        properties: &[String],
    ) -> Result<Vec<HsRecord>, HubSpotError> {
        let mut out = Vec::new();
        // Search allows 5 filter groups, OR-ed (hubspot.md §4).
        for chunk in values.chunks(5) {
            let groups: Vec<Value> = chunk
                .iter()
                .map(|v| json!({"filters": [{"propertyName": property, "operator": "EQ", "value": v}]}))
                .collect();
            let body = json!({
                "filterGroups": groups,
                "properties": properties,
                "limit": 10 * chunk.len(),
            });
            out.extend(records(&self.search(kind, &body).await?)?);
        }
        Ok(out)
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
                &self.paths().object(object),
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
                &self.paths().object_id(object, id),
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

    async fn event_definitions(&self) -> Result<Vec<super::EventDefinition>, HubSpotError> {
        self.list_event_definitions().await
    }

    async fn create_event_definition(
        &self,
        spec: &super::EventDefinitionSpec,
    ) -> Result<super::EventDefinition, HubSpotError> {
        self.post_event_definition(spec).await
    }

    async fn send_events(&self, batch: &[super::EventOccurrence]) -> Result<(), HubSpotError> {
        self.post_events(batch).await
    }

    async fn find_or_create_list(&self, name: &str) -> Result<String, HubSpotError> {
        self.list_find_or_create(name).await
    }

    async fn change_list_members(
        &self,
        list_id: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<super::MembershipChange, HubSpotError> {
        self.list_change_members(list_id, add, remove).await
    }

    async fn deal_pipelines(&self) -> Result<Vec<super::Pipeline>, HubSpotError> {
        let (_, resp) = self
            .call(
                "hubspot.read",
                Method::GET,
                self.paths().deal_pipelines(),
                None,
                Lane::Standard,
            )
            .await?;
        results(&resp, "pipelines")
    }

    async fn owners(&self) -> Result<Vec<super::Owner>, HubSpotError> {
        let mut owners = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut path = format!("{}?limit=500", self.paths().owners());
            if let Some(a) = &after {
                path.push_str(&format!("&after={}", urlencoding(a)));
            }
            let (_, resp) = self
                .call("hubspot.read", Method::GET, &path, None, Lane::Standard)
                .await?;
            owners.extend(results::<super::Owner>(&resp, "owners")?);
            match resp["paging"]["next"]["after"].as_str() {
                Some(next) if owners.len() < 100_000 => after = Some(next.to_string()),
                _ => return Ok(owners),
            }
        }
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
                &self.paths().associations(from, id, to),
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

/// A query-string value, percent-encoded (HubSpot's paging cursors are opaque strings).
fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
