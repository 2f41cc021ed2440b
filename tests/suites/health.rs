//! Tenant health (issue 13): what an admin must fix is typed with its action, failed runs are
//! counted, failing records are grouped by reason in the status API.

use axum::http::StatusCode;
use chrono::Utc;
use serde_json::json;
use shared::domain::{Job, TenantId, TenantStatus, Trigger};

use crate::api_fixture::{Api, ADMIN_A};

async fn status(api: &Api, a: &str) -> serde_json::Value {
    let r = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/status"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()
}

/// Enable with a plain (non-unique) `pendo_visitor_id` in the portal: a 409 that says what to
/// do, and the tenant shows the same in its status; nothing is queued.
#[tokio::test]
async fn enable_with_a_non_unique_id_property_is_a_409_with_the_action() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    api.hubspot.with(|s| {
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
    let r = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/enable"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let body = r.json();
    assert_eq!(body["code"], "needs_attention");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("pendo_visitor_id"),
        "{body}"
    );
    assert!(
        body["action"]
            .as_str()
            .unwrap()
            .contains("delete the non-unique property"),
        "{body}"
    );
    assert!(api.queue.take_all().is_empty());
    let st = status(&api, &a).await;
    assert_eq!(st["status"], "needs_attention");
    assert_eq!(st["health"], "needs_attention");
    assert_eq!(st["attention"]["kind"], "id_property_not_unique");
    assert_eq!(st["attention"]["action"], body["action"]);
}

/// A revoked HubSpot token: every run fails, the count of failed runs grows, and the status
/// says "reconnect". Reconnecting clears it; a run with records that keep failing shows them
/// grouped by reason with example ids.
#[tokio::test]
async fn failed_runs_are_counted_and_failing_records_grouped_by_reason() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let id = TenantId::parse(&a).unwrap();
    let r = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/enable"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    api.queue.take_all();

    // HubSpot revokes the app's tokens.
    api.hubspot.with(|s| {
        s.refresh_tokens.clear();
        s.access_tokens.clear();
    });
    for _ in 0..2 {
        let job = Job::full(id.clone(), Trigger::RunNow, Utc::now());
        api.worker.handle(&job, None).await.unwrap();
    }
    let st = status(&api, &a).await;
    assert_eq!(st["status"], "needs_attention", "{st}");
    assert_eq!(st["attention"]["kind"], "hubspot_reconnect", "{st}");
    assert!(
        st["attention"]["action"]
            .as_str()
            .unwrap()
            .contains("Reconnect HubSpot"),
        "{st}"
    );
    assert_eq!(st["consecutive_failed_runs"], 2, "{st}");
    assert_eq!(st["health"], "needs_attention");

    // Reconnect: the tenant is enabled again.
    let (code, state) = api.consent(&a).await;
    let r = api.callback(&code, &state).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let t = api.state.repo.get_tenant(&id).await.unwrap().unwrap();
    assert_eq!(t.status, TenantStatus::Enabled);
    assert!(t.attention.is_none());

    // Seven contacts carry a Pendo id no Pendo visitor has: their pull fails on every run.
    let ghosts: Vec<String> = (0..7).map(|i| format!("ghost-{i}")).collect();
    let ghost_contacts: Vec<String> = api.hubspot.with(|s| {
        ghosts
            .iter()
            .map(|g| {
                s.insert(
                    "contacts",
                    [
                        ("pendo_visitor_id".to_string(), g.clone()),
                        ("jobtitle".to_string(), "CTO".to_string()),
                    ]
                    .into_iter()
                    .collect(),
                )
                .to_string()
            })
            .collect()
    });
    let job = Job::full(id.clone(), Trigger::RunNow, Utc::now());
    api.worker.handle(&job, None).await.unwrap();
    let st = status(&api, &a).await;
    assert_eq!(st["status"], "enabled", "{st}");
    assert_eq!(st["consecutive_failed_runs"], 0, "{st}");
    assert_eq!(st["health"], "degraded", "{st}");
    assert_eq!(st["failing_records"], 7, "{st}");
    let groups = st["failures_by_reason"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{st}");
    assert_eq!(groups[0]["count"], 7);
    assert_eq!(groups[0]["direction"], "pull");
    assert_eq!(groups[0]["object"], "visitor");
    let examples: Vec<String> = groups[0]["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(examples.len(), 5);
    assert!(
        examples.iter().all(|e| ghost_contacts.contains(e)),
        "{examples:?}"
    );
    assert!(
        groups[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("Pendo …: "),
        "{st}"
    );
}
