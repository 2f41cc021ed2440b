//! `serve`: the whole product on one machine — admin API, OAuth callback and webhook intake in
//! one axum server on the embedded store, with local secrets, a local queue and an in-process
//! worker draining it. `--sandbox` points it at in-process HubSpot and Pendo sandboxes.

use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::api::auth::static_tokens;
use shared::api::public_url::PublicBase;
use shared::api::{all_routes, AppState, Claims, Role};
use shared::domain::TenantId;
use shared::hubspot::HubSpotConfig;
use shared::queue::local::LocalQueue;
use shared::secret::SecretString;
use shared::secrets::local::LocalSecrets;
use shared::secrets::AppSecret;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::worker::{SecretConnectors, Worker};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

type Error = Box<dyn std::error::Error + Send + Sync>;

pub struct ServeOptions<'a> {
    pub port: u16,
    pub dir: &'a Path,
    pub operator_token: String,
    /// (tenant, token) pairs for tenant admins.
    pub admin_tokens: Vec<(String, String)>,
    pub sandbox: bool,
    /// Size of the sandbox Pendo dataset (visitors, accounts).
    pub sandbox_size: (usize, usize),
}

pub async fn run(o: ServeOptions<'_>) -> Result<(), Error> {
    shared::telemetry::init_json();
    std::fs::create_dir_all(o.dir)?;
    let repo = Repo::new(Arc::new(SqliteStore::open(o.dir.join("store.db"))?));
    let secrets = Arc::new(LocalSecrets::new(o.dir.join("secrets.json")));
    let public = format!("http://127.0.0.1:{}", o.port);
    let (hubspot_api, authorize, pendo_override) = if o.sandbox {
        let hs = HubSpotSandbox::start(HubSpotSandboxConfig::default()).await?;
        let mut pd_cfg = PendoSandboxConfig::default();
        (pd_cfg.dataset.visitors, pd_cfg.dataset.accounts) = o.sandbox_size;
        let pd = PendoSandbox::start(pd_cfg).await?;
        let cfg = hs.with(|s| s.cfg.clone());
        secrets
            .put_app(&AppSecret {
                hubspot_client_id: cfg.client_id,
                hubspot_client_secret: SecretString::new(cfg.client_secret),
                state_signing_key: SecretString::new(uuid::Uuid::new_v4().to_string()),
            })
            .await?;
        pd.add_key("sandbox-key", "us", true);
        println!(
            "sandboxes: HubSpot {} · Pendo {} (region us, key `sandbox-key`)",
            hs.base_url, pd.base_url
        );
        (
            hs.base_url.clone(),
            format!("{}/oauth/authorize", hs.base_url),
            Some(pd.base_url.clone()),
        )
    } else {
        (
            "https://api.hubapi.com".to_string(),
            shared::hubspot::paths::AUTHORIZE.to_string(),
            None,
        )
    };
    let queue = Arc::new(LocalQueue::new());
    let connectors = Arc::new(SecretConnectors {
        secrets: secrets.clone(),
        hubspot: HubSpotConfig {
            api_base: hubspot_api.clone(),
            ..Default::default()
        },
        pendo_base_override: pendo_override,
        pendo_requests_per_second: 10,
    });
    let mut tokens = vec![(
        o.operator_token.clone(),
        Claims {
            subject: "local-operator".into(),
            role: Role::Operator,
            tenant_id: None,
        },
    )];
    for (tenant, token) in &o.admin_tokens {
        tokens.push((
            token.clone(),
            Claims {
                subject: format!("local-admin-{tenant}"),
                role: Role::Admin,
                tenant_id: Some(TenantId::parse(tenant)?),
            },
        ));
    }
    let state = AppState {
        repo: repo.clone(),
        secrets,
        queue: queue.clone(),
        connectors: connectors.clone(),
        auth: static_tokens(tokens),
        hubspot_api_base: hubspot_api,
        hubspot_authorize_url: authorize,
        public_base: PublicBase::Fixed(public.clone()),
    };
    let worker = Worker::new(repo, queue.clone(), connectors);
    tokio::spawn(async move {
        loop {
            for job in queue.take_ready() {
                if let Err(e) = worker.handle(&job, None).await {
                    tracing::error!(error = %e, job_id = %job.job_id, "job failed; retrying in 30 s");
                    let _ =
                        shared::queue::Queue::send(queue.as_ref(), &[job], Duration::from_secs(30))
                            .await;
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", o.port)).await?;
    println!("serving on {public}: console {public}/console/ (sign in with a token given above), admin API /v1 (OpenAPI at /v1/openapi.json), /oauth/callback, /webhooks/pendo/...");
    axum::serve(listener, all_routes(state)).await?;
    Ok(())
}
