//! A tenant wired to both sandboxes, with DynamoDB, SQS and Secrets Manager on moto, and the
//! real worker. Expected values are computed here from the sandbox dataset, independently of
//! the engine.

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use chrono::Utc;
use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::{visitor_id, Dataset, DatasetConfig};
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::domain::{Job, PendoRegion, SyncConfig, TenantId, Trigger};
use shared::hubspot::HubSpotConfig;
use shared::queue::sqs::SqsQueue;
use shared::queue::{decode_job, encode_job};
use shared::secret::SecretString;
use shared::secrets::aws::AwsSecrets;
use shared::secrets::AppSecret;
use shared::store::repo::Repo;
use shared::worker::{SecretConnectors, Worker};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub struct Fixture {
    pub hubspot: HubSpotSandbox,
    pub pendo: PendoSandbox,
    pub repo: Repo,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub worker: Worker,
    pub tenant: TenantId,
    pub secrets: Arc<dyn shared::secrets::Secrets>,
}

pub const VISITORS: usize = 300;
pub const ACCOUNTS: usize = 20;

impl Fixture {
    pub async fn new() -> Self {
        Self::with_hubspot_client(|_| {}).await
    }

    /// A fixture whose worker's HubSpot client settings `adjust` changes (window, retries).
    pub async fn with_hubspot_client(adjust: impl FnOnce(&mut HubSpotConfig)) -> Self {
        let (hubspot, pendo) = start_sandboxes().await;
        let config = suites::aws_config().await;
        let repo = suites::dynamo_repo("sync").await;
        let sqs = aws_sdk_sqs::Client::new(&config);
        let (queue_url, _) = crate::queue::queue_with_dlq(&sqs, 5).await;
        let prefix = format!("{}/", suites::unique("sync"));
        let secrets = Arc::new(AwsSecrets::new(
            aws_sdk_secretsmanager::Client::new(&config),
            prefix.clone(),
            format!("{prefix}app"),
        ));
        let cfg = hubspot.with(|s| s.cfg.clone());
        aws_sdk_secretsmanager::Client::new(&config)
            .create_secret()
            .name(format!("{prefix}app"))
            .secret_string(
                serde_json::to_string(&AppSecret {
                    hubspot_client_id: cfg.client_id.clone(),
                    hubspot_client_secret: SecretString::new(cfg.client_secret.clone()),
                    state_signing_key: SecretString::new("k"),
                })
                .unwrap(),
            )
            .send()
            .await
            .unwrap();
        let tenant = TenantId::parse(&suites::unique("acme")).unwrap();
        suites::connected_tenant(
            &repo,
            secrets.as_ref(),
            &tenant,
            PendoRegion::Eu,
            &pendo,
            &hubspot,
        )
        .await;
        let sync_config = sync_config(&pendo);
        repo.put_config(&tenant, &sync_config).await.unwrap();
        seed_crm(&hubspot, &pendo);
        let connectors = Arc::new(SecretConnectors {
            secrets: secrets.clone(),
            hubspot: {
                let mut c = HubSpotConfig {
                    api_base: hubspot.base_url.clone(),
                    ..Default::default()
                };
                adjust(&mut c);
                c
            },
            pendo_base_override: Some(pendo.base_url.clone()),
            pendo_requests_per_second: 100,
        });
        let queue = Arc::new(SqsQueue::new(sqs.clone(), queue_url.clone()));
        let mut worker = Worker::new(repo.clone(), queue, connectors);
        worker.today_override = Some(pendo.with(|s| s.data.cfg.today) - 1);
        worker.defer_delay = std::time::Duration::ZERO;
        Self {
            hubspot,
            pendo,
            repo,
            sqs,
            queue_url,
            worker,
            tenant,
            secrets,
        }
    }

    pub fn today(&self) -> i32 {
        self.pendo.with(|s| s.data.cfg.today) - 1
    }

    /// Delivers jobs to the worker the way Lambda does: an SQS event, one record per job.
    pub async fn deliver(&self, jobs: &[Job]) -> aws_lambda_events::sqs::SqsBatchResponse {
        let mut event = SqsEvent::default();
        event.records = jobs
            .iter()
            .map(|j| {
                let mut m = SqsMessage::default();
                m.message_id = Some(j.job_id.clone());
                m.body = Some(encode_job(j));
                m
            })
            .collect();
        self.worker.handle_sqs(event, None).await
    }

    pub async fn full_sync(&self) -> shared::domain::RunRecord {
        let job = Job::full(self.tenant.clone(), Trigger::RunNow, Utc::now());
        let resp = self.deliver(std::slice::from_ref(&job)).await;
        if !resp.batch_item_failures.is_empty() {
            // The SQS path only says which message failed; run it once more to show why.
            let why = self.worker.handle(&job, None).await;
            panic!("sync failed: {why:?}");
        }
        self.drain().await;
        self.repo
            .list_runs(&self.tenant, None, 1)
            .await
            .unwrap()
            .items
            .remove(0)
    }

    /// Runs every job waiting on the queue (continuations, deferrals) until it is empty.
    pub async fn drain(&self) -> usize {
        let mut handled = 0;
        loop {
            let msgs = crate::queue::receive_all(&self.sqs, &self.queue_url).await;
            if msgs.is_empty() {
                return handled;
            }
            let jobs: Vec<Job> = msgs
                .iter()
                .map(|m| decode_job(m.body().unwrap()).unwrap())
                .collect();
            handled += jobs.len();
            let resp = self.deliver(&jobs).await;
            assert!(resp.batch_item_failures.is_empty());
        }
    }

    pub fn hubspot_writes(&self) -> u64 {
        self.hubspot
            .counts()
            .iter()
            .filter(|(k, _)| {
                k.contains("/batch/update")
                    || k.contains("/batch/upsert")
                    || k.contains("/batch/create")
            })
            .map(|(k, v)| if k.contains("properties") { 0 } else { *v })
            .sum()
    }

    pub fn pendo_writes(&self) -> u64 {
        self.pendo
            .count("POST /api/v1/metadata/{kind}/custom/value")
    }

    /// HubSpot contacts by the Pendo visitor they are linked to.
    pub fn contacts_by_visitor(&self) -> HashMap<String, BTreeMap<String, String>> {
        self.hubspot.with(|s| {
            s.objects["contacts"]
                .values()
                .filter_map(|r| {
                    Some((
                        r.properties.get("pendo_visitor_id")?.clone(),
                        r.properties.clone(),
                    ))
                })
                .collect()
        })
    }

    pub fn companies_by_account(&self) -> HashMap<String, BTreeMap<String, String>> {
        self.hubspot.with(|s| {
            s.objects["companies"]
                .values()
                .filter_map(|r| {
                    Some((
                        r.properties.get("pendo_account_id")?.clone(),
                        r.properties.clone(),
                    ))
                })
                .collect()
        })
    }
}

/// Both sandboxes with the sync suites' dataset (`VISITORS` visitors, `ACCOUNTS` accounts).
pub async fn start_sandboxes() -> (HubSpotSandbox, PendoSandbox) {
    let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
        .await
        .unwrap();
    let pendo = PendoSandbox::start(PendoSandboxConfig {
        dataset: DatasetConfig {
            visitors: VISITORS,
            accounts: ACCOUNTS,
            ..Default::default()
        },
        requests_per_second: 100,
    })
    .await
    .unwrap();
    (hubspot, pendo)
}

/// The tenant configuration every sync suite uses: four pulled properties, e-mail and domain
/// matching, the dataset's NPS guide.
pub fn sync_config(pendo: &PendoSandbox) -> SyncConfig {
    let ds = pendo.with(|s| s.data.cfg.clone());
    serde_json::from_value(serde_json::json!({
        "pull": [
            {"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"},
            {"object": "visitor", "hubspot_property": "lifecyclestage", "pendo_field": "hubspot_lifecycle"},
            {"object": "account", "hubspot_property": "industry", "pendo_field": "hubspot_industry"},
            {"object": "account", "hubspot_property": "annualrevenue", "pendo_field": "hubspot_revenue"}
        ],
        "identity": {"match_contacts_by_email": true, "account_domain_field": "domain"},
        "nps": {"guide_id": ds.nps_guide_id, "score_poll_id": ds.nps_score_poll, "text_poll_id": ds.nps_text_poll}
    }))
    .unwrap()
}

/// CRM records for 80 % of visitors (some already linked by id, most only by email) and 80 %
/// of accounts (by domain), with properties to pull.
pub fn seed_crm(hubspot: &HubSpotSandbox, pendo: &PendoSandbox) {
    type Indexed = Vec<(usize, String)>;
    let (emails, domains): (Indexed, Indexed) = pendo.with(|s| {
        (
            (0..VISITORS)
                .filter(|v| v % 5 != 4)
                .map(|v| (v, s.data.email(v)))
                .collect(),
            (0..ACCOUNTS)
                .filter(|a| a % 5 != 4)
                .map(|a| (a, s.data.account_domain(a)))
                .collect(),
        )
    });
    hubspot.with(|s| {
        for (v, email) in emails {
            let mut p = BTreeMap::from([
                ("email".to_string(), email.to_uppercase()),
                ("jobtitle".to_string(), format!("Engineer {v}")),
                ("lifecyclestage".to_string(), "customer".to_string()),
            ]);
            if v % 3 == 0 {
                p.insert("pendo_visitor_id".into(), visitor_id(v));
            }
            s.insert("contacts", p);
        }
        for (a, domain) in domains {
            s.insert(
                "companies",
                BTreeMap::from([
                    ("domain".to_string(), domain),
                    ("name".to_string(), format!("Company {a}")),
                    ("industry".to_string(), format!("Industry {}", a % 4)),
                    ("annualrevenue".to_string(), format!("{}", 1000 * (a + 1))),
                ]),
            );
        }
    });
}

/// What the push should have written for visitor `v` on `today`, from the raw dataset.
pub fn expected_visitor(ds: &Dataset, v: usize, today: i32) -> BTreeMap<String, String> {
    suites::expected::Reference::new(ds).visitor(v, today)
}

pub fn expected_account(ds: &Dataset, a: usize, today: i32) -> BTreeMap<String, String> {
    suites::expected::Reference::new(ds).account(a, today)
}

/// Compares the pushed properties of one record with the expectation (empty = unset).
pub fn assert_pushed(
    actual: &BTreeMap<String, String>,
    expected: &BTreeMap<String, String>,
    who: &str,
) {
    for (k, want) in expected {
        let have = actual.get(k).cloned().unwrap_or_default();
        assert_eq!(&have, want, "{who}: {k}");
    }
}
