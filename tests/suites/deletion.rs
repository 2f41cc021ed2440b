//! Issue 14, defect 1: deleting a tenant stops its running sync. After the 204 neither HubSpot
//! nor Pendo receives another request for it, nothing of it is left or recreated in the store,
//! and its secrets are gone, whichever phase the run was in.

use axum::http::StatusCode;
use sandboxes::Fault;
use serde_json::json;
use shared::domain::TenantId;
use shared::worker::{JobResult, Worker};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::api_fixture::{Api, ADMIN_A, OP};

#[derive(Clone, Copy, Debug)]
enum Side {
    HubSpot,
    Pendo,
}

/// Deletes the tenant once the run's first request of a phase (`path` on `side`, slowed down
/// so the run is inside it) has reached the sandbox; checks that nothing follows the 204.
async fn delete_during(side: Side, path: &str, count_key: &str) {
    delete_during_with_rules(side, path, count_key, None).await
}

/// [`delete_during`] for a tenant that also has `rules` (a `PUT /rules` body).
async fn delete_during_with_rules(
    side: Side,
    path: &str,
    count_key: &str,
    rules: Option<serde_json::Value>,
) {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let id = TenantId::parse(&a).unwrap();
    let r = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    api.hubspot.with(|s| {
        for v in 0..60usize {
            s.insert(
                "contacts",
                BTreeMap::from([
                    ("pendo_visitor_id".to_string(), format!("v{v:06}")),
                    ("jobtitle".to_string(), format!("Title {v}")),
                ]),
            );
        }
    });
    if let Some(rules) = rules {
        let r = api
            .call(
                "PUT",
                &format!("/v1/tenants/{a}/rules"),
                Some(ADMIN_A),
                Some(rules),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/enable"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let job = api.queue.take_all().remove(0);

    let fault = Fault {
        kind: "slow".into(),
        count: 1000,
        delay_ms: 150,
        path_contains: Some(path.into()),
        retry_after_secs: None,
    };
    match side {
        Side::HubSpot => api.hubspot.inject(fault),
        Side::Pendo => api.pendo.inject(fault),
    }
    let seen = |api: &Api| match side {
        Side::HubSpot => api.hubspot.count(count_key),
        Side::Pendo => api.pendo.count(count_key),
    };
    let before = seen(&api);
    let mut worker = Worker::new(
        api.state.repo.clone(),
        api.queue.clone(),
        api.state.connectors.clone(),
    );
    worker.today_override = api.worker.today_override;
    worker.lease_renew_every = Duration::from_millis(50);
    let running = tokio::spawn(async move { worker.handle(&job, None).await });
    let mut waited = 0;
    while seen(&api) == before {
        assert!(waited < 60_000, "the run never reached {count_key}");
        assert!(!running.is_finished(), "the run ended before {count_key}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        waited += 5;
    }

    let del = api
        .call("DELETE", &format!("/v1/tenants/{a}"), Some(OP), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.body);
    let (hubspot_at, pendo_at) = (api.hubspot.counts(), api.pendo.counts());

    let result = running.await.unwrap().expect("job handled");
    assert!(
        matches!(&result, JobResult::Skipped(m) if m.contains("deleted")),
        "{result:?}"
    );
    assert_eq!(
        api.hubspot.counts(),
        hubspot_at,
        "HubSpot called after the 204"
    );
    assert_eq!(api.pendo.counts(), pendo_at, "Pendo called after the 204");
    let store = api.state.repo.store();
    let left = store
        .query(&shared::store::repo::tenant_pk(&id), "", None, 100, false)
        .await
        .unwrap()
        .items;
    assert!(
        left.is_empty(),
        "items left: {:?}",
        left.iter().map(|i| &i.sk).collect::<Vec<_>>()
    );
    assert!(api.state.repo.get_tenant(&id).await.unwrap().is_none());
    let secrets = api.state.secrets.tenant(&id).await.unwrap();
    assert!(secrets.hubspot_refresh_token.is_none());
    assert!(secrets.pendo_integration_key.is_none());
    assert!(secrets.webhook_token.is_none());
    let r = api
        .call("GET", &format!("/v1/tenants/{a}"), Some(OP), None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn delete_during_schema_stops_the_run() {
    delete_during(
        Side::HubSpot,
        "/crm/properties/2026-03",
        "GET /crm/properties/2026-03/contacts",
    )
    .await;
}

#[tokio::test]
async fn delete_during_activity_stops_the_run() {
    delete_during(Side::Pendo, "/aggregation", "POST /api/v1/aggregation").await;
}

#[tokio::test]
async fn delete_during_push_stops_the_run() {
    delete_during(
        Side::HubSpot,
        "/batch/update",
        "POST /crm/objects/2026-03/contacts/batch/update",
    )
    .await;
}

#[tokio::test]
async fn delete_during_pull_stops_the_run() {
    delete_during(
        Side::Pendo,
        "/custom/value",
        "POST /api/v1/metadata/{kind}/custom/value",
    )
    .await;
}

#[tokio::test]
async fn delete_during_rules_stops_the_run() {
    // PQL routing finds or creates the segment's unlinked members with a batch upsert, the
    // rules phase's first write.
    delete_during_with_rules(
        Side::HubSpot,
        "/batch/upsert",
        "POST /crm/objects/2026-03/contacts/batch/upsert",
        Some(
            json!({"rules": [{"id": "pql", "type": "pql_routing", "segment_id": "seg-power-users",
                               "lifecycle_stage": "salesqualifiedlead"}]}),
        ),
    )
    .await;
}
