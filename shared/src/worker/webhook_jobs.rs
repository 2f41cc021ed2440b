//! Webhook jobs: a HubSpot change-log drain (scoped pull) and a Pendo webhook job (scoped
//! push), each syncing only what its events named; see `sync::live` and `sync::scoped`.

use chrono::Utc;

use super::{JobResult, Locked, Worker};
use crate::domain::{Job, JobKind, SyncConfig, Tenant};
use crate::hubspot::HubSpotApi;
use crate::pendo::PendoApi;
use crate::sync::{
    ChangesRequest, ScopedOutcome, ScopedRequest, SyncEngine, SyncError, SyncOptions,
};

/// What a webhook job runs with, under the tenant's lease.
pub(super) struct JobScope<'a> {
    pub tenant: &'a Tenant,
    pub config: &'a SyncConfig,
    pub job: &'a Job,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub opts: &'a SyncOptions,
}

impl Worker {
    /// A scoped pull of the tenant's HubSpot change log; out of budget, another drain job
    /// follows at once.
    pub(super) async fn drain_changes(&self, s: &JobScope<'_>) -> Result<Locked, SyncError> {
        if let JobKind::HubSpotChanges { window } = s.job.kind {
            // Events arriving from now on need a job of their own: this one may have read
            // the log before they were written.
            self.repo
                .unmark(&s.tenant.id, &crate::domain::hubspot_window_marker(window))
                .await?;
        }
        let r = SyncEngine::new(self.repo.clone())
            .drain_changes(ChangesRequest {
                tenant: s.tenant,
                config: s.config,
                hubspot: s.hubspot,
                pendo: s.pendo,
                job_id: &s.job.job_id,
                opts: s.opts,
            })
            .await?;
        if r.more {
            let mut next = Job {
                job_id: format!("{}-more-{}", s.job.job_id, r.run.run_id),
                ..s.job.clone()
            };
            next.enqueued_at = Utc::now();
            return Ok(Locked::FollowUp(next));
        }
        Ok(Locked::Done(JobResult::Finished(Box::new(r.run))))
    }

    /// A Pendo webhook job as a scoped push; `None` when it names more ids than a full sync
    /// costs, and the caller runs the full sync instead.
    pub(super) async fn scoped_push(
        &self,
        s: &JobScope<'_>,
    ) -> Result<Option<JobResult>, SyncError> {
        let JobKind::Incremental {
            visitor_ids,
            account_ids,
        } = &s.job.kind
        else {
            return Ok(None);
        };
        if let Some(w) = s.job.pendo_window() {
            // Events from now on need a job of their own (as for HubSpot above).
            self.repo
                .unmark(&s.tenant.id, &crate::domain::pendo_window_marker(w))
                .await?;
        }
        let outcome = SyncEngine::new(self.repo.clone())
            .run_scoped(ScopedRequest {
                tenant: s.tenant,
                config: s.config,
                hubspot: s.hubspot,
                pendo: s.pendo,
                job_id: &s.job.job_id,
                visitor_ids,
                account_ids,
                opts: s.opts,
            })
            .await?;
        Ok(match outcome {
            ScopedOutcome::Finished(run) => Some(JobResult::Finished(run)),
            ScopedOutcome::TooLarge { ids } => {
                tracing::info!(
                    ids,
                    "scoped job larger than a full sync; running a full sync"
                );
                None
            }
        })
    }
}
