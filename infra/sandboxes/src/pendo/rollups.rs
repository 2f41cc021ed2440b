//! The daily-rollup aggregation the sync's usage backfill sends (events over ≤30 days, grouped
//! by visitor and day, summed, sorted, keyset-paged), answered without building, grouping and
//! sorting one JSON row per event: a million-visitor backfill is ~15 000 such calls. The answer
//! is the general pipeline's, row for row (see the test).

use serde_json::{json, Value};

use super::data::{visitor_id, Dataset, DAY_MS};

/// The rows of `pipeline` if it is exactly the visitor daily-rollup shape, else `None`.
pub(crate) fn visitor_rollups(ds: &Dataset, pipeline: &[Value]) -> Option<Vec<Value>> {
    let [source, identified, group, sort, rest @ ..] = pipeline else {
        return None;
    };
    let expected_group = json!({"group": {"group": ["visitorId", "day"],
        "fields": {"minutes": {"sum": "numMinutes"}, "events": {"sum": "numEvents"}}}});
    if source["source"]["events"] != Value::Null
        || source["source"].as_object()?.len() != 2
        || *identified != json!({"identified": "visitorId"})
        || *group != expected_group
        || *sort != json!({"sort": ["visitorId", "day"]})
    {
        return None;
    }
    let (after, limit) = match rest {
        [limit] => (None, limit["limit"].as_u64()?),
        [filter, limit] => {
            let lit = filter["filter"].as_str()?.strip_prefix("visitorId>")?;
            if lit.starts_with('=') || lit.contains("&&") || lit.contains("||") {
                return None;
            }
            let lit = lit.trim().trim_matches('`').trim_matches('"');
            (
                Some(super::data::parse_visitor(lit)?),
                limit["limit"].as_u64()?,
            )
        }
        _ => return None,
    };
    let (start, end) =
        super::pipeline::time_range(&source["source"]["timeSeries"], ds.cfg.today).ok()?;
    let limit = limit as usize;
    let mut rows = Vec::with_capacity(limit.min(100_000));
    for v in after.map_or(0, |a| a + 1)..ds.cfg.visitors {
        let id = visitor_id(v);
        for d in start..end {
            if let Some((minutes, events)) = ds.activity(v, d) {
                rows.push(json!({"visitorId": id, "day": d as i64 * DAY_MS,
                                 "minutes": minutes as f64, "events": events as f64}));
            }
        }
        if rows.len() >= limit {
            break;
        }
    }
    rows.truncate(limit);
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::visitor_rollups;
    use crate::pendo::data::{visitor_id, Dataset, DatasetConfig, DAY_MS};
    use serde_json::{json, Value};

    fn pipeline(first_day: i32, days: u32, after: Option<usize>, limit: usize) -> Vec<Value> {
        let mut p = vec![
            json!({"source": {"events": null, "timeSeries": {"period": "dayRange", "first": first_day as i64 * DAY_MS, "count": days}}}),
            json!({"identified": "visitorId"}),
            json!({"group": {"group": ["visitorId", "day"], "fields": {"minutes": {"sum": "numMinutes"}, "events": {"sum": "numEvents"}}}}),
            json!({"sort": ["visitorId", "day"]}),
        ];
        if let Some(a) = after {
            p.push(json!({"filter": format!("visitorId>`{}`", visitor_id(a))}));
        }
        p.push(json!({"limit": limit}));
        p
    }

    #[test]
    fn answers_exactly_as_the_general_pipeline() {
        let mut ds = Dataset::generate(DatasetConfig {
            visitors: 300,
            accounts: 20,
            ..Default::default()
        });
        // A day turned quiet and a late day of activity, as the tests' mutations make them.
        let today = ds.cfg.today;
        ds.overrides.insert((7, today - 3), (0, 0));
        ds.overrides.insert((8, today - 2), (42, 9));
        let mut compared = 0;
        for (first, days) in [(today - 30, 30), (today - 359, 30), (today - 4, 4)] {
            for after in [None, Some(0), Some(150), Some(299)] {
                for limit in [31, 500, 5000] {
                    let p = pipeline(first, days, after, limit);
                    let fast = visitor_rollups(&ds, &p).expect("the rollup shape");
                    let general = crate::pendo::pipeline::run_general(&ds, &p).expect("runs");
                    assert_eq!(
                        fast, general,
                        "first {first}, after {after:?}, limit {limit}"
                    );
                    compared += fast.len();
                }
            }
        }
        assert!(compared > 1000, "{compared} rows compared");
        let mut other = pipeline(today - 30, 30, None, 10);
        other[3] = json!({"sort": ["day"]});
        assert!(
            visitor_rollups(&ds, &other).is_none(),
            "other shapes go the general way"
        );
    }
}
