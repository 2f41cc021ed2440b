use chrono::Utc;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Instant;

use super::{push, Checkpoint, PlannedWrite, SyncError, SyncOptions};
use crate::domain::{
    EnumerationValue, ObjectKind, PushField, RecordError, RunId, RunRecord, RunStatus, SyncConfig,
    Tenant, TenantId, Trigger,
};
use crate::http::calls_since;
use crate::hubspot::HubSpotApi;
use crate::pendo::{PendoApi, PendoError};
use crate::store::fenced::FencedStore;
use crate::store::repo::Repo;
use std::sync::Arc;

use super::lanes::CHECKPOINT;

pub(crate) enum Step {
    Done,
    /// More work in this phase, resuming after this id (`None` = from the start of the next chunk).
    More(Option<String>),
}

/// Everything one invocation of a run works with.
pub(crate) struct RunCtx<'a> {
    pub tenant: &'a TenantId,
    pub config: &'a SyncConfig,
    pub repo: &'a Repo,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub opts: &'a SyncOptions,
    pub run: RunRecord,
    pub errors: Vec<RecordError>,
    pub samples: Vec<PlannedWrite>,
    pub planned: Vec<PlannedWrite>,
    pub excluded_fields: BTreeSet<PushField>,
    pub account_visitors: Option<HashMap<String, u64>>,
    pub pendo_types: HashMap<ObjectKind, BTreeMap<String, String>>,
    /// Push updates waiting for a full batch (one object kind at a time).
    pub pending: Vec<push::Pending>,
    /// HubSpot records already synced with a Pendo record in this invocation, with that
    /// Pendo id: a second Pendo record matching one is ambiguous, never a second input.
    pub claimed: super::identity::Claims,
    /// Option labels by internal value of each pulled dropdown property mapped as labels.
    pub enum_labels: HashMap<(ObjectKind, String), HashMap<String, String>>,
    /// HubSpot records being written by the push lane, for the pull lane beside it.
    pub in_flight: Arc<super::in_flight::InFlight>,
    /// The pull's next search pages, in order, fetched while the step's last were processed.
    pub prefetched: std::collections::VecDeque<super::pull::Prefetched>,
    /// The usage backfill's next page, read while the current one was stored.
    pub prefetched_rollups: Option<(super::usage::Page, Vec<crate::pendo::DayRollup>)>,
    /// Held while usage histories are read, changed and stored: the usage backfill and NPS fold
    /// into the same items from different lanes, and each stores whole items.
    pub histories: Arc<tokio::sync::Mutex<()>>,
}

/// What a run context is built from; the rest starts empty.
pub(crate) struct RunCtxParts<'a> {
    pub tenant: &'a TenantId,
    pub config: &'a SyncConfig,
    pub repo: &'a Repo,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub opts: &'a SyncOptions,
    pub run: RunRecord,
}

impl<'a> RunCtx<'a> {
    pub(crate) fn new(p: RunCtxParts<'a>) -> Self {
        Self {
            tenant: p.tenant,
            config: p.config,
            repo: p.repo,
            hubspot: p.hubspot,
            pendo: p.pendo,
            opts: p.opts,
            run: p.run,
            errors: Vec::new(),
            samples: Vec::new(),
            planned: Vec::new(),
            excluded_fields: BTreeSet::new(),
            account_visitors: None,
            pendo_types: HashMap::new(),
            pending: Vec::new(),
            claimed: Default::default(),
            enum_labels: HashMap::new(),
            in_flight: Arc::default(),
            prefetched: Default::default(),
            prefetched_rollups: None,
            histories: Arc::default(),
        }
    }

    /// Ends a one-invocation run (a webhook job's): the API calls since `since`, the time
    /// since `started`, the finish time, and its record errors stored. Returns the record.
    pub(crate) async fn close_single(
        self,
        since: &CallsBefore,
        started: Instant,
    ) -> Result<RunRecord, SyncError> {
        let mut run = self.run;
        for (k, v) in calls_since(&since.hubspot, &self.hubspot.calls().snapshot())
            .into_iter()
            .chain(calls_since(&since.pendo, &self.pendo.calls().snapshot()))
        {
            *run.api_calls.entry(k).or_default() += v;
        }
        run.busy_seconds += started.elapsed().as_secs_f64();
        run.finished_at = Some(Utc::now());
        if !self.errors.is_empty() {
            self.repo.put_run_errors(&run, 0, &self.errors).await?;
            run.errors_recorded = self.errors.len() as u64;
        }
        Ok(run)
    }
}

/// Starts and stores the record of a one-invocation webhook job's run.
pub(crate) async fn start_webhook_run(
    repo: &Repo,
    tenant: &TenantId,
    job_id: &str,
) -> Result<RunRecord, SyncError> {
    let now = Utc::now();
    let run = RunRecord::start(
        RunId::new_at(now),
        tenant.clone(),
        job_id.to_string(),
        Trigger::Webhook,
        now,
    );
    repo.put_run(&run).await?;
    Ok(run)
}

/// Both clients' call counters when a run began.
pub(crate) struct CallsBefore {
    pub hubspot: BTreeMap<String, u64>,
    pub pendo: BTreeMap<String, u64>,
}

impl CallsBefore {
    pub(crate) fn now(hubspot: &dyn HubSpotApi, pendo: &dyn PendoApi) -> Self {
        Self {
            hubspot: hubspot.calls().snapshot(),
            pendo: pendo.calls().snapshot(),
        }
    }
}

impl RunCtx<'_> {
    pub fn planned(&mut self, w: PlannedWrite) {
        if self.planned.len() < 200 {
            self.planned.push(w);
        }
    }
}

pub enum SyncOutcome {
    Finished,
    /// Out of budget; enqueue a continuation for this run.
    Continued {
        run_id: RunId,
        continuations: u32,
    },
}

pub struct RunResult {
    pub run: RunRecord,
    pub outcome: SyncOutcome,
    /// A few records written, for reports.
    pub samples: Vec<PlannedWrite>,
    /// Dry run: what would be written (first 200).
    pub planned: Vec<PlannedWrite>,
}

pub struct SyncEngine {
    pub repo: Repo,
}

/// One invocation of a run: what to sync, with which clients, and how.
pub struct RunRequest<'a> {
    pub tenant: &'a Tenant,
    pub config: &'a SyncConfig,
    pub hubspot: &'a dyn HubSpotApi,
    pub pendo: &'a dyn PendoApi,
    pub trigger: Trigger,
    /// The job this invocation serves (kept in the run record).
    pub job_id: &'a str,
    /// The run a continuation job resumes (`None` = a new run).
    pub resume: Option<&'a RunId>,
    pub opts: &'a SyncOptions,
}

impl SyncEngine {
    pub fn new(repo: Repo) -> Self {
        Self { repo }
    }

    /// Runs (or resumes) one sync of `req.tenant` until done, out of budget, or stopped
    /// through `req.opts.cancel`. Every log line of the run carries the tenant and run ids.
    pub async fn run(&self, req: RunRequest<'_>) -> Result<RunResult, SyncError> {
        use tracing::Instrument;
        let span =
            tracing::info_span!("sync", tenant_id = %req.tenant.id, run_id = tracing::field::Empty);
        if req.opts.dry_run {
            // A dry run works on a copy-on-write view: it sees its own writes (so it plans
            // exactly what a real run would), and the stored state stays as it was.
            let overlay = crate::store::overlay::OverlayStore::new(self.repo.store().clone());
            let engine = SyncEngine::new(Repo::new(Arc::new(overlay)));
            return engine.run_inner(req).instrument(span).await;
        }
        let engine = SyncEngine::new(self.fenced_repo(&req.opts.cancel));
        engine.run_inner(req).instrument(span).await
    }

    /// What a sync of `tenant` as of day `today` (days since 1970-01-01) would write, planned
    /// by the engine itself on a copy-on-write view: `RunResult::planned` lists the writes and
    /// nothing stored changes. Errors as [`SyncEngine::run`].
    pub async fn dry_run(
        &self,
        tenant: &Tenant,
        config: &SyncConfig,
        hubspot: &dyn HubSpotApi,
        pendo: &dyn PendoApi,
        today: i32,
    ) -> Result<RunResult, SyncError> {
        let mut opts = SyncOptions::new(today);
        opts.dry_run = true;
        self.run(RunRequest {
            tenant,
            config,
            hubspot,
            pendo,
            trigger: Trigger::DryRun,
            job_id: "dry-run",
            resume: None,
            opts: &opts,
        })
        .await
    }

    /// The store as a run sees it: every write is refused once `cancel` is told to stop.
    pub(crate) fn fenced_repo(&self, cancel: &crate::http::Cancel) -> Repo {
        Repo::new(Arc::new(FencedStore::new(
            self.repo.store().clone(),
            cancel.clone(),
        )))
    }

    async fn run_inner(&self, req: RunRequest<'_>) -> Result<RunResult, SyncError> {
        let RunRequest {
            tenant,
            config,
            hubspot,
            pendo,
            trigger,
            job_id,
            resume,
            opts,
        } = req;
        let started = Instant::now();
        let hs_before = hubspot.calls().snapshot();
        let pendo_before = pendo.calls().snapshot();
        let stored: Option<Checkpoint> = self.repo.get_cursor(&tenant.id, CHECKPOINT).await?;
        let (mut checkpoint, run) = match (resume, stored) {
            (Some(id), Some(cp)) if &cp.run_id == id => {
                let mut run = self.repo.get_run(&tenant.id, id).await?.ok_or_else(|| {
                    SyncError::Config(format!("run {id} of the checkpoint is missing"))
                })?;
                run.invocations += 1;
                run.status = RunStatus::Running;
                (cp, run)
            }
            (Some(id), _) => {
                return Err(SyncError::Config(format!(
                    "run {id} has no checkpoint to continue from"
                )));
            }
            (None, stored) => {
                let now = Utc::now();
                let mut run = RunRecord::start(
                    RunId::new_at(now),
                    tenant.id.clone(),
                    job_id.to_string(),
                    if opts.dry_run {
                        Trigger::DryRun
                    } else {
                        trigger
                    },
                    now,
                );
                let mut cp = Checkpoint {
                    run_id: run.run_id.clone(),
                    trigger,
                    job_id: job_id.to_string(),
                    phase: 0,
                    after: None,
                    pull_phase: None,
                    pull_after: None,
                    pull_accounts_phase: None,
                    pull_accounts_after: None,
                    link_phase: None,
                    link_after: None,
                    backfill_phase: None,
                    backfill_after: None,
                    nps_phase: None,
                    nps_after: None,
                    continuations: 0,
                };
                if let Some(old) = stored.filter(|_| !opts.dry_run) {
                    // A run died mid-way (its worker was killed and its lease expired): it is
                    // marked interrupted, and this run carries on from the phase it was in.
                    // That phase starts over: writes the dead worker still held in memory
                    // are lost, and fingerprints make what did land cost nothing twice.
                    self.interrupted(&tenant.id, &old.run_id, &run.run_id)
                        .await?;
                    cp.phase = old.phase;
                    cp.pull_phase = old.pull_phase;
                    cp.pull_accounts_phase = old.pull_accounts_phase;
                    run.resumed_from = Some(old.run_id);
                }
                (cp, run)
            }
        };
        tracing::Span::current().record("run_id", tracing::field::display(&run.run_id));
        if !opts.dry_run {
            self.repo.put_run(&run).await?;
        }
        let mut ctx = RunCtx::new(RunCtxParts {
            tenant: &tenant.id,
            config,
            repo: &self.repo,
            hubspot,
            pendo,
            opts,
            run,
        });
        let result = super::lanes::drive(&mut ctx, &mut checkpoint, started).await;
        let mut run = ctx.run;
        for (k, v) in calls_since(&hs_before, &hubspot.calls().snapshot())
            .into_iter()
            .chain(calls_since(&pendo_before, &pendo.calls().snapshot()))
        {
            *run.api_calls.entry(k).or_default() += v;
        }
        run.busy_seconds += started.elapsed().as_secs_f64();
        let outcome = match result {
            Ok(true) => {
                run.status = if run.counts.failed > 0 || run.counts.ambiguous > 0 {
                    RunStatus::Partial
                } else {
                    RunStatus::Succeeded
                };
                run.finished_at = Some(Utc::now());
                if !opts.dry_run {
                    self.repo.delete_cursor(&tenant.id, CHECKPOINT).await?;
                }
                SyncOutcome::Finished
            }
            Ok(false) => {
                run.status = RunStatus::Continued;
                checkpoint.continuations += 1;
                if !opts.dry_run {
                    self.repo
                        .put_cursor(&tenant.id, CHECKPOINT, &checkpoint)
                        .await?;
                }
                SyncOutcome::Continued {
                    run_id: run.run_id.clone(),
                    continuations: checkpoint.continuations,
                }
            }
            Err(e) if e.stopped().is_some() => {
                // Stopped from outside: the tenant is going away or another worker holds it;
                // nothing more is written for this run.
                tracing::warn!(error = %e, "sync stopped");
                return Err(e);
            }
            Err(e) => {
                run.status = RunStatus::Failed;
                run.error = Some(e.to_string());
                run.finished_at = Some(Utc::now());
                if !opts.dry_run {
                    self.repo.put_run(&run).await?;
                    // A failed run starts over next time (fingerprints make that cheap).
                    self.repo.delete_cursor(&tenant.id, CHECKPOINT).await?;
                }
                tracing::warn!(error = %e, "sync failed");
                return Err(e);
            }
        };
        if !opts.dry_run {
            self.repo.put_run(&run).await?;
        }
        tracing::info!(
            status = ?run.status,
            pushed = run.counts.pushed,
            pulled = run.counts.pulled,
            unchanged = run.counts.unchanged,
            failed = run.counts.failed,
            "sync invocation finished"
        );
        Ok(RunResult {
            run,
            outcome,
            samples: ctx.samples,
            planned: ctx.planned,
        })
    }

    /// Marks a run that stopped without finishing as interrupted, naming its successor.
    async fn interrupted(
        &self,
        tenant: &TenantId,
        old: &RunId,
        successor: &RunId,
    ) -> Result<(), SyncError> {
        if let Some(mut r) = self.repo.get_run(tenant, old).await? {
            if matches!(r.status, RunStatus::Running | RunStatus::Continued) {
                r.status = RunStatus::Interrupted;
                r.finished_at = Some(Utc::now());
                r.error = Some(format!(
                    "the run stopped without finishing (worker killed or timed out); run {successor} resumed it"
                ));
                self.repo.put_run(&r).await?;
            }
        }
        Ok(())
    }
}

/// Schema and configuration checks, every invocation (cheap when nothing is missing).
pub(crate) async fn setup(ctx: &mut RunCtx<'_>) -> Result<(), SyncError> {
    let mut listed: HashMap<ObjectKind, Vec<crate::hubspot::PropertyInfo>> = HashMap::new();
    if !ctx.opts.dry_run {
        for kind in ObjectKind::ALL {
            let mut report = ctx.hubspot.ensure_schema(kind).await?;
            listed.insert(kind, std::mem::take(&mut report.properties));
            for (name, found) in report.wrong_type {
                if let Some(f) = PushField::ALL.iter().find(|f| f.property() == name) {
                    ctx.excluded_fields.insert(*f);
                }
                ctx.errors.push(RecordError {
                    direction: crate::domain::Direction::Push,
                    object: kind,
                    object_id: format!("schema:{}", kind.hubspot_object()),
                    field: Some(name.clone()),
                    message: format!(
                        "HubSpot property {name} exists with type {found}; not overwritten, field skipped until fixed"
                    ),
                });
            }
        }
    }
    for kind in ObjectKind::ALL {
        let mappings: Vec<_> = ctx.config.pull_for(kind).collect();
        if mappings.is_empty() {
            continue;
        }
        let as_label: Vec<&str> = mappings
            .iter()
            .filter(|m| m.enumeration == EnumerationValue::Label)
            .map(|m| m.hubspot_property.as_str())
            .collect();
        if !as_label.is_empty() {
            let properties = match listed.remove(&kind) {
                Some(p) => p,
                None => ctx.hubspot.list_properties(kind).await?,
            };
            for p in properties {
                if p.kind == "enumeration" && as_label.contains(&p.name.as_str()) {
                    let labels = p
                        .options
                        .into_iter()
                        .filter(|o| !o.label.is_empty())
                        .map(|o| (o.value, o.label))
                        .collect();
                    ctx.enum_labels.insert((kind, p.name), labels);
                }
            }
        }
        let fields = ctx.pendo.custom_fields(kind).await?;
        for m in &mappings {
            if !fields.contains_key(&m.pendo_field) {
                return Err(PendoError::FieldConfig {
                    kind: kind.pendo_kind(),
                    field: m.pendo_field.clone(),
                    problem: "does not exist".into(),
                }
                .into());
            }
        }
        ctx.pendo_types.insert(kind, fields);
    }
    Ok(())
}
