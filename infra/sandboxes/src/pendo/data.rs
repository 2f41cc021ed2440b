//! A generated Pendo subscription, deterministic from a seed. Events are not stored: whether a
//! visitor was active on a day (and for how long) is a hash of (seed, visitor, day), so a
//! million visitors cost no memory; mutations are stored as overrides.

use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

pub const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug)]
pub struct DatasetConfig {
    pub seed: u64,
    pub visitors: usize,
    pub accounts: usize,
    /// Days of event history before `today`.
    pub days: i32,
    /// Day number (days since 1970-01-01) of "today"; history ends the day before.
    pub today: i32,
    pub nps_guide_id: String,
    pub nps_score_poll: String,
    pub nps_text_poll: String,
    /// Share of visitors (percent) who answered NPS.
    pub nps_percent: u64,
}

impl Default for DatasetConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            visitors: 5000,
            accounts: 300,
            days: 400,
            today: 20_787, // 2026-11-30
            nps_guide_id: "nps-guide-1".into(),
            nps_score_poll: "nps-score".into(),
            nps_text_poll: "nps-text".into(),
            nps_percent: 30,
        }
    }
}

pub fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn h(seed: u64, a: u64, b: u64) -> u64 {
    mix(seed ^ mix(a.wrapping_mul(0x9E3779B97F4A7C15) ^ mix(b.wrapping_add(0x632BE59BD9B4E019))))
}

#[derive(Clone, Debug)]
pub struct PollEvent {
    pub visitor: usize,
    pub poll_id: String,
    pub response: Value,
    pub browser_time: i64,
}

pub struct Dataset {
    pub cfg: DatasetConfig,
    /// (visitor index, day) → (minutes, events); `(0, 0)` marks a day made inactive. Ordered,
    /// so a visitor's late days are one range read (`visit_bounds`).
    pub overrides: BTreeMap<(usize, i32), (u32, u32)>,
    pub polls: Vec<PollEvent>,
    /// Custom metadata written through the API: (kind, id) → field → value.
    pub custom: HashMap<(String, String), BTreeMap<String, Value>>,
    /// Custom field schema per kind: field → Pendo type (`string`, `float`, `integer`, `boolean`, `time`).
    pub schema: HashMap<String, BTreeMap<String, String>>,
    /// Visitors whose email changed through a mutation.
    pub email_overrides: HashMap<usize, String>,
    /// Visitors moved to another primary account through a mutation (see [`Dataset::move_visitor`]).
    account_moves: HashMap<usize, usize>,
    /// Visitors flagged do-not-process (`metadata.pendo.donotprocess`, Pendo's GDPR flag).
    pub do_not_process: std::collections::HashSet<usize>,
    /// (segment, visitor) → member or not, over the generated membership.
    pub segment_overrides: HashMap<(String, usize), bool>,
    /// account → visitors whose primary account it is (fixed by the seed).
    by_account: Vec<Vec<usize>>,
    /// account → every visitor that belongs to it (primary or not).
    members: Vec<Vec<usize>>,
}

/// Tagged features of the generated app: (id, name).
pub const FEATURES: &[(&str, &str)] = &[
    ("feat-dashboard", "Open dashboard"),
    ("feat-export", "Export report"),
    ("feat-invite", "Invite teammate"),
    ("feat-api", "Create API key"),
];

/// Tagged pages of the generated app: (id, name).
pub const PAGES: &[(&str, &str)] = &[
    ("page-home", "Home"),
    ("page-reports", "Reports"),
    ("page-settings", "Settings"),
];

/// Track event types of the generated app: (id, name). Their rows carry `properties.plan`
/// and `properties.source_url` (a long URL for some, to exercise HubSpot's 200-char cut).
pub const TRACK_TYPES: &[(&str, &str)] = &[
    ("track-upgraded", "Upgraded Plan"),
    ("track-exported", "Exported CSV"),
];

pub fn visitor_id(i: usize) -> String {
    format!("v{i:06}")
}
pub fn account_id(i: usize) -> String {
    format!("acct-{i:05}")
}
pub fn parse_visitor(id: &str) -> Option<usize> {
    id.strip_prefix('v')?.parse().ok()
}
pub fn parse_account(id: &str) -> Option<usize> {
    id.strip_prefix("acct-")?.parse().ok()
}

impl Dataset {
    pub fn generate(cfg: DatasetConfig) -> Self {
        let mut polls = Vec::new();
        for v in 0..cfg.visitors {
            let r = h(cfg.seed, v as u64, 7);
            if r % 100 >= cfg.nps_percent {
                continue;
            }
            // One or two responses; the latest one counts.
            let answers = 1 + (r >> 8) % 2;
            for n in 0..answers {
                let day = cfg.today - 1 - ((h(cfg.seed, v as u64, 100 + n) % 300) as i32);
                let at =
                    day as i64 * DAY_MS + (h(cfg.seed, v as u64, 200 + n) % DAY_MS as u64) as i64;
                let score = h(cfg.seed, v as u64, 300 + n) % 11;
                polls.push(PollEvent {
                    visitor: v,
                    poll_id: cfg.nps_score_poll.clone(),
                    response: json!(score),
                    browser_time: at,
                });
                polls.push(PollEvent {
                    visitor: v,
                    poll_id: cfg.nps_text_poll.clone(),
                    response: json!(format!(
                        "feedback {n} from {}: score {score}",
                        visitor_id(v)
                    )),
                    browser_time: at + 4_000,
                });
            }
        }
        let schema = HashMap::from([
            (
                "visitor".to_string(),
                BTreeMap::from([
                    ("hubspot_lifecycle".to_string(), "string".to_string()),
                    ("hubspot_jobtitle".to_string(), "string".to_string()),
                ]),
            ),
            (
                "account".to_string(),
                BTreeMap::from([
                    ("hubspot_industry".to_string(), "string".to_string()),
                    ("hubspot_revenue".to_string(), "float".to_string()),
                    ("hubspot_tier".to_string(), "string".to_string()),
                ]),
            ),
        ]);
        let mut by_account = vec![Vec::new(); cfg.accounts.max(1)];
        let mut members = vec![Vec::new(); cfg.accounts.max(1)];
        let probe = Self {
            cfg: cfg.clone(),
            overrides: BTreeMap::new(),
            polls: Vec::new(),
            custom: HashMap::new(),
            schema: HashMap::new(),
            email_overrides: HashMap::new(),
            account_moves: HashMap::new(),
            do_not_process: Default::default(),
            segment_overrides: HashMap::new(),
            by_account: Vec::new(),
            members: Vec::new(),
        };
        for v in 0..cfg.visitors {
            by_account[probe.primary_account(v)].push(v);
            for a in probe.accounts_of(v) {
                members[a].push(v);
            }
        }
        Self {
            by_account,
            members,
            cfg,
            overrides: BTreeMap::new(),
            polls,
            custom: HashMap::new(),
            schema,
            email_overrides: HashMap::new(),
            account_moves: HashMap::new(),
            do_not_process: Default::default(),
            segment_overrides: HashMap::new(),
        }
    }

    /// Moves visitor `v` to primary account `a` (a visitor changing company): its events, past
    /// ones included, count for `a` from now on, as the sandbox attributes events by the
    /// visitor's current account.
    pub fn move_visitor(&mut self, v: usize, a: usize) {
        if v >= self.cfg.visitors || a >= self.cfg.accounts.max(1) {
            return;
        }
        self.account_moves.insert(v, a);
        self.reindex();
    }

    /// Adds `k` visitors (ids after the last); their generated history is there at once, as
    /// for a visitor whose events are backfilled.
    pub fn add_visitors(&mut self, k: usize) {
        self.cfg.visitors += k;
        self.reindex();
    }

    fn reindex(&mut self) {
        let mut by_account = vec![Vec::new(); self.cfg.accounts.max(1)];
        let mut members = vec![Vec::new(); self.cfg.accounts.max(1)];
        for v in 0..self.cfg.visitors {
            by_account[self.primary_account(v)].push(v);
            for a in self.accounts_of(v) {
                members[a].push(v);
            }
        }
        self.by_account = by_account;
        self.members = members;
    }

    /// Percent chance the visitor is active on a given day (0 for ~10 % of visitors).
    fn activity_percent(&self, v: usize) -> u64 {
        let r = h(self.cfg.seed, v as u64, 1) % 100;
        if r < 10 {
            0
        } else {
            r % 60
        }
    }

    pub fn first_day(&self) -> i32 {
        self.cfg.today - self.cfg.days
    }

    /// (minutes, events) of a visitor on a day; `None` when inactive.
    pub fn activity(&self, v: usize, day: i32) -> Option<(u32, u32)> {
        if let Some(o) = self.overrides.get(&(v, day)) {
            return (o.1 > 0).then_some(*o);
        }
        if day < self.first_day() || day >= self.cfg.today {
            return None;
        }
        let r = h(self.cfg.seed, v as u64, day as u64 + 1_000);
        if r % 100 >= self.activity_percent(v) {
            return None;
        }
        Some((1 + ((r >> 16) % 90) as u32, 1 + ((r >> 32) % 250) as u32))
    }

    pub fn primary_account(&self, v: usize) -> usize {
        if let Some(a) = self.account_moves.get(&v) {
            return *a;
        }
        (h(self.cfg.seed, v as u64, 2) % self.cfg.accounts.max(1) as u64) as usize
    }

    pub fn accounts_of(&self, v: usize) -> Vec<usize> {
        let p = self.primary_account(v);
        if self.account_moves.contains_key(&v) {
            return vec![p];
        }
        let r = h(self.cfg.seed, v as u64, 3);
        if r % 100 < 5 && self.cfg.accounts > 1 {
            let second = (p + 1 + (r >> 8) as usize % (self.cfg.accounts - 1)) % self.cfg.accounts;
            vec![p, second]
        } else {
            vec![p]
        }
    }

    pub fn email(&self, v: usize) -> String {
        if let Some(e) = self.email_overrides.get(&v) {
            return e.clone();
        }
        let r = h(self.cfg.seed, v as u64, 4);
        if r % 100 < 8 {
            format!("user{v}@gmail.com")
        } else {
            format!("user{v}@{}", self.account_domain(self.primary_account(v)))
        }
    }

    pub fn account_domain(&self, a: usize) -> String {
        format!("company{a}.example")
    }

    pub fn visit_bounds(&self, v: usize) -> Option<(i64, i64)> {
        // Days from today on are active only by an override: one range read. Before today, a
        // walk in from each end stops at the first active day. Every visitor and account row
        // asks for this, under the subscription's lock: walking all of a visitor's days made
        // a listing of 100 000 visitors hold it for 10 s.
        let today = self.cfg.today;
        let mut late = self
            .overrides
            .range((v, today)..(v, today + 400))
            .filter(|(_, o)| o.1 > 0)
            .map(|((_, d), _)| *d);
        let late_first = late.next();
        let late_last = late.next_back().or(late_first);
        let active = |d: &i32| self.activity(v, *d).is_some();
        let first = (self.first_day()..today).find(active).or(late_first);
        let last = late_last.or_else(|| (self.first_day()..today).rev().find(active));
        let offset = |d: i32, salt: u64| {
            d as i64 * DAY_MS + (h(self.cfg.seed, v as u64, salt) % 36_000_000) as i64
        };
        Some((offset(first?, 5), offset(last?, 6)))
    }

    pub fn visitor_row(&self, v: usize) -> Value {
        let accounts: Vec<String> = self.accounts_of(v).into_iter().map(account_id).collect();
        // Pendo exports "never visited" as 0 (pendo.md §2.5, `"firstvisit":0`), not null.
        let (first, last) = self
            .visit_bounds(v)
            .map_or((json!(0), json!(0)), |(f, l)| (json!(f), json!(l)));
        let id = visitor_id(v);
        let custom = self
            .custom
            .get(&("visitor".to_string(), id.clone()))
            .cloned()
            .unwrap_or_default();
        let mut row = json!({"visitorId": id, "metadata": {
            "auto": {"id": id, "accountid": accounts[0], "accountids": accounts, "firstvisit": first, "lastvisit": last},
            "agent": {"email": self.email(v)},
            "custom": custom}});
        if self.do_not_process.contains(&v) {
            // Pendo-managed group, set through `PUT …/metadata/visitor/pendo/value/{id}/donotprocess`.
            row["metadata"]["pendo"] = json!({"donotprocess": true});
        }
        row
    }

    pub fn account_row(&self, a: usize) -> Value {
        let id = account_id(a);
        let custom = self
            .custom
            .get(&("account".to_string(), id.clone()))
            .cloned()
            .unwrap_or_default();
        json!({"accountId": id, "metadata": {
            "auto": {"id": id, "firstvisit": 0, "lastvisit": 0},
            "agent": {"name": format!("Company {a}"), "domain": self.account_domain(a)},
            "custom": custom}})
    }

    /// Visitors whose primary account is `a` (their events carry it).
    pub fn visitors_of(&self, a: usize) -> &[usize] {
        self.by_account.get(a).map_or(&[], Vec::as_slice)
    }

    /// Earliest first and latest last visit of an account's visitors.
    pub fn account_visit_bounds(&self, a: usize) -> Option<(i64, i64)> {
        self.members
            .get(a)?
            .iter()
            .filter_map(|v| self.visit_bounds(*v))
            .reduce(|x, y| (x.0.min(y.0), x.1.max(y.1)))
    }

    /// Account first/last visit for every account.
    pub fn account_visits(&self) -> HashMap<usize, (i64, i64)> {
        let mut out: HashMap<usize, (i64, i64)> = HashMap::new();
        for v in 0..self.cfg.visitors {
            if let Some((f, l)) = self.visit_bounds(v) {
                for a in self.accounts_of(v) {
                    let e = out.entry(a).or_insert((f, l));
                    e.0 = e.0.min(f);
                    e.1 = e.1.max(l);
                }
            }
        }
        out
    }

    /// Events on feature `f` by visitor `v` on `day`, if any: features are used on active days,
    /// each with its own popularity.
    pub fn feature_use(&self, v: usize, f: &str, day: i32) -> Option<u32> {
        self.activity(v, day)?;
        let idx = FEATURES.iter().position(|(id, _)| *id == f)? as u64;
        let r = h(self.cfg.seed, v as u64 * 8 + idx, day as u64 + 9_000);
        (r % 100 < [60, 30, 15, 5][idx as usize % 4]).then(|| 1 + ((r >> 20) % 20) as u32)
    }

    /// Views of page `p` by visitor `v` on `day`, if any (pages are seen on active days).
    pub fn page_use(&self, v: usize, p: &str, day: i32) -> Option<u32> {
        self.activity(v, day)?;
        let idx = PAGES.iter().position(|(id, _)| *id == p)? as u64;
        let r = h(self.cfg.seed, v as u64 * 8 + idx, day as u64 + 19_000);
        (r % 100 < [80, 40, 10][idx as usize % 3]).then(|| 1 + ((r >> 20) % 30) as u32)
    }

    /// Track events of type `t` by visitor `v` on `day`: (count, plan, source url).
    pub fn track_use(&self, v: usize, t: &str, day: i32) -> Option<(u32, String, String)> {
        self.activity(v, day)?;
        let idx = TRACK_TYPES.iter().position(|(id, _)| *id == t)? as u64;
        let r = h(self.cfg.seed, v as u64 * 8 + idx, day as u64 + 29_000);
        if r % 100 >= [10, 25][idx as usize % 2] {
            return None;
        }
        let plan = ["free", "pro", "team"][((r >> 8) % 3) as usize].to_string();
        let url = if (r >> 12).is_multiple_of(10) {
            format!("https://app.example.com/export?{}", "q".repeat(230))
        } else {
            format!("https://app.example.com/{}", visitor_id(v))
        };
        Some((1 + ((r >> 24) % 5) as u32, plan, url))
    }

    pub fn in_segment(&self, segment: &str, v: usize) -> bool {
        if let Some(m) = self.segment_overrides.get(&(segment.to_string(), v)) {
            return *m;
        }
        match segment {
            "seg-power-users" => self.activity_percent(v) >= 40,
            "seg-dormant" => self.activity_percent(v) == 0,
            _ => false,
        }
    }
}

#[cfg(test)]
impl Dataset {
    /// A generated subscription of `visitors` and `accounts`, otherwise the defaults.
    pub(crate) fn small(visitors: usize, accounts: usize) -> Self {
        Self::generate(DatasetConfig {
            visitors,
            accounts,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::Dataset;

    /// Each visitor's first and last active day, as a walk over every day finds them, with
    /// days made quiet, days made active and late activity (after today) as overrides.
    #[test]
    fn visit_bounds_equal_a_walk_over_every_day() {
        let mut ds = Dataset::small(400, 20);
        let today = ds.cfg.today;
        let first_day = ds.first_day();
        for v in 0..40 {
            ds.overrides.insert((v, first_day + v as i32), (0, 0));
            ds.overrides.insert((v, today - 1 - v as i32 % 3), (0, 0));
        }
        for v in 40..80 {
            ds.overrides
                .insert((v, today + v as i32 % 5), (3, 1 + v as u32 % 2));
            ds.overrides.insert((v, today + 7), (0, 0));
        }
        ds.overrides.insert((80, today + 2), (5, 5));
        ds.overrides.insert((80, today + 9), (5, 5));
        let walk = |v: usize| {
            let days: Vec<i32> = (first_day..today + 400)
                .filter(|d| ds.activity(v, *d).is_some())
                .collect();
            Some((*days.first()?, *days.last()?))
        };
        let mut never = 0;
        for v in 0..400 {
            let got = ds.visit_bounds(v).map(|(f, l)| {
                (
                    f.div_euclid(super::DAY_MS) as i32,
                    l.div_euclid(super::DAY_MS) as i32,
                )
            });
            assert_eq!(got, walk(v), "visitor {v}");
            never += usize::from(got.is_none());
        }
        assert!(never > 0 && never < 400, "{never} visitors never active");
        assert_eq!(walk(80).map(|b| b.1), Some(today + 9));
    }
}
