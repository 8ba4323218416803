//! How long to wait before retrying a call WeCom answered with busy (-1) or the concurrency
//! limit (45033): the crate's one [`Backoff`], a bounded number of times. (The frequency limit,
//! 45009, is not retried at once: see [`client`](super::client).)

use std::time::Duration;

use crate::backoff::Backoff;

/// The retry budget for busy answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RetryPolicy {
    /// Retries after the first attempt (the official advice for -1 is at most 3).
    pub(crate) max_retries: u32,
    /// The delays: from 200 ms, doubling, at most 10 s, up to half taken off at random so that
    /// many clients do not retry in lockstep.
    pub(crate) backoff: Backoff,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 3,
            backoff: Backoff {
                base: Duration::from_millis(200),
                max: Duration::from_secs(10),
                jitter: 0.5,
            },
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (0-based).
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        self.backoff.delay(retry + 1)
    }
}
