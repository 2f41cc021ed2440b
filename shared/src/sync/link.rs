//! Join keys ahead of the push. Matching a Pendo record to its HubSpot record is one batch read
//! per 100 (by the join property, then e-mail or domain) and needs no usage history; writing
//! needs the history, which the first sync (and each weekly full re-read) spends minutes of
//! Pendo reads building while HubSpot's request budget sits idle. So the link lane matches
//! every not-yet-linked record beside that backfill and stores the match; the push then only
//! writes (stamping the join property where the match was by e-mail or domain).
//!
//! Daily runs in between leave new records to the push's own matching: they are few, and a
//! pass over every Pendo record would cost more Pendo reads than it saves.

use super::engine::{RunCtx, Step};
use super::identity::resolve;
use super::push::{pendo_page, Candidate, Flagged};
use super::SyncError;
use crate::domain::{ObjectKind, ObjectState};
use std::collections::HashMap;

fn cursor_name(kind: ObjectKind) -> String {
    format!("linked:{}", kind.code())
}

pub(crate) async fn link_step(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let today = ctx.opts.today;
    if after.is_none() {
        let last: Option<i32> = ctx.repo.get_cursor(ctx.tenant, &cursor_name(kind)).await?;
        if last.is_some_and(|d| today - d < ctx.opts.reconcile_every_days) {
            return Ok(Step::Done);
        }
    }
    let (page, page_last) = pendo_page(ctx, kind, after, Flagged::Skip).await?;
    let Some(last) = page_last else {
        if !ctx.opts.dry_run {
            ctx.repo
                .put_cursor(ctx.tenant, &cursor_name(kind), &today)
                .await?;
        }
        return Ok(Step::Done);
    };
    let ids: Vec<String> = page.iter().map(|p| p.0.clone()).collect();
    let mut states = ctx.repo.get_object_states(ctx.tenant, kind, &ids).await?;
    let candidates: Vec<Candidate> = page
        .into_iter()
        .filter_map(|(id, email, domain, _, _)| {
            let state = states.remove(&id).unwrap_or_default();
            (state.hubspot_id.is_none() && state.unmatched_day != Some(today))
                .then(|| Candidate::to_link(id, email.as_deref(), domain.as_deref(), state))
        })
        .collect();
    let join = ctx.config.join_property(kind).to_string();
    let mut tried: HashMap<String, ObjectState> = candidates
        .iter()
        .map(|c| (c.id.clone(), c.state.clone()))
        .collect();
    let (resolved, unmatched) = resolve(ctx, kind, &join, candidates).await?;
    for c in resolved.iter().map(|m| &m.0).chain(&unmatched) {
        tried.remove(&c.id);
    }
    let creates = kind == ObjectKind::Visitor && ctx.config.identity.create_missing_contacts;
    let mut done = Vec::with_capacity(resolved.len());
    for (mut c, hs, stamp) in resolved {
        c.state.hubspot_id = Some(hs);
        c.state.restamp = stamp;
        // Never written with these values: the push writes it.
        c.state.fingerprint = None;
        done.push((c.id, c.state));
    }
    if !creates {
        // Counted (once) by the push, which skips them today.
        for mut c in unmatched {
            c.state.unmatched_day = Some(today);
            done.push((c.id, c.state));
        }
    }
    // What is left was reported ambiguous: the push does not report it again today.
    for (id, mut state) in tried {
        state.ambiguous_in = Some(ctx.run.run_id.clone());
        done.push((id, state));
    }
    ctx.repo.put_object_states(ctx.tenant, kind, &done).await?;
    Ok(Step::More(Some(last)))
}
