//! Privacy end to end: Pendo's do-not-process flag (`metadata.pendo.donotprocess`) keeps a
//! visitor out of every HubSpot request, a visitor flagged after being pushed gets the Pendo
//! properties cleared on their contact (once), and per-visitor erasure forgets a visitor and
//! clears their contact. Assertions read the HubSpot sandbox's request log.

use sandboxes::pendo::data::visitor_id;
use sandboxes::pendo::{apply_mutation, Mutation};
use shared::domain::{ObjectKind, PushField, RunStatus};
use shared::sync::privacy::{erase_visitor, ErasureRequest, PRIVACY_ACTION};

use crate::sync_fixture::Fixture;

/// Requests (method, path, query and body) that mention `needle`.
fn mentions(f: &Fixture, needle: &str) -> Vec<String> {
    f.hubspot.with(|s| {
        s.requests
            .iter()
            .filter(|r| {
                r.body.contains(needle) || r.query.contains(needle) || r.path.contains(needle)
            })
            .map(|r| format!("{} {} {}", r.method, r.path, r.body))
            .collect()
    })
}

fn contact_of(f: &Fixture, email: &str) -> (u64, std::collections::BTreeMap<String, String>) {
    f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .find(|r| r.properties.get("email").map(|e| e.to_lowercase()) == Some(email.into()))
            .map(|r| (r.id, r.properties.clone()))
            .expect("seeded contact")
    })
}

#[tokio::test]
async fn do_not_process_visitors_never_reach_hubspot_and_newly_flagged_are_cleared() {
    let f = Fixture::new().await;
    // v1 is flagged from the start (its contact exists, matchable by e-mail); v2 is pushed
    // first and flagged afterwards. Neither is pre-stamped with the visitor id (v % 3 != 0).
    let (email1, email2) = f.pendo.with(|s| {
        s.data.do_not_process.insert(1);
        (s.data.email(1), s.data.email(2))
    });
    f.hubspot.with(|s| s.log_requests = true);
    let first = f.full_sync().await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    assert_eq!(first.counts.do_not_process, 1);
    assert_eq!(first.counts.privacy_cleared, 0);
    assert_eq!(mentions(&f, &visitor_id(1)), Vec::<String>::new());
    assert_eq!(mentions(&f, &email1), Vec::<String>::new());
    let (c1, p1) = contact_of(&f, &email1);
    assert!(
        p1.keys().all(|k| !k.starts_with("pendo_")),
        "nothing written on the flagged visitor's contact: {p1:?}"
    );
    let (c2, p2) = contact_of(&f, &email2);
    assert_eq!(p2.get("pendo_visitor_id"), Some(&visitor_id(2)));
    assert!(p2.contains_key("pendo_days_active"));
    let states = f
        .repo
        .get_object_states(&f.tenant, ObjectKind::Visitor, &[visitor_id(1)])
        .await
        .unwrap();
    assert!(states[&visitor_id(1)].do_not_process);
    assert_eq!(states[&visitor_id(1)].hubspot_id, None);

    // v2 becomes flagged: the next run clears every Pendo property we wrote on its contact.
    f.pendo.with(|s| {
        apply_mutation(
            s,
            Mutation {
                do_not_process: vec![(2, true)],
                ..Default::default()
            },
        )
    });
    f.hubspot.with(|s| s.requests.clear());
    let second = f.full_sync().await;
    assert_eq!(second.status, RunStatus::Succeeded, "{second:?}");
    assert_eq!(second.counts.do_not_process, 2);
    assert_eq!(second.counts.privacy_cleared, 1);
    let action = second
        .actions
        .iter()
        .find(|a| a.rule == PRIVACY_ACTION)
        .expect("the clear is recorded in the run");
    assert_eq!(action.object_id, visitor_id(2));
    assert_eq!(action.hubspot_id, Some(c2.to_string()));
    let (_, p2) = contact_of(&f, &email2);
    for field in PushField::ALL
        .iter()
        .filter(|f| f.applies_to(ObjectKind::Visitor))
    {
        assert_eq!(
            p2.get(field.property()).map(String::as_str),
            Some(""),
            "{} cleared",
            field.property()
        );
    }
    assert_eq!(p2.get("pendo_visitor_id").map(String::as_str), Some(""));
    // Exactly one request named v2: the clear, a batch/update carrying "" values only.
    let sent = mentions(&f, &c2.to_string());
    let updates: Vec<_> = sent.iter().filter(|r| r.contains("batch/update")).collect();
    assert_eq!(updates.len(), 1, "{sent:?}");

    // Third run: no request names either flagged visitor or their contacts' ids.
    f.hubspot.with(|s| s.requests.clear());
    let third = f.full_sync().await;
    assert_eq!(third.counts.privacy_cleared, 0);
    for needle in [visitor_id(1), visitor_id(2), email1, email2] {
        assert_eq!(mentions(&f, &needle), Vec::<String>::new(), "{needle}");
    }
    let writes_to = |id: u64| {
        mentions(&f, &format!("\"{id}\""))
            .into_iter()
            .filter(|r| r.starts_with("POST") && r.contains("batch/update"))
            .count()
    };
    assert_eq!(writes_to(c1), 0);
    assert_eq!(writes_to(c2), 0);
}

#[tokio::test]
async fn erasure_forgets_a_visitor_and_clears_their_contact() {
    let f = Fixture::new().await;
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let email = f.pendo.with(|s| s.data.email(7));
    let (contact, before) = contact_of(&f, &email);
    assert_eq!(before.get("pendo_visitor_id"), Some(&visitor_id(7)));
    let tenant = f.repo.get_tenant(&f.tenant).await.unwrap().unwrap();
    let config = f.repo.get_config(&f.tenant).await.unwrap().unwrap();
    let hubspot = f
        .worker
        .connectors
        .hubspot(&tenant, config.hubspot_api_version)
        .await
        .unwrap();
    let report = erase_visitor(ErasureRequest {
        repo: &f.repo,
        hubspot: Some(hubspot.as_ref()),
        tenant: &f.tenant,
        config: &config,
        visitor_id: &visitor_id(7),
    })
    .await
    .unwrap();
    assert_eq!(report.hubspot_contact_cleared, Some(contact.to_string()));
    // Push state and usage history (v7 was active) at least.
    assert!(report.items_forgotten >= 2, "{report:?}");
    let (_, after) = contact_of(&f, &email);
    assert_eq!(after.get("pendo_visitor_id").map(String::as_str), Some(""));
    assert_eq!(after.get("pendo_days_active").map(String::as_str), Some(""));
    assert!(f
        .repo
        .get_object_states(&f.tenant, ObjectKind::Visitor, &[visitor_id(7)])
        .await
        .unwrap()
        .is_empty());
    assert!(f
        .repo
        .get_activity(&f.tenant, ObjectKind::Visitor, &[visitor_id(7)])
        .await
        .unwrap()
        .is_empty());
    // A second erasure finds nothing left.
    let again = erase_visitor(ErasureRequest {
        repo: &f.repo,
        hubspot: Some(hubspot.as_ref()),
        tenant: &f.tenant,
        config: &config,
        visitor_id: &visitor_id(7),
    })
    .await
    .unwrap();
    assert_eq!(again.hubspot_contact_cleared, None);
    assert_eq!(again.items_forgotten, 0);
}
