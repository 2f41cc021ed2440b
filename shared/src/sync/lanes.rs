//! A run's phases in lanes.
//!
//! HubSpot budgets a portal two ways: 110 requests per 10 s for everything but search, and
//! search on its own at 5 per second (the spec marks search exempt from the ten-secondly limit;
//! hubspot.md "Rate limits"). The push lane (activity → NPS → push → rules) spends the first,
//! the pull lane (the keyset search of modified contacts and companies, then Pendo metadata
//! writes) mostly the second. One after the other, each leaves the other's budget idle; side by
//! side a sync takes about as long as its busier lane. Two more lanes keep the push from
//! waiting on work that is not its own: the link lane matches not-yet-linked records during
//! the usage backfill, the backfill lane reads the accounts' usage beside the visitors', and
//! the NPS lane reads the answers beside both (each is a Pendo read the push needs whole).
//! Segments and custom events run after all of them (events need the links the push stamps).
//!
//! The lanes touch different state (the push: object states and links; the pull: pull states
//! and its cursor) except where the pull reads back what the push owns to find hand edits
//! (`drift`); [`super::in_flight`] keeps those two apart. Each lane checkpoints its own
//! position, and all stop at their next step once the invocation's time budget is spent.

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
    /// Pendo → HubSpot: visitor activity, push, rules. The push waits for the link, backfill
    /// and NPS lanes.
    Push,
    /// The accounts' usage backfill, beside the visitors'.
    Backfill,
    /// NPS answers, beside the usage backfill: both fold into the same histories, one item at a
    /// time under the run's history lock (`RunCtx::histories`).
    Nps,
    /// Matching not-yet-linked records, beside the usage backfill (see [`super::link`]).
    Link,
    /// HubSpot → Pendo: pull of contacts.
    Pull,
    /// The pull of companies, beside the contacts': both spend search's budget, and each
    /// search fills the gaps the other leaves while it writes to Pendo.
    PullAccounts,
    /// Segments and custom events, once the lanes above are done.
    Finish,
}

/// The first push phase: it needs every match the link lane makes.
const PUSH_VISITORS: usize = 4;

impl Lane {
    /// The lane's phases (numbers into [`PHASES`]), in order.
    fn phases(self) -> &'static [usize] {
        match self {
            Lane::Push => &[1, 4, 5, 6],
            Lane::Backfill => &[2],
            Lane::Nps => &[3],
            Lane::Link => &[11, 12],
            Lane::Pull => &[7],
            Lane::PullAccounts => &[8],
            Lane::Finish => &[9, 10],
        }
    }

    /// The phase after `phase`, or one past the lane's end when it is the last.
    fn after(self, phase: usize) -> usize {
        let p = self.phases();
        match p.iter().position(|x| *x == phase) {
            Some(i) if i + 1 < p.len() => p[i + 1],
            _ => self.end(),
        }
    }

    /// The position of a finished lane.
    fn end(self) -> usize {
        self.phases().last().map_or(0, |l| l + 1)
    }

    fn done(self, cp: &Checkpoint) -> bool {
        self.position(cp).0 >= self.end()
    }

    fn position(self, cp: &Checkpoint) -> (usize, Option<String>) {
        match self {
            Lane::Pull => (
                cp.pull_phase.unwrap_or(self.phases()[0]),
                cp.pull_after.clone(),
            ),
            Lane::PullAccounts => (
                cp.pull_accounts_phase.unwrap_or(self.phases()[0]),
                cp.pull_accounts_after.clone(),
            ),
            Lane::Link => (
                cp.link_phase.unwrap_or(self.phases()[0]),
                cp.link_after.clone(),
            ),
            Lane::Backfill => (
                cp.backfill_phase.unwrap_or(self.phases()[0]),
                cp.backfill_after.clone(),
            ),
            Lane::Nps => (
                cp.nps_phase.unwrap_or(self.phases()[0]),
                cp.nps_after.clone(),
            ),
            Lane::Push | Lane::Finish => (cp.phase, cp.after.clone()),
        }
    }

    fn set(self, cp: &mut Checkpoint, phase: usize, after: Option<String>) {
        match self {
            Lane::Pull => {
                cp.pull_phase = Some(phase);
                cp.pull_after = after;
            }
            Lane::PullAccounts => {
                cp.pull_accounts_phase = Some(phase);
                cp.pull_accounts_after = after;
            }
            Lane::Link => {
                cp.link_phase = Some(phase);
                cp.link_after = after;
            }
            Lane::Backfill => {
                cp.backfill_phase = Some(phase);
                cp.backfill_after = after;
            }
            Lane::Nps => {
                cp.nps_phase = Some(phase);
                cp.nps_after = after;
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
    /// the push's rare identity searches land on the other side). The link lane's batch reads
    /// and Pendo pages are counted in whichever push-side phase runs beside them, and the two
    /// pull lanes' searches and writes in both pull phases.
    fn calls(self, ctx: &RunCtx<'_>) -> u64 {
        let hubspot = ctx.hubspot.calls().snapshot();
        let pendo = ctx.pendo.calls().snapshot();
        let pulls = |k: &str| k == "hubspot.search" || k == "pendo.metadata_write";
        hubspot
            .iter()
            .chain(pendo.iter())
            .filter(|(k, _)| match self {
                Lane::Push | Lane::Link | Lane::Backfill | Lane::Nps => !pulls(k),
                Lane::Pull | Lane::PullAccounts => pulls(k),
                Lane::Finish => true,
            })
            .map(|(_, v)| v)
            .sum()
    }
}

/// Reads a checkpoint written before the lanes (one phase index for everything) as lanes.
fn as_lanes(cp: &mut Checkpoint) {
    if cp.link_phase.is_none() {
        // Not started, or a checkpoint from before the link lane: the push matches for itself
        // once it has begun.
        cp.link_phase = Some(if cp.phase < PUSH_VISITORS {
            Lane::Link.phases()[0]
        } else {
            Lane::Link.end()
        });
    }
    if cp.nps_phase.is_none() {
        // Before its lane, NPS (3) ran in the push lane after the usage backfill.
        let nps = Lane::Nps.phases()[0];
        if cp.phase == nps {
            cp.nps_phase = Some(nps);
            cp.nps_after = cp.after.take();
            cp.phase = PUSH_VISITORS;
        } else {
            cp.nps_phase = Some(if cp.phase < nps { nps } else { Lane::Nps.end() });
        }
    }
    if cp.backfill_phase.is_none() {
        let accounts = Lane::Backfill.phases()[0];
        if cp.phase == accounts {
            // Stopped inside the accounts' backfill: it goes on in its lane, the push lane
            // with the push (NPS has its own lane).
            cp.backfill_phase = Some(accounts);
            cp.backfill_after = cp.after.take();
            cp.phase = Lane::Push.after(Lane::Push.phases()[0]);
        } else {
            cp.backfill_phase = Some(if cp.phase < accounts {
                accounts
            } else {
                Lane::Backfill.end()
            });
        }
    }
    if cp.pull_phase.is_none() {
        // Before the lanes the pull ran after the push, contacts (7) then companies (8).
        if [7, 8].contains(&cp.phase) {
            cp.pull_phase = Some(cp.phase);
            cp.pull_after = cp.after.take();
            cp.phase = Lane::Push.end();
        } else if cp.phase < Lane::Push.end() {
            cp.pull_phase = Some(7);
        } else {
            cp.pull_phase = Some(9);
        }
    }
    if cp.pull_accounts_phase.is_none() {
        // One pull lane did contacts (7), then companies (8), then ended (9): the companies go
        // on in their own lane from where it was.
        let (contacts, accounts) = (Lane::Pull, Lane::PullAccounts);
        match cp.pull_phase {
            Some(p) if p <= contacts.phases()[0] => {
                cp.pull_accounts_phase = Some(accounts.phases()[0]);
            }
            Some(p) if p == accounts.phases()[0] => {
                cp.pull_accounts_phase = Some(p);
                cp.pull_accounts_after = cp.pull_after.take();
                cp.pull_phase = Some(contacts.end());
            }
            _ => {
                cp.pull_accounts_phase = Some(accounts.end());
                cp.pull_phase = Some(contacts.end());
            }
        }
    }
}

/// The lanes whose work the push needs whole: matches, the accounts' usage, NPS answers.
const INPUTS: [Lane; 3] = [Lane::Link, Lane::Backfill, Lane::Nps];

/// What the lanes of one invocation share.
struct Shared {
    cp: Mutex<Checkpoint>,
    /// Set when the lane of the same index in [`INPUTS`] returns, done or out of budget.
    returned: [std::sync::atomic::AtomicBool; INPUTS.len()],
    /// Woken when one of the [`INPUTS`] lanes returns (the push waits for all).
    inputs_returned: tokio::sync::Notify,
    /// Record errors stored so far in this run (the next error's index).
    errors_recorded: AtomicU64,
    started: Instant,
}

impl Shared {
    fn cp(&self) -> std::sync::MutexGuard<'_, Checkpoint> {
        self.cp.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs one of the [`INPUTS`] lanes, then wakes the push.
    async fn input_lane(&self, ctx: &mut RunCtx<'_>, input: Lane) -> Result<bool, SyncError> {
        let r = lane(ctx, input, self).await;
        let i = INPUTS
            .iter()
            .position(|l| *l == input)
            .expect("an input lane");
        self.returned[i].store(true, Ordering::SeqCst);
        self.inputs_returned.notify_waiters();
        r
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
        returned: Default::default(),
        inputs_returned: Default::default(),
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
    let pulls_left = [Lane::Pull, Lane::PullAccounts]
        .iter()
        .filter(|l| !l.done(&shared.cp()))
        .count();
    if shared.cp().phase < Lane::Finish.phases()[0] {
        let mut link_ctx = lane_ctx(ctx);
        let mut backfill_ctx = lane_ctx(ctx);
        let mut nps_ctx = lane_ctx(ctx);
        let mut pull_ctx = lane_ctx(ctx);
        let mut pull_accounts_ctx = lane_ctx(ctx);
        pull_ctx.in_flight = Arc::clone(&ctx.in_flight);
        pull_accounts_ctx.in_flight = Arc::clone(&ctx.in_flight);
        ctx.in_flight.watch(pulls_left > 0);
        let pulls_running = std::sync::atomic::AtomicUsize::new(2);
        // Nothing is read back once both pull lanes have returned: stop keeping the push's
        // writes.
        let pull_returned = |in_flight: &super::in_flight::InFlight| {
            if pulls_running.fetch_sub(1, Ordering::SeqCst) == 1 {
                in_flight.watch(false);
            }
        };
        let lanes = tokio::try_join!(
            lane(ctx, Lane::Push, shared),
            async {
                let r = shared.input_lane(&mut link_ctx, Lane::Link).await;
                // Its claims (a million at the largest tenants) need not sit beside the push's:
                // the push claims for itself and finds earlier holders in the stored links.
                link_ctx.claimed = Default::default();
                r
            },
            shared.input_lane(&mut backfill_ctx, Lane::Backfill),
            shared.input_lane(&mut nps_ctx, Lane::Nps),
            async {
                let r = lane(&mut pull_ctx, Lane::Pull, shared).await;
                pull_returned(&pull_ctx.in_flight);
                r
            },
            async {
                let r = lane(&mut pull_accounts_ctx, Lane::PullAccounts, shared).await;
                pull_returned(&pull_accounts_ctx.in_flight);
                r
            }
        );
        ctx.in_flight.watch(false);
        for other in [link_ctx, backfill_ctx, nps_ctx, pull_ctx, pull_accounts_ctx] {
            merge(ctx, other);
        }
        let (push_done, link_done, backfill_done, nps_done, pull_done, pull_accounts_done) = lanes?;
        if !(push_done && link_done && backfill_done && nps_done && pull_done && pull_accounts_done)
        {
            return Ok(false);
        }
        let mut cp = shared.cp();
        cp.phase = Lane::Finish.phases()[0];
        cp.after = None;
    }
    lane(ctx, Lane::Finish, shared).await
}

/// A context for a lane beside the main one: same run, clients and schema facts; its own
/// counts, phases and buffers.
fn lane_ctx<'a>(ctx: &RunCtx<'a>) -> RunCtx<'a> {
    let mut other = RunCtx::new(RunCtxParts {
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
    other.pendo_types = ctx.pendo_types.clone();
    other.enum_labels = ctx.enum_labels.clone();
    other.excluded_fields = ctx.excluded_fields.clone();
    other.histories = Arc::clone(&ctx.histories);
    other
}

/// Adds a finished lane's counts, phases and samples to the run.
fn merge(ctx: &mut RunCtx<'_>, other: RunCtx<'_>) {
    ctx.run.counts.add(&other.run.counts);
    for p in other.run.phases {
        ctx.run.add_phase(&p.phase, p.seconds, p.api_calls);
    }
    for w in other.planned {
        ctx.planned(w);
    }
    let room = 6usize.saturating_sub(ctx.samples.len());
    ctx.samples.extend(other.samples.into_iter().take(room));
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
        10 => super::events::events_step(ctx, after).await?,
        11 => super::link::link_step(ctx, ObjectKind::Visitor, after).await?,
        12 => super::link::link_step(ctx, ObjectKind::Account, after).await?,
        _ => Step::Done,
    })
}

/// Runs one lane's steps until its last phase is done (`Ok(true)`) or the budget is spent
/// (`Ok(false)`), storing the checkpoint after every step.
async fn lane(ctx: &mut RunCtx<'_>, lane: Lane, shared: &Shared) -> Result<bool, SyncError> {
    loop {
        let (phase, after) = lane.position(&shared.cp());
        if phase >= lane.end() {
            return Ok(true);
        }
        if lane == Lane::Push && phase == PUSH_VISITORS && !wait_for_inputs(shared).await {
            return Ok(false);
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
                Step::Done => lane.set(&mut cp, lane.after(phase), None),
                Step::More(a) => lane.set(&mut cp, phase, a),
            }
            lane.done(&cp)
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

/// Waits until the [`INPUTS`] lanes have returned; `false` when one stopped short (out of
/// budget), so the push must not start without its matches, the accounts' usage or NPS.
async fn wait_for_inputs(shared: &Shared) -> bool {
    let all_returned = || {
        INPUTS
            .iter()
            .zip(&shared.returned)
            .all(|(lane, flag)| flag.load(Ordering::SeqCst) || lane.done(&shared.cp()))
    };
    loop {
        // Registered before the check, so a lane returning in between still wakes us.
        let notified = shared.inputs_returned.notified();
        let mut notified = std::pin::pin!(notified);
        notified.as_mut().enable();
        if all_returned() {
            break;
        }
        notified.await;
    }
    let cp = shared.cp();
    INPUTS.iter().all(|lane| lane.done(&cp))
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
            pull_accounts_phase: None,
            pull_accounts_after: None,
            link_phase: None,
            link_after: None,
            backfill_phase: None,
            backfill_after: None,
            nps_phase: None,
            nps_after: None,
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
        assert_eq!(
            (mid_push.pull_phase, mid_push.pull_accounts_phase),
            (Some(7), Some(8))
        );
        assert_eq!(mid_push.link_phase, Some(13), "the push matches for itself");
        assert_eq!(mid_push.backfill_phase, Some(3), "accounts were backfilled");
        assert_eq!(mid_push.nps_phase, Some(4), "NPS was read");
        let mut fresh = cp(0, None);
        as_lanes(&mut fresh);
        assert_eq!(
            (
                fresh.link_phase,
                fresh.pull_phase,
                fresh.backfill_phase,
                fresh.nps_phase
            ),
            (Some(11), Some(7), Some(2), Some(3))
        );
        let mut mid_nps = cp(3, Some("v-5"));
        as_lanes(&mut mid_nps);
        assert_eq!(
            (
                mid_nps.phase,
                mid_nps.after.as_deref(),
                mid_nps.nps_phase,
                mid_nps.nps_after.as_deref()
            ),
            (4, None, Some(3), Some("v-5")),
            "NPS goes on in its lane, the push waits for it"
        );
        assert_eq!(
            (mid_nps.backfill_phase, mid_nps.link_phase),
            (Some(3), Some(11)),
            "accounts were backfilled; nothing was pushed, so the link lane runs"
        );
        let mut mid_accounts = cp(2, Some("acct-7"));
        as_lanes(&mut mid_accounts);
        assert_eq!(
            (
                mid_accounts.phase,
                mid_accounts.backfill_phase,
                mid_accounts.backfill_after.as_deref()
            ),
            (4, Some(2), Some("acct-7")),
            "the accounts' backfill goes on in its lane, the push waits for it"
        );
        assert_eq!(mid_accounts.nps_phase, Some(3), "NPS was not read yet");
        assert_eq!(mid_accounts.after, None);
        let mut mid_pull = cp(8, Some("search"));
        as_lanes(&mut mid_pull);
        assert_eq!(mid_pull.phase, 7, "the push lane is done");
        assert_eq!(
            (
                mid_pull.pull_phase,
                mid_pull.pull_accounts_phase,
                mid_pull.pull_accounts_after.as_deref()
            ),
            (Some(8), Some(8), Some("search")),
            "contacts done, the companies go on in their lane"
        );
        let mut finishing = cp(10, Some("3"));
        as_lanes(&mut finishing);
        assert_eq!(
            (
                finishing.phase,
                finishing.pull_phase,
                finishing.pull_accounts_phase
            ),
            (10, Some(8), Some(9))
        );
    }

    /// A checkpoint from one pull lane (contacts, then companies) resumes in two.
    #[test]
    fn one_pull_lane_checkpoints_resume_in_two() {
        let lanes = |pull_phase: usize, pull_after: Option<&str>| {
            let mut c = cp(4, Some("v-1"));
            c.pull_phase = Some(pull_phase);
            c.pull_after = pull_after.map(String::from);
            c.link_phase = Some(13);
            c.backfill_phase = Some(3);
            as_lanes(&mut c);
            (
                c.pull_phase,
                c.pull_after,
                c.pull_accounts_phase,
                c.pull_accounts_after,
            )
        };
        assert_eq!(
            lanes(7, Some("search")),
            (Some(7), Some("search".into()), Some(8), None)
        );
        assert_eq!(
            lanes(8, Some("search")),
            (Some(8), None, Some(8), Some("search".into()))
        );
        assert_eq!(lanes(9, None), (Some(8), None, Some(9), None));
    }
}
