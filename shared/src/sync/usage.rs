//! Usage history: folds Pendo's per-day rollups and NPS answers into each visitor's and
//! account's compact history, fetching only days not folded yet (the first run backfills
//! 360 days in 30-day chunks, resuming where it stopped).

use std::collections::{BTreeMap, HashMap};

use super::engine::{RunCtx, Step};
use super::SyncError;
use crate::domain::{ActivityHistory, LatestNps, ObjectKind};

const CHUNK_DAYS: i32 = 30;
const ROLLUP_PAGE: usize = 5000;
/// NPS answers per page (score rows; a visitor's answers are never split).
const NPS_PAGE: usize = 2000;

fn cursor_name(kind: ObjectKind) -> String {
    format!("activity:{}", kind.code())
}

pub(crate) async fn activity_step(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let today = ctx.opts.today;
    let through: Option<i32> = ctx.repo.get_cursor(ctx.tenant, &cursor_name(kind)).await?;
    let start = through.map_or(today - ctx.opts.backfill_days + 1, |t| t + 1);
    if start > today {
        return Ok(Step::Done);
    }
    let days = CHUNK_DAYS.min(today - start + 1);
    let rows = ctx
        .pendo
        .daily_rollups(kind, start, days as u32, after.as_deref(), ROLLUP_PAGE)
        .await?;
    if rows.is_empty() {
        let end = start + days - 1;
        ctx.repo
            .put_cursor(ctx.tenant, &cursor_name(kind), &end)
            .await?;
        tracing::info!(
            phase = %format!("activity:{}", kind.pendo_kind()),
            through = %crate::domain::day_date(end),
            remaining_days = today - end,
            "usage history chunk folded"
        );
        return Ok(if end >= today {
            Step::Done
        } else {
            Step::More(None)
        });
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
        let h = histories.remove(&id).unwrap_or_default();
        let mut h = h;
        for (day, minutes) in days {
            h.record(day, minutes);
        }
        out.push((id, h));
    }
    ctx.repo.put_activity(ctx.tenant, kind, &out).await?;
    Ok(Step::More(last))
}

/// Folds NPS answers since the last folded day into visitor and account histories, one page
/// of visitors per step (the latest answer per account is kept by read-modify-write, so pages
/// and continuations compose).
pub(crate) async fn nps_step(
    ctx: &mut RunCtx<'_>,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let Some(nps) = ctx.config.nps.clone() else {
        return Ok(Step::Done);
    };
    let today = ctx.opts.today;
    let end = ctx.opts.nps_through.max(today);
    let through: Option<i32> = ctx.repo.get_cursor(ctx.tenant, "nps").await?;
    let start = through.map_or(today - 364, |t| t + 1);
    if start > end {
        return Ok(Step::Done);
    }
    let responses = ctx
        .pendo
        .nps_responses(
            &nps,
            start,
            (end - start + 1) as u32,
            after.as_deref(),
            NPS_PAGE,
        )
        .await?;
    let Some(last) = responses.last().map(|r| r.visitor_id.clone()) else {
        // Folding keeps the latest answer, so reading a partial day again later is harmless;
        // recording it as read would lose the answers given after this run.
        ctx.repo
            .put_cursor(ctx.tenant, "nps", &today.max(start - 1))
            .await?;
        return Ok(Step::Done);
    };
    let mut latest: HashMap<(ObjectKind, String), LatestNps> = HashMap::new();
    for r in responses {
        let entry = LatestNps {
            score: r.score,
            text: r.text.clone(),
            at_ms: r.at_ms,
        };
        let mut keys = vec![(ObjectKind::Visitor, r.visitor_id.clone())];
        if let Some(a) = &r.account_id {
            keys.push((ObjectKind::Account, a.clone()));
        }
        for k in keys {
            if latest.get(&k).is_none_or(|cur| cur.at_ms < entry.at_ms) {
                latest.insert(k, entry.clone());
            }
        }
    }
    for kind in ObjectKind::ALL {
        let items: Vec<(&String, &LatestNps)> = latest
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|((_, id), n)| (id, n))
            .collect();
        for chunk in items.chunks(100) {
            let ids: Vec<String> = chunk.iter().map(|(id, _)| (*id).clone()).collect();
            let mut histories = ctx.repo.get_activity(ctx.tenant, kind, &ids).await?;
            let mut out = Vec::new();
            for (id, n) in chunk {
                let mut h: ActivityHistory = histories.remove(*id).unwrap_or_default();
                if h.nps.as_ref().is_none_or(|cur| cur.at_ms < n.at_ms) {
                    h.nps = Some((*n).clone());
                    out.push(((*id).clone(), h));
                }
            }
            ctx.repo.put_activity(ctx.tenant, kind, &out).await?;
        }
    }
    Ok(Step::More(Some(last)))
}
