//! The daily-rollup aggregations the sync's usage backfill sends (events over ≤30 days, grouped
//! by visitor or account and day, summed, sorted, keyset-paged), answered without building, grouping and
//! sorting one JSON row per event: a million-visitor backfill is ~15 000 such calls. The answer
//! is the general pipeline's, row for row (see the test).

use serde_json::{json, Value};

use super::data::{account_id, visitor_id, Dataset, DAY_MS};

/// The rows of `pipeline` if it is exactly the daily-rollup shape (grouped by visitor or by
/// account, and day), else `None`.
pub(crate) fn daily_rollups(ds: &Dataset, pipeline: &[Value]) -> Option<Vec<Value>> {
    let [source, identified, group, sort, rest @ ..] = pipeline else {
        return None;
    };
    let key = group["group"]["group"][0].as_str()?;
    if key != "visitorId" && key != "accountId" {
        return None;
    }
    let expected_group = json!({"group": {"group": [key, "day"],
        "fields": {"minutes": {"sum": "numMinutes"}, "events": {"sum": "numEvents"}}}});
    if source["source"]["events"] != Value::Null
        || source["source"].as_object()?.len() != 2
        || *identified != json!({"identified": "visitorId"})
        || *group != expected_group
        || *sort != json!({"sort": [key, "day"]})
    {
        return None;
    }
    let (after, limit) = match rest {
        [limit] => (None, limit["limit"].as_u64()?),
        [filter, limit] => {
            let lit = filter["filter"]
                .as_str()?
                .strip_prefix(key)?
                .strip_prefix('>')?;
            if lit.starts_with('=') || lit.contains("&&") || lit.contains("||") {
                return None;
            }
            let lit = lit.trim().trim_matches('`').trim_matches('"');
            let parsed = if key == "visitorId" {
                super::data::parse_visitor(lit)?
            } else {
                super::data::parse_account(lit)?
            };
            (Some(parsed), limit["limit"].as_u64()?)
        }
        _ => return None,
    };
    let (start, end) =
        super::pipeline::time_range(&source["source"]["timeSeries"], ds.cfg.today).ok()?;
    let limit = limit as usize;
    let first = after.map_or(0, |a| a + 1);
    let mut rows = Vec::with_capacity(limit.min(100_000));
    let row = |id: &str, d: i32, minutes: u32, events: u32| json!({key: id, "day": d as i64 * DAY_MS, "minutes": minutes as f64, "events": events as f64});
    if key == "visitorId" {
        for v in first..ds.cfg.visitors {
            let id = visitor_id(v);
            for d in start..end {
                if let Some((minutes, events)) = ds.activity(v, d) {
                    rows.push(row(&id, d, minutes, events));
                }
            }
            if rows.len() >= limit {
                break;
            }
        }
    } else {
        // An event's account is its visitor's primary account (as the events source has it).
        let mut sums = vec![None::<(u32, u32)>; (end - start).max(0) as usize];
        for a in first..ds.cfg.accounts {
            sums.iter_mut().for_each(|s| *s = None);
            for v in ds.visitors_of(a) {
                for (i, d) in (start..end).enumerate() {
                    if let Some((m, e)) = ds.activity(*v, d) {
                        let s = sums[i].get_or_insert((0, 0));
                        s.0 += m;
                        s.1 += e;
                    }
                }
            }
            let id = account_id(a);
            for (i, s) in sums.iter().enumerate() {
                if let Some((m, e)) = s {
                    rows.push(row(&id, start + i as i32, *m, *e));
                }
            }
            if rows.len() >= limit {
                break;
            }
        }
    }
    rows.truncate(limit);
    Some(rows)
}

/// Pipeline E (visitors per account) counted from each visitor's accounts, without building one
/// JSON row per visitor under the subscription's lock (at 100 000 visitors that held it, and
/// every metadata write behind it, for seconds). The answer is the general pipeline's, row for
/// row (see the test).
pub(crate) fn account_visitor_counts(ds: &Dataset, pipeline: &[Value]) -> Option<Vec<Value>> {
    if pipeline != account_visitor_counts_shape() {
        return None;
    }
    let mut counts: std::collections::HashMap<usize, u64> = std::collections::HashMap::new();
    for v in 0..ds.cfg.visitors {
        for a in ds.accounts_of(v) {
            *counts.entry(a).or_default() += 1;
        }
    }
    // The general group orders by the key's text.
    let mut rows: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(a, n)| (account_id(a), n))
        .collect();
    rows.sort();
    Some(
        rows.into_iter()
            .map(|(id, n)| json!({"accountId": id, "totalVisitors": n}))
            .collect(),
    )
}

/// Pipeline E as the sync sends it (`shared::pendo::pipelines::account_visitor_counts`).
fn account_visitor_counts_shape() -> [Value; 4] {
    [
        json!({"source": {"visitors": {"identified": true}}}),
        json!({"eval": {"accountId": "metadata.auto.accountids"}}),
        json!({"unwind": {"field": "accountId"}}),
        json!({"group": {"group": ["accountId"], "fields": {"totalVisitors": {"count": "visitorId"}}}}),
    ]
}

#[cfg(test)]
mod tests {
    use super::{account_visitor_counts, account_visitor_counts_shape, daily_rollups};
    use crate::pendo::data::{account_id, visitor_id, Dataset, DAY_MS};
    use serde_json::{json, Value};

    fn pipeline(
        key: &str,
        first_day: i32,
        days: u32,
        after: Option<usize>,
        limit: usize,
    ) -> Vec<Value> {
        let mut p = vec![
            json!({"source": {"events": null, "timeSeries": {"period": "dayRange", "first": first_day as i64 * DAY_MS, "count": days}}}),
            json!({"identified": "visitorId"}),
            json!({"group": {"group": [key, "day"], "fields": {"minutes": {"sum": "numMinutes"}, "events": {"sum": "numEvents"}}}}),
            json!({"sort": [key, "day"]}),
        ];
        if let Some(a) = after {
            let id = if key == "visitorId" {
                visitor_id(a)
            } else {
                account_id(a)
            };
            p.push(json!({"filter": format!("{key}>`{id}`")}));
        }
        p.push(json!({"limit": limit}));
        p
    }

    #[test]
    fn answers_exactly_as_the_general_pipeline() {
        let mut ds = Dataset::small(300, 20);
        // A day turned quiet and a late day of activity, as the tests' mutations make them.
        let today = ds.cfg.today;
        ds.overrides.insert((7, today - 3), (0, 0));
        ds.overrides.insert((8, today - 2), (42, 9));
        // A visitor who changed company: its events count for the new account.
        ds.move_visitor(9, 3);
        let mut compared = 0;
        for (key, last) in [("visitorId", 299), ("accountId", 19)] {
            for (first, days) in [(today - 30, 30), (today - 359, 30), (today - 4, 4)] {
                for after in [None, Some(0), Some(last / 2), Some(last)] {
                    for limit in [31, 500, 5000] {
                        let p = pipeline(key, first, days, after, limit);
                        let fast = daily_rollups(&ds, &p).expect("the rollup shape");
                        let general = crate::pendo::pipeline::run_general(&ds, &p).expect("runs");
                        assert_eq!(
                            fast, general,
                            "{key}: first {first}, after {after:?}, limit {limit}"
                        );
                        compared += fast.len();
                    }
                }
            }
        }
        assert!(compared > 2000, "{compared} rows compared");
        let mut other = pipeline("visitorId", today - 30, 30, None, 10);
        other[3] = json!({"sort": ["day"]});
        assert!(
            daily_rollups(&ds, &other).is_none(),
            "other shapes go the general way"
        );
    }

    /// A keyset page of NPS answers (the sync's pipeline F) holds the same rows whether the
    /// sandbox starts at the page's first visitor or builds every answer.
    #[test]
    fn nps_pages_start_at_their_first_visitor() {
        let ds = Dataset::small(400, 20);
        let today = ds.cfg.today;
        let nps = |after: Option<usize>, through: Option<usize>, limit: Option<usize>| {
            let mut p = vec![
                json!({"source": {"pollEvents": {"guideId": ds.cfg.nps_guide_id, "pollId": ds.cfg.nps_score_poll},
                                  "timeSeries": {"period": "dayRange", "first": (today - 365) as i64 * DAY_MS, "count": 365}}}),
                json!({"identified": "visitorId"}),
                json!({"select": {"visitorId": "visitorId", "accountId": "accountId", "response": "pollResponse", "at": "browserTime"}}),
                json!({"sort": ["visitorId", "-at"]}),
            ];
            let mut filter: Vec<String> = Vec::new();
            if let Some(a) = after {
                filter.push(format!("visitorId>`{}`", visitor_id(a)));
            }
            if let Some(t) = through {
                filter.push(format!("visitorId<=`{}`", visitor_id(t)));
            }
            if !filter.is_empty() {
                p.push(json!({"filter": filter.join(" && ")}));
            }
            if let Some(n) = limit {
                p.push(json!({"limit": n}));
            }
            crate::pendo::pipeline::run(&ds, &p).expect("runs")
        };
        // Every answer: no bound, so built from the first.
        let all = nps(None, None, None);
        assert!(all.len() > 50, "{} answers", all.len());
        for after in [None, Some(0), Some(200), Some(399)] {
            for through in [None, Some(250)] {
                for limit in [Some(1), Some(7), Some(50), Some(10_000), None] {
                    let from = after.map_or(String::new(), visitor_id);
                    let upto = through.map(visitor_id);
                    let expected: Vec<Value> = all
                        .iter()
                        .filter(|r| {
                            let v = r["visitorId"].as_str().unwrap();
                            (after.is_none() || v > from.as_str())
                                && upto.as_deref().is_none_or(|u| v <= u)
                        })
                        .take(limit.unwrap_or(usize::MAX))
                        .cloned()
                        .collect();
                    assert_eq!(
                        nps(after, through, limit),
                        expected,
                        "after {after:?}, through {through:?}, limit {limit:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn visitor_counts_answer_exactly_as_the_general_pipeline() {
        let mut ds = Dataset::small(500, 30);
        ds.move_visitor(9, 3);
        ds.add_visitors(7);
        let pipeline = account_visitor_counts_shape();
        let fast = account_visitor_counts(&ds, &pipeline).expect("pipeline E's shape");
        let general = crate::pendo::pipeline::run_general(&ds, &pipeline).expect("runs");
        assert_eq!(fast, general);
        assert_eq!(fast.len(), 30);
        let total: u64 = fast
            .iter()
            .map(|r| r["totalVisitors"].as_u64().unwrap())
            .sum();
        assert!(
            total > 507,
            "visitors of two accounts count in both: {total}"
        );
        assert!(account_visitor_counts(&ds, &pipeline[..3]).is_none());
    }
}
