use serde::Deserialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A rolling-window limit as the real APIs enforce it; remembers the busiest window it saw.
#[derive(Debug)]
pub struct RollingLimit {
    pub max: usize,
    pub window: Duration,
    seen: VecDeque<Instant>,
    pub rejected: u64,
    pub peak: usize,
}

impl RollingLimit {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            seen: VecDeque::new(),
            rejected: 0,
            peak: 0,
        }
    }

    /// Records a request arriving now; `false` = over the limit (the caller answers 429).
    pub fn admit(&mut self) -> bool {
        self.admit_at(Instant::now())
    }

    /// Records a request that arrived at `at`; `false` = over the limit. The real APIs count
    /// a request at their gateway, when it arrives, not when their backend gets round to it:
    /// a request that waited for the sandbox's lock behind a long search or batch write
    /// still counts from its arrival. Arrivals admitted out of order are kept in order, and
    /// the window is the one ending at `at` (later arrivals already admitted count too).
    pub fn admit_at(&mut self, at: Instant) -> bool {
        while self
            .seen
            .front()
            .is_some_and(|t| at.saturating_duration_since(*t) >= self.window)
        {
            self.seen.pop_front();
        }
        if self.seen.len() >= self.max {
            self.rejected += 1;
            return false;
        }
        let i = self.seen.partition_point(|t| *t <= at);
        self.seen.insert(i, at);
        self.peak = self.peak.max(self.seen.len());
        true
    }
}

/// A fault injected into the next `count` matching requests.
#[derive(Clone, Debug, Deserialize)]
pub struct Fault {
    /// `"429"`, `"500"`, `"502"`, `"503"`, `"slow"`, `"drop"` (the connection breaks mid-response,
    /// nothing processed), `"cut"` (processed, then the response body breaks off: the client
    /// cannot know the request succeeded).
    pub kind: String,
    #[serde(default = "one")]
    pub count: u32,
    /// For `slow`: added latency.
    #[serde(default)]
    pub delay_ms: u64,
    /// Only requests whose path contains this (default: all API requests). The OAuth token
    /// endpoint only takes faults that name it (e.g. `"/oauth/v3/token"`).
    #[serde(default)]
    pub path_contains: Option<String>,
    /// For `429`: a `Retry-After` header (seconds) on the answer.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
}

fn one() -> u32 {
    1
}

/// Takes the first fault for `path`: one naming a part of it, or one naming no path.
pub(crate) fn take_fault(faults: &mut Vec<Fault>, path: &str) -> Option<Fault> {
    take_first(faults, |f| {
        f.path_contains.as_deref().is_none_or(|p| path.contains(p))
    })
}

/// Like [`take_fault`], but only faults that name a path: OAuth endpoints sit outside the API
/// gate, and a fault meant for "all API requests" must not break the token refresh behind them.
pub(crate) fn take_targeted_fault(faults: &mut Vec<Fault>, path: &str) -> Option<Fault> {
    take_first(faults, |f| {
        f.path_contains.as_deref().is_some_and(|p| path.contains(p))
    })
}

/// Spends one use of the first fault that `applies`; a fault whose uses run out is removed.
fn take_first(faults: &mut Vec<Fault>, applies: impl Fn(&Fault) -> bool) -> Option<Fault> {
    let idx = faults.iter().position(applies)?;
    let f = faults[idx].clone();
    faults[idx].count -= 1;
    if faults[idx].count == 0 {
        faults.remove(idx);
    }
    Some(f)
}

/// State that takes injected faults (both sandboxes).
pub(crate) trait Faulty: Send + 'static {
    fn faults(&mut self) -> &mut Vec<Fault>;
}

/// `POST /_sandbox/faults`: queue a fault for the next matching requests.
pub(crate) fn fault_route<S: Faulty>(
) -> axum::routing::MethodRouter<std::sync::Arc<std::sync::Mutex<S>>> {
    axum::routing::post(
        |axum::extract::State(s): axum::extract::State<std::sync::Arc<std::sync::Mutex<S>>>,
         axum::Json(f): axum::Json<Fault>| async move {
            s.lock().unwrap().faults().push(f);
            axum::http::StatusCode::NO_CONTENT
        },
    )
}

/// The answer to a request that was processed, with its body cut off after a few bytes.
pub(crate) fn cut_body(status: axum::http::StatusCode) -> axum::response::Response {
    let stream = futures::stream::iter([
        Ok(axum::body::Bytes::from_static(b"{\"id\":")),
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: cut",
        )),
    ]);
    axum::response::Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("content-length", "1000")
        .body(axum::body::Body::from_stream(stream))
        .expect("response")
}

/// A response whose body breaks off: the client sees a dropped connection, not an HTTP error.
pub(crate) fn dropped_connection() -> axum::response::Response {
    let stream = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "sandbox fault: dropped",
        ))
    });
    axum::response::Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("content-length", "1000")
        .body(axum::body::Body::from_stream(stream))
        .expect("response")
}

/// Faults at random, seeded so a failing run can be replayed: each API request (past auth and
/// rate limits) gets one of `kinds` with probability `rate`. Counts what it injected, by kind.
#[derive(Debug)]
pub struct Chaos {
    rng: rand::rngs::StdRng,
    /// Probability (0..=1) that a request gets a fault.
    pub rate: f64,
    /// Fault kinds drawn from, as in [`Fault::kind`].
    pub kinds: Vec<&'static str>,
    /// Faults injected so far, by kind.
    pub injected: std::collections::BTreeMap<String, u64>,
}

impl Chaos {
    /// Every fault kind a sandbox answers with: rate limits, server errors, latency, a broken
    /// connection before processing, and a body cut off after processing.
    pub const ALL_KINDS: &'static [&'static str] =
        &["429", "500", "502", "503", "slow", "drop", "cut"];

    pub fn new(seed: u64, rate: f64) -> Self {
        use rand::SeedableRng;
        Self {
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            rate,
            kinds: Self::ALL_KINDS.to_vec(),
            injected: Default::default(),
        }
    }

    /// Draws the fault for one request, if any (and counts it).
    pub fn draw(&mut self) -> Option<Fault> {
        use rand::Rng;
        if self.kinds.is_empty() || !self.rng.random_bool(self.rate.clamp(0.0, 1.0)) {
            return None;
        }
        let kind = self.kinds[self.rng.random_range(0..self.kinds.len())];
        *self.injected.entry(kind.to_string()).or_default() += 1;
        Some(Fault {
            kind: kind.to_string(),
            count: 1,
            delay_ms: if kind == "slow" { 200 } else { 0 },
            path_contains: None,
            retry_after_secs: None,
        })
    }

    /// Total faults injected.
    pub fn total(&self) -> u64 {
        self.injected.values().sum()
    }
}

#[cfg(test)]
mod tests {
    use super::RollingLimit;
    use std::time::{Duration, Instant};

    /// A request is counted from its arrival: the sixth arrival a full window after the first
    /// is admitted even when the gate gets to it late, the sixth within the window is not,
    /// whatever order the gate takes them in.
    #[test]
    fn requests_count_from_their_arrival() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut l = RollingLimit::new(5, Duration::from_secs(1));
        for n in [0, 100, 200, 300] {
            assert!(l.admit_at(ms(n)));
        }
        // Arrived at 1 050 and at 400, taken up in that order.
        assert!(
            l.admit_at(ms(1_050)),
            "the arrival at 0 left the window at 1 000"
        );
        assert!(l.admit_at(ms(400)));
        assert!(!l.admit_at(ms(1_090)), "100..1 050: five in the window");
        assert_eq!(l.rejected, 1);
        assert!(l.admit_at(ms(1_100)));
        assert_eq!(l.peak, 5);
    }
}
