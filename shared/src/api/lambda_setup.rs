//! Shared set-up for the three HTTP Lambdas: the application state from environment and AWS.

use std::sync::Arc;

use super::auth::{Authenticator, TrustedClaims};
use super::AppState;
use crate::aws::{required_env, DynamoClient, SecretsManagerClient, SqsClient};
use crate::hubspot::HubSpotConfig;
use crate::queue::sqs::SqsQueue;
use crate::secrets::aws::AwsSecrets;
use crate::store::dynamo::DynamoStore;
use crate::store::repo::Repo;
use crate::worker::SecretConnectors;

/// Builds clients once per cold start. Config: TABLE_NAME, JOB_QUEUE_URL, APP_SECRET_ID,
/// TENANT_SECRET_PREFIX, OAUTH_REDIRECT_URI, PUBLIC_BASE_URL (and HUBSPOT_API_BASE to point at
/// a sandbox).
pub async fn app_state_from_env() -> Result<AppState, String> {
    let config = crate::aws::sdk_config().await;
    let secrets = Arc::new(AwsSecrets::new(
        SecretsManagerClient::new(&config),
        required_env("TENANT_SECRET_PREFIX")?,
        required_env("APP_SECRET_ID")?,
    ));
    let hubspot_api_base =
        std::env::var("HUBSPOT_API_BASE").unwrap_or_else(|_| "https://api.hubapi.com".into());
    let redirect_uri = required_env("OAUTH_REDIRECT_URI")?;
    let auth: Arc<dyn Authenticator> = Arc::new(TrustedClaims);
    Ok(AppState {
        repo: Repo::new(Arc::new(DynamoStore::new(
            DynamoClient::new(&config),
            required_env("TABLE_NAME")?,
        ))),
        queue: Arc::new(SqsQueue::new(
            SqsClient::new(&config),
            required_env("JOB_QUEUE_URL")?,
        )),
        connectors: Arc::new(SecretConnectors {
            secrets: secrets.clone(),
            hubspot: HubSpotConfig {
                api_base: hubspot_api_base.clone(),
                ..Default::default()
            },
            redirect_uri: redirect_uri.clone(),
            pendo_base_override: None,
            pendo_requests_per_second: 10,
        }),
        secrets,
        auth,
        hubspot_api_base,
        hubspot_authorize_url: crate::hubspot::paths::AUTHORIZE.into(),
        redirect_uri,
        public_base_url: required_env("PUBLIC_BASE_URL")?,
    })
}

/// Maps the JWT authorizer's claims (`sub`, `tenant_id`, `role`) to our [`super::Claims`].
pub fn claims_from_jwt(
    claims: &std::collections::HashMap<String, String>,
) -> Option<super::Claims> {
    let role = match claims
        .get("role")
        .or_else(|| claims.get("custom:role"))?
        .as_str()
    {
        "operator" => super::Role::Operator,
        "admin" => super::Role::Admin,
        _ => return None,
    };
    let tenant_id = claims
        .get("tenant_id")
        .or_else(|| claims.get("custom:tenant_id"))
        .and_then(|t| crate::domain::TenantId::parse(t).ok());
    Some(super::Claims {
        subject: claims.get("sub").cloned().unwrap_or_default(),
        role,
        tenant_id,
    })
}
