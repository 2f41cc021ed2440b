//! Shared set-up for the three HTTP Lambdas: the application state from environment and AWS,
//! and the adapter from API Gateway's request context to what the routers read.

use std::sync::Arc;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use lambda_http::request::RequestContext;

use super::auth::{Authenticator, TrustedClaims};
use super::public_url::{PublicBase, RequestOrigin};
use super::{AppState, IntakeState};
use crate::aws::{required_env, DynamoClient, SecretsManagerClient, SqsClient};
use crate::queue::sqs::SqsQueue;
use crate::secrets::aws::AwsSecrets;
use crate::store::dynamo::DynamoStore;
use crate::store::repo::Repo;
use crate::worker::SecretConnectors;

/// Builds clients once per cold start. Config: TABLE_NAME, JOB_QUEUE_URL, APP_SECRET_ID,
/// TENANT_SECRET_PREFIX; optional PUBLIC_BASE_URL (a custom domain; empty = derived from each
/// request, see [`super::public_url`]); HUBSPOT_API_BASE, HUBSPOT_AUTHORIZE_URL and
/// PENDO_API_BASE point the clients at sandboxes.
pub async fn app_state_from_env() -> Result<AppState, String> {
    let base = intake_state_from_env().await?;
    let connectors = SecretConnectors::from_env(base.secrets.clone());
    let hubspot_api_base = connectors.hubspot.api_base.clone();
    let auth: Arc<dyn Authenticator> = Arc::new(TrustedClaims);
    Ok(AppState {
        repo: base.repo,
        queue: base.queue,
        connectors: Arc::new(connectors),
        secrets: base.secrets,
        auth,
        hubspot_api_base,
        hubspot_authorize_url: std::env::var("HUBSPOT_AUTHORIZE_URL")
            .unwrap_or_else(|_| crate::hubspot::paths::AUTHORIZE.into()),
        public_base: PublicBase::from_setting(std::env::var("PUBLIC_BASE_URL").ok().as_deref()),
    })
}

/// The webhook intake's state: store, secrets and queue only (TABLE_NAME, JOB_QUEUE_URL,
/// APP_SECRET_ID, TENANT_SECRET_PREFIX).
pub async fn intake_state_from_env() -> Result<IntakeState, String> {
    let config = crate::aws::sdk_config().await;
    Ok(IntakeState {
        secrets: Arc::new(AwsSecrets::new(
            SecretsManagerClient::new(&config),
            required_env("TENANT_SECRET_PREFIX")?,
            required_env("APP_SECRET_ID")?,
        )),
        repo: Repo::new(Arc::new(DynamoStore::new(
            DynamoClient::new(&config),
            required_env("TABLE_NAME")?,
        ))),
        queue: Arc::new(SqsQueue::new(
            SqsClient::new(&config),
            required_env("JOB_QUEUE_URL")?,
        )),
        public_base: PublicBase::from_setting(std::env::var("PUBLIC_BASE_URL").ok().as_deref()),
    })
}

/// Runs one HTTP surface under lambda_http (API Gateway HTTP API, payload 2.0).
pub async fn run_http(router: Router) -> Result<(), lambda_http::Error> {
    lambda_http::run(
        super::with_json_fallbacks(router).layer(axum::middleware::from_fn(from_api_gateway)),
    )
    .await
}

/// Hands the routers what API Gateway established: the request's public origin (domain name
/// and stage) and, on routes behind the JWT authorizer, the validated claims. API Gateway
/// builds `requestContext` itself, so a client cannot forge either.
async fn from_api_gateway(mut req: Request, next: Next) -> Response {
    if let Some(RequestContext::ApiGatewayV2(ctx)) = req.extensions().get::<RequestContext>() {
        let origin =
            RequestOrigin::from_api_gateway(ctx.domain_name.as_deref(), ctx.stage.as_deref());
        let claims = ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| claims_from_jwt(&jwt.claims));
        if let Some(o) = origin {
            req.extensions_mut().insert(o);
        }
        if let Some(c) = claims {
            req.extensions_mut().insert(c);
        }
    }
    next.run(req).await
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
