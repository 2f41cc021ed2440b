//! Public `POST /webhooks/pendo/{tenant}/{token}` → the webhook intake router. Builds only the
//! store, secrets and queue: the intake never calls Pendo or HubSpot.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json();
    let state = shared::api::lambda_setup::intake_state_from_env().await?;
    shared::api::lambda_setup::run_http(shared::api::webhooks::router(state)).await
}
