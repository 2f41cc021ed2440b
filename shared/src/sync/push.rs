//! Pendo → HubSpot: one page of visitors or accounts per step. Joins each record to its
//! HubSpot contact/company (resolving and stamping the id where missing), and writes only
//! records whose fingerprint changed, ≤100 per call.

use chrono::Utc;
use serde_json::json;
use std::collections::{BTreeMap, HashMap};

use super::create::create_missing;
use super::engine::{RunCtx, Step};
use super::fields::{
    diff_record, in_property_order, normalise_domain, normalise_email, FieldInputs,
};
use super::identity::{already_synced, claim, resolve, Matched};
use super::{PlannedWrite, SyncError};
use crate::domain::{Direction, Failure, ObjectKind, ObjectState, RecordError};
use crate::hubspot::WriteInput;

/// (id, email, domain, first visit, last visit) of one Pendo visitor or account.
pub(crate) type PendoRecord = (
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

/// One Pendo record, ready to join and write.
pub(crate) struct Candidate {
    pub(crate) id: String,
    pub(crate) email: Option<String>,
    pub(crate) domain: Option<String>,
    pub(crate) values: BTreeMap<String, String>,
    fingerprint: String,
    pub(crate) state: ObjectState,
}

pub(crate) async fn push_step(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
) -> Result<Step, SyncError> {
    let (page, page_last) = pendo_page(ctx, kind, after, Flagged::Withhold).await?;
    let Some(last) = page_last else {
        flush(ctx, kind, true).await?;
        return Ok(Step::Done);
    };
    push_records(ctx, kind, page).await?;
    Ok(Step::More(Some(last)))
}

/// What a page does with visitors Pendo flags do-not-process.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flagged {
    /// Leave them out, count them and clear what HubSpot still holds of them (the push).
    Withhold,
    /// Only leave them out (the link lane: the push does the rest, once).
    Skip,
}

/// One keyset page of Pendo visitors (do-not-process ones handled as `flagged` says) or
/// accounts, and the id the next page starts after (`None`: no more pages).
pub(crate) async fn pendo_page(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    after: Option<String>,
    flagged: Flagged,
) -> Result<(Vec<PendoRecord>, Option<String>), SyncError> {
    // The keyset position is the page's last id, flagged visitors included.
    let mut page_last = None;
    let page: Vec<PendoRecord> = match kind {
        ObjectKind::Visitor => {
            let visitors = ctx
                .pendo
                .visitors_page(after.as_deref(), ctx.opts.page_size)
                .await?;
            page_last = visitors.last().map(|v| v.id.clone());
            let allowed = match flagged {
                Flagged::Withhold => super::privacy::withhold_flagged(ctx, visitors).await?,
                Flagged::Skip => visitors.into_iter().filter(|v| !v.do_not_process).collect(),
            };
            allowed
                .into_iter()
                .map(|v| (v.id, v.email, None, v.first_visit_ms, v.last_visit_ms))
                .collect()
        }
        ObjectKind::Account => {
            if ctx.account_visitors.is_none() {
                ctx.account_visitors = Some(ctx.pendo.account_visitor_counts().await?);
            }
            let field = ctx.config.identity.account_domain_field.clone();
            ctx.pendo
                .accounts_page(after.as_deref(), ctx.opts.page_size, field.as_deref())
                .await?
                .into_iter()
                .map(|a| (a.id, None, a.domain, a.first_visit_ms, a.last_visit_ms))
                .collect()
        }
    };
    let last = page_last.or_else(|| page.last().map(|p| p.0.clone()));
    Ok((page, last))
}

/// Joins and writes one batch of Pendo records (a page of the full push, or the records a
/// scoped sync names); updates are buffered until a full batch, see [`flush`].
pub(crate) async fn push_records(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    page: Vec<PendoRecord>,
) -> Result<(), SyncError> {
    let today = ctx.opts.today;
    let fields = in_property_order(
        ctx.config
            .push_for(kind)
            .filter(|f| !ctx.excluded_fields.contains(f)),
    );
    let ids: Vec<String> = page.iter().map(|p| p.0.clone()).collect();
    let mut states = ctx.repo.get_object_states(ctx.tenant, kind, &ids).await?;
    let generations = super::reread::generations(ctx, kind).await?;
    let histories: HashMap<String, _> = ctx
        .repo
        .get_activity(ctx.tenant, kind, &ids)
        .await?
        .into_iter()
        .map(|(id, h)| (id, h.current(generations)))
        .collect();
    let mut candidates = Vec::with_capacity(page.len());
    for (id, email, domain, first, last_visit) in page {
        let input = FieldInputs {
            first_visit_ms: first,
            last_visit_ms: last_visit,
            history: histories.get(&id),
            total_visitors: ctx
                .account_visitors
                .as_ref()
                .map(|m| m.get(&id).copied().unwrap_or(0)),
        };
        let state = states.remove(&id).unwrap_or_default();
        // What was last written, if the record is linked and nothing failed since: an equal
        // fingerprint makes it unchanged below, and its values are not needed.
        let stored = state
            .fingerprint
            .as_deref()
            .filter(|_| state.hubspot_id.is_some() && state.failure.is_none());
        let diff = diff_record(fields.iter().copied(), &input, today, stored);
        for (f, message) in diff.invalid {
            ctx.errors.push(RecordError {
                direction: Direction::Push,
                object: kind,
                object_id: id.clone(),
                field: Some(f.property().to_string()),
                message,
            });
        }
        candidates.push(Candidate {
            state,
            email: email.as_deref().and_then(normalise_email),
            domain: domain.as_deref().and_then(normalise_domain),
            id,
            values: diff.values.unwrap_or_default(),
            fingerprint: diff.fingerprint,
        });
    }

    let mut to_write: Vec<Matched> = Vec::new();
    let mut unresolved = Vec::new();
    let mut done_states: Vec<(String, ObjectState)> = Vec::new();
    for mut c in candidates {
        match c.state.hubspot_id.clone() {
            Some(hs)
                if c.state.fingerprint.as_deref() == Some(c.fingerprint.as_str())
                    && c.state.failure.is_none() =>
            {
                claim(ctx, kind, &hs, &c.id);
                ctx.run.counts.unchanged += 1;
            }
            Some(hs) if claim(ctx, kind, &hs, &c.id) => {
                let restamp = c.state.restamp;
                to_write.push((c, hs, restamp));
            }
            Some(hs) => {
                // Two stored links to one record (e.g. after a merge in HubSpot): the later
                // one is dropped and matched again next run.
                already_synced(ctx, kind, &c.id, &hs).await?;
                c.state.hubspot_id = None;
                c.state.fingerprint = None;
                done_states.push((c.id.clone(), c.state));
            }
            None if c.state.unmatched_day == Some(today) => ctx.run.counts.unmatched += 1,
            // Reported by the link lane of this run already.
            None if c.state.ambiguous_in.as_ref() == Some(&ctx.run.run_id) => {}
            None => unresolved.push(c),
        }
    }

    let join = ctx.config.join_property(kind).to_string();
    let (resolved, unmatched) = resolve(ctx, kind, &join, unresolved).await?;
    to_write.extend(resolved);
    let mut creates = Vec::new();
    for mut c in unmatched {
        if kind == ObjectKind::Visitor && ctx.config.identity.create_missing_contacts {
            creates.push(c);
        } else {
            ctx.run.counts.unmatched += 1;
            c.state.unmatched_day = Some(today);
            done_states.push((c.id.clone(), c.state));
        }
    }

    if ctx.opts.dry_run {
        for (c, hs, _) in to_write.iter() {
            ctx.planned(c.planned(kind, hs));
        }
        ctx.run.counts.pushed += (to_write.len() + creates.len()) as u64;
        return Ok(());
    }

    // Updates are buffered across pages and sent in full batches of 100, so a sync that
    // changes k records costs ⌈k/100⌉ calls however they are spread over the pages.
    for (c, hs, stamp) in to_write {
        let mut properties = c.values.clone();
        if stamp {
            properties.insert(join.clone(), c.id.clone());
        }
        ctx.pending.push(Pending {
            candidate: c,
            hubspot_id: hs,
            properties,
        });
    }
    if !creates.is_empty() {
        let (states, recovered) = create_missing(ctx, kind, &join, creates).await?;
        done_states.extend(states);
        for (c, hs, _) in recovered {
            let mut properties = c.values.clone();
            properties.insert(join.clone(), c.id.clone());
            ctx.pending.push(Pending {
                candidate: c,
                hubspot_id: hs,
                properties,
            });
        }
    }
    ctx.repo
        .put_object_states(ctx.tenant, kind, &done_states)
        .await?;
    flush(ctx, kind, false).await?;
    Ok(())
}

/// A record waiting for its batch.
pub(crate) struct Pending {
    candidate: Candidate,
    hubspot_id: String,
    properties: BTreeMap<String, String>,
}

/// Sends buffered updates: full batches of 100, or everything when `all` (end of a phase or
/// of an invocation). Their state is stored right after the call.
pub(crate) async fn flush(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    all: bool,
) -> Result<(), SyncError> {
    let take = if all {
        ctx.pending.len()
    } else {
        ctx.pending.len() / BATCH * BATCH
    };
    if take == 0 {
        return Ok(());
    }
    let batch: Vec<Pending> = ctx.pending.drain(..take).collect();
    let now = Utc::now();
    let mut by_hs: HashMap<String, Candidate> = HashMap::new();
    let mut inputs = Vec::with_capacity(batch.len());
    let join = ctx.config.join_property(kind).to_string();
    // Records this write stamps with the join property, and records it links for the first
    // time (one matched by the push after an earlier attempt stamped it and stopped).
    let stamps: std::collections::HashSet<String> = batch
        .iter()
        .filter(|p| p.properties.contains_key(&join) || p.candidate.state.hubspot_id.is_none())
        .map(|p| p.hubspot_id.clone())
        .collect();
    for p in batch {
        inputs.push(WriteInput {
            key: p.hubspot_id.clone(),
            properties: p.properties,
        });
        by_hs.insert(p.hubspot_id, p.candidate);
    }
    let sent_at = Utc::now().timestamp_millis();
    let in_flight = std::sync::Arc::clone(&ctx.in_flight);
    let ids: Vec<String> = by_hs.keys().cloned().collect();
    in_flight.begin(ids.iter().map(String::as_str));
    let outcome = ctx.hubspot.update(kind, inputs).await?;
    super::own_writes::note_push(ctx, sent_at, Utc::now().timestamp_millis()).await?;
    let mut done_states = Vec::new();
    let mut links = Vec::new();
    let mut stamped = Vec::new();
    for (sent_to, answered_by) in outcome.ok {
        if stamps.contains(&sent_to) {
            stamped.push(answered_by.clone());
        }
        if let Some(c) = by_hs.remove(&sent_to) {
            // A merged record answers with its survivor's id: the link moves there.
            links.push((answered_by.clone(), c.id.clone()));
            done_states.push(succeeded(ctx, kind, c, answered_by));
        }
    }
    ctx.repo.put_links(ctx.tenant, kind, &links).await?;
    for mut f in outcome.failed {
        if let Some(c) = by_hs.remove(&f.key) {
            // Deleted or archived in HubSpot: the link is dropped and the record matched
            // again (daily), instead of retrying a write that can never land.
            let gone = f.category == "OBJECT_NOT_FOUND";
            if gone {
                f.message = format!(
                    "HubSpot {} {} no longer exists (deleted, archived or merged away); link dropped, it will be matched again",
                    kind.hubspot_object(),
                    f.key
                );
            }
            done_states.push(failed(ctx, kind, c, f, now, gone, ""));
        }
    }
    // The pull lane may have passed these before they carried the join property. Pulled
    // before their states are stored: an invocation that stops in between writes them again
    // (and stamps and pulls them again) when it resumes, where once stored as written they
    // would count as unchanged and never be pulled this run.
    super::pull::pull_stamped(ctx, kind, stamped).await?;
    ctx.repo
        .put_object_states(ctx.tenant, kind, &done_states)
        .await?;
    // After an error above the ids stay "being written": the run stops anyway.
    in_flight.end(ids.iter().map(String::as_str));
    Ok(())
}

const BATCH: usize = crate::hubspot::BATCH_LIMIT;

impl Candidate {
    /// A record to match before its values are known (the link phase runs beside the usage
    /// backfill): matching reads only its id, e-mail or domain, and state.
    pub(crate) fn to_link(
        id: String,
        email: Option<&str>,
        domain: Option<&str>,
        state: ObjectState,
    ) -> Self {
        Candidate {
            id,
            email: email.and_then(normalise_email),
            domain: domain.and_then(normalise_domain),
            values: BTreeMap::new(),
            fingerprint: String::new(),
            state,
        }
    }

    fn planned(&self, kind: ObjectKind, hs: &str) -> PlannedWrite {
        PlannedWrite {
            direction: Direction::Push,
            object: kind,
            id: format!("{} → {hs}", self.id),
            values: self
                .values
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect(),
            hubspot_id: Some(hs.to_string()),
            current: None,
        }
    }
}

/// Records a failed write: kept for retry on the next run, reported in the run record.
pub(crate) fn failed(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    c: Candidate,
    f: crate::hubspot::RecordFailure,
    now: chrono::DateTime<Utc>,
    forget_link: bool,
    prefix: &str,
) -> (String, ObjectState) {
    let mut state = c.state;
    if state.failure.is_some() {
        ctx.run.counts.retried += 1;
    }
    state.failure = Some(Failure::next(
        state.failure.as_ref(),
        f.message.clone(),
        now,
    ));
    if forget_link {
        state.hubspot_id = None;
    }
    ctx.run.counts.failed += 1;
    ctx.errors.push(RecordError {
        direction: Direction::Push,
        object: kind,
        object_id: c.id.clone(),
        field: f.property,
        message: format!("{prefix}{}", f.message),
    });
    (c.id, state)
}

pub(crate) fn succeeded(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    c: Candidate,
    hs: String,
) -> (String, ObjectState) {
    ctx.run.counts.pushed += 1;
    if c.state.failure.is_some() {
        ctx.run.counts.retried += 1;
    }
    if ctx.samples.len() < 6 {
        ctx.samples.push(c.planned(kind, &hs));
    }
    if let Some(edit) = &c.state.drift {
        // Pushed properties are Pendo's to set (their descriptions say so): a person's edit
        // is overwritten, and said so.
        ctx.run.counts.overwritten += 1;
        ctx.errors.push(RecordError {
            direction: Direction::Push,
            object: kind,
            object_id: c.id.clone(),
            field: None,
            message: format!(
                "overwrote a manual edit in HubSpot {} {hs}: {edit}",
                kind.hubspot_object()
            ),
        });
    }
    (
        c.id,
        ObjectState {
            hubspot_id: Some(hs),
            fingerprint: Some(c.fingerprint),
            pushed: Some(c.values),
            ..ObjectState::default()
        },
    )
}
