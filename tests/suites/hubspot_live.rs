//! HubSpot → Pendo, live (issue 18): the signed webhook intake, the change log and the scoped
//! pull job that drains it, on DynamoDB/SQS/Secrets Manager (moto) and both sandboxes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::Utc;
use serde_json::{json, Value};
use shared::api::public_url::PublicBase;
use shared::api::IntakeState;
use shared::domain::{Job, JobKind, ObjectKind};
use shared::hubspot::webhook::sign_v3;
use shared::queue::local::LocalQueue;
use shared::worker::JobResult;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

use crate::sync_fixture::Fixture;

const URL: &str = "https://hooks.example.com/webhooks/hubspot";
const SECRET: &str = "sandbox-secret";

struct Live {
    f: Fixture,
    router: Router,
    queue: Arc<LocalQueue>,
    portal: u64,
}

impl Live {
    /// A tenant after its first full sync, connected to the sandbox portal.
    async fn new() -> Self {
        let f = Fixture::new().await;
        f.full_sync().await;
        let portal = f.hubspot.with(|s| s.cfg.portal_id);
        let mut t = f.repo.get_tenant(&f.tenant).await.unwrap().unwrap();
        t.hubspot_portal_id = Some(portal);
        f.repo.update_tenant(&t, Utc::now()).await.unwrap();
        let queue = Arc::new(LocalQueue::new());
        let router = shared::api::webhooks::router(IntakeState {
            repo: f.repo.clone(),
            secrets: f.secrets.clone(),
            queue: queue.clone(),
            public_base: PublicBase::Fixed("https://hooks.example.com".into()),
        });
        Self {
            f,
            router,
            queue,
            portal,
        }
    }

    async fn post_signed(&self, body: &Value, secret: &str, ts: i64) -> (StatusCode, Value) {
        let body = body.to_string();
        let sig = sign_v3(secret, "POST", URL, body.as_bytes(), ts);
        self.post(
            Request::post("/webhooks/hubspot")
                .header("content-type", "application/json")
                .header("x-hubspot-signature-v3", sig)
                .header("x-hubspot-request-timestamp", ts.to_string())
                .body(Body::from(body))
                .unwrap(),
        )
        .await
    }

    async fn post(&self, req: Request<Body>) -> (StatusCode, Value) {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn send(&self, events: Value) -> Value {
        let (status, body) = self
            .post_signed(&events, SECRET, Utc::now().timestamp_millis())
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn event(&self, id: &str, sub: &str, object: u64, at: i64, prop: Option<&str>) -> Value {
        let mut e = json!({"eventId": id, "subscriptionId": 1, "portalId": self.portal, "appId": 7,
            "occurredAt": at, "subscriptionType": sub, "attemptNumber": 0, "objectId": object,
            "changeSource": "CRM_UI"});
        if let Some(p) = prop {
            e["propertyName"] = json!(p);
            e["propertyValue"] = json!("x");
        }
        e
    }

    /// Runs the queued drain jobs through the worker; the run of the last one.
    async fn run_jobs(&self) -> Vec<JobResult> {
        let mut out = Vec::new();
        for job in self.queue.take_all() {
            assert!(matches!(job.kind, JobKind::HubSpotChanges { .. }));
            out.push(self.f.worker.handle(&job, None).await.unwrap());
        }
        out
    }

    /// The contact linked to visitor `v` and its id.
    fn contact_of(&self, visitor: &str) -> u64 {
        self.f.hubspot.with(|s| {
            s.find_by("contacts", "pendo_visitor_id", visitor)
                .first()
                .map(|r| r.id)
                .expect("linked contact")
        })
    }

    fn set(&self, object: &str, id: u64, prop: &str, value: &str) {
        self.f.hubspot.with(|s| {
            let now = s.now_ms();
            let r = s.objects.get_mut(object).unwrap().get_mut(&id).unwrap();
            r.properties.insert(prop.into(), value.into());
            r.updated_ms = now;
        });
    }

    fn pendo_value(&self, kind: &str, id: &str, field: &str) -> Option<Value> {
        self.f.pendo.with(|s| {
            s.data
                .custom
                .get(&(kind.to_string(), id.to_string()))
                .and_then(|m| m.get(field).cloned())
        })
    }
}

fn finished(r: &JobResult) -> &shared::domain::RunRecord {
    match r {
        JobResult::Finished(run) => run,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

#[tokio::test]
async fn unsigned_stale_or_tampered_requests_are_401_and_nothing_is_enqueued() {
    let l = Live::new().await;
    let c = l.contact_of("v000000");
    let now = Utc::now().timestamp_millis();
    let body = json!([l.event("sig-1", "contact.propertyChange", c, now, Some("jobtitle"))]);
    // Stale: 5 minutes and a second old.
    let (status, b) = l.post_signed(&body, SECRET, now - 301_000).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{b}");
    // Wrong secret.
    let (status, _) = l.post_signed(&body, "not-the-secret", now).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Tampered body: signed one body, sent another.
    let sig = sign_v3(SECRET, "POST", URL, body.to_string().as_bytes(), now);
    let tampered = json!([l.event(
        "sig-1",
        "contact.propertyChange",
        c + 1,
        now,
        Some("jobtitle")
    )]);
    let req = |sig: Option<&str>, ts: Option<i64>, body: &Value| {
        let mut b = Request::post("/webhooks/hubspot").header("content-type", "application/json");
        if let Some(s) = sig {
            b = b.header("x-hubspot-signature-v3", s);
        }
        if let Some(t) = ts {
            b = b.header("x-hubspot-request-timestamp", t.to_string());
        }
        b.body(Body::from(body.to_string())).unwrap()
    };
    let (status, _) = l.post(req(Some(&sig), Some(now), &tampered)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Missing headers.
    let (status, _) = l.post(req(None, Some(now), &body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = l.post(req(Some(&sig), None, &body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(l.queue.take_all().is_empty());
    let logged =
        l.f.repo
            .pending_changes(&l.f.tenant, ObjectKind::Visitor, None, 10)
            .await
            .unwrap();
    assert!(logged.items.is_empty());

    // The same request, correctly signed, is taken: one job, one logged change.
    let (status, b) = l.post(req(Some(&sig), Some(now), &body)).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    assert_eq!(b["accepted"], 1, "{b}");
    let jobs = l.queue.take_all();
    assert_eq!(jobs.len(), 1);
    assert!(matches!(jobs[0].kind, JobKind::HubSpotChanges { .. }));
    assert_eq!(jobs[0].tenant_id, l.f.tenant);
}

#[tokio::test]
async fn a_hubspot_edit_reaches_pendo_through_a_scoped_pull_of_only_those_records() {
    let l = Live::new().await;
    let (c0, c3) = (l.contact_of("v000000"), l.contact_of("v000003"));
    l.set("contacts", c0, "jobtitle", "Head of Ops");
    l.set("contacts", c3, "jobtitle", "CTO");
    let now = Utc::now().timestamp_millis();
    // A portal no tenant is connected to.
    let mut foreign = l.event("e-4", "contact.creation", 1, now, None);
    foreign["portalId"] = json!(1);
    let batch = json!([
        l.event("e-1", "contact.propertyChange", c0, now, Some("jobtitle")),
        l.event("e-2", "contact.propertyChange", c3, now, Some("jobtitle")),
        // Not a pulled property: ignored, nothing read for it.
        l.event("e-3", "contact.propertyChange", c3, now, Some("phone")),
        foreign,
    ]);
    let b = l.send(batch.clone()).await;
    assert_eq!(
        (&b["accepted"], &b["ignored"], &b["unknown_portal"]),
        (&json!(2), &json!(1), &json!(1)),
        "{b}"
    );
    // HubSpot redelivers the batch: every event is a duplicate, no second job.
    let b = l.send(batch).await;
    assert_eq!(b["duplicates"], 3, "{b}");
    assert_eq!(l.queue.len(), 1);

    l.f.hubspot.reset_counts();
    let pendo_writes_before = l.f.pendo_writes();
    let results = l.run_jobs().await;
    let run = finished(&results[0]);
    assert_eq!(run.counts.pulled, 2, "{run:?}");
    assert_eq!(run.counts.failed, 0);
    assert_eq!(
        l.pendo_value("visitor", "v000000", "hubspot_jobtitle"),
        Some(json!("Head of Ops"))
    );
    assert_eq!(
        l.pendo_value("visitor", "v000003", "hubspot_jobtitle"),
        Some(json!("CTO"))
    );
    // O(events): one batch read, no search, one Pendo metadata write with the two rows.
    let hs = l.f.hubspot.counts();
    let reads: u64 = hs
        .iter()
        .filter(|(k, _)| k.contains("batch/read"))
        .map(|(_, v)| v)
        .sum();
    let searches: u64 = hs
        .iter()
        .filter(|(k, _)| k.contains("search"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!((reads, searches), (1, 0), "{hs:?}");
    assert_eq!(l.f.pendo_writes() - pendo_writes_before, 1);
    // The status API's "live updates arriving" time.
    let live: shared::store::repo::LiveStatus =
        l.f.repo
            .get_cursor(&l.f.tenant, shared::store::repo::LIVE_CURSOR)
            .await
            .unwrap()
            .unwrap();
    assert_eq!(live.last_event_at_ms, now);
    // The log is drained: a second job finds nothing and writes nothing.
    let pending =
        l.f.repo
            .pending_changes(&l.f.tenant, ObjectKind::Visitor, None, 10)
            .await
            .unwrap();
    assert!(pending.items.is_empty());
}

#[tokio::test]
async fn out_of_order_and_redelivered_events_converge_on_the_latest_state() {
    let l = Live::new().await;
    let c = l.contact_of("v000006");
    let t0 = Utc::now().timestamp_millis() - 60_000;
    l.set("contacts", c, "jobtitle", "First");
    l.set("contacts", c, "jobtitle", "Second");
    // The newer event arrives first, the older one after it, then the newer one again.
    l.send(json!([l.event(
        "o-2",
        "contact.propertyChange",
        c,
        t0 + 2000,
        Some("jobtitle")
    )]))
    .await;
    l.send(json!([l.event(
        "o-1",
        "contact.propertyChange",
        c,
        t0 + 1000,
        Some("jobtitle")
    )]))
    .await;
    let b = l
        .send(json!([l.event(
            "o-2",
            "contact.propertyChange",
            c,
            t0 + 2000,
            Some("jobtitle")
        )]))
        .await;
    assert_eq!(b["duplicates"], 1);
    let pending =
        l.f.repo
            .pending_changes(&l.f.tenant, ObjectKind::Visitor, None, 10)
            .await
            .unwrap();
    assert_eq!(pending.items.len(), 1);
    assert_eq!(pending.items[0].entry.occurred_at_ms, t0 + 2000);
    let results = l.run_jobs().await;
    assert_eq!(finished(&results[0]).counts.pulled, 1);
    assert_eq!(
        l.pendo_value("visitor", "v000006", "hubspot_jobtitle"),
        Some(json!("Second"))
    );
    // A deletion delivered late, for a record that exists: HubSpot's state wins.
    l.send(json!([l.event("o-3", "contact.deletion", c, t0, None)]))
        .await;
    let results = l.run_jobs().await;
    assert_eq!(finished(&results[0]).counts.pulled, 0);
    assert_eq!(
        l.f.repo
            .get_deleted(&l.f.tenant, ObjectKind::Visitor, c)
            .await
            .unwrap(),
        None
    );
    let states =
        l.f.repo
            .get_object_states(&l.f.tenant, ObjectKind::Visitor, &["v000006".to_string()])
            .await
            .unwrap();
    assert_eq!(
        states["v000006"].hubspot_id.as_deref(),
        Some(c.to_string().as_str())
    );
}

#[tokio::test]
async fn a_merge_moves_the_join_and_a_deletion_stops_syncing_the_record() {
    let l = Live::new().await;
    let repo = &l.f.repo;
    let tenant = &l.f.tenant;
    let merged = l.contact_of("v000010");
    // A duplicate of the same person, created without the join; HubSpot keeps it as survivor.
    let survivor = l.f.hubspot.with(|s| {
        let id = s.insert(
            "contacts",
            BTreeMap::from([("jobtitle".to_string(), "Duplicate".to_string())]),
        );
        s.merge("contacts", merged, id);
        id
    });
    let gone = l.contact_of("v000012");
    l.f.hubspot.with(|s| s.archive("contacts", gone));
    let now = Utc::now().timestamp_millis();
    let mut merge = l.event("m-1", "contact.merge", survivor, now, None);
    merge["primaryObjectId"] = json!(survivor);
    merge["mergedObjectIds"] = json!([merged]);
    merge["newObjectId"] = json!(survivor);
    let b = l
        .send(json!([
            merge,
            l.event("d-1", "contact.deletion", gone, now, None)
        ]))
        .await;
    assert_eq!(b["accepted"], 3, "{b}");
    let results = l.run_jobs().await;
    let run = finished(&results[0]);
    assert_eq!(run.counts.failed, 0, "{run:?}");

    let states = repo
        .get_object_states(
            tenant,
            ObjectKind::Visitor,
            &["v000010".to_string(), "v000012".to_string()],
        )
        .await
        .unwrap();
    // The join moved to the survivor; its values are pushed there by the next sync.
    assert_eq!(
        states["v000010"].hubspot_id.as_deref(),
        Some(survivor.to_string().as_str())
    );
    assert_eq!(states["v000010"].fingerprint, None);
    // The survivor took the merged record's visitor id and was pulled into that visitor.
    assert_eq!(
        l.pendo_value("visitor", "v000010", "hubspot_jobtitle"),
        Some(json!("Duplicate"))
    );
    // The deleted record is unlinked and recorded.
    assert_eq!(states["v000012"].hubspot_id, None);
    let deleted = repo
        .get_deleted(tenant, ObjectKind::Visitor, gone)
        .await
        .unwrap()
        .expect("deletion recorded");
    assert_eq!(deleted.pendo_id.as_deref(), Some("v000012"));
    assert_eq!(deleted.deleted_at_ms, now);

    // The next full sync writes the merged visitor's values to the survivor, and nothing
    // goes to the deleted record.
    let run = l.f.full_sync().await;
    assert_eq!(run.counts.failed, 0, "{run:?}");
    let pushed = l.f.hubspot.with(|s| {
        s.objects["contacts"][&survivor]
            .properties
            .get("pendo_days_active")
            .cloned()
    });
    assert!(pushed.is_some(), "survivor got no pushed values");
    assert!(l
        .f
        .hubspot
        .with(|s| !s.objects["contacts"].contains_key(&gone)));
}

#[tokio::test]
async fn a_scoped_job_during_a_running_full_sync_defers_and_loses_nothing() {
    let l = Live::new().await;
    let c = l.contact_of("v000015");
    l.set("contacts", c, "jobtitle", "Deferred");
    l.send(json!([l.event(
        "f-1",
        "contact.propertyChange",
        c,
        Utc::now().timestamp_millis(),
        Some("jobtitle")
    )]))
    .await;
    let job: Job = l.queue.take_all().remove(0);
    // A full sync holds the tenant's lease.
    let lease =
        l.f.repo
            .acquire_lease(
                &l.f.tenant,
                "full-sync-worker",
                chrono::Duration::minutes(5),
            )
            .await
            .unwrap()
            .unwrap();
    let r = l.f.worker.handle(&job, None).await.unwrap();
    assert!(matches!(r, JobResult::Deferred), "{r:?}");
    assert_eq!(
        l.pendo_value("visitor", "v000015", "hubspot_jobtitle"),
        Some(json!("Engineer 15"))
    );
    l.f.repo.release_lease(&lease).await.unwrap();
    // The deferred job comes back through the queue and finds the change still logged.
    assert_eq!(l.f.drain().await, 1);
    assert_eq!(
        l.pendo_value("visitor", "v000015", "hubspot_jobtitle"),
        Some(json!("Deferred"))
    );
}

/// Forgets what was pushed, so the next full sync writes every linked record again.
async fn forget_pushed(l: &Live) {
    let ids: Vec<String> = (0..crate::sync_fixture::VISITORS)
        .map(sandboxes::pendo::data::visitor_id)
        .collect();
    let mut states =
        l.f.repo
            .get_object_states(&l.f.tenant, ObjectKind::Visitor, &ids)
            .await
            .unwrap();
    for s in states.values_mut() {
        s.fingerprint = None;
    }
    let states: Vec<_> = states.into_iter().collect();
    l.f.repo
        .put_object_states(&l.f.tenant, ObjectKind::Visitor, &states)
        .await
        .unwrap();
}

fn searches(l: &Live) -> u64 {
    l.f.hubspot
        .counts()
        .iter()
        .filter(|(k, _)| k.contains("search"))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test]
async fn with_live_events_the_daily_pull_does_not_read_back_our_own_pushes() {
    let l = Live::new().await;
    // Webhooks not live: the pull reads back every contact the push just wrote (240 linked
    // contacts = 2 pages of 200) and the one page of companies.
    forget_pushed(&l).await;
    l.f.hubspot.reset_counts();
    let run = l.f.full_sync().await;
    assert_eq!(run.counts.pushed, 240, "{:?}", run.counts);
    assert_eq!(searches(&l), 3);
    // Webhooks live (an event arrived): the push's window is left out, one empty page each.
    let c = l.contact_of("v000000");
    l.send(json!([l.event(
        "live-1",
        "contact.propertyChange",
        c,
        Utc::now().timestamp_millis(),
        Some("jobtitle")
    )]))
    .await;
    l.run_jobs().await;
    forget_pushed(&l).await;
    l.f.hubspot.reset_counts();
    let run = l.f.full_sync().await;
    assert_eq!(run.counts.pushed, 240, "{:?}", run.counts);
    assert_eq!(searches(&l), 2);
}

/// The whole loop over HTTP: an edit in the HubSpot sandbox (its control endpoint, as a user
/// would) makes it send a signed webhook batch to the intake, retried after a failed
/// delivery; the change-log job then writes the new value to Pendo.
#[tokio::test]
async fn the_sandbox_sends_signed_retried_webhooks_and_the_loop_closes() {
    let l = Live::new().await;
    let router = shared::api::webhooks::router(IntakeState {
        repo: l.f.repo.clone(),
        secrets: l.f.secrets.clone(),
        queue: l.queue.clone(),
        public_base: PublicBase::FromRequest,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    // First a target that answers 404: the delivery fails and is retried.
    l.f.hubspot.with(|s| {
        s.webhooks.target = Some(format!("http://{addr}/webhooks/nowhere"));
        s.webhooks.retry_after = std::time::Duration::from_millis(300);
    });
    let c = l.contact_of("v000003");
    let edit = reqwest::Client::new()
        .post(format!("{}/_sandbox/edit", l.f.hubspot.base_url))
        .json(&json!({"object": "contacts", "id": c, "properties": {"jobtitle": "VP Sales"}}))
        .send()
        .await
        .unwrap();
    assert!(edit.status().is_success());
    let waited = wait_until(|| l.f.hubspot.with(|s| s.webhooks.failed_attempts >= 1)).await;
    assert!(waited, "the first delivery was attempted and failed");
    assert!(l.queue.is_empty());
    l.f.hubspot
        .with(|s| s.webhooks.target = Some(format!("http://{addr}/webhooks/hubspot")));
    let waited = wait_until(|| l.f.hubspot.with(|s| s.webhooks.delivered >= 1)).await;
    assert!(waited, "the retry was delivered");
    assert_eq!(l.f.hubspot.with(|s| s.webhooks.dropped), 0);
    let results = l.run_jobs().await;
    assert_eq!(results.len(), 1);
    assert_eq!(finished(&results[0]).counts.pulled, 1);
    assert_eq!(
        l.pendo_value("visitor", "v000003", "hubspot_jobtitle"),
        Some(json!("VP Sales"))
    );
}

async fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if done() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}
