//! Per-object sync state: what was last written where, and compact usage history.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Push-side state of one Pendo visitor or account.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ObjectState {
    /// HubSpot record id once known (after a resolved match or an upsert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_id: Option<String>,
    /// Fingerprint of the values last written successfully; equal fingerprint = zero HubSpot calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// Set while the last write failed; the next run retries it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// Day the record was last looked for in HubSpot without a match (re-checked daily, not per run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unmatched_day: Option<i32>,
    /// The run whose link lane found more than one match and reported it (that run's push
    /// leaves it be rather than report it twice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambiguous_in: Option<super::RunId>,
    /// Day the record's e-mail was last searched among contacts' additional e-mails (a
    /// search per 5 addresses, so unmatched visitors are searched weekly, not daily).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secondary_day: Option<i32>,
    /// The property values last written (the fingerprint's input), to tell a person's edit of
    /// a pushed property in HubSpot from our own write when the pull reads the record back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pushed: Option<std::collections::BTreeMap<String, String>>,
    /// What a person changed in pushed properties (found by the pull); the next push
    /// overwrites it and reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
    /// The record lost (or had changed) its join property: the next push stamps it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub restamp: bool,
    /// Pendo flags the visitor do-not-process (`metadata.pendo.donotprocess`) and what we had
    /// written about them in HubSpot is cleared: nothing more is sent until the flag goes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub do_not_process: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Failure {
    pub message: String,
    pub attempts: u32,
    pub first_failed_at: DateTime<Utc>,
    /// The run that made the last attempt: a record is attempted at most once per run, even
    /// when it is both on the retry list and in the run's search results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<super::RunId>,
}

impl Failure {
    pub fn next(previous: Option<&Failure>, message: String, now: DateTime<Utc>) -> Self {
        Self {
            message,
            attempts: previous.map_or(1, |p| p.attempts + 1),
            first_failed_at: previous.map_or(now, |p| p.first_failed_at),
            run_id: None,
        }
    }

    pub fn in_run(mut self, run: &super::RunId) -> Self {
        self.run_id = Some(run.clone());
        self
    }
}

/// Pull-side state of one HubSpot record: fingerprint of the values last written to Pendo.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PullState {
    pub fingerprint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// The Pendo id the record was last pulled into: a HubSpot deletion or merge (which name
    /// only the HubSpot id) finds the joined Pendo record through it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pendo_id: Option<String>,
}

/// Where the incremental HubSpot read resumes. A pass reads every record modified at or after
/// `since_ms` in id order; `after_id` is the position inside the pass. When the pass ends, the
/// next one starts from the pass's own start time (minus the search index lag).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullCursor {
    pub since_ms: i64,
    pub after_id: u64,
    pub pass_started_ms: Option<i64>,
    /// Windows of our own pushes this pass leaves out (see `sync::own_writes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip: Vec<(i64, i64)>,
}

/// The latest NPS answer known for a visitor or account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestNps {
    pub score: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub at_ms: i64,
}

/// Compact usage history of one visitor or account: one entry per *active* day in the
/// last 360 days, instead of one stored row per day (360 M rows at 1 M visitors).
///
/// "Activity" is defined once, here: **minutes on app** (Pendo's `numMinutes`), and a day is
/// active when it had any event. Usage Trending = % change of minutes in the last 180 days
/// against the 180 days before; `None` when the prior period had no activity (no base to compare).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityHistory {
    /// (day number since 1970-01-01, minutes that day); sorted, unique days.
    #[serde(rename = "d")]
    pub days: Vec<(i32, u32)>,
    /// Last day number folded in, so a re-fetched day is not counted twice.
    #[serde(rename = "t")]
    pub through_day: i32,
    #[serde(default, rename = "n", skip_serializing_if = "Option::is_none")]
    pub nps: Option<LatestNps>,
    /// Reconciliation generation `days` were last rebuilt in: days of an older generation than
    /// the last completed full re-read are stale (the visitor had no activity left in Pendo).
    #[serde(default, rename = "g", skip_serializing_if = "is_zero")]
    pub generation: u32,
    /// The same for `nps`.
    #[serde(default, rename = "ng", skip_serializing_if = "is_zero")]
    pub nps_generation: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Generations of the last completed full re-reads (0 = none yet), see [`ActivityHistory::current`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Generations {
    pub activity: u32,
    pub nps: u32,
}

pub const WINDOW_DAYS: i32 = 180;

pub fn day_number(date: NaiveDate) -> i32 {
    (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

pub fn day_date(day: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Days::new(day as u64)
}

impl ActivityHistory {
    /// Records a day's rollup (replacing an earlier value for the same day) and drops days
    /// older than the two windows ending at `day`.
    pub fn record(&mut self, day: i32, minutes: u32) {
        self.put(day, minutes);
        self.forget_old();
    }

    /// Sets one day, keeping `days` sorted and unique; a day after the last is a push.
    fn put(&mut self, day: i32, minutes: u32) {
        match self.days.last() {
            Some((last, _)) if *last < day => self.days.push((day, minutes)),
            _ => match self.days.binary_search_by_key(&day, |(d, _)| *d) {
                Ok(i) => self.days[i].1 = minutes,
                Err(i) => self.days.insert(i, (day, minutes)),
            },
        }
        self.through_day = self.through_day.max(day);
    }

    /// Drops days older than the two windows ending at `through_day`.
    fn forget_old(&mut self) {
        let oldest = self.through_day - 2 * WINDOW_DAYS + 1;
        if self.days.first().is_some_and(|(d, _)| *d < oldest) {
            self.days.retain(|(d, _)| *d >= oldest);
        }
    }

    /// Replaces the days in `[first, last]` with `rows` (day, minutes): a re-read of that range,
    /// so late days appear, corrected days change and erased days go. The same as recording
    /// the rows one by one (a later row for a day wins), with old days dropped once at the end
    /// rather than after every row (the cutoff only moves forward).
    pub fn replace_range(&mut self, first: i32, last: i32, rows: &[(i32, u32)]) {
        self.days.retain(|(d, _)| *d < first || *d > last);
        for (day, minutes) in rows {
            self.put(*day, *minutes);
        }
        self.forget_old();
    }

    /// This history as of the last completed full re-reads: parts rebuilt in an older
    /// generation had nothing left in Pendo when it was re-read, so they count as empty.
    pub fn current(mut self, g: Generations) -> Self {
        if self.generation < g.activity {
            self.days.clear();
        }
        if self.nps_generation < g.nps {
            self.nps = None;
        }
        self
    }

    /// The usage figures of the window ending at `today` and the one before it, in one pass:
    /// `days` is sorted and [`forget_old`](Self::forget_old) keeps them within two windows, so
    /// after one binary search for the prior window's first day the walk reads each day once,
    /// in memory order. Four binary searches (two per window) cost more than this walk: each
    /// step of a search waits for the load before it, and a history fresh from the store is
    /// not in cache yet.
    pub fn usage(&self, today: i32) -> Usage {
        let current_start = today - WINDOW_DAYS + 1;
        let prior_start = current_start - WINDOW_DAYS;
        let from = self.days.partition_point(|(d, _)| *d < prior_start);
        let mut usage = Usage::default();
        for &(day, minutes) in &self.days[from..] {
            if day > today {
                break;
            }
            if day >= current_start {
                usage.days_active += 1;
                usage.minutes += u64::from(minutes);
            } else {
                usage.prior_minutes += u64::from(minutes);
            }
        }
        usage
    }

    /// Active days in the 180 days ending at `today` (inclusive).
    pub fn days_active(&self, today: i32) -> u32 {
        self.usage(today).days_active
    }

    /// Minutes on app in the 180 days ending at `today`.
    pub fn minutes(&self, today: i32) -> u64 {
        self.usage(today).minutes
    }

    /// Minutes on app in the 180 days before the current window.
    pub fn prior_minutes(&self, today: i32) -> u64 {
        self.usage(today).prior_minutes
    }

    /// % change of minutes, last 180 days vs the 180 before, rounded to one decimal (half away
    /// from zero, see [`trending_tenths`](Self::trending_tenths)).
    pub fn trending(&self, today: i32) -> Option<f64> {
        self.usage(today).trending()
    }

    /// The same in tenths of a percent, computed in integers: 28.75 % is 288, −28.75 % is −288
    /// (binary floating point would hold 28.749… and round it down).
    pub fn trending_tenths(&self, today: i32) -> Option<i64> {
        self.usage(today).trending_tenths()
    }
}

/// A history's figures for one day: the current 180-day window and the one before.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub days_active: u32,
    pub minutes: u64,
    pub prior_minutes: u64,
}

impl Usage {
    /// Usage trending in percent, to a tenth, see [`ActivityHistory::trending`].
    pub fn trending(&self) -> Option<f64> {
        self.trending_tenths().map(|t| t as f64 / 10.0)
    }

    /// Usage trending in tenths of a percent, see [`ActivityHistory::trending_tenths`].
    pub fn trending_tenths(&self) -> Option<i64> {
        // Every real history fits i64 arithmetic (2^40 minutes is two million years); 128-bit
        // division is a library call and this runs for every record of every run.
        const FAST: u64 = 1 << 40;
        // The change in tenths of a percent, rounded half away from zero, in type `$t`.
        macro_rules! tenths {
            ($t:ty) => {{
                let (current, prior) = (self.minutes as $t, self.prior_minutes as $t);
                let num = (current - prior) * 1000;
                ((num.abs() * 2 + prior) / (2 * prior)) * num.signum()
            }};
        }
        if self.prior_minutes == 0 {
            return None;
        }
        if self.minutes < FAST && self.prior_minutes < FAST {
            return Some(tenths!(i64));
        }
        Some(tenths!(i128) as i64)
    }
}

/// Tenths as the decimal HubSpot receives: `288` → `"28.8"`, `-5` → `"-0.5"`.
pub fn format_tenths(tenths: i64) -> String {
    let mut s = String::new();
    push_tenths(&mut s, tenths);
    s
}

/// Appends [`format_tenths`] of `tenths` (the push writes a record's values into one buffer).
pub fn push_tenths(s: &mut String, tenths: i64) {
    if tenths < 0 {
        s.push('-');
    }
    let abs = tenths.unsigned_abs();
    s.push_str(itoa::Buffer::new().format(abs / 10));
    s.push('.');
    s.push(char::from(b'0' + (abs % 10) as u8));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trending_past_the_fast_path_rounds_the_same() {
        // From 2^40 minutes on, the figures take the 128-bit path: 28.75 % is 28.8 on both.
        let usage = |minutes, prior_minutes| Usage {
            days_active: 1,
            minutes,
            prior_minutes,
        };
        let unit = (1u64 << 41) / 400;
        for (m, p) in [(515, 400), (unit * 515, unit * 400)] {
            assert_eq!(usage(m, p).trending_tenths(), Some(288), "{m} / {p}");
            assert_eq!(usage(p * 285 / 400, p).trending_tenths(), Some(-288));
        }
        assert_eq!(usage(7, 0).trending_tenths(), None);
    }

    #[test]
    fn windows_and_trending() {
        let mut h = ActivityHistory::default();
        let today = 20_000;
        h.record(today, 10);
        h.record(today - 10, 20);
        h.record(today - 200, 15);
        h.record(today - 359, 15);
        h.record(today - 360, 99); // outside both windows: dropped
        assert_eq!(h.days_active(today), 2);
        assert_eq!(h.minutes(today), 30);
        assert_eq!(h.trending(today), Some(0.0));
        h.record(today, 40); // same day re-fetched replaces, never double counts
        assert_eq!(h.minutes(today), 60);
        assert_eq!(h.trending(today), Some(100.0));
        assert_eq!(h.days.len(), 4);
    }

    /// Folding a re-read range at once gives what recording its rows one by one gives, and the
    /// usage figures found in one pass equal those of a scan of each window, for rows in any
    /// order, with repeated days, and ranges before, inside and after what is stored.
    #[test]
    fn replace_range_and_windows_match_the_row_by_row_fold() {
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let today = 20_000;
        for _ in 0..300 {
            let mut fast = ActivityHistory::default();
            for _ in 0..next(4) {
                let first = today - next(800) as i32;
                let last = first + next(40) as i32;
                let rows: Vec<(i32, u32)> = (0..next(50))
                    .map(|_| (first + next(45) as i32, next(90) as u32))
                    .collect();
                let mut slow = fast.clone();
                slow.days.retain(|(d, _)| *d < first || *d > last);
                for (d, m) in &rows {
                    slow.record(*d, *m);
                }
                fast.replace_range(first, last, &rows);
                assert_eq!(fast, slow, "range {first}..={last}, rows {rows:?}");
                for at in [
                    today - 400,
                    today - 100,
                    today - 1,
                    today,
                    today + 30,
                    today + 200,
                ] {
                    let scan = |offset: i32| {
                        let days = fast
                            .days
                            .iter()
                            .filter(|(d, _)| *d > at - offset - WINDOW_DAYS && *d <= at - offset);
                        (
                            days.clone().count() as u32,
                            days.map(|(_, m)| u64::from(*m)).sum(),
                        )
                    };
                    let ((days_active, minutes), (_, prior_minutes)) = (scan(0), scan(WINDOW_DAYS));
                    let scanned = Usage {
                        days_active,
                        minutes,
                        prior_minutes,
                    };
                    assert_eq!(fast.usage(at), scanned, "at {at}: {:?}", fast.days);
                }
            }
        }
    }

    /// Issue 15, case 5: exactly 28.75 % is pushed as 28.8 and −28.75 % as −28.8.
    #[test]
    fn usage_trending_rounds_half_away_from_zero() {
        let today = 20_000;
        let with = |current: u32, prior: u32| {
            let mut h = ActivityHistory::default();
            h.record(today - 200, prior);
            h.record(today, current);
            h
        };
        assert_eq!(with(515, 400).trending_tenths(today), Some(288));
        assert_eq!(format_tenths(288), "28.8");
        assert_eq!(with(285, 400).trending_tenths(today), Some(-288));
        assert_eq!(format_tenths(-288), "-28.8");
        // .x5 at other magnitudes: 0.05 % → 0.1, −0.05 % → −0.1, 12.25 % → 12.3.
        assert_eq!(with(2001, 2000).trending_tenths(today), Some(1));
        assert_eq!(with(1999, 2000).trending_tenths(today), Some(-1));
        assert_eq!(with(449, 400).trending_tenths(today), Some(123));
        assert_eq!(format_tenths(-1), "-0.1");
        assert_eq!(format_tenths(0), "0.0");
        assert_eq!(with(515, 400).trending(today), Some(28.8));
    }

    #[test]
    fn zero_prior_period_has_no_trend() {
        let mut h = ActivityHistory::default();
        h.record(100, 5);
        assert_eq!(h.trending(100), None);
        assert_eq!(ActivityHistory::default().trending(100), None);
    }
}
