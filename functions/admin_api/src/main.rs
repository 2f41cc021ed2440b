//! API Gateway (HttpApi, JWT authorizer) → the admin router. The authorizer has validated the
//! token; this adapter hands its claims to the app, which enforces tenant and role.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use lambda_http::request::RequestContext;
use lambda_http::{run, Error};

async fn claims_from_authorizer(mut req: Request, next: Next) -> Response {
    let claims = match req.extensions().get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| shared::api::lambda_setup::claims_from_jwt(&jwt.claims)),
        _ => None,
    };
    if let Some(c) = claims {
        req.extensions_mut().insert(c);
    }
    next.run(req).await
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    shared::telemetry::init_json();
    let state = shared::api::lambda_setup::app_state_from_env().await?;
    let app =
        shared::api::admin::router(state).layer(axum::middleware::from_fn(claims_from_authorizer));
    run(app).await
}
