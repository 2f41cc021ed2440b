//! Usage history: folds Pendo's per-day rollups into each visitor's and account's compact
//! history. Which days are read (new days, the trailing re-read window, or the periodic full
//! re-read) is decided in [`super::reread`]; a re-read range replaces what was stored for it.

use std::collections::BTreeMap;

use super::engine::{RunCtx, Step};
use super::reread::{current_plan, finish_plan, save_plan, ReadPlan, Source};
use super::SyncError;
use crate::domain::{ActivityHistory, ObjectKind};
use crate::pendo::{DayRollup, PendoApi, PendoError};

const CHUNK_DAYS: i32 = 30;
const ROLLUP_PAGE: usize = 5000;

pub(crate) async fn activity_step(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let source = Source::Activity(kind);
    let today = ctx.opts.today;
    let Some(mut plan) = current_plan(ctx, source, ctx.opts.backfill_days, today).await? else {
        return Ok(Step::Done);
    };
    let start = plan.next;
    let days = CHUNK_DAYS.min(today - start + 1);
    let end = start + days - 1;
    let page = Page {
        kind,
        first_day: start,
        days: days as u32,
        after,
    };
    let rows = match ctx.prefetched_rollups.take() {
        Some((p, rows)) if p == page => rows,
        _ => page.read(ctx.pendo).await?,
    };
    if rows.is_empty() {
        tracing::info!(
            phase = %format!("activity:{}", kind.pendo_kind()),
            through = %crate::domain::day_date(end),
            remaining_days = today - end,
            full = plan.full,
            "usage history chunk folded"
        );
        if end >= today {
            finish_plan(ctx, source, &plan, today).await?;
            return Ok(Step::Done);
        }
        plan.next = end + 1;
        save_plan(ctx, source, &plan).await?;
        return Ok(Step::More(None));
    }
    let last = rows.last().map(|r| r.id.clone());
    // The next page is read while this one is folded and stored: Pendo's side of the work and
    // ours overlap instead of taking turns.
    let next = Page {
        after: last.clone(),
        ..page
    };
    let pendo = ctx.pendo;
    let prefetch = async {
        let rows = next.read(pendo).await.ok()?;
        Some((next.clone(), rows))
    };
    let (stored, prefetched) = tokio::join!(fold_and_store(ctx, &plan, &page, rows), prefetch);
    stored?;
    ctx.prefetched_rollups = prefetched;
    Ok(Step::More(last))
}

/// One page of one chunk of the usage backfill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Page {
    kind: ObjectKind,
    first_day: i32,
    days: u32,
    after: Option<String>,
}

impl Page {
    async fn read(&self, pendo: &dyn PendoApi) -> Result<Vec<DayRollup>, PendoError> {
        pendo
            .daily_rollups(
                self.kind,
                self.first_day,
                self.days,
                self.after.as_deref(),
                ROLLUP_PAGE,
            )
            .await
    }
}

/// Folds one page of rollups into the stored histories (the page's days replace what was
/// stored for them).
async fn fold_and_store(
    ctx: &RunCtx<'_>,
    plan: &ReadPlan,
    page: &Page,
    rows: Vec<DayRollup>,
) -> Result<(), SyncError> {
    let (kind, start) = (page.kind, page.first_day);
    let end = start + page.days as i32 - 1;
    let mut by_id: BTreeMap<String, Vec<(i32, u32)>> = BTreeMap::new();
    for r in rows {
        by_id.entry(r.id).or_default().push((r.day, r.minutes));
    }
    let ids: Vec<String> = by_id.keys().cloned().collect();
    update_histories(ctx, kind, &ids, |i, h| {
        if h.generation < plan.generation {
            // First seen in this generation: what it held before was not seen again.
            h.days.clear();
            h.generation = plan.generation;
        }
        h.replace_range(start, end, &by_id[&ids[i]]);
    })
    .await
}

/// Reads the stored histories of `ids` (an absent one as empty), lets `change` edit each (with
/// its index in `ids`), and stores those that changed, all under the run's history lock
/// (`RunCtx::histories`): the usage backfill and NPS fold into the same items from lanes that
/// run side by side, and each stores whole items, so an unlocked read-change-store could drop
/// what the other folded in meanwhile.
pub(crate) async fn update_histories(
    ctx: &RunCtx<'_>,
    kind: ObjectKind,
    ids: &[String],
    mut change: impl FnMut(usize, &mut ActivityHistory),
) -> Result<(), SyncError> {
    let _held = ctx.histories.lock().await;
    let mut stored = ctx.repo.get_activity(ctx.tenant, kind, ids).await?;
    let mut out = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let before = stored.remove(id).unwrap_or_default();
        let mut h = before.clone();
        change(i, &mut h);
        if h != before {
            out.push((id.clone(), h));
        }
    }
    if !out.is_empty() {
        ctx.repo.put_activity(ctx.tenant, kind, &out).await?;
    }
    Ok(())
}
