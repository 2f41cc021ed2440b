//! Structured JSON logs. Tenant and run ids travel as span fields, so every line inside a
//! job's span carries them.

use tracing_subscriber::{fmt, EnvFilter};

/// JSON lines on stdout (CloudWatch), level from `RUST_LOG` (default `info`).
pub fn init_json() {
    let _ = fmt()
        .json()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .try_init();
}
