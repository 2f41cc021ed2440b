//! What both API clients share: a rolling-window rate limiter, bounded retries with jittered
//! exponential backoff, and per-kind call counters for run records and benchmarks.

mod cancel;
mod isolate;
mod limiter;
mod retry;

pub use cancel::{Cancel, Stopped};
pub use isolate::{first_per_key, send_isolating, Isolated};
pub use limiter::RollingWindowLimiter;
pub use retry::{backoff_delay, Exhausted, RetryPolicy};

use std::collections::BTreeMap;
use std::sync::Mutex;

/// A reqwest client builder on the process's one TLS stack (rustls with ring, see
/// [`crate::aws::install_crypto_provider`]).
pub fn client_builder() -> reqwest::ClientBuilder {
    crate::aws::install_crypto_provider();
    reqwest::Client::builder()
}

/// API calls by kind (`hubspot.write`, `pendo.aggregation`, ...), including retries.
#[derive(Default, Debug)]
pub struct CallCounter {
    counts: Mutex<BTreeMap<String, u64>>,
}

impl CallCounter {
    pub fn incr(&self, kind: &str) {
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry(kind.to_string())
            .or_default() += 1;
    }
    pub fn snapshot(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counter lock").clone()
    }
    pub fn get(&self, kind: &str) -> u64 {
        self.counts
            .lock()
            .expect("counter lock")
            .get(kind)
            .copied()
            .unwrap_or(0)
    }
    pub fn total(&self) -> u64 {
        self.counts.lock().expect("counter lock").values().sum()
    }
}

/// Difference of two snapshots (calls made between them).
pub fn calls_since(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}
