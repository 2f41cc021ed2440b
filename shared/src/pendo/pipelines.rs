//! Typed builders for the aggregation pipelines the sync sends (one place, unit-tested).
//! Paging is keyset (sort + `filter id > last` + `limit`): the API has no cursor.

use serde_json::{json, Value};

use crate::domain::day_date;

pub const DAY_MS: i64 = 86_400_000;

pub fn envelope(request_id: &str, pipeline: Vec<Value>) -> Value {
    json!({"response": {"mimeType": "application/json"},
           "request": {"requestId": request_id, "pipeline": pipeline}})
}

fn quote(s: &str) -> String {
    // Backtick literals need no escaping of double quotes; ids never contain backticks in practice,
    // and one that does is dropped from the literal rather than breaking the expression.
    format!("`{}`", s.replace('`', ""))
}

fn keyset(id_field: &str, after: Option<&str>, limit: usize) -> Vec<Value> {
    let mut steps = vec![json!({"sort": [id_field]})];
    if let Some(a) = after {
        steps.push(json!({"filter": format!("{id_field}>{}", quote(a))}));
    }
    steps.push(json!({"limit": limit}));
    steps
}

/// Pipeline A: visitors with first/last visit, primary account, email and the GDPR flag.
pub fn visitors(after: Option<&str>, limit: usize) -> Value {
    let mut p = vec![json!({"source": {"visitors": {"identified": true}}})];
    p.extend(keyset("visitorId", after, limit));
    p.push(
        json!({"select": {"visitorId": "visitorId", "firstVisit": "metadata.auto.firstvisit",
        "lastVisit": "metadata.auto.lastvisit", "accountId": "metadata.auto.accountid",
        "email": "metadata.agent.email", "doNotProcess": "metadata.pendo.donotprocess"}}),
    );
    envelope("visitors", p)
}

/// `field == a || field == b ...`: the rows of just these ids (a scoped sync's batch).
fn any_of(id_field: &str, ids: &[String]) -> Value {
    let expr: Vec<String> = ids
        .iter()
        .map(|i| format!("{id_field}=={}", quote(i)))
        .collect();
    json!({"filter": expr.join(" || ")})
}

/// Pipeline A for named visitors only (≤ [`IDS_PER_CALL`] per call).
pub fn visitors_with_ids(ids: &[String]) -> Value {
    let mut v = visitors(None, ids.len().max(1));
    let p = v["request"]["pipeline"].as_array_mut().expect("pipeline");
    p.insert(1, any_of("visitorId", ids));
    v
}

/// Pipeline B for named accounts only (≤ [`IDS_PER_CALL`] per call).
pub fn accounts_with_ids(ids: &[String], domain_field: Option<&str>) -> Value {
    let mut v = accounts(None, ids.len().max(1), domain_field);
    let p = v["request"]["pipeline"].as_array_mut().expect("pipeline");
    p.insert(1, any_of("accountId", ids));
    v
}

/// Ids per by-id aggregation call: keeps the filter expression short.
pub const IDS_PER_CALL: usize = 100;

/// Pipeline B: accounts with first/last visit, name and an optional domain field.
pub fn accounts(after: Option<&str>, limit: usize, domain_field: Option<&str>) -> Value {
    let mut p = vec![json!({"source": {"accounts": null}})];
    p.extend(keyset("accountId", after, limit));
    let mut select = json!({"accountId": "accountId", "firstVisit": "metadata.auto.firstvisit",
        "lastVisit": "metadata.auto.lastvisit", "name": "metadata.agent.name"});
    if let Some(f) = domain_field {
        select["domainAgent"] = json!(format!("metadata.agent.{f}"));
        select["domainCustom"] = json!(format!("metadata.custom.{f}"));
    }
    p.push(json!({"select": select}));
    envelope("accounts", p)
}

/// Pipeline C: per-day rollup of the `events` source grouped by id and day, for a day range.
pub fn daily_rollups(
    id_field: &str,
    first_day: i32,
    days: u32,
    after: Option<&str>,
    limit: usize,
) -> Value {
    let first_ms = day_start_ms(first_day);
    let mut p = vec![
        json!({"source": {"events": null, "timeSeries": {"period": "dayRange", "first": first_ms, "count": days}}}),
        json!({"identified": "visitorId"}),
        json!({"group": {"group": [id_field, "day"], "fields": {"minutes": {"sum": "numMinutes"}, "events": {"sum": "numEvents"}}}}),
        json!({"sort": [id_field, "day"]}),
    ];
    if let Some(a) = after {
        p.push(json!({"filter": format!("{id_field}>{}", quote(a))}));
    }
    p.push(json!({"limit": limit}));
    envelope("rollups", p)
}

/// Pipeline F: responses to one poll of an NPS guide over a day range.
pub fn poll_responses(
    guide_id: &str,
    poll_id: &str,
    first_day: i32,
    days: u32,
    visitors: &VisitorRange<'_>,
) -> Value {
    let mut p = vec![
        json!({"source": {"pollEvents": {"guideId": guide_id, "pollId": poll_id},
                          "timeSeries": {"period": "dayRange", "first": day_start_ms(first_day), "count": days}}}),
        json!({"identified": "visitorId"}),
        json!({"select": {"visitorId": "visitorId", "accountId": "accountId", "response": "pollResponse", "at": "browserTime"}}),
        json!({"sort": ["visitorId", "-at"]}),
    ];
    let mut filter = Vec::new();
    if let Some(a) = visitors.after {
        filter.push(format!("visitorId>{}", quote(a)));
    }
    if let Some(u) = visitors.through {
        filter.push(format!("visitorId<={}", quote(u)));
    }
    if !filter.is_empty() {
        p.push(json!({"filter": filter.join(" && ")}));
    }
    if let Some(n) = visitors.limit {
        p.push(json!({"limit": n}));
    }
    envelope("nps", p)
}

/// A keyset slice of visitors: ids after `after`, up to and including `through`, at most
/// `limit` rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct VisitorRange<'a> {
    pub after: Option<&'a str>,
    pub through: Option<&'a str>,
    pub limit: Option<usize>,
}

/// Pipeline E: number of visitors per account (visitors can belong to several accounts).
pub fn account_visitor_counts() -> Value {
    envelope(
        "account-visitors",
        vec![
            json!({"source": {"visitors": {"identified": true}}}),
            json!({"eval": {"accountId": "metadata.auto.accountids"}}),
            json!({"unwind": {"field": "accountId"}}),
            json!({"group": {"group": ["accountId"], "fields": {"totalVisitors": {"count": "visitorId"}}}}),
        ],
    )
}

/// Per visitor: events on one feature and the first day it was used, over a day range.
pub fn feature_usage(
    feature_id: &str,
    first_day: i32,
    days: u32,
    after: Option<&str>,
    limit: usize,
) -> Value {
    let mut p = vec![
        json!({"source": {"featureEvents": {"featureId": feature_id},
                          "timeSeries": {"period": "dayRange", "first": day_start_ms(first_day), "count": days}}}),
        json!({"identified": "visitorId"}),
        json!({"group": {"group": ["visitorId"], "fields": {"events": {"sum": "numEvents"}, "firstDay": {"min": "day"}}}}),
    ];
    p.extend(keyset("visitorId", after, limit));
    envelope("feature-usage", p)
}

/// The subscription's tagged features.
pub fn features() -> Value {
    envelope(
        "features",
        vec![
            json!({"source": {"features": null}}),
            json!({"select": {"id": "id", "name": "name"}}),
        ],
    )
}

/// Tagged pages or track event types (`pages` / `trackTypes` sources, reference/pendo.md §2.2).
pub fn catalog(source: &str) -> Value {
    envelope(
        source,
        vec![
            json!({"source": {source: null}}),
            json!({"select": {"id": "id", "name": "name"}}),
        ],
    )
}

/// Visitors in a segment.
pub fn segment_members(segment_id: &str) -> Value {
    envelope(
        "segment",
        vec![
            json!({"source": {"visitors": {"identified": true}}}),
            json!({"segment": {"id": segment_id}}),
            json!({"select": {"visitorId": "visitorId"}}),
        ],
    )
}

/// Per-visitor per-day counts of one page, feature or track type (`pageEvents` /
/// `featureEvents` / `trackEvents` with a `dayRange` time series, reference/pendo.md §2.2),
/// grouped also by the chosen Track Event properties (read as `properties.<name>`; the row
/// field is [UNCONFIRMED] in Pendo's docs), sorted by visitor and day, keyset-paged on visitor.
pub fn event_counts(q: &crate::pendo::EventCountQuery<'_>) -> Value {
    let (source, param) = q.source.pendo_source();
    let mut src = serde_json::Map::new();
    src.insert(source.into(), json!({ param: q.item_id }));
    src.insert(
        "timeSeries".into(),
        json!({"period": "dayRange", "first": day_start_ms(q.first_day), "count": q.days}),
    );
    let mut p = vec![json!({ "source": src }), json!({"identified": "visitorId"})];
    let mut keys = vec![json!("visitorId"), json!("day")];
    if !q.properties.is_empty() {
        let eval: serde_json::Map<String, Value> = q
            .properties
            .iter()
            .enumerate()
            .map(|(i, name)| (format!("p{i}"), json!(format!("properties.{name}"))))
            .collect();
        p.push(json!({ "eval": eval }));
        keys.extend((0..q.properties.len()).map(|i| json!(format!("p{i}"))));
    }
    p.push(json!({"group": {"group": keys, "fields": {"count": {"sum": "numEvents"}, "accountId": {"first": "accountId"}}}}));
    p.push(json!({"sort": ["visitorId", "day"]}));
    if let Some(a) = q.after {
        p.push(json!({"filter": format!("visitorId>{}", quote(a))}));
    }
    p.push(json!({"limit": q.limit}));
    envelope("event-counts", p)
}

pub fn day_start_ms(day: i32) -> i64 {
    day_date(day)
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyset_paging_shapes() {
        let v = visitors(Some("v0001"), 500);
        let p = v["request"]["pipeline"].as_array().unwrap();
        assert_eq!(p[1], json!({"sort": ["visitorId"]}));
        assert_eq!(p[2], json!({"filter": "visitorId>`v0001`"}));
        assert_eq!(p[3], json!({"limit": 500}));
        let first = visitors(None, 10);
        assert_eq!(first["request"]["pipeline"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn rollup_time_series_is_one_day_per_bucket() {
        let r = daily_rollups("visitorId", 20_000, 30, None, 1000);
        let ts = &r["request"]["pipeline"][0]["source"]["timeSeries"];
        assert_eq!(ts["period"], "dayRange");
        assert_eq!(ts["first"], 20_000i64 * DAY_MS);
        assert_eq!(ts["count"], 30);
    }
}
