//! The benchmark world: both sandboxes (real HubSpot limits), a seeded CRM, and a tenant
//! on an embedded store in a temp dir that child processes open.

use sandboxes::hubspot::{HubSpotSandbox, HubSpotSandboxConfig};
use sandboxes::pendo::data::{account_id, visitor_id, DatasetConfig};
use sandboxes::pendo::{PendoSandbox, PendoSandboxConfig};
use shared::domain::{PendoRegion, SyncConfig, TenantId};
use shared::secret::SecretString;
use shared::secrets::local::LocalSecrets;
use shared::secrets::AppSecret;
use shared::store::repo::Repo;
use shared::store::sqlite::SqliteStore;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub struct World {
    pub n: usize,
    pub hubspot: HubSpotSandbox,
    pub pendo: PendoSandbox,
    pub dir: tempfile::TempDir,
    pub tenant: TenantId,
}

impl World {
    pub async fn start(n: usize) -> World {
        let hubspot = HubSpotSandbox::start(HubSpotSandboxConfig::default())
            .await
            .unwrap();
        let pendo = PendoSandbox::start(PendoSandboxConfig {
            dataset: DatasetConfig {
                visitors: n,
                accounts: (n / 20).max(1),
                ..Default::default()
            },
            requests_per_second: 50,
        })
        .await
        .unwrap();
        seed_crm(&hubspot, &pendo);
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo::new(Arc::new(
            SqliteStore::open(dir.path().join("store.db")).unwrap(),
        ));
        let secrets = LocalSecrets::new(dir.path().join("secrets.json"));
        let cfg = hubspot.with(|s| s.cfg.clone());
        secrets
            .put_app(&AppSecret {
                hubspot_client_id: cfg.client_id,
                hubspot_client_secret: SecretString::new(cfg.client_secret),
                state_signing_key: SecretString::new("bench"),
            })
            .await
            .unwrap();
        let tenant = TenantId::parse("bench-tenant").unwrap();
        suites::connected_tenant(&repo, &secrets, &tenant, PendoRegion::Us, &pendo, &hubspot).await;
        let config = tenant_config(&pendo);
        repo.put_config(&tenant, &config).await.unwrap();
        World {
            n,
            hubspot,
            pendo,
            dir,
            tenant,
        }
    }

    pub fn dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// The last complete day, as the worker sees it.
    pub fn today(&self) -> i32 {
        self.pendo.with(|s| s.data.cfg.today) - 1
    }

    /// A new day in which `percent` % of visitors were active (others inactive that day).
    pub fn next_day(&self, percent: usize) {
        let n = self.n;
        let k = n * percent / 100;
        self.pendo.with(|s| {
            sandboxes::pendo::apply_mutation(
                s,
                sandboxes::pendo::Mutation {
                    advance_days: 1,
                    activity: (0..k).map(|i| ((i * 7919) % n, -1, 20, 30)).collect(),
                    nps: vec![],
                    ..Default::default()
                },
            );
            // The new day is quiet except for those visitors, so the measured changes are theirs
            // plus what the 180-day windows sliding by one day changes.
            let today = s.data.cfg.today - 1;
            for v in 0..n {
                s.data.overrides.entry((v, today)).or_insert((0, 0));
            }
        });
    }
}

/// Every visitor gets a contact and every account a company, linked by our id properties, with
/// one pulled property each (`jobtitle`, `industry`).
pub fn seed_crm(hubspot: &HubSpotSandbox, pendo: &PendoSandbox) {
    let (emails, accounts) = pendo.with(|s| {
        (
            (0..s.data.cfg.visitors)
                .map(|v| s.data.email(v))
                .collect::<Vec<_>>(),
            (0..s.data.cfg.accounts)
                .map(|a| s.data.account_domain(a))
                .collect::<Vec<_>>(),
        )
    });
    hubspot.with(|s| {
        for (v, email) in emails.into_iter().enumerate() {
            s.insert(
                "contacts",
                BTreeMap::from([
                    ("email".to_string(), email),
                    ("pendo_visitor_id".to_string(), visitor_id(v)),
                    ("jobtitle".to_string(), format!("Role {}", v % 7)),
                ]),
            );
        }
        for (a, domain) in accounts.into_iter().enumerate() {
            s.insert(
                "companies",
                BTreeMap::from([
                    ("domain".to_string(), domain),
                    ("pendo_account_id".to_string(), account_id(a)),
                    ("industry".to_string(), format!("Industry {}", a % 5)),
                ]),
            );
        }
    });
}

/// The bench tenant's configuration: both pulls and the dataset's NPS guide.
pub fn tenant_config(pendo: &PendoSandbox) -> SyncConfig {
    let ds = pendo.with(|s| s.data.cfg.clone());
    serde_json::from_value(serde_json::json!({
        "pull": [
            {"object": "visitor", "hubspot_property": "jobtitle", "pendo_field": "hubspot_jobtitle"},
            {"object": "account", "hubspot_property": "industry", "pendo_field": "hubspot_industry"}
        ],
        "nps": {"guide_id": ds.nps_guide_id, "score_poll_id": ds.nps_score_poll, "text_poll_id": ds.nps_text_poll}
    }))
    .expect("config")
}
