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
