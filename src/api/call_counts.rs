//! Counts of API calls by endpoint path and `errcode`, for the service's `/metrics`.
//!
//! Every answer WeCom gives (including `gettoken` and each retry) is counted once. Calls that
//! got no JSON answer (transport failure, HTTP status other than 200) have no `errcode` and are
//! not counted here.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// A thread-safe tally of `(path, errcode) → calls`.
#[derive(Debug, Default)]
pub(crate) struct CallCounts {
    counts: Mutex<BTreeMap<(String, i64), u64>>,
}

impl CallCounts {
    /// Counts one answer of `path` with `errcode`.
    pub(crate) fn record(&self, path: &str, errcode: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        *counts.entry((path.to_owned(), errcode)).or_default() += 1;
    }

    /// Every `(path, errcode, calls)`, sorted by path then errcode.
    pub(crate) fn snapshot(&self) -> Vec<(String, i64, u64)> {
        let counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts
            .iter()
            .map(|((path, code), n)| (path.clone(), *code, *n))
            .collect()
    }
}
