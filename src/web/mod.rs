//! The HTTP side (architecture §3.3), independent of the web framework: what each request is
//! answered. [`actix`] (and, with the `axum` feature, [`axum`]) only carry requests
//! in and answers out.
//!
//! A POST goes query → open (envelope, signature, timestamp window, decryption, parse) →
//! [`Intake`] → status: 200 only once the event and its deliveries are committed, 503 when the
//! store cannot commit (WeCom retries). Refusals are one short line: 400 for a malformed query
//! or envelope, 401 for a bad signature or a stale timestamp, 400 `undecryptable` — the same
//! for every cause — once the signature matched, 413 for a body over `max_body_bytes`. Unknown
//! paths are 404, other methods 405. Acknowledging does no network I/O.

pub(crate) mod actix;
#[cfg(feature = "axum")]
pub(crate) mod axum;
mod recent;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::callback::{self, CallbackError, CallbackQuery, TimestampWindow, Undecryptable};
use crate::clock::now_ms;
use crate::crypto::MsgCrypt;
use crate::intake::{Accepted, Intake};
use crate::log::Escaped;
use crate::metrics::{HandlerGauges, Metrics};
use crate::store::Stats;

pub(crate) use recent::Recent;

/// One app as the server sees it.
pub(crate) struct AppRoute {
    /// The app name.
    pub(crate) name: Arc<str>,
    /// The URL path.
    pub(crate) path: String,
    /// Its crypto.
    pub(crate) crypt: MsgCrypt,
    /// The body of 200 answers to POSTs (shared by each answer, not copied).
    pub(crate) reply: Bytes,
    /// How far a callback's timestamp may be from our clock (zero: no check).
    pub(crate) timestamp_tolerance: Duration,
}

impl AppRoute {
    fn window(&self) -> TimestampWindow {
        TimestampWindow::around_now(self.timestamp_tolerance)
    }
}

/// An answer, before a framework turns it into a response.
pub(crate) struct Answer {
    /// The HTTP status.
    pub(crate) status: u16,
    /// `text/plain` with or without a charset, or Prometheus' content type (one of this
    /// module's literals, sent as a static header value); none for an empty body, such as a
    /// self-built app's 200 to a callback, so that its answer carries no header to build.
    pub(crate) content_type: Option<&'static str>,
    /// The body.
    pub(crate) body: Bytes,
}

impl Answer {
    fn ok(body: impl Into<Bytes>) -> Self {
        let body = body.into();
        Answer {
            status: 200,
            content_type: (!body.is_empty()).then_some("text/plain"),
            body,
        }
    }

    fn refuse(status: u16, reason: impl Into<String>) -> Self {
        Answer {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            body: Bytes::from(reason.into()),
        }
    }

    /// The answer to a path no app has.
    pub(crate) fn not_found() -> Self {
        Answer::refuse(404, "no such callback path")
    }
}

/// Everything the HTTP side shares: the apps, intake, metrics and health.
pub(crate) struct Web {
    /// The apps, by their paths.
    pub(crate) apps: Vec<Arc<AppRoute>>,
    /// Larger bodies are answered 413.
    pub(crate) max_body_bytes: usize,
    /// Where accepted events go.
    pub(crate) intake: Intake,
    /// The metrics.
    pub(crate) metrics: Metrics,
    /// API clients by app, for their call counts in `/metrics`.
    pub(crate) api_clients: Vec<(String, crate::api::Client)>,
    /// The last store check, reused for [`Web::STORE_READS_EVERY`].
    pub(crate) health: Recent<Result<(), String>>,
    /// The store's last delivery counts (none when they could not be read), reused for
    /// [`Web::STORE_READS_EVERY`].
    pub(crate) stats: Recent<Option<Stats>>,
    /// Whether the last attempt to store a callback failed (cheap to read on every callback).
    pub(crate) write_failing: AtomicBool,
    /// When and why storing last failed.
    pub(crate) write_failed: Mutex<Option<(Instant, String)>>,
    /// Callbacks since the last summary line.
    pub(crate) tally: Tally,
}

/// Callbacks answered since the last summary, by outcome. Each callback is logged at `debug`;
/// at `info` a summary line every [`Tally::EVERY`] keeps the log readable (and cheap) at
/// thousands of callbacks a second, while refusals and store failures stay one line each.
#[derive(Default)]
pub(crate) struct Tally {
    stored: AtomicU64,
    duplicate: AtomicU64,
    refused: AtomicU64,
    unavailable: AtomicU64,
}

impl Tally {
    /// How often the summary is logged (when there was anything).
    pub(crate) const EVERY: Duration = Duration::from_secs(10);

    /// Log the counts since the last call and start again.
    pub(crate) fn log_summary(&self) {
        let take = |n: &AtomicU64| n.swap(0, Ordering::Relaxed);
        let (stored, duplicate, refused, unavailable) = (
            take(&self.stored),
            take(&self.duplicate),
            take(&self.refused),
            take(&self.unavailable),
        );
        if stored + duplicate + refused + unavailable > 0 {
            tracing::info!(
                stored,
                duplicate,
                refused,
                unavailable,
                "callbacks in the last {}s",
                Self::EVERY.as_secs()
            );
        }
    }
}

impl Web {
    /// How long a store check or the delivery counts are reused: probes and scrapers, however
    /// many, read the store at most this often.
    pub(crate) const STORE_READS_EVERY: Duration = Duration::from_secs(1);

    /// GET `{path}?msg_signature&timestamp&nonce&echostr`: answer the bare decrypted echostr.
    pub(crate) fn verify(&self, app: &AppRoute, query: &str) -> Answer {
        let opened = CallbackQuery::parse(query)
            .and_then(|query| callback::open_get(&app.crypt, &query, app.window()))
            .and_then(|plain| {
                if callback::looks_like_echostr(&plain) {
                    Ok(plain)
                } else {
                    Err(CallbackError::Undecryptable(Undecryptable::Echostr))
                }
            });
        match opened {
            Ok(plain) => {
                self.metrics
                    .callback(&app.name, "url_verification", "verified");
                tracing::info!(app = %app.name, "url verification answered");
                Answer::ok(plain)
            }
            Err(e) => self.refuse_callback(app, "GET", &e),
        }
    }

    /// POST `{path}?msg_signature&timestamp&nonce`: open, parse, store, then answer 200.
    pub(crate) async fn receive(&self, app: &AppRoute, query: &str, body: &[u8]) -> Answer {
        let started = Instant::now();
        let (plaintext, event) =
            match callback::open_event_of_query_string(&app.crypt, query, body, app.window()) {
                Ok(opened) => opened,
                Err(e) => return self.refuse_callback(app, "POST", &e),
            };
        let kind = event.kind();
        let accepted = self.intake.accept(&app.name, plaintext, event, &kind).await;
        self.note_write(accepted.as_ref().err());
        let outcome = match accepted {
            Ok(Accepted::Stored(id)) => {
                self.tally.stored.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(app = %app.name, event_id = id, kind = %Escaped(&kind), "callback stored");
                "stored"
            }
            Ok(Accepted::Duplicate(id)) => {
                self.tally.duplicate.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(app = %app.name, event_id = id, kind = %Escaped(&kind), "duplicate callback acknowledged");
                "duplicate"
            }
            Ok(Accepted::Probe) => {
                tracing::info!(app = %app.name, "doctor probe acknowledged");
                "probe"
            }
            Err(e) => {
                self.tally.unavailable.fetch_add(1, Ordering::Relaxed);
                self.metrics.callback(&app.name, &kind, "store_unavailable");
                tracing::error!(app = %app.name, error = %e, "cannot store callback");
                return Answer::refuse(503, "store unavailable, retry later");
            }
        };
        self.metrics.callback(&app.name, &kind, outcome);
        self.metrics
            .ack_latency(&app.name, started.elapsed().as_secs_f64());
        Answer::ok(app.reply.clone())
    }

    /// Remember whether storing works, for `/healthz`.
    fn note_write(&self, error: Option<&crate::store::StoreError>) {
        match error {
            None if !self.write_failing.load(Ordering::Relaxed) => {}
            None => {
                self.write_failing.store(false, Ordering::Relaxed);
                if let Ok(mut failed) = self.write_failed.lock() {
                    *failed = None;
                }
            }
            Some(e) => {
                self.write_failing.store(true, Ordering::Relaxed);
                if let Ok(mut failed) = self.write_failed.lock() {
                    *failed = Some((Instant::now(), e.to_string()));
                }
            }
        }
    }

    /// A POST body the framework could not read: over `max_body_bytes` (`status` 413) or
    /// broken off (400). Logged and counted like every refusal.
    pub(crate) fn refuse_body(&self, app: &AppRoute, status: u16) -> Answer {
        let (label, reason) = if status == 413 {
            (
                "too_large",
                format!("body over {} bytes", self.max_body_bytes),
            )
        } else {
            ("bad_body", "the body could not be read".to_owned())
        };
        self.tally.refused.fetch_add(1, Ordering::Relaxed);
        self.metrics.callback(&app.name, "-", label);
        tracing::warn!(app = %app.name, method = "POST", reason = label, error = %reason, "callback refused");
        Answer::refuse(status, reason)
    }

    fn refuse_callback(&self, app: &AppRoute, method: &str, error: &CallbackError) -> Answer {
        self.tally.refused.fetch_add(1, Ordering::Relaxed);
        self.metrics.callback(&app.name, "-", error.label());
        tracing::warn!(
            app = %app.name,
            method,
            reason = error.label(),
            error = %Escaped(&error.log_line()),
            "callback refused"
        );
        Answer::refuse(error.status(), error.answer())
    }

    /// Whether the store answers (checked at most once a second) and accepts writes.
    async fn store_health(&self) -> Result<(), String> {
        if self.write_failing.load(Ordering::Relaxed)
            && let Ok(failed) = self.write_failed.lock()
            && let Some((at, error)) = &*failed
            && at.elapsed() < Duration::from_secs(10)
        {
            self.metrics.set_store_up(false);
            return Err(format!("the store refuses writes: {error}"));
        }
        let checked = self
            .health
            .get(|| async {
                tokio::time::timeout(Duration::from_secs(2), self.intake.inbox().ping())
                    .await
                    .map_err(|_| "store check timed out".to_owned())
                    .and_then(|r| r.map_err(|e| e.to_string()))
            })
            .await;
        self.metrics.set_store_up(checked.is_ok());
        checked
    }

    /// GET /healthz: 200 when the store answers.
    pub(crate) async fn healthz(&self) -> Answer {
        match self.store_health().await {
            Ok(()) => Answer::ok("ok"),
            Err(e) => Answer::refuse(503, e),
        }
    }

    /// GET /metrics: Prometheus text.
    pub(crate) async fn metrics(&self) -> Answer {
        if self.store_health().await.is_ok()
            && let Some(stats) = self
                .stats
                .get(|| async {
                    let read = self.intake.inbox().stats(now_ms());
                    tokio::time::timeout(Duration::from_secs(2), read)
                        .await
                        .ok()
                        .and_then(Result::ok)
                })
                .await
        {
            // Every configured handler has its series, at zero when the store has nothing of it.
            let mut gauges = stats.handlers;
            for (app, handler) in self.intake.handlers() {
                if !gauges.iter().any(|g| g.app == app && g.handler == handler) {
                    gauges.push(HandlerGauges {
                        app,
                        handler,
                        ..Default::default()
                    });
                }
            }
            self.metrics.set_deliveries(&gauges, stats.events_pending);
        }
        for (app, client) in &self.api_clients {
            self.metrics.set_api_calls(app, client.call_counts());
        }
        Answer {
            status: 200,
            content_type: Some("text/plain; version=0.0.4; charset=utf-8"),
            body: self.metrics.render().into(),
        }
    }
}
