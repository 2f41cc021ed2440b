//! Public `GET /oauth/callback` → the OAuth callback router.

use lambda_http::{run, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_json();
    let state = shared::api::lambda_setup::app_state_from_env().await?;
    run(shared::api::oauth_callback::router(state)).await
}
