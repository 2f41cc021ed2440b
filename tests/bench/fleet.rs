//! Issue 20, many tenants: the scheduler's fan-out on moto at 1 000 and 10 000 tenants, and a
//! fleet of tenants (each with its own HubSpot portal and Pendo subscription) whose daily jobs
//! go through the real scheduler into SQS on moto and are consumed the way the template's
//! event source mapping consumes them (its MaximumConcurrency, BatchSize and Timeout, read
//! from `template.yaml`). Each job runs `shared::worker::Worker` as the Lambda would.
//!
//! What runs where: tenant records, the fan-out's dedupe markers and the job queue are on moto
//! (DynamoDB and SQS through the real adapters); each tenant's sync state is an embedded SQLite
//! store behind a ledger of DynamoDB-equivalent capacity units per partition key (moto cannot
//! hold millions of items on this machine).

use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use chrono::Utc;
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use shared::domain::TenantId;
use shared::queue::decode_job;
use shared::queue::sqs::SqsQueue;
use shared::scheduler::{fan_out, FanOutSummary};
use shared::worker::{JobResult, Worker};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::fleet_sched::{create_tenants, fresh_table_and_queue, scheduled_at, Aws, CallCounter};
use crate::fleet_store::Ledger;
use crate::fleet_tenant::TenantWorld;
use crate::prices::Usage;

/// Tenant sizes: Pareto with the "80/20" shape, clipped to the range, seeded.
pub const PARETO_ALPHA: f64 = 1.16;
pub const MIN_VISITORS: f64 = 1000.0;
pub const MAX_VISITORS: f64 = 20000.0;
pub const SEED: u64 = 20;

/// The worker's event source mapping and function settings, as the template declares them.
#[derive(Clone, Debug)]
pub struct Template {
    pub max_concurrency: usize,
    pub batch_size: usize,
    pub timeout_s: u64,
    pub memory_mb: u64,
    pub visibility_timeout_s: u64,
    /// Every function's `MALLOC_ARENA_MAX` (Globals), given to the bench's child syncs.
    pub malloc_arena_max: u64,
}

/// The first `key: value` under the resource `name` (a two-space-indented key of Resources).
fn template_value(text: &str, resource: &str, key: &str) -> u64 {
    let header = format!("  {resource}:");
    let mut lines = text.lines().skip_while(|l| l.trim_end() != header).skip(1);
    lines
        .by_ref()
        .take_while(|l| l.is_empty() || l.starts_with("   ") || l.trim_start().starts_with('#'))
        .find_map(|l| {
            l.trim()
                .strip_prefix(&format!("{key}:"))
                .and_then(|v| v.trim().trim_matches('"').parse().ok())
        })
        .unwrap_or_else(|| panic!("template.yaml: no {key} under {resource}"))
}

pub fn read_template() -> Template {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("read template.yaml");
    Template {
        max_concurrency: template_value(&text, "SyncWorkerFunction", "MaximumConcurrency") as usize,
        batch_size: template_value(&text, "SyncWorkerFunction", "BatchSize") as usize,
        timeout_s: template_value(&text, "SyncWorkerFunction", "Timeout"),
        memory_mb: template_value(&text, "SyncWorkerFunction", "MemorySize"),
        visibility_timeout_s: template_value(&text, "JobQueue", "VisibilityTimeout"),
        malloc_arena_max: template_value(&text, "Function", "MALLOC_ARENA_MAX"),
    }
}

pub fn sizes(n: usize) -> Vec<usize> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(SEED);
    (0..n)
        .map(|_| {
            let u: f64 = rng.random();
            (MIN_VISITORS / (1.0 - u).powf(1.0 / PARETO_ALPHA)).min(MAX_VISITORS) as usize
        })
        .collect()
}

/// The tenant index a message's job is for (`usize::MAX` if it does not decode).
fn tenant_of(m: &Message) -> usize {
    m.body
        .as_deref()
        .and_then(|b| decode_job(b).ok())
        .map_or(usize::MAX, |j| index(&j.tenant_id))
}

fn index(t: &TenantId) -> usize {
    t.as_str()
        .strip_prefix("fleet-")
        .and_then(|i| i.parse().ok())
        .expect("fleet tenant id")
}

/// One tenant's day, as the fleet saw it.
pub struct TenantResult {
    pub n: usize,
    /// From enqueue (the job's `enqueued_at`) to the invocation taking its first job.
    pub wait_s: f64,
    /// Harness time to start and seed the tenant's sandboxes (not the worker's).
    pub setup_s: f64,
    /// From the worker taking its first job to the run's end.
    pub sync_s: f64,
    pub outcome: String,
    pub invocations: u32,
    pub pushed: u64,
    pub pulled: u64,
    pub failed: u64,
    pub hubspot_requests: u64,
    pub hubspot_peak: usize,
    pub hubspot_429: u64,
    pub pendo_requests: u64,
    pub usage: Usage,
}

struct Live {
    world: TenantWorld,
    wait_s: f64,
    setup_s: f64,
    first_start: Instant,
}

/// A tenant whose run has started and not ended. Every job of the tenant, including one
/// delivered while another invocation still holds the tenant (a continuation received before
/// the previous job let go of its lease), runs against the same world, so the worker's lease
/// and checkpoints decide what happens, as they would on the shared DynamoDB table.
#[derive(Default)]
struct Slot {
    live: tokio::sync::OnceCell<Live>,
    jobs: AtomicU64,
}

struct Pool {
    sqs: aws_sdk_sqs::Client,
    url: String,
    queue: Arc<SqsQueue>,
    template: Template,
    sizes: Vec<usize>,
    ledger: Arc<Ledger>,
    slots: Mutex<HashMap<usize, Arc<Slot>>>,
    /// One result per tenant, keyed by tenant index.
    results: Mutex<BTreeMap<usize, TenantResult>>,
    /// Jobs received for a tenant whose run had already ended (deleted, not run again).
    late_jobs: AtomicUsize,
    /// Invocations in progress.
    busy: AtomicUsize,
    /// Set when every tenant has a result, the deadline passed, or the queue drained.
    done: AtomicBool,
    /// After this, no invocation takes a new job: the run stops with what finished.
    stop_at: Option<Instant>,
    /// Tenants whose sandboxes are up (being synced, or waiting for a continuation).
    alive: AtomicUsize,
    alive_peak: AtomicUsize,
    /// Invocations (receives that returned jobs) and the jobs they carried.
    invocations: AtomicUsize,
    jobs: AtomicUsize,
    bar: ProgressBar,
}

pub struct Fleet {
    pub template: Template,
    pub sizes: Vec<usize>,
    pub fanout: FanOutSummary,
    pub fanout_s: f64,
    pub fanout_calls: BTreeMap<String, u64>,
    /// AWS calls on moto while the jobs were consumed (receives, deletes, continuations).
    pub consume_calls: BTreeMap<String, u64>,
    pub wall_s: f64,
    pub results: Vec<TenantResult>,
    pub ledger: Arc<Ledger>,
    pub alive_peak: usize,
    pub invocations: usize,
    pub jobs: usize,
    pub peak_rss_kb: u64,
    /// Set when the run was cut at its deadline: tenants not started by then.
    pub not_started: Option<usize>,
    /// Tenants cut while waiting for a continuation (their invocation's Timeout came first).
    pub cut_continuing: usize,
    pub deadline_s: Option<f64>,
    /// Without a deadline: tenants with no result when the queue had drained and no
    /// invocation was running (a job lost between the queue and the worker).
    pub lost: usize,
    /// Jobs received for a tenant whose run had already ended.
    pub late_jobs: usize,
}

/// Runs the fleet; with `deadline`, stops taking jobs after that long (from the fan-out) and
/// reports what finished, the rest still queued.
pub async fn run(counter: &CallCounter, tenants: usize, deadline: Option<Duration>) -> Fleet {
    let template = read_template();
    let sizes = sizes(tenants);
    let config = counter.sdk_config().await;
    let Aws {
        store,
        repo,
        queue,
        sqs,
        url,
    } = fresh_table_and_queue(&config, "fleet", template.visibility_timeout_s).await;
    eprintln!("   creating {tenants} tenants on moto");
    create_tenants(store.as_ref(), tenants).await;
    counter.take();
    let started = Instant::now();
    let fanout = fan_out(&repo, &queue, scheduled_at())
        .await
        .expect("fan-out");
    let fanout_s = started.elapsed().as_secs_f64();
    let fanout_calls = counter.take();
    assert_eq!(fanout.enqueued as usize, tenants, "every tenant enqueued");

    let bar = ProgressBar::new(tenants as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} tenants, {msg} (eta {eta})",
        )
        .expect("progress template"),
    );
    let pool = Arc::new(Pool {
        sqs,
        url,
        queue: Arc::new(queue),
        template: template.clone(),
        sizes: sizes.clone(),
        ledger: Ledger::new(),
        slots: Mutex::new(HashMap::new()),
        results: Mutex::new(BTreeMap::new()),
        late_jobs: AtomicUsize::new(0),
        busy: AtomicUsize::new(0),
        done: AtomicBool::new(false),
        stop_at: deadline.map(|d| started + d),
        alive: AtomicUsize::new(0),
        alive_peak: AtomicUsize::new(0),
        invocations: AtomicUsize::new(0),
        jobs: AtomicUsize::new(0),
        bar,
    });
    let pollers: Vec<_> = (0..template.max_concurrency)
        .map(|_| tokio::spawn(poll(pool.clone())))
        .collect();
    let watchdog = tokio::spawn(watch_drained(pool.clone()));
    for p in pollers {
        p.await.expect("poller");
    }
    watchdog.abort();
    pool.bar.finish();
    let wall_s = started.elapsed().as_secs_f64();
    let consume_calls = counter.take();
    let _ = pool.sqs.delete_queue().queue_url(&pool.url).send().await;
    let results: Vec<_> = std::mem::take(&mut *pool.results.lock().unwrap())
        .into_values()
        .collect();
    let continuing = pool.slots.lock().unwrap().len();
    let unfinished = tenants - results.len();
    Fleet {
        template,
        sizes,
        fanout,
        fanout_s,
        fanout_calls,
        consume_calls,
        wall_s,
        results,
        ledger: pool.ledger.clone(),
        alive_peak: pool.alive_peak.load(Ordering::Relaxed),
        invocations: pool.invocations.load(Ordering::Relaxed),
        jobs: pool.jobs.load(Ordering::Relaxed),
        peak_rss_kb: crate::child::self_usage().0,
        not_started: deadline.map(|_| unfinished.saturating_sub(continuing)),
        cut_continuing: continuing,
        deadline_s: deadline.map(|d| d.as_secs_f64()),
        lost: if deadline.is_some() { 0 } else { unfinished },
        late_jobs: pool.late_jobs.load(Ordering::Relaxed),
    }
}

fn stopping(pool: &Pool) -> bool {
    pool.stop_at.is_some_and(|t| Instant::now() >= t)
}

/// Ends the run if the queue holds nothing (visible, in flight or delayed) and no invocation is
/// running, twice in a row 15 s apart: whatever has no result then will never get one, and
/// the report says how many.
async fn watch_drained(pool: Arc<Pool>) {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let mut idle_checks = 0;
    loop {
        tokio::time::sleep(Duration::from_secs(15)).await;
        // A tenant whose continuation was lost keeps its slot: only running invocations count.
        let idle = pool.busy.load(Ordering::SeqCst) == 0;
        let queued = pool
            .sqs
            .get_queue_attributes()
            .queue_url(&pool.url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(A::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .ok()
            .and_then(|o| o.attributes)
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            });
        idle_checks = if idle && queued == Some(0) {
            idle_checks + 1
        } else {
            0
        };
        if idle_checks >= 2 {
            pool.bar
                .println("queue drained with no tenant running: ending the fleet run");
            pool.done.store(true, Ordering::SeqCst);
            return;
        }
    }
}

/// One of the event source mapping's concurrent pollers: receive up to BatchSize messages,
/// invoke the "function" with them, delete what it handled.
async fn poll(pool: Arc<Pool>) {
    while !pool.done.load(Ordering::SeqCst) && !stopping(&pool) {
        pool.busy.fetch_add(1, Ordering::SeqCst);
        let got = pool
            .sqs
            .receive_message()
            .queue_url(&pool.url)
            .max_number_of_messages(pool.template.batch_size as i32)
            .wait_time_seconds(1)
            .send()
            .await;
        match got {
            Ok(out) => {
                let msgs = out.messages.unwrap_or_default();
                if msgs.is_empty() {
                    pool.busy.fetch_sub(1, Ordering::SeqCst);
                    // At the tail only (continuations not visible yet, or nothing left).
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                invoke(&pool, msgs).await;
            }
            Err(e) => {
                pool.bar.println(format!("receive failed: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        pool.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Starts the tenant's sandboxes (harness time, measured apart from the sync).
async fn start_live(pool: &Pool, job: &shared::domain::Job, i: usize) -> Live {
    let taken = Instant::now();
    let wait_s = (Utc::now() - job.enqueued_at).num_milliseconds() as f64 / 1e3;
    let alive = pool.alive.fetch_add(1, Ordering::Relaxed) + 1;
    pool.alive_peak.fetch_max(alive, Ordering::Relaxed);
    let world = TenantWorld::start(&job.tenant_id, pool.sizes[i], &pool.ledger).await;
    Live {
        world,
        wait_s,
        setup_s: taken.elapsed().as_secs_f64(),
        first_start: taken,
    }
}

/// One Lambda invocation: the batch's jobs in order under one Timeout, like `handle_sqs`.
async fn invoke(pool: &Pool, msgs: Vec<Message>) {
    let deadline = Instant::now() + Duration::from_secs(pool.template.timeout_s);
    pool.invocations.fetch_add(1, Ordering::Relaxed);
    pool.jobs.fetch_add(msgs.len(), Ordering::Relaxed);
    let mut handled = Vec::new();
    for m in msgs {
        let i = tenant_of(&m);
        if stopping(pool) && !pool.slots.lock().unwrap().contains_key(&i) {
            // Cut at the deadline: jobs not started stay in the queue, undeleted.
            continue;
        }
        let Some(job) = m.body.as_deref().and_then(|b| decode_job(b).ok()) else {
            pool.bar
                .println("undecodable message left for the dead-letter queue");
            continue;
        };
        // Under the results' lock, as `finish` records a result and frees the slot: a job
        // checked here either finds the result or the slot, never neither.
        let slot = {
            let results = pool.results.lock().unwrap();
            if results.contains_key(&i) {
                None
            } else {
                Some(pool.slots.lock().unwrap().entry(i).or_default().clone())
            }
        };
        let Some(slot) = slot else {
            pool.late_jobs.fetch_add(1, Ordering::Relaxed);
            handled.push(m);
            continue;
        };
        let live = slot.live.get_or_init(|| start_live(pool, &job, i)).await;
        slot.jobs.fetch_add(1, Ordering::Relaxed);
        let mut worker = Worker::new(
            live.world.repo.clone(),
            pool.queue.clone(),
            live.world.connectors.clone(),
        );
        worker.today_override = Some(live.world.today);
        let outcome = match worker.handle(&job, Some(deadline)).await {
            Ok(JobResult::Continued | JobResult::Deferred) => {
                // The rest of the run comes back through the queue: the slot keeps the world.
                handled.push(m);
                continue;
            }
            Ok(JobResult::Finished(run)) => Ok(*run),
            Ok(JobResult::Skipped(why)) => Err(format!("skipped: {why}")),
            Err(e) => Err(format!("error: {e}")),
        };
        finish(pool, i, &slot, outcome);
        handled.push(m);
    }
    let entries: Vec<_> = handled
        .iter()
        .enumerate()
        .filter_map(|(k, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(k.to_string())
                .set_receipt_handle(m.receipt_handle.clone())
                .build()
                .ok()
        })
        .collect();
    if !entries.is_empty() {
        if let Err(e) = pool
            .sqs
            .delete_message_batch()
            .queue_url(&pool.url)
            .set_entries(Some(entries))
            .send()
            .await
        {
            pool.bar.println(format!("delete failed: {e}"));
        }
    }
}

/// Records the tenant's one result and lets its world go (dropped with the last job holding
/// the slot).
fn finish(
    pool: &Pool,
    i: usize,
    slot: &Arc<Slot>,
    outcome: Result<shared::domain::RunRecord, String>,
) {
    let live = slot.live.get().expect("a finished tenant was started");
    let w = &live.world;
    let (peak, rejected) = w
        .hubspot
        .with(|s| (s.burst.peak, s.burst.rejected + s.search.rejected));
    let (read, write) = (
        w.units.read_units.load(Ordering::Relaxed),
        w.units.write_units.load(Ordering::Relaxed),
    );
    let (label, run) = match outcome {
        Ok(r) => (format!("{:?}", r.status), Some(r)),
        Err(e) => {
            pool.bar.println(format!("tenant {}: {e}", w.n));
            (e, None)
        }
    };
    let result = TenantResult {
        n: w.n,
        wait_s: live.wait_s,
        setup_s: live.setup_s,
        sync_s: live.first_start.elapsed().as_secs_f64() - live.setup_s,
        outcome: label,
        invocations: run.as_ref().map_or(0, |r| r.invocations),
        pushed: run.as_ref().map_or(0, |r| r.counts.pushed),
        pulled: run.as_ref().map_or(0, |r| r.counts.pulled),
        failed: run.as_ref().map_or(0, |r| r.counts.failed),
        hubspot_requests: w.hubspot.counts().values().sum(),
        hubspot_peak: peak,
        hubspot_429: rejected,
        pendo_requests: w.pendo.counts().values().sum(),
        usage: Usage::of_sync(
            run.as_ref().map_or(0.0, |r| r.busy_seconds),
            slot.jobs.load(Ordering::Relaxed),
            write,
            read,
        ),
    };
    let mut results = pool.results.lock().unwrap();
    pool.slots.lock().unwrap().remove(&i);
    if results.contains_key(&i) {
        pool.late_jobs.fetch_add(1, Ordering::Relaxed);
        return;
    }
    results.insert(i, result);
    let alive = pool.alive.fetch_sub(1, Ordering::Relaxed) - 1;
    let visitors: usize = results.values().map(|r| r.n).sum();
    pool.bar.inc(1);
    pool.bar
        .set_message(format!("{visitors} visitors synced, {alive} tenants up"));
    if pool.bar.is_hidden() && results.len().is_multiple_of(50) {
        // Not a terminal (bench.sh's log): one line per 50 tenants instead of a bar.
        eprintln!("   {} tenants, {visitors} visitors done", results.len());
    }
    if results.len() == pool.sizes.len() {
        pool.done.store(true, Ordering::SeqCst);
    }
}
