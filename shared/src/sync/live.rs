//! HubSpot → Pendo, live: drains the tenant's change log (fed by HubSpot webhooks) as a
//! scoped pull. Only the records named there are read (≤100 per `batch/read`), so a job costs
//! O(events) HubSpot and Pendo calls whatever the tenant's size. Values are always read back
//! from HubSpot, never taken from the event, so redelivered and out-of-order events converge
//! on HubSpot's current state; the pull fingerprints make a repeated read cost no write.
//!
//! Deletions and merges name only the HubSpot id; the pull state's `pendo_id` leads to the
//! joined Pendo record. A deleted record's join is dropped (the push stops writing to it) and
//! the deletion is recorded; a merged record's join moves to the survivor, whose values are
//! then pushed and pulled again.

use std::time::Instant;

use super::engine::{setup, start_webhook_run, CallsBefore, RunCtx, RunCtxParts};
use super::{pull, SyncEngine, SyncError, SyncOptions};
use crate::domain::{ObjectKind, ObjectState, PullState, RunRecord, RunStatus, SyncConfig, Tenant};
use crate::hubspot::HubSpotApi;
use crate::pendo::PendoApi;
use crate::store::repo::{DeletedRecord, LoggedChange, PendingChange};

/// Changes read per step: one HubSpot `batch/read` at most.
const PAGE: usize = 100;

/// One drain of a tenant's HubSpot change log.
pub struct ChangesRequest<'a> {
    pub tenant: &'a Tenant,
    pub config: &'a SyncConfig,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub job_id: &'a str,
    /// Budget and cancellation, as for a full run.
    pub opts: &'a SyncOptions,
}

pub struct ChangesResult {
    pub run: RunRecord,
    /// Out of budget with changes left: another drain job must follow.
    pub more: bool,
}

impl SyncEngine {
    /// Handles every change logged for the tenant (as of each page's read), records the run
    /// (trigger `webhook`) and clears the handled entries. A change logged again while it was
    /// being handled stays for the next job.
    pub async fn drain_changes(&self, req: ChangesRequest<'_>) -> Result<ChangesResult, SyncError> {
        use tracing::Instrument;
        let span =
            tracing::info_span!("live_pull", tenant_id = %req.tenant.id, job_id = req.job_id);
        let repo = self.fenced_repo(&req.opts.cancel);
        drain(&repo, req).instrument(span).await
    }
}

async fn drain(
    repo: &crate::store::repo::Repo,
    req: ChangesRequest<'_>,
) -> Result<ChangesResult, SyncError> {
    let started = Instant::now();
    let calls_before = CallsBefore::now(req.hubspot, req.pendo);
    let run = start_webhook_run(repo, &req.tenant.id, req.job_id).await?;
    let mut ctx = RunCtx::new(RunCtxParts {
        tenant: &req.tenant.id,
        config: req.config,
        repo,
        hubspot: req.hubspot,
        pendo: req.pendo,
        opts: req.opts,
        run,
    });
    let result = drain_all(&mut ctx, started).await;
    let mut run = ctx.close_single(&calls_before, started).await?;
    let more = match result {
        Ok(more) => {
            run.status = if run.counts.failed > 0 || run.counts.ambiguous > 0 {
                RunStatus::Partial
            } else {
                RunStatus::Succeeded
            };
            more
        }
        Err(e) if e.stopped().is_some() => return Err(e),
        Err(e) => {
            run.status = RunStatus::Failed;
            run.error = Some(e.to_string());
            repo.put_run(&run).await?;
            return Err(e);
        }
    };
    repo.put_run(&run).await?;
    tracing::info!(
        pulled = run.counts.pulled,
        unchanged = run.counts.unchanged,
        failed = run.counts.failed,
        more,
        "HubSpot changes drained"
    );
    Ok(ChangesResult { run, more })
}

/// `Ok(true)` when the budget ran out with changes left.
async fn drain_all(ctx: &mut RunCtx<'_>, started: Instant) -> Result<bool, SyncError> {
    setup(ctx).await?;
    for kind in ObjectKind::ALL {
        let mut after: Option<String> = None;
        loop {
            let page = ctx
                .repo
                .pending_changes(ctx.tenant, kind, after.as_deref(), PAGE)
                .await?;
            if page.items.is_empty() {
                break;
            }
            handle_page(ctx, kind, &page.items).await?;
            for c in &page.items {
                ctx.repo.clear_change(ctx.tenant, kind, c).await?;
            }
            ctx.opts.cancel.check()?;
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
            if ctx.opts.budget.is_some_and(|b| started.elapsed() >= b) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

async fn handle_page(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    changes: &[PendingChange],
) -> Result<(), SyncError> {
    let mut read: Vec<String> = Vec::new();
    let mut deleted = Vec::new();
    for c in changes {
        match c.entry.change {
            LoggedChange::Changed => read.push(c.hubspot_id.to_string()),
            LoggedChange::Deleted => {
                // Read too: a deletion delivered late, after a restore, must not win.
                deleted.push(c);
                read.push(c.hubspot_id.to_string());
            }
            LoggedChange::Merged { survivor } => {
                forget(ctx, kind, c, Some(survivor)).await?;
                read.push(survivor.to_string());
            }
        }
    }
    read.sort();
    read.dedup();
    if read.is_empty() {
        return Ok(());
    }
    let mappings: Vec<String> = ctx
        .config
        .pull_for(kind)
        .map(|m| m.hubspot_property.clone())
        .collect();
    let join = ctx.config.join_property(kind).to_string();
    let mut props = mappings;
    props.push(join.clone());
    // A record deleted after its change was logged is simply absent from the answer.
    let records = ctx
        .hubspot
        .read_by(kind, "hs_object_id", &read, &props)
        .await?;
    for c in deleted {
        let id = c.hubspot_id.to_string();
        if !records.iter().any(|r| r.id == id) {
            forget(ctx, kind, c, None).await?;
        }
    }
    if ctx.config.pull_for(kind).next().is_none() {
        return Ok(());
    }
    pull::process(ctx, kind, &join, records).await
}

/// Stops syncing a record that is gone (deleted, or merged into `survivor`): its pull state
/// is forgotten and the Pendo record joined to it is re-joined to the survivor or unlinked.
async fn forget(
    ctx: &mut RunCtx<'_>,
    kind: ObjectKind,
    change: &PendingChange,
    survivor: Option<u64>,
) -> Result<(), SyncError> {
    let hs = change.hubspot_id.to_string();
    let pendo_id = ctx
        .repo
        .get_pull_states(ctx.tenant, kind, std::slice::from_ref(&hs))
        .await?
        .remove(&hs)
        .and_then(|s| s.pendo_id);
    ctx.repo
        .put_pull_states(ctx.tenant, kind, &[(hs.clone(), PullState::default())])
        .await?;
    if let Some(p) = &pendo_id {
        let mut states = ctx
            .repo
            .get_object_states(ctx.tenant, kind, std::slice::from_ref(p))
            .await?;
        if let Some(mut state) = states.remove(p) {
            if state.hubspot_id.as_deref() == Some(hs.as_str()) {
                state = ObjectState {
                    hubspot_id: survivor.map(|s| s.to_string()),
                    // Nothing is known to be written on the new target yet.
                    fingerprint: None,
                    failure: None,
                    ..state
                };
                ctx.repo
                    .put_object_states(ctx.tenant, kind, &[(p.clone(), state)])
                    .await?;
            }
        }
    }
    match survivor {
        Some(s) => {
            tracing::info!(object = kind.hubspot_object(), merged = %hs, survivor = s, pendo_id = ?pendo_id, "HubSpot merge: join moved to the survivor")
        }
        None => {
            ctx.repo
                .put_deleted(
                    ctx.tenant,
                    kind,
                    change.hubspot_id,
                    &DeletedRecord {
                        deleted_at_ms: change.entry.occurred_at_ms,
                        pendo_id: pendo_id.clone(),
                    },
                )
                .await?;
            tracing::info!(object = kind.hubspot_object(), hubspot_id = %hs, pendo_id = ?pendo_id, "HubSpot deletion: record no longer synced");
        }
    }
    Ok(())
}
