//! One sync in its own process, so its peak memory is the worker's alone.

use chrono::Utc;
use serde_json::json;
use shared::domain::{Job, TenantId, Trigger};
use shared::hubspot::HubSpotConfig;
use shared::queue::local::LocalQueue;
use shared::queue::Queue;
use shared::secrets::local::LocalSecrets;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::worker::{JobResult, SecretConnectors, Worker};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::counting_store::{CountingStore, Counts};

/// Peak resident set (kB) and CPU seconds of this process, from /proc.
pub fn self_usage() -> (u64, f64) {
    let hwm = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
            Some(ticks / 100.0)
        })
        .unwrap_or(0.0);
    (hwm, cpu)
}

/// What the parent passes to a child sync.
pub struct ChildArgs<'a> {
    pub dir: &'a Path,
    pub hubspot: &'a str,
    pub pendo: &'a str,
    pub tenant: &'a str,
    pub today: i32,
    /// Each invocation's time limit, as Lambda's function timeout: the worker checkpoints and
    /// enqueues a continuation before it runs out, and the next job gets a fresh budget.
    pub budget: Option<std::time::Duration>,
}

pub async fn run(a: ChildArgs<'_>) {
    let ChildArgs {
        dir,
        hubspot,
        pendo,
        tenant,
        today,
        budget,
    } = a;
    let counts = Arc::new(Counts::default());
    let store = CountingStore {
        inner: Arc::new(SqliteStore::open(dir.join("store.db")).expect("store")),
        counts: counts.clone(),
        ledger: None,
    };
    let repo = Repo::new(Arc::new(store));
    // Not counted: reading the run's errors back is the harness's work, not the sync's.
    let errors_repo = Repo::new(Arc::new(
        SqliteStore::open(dir.join("store.db")).expect("store"),
    ));
    let queue = Arc::new(LocalQueue::new());
    let connectors = Arc::new(SecretConnectors {
        secrets: Arc::new(LocalSecrets::new(dir.join("secrets.json"))),
        hubspot: HubSpotConfig {
            api_base: hubspot.to_string(),
            ..Default::default()
        },
        pendo_base_override: Some(pendo.to_string()),
        pendo_requests_per_second: 50,
    });
    let mut worker = Worker::new(repo, queue.clone(), connectors);
    worker.today_override = Some(today);
    let tenant = TenantId::parse(tenant).expect("tenant");
    let t = Instant::now();
    queue
        .send(
            &[Job::full(tenant.clone(), Trigger::Schedule, Utc::now())],
            std::time::Duration::ZERO,
        )
        .await
        .expect("enqueue");
    let mut run = None;
    let mut jobs = 0;
    while !queue.is_empty() {
        for job in queue.take_all() {
            jobs += 1;
            let deadline = budget.map(|b| Instant::now() + b);
            if let JobResult::Finished(r) = worker.handle(&job, deadline).await.expect("sync") {
                run = Some(*r);
            }
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let (peak_kb, cpu) = self_usage();
    let run = run.expect("finished");
    let failed_by_429 = failed_by_429(&errors_repo, &tenant, &run.run_id).await;
    println!(
        "{}",
        json!({
            "run": run,
            "failed_by_429": failed_by_429,
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_kb": peak_kb,
            "jobs": jobs,
            "store_read_units": counts.read_units.load(Ordering::Relaxed),
            "store_write_units": counts.write_units.load(Ordering::Relaxed),
        })
    );
}

/// Records the run gave up on after HubSpot kept answering 429 (retries exhausted): the
/// per-record errors whose message names a 429.
async fn failed_by_429(repo: &Repo, tenant: &TenantId, run: &shared::domain::RunId) -> u64 {
    let mut n = 0;
    let mut after: Option<String> = None;
    loop {
        let page = repo
            .list_run_errors(tenant, run, after.as_deref(), 500)
            .await
            .expect("run errors");
        n += page
            .items
            .iter()
            .filter(|e| e.message.contains("429"))
            .count() as u64;
        match page.next {
            Some(next) => after = Some(next),
            None => return n,
        }
    }
}
