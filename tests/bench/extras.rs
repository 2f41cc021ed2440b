//! The scenarios that are not a full sync: the naive baseline, the engine's diff rate, a
//! webhook burst, and the Lambda packages (size, init time).

use chrono::Utc;
use serde_json::json;
use shared::domain::{ActivityHistory, LatestNps, ObjectKind, SyncConfig};
use shared::hubspot::oauth::OAuthApp;
use shared::hubspot::{Auth, HubSpotApi, HubSpotClient, HubSpotConfig, WriteInput};
use shared::secret::SecretString;
use shared::sync::fields::{fingerprint, push_values, FieldInputs};
use std::time::{Duration, Instant};

use crate::world::World;

pub struct Baseline {
    pub visitors: usize,
    pub calls: u64,
    pub seconds: f64,
}

/// What a typical workflow tool does per visitor: find the contact by search, then update it.
/// Same client, same limiter, no diffing, no batching.
pub async fn naive_baseline(world: &World, m: usize) -> Baseline {
    let cfg = world.hubspot.with(|s| s.cfg.clone());
    let client = HubSpotClient::new(
        HubSpotConfig {
            api_base: world.hubspot.base_url.clone(),
            ..Default::default()
        },
        Auth::OAuth {
            app: OAuthApp {
                client_id: cfg.client_id,
                client_secret: SecretString::new(cfg.client_secret),
                redirect_uri: "http://localhost/cb".into(),
            },
            refresh_token: SecretString::new(world.hubspot.issue_refresh_token()),
        },
    );
    let props: Vec<String> = ["pendo_days_active", "pendo_time_on_app", "pendo_last_visit"]
        .map(String::from)
        .to_vec();
    let t = Instant::now();
    for v in 0..m {
        let id = sandboxes::pendo::data::visitor_id(v);
        let found = client
            .search_eq(ObjectKind::Visitor, "pendo_visitor_id", &id, &props)
            .await
            .expect("search");
        if let Some(c) = found.first() {
            let properties = props
                .iter()
                .map(|p| (p.clone(), c.prop(p).unwrap_or("").to_string()))
                .collect();
            client
                .update(
                    ObjectKind::Visitor,
                    vec![WriteInput {
                        key: c.id.clone(),
                        properties,
                    }],
                )
                .await
                .expect("update");
        }
    }
    Baseline {
        visitors: m,
        calls: client.calls().total() - client.calls().get("hubspot.oauth"),
        seconds: t.elapsed().as_secs_f64(),
    }
}

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
    pub cpu_seconds: f64,
    pub history_bytes_avg: f64,
}

/// Values + fingerprint for many records, single-threaded: the engine's own cost per record.
pub fn diff_rate(n: usize) -> DiffRate {
    let config = SyncConfig::default();
    let today = 20_786;
    let histories: Vec<ActivityHistory> = (0..n)
        .map(|i| {
            let mut h = ActivityHistory::default();
            for d in 0..360 {
                if (i * 31 + d * 17) % 5 == 0 {
                    h.record(today - d as i32, ((i + d) % 90) as u32);
                }
            }
            h.nps = (i % 3 == 0).then(|| LatestNps {
                score: (i % 11) as u8,
                text: Some("fine".into()),
                at_ms: 1_764_000_000_000,
            });
            h
        })
        .collect();
    let bytes: usize = histories
        .iter()
        .map(|h| serde_json::to_string(h).map_or(0, |s| s.len()))
        .sum();
    let (_, cpu0) = crate::child::self_usage();
    let t = Instant::now();
    let mut same = 0usize;
    let mut last = String::new();
    for h in &histories {
        let input = FieldInputs {
            first_visit_ms: Some(1_700_000_000_000),
            last_visit_ms: Some(1_764_000_000_000),
            history: Some(h),
            total_visitors: None,
        };
        let (values, _) = push_values(config.push_for(ObjectKind::Visitor), &input, today);
        let fp = fingerprint(&values);
        same += usize::from(fp == last);
        last = fp;
    }
    let (_, cpu1) = crate::child::self_usage();
    let cpu = (cpu1 - cpu0).max(t.elapsed().as_secs_f64().min(cpu1 - cpu0 + 0.01));
    std::hint::black_box(same);
    DiffRate {
        records: n,
        cpu_seconds: cpu.max(0.001),
        history_bytes_avg: bytes as f64 / n as f64,
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
