//! Exponential backoff with jitter: the one policy the dispatcher (handler retries, store
//! errors) and the API client (WeCom's busy answers) share.

use std::time::Duration;

use rand::Rng;

/// Delays that double from `base` up to `max`, each scaled by a random factor in
/// `[1 - jitter, 1]` so that many waiters do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The first delay.
    pub base: Duration,
    /// No delay exceeds this.
    pub max: Duration,
    /// How much of each delay may be taken off at random, `0.0..=1.0`.
    pub jitter: f64,
}

impl Backoff {
    /// A policy from `base` to `max` with 20% jitter.
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff {
            base,
            max,
            jitter: 0.2,
        }
    }

    /// The delay after the `n`th failure, counting from 1: `base · 2^(n-1)`, capped, jittered.
    pub fn delay(&self, n: u32) -> Duration {
        let doubled = self
            .base
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1).min(30)));
        let capped = doubled.min(self.max);
        let jitter = self.jitter.clamp(0.0, 1.0);
        if jitter == 0.0 {
            return capped;
        }
        capped.mul_f64(rand::thread_rng().gen_range(1.0 - jitter..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_and_stays_capped() {
        let b = Backoff {
            base: Duration::from_millis(200),
            max: Duration::from_secs(1),
            jitter: 0.5,
        };
        let first = b.delay(1);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(200));
        let third = b.delay(3);
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(800));
        assert!(b.delay(40) <= Duration::from_secs(1));
        assert_eq!(
            Backoff { jitter: 0.0, ..b }.delay(2),
            Duration::from_millis(400)
        );
    }
}
