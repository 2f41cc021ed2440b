//! The `Secrets` port: one secret per tenant (Pendo integration key, HubSpot refresh token,
//! webhook token) and one app secret (HubSpot client id/secret, state-signing key).

pub mod aws;
pub mod local;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::TenantId;
use crate::secret::SecretString;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSecrets {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pendo_integration_key: Option<SecretString>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hubspot_refresh_token: Option<SecretString>,
    /// Authenticates Pendo's webhook calls for this tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_token: Option<SecretString>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSecret {
    pub hubspot_client_id: String,
    pub hubspot_client_secret: SecretString,
    /// HMAC key for OAuth `state` values.
    pub state_signing_key: SecretString,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("secret {name} not found")]
    NotFound { name: String },
    #[error("secret {name} is malformed: {reason}")]
    Malformed { name: String, reason: String },
    #[error("secrets backend error during {operation} on {name}: {message}")]
    Backend {
        operation: &'static str,
        name: String,
        message: String,
    },
}

#[async_trait]
pub trait Secrets: Send + Sync {
    /// The tenant's secrets; an empty set if none were stored yet.
    async fn tenant(&self, tenant: &TenantId) -> Result<TenantSecrets, SecretsError>;
    async fn put_tenant(
        &self,
        tenant: &TenantId,
        secrets: &TenantSecrets,
    ) -> Result<(), SecretsError>;
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), SecretsError>;
    async fn app(&self) -> Result<AppSecret, SecretsError>;
}

pub(crate) fn tenant_secret_name(prefix: &str, tenant: &TenantId) -> String {
    format!("{prefix}tenant/{tenant}")
}
