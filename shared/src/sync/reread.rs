//! Which days a run reads from Pendo. Pendo processes some events late (mobile and server-side
//! sources) and can correct or erase history, so a day read once is not final:
//! - every run re-reads a trailing window (`SyncOptions::reread_days`) as well as the days not
//!   read yet;
//! - a periodic full re-read (`SyncOptions::reconcile_every_days`) rebuilds the whole history,
//!   under a new *generation*: whatever a history holds from an older generation was not seen
//!   again and counts as erased ([`ActivityHistory::current`](crate::domain::ActivityHistory::current)).
//!
//! Both cost Pendo reads only: folding a re-read day that did not change leaves the stored
//! history (and so the pushed fingerprint) as it was, and nothing is written.

use serde::{Deserialize, Serialize};

use super::engine::RunCtx;
use super::{SyncError, SyncOptions};
use crate::domain::{Generations, ObjectKind};

/// How much history every run reads again, and how often all of it (a deployment setting:
/// `REREAD_DAYS`, `RECONCILE_EVERY_DAYS` on the worker; defaults 3 and 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RereadPolicy {
    /// See [`SyncOptions::reread_days`].
    pub reread_days: i32,
    /// See [`SyncOptions::reconcile_every_days`].
    pub reconcile_every_days: i32,
}

impl Default for RereadPolicy {
    fn default() -> Self {
        Self {
            reread_days: 3,
            reconcile_every_days: 7,
        }
    }
}

impl RereadPolicy {
    /// The defaults, overridden by `REREAD_DAYS` (0–30) and `RECONCILE_EVERY_DAYS` (0–90)
    /// when set; `Err` names the variable and the value it refused.
    pub fn from_env() -> Result<Self, String> {
        let mut p = Self::default();
        let read = |name: &str, max: i32| -> Result<Option<i32>, String> {
            match std::env::var(name) {
                Err(_) => Ok(None),
                Ok(v) => v
                    .trim()
                    .parse::<i32>()
                    .ok()
                    .filter(|n| (0..=max).contains(n))
                    .map(Some)
                    .ok_or_else(|| {
                        format!("{name}={v:?}: expected a whole number of days 0–{max}")
                    }),
            }
        };
        if let Some(d) = read("REREAD_DAYS", 30)? {
            p.reread_days = d;
        }
        if let Some(d) = read("RECONCILE_EVERY_DAYS", 90)? {
            p.reconcile_every_days = d;
        }
        Ok(p)
    }

    pub fn apply(&self, opts: &mut SyncOptions) {
        opts.reread_days = self.reread_days;
        opts.reconcile_every_days = self.reconcile_every_days;
    }
}

/// The read a phase is doing, kept across pages and invocations of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReadPlan {
    /// The run's `today` the plan was made for (a plan of another day is made again).
    pub today: i32,
    /// First day (day number) of the next chunk to read.
    pub next: i32,
    /// Generation histories read under this plan are rebuilt in.
    pub generation: u32,
    /// A full re-read: its completion is recorded as the new generation.
    pub full: bool,
}

/// The last completed full re-read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Reconciled {
    pub generation: u32,
    pub day: i32,
}

/// What a phase reads: `Activity(kind)` or NPS (both object kinds come from one read).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Source {
    Activity(ObjectKind),
    Nps,
}

impl Source {
    fn name(self) -> String {
        match self {
            Source::Activity(kind) => format!("activity:{}", kind.code()),
            Source::Nps => "nps".into(),
        }
    }

    /// The cursor holding the last day read (kept under its historical name).
    pub fn through_cursor(self) -> String {
        self.name()
    }

    fn plan_cursor(self) -> String {
        format!("plan:{}", self.name())
    }

    fn reconciled_cursor(self) -> String {
        format!("reconciled:{}", self.name())
    }
}

/// Decides the read of a run whose last complete day is `today`: `history_days` is how far a
/// full read goes back, `end` the last day read (`today`, or the running day for NPS in a
/// webhook job); `None` when there is nothing to read.
pub(crate) fn plan(
    opts: &SyncOptions,
    history_days: i32,
    end: i32,
    through: Option<i32>,
    last_full: Option<Reconciled>,
) -> Option<ReadPlan> {
    let today = opts.today;
    match (through, last_full) {
        (Some(through), Some(last)) if today - last.day < opts.reconcile_every_days => {
            let next = (through + 1).min(today - opts.reread_days + 1);
            (next <= end).then_some(ReadPlan {
                today,
                next,
                generation: last.generation,
                full: false,
            })
        }
        _ => Some(ReadPlan {
            today,
            next: today - history_days + 1,
            generation: last_full.map_or(1, |l| l.generation + 1),
            full: true,
        }),
    }
}

/// The plan in progress for `source`, or a new one (stored, so pages and continuations of the
/// run read the same days); `None` when there is nothing to read.
pub(crate) async fn current_plan(
    ctx: &RunCtx<'_>,
    source: Source,
    history_days: i32,
    end: i32,
) -> Result<Option<ReadPlan>, SyncError> {
    let stored: Option<ReadPlan> = ctx
        .repo
        .get_cursor(ctx.tenant, &source.plan_cursor())
        .await?;
    if let Some(p) = stored.filter(|p| p.today == ctx.opts.today) {
        return Ok(Some(p));
    }
    let through: Option<i32> = ctx
        .repo
        .get_cursor(ctx.tenant, &source.through_cursor())
        .await?;
    let last: Option<Reconciled> = ctx
        .repo
        .get_cursor(ctx.tenant, &source.reconciled_cursor())
        .await?;
    let p = plan(ctx.opts, history_days, end, through, last);
    if let Some(p) = &p {
        ctx.repo
            .put_cursor(ctx.tenant, &source.plan_cursor(), p)
            .await?;
        tracing::info!(
            source = %source.name(),
            from = %crate::domain::day_date(p.next),
            full = p.full,
            generation = p.generation,
            "reading Pendo history"
        );
    }
    Ok(p)
}

pub(crate) async fn save_plan(
    ctx: &RunCtx<'_>,
    source: Source,
    plan: &ReadPlan,
) -> Result<(), SyncError> {
    Ok(ctx
        .repo
        .put_cursor(ctx.tenant, &source.plan_cursor(), plan)
        .await?)
}

/// Records the plan as done: the last day read and, for a full read, its generation.
pub(crate) async fn finish_plan(
    ctx: &RunCtx<'_>,
    source: Source,
    plan: &ReadPlan,
    through: i32,
) -> Result<(), SyncError> {
    let repo = ctx.repo;
    repo.put_cursor(ctx.tenant, &source.through_cursor(), &through)
        .await?;
    if plan.full {
        let done = Reconciled {
            generation: plan.generation,
            day: plan.today,
        };
        repo.put_cursor(ctx.tenant, &source.reconciled_cursor(), &done)
            .await?;
    }
    repo.delete_cursor(ctx.tenant, &source.plan_cursor())
        .await?;
    Ok(())
}

/// Generations of the last completed full reads, for reading `kind`'s histories.
pub(crate) async fn generations(
    ctx: &RunCtx<'_>,
    kind: ObjectKind,
) -> Result<Generations, SyncError> {
    let g = |r: Option<Reconciled>| r.map_or(0, |r| r.generation);
    let activity = ctx
        .repo
        .get_cursor(ctx.tenant, &Source::Activity(kind).reconciled_cursor())
        .await?;
    let nps = ctx
        .repo
        .get_cursor(ctx.tenant, &Source::Nps.reconciled_cursor())
        .await?;
    Ok(Generations {
        activity: g(activity),
        nps: g(nps),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(today: i32) -> SyncOptions {
        SyncOptions::new(today)
    }

    /// The only test touching these variables (tests share the process environment).
    #[test]
    fn policy_from_the_environment() {
        std::env::remove_var("REREAD_DAYS");
        std::env::remove_var("RECONCILE_EVERY_DAYS");
        assert_eq!(RereadPolicy::from_env(), Ok(RereadPolicy::default()));
        std::env::set_var("REREAD_DAYS", "5");
        std::env::set_var("RECONCILE_EVERY_DAYS", "14");
        assert_eq!(
            RereadPolicy::from_env(),
            Ok(RereadPolicy {
                reread_days: 5,
                reconcile_every_days: 14
            })
        );
        std::env::set_var("REREAD_DAYS", "-1");
        assert_eq!(
            RereadPolicy::from_env(),
            Err("REREAD_DAYS=\"-1\": expected a whole number of days 0–30".into())
        );
        std::env::remove_var("REREAD_DAYS");
        std::env::remove_var("RECONCILE_EVERY_DAYS");
    }

    #[test]
    fn first_run_is_a_full_read() {
        let p = plan(&opts(1000), 360, 1000, None, None).unwrap();
        assert_eq!((p.next, p.generation, p.full), (641, 1, true));
    }

    #[test]
    fn daily_run_rereads_the_trailing_window() {
        let last = Reconciled {
            generation: 4,
            day: 998,
        };
        // Read through yesterday: today plus the two days before it again.
        let p = plan(&opts(1000), 360, 1000, Some(999), Some(last)).unwrap();
        assert_eq!((p.next, p.generation, p.full), (998, 4, false));
        // A week without runs: everything not read yet.
        let p = plan(&opts(1000), 360, 1000, Some(990), Some(last)).unwrap();
        assert_eq!(p.next, 991);
        let mut no_window = opts(1000);
        no_window.reread_days = 0;
        assert_eq!(plan(&no_window, 360, 1000, Some(1000), Some(last)), None);
        // A webhook job reads NPS of the running day even with no window.
        let p = plan(&no_window, 365, 1001, Some(1000), Some(last)).unwrap();
        assert_eq!((p.next, p.full), (1001, false));
    }

    #[test]
    fn a_week_after_the_last_full_read_comes_the_next() {
        let last = Reconciled {
            generation: 4,
            day: 993,
        };
        let p = plan(&opts(1000), 360, 1000, Some(999), Some(last)).unwrap();
        assert_eq!((p.next, p.generation, p.full), (641, 5, true));
        let p = plan(&opts(999), 360, 999, Some(998), Some(last)).unwrap();
        assert!(!p.full);
    }
}
