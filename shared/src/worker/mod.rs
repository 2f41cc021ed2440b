//! The sync worker: takes jobs (from SQS in Lambda, from the local queue locally), holds the
//! tenant lease, runs the engine, and enqueues continuations and deferrals.

use async_trait::async_trait;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use chrono::Utc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{day_number, Job, JobKind, PendoRegion, Tenant, TenantStatus, Trigger};
use crate::hubspot::oauth::OAuthApp;
use crate::hubspot::{
    Auth, HubSpotApi, HubSpotApiVersion, HubSpotClient, HubSpotConfig, HubSpotError,
};
use crate::pendo::{PendoApi, PendoClient, PendoConfig, PendoError};
use crate::queue::{decode_job, Queue};
use crate::secret::SecretString;
use crate::secrets::Secrets;
use crate::store::repo::Repo;
use crate::sync::{RunRequest, RunResult, SyncEngine, SyncError, SyncOptions, SyncOutcome};

pub mod lease;
mod webhook_jobs;

use crate::http::{Cancel, Stopped};
use lease::LeaseKeeper;

/// Builds a tenant's API clients (from its secrets in production; pointed at sandboxes locally).
#[async_trait]
pub trait Connectors: Send + Sync {
    /// A HubSpot client for the tenant, speaking the path family its config chose.
    async fn hubspot(
        &self,
        tenant: &Tenant,
        api_version: HubSpotApiVersion,
    ) -> Result<Arc<dyn HubSpotApi>, SyncError>;
    async fn pendo(&self, tenant: &Tenant) -> Result<Arc<dyn PendoApi>, SyncError>;
    /// The clients a run uses: every request attempt first checks `cancel`.
    async fn hubspot_for_run(
        &self,
        tenant: &Tenant,
        api_version: HubSpotApiVersion,
        cancel: &Cancel,
    ) -> Result<Arc<dyn HubSpotApi>, SyncError>;
    async fn pendo_for_run(
        &self,
        tenant: &Tenant,
        cancel: &Cancel,
    ) -> Result<Arc<dyn PendoApi>, SyncError>;
    /// A client for a key not stored yet (verifying it before saving).
    fn pendo_client(&self, region: PendoRegion, key: SecretString) -> Arc<dyn PendoApi>;
}

pub struct SecretConnectors {
    pub secrets: Arc<dyn Secrets>,
    pub hubspot: HubSpotConfig,
    /// Sandbox base: regions become `{base}/{region}`; `None` = Pendo's real region hosts.
    pub pendo_base_override: Option<String>,
    pub pendo_requests_per_second: usize,
}

impl SecretConnectors {
    /// Production connectors for a Lambda. `HUBSPOT_API_BASE` and `PENDO_API_BASE` (Pendo
    /// regions become `{base}/{region}`) point them at sandboxes; unset = the real APIs.
    pub fn from_env(secrets: Arc<dyn Secrets>) -> Self {
        let mut hubspot = HubSpotConfig::default();
        if let Ok(base) = std::env::var("HUBSPOT_API_BASE") {
            hubspot.api_base = base;
        }
        Self {
            secrets,
            hubspot,
            pendo_base_override: std::env::var("PENDO_API_BASE").ok(),
            pendo_requests_per_second: 10,
        }
    }
}

fn secrets_error(e: crate::secrets::SecretsError) -> SyncError {
    SyncError::Infra(e.to_string())
}

#[async_trait]
impl Connectors for SecretConnectors {
    async fn hubspot(
        &self,
        tenant: &Tenant,
        api_version: HubSpotApiVersion,
    ) -> Result<Arc<dyn HubSpotApi>, SyncError> {
        self.hubspot_for_run(tenant, api_version, &Cancel::default())
            .await
    }

    async fn pendo(&self, tenant: &Tenant) -> Result<Arc<dyn PendoApi>, SyncError> {
        self.pendo_for_run(tenant, &Cancel::default()).await
    }

    async fn hubspot_for_run(
        &self,
        tenant: &Tenant,
        api_version: HubSpotApiVersion,
        cancel: &Cancel,
    ) -> Result<Arc<dyn HubSpotApi>, SyncError> {
        let s = self
            .secrets
            .tenant(&tenant.id)
            .await
            .map_err(secrets_error)?;
        let refresh_token = s.hubspot_refresh_token.ok_or(HubSpotError::NotConnected)?;
        let app = self.secrets.app().await.map_err(secrets_error)?;
        let limits = crate::hubspot::PortalLimits::shared(&self.hubspot, tenant.id.as_str());
        let mut cfg = HubSpotConfig {
            api_version,
            ..self.hubspot.clone()
        };
        cfg.cancel = cancel.clone();
        Ok(Arc::new(HubSpotClient::with_limits(
            cfg,
            Auth::OAuth {
                app: OAuthApp {
                    client_id: app.hubspot_client_id,
                    client_secret: app.hubspot_client_secret,
                    // Only the code flow sends a redirect URI; the refresh grant has none.
                    redirect_uri: String::new(),
                },
                refresh_token,
            },
            limits,
        )))
    }

    async fn pendo_for_run(
        &self,
        tenant: &Tenant,
        cancel: &Cancel,
    ) -> Result<Arc<dyn PendoApi>, SyncError> {
        let s = self
            .secrets
            .tenant(&tenant.id)
            .await
            .map_err(secrets_error)?;
        let key = s.pendo_integration_key.ok_or(PendoError::NotConnected)?;
        let mut cfg = self.pendo_config(tenant.pendo_region);
        cfg.cancel = cancel.clone();
        Ok(Arc::new(PendoClient::new(cfg, key)))
    }

    fn pendo_client(&self, region: PendoRegion, key: SecretString) -> Arc<dyn PendoApi> {
        Arc::new(PendoClient::new(self.pendo_config(region), key))
    }
}

impl SecretConnectors {
    fn pendo_config(&self, region: PendoRegion) -> PendoConfig {
        let base = match &self.pendo_base_override {
            Some(b) => format!("{b}/{}", region.code()),
            None => region.api_base().to_string(),
        };
        let mut cfg = PendoConfig::new(base);
        cfg.requests_per_second = self.pendo_requests_per_second;
        cfg
    }
}

#[derive(Debug)]
pub enum JobResult {
    Finished(Box<crate::domain::RunRecord>),
    Continued,
    /// Another worker holds the lease: the job was re-enqueued with a delay.
    Deferred,
    /// Nothing to do (tenant gone, disabled, or a stale continuation).
    Skipped(String),
}

/// What a job came to under the tenant's lease: a result, or the job that carries its run on,
/// which goes on the queue only once the lease is let go (a poller can receive it within
/// milliseconds, and finding its tenant still leased would defer it by `defer_delay`).
enum Locked {
    Done(JobResult),
    FollowUp(Job),
}

pub struct Worker {
    pub repo: Repo,
    pub queue: Arc<dyn Queue>,
    pub connectors: Arc<dyn Connectors>,
    /// Identifies this worker as lease owner.
    pub owner: String,
    /// Time kept back from the Lambda deadline for checkpointing and enqueueing.
    pub safety_margin: Duration,
    /// Overrides the time budget (tests force a tiny one).
    pub budget_override: Option<Duration>,
    /// Overrides "today" (local demo against a sandbox clock).
    pub today_override: Option<i32>,
    pub defer_delay: Duration,
    /// How often a running job renews its lease and looks for a tombstone.
    pub lease_renew_every: Duration,
    /// How long the lease lives unrenewed (what a killed worker blocks its tenant for).
    pub lease_ttl: Duration,
    /// Trailing re-read window and full reconciliation period.
    pub reread: crate::sync::RereadPolicy,
}

impl Worker {
    pub fn new(repo: Repo, queue: Arc<dyn Queue>, connectors: Arc<dyn Connectors>) -> Self {
        Self {
            repo,
            queue,
            connectors,
            owner: format!("worker-{}", uuid::Uuid::new_v4().simple()),
            safety_margin: Duration::from_secs(60),
            budget_override: None,
            today_override: None,
            defer_delay: Duration::from_secs(60),
            lease_renew_every: lease::LEASE_RENEW_EVERY,
            lease_ttl: lease::LEASE_TTL,
            reread: Default::default(),
        }
    }

    /// Handles one job. `Err` only for failures worth a queue retry (outages); errors an admin
    /// must fix put the tenant in needs-attention and end the job.
    pub async fn handle(
        &self,
        job: &Job,
        deadline: Option<Instant>,
    ) -> Result<JobResult, SyncError> {
        use tracing::Instrument;
        let span = tracing::info_span!("job", tenant_id = %job.tenant_id, job_id = %job.job_id);
        let result = self.handle_inner(job, deadline).instrument(span).await;
        let run_goes_on = matches!(result, Ok(JobResult::Continued | JobResult::Deferred));
        if job.trigger() == Some(Trigger::RunNow) && !run_goes_on {
            // The run that "run now" requests were joining is over: the next one starts anew.
            if let Err(e) = self
                .repo
                .unmark(&job.tenant_id, crate::domain::RUN_NOW_MARKER)
                .await
            {
                tracing::warn!(tenant_id = %job.tenant_id, error = %e, "could not clear the run-now marker; it expires on its own");
            }
        }
        result
    }

    async fn handle_inner(
        &self,
        job: &Job,
        deadline: Option<Instant>,
    ) -> Result<JobResult, SyncError> {
        let Some(tenant) = self.repo.get_tenant(&job.tenant_id).await? else {
            return Ok(JobResult::Skipped("tenant no longer exists".into()));
        };
        if tenant.status != TenantStatus::Enabled
            && !matches!(
                job.kind,
                JobKind::Full {
                    trigger: Trigger::RunNow
                }
            )
        {
            return Ok(JobResult::Skipped(format!("tenant is {:?}", tenant.status)));
        }
        let Some(config) = self.repo.get_config(&tenant.id).await? else {
            return Ok(JobResult::Skipped(
                "tenant has no sync configuration".into(),
            ));
        };
        let Some(lease) =
            lease::acquire(&self.repo, &tenant.id, &self.owner, self.lease_ttl).await?
        else {
            self.enqueue(std::slice::from_ref(job), self.defer_delay)
                .await?;
            tracing::info!("tenant busy; job deferred");
            return Ok(JobResult::Deferred);
        };
        if self.repo.is_tombstoned(&tenant.id).await? {
            // A deletion that could not wait for the previous run: finish it under the lease.
            self.repo.delete_tenant(&tenant.id).await?;
            return Ok(JobResult::Skipped("tenant is being deleted".into()));
        }
        let cancel = Cancel::default();
        let keeper = LeaseKeeper::start(
            self.repo.clone(),
            lease,
            self.lease_renew_every,
            self.lease_ttl,
            cancel.clone(),
        );
        let result = self
            .run_locked(&tenant, &config, job, deadline, &cancel)
            .await;
        let lease = keeper.stop().await;
        let stopped = cancel
            .reason()
            .or_else(|| result.as_ref().err().and_then(SyncError::stopped));
        if stopped == Some(Stopped::TenantDeleted) {
            // The deletion waits for this lease: purge what the run left, then let go.
            self.repo.delete_tenant(&tenant.id).await?;
            tracing::info!("tenant deleted while syncing; run stopped and data purged");
            return Ok(JobResult::Skipped("tenant deleted".into()));
        }
        // Anything the job still writes happens before the lease is released.
        let outcome = match result {
            Ok(r) => Ok(r),
            Err(e) if e.needs_attention() => {
                let mut t = self.repo.get_tenant(&tenant.id).await?.unwrap_or(tenant);
                t.needs_attention(e.attention().expect("needs attention"));
                self.repo.update_tenant(&t, Utc::now()).await?;
                tracing::warn!(error = %e, "tenant needs attention");
                Ok(Locked::Done(JobResult::Skipped(e.to_string())))
            }
            Err(e) => Err(e),
        };
        if let Err(e) = self.repo.release_lease(&lease).await {
            tracing::warn!(error = %e, "could not release lease; it expires on its own");
        }
        match outcome? {
            Locked::Done(r) => Ok(r),
            Locked::FollowUp(next) => {
                self.enqueue(&[next], Duration::ZERO).await?;
                Ok(JobResult::Continued)
            }
        }
    }

    /// Sends `jobs` to the job queue, visible after `delay`.
    async fn enqueue(&self, jobs: &[Job], delay: Duration) -> Result<(), SyncError> {
        self.queue
            .send(jobs, delay)
            .await
            .map_err(|e| SyncError::Infra(e.to_string()))
    }

    async fn run_locked(
        &self,
        tenant: &Tenant,
        config: &crate::domain::SyncConfig,
        job: &Job,
        deadline: Option<Instant>,
        cancel: &Cancel,
    ) -> Result<Locked, SyncError> {
        let hubspot = self
            .connectors
            .hubspot_for_run(tenant, config.hubspot_api_version, cancel)
            .await?;
        let pendo = self.connectors.pendo_for_run(tenant, cancel).await?;
        let today = self
            .today_override
            .unwrap_or_else(|| day_number(Utc::now().date_naive()) - 1);
        let mut opts = SyncOptions::new(today);
        self.reread.apply(&mut opts);
        opts.cancel = cancel.clone();
        opts.budget = self.budget_override.or_else(|| {
            deadline.map(|d| {
                d.saturating_duration_since(Instant::now())
                    .saturating_sub(self.safety_margin)
            })
        });
        if matches!(
            job.kind,
            JobKind::Incremental { .. }
                | JobKind::Continuation {
                    trigger: Trigger::Webhook,
                    ..
                }
        ) {
            // A webhook reports something that just happened: read NPS up to now. Re-reading
            // history is the scheduled run's work, not every webhook burst's.
            opts.nps_through = day_number(Utc::now().date_naive()).max(today);
            opts.reread_days = 0;
            opts.reconcile_every_days = i32::MAX;
        }
        // Webhook jobs sync only what their events named (`webhook_jobs`).
        let scope = webhook_jobs::JobScope {
            tenant,
            config,
            job,
            hubspot: &*hubspot,
            pendo: &*pendo,
            opts: &opts,
        };
        let mut covers_pendo_log = false;
        match job.kind {
            JobKind::HubSpotChanges { .. } => return self.drain_changes(&scope).await,
            JobKind::Incremental { .. } => match self.scoped_push(&scope).await? {
                Some(done) => return Ok(Locked::Done(done)),
                None => covers_pendo_log = true,
            },
            _ => {}
        }
        let (trigger, resume) = match &job.kind {
            JobKind::Full { trigger } => (*trigger, None),
            JobKind::Incremental { .. } | JobKind::HubSpotChanges { .. } => {
                (Trigger::Webhook, None)
            }
            JobKind::Continuation { run_id, trigger } => (*trigger, Some(run_id.clone())),
        };
        let engine = SyncEngine::new(self.repo.clone());
        let r = engine.run(RunRequest {
            tenant,
            config,
            hubspot: hubspot.as_ref(),
            pendo: pendo.as_ref(),
            trigger,
            job_id: &job.job_id,
            resume: resume.as_ref(),
            opts: &opts,
        });
        let RunResult { run, outcome, .. } = match r.await {
            Err(SyncError::Config(m)) if resume.is_some() && m.contains("no checkpoint") => {
                return Ok(Locked::Done(JobResult::Skipped(m)));
            }
            other => other?,
        };
        if covers_pendo_log {
            // The full run (checkpointed, or continued to its end) covers every logged id.
            SyncEngine::new(self.repo.clone())
                .clear_pendo_log(&tenant.id)
                .await?;
        }
        Ok(match outcome {
            SyncOutcome::Finished => Locked::Done(JobResult::Finished(Box::new(run))),
            SyncOutcome::Continued {
                run_id,
                continuations,
            } => Locked::FollowUp(Job::continuation(
                tenant.id.clone(),
                run_id,
                trigger,
                continuations,
                Utc::now(),
            )),
        })
    }

    /// Lambda entry: one result per message; failures are reported per message so SQS retries
    /// only those (ReportBatchItemFailures).
    pub async fn handle_sqs(&self, event: SqsEvent, deadline: Option<Instant>) -> SqsBatchResponse {
        let mut failures = Vec::new();
        for msg in event.records {
            let id = msg.message_id.clone().unwrap_or_default();
            let job = match msg.body.as_deref().map(decode_job) {
                Some(Ok(j)) => j,
                other => {
                    // A malformed message can never succeed, but deleting it would destroy the
                    // evidence: reported as failed, SQS moves it to the dead-letter queue after
                    // maxReceiveCount, where an operator sees it.
                    tracing::error!(message_id = %id, error = ?other.map(|r| r.err()), "malformed job message; leaving it for the dead-letter queue");
                    failures.push(item_failure(id));
                    continue;
                }
            };
            match self.handle(&job, deadline).await {
                Ok(r) => tracing::info!(message_id = %id, result = ?r, "job handled"),
                Err(e) => {
                    tracing::error!(message_id = %id, error = %e, "job failed; SQS will retry it");
                    failures.push(item_failure(id));
                }
            }
        }
        let mut response = SqsBatchResponse::default();
        response.batch_item_failures = failures;
        response
    }
}

/// One entry of `batchItemFailures` (ReportBatchItemFailures).
fn item_failure(message_id: String) -> BatchItemFailure {
    let mut f = BatchItemFailure::default();
    f.item_identifier = message_id;
    f
}
