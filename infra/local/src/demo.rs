use chrono::Utc;
use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::{account_id, visitor_id, DatasetConfig};
use sandboxes::pendo::{apply_mutation, Mutation, PendoSandbox, PendoSandboxConfig};
use shared::domain::{Job, PendoRegion, SyncConfig, Tenant, TenantId, TenantStatus, Trigger};
use shared::hubspot::oauth::{self, OAuthApp};
use shared::hubspot::HubSpotConfig;
use shared::pendo::{PendoApi, PendoClient, PendoConfig};
use shared::queue::local::LocalQueue;
use shared::queue::Queue;
use shared::secret::SecretString;
use shared::secrets::local::LocalSecrets;
use shared::secrets::{AppSecret, Secrets, TenantSecrets};
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::worker::{JobResult, SecretConnectors, Worker};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::report;

type Error = Box<dyn std::error::Error + Send + Sync>;

const REDIRECT: &str = "http://localhost:3000/oauth/callback";

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,shared::sync=info")),
        )
        .with_target(false)
        .without_time()
        .with_ansi(false)
        .compact()
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(visitors: usize, accounts: usize, days: i32, dir: &Path) -> Result<(), Error> {
    init_logs();
    let t0 = Instant::now();
    println!(
        "== Pendo ↔ HubSpot demo: {visitors} visitors, {accounts} accounts, {days} days of events"
    );
    let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default()).await?;
    let pendo = PendoSandbox::start(PendoSandboxConfig {
        dataset: DatasetConfig {
            visitors,
            accounts,
            days,
            ..Default::default()
        },
        requests_per_second: 20,
    })
    .await?;
    println!(
        "   HubSpot sandbox {} (110 req/10 s, search 5 req/s)",
        hubspot.base_url
    );
    println!("   Pendo sandbox   {}", pendo.base_url);
    let seeded = seed_crm(&hubspot, &pendo);
    println!(
        "   seeded HubSpot with {} contacts and {} companies",
        seeded.0, seeded.1
    );

    // Fresh embedded store and local secrets for every demo run.
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let repo = Repo::new(Arc::new(SqliteStore::open(dir.join("store.db"))?));
    let secrets = Arc::new(LocalSecrets::new(dir.join("secrets.json")));
    let cfg = hubspot.with(|s| s.cfg.clone());
    secrets
        .put_app(&AppSecret {
            hubspot_client_id: cfg.client_id.clone(),
            hubspot_client_secret: SecretString::new(cfg.client_secret.clone()),
            state_signing_key: SecretString::new(uuid::Uuid::new_v4().to_string()),
        })
        .await?;

    // Connect: tenant, Pendo key (verified), HubSpot OAuth through the sandbox's consent page.
    let tenant_id = TenantId::parse("demo-tenant")?;
    let mut tenant = repo
        .create_tenant(&Tenant::new(
            tenant_id.clone(),
            "Demo Co",
            PendoRegion::Eu,
            Utc::now(),
        )?)
        .await?;
    let key = format!("demo-key-{}", uuid::Uuid::new_v4().simple());
    let base = pendo.add_key(&key, "eu", true);
    let check = PendoClient::new(PendoConfig::new(base), SecretString::new(key.clone()))
        .verify_key()
        .await?;
    println!(
        "== connect: Pendo key verified (write access: {})",
        check.write_access
    );
    let app = OAuthApp {
        client_id: cfg.client_id.clone(),
        client_secret: SecretString::new(cfg.client_secret.clone()),
        redirect_uri: REDIRECT.into(),
    };
    let code = authorize_through_sandbox(&hubspot, &app).await?;
    let tokens = oauth::exchange_code(&hubspot.base_url, Default::default(), &app, &code).await?;
    let portal = oauth::introspect_hub_id(
        &hubspot.base_url,
        Default::default(),
        &app,
        &tokens.access_token,
    )
    .await?;
    secrets
        .put_tenant(
            &tenant_id,
            &TenantSecrets {
                pendo_integration_key: Some(SecretString::new(key)),
                hubspot_refresh_token: Some(tokens.refresh_token),
                webhook_token: Some(SecretString::new(uuid::Uuid::new_v4().simple().to_string())),
            },
        )
        .await?;
    tenant.hubspot_portal_id = Some(portal);
    println!("== connect: HubSpot portal {portal} authorised (OAuth code exchanged, refresh token in local secrets)");

    let ds = pendo.with(|s| s.data.cfg.clone());
    let config: SyncConfig = serde_json::from_value(serde_json::json!({
        "pull": [
            {"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"},
            {"object": "visitor", "hubspot_property": "lifecyclestage", "pendo_field": "hubspot_lifecycle"},
            {"object": "account", "hubspot_property": "industry", "pendo_field": "hubspot_industry"},
            {"object": "account", "hubspot_property": "annualrevenue", "pendo_field": "hubspot_revenue"},
            {"object": "account", "hubspot_property": "customer_tier", "pendo_field": "hubspot_tier"}
        ],
        "identity": {"match_contacts_by_email": true, "account_domain_field": "domain"},
        "nps": {"guide_id": ds.nps_guide_id, "score_poll_id": ds.nps_score_poll, "text_poll_id": ds.nps_text_poll}
    }))?;
    repo.put_config(&tenant_id, &config).await?;
    tenant.status = TenantStatus::Enabled;
    repo.update_tenant(&tenant, Utc::now()).await?;

    let queue = Arc::new(LocalQueue::new());
    let connectors = Arc::new(SecretConnectors {
        secrets: secrets.clone(),
        hubspot: HubSpotConfig {
            api_base: hubspot.base_url.clone(),
            ..Default::default()
        },
        pendo_base_override: Some(pendo.base_url.clone()),
        pendo_requests_per_second: 20,
    });
    let mut worker = Worker::new(repo.clone(), queue.clone(), connectors);
    worker.today_override = Some(ds.today - 1);

    println!("== enable: immediate full sync (backfills 360 days of usage history)");
    let first = run_job(
        &worker,
        &queue,
        Job::full(tenant_id.clone(), Trigger::Enable, Utc::now()),
        &hubspot,
    )
    .await?;
    report::run_report("first sync (on enable)", &repo, &tenant_id, &first).await?;
    report::side_by_side(&hubspot, &pendo, 3);

    println!("\n== second sync, nothing changed");
    let second = run_job(
        &worker,
        &queue,
        Job::full(tenant_id.clone(), Trigger::RunNow, Utc::now()),
        &hubspot,
    )
    .await?;
    report::run_report("second sync (no changes)", &repo, &tenant_id, &second).await?;

    println!("\n== a day passes: new events for 1 % of visitors, 5 NPS answers, 20 contacts edited in HubSpot");
    pendo.with(|s| {
        let n = (visitors / 100).max(1);
        apply_mutation(
            s,
            Mutation {
                advance_days: 1,
                activity: (0..n).map(|i| (i * 97 % visitors, -1, 25, 40)).collect(),
                nps: (0..5)
                    .map(|i| {
                        (
                            i * 13 % visitors,
                            (i * 3 % 11) as u64,
                            format!("new answer {i}"),
                        )
                    })
                    .collect(),
                ..Default::default()
            },
        )
    });
    edit_contacts(&hubspot, 20);
    worker.today_override = Some(ds.today);
    let third = run_job(
        &worker,
        &queue,
        Job::daily(
            tenant_id.clone(),
            chrono::Utc::now().date_naive(),
            Utc::now(),
        ),
        &hubspot,
    )
    .await?;
    report::run_report("daily sync (a day of changes)", &repo, &tenant_id, &third).await?;
    println!(
        "\n== demo finished in {:.1} s; store: {}",
        t0.elapsed().as_secs_f64(),
        dir.join("store.db").display()
    );
    Ok(())
}

/// Runs a job and everything it enqueues (continuations) to completion.
async fn run_job(
    worker: &Worker,
    queue: &LocalQueue,
    job: Job,
    hubspot: &HubSpotSandbox,
) -> Result<(shared::domain::RunRecord, report::Window), Error> {
    let t = Instant::now();
    let hs_before = hubspot.with(|s| {
        (
            s.counts.values().sum::<u64>(),
            s.burst.rejected + s.search.rejected,
        )
    });
    queue.send(&[job], std::time::Duration::ZERO).await?;
    let mut last = None;
    while !queue.is_empty() {
        for job in queue.take_all() {
            match worker.handle(&job, None).await? {
                JobResult::Finished(run) => last = Some(*run),
                other => tracing::info!(result = ?other, "job"),
            }
        }
    }
    let hs_after = hubspot.with(|s| {
        (
            s.counts.values().sum::<u64>(),
            s.burst.rejected + s.search.rejected,
        )
    });
    let run = last.ok_or("the sync did not finish")?;
    Ok((
        run,
        report::Window {
            seconds: t.elapsed().as_secs_f64(),
            hubspot_requests: hs_after.0 - hs_before.0,
            rejected_429: hs_after.1 - hs_before.1,
        },
    ))
}

async fn authorize_through_sandbox(
    hubspot: &HubSpotSandbox,
    app: &OAuthApp,
) -> Result<String, Error> {
    let state = uuid::Uuid::new_v4().simple().to_string();
    let url = oauth::authorize_url(
        &format!("{}/oauth/authorize", hubspot.base_url),
        app,
        &state,
    );
    let resp = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(url)
        .send()
        .await?;
    let location = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .ok_or("the consent page did not redirect")?;
    let url = url::Url::parse(location)?;
    let pairs: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    if pairs.get("state") != Some(&state) {
        return Err("OAuth state mismatch".into());
    }
    pairs
        .get("code")
        .cloned()
        .ok_or_else(|| "consent denied".into())
}

/// Contacts for 85 % of visitors (a third already carrying the visitor id, the rest only an
/// email in another case), companies for 90 % of accounts (most with the account id, some only
/// by domain).
fn seed_crm(hubspot: &HubSpotSandbox, pendo: &PendoSandbox) -> (usize, usize) {
    let (n_v, n_a) = pendo.with(|s| (s.data.cfg.visitors, s.data.cfg.accounts));
    let emails: Vec<(usize, String)> = pendo.with(|s| {
        (0..n_v)
            .filter(|v| v % 20 < 17)
            .map(|v| (v, s.data.email(v)))
            .collect()
    });
    let domains: Vec<(usize, String)> = pendo.with(|s| {
        (0..n_a)
            .filter(|a| a % 10 != 9)
            .map(|a| (a, s.data.account_domain(a)))
            .collect()
    });
    let tiers = ["bronze", "silver", "gold"];
    hubspot.with(|s| {
        for (v, email) in &emails {
            let mut p = BTreeMap::from([
                ("email".to_string(), email.to_uppercase()),
                ("firstname".to_string(), format!("User{v}")),
                (
                    "jobtitle".to_string(),
                    ["Engineer", "PM", "Designer", "CTO"][v % 4].to_string(),
                ),
                (
                    "lifecyclestage".to_string(),
                    ["lead", "opportunity", "customer"][v % 3].to_string(),
                ),
            ]);
            if v % 3 == 0 {
                p.insert("pendo_visitor_id".into(), visitor_id(*v));
            }
            s.insert("contacts", p);
        }
        for (a, domain) in &domains {
            let mut p = BTreeMap::from([
                ("domain".to_string(), domain.clone()),
                ("name".to_string(), format!("Company {a}")),
                (
                    "industry".to_string(),
                    ["SaaS", "Fintech", "Health", "Retail"][a % 4].to_string(),
                ),
                ("annualrevenue".to_string(), format!("{}", 50_000 * (a + 1))),
                ("customer_tier".to_string(), tiers[a % 3].to_string()),
            ]);
            if a % 10 < 8 {
                p.insert("pendo_account_id".into(), account_id(*a));
            }
            s.insert("companies", p);
        }
    });
    (emails.len(), domains.len())
}

fn edit_contacts(hubspot: &HubSpotSandbox, n: usize) {
    hubspot.with(|s| {
        let now = s.now_ms();
        for r in s
            .objects
            .get_mut("contacts")
            .expect("contacts")
            .values_mut()
            .take(n)
        {
            r.properties.insert("jobtitle".into(), "VP Product".into());
            r.properties.insert(
                "lastmodifieddate".into(),
                sandboxes::hubspot::values::iso(now),
            );
        }
    });
}

/// What `pendo-hubspot sync` runs: one tenant of a local store, to completion.
pub struct SyncRealOptions<'a> {
    pub tenant: &'a str,
    pub db: &'a Path,
    pub secrets: &'a Path,
    pub hubspot_api: &'a str,
    /// Pendo base instead of the region hosts (`{base}/{region}`).
    pub pendo_api: Option<String>,
    /// Last complete day of data (default: yesterday, UTC).
    pub today: Option<chrono::NaiveDate>,
    /// Lease lifetime; renewed every quarter of it.
    pub lease: std::time::Duration,
}

/// Runs a full sync of one tenant until it finishes, the way the worker Lambda would (lease,
/// checkpoints, continuations). A run interrupted earlier (the process was killed) is resumed
/// from its checkpoint once its lease has expired. Prints the finished run record as JSON.
pub async fn sync_real(o: SyncRealOptions<'_>) -> Result<(), Error> {
    init_logs();
    let repo = Repo::new(Arc::new(SqliteStore::open(o.db)?));
    let tenant_id = TenantId::parse(o.tenant)?;
    if repo.get_tenant(&tenant_id).await?.is_none() {
        return Err(format!("tenant {} is not in {}", o.tenant, o.db.display()).into());
    }
    let queue = Arc::new(LocalQueue::new());
    let connectors = Arc::new(SecretConnectors {
        secrets: Arc::new(LocalSecrets::new(o.secrets)),
        hubspot: HubSpotConfig {
            api_base: o.hubspot_api.to_string(),
            ..Default::default()
        },
        pendo_base_override: o.pendo_api,
        pendo_requests_per_second: 5,
    });
    let mut worker = Worker::new(repo.clone(), queue.clone(), connectors);
    worker.today_override = o.today.map(shared::domain::day_number);
    worker.lease_ttl = o.lease;
    worker.lease_renew_every = o.lease / 4;
    worker.defer_delay = o.lease / 4;
    queue
        .send(
            &[Job::full(tenant_id.clone(), Trigger::RunNow, Utc::now())],
            std::time::Duration::ZERO,
        )
        .await?;
    while !queue.is_empty() {
        let due = queue.take_ready();
        if due.is_empty() {
            // A deferred job waits for the lease a killed predecessor still holds.
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        for job in due {
            if let JobResult::Finished(run) = worker.handle(&job, None).await? {
                println!("{}", serde_json::to_string(&*run)?);
            }
        }
    }
    Ok(())
}

pub async fn sandboxes_standalone(
    hubspot_port: u16,
    pendo_port: u16,
    visitors: usize,
) -> Result<(), Error> {
    init_logs();
    let hubspot = HubSpotSandbox::start_on(HubSpotSandboxConfig::default(), hubspot_port).await?;
    let pendo = PendoSandbox::start_on(
        PendoSandboxConfig {
            dataset: DatasetConfig {
                visitors,
                accounts: (visitors / 20).max(1),
                ..Default::default()
            },
            requests_per_second: 20,
        },
        pendo_port,
    )
    .await?;
    let key = "sandbox-key";
    pendo.add_key(key, "us", true);
    seed_crm(&hubspot, &pendo);
    println!(
        "HubSpot sandbox: {}  (refresh token: {})",
        hubspot.base_url,
        hubspot.issue_refresh_token()
    );
    println!(
        "Pendo sandbox:   {}/us  (integration key: {key})",
        pendo.base_url
    );
    println!("Control: POST /_sandbox/faults, GET /_sandbox/stats on both; POST /_sandbox/mutate on Pendo. Ctrl-C stops.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
