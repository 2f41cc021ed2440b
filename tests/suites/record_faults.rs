//! Record-level faults seen in real HubSpot/Pendo integrations (issue 13): one bad or
//! ambiguous record never stalls a tenant, and identity survives merges, secondary e-mails and
//! sentinel values. Each case asserts the expected value stated in the issue.

use sandboxes::pendo::data::visitor_id;
use sandboxes::pendo::{apply_mutation, Mutation};
use shared::domain::{ObjectKind, RunStatus, TenantStatus};
use shared::hubspot::{HubSpotApi, HubSpotError, WriteInput};
use shared::worker::JobResult;
use std::collections::BTreeMap;

use crate::record_lab::{props, Lab};
use crate::sync_fixture::{assert_pushed, expected_visitor};

fn email_config() -> serde_json::Value {
    serde_json::json!({"identity": {"match_contacts_by_email": true}})
}

/// Case 1: 600 visitors; v000003 and v000520 (different pages) share one contact's address in
/// different case. The second is ambiguous, the 30 contacts all get their values, every run.
#[tokio::test]
async fn two_visitors_one_contact_on_different_pages() {
    let mut lab = Lab::new(600, 30, email_config()).await;
    lab.pendo.with(|s| {
        s.data
            .email_overrides
            .insert(3, "sam.shared@example-co.test".into());
        s.data
            .email_overrides
            .insert(520, "Sam.Shared@Example-Co.test".into());
    });
    let others: Vec<usize> = (10..39).collect();
    let mut seed = vec![props(&[("email", "sam.shared@example-co.test")])];
    seed.extend(
        others
            .iter()
            .map(|v| props(&[("email", &lab.email_of(*v))])),
    );
    let ids = lab.contacts(seed);
    let today = lab.today();

    for round in 0..2 {
        let run = lab.finished_run().await;
        assert_eq!(run.status, RunStatus::Partial, "round {round}: {run:?}");
        assert_eq!(run.counts.ambiguous, 1, "round {round}");
        assert_eq!(run.counts.failed, 0, "round {round}");
        let errors = lab.errors(&run).await;
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].object_id, "v000520");
        assert!(errors[0].message.contains("ambiguous"), "{errors:?}");
        // Every one of the 30 contacts carries its visitor's values.
        let sam = lab.contact(ids[0]);
        assert_eq!(sam["pendo_visitor_id"], "v000003");
        for (id, v) in ids.iter().zip(std::iter::once(3).chain(others.clone())) {
            let c = lab.contact(*id);
            assert_eq!(c.get("pendo_visitor_id"), Some(&visitor_id(v)));
            lab.pendo
                .with(|s| assert_pushed(&c, &expected_visitor(&s.data, v, today), &visitor_id(v)));
        }
    }
    assert_eq!(lab.tenant_status().await, TenantStatus::Enabled);
}

/// Case 1, the whole kind at the client: a batch never carries two inputs for one record, and a
/// whole-batch 400 caused by one input (HubSpot's `INVALID_EMAIL`) is narrowed down to it while
/// the other inputs land.
#[tokio::test]
async fn whole_batch_refusals_are_isolated_to_the_culprit() {
    let lab = Lab::new(10, 2, email_config()).await;
    let client = lab.hubspot_client();
    client.ensure_schema(ObjectKind::Visitor).await.unwrap();
    // The sandbox refuses duplicate ids the way HubSpot does.
    let ids = lab.contacts((0..3).map(|_| BTreeMap::new()).collect());
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/crm/v3/objects/contacts/batch/update",
            lab.hubspot.base_url
        ))
        .bearer_auth(lab.access_token())
        .json(&serde_json::json!({"inputs": [
            {"id": ids[0].to_string(), "properties": {"jobtitle": "a"}},
            {"id": ids[0].to_string(), "properties": {"jobtitle": "b"}}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["category"], "VALIDATION_ERROR");
    assert_eq!(body["message"], "Duplicate IDs found in batch input");

    // Through the client: the repeat is reported, the rest written.
    let input = |id: u64, title: &str| WriteInput {
        key: id.to_string(),
        properties: props(&[("jobtitle", title)]),
    };
    let out = client
        .update(
            ObjectKind::Visitor,
            vec![input(ids[0], "a"), input(ids[1], "b"), input(ids[0], "c")],
        )
        .await
        .unwrap();
    assert_eq!(out.ok.len(), 2);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].key, ids[0].to_string());
    assert_eq!(lab.contact(ids[0])["jobtitle"], "a");
    assert_eq!(lab.contact(ids[1])["jobtitle"], "b");

    // 150 upserts, one with an invalid e-mail: 149 land, the culprit is named.
    let inputs: Vec<WriteInput> = (0..150)
        .map(|i| WriteInput {
            key: format!("p{i:03}"),
            properties: props(&[(
                "email",
                &if i == 70 {
                    "ann.lee@example.c0m".to_string()
                } else {
                    format!("p{i}@example.com")
                },
            )]),
        })
        .collect();
    let out = client
        .upsert(ObjectKind::Visitor, "pendo_visitor_id", inputs)
        .await
        .unwrap();
    assert_eq!(out.ok.len(), 149);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].key, "p070");
    assert!(
        out.failed[0].message.contains("INVALID_EMAIL"),
        "{:?}",
        out.failed[0]
    );
}

/// Case 2: `pendo_visitor_id` exists as a plain (non-unique) property. The tenant goes to
/// needs-attention with what to do, and nothing that depends on the property is attempted.
#[tokio::test]
async fn non_unique_id_property_needs_attention_and_blocks_dependent_writes() {
    let mut lab = Lab::new(20, 2, email_config()).await;
    lab.hubspot.with(|s| {
        s.properties.get_mut("contacts").unwrap().insert(
            "pendo_visitor_id".into(),
            sandboxes::hubspot::values::PropertyDef::simple(
                "pendo_visitor_id",
                "string",
                "text",
                "contactinformation",
            ),
        );
    });
    lab.contacts(vec![props(&[("email", &lab.email_of(1))])]);
    // The sandbox answers like HubSpot for an upsert by it.
    let err = lab
        .hubspot_client()
        .upsert(
            ObjectKind::Visitor,
            "pendo_visitor_id",
            vec![WriteInput {
                key: "v1".into(),
                properties: BTreeMap::new(),
            }],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, HubSpotError::IdPropertyNotUnique { message, .. }
            if message.contains("Unable to perform update/upsert by non-unique contacts property pendo_visitor_id")),
        "{err}"
    );
    lab.hubspot.reset_counts();

    let result = lab.run().await;
    assert!(matches!(result, JobResult::Skipped(_)), "{result:?}");
    let t = lab.repo.get_tenant(&lab.tenant).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::NeedsAttention);
    let reason = t.attention_reason.unwrap();
    assert!(
        reason.contains("pendo_visitor_id") && reason.contains("not unique"),
        "{reason}"
    );
    assert!(reason.contains("delete it in HubSpot"), "{reason}");
    let attention = t.attention.expect("typed attention");
    assert_eq!(
        attention.kind,
        shared::domain::AttentionKind::IdPropertyNotUnique
    );
    assert!(attention.action.contains("delete the non-unique property"));
    assert_eq!(lab.hubspot_writes(), 0);
    assert_eq!(
        lab.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/read")
            + lab
                .hubspot
                .count("POST /crm/v3/objects/contacts/batch/read"),
        0
    );
}

/// Case 4: contact A (linked to v000001) is merged into B. HubSpot answers the write to A with
/// B's id: the link moves to B and the write counts as done. A deleted contact's link is dropped
/// and reported once, not retried on every run.
#[tokio::test]
async fn merged_records_move_the_link_and_deleted_ones_drop_it() {
    let mut lab = Lab::new(20, 2, email_config()).await;
    let ids = lab.contacts(vec![
        props(&[("email", &lab.email_of(1))]),
        props(&[("email", "someone.else@example.com")]),
        props(&[("email", &lab.email_of(2))]),
    ]);
    let (a, b, c) = (ids[0], ids[1], ids[2]);
    let first = lab.finished_run().await;
    assert_eq!(first.counts.failed, 0, "{first:?}");
    assert_eq!(
        lab.state(ObjectKind::Visitor, "v000001").await.hubspot_id,
        Some(a.to_string())
    );
    lab.hubspot.with(|s| {
        s.merge("contacts", a, b);
        s.archive("contacts", c);
    });
    // A new day of activity for both, so both have something to write.
    lab.pendo.with(|s| {
        apply_mutation(
            s,
            Mutation {
                advance_days: 1,
                activity: vec![(1, -1, 40, 9), (2, -1, 25, 3)],
                nps: vec![],
                ..Default::default()
            },
        )
    });
    let today = lab.today();
    let second = lab.finished_run().await;
    let errors = lab.errors(&second).await;
    assert_eq!(second.counts.failed, 1, "{errors:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].object_id, "v000002");
    assert!(errors[0].message.contains("no longer exists"), "{errors:?}");
    // The merge survivor holds v000001's new values; the link moved to it.
    assert_eq!(
        lab.state(ObjectKind::Visitor, "v000001").await.hubspot_id,
        Some(b.to_string())
    );
    let survivor = lab.contact(b);
    lab.pendo
        .with(|s| assert_pushed(&survivor, &expected_visitor(&s.data, 1, today), "v000001"));
    assert_eq!(
        lab.state(ObjectKind::Visitor, "v000002").await.hubspot_id,
        None
    );
    // Next run: the deleted contact's visitor is unmatched, not a failure again.
    let third = lab.finished_run().await;
    assert_eq!(third.counts.failed, 0, "{:?}", lab.errors(&third).await);
    assert_eq!(third.status, RunStatus::Succeeded);
}

impl Lab {
    async fn tenant_status(&self) -> TenantStatus {
        self.repo
            .get_tenant(&self.tenant)
            .await
            .unwrap()
            .unwrap()
            .status
    }

    /// A valid access token of the sandbox (for raw requests).
    fn access_token(&self) -> String {
        let t = format!("sbx-access-test-{}", uuid::Uuid::new_v4().simple());
        self.hubspot.with(|s| {
            s.access_tokens.insert(
                t.clone(),
                std::time::Instant::now() + std::time::Duration::from_secs(600),
            )
        });
        t
    }
}

/// Case 5: the visitor's address is the contact's additional e-mail. It is matched to that
/// contact, and with contact creation on no second contact is attempted (HubSpot, and the
/// sandbox, refuse one: "Contact already exists").
#[tokio::test]
async fn secondary_email_matches_the_existing_contact() {
    let mut lab = Lab::new(
        12,
        2,
        serde_json::json!({"identity": {"match_contacts_by_email": true, "create_missing_contacts": true}}),
    )
    .await;
    lab.pendo.with(|s| {
        s.data
            .email_overrides
            .insert(7, "lee.park@oldco.test".into())
    });
    let ids = lab.contacts(vec![props(&[
        ("email", "lee.park@newco.test"),
        (
            "hs_additional_emails",
            "lee.park@old.test;Lee.Park@OldCo.test",
        ),
    ])]);
    // What a create for that address gets.
    let client = lab.hubspot_client();
    client.ensure_schema(ObjectKind::Visitor).await.unwrap();
    let refused = client
        .upsert(
            ObjectKind::Visitor,
            "pendo_visitor_id",
            vec![WriteInput {
                key: "someone-new".into(),
                properties: props(&[("email", "lee.park@oldco.test")]),
            }],
        )
        .await
        .unwrap();
    assert_eq!(refused.failed.len(), 1);
    assert_eq!(refused.failed[0].category, "CONFLICT");
    assert!(refused.failed[0]
        .message
        .contains(&format!("Contact already exists. Existing ID: {}", ids[0])));

    let today = lab.today();
    let run = lab.finished_run().await;
    assert_eq!(run.counts.failed, 0, "{:?}", lab.errors(&run).await);
    let c = lab.contact(ids[0]);
    assert_eq!(
        c.get("pendo_visitor_id").map(String::as_str),
        Some("v000007")
    );
    lab.pendo
        .with(|s| assert_pushed(&c, &expected_visitor(&s.data, 7, today), "v000007"));
    let holders = lab.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter(|r| {
                r.properties
                    .values()
                    .any(|v| v.to_lowercase().contains("lee.park@oldco.test"))
            })
            .count()
    });
    assert_eq!(holders, 1);
    // The other visitors were created, each once.
    assert_eq!(lab.linked_contacts(), 12);
}

/// Case 8: with contact creation on, `ann.lee@example.c0m` is caught before sending: a record
/// error for that visitor, and every other visitor's contact lands.
#[tokio::test]
async fn invalid_email_is_a_record_error_and_the_rest_lands() {
    let mut lab = Lab::new(
        20,
        2,
        serde_json::json!({"identity": {"match_contacts_by_email": true, "create_missing_contacts": true}}),
    )
    .await;
    lab.pendo.with(|s| {
        s.data
            .email_overrides
            .insert(6, "ann.lee@example.c0m".into())
    });
    let run = lab.finished_run().await;
    let errors = lab.errors(&run).await;
    assert_eq!(run.counts.failed, 1, "{errors:?}");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].object_id, "v000006");
    assert_eq!(errors[0].field.as_deref(), Some("email"));
    assert!(errors[0].message.contains("INVALID_EMAIL"), "{errors:?}");
    assert_eq!(lab.linked_contacts(), 19);
    assert_eq!(run.status, RunStatus::Partial);
}

impl Lab {
    /// Contacts carrying a Pendo visitor id.
    fn linked_contacts(&self) -> usize {
        self.hubspot.with(|s| {
            s.objects["contacts"]
                .values()
                .filter(|r| r.properties.contains_key("pendo_visitor_id"))
                .count()
        })
    }
}
