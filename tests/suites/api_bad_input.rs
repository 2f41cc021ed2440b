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
