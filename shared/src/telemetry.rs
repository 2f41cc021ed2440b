//! Structured JSON logs. Tenant and run ids travel as span fields, so every line inside a
//! job's span carries them.

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// JSON lines on stdout (CloudWatch), level from `RUST_LOG` (default `info`), in the
/// `level` / `target=level,…` syntax. `Targets` rather than `EnvFilter`: the same directives
/// without a regex engine in every Lambda binary.
pub fn init_json() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(tracing::Level::INFO));
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_target(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}
