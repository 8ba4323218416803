//! Prometheus metrics (`GET /metrics`).
//!
//! Every series and its labels, in one place (dashboards and alert rules in `deploy/` name them):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `wecom_callback_callbacks_total` | counter | `app`, `kind`, `outcome` |
//! | `wecom_callback_ack_latency_seconds` | histogram | `app` |
//! | `wecom_callback_handler_outcomes_total` | counter | `app`, `handler`, `outcome` (`done`, `retry`, `dead`) |
//! | `wecom_callback_deliveries_pending` | gauge | `app`, `handler` |
//! | `wecom_callback_oldest_pending_delivery_seconds` | gauge | `app`, `handler` |
//! | `wecom_callback_dead_letters` | gauge | `app`, `handler` |
//! | `wecom_callback_inbox_pending` | gauge | — |
//! | `wecom_callback_store_up` | gauge | — (1 when the store answered the last check) |
//! | `wecom_callback_api_calls` | gauge | `app`, `path`, `errcode` |
//!
//! Label values never come from unauthenticated input: `app` is a configured name, `outcome`
//! a fixed word, `kind` the kind of an event whose signature checked out.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use rustc_hash::FxHashMap;

type Labels = Vec<(&'static str, String)>;

/// Per-(app, handler) delivery figures, as the store reports them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HandlerGauges {
    /// The app.
    pub app: String,
    /// The handler.
    pub handler: String,
    /// Deliveries not finished yet.
    pub pending: u64,
    /// Seconds since the oldest pending delivery was created (0 when none).
    pub oldest_pending_seconds: u64,
    /// Dead deliveries (dead letters).
    pub dead: u64,
}

/// The service's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

/// The callback counters already resolved, by app, kind and outcome: the hot path looks its
/// counter up by `&str` without building labels, hashed with FxHash (short keys: app names,
/// event kinds, outcomes).
type CallbackHandles = FxHashMap<Box<str>, FxHashMap<Box<str>, FxHashMap<&'static str, Counter>>>;

struct Inner {
    registry: Mutex<Registry>,
    callbacks: Family<Labels, Counter>,
    callback_handles: RwLock<CallbackHandles>,
    latency_handles: RwLock<FxHashMap<Box<str>, Histogram>>,
    ack_latency: Family<Labels, Histogram>,
    handler_outcomes: Family<Labels, Counter>,
    deliveries_pending: Family<Labels, Gauge>,
    oldest_pending: Family<Labels, Gauge>,
    dead_letters: Family<Labels, Gauge>,
    inbox_pending: Gauge,
    store_up: Gauge,
    api_calls: Family<Labels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("wecom_callback");
        let callbacks = Family::<Labels, Counter>::default();
        registry.register(
            "callbacks",
            "Callbacks received, by app, event kind and outcome",
            callbacks.clone(),
        );
        let ack_latency = Family::<Labels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0,
            ])
        });
        registry.register(
            "ack_latency_seconds",
            "Time from request to acknowledgement",
            ack_latency.clone(),
        );
        let handler_outcomes = Family::<Labels, Counter>::default();
        registry.register(
            "handler_outcomes",
            "Handler attempts, by app, handler and outcome (done, retry, dead)",
            handler_outcomes.clone(),
        );
        let deliveries_pending = Family::<Labels, Gauge>::default();
        registry.register(
            "deliveries_pending",
            "Deliveries not finished yet, by app and handler",
            deliveries_pending.clone(),
        );
        let oldest_pending = Family::<Labels, Gauge>::default();
        registry.register(
            "oldest_pending_delivery_seconds",
            "Age of the oldest unfinished delivery, by app and handler",
            oldest_pending.clone(),
        );
        let dead_letters = Family::<Labels, Gauge>::default();
        registry.register(
            "dead_letters",
            "Dead deliveries (failed permanently or too often), by app and handler",
            dead_letters.clone(),
        );
        let inbox_pending = Gauge::default();
        registry.register(
            "inbox_pending",
            "Events stored but not finished",
            inbox_pending.clone(),
        );
        let store_up = Gauge::default();
        registry.register(
            "store_up",
            "1 when the store answered the last health check, 0 otherwise",
            store_up.clone(),
        );
        let api_calls = Family::<Labels, Gauge>::default();
        registry.register(
            "api_calls",
            "WeCom API answers since start, by app, path and errcode",
            api_calls.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                callbacks,
                callback_handles: RwLock::default(),
                latency_handles: RwLock::default(),
                ack_latency,
                handler_outcomes,
                deliveries_pending,
                oldest_pending,
                dead_letters,
                inbox_pending,
                store_up,
                api_calls,
            }),
        }
    }

    /// Count one callback.
    pub fn callback(&self, app: &str, kind: &str, outcome: &'static str) {
        let inner = &self.inner;
        let known = inner
            .callback_handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app)
            .and_then(|kinds| kinds.get(kind))
            .and_then(|outcomes| outcomes.get(outcome))
            .cloned();
        let counter = known.unwrap_or_else(|| {
            let counter = inner
                .callbacks
                .get_or_create(&vec![
                    ("app", app.to_owned()),
                    ("kind", kind.to_owned()),
                    ("outcome", outcome.to_owned()),
                ])
                .clone();
            inner
                .callback_handles
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(app.into())
                .or_default()
                .entry(kind.into())
                .or_default()
                .insert(outcome, counter.clone());
            counter
        });
        counter.inc();
    }

    /// Record one acknowledgement's latency.
    pub fn ack_latency(&self, app: &str, seconds: f64) {
        let inner = &self.inner;
        let known = inner
            .latency_handles
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(app)
            .cloned();
        let histogram = known.unwrap_or_else(|| {
            let histogram = inner
                .ack_latency
                .get_or_create(&vec![("app", app.to_owned())])
                .clone();
            inner
                .latency_handles
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(app.into(), histogram.clone());
            histogram
        });
        histogram.observe(seconds);
    }

    /// Count one handler attempt.
    pub fn handler_outcome(&self, app: &str, handler: &str, outcome: &str) {
        self.inner
            .handler_outcomes
            .get_or_create(&vec![
                ("app", app.to_owned()),
                ("handler", handler.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// Set the delivery gauges of every (app, handler) and the count of unfinished events.
    /// Series of (app, handler) pairs not in `handlers` are removed.
    pub fn set_deliveries(&self, handlers: &[HandlerGauges], events_pending: u64) {
        self.inner.deliveries_pending.clear();
        self.inner.oldest_pending.clear();
        self.inner.dead_letters.clear();
        for h in handlers {
            let labels = vec![("app", h.app.clone()), ("handler", h.handler.clone())];
            let inner = &self.inner;
            inner
                .deliveries_pending
                .get_or_create(&labels)
                .set(h.pending as i64);
            inner
                .oldest_pending
                .get_or_create(&labels)
                .set(h.oldest_pending_seconds as i64);
            inner.dead_letters.get_or_create(&labels).set(h.dead as i64);
        }
        self.inner.inbox_pending.set(events_pending as i64);
    }

    /// Whether the store answered the last check.
    pub fn set_store_up(&self, up: bool) {
        self.inner.store_up.set(i64::from(up));
    }

    /// Set one app's API call counts (path, errcode, count).
    pub fn set_api_calls(&self, app: &str, calls: impl IntoIterator<Item = (String, i64, u64)>) {
        for (path, errcode, count) in calls {
            self.inner
                .api_calls
                .get_or_create(&vec![
                    ("app", app.to_owned()),
                    ("path", path),
                    ("errcode", errcode.to_string()),
                ])
                .set(count as i64);
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.inner.registry.lock() {
            let _ = encode(&mut out, &registry);
        }
        out
    }
}
