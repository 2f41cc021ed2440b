//! CRM search: filters (AND within a group, OR across ≤5 groups), free-text `query`, one
//! sort, ≤200 per page, the 10,000-result cap and the 3,000-character body limit
//! (hubspot.md §4). Multi-value properties (`hs_additional_emails`) match on any entry.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::cmp::Ordering;

use super::objects::{render, wanted_properties};
use super::values::to_ms;
use super::{err, Record, Shared};

fn compare(a: &str, b: &str) -> Ordering {
    match (to_num(a), to_num(b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

fn to_num(v: &str) -> Option<f64> {
    v.parse::<f64>().ok().or_else(|| to_ms(v).map(|m| m as f64))
}

/// Properties holding several `;`-separated values; a filter matches when one entry does.
const MULTI_VALUE: &[&str] = &["hs_additional_emails"];

/// Properties the free-text `query` looks in ("hs_additional_emails, which is searched by
/// default", hubspot.md §8 pitfall 5).
const QUERY_PROPERTIES: &[&str] = &[
    "email",
    "hs_additional_emails",
    "firstname",
    "lastname",
    "name",
    "domain",
];

fn matches(r: &Record, f: &Value) -> bool {
    let prop = f["propertyName"].as_str().unwrap_or_default();
    if MULTI_VALUE.contains(&prop) {
        let op = f["operator"].as_str().unwrap_or("EQ");
        if matches!(op, "EQ" | "CONTAINS_TOKEN") {
            let want = f["value"].as_str().unwrap_or_default();
            return r.properties.get(prop).is_some_and(|v| {
                v.split(';')
                    .any(|entry| entry.trim().eq_ignore_ascii_case(want.trim()))
            });
        }
    }
    let have = r.properties.get(prop).filter(|v| !v.is_empty());
    let value = f["value"]
        .as_str()
        .map(str::to_string)
        .or_else(|| f["value"].as_i64().map(|n| n.to_string()));
    let cmp = |want: &Option<String>| have.zip(want.as_ref()).map(|(h, w)| compare(h, w));
    match f["operator"].as_str().unwrap_or("EQ") {
        "EQ" => cmp(&value) == Some(Ordering::Equal),
        "NEQ" => cmp(&value) != Some(Ordering::Equal),
        "GT" => cmp(&value) == Some(Ordering::Greater),
        "GTE" => matches!(cmp(&value), Some(Ordering::Greater | Ordering::Equal)),
        "LT" => cmp(&value) == Some(Ordering::Less),
        "LTE" => matches!(cmp(&value), Some(Ordering::Less | Ordering::Equal)),
        "HAS_PROPERTY" => have.is_some(),
        "NOT_HAS_PROPERTY" => have.is_none(),
        "IN" => f["values"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|v| v.as_str().is_some_and(|v| have.is_some_and(|h| h == v))),
        _ => false,
    }
}

/// Results counted past the requested page when paging by keyset.
const COUNT_BEYOND_PAGE: usize = 10_000;

/// The lowest id a keyset query can return: every filter group must bound `hs_object_id` from
/// below (`GT`/`GTE`), else `None` (scan everything).
fn keyset_start(groups: &[&Value]) -> Option<u64> {
    if groups.is_empty() {
        return None;
    }
    groups
        .iter()
        .map(|g| {
            g["filters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| f["propertyName"] == "hs_object_id")
                .filter_map(|f| {
                    let v = f["value"]
                        .as_str()
                        .and_then(|v| v.parse::<u64>().ok())
                        .or(f["value"].as_u64())?;
                    match f["operator"].as_str()? {
                        "GT" => Some(v.saturating_add(1)),
                        "GTE" => Some(v),
                        _ => None,
                    }
                })
                .max()
        })
        .try_fold(u64::MAX, |lo, g| g.map(|g| lo.min(g)))
}

pub(super) async fn search(
    State(state): State<Shared>,
    Path(object): Path<String>,
    body: String,
) -> Response {
    if body.len() > 3000 {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Request body is too large (3000 characters max)",
        );
    }
    let Ok(body) = serde_json::from_str::<Value>(&body) else {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "Invalid input JSON",
        );
    };
    crate::blocking(move || {
        let s = state.lock().unwrap();
        answer(&s, &object, &body)
    })
    .await
}

/// The search itself, under the portal's lock.
fn answer(s: &super::HubSpotState, object: &str, body: &Value) -> Response {
    let Some(records) = s.objects.get(object) else {
        return err(
            StatusCode::NOT_FOUND,
            "OBJECT_NOT_FOUND",
            "unknown object type",
        );
    };
    let limit = body["limit"].as_u64().unwrap_or(10) as usize;
    if limit > 200 {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "limit must be at most 200",
        );
    }
    let after: usize = body["after"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .or(body["after"].as_u64().map(|a| a as usize))
        .unwrap_or(0);
    if after + limit > 10_000 {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "The search API is limited to 10,000 total results for any given query",
        );
    }
    let groups: Vec<&Value> = body["filterGroups"]
        .as_array()
        .map(|g| g.iter().collect())
        .unwrap_or_default();
    if groups.len() > 5 {
        return err(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            "at most 5 filterGroups",
        );
    }
    let query = body["query"].as_str().map(str::to_lowercase);
    // Records are kept in id order, so an ascending id sort is already done.
    let sort = body["sorts"]
        .as_array()
        .and_then(|s| s.first())
        .filter(|s| {
            !(s["propertyName"] == "hs_object_id" && s["direction"].as_str() != Some("DESCENDING"))
        });
    // Keyset paging (`hs_object_id GT x` in every group, id order) starts the scan at x and
    // stops counting `total` COUNT_BEYOND_PAGE results past the page: a million-record portal
    // read page by page costs O(records) per pass, not O(records²/200). HubSpot counts every
    // result; nothing reads `total` beyond that.
    let keyset = if sort.is_none() {
        keyset_start(&groups)
    } else {
        None
    };
    let enough = keyset.map(|_| after + limit + COUNT_BEYOND_PAGE);
    let mut hits: Vec<&Record> = records
        .range(keyset.unwrap_or(0)..)
        .map(|(_, r)| r)
        .filter(|r| {
            query.as_deref().is_none_or(|q| {
                QUERY_PROPERTIES.iter().any(|p| {
                    r.properties
                        .get(*p)
                        .is_some_and(|v| v.to_lowercase().contains(q))
                })
            })
        })
        .filter(|r| {
            groups.is_empty()
                || groups.iter().any(|g| {
                    g["filters"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|f| matches(r, f))
                })
        })
        .take(enough.unwrap_or(usize::MAX))
        .collect();
    if let Some(sort) = sort {
        let prop = sort["propertyName"]
            .as_str()
            .unwrap_or("hs_object_id")
            .to_string();
        let desc = sort["direction"].as_str() == Some("DESCENDING");
        hits.sort_by(|a, b| {
            let o = compare(
                a.properties.get(&prop).map(String::as_str).unwrap_or(""),
                b.properties.get(&prop).map(String::as_str).unwrap_or(""),
            );
            if desc {
                o.reverse()
            } else {
                o
            }
        });
    }
    let total = hits.len();
    let wanted = wanted_properties(body);
    let page: Vec<Value> = hits
        .iter()
        .skip(after)
        .take(limit)
        .map(|r| render(r, &wanted))
        .collect();
    let mut resp = json!({"total": total, "results": page});
    if after + limit < total {
        resp["paging"] = json!({"next": {"after": (after + limit).to_string()}});
    }
    Json(resp).into_response()
}

pub fn routes() -> Router<Shared> {
    super::both(
        Router::new(),
        "/crm/v3/objects/{object}/search",
        "/crm/objects/2026-03/{object}/search",
        post(search),
    )
}
