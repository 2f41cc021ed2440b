//! Webhook intake when the queue fails (issue 13, case 10): an event counts as seen only once
//! the job covering it is queued, so Pendo's retry of an event whose enqueue failed is taken.

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;
use shared::api::{all_routes, AppState};
use shared::domain::{Job, JobKind};
use shared::queue::local::LocalQueue;
use shared::queue::{Queue, QueueError};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

use crate::api_fixture::Api;

/// A queue whose first `failures` sends fail (an SQS outage), then delivers to `inner`.
struct FlakyQueue {
    failures: AtomicU32,
    inner: Arc<LocalQueue>,
}

#[async_trait]
impl Queue for FlakyQueue {
    async fn send(&self, jobs: &[Job], delay: Duration) -> Result<(), QueueError> {
        if self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(QueueError::Send {
                failed: jobs.len(),
                total: jobs.len(),
                message: "ServiceUnavailable".into(),
            });
        }
        self.inner.send(jobs, delay).await
    }
}

#[tokio::test]
async fn a_failed_enqueue_answers_5xx_and_the_retry_is_not_a_duplicate() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let path = api.webhook_path(&a).await;
    api.queue.take_all();
    let queue = Arc::new(LocalQueue::new());
    let router = all_routes(AppState {
        queue: Arc::new(FlakyQueue {
            failures: AtomicU32::new(1),
            inner: queue.clone(),
        }),
        ..api.state.clone()
    });
    let event = json!({"event": "npsSubmitted", "uniqueId": "evt-lost-once", "visitorId": "v000004",
                       "accountId": "acct-00001", "timestamp": 1764460800, "properties": {"pollResponse": 3}});
    let post = || {
        Request::builder()
            .method("POST")
            .uri(&path)
            .header("content-type", "application/json")
            .body(Body::from(event.to_string()))
            .unwrap()
    };
    let first = router.clone().oneshot(post()).await.unwrap();
    assert_eq!(first.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(queue.take_all().is_empty());

    // Pendo retries the same event: it is accepted and queued, not dropped as a duplicate.
    let retry = router.clone().oneshot(post()).await.unwrap();
    assert_eq!(retry.status(), StatusCode::ACCEPTED);
    let body = axum::body::to_bytes(retry.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["accepted"], 1, "{body}");
    assert_eq!(body["duplicates"], 0, "{body}");
    let jobs = queue.take_all();
    assert_eq!(jobs.len(), 1);
    assert!(
        matches!(&jobs[0].kind, JobKind::Incremental { visitor_ids, .. } if visitor_ids == &vec!["v000004".to_string()])
    );

    // Once queued, a third delivery is a duplicate.
    let third = router.oneshot(post()).await.unwrap();
    let body = axum::body::to_bytes(third.into_body(), 1 << 20)
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["duplicates"], 1, "{body}");
    assert!(queue.take_all().is_empty());
}
