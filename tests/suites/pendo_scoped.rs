//! Pendo → HubSpot, scoped (issue 18): a webhook job syncs only the visitors and accounts its
//! events named, NPS answers converge as of their time, and a job naming more ids than a full
//! sync costs falls back to the full sync.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use shared::api::public_url::PublicBase;
use shared::api::IntakeState;
use shared::domain::{Job, JobKind, ObjectKind};
use shared::queue::local::LocalQueue;
use shared::secret::SecretString;
use shared::worker::JobResult;
use std::sync::Arc;
use tower::ServiceExt;

use crate::sync_fixture::Fixture;

struct Scoped {
    f: Fixture,
    router: Router,
    queue: Arc<LocalQueue>,
    path: String,
}

impl Scoped {
    async fn new() -> Self {
        let f = Fixture::new().await;
        f.full_sync().await;
        let mut secrets = f.secrets.tenant(&f.tenant).await.unwrap();
        secrets.webhook_token = Some(SecretString::new("tok"));
        f.secrets.put_tenant(&f.tenant, &secrets).await.unwrap();
        let queue = Arc::new(LocalQueue::new());
        let router = shared::api::webhooks::router(IntakeState {
            repo: f.repo.clone(),
            secrets: f.secrets.clone(),
            queue: queue.clone(),
            public_base: PublicBase::Fixed("https://hooks.example.com".into()),
        });
        let path = format!("/webhooks/pendo/{}/tok", f.tenant);
        Self {
            f,
            router,
            queue,
            path,
        }
    }

    async fn post(&self, events: Value) -> Value {
        let resp = self
            .router
            .clone()
            .oneshot(
                Request::post(&self.path)
                    .header("content-type", "application/json")
                    .body(Body::from(events.to_string()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Runs every queued job; the runs they finished.
    async fn run_jobs(&self) -> Vec<shared::domain::RunRecord> {
        let mut out = Vec::new();
        for job in self.queue.take_all() {
            match self.f.worker.handle(&job, None).await.unwrap() {
                JobResult::Finished(run) => out.push(*run),
                other => panic!("{other:?}"),
            }
        }
        out
    }

    fn contact_prop(&self, visitor: &str, prop: &str) -> Option<String> {
        self.f.hubspot.with(|s| {
            s.find_by("contacts", "pendo_visitor_id", visitor)
                .first()
                .and_then(|r| r.properties.get(prop).cloned())
        })
    }
}

fn nps(unique: &str, visitor: &str, score: u8, ts_seconds: i64) -> Value {
    json!({"event": "npsSubmitted", "uniqueId": unique, "visitorId": visitor,
           "timestamp": ts_seconds, "properties": {"pollResponse": score}})
}

#[tokio::test]
async fn a_scoped_job_writes_only_the_named_records() {
    let s = Scoped::new().await;
    let now = Utc::now().timestamp();
    // Two requests in one window: the second's ids reach the job through the change log.
    s.post(json!([nps("s-1", "v000000", 1, now)])).await;
    s.post(json!([nps("s-2", "v000003", 10, now)])).await;
    assert_eq!(s.queue.len(), 1, "one job per coalescing window");
    s.f.hubspot.reset_counts();
    let runs = s.run_jobs().await;
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    assert_eq!(run.counts.pushed, 2, "{run:?}");
    assert_eq!(run.counts.failed, 0, "{run:?}");
    assert_eq!(
        s.contact_prop("v000000", "pendo_latest_nps_score")
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        s.contact_prop("v000003", "pendo_latest_nps_score")
            .as_deref(),
        Some("10")
    );
    // One batch update for both contacts, and no search: nothing else was read or written.
    let counts = s.f.hubspot.counts();
    let sum = |pat: &str| -> u64 {
        counts
            .iter()
            .filter(|(k, _)| k.contains(pat) && !k.contains("properties"))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(sum("batch/update"), 1, "{counts:?}");
    assert_eq!(sum("search"), 0, "{counts:?}");
    let pending =
        s.f.repo
            .pending_pendo_changes(&s.f.tenant, ObjectKind::Visitor, None, 10)
            .await
            .unwrap();
    assert!(pending.items.is_empty(), "the log is drained");
}

#[tokio::test]
async fn out_of_order_and_redelivered_nps_answers_converge_on_the_latest() {
    let s = Scoped::new().await;
    let now = Utc::now().timestamp();
    // The newer answer arrives first, the older one after it (seconds), then the older one
    // again in milliseconds under a new delivery id: the newer answer stays.
    s.post(json!([nps("o-2", "v000006", 9, now)])).await;
    s.post(json!([nps("o-1", "v000006", 2, now - 120)])).await;
    let runs = s.run_jobs().await;
    assert_eq!(runs[0].counts.pushed, 1, "{:?}", runs[0]);
    assert_eq!(
        s.contact_prop("v000006", "pendo_latest_nps_score")
            .as_deref(),
        Some("9")
    );
    let b = s
        .post(json!([nps("o-1-again", "v000006", 2, (now - 120) * 1000)]))
        .await;
    assert_eq!(b["accepted"], 1);
    let runs = s.run_jobs().await;
    assert_eq!(runs[0].counts.pushed, 0, "{:?}", runs[0]);
    assert_eq!(
        s.contact_prop("v000006", "pendo_latest_nps_score")
            .as_deref(),
        Some("9")
    );
    // A redelivery of a seen event is a duplicate and queues nothing.
    let b = s.post(json!([nps("o-2", "v000006", 9, now)])).await;
    assert_eq!(b["duplicates"], 1);
    assert!(s.queue.is_empty());
}

#[tokio::test]
async fn a_job_naming_more_ids_than_a_full_sync_costs_runs_the_full_sync() {
    let s = Scoped::new().await;
    let ids: Vec<String> = (0..=shared::sync::SCOPED_MAX_IDS)
        .map(|i| format!("unknown-{i:05}"))
        .collect();
    let job = Job {
        job_id: format!("wh-{}-1", s.f.tenant),
        tenant_id: s.f.tenant.clone(),
        kind: JobKind::Incremental {
            visitor_ids: ids,
            account_ids: vec![],
        },
        enqueued_at: Utc::now(),
    };
    let run = match s.f.worker.handle(&job, None).await.unwrap() {
        JobResult::Finished(run) => run,
        other => panic!("{other:?}"),
    };
    // None of the named ids exists, so a scoped sync would have looked at nothing; the full
    // sync looked at every linked visitor and account (all unchanged since the first sync).
    let linked_visitors = (0..crate::sync_fixture::VISITORS)
        .filter(|v| v % 5 != 4)
        .count() as u64;
    assert!(run.counts.unchanged >= linked_visitors, "{:?}", run.counts);
}
