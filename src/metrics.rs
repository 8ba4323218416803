//! Prometheus metrics (`GET /metrics`): callbacks by app/kind/outcome, acknowledgement latency,
//! handler outcomes, inbox depth, dead letters and WeCom API calls by errcode.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

type Labels = Vec<(&'static str, String)>;

/// The service's metrics. Cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    callbacks: Family<Labels, Counter>,
    ack_latency: Family<Labels, Histogram>,
    handler_outcomes: Family<Labels, Counter>,
    inbox_pending: Gauge,
    dead_letters: Gauge,
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
                0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
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
        let inbox_pending = Gauge::default();
        registry.register(
            "inbox_pending",
            "Events stored but not finished",
            inbox_pending.clone(),
        );
        let dead_letters = Gauge::default();
        registry.register(
            "dead_letters",
            "Events whose handlers failed permanently",
            dead_letters.clone(),
        );
        let api_calls = Family::<Labels, Gauge>::default();
        registry.register(
            "api_calls",
            "WeCom API calls since start, by path and errcode",
            api_calls.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: Mutex::new(registry),
                callbacks,
                ack_latency,
                handler_outcomes,
                inbox_pending,
                dead_letters,
                api_calls,
            }),
        }
    }

    /// Count one callback.
    pub fn callback(&self, app: &str, kind: &str, outcome: &str) {
        self.inner
            .callbacks
            .get_or_create(&vec![
                ("app", app.to_owned()),
                ("kind", kind.to_owned()),
                ("outcome", outcome.to_owned()),
            ])
            .inc();
    }

    /// Record one acknowledgement's latency.
    pub fn ack_latency(&self, app: &str, seconds: f64) {
        self.inner
            .ack_latency
            .get_or_create(&vec![("app", app.to_owned())])
            .observe(seconds);
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

    /// Set the inbox gauges.
    pub fn set_depth(&self, pending: u64, failed: u64) {
        self.inner.inbox_pending.set(pending as i64);
        self.inner.dead_letters.set(failed as i64);
    }

    /// Set the API call counts (path, errcode, count).
    pub fn set_api_calls(&self, calls: impl IntoIterator<Item = (String, i64, u64)>) {
        for (path, errcode, count) in calls {
            self.inner
                .api_calls
                .get_or_create(&vec![("path", path), ("errcode", errcode.to_string())])
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
