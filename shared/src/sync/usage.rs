//! Usage history: folds Pendo's per-day rollups into each visitor's and account's compact
//! history. Which days are read (new days, the trailing re-read window, or the periodic full
//! re-read) is decided in [`super::reread`]; a re-read range replaces what was stored for it.

use std::collections::BTreeMap;

use super::engine::{RunCtx, Step};
use super::reread::{current_plan, finish_plan, save_plan, Source};
use super::SyncError;
use crate::domain::ObjectKind;

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
    let rows = ctx
        .pendo
        .daily_rollups(kind, start, days as u32, after.as_deref(), ROLLUP_PAGE)
        .await?;
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
    let mut by_id: BTreeMap<String, Vec<(i32, u32)>> = BTreeMap::new();
    for r in rows {
        by_id.entry(r.id).or_default().push((r.day, r.minutes));
    }
    let ids: Vec<String> = by_id.keys().cloned().collect();
    let mut histories = ctx.repo.get_activity(ctx.tenant, kind, &ids).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, days) in by_id {
        let stored = histories.remove(&id).unwrap_or_default();
        let mut h = stored.clone();
        if h.generation < plan.generation {
            // First seen in this generation: what it held before was not seen again.
            h.days.clear();
            h.generation = plan.generation;
        }
        h.replace_range(start, end, &days);
        if h != stored {
            out.push((id, h));
        }
    }
    ctx.repo.put_activity(ctx.tenant, kind, &out).await?;
    Ok(Step::More(last))
}
