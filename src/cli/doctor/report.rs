//! What `doctor` prints: one line per step as it ends — `✔ step: detail` or
//! `✘ step: cause — fix` on stdout — and, when a step failed, the summary that ends up on
//! stderr with exit code 1.

use super::diagnosis::Failure;
use crate::cli::{CliError, CliResult};

/// How many steps failed, printing each step as it ends.
#[derive(Default)]
pub(super) struct Report {
    failed: usize,
    /// Whether WeCom's URL verification would fail (not only its callbacks).
    pub verification_failed: bool,
    last_fix: Option<String>,
}

impl Report {
    /// Prints a step that passed.
    pub(super) fn pass(&mut self, step: &str, detail: &str) {
        out!("✔ {step}: {detail}");
    }

    /// Prints a step that failed; a fix already given is not repeated.
    pub(super) fn fail(&mut self, step: &str, failure: &Failure) {
        self.failed += 1;
        if self.last_fix.as_deref() == Some(failure.fix.as_str()) {
            out!("✘ {step}: {} — fix as above", failure.cause);
        } else {
            out!("✘ {step}: {} — {}", failure.cause, failure.fix);
        }
        self.last_fix = Some(failure.fix.clone());
    }

    /// `Ok` when every step passed; otherwise the summary for stderr.
    pub(super) fn finish(self) -> CliResult {
        if self.failed == 0 {
            return Ok(());
        }
        let plural = if self.failed == 1 { "" } else { "s" };
        let consequence = if self.verification_failed {
            "WeCom would refuse this URL (回调地址请求不通过)"
        } else {
            "WeCom would accept the URL, but not deliver its callbacks"
        };
        Err(CliError::new(format!(
            "{} check{plural} failed: {consequence}; fix it and run doctor again before pressing \
             保存 in the console",
            self.failed
        )))
    }
}
