use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// At most `max` requests in any rolling `window`. HubSpot enforces a *rolling* 10-second window,
/// so a token bucket (which allows a full burst right after a full refill) would overrun it.
///
/// The server counts a request when it arrives, some time between our send and its answer. A
/// request's place in the window therefore counts from its answer ([`Sent::answered`]), which
/// is never before the server saw it, or from its send plus a guard when the answer takes
/// longer than the guard (the server is assumed to have seen it by then). A quick answer thus
/// costs only its latency, never a 429; a slow one costs the guard, which adapts: it starts at
/// a fortieth of the window (at most 250 ms), doubles on each 429 (`penalize`, up to a fifth
/// of the window, at most 2 s) and gives back a sixteenth of itself after each full window of
/// requests without one.
pub struct RollingWindowLimiter {
    max: usize,
    window: Duration,
    guard_floor: Duration,
    guard_ceiling: Duration,
    state: Mutex<WindowState>,
}

struct WindowState {
    slots: Vec<Slot>,
    next_id: u64,
    guard: Duration,
    /// Requests granted since the guard last changed.
    granted: usize,
}

struct Slot {
    id: u64,
    sent: Instant,
    answered: Option<Instant>,
}

impl Slot {
    /// When the server has seen the request at the latest.
    fn seen_by(&self, guard: Duration) -> Instant {
        let late = self.sent + guard;
        self.answered.map_or(late, |a| a.min(late))
    }
}

/// A request let through by [`RollingWindowLimiter::acquire`]; call [`Sent::answered`] when
/// its response (status line and headers) arrives. Dropped without it, the request counts
/// from its send plus the guard.
#[must_use]
pub struct Sent<'a> {
    limiter: &'a RollingWindowLimiter,
    id: u64,
}

impl Sent<'_> {
    pub fn answered(self) {
        let now = Instant::now();
        let mut state = self.limiter.lock();
        if let Some(slot) = state.slots.iter_mut().find(|s| s.id == self.id) {
            slot.answered = Some(now);
        }
    }
}

impl RollingWindowLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        let guard_floor = (window / 40).min(Duration::from_millis(250));
        let guard_ceiling = (window / 5).min(Duration::from_secs(2)).max(guard_floor);
        Self {
            max: max.max(1),
            window,
            guard_floor,
            guard_ceiling,
            state: Mutex::new(WindowState {
                slots: Vec::new(),
                next_id: 0,
                guard: guard_floor,
                granted: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, WindowState> {
        // The state stays consistent at every step, so a panic elsewhere leaves it usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until one more request fits the window, then records it as sent now.
    pub async fn acquire(&self) -> Sent<'_> {
        loop {
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                let (guard, window) = (state.guard, self.window);
                state.slots.retain(|s| now < s.seen_by(guard) + window);
                if state.slots.len() < self.max {
                    let id = state.next_id;
                    state.next_id += 1;
                    state.slots.push(Slot {
                        id,
                        sent: now,
                        answered: None,
                    });
                    state.granted += 1;
                    if state.granted >= self.max {
                        state.granted = 0;
                        state.guard = (state.guard - state.guard / 16).max(self.guard_floor);
                    }
                    return Sent { limiter: self, id };
                }
                let free_at = state
                    .slots
                    .iter()
                    .map(|s| s.seen_by(guard) + window)
                    .min()
                    .expect("a full window has slots");
                free_at - now
            };
            tokio::time::sleep(wait + Duration::from_millis(1)).await;
        }
    }

    /// After a 429 the server's view is what counts: treat the window as full for `pause`, and
    /// widen the guard so the pace that drew the 429 is not repeated.
    pub fn penalize(&self, pause: Duration) {
        let mut state = self.lock();
        state.guard = (state.guard * 2).min(self.guard_ceiling);
        state.granted = 0;
        let until = Instant::now() + pause;
        let stamp = until.checked_sub(self.window).unwrap_or_else(Instant::now);
        let first = state.next_id;
        state.next_id += self.max as u64;
        state.slots = (first..state.next_id)
            .map(|id| Slot {
                id,
                sent: stamp,
                answered: Some(stamp),
            })
            .collect();
    }

    /// The guard now added to a slow request's send time.
    pub fn guard(&self) -> Duration {
        self.lock().guard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests sent one after another, each answered `latency` after its send; returns the
    /// send times from the start.
    async fn send(l: &RollingWindowLimiter, n: usize, latency: Duration) -> Vec<Duration> {
        let start = Instant::now();
        let mut stamps = Vec::new();
        for _ in 0..n {
            let sent = l.acquire().await;
            stamps.push(Instant::now().duration_since(start));
            tokio::time::sleep(latency).await;
            sent.answered();
        }
        stamps
    }

    fn most_in_any(stamps: &[Duration], window: Duration) -> usize {
        (0..stamps.len())
            .map(|i| {
                stamps[i..]
                    .iter()
                    .filter(|u| **u < stamps[i] + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn never_more_than_max_in_any_window() {
        let l = RollingWindowLimiter::new(5, Duration::from_secs(1));
        let stamps = send(&l, 12, Duration::ZERO).await;
        assert_eq!(most_in_any(&stamps, Duration::from_secs(1)), 5);
        assert!(stamps[11] >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_quick_answer_costs_its_latency_a_slow_one_the_guard() {
        let w = Duration::from_secs(1);
        // Answered in 10 ms (under the 25 ms guard): request n+5 goes 1.01 s after request n,
        // so the server, which saw request n by its answer, never counts six in a window.
        let l = RollingWindowLimiter::new(5, w);
        let quick = send(&l, 11, Duration::from_millis(10)).await;
        assert!(quick[5] - quick[0] >= Duration::from_millis(1010));
        assert!(quick[10] - quick[0] < Duration::from_millis(2050));
        // Not answered yet (a slow request): counted from send + 25 ms.
        let l = RollingWindowLimiter::new(5, w);
        let start = Instant::now();
        let pending: Vec<Sent<'_>> = futures::future::join_all((0..5).map(|_| l.acquire())).await;
        let sixth = l.acquire().await;
        let waited = Instant::now().duration_since(start);
        assert!(waited >= Duration::from_millis(1025), "{waited:?}");
        assert!(waited < Duration::from_millis(1100), "{waited:?}");
        drop((pending, sixth));
    }

    #[tokio::test(start_paused = true)]
    async fn the_guard_doubles_on_429s_and_decays_back_to_its_floor() {
        let l = RollingWindowLimiter::new(5, Duration::from_secs(1));
        assert_eq!(l.guard(), Duration::from_millis(25));
        l.penalize(Duration::from_secs(1));
        l.penalize(Duration::from_secs(1));
        assert_eq!(l.guard(), Duration::from_millis(100));
        for _ in 0..5 {
            l.penalize(Duration::from_secs(1));
        }
        assert_eq!(l.guard(), Duration::from_millis(200), "capped at a fifth");

        // The penalty holds the window shut for the pause, then slow requests flow at the
        // wider pace.
        let start = Instant::now();
        let pending: Vec<Sent<'_>> = futures::future::join_all((0..5).map(|_| l.acquire())).await;
        let first = Instant::now();
        assert!(first.duration_since(start) >= Duration::from_millis(999));
        let sixth = l.acquire().await;
        let waited = Instant::now().duration_since(first);
        assert!(
            waited >= Duration::from_millis(1180),
            "a window of 1 s + the wider guard (less the 1/16 given back after five requests) between request n and n+5: {waited:?}"
        );
        drop((pending, sixth));

        // A window of requests without a 429 gives back 1/16; enough of them return it to
        // the floor.
        let before = l.guard();
        send(&l, 5, Duration::ZERO).await;
        assert!(l.guard() < before);
        send(&l, 5 * 40, Duration::ZERO).await;
        assert_eq!(l.guard(), Duration::from_millis(25));
    }
}
