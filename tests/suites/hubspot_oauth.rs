//! OAuth failures against the HubSpot sandbox: every token, introspect and revoke failure is
//! typed by HTTP status (temporary / invalid grant / refused) with HubSpot's message, and a
//! HubSpot outage during connect reaches the admin as a 503 to retry.

use axum::http::StatusCode;
use sandboxes::hubspot::HubSpotSandbox;
use sandboxes::Fault;
use shared::hubspot::oauth::{self, OAuthApp};
use shared::hubspot::{HubSpotError, OAuthFailure};
use shared::secret::SecretString;

use crate::api_fixture::{Api, ADMIN_A, OP};
use crate::hubspot::app;

fn fault(kind: &str, path: &str) -> Fault {
    Fault {
        kind: kind.into(),
        count: 1,
        delay_ms: 0,
        path_contains: Some(path.into()),
        retry_after_secs: None,
    }
}

/// One attempt: these tests classify single answers (the retrying is tested in value_faults).
fn no_retry() -> shared::http::RetryPolicy {
    shared::http::RetryPolicy {
        max_attempts: 1,
        base: std::time::Duration::from_millis(1),
        cap: std::time::Duration::from_millis(1),
    }
}

/// A fresh authorization code from the sandbox's consent page.
async fn code(sbx: &HubSpotSandbox, app: &OAuthApp) -> String {
    let url = oauth::authorize_url(&format!("{}/oauth/authorize", sbx.base_url), app, "s");
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
    let code = loc.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    code.to_string()
}

fn kind_of(e: &HubSpotError) -> (OAuthFailure, Option<u16>, String) {
    match e {
        HubSpotError::OAuth {
            kind,
            status,
            message,
            ..
        } => (*kind, *status, message.clone()),
        other => panic!("expected an OAuth error, got {other:?}"),
    }
}

#[tokio::test]
async fn every_oauth_call_maps_status_to_a_typed_error_with_hubspots_message() {
    let sbx = HubSpotSandbox::start(Default::default()).await.unwrap();
    let app = app(&sbx);
    let base = sbx.base_url.as_str();

    // Token exchange: a 5xx and a 429 are temporary; the code survives them and still works.
    let c = code(&sbx, &app).await;
    sbx.inject(fault("503", "/token"));
    let e = oauth::exchange_code(base, Default::default(), &app, &c)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&e).0, OAuthFailure::Temporary, "{e}");
    assert_eq!(kind_of(&e).1, Some(503));
    assert!(e.is_temporary() && !e.needs_attention());
    // A 429 is refused before any work, so the exchange itself waits and repeats it.
    sbx.inject(fault("429", "/token"));
    let tokens = oauth::exchange_code(base, Default::default(), &app, &c)
        .await
        .unwrap();
    assert_eq!(sbx.count("POST /oauth/2026-03/token 429"), 1);

    // A spent code is an invalid grant, carrying HubSpot's own description.
    let e = oauth::exchange_code(base, Default::default(), &app, &c)
        .await
        .unwrap_err();
    let (kind, status, message) = kind_of(&e);
    assert_eq!((kind, status), (OAuthFailure::InvalidGrant, Some(400)));
    assert!(message.contains("code is invalid or expired"), "{message}");

    // A wrong client secret is a refusal, not an invalid grant and not temporary.
    let wrong = OAuthApp {
        client_secret: SecretString::new("wrong"),
        ..app.clone()
    };
    let e = oauth::exchange_code(base, Default::default(), &wrong, &code(&sbx, &app).await)
        .await
        .unwrap_err();
    let (kind, _, message) = kind_of(&e);
    assert_eq!(kind, OAuthFailure::BadRequest, "{e}");
    assert!(message.contains("client id or secret"), "{message}");
    assert!(!e.is_temporary());

    // Introspection: a 5xx is temporary (not "token is not active"); an unknown token is.
    sbx.inject(fault("502", "token/introspect"));
    let e = oauth::introspect_hub_id(base, Default::default(), &app, &tokens.access_token)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&e).0, OAuthFailure::Temporary, "{e}");
    assert!(!e.to_string().contains("not active"), "{e}");
    assert_eq!(
        oauth::introspect_hub_id(base, Default::default(), &app, &tokens.access_token)
            .await
            .unwrap(),
        4_242_424
    );
    let e = oauth::introspect_hub_id(
        base,
        Default::default(),
        &app,
        &SecretString::new("never-issued"),
    )
    .await
    .unwrap_err();
    let (kind, _, message) = kind_of(&e);
    assert_eq!(kind, OAuthFailure::InvalidGrant);
    assert!(message.contains("not active"), "{message}");

    // Refresh: a 5xx is temporary and leaves the tenant alone; a revoked token needs attention.
    sbx.inject(fault("500", "/token"));
    let e = oauth::refresh(
        base,
        Default::default(),
        &app,
        &tokens.refresh_token,
        &no_retry(),
    )
    .await
    .unwrap_err();
    assert_eq!(kind_of(&e).0, OAuthFailure::Temporary, "{e}");
    assert!(!e.needs_attention());

    // Revoke: a 5xx is reported as temporary; afterwards the refresh token is gone.
    sbx.inject(fault("500", "token/revoke"));
    let e = oauth::revoke(base, Default::default(), &app, &tokens.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&e).0, OAuthFailure::Temporary, "{e}");
    oauth::revoke(base, Default::default(), &app, &tokens.refresh_token)
        .await
        .unwrap();
    let e = oauth::refresh(
        base,
        Default::default(),
        &app,
        &tokens.refresh_token,
        &no_retry(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, HubSpotError::RefreshRevoked), "{e}");
    assert!(e.needs_attention());

    // No answer at all (nothing listens): temporary, without an HTTP status.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = oauth::introspect_hub_id(&dead, Default::default(), &app, &tokens.access_token)
        .await
        .unwrap_err();
    assert_eq!(kind_of(&e).0, OAuthFailure::Temporary, "{e}");
    assert_eq!(kind_of(&e).1, None);
}

#[tokio::test]
async fn hubspot_outage_during_connect_reaches_the_admin_as_a_temporary_failure() {
    let (api, a) = api_with_tenant_a().await;

    let (code, state) = api.consent(&a).await;
    api.hubspot.inject(fault("503", "/token"));
    let r = api.callback(&code, &state).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(r.headers["retry-after"], "60");
    assert!(r.body.contains("temporarily unavailable"), "{}", r.body);
    assert!(!r.body.contains("not active"), "{}", r.body);

    // The outage did not spend the link: opening it again once HubSpot is back connects.
    let r = api.callback(&code, &state).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["portal_id"], 4_242_424, "{}", r.body);
    assert_eq!(r.json()["connected"], true);
    let status = api
        .call(
            "GET",
            &format!("/v1/tenants/{a}/status"),
            Some(ADMIN_A),
            None,
        )
        .await
        .json();
    assert_eq!(status["hubspot_connected"], true, "{status}");
}

/// A code HubSpot refuses (4xx) is the admin's 400 naming `code`, and settles the link: it is
/// spent, while a valid code on a fresh link still connects. Browsers get the same as a page.
#[tokio::test]
async fn refused_code_is_a_400_and_spends_the_link() {
    let (api, a) = api_with_tenant_a().await;
    let (code, state) = api.consent(&a).await;
    let r = api.callback("not-a-code", &state).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.json()["field"], "code", "{}", r.body);
    assert_eq!(r.json()["code"], "oauth_refused", "{}", r.body);
    let r = api.callback(&code, &state).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("already used"), "{}", r.body);

    // A browser (Accept ranks text/html first) gets a page; the connection works from a new link.
    let (code, state) = api.consent(&a).await;
    let req = axum::http::Request::builder()
        .uri(format!("/oauth/callback?code={code}&state={state}"))
        .header(
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let r = api.send(req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.headers["content-type"], "text/html; charset=utf-8");
    assert!(r.body.contains("HubSpot connected"), "{}", r.body);
}

/// The API fixture with tenant A created (not connected yet).
async fn api_with_tenant_a() -> (Api, String) {
    let api = Api::new().await;
    let a = api.tenant_a.clone();
    let r = api
        .call(
            "POST",
            "/v1/tenants",
            Some(OP),
            Some(serde_json::json!({"id": a, "display_name": "Tenant A", "pendo_region": "eu"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (api, a)
}
