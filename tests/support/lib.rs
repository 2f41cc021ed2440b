//! Shared test support: the moto endpoint, AWS clients pointed at it, unique names.

pub mod aws_recorder;
pub mod expected;
pub mod lambda_runtime;

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static MOTO: OnceLock<String> = OnceLock::new();
static MOTO_CHILD: OnceLock<std::sync::Mutex<std::process::Child>> = OnceLock::new();

/// The moto server endpoint. `.ci/run` (via infra/scripts/test.sh) starts moto and sets
/// `MOTO_ENDPOINT`; a bare `cargo test` starts one from the tool venv on a free port.
pub fn moto_endpoint() -> String {
    MOTO.get_or_init(|| {
        if let Ok(ep) = std::env::var("MOTO_ENDPOINT") {
            return ep;
        }
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let bin = root.join(".tools/venv/bin/moto_server");
        assert!(
            bin.exists(),
            "moto is not installed: run infra/scripts/setup-tools.sh (or infra/scripts/test.sh)"
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        // Kept for the life of the test process; the OS reaps it when the process exits.
        MOTO_CHILD.get_or_init(|| std::sync::Mutex::new(child));
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        format!("http://127.0.0.1:{port}")
    })
    .clone()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto_endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .load()
        .await
}

/// A name no other test uses (tables, queues, tenants).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// A repo on a fresh DynamoDB table in moto.
pub async fn dynamo_repo(prefix: &str) -> shared::store::repo::Repo {
    let config = aws_config().await;
    let store = shared::store::dynamo::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        unique(prefix),
    );
    store.create_table().await.expect("create table");
    shared::store::repo::Repo::new(std::sync::Arc::new(store))
}

/// An enabled tenant connected to both sandboxes: a Pendo key valid in `region` and a HubSpot
/// refresh token, stored in `secrets`.
pub async fn connected_tenant(
    repo: &shared::store::repo::Repo,
    secrets: &dyn shared::secrets::Secrets,
    tenant: &shared::domain::TenantId,
    region: shared::domain::PendoRegion,
    pendo: &sandboxes::pendo::PendoSandbox,
    hubspot: &sandboxes::hubspot::HubSpotSandbox,
) {
    use shared::secret::SecretString;
    let key = format!("pendo-{}", uuid::Uuid::new_v4().simple());
    pendo.add_key(&key, region.code(), true);
    secrets
        .put_tenant(
            tenant,
            &shared::secrets::TenantSecrets {
                pendo_integration_key: Some(SecretString::new(key)),
                hubspot_refresh_token: Some(SecretString::new(hubspot.issue_refresh_token())),
                webhook_token: None,
            },
        )
        .await
        .expect("tenant secrets");
    let mut t =
        shared::domain::Tenant::new(tenant.clone(), "Test tenant", region, chrono::Utc::now())
            .expect("tenant");
    t.status = shared::domain::TenantStatus::Enabled;
    repo.create_tenant(&t).await.expect("create tenant");
}

/// The app secret that matches a HubSpot sandbox's OAuth app (client id and secret), with
/// `state_signing_key` for the OAuth state.
pub fn sandbox_app_secret(
    hubspot: &sandboxes::hubspot::HubSpotSandbox,
    state_signing_key: &str,
) -> shared::secrets::AppSecret {
    use shared::secret::SecretString;
    let cfg = hubspot.with(|s| s.cfg.clone());
    shared::secrets::AppSecret {
        hubspot_client_id: cfg.client_id,
        hubspot_client_secret: SecretString::new(cfg.client_secret),
        state_signing_key: SecretString::new(state_signing_key),
    }
}

/// A HubSpot client of a sandbox portal, authorised with a fresh refresh token.
pub fn sandbox_client(
    hubspot: &sandboxes::hubspot::HubSpotSandbox,
) -> shared::hubspot::HubSpotClient {
    use shared::hubspot::oauth::OAuthApp;
    use shared::hubspot::{Auth, HubSpotClient, HubSpotConfig};
    use shared::secret::SecretString;
    let cfg = hubspot.with(|s| s.cfg.clone());
    HubSpotClient::new(
        HubSpotConfig {
            api_base: hubspot.base_url.clone(),
            ..Default::default()
        },
        Auth::OAuth {
            app: OAuthApp {
                client_id: cfg.client_id,
                client_secret: SecretString::new(cfg.client_secret),
                redirect_uri: "http://localhost/cb".into(),
            },
            refresh_token: SecretString::new(hubspot.issue_refresh_token()),
        },
    )
}
