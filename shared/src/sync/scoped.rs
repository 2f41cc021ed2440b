//! Pendo → HubSpot, scoped: a webhook job syncs only the visitors and accounts its events
//! named (the job's ids plus the tenant's Pendo change log, which holds every id of the
//! coalescing window). Those records are read from Pendo by id (≤100 per aggregation), their
//! fields recomputed from the stored usage history, and only changed ones written to HubSpot,
//! so the job costs O(events) calls whatever the tenant's size.
//!
//! Ordering: an NPS answer a webhook carried is stored only if it is newer (`at_ms`) than the
//! stored latest answer, so redelivered and out-of-order events, and two jobs for one visitor,
//! converge on the latest answer; the push fingerprint makes a repeated value cost no write.
//! Usage history is folded by the daily run only (a day's activity is complete only then), so
//! the scoped push leaves usage as the last daily run computed it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::engine::{setup, start_webhook_run, CallsBefore, RunCtx, RunCtxParts, Step};
use super::{push, SyncEngine, SyncError, SyncOptions};
use crate::domain::{ObjectKind, PushField, RunRecord, RunStatus, SyncConfig, Tenant};
use crate::hubspot::HubSpotApi;
use crate::pendo::PendoApi;
use crate::store::repo::{PendingPendo, Repo};

/// Ids above which a scoped job costs more than a full sync: the full push reads Pendo 500
/// records per call and HubSpot by fingerprint, a scoped one ~1 Pendo and ~1 HubSpot call per
/// 100 ids, so past a few thousand ids the full sync is the cheaper, simpler path.
pub const SCOPED_MAX_IDS: usize = 2_000;
const LOG_PAGE: usize = 500;

/// One scoped sync of the records Pendo webhooks named.
pub struct ScopedRequest<'a> {
    pub tenant: &'a Tenant,
    pub config: &'a SyncConfig,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub job_id: &'a str,
    /// Ids the job itself carries (the log has them too, unless already synced).
    pub visitor_ids: &'a [String],
    pub account_ids: &'a [String],
    pub opts: &'a SyncOptions,
}

pub enum ScopedOutcome {
    Finished(Box<RunRecord>),
    /// More ids than a full sync costs: the caller runs a full sync, then calls
    /// [`SyncEngine::clear_pendo_log`].
    TooLarge {
        ids: usize,
    },
}

impl SyncEngine {
    /// Syncs just the named visitors and accounts; see the module docs.
    pub async fn run_scoped(&self, req: ScopedRequest<'_>) -> Result<ScopedOutcome, SyncError> {
        use tracing::Instrument;
        let span =
            tracing::info_span!("scoped_push", tenant_id = %req.tenant.id, job_id = req.job_id);
        let repo = self.fenced_repo(&req.opts.cancel);
        scoped(&repo, req).instrument(span).await
    }

    /// Forgets every logged Pendo change (after a full sync covered them).
    pub async fn clear_pendo_log(&self, tenant: &crate::domain::TenantId) -> Result<(), SyncError> {
        for kind in ObjectKind::ALL {
            for c in read_log(&self.repo, tenant, kind).await? {
                self.repo.clear_pendo_change(tenant, kind, &c).await?;
            }
        }
        Ok(())
    }
}

async fn read_log(
    repo: &Repo,
    tenant: &crate::domain::TenantId,
    kind: ObjectKind,
) -> Result<Vec<PendingPendo>, SyncError> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = repo
            .pending_pendo_changes(tenant, kind, after.as_deref(), LOG_PAGE)
            .await?;
        out.extend(page.items);
        match page.next {
            Some(n) if out.len() <= SCOPED_MAX_IDS => after = Some(n),
            _ => return Ok(out),
        }
    }
}

async fn scoped(repo: &Repo, req: ScopedRequest<'_>) -> Result<ScopedOutcome, SyncError> {
    let tenant = &req.tenant.id;
    let mut logged: HashMap<ObjectKind, Vec<PendingPendo>> = HashMap::new();
    let mut ids: HashMap<ObjectKind, BTreeSet<String>> = HashMap::new();
    for (kind, from_job) in [
        (ObjectKind::Visitor, req.visitor_ids),
        (ObjectKind::Account, req.account_ids),
    ] {
        let log = read_log(repo, tenant, kind).await?;
        let set = ids.entry(kind).or_default();
        set.extend(from_job.iter().cloned());
        set.extend(log.iter().map(|c| c.id.clone()));
        logged.insert(kind, log);
    }
    let total: usize = ids.values().map(BTreeSet::len).sum();
    if total > SCOPED_MAX_IDS {
        return Ok(ScopedOutcome::TooLarge { ids: total });
    }
    let started = Instant::now();
    let calls_before = CallsBefore::now(req.hubspot, req.pendo);
    let run = start_webhook_run(repo, tenant, req.job_id).await?;
    let mut ctx = RunCtx::new(RunCtxParts {
        tenant,
        config: req.config,
        repo,
        hubspot: req.hubspot,
        pendo: req.pendo,
        opts: req.opts,
        run,
    });
    // Total Visitors needs a count over every visitor of the subscription (O(tenant)):
    // the daily run keeps it, a scoped push leaves it as it is.
    ctx.excluded_fields = BTreeSet::from([PushField::TotalVisitors]);
    let result = sync_ids(&mut ctx, &ids, &logged).await;
    let mut run = ctx.close_single(&calls_before, started).await?;
    match result {
        Ok(()) => {
            run.status = if run.counts.failed > 0 || run.counts.ambiguous > 0 {
                RunStatus::Partial
            } else {
                RunStatus::Succeeded
            };
        }
        Err(e) if e.stopped().is_some() => return Err(e),
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(e.to_string());
            repo.put_run(&run).await?;
            return Err(e);
        }
    }
    repo.put_run(&run).await?;
    // Cleared only once written: a job that failed leaves the log for its retry.
    for (kind, log) in &logged {
        for c in log {
            repo.clear_pendo_change(tenant, *kind, c).await?;
        }
    }
    tracing::info!(
        ids = total,
        pushed = run.counts.pushed,
        unchanged = run.counts.unchanged,
        "scoped push finished"
    );
    Ok(ScopedOutcome::Finished(Box::new(run)))
}

async fn sync_ids(
    ctx: &mut RunCtx<'_>,
    ids: &HashMap<ObjectKind, BTreeSet<String>>,
    logged: &HashMap<ObjectKind, Vec<PendingPendo>>,
) -> Result<(), SyncError> {
    // Answers given today, read from Pendo with their text follow-ups (one day of answers,
    // whatever the tenant's size), folded as of their time.
    let mut after: Option<String> = None;
    while let Step::More(a) = super::nps::nps_step(ctx, after).await? {
        after = a;
    }
    // What the events carried, for answers Pendo's API does not serve yet.
    for kind in ObjectKind::ALL {
        store_newer_nps(ctx, kind, logged.get(&kind).map_or(&[][..], Vec::as_slice)).await?;
    }
    setup(ctx).await?;
    for kind in ObjectKind::ALL {
        let wanted: Vec<String> = ids
            .get(&kind)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        if wanted.is_empty() {
            continue;
        }
        let records: Vec<push::PendoRecord> = match kind {
            ObjectKind::Visitor => {
                // Do-not-process visitors named by a webhook are withheld as in a full sync.
                let visitors = ctx.pendo.visitors_by_ids(&wanted).await?;
                super::privacy::withhold_flagged(ctx, visitors)
                    .await?
                    .into_iter()
                    .map(|v| (v.id, v.email, None, v.first_visit_ms, v.last_visit_ms))
                    .collect()
            }
            ObjectKind::Account => {
                let field = ctx.config.identity.account_domain_field.clone();
                ctx.pendo
                    .accounts_by_ids(&wanted, field.as_deref())
                    .await?
                    .into_iter()
                    .map(|a| (a.id, None, a.domain, a.first_visit_ms, a.last_visit_ms))
                    .collect()
            }
        };
        for chunk in records.chunks(ctx.opts.page_size.max(1)) {
            push::push_records(ctx, kind, chunk.to_vec()).await?;
        }
        push::flush(ctx, kind, true).await?;
    }
    crate::rules::rules_step(ctx).await?;
    Ok(())
}

/// Stores the NPS answers the events carried where they are newer than the stored ones.
async fn store_newer_nps(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    logged: &[PendingPendo],
) -> Result<(), SyncError> {
    let answers: BTreeMap<String, crate::domain::LatestNps> = logged
        .iter()
        .filter_map(|c| c.change.nps.clone().map(|n| (c.id.clone(), n)))
        .collect();
    if answers.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = answers.keys().cloned().collect();
    // A webhook answer is news of the current reconciliation generation: stamped with it, or
    // the push would read it as left over from an older one and drop it.
    let generation = super::reread::generations(ctx, kind).await?.nps;
    super::usage::update_histories(ctx, kind, &keys, |i, h| {
        let answer = &answers[&keys[i]];
        // Webhook timestamps are whole seconds and Pendo's own are milliseconds: within a
        // second they are the same answer, and Pendo's (with its text) is kept.
        if h.nps
            .as_ref()
            .is_none_or(|cur| cur.at_ms + 1000 < answer.at_ms)
        {
            h.nps = Some(answer.clone());
            h.nps_generation = h.nps_generation.max(generation);
        }
    })
    .await
}
