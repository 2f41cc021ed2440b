//! A run's phases in lanes.
//!
//! HubSpot budgets a portal two ways: 110 requests per 10 s for everything but search, and
//! search on its own at 5 per second (the spec marks search exempt from the ten-secondly limit;
//! hubspot.md "Rate limits"). The push lane (activity → NPS → push → rules) spends the first,
//! the pull lane (the keyset search of modified contacts and companies, then Pendo metadata
//! writes) mostly the second. One after the other, each leaves the other's budget idle; side by
//! side a sync takes about as long as its busier lane. Segments and custom events run after
//! both (events need the links the push stamps).
//!
//! The lanes touch different state (the push: object states and links; the pull: pull states
//! and its cursor) except where the pull reads back what the push owns to find hand edits
//! (`drift`); [`super::in_flight`] keeps those two apart. Each lane checkpoints its own
//! position, and both stop at their next step once the invocation's time budget is spent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::engine::{RunCtx, RunCtxParts, Step};
use super::{pull, push, usage, Checkpoint, SyncError, PHASES};
use crate::domain::{ObjectKind, RunCounts};
use crate::http::Stopped;

pub(crate) const CHECKPOINT: &str = "checkpoint";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Lane {
    /// Pendo → HubSpot: activity, NPS, push, rules (phases 1–6).
    Push,
    /// HubSpot → Pendo: pull of contacts and companies (phases 7–8).
    Pull,
    /// Segments and custom events (phases 9–10), once both lanes are done.
    Finish,
}

const PULL_FIRST: usize = 7;
const FINISH_FIRST: usize = 9;

impl Lane {
    fn last(self) -> usize {
        match self {
            Lane::Push => PULL_FIRST - 1,
            Lane::Pull => FINISH_FIRST - 1,
            Lane::Finish => PHASES.len() - 1,
        }
    }

    fn position(self, cp: &Checkpoint) -> (usize, Option<String>) {
        match self {
            Lane::Pull => (cp.pull_phase.unwrap_or(PULL_FIRST), cp.pull_after.clone()),
            Lane::Push | Lane::Finish => (cp.phase, cp.after.clone()),
        }
    }

    fn set(self, cp: &mut Checkpoint, phase: usize, after: Option<String>) {
        match self {
            Lane::Pull => {
                cp.pull_phase = Some(phase);
                cp.pull_after = after;
            }
            Lane::Push | Lane::Finish => {
                cp.phase = phase;
                cp.after = after;
            }
        }
    }

    /// The API calls this lane made between two counter snapshots. While the lanes overlap the
    /// counters are shared, so calls are told apart by kind: searches and Pendo metadata
    /// writes are the pull's, the rest the push's (the pull's read-back of failed records and
    /// the push's rare identity searches land on the other side).
    fn calls(self, ctx: &RunCtx<'_>) -> u64 {
        let hubspot = ctx.hubspot.calls().snapshot();
        let pendo = ctx.pendo.calls().snapshot();
        let pulls = |k: &str| k == "hubspot.search" || k == "pendo.metadata_write";
        hubspot
            .iter()
            .chain(pendo.iter())
            .filter(|(k, _)| match self {
                Lane::Push => !pulls(k),
                Lane::Pull => pulls(k),
                Lane::Finish => true,
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// Reads a checkpoint written before the lanes (one phase index for everything) as lanes.
fn as_lanes(cp: &mut Checkpoint) {
    if cp.pull_phase.is_some() {
        return;
    }
    if (PULL_FIRST..FINISH_FIRST).contains(&cp.phase) {
        cp.pull_phase = Some(cp.phase);
        cp.pull_after = cp.after.take();
        cp.phase = PULL_FIRST;
    } else if cp.phase < PULL_FIRST {
        cp.pull_phase = Some(PULL_FIRST);
    } else {
        cp.pull_phase = Some(FINISH_FIRST);
    }
}

/// What the lanes of one invocation share.
struct Shared {
    cp: Mutex<Checkpoint>,
    /// Record errors stored so far in this run (the next error's index).
    errors_recorded: AtomicU64,
    started: Instant,
}

impl Shared {
    fn cp(&self) -> std::sync::MutexGuard<'_, Checkpoint> {
        self.cp.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs every phase left in `cp`. `Ok(true)` when all are done, `Ok(false)` when the time
/// budget ran out (`cp` then says where each lane resumes).
pub(crate) async fn drive(
    ctx: &mut RunCtx<'_>,
    cp: &mut Checkpoint,
    started: Instant,
) -> Result<bool, SyncError> {
    let (t0, c0) = (Instant::now(), Lane::Finish.calls(ctx));
    super::engine::setup(ctx).await?;
    ctx.run.add_phase(
        PHASES[0],
        t0.elapsed().as_secs_f64(),
        Lane::Finish.calls(ctx).saturating_sub(c0),
    );
    as_lanes(cp);
    if cp.phase == 0 {
        cp.phase = 1;
    }
    let shared = Shared {
        cp: Mutex::new(cp.clone()),
        errors_recorded: AtomicU64::new(ctx.run.errors_recorded),
        started,
    };
    let result = side_by_side_then_finish(ctx, &shared).await;
    ctx.run.errors_recorded = shared.errors_recorded.load(Ordering::SeqCst);
    *cp = shared.cp().clone();
    result
}

async fn side_by_side_then_finish(
    ctx: &mut RunCtx<'_>,
    shared: &Shared,
) -> Result<bool, SyncError> {
    let pull_left = shared.cp().pull_phase.is_some_and(|p| p < FINISH_FIRST);
    if shared.cp().phase < FINISH_FIRST {
        let mut pull_ctx = RunCtx::new(RunCtxParts {
            tenant: ctx.tenant,
            config: ctx.config,
            repo: ctx.repo,
            hubspot: ctx.hubspot,
            pendo: ctx.pendo,
            opts: ctx.opts,
            run: {
                let mut run = ctx.run.clone();
                run.counts = RunCounts::default();
                run.phases.clear();
                run
            },
        });
        pull_ctx.pendo_types = ctx.pendo_types.clone();
        pull_ctx.enum_labels = ctx.enum_labels.clone();
        pull_ctx.in_flight = Arc::clone(&ctx.in_flight);
        ctx.in_flight.watch(pull_left);
        let both = tokio::try_join!(
            lane(ctx, Lane::Push, shared),
            lane(&mut pull_ctx, Lane::Pull, shared)
        );
        ctx.in_flight.watch(false);
        ctx.run.counts.add(&pull_ctx.run.counts);
        for p in pull_ctx.run.phases {
            ctx.run.add_phase(&p.phase, p.seconds, p.api_calls);
        }
        for w in pull_ctx.planned {
            ctx.planned(w);
        }
        let room = 6usize.saturating_sub(ctx.samples.len());
        ctx.samples.extend(pull_ctx.samples.into_iter().take(room));
        let (push_done, pull_done) = both?;
        if !(push_done && pull_done) {
            return Ok(false);
        }
        shared.cp().phase = FINISH_FIRST;
        shared.cp().after = None;
    }
    lane(ctx, Lane::Finish, shared).await
}

async fn step(
    ctx: &mut RunCtx<'_>,
    phase: usize,
    after: Option<String>,
) -> Result<Step, SyncError> {
    Ok(match phase {
        1 => usage::activity_step(ctx, ObjectKind::Visitor, after).await?,
        2 => usage::activity_step(ctx, ObjectKind::Account, after).await?,
        3 => super::nps::nps_step(ctx, after).await?,
        4 => push::push_step(ctx, ObjectKind::Visitor, after).await?,
        5 => push::push_step(ctx, ObjectKind::Account, after).await?,
        6 => crate::rules::rules_step(ctx).await?,
        7 => pull::pull_step(ctx, ObjectKind::Visitor, after).await?,
        8 => pull::pull_step(ctx, ObjectKind::Account, after).await?,
        9 => super::segments::segments_step(ctx).await?,
        _ => super::events::events_step(ctx, after).await?,
    })
}

/// Runs one lane's steps until its last phase is done (`Ok(true)`) or the budget is spent
/// (`Ok(false)`), storing the checkpoint after every step.
async fn lane(ctx: &mut RunCtx<'_>, lane: Lane, shared: &Shared) -> Result<bool, SyncError> {
    loop {
        let (phase, after) = lane.position(&shared.cp());
        if phase > lane.last() {
            return Ok(true);
        }
        let (t0, c0) = (Instant::now(), lane.calls(ctx));
        let next = step(ctx, phase, after).await?;
        ctx.run.add_phase(
            PHASES[phase],
            t0.elapsed().as_secs_f64(),
            lane.calls(ctx).saturating_sub(c0),
        );
        let done = {
            let mut cp = shared.cp();
            match next {
                Step::Done => lane.set(&mut cp, phase + 1, None),
                Step::More(a) => lane.set(&mut cp, phase, a),
            }
            lane.position(&cp).0 > lane.last()
        };
        flush_errors(ctx, shared).await?;
        if ctx.opts.dry_run {
            continue;
        }
        // Between batches: a tenant being deleted stops here, before anything more is sent
        // or stored (the lease keeper also notices it between batches of a long step).
        if ctx.repo.is_tombstoned(ctx.tenant).await? {
            ctx.opts.cancel.stop(Stopped::TenantDeleted);
        }
        ctx.opts.cancel.check()?;
        // Each lane stores both positions; a write racing the other lane's can only leave a
        // position one step behind, and steps are idempotent (fingerprints, stored cursors).
        let snapshot = shared.cp().clone();
        ctx.repo
            .put_cursor(ctx.tenant, CHECKPOINT, &snapshot)
            .await?;
        if !done
            && ctx
                .opts
                .budget
                .is_some_and(|b| shared.started.elapsed() >= b)
        {
            // Nothing buffered may outlive the invocation.
            if lane == Lane::Push {
                let kind = if phase == 5 {
                    ObjectKind::Account
                } else {
                    ObjectKind::Visitor
                };
                push::flush(ctx, kind, true).await?;
                flush_errors(ctx, shared).await?;
            }
            tracing::info!(
                phase = PHASES[phase],
                "time budget reached; continuing in a new invocation"
            );
            return Ok(false);
        }
    }
}

/// Stores the record errors collected so far; each lane reserves its range of indexes first.
async fn flush_errors(ctx: &mut RunCtx<'_>, shared: &Shared) -> Result<(), SyncError> {
    if ctx.errors.is_empty() {
        return Ok(());
    }
    let errors = std::mem::take(&mut ctx.errors);
    let at = shared
        .errors_recorded
        .fetch_add(errors.len() as u64, Ordering::SeqCst);
    if !ctx.opts.dry_run {
        ctx.repo.put_run_errors(&ctx.run, at, &errors).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{as_lanes, Checkpoint};
    use crate::domain::{RunId, Trigger};

    fn cp(phase: usize, after: Option<&str>) -> Checkpoint {
        Checkpoint {
            run_id: RunId::new_at(chrono::Utc::now()),
            trigger: Trigger::Schedule,
            job_id: "j".into(),
            phase,
            after: after.map(String::from),
            pull_phase: None,
            pull_after: None,
            continuations: 0,
        }
    }

    /// A checkpoint stored before the lanes resumes where it stopped.
    #[test]
    fn checkpoints_from_before_the_lanes_resume_in_place() {
        let mut mid_push = cp(4, Some("v-9"));
        as_lanes(&mut mid_push);
        assert_eq!(
            (mid_push.phase, mid_push.after.as_deref()),
            (4, Some("v-9"))
        );
        assert_eq!(mid_push.pull_phase, Some(7));
        let mut mid_pull = cp(8, Some("search"));
        as_lanes(&mut mid_pull);
        assert_eq!(mid_pull.phase, 7, "the push lane is done");
        assert_eq!(
            (mid_pull.pull_phase, mid_pull.pull_after.as_deref()),
            (Some(8), Some("search"))
        );
        let mut finishing = cp(10, Some("3"));
        as_lanes(&mut finishing);
        assert_eq!((finishing.phase, finishing.pull_phase), (10, Some(9)));
    }
}
