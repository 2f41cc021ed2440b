//! Stateful simulators of the HubSpot and Pendo APIs, written from the reference notes
//! (`../shared/reference/*.md`) on their own: nothing here imports the client's types, so a
//! misunderstanding shared by client and simulator cannot pass unnoticed.
//!
//! Each runs in-process on a free loopback port (tests, demo, benchmarks) or standalone
//! (`pendo-hubspot sandbox`). Both count requests by endpoint, enforce rate limits with 429,
//! and take injected faults through a `/_sandbox/faults` control endpoint.

pub mod hubspot;
mod limits;
pub mod pendo;

pub use limits::{Chaos, Fault, RollingLimit};

/// A running server; dropping it does not stop it (it lives as long as the runtime).
pub struct Running {
    pub base_url: String,
}

/// Runs a handler's work under a state lock on tokio's blocking pool. A search or pipeline
/// over a large portal or subscription holds its lock for a while; on a runtime worker it
/// would also hold up the other requests that worker should take up (two workers on two
/// cores: the server would stop accepting, then count a queued burst at once, which neither
/// HubSpot nor Pendo does).
pub(crate) async fn blocking(
    work: impl FnOnce() -> axum::response::Response + Send + 'static,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::task::spawn_blocking(work).await {
        Ok(response) => response,
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("sandbox handler failed: {e}"),
        )
            .into_response(),
    }
}

pub(crate) async fn serve(router: axum::Router, port: u16) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(Running {
        base_url: format!("http://{addr}"),
    })
}
