//! Issue 14, defect 2: a dry run changes no stored state at all, and a failing record is
//! attempted once per run.

use shared::domain::{ObjectKind, PullState, Trigger};
use shared::store::Item;
use shared::sync::SyncEngine;

use crate::record_lab::{props, Lab};

/// Every item of the tenant (its record and its partition), in key order.
pub async fn dump(lab: &Lab) -> Vec<Item> {
    let store = lab.repo.store();
    let mut out = Vec::new();
    for (pk, prefix) in [
        ("TENANTS".to_string(), lab.tenant.to_string()),
        (shared::store::repo::tenant_pk(&lab.tenant), String::new()),
    ] {
        let mut after: Option<String> = None;
        loop {
            let page = store
                .query(&pk, &prefix, after.as_deref(), 1000, false)
                .await
                .unwrap();
            out.extend(page.items);
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
    }
    out
}

/// A dry run of the lab's tenant through the engine, as the admin API's preview starts one.
async fn dry_run(lab: &Lab) -> shared::sync::RunResult {
    let tenant = lab.repo.get_tenant(&lab.tenant).await.unwrap().unwrap();
    let config = lab.repo.get_config(&lab.tenant).await.unwrap().unwrap();
    let hubspot = lab
        .worker
        .connectors
        .hubspot(&tenant, Default::default())
        .await
        .unwrap();
    let pendo = lab.worker.connectors.pendo(&tenant).await.unwrap();
    SyncEngine::new(lab.repo.clone())
        .dry_run(
            &tenant,
            &config,
            hubspot.as_ref(),
            pendo.as_ref(),
            lab.today(),
        )
        .await
        .unwrap()
}

fn pull_config() -> serde_json::Value {
    serde_json::json!({
        "identity": {"match_contacts_by_email": true},
        "pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]
    })
}

/// A contact whose join id has no Pendo visitor fails its pull and goes on the retry list. A
/// dry run leaves every stored item as it was; the next run retries the record exactly once.
#[tokio::test]
async fn dry_run_changes_nothing_and_a_failed_record_is_attempted_once_per_run() {
    let mut lab = Lab::new(30, 3, pull_config()).await;
    let ghost = lab.contacts(vec![props(&[
        ("pendo_visitor_id", "no-such-visitor"),
        ("jobtitle", "CTO"),
    ])])[0]
        .to_string();
    lab.contacts(vec![props(&[
        ("email", &lab.email_of(1)),
        ("jobtitle", "Engineer"),
    ])]);
    let first = lab.finished_run().await;
    assert_eq!(first.counts.failed, 1, "{first:?}");
    let pull_state = |lab: &Lab| {
        let repo = lab.repo.clone();
        let tenant = lab.tenant.clone();
        let ghost = ghost.clone();
        async move {
            repo.get_pull_states(&tenant, ObjectKind::Visitor, std::slice::from_ref(&ghost))
                .await
                .unwrap()
                .remove(&ghost)
                .unwrap_or_else(PullState::default)
        }
    };
    assert_eq!(pull_state(&lab).await.failure.unwrap().attempts, 1);

    // A new day of activity, so the dry run has usage to fold in and pushes to plan.
    lab.pendo.with(|s| {
        sandboxes::pendo::apply_mutation(
            s,
            sandboxes::pendo::Mutation {
                advance_days: 1,
                activity: vec![(1, -1, 17, 4)],
                nps: vec![],
                ..Default::default()
            },
        )
    });
    let before = dump(&lab).await;
    let dry = dry_run(&lab).await;
    assert!(dry.run.counts.pushed >= 1, "{:?}", dry.run.counts);
    let after = dump(&lab).await;
    assert_eq!(before.len(), after.len());
    assert_eq!(before, after, "a dry run changed the store");

    // The next real run still retries the record, once, and still reports it.
    let second = lab.finished_run().await;
    assert_eq!(second.counts.failed, 1, "{:?}", second.counts);
    assert_eq!(second.counts.retried, 1, "{:?}", second.counts);
    let st = pull_state(&lab).await;
    let failure = st.failure.unwrap();
    assert_eq!(failure.attempts, 2, "one attempt per run");
    assert_eq!(failure.run_id.as_ref(), Some(&second.run_id));
}

/// Issue 14, defect 5: a worker killed mid-push leaves its lease to expire on its own (short
/// lifetime, no renewals once it is gone); the next job marks the killed run interrupted,
/// carries on from its checkpoint, and the contacts end with the values an uninterrupted run
/// writes.
#[tokio::test]
async fn a_killed_run_is_marked_interrupted_and_resumed_by_the_next_job() {
    use shared::domain::{Job, RunStatus};
    use shared::worker::{JobResult, Worker};
    use std::time::Duration;

    let lab = Lab::new(
        60,
        3,
        serde_json::json!({"identity": {"match_contacts_by_email": true}}),
    )
    .await;
    let ids = lab.contacts(
        (0..40)
            .map(|v| props(&[("email", &lab.email_of(v))]))
            .collect(),
    );
    lab.hubspot.inject(sandboxes::Fault {
        kind: "slow".into(),
        count: 1000,
        delay_ms: 300,
        path_contains: Some("/batch/update".into()),
        retry_after_secs: None,
    });
    let worker = || {
        let mut w = Worker::new(
            lab.repo.clone(),
            std::sync::Arc::new(shared::queue::local::LocalQueue::new()),
            lab.worker.connectors.clone(),
        );
        w.today_override = Some(lab.today());
        w.lease_ttl = Duration::from_secs(3);
        w.lease_renew_every = Duration::from_millis(200);
        w
    };
    let job = || Job::full(lab.tenant.clone(), Trigger::Schedule, chrono::Utc::now());
    let killed = worker();
    let first = job();
    let running = tokio::spawn(async move { killed.handle(&first, None).await });
    let key = "POST /crm/objects/2026-03/contacts/batch/update";
    while lab.hubspot.count(key) == 0 {
        assert!(!running.is_finished(), "the run ended before its push");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // kill -9: the job stops where it is; nothing is released or recorded.
    running.abort();
    let _ = running.await;
    let dead = lab
        .repo
        .list_runs(&lab.tenant, None, 1)
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(dead.status, RunStatus::Running);

    let next = worker();
    let r = next.handle(&job(), None).await.unwrap();
    assert!(
        matches!(r, JobResult::Deferred),
        "the lease still lives: {r:?}"
    );
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let run = match next.handle(&job(), None).await.unwrap() {
        JobResult::Finished(run) => *run,
        other => panic!("{other:?}"),
    };
    assert_eq!(run.resumed_from.as_ref(), Some(&dead.run_id));
    let dead = lab
        .repo
        .get_run(&lab.tenant, &dead.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dead.status, RunStatus::Interrupted);
    assert!(dead
        .error
        .unwrap()
        .contains(run.run_id.to_string().as_str()));

    let today = lab.today();
    for (v, id) in ids.iter().enumerate() {
        let expected = lab
            .pendo
            .with(|s| crate::sync_fixture::expected_visitor(&s.data, v, today));
        crate::sync_fixture::assert_pushed(&lab.contact(*id), &expected, &format!("v{v}"));
    }
}

/// The pull searches pages ahead while a page is written to Pendo. When that write fails for
/// good (Pendo refuses the key), the run must end and say so, not leave the search ahead
/// waiting to hand over its next page for ever.
#[tokio::test]
async fn a_pull_page_that_fails_ends_the_run_with_pages_searched_ahead() {
    let mut lab = Lab::new(30, 3, pull_config()).await;
    let linked: Vec<u64> = lab.contacts(
        (0..30)
            .map(|v| props(&[("email", &lab.email_of(v)), ("jobtitle", "Engineer")]))
            .collect(),
    );
    lab.finished_run().await;
    // The linked contacts (first in id order) change, and ten pages of others follow them.
    lab.hubspot.with(|s| {
        for id in &linked {
            s.edit_pairs("contacts", *id, &[("jobtitle", "CTO")]);
        }
    });
    lab.contacts(
        (0..2000)
            .map(|i| props(&[("email", &format!("other{i}@example.org"))]))
            .collect(),
    );
    lab.pendo.inject(sandboxes::Fault {
        kind: "403".into(),
        count: 1000,
        delay_ms: 0,
        path_contains: Some("/custom/value".into()),
        retry_after_secs: None,
    });
    lab.worker.today_override = Some(lab.today());
    let job = shared::domain::Job::full(lab.tenant.clone(), Trigger::RunNow, chrono::Utc::now());
    let ended = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        lab.worker.handle(&job, None),
    )
    .await;
    assert!(
        ended.is_ok(),
        "the run did not end after its Pendo write failed"
    );
    let writes = lab
        .pendo
        .counts()
        .iter()
        .filter(|(k, _)| k.contains("metadata"))
        .map(|(_, v)| *v)
        .sum::<u64>();
    assert!(writes >= 1, "the failing write was attempted");
}

/// A dry run works on a copy-on-write view of the store, so it keeps its own pull cursor: a
/// pass longer than one pull step (16 search pages) goes on from where the step ended instead
/// of searching its first page again for ever.
#[tokio::test]
async fn a_dry_run_pull_longer_than_one_step_ends() {
    let mut lab = Lab::new(10, 2, pull_config()).await;
    lab.finished_run().await;
    lab.contacts(
        (0..3600)
            .map(|i| props(&[("email", &format!("other{i}@example.org"))]))
            .collect(),
    );
    let before = dump(&lab).await;
    const SEARCH: &str = "POST /crm/objects/2026-03/contacts/search";
    let searched_before = lab.hubspot.count(SEARCH);
    let dry = tokio::time::timeout(std::time::Duration::from_secs(120), dry_run(&lab))
        .await
        .expect("the dry run ended");
    // 3 600 new contacts and the 10 the last run pushed: 19 pages of 200, over two steps,
    // each searched once (the pages searched ahead of a step's end go on to the next step).
    let searches = lab.hubspot.count(SEARCH) - searched_before;
    assert_eq!(searches, 19, "the pass read past one step, every page once");
    assert!(matches!(dry.outcome, shared::sync::SyncOutcome::Finished));
    assert_eq!(before, dump(&lab).await, "a dry run changed the store");
}
