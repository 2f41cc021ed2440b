//! Issue 14, defects 3 and 6: a task create that HubSpot processed but whose answer's body
//! was cut is looked up by its marker, never sent blindly again; a create that fails once
//! (503) is retried within the run. Either way: one task per churning account, run succeeded.

use sandboxes::Fault;
use shared::domain::{RuleSet, RunStatus};
use std::collections::BTreeSet;

use crate::sync_fixture::{expected_account, Fixture, ACCOUNTS};

#[tokio::test]
async fn a_create_with_a_lost_answer_is_reconciled_and_a_transient_failure_retried() {
    let f = Fixture::new().await;
    let rules: RuleSet = serde_json::from_value(serde_json::json!({"rules": [
        {"id": "churn", "type": "churn_risk", "drop_percent": 20.0, "min_prior_minutes": 1}
    ]}))
    .unwrap();
    f.repo.put_rules(&f.tenant, &rules).await.unwrap();
    let today = f.today();
    f.pendo.with(|s| {
        for a in [0usize, 1, 2] {
            for v in s.data.visitors_of(a).to_vec() {
                for d in today - 179..=today {
                    s.data.overrides.insert((v, d), (0, 0));
                }
            }
        }
    });
    let churn: BTreeSet<String> = f.pendo.with(|s| {
        (0..ACCOUNTS)
            .filter(|a| a % 5 != 4)
            .filter(|a| {
                expected_account(&s.data, *a, today)["pendo_usage_trending"]
                    .parse::<f64>()
                    .is_ok_and(|t| t <= -20.0)
            })
            .map(sandboxes::pendo::data::account_id)
            .collect()
    });
    assert!(churn.len() >= 3, "{churn:?}");
    // In this order: the 503'd create has no task to look for, so its retry takes the cut.
    for kind in ["503", "cut"] {
        f.hubspot.inject(Fault {
            kind: kind.into(),
            count: 1,
            delay_ms: 0,
            path_contains: Some("2026-03/tasks".into()),
            retry_after_secs: None,
        });
    }
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let per_company: Vec<String> = f.hubspot.with(|s| {
        s.associations
            .iter()
            .filter(|a| a.from.0 == "tasks" && a.to.0 == "companies")
            .map(|a| s.objects["companies"][&a.to.1].properties["pendo_account_id"].clone())
            .collect()
    });
    assert_eq!(
        per_company.len(),
        churn.len(),
        "one task each: {per_company:?}"
    );
    assert_eq!(per_company.into_iter().collect::<BTreeSet<_>>(), churn);
    assert_eq!(f.hubspot.with(|s| s.objects["tasks"].len()), churn.len());
    // The lost answer was found by its marker, not created again.
    assert!(
        run.actions
            .iter()
            .any(|a| a.action.contains("found after its answer was lost")),
        "{:?}",
        run.actions
    );
    // Attempts: one per task, plus the one whose 503 was retried.
    assert_eq!(
        f.hubspot.count("POST /crm/objects/2026-03/tasks"),
        churn.len() as u64 + 1
    );
}
