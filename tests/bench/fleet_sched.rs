//! The scheduler on moto: N tenants in a fresh DynamoDB table, one `fan_out` into a fresh SQS
//! queue through the real adapters, then a second one (which must enqueue nothing). AWS calls
//! are counted on the wire by a forwarding proxy in front of moto (one count per HTTP request,
//! by its `X-Amz-Target` operation), so batching and retries show as they happen.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use chrono::{TimeZone, Utc};
use futures::StreamExt;
use shared::domain::{PendoRegion, Tenant, TenantId, TenantStatus};
use shared::queue::sqs::SqsQueue;
use shared::scheduler::{fan_out, FanOutSummary};
use shared::store::dynamo::DynamoStore;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::store::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

struct Proxy {
    upstream: String,
    http: reqwest::Client,
    calls: Mutex<BTreeMap<String, u64>>,
}

/// A counting proxy in front of moto; `endpoint` is what the SDK clients are given.
#[derive(Clone)]
pub struct CallCounter {
    inner: Arc<Proxy>,
    pub endpoint: String,
}

impl CallCounter {
    pub async fn start(upstream: &str) -> CallCounter {
        let inner = Arc::new(Proxy {
            upstream: upstream.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
            calls: Mutex::new(BTreeMap::new()),
        });
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(inner.clone());
        let endpoint = suites::aws_recorder::serve_local(app).await;
        CallCounter { inner, endpoint }
    }

    /// Calls by operation (`DynamoDB.PutItem`, `SQS.SendMessageBatch`) since the last take.
    pub fn take(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut *self.inner.calls.lock().unwrap())
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "test", "test", None, None, "bench",
            ))
            .load()
            .await
    }
}

async fn forward(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let op = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .map(|t| {
            let (svc, op) = t.split_once('.').unwrap_or((t, ""));
            let svc = if svc.starts_with("DynamoDB") {
                "DynamoDB"
            } else if svc.starts_with("AmazonSQS") {
                "SQS"
            } else {
                svc
            };
            format!("{svc}.{op}")
        })
        .unwrap_or_else(|| "other".into());
    *p.calls.lock().unwrap().entry(op).or_default() += 1;
    suites::aws_recorder::relay(&p.http, &p.upstream, method, &uri, &headers, body).await
}

pub struct Aws {
    pub store: Arc<DynamoStore>,
    pub repo: Repo,
    pub queue: SqsQueue,
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

/// A fresh table (through the adapter's own `create_table`) and a fresh queue.
pub async fn fresh_table_and_queue(
    config: &aws_config::SdkConfig,
    prefix: &str,
    visibility_timeout: u64,
) -> Aws {
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(config),
        suites::unique(prefix),
    ));
    store.create_table().await.expect("create table");
    let sqs = aws_sdk_sqs::Client::new(config);
    let url = sqs
        .create_queue()
        .queue_name(suites::unique(prefix))
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            visibility_timeout.to_string(),
        )
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    Aws {
        repo: Repo::new(store.clone()),
        store,
        queue: SqsQueue::new(sqs.clone(), url.clone()),
        sqs,
        url,
    }
}

pub fn tenant_id(i: usize) -> TenantId {
    TenantId::parse(&format!("fleet-{i:05}")).expect("tenant id")
}

/// Creates enabled tenants `0..n`: encoded by the repo into a scratch embedded store, then
/// copied with batch writes (moto's conditional puts into one growing partition slowed to
/// ~20 a second past a few thousand tenants).
pub async fn create_tenants(store: &dyn Store, n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let scratch = Arc::new(SqliteStore::open(dir.path().join("tenants.db")).expect("scratch"));
    let staging = Repo::new(scratch.clone());
    for i in 0..n {
        let mut t =
            Tenant::new(tenant_id(i), "Fleet tenant", PendoRegion::Us, Utc::now()).expect("tenant");
        t.status = TenantStatus::Enabled;
        staging.create_tenant(&t).await.expect("stage tenant");
    }
    let mut after: Option<String> = None;
    loop {
        let page = scratch
            .query("TENANTS", "", after.as_deref(), 1000, false)
            .await
            .expect("staged tenants");
        after = page.items.last().map(|i| i.sk.clone());
        futures::stream::iter(page.items.chunks(25).map(|c| c.to_vec()))
            .map(|chunk| store.put_many(chunk))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .expect("batch write tenants");
        if page.next.is_none() {
            break;
        }
    }
}

/// The schedule's time for the measured day: late enough that every tenant's hour has passed.
pub fn scheduled_at() -> chrono::DateTime<Utc> {
    let d = Utc::now().date_naive();
    Utc.from_utc_datetime(&d.and_hms_opt(23, 5, 0).expect("time"))
}

pub struct FanOut {
    pub tenants: usize,
    pub create_s: f64,
    pub first_s: f64,
    pub first: FanOutSummary,
    pub first_calls: BTreeMap<String, u64>,
    pub second_s: f64,
    pub second: FanOutSummary,
    pub second_calls: BTreeMap<String, u64>,
    pub queued: u64,
}

pub async fn measure(counter: &CallCounter, n: usize) -> FanOut {
    let config = counter.sdk_config().await;
    let Aws {
        store,
        repo,
        queue,
        sqs,
        url,
    } = fresh_table_and_queue(&config, "sched", 5400).await;
    eprintln!("   creating {n} tenants on moto");
    let t = Instant::now();
    create_tenants(store.as_ref(), n).await;
    let create_s = t.elapsed().as_secs_f64();
    counter.take();
    let at = scheduled_at();
    let t = Instant::now();
    let first = fan_out(&repo, &queue, at).await.expect("fan-out");
    let first_s = t.elapsed().as_secs_f64();
    let first_calls = counter.take();
    let t = Instant::now();
    let second = fan_out(&repo, &queue, at).await.expect("second fan-out");
    let second_s = t.elapsed().as_secs_f64();
    let second_calls = counter.take();
    let queued = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .ok()
        .and_then(|r| r.attributes)
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    // moto keeps everything in memory: drop this run's queue (the table is small).
    let _ = sqs.delete_queue().queue_url(&url).send().await;
    counter.take();
    FanOut {
        tenants: n,
        create_s,
        first_s,
        first,
        first_calls,
        second_s,
        second,
        second_calls,
        queued,
    }
}
