//! What the push should have written, computed from the raw Pendo dataset and not through the
//! engine: the tests' and the benchmark's reference. Built once per dataset (NPS answers and
//! account members indexed), so checking a million visitors is linear.

use chrono::Utc;
use sandboxes::pendo::data::{Dataset, PollEvent, DAY_MS};
use std::collections::{BTreeMap, HashMap};

/// ISO-8601 with milliseconds, as the push writes dates.
pub fn iso(ms: i64) -> String {
    chrono::DateTime::<Utc>::from_timestamp_millis(ms)
        .expect("a representable time")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// (days active in the last 180 days, minutes in them, trend against the 180 before, as a
/// percent with one decimal, `""` without a prior period).
pub fn usage(minutes_by_day: impl Fn(i32) -> Option<u32>, today: i32) -> (String, String, String) {
    let cur: Vec<u32> = (today - 179..=today).filter_map(&minutes_by_day).collect();
    let prior: u64 = (today - 359..=today - 180)
        .filter_map(&minutes_by_day)
        .map(u64::from)
        .sum();
    let total: u64 = cur.iter().map(|m| *m as u64).sum();
    let trend = if prior == 0 {
        String::new()
    } else {
        // Half away from zero on the exact decimal: tenths = round(1000 × Δ / prior).
        let delta = total as i128 - prior as i128;
        let (q, r) = (
            (delta.abs() * 1000) / prior as i128,
            (delta.abs() * 1000) % prior as i128,
        );
        let tenths = q + i128::from(2 * r >= prior as i128);
        let sign = if delta < 0 && tenths > 0 { "-" } else { "" };
        format!("{sign}{}.{}", tenths / 10, tenths % 10)
    };
    (cur.len().to_string(), total.to_string(), trend)
}

/// The usage properties of a visitor or account: first and last visit (epoch ms), and
/// [`usage`]'s (days, minutes, trend).
fn usage_values(
    visits: Option<(i64, i64)>,
    (days, minutes, trend): (String, String, String),
) -> BTreeMap<String, String> {
    let (first, last) = visits.map_or((String::new(), String::new()), |(f, l)| (iso(f), iso(l)));
    BTreeMap::from([
        ("pendo_first_visit".to_string(), first),
        ("pendo_last_visit".to_string(), last),
        ("pendo_days_active".to_string(), days),
        ("pendo_time_on_app".to_string(), minutes),
        ("pendo_usage_trending".to_string(), trend),
    ])
}

/// The dataset with what the reference needs indexed.
pub struct Reference<'a> {
    ds: &'a Dataset,
    /// Latest NPS score answer per visitor.
    latest_score: HashMap<usize, &'a PollEvent>,
    /// NPS text answers by (visitor, time).
    texts: HashMap<(usize, i64), &'a str>,
    /// Visitors by primary account, in id order.
    members: HashMap<usize, Vec<usize>>,
    /// Visitors counted in each account (any of their accounts).
    totals: HashMap<usize, usize>,
    visits: HashMap<usize, (i64, i64)>,
}

impl<'a> Reference<'a> {
    pub fn new(ds: &'a Dataset) -> Self {
        let mut latest_score: HashMap<usize, &PollEvent> = HashMap::new();
        let mut texts = HashMap::new();
        for p in &ds.polls {
            if p.poll_id == ds.cfg.nps_score_poll {
                let e = latest_score.entry(p.visitor).or_insert(p);
                // The last of equal times wins, as `max_by_key` over the list would pick.
                if p.browser_time >= e.browser_time {
                    *e = p;
                }
            } else if p.poll_id == ds.cfg.nps_text_poll {
                if let Some(t) = p.response.as_str() {
                    texts.entry((p.visitor, p.browser_time)).or_insert(t);
                }
            }
        }
        let mut members: HashMap<usize, Vec<usize>> = HashMap::new();
        let mut totals: HashMap<usize, usize> = HashMap::new();
        for v in 0..ds.cfg.visitors {
            members.entry(ds.primary_account(v)).or_default().push(v);
            for a in ds.accounts_of(v) {
                *totals.entry(a).or_default() += 1;
            }
        }
        Self {
            ds,
            latest_score,
            texts,
            members,
            totals,
            visits: ds.account_visits(),
        }
    }

    fn nps(&self, latest: Option<&PollEvent>, out: &mut BTreeMap<String, String>) {
        let (score, text, date, cat) = match latest {
            Some(p) => {
                let score = p.response.as_u64().expect("a numeric score");
                let text = self
                    .texts
                    .get(&(p.visitor, p.browser_time + 4_000))
                    .map(|t| t.to_string())
                    .unwrap_or_default();
                let date = chrono::DateTime::<Utc>::from_timestamp_millis(
                    p.browser_time / DAY_MS * DAY_MS,
                )
                .expect("a representable time")
                .format("%Y-%m-%d")
                .to_string();
                let cat = match score {
                    0..=6 => "detractor",
                    7 | 8 => "passive",
                    _ => "promoter",
                };
                (score.to_string(), text, date, cat.to_string())
            }
            None => Default::default(),
        };
        out.insert("pendo_latest_nps_score".into(), score);
        out.insert("pendo_latest_nps_text".into(), text);
        out.insert("pendo_latest_nps_date".into(), date);
        out.insert("pendo_latest_nps_category".into(), cat);
    }

    /// What the push should have written for visitor `v` on `today` (day number).
    pub fn visitor(&self, v: usize, today: i32) -> BTreeMap<String, String> {
        let ds = self.ds;
        let (days, minutes, trend) = usage(|d| ds.activity(v, d).map(|a| a.0), today);
        let mut out = usage_values(ds.visit_bounds(v), (days, minutes, trend));
        self.nps(self.latest_score.get(&v).copied(), &mut out);
        out
    }

    /// What the push should have written for account `a` on `today` (day number).
    pub fn account(&self, a: usize, today: i32) -> BTreeMap<String, String> {
        let ds = self.ds;
        let members = self.members.get(&a).map(Vec::as_slice).unwrap_or_default();
        let minutes_on = |d: i32| {
            let active: Vec<u32> = members
                .iter()
                .filter_map(|v| ds.activity(*v, d).map(|x| x.0))
                .collect();
            (!active.is_empty()).then(|| active.iter().sum())
        };
        let (days, minutes, trend) = usage(minutes_on, today);
        let total = self.totals.get(&a).copied().unwrap_or(0);
        let mut out = usage_values(self.visits.get(&a).copied(), (days, minutes, trend));
        out.insert("pendo_total_visitors".into(), total.to_string());
        let latest = members
            .iter()
            .filter_map(|v| self.latest_score.get(v).copied())
            .max_by_key(|p| p.browser_time);
        self.nps(latest, &mut out);
        out
    }
}
