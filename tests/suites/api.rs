//! Admin API, OAuth callback and webhook intake: the full admin journey, isolation and roles,
//! OAuth state misuse, webhook dedupe, a corpus of bad requests, the OpenAPI document.

use axum::http::StatusCode;
use serde_json::json;
use shared::api::oauth_state;
use shared::domain::{JobKind, TenantId, Trigger};
use shared::worker::JobResult;

use crate::api_fixture::{Api, ADMIN_A, ADMIN_B, OP};

#[tokio::test]
async fn full_admin_journey() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let t = api
        .state
        .repo
        .get_tenant(&TenantId::parse(&a).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(t.hubspot_portal_id, Some(4_242_424));

    // Configure: validated against both schemas, the field named on failure.
    let bad = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "visitor", "hubspot_property": "no_such_prop", "pendo_field": "hubspot_jobtitle"}]})))
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["field"], "pull[0].hubspot_property");
    let bad = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "not_in_pendo"}]})))
        .await;
    assert_eq!(bad.json()["field"], "pull[0].pendo_field");
    let bad = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "account", "hubspot_property": "industry", "pendo_field": "hubspot_revenue"}]})))
        .await;
    assert_eq!(
        bad.json()["field"],
        "pull[0].pendo_field",
        "string into float is rejected: {}",
        bad.body
    );
    let ok = api
        .call("PUT", &format!("/v1/tenants/{a}/config"), Some(ADMIN_A),
              Some(json!({"pull": [{"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"}]})))
        .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);

    // Seed a few contacts so there is something to write.
    api.hubspot.with(|s| {
        for v in 0..30usize {
            s.insert(
                "contacts",
                [("pendo_visitor_id".to_string(), format!("v{v:06}"))]
                    .into_iter()
                    .collect(),
            );
        }
    });
    // Dry run: reports writes, writes nothing. Someone typed a value into one pushed property.
    api.hubspot.with(|s| {
        for r in s.objects.get_mut("contacts").unwrap().values_mut() {
            r.properties
                .insert("pendo_days_active".into(), "9999".into());
        }
    });
    let dry = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/dry-run"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(dry.status, StatusCode::OK, "{}", dry.body);
    assert!(!dry.json()["would_write"].as_array().unwrap().is_empty());
    // The first pushed rows carry what the HubSpot record holds now, read from the sandbox:
    // side by side with what the sync would write.
    let rows = dry.json()["would_write"].as_array().unwrap().clone();
    let with_current: Vec<&serde_json::Value> =
        rows.iter().filter(|w| w["current"].is_object()).collect();
    assert!(
        !with_current.is_empty() && with_current.len() <= 40,
        "{}",
        with_current.len()
    );
    assert!(with_current
        .iter()
        .any(|w| w["current"]["pendo_days_active"] == "9999"));
    for w in &with_current {
        let hs: u64 = w["hubspot_id"].as_str().unwrap().parse().unwrap();
        let object = if w["object"] == "visitor" {
            "contacts"
        } else {
            "companies"
        };
        let held = api
            .hubspot
            .with(|s| s.objects[object][&hs].properties.clone());
        for (k, now) in w["current"].as_object().unwrap() {
            let want = held
                .get(k)
                .filter(|v| !v.is_empty())
                .map_or(json!(null), |v| json!(v));
            assert_eq!(now, &want, "{object} {hs} {k}");
            assert!(w["values"].get(k).is_some());
        }
    }
    assert_eq!(
        api.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/update"),
        0
    );

    // Enable: schema ensured, the immediate sync queued and run by the worker.
    let en = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/enable"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(en.status, StatusCode::ACCEPTED, "{}", en.body);
    let jobs = api.queue.take_all();
    assert_eq!(jobs.len(), 1);
    assert!(matches!(
        jobs[0].kind,
        JobKind::Full {
            trigger: Trigger::Enable
        }
    ));
    let r = api.worker.handle(&jobs[0], None).await.unwrap();
    assert!(matches!(r, JobResult::Finished(_)), "{r:?}");
    assert!(
        api.hubspot
            .count("POST /crm/objects/2026-03/contacts/batch/update")
            >= 1
    );

    let status = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/status"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert_eq!(status["hubspot_connected"], true);
    assert_eq!(status["pendo_connected"], true);
    assert!(status["last_success"].is_string(), "{status}");
    let runs = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/runs?limit=5"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    let run_id = runs["items"][0]["run_id"].as_str().unwrap().to_string();
    let run = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/runs/{run_id}"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(run.status, StatusCode::OK);
    assert_eq!(run.json()["run"]["trigger"], "enable");

    // Twenty "run now" clicks are one run while it is queued; once it ran, the next starts anew.
    let mut coalesced = 0;
    for _ in 0..20 {
        let r = api
            .call(
                "POST",
                &format!("/v1/tenants/{a}/runs"),
                Some(ADMIN_A),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
        coalesced += usize::from(r.json()["coalesced"] == true);
    }
    assert_eq!(coalesced, 19);
    let jobs = api.queue.take_all();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let r = api.worker.handle(&jobs[0], None).await.unwrap();
    assert!(matches!(r, JobResult::Finished(_)), "{r:?}");
    let again = api
        .call(
            "POST",
            &format!("/v1/tenants/{a}/runs"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(again.json()["coalesced"], false, "{}", again.body);
    assert_eq!(api.queue.take_all().len(), 1);

    // The secret never comes back.
    let t = api
        .call("GET", &format!("/v1/tenants/{a}"), Some(ADMIN_A), None)
        .await;
    assert!(!t.body.contains("integration_key") && !t.body.contains("refresh"));

    // Delete: token revoked, secrets and data gone.
    let del = api
        .call("DELETE", &format!("/v1/tenants/{a}"), Some(OP), None)
        .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    assert_eq!(
        api.call("GET", &format!("/v1/tenants/{a}"), Some(OP), None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(api.hubspot.with(|s| s.refresh_tokens.is_empty()));
}

#[tokio::test]
async fn isolation_and_roles() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    assert_eq!(
        api.call("GET", &format!("/v1/tenants/{a}"), None, None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call("GET", &format!("/v1/tenants/{a}"), Some("nope"), None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    for (m, p) in [
        ("GET", format!("/v1/tenants/{a}")),
        ("GET", format!("/v1/tenants/{a}/status")),
        ("POST", format!("/v1/tenants/{a}/runs")),
        ("DELETE", format!("/v1/tenants/{a}")),
    ] {
        let r = api.call(m, &p, Some(ADMIN_B), None).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "{m} {p}: admin of B must not see A"
        );
    }
    assert_eq!(
        api.call("GET", "/v1/tenants", Some(ADMIN_A), None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = api
        .call(
            "POST",
            "/v1/tenants",
            Some(ADMIN_A),
            Some(json!({"id": "x-tenant", "display_name": "X", "pendo_region": "us"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let list = api.call("GET", "/v1/tenants", Some(OP), None).await;
    assert_eq!(list.status, StatusCode::OK);
    // The operator's status filter is applied by the server, across pages.
    for i in 0..5 {
        let r = api
            .call(
                "POST",
                "/v1/tenants",
                Some(OP),
                Some(
                    json!({"id": format!("filler-{i}"), "display_name": "F", "pendo_region": "us"}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    let id = shared::domain::TenantId::parse(&a).unwrap();
    let mut t = api.state.repo.get_tenant(&id).await.unwrap().unwrap();
    t.status = shared::domain::TenantStatus::NeedsAttention;
    api.state
        .repo
        .update_tenant(&t, chrono::Utc::now())
        .await
        .unwrap();
    let ids = |r: &crate::api_fixture::Reply| -> Vec<String> {
        r.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_string())
            .collect()
    };
    let attention = api
        .call(
            "GET",
            "/v1/tenants?status=needs_attention&limit=1",
            Some(OP),
            None,
        )
        .await;
    assert_eq!(ids(&attention), vec![a.clone()], "{}", attention.body);
    let disabled = api
        .call("GET", "/v1/tenants?status=disabled&limit=2", Some(OP), None)
        .await;
    assert_eq!(ids(&disabled), vec!["filler-0", "filler-1"]);
    let rest = api
        .call(
            "GET",
            &format!(
                "/v1/tenants?status=disabled&limit=10&after={}",
                disabled.json()["next"].as_str().unwrap()
            ),
            Some(OP),
            None,
        )
        .await;
    assert_eq!(ids(&rest), vec!["filler-2", "filler-3", "filler-4"]);
    let bad = api
        .call("GET", "/v1/tenants?status=sleeping", Some(OP), None)
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.json()["field"], "status");
    assert!(api
        .call("GET", &format!("/v1/tenants/{a}"), Some(OP), None)
        .await
        .status
        .is_success());
    let _ = api.tenant_b;
}

#[tokio::test]
async fn oauth_state_replay_expiry_and_tamper() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let (code, state) = api.consent(&a).await;
    let first = api.callback(&code, &state).await;
    assert_eq!(first.status, StatusCode::OK);
    let replay = api.callback(&code, &state).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.body.contains("already used"), "{}", replay.body);

    let tid = TenantId::parse(&a).unwrap();
    let (expired, _) = oauth_state::sign(
        &api.state_key,
        &tid,
        false,
        chrono::Utc::now().timestamp() - 700,
    );
    let r = api
        .call(
            "GET",
            &format!("/oauth/callback?code=x&state={expired}"),
            None,
            None,
        )
        .await;
    assert!(r.body.contains("expired"), "{}", r.body);
    let (good, _) = oauth_state::sign(&api.state_key, &tid, false, chrono::Utc::now().timestamp());
    let tampered = format!("{}x", good);
    let r = api
        .call(
            "GET",
            &format!("/oauth/callback?code=x&state={tampered}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("tampered"), "{}", r.body);
    let r = api
        .call(
            "GET",
            "/oauth/callback?error=access_denied&state=x",
            None,
            None,
        )
        .await;
    assert!(r.body.contains("denied"), "{}", r.body);

    // A different portal needs an explicit reconnect.
    api.hubspot.with(|s| s.cfg.portal_id = 777);
    let (code, state) = api.consent(&a).await;
    let r = api.callback(&code, &state).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains("reconnect"));
}

#[tokio::test]
async fn webhook_duplicates_make_one_job() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let path = api.webhook_path(&a).await;
    let event = |u: &str| {
        json!({"event": "npsSubmitted", "uniqueId": u, "visitorId": "v000001", "accountId": "acct-00001",
                                  "timestamp": 1764460800, "properties": {"pollResponse": 9}})
    };
    let r1 = api.call("POST", &path, None, Some(event("e1"))).await;
    assert_eq!(r1.status, StatusCode::ACCEPTED, "{}", r1.body);
    let r2 = api
        .call(
            "POST",
            &path,
            None,
            Some(json!([event("e1"), event("e2"), {"event": "guideDisplayed", "uniqueId": "g1"}])),
        )
        .await;
    assert_eq!(r2.json()["duplicates"], 1);
    assert_eq!(r2.json()["ignored"], 1);
    let jobs = api.queue.take_all();
    assert_eq!(
        jobs.len(),
        1,
        "a burst is coalesced into one incremental job"
    );
    assert!(
        matches!(&jobs[0].kind, JobKind::Incremental { visitor_ids, .. } if visitor_ids == &vec!["v000001".to_string()])
    );
    // A wrong token and an unknown tenant get the same answer: the route does not tell
    // which tenants exist.
    let wrong = path.rsplit_once('/').unwrap().0.to_string() + "/wrong-token";
    let by_token = api.call("POST", &wrong, None, Some(event("e3"))).await;
    let by_tenant = api
        .call(
            "POST",
            "/webhooks/pendo/no-such-tenant/tok",
            None,
            Some(event("e4")),
        )
        .await;
    let bad_id = api
        .call("POST", "/webhooks/pendo/UPPER/tok", None, Some(event("e5")))
        .await;
    for r in [&by_token, &by_tenant, &bad_id] {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
        assert_eq!(r.body, by_token.body);
    }
    // Impossible event times (a zero default, a far-future sentinel) are refused by field and
    // queue nothing.
    for (ts, i) in [(json!(0), 0), (json!(32_503_680_000i64), 1)] {
        let mut bad = event(&format!("t{i}"));
        bad["timestamp"] = ts;
        let r = api
            .call("POST", &path, None, Some(json!([event("ok"), bad])))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert_eq!(r.json()["field"], "[1].timestamp");
    }
    assert!(api.queue.take_all().is_empty());
}

#[tokio::test]
async fn openapi_lists_every_route_and_each_route_exists() {
    let api = Api::new().await;
    let doc = api.call("GET", "/v1/openapi.json", None, None).await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert_eq!(
        doc,
        shared::api::openapi::document(),
        "served = generated: shared/src/api/openapi.json is stale; regenerate it with \
         `cargo run -p local --bin pendo-hubspot -- openapi > shared/src/api/openapi.json`"
    );
    assert_eq!(
        shared::api::openapi::SERVED,
        format!("{}\n", shared::api::openapi::document_pretty()),
        "the committed document is the CLI's output, byte for byte"
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let methods = ["get", "post", "put", "patch", "delete"];
    let mut n = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "missing-tenant")
            .replace("{run_id}", "r1")
            .replace("{visitor_id}", "v1")
            .replace("{tenant}", "missing-tenant")
            .replace("{token}", "t");
        for method in methods {
            let r = api
                .call(&method.to_uppercase(), &concrete, Some(OP), None)
                .await;
            let Some(op) = item.get(method) else {
                // A method the document does not list is one the router does not serve.
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{method} {path} is served but not documented"
                );
                continue;
            };
            // A route that exists answers with our own body; axum's fallback 404/405 is empty.
            assert!(
                !r.body.is_empty() && r.status != StatusCode::METHOD_NOT_ALLOWED,
                "{method} {concrete} -> {} {}",
                r.status,
                r.body
            );
            // The status it answered is one the document lists for it.
            let code = r.status.as_u16().to_string();
            assert!(
                op["responses"].get(&code).is_some(),
                "{method} {path} answered {code}, not in the document: {}",
                r.body
            );
            // Admin routes need the bearer token; the public ones do not.
            let public = path.starts_with("/oauth")
                || path.starts_with("/webhooks")
                || path.starts_with("/console")
                || path == "/v1/openapi.json";
            assert_eq!(op.get("security").is_none(), public, "{method} {path}");
            if !public {
                let r = api
                    .call(&method.to_uppercase(), &concrete, None, None)
                    .await;
                assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{method} {path}");
                assert!(op["responses"]["401"].is_object());
            }
            n += 1;
        }
    }
    assert_eq!(n, 28, "operations in the document");
    // Request bodies carry their constraints, and every body schema resolves.
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["CreateTenant"]["properties"]["display_name"]["maxLength"],
        200
    );
    assert_eq!(schemas["TenantId"]["pattern"], "^[a-z0-9][a-z0-9-]{2,63}$");
    assert_eq!(
        schemas["PendoRegion"]["enum"],
        json!(["us", "us1", "eu", "jp", "au"])
    );
    assert_eq!(
        schemas["RuleSetInput"]["properties"]["rules"]["maxItems"],
        50
    );
    assert_eq!(schemas["Error"]["required"], json!(["code", "message"]));
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().unwrap();
        assert!(schemas[name].is_object(), "unresolved $ref {name}");
    }
}

/// The console's files are served with their types and security headers, without a token.
#[tokio::test]
async fn console_assets_and_config_are_public() {
    let api = Api::new().await;
    let r = api.call("GET", "/console/", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("<script type=\"module\" src=\"app.js\">"));
    let r = api.call("GET", "/console/config.json", None, None).await;
    assert_eq!(r.json()["sign_in"], "token", "{}", r.body);
    let r = api.call("GET", "/console", None, None).await;
    assert_eq!(r.status, StatusCode::PERMANENT_REDIRECT);
    let r = api.call("GET", "/console/index.html", None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call("GET", "/console/nope.js", None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["code"], "not_found");
}

/// The routes the console's dropdowns and views need: who am I, the portal's properties and
/// pipelines, the subscription's fields, and disconnecting HubSpot.
#[tokio::test]
async fn console_routes_catalogs_me_and_disconnect() {
    let api = Api::new().await;
    let me = api.call("GET", "/v1/me", Some(ADMIN_A), None).await.json();
    assert_eq!(me["role"], "admin");
    assert_eq!(me["tenant_id"], api.tenant_a.as_str());
    let a = api.tenant_a.clone();
    api.call(
        "POST",
        "/v1/tenants",
        Some(OP),
        Some(json!({"id": a, "display_name": "A", "pendo_region": "eu"})),
    )
    .await;
    let r = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/hubspot/schema"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::CONFLICT,
        "not connected yet: {}",
        r.body
    );
    let a = api.connected_tenant_again().await;
    let hs = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/hubspot/schema"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(hs.status, StatusCode::OK, "{}", hs.body);
    let hs = hs.json();
    assert_eq!(hs["portal_id"], 4_242_424);
    assert!(hs["contact_properties"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "jobtitle" && p["type"] == "string"));
    assert!(!hs["deal_pipelines"].as_array().unwrap().is_empty());
    // The portal's active owners for the rule forms, by name; the archived one is not offered.
    let owners: Vec<(String, String)> = hs["owners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["id"].as_str().unwrap().into(),
                o["last_name"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        vec![
            ("41629779".to_string(), "Flax".to_string()),
            ("41629781".into(), "Halpert".into()),
            ("41629780".into(), "Schrute".into())
        ],
        "{hs}"
    );
    assert!(hs["owners_unavailable"].is_null());
    assert!(hs["lifecycle_stages"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "salesqualifiedlead"));
    let pd = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/pendo/schema"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert!(pd["visitor_fields"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["name"] == "hubspot_jobtitle"));
    assert!(pd["segments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s["id"] == "seg-power-users"));
    let push = pd["push_fields"].as_array().unwrap();
    assert_eq!(push.len(), shared::domain::PushField::ALL.len());
    assert!(push
        .iter()
        .any(|f| f["field"] == "nps_score" && f["group"] == "nps"));
    // Another tenant's admin sees none of it.
    let r = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/pendo/schema"),
            Some(ADMIN_B),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Disconnect: the token is revoked and forgotten, the tenant disabled.
    let r = api
        .call(
            "DELETE",
            &format!("/v1/tenants/{a}/hubspot"),
            Some(ADMIN_A),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "disabled");
    assert!(api.hubspot.with(|s| s.refresh_tokens.is_empty()));
    let st = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/status"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert_eq!(st["hubspot_connected"], false);
}

/// Everything the journey logs, at debug level and below, captured: no secret value appears.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_or_token_is_ever_logged() {
    use std::sync::{Arc, Mutex};
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let buf = Buf::default();
    let writer = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "debug,shared=trace,sandboxes=trace",
        ))
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let api = Api::new().await;
    let a = api.connected_tenant().await;
    // A wrong key attempt, an enable with its sync, webhooks good and bad.
    let r = api
        .call(
            "PUT",
            &format!("/v1/tenants/{a}/pendo"),
            Some(ADMIN_A),
            Some(json!({"region": "us", "integration_key": "wrong-secret-key-123"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        !r.body.contains("wrong-secret-key-123"),
        "the key is not echoed"
    );
    api.call(
        "POST",
        &format!("/v1/tenants/{a}/enable"),
        Some(ADMIN_A),
        None,
    )
    .await;
    for job in api.queue.take_all() {
        api.worker.handle(&job, None).await.unwrap();
    }
    let path = api.webhook_path(&a).await;
    api.call(
        "POST",
        &path,
        None,
        Some(json!({"event": "npsSubmitted", "uniqueId": "x1", "visitorId": "v000001"})),
    )
    .await;
    api.call(
        "POST",
        &(path.clone() + "x"),
        None,
        Some(json!({"event": "npsSubmitted", "uniqueId": "x2"})),
    )
    .await;

    let secrets = api
        .state
        .secrets
        .tenant(&TenantId::parse(&a).unwrap())
        .await
        .unwrap();
    let mut values: Vec<String> = vec![
        secrets.pendo_integration_key.unwrap().expose().to_string(),
        secrets.hubspot_refresh_token.unwrap().expose().to_string(),
        secrets.webhook_token.unwrap().expose().to_string(),
        api.state_key.expose().to_string(),
        api.hubspot.with(|s| s.cfg.client_secret.clone()),
        "wrong-secret-key-123".into(),
    ];
    values.extend(
        api.hubspot
            .with(|s| s.access_tokens.keys().cloned().collect::<Vec<_>>()),
    );
    let logs = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.len() > 1000,
        "the journey did log ({} bytes)",
        logs.len()
    );
    for v in values {
        assert!(!logs.contains(&v), "a secret value appears in the logs");
    }
}

#[tokio::test]
async fn rules_are_validated_against_hubspot_and_pendo() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let put = |rules: serde_json::Value| {
        let path = format!("/v1/tenants/{a}/rules");
        let api = &api;
        async move { api.call("PUT", &path, Some(ADMIN_A), Some(rules)).await }
    };
    let r = put(json!({"rules": [{"id": "t", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "trialstarted", "to_stage": "nope", "min_days_active": 5}]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.json()["field"], "rules[0].to_stage");
    let r = put(json!({"rules": [{"id": "p", "type": "pql_routing", "segment_id": "seg-missing", "lifecycle_stage": "salesqualifiedlead"}]})).await;
    assert_eq!(r.json()["field"], "rules[0].segment_id", "{}", r.body);
    let r = put(json!({"rules": [{"id": "p", "type": "pql_routing", "segment_id": "seg-power-users", "lifecycle_stage": "salesqualifiedlead", "owner_id": "41629782"}]})).await;
    assert_eq!(
        r.json()["field"],
        "rules[0].owner_id",
        "an archived owner: {}",
        r.body
    );
    let r = put(json!({"rules": [{"id": "n", "type": "nps_follow_up", "promoter_property": "no_such_prop"}]})).await;
    assert_eq!(r.json()["field"], "rules[0].promoter_property");
    let r = put(json!({"rules": [{"id": "c", "type": "churn_risk", "drop_percent": -3}]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["field"], "rules[0].drop_percent", "{}", r.body);
    // A missing field is named in full, not by its parent.
    let r = put(json!({"rules": [{"type": "churn_risk", "drop_percent": 30}]})).await;
    assert_eq!(r.json()["field"], "rules[0].id", "{}", r.body);
    let r =
        put(json!({"rules": [{"id": "Bad Id", "type": "churn_risk", "drop_percent": 30}]})).await;
    assert_eq!(r.json()["field"], "rules[0].id", "{}", r.body);
    let many: Vec<_> = (0..=shared::domain::MAX_RULES)
        .map(|i| json!({"id": format!("c{i}"), "type": "churn_risk", "drop_percent": 30}))
        .collect();
    let r = put(json!({ "rules": many })).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    assert_eq!(r.json()["field"], "rules", "{}", r.body);
    let ok = put(json!({"rules": [
        {"id": "t", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "trialstarted", "to_stage": "trialengaged", "min_days_active": 5},
        {"id": "p", "type": "pql_routing", "segment_id": "seg-power-users", "lifecycle_stage": "salesqualifiedlead", "owner_id": "41629780", "dry_run": true}
    ]}))
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    let got = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/rules"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert_eq!(got["rules"].as_array().unwrap().len(), 2);
}

/// Pendo posting NPS webhooks to the local server (all three surfaces on one port), then the
/// coalesced job syncing the answers into HubSpot.
#[tokio::test]
async fn pendo_webhooks_through_the_local_server_end_up_in_hubspot() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let ds = api.pendo.with(|s| s.data.cfg.clone());
    let cfg = api
        .call(
            "PUT",
            &format!("/v1/tenants/{a}/config"),
            Some(ADMIN_A),
            Some(json!({"nps": {"guide_id": ds.nps_guide_id, "score_poll_id": ds.nps_score_poll}})),
        )
        .await;
    assert_eq!(cfg.status, StatusCode::OK, "{}", cfg.body);
    assert_eq!(
        api.call(
            "POST",
            &format!("/v1/tenants/{a}/enable"),
            Some(ADMIN_A),
            None
        )
        .await
        .status,
        StatusCode::ACCEPTED
    );
    api.queue.take_all(); // the enable sync is not what this test is about
    api.hubspot.with(|s| {
        s.insert(
            "contacts",
            [("pendo_visitor_id".to_string(), "v000003".to_string())]
                .into_iter()
                .collect(),
        );
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = api.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let url = format!("http://{addr}{}", api.webhook_path(&a).await);
    let minute = || chrono::Utc::now().timestamp() / 60;
    let first_minute = minute();
    let statuses = api
        .pendo
        .emit_nps(sandboxes::pendo::EmitNps {
            url,
            answers: vec![
                (3, 2, "too slow".into()),
                (3, 3, "still slow".into()),
                (7, 10, "love it".into()),
            ],
        })
        .await;
    assert_eq!(statuses, vec![202, 202, 202]);
    let jobs = api.queue.take_all();
    // One job per coalescing minute: three webhooks are one job unless a minute boundary fell
    // between them (a slow machine), then at most one per minute.
    let minutes_spanned = (minute() - first_minute + 1) as usize;
    assert!(
        (1..=minutes_spanned).contains(&jobs.len()),
        "three webhooks, one coalesced job per minute: {} jobs over {minutes_spanned} minute(s)",
        jobs.len()
    );
    let r = api.worker.handle(&jobs[0], None).await.unwrap();
    assert!(matches!(r, JobResult::Finished(_)), "{r:?}");
    let score = api.hubspot.with(|s| {
        s.objects["contacts"]
            .values()
            .find(|c| c.properties.get("pendo_visitor_id").map(String::as_str) == Some("v000003"))
            .and_then(|c| c.properties.get("pendo_latest_nps_score").cloned())
    });
    assert!(
        matches!(score.as_deref(), Some("2") | Some("3")),
        "{score:?}"
    );
}

/// Per-visitor erasure is for operators; a visitor we know nothing about is erased as a no-op.
#[tokio::test]
async fn visitor_erasure_is_an_operator_route() {
    let api = Api::new().await;
    let a = api.tenant_a.clone();
    api.call(
        "POST",
        "/v1/tenants",
        Some(OP),
        Some(json!({"id": a, "display_name": "A", "pendo_region": "eu"})),
    )
    .await;
    let path = format!("/v1/tenants/{a}/visitors/v000042");
    let r = api.call("DELETE", &path, Some(ADMIN_A), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = api.call("DELETE", &path, Some(OP), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        json!({"visitor_id": "v000042", "hubspot_contact_cleared": null, "items_forgotten": 0})
    );
}

/// Custom events and segments in the config are checked against the live systems, each
/// refusal naming its field; the status carries the events state once events are set.
#[tokio::test]
async fn events_and_segments_config_name_the_field() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let put = |body: serde_json::Value| {
        let path = format!("/v1/tenants/{a}/config");
        let api = &api;
        async move { api.call("PUT", &path, Some(ADMIN_A), Some(body)).await }
    };
    let cases = [
        (
            json!({"events": {"items": [{"source": "page", "id": "page-nope"}]}}),
            "events.items[0].id",
        ),
        (
            json!({"events": {"items": [{"source": "page", "id": "page-home", "properties": ["x"]}]}}),
            "events.items[0].properties",
        ),
        (
            json!({"events": {"items": [], "stop_at_percent": 0}}),
            "events.stop_at_percent",
        ),
        (
            json!({"segments": [{"segment_id": "seg-nope", "list_name": "L"}]}),
            "segments[0].segment_id",
        ),
        (
            json!({"segments": [{"segment_id": "seg-power-users"}]}),
            "segments[0]",
        ),
        (
            json!({"segments": [{"segment_id": "seg-power-users", "contact_property": "jobtitle"}]}),
            "segments[0].contact_property",
        ),
    ];
    for (body, field) in cases {
        let r = put(body.clone()).await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body} -> {}",
            r.body
        );
        assert_eq!(r.json()["field"], field, "{body} -> {}", r.body);
    }
    let ok = put(json!({
        "events": {"items": [{"source": "track", "id": "track-upgraded", "properties": ["plan"]},
                             {"source": "feature", "id": "feat-export"}]},
        "segments": [{"segment_id": "seg-power-users", "list_name": "Power users"}]
    }))
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
    assert_eq!(ok.json()["events"]["backfill_days"], 30);
    assert_eq!(ok.json()["events"]["monthly_limit"], 30_000_000);
    assert_eq!(ok.json()["events"]["stop_at_percent"], 90);
    let schema = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/pendo/schema"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert_eq!(schema["pages"].as_array().unwrap().len(), 3);
    assert_eq!(schema["track_types"][0]["id"], "track-upgraded");
}
