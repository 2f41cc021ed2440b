//! The per-tenant path family switch: a tenant moved to the legacy v3/v4 paths syncs through
//! them only, and moving it back to 2026-03 needs no redeploy (same worker, same connectors)
//! and sees the same data (the sandbox serves both families from one state).

use shared::domain::{HubSpotApiVersion, RunStatus};

use crate::api_fixture::{Api, ADMIN_A};
use crate::sync_fixture::{assert_pushed, expected_visitor, Fixture};

async fn set_version(f: &Fixture, version: HubSpotApiVersion) {
    let mut config = f.repo.get_config(&f.tenant).await.unwrap().unwrap();
    config.hubspot_api_version = version;
    f.repo.put_config(&f.tenant, &config).await.unwrap();
}

#[tokio::test]
async fn a_tenant_on_legacy_paths_syncs_through_them_and_moves_back_without_a_deploy() {
    let f = Fixture::new().await;
    set_version(&f, HubSpotApiVersion::Legacy).await;
    let run = f.full_sync().await;
    assert_eq!(run.status, RunStatus::Succeeded, "{run:?}");
    let counts = f.hubspot.counts();
    let dated: Vec<_> = counts.keys().filter(|k| k.contains("2026-03")).collect();
    assert!(dated.is_empty(), "legacy tenant called 2026-03: {dated:?}");
    for legacy in [
        "POST /oauth/v3/token",
        "GET /crm/v3/properties/contacts",
        "POST /crm/v3/objects/contacts/search",
        "POST /crm/v3/objects/companies/search",
    ] {
        assert!(
            counts.get(legacy).copied().unwrap_or(0) > 0,
            "{legacy}: {counts:?}"
        );
    }
    assert!(
        f.hubspot_writes() > 0,
        "the push wrote through the legacy batch paths"
    );
    let today = f.today();
    let contacts = f.contacts_by_visitor();
    assert!(!contacts.is_empty());
    f.pendo.with(|s| {
        for (vid, props) in &contacts {
            let v = sandboxes::pendo::data::parse_visitor(vid).unwrap();
            assert_pushed(props, &expected_visitor(&s.data, v, today), vid);
        }
    });

    // Back to 2026-03: only the stored config changes. Nothing changed in the data, so the
    // 2026-03 run reads what the legacy run wrote and writes nothing.
    set_version(&f, HubSpotApiVersion::V2026_03).await;
    f.hubspot.reset_counts();
    let writes = f.hubspot_writes();
    let again = f.full_sync().await;
    assert_eq!(again.status, RunStatus::Succeeded, "{again:?}");
    assert_eq!(again.counts.pushed, 0, "{again:?}");
    assert_eq!(f.hubspot_writes(), writes);
    let counts = f.hubspot.counts();
    assert!(
        counts.contains_key("POST /crm/objects/2026-03/contacts/search"),
        "{counts:?}"
    );
    assert!(
        counts
            .keys()
            .all(|k| !k.contains("/crm/v3/objects") && !k.contains("/oauth/v3")),
        "{counts:?}"
    );
}

#[tokio::test]
async fn the_api_version_is_validated_and_stored_per_tenant() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let path = format!("/v1/tenants/{a}/config");
    let bad = api
        .call(
            "PUT",
            &path,
            Some(ADMIN_A),
            Some(serde_json::json!({"hubspot_api_version": "v4"})),
        )
        .await;
    assert_eq!(
        bad.status,
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        bad.body
    );
    assert_eq!(bad.json()["field"], "hubspot_api_version", "{}", bad.body);
    let got = api.call("GET", &path, Some(ADMIN_A), None).await.json();
    assert_eq!(got["hubspot_api_version"], "2026-03", "default: {got}");
    let ok = api
        .call(
            "PUT",
            &path,
            Some(ADMIN_A),
            Some(serde_json::json!({"hubspot_api_version": "legacy"})),
        )
        .await;
    assert_eq!(ok.status, axum::http::StatusCode::OK, "{}", ok.body);
    // The config was validated against HubSpot through the legacy paths it selects.
    assert!(api.hubspot.count("GET /crm/v3/properties/contacts") > 0);
    let got = api.call("GET", &path, Some(ADMIN_A), None).await.json();
    assert_eq!(got["hubspot_api_version"], "legacy", "{got}");
}
