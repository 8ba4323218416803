//! A value read from the store at most once per period, by one request at a time: what keeps
//! probes and scrapers from loading the store, however many there are.
//!
//! `/healthz` pings the store and `/metrics` counts its deliveries; on PostgreSQL each is a
//! pooled connection the dispatcher also needs, and the counts read every pending delivery.
//! Requests that arrive while a read is under way wait for it and share its result; those
//! within the period after it get that result without a read.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

/// The last value read and when; see the module documentation.
pub(crate) struct Recent<T> {
    period: Duration,
    last: Mutex<Option<(Instant, T)>>,
}

impl<T: Clone> Recent<T> {
    /// Nothing read yet; a value is reused for `period` after it was read.
    pub(crate) fn new(period: Duration) -> Self {
        Recent {
            period,
            last: Mutex::new(None),
        }
    }

    /// The last value if it is younger than the period, else the one `read` gives now (which
    /// every request arriving meanwhile waits for and shares). `read` should bound its own
    /// time: a failure is a value too, kept for the period like any other.
    pub(crate) async fn get<F, Fut>(&self, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let mut last = self.last.lock().await;
        if let Some((at, value)) = &*last
            && at.elapsed() < self.period
        {
            return value.clone();
        }
        let value = read().await;
        *last = Some((Instant::now(), value.clone()));
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn many_requests_at_once_share_one_read() {
        let recent = Arc::new(Recent::new(Duration::from_secs(60)));
        let reads = Arc::new(AtomicU32::new(0));
        let requests = (0..50).map(|_| {
            let (recent, reads) = (recent.clone(), reads.clone());
            tokio::spawn(async move {
                recent
                    .get(|| async {
                        // A slow store: every request arrives while this read is under way.
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        reads.fetch_add(1, Ordering::SeqCst) + 1
                    })
                    .await
            })
        });
        for answer in futures::future::join_all(requests).await {
            assert_eq!(answer.unwrap(), 1, "every request sees the one read");
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_value_older_than_the_period_is_read_again() {
        let recent = Recent::new(Duration::from_millis(20));
        assert_eq!(recent.get(|| async { "first" }).await, "first");
        assert_eq!(recent.get(|| async { "second" }).await, "first");
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(recent.get(|| async { "third" }).await, "third");
    }
}
