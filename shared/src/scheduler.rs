//! Daily fan-out: page through tenants and enqueue one full sync per due, enabled tenant.
//!
//! The job id is tenant + the *scheduled* date (taken from the event, not the clock), and it is
//! recorded with a conditional write before the send: a retried or repeated schedule, however
//! late, cannot enqueue the same day's job twice.

use chrono::{DateTime, Duration, Timelike, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::domain::{Job, TenantStatus};
use crate::queue::{Queue, QueueError};
use crate::store::repo::Repo;
use crate::store::StoreError;

const PAGE: usize = 100;
const DEDUPE_TTL_DAYS: i64 = 3;
/// Tenants of a page looked at at once.
const CONCURRENCY: usize = 16;

/// What the fan-out does with one tenant.
enum Decision {
    Disabled,
    NeedsAttention,
    NotDueYet,
    AlreadyEnqueued,
    Enqueue(Job),
}

#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FanOutSummary {
    pub scanned: u64,
    pub enqueued: u64,
    pub already_enqueued: u64,
    pub not_due_yet: u64,
    pub skipped_disabled: u64,
    pub skipped_needs_attention: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Enqueues the daily job of every enabled tenant whose scheduled hour has passed on the
/// scheduled day. Run it hourly: a tenant is picked up at its hour, and a missed hour is caught
/// up by the next run without a duplicate.
pub async fn fan_out(
    repo: &Repo,
    queue: &dyn Queue,
    scheduled_at: DateTime<Utc>,
) -> Result<FanOutSummary, SchedulerError> {
    let mut summary = FanOutSummary::default();
    let date = scheduled_at.date_naive();
    let mut after: Option<String> = None;
    loop {
        let page = repo.list_tenants(after.as_deref(), PAGE).await?;
        summary.scanned += page.items.len() as u64;
        // A page's tenants are looked at side by side: each costs two round trips (its
        // config, its day's marker), which one after the other put 10 000 tenants at
        // 20 000 sequential calls.
        let decisions: Vec<Result<Decision, SchedulerError>> =
            futures::stream::iter(page.items.into_iter().map(|tenant| async move {
                match tenant.status {
                    TenantStatus::Disabled => return Ok(Decision::Disabled),
                    TenantStatus::NeedsAttention => return Ok(Decision::NeedsAttention),
                    TenantStatus::Enabled => {}
                }
                let hour = repo
                    .get_config(&tenant.id)
                    .await?
                    .map(|c| c.schedule.hour_utc)
                    .unwrap_or_default();
                if (scheduled_at.hour() as u8) < hour {
                    return Ok(Decision::NotDueYet);
                }
                let job = Job::daily(tenant.id.clone(), date, Utc::now());
                Ok(
                    if repo
                        .mark_once(&tenant.id, &job.job_id, Duration::days(DEDUPE_TTL_DAYS))
                        .await?
                    {
                        Decision::Enqueue(job)
                    } else {
                        Decision::AlreadyEnqueued
                    },
                )
            }))
            .buffered(CONCURRENCY)
            .collect()
            .await;
        let mut batch = Vec::new();
        let mut failed = None;
        for d in decisions {
            match d {
                Ok(Decision::Disabled) => summary.skipped_disabled += 1,
                Ok(Decision::NeedsAttention) => summary.skipped_needs_attention += 1,
                Ok(Decision::NotDueYet) => summary.not_due_yet += 1,
                Ok(Decision::AlreadyEnqueued) => summary.already_enqueued += 1,
                Ok(Decision::Enqueue(job)) => batch.push(job),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        if let Some(e) = failed {
            // The page is not sent: its markers go, so the retry enqueues these tenants.
            unmark_all(repo, &batch).await;
            return Err(e);
        }
        for chunk in batch.chunks(10) {
            if let Err(e) = queue.send(chunk, std::time::Duration::ZERO).await {
                // The markers must not outlive a failed send, or the retry would skip these tenants.
                unmark_all(repo, chunk).await;
                return Err(e.into());
            }
            summary.enqueued += chunk.len() as u64;
        }
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    info!(summary = %serde_json::to_string(&summary).unwrap_or_default(), "fan-out finished");
    Ok(summary)
}

/// Clears the day's markers of jobs that were not sent.
async fn unmark_all(repo: &Repo, jobs: &[Job]) {
    for job in jobs {
        if let Err(u) = repo.unmark(&job.tenant_id, &job.job_id).await {
            warn!(tenant_id = %job.tenant_id, error = %u, "could not clear dedupe marker");
        }
    }
}

/// What the schedule delivers. EventBridge Scheduler invokes the function with exactly the
/// target's `Input`, with no EventBridge envelope, after replacing context keywords such as
/// `<aws.scheduler.scheduled-time>` (EventBridge Scheduler user guide, "Adding context
/// attributes"); `template.yaml` sets that Input. An EventBridge rule (`AWS::Events::Rule`)
/// delivers its envelope instead, whose `time` is the scheduled time. Other fields are ignored.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ScheduleEvent {
    /// From the Scheduler Input: RFC 3339, e.g. `2026-11-30T05:05:00Z`.
    #[serde(default)]
    pub scheduled_time: Option<DateTime<Utc>>,
    /// From an EventBridge rule's envelope.
    #[serde(default)]
    pub time: Option<DateTime<Utc>>,
    /// Scheduler's `<aws.scheduler.attempt-number>`, logged to tell retries apart.
    #[serde(default)]
    pub attempt_number: Option<String>,
}

impl ScheduleEvent {
    /// The time the jobs are for; the clock only when the event carries none (a manual invoke).
    pub fn scheduled_at(&self) -> DateTime<Utc> {
        self.scheduled_time.or(self.time).unwrap_or_else(|| {
            warn!("schedule event carries no scheduled time; using the clock");
            Utc::now()
        })
    }
}

/// The Lambda entry point's logic: the scheduled time of the event is the day the jobs are for.
pub async fn handle_event(
    repo: &Repo,
    queue: &dyn Queue,
    event: ScheduleEvent,
) -> Result<FanOutSummary, SchedulerError> {
    info!(
        attempt = event.attempt_number.as_deref().unwrap_or("1"),
        "schedule fired"
    );
    fan_out(repo, queue, event.scheduled_at()).await
}
