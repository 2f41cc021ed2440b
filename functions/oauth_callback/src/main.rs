//! Public `GET /oauth/callback` → the OAuth callback router.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json();
    let state = shared::api::lambda_setup::app_state_from_env().await?;
    shared::api::lambda_setup::run_http(shared::api::oauth_callback::router(state)).await
}
