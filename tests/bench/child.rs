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

pub async fn run(dir: &Path, hubspot: &str, pendo: &str, tenant: &str, today: i32) {
    let counts = Arc::new(Counts::default());
    let store = CountingStore {
        inner: Arc::new(SqliteStore::open(dir.join("store.db")).expect("store")),
        counts: counts.clone(),
    };
    let repo = Repo::new(Arc::new(store));
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
            &[Job::full(tenant, Trigger::Schedule, Utc::now())],
            std::time::Duration::ZERO,
        )
        .await
        .expect("enqueue");
    let mut run = None;
    let mut jobs = 0;
    while !queue.is_empty() {
        for job in queue.take_all() {
            jobs += 1;
            if let JobResult::Finished(r) = worker.handle(&job, None).await.expect("sync") {
                run = Some(*r);
            }
        }
    }
    let wall = t.elapsed().as_secs_f64();
    let (peak_kb, cpu) = self_usage();
    println!(
        "{}",
        json!({
            "run": run.expect("finished"),
            "wall_s": wall,
            "cpu_s": cpu,
            "peak_rss_kb": peak_kb,
            "jobs": jobs,
            "store_read_units": counts.read_units.load(Ordering::Relaxed),
            "store_write_units": counts.write_units.load(Ordering::Relaxed),
        })
    );
}
