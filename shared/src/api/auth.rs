//! Who is calling. In AWS the HttpApi JWT authorizer validates the token and the admin_api
//! Lambda turns the authorizer's claims into [`Claims`] (a request extension); locally, bearer
//! tokens configured for the server map to the same claims. Either way the app enforces them:
//! an admin sees only their own tenant (another tenant is a 404), operators see all.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use super::error::ApiError;
use super::AppState;
use crate::domain::TenantId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages one tenant.
    Admin,
    /// Runs the service: every tenant, creation, listing.
    Operator,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub subject: String,
    pub role: Role,
    #[serde(default)]
    pub tenant_id: Option<TenantId>,
}

pub trait Authenticator: Send + Sync {
    fn authenticate(&self, parts: &Parts) -> Result<Claims, ApiError>;
}

/// Claims already established upstream (API Gateway's JWT authorizer) and put in the request
/// extensions by the Lambda adapter.
pub struct TrustedClaims;

impl Authenticator for TrustedClaims {
    fn authenticate(&self, parts: &Parts) -> Result<Claims, ApiError> {
        parts
            .extensions
            .get::<Claims>()
            .cloned()
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Local server: fixed bearer tokens → claims. Tokens are compared in constant time.
pub struct StaticTokens(pub HashMap<String, Claims>);

impl Authenticator for StaticTokens {
    fn authenticate(&self, parts: &Parts) -> Result<Claims, ApiError> {
        let token = parts
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(ApiError::unauthorized)?;
        self.0
            .iter()
            .find(|(t, _)| super::constant_time_eq(t.as_bytes(), token.as_bytes()))
            .map(|(_, c)| c.clone())
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The authenticated caller of an admin route.
pub struct Caller(pub Claims);

impl Caller {
    /// Admins reach only their own tenant; anything else looks like it does not exist.
    pub fn tenant(&self, id: &TenantId) -> Result<(), ApiError> {
        match self.0.role {
            Role::Operator => Ok(()),
            Role::Admin if self.0.tenant_id.as_ref() == Some(id) => Ok(()),
            Role::Admin => Err(ApiError::not_found("tenant")),
        }
    }

    pub fn operator(&self) -> Result<(), ApiError> {
        match self.0.role {
            Role::Operator => Ok(()),
            Role::Admin => Err(ApiError::forbidden(
                "this operation needs the operator role",
            )),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        state.auth.authenticate(parts).map(Caller)
    }
}

pub fn static_tokens(pairs: Vec<(String, Claims)>) -> Arc<dyn Authenticator> {
    Arc::new(StaticTokens(pairs.into_iter().collect()))
}
