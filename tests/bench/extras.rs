//! The scenarios that are not a full sync: a Pendo pull, the engine's diff rate, a webhook
//! burst, and the Lambda packages (size, init time).

use chrono::Utc;
use serde_json::json;
use shared::domain::{ActivityHistory, LatestNps, ObjectKind, SyncConfig};
use shared::secret::SecretString;
use shared::sync::fields::{diff_record, in_property_order, FieldInputs};
use std::time::{Duration, Instant};

use crate::world::World;

pub struct PendoPull {
    pub visitors: usize,
    pub calls: u64,
    pub seconds: f64,
}

/// Every visitor (first/last visit, account, email) paged out of the Pendo sandbox, 500 a call.
pub async fn pendo_pull(world: &World) -> PendoPull {
    use shared::pendo::{PendoApi, PendoClient, PendoConfig};
    let key = "pull-key";
    let base = world.pendo.add_key(key, "us", true);
    let mut cfg = PendoConfig::new(base);
    cfg.requests_per_second = 50;
    let client = PendoClient::new(cfg, SecretString::new(key));
    let t = Instant::now();
    let mut after: Option<String> = None;
    let mut n = 0;
    loop {
        let page = client
            .visitors_page(after.as_deref(), 500)
            .await
            .expect("visitors");
        let Some(last) = page.last().map(|v| v.id.clone()) else {
            break;
        };
        n += page.len();
        after = Some(last);
    }
    PendoPull {
        visitors: n,
        calls: client.calls().total(),
        seconds: t.elapsed().as_secs_f64(),
    }
}

pub struct DiffRate {
    pub records: usize,
    /// Records whose fingerprint differed from yesterday's (their property map was built).
    pub changed: usize,
    pub cpu_seconds: f64,
    /// Histories read and diffed at a time, as the push pages them.
    pub page: usize,
    pub history_bytes_avg: f64,
    pub active_days_avg: f64,
}

/// Records diffed per CPU-second the engine must sustain at 1 M visitors (issue 20).
pub const DIFF_RATE_GOAL: f64 = 500_000.0;

/// Histories are made in chunks of this many, so memory stays flat at any `n`.
const CHUNK: usize = 20_000;

/// CPU time of the calling thread, seconds: nanoseconds from /proc/thread-self/schedstat, else
/// clock ticks from /proc/thread-self/stat.
fn thread_cpu() -> f64 {
    if let Some(ns) = std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
    {
        return ns / 1e9;
    }
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(0.0)
}

fn history(i: usize, today: i32) -> ActivityHistory {
    let mut h = ActivityHistory::default();
    for d in 0..360 {
        if (i * 31 + d * 17).is_multiple_of(5) {
            h.record(today - d as i32, ((i + d) % 90) as u32);
        }
    }
    h.nps = i.is_multiple_of(3).then(|| LatestNps {
        score: (i % 11) as u8,
        text: Some("fine".into()),
        at_ms: 1_764_000_000_000,
    });
    h
}

/// A daily diff of `n` records, single-threaded, as the push runs it: a page of histories
/// (the push's default page size) read from the store (parsed from their stored JSON), then
/// each record's values computed from its usage history, fingerprinted and compared with
/// yesterday's fingerprint, and the property map built for those that changed
/// (`shared::sync::fields::diff_record`). Only the diffing is timed (thread CPU time), not
/// making the histories, reading them or yesterday's run.
pub fn diff_rate(n: usize) -> DiffRate {
    let config = SyncConfig::default();
    let today = 20_786;
    let (mut bytes, mut days, mut cpu, mut changed) = (0usize, 0usize, 0.0, 0usize);
    // As the push: the fields listed once (per page there), in property order.
    let fields = in_property_order(config.push_for(ObjectKind::Visitor));
    let fields = || fields.iter().copied();
    fn input(h: &ActivityHistory) -> FieldInputs<'_> {
        FieldInputs {
            first_visit_ms: Some(1_700_000_000_000),
            last_visit_ms: Some(1_764_000_000_000),
            history: Some(h),
            total_visitors: None,
        }
    }
    let page_size = shared::sync::SyncOptions::new(today).page_size;
    for start in (0..n).step_by(CHUNK) {
        let stored: Vec<String> = (start..(start + CHUNK).min(n))
            .map(|i| serde_json::to_string(&history(i, today)).expect("history serialises"))
            .collect();
        bytes += stored.iter().map(String::len).sum::<usize>();
        for page in stored.chunks(page_size) {
            let histories: Vec<ActivityHistory> = page
                .iter()
                .map(|json| serde_json::from_str(json).expect("history parses"))
                .collect();
            days += histories.iter().map(|h| h.days.len()).sum::<usize>();
            let yesterday: Vec<String> = histories
                .iter()
                .map(|h| diff_record(fields(), &input(h), today - 1, None).fingerprint)
                .collect();
            let cpu0 = thread_cpu();
            for (h, stored) in histories.iter().zip(&yesterday) {
                let diff = diff_record(fields(), &input(h), today, Some(stored));
                changed += usize::from(std::hint::black_box(diff.values).is_some());
            }
            cpu += thread_cpu() - cpu0;
        }
    }
    DiffRate {
        records: n,
        changed,
        cpu_seconds: cpu.max(1e-6),
        page: page_size,
        history_bytes_avg: bytes as f64 / n.max(1) as f64,
        active_days_avg: days as f64 / n.max(1) as f64,
    }
}

pub struct Burst {
    pub events: usize,
    pub visitors: usize,
    pub seconds: f64,
    pub jobs: usize,
    pub duplicates: u64,
}

/// NPS webhooks through the intake router on the embedded store; half of them redelivered.
pub async fn webhook_burst(events: usize, visitors: usize) -> Burst {
    use axum::body::Body;
    use tower::ServiceExt;
    let dir = tempfile::tempdir().expect("tmp");
    let repo = shared::store::repo::Repo::new(std::sync::Arc::new(
        shared::store::sqlite::SqliteStore::open(dir.path().join("s.db")).expect("store"),
    ));
    let secrets = std::sync::Arc::new(shared::secrets::local::LocalSecrets::new(
        dir.path().join("secrets.json"),
    ));
    let tenant = shared::domain::TenantId::parse("burst").expect("id");
    let mut t = shared::domain::Tenant::new(
        tenant.clone(),
        "Burst",
        shared::domain::PendoRegion::Us,
        Utc::now(),
    )
    .expect("tenant");
    t.status = shared::domain::TenantStatus::Enabled;
    repo.create_tenant(&t).await.expect("create");
    use shared::secrets::Secrets;
    secrets
        .put_tenant(
            &tenant,
            &shared::secrets::TenantSecrets {
                webhook_token: Some(SecretString::new("tok")),
                ..Default::default()
            },
        )
        .await
        .expect("secrets");
    let queue = std::sync::Arc::new(shared::queue::local::LocalQueue::new());
    let state = shared::api::IntakeState {
        repo: repo.clone(),
        secrets,
        queue: queue.clone(),
        public_base: shared::api::public_url::PublicBase::FromRequest,
    };
    let router = shared::api::webhooks::router(state);
    let t0 = Instant::now();
    let mut duplicates = 0;
    for i in 0..events {
        // Every other event is a redelivery of the previous one (Pendo retries).
        let unique = if i % 2 == 1 { i - 1 } else { i };
        let body = json!({"event": "npsSubmitted", "uniqueId": format!("evt-{unique}"),
                          "visitorId": format!("v{:06}", i % visitors), "timestamp": 1_764_460_800 + i,
                          "properties": {"pollResponse": i % 11}});
        let req = axum::http::Request::post("/webhooks/pendo/burst/tok")
            .header("content-type", "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        let resp = router.clone().oneshot(req).await.expect("response");
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .expect("body");
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        duplicates += v["duplicates"].as_u64().unwrap_or(0);
    }
    Burst {
        events,
        visitors,
        seconds: t0.elapsed().as_secs_f64(),
        jobs: queue.len(),
        duplicates,
    }
}

pub struct LambdaPackage {
    pub name: &'static str,
    pub arm64_bytes: Option<u64>,
    pub arm64_zip_bytes: Option<u64>,
    pub init_ms: Option<f64>,
}

pub const FUNCTIONS: [&str; 5] = [
    "sync_scheduler",
    "sync_worker",
    "admin_api",
    "oauth_callback",
    "webhook_intake",
];

/// Sizes of the arm64 bootstraps as `sam build` makes them (`infra/scripts/package.sh` writes
/// `<target dir>/lambda-sizes.json`: `{"<binary>": {"bytes": N, "zip_bytes": M}}`), and init
/// time of the host release builds against a minimal Lambda Runtime API emulator (spawn until
/// the first `GET /runtime/invocation/next`).
pub async fn lambda_packages() -> Vec<LambdaPackage> {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let sizes: serde_json::Value = std::fs::read(target.join("lambda-sizes.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let mut out = Vec::new();
    for name in FUNCTIONS {
        let host = target.join(format!("release/{name}"));
        let init_ms = if host.exists() {
            init_time(&host).await
        } else {
            None
        };
        out.push(LambdaPackage {
            name,
            arm64_bytes: sizes[name]["bytes"].as_u64(),
            arm64_zip_bytes: sizes[name]["zip_bytes"].as_u64(),
            init_ms,
        });
    }
    out
}

async fn init_time(bin: &std::path::Path) -> Option<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.ok()?;
    let addr = listener.local_addr().ok()?;
    let t = Instant::now();
    let mut child = tokio::process::Command::new(bin)
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("TABLE_NAME", "t")
        .env("JOB_QUEUE_URL", "http://127.0.0.1:9/q")
        .env("APP_SECRET_ID", "app")
        .env("TENANT_SECRET_PREFIX", "p/")
        .env("PUBLIC_BASE_URL", "https://x")
        .env("RUST_LOG", "off")
        .kill_on_drop(true)
        .spawn()
        .ok()?;
    let accepted = tokio::time::timeout(Duration::from_secs(20), listener.accept()).await;
    let elapsed = t.elapsed().as_secs_f64() * 1000.0;
    let _ = child.kill().await;
    accepted.ok()?.ok().map(|_| elapsed)
}
