//! The subset of Pendo's aggregation language the sync uses, evaluated faithfully: sources
//! (visitors, accounts, events, pollEvents, guides) with `timeSeries`, and the steps identified,
//! filter, select, eval, unwind, group, sort, limit, segment, count.

use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use super::data::{account_id, visitor_id, Dataset, DAY_MS};

pub type AggError = String;

fn get_path<'a>(row: &'a Value, path: &str) -> &'a Value {
    let mut cur = row;
    for part in path.split('.') {
        if let Some((name, idx)) = part.strip_suffix(']').and_then(|p| p.split_once('[')) {
            cur = &cur[name];
            cur = &cur[idx.parse::<usize>().unwrap_or(usize::MAX)];
        } else {
            cur = &cur[part];
        }
    }
    cur
}

/// Day range of a `timeSeries` as day numbers [start, end).
pub(crate) fn time_range(ts: &Value, today: i32) -> Result<(i32, i32), AggError> {
    if ts["period"] != "dayRange" {
        return Err("only timeSeries.period=dayRange is supported".into());
    }
    let count = ts["count"]
        .as_i64()
        .ok_or("timeSeries.count must be a number")?;
    let first = match &ts["first"] {
        Value::Number(n) => (n.as_i64().unwrap_or(0).div_euclid(DAY_MS)) as i32,
        Value::String(s) if s == "now()" => today,
        Value::String(s) => s
            .parse::<i64>()
            .map(|ms| ms.div_euclid(DAY_MS) as i32)
            .map_err(|_| format!("unsupported timeSeries.first expression {s}"))?,
        _ => return Err("timeSeries.first is required".into()),
    };
    Ok(if count >= 0 {
        (first, first + count as i32)
    } else {
        (first + count as i32, first)
    })
}

/// A keyset page the pipeline asks for: rows whose `key` is after `after`, at most `limit` of
/// them (after grouping). Generated ids are zero-padded, so their order is the index order.
/// The source then only generates that window; every step still runs on it, so the answer is
/// the same as evaluating the whole source, at a fraction of the cost for big subscriptions.
struct Window {
    key: String,
    after: Option<usize>,
    /// The last id the page may hold (sources may give more; the filter step cuts).
    through: Option<usize>,
    limit: usize,
}

fn window(pipeline: &[Value]) -> Option<Window> {
    let mut key = None;
    let mut after = None;
    let mut through = None;
    let mut limit = None;
    for step in &pipeline[1..] {
        if let Some(keys) = step["sort"].as_array() {
            key = keys.first().and_then(|k| k.as_str()).map(str::to_string);
        }
        if let Some(g) = step["group"]["group"].as_array() {
            key = g.first().and_then(|k| k.as_str()).map(str::to_string);
        }
        if let Some(f) = step["filter"].as_str() {
            // `key>a`, optionally `&& key<=b` (a keyset page up to a bound).
            for part in f.split("&&") {
                let unquote =
                    |lit: &str| lit.trim().trim_matches('`').trim_matches('"').to_string();
                if let Some((k, lit)) = part.split_once("<=") {
                    through = Some((k.trim().to_string(), unquote(lit)));
                } else {
                    match part.split_once('>') {
                        Some((k, lit)) if !lit.starts_with('=') && !part.contains("||") => {
                            after = Some((k.trim().to_string(), unquote(lit)));
                        }
                        _ => return None,
                    }
                }
            }
        }
        if let Some(n) = step["limit"].as_u64() {
            limit = Some(n as usize);
        }
        if step.get("unwind").is_some()
            || step.get("eval").is_some()
            || step.get("segment").is_some()
        {
            return None;
        }
    }
    let key = key?;
    // Without a limit a page still starts at its first key (a bounded NPS page has none).
    let limit = limit.unwrap_or(usize::MAX);
    let parse = |bound: Option<(String, String)>| match bound {
        Some((k, lit)) if k == key => match key.as_str() {
            "visitorId" => super::data::parse_visitor(&lit).map(Some),
            "accountId" => super::data::parse_account(&lit).map(Some),
            _ => None,
        },
        Some(_) => None,
        None => Some(None),
    };
    let after = parse(after)?;
    let through = parse(through)?;
    Some(Window {
        key,
        after,
        through,
        limit,
    })
}

fn first_index(w: &Option<Window>, key: &str) -> usize {
    match w {
        Some(w) if w.key == key => w.after.map_or(0, |a| a + 1),
        _ => 0,
    }
}

fn event_row(ds: &Dataset, v: usize, d: i32, minutes: u32, events: u32) -> Value {
    json!({"visitorId": visitor_id(v), "accountId": account_id(ds.primary_account(v)),
           "day": d as i64 * DAY_MS, "numEvents": events, "numMinutes": minutes, "appId": -323232})
}

fn source_rows(
    ds: &Dataset,
    source: &Value,
    w: &Option<Window>,
) -> Result<(Vec<Value>, Option<&'static str>), AggError> {
    let src = source["source"]
        .as_object()
        .ok_or("first step must be a source")?;
    let ts = &source["source"]["timeSeries"];
    let cap = |key: &str| {
        w.as_ref()
            .filter(|w| w.key == key)
            .map_or(usize::MAX, |w| w.limit)
    };
    if src.contains_key("visitors") {
        // Generated visitors are all identified, so `identified` changes nothing here.
        let start = first_index(w, "visitorId");
        let rows = (start..ds.cfg.visitors)
            .take(cap("visitorId"))
            .map(|v| ds.visitor_row(v))
            .collect();
        return Ok((rows, Some("visitorId")));
    }
    if src.contains_key("accounts") {
        let start = first_index(w, "accountId");
        let rows = (start..ds.cfg.accounts)
            .take(cap("accountId"))
            .map(|a| {
                let mut r = ds.account_row(a);
                if let Some((f, l)) = ds.account_visit_bounds(a) {
                    r["metadata"]["auto"]["firstvisit"] = json!(f);
                    r["metadata"]["auto"]["lastvisit"] = json!(l);
                }
                r
            })
            .collect();
        return Ok((rows, Some("accountId")));
    }
    if src.contains_key("events") {
        let (start, end) = time_range(ts, ds.cfg.today)?;
        let mut rows = Vec::new();
        let mut groups = 0;
        if w.as_ref().is_some_and(|w| w.key == "accountId") {
            // Whole accounts, in id order, until the page's worth of (account, day) groups.
            for a in first_index(w, "accountId")..ds.cfg.accounts {
                let mut days = std::collections::BTreeSet::new();
                for v in ds.visitors_of(a) {
                    for d in start..end {
                        if let Some((m, e)) = ds.activity(*v, d) {
                            days.insert(d);
                            rows.push(event_row(ds, *v, d, m, e));
                        }
                    }
                }
                groups += days.len();
                if groups >= cap("accountId") {
                    break;
                }
            }
        } else {
            for v in first_index(w, "visitorId")..ds.cfg.visitors {
                for d in start..end {
                    if let Some((m, e)) = ds.activity(v, d) {
                        rows.push(event_row(ds, v, d, m, e));
                        groups += 1;
                    }
                }
                if groups >= cap("visitorId") {
                    break;
                }
            }
        }
        return Ok((rows, None));
    }
    if let Some(params) = src.get("pollEvents") {
        let (start, end) = time_range(ts, ds.cfg.today)?;
        let guide = params["guideId"].as_str().unwrap_or_default();
        let poll = params["pollId"].as_str().unwrap_or_default();
        if guide != ds.cfg.nps_guide_id {
            return Ok((vec![], None));
        }
        // Answers are generated in visitor order; a keyset page then starts at its first
        // visitor and stops after the visitor that fills it (later steps sort, filter and cut
        // as before), instead of building every answer on every call.
        let in_order = ds.polls.windows(2).all(|p| p[0].visitor <= p[1].visitor);
        let keyset = w.as_ref().filter(|w| w.key == "visitorId" && in_order);
        let first = keyset.map_or(0, |_| {
            let from = first_index(w, "visitorId");
            ds.polls.partition_point(|p| p.visitor < from)
        });
        let mut rows = Vec::new();
        let mut last = None;
        for p in &ds.polls[first..] {
            if keyset.is_some_and(|w| {
                (rows.len() >= w.limit && last != Some(p.visitor))
                    || w.through.is_some_and(|t| p.visitor > t)
            }) {
                break;
            }
            let d = p.browser_time.div_euclid(DAY_MS) as i32;
            if p.poll_id != poll || d < start || d >= end {
                continue;
            }
            last = Some(p.visitor);
            rows.push(json!({"visitorId": visitor_id(p.visitor), "accountId": account_id(ds.primary_account(p.visitor)),
                       "guideId": guide, "pollId": p.poll_id, "pollResponse": p.response,
                       "browserTime": p.browser_time, "type": "pollResponse"}));
        }
        return Ok((rows, None));
    }
    if let Some(params) = src.get("featureEvents") {
        let (start, end) = time_range(ts, ds.cfg.today)?;
        let wanted = params["featureId"].as_str();
        let mut rows = Vec::new();
        for v in 0..ds.cfg.visitors {
            for d in start..end {
                for (f, _) in super::data::FEATURES {
                    if wanted.is_some_and(|w| w != *f) {
                        continue;
                    }
                    if let Some(events) = ds.feature_use(v, f, d) {
                        rows.push(json!({"visitorId": visitor_id(v), "accountId": account_id(ds.primary_account(v)),
                                         "featureId": f, "day": d as i64 * DAY_MS, "numEvents": events, "numMinutes": 1}));
                    }
                }
            }
        }
        return Ok((rows, None));
    }
    if let Some(params) = src.get("pageEvents") {
        let (start, end) = time_range(ts, ds.cfg.today)?;
        let wanted = params["pageId"].as_str();
        let mut rows = Vec::new();
        for v in 0..ds.cfg.visitors {
            for d in start..end {
                for (p, _) in super::data::PAGES {
                    if wanted.is_some_and(|w| w != *p) {
                        continue;
                    }
                    if let Some(events) = ds.page_use(v, p, d) {
                        rows.push(json!({"visitorId": visitor_id(v), "accountId": account_id(ds.primary_account(v)),
                                         "pageId": p, "day": d as i64 * DAY_MS, "numEvents": events, "numMinutes": 1}));
                    }
                }
            }
        }
        return Ok((rows, None));
    }
    if let Some(params) = src.get("trackEvents") {
        let (start, end) = time_range(ts, ds.cfg.today)?;
        let wanted = params["trackTypeId"].as_str();
        let mut rows = Vec::new();
        for v in 0..ds.cfg.visitors {
            for d in start..end {
                for (t, _) in super::data::TRACK_TYPES {
                    if wanted.is_some_and(|w| w != *t) {
                        continue;
                    }
                    if let Some((events, plan, url)) = ds.track_use(v, t, d) {
                        rows.push(json!({"visitorId": visitor_id(v), "accountId": account_id(ds.primary_account(v)),
                                         "trackTypeId": t, "day": d as i64 * DAY_MS, "numEvents": events, "numMinutes": 0,
                                         "properties": {"plan": plan, "source_url": url}}));
                    }
                }
            }
        }
        return Ok((rows, None));
    }
    for (key, list) in [
        ("pages", super::data::PAGES),
        ("trackTypes", super::data::TRACK_TYPES),
    ] {
        if src.contains_key(key) {
            return Ok((
                list.iter()
                    .map(|(id, name)| json!({"id": id, "name": name}))
                    .collect(),
                None,
            ));
        }
    }
    if src.contains_key("features") {
        return Ok((
            super::data::FEATURES
                .iter()
                .map(|(id, name)| json!({"id": id, "name": name, "kind": "Feature"}))
                .collect(),
            None,
        ));
    }
    if src.contains_key("guides") {
        return Ok((
            vec![
                json!({"id": ds.cfg.nps_guide_id, "name": "NPS", "polls": [{"id": ds.cfg.nps_score_poll}, {"id": ds.cfg.nps_text_poll}]}),
            ],
            None,
        ));
    }
    Err(format!(
        "unsupported source {:?}",
        src.keys().collect::<Vec<_>>()
    ))
}

fn compare(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

/// A filter expression: alternatives `a || b ...` of `clause && clause ...`, each clause
/// `path OP literal` with OP in `== != > >= < <=` and literal a number, `"string"` or
/// `` `string` `` (JavaScript precedence: `&&` binds tighter than `||`).
fn eval_filter(row: &Value, expr: &str) -> Result<bool, AggError> {
    for alternative in expr.split("||") {
        if eval_all(row, alternative)? {
            return Ok(true);
        }
    }
    Ok(false)
}

fn eval_all(row: &Value, expr: &str) -> Result<bool, AggError> {
    for clause in expr.split("&&") {
        let clause = clause.trim();
        let (path, op, lit) = ["==", "!=", ">=", "<=", ">", "<"]
            .iter()
            .find_map(|op| {
                clause
                    .split_once(op)
                    .map(|(l, r)| (l.trim(), *op, r.trim()))
            })
            .ok_or_else(|| format!("unsupported filter expression: {clause}"))?;
        let literal = if (lit.starts_with('"') && lit.ends_with('"')
            || lit.starts_with('`') && lit.ends_with('`'))
            && lit.len() >= 2
        {
            Value::String(lit[1..lit.len() - 1].to_string())
        } else if let Ok(n) = lit.parse::<f64>() {
            json!(n)
        } else {
            return Err(format!("unsupported literal in filter: {lit}"));
        };
        let have = get_path(row, path);
        let o = compare(have, &literal);
        let ok = match op {
            "==" => o == Ordering::Equal,
            "!=" => o != Ordering::Equal,
            ">" => !have.is_null() && o == Ordering::Greater,
            ">=" => !have.is_null() && o != Ordering::Less,
            "<" => !have.is_null() && o == Ordering::Less,
            _ => !have.is_null() && o != Ordering::Greater,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn group(rows: Vec<Value>, spec: &Value) -> Result<Vec<Value>, AggError> {
    let keys: Vec<String> = spec["group"]
        .as_array()
        .ok_or("group.group must be a list")?
        .iter()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    let fields: Vec<(String, String, Value)> = match &spec["fields"] {
        Value::Object(m) => m
            .iter()
            .map(|(n, f)| field_spec(n, f))
            .collect::<Result<_, _>>()?,
        Value::Array(a) => a
            .iter()
            .filter_map(|o| o.as_object())
            .flat_map(|m| m.iter().map(|(n, f)| field_spec(n, f)))
            .collect::<Result<_, _>>()?,
        _ => vec![],
    };
    struct Acc {
        key: Vec<Value>,
        sums: Vec<f64>,
        distinct: Vec<BTreeSet<String>>,
        rows: Vec<u64>,
        first: Vec<Value>,
    }
    let mut groups: BTreeMap<String, Acc> = BTreeMap::new();
    for row in &rows {
        let key: Vec<Value> = keys.iter().map(|k| get_path(row, k).clone()).collect();
        let k = serde_json::to_string(&key).expect("key");
        let acc = groups.entry(k).or_insert_with(|| Acc {
            key,
            sums: vec![0.0; fields.len()],
            distinct: vec![BTreeSet::new(); fields.len()],
            rows: vec![0; fields.len()],
            first: vec![Value::Null; fields.len()],
        });
        for (i, (_, op, arg)) in fields.iter().enumerate() {
            let v = arg
                .as_str()
                .map(|p| get_path(row, p).clone())
                .unwrap_or(Value::Null);
            match op.as_str() {
                "sum" => acc.sums[i] += v.as_f64().unwrap_or(0.0),
                "count" if arg.is_null() => acc.rows[i] += 1,
                "count" if !v.is_null() => {
                    acc.distinct[i].insert(v.to_string());
                }
                "max"
                    if acc.first[i].is_null()
                        || compare(&v, &acc.first[i]) == Ordering::Greater =>
                {
                    acc.first[i] = v;
                }
                "first" if acc.first[i].is_null() => {
                    acc.first[i] = v;
                }
                "min" if acc.first[i].is_null() || compare(&v, &acc.first[i]) == Ordering::Less => {
                    acc.first[i] = v;
                }
                _ => {}
            }
        }
    }
    Ok(groups
        .into_values()
        .map(|acc| {
            let mut out = Map::new();
            for (k, v) in keys.iter().zip(acc.key) {
                out.insert(k.clone(), v);
            }
            for (i, (name, op, arg)) in fields.iter().enumerate() {
                let v = match op.as_str() {
                    "sum" => json!(acc.sums[i]),
                    "count" if arg.is_null() => json!(acc.rows[i]),
                    "count" => json!(acc.distinct[i].len()),
                    _ => acc.first[i].clone(),
                };
                out.insert(name.clone(), v);
            }
            Value::Object(out)
        })
        .collect())
}

fn field_spec(name: &str, f: &Value) -> Result<(String, String, Value), AggError> {
    let (op, arg) = f
        .as_object()
        .and_then(|m| m.iter().next())
        .ok_or_else(|| format!("group field {name} has no aggregator"))?;
    if !["sum", "count", "max", "min", "first"].contains(&op.as_str()) {
        return Err(format!("unsupported aggregator {op}"));
    }
    Ok((name.to_string(), op.clone(), arg.clone()))
}

pub fn run(ds: &Dataset, pipeline: &[Value]) -> Result<Vec<Value>, AggError> {
    if let Some(rows) = super::rollups::daily_rollups(ds, pipeline) {
        return Ok(rows);
    }
    if let Some(rows) = super::rollups::account_visitor_counts(ds, pipeline) {
        return Ok(rows);
    }
    run_general(ds, pipeline)
}

/// Every pipeline, step by step over JSON rows.
pub(crate) fn run_general(ds: &Dataset, pipeline: &[Value]) -> Result<Vec<Value>, AggError> {
    let first = pipeline.first().ok_or("pipeline is empty")?;
    let (mut rows, _sorted_by) = source_rows(ds, first, &window(pipeline))?;
    for step in &pipeline[1..] {
        let (op, arg) = step
            .as_object()
            .and_then(|m| m.iter().next())
            .ok_or("each step must be an object with one operator")?;
        rows = match op.as_str() {
            "identified" => {
                let f = arg.as_str().unwrap_or("visitorId");
                let (neg, f) = f.strip_prefix('!').map_or((false, f), |f| (true, f));
                rows.into_iter()
                    .filter(|r| {
                        let anon = get_path(r, f)
                            .as_str()
                            .is_none_or(|s| s.starts_with("_PENDO_T_"));
                        anon == neg
                    })
                    .collect()
            }
            "filter" => {
                let e = arg.as_str().ok_or("filter takes an expression string")?;
                let mut out = Vec::new();
                for r in rows {
                    if eval_filter(&r, e)? {
                        out.push(r);
                    }
                }
                out
            }
            "select" | "eval" => {
                let m = arg.as_object().ok_or("select/eval take an object")?;
                rows.into_iter()
                    .map(|r| {
                        let mut out = if op == "eval" {
                            r.as_object().cloned().unwrap_or_default()
                        } else {
                            Map::new()
                        };
                        for (name, path) in m {
                            out.insert(
                                name.clone(),
                                path.as_str()
                                    .map_or(Value::Null, |p| get_path(&r, p).clone()),
                            );
                        }
                        Value::Object(out)
                    })
                    .collect()
            }
            "unwind" => {
                let field = arg["field"]
                    .as_str()
                    .ok_or("unwind.field is required")?
                    .to_string();
                let keep = arg["keepEmpty"].as_bool().unwrap_or(false);
                let mut out = Vec::new();
                for r in rows {
                    match r[field.as_str()].as_array() {
                        Some(items) if !items.is_empty() => {
                            for it in items {
                                let mut c = r.clone();
                                c[field.as_str()] = it.clone();
                                out.push(c);
                            }
                        }
                        _ if keep => out.push(r),
                        _ => {}
                    }
                }
                out
            }
            "group" => group(rows, arg)?,
            "sort" => {
                let keys: Vec<(String, bool)> = arg
                    .as_array()
                    .ok_or("sort takes a list")?
                    .iter()
                    .filter_map(|k| k.as_str())
                    .map(|k| {
                        k.strip_prefix('-')
                            .map_or((k.to_string(), false), |k| (k.to_string(), true))
                    })
                    .collect();
                rows.sort_by(|a, b| {
                    for (k, desc) in &keys {
                        let o = compare(get_path(a, k), get_path(b, k));
                        if o != Ordering::Equal {
                            return if *desc { o.reverse() } else { o };
                        }
                    }
                    Ordering::Equal
                });
                rows
            }
            "limit" => {
                let n = arg.as_u64().ok_or("limit takes a number")? as usize;
                rows.truncate(n);
                rows
            }
            "segment" => {
                let id = arg["id"].as_str().ok_or("segment.id is required")?;
                if !["seg-power-users", "seg-dormant"].contains(&id) {
                    return Err(format!("segment {id} not found"));
                }
                rows.into_iter()
                    .filter(|r| {
                        r["visitorId"]
                            .as_str()
                            .and_then(super::data::parse_visitor)
                            .is_some_and(|v| ds.in_segment(id, v))
                    })
                    .collect()
            }
            "count" => vec![json!({"count": rows.len()})],
            other => return Err(format!("unsupported pipeline operator {other}")),
        };
    }
    Ok(rows)
}
