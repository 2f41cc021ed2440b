//! One fleet tenant's own world: a HubSpot portal and a Pendo subscription (sandboxes with
//! their real limits, shared with no other tenant), seeded as `world.rs` seeds the single
//! tenant, and the tenant's embedded store. The sandboxes run on a runtime of their own, on a
//! thread of their own, so dropping the tenant stops their servers and frees their data (the
//! sandboxes have no shutdown; a runtime's drop cancels its tasks). Only the tenants being
//! synced are alive at a time.

use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::DatasetConfig;
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::domain::{PendoRegion, TenantId};
use shared::hubspot::HubSpotConfig;
use shared::secret::SecretString;
use shared::secrets::local::LocalSecrets;
use shared::secrets::AppSecret;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use shared::worker::SecretConnectors;
use std::sync::Arc;

use crate::counting_store::{CountingStore, Counts};
use crate::fleet_store::Ledger;

pub struct TenantWorld {
    pub n: usize,
    pub hubspot: HubSpotSandbox,
    pub pendo: PendoSandbox,
    pub repo: Repo,
    pub connectors: Arc<SecretConnectors>,
    pub units: Arc<Counts>,
    pub today: i32,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TenantWorld {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts both sandboxes on their own thread and runtime; returns once they serve.
async fn start_sandboxes(
    n: usize,
) -> (
    HubSpotSandbox,
    PendoSandbox,
    tokio::sync::oneshot::Sender<()>,
) {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("tenant-sandboxes".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
                    .await
                    .expect("hubspot sandbox");
                let pendo = PendoSandbox::start(PendoSandboxConfig {
                    dataset: DatasetConfig {
                        visitors: n,
                        accounts: (n / 20).max(1),
                        ..Default::default()
                    },
                    requests_per_second: 50,
                })
                .await
                .expect("pendo sandbox");
                let _ = ready_tx.send((hubspot, pendo));
                let _ = stop_rx.await;
            });
        })
        .expect("sandbox thread");
    let (hubspot, pendo) = ready_rx.await.expect("sandboxes started");
    (hubspot, pendo, stop_tx)
}

impl TenantWorld {
    pub async fn start(tenant: &TenantId, n: usize, ledger: &Arc<Ledger>) -> TenantWorld {
        let (hubspot, pendo, stop) = start_sandboxes(n).await;
        crate::world::seed_crm(&hubspot, &pendo);
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = Arc::new(SqliteStore::open(dir.path().join("store.db")).expect("store"));
        // Setup writes go around the ledger: they are the admin API's, not the sync's.
        let setup = Repo::new(sqlite.clone());
        let secrets = Arc::new(LocalSecrets::new(dir.path().join("secrets.json")));
        let cfg = hubspot.with(|s| s.cfg.clone());
        secrets
            .put_app(&AppSecret {
                hubspot_client_id: cfg.client_id,
                hubspot_client_secret: SecretString::new(cfg.client_secret),
                state_signing_key: SecretString::new("bench"),
            })
            .await
            .expect("app secret");
        suites::connected_tenant(
            &setup,
            secrets.as_ref(),
            tenant,
            PendoRegion::Us,
            &pendo,
            &hubspot,
        )
        .await;
        let config = crate::world::tenant_config(&pendo);
        setup.put_config(tenant, &config).await.expect("config");
        let units = Arc::new(Counts::default());
        let repo = Repo::new(Arc::new(CountingStore {
            inner: sqlite,
            counts: units.clone(),
            ledger: Some(ledger.clone()),
        }));
        let connectors = Arc::new(SecretConnectors {
            secrets,
            hubspot: HubSpotConfig {
                api_base: hubspot.base_url.clone(),
                ..Default::default()
            },
            pendo_base_override: Some(pendo.base_url.clone()),
            pendo_requests_per_second: 50,
        });
        TenantWorld {
            n,
            today: pendo.with(|s| s.data.cfg.today) - 1,
            hubspot,
            pendo,
            repo,
            connectors,
            units,
            _dir: dir,
            stop: Some(stop),
        }
    }
}
