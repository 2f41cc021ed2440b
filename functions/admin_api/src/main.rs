//! API Gateway (HttpApi, JWT authorizer) → the admin router. The authorizer has validated the
//! token; `run_http` hands its claims to the app, which enforces tenant and role.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::telemetry::init_json();
    let state = shared::api::lambda_setup::app_state_from_env().await?;
    shared::api::lambda_setup::run_http(shared::api::admin::router(state)).await
}
