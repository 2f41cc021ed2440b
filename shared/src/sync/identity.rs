//! Which HubSpot record a Pendo visitor or account belongs to: the join property first, then
//! normalised e-mail (contacts) or domain (companies). One HubSpot record is synced with at
//! most one Pendo record per run: the first to claim it (Pendo id order) keeps it, any later
//! one is reported ambiguous, so no batch ever holds two inputs for one record.

use std::collections::{HashMap, HashSet};

use super::engine::RunCtx;
use super::push::Candidate;
use super::SyncError;
use crate::domain::{Direction, ObjectKind, RecordError};
use crate::hubspot::HsRecord;

/// A candidate with the HubSpot record it was matched to, and whether the join property must
/// be stamped on that record.
pub(crate) type Matched = (Candidate, String, bool);

/// Claims HubSpot record `hs` for Pendo record `pendo_id` in this run. `Err` names the Pendo
/// record that claimed it first.
pub(crate) fn claim(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    hs: &str,
    pendo_id: &str,
) -> Result<(), String> {
    let holder = ctx
        .claimed
        .entry((kind, hs.to_string()))
        .or_insert_with(|| pendo_id.to_string());
    if holder == pendo_id {
        Ok(())
    } else {
        Err(holder.clone())
    }
}

/// Finds HubSpot records for candidates without a known id: by the join property, then by
/// email (contacts) or domain (companies). Ambiguous matches are reported, never guessed.
pub(crate) async fn resolve(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    join: &str,
    candidates: Vec<Candidate>,
) -> Result<(Vec<Matched>, Vec<Candidate>), SyncError> {
    if candidates.is_empty() {
        return Ok((vec![], vec![]));
    }
    let props = vec![join.to_string(), "email".to_string(), "domain".to_string()];
    let ids: Vec<String> = candidates.iter().map(|c| c.id.clone()).collect();
    let found = ctx.hubspot.read_by(kind, join, &ids, &props).await?;
    let mut by_join: HashMap<String, Vec<HsRecord>> = HashMap::new();
    for r in found {
        if let Some(v) = r.prop(join) {
            by_join.entry(v.to_string()).or_default().push(r);
        }
    }
    let mut resolved = Vec::new();
    let mut rest = Vec::new();
    for c in candidates {
        match by_join.get(&c.id).map(Vec::as_slice) {
            Some([one]) => {
                let hs = one.id.clone();
                matched(ctx, kind, c, hs, false, &mut resolved);
            }
            Some(many) if many.len() > 1 => ambiguous(
                ctx,
                kind,
                &c.id,
                format!("{} HubSpot records share {join}={}", many.len(), c.id),
            ),
            _ => rest.push(c),
        }
    }
    let mut unmatched = Vec::new();
    match kind {
        ObjectKind::Visitor if ctx.config.identity.match_contacts_by_email => {
            let emails: Vec<String> = rest
                .iter()
                .filter_map(|c| c.email.clone())
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let found = if emails.is_empty() {
                vec![]
            } else {
                ctx.hubspot.read_by(kind, "email", &emails, &props).await?
            };
            let by_email: HashMap<String, HsRecord> = found
                .into_iter()
                .filter_map(|r| {
                    r.prop("email")
                        .and_then(super::fields::normalise_email)
                        .map(|e| (e, r.clone()))
                })
                .collect();
            for c in rest {
                let Some(e) = c.email.clone() else {
                    unmatched.push(c);
                    continue;
                };
                match by_email.get(&e) {
                    Some(r) if r.prop(join).is_some_and(|v| v != c.id) => ambiguous(
                        ctx,
                        kind,
                        &c.id,
                        format!(
                            "contact {} with email {e} is already linked to {}",
                            r.id,
                            r.prop(join).unwrap_or("")
                        ),
                    ),
                    Some(r) => {
                        let hs = r.id.clone();
                        matched(ctx, kind, c, hs, true, &mut resolved);
                    }
                    None => unmatched.push(c),
                }
            }
        }
        ObjectKind::Account => {
            for c in rest {
                let Some(domain) = c.domain.clone() else {
                    unmatched.push(c);
                    continue;
                };
                let hits = ctx
                    .hubspot
                    .search_eq(kind, "domain", &domain, &props)
                    .await?;
                match hits.as_slice() {
                    [one] if one.prop(join).is_none_or(|v| v == c.id) => {
                        let hs = one.id.clone();
                        matched(ctx, kind, c, hs, true, &mut resolved);
                    }
                    [] => unmatched.push(c),
                    many => {
                        let n = many.len();
                        ambiguous(
                            ctx,
                            kind,
                            &c.id,
                            format!("{n} companies match domain {domain}"),
                        )
                    }
                }
            }
        }
        _ => unmatched = rest,
    }
    Ok((resolved, unmatched))
}

/// Accepts a match unless another Pendo record already holds that HubSpot record this run.
fn matched(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    c: Candidate,
    hs: String,
    stamp: bool,
    out: &mut Vec<Matched>,
) {
    match claim(ctx, kind, &hs, &c.id) {
        Ok(()) => {
            if stamp {
                ctx.run.counts.resolved += 1;
            }
            out.push((c, hs, stamp));
        }
        Err(holder) => ambiguous(
            ctx,
            kind,
            &c.id,
            format!(
                "HubSpot {} {hs} is already synced with {} {holder}",
                kind.hubspot_object(),
                kind.pendo_kind()
            ),
        ),
    }
}

pub(crate) fn ambiguous(ctx: &mut RunCtx<'_>, kind: ObjectKind, id: &str, message: String) {
    ctx.run.counts.ambiguous += 1;
    ctx.errors.push(RecordError {
        direction: Direction::Push,
        object: kind,
        object_id: id.to_string(),
        field: None,
        message: format!("ambiguous match, not synced: {message}"),
    });
}
