//! The three HTTP surfaces as axum routers: the admin API (`/v1/...`), the HubSpot OAuth
//! callback (`/oauth/callback`) and Pendo webhook intake (`/webhooks/pendo/...`). Each runs under
//! lambda_http in its own Lambda; the local runner mounts all three in one server.

pub mod admin;
pub mod auth;
pub mod console;
pub mod error;
pub mod hubspot_webhooks;
pub mod lambda_setup;
pub mod oauth_callback;
pub mod oauth_state;
pub mod openapi;
pub mod public_url;
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
    /// Where our public routes are reached: the OAuth redirect URI and the webhook URL shown
    /// to admins are built from it.
    pub public_base: public_url::PublicBase,
}

/// What the webhook intake needs, and no more: it never calls Pendo or HubSpot, so its
/// Lambda links neither client.
#[derive(Clone)]
pub struct IntakeState {
    pub repo: Repo,
    pub secrets: Arc<dyn Secrets>,
    pub queue: Arc<dyn Queue>,
    /// The URL HubSpot signs its webhook requests with is built from it.
    pub public_base: public_url::PublicBase,
}

impl From<AppState> for IntakeState {
    fn from(s: AppState) -> Self {
        Self {
            repo: s.repo,
            secrets: s.secrets,
            queue: s.queue,
            public_base: s.public_base,
        }
    }
}

pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Every surface in one router (local server).
pub fn all_routes(state: AppState) -> Router {
    with_json_fallbacks(
        Router::new()
            .merge(admin::router(state.clone()))
            .merge(oauth_callback::router(state.clone()))
            .merge(webhooks::router(state.into())),
    )
}

/// Unknown paths and methods answer with our error body, like every other error, instead of
/// the framework's empty 404/405. Applied once to the finished router (axum refuses to merge
/// two routers that both have a fallback).
pub fn with_json_fallbacks(router: Router) -> Router {
    router
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
}
