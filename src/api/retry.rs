//! How long to wait before retrying a call WeCom answered with busy (-1) or the concurrency
//! limit (45033): exponential backoff with jitter, a bounded number of times. (The frequency
//! limit, 45009, is not retried at once: see [`client`](super::client).)

use std::time::Duration;

use rand::Rng;

/// The retry budget for busy answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt (the official advice for -1 is at most 3).
    pub(crate) max_retries: u32,
    /// The delay before the first retry; each further retry doubles it.
    pub(crate) base_delay: Duration,
    /// No single delay exceeds this.
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based): `base · 2^retry`, capped, then scaled by
    /// a random factor in `[0.5, 1.0]` so that many clients do not retry in lockstep.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let exponential = self.base_delay.saturating_mul(1u32 << retry.min(16));
        let capped = exponential.min(self.max_delay);
        capped.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_capped() {
        let policy = RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(1),
        };
        let first = policy.delay(0);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
        let third = policy.delay(2);
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
        assert!(policy.delay(40) <= Duration::from_secs(1));
    }
}
