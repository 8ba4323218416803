//! The engine that runs handlers over the store (architecture §5).
//!
//! Each (app, handler) has a **runner**: its own slots (`concurrency`), its own `timeout`, and a
//! loop that leases runnable deliveries from the store when it has free slots. Work beyond the
//! slots waits in the store, not in memory, so a slow or failing handler holds up only its own
//! deliveries — never another handler, never another customer.
//!
//! - Intake reserves a slot per handler before the event is stored; the deliveries whose lane was
//!   free come back leased to this instance and start at once, with the event already parsed.
//! - A run is one attempt: the handler future under its `timeout`, with panics caught. Its outcome
//!   is recorded on the delivery: done; retried alone after a backoff; or dead (permanent, or out
//!   of attempts). A store error while recording is retried until it goes through — the attempt
//!   happened, and running it again would repeat its effect.
//! - Leases are renewed while handlers run. A clean stop stops leasing, lets runs finish within
//!   the grace period, and releases the rest.

use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::backoff::Backoff;
use crate::clock::{millis, now_ms};
use crate::event::Event;
use crate::handler::{self, Context, Handler, HandlerError};
use crate::metrics::Metrics;
use crate::store::{Delivery, Inbox, NewDelivery, Outcome, Settled};

/// A handler with the limits it runs under.
#[derive(Clone)]
pub struct HandlerSpec {
    /// The handler.
    pub handler: Arc<dyn Handler>,
    /// Deliveries of this handler running at once.
    pub concurrency: usize,
    /// How long one attempt may take; longer is a transient failure.
    pub timeout: Duration,
}

/// The handlers of one app, and the API client they act through.
#[derive(Clone, Default)]
pub struct AppHandlers {
    /// Handlers in order.
    pub handlers: Vec<HandlerSpec>,
    /// The app's API client, when it has a secret.
    pub api: Option<crate::api::Client>,
}

/// How deliveries are retried and leased.
#[derive(Debug, Clone, Copy)]
pub struct DispatchSettings {
    /// Attempts per delivery before it is dead.
    pub max_attempts: u32,
    /// Delay between attempts of a failing delivery.
    pub backoff: Backoff,
    /// How long a lease holds without renewal (another instance takes the work over after).
    pub lease: Duration,
    /// How often each runner looks at the store when nothing woke it.
    pub poll: Duration,
}

impl Default for DispatchSettings {
    fn default() -> Self {
        DispatchSettings {
            max_attempts: 8,
            backoff: Backoff::new(Duration::from_secs(1), Duration::from_secs(300)),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// One (app, handler): its slots, its limits and the signal that wakes its loop.
struct Runner {
    app: Arc<str>,
    name: Arc<str>,
    handler: Arc<dyn Handler>,
    slots: Arc<Semaphore>,
    timeout: Duration,
    api: Option<crate::api::Client>,
    /// Raised when the store may hold runnable work of this runner.
    wake: Notify,
    /// Set when work was left in the store for want of a slot: a finishing run wakes the loop.
    backlog: AtomicBool,
}

struct Inner {
    inbox: Arc<dyn Inbox>,
    apps: HashMap<Arc<str>, Vec<Arc<Runner>>>,
    settings: DispatchSettings,
    metrics: Metrics,
    /// Stops leasing and intake reservations.
    stop: CancellationToken,
    /// Stops lease renewal (after the running deliveries had their grace period).
    stop_renewing: CancellationToken,
    tasks: TaskTracker,
    /// The runtime handlers run on: the one the dispatcher started on, never an HTTP worker's
    /// (those stop with the listener).
    runtime: tokio::runtime::Handle,
    /// Deliveries running here (their leases are renewed; released at a forced stop).
    running: Mutex<HashSet<i64>>,
}

/// Runs handlers over the store. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    inner: Arc<Inner>,
}

/// Slots reserved for one event's deliveries before it is stored.
pub struct Reservation {
    runners: Vec<(Arc<Runner>, Option<OwnedSemaphorePermit>)>,
}

impl Reservation {
    /// The deliveries to store with the event.
    pub fn deliveries(&self) -> Vec<NewDelivery> {
        self.runners
            .iter()
            .map(|(runner, slot)| NewDelivery {
                handler: runner.name.clone(),
                lease: slot.is_some(),
            })
            .collect()
    }

    /// Whether the event gets no delivery at all.
    pub fn is_empty(&self) -> bool {
        self.runners.is_empty()
    }
}

impl Dispatcher {
    /// Start runners for every (app, handler) on the current Tokio runtime. Takes back the
    /// leases an earlier run of this store left (where the backend knows they are orphans) and
    /// logs the unfinished deliveries of handlers that are no longer configured.
    pub async fn start(
        inbox: Arc<dyn Inbox>,
        apps: HashMap<String, AppHandlers>,
        settings: DispatchSettings,
        metrics: Metrics,
    ) -> Self {
        match inbox.recover().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deliveries = n, "took back the leases of an earlier run"),
            Err(e) => tracing::warn!(error = %e, "cannot take back earlier leases"),
        }
        let dispatcher = Self::build(inbox, apps, settings, metrics);
        dispatcher.report_orphans().await;
        for runner in dispatcher.inner.apps.values().flatten() {
            let (this, runner) = (dispatcher.clone(), runner.clone());
            dispatcher
                .inner
                .tasks
                .spawn(async move { this.poll_loop(runner).await });
        }
        let this = dispatcher.clone();
        tokio::spawn(async move { this.renew_loop().await });
        if let Some(signal) = dispatcher.inner.inbox.work_signal() {
            let this = dispatcher.clone();
            dispatcher.inner.tasks.spawn(async move {
                loop {
                    tokio::select! {
                        _ = signal.notified() => this.wake_all(),
                        _ = this.inner.stop.cancelled() => return,
                    }
                }
            });
        }
        dispatcher
    }

    /// A dispatcher that runs nothing here: intake through it stores deliveries unleased, for
    /// a running `serve` to take (`replay --store`).
    pub fn idle(inbox: Arc<dyn Inbox>, apps: HashMap<String, AppHandlers>) -> Self {
        let dispatcher = Self::build(inbox, apps, DispatchSettings::default(), Metrics::new());
        dispatcher.inner.stop.cancel();
        dispatcher
    }

    fn build(
        inbox: Arc<dyn Inbox>,
        apps: HashMap<String, AppHandlers>,
        settings: DispatchSettings,
        metrics: Metrics,
    ) -> Self {
        let runners: HashMap<Arc<str>, Vec<Arc<Runner>>> = apps
            .into_iter()
            .map(|(app, handlers)| {
                let app: Arc<str> = Arc::from(app);
                let runners = handlers
                    .handlers
                    .into_iter()
                    .map(|spec| {
                        Arc::new(Runner {
                            app: app.clone(),
                            name: Arc::from(spec.handler.name()),
                            handler: spec.handler,
                            slots: Arc::new(Semaphore::new(spec.concurrency.max(1))),
                            timeout: spec.timeout,
                            api: handlers.api.clone(),
                            wake: Notify::new(),
                            backlog: AtomicBool::new(false),
                        })
                    })
                    .collect();
                (app, runners)
            })
            .collect();
        Dispatcher {
            inner: Arc::new(Inner {
                inbox,
                apps: runners,
                settings,
                metrics,
                stop: CancellationToken::new(),
                stop_renewing: CancellationToken::new(),
                tasks: TaskTracker::new(),
                runtime: tokio::runtime::Handle::current(),
                running: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Log the unfinished deliveries of apps and handlers the config no longer has: they stay
    /// in the store, pending, until the handler is configured again or they are purged.
    async fn report_orphans(&self) {
        let Ok(stats) = self.inner.inbox.stats(now_ms()).await else {
            return;
        };
        for gauges in stats.handlers {
            let known = self
                .inner
                .apps
                .get(gauges.app.as_str())
                .is_some_and(|runners| runners.iter().any(|r| *r.name == *gauges.handler));
            if !known && gauges.pending > 0 {
                tracing::warn!(
                    app = %gauges.app,
                    handler = %gauges.handler,
                    pending = gauges.pending,
                    "deliveries of a handler that is not configured stay pending"
                );
            }
        }
    }

    /// Reserve a slot for each handler of `app` that wants `event`.
    pub fn reserve(&self, app: &str, event: &Event) -> Reservation {
        let stopping = self.inner.stop.is_cancelled();
        let runners = self
            .inner
            .apps
            .get(app)
            .map(|runners| {
                runners
                    .iter()
                    .filter(|r| r.handler.wants(event))
                    .map(|r| {
                        let slot = if stopping {
                            None
                        } else {
                            r.slots.clone().try_acquire_owned().ok()
                        };
                        (r.clone(), slot)
                    })
                    .collect()
            })
            .unwrap_or_default();
        Reservation { runners }
    }

    /// Start the deliveries stored with an event: `leased` run now with their reserved slots;
    /// a runner whose delivery waits in the store for want of a slot is told there is backlog.
    pub fn start_leased(&self, reservation: Reservation, leased: Vec<Delivery>, event: Event) {
        let event = Arc::new(event);
        for (runner, slot) in reservation.runners {
            let delivery = leased.iter().find(|d| *d.handler == *runner.name);
            match (delivery, slot) {
                (Some(delivery), Some(slot)) => {
                    self.spawn_run(runner, delivery.clone(), Ok(event.clone()), slot)
                }
                (None, None) => {
                    runner.backlog.store(true, Ordering::Release);
                }
                // Reserved but the lane was busy: the delivery waits behind its lane's head,
                // whose end wakes the loop.
                _ => {}
            }
        }
    }

    /// Every configured (app, handler).
    pub fn handlers(&self) -> Vec<(String, String)> {
        self.inner
            .apps
            .values()
            .flatten()
            .map(|r| (r.app.to_string(), r.name.to_string()))
            .collect()
    }

    fn wake_all(&self) {
        for runner in self.inner.apps.values().flatten() {
            runner.wake.notify_one();
        }
    }

    fn spawn_run(
        &self,
        runner: Arc<Runner>,
        delivery: Delivery,
        event: Result<Arc<Event>, String>,
        slot: OwnedSemaphorePermit,
    ) {
        if let Ok(mut running) = self.inner.running.lock() {
            running.insert(delivery.id);
        }
        let this = self.clone();
        self.inner.tasks.spawn_on(
            async move {
                this.run(runner, delivery, event).await;
                drop(slot);
            },
            &self.inner.runtime,
        );
    }

    /// One runner's loop: lease what its free slots can take, then wait to be woken, for the
    /// next delivery to come due, or for the poll interval.
    async fn poll_loop(&self, runner: Arc<Runner>) {
        let inner = &self.inner;
        let mut failures = 0u32;
        loop {
            if inner.stop.is_cancelled() {
                return;
            }
            let free = runner.slots.available_permits();
            if free == 0 {
                runner.backlog.store(true, Ordering::Release);
                tokio::select! {
                    _ = runner.wake.notified() => continue,
                    _ = inner.stop.cancelled() => return,
                }
            }
            let now = now_ms();
            let until = now + millis(inner.settings.lease);
            let batch = match inner
                .inbox
                .lease(&runner.app, &runner.name, free, now, until)
                .await
            {
                Ok(batch) => {
                    if failures > 0 {
                        tracing::info!(app = %runner.app, handler = %runner.name, "store answers again");
                    }
                    failures = 0;
                    batch
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::warn!(app = %runner.app, handler = %runner.name, error = %e, failures, "cannot lease deliveries");
                    }
                    let delay = inner
                        .settings
                        .backoff
                        .delay(failures)
                        .min(Duration::from_secs(5));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => continue,
                        _ = inner.stop.cancelled() => return,
                    }
                }
            };
            let full = batch.deliveries.len() >= free;
            let mut unrun = Vec::new();
            for leased in batch.deliveries {
                match runner.slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let event = Event::parse(&leased.plaintext)
                            .map(Arc::new)
                            .map_err(|e| format!("the stored event does not parse: {e}"));
                        self.spawn_run(runner.clone(), leased.delivery, event, slot);
                    }
                    // Intake took the slot in the meantime.
                    Err(_) => unrun.push(leased.delivery.id),
                }
            }
            if !unrun.is_empty() {
                runner.backlog.store(true, Ordering::Release);
                if let Err(e) = inner.inbox.release(unrun).await {
                    tracing::warn!(error = %e, "cannot release leases");
                }
            }
            if full {
                continue;
            }
            let wait = batch
                .next_due
                .map(|due| Duration::from_millis(due.saturating_sub(now).max(0) as u64))
                .unwrap_or(inner.settings.poll)
                .min(inner.settings.poll);
            tokio::select! {
                _ = runner.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = inner.stop.cancelled() => return,
            }
        }
    }

    /// One attempt of one delivery, and its outcome recorded.
    async fn run(
        &self,
        runner: Arc<Runner>,
        delivery: Delivery,
        event: Result<Arc<Event>, String>,
    ) {
        let inner = &self.inner;
        let attempt = delivery.attempts + 1;
        let result = match event {
            Ok(event) => {
                let ctx = Context {
                    app: runner.app.clone(),
                    event_id: delivery.event_id,
                    attempt,
                    received_at: delivery.received_at,
                    api: runner.api.clone(),
                };
                attempt_once(&runner, &ctx, &event).await
            }
            Err(reason) => Err(HandlerError::permanent(reason)),
        };
        let outcome = match result {
            Ok(()) => Outcome::Done,
            Err(HandlerError::Permanent(error)) => Outcome::Dead { error },
            Err(HandlerError::Transient(error)) if attempt >= inner.settings.max_attempts => {
                Outcome::Dead {
                    error: format!("{error} (gave up after {attempt} attempts)"),
                }
            }
            Err(HandlerError::Transient(error)) => Outcome::Retry {
                at: now_ms() + millis(inner.settings.backoff.delay(attempt)),
                error,
            },
        };
        let label = match &outcome {
            Outcome::Done => "done",
            Outcome::Retry { .. } => "retry",
            Outcome::Dead { .. } => "dead",
        };
        inner
            .metrics
            .handler_outcome(&runner.app, &runner.name, label);
        match &outcome {
            Outcome::Done => tracing::debug!(
                app = %runner.app, handler = %runner.name, event_id = delivery.event_id, attempt,
                "handled"
            ),
            Outcome::Retry { error, .. } | Outcome::Dead { error } => tracing::warn!(
                app = %runner.app, handler = %runner.name, event_id = delivery.event_id, attempt,
                outcome = label, error = %crate::log::Escaped(error), "handler failed"
            ),
        }
        let retry = matches!(outcome, Outcome::Retry { .. });
        let settled = self.settle(&runner, &delivery, attempt, outcome).await;
        if let Ok(mut running) = inner.running.lock() {
            running.remove(&delivery.id);
        }
        let lane_has_more = settled.is_some_and(|s| s.lane_has_more);
        if lane_has_more || retry || runner.backlog.swap(false, Ordering::AcqRel) {
            runner.wake.notify_one();
        }
    }

    /// Record an attempt's outcome, retrying store errors with backoff until it goes through
    /// (or the process stops: then the delivery runs again after its lease expires).
    async fn settle(
        &self,
        runner: &Runner,
        delivery: &Delivery,
        attempt: u32,
        outcome: Outcome,
    ) -> Option<Settled> {
        let mut failures = 0u32;
        loop {
            match self
                .inner
                .inbox
                .settle(delivery.id, attempt, outcome.clone())
                .await
            {
                Ok(settled) => {
                    if !settled.recorded {
                        tracing::warn!(
                            app = %runner.app, handler = %runner.name, event_id = delivery.event_id,
                            "lease lost while the handler ran; another instance's outcome counts"
                        );
                    }
                    return Some(settled);
                }
                Err(e) => {
                    failures += 1;
                    if failures == 1 || failures.is_multiple_of(10) {
                        tracing::error!(
                            app = %runner.app, handler = %runner.name, event_id = delivery.event_id,
                            error = %e, failures, "cannot record a handler outcome; retrying"
                        );
                    }
                    let delay = self
                        .inner
                        .settings
                        .backoff
                        .delay(failures)
                        .min(Duration::from_secs(5));
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = self.inner.stop_renewing.cancelled() => return None,
                    }
                }
            }
        }
    }

    /// Renew the leases of running deliveries every third of the lease time.
    async fn renew_loop(&self) {
        let inner = &self.inner;
        let every = inner.settings.lease / 3;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = inner.stop_renewing.cancelled() => return,
            }
            let ids: Vec<i64> = match inner.running.lock() {
                Ok(running) => running.iter().copied().collect(),
                Err(_) => continue,
            };
            if ids.is_empty() {
                continue;
            }
            let until = now_ms() + millis(inner.settings.lease);
            if let Err(e) = inner.inbox.renew(ids, until).await {
                tracing::warn!(error = %e, "cannot renew leases");
            }
        }
    }

    /// Stop leasing, let running deliveries finish within `grace`, then release the leases of
    /// those still running so that the next start (or another instance) takes them at once.
    /// Returns whether everything finished within the grace period.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let inner = &self.inner;
        inner.stop.cancel();
        inner.tasks.close();
        let finished = tokio::time::timeout(grace, inner.tasks.wait())
            .await
            .is_ok();
        inner.stop_renewing.cancel();
        if !finished {
            let ids: Vec<i64> = match inner.running.lock() {
                Ok(running) => running.iter().copied().collect(),
                Err(_) => Vec::new(),
            };
            if !ids.is_empty() {
                tracing::warn!(
                    deliveries = ids.len(),
                    "handlers still running at shutdown; their deliveries are released"
                );
                if let Err(e) = inner.inbox.release(ids).await {
                    tracing::warn!(error = %e, "cannot release leases; they expire by themselves");
                }
            }
        }
        finished
    }
}

/// Run the handler once under its timeout, turning a panic into a transient failure.
async fn attempt_once(runner: &Runner, ctx: &Context, event: &Event) -> Result<(), HandlerError> {
    let future = AssertUnwindSafe(handler::route(&*runner.handler, ctx, event)).catch_unwind();
    match tokio::time::timeout(runner.timeout, future).await {
        Err(_) => Err(HandlerError::transient(format!(
            "timed out after {}",
            crate::config::format_duration(runner.timeout)
        ))),
        Ok(Err(panic)) => Err(HandlerError::transient(format!(
            "panicked: {}",
            panic_message(panic.as_ref())
        ))),
        Ok(Ok(result)) => result,
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "a non-string panic payload"
    }
}
