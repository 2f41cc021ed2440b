//! Issue 14, defect 2: a dry run changes no stored state at all, and a failing record is
//! attempted once per run.

use shared::domain::{ObjectKind, PullState, Trigger};
use shared::store::Item;
use shared::sync::{SyncEngine, SyncOptions};

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
            },
        )
    });
    let before = dump(&lab).await;
    let tenant = lab.repo.get_tenant(&lab.tenant).await.unwrap().unwrap();
    let config = lab.repo.get_config(&lab.tenant).await.unwrap().unwrap();
    let hubspot = lab.worker.connectors.hubspot(&tenant).await.unwrap();
    let pendo = lab.worker.connectors.pendo(&tenant).await.unwrap();
    let mut opts = SyncOptions::new(lab.today());
    opts.dry_run = true;
    let dry = SyncEngine::new(lab.repo.clone())
        .run(
            &tenant,
            &config,
            hubspot.as_ref(),
            pendo.as_ref(),
            Trigger::DryRun,
            "dry-run",
            None,
            &opts,
            None,
        )
        .await
        .unwrap();
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
