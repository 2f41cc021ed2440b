//! reqwest adapter of [`PendoApi`]: `x-pendo-integration-key` auth, region base URL, a
//! client-side limiter (Pendo documents none, so it is configurable), bounded retries.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{
    pipelines, DayRollup, EventCount, EventCountQuery, FeatureUse, KeyCheck, MetadataOutcome,
    MetadataRow, NpsResponse, PendoAccount, PendoApi, PendoError, PendoVisitor,
};
use crate::domain::{NpsConfig, ObjectKind};
use crate::http::{CallCounter, RetryPolicy, RollingWindowLimiter};
use crate::secret::SecretString;

#[derive(Clone, Debug)]
pub struct PendoConfig {
    /// Region host (`PendoRegion::api_base`) or a sandbox URL.
    pub api_base: String,
    pub requests_per_second: usize,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    /// Checked before every request attempt (a deleted tenant's run sends nothing more).
    pub cancel: crate::http::Cancel,
}

impl PendoConfig {
    pub fn new(api_base: impl Into<String>) -> Self {
        Self {
            api_base: api_base.into(),
            requests_per_second: 10,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(300),
            cancel: Default::default(),
        }
    }
}

pub struct PendoClient {
    http: reqwest::Client,
    cfg: PendoConfig,
    key: SecretString,
    limiter: RollingWindowLimiter,
    calls: CallCounter,
}

impl PendoClient {
    pub fn new(cfg: PendoConfig, key: SecretString) -> Self {
        Self {
            http: crate::http::client_builder()
                .timeout(cfg.timeout)
                .build()
                .expect("reqwest client"),
            limiter: RollingWindowLimiter::new(cfg.requests_per_second, Duration::from_secs(1)),
            cfg,
            key,
            calls: CallCounter::default(),
        }
    }

    pub(super) async fn call(
        &self,
        kind: &'static str,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, PendoError> {
        let url = format!("{}{}", self.cfg.api_base, path);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.cfg.cancel.check()?;
            let sent = self.limiter.acquire().await;
            self.calls.incr(kind);
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("x-pendo-integration-key", self.key.expose())
                .header("content-type", "application/json");
            if let Some(b) = body {
                req = req.json(b);
            }
            let response = req.send().await;
            sent.answered();
            let reason = match response {
                Err(e) => format!("transport: {}", e.without_url()),
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    match resp.bytes().await {
                        Err(e) => format!("body: {}", e.without_url()),
                        Ok(bytes) => match status {
                            200..=299 => {
                                return serde_json::from_slice(&bytes).map_err(|e| {
                                    PendoError::Decode {
                                        operation: kind.into(),
                                        message: e.to_string(),
                                    }
                                })
                            }
                            401 | 403 => return Err(PendoError::InvalidKey),
                            429 | 500..=599 | 408 => format!("{status}"),
                            _ => {
                                return Err(PendoError::Api {
                                    operation: kind.into(),
                                    status,
                                    message: String::from_utf8_lossy(&bytes)
                                        .chars()
                                        .take(300)
                                        .collect(),
                                })
                            }
                        },
                    }
                }
            };
            self.cfg
                .retry
                .pause("pendo", kind, attempt, reason, None)
                .await
                .map_err(|e| PendoError::RetriesExhausted {
                    operation: kind.into(),
                    attempts: e.attempts,
                    last: e.last,
                })?;
        }
    }

    async fn aggregate(&self, body: Value) -> Result<Vec<Value>, PendoError> {
        let v = self
            .call(
                "pendo.aggregation",
                Method::POST,
                "/api/v1/aggregation",
                Some(&body),
            )
            .await?;
        // Taken out, not cloned: a backfill page is thousands of rows.
        let rows = match v {
            Value::Object(mut body) => body.remove("results"),
            _ => None,
        };
        match rows {
            Some(Value::Array(rows)) => Ok(rows),
            _ => Err(PendoError::Decode {
                operation: "aggregation".into(),
                message: "response has no results array".into(),
            }),
        }
    }
}

/// Account rows with `domain` taken from the agent field, else the custom one.
fn account_rows(rows: Vec<Value>) -> Result<Vec<PendoAccount>, PendoError> {
    let rows = rows
        .into_iter()
        .map(|mut r| {
            let domain = [r["domainAgent"].clone(), r["domainCustom"].clone()]
                .into_iter()
                .find(|v| v.as_str().is_some_and(|s| !s.trim().is_empty()))
                .unwrap_or(Value::Null);
            r["domain"] = domain;
            r
        })
        .collect();
    decode(rows, "accounts")
}

fn decode<T: serde::de::DeserializeOwned>(
    rows: Vec<Value>,
    op: &str,
) -> Result<Vec<T>, PendoError> {
    rows.into_iter()
        .map(|r| {
            serde_json::from_value(r).map_err(|e| PendoError::Decode {
                operation: op.into(),
                message: e.to_string(),
            })
        })
        .collect()
}

pub(super) fn id_field(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::Visitor => "visitorId",
        ObjectKind::Account => "accountId",
    }
}

#[async_trait]
impl PendoApi for PendoClient {
    async fn verify_key(&self) -> Result<KeyCheck, PendoError> {
        let v = self
            .call("pendo.verify", Method::GET, "/api/v1/token/verify", None)
            .await?;
        serde_json::from_value(v).map_err(|e| PendoError::Decode {
            operation: "verify".into(),
            message: e.to_string(),
        })
    }

    async fn visitors_page(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PendoVisitor>, PendoError> {
        decode(
            self.aggregate(pipelines::visitors(after, limit)).await?,
            "visitors",
        )
    }

    async fn visitors_by_ids(&self, ids: &[String]) -> Result<Vec<PendoVisitor>, PendoError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(pipelines::IDS_PER_CALL) {
            out.extend(decode::<PendoVisitor>(
                self.aggregate(pipelines::visitors_with_ids(chunk)).await?,
                "visitors",
            )?);
        }
        Ok(out)
    }

    async fn accounts_by_ids(
        &self,
        ids: &[String],
        domain_field: Option<&str>,
    ) -> Result<Vec<PendoAccount>, PendoError> {
        let mut out = Vec::new();
        for chunk in ids.chunks(pipelines::IDS_PER_CALL) {
            let rows = self
                .aggregate(pipelines::accounts_with_ids(chunk, domain_field))
                .await?;
            out.extend(account_rows(rows)?);
        }
        Ok(out)
    }

    async fn accounts_page(
        &self,
        after: Option<&str>,
        limit: usize,
        domain_field: Option<&str>,
    ) -> Result<Vec<PendoAccount>, PendoError> {
        let rows = self
            .aggregate(pipelines::accounts(after, limit, domain_field))
            .await?;
        account_rows(rows)
    }

    async fn daily_rollups(
        &self,
        kind: ObjectKind,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<DayRollup>, PendoError> {
        let field = id_field(kind);
        // A page must hold at least one id's full range of days.
        let limit = limit.max(days as usize + 1);
        let rows = self
            .aggregate(pipelines::daily_rollups(
                field, first_day, days, after, limit,
            ))
            .await?;
        let full = rows.len() >= limit;
        let mut out: Vec<DayRollup> = rows
            .iter()
            .filter_map(|r| {
                Some(DayRollup {
                    id: r[field].as_str()?.to_string(),
                    day: r["day"].as_i64()?.div_euclid(pipelines::DAY_MS) as i32,
                    minutes: r["minutes"].as_f64().unwrap_or(0.0).round() as u32,
                    events: r["events"].as_f64().unwrap_or(0.0).round() as u32,
                })
            })
            .collect();
        if full {
            // The last id may continue on the next page: drop it here and start there next time.
            if let Some(last) = out.last().map(|r| r.id.clone()) {
                out.retain(|r| r.id != last);
            }
        }
        Ok(out)
    }

    async fn nps_responses(
        &self,
        nps: &NpsConfig,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<NpsResponse>, PendoError> {
        let page = pipelines::VisitorRange {
            after,
            through: None,
            limit: Some(limit),
        };
        let mut scores = self
            .aggregate(pipelines::poll_responses(
                &nps.guide_id,
                &nps.score_poll_id,
                first_day,
                days,
                &page,
            ))
            .await?;
        if scores.len() >= limit {
            // The last visitor may continue on the next page: leave it for that page.
            let last = scores
                .last()
                .and_then(|r| r["visitorId"].as_str())
                .map(str::to_string);
            scores.retain(|r| r["visitorId"].as_str() != last.as_deref());
            if scores.is_empty() {
                return Err(PendoError::Decode {
                    operation: "nps".into(),
                    message: format!("one visitor has more than {limit} answers in the window"),
                });
            }
        }
        let mut texts: HashMap<String, Vec<(i64, String)>> = HashMap::new();
        if let (Some(text_poll), Some(through)) = (
            &nps.text_poll_id,
            scores.last().and_then(|r| r["visitorId"].as_str()),
        ) {
            // Only the follow-ups of this page's visitors.
            let range = pipelines::VisitorRange {
                after,
                through: Some(through),
                limit: None,
            };
            // One day more than the scores: a text typed after midnight UTC (or after the
            // end of the range however it falls) belongs to a score of the range's last day.
            for r in self
                .aggregate(pipelines::poll_responses(
                    &nps.guide_id,
                    text_poll,
                    first_day,
                    days + 1,
                    &range,
                ))
                .await?
            {
                if let (Some(v), Some(at), Some(t)) = (
                    r["visitorId"].as_str(),
                    r["at"].as_i64(),
                    r["response"].as_str(),
                ) {
                    texts
                        .entry(v.to_string())
                        .or_default()
                        .push((at, t.to_string()));
                }
            }
        }
        let mut out = Vec::new();
        for r in scores {
            let (Some(v), Some(at)) = (r["visitorId"].as_str(), r["at"].as_i64()) else {
                continue;
            };
            let score = r["response"]
                .as_u64()
                .or_else(|| r["response"].as_str().and_then(|s| s.trim().parse().ok()));
            let Some(score) = score.filter(|s| *s <= 10) else {
                continue;
            };
            // The follow-up text is answered right after the score: take the nearest one
            // within an hour after it.
            let text = texts.get(v).and_then(|ts| {
                ts.iter()
                    .filter(|(t, _)| *t >= at && *t - at <= 3_600_000)
                    .min_by_key(|(t, _)| *t - at)
                    .map(|(_, s)| s.clone())
            });
            out.push(NpsResponse {
                visitor_id: v.to_string(),
                account_id: r["accountId"].as_str().map(str::to_string),
                score: score as u8,
                text,
                at_ms: at,
            });
        }
        Ok(out)
    }

    async fn account_visitor_counts(&self) -> Result<HashMap<String, u64>, PendoError> {
        let rows = self.aggregate(pipelines::account_visitor_counts()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some((
                    r["accountId"].as_str()?.to_string(),
                    r["totalVisitors"].as_u64()?,
                ))
            })
            .collect())
    }

    async fn custom_fields(
        &self,
        kind: ObjectKind,
    ) -> Result<BTreeMap<String, String>, PendoError> {
        let v = self
            .call(
                "pendo.schema",
                Method::GET,
                &format!("/api/v1/metadata/schema/{}", kind.pendo_kind()),
                None,
            )
            .await?;
        Ok(v["custom"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, f)| !f["isDeleted"].as_bool().unwrap_or(false))
            .map(|(n, f)| {
                (
                    n.clone(),
                    f["Type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect())
    }

    async fn write_custom(
        &self,
        kind: ObjectKind,
        rows: Vec<MetadataRow>,
    ) -> Result<MetadataOutcome, PendoError> {
        self.write_metadata(kind, rows).await
    }

    async fn event_counts(&self, q: &EventCountQuery<'_>) -> Result<Vec<EventCount>, PendoError> {
        // A page must hold at least one visitor's rows; track properties can split a day.
        let limit = q.limit.max(q.days as usize * 8 + 1);
        let q = EventCountQuery { limit, ..q.clone() };
        let rows = self.aggregate(pipelines::event_counts(&q)).await?;
        let full = rows.len() >= limit;
        let mut out: Vec<EventCount> = rows
            .iter()
            .filter_map(|r| {
                let properties = q
                    .properties
                    .iter()
                    .enumerate()
                    .filter_map(|(i, name)| {
                        let v = &r[format!("p{i}")];
                        let text = match v {
                            Value::String(s) => s.clone(),
                            Value::Null => return None,
                            other => other.to_string(),
                        };
                        Some((name.clone(), text))
                    })
                    .collect();
                Some(EventCount {
                    visitor_id: r["visitorId"].as_str()?.to_string(),
                    account_id: r["accountId"].as_str().map(str::to_string),
                    day: r["day"].as_i64()?.div_euclid(pipelines::DAY_MS) as i32,
                    count: r["count"].as_f64().unwrap_or(0.0).round() as u64,
                    properties,
                })
            })
            .filter(|c| c.count > 0)
            .collect();
        if full {
            // The last visitor may continue on the next page: start there next time.
            if let Some(last) = out.last().map(|r| r.visitor_id.clone()) {
                out.retain(|r| r.visitor_id != last);
            }
        }
        Ok(out)
    }

    async fn segment_members(&self, segment_id: &str) -> Result<Vec<String>, PendoError> {
        let rows = self
            .aggregate(pipelines::segment_members(segment_id))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| r["visitorId"].as_str().map(str::to_string))
            .collect())
    }

    async fn feature_usage(
        &self,
        feature_id: &str,
        first_day: i32,
        days: u32,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FeatureUse>, PendoError> {
        let rows = self
            .aggregate(pipelines::feature_usage(
                feature_id, first_day, days, after, limit,
            ))
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some(FeatureUse {
                    visitor_id: r["visitorId"].as_str()?.to_string(),
                    events: r["events"].as_f64().unwrap_or(0.0).round() as u64,
                    first_day: r["firstDay"].as_i64()?.div_euclid(pipelines::DAY_MS) as i32,
                })
            })
            .collect())
    }

    async fn features(&self) -> Result<Vec<(String, String)>, PendoError> {
        let rows = self.aggregate(pipelines::features()).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some((
                    r["id"].as_str()?.to_string(),
                    r["name"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn event_catalog(
        &self,
        source: crate::domain::EventSource,
    ) -> Result<Vec<(String, String)>, PendoError> {
        let name = match source {
            crate::domain::EventSource::Page => "pages",
            crate::domain::EventSource::Feature => return self.features().await,
            crate::domain::EventSource::Track => "trackTypes",
        };
        let rows = self.aggregate(pipelines::catalog(name)).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                Some((
                    r["id"].as_str()?.to_string(),
                    r["name"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn segments(&self) -> Result<Vec<(String, String)>, PendoError> {
        let v = self
            .call("pendo.segments", Method::GET, "/api/v1/segment", None)
            .await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| {
                Some((
                    s["id"].as_str()?.to_string(),
                    s["name"].as_str().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    fn calls(&self) -> &CallCounter {
        &self.calls
    }
}
