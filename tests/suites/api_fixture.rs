//! The three HTTP surfaces mounted together (as the local server does), on DynamoDB and
//! Secrets Manager (moto), a local queue, and both sandboxes.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::DatasetConfig;
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::api::auth::static_tokens;
use shared::api::public_url::PublicBase;
use shared::api::{all_routes, AppState, Claims, Role};
use shared::domain::TenantId;
use shared::hubspot::HubSpotConfig;
use shared::queue::local::LocalQueue;
use shared::secret::SecretString;
use shared::secrets::aws::AwsSecrets;
use shared::secrets::AppSecret;
use shared::worker::{SecretConnectors, Worker};
use std::sync::Arc;
use tower::ServiceExt;

pub struct Api {
    pub router: Router,
    pub state: AppState,
    pub queue: Arc<LocalQueue>,
    pub hubspot: HubSpotSandbox,
    pub pendo: PendoSandbox,
    pub worker: Worker,
    pub tenant_a: String,
    pub tenant_b: String,
    pub state_key: SecretString,
}

pub const OP: &str = "operator-token";
pub const ADMIN_A: &str = "admin-a-token";
pub const ADMIN_B: &str = "admin-b-token";

pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

impl Api {
    pub async fn new() -> Self {
        let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
            .await
            .unwrap();
        let pendo = PendoSandbox::start(PendoSandboxConfig {
            dataset: DatasetConfig {
                visitors: 120,
                accounts: 8,
                ..Default::default()
            },
            requests_per_second: 100,
        })
        .await
        .unwrap();
        let config = suites::aws_config().await;
        let repo = suites::dynamo_repo("api").await;
        let prefix = format!("{}/", suites::unique("api"));
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        let cfg = hubspot.with(|s| s.cfg.clone());
        let state_key = SecretString::new(uuid::Uuid::new_v4().to_string());
        sm.create_secret()
            .name(format!("{prefix}app"))
            .secret_string(
                serde_json::to_string(&AppSecret {
                    hubspot_client_id: cfg.client_id.clone(),
                    hubspot_client_secret: SecretString::new(cfg.client_secret.clone()),
                    state_signing_key: state_key.clone(),
                })
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let secrets = Arc::new(AwsSecrets::new(sm, prefix.clone(), format!("{prefix}app")));
        let tenant_a = suites::unique("ta");
        let tenant_b = suites::unique("tb");
        let claims = |role, tenant: Option<&str>| Claims {
            subject: "someone".into(),
            role,
            tenant_id: tenant.map(|t| TenantId::parse(t).unwrap()),
        };
        let auth = static_tokens(vec![
            (OP.into(), claims(Role::Operator, None)),
            (ADMIN_A.into(), claims(Role::Admin, Some(&tenant_a))),
            (ADMIN_B.into(), claims(Role::Admin, Some(&tenant_b))),
        ]);
        let queue = Arc::new(LocalQueue::new());
        let connectors = Arc::new(SecretConnectors {
            secrets: secrets.clone(),
            hubspot: HubSpotConfig {
                api_base: hubspot.base_url.clone(),
                ..Default::default()
            },
            pendo_base_override: Some(pendo.base_url.clone()),
            pendo_requests_per_second: 100,
        });
        let state = AppState {
            repo: repo.clone(),
            secrets,
            queue: queue.clone(),
            connectors: connectors.clone(),
            auth,
            hubspot_api_base: hubspot.base_url.clone(),
            hubspot_authorize_url: format!("{}/oauth/authorize", hubspot.base_url),
            public_base: PublicBase::Fixed("https://hooks.example.com".into()),
        };
        let mut worker = Worker::new(repo, queue.clone(), connectors);
        worker.today_override = Some(pendo.with(|s| s.data.cfg.today) - 1);
        Self {
            router: all_routes(state.clone()),
            state,
            queue,
            hubspot,
            pendo,
            worker,
            tenant_a,
            tenant_b,
            state_key,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 10 << 20)
            .await
            .unwrap();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).to_string(),
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    /// Creates tenant A, saves its Pendo key and connects HubSpot through the sandbox consent page.
    pub async fn connected_tenant(&self) -> String {
        let a = self.tenant_a.clone();
        let r = self
            .call(
                "POST",
                "/v1/tenants",
                Some(OP),
                Some(
                    serde_json::json!({"id": a, "display_name": "Tenant A", "pendo_region": "eu"}),
                ),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let key = format!("k-{}", uuid::Uuid::new_v4().simple());
        self.pendo.add_key(&key, "eu", true);
        let r = self
            .call(
                "PUT",
                &format!("/v1/tenants/{a}/pendo"),
                Some(ADMIN_A),
                Some(serde_json::json!({"region": "eu", "integration_key": key})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let (code, state) = self.consent(&a).await;
        let r = self.callback(&code, &state).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        a
    }

    /// Tenant A already created: saves its Pendo key and connects HubSpot.
    pub async fn connected_tenant_again(&self) -> String {
        let a = self.tenant_a.clone();
        let key = format!("k-{}", uuid::Uuid::new_v4().simple());
        self.pendo.add_key(&key, "eu", true);
        let r = self
            .call(
                "PUT",
                &format!("/v1/tenants/{a}/pendo"),
                Some(ADMIN_A),
                Some(serde_json::json!({"region": "eu", "integration_key": key})),
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let (code, state) = self.consent(&a).await;
        let r = self.callback(&code, &state).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        a
    }

    /// The path of tenant's webhook URL (as shown to its admin).
    pub async fn webhook_path(&self, tenant: &str) -> String {
        let r = self
            .call(
                "GET",
                &format!("/v1/tenants/{tenant}/webhook"),
                Some(ADMIN_A),
                None,
            )
            .await;
        r.json()["url"]
            .as_str()
            .expect("webhook url")
            .trim_start_matches("https://hooks.example.com")
            .to_string()
    }

    /// HubSpot redirecting the admin back to our callback.
    pub async fn callback(&self, code: &str, state: &str) -> Reply {
        self.call(
            "GET",
            &format!("/oauth/callback?code={code}&state={state}"),
            None,
            None,
        )
        .await
    }

    /// Asks for the authorize URL and follows it through the sandbox's consent page.
    pub async fn consent(&self, tenant: &str) -> (String, String) {
        let r = self
            .call(
                "POST",
                &format!("/v1/tenants/{tenant}/hubspot/connect"),
                Some(ADMIN_A),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let url = r.json()["authorize_url"].as_str().unwrap().to_string();
        let resp = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(url)
            .send()
            .await
            .unwrap();
        let loc = url::Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let q: std::collections::HashMap<String, String> = loc.query_pairs().into_owned().collect();
        (
            q["code"].clone(),
            url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect(),
        )
    }
}
