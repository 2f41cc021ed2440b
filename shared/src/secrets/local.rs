//! Local secrets: one JSON file, created with mode 0600, rewritten atomically.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tokio::sync::Mutex;

use super::{AppSecret, Secrets, SecretsError, TenantSecrets};
use crate::domain::TenantId;

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    #[serde(default)]
    app: Option<AppSecret>,
    #[serde(default)]
    tenants: BTreeMap<String, TenantSecrets>,
}

pub struct LocalSecrets {
    path: PathBuf,
    lock: Mutex<()>,
}

impl LocalSecrets {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            lock: Mutex::new(()),
        }
    }

    fn name(&self) -> String {
        self.path.display().to_string()
    }

    async fn load(&self) -> Result<FileContents, SecretsError> {
        match tokio::fs::read(&self.path).await {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SecretsError::Malformed {
                name: self.name(),
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FileContents::default()),
            Err(e) => Err(SecretsError::Backend {
                operation: "read",
                name: self.name(),
                message: e.to_string(),
            }),
        }
    }

    async fn save(&self, contents: &FileContents) -> Result<(), SecretsError> {
        let err = |e: std::io::Error| SecretsError::Backend {
            operation: "write",
            name: self.name(),
            message: e.to_string(),
        };
        if let Some(dir) = self.path.parent() {
            tokio::fs::create_dir_all(dir).await.map_err(err)?;
        }
        let tmp = self.path.with_extension("tmp");
        let bytes = serde_json::to_vec_pretty(contents).expect("secrets serialise");
        // A stale temp file (a crash mid-write, or one made by hand) keeps its own mode if
        // opened in place, and the rename would carry that mode onto the secrets file: start
        // from a new file, always 0600.
        match tokio::fs::remove_file(&tmp).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(err(e)),
        }
        let mut opts = tokio::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        opts.mode(0o600);
        {
            use tokio::io::AsyncWriteExt;
            let mut f = opts.open(&tmp).await.map_err(err)?;
            f.write_all(&bytes).await.map_err(err)?;
            f.sync_all().await.map_err(err)?;
        }
        tokio::fs::rename(&tmp, &self.path).await.map_err(err)
    }

    /// Stores the app secret (local set-up only; in AWS it is created by the template).
    pub async fn put_app(&self, app: &AppSecret) -> Result<(), SecretsError> {
        let _g = self.lock.lock().await;
        let mut c = self.load().await?;
        c.app = Some(app.clone());
        self.save(&c).await
    }
}

#[async_trait]
impl Secrets for LocalSecrets {
    async fn tenant(&self, tenant: &TenantId) -> Result<TenantSecrets, SecretsError> {
        Ok(self
            .load()
            .await?
            .tenants
            .remove(tenant.as_str())
            .unwrap_or_default())
    }

    async fn put_tenant(
        &self,
        tenant: &TenantId,
        secrets: &TenantSecrets,
    ) -> Result<(), SecretsError> {
        let _g = self.lock.lock().await;
        let mut c = self.load().await?;
        c.tenants.insert(tenant.to_string(), secrets.clone());
        self.save(&c).await
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), SecretsError> {
        let _g = self.lock.lock().await;
        let mut c = self.load().await?;
        c.tenants.remove(tenant.as_str());
        self.save(&c).await
    }

    async fn app(&self) -> Result<AppSecret, SecretsError> {
        self.load()
            .await?
            .app
            .ok_or_else(|| SecretsError::NotFound {
                name: format!("{}#app", self.name()),
            })
    }
}
