use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// At most `max` requests in any rolling `window`. HubSpot enforces a *rolling* 10-second window,
/// so a token bucket (which allows a full burst right after a full refill) would overrun it.
pub struct RollingWindowLimiter {
    max: usize,
    window: Duration,
    sent: Mutex<VecDeque<Instant>>,
}

impl RollingWindowLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        // The server stamps a request when it arrives, we when we send: network jitter can make
        // two requests look closer there than here. A small guard keeps us inside its window.
        // It is paid on every request: a tenth of search's 1 s window cost 9 % of its rate
        // (4.5 searches/s), which set the daily sync's pace; 2.5 % (25 ms, 250 ms for the
        // 10 s window) covers jitter, and a 429 that still slips through only pauses
        // (`penalize`) and is retried.
        let guard = (window / 40).min(Duration::from_millis(250));
        Self {
            max: max.max(1),
            window: window + guard,
            sent: Mutex::new(VecDeque::new()),
        }
    }

    /// Waits until one more request fits the window, then records it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut sent = self.sent.lock().await;
                let now = Instant::now();
                while sent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= self.window)
                {
                    sent.pop_front();
                }
                if sent.len() < self.max {
                    sent.push_back(now);
                    return;
                }
                self.window - now.duration_since(*sent.front().expect("non-empty"))
            };
            tokio::time::sleep(wait + Duration::from_millis(1)).await;
        }
    }

    /// After a 429 the server's view is what counts: treat the window as full for `pause`.
    pub async fn penalize(&self, pause: Duration) {
        let mut sent = self.sent.lock().await;
        let until = Instant::now() + pause;
        let stamp = until.checked_sub(self.window).unwrap_or_else(Instant::now);
        sent.clear();
        for _ in 0..self.max {
            sent.push_back(stamp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_max_in_any_window() {
        let l = RollingWindowLimiter::new(5, Duration::from_secs(1));
        let start = Instant::now();
        let mut stamps = Vec::new();
        for _ in 0..12 {
            l.acquire().await;
            stamps.push(Instant::now().duration_since(start));
        }
        for (i, t) in stamps.iter().enumerate() {
            let in_window = stamps[i..]
                .iter()
                .filter(|u| **u < *t + Duration::from_secs(1))
                .count();
            assert!(
                in_window <= 5,
                "{in_window} requests within one window at {t:?}"
            );
        }
        assert!(stamps[11] >= Duration::from_secs(2));
    }
}
