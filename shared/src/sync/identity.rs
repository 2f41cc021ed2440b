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

/// HubSpot records claimed by a Pendo record in one invocation. A daily run claims every
/// linked record (a million at the largest tenants), so each claim is 16 bytes: the HubSpot id
/// and a 64-bit digest of the Pendo id (two Pendo ids sharing a digest is a 2⁻⁶⁴ event). One
/// table per kind keeps the kind out of the key (24 bytes a claim with it, and a table that
/// doubles at a million holds both sizes for a moment: 39 MB against 27 MB).
#[derive(Default)]
pub(crate) struct Claims {
    contacts: HashMap<u64, u64>,
    companies: HashMap<u64, u64>,
}

fn digest(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

impl Claims {
    /// Claims HubSpot record `hs` for Pendo record `pendo_id`; `false` when another Pendo
    /// record claimed it first.
    pub(crate) fn claim(&mut self, kind: ObjectKind, hs: &str, pendo_id: &str) -> bool {
        // HubSpot ids are numeric; anything else is keyed by its digest.
        let record = hs.parse::<u64>().unwrap_or_else(|_| digest(hs));
        let mine = digest(pendo_id);
        let table = match kind {
            ObjectKind::Visitor => &mut self.contacts,
            ObjectKind::Account => &mut self.companies,
        };
        *table.entry(record).or_insert(mine) == mine
    }
}

/// Claims HubSpot record `hs` for Pendo record `pendo_id` in this run (see [`Claims`]).
pub(crate) fn claim(ctx: &mut RunCtx<'_>, kind: ObjectKind, hs: &str, pendo_id: &str) -> bool {
    ctx.claimed.claim(kind, hs, pendo_id)
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
    let props = vec![
        join.to_string(),
        "email".to_string(),
        "domain".to_string(),
        ADDITIONAL_EMAILS.to_string(),
    ];
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
                matched(ctx, kind, c, hs, false, &mut resolved).await?;
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
            let mut no_primary = Vec::new();
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
                        matched(ctx, kind, c, hs, true, &mut resolved).await?;
                    }
                    None => no_primary.push(c),
                }
            }
            unmatched.extend(by_secondary(ctx, join, no_primary, &props, &mut resolved).await?);
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
                        matched(ctx, kind, c, hs, true, &mut resolved).await?;
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

/// Matches visitors whose e-mail is no contact's primary address against contacts' additional
/// addresses (`hs_additional_emails`; HubSpot also refuses to create a contact for such an
/// address, hubspot.md §8 pitfall 5). A visitor is searched when first seen unmatched, then
/// weekly, and always before a contact would be created for it.
async fn by_secondary(
    ctx: &mut RunCtx<'_>,
    join: &str,
    candidates: Vec<Candidate>,
    props: &[String],
    resolved: &mut Vec<Matched>,
) -> Result<Vec<Candidate>, SyncError> {
    let today = ctx.opts.today;
    let creating = ctx.config.identity.create_missing_contacts;
    let due = |c: &Candidate| {
        c.email.is_some()
            && (creating
                || c.state
                    .secondary_day
                    .is_none_or(|d| d <= today - SECONDARY_RECHECK_DAYS))
    };
    let emails: Vec<String> = candidates
        .iter()
        .filter(|c| due(c))
        .filter_map(|c| c.email.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if emails.is_empty() {
        return Ok(candidates);
    }
    let kind = ObjectKind::Visitor;
    let found = ctx
        .hubspot
        .search_any(kind, ADDITIONAL_EMAILS, &emails, props)
        .await?;
    let mut by_email: HashMap<String, Vec<HsRecord>> = HashMap::new();
    for r in found {
        for e in r
            .prop(ADDITIONAL_EMAILS)
            .unwrap_or_default()
            .split(';')
            .filter_map(super::fields::normalise_email)
        {
            let hits = by_email.entry(e).or_default();
            if !hits.iter().any(|h| h.id == r.id) {
                hits.push(r.clone());
            }
        }
    }
    let mut unmatched = Vec::new();
    for mut c in candidates {
        if !due(&c) {
            unmatched.push(c);
            continue;
        }
        let e = c.email.clone().unwrap_or_default();
        match by_email.get(&e).map(Vec::as_slice) {
            Some([r]) if r.prop(join).is_some_and(|v| v != c.id) => ambiguous(
                ctx,
                kind,
                &c.id,
                format!(
                    "contact {} with additional email {e} is already linked to {}",
                    r.id,
                    r.prop(join).unwrap_or("")
                ),
            ),
            Some([r]) => {
                let hs = r.id.clone();
                matched(ctx, kind, c, hs, true, resolved).await?;
            }
            Some(many) if many.len() > 1 => ambiguous(
                ctx,
                kind,
                &c.id,
                format!("{} contacts list {e} as an additional email", many.len()),
            ),
            _ => {
                c.state.secondary_day = Some(today);
                unmatched.push(c);
            }
        }
    }
    Ok(unmatched)
}

/// HubSpot's `;`-separated list of a contact's other e-mail addresses.
const ADDITIONAL_EMAILS: &str = "hs_additional_emails";
const SECONDARY_RECHECK_DAYS: i32 = 7;

/// Accepts a match unless another Pendo record already holds that HubSpot record this run.
async fn matched(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    c: Candidate,
    hs: String,
    stamp: bool,
    out: &mut Vec<Matched>,
) -> Result<(), SyncError> {
    if claim(ctx, kind, &hs, &c.id) {
        if stamp {
            ctx.run.counts.resolved += 1;
        }
        out.push((c, hs, stamp));
        Ok(())
    } else {
        already_synced(ctx, kind, &c.id, &hs).await
    }
}

/// `id` matched HubSpot record `hs`, which another Pendo record already claimed in this run:
/// reported ambiguous (naming that record when its link is stored), never written twice.
pub(crate) async fn already_synced(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    id: &str,
    hs: &str,
) -> Result<(), SyncError> {
    let holder = ctx
        .repo
        .get_links(ctx.tenant, kind, &[hs.to_string()])
        .await?
        .remove(hs)
        .filter(|h| h != id)
        .map_or_else(
            || format!("another Pendo {} in this run", kind.pendo_kind()),
            |h| format!("{} {h}", kind.pendo_kind()),
        );
    ambiguous(
        ctx,
        kind,
        id,
        format!(
            "HubSpot {} {hs} is already synced with {holder}",
            kind.hubspot_object()
        ),
    );
    Ok(())
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
