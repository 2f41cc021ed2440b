//! The three HTTP surfaces as axum routers: the admin API (`/v1/...`), the HubSpot OAuth
//! callback (`/oauth/callback`) and Pendo webhook intake (`/webhooks/pendo/...`). Each runs under
//! lambda_http in its own Lambda; the local runner mounts all three in one server.

pub mod admin;
pub mod auth;
pub mod error;
pub mod lambda_setup;
pub mod oauth_callback;
pub mod oauth_state;
pub mod openapi;
pub mod webhooks;

use axum::Router;
use std::sync::Arc;

use crate::queue::Queue;
use crate::secrets::Secrets;
use crate::store::repo::Repo;
use crate::worker::Connectors;

pub use auth::{Authenticator, Claims, Role};
pub use error::ApiError;

/// Largest request body any route accepts.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Clone)]
pub struct AppState {
    pub repo: Repo,
    pub secrets: Arc<dyn Secrets>,
    pub queue: Arc<dyn Queue>,
    pub connectors: Arc<dyn Connectors>,
    pub auth: Arc<dyn Authenticator>,
    /// HubSpot API base (token exchange, revoke).
    pub hubspot_api_base: String,
    /// HubSpot consent page.
    pub hubspot_authorize_url: String,
    /// Our OAuth callback URL, registered with the HubSpot app.
    pub redirect_uri: String,
    /// Public base URL of the webhook endpoint, for the URL shown to admins.
    pub public_base_url: String,
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Every surface in one router (local server).
pub fn all_routes(state: AppState) -> Router {
    Router::new()
        .merge(admin::router(state.clone()))
        .merge(oauth_callback::router(state.clone()))
        .merge(webhooks::router(state))
}
