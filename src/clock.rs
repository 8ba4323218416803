//! The one wall clock: Unix time in milliseconds and seconds.
//!
//! Stored times (when an event arrived, when a delivery is due, until when a lease holds) are
//! Unix milliseconds so that every instance sharing a store reads them the same way.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    unix_ms(SystemTime::now())
}

/// A time as Unix milliseconds (0 for a time before the epoch, saturating far after it).
pub fn unix_ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).map(millis).unwrap_or(0)
}

/// Unix milliseconds back to a time (negative ones read as the epoch).
pub fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// Now, in Unix seconds.
pub fn now_secs() -> i64 {
    now_ms() / 1000
}

/// A duration in whole milliseconds, saturating.
pub fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::{from_unix_ms, unix_ms};

    #[test]
    fn unix_milliseconds_go_there_and_back() {
        let at = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(unix_ms(at), 1_700_000_000_123);
        assert_eq!(from_unix_ms(unix_ms(at)), at);
        assert_eq!(from_unix_ms(-5), UNIX_EPOCH);
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
