//! Pendo segments → a HubSpot boolean contact property and a static list, end to end on both
//! sandboxes: the first run writes every linked member, a run with nothing changed writes
//! nothing, and joins/leaves (a do-not-process member counts as leaving) reach the property and
//! the list as one diff. Expected members come from the dataset.

use sandboxes::hubspot::values::PropertyDef;
use sandboxes::pendo::data::visitor_id;
use sandboxes::pendo::{apply_mutation, Mutation};
use serde_json::{json, Value};
use shared::domain::{RunStatus, SyncConfig};
use std::collections::{BTreeSet, HashMap};

use crate::sync_fixture::{Fixture, VISITORS};

const SEGMENT: &str = "seg-power-users";
const PROPERTY: &str = "pendo_power_user";
const LIST: &str = "Pendo power users";
const MEMBERSHIPS: &str = "PUT /crm/lists/2026-03/{id}/memberships/add-and-remove";

async fn setup() -> Fixture {
    let f = Fixture::new().await;
    let mut c = serde_json::to_value(f.repo.get_config(&f.tenant).await.unwrap().unwrap()).unwrap();
    c["segments"] =
        json!([{"segment_id": SEGMENT, "contact_property": PROPERTY, "list_name": LIST}]);
    let c: SyncConfig = serde_json::from_value(c).unwrap();
    f.repo.put_config(&f.tenant, &c).await.unwrap();
    f.hubspot.with(|s| {
        s.properties.get_mut("contacts").unwrap().insert(
            PROPERTY.into(),
            PropertyDef {
                name: PROPERTY.into(),
                label: "Pendo power user".into(),
                kind: "bool".into(),
                field_type: "booleancheckbox".into(),
                group_name: "contactinformation".into(),
                has_unique_value: false,
                options: vec![
                    json!({"label": "Yes", "value": "true", "displayOrder": 0, "hidden": false}),
                    json!({"label": "No", "value": "false", "displayOrder": 1, "hidden": false}),
                ],
                description: String::new(),
            },
        );
        s.log_requests = true;
    });
    f
}

/// Contact id by visitor id, for contacts the sync linked.
fn contact_ids(f: &Fixture) -> HashMap<usize, u64> {
    f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter_map(|r| {
                let v = r.properties.get("pendo_visitor_id")?;
                Some((sandboxes::pendo::data::parse_visitor(v)?, r.id))
            })
            .collect()
    })
}

fn list_members(f: &Fixture) -> BTreeSet<u64> {
    f.hubspot.with(|s| {
        s.lists
            .values()
            .find(|l| l.name == LIST)
            .map(|l| l.members.clone())
            .unwrap_or_default()
    })
}

fn flagged_true(f: &Fixture) -> BTreeSet<u64> {
    f.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .filter(|r| r.properties.get(PROPERTY).map(String::as_str) == Some("true"))
            .map(|r| r.id)
            .collect()
    })
}

#[tokio::test]
async fn joins_and_leaves_reach_the_property_and_the_list_as_a_diff() {
    let f = setup().await;
    let first = f.full_sync().await;
    assert_eq!(first.status, RunStatus::Succeeded, "{first:?}");
    let linked = contact_ids(&f);
    let members: BTreeSet<usize> = f.pendo.with(|s| {
        (0..VISITORS)
            .filter(|v| s.data.in_segment(SEGMENT, *v) && linked.contains_key(v))
            .collect()
    });
    assert!(members.len() > 10, "{}", members.len());
    let expected: BTreeSet<u64> = members.iter().map(|v| linked[v]).collect();
    assert_eq!(list_members(&f), expected);
    assert_eq!(flagged_true(&f), expected);
    assert_eq!(first.counts.segment_joined, members.len() as u64);
    assert_eq!(f.hubspot.count(MEMBERSHIPS), 1);
    assert_eq!(f.hubspot.count("POST /crm/lists/2026-03"), 1);

    // Nothing changed: no list call, no property write.
    let updates = f
        .hubspot
        .count("POST /crm/objects/2026-03/contacts/batch/update");
    let second = f.full_sync().await;
    assert_eq!(
        (second.counts.segment_joined, second.counts.segment_left),
        (0, 0)
    );
    assert_eq!(f.hubspot.count(MEMBERSHIPS), 1);
    assert_eq!(
        f.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/update"),
        updates
    );

    // Two members leave, one linked non-member joins, one member is flagged do-not-process.
    let mut it = members.iter();
    let (l1, l2, flagged) = (
        *it.next().unwrap(),
        *it.next().unwrap(),
        *it.next().unwrap(),
    );
    let joiner = *linked
        .keys()
        .filter(|v| !members.contains(v))
        .min()
        .unwrap();
    f.pendo.with(|s| {
        apply_mutation(
            s,
            Mutation {
                segments: vec![
                    (SEGMENT.into(), l1, false),
                    (SEGMENT.into(), l2, false),
                    (SEGMENT.into(), joiner, true),
                ],
                do_not_process: vec![(flagged, true)],
                ..Default::default()
            },
        )
    });
    f.hubspot.with(|s| s.requests.clear());
    let third = f.full_sync().await;
    assert_eq!(third.status, RunStatus::Succeeded, "{third:?}");
    assert_eq!(
        (third.counts.segment_joined, third.counts.segment_left),
        (1, 3)
    );
    assert_eq!(f.hubspot.count(MEMBERSHIPS), 2);
    let diff: Vec<Value> = f.hubspot.with(|s| {
        s.requests
            .iter()
            .filter(|r| r.path.ends_with("/memberships/add-and-remove"))
            .map(|r| serde_json::from_str(&r.body).unwrap())
            .collect()
    });
    let ids =
        |vs: &[usize]| -> BTreeSet<String> { vs.iter().map(|v| linked[v].to_string()).collect() };
    let as_set = |v: &Value| -> BTreeSet<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(diff.len(), 1);
    assert_eq!(as_set(&diff[0]["recordIdsToAdd"]), ids(&[joiner]));
    assert_eq!(
        as_set(&diff[0]["recordIdsToRemove"]),
        ids(&[l1, l2, flagged])
    );
    let mut now = expected.clone();
    for v in [l1, l2, flagged] {
        now.remove(&linked[&v]);
    }
    now.insert(linked[&joiner]);
    assert_eq!(list_members(&f), now);
    assert_eq!(flagged_true(&f), now);
    f.hubspot.with(|s| {
        for v in [l1, l2] {
            assert_eq!(
                s.objects["contacts"][&linked[&v]].properties[PROPERTY],
                "false"
            );
        }
    });
    assert!(!f.hubspot.with(|s| s
        .requests
        .iter()
        .any(|r| r.body.contains(&visitor_id(flagged)))));

    // Erasing the joiner takes their contact out of the list and clears the property.
    let tenant = f.repo.get_tenant(&f.tenant).await.unwrap().unwrap();
    let config = f.repo.get_config(&f.tenant).await.unwrap().unwrap();
    let hubspot = f
        .worker
        .connectors
        .hubspot(&tenant, config.hubspot_api_version)
        .await
        .unwrap();
    let report = shared::sync::privacy::erase_visitor(shared::sync::privacy::ErasureRequest {
        repo: &f.repo,
        hubspot: Some(hubspot.as_ref()),
        tenant: &f.tenant,
        config: &config,
        visitor_id: &visitor_id(joiner),
    })
    .await
    .unwrap();
    assert_eq!(
        report.hubspot_contact_cleared,
        Some(linked[&joiner].to_string())
    );
    now.remove(&linked[&joiner]);
    assert_eq!(list_members(&f), now);
    assert_eq!(
        f.hubspot
            .with(|s| s.objects["contacts"][&linked[&joiner]].properties[PROPERTY].clone()),
        ""
    );
    let stored = f.repo.segment_members(&f.tenant, SEGMENT).await.unwrap();
    assert!(!stored.contains_key(&visitor_id(joiner)));
    assert_eq!(stored.len(), now.len());
}
