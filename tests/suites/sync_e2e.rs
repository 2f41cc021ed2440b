//! The sync end to end: moto (DynamoDB, SQS, Secrets Manager), both sandboxes, and the real
//! worker handler invoked with SQS events.

use chrono::Utc;
use sandboxes::pendo::data::{parse_account, parse_visitor, visitor_id};
use sandboxes::pendo::Mutation;
use serde_json::json;
use shared::domain::{Job, ObjectKind, RunStatus, Trigger};
use shared::worker::JobResult;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::sync_fixture::{
    assert_pushed, expected_account, expected_visitor, Fixture, ACCOUNTS, VISITORS,
};

#[tokio::test]
async fn first_sync_second_sync_and_a_day_of_changes() {
    let f = Fixture::new().await;
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let today = f.today();

    // Every matched contact and company carries exactly the values computed from Pendo's data.
    let contacts = f.contacts_by_visitor();
    let linked: usize = (0..VISITORS).filter(|v| v % 5 != 4).count();
    assert_eq!(
        contacts.len(),
        linked,
        "every contact with a visitor's email got linked"
    );
    f.pendo.with(|s| {
        for (vid, props) in &contacts {
            let v = parse_visitor(vid).unwrap();
            assert_pushed(props, &expected_visitor(&s.data, v, today), vid);
        }
    });
    let companies = f.companies_by_account();
    assert_eq!(
        companies.len(),
        (0..ACCOUNTS).filter(|a| a % 5 != 4).count()
    );
    f.pendo.with(|s| {
        for (aid, props) in &companies {
            let a = parse_account(aid).unwrap();
            assert_pushed(props, &expected_account(&s.data, a, today), aid);
        }
    });
    // Every linked Pendo visitor/account got the pulled HubSpot values.
    f.pendo.with(|s| {
        for (vid, props) in &contacts {
            let custom = &s.data.custom[&("visitor".to_string(), vid.clone())];
            assert_eq!(custom["hubspot_jobtitle"], json!(props["jobtitle"]));
            assert_eq!(
                custom["hubspot_lifecycle"],
                json!("Customer"),
                "the option label (pulled as label by default)"
            );
        }
        for (aid, props) in &companies {
            let custom = &s.data.custom[&("account".to_string(), aid.clone())];
            assert_eq!(custom["hubspot_industry"], json!(props["industry"]));
            assert_eq!(
                custom["hubspot_revenue"],
                json!(props["annualrevenue"].parse::<f64>().unwrap())
            );
        }
    });
    assert_eq!(
        run.counts.unmatched as usize,
        VISITORS - linked + (ACCOUNTS - companies.len())
    );
    let contacts_before = f.hubspot.with(|s| s.objects["contacts"].len());

    // Second sync, nothing changed: no writes either way, although the pull saw every record
    // the push had just modified (no ping-pong).
    let (hs_writes, pendo_writes) = (f.hubspot_writes(), f.pendo_writes());
    let searches = f.hubspot.count("POST /crm/objects/2026-03/contacts/search");
    let second = f.full_sync().await;
    assert_eq!(f.hubspot_writes() - hs_writes, 0, "{second:?}");
    assert_eq!(f.pendo_writes() - pendo_writes, 0);
    assert!(f.hubspot.count("POST /crm/objects/2026-03/contacts/search") > searches);
    assert_eq!(second.counts.pushed + second.counts.pulled, 0);
    assert_eq!(
        second.counts.unchanged as usize,
        contacts.len() + companies.len() + contacts.len() + companies.len()
    );

    // A day of changes: a new day of Pendo activity and NPS, three contacts edited in HubSpot.
    let before: BTreeMap<String, BTreeMap<String, String>> = f.pendo.with(|s| {
        contacts
            .keys()
            .map(|vid| {
                (
                    vid.clone(),
                    expected_visitor(&s.data, parse_visitor(vid).unwrap(), today),
                )
            })
            .collect()
    });
    f.pendo.with(|s| {
        sandboxes::pendo::apply_mutation(
            s,
            Mutation {
                advance_days: 1,
                activity: vec![(0, -1, 30, 10), (3, -1, 12, 4), (6, -1, 7, 2)],
                nps: vec![(9, 10, "love it".into())],
                ..Default::default()
            },
        )
    });
    let edited: Vec<String> = contacts.keys().take(3).cloned().collect();
    f.hubspot.with(|s| {
        let now = s.now_ms();
        for r in s.objects.get_mut("contacts").unwrap().values_mut() {
            if r.properties
                .get("pendo_visitor_id")
                .is_some_and(|v| edited.contains(v))
            {
                r.properties
                    .insert("jobtitle".into(), "Head of Product".into());
                r.properties.insert(
                    "lastmodifieddate".into(),
                    sandboxes::hubspot::values::iso(now),
                );
            }
        }
    });
    let f = Fixture {
        worker: {
            let mut w = f.worker;
            w.today_override = Some(today + 1);
            w
        },
        ..f
    };
    let changed: BTreeSet<String> = f.pendo.with(|s| {
        before
            .iter()
            .filter(|(vid, old)| {
                expected_visitor(&s.data, parse_visitor(vid).unwrap(), today + 1) != **old
            })
            .map(|(vid, _)| vid.clone())
            .collect()
    });
    assert!(!changed.is_empty());
    let visitor_updates = f
        .hubspot
        .count("POST /crm/objects/2026-03/contacts/batch/update");
    let pendo_writes = f.pendo_writes();
    let third = f.full_sync().await;
    let contacts_after = f.contacts_by_visitor();
    f.pendo.with(|s| {
        for (vid, props) in &contacts_after {
            assert_pushed(
                props,
                &expected_visitor(&s.data, parse_visitor(vid).unwrap(), today + 1),
                vid,
            );
        }
        for vid in &edited {
            assert_eq!(
                s.data.custom[&("visitor".to_string(), vid.clone())]["hubspot_jobtitle"],
                json!("Head of Product")
            );
        }
    });
    assert_eq!(
        f.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/update")
            - visitor_updates,
        changed.len().div_ceil(100) as u64,
        "only changed contacts are written, in batches of 100"
    );
    assert_eq!(
        third.counts.pulled, 3,
        "only the three edited contacts are pulled"
    );
    assert!(
        f.pendo_writes() - pendo_writes <= 2,
        "one Pendo call per search page holding an edit"
    );
    assert_eq!(
        f.hubspot.with(|s| s.objects["contacts"].len()),
        contacts_before,
        "no duplicates"
    );
}

#[tokio::test]
async fn record_failures_are_stored_and_retried_next_run() {
    let f = Fixture::new().await;
    // Link two contacts up front and make their writes fail.
    let first = f.full_sync().await;
    assert_eq!(first.status, RunStatus::Succeeded);
    let victims: Vec<u64> = f.hubspot.with(|s| {
        let ids: Vec<u64> = s.objects["contacts"]
            .values()
            .filter(|r| r.properties.contains_key("pendo_visitor_id"))
            .map(|r| r.id)
            .take(2)
            .collect();
        for id in &ids {
            s.reject_writes.insert(*id);
            // Make them differ from what was pushed so the next run writes them.
            s.objects.get_mut("contacts").unwrap().get_mut(id).unwrap();
        }
        ids
    });
    // Force the two visitors to change: a new NPS answer each.
    let vids: Vec<usize> = f.hubspot.with(|s| {
        victims
            .iter()
            .map(|id| {
                parse_visitor(&s.objects["contacts"][id].properties["pendo_visitor_id"]).unwrap()
            })
            .collect()
    });
    f.pendo.with(|s| {
        sandboxes::pendo::apply_mutation(
            s,
            Mutation {
                nps: vids.iter().map(|v| (*v, 3, "broken".to_string())).collect(),
                ..Default::default()
            },
        )
    });
    f.repo.delete_cursor(&f.tenant, "nps").await.unwrap();
    let failed = f.full_sync().await;
    assert_eq!(failed.status, RunStatus::Partial);
    assert_eq!(failed.counts.failed, 2);
    let errors = f
        .repo
        .list_run_errors(&f.tenant, &failed.run_id, None, 50)
        .await
        .unwrap()
        .items;
    let failed_ids: BTreeSet<String> = errors.iter().map(|e| e.object_id.clone()).collect();
    assert_eq!(failed_ids, vids.iter().map(|v| visitor_id(*v)).collect());
    assert!(errors.iter().all(|e| e.message.contains("locked")));

    f.hubspot.with(|s| s.reject_writes.clear());
    let fixed = f.full_sync().await;
    assert_eq!(fixed.status, RunStatus::Succeeded);
    assert_eq!(fixed.counts.retried, 2);
    assert_eq!(fixed.counts.pushed, 2);
    let contacts = f.contacts_by_visitor();
    for v in vids {
        assert_eq!(contacts[&visitor_id(v)]["pendo_latest_nps_score"], "3");
    }
}

#[tokio::test]
async fn tiny_budget_continues_across_invocations_to_the_same_result() {
    let reference = Fixture::new().await;
    reference.full_sync().await;
    let mut f = Fixture::new().await;
    f.worker.budget_override = Some(Duration::from_millis(1));
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    assert!(
        run.invocations > 5,
        "the run was split: {} invocations",
        run.invocations
    );
    let synced = |m: std::collections::HashMap<String, BTreeMap<String, String>>| {
        m.into_iter()
            .map(|(k, mut p)| {
                for volatile in [
                    "createdate",
                    "lastmodifieddate",
                    "hs_lastmodifieddate",
                    "hs_object_id",
                ] {
                    p.remove(volatile);
                }
                (k, p)
            })
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        synced(f.contacts_by_visitor()),
        synced(reference.contacts_by_visitor())
    );
    assert_eq!(
        synced(f.companies_by_account()),
        synced(reference.companies_by_account())
    );
    assert_eq!(
        f.hubspot.with(|s| s.objects["contacts"].len()),
        reference.hubspot.with(|s| s.objects["contacts"].len())
    );
    let custom = |fx: &Fixture| {
        fx.pendo.with(|s| {
            s.data
                .custom
                .clone()
                .into_iter()
                .collect::<BTreeMap<_, _>>()
        })
    };
    assert_eq!(custom(&f), custom(&reference));
    assert_eq!(
        f.hubspot_writes(),
        reference.hubspot_writes(),
        "nothing written twice"
    );
}

/// Sends through the real queue, first trying the lease of each job's tenant as the
/// invocation that receives the job at once would.
struct LeaseProbe {
    repo: shared::store::repo::Repo,
    queue: std::sync::Arc<dyn shared::queue::Queue>,
    leased_at_send: std::sync::Mutex<Vec<bool>>,
}

#[async_trait::async_trait]
impl shared::queue::Queue for LeaseProbe {
    async fn send(&self, jobs: &[Job], delay: Duration) -> Result<(), shared::queue::QueueError> {
        for j in jobs {
            let got = self
                .repo
                .acquire_lease(&j.tenant_id, "receiver", chrono::Duration::minutes(1))
                .await
                .unwrap();
            if let Some(l) = &got {
                self.repo.release_lease(l).await.unwrap();
            }
            self.leased_at_send.lock().unwrap().push(got.is_none());
        }
        self.queue.send(jobs, delay).await
    }
}

#[tokio::test]
async fn a_continuation_reaches_the_queue_with_its_tenant_free() {
    // A continuation received the moment it is sent (SQS makes it visible at once) found its
    // tenant still leased by the job that sent it and was deferred by a minute.
    let f = Fixture::new().await;
    let probe = std::sync::Arc::new(LeaseProbe {
        repo: f.repo.clone(),
        queue: f.worker.queue.clone(),
        leased_at_send: Default::default(),
    });
    let mut worker =
        shared::worker::Worker::new(f.repo.clone(), probe.clone(), f.worker.connectors.clone());
    worker.today_override = f.worker.today_override;
    worker.budget_override = Some(Duration::from_millis(1));
    let job = Job::full(f.tenant.clone(), Trigger::RunNow, Utc::now());
    let first = worker.handle(&job, None).await.unwrap();
    assert!(matches!(first, JobResult::Continued), "{first:?}");
    let msgs = crate::queue::receive_all(&f.sqs, &f.queue_url).await;
    assert_eq!(msgs.len(), 1, "one continuation");
    let continuation = shared::queue::decode_job(msgs[0].body().unwrap()).unwrap();
    let next = worker.handle(&continuation, None).await.unwrap();
    assert!(
        matches!(next, JobResult::Continued | JobResult::Finished(_)),
        "the continuation ran at once: {next:?}"
    );
    let leased = probe.leased_at_send.lock().unwrap().clone();
    assert!(
        !leased.is_empty() && leased.iter().all(|l| !l),
        "each follow-up was sent after its job let go of the lease: {leased:?}"
    );
}

#[tokio::test]
async fn a_second_worker_defers_while_the_tenant_is_leased() {
    let f = Fixture::new().await;
    let held = f
        .repo
        .acquire_lease(&f.tenant, "worker-a", chrono::Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    let job = Job::full(f.tenant.clone(), Trigger::RunNow, Utc::now());
    let r = f.worker.handle(&job, None).await.unwrap();
    assert!(matches!(r, JobResult::Deferred), "{r:?}");
    assert!(
        f.repo
            .list_runs(&f.tenant, None, 5)
            .await
            .unwrap()
            .items
            .is_empty(),
        "nothing ran"
    );
    f.repo.release_lease(&held).await.unwrap();
    // The deferred job is back on the queue and runs once the lease is free.
    let handled = f.drain().await;
    assert_eq!(handled, 1);
    let runs = f.repo.list_runs(&f.tenant, None, 5).await.unwrap().items;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].job_id, job.job_id);
    let _ = ObjectKind::Visitor;
}
