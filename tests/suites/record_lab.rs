//! A small tenant for record-level fault cases: both sandboxes, an embedded store, local
//! secrets and queue, and the real worker. Each case seeds exactly the records it needs.

use chrono::Utc;
use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::DatasetConfig;
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::domain::{
    Job, ObjectKind, ObjectState, PendoRegion, RecordError, RunRecord, SyncConfig, TenantId,
    Trigger,
};
use shared::hubspot::{HubSpotClient, HubSpotConfig};
use shared::queue::local::LocalQueue;
use shared::secrets::local::LocalSecrets;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::store::Store;
use shared::worker::{JobResult, SecretConnectors, Worker};
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Lab {
    pub hubspot: HubSpotSandbox,
    pub pendo: PendoSandbox,
    pub repo: Repo,
    pub worker: Worker,
    pub tenant: TenantId,
    _dir: tempfile::TempDir,
}

impl Lab {
    /// `visitors` Pendo visitors (and `accounts` accounts), no CRM records yet; `config` is
    /// the tenant's sync configuration (NPS ids of the sandbox are filled in when absent).
    pub async fn new(visitors: usize, accounts: usize, config: serde_json::Value) -> Self {
        Self::with_store(visitors, accounts, config, |s| s).await
    }

    /// [`Lab::new`] with the embedded store wrapped by `wrap` (a store that slows or counts).
    pub async fn with_store(
        visitors: usize,
        accounts: usize,
        config: serde_json::Value,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store>,
    ) -> Self {
        let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
            .await
            .unwrap();
        let pendo = PendoSandbox::start(PendoSandboxConfig {
            dataset: DatasetConfig {
                visitors,
                accounts,
                ..Default::default()
            },
            requests_per_second: 200,
        })
        .await
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::new(wrap(Arc::new(
            SqliteStore::open(dir.path().join("store.db")).unwrap(),
        )));
        let secrets = Arc::new(LocalSecrets::new(dir.path().join("secrets.json")));
        secrets
            .put_app(&suites::sandbox_app_secret(&hubspot, "k"))
            .await
            .unwrap();
        let tenant = TenantId::parse(&suites::unique("lab")).unwrap();
        suites::connected_tenant(
            &repo,
            secrets.as_ref(),
            &tenant,
            PendoRegion::Us,
            &pendo,
            &hubspot,
        )
        .await;
        let ds = pendo.with(|s| s.data.cfg.clone());
        let mut config = config;
        if config.get("nps").is_none() {
            config["nps"] = serde_json::json!({"guide_id": ds.nps_guide_id,
                "score_poll_id": ds.nps_score_poll, "text_poll_id": ds.nps_text_poll});
        }
        let sync_config: SyncConfig = serde_json::from_value(config).unwrap();
        repo.put_config(&tenant, &sync_config).await.unwrap();
        let connectors = Arc::new(SecretConnectors {
            secrets,
            hubspot: HubSpotConfig {
                api_base: hubspot.base_url.clone(),
                ..Default::default()
            },
            pendo_base_override: Some(pendo.base_url.clone()),
            pendo_requests_per_second: 200,
        });
        let queue = Arc::new(LocalQueue::new());
        let mut worker = Worker::new(repo.clone(), queue.clone(), connectors);
        worker.today_override = Some(ds.today - 1);
        worker.defer_delay = std::time::Duration::ZERO;
        Self {
            hubspot,
            pendo,
            repo,
            worker,
            tenant,
            _dir: dir,
        }
    }

    /// The last complete day the daily run syncs through.
    pub fn today(&self) -> i32 {
        self.pendo.with(|s| s.data.cfg.today) - 1
    }

    /// One full run through the worker, as the scheduler would queue it.
    pub async fn run(&mut self) -> JobResult {
        self.worker.today_override = Some(self.today());
        let job = Job::full(self.tenant.clone(), Trigger::RunNow, Utc::now());
        self.worker.handle(&job, None).await.expect("job handled")
    }

    /// A full run that must finish; its run record.
    pub async fn finished_run(&mut self) -> RunRecord {
        match self.run().await {
            JobResult::Finished(r) => *r,
            other => panic!("run did not finish: {other:?}"),
        }
    }

    pub async fn errors(&self, run: &RunRecord) -> Vec<RecordError> {
        self.repo
            .list_run_errors(&self.tenant, &run.run_id, None, 1000)
            .await
            .unwrap()
            .items
    }

    pub async fn state(&self, kind: ObjectKind, id: &str) -> ObjectState {
        self.repo
            .get_object_states(&self.tenant, kind, &[id.to_string()])
            .await
            .unwrap()
            .remove(id)
            .unwrap_or_default()
    }

    /// Creates contacts directly in the sandbox; their ids in order.
    pub fn contacts(&self, records: Vec<BTreeMap<String, String>>) -> Vec<u64> {
        self.hubspot.with(|s| {
            records
                .into_iter()
                .map(|r| s.insert("contacts", r))
                .collect()
        })
    }

    pub fn contact(&self, id: u64) -> BTreeMap<String, String> {
        self.hubspot.with(|s| {
            s.objects["contacts"]
                .get(&id)
                .map(|r| r.properties.clone())
                .unwrap_or_default()
        })
    }

    pub fn email_of(&self, v: usize) -> String {
        self.pendo.with(|s| s.data.email(v))
    }

    /// Batch writes (update, upsert, create) the sandbox received for CRM objects.
    pub fn hubspot_writes(&self) -> u64 {
        self.hubspot
            .counts()
            .iter()
            .filter(|(k, _)| {
                (k.starts_with("POST /crm/v3/objects/")
                    || k.starts_with("POST /crm/objects/2026-03/"))
                    && (k.ends_with("/batch/update")
                        || k.ends_with("/batch/upsert")
                        || k.ends_with("/batch/create"))
            })
            .map(|(_, v)| *v)
            .sum()
    }

    /// A HubSpot client of this portal (for client-level cases).
    pub fn hubspot_client(&self) -> HubSpotClient {
        suites::sandbox_client(&self.hubspot)
    }
}

pub fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
