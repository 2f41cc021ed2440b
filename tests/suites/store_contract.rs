//! The `Store` contract: the same test bodies run against the SQLite adapter and the DynamoDB
//! adapter (on moto). Each test has its own SQLite file or DynamoDB table.

use chrono::{Duration, Utc};
use shared::domain::{
    ActivityHistory, Direction, ObjectKind, ObjectState, PendoRegion, RecordError, RunId,
    RunRecord, Tenant, TenantId, TenantStatus, Trigger,
};
use shared::store::dynamo::DynamoStore;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::store::{Condition, Item, Store, StoreError};
use std::sync::Arc;

pub struct Fixture {
    pub store: Arc<dyn Store>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("nested/store.db")).unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: Some(dir),
    }
}

pub async fn dynamo() -> Fixture {
    let config = suites::aws_config().await;
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        suites::unique("contract"),
    );
    store.create_table().await.unwrap();
    Fixture {
        store: Arc::new(store),
        _dir: None,
    }
}

fn raw(pk: &str, sk: &str, version: u64, data: &str) -> Item {
    Item {
        pk: pk.into(),
        sk: sk.into(),
        version,
        expires_at: None,
        data: data.into(),
    }
}

fn tenant(id: &str) -> Tenant {
    Tenant::new(
        TenantId::parse(id).unwrap(),
        "Acme",
        PendoRegion::Us,
        Utc::now(),
    )
    .unwrap()
}

async fn put_get_roundtrip(f: Fixture) {
    let s = &f.store;
    assert_eq!(s.get("p", "a").await.unwrap(), None);
    s.put(raw("p", "a", 1, "{\"x\":1}"), Condition::Always)
        .await
        .unwrap();
    assert_eq!(
        s.get("p", "a").await.unwrap(),
        Some(raw("p", "a", 1, "{\"x\":1}"))
    );
    s.put(raw("p", "a", 2, "{\"x\":2}"), Condition::Always)
        .await
        .unwrap();
    assert_eq!(s.get("p", "a").await.unwrap().unwrap().version, 2);
    assert_eq!(s.get("other", "a").await.unwrap(), None);
}

async fn conditions(f: Fixture) {
    let s = &f.store;
    s.put(raw("p", "k", 1, "{}"), Condition::NotExists)
        .await
        .unwrap();
    let e = s
        .put(raw("p", "k", 1, "{}"), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::ConditionFailed { ref pk, ref sk } if pk == "p" && sk == "k"),
        "{e}"
    );
    s.put(raw("p", "k", 2, "{}"), Condition::VersionIs(1))
        .await
        .unwrap();
    let e = s
        .put(raw("p", "k", 2, "{}"), Condition::VersionIs(1))
        .await
        .unwrap_err();
    assert!(e.is_condition_failed());
    let e = s
        .put(raw("p", "absent", 1, "{}"), Condition::VersionIs(0))
        .await
        .unwrap_err();
    assert!(e.is_condition_failed());
    let e = s
        .delete("p", "k", Condition::VersionIs(1))
        .await
        .unwrap_err();
    assert!(e.is_condition_failed());
    s.delete("p", "k", Condition::VersionIs(2)).await.unwrap();
    assert_eq!(s.get("p", "k").await.unwrap(), None);
}

async fn expiry(f: Fixture) {
    let s = &f.store;
    let now = Utc::now().timestamp();
    let mut item = raw("p", "old", 1, "{}");
    item.expires_at = Some(now - 10);
    s.put(item, Condition::Always).await.unwrap();
    assert_eq!(
        s.get("p", "old").await.unwrap(),
        None,
        "expired items read as absent"
    );
    assert!(s
        .query("p", "", None, 10, false)
        .await
        .unwrap()
        .items
        .is_empty());
    // An expired item does not block NotExists nor NotExistsOrExpired.
    s.put(raw("p", "old", 2, "{}"), Condition::NotExists)
        .await
        .unwrap();
    let mut live = raw("p", "live", 1, "{}");
    live.expires_at = Some(now + 3600);
    s.put(live.clone(), Condition::Always).await.unwrap();
    let e = s
        .put(live, Condition::NotExistsOrExpired { now })
        .await
        .unwrap_err();
    assert!(e.is_condition_failed());
}

async fn query_paging(f: Fixture) {
    let s = &f.store;
    let items: Vec<Item> = (0..25)
        .map(|i| raw("p", &format!("A#{i:03}"), 1, "{}"))
        .collect();
    s.put_many(items).await.unwrap();
    s.put(raw("p", "B#000", 1, "{}"), Condition::Always)
        .await
        .unwrap();
    s.put(raw("q", "A#999", 1, "{}"), Condition::Always)
        .await
        .unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let page = s
            .query("p", "A#", after.as_deref(), 10, false)
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.items.into_iter().map(|i| i.sk));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
        assert!(pages < 10, "paging does not terminate");
    }
    let expected: Vec<String> = (0..25).map(|i| format!("A#{i:03}")).collect();
    assert_eq!(seen, expected);
    assert!(pages >= 3);
    let desc = s.query("p", "A#", None, 3, true).await.unwrap();
    let desc: Vec<String> = desc.items.into_iter().map(|i| i.sk).collect();
    assert_eq!(desc, vec!["A#024", "A#023", "A#022"]);
    let all = s.query("p", "", None, 100, false).await.unwrap();
    assert_eq!(all.items.len(), 26);
}

async fn get_many(f: Fixture) {
    let s = &f.store;
    let items: Vec<Item> = (0..150)
        .map(|i| raw("p", &format!("K#{i}"), 1, "{}"))
        .collect();
    s.put_many(items).await.unwrap();
    let mut wanted: Vec<String> = (0..150).step_by(2).map(|i| format!("K#{i}")).collect();
    wanted.push("K#missing".into());
    let got = s.get_many("p", &wanted).await.unwrap();
    assert_eq!(got.len(), 75);
    assert!(got.iter().all(|i| i.sk != "K#missing"));
}

async fn tenants_and_versions(f: Fixture) {
    let repo = Repo::new(f.store.clone());
    let t = repo.create_tenant(&tenant("acme")).await.unwrap();
    assert_eq!(t.version, 1);
    assert!(repo
        .create_tenant(&tenant("acme"))
        .await
        .unwrap_err()
        .is_condition_failed());
    let mut changed = t.clone();
    changed.status = TenantStatus::Enabled;
    let updated = repo.update_tenant(&changed, Utc::now()).await.unwrap();
    assert_eq!(updated.version, 2);
    // A writer holding the stale version loses.
    let e = repo.update_tenant(&changed, Utc::now()).await.unwrap_err();
    assert!(e.is_condition_failed());
    assert_eq!(
        repo.get_tenant(&t.id).await.unwrap().unwrap().status,
        TenantStatus::Enabled
    );
    for i in 0..12 {
        repo.create_tenant(&tenant(&format!("t-{i:02}")))
            .await
            .unwrap();
    }
    let p1 = repo.list_tenants(None, 5).await.unwrap();
    assert_eq!(p1.items.len(), 5);
    let p2 = repo.list_tenants(p1.next.as_deref(), 100).await.unwrap();
    assert_eq!(p2.items.len(), 8);
    assert_eq!(p2.next, None);
}

async fn corrupt_items_are_typed_errors(f: Fixture) {
    let repo = Repo::new(f.store.clone());
    f.store
        .put(raw("TENANTS", "broken", 1, "not json"), Condition::Always)
        .await
        .unwrap();
    let e = repo
        .get_tenant(&TenantId::parse("broken").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::Corrupt { ref pk, ref sk, .. } if pk == "TENANTS" && sk == "broken"),
        "{e}"
    );
    f.store
        .put(
            raw("TENANTS", "future", 1, "{\"s\":99,\"v\":{}}"),
            Condition::Always,
        )
        .await
        .unwrap();
    let e = repo
        .get_tenant(&TenantId::parse("future").unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(e, StoreError::UnknownSchema { found: 99, .. }),
        "{e}"
    );
    f.store
        .put(
            raw("TENANTS", "wrong", 1, "{\"s\":1,\"v\":{\"id\":\"wrong\"}}"),
            Condition::Always,
        )
        .await
        .unwrap();
    let e = repo
        .get_tenant(&TenantId::parse("wrong").unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("TENANTS/wrong"), "{e}");
}

async fn lease_is_exclusive_under_races(f: Fixture) {
    let repo = Repo::new(f.store.clone());
    let id = TenantId::parse("leased").unwrap();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let repo = repo.clone();
        let id = id.clone();
        tasks.push(tokio::spawn(async move {
            repo.acquire_lease(&id, &format!("worker-{i}"), Duration::seconds(60))
                .await
                .unwrap()
        }));
    }
    let mut winners = Vec::new();
    for t in tasks {
        if let Some(l) = t.await.unwrap() {
            winners.push(l);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one worker holds the lease");
    let mut lease = winners.pop().unwrap();
    assert!(repo
        .acquire_lease(&id, "late", Duration::seconds(60))
        .await
        .unwrap()
        .is_none());
    assert!(repo
        .renew_lease(&mut lease, Duration::seconds(60))
        .await
        .unwrap());
    repo.release_lease(&lease).await.unwrap();
    // Released: the next one gets it. An expired lease can be taken over, and the old holder
    // can no longer renew it.
    let mut short = repo
        .acquire_lease(&id, "short", Duration::seconds(-1))
        .await
        .unwrap()
        .unwrap();
    let taker = repo
        .acquire_lease(&id, "taker", Duration::seconds(60))
        .await
        .unwrap();
    assert!(taker.is_some(), "expired lease is taken over");
    assert!(!repo
        .renew_lease(&mut short, Duration::seconds(60))
        .await
        .unwrap());
    repo.release_lease(&short).await.unwrap(); // a stale release is a no-op...
    assert!(repo
        .acquire_lease(&id, "third", Duration::seconds(60))
        .await
        .unwrap()
        .is_none()); // ...the taker still holds it
}

async fn state_runs_dedupe_and_delete(f: Fixture) {
    let repo = Repo::new(f.store.clone());
    let id = TenantId::parse("stateful").unwrap();
    repo.create_tenant(&tenant("stateful")).await.unwrap();
    let states: Vec<(String, ObjectState)> = (0..40)
        .map(|i| {
            (
                format!("v{i}"),
                ObjectState {
                    hubspot_id: Some(format!("{}", 1000 + i)),
                    fingerprint: Some(format!("fp{i}")),
                    failure: None,
                    unmatched_day: None,
                    secondary_day: None,
                    do_not_process: false,
                },
            )
        })
        .collect();
    repo.put_object_states(&id, ObjectKind::Visitor, &states)
        .await
        .unwrap();
    let got = repo
        .get_object_states(
            &id,
            ObjectKind::Visitor,
            &["v3".into(), "v39".into(), "nope".into()],
        )
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got["v3"].fingerprint.as_deref(), Some("fp3"));
    assert!(repo
        .get_object_states(&id, ObjectKind::Account, &["v3".into()])
        .await
        .unwrap()
        .is_empty());

    let mut hist = ActivityHistory::default();
    hist.record(20_000, 12);
    repo.put_activity(&id, ObjectKind::Visitor, &[("v1".into(), hist.clone())])
        .await
        .unwrap();
    assert_eq!(
        repo.get_activity(&id, ObjectKind::Visitor, &["v1".into()])
            .await
            .unwrap()["v1"],
        hist
    );

    let mut runs = Vec::new();
    for i in 0..3 {
        let started = Utc::now() + Duration::seconds(i);
        let run = RunRecord::start(
            RunId::new_at(started),
            id.clone(),
            format!("job{i}"),
            Trigger::RunNow,
            started,
        );
        repo.put_run(&run).await.unwrap();
        runs.push(run);
    }
    let listed = repo.list_runs(&id, None, 2).await.unwrap();
    assert_eq!(listed.items[0].run_id, runs[2].run_id, "newest first");
    assert_eq!(listed.items.len(), 2);
    let rest = repo
        .list_runs(&id, listed.next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(rest.items.len(), 1);
    let errors: Vec<RecordError> = (0..30)
        .map(|i| RecordError {
            direction: Direction::Push,
            object: ObjectKind::Visitor,
            object_id: format!("v{i}"),
            field: Some("pendo_days_active".into()),
            message: "bad".into(),
        })
        .collect();
    repo.put_run_errors(&runs[0], 0, &errors).await.unwrap();
    let e1 = repo
        .list_run_errors(&id, &runs[0].run_id, None, 20)
        .await
        .unwrap();
    let e2 = repo
        .list_run_errors(&id, &runs[0].run_id, e1.next.as_deref(), 20)
        .await
        .unwrap();
    assert_eq!(e1.items.len() + e2.items.len(), 30);
    assert_eq!(e1.items[0].object_id, "v0");

    assert!(repo
        .mark_once(&id, "evt-1", Duration::minutes(10))
        .await
        .unwrap());
    assert!(!repo
        .mark_once(&id, "evt-1", Duration::minutes(10))
        .await
        .unwrap());
    assert!(repo
        .mark_once(&id, "evt-expired", Duration::seconds(-1))
        .await
        .unwrap());
    assert!(
        repo.mark_once(&id, "evt-expired", Duration::minutes(10))
            .await
            .unwrap(),
        "expired marker"
    );

    let deleted = repo.delete_tenant(&id).await.unwrap();
    assert!(deleted >= 40 + 3 + 30);
    assert!(repo.get_tenant(&id).await.unwrap().is_none());
    assert!(repo
        .get_object_states(&id, ObjectKind::Visitor, &["v3".into()])
        .await
        .unwrap()
        .is_empty());
    assert!(repo
        .list_runs(&id, None, 10)
        .await
        .unwrap()
        .items
        .is_empty());
}

macro_rules! contract {
    ($adapter:ident) => {
        mod $adapter {
            #[tokio::test]
            async fn put_get_roundtrip() {
                super::put_get_roundtrip(super::$adapter().await).await
            }
            #[tokio::test]
            async fn conditions() {
                super::conditions(super::$adapter().await).await
            }
            #[tokio::test]
            async fn expiry() {
                super::expiry(super::$adapter().await).await
            }
            #[tokio::test]
            async fn query_paging() {
                super::query_paging(super::$adapter().await).await
            }
            #[tokio::test]
            async fn get_many() {
                super::get_many(super::$adapter().await).await
            }
            #[tokio::test]
            async fn tenants_and_versions() {
                super::tenants_and_versions(super::$adapter().await).await
            }
            #[tokio::test]
            async fn corrupt_items_are_typed_errors() {
                super::corrupt_items_are_typed_errors(super::$adapter().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn lease_is_exclusive_under_races() {
                super::lease_is_exclusive_under_races(super::$adapter().await).await
            }
            #[tokio::test]
            async fn state_runs_dedupe_and_delete() {
                super::state_runs_dedupe_and_delete(super::$adapter().await).await
            }
        }
    };
}

contract!(sqlite);
contract!(dynamo);
