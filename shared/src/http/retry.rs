use std::time::Duration;

/// Bounded retries with jittered exponential backoff.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 8,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(20),
        }
    }
}

/// Returned when the attempts are used up; each client maps it to its own error type.
#[derive(Debug)]
pub struct Exhausted {
    pub attempts: u32,
    pub last: String,
}

impl RetryPolicy {
    /// Sleeps before the next attempt, or gives up after `max_attempts`.
    pub async fn pause(
        &self,
        api: &str,
        operation: &str,
        attempt: u32,
        reason: String,
        retry_after: Option<Duration>,
    ) -> Result<(), Exhausted> {
        if attempt >= self.max_attempts {
            return Err(Exhausted {
                attempts: attempt,
                last: reason,
            });
        }
        tracing::debug!(api, operation, attempt, reason = %reason, "retrying");
        tokio::time::sleep(backoff_delay(self, attempt, retry_after)).await;
        Ok(())
    }
}

/// "Full jitter" backoff for `attempt` (1-based), unless the server said how long to wait.
pub fn backoff_delay(
    policy: &RetryPolicy,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    if let Some(ra) = retry_after {
        return ra.min(policy.cap * 3);
    }
    let exp = policy
        .base
        .saturating_mul(1u32 << attempt.min(16))
        .min(policy.cap);
    let ms = exp.as_millis().max(1) as u64;
    Duration::from_millis(ms / 2 + rand::random::<u64>() % (ms / 2 + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let p = RetryPolicy::default();
        for a in 1..20 {
            let d = backoff_delay(&p, a, None);
            assert!(d <= p.cap, "{d:?}");
        }
        assert_eq!(
            backoff_delay(&p, 1, Some(Duration::from_secs(2))),
            Duration::from_secs(2)
        );
    }
}
