//! AWS Secrets Manager adapter: `<prefix>tenant/<id>` per tenant, one app secret by name or ARN.

use async_trait::async_trait;
use aws_sdk_secretsmanager::error::DisplayErrorContext;
use aws_sdk_secretsmanager::Client;

use super::{tenant_secret_name, AppSecret, Secrets, SecretsError, TenantSecrets};
use crate::domain::TenantId;

pub struct AwsSecrets {
    client: Client,
    prefix: String,
    app_secret_id: String,
}

impl AwsSecrets {
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        app_secret_id: impl Into<String>,
    ) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            app_secret_id: app_secret_id.into(),
        }
    }

    async fn read(&self, name: &str) -> Result<Option<String>, SecretsError> {
        // The stage is explicit: after a rotation moves AWSCURRENT it is the only reliable read
        // (moto returns the old value without it).
        match self
            .client
            .get_secret_value()
            .secret_id(name)
            .version_stage("AWSCURRENT")
            .send()
            .await
        {
            Ok(out) => Ok(out.secret_string),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(SecretsError::Backend {
                operation: "get",
                name: name.to_string(),
                message: DisplayErrorContext(e).to_string(),
            }),
        }
    }
}

#[async_trait]
impl Secrets for AwsSecrets {
    async fn tenant(&self, tenant: &TenantId) -> Result<TenantSecrets, SecretsError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        match self.read(&name).await? {
            Some(s) => serde_json::from_str(&s).map_err(|e| SecretsError::Malformed {
                name,
                reason: e.to_string(),
            }),
            None => Ok(TenantSecrets::default()),
        }
    }

    async fn put_tenant(
        &self,
        tenant: &TenantId,
        secrets: &TenantSecrets,
    ) -> Result<(), SecretsError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        let body = serde_json::to_string(secrets).expect("secrets serialise");
        let put = self
            .client
            .put_secret_value()
            .secret_id(&name)
            .secret_string(&body)
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                self.client
                    .create_secret()
                    .name(&name)
                    .secret_string(body)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| SecretsError::Backend {
                        operation: "create",
                        name,
                        message: DisplayErrorContext(e).to_string(),
                    })
            }
            Err(e) => Err(SecretsError::Backend {
                operation: "put",
                name,
                message: DisplayErrorContext(e).to_string(),
            }),
        }
    }

    async fn delete_tenant(&self, tenant: &TenantId) -> Result<(), SecretsError> {
        let name = tenant_secret_name(&self.prefix, tenant);
        match self
            .client
            .delete_secret()
            .secret_id(&name)
            .force_delete_without_recovery(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(SecretsError::Backend {
                operation: "delete",
                name,
                message: DisplayErrorContext(e).to_string(),
            }),
        }
    }

    async fn app(&self) -> Result<AppSecret, SecretsError> {
        let raw = self
            .read(&self.app_secret_id)
            .await?
            .ok_or_else(|| SecretsError::NotFound {
                name: self.app_secret_id.clone(),
            })?;
        serde_json::from_str(&raw).map_err(|e| SecretsError::Malformed {
            name: self.app_secret_id.clone(),
            reason: e.to_string(),
        })
    }
}
