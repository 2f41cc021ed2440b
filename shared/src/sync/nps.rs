//! NPS: folds answers into visitor and account histories (the latest answer wins), one page of
//! visitors per step. The days read come from [`super::reread`] like activity: new days, the
//! trailing window again (an answer processed late, a text typed after the run that read its
//! score), and the whole year on each full re-read (erased answers go).

use std::collections::HashMap;

use super::engine::{RunCtx, Step};
use super::reread::{current_plan, finish_plan, Source};
use super::usage::update_histories;
use super::SyncError;
use crate::domain::{LatestNps, ObjectKind};

/// NPS answers per page (score rows; a visitor's answers are never split).
const NPS_PAGE: usize = 2000;
/// How far back answers are read on a full read.
const NPS_DAYS: i32 = 365;

pub(crate) async fn nps_step(
    ctx: &mut RunCtx<'_>,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let Some(nps) = ctx.config.nps.clone() else {
        return Ok(Step::Done);
    };
    let today = ctx.opts.today;
    let end = ctx.opts.nps_through.max(today);
    let Some(plan) = current_plan(ctx, Source::Nps, NPS_DAYS, end).await? else {
        return Ok(Step::Done);
    };
    let start = plan.next;
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
        // Only complete days are recorded as read: a partial day read by a webhook job is
        // read again by the next run.
        finish_plan(ctx, Source::Nps, &plan, today).await?;
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
            update_histories(ctx, kind, &ids, |i, h| {
                let n = chunk[i].1;
                if h.nps_generation < plan.generation {
                    h.nps = None;
                    h.nps_generation = plan.generation;
                }
                // The same answer read again may now carry its text (typed after the last read).
                let newer =
                    |cur: &LatestNps| cur.at_ms < n.at_ms || (cur.at_ms == n.at_ms && cur != n);
                if h.nps.as_ref().is_none_or(newer) {
                    h.nps = Some(n.clone());
                }
            })
            .await?;
        }
    }
    Ok(Step::More(Some(last)))
}
