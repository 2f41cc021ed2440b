//! A corpus of malformed requests across every endpoint.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use shared::domain::TenantId;

use crate::api_fixture::{Api, ADMIN_A, OP};

/// At least 100 malformed requests across every endpoint: all 4xx with a message, no 5xx, no
/// panic, and the store unchanged.
#[tokio::test]
async fn bad_input_corpus() {
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let tid = TenantId::parse(&a).unwrap();
    let snapshot = |api: &Api| {
        let repo = api.state.repo.clone();
        let tid = tid.clone();
        async move {
            (
                serde_json::to_string(&repo.list_tenants(None, 100).await.unwrap().items).unwrap(),
                serde_json::to_string(&repo.get_config(&tid).await.unwrap()).unwrap(),
            )
        }
    };
    let before = snapshot(&api).await;
    let webhook = api.webhook_path(&a).await;
    let body_routes: Vec<(&str, String, &str)> = vec![
        ("POST", "/v1/tenants".into(), OP),
        ("PATCH", format!("/v1/tenants/{a}"), ADMIN_A),
        ("PUT", format!("/v1/tenants/{a}/pendo"), ADMIN_A),
        ("PUT", format!("/v1/tenants/{a}/config"), ADMIN_A),
        ("POST", format!("/v1/tenants/{a}/hubspot/connect"), ADMIN_A),
        ("POST", webhook.clone(), ""),
    ];
    let huge = "x".repeat(300 * 1024);
    let payloads: Vec<(Option<&str>, Vec<u8>)> = vec![
        (Some("application/json"), b"{not json".to_vec()),
        (Some("application/json"), vec![0xff, 0xfe, 0x7b, 0x7d]),
        (Some("text/plain"), b"{}".to_vec()),
        (None, b"{}".to_vec()),
        (Some("application/json"), b"[]".to_vec()),
        (Some("application/json"), b"42".to_vec()),
        (Some("application/json"), b"null".to_vec()),
        (Some("application/json"), format!("{{\"x\":\"{huge}\"}}").into_bytes()),
        (Some("application/json"), br#"{"id": 5, "display_name": [], "pendo_region": "mars"}"#.to_vec()),
        (Some("application/json"), br#"{"unknown_field": true}"#.to_vec()),
        (Some("application/json"), br#"{"id": "'; DROP TABLE tenants; --", "display_name": "<script>", "pendo_region": "us"}"#.to_vec()),
        (Some("application/json"), br#"{"region": "eu", "integration_key": ""}"#.to_vec()),
        (Some("application/json"), br#"{"region": "eu", "integration_key": "\u0000\u0001"}"#.to_vec()),
        (Some("application/json"), br#"{"pull": [{"object": "visitor", "hubspot_property": "pendo_days_active", "pendo_field": "x"}]}"#.to_vec()),
        (Some("application/json"), br#"{"pull": "everything"}"#.to_vec()),
        (Some("application/json"), br#"{"schedule": {"hour_utc": 99}}"#.to_vec()),
        (Some("application/json"), br#"{"hubspot_api_version": "v4"}"#.to_vec()),
        (Some("application/json"), br#"{"join": {"contact_property": "../../etc/passwd", "company_property": "x"}}"#.to_vec()),
        (Some("application/json"), br#"{"reconnect": "yes"}"#.to_vec()),
        (Some("application/json"), br#"{"event": "npsSubmitted"}"#.to_vec()),
        (Some("application/json"), br#"[{"event": 5, "uniqueId": "u"}]"#.to_vec()),
        // A key named twice would silently mean its last value.
        (Some("application/json"), br#"{"display_name": "A", "display_name": "B", "id": "dup", "pendo_region": "us"}"#.to_vec()),
        // Not JSON by its media type, however it starts.
        (Some("application/jsonp"), br#"{"reconnect": true}"#.to_vec()),
    ];
    let mut cases = 0;
    for (method, path, token) in &body_routes {
        for (ct, body) in &payloads {
            let mut b = Request::builder().method(*method).uri(path.as_str());
            if !token.is_empty() {
                b = b.header("authorization", format!("Bearer {token}"));
            }
            if let Some(ct) = ct {
                b = b.header("content-type", *ct);
            }
            let r = api.send(b.body(Body::from(body.clone())).unwrap()).await;
            cases += 1;
            assert!(
                r.status.is_client_error(),
                "{method} {path} {:?} -> {} {}",
                String::from_utf8_lossy(&body[..body.len().min(60)]),
                r.status,
                r.body
            );
            assert!(!r.body.is_empty(), "{method} {path}: a 4xx explains itself");
            if r.status != StatusCode::PAYLOAD_TOO_LARGE && !path.starts_with("/webhooks")
                || r.json().is_object()
            {
                let j = r.json();
                assert!(
                    j["message"].is_string() || r.body.contains("<html"),
                    "{method} {path}: {}",
                    r.body
                );
            }
        }
    }
    // Paths and queries.
    let odd_paths = [
        "/v1/tenants/..%2F..%2Fetc",
        "/v1/tenants/%00",
        "/v1/tenants/UPPER",
        "/v1/tenants/a%20b",
        "/v1/tenants/' OR 1=1 --".replace(' ', "%20").leak(),
        "/v1/tenants/x/runs/not-a-run",
        "/v1/tenants?limit=0",
        "/v1/tenants?limit=abc",
        "/v1/tenants?limit=100000",
        "/v1/tenants?extra=1",
        "/oauth/callback",
        "/oauth/callback?code=x",
        "/oauth/callback?state=abc.def&code=x",
        "/webhooks/pendo/UPPER/x",
        "/v1/nope",
    ];
    for p in odd_paths {
        let token = if p.starts_with("/v1/tenants?") {
            OP
        } else {
            ADMIN_A
        };
        let r = api.call("GET", p, Some(token), None).await;
        cases += 1;
        assert!(
            r.status.is_client_error(),
            "GET {p} -> {} {}",
            r.status,
            r.body
        );
    }
    let run_path = format!("/v1/tenants/{a}/runs/r-missing");
    assert_eq!(
        api.call("GET", &run_path, Some(ADMIN_A), None).await.status,
        StatusCode::NOT_FOUND
    );
    cases += 1;
    assert!(cases >= 100, "{cases} cases");
    assert_eq!(snapshot(&api).await, before, "bad requests changed nothing");
}

/// The framework's own rejections (unknown route, wrong method) carry our error body too.
#[tokio::test]
async fn unknown_routes_and_methods_answer_with_the_error_body() {
    let api = Api::new().await;
    for (method, path, status) in [
        ("GET", "/v1/nope", StatusCode::NOT_FOUND),
        ("GET", "/nowhere", StatusCode::NOT_FOUND),
        ("DELETE", "/v1/openapi.json", StatusCode::METHOD_NOT_ALLOWED),
        ("PUT", "/v1/tenants", StatusCode::METHOD_NOT_ALLOWED),
    ] {
        let r = api.call(method, path, Some(OP), None).await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert!(r.json()["code"].is_string(), "{method} {path}: {}", r.body);
        assert!(
            r.json()["message"].is_string(),
            "{method} {path}: {}",
            r.body
        );
    }
    // Media types are compared case-insensitively, as HTTP defines them.
    let body = serde_json::json!({"id": "upper-ct", "display_name": "U", "pendo_region": "us"});
    let req = Request::post("/v1/tenants")
        .header("authorization", format!("Bearer {OP}"))
        .header("content-type", "APPLICATION/JSON; charset=utf-8")
        .body(Body::from(body.to_string()))
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
}

/// Every item of the tenant's partition and the tenant list, serialized: a bad request must
/// leave all of it as it was.
async fn whole_store(api: &Api, tenant: &TenantId) -> String {
    let store = api.state.repo.store();
    let items = store
        .query(
            &shared::store::repo::tenant_pk(tenant),
            "",
            None,
            10_000,
            false,
        )
        .await
        .unwrap()
        .items;
    let tenants = api.state.repo.list_tenants(None, 200).await.unwrap().items;
    format!(
        "{}\n{}",
        serde_json::to_string(&tenants).unwrap(),
        items
            .iter()
            .map(|i| format!("{} {} {:?}", i.sk, i.version, i.data))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// The hostile corpus of the reliability issue: over 300 requests, each a 4xx whose JSON body
/// has a `code` and a `message`; every one refused for a field names that field by its full
/// path (the expected path is part of each case); the store is byte-identical afterwards.
#[tokio::test]
async fn hostile_corpus_names_every_field_and_changes_nothing() {
    use serde_json::json;
    let api = Api::new().await;
    let a = api.connected_tenant().await;
    let tid = TenantId::parse(&a).unwrap();
    let before = whole_store(&api, &tid).await;
    let webhook = api.webhook_path(&a).await;
    let tenant = |id: serde_json::Value, name: serde_json::Value, region: serde_json::Value| json!({"id": id, "display_name": name, "pendo_region": region});
    let pull = |object: &str, prop: &str, field: &str| {
        json!({"pull": [
            {"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"},
            {"object": object, "hubspot_property": prop, "pendo_field": field}
        ]})
    };
    let rule = |r: serde_json::Value| {
        json!({"rules": [
            {"id": "ok", "type": "churn_risk", "drop_percent": 20.0}, r
        ]})
    };
    let long = |n: usize| "a".repeat(n);
    let tenants = "/v1/tenants".to_string();
    let this = format!("/v1/tenants/{a}");
    let config = format!("{this}/config");
    let rules = format!("{this}/rules");
    let pendo = format!("{this}/pendo");
    // (method, path, body, the field the answer must name)
    let mut cases: Vec<(&str, String, serde_json::Value, String)> = Vec::new();
    let bad_ids = [
        json!("UPPER"),
        json!("a"),
        json!(long(65)),
        json!("a b"),
        json!("../x"),
        json!(""),
        json!(5),
        json!(null),
        json!("-lead"),
        json!("ünï"),
        json!("a\u{0}b"),
        json!(["x"]),
    ];
    for id in bad_ids {
        cases.push((
            "POST",
            tenants.clone(),
            tenant(id, json!("Acme"), json!("us")),
            "id".into(),
        ));
    }
    let bad_names = [
        json!(""),
        json!(long(201)),
        json!("bell\u{7}"),
        json!("\u{1b}[31mred"),
        json!("a\nb"),
        json!("a\rb"),
        json!("\u{202e}evil"),
        json!("\u{2066}iso"),
        json!("tab\there"),
        json!(5),
        json!([]),
        json!({}),
        json!(null),
        json!("   "),
        json!("\u{200f}rtl"),
    ];
    for name in &bad_names {
        cases.push((
            "POST",
            tenants.clone(),
            tenant(json!("fresh-one"), name.clone(), json!("us")),
            "display_name".into(),
        ));
        cases.push((
            "PATCH",
            this.clone(),
            json!({"display_name": name}),
            "display_name".into(),
        ));
    }
    // Every C0 control character and DEL, in the middle of a name.
    for c in (0u8..0x20).chain([0x7f]) {
        let name = json!(format!("Acme{}Corp", c as char));
        cases.push((
            "PATCH",
            this.clone(),
            json!({"display_name": name}),
            "display_name".into(),
        ));
    }
    for region in [
        json!("mars"),
        json!(""),
        json!(5),
        json!(null),
        json!("us "),
        json!(["us"]),
    ] {
        cases.push((
            "POST",
            tenants.clone(),
            tenant(json!("fresh-two"), json!("B"), region.clone()),
            "pendo_region".into(),
        ));
        cases.push((
            "PUT",
            pendo.clone(),
            json!({"region": region, "integration_key": "k"}),
            "region".into(),
        ));
    }
    cases.push((
        "POST",
        tenants.clone(),
        json!({"display_name": "A", "pendo_region": "us"}),
        "id".into(),
    ));
    cases.push((
        "POST",
        tenants.clone(),
        json!({"id": "fresh-three", "pendo_region": "us"}),
        "display_name".into(),
    ));
    cases.push((
        "POST",
        tenants.clone(),
        json!({"id": "fresh-four", "display_name": "A"}),
        "pendo_region".into(),
    ));
    for key in [
        json!(""),
        json!(5),
        json!(null),
        json!(long(5000)),
        json!("\u{0}\u{1}"),
    ] {
        cases.push((
            "PUT",
            pendo.clone(),
            json!({"region": "eu", "integration_key": key}),
            "integration_key".into(),
        ));
    }
    let bad_props = ["", "UPPER", "../x", "a b", "x;drop", "é"];
    for p in bad_props {
        cases.push((
            "PUT",
            config.clone(),
            pull("visitor", p, "ok_field"),
            "pull[1].hubspot_property".into(),
        ));
        cases.push((
            "PUT",
            config.clone(),
            pull("account", "industry", p),
            "pull[1].pendo_field".into(),
        ));
        cases.push((
            "PUT",
            config.clone(),
            json!({"join": {"contact_property": p, "company_property": "x"}}),
            "join.contact_property".into(),
        ));
        cases.push((
            "PUT",
            config.clone(),
            json!({"join": {"contact_property": "x", "company_property": p}}),
            "join.company_property".into(),
        ));
    }
    for object in ["robot", "", "VISITOR"] {
        cases.push((
            "PUT",
            config.clone(),
            pull(object, "industry", "f"),
            "pull[1].object".into(),
        ));
    }
    cases.push((
        "PUT",
        config.clone(),
        pull("visitor", "pendo_days_active", "f"),
        "pull[1].hubspot_property".into(),
    ));
    cases.push((
        "PUT",
        config.clone(),
        pull("visitor", "pendo_visitor_id", "f"),
        "pull[1].hubspot_property".into(),
    ));
    cases.push((
        "PUT",
        config.clone(),
        pull("visitor", "lifecyclestage", "hubspot_jobtitle"),
        "pull[1].pendo_field".into(),
    ));
    for hour in [json!(24), json!(-1), json!("noon"), json!(1.5), json!(null)] {
        cases.push((
            "PUT",
            config.clone(),
            json!({"schedule": {"hour_utc": hour}}),
            "schedule.hour_utc".into(),
        ));
    }
    for v in [json!("v4"), json!(""), json!(3)] {
        cases.push((
            "PUT",
            config.clone(),
            json!({"hubspot_api_version": v}),
            "hubspot_api_version".into(),
        ));
    }
    cases.push((
        "PUT",
        config.clone(),
        json!({"nps": {"guide_id": "", "score_poll_id": "p"}}),
        "nps.guide_id".into(),
    ));
    cases.push((
        "PUT",
        config.clone(),
        json!({"nps": {"guide_id": "g", "score_poll_id": " "}}),
        "nps.score_poll_id".into(),
    ));
    cases.push((
        "PUT",
        config.clone(),
        json!({"identity": {"account_domain_field": "Bad Field"}}),
        "identity.account_domain_field".into(),
    ));
    let bad_rules = [
        (
            json!({"id": "", "type": "churn_risk", "drop_percent": 20.0}),
            "rules[1].id",
        ),
        (
            json!({"id": "UP", "type": "churn_risk", "drop_percent": 20.0}),
            "rules[1].id",
        ),
        (
            json!({"id": long(41), "type": "churn_risk", "drop_percent": 20.0}),
            "rules[1].id",
        ),
        (
            json!({"id": "ok", "type": "churn_risk", "drop_percent": 20.0}),
            "rules[1].id",
        ),
        (
            json!({"id": "c", "type": "churn_risk", "drop_percent": 0.0}),
            "rules[1].drop_percent",
        ),
        (
            json!({"id": "c", "type": "churn_risk", "drop_percent": 101.0}),
            "rules[1].drop_percent",
        ),
        (
            json!({"id": "c", "type": "churn_risk", "drop_percent": -5}),
            "rules[1].drop_percent",
        ),
        (
            json!({"id": "c", "type": "churn_risk", "drop_percent": "x"}),
            "rules[1].drop_percent",
        ),
        (
            json!({"id": "c", "type": "churn_risk"}),
            "rules[1].drop_percent",
        ),
        (json!({"id": "c", "type": "teleport"}), "rules[1].type"),
        (json!({"id": "c"}), "rules[1].type"),
        (
            json!({"id": "t", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "a", "to_stage": "a", "min_days_active": 3}),
            "rules[1].to_stage",
        ),
        (
            json!({"id": "t", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "a", "to_stage": "b", "min_days_active": 0}),
            "rules[1].min_days_active",
        ),
        (
            json!({"id": "t", "type": "trial_to_paid", "pipeline": "trial", "from_stage": "a", "to_stage": "b", "min_days_active": 181}),
            "rules[1].min_days_active",
        ),
        (
            json!({"id": "t", "type": "trial_to_paid", "pipeline": "", "from_stage": "a", "to_stage": "b", "min_days_active": 3}),
            "rules[1].pipeline",
        ),
        (
            json!({"id": "e", "type": "expansion", "min_total_visitors": 0, "pipeline": "default", "stage": "appointmentscheduled"}),
            "rules[1].min_total_visitors",
        ),
        (
            json!({"id": "p", "type": "pql_routing", "segment_id": "", "lifecycle_stage": "lead"}),
            "rules[1].segment_id",
        ),
    ];
    for (r, field) in bad_rules {
        cases.push(("PUT", rules.clone(), rule(r), field.into()));
    }
    // Type confusion on every configuration key, and inside rules.
    let wrong = [
        json!(5),
        json!(true),
        json!("text"),
        json!(null),
        json!(2.5),
    ];
    for key in ["pull", "push_fields", "join", "schedule", "nps", "identity"] {
        for w in wrong.iter().chain([&json!({})]) {
            // `{}` is wrong only for the list-valued keys; `null` means "default" everywhere.
            if !w.is_null() && (key == "pull" || key == "push_fields" || !w.is_object()) {
                cases.push(("PUT", config.clone(), json!({ key: w }), key.into()));
            }
        }
    }
    for w in [json!("nope"), json!(5), json!(["days_active", "nope"])] {
        let field = if w.is_array() {
            "push_fields[1]"
        } else {
            "push_fields[0]"
        };
        let body = if w.is_array() {
            json!({"push_fields": w})
        } else {
            json!({"push_fields": [w]})
        };
        cases.push(("PUT", config.clone(), body, field.into()));
    }
    for (key, w) in [
        ("match_contacts_by_email", json!("yes")),
        ("match_contacts_by_email", json!(5)),
        ("create_missing_contacts", json!("no")),
        ("account_domain_field", json!(5)),
    ] {
        cases.push((
            "PUT",
            config.clone(),
            json!({"identity": { key: w }}),
            format!("identity.{key}"),
        ));
    }
    for w in [json!(true), json!([]), json!({}), json!(null)] {
        cases.push((
            "PUT",
            rules.clone(),
            rule(json!({"id": "c", "type": "churn_risk", "drop_percent": w})),
            "rules[1].drop_percent".into(),
        ));
    }
    for w in [json!(-1), json!("x"), json!(1.5)] {
        cases.push(("PUT", rules.clone(), rule(json!({"id": "c", "type": "churn_risk", "drop_percent": 20, "min_prior_minutes": w})), "rules[1].min_prior_minutes".into()));
    }
    for w in [json!("yes"), json!(5)] {
        cases.push((
            "PUT",
            rules.clone(),
            rule(json!({"id": "c", "type": "churn_risk", "drop_percent": 20, "dry_run": w})),
            "rules[1].dry_run".into(),
        ));
    }
    cases.push((
        "PUT",
        rules.clone(),
        rule(json!({"id": "c", "type": "churn_risk", "drop_percent": 20, "colour": "red"})),
        "rules[1].colour".into(),
    ));
    cases.push(("PUT", rules.clone(), json!({"rules": 5}), "rules".into()));
    cases.push((
        "PUT",
        rules.clone(),
        json!({"rules": [5]}),
        "rules[0]".into(),
    ));
    cases.push(("PUT", rules.clone(), json!({}), "rules".into()));
    let too_many: Vec<_> = (0..51)
        .map(|i| json!({"id": format!("r{i}"), "type": "churn_risk", "drop_percent": 20.0}))
        .collect();
    cases.push((
        "PUT",
        rules.clone(),
        json!({"rules": too_many}),
        "rules".into(),
    ));
    for (i, (ts, field)) in [
        (json!(0), "[0].timestamp"),
        (json!(32_503_680_000i64), "[0].timestamp"),
        (json!(-1), "[0].timestamp"),
        (json!("soon"), "[0].timestamp"),
    ]
    .into_iter()
    .enumerate()
    {
        cases.push((
            "POST",
            webhook.clone(),
            json!([{"event": "npsSubmitted", "uniqueId": format!("h{i}"), "timestamp": ts}]),
            field.into(),
        ));
    }
    cases.push((
        "POST",
        webhook.clone(),
        json!([{"event": "npsSubmitted", "uniqueId": ""}]),
        "[0].uniqueId".into(),
    ));
    cases.push((
        "POST",
        webhook.clone(),
        json!([{"uniqueId": "u"}]),
        "[0].event".into(),
    ));
    cases.push((
        "POST",
        webhook.clone(),
        json!([{"event": "npsSubmitted", "uniqueId": long(201)}]),
        "[0].uniqueId".into(),
    ));

    let mut n = 0;
    let mut missing = Vec::new();
    for (method, path, body, field) in &cases {
        let token = if path == &tenants { OP } else { ADMIN_A };
        let r = api
            .call(method, path, Some(token), Some(body.clone()))
            .await;
        n += 1;
        let j: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
        if !r.status.is_client_error() || !j["code"].is_string() || j["field"] != json!(field) {
            missing.push(format!(
                "{method} {path} {body}: {} field {} (expected {field}): {}",
                r.status, j["field"], r.body
            ));
        }
    }
    // Query strings, each naming its parameter.
    for (q, field) in [
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("limit=100000", "limit"),
        ("limit=-1", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("extra=1", "extra"),
        ("after=%00", "after"),
        ("limit=5&limit=6", "limit"),
        ("after=a&after=b", "after"),
        ("limit=5%00", "limit"),
        ("%00=1", ""),
    ] {
        for path in [format!("/v1/tenants?{q}"), format!("{this}/runs?{q}")] {
            let token = if path.starts_with("/v1/tenants?") {
                OP
            } else {
                ADMIN_A
            };
            let r = api.call("GET", &path, Some(token), None).await;
            n += 1;
            if !r.status.is_client_error() || r.json()["field"] != json!(field) {
                missing.push(format!(
                    "GET {path}: field {} (expected {field}): {}",
                    r.json()["field"],
                    r.body
                ));
            }
        }
    }
    // Bodies that are not the JSON asked for, on every route that takes one: 4xx with the
    // error body (no field to name when the body is not JSON at all).
    let routes = [
        ("POST", tenants.clone(), OP),
        ("PATCH", this.clone(), ADMIN_A),
        ("PUT", pendo.clone(), ADMIN_A),
        ("PUT", config.clone(), ADMIN_A),
        ("PUT", rules.clone(), ADMIN_A),
        ("POST", format!("{this}/hubspot/connect"), ADMIN_A),
        ("POST", webhook.clone(), ADMIN_A),
    ];
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    let raw: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", b"{not json".to_vec()),
        ("application/json", vec![0xff, 0xfe, 0x7b, 0x7d]),
        ("application/json", b"\"just a string\"".to_vec()),
        ("application/json", b"true".to_vec()),
        ("application/json", b"1e999".to_vec()),
        ("application/json", deep.into_bytes()),
        ("application/json", br#"{"a": 1} trailing"#.to_vec()),
        (
            "application/json",
            br#"{"display_name": "A", "display_name": "B"}"#.to_vec(),
        ),
        (
            "application/x-www-form-urlencoded",
            b"id=x&display_name=y".to_vec(),
        ),
        ("application/jsonp", b"{}".to_vec()),
        ("text/json", b"{}".to_vec()),
        ("multipart/form-data; boundary=x", b"--x--".to_vec()),
    ];
    for (method, path, token) in &routes {
        for (ct, body) in &raw {
            let req = Request::builder()
                .method(*method)
                .uri(path.as_str())
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", *ct)
                .body(Body::from(body.clone()))
                .unwrap();
            let r = api.send(req).await;
            n += 1;
            assert!(
                r.status.is_client_error(),
                "{method} {path} {ct} -> {} {}",
                r.status,
                r.body
            );
            assert!(
                r.json()["code"].is_string() && r.json()["message"].is_string(),
                "{method} {path} {ct}: {}",
                r.body
            );
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {n} answers do not name the field:\n{}",
        missing.len(),
        missing.join("\n")
    );
    assert!(n >= 300, "{n} hostile requests");
    assert_eq!(
        whole_store(&api, &tid).await,
        before,
        "hostile requests changed the store"
    );
    println!("hostile corpus: {n} requests, all 4xx with the error body, every field named, store unchanged");
}
