//! Handlers and the dispatcher that runs them over the inbox.
//!
//! A [`Handler`] implements only the events it cares about: every method has a default that does
//! nothing (serenity-style), and [`Handler::handle`] routes an [`Event`] to them. The
//! [`Dispatcher`] takes events from the inbox and guarantees:
//! - each handler's success is recorded per event, so a failing handler is retried alone with
//!   exponential backoff and the others are never re-run;
//! - a permanent failure, or too many attempts, makes the event a dead letter with the reason;
//! - events of one customer (`external_user_id`) or chat (`chat_id`) run in arrival order, one at
//!   a time; others run in parallel, up to `concurrency` at once;
//! - on start, and every second, unfinished events in the inbox are picked up again (after a
//!   crash, or after `events retry` from another process).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, watch};

use crate::event::{
    AcquisitionEvent, ChatChange, ChatEvent, ContactChange, ContactEvent, Event, TagChange,
    TagEvent, UnknownEvent,
};
use crate::metrics::Metrics;
use crate::store::{HandlerRun, Inbox, RunState, Status, StoredEvent};

/// Why a handler failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandlerError {
    /// Worth retrying later (network, rate limit, a service down).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (expired welcome_code, bad data): the event goes to the dead letters.
    #[error("permanent: {0}")]
    Permanent(String),
}

impl HandlerError {
    /// A transient failure.
    pub fn transient(message: impl std::fmt::Display) -> Self {
        HandlerError::Transient(message.to_string())
    }

    /// A permanent failure.
    pub fn permanent(message: impl std::fmt::Display) -> Self {
        HandlerError::Permanent(message.to_string())
    }
}

/// What a handler returns.
pub type HandlerResult = Result<(), HandlerError>;

/// What a handler knows besides the event. Cheap to clone; lives for one attempt.
#[derive(Clone)]
#[non_exhaustive]
pub struct Context {
    /// The app the event arrived for.
    pub app: Arc<str>,
    /// The event's inbox id.
    pub event_id: i64,
    /// This handler's attempt number for this event, from 1.
    pub attempt: u32,
    /// When the event was received, Unix milliseconds.
    pub received_at: i64,
    /// The app's WeCom API client, when the app has a `secret`.
    pub api: Option<crate::api::Client>,
}

impl Context {
    /// A context for running a handler outside the dispatcher (tests, `replay`).
    pub fn new(app: &str, event_id: i64, api: Option<crate::api::Client>) -> Self {
        Context {
            app: Arc::from(app),
            event_id,
            attempt: 1,
            received_at: crate::store::now_ms(),
            api,
        }
    }
}

/// A plug-in that acts on events. Implement the methods you need; the rest do nothing.
///
/// Handlers run at least once per event; make them idempotent where a repeat would hurt.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// A stable name: outcomes are recorded under it, so renaming re-runs unfinished events.
    fn name(&self) -> &str;

    /// Route an event to the method for its kind. Override to see every event.
    async fn handle(&self, ctx: &Context, event: &Event) -> HandlerResult {
        match event {
            Event::Contact(e) => match e.change {
                ContactChange::AddExternalContact => self.on_add_external_contact(ctx, e).await,
                ContactChange::EditExternalContact => self.on_edit_external_contact(ctx, e).await,
                ContactChange::AddHalfExternalContact => {
                    self.on_add_half_external_contact(ctx, e).await
                }
                ContactChange::DelExternalContact => self.on_del_external_contact(ctx, e).await,
                ContactChange::DelFollowUser => self.on_del_follow_user(ctx, e).await,
                ContactChange::TransferFail => self.on_transfer_fail(ctx, e).await,
                ContactChange::MsgAuditApproved => self.on_msg_audit_approved(ctx, e).await,
            },
            Event::Chat(e) => match e.change {
                ChatChange::Create => self.on_chat_create(ctx, e).await,
                ChatChange::Update => self.on_chat_update(ctx, e).await,
                ChatChange::Dismiss => self.on_chat_dismiss(ctx, e).await,
            },
            Event::Tag(e) => match e.change {
                TagChange::Create => self.on_tag_create(ctx, e).await,
                TagChange::Update => self.on_tag_update(ctx, e).await,
                TagChange::Delete => self.on_tag_delete(ctx, e).await,
                TagChange::Shuffle => self.on_tag_shuffle(ctx, e).await,
            },
            Event::Acquisition(e) => self.on_customer_acquisition(ctx, e).await,
            Event::Unknown(e) => self.on_unknown(ctx, e).await,
        }
    }

    /// `change_external_contact/add_external_contact`: a member added a customer.
    async fn on_add_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/edit_external_contact`.
    async fn on_edit_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/add_half_external_contact`.
    async fn on_add_half_external_contact(
        &self,
        _ctx: &Context,
        _e: &ContactEvent,
    ) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/del_external_contact`.
    async fn on_del_external_contact(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/del_follow_user`.
    async fn on_del_follow_user(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/transfer_fail`.
    async fn on_transfer_fail(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_contact/msg_audit_approved`.
    async fn on_msg_audit_approved(&self, _ctx: &Context, _e: &ContactEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/create`.
    async fn on_chat_create(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/update`.
    async fn on_chat_update(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_chat/dismiss`.
    async fn on_chat_dismiss(&self, _ctx: &Context, _e: &ChatEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/create`.
    async fn on_tag_create(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/update`.
    async fn on_tag_update(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/delete`.
    async fn on_tag_delete(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `change_external_tag/shuffle`.
    async fn on_tag_shuffle(&self, _ctx: &Context, _e: &TagEvent) -> HandlerResult {
        Ok(())
    }
    /// `customer_acquisition/*`.
    async fn on_customer_acquisition(
        &self,
        _ctx: &Context,
        _e: &AcquisitionEvent,
    ) -> HandlerResult {
        Ok(())
    }
    /// Any kind this version has no type for.
    async fn on_unknown(&self, _ctx: &Context, _e: &UnknownEvent) -> HandlerResult {
        Ok(())
    }
}

/// The handlers of one app, and the API client they act through.
#[derive(Clone, Default)]
pub struct AppHandlers {
    /// Handlers in registration order.
    pub handlers: Vec<Arc<dyn Handler>>,
    /// The app's API client, when it has a secret.
    pub api: Option<crate::api::Client>,
}

/// Retry policy for failed handlers.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts before a dead letter.
    pub max_attempts: u32,
    /// First delay; doubles each attempt.
    pub base: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before attempt `attempt + 1`, with ±20% jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(20)));
        let capped = exp.min(self.max);
        let jitter = 0.8 + rand::random::<f64>() * 0.4;
        capped.mul_f64(jitter)
    }
}

/// Everything a dispatcher needs.
pub struct DispatcherConfig {
    /// Handlers per app name.
    pub apps: HashMap<String, AppHandlers>,
    /// Retry policy.
    pub retry: RetryPolicy,
    /// Events handled at once.
    pub concurrency: usize,
    /// How often the inbox is swept for unfinished events not yet picked up.
    pub sweep_every: Duration,
}

struct Shared {
    inbox: Arc<dyn Inbox>,
    apps: HashMap<String, AppHandlers>,
    retry: RetryPolicy,
    permits: Arc<Semaphore>,
    metrics: Metrics,
    /// Events queued behind the one running for their order key.
    lanes: Mutex<HashMap<String, VecDeque<Job>>>,
    /// Events owned by this dispatcher (queued or running), so sweeps do not take them twice.
    owned: Mutex<HashSet<i64>>,
    stop: watch::Receiver<bool>,
}

/// One event to run; `fresh` when it was just appended (so it has no handler records yet),
/// with its parsed form when the server already has it.
struct Job {
    event: StoredEvent,
    fresh: bool,
    parsed: Option<Event>,
}

/// Runs handlers over the inbox. Cheap to clone.
#[derive(Clone)]
pub struct Dispatcher {
    shared: Arc<Shared>,
    stop_tx: Arc<watch::Sender<bool>>,
    tasks: tokio_util_tracker::Tracker,
}

impl Dispatcher {
    /// Start a dispatcher over `inbox`; it immediately picks up unfinished events. Handlers run
    /// on the Tokio runtime this is called from.
    pub fn start(inbox: Arc<dyn Inbox>, config: DispatcherConfig, metrics: Metrics) -> Self {
        let (stop_tx, stop) = watch::channel(false);
        let shared = Arc::new(Shared {
            inbox,
            apps: config.apps,
            retry: config.retry,
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            metrics,
            lanes: Mutex::new(HashMap::new()),
            owned: Mutex::new(HashSet::new()),
            stop,
        });
        let dispatcher = Dispatcher {
            shared,
            stop_tx: Arc::new(stop_tx),
            tasks: tokio_util_tracker::Tracker::new(tokio::runtime::Handle::current()),
        };
        let sweeper = dispatcher.clone();
        let every = config.sweep_every;
        dispatcher
            .tasks
            .spawn(async move { sweeper.sweep_loop(every).await });
        dispatcher
    }

    /// Hand a freshly appended event to the dispatcher (the server calls this after the commit).
    pub fn submit(&self, event: StoredEvent, parsed: Event) {
        self.take(Job {
            event,
            fresh: true,
            parsed: Some(parsed),
        });
    }

    /// Whether `app` has any handler (events of apps without one are stored as done).
    pub fn has_handlers(&self, app: &str) -> bool {
        self.shared
            .apps
            .get(app)
            .is_some_and(|a| !a.handlers.is_empty())
    }

    fn take(&self, job: Job) {
        if self.own(job.event.id) {
            self.enqueue(job);
        }
    }

    fn own(&self, id: i64) -> bool {
        match self.shared.owned.lock() {
            Ok(mut owned) => owned.insert(id),
            Err(_) => false,
        }
    }

    fn enqueue(&self, job: Job) {
        if let Some(key) = job.event.order_key.clone() {
            let Ok(mut lanes) = self.shared.lanes.lock() else {
                return;
            };
            if let Some(queue) = lanes.get_mut(&key) {
                // Another event of this customer or chat is running: wait behind it.
                queue.push_back(job);
                return;
            }
            lanes.insert(key, VecDeque::new());
        }
        let this = self.clone();
        self.tasks.spawn(async move { this.run_lane(job).await });
    }

    /// Run `job`, then whatever queued behind it in its lane.
    async fn run_lane(&self, first: Job) {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            let key = job.event.order_key.clone();
            let id = job.event.id;
            let stopped = self.process(job).await;
            if let Ok(mut owned) = self.shared.owned.lock() {
                owned.remove(&id);
            }
            let Some(key) = key else { break };
            let Ok(mut lanes) = self.shared.lanes.lock() else {
                break;
            };
            if stopped {
                // Leave queued events in the inbox for the next start.
                if let (Some(queue), Ok(mut owned)) = (lanes.remove(&key), self.shared.owned.lock())
                {
                    for queued in queue {
                        owned.remove(&queued.event.id);
                    }
                }
                break;
            }
            match lanes.get_mut(&key).and_then(VecDeque::pop_front) {
                Some(e) => next = Some(e),
                None => {
                    lanes.remove(&key);
                }
            }
        }
    }

    /// Run every unfinished handler of one event until it is done, dead, or shutdown starts.
    /// Returns true when it stopped because of shutdown.
    async fn process(&self, job: Job) -> bool {
        let Job {
            event: stored,
            fresh,
            parsed,
        } = job;
        let shared = &self.shared;
        let mut stop = shared.stop.clone();
        let app = shared.apps.get(&stored.app).cloned().unwrap_or_default();
        let parsed = match parsed {
            Some(event) => Ok(event),
            None => Event::parse(&stored.plaintext),
        };
        let event = match parsed {
            Ok(e) => e,
            Err(e) => {
                let _ = shared.inbox.finish(stored.id, Status::Failed).await;
                tracing::error!(event_id = stored.id, error = %e, "stored plaintext does not parse");
                return false;
            }
        };
        let previous = if fresh {
            Vec::new()
        } else {
            shared.inbox.runs(stored.id).await.unwrap_or_default()
        };
        let mut todo: Vec<(Arc<dyn Handler>, u32)> = app
            .handlers
            .iter()
            .filter_map(|h| {
                let run = previous.iter().find(|r| r.handler == h.name());
                match run {
                    Some(r) if r.state != RunState::Retry => None,
                    Some(r) => Some((h.clone(), r.attempts)),
                    None => Some((h.clone(), 0)),
                }
            })
            .collect();
        let mut dead = previous.iter().any(|r| r.state == RunState::Dead);
        let app_name: Arc<str> = Arc::from(stored.app.as_str());
        loop {
            if *stop.borrow() {
                return true;
            }
            let Ok(permit) = shared.permits.clone().acquire_owned().await else {
                return true;
            };
            let mut retry = Vec::new();
            let mut next_delay = Duration::MAX;
            let round = todo.len();
            let mut settled = false;
            for (index, (handler, attempts)) in todo.into_iter().enumerate() {
                let attempt = attempts + 1;
                let ctx = Context {
                    app: app_name.clone(),
                    event_id: stored.id,
                    attempt,
                    received_at: stored.received_at,
                    api: app.api.clone(),
                };
                let outcome = handler.handle(&ctx, &event).await;
                let (state, error) = match &outcome {
                    Ok(()) => (RunState::Done, None),
                    Err(HandlerError::Permanent(m)) => (RunState::Dead, Some(m.clone())),
                    Err(HandlerError::Transient(m)) if attempt >= shared.retry.max_attempts => (
                        RunState::Dead,
                        Some(format!("{m} (gave up after {attempt} attempts)")),
                    ),
                    Err(HandlerError::Transient(m)) => (RunState::Retry, Some(m.clone())),
                };
                shared
                    .metrics
                    .handler_outcome(&stored.app, handler.name(), state.as_str());
                match state {
                    RunState::Done => {
                        tracing::debug!(
                            event_id = stored.id,
                            handler = handler.name(),
                            attempt,
                            "handled"
                        )
                    }
                    _ => tracing::warn!(
                        event_id = stored.id,
                        handler = handler.name(),
                        attempt,
                        state = state.as_str(),
                        error = error.as_deref().unwrap_or_default(),
                        "handler failed"
                    ),
                }
                let run = HandlerRun {
                    handler: handler.name().to_owned(),
                    state,
                    attempts: attempt,
                    last_error: error,
                };
                match state {
                    RunState::Retry => {
                        next_delay = next_delay.min(shared.retry.delay(attempt));
                        retry.push((handler, attempt));
                    }
                    RunState::Dead => dead = true,
                    RunState::Done => {}
                }
                // The round's last outcome is stored together with the event's final status.
                let last = index + 1 == round;
                let status = (last && retry.is_empty()).then_some(if dead {
                    Status::Failed
                } else {
                    Status::Done
                });
                settled |= status.is_some();
                if let Err(e) = shared.inbox.settle(stored.id, run, status).await {
                    tracing::error!(event_id = stored.id, error = %e, "cannot record handler outcome");
                }
            }
            drop(permit);
            if retry.is_empty() {
                if !settled {
                    let status = if dead { Status::Failed } else { Status::Done };
                    if let Err(e) = shared.inbox.finish(stored.id, status).await {
                        tracing::error!(event_id = stored.id, error = %e, "cannot finish event");
                    }
                }
                if dead {
                    tracing::warn!(event_id = stored.id, kind = %stored.kind, "event is a dead letter");
                }
                return false;
            }
            todo = retry;
            tokio::select! {
                _ = tokio::time::sleep(next_delay) => {}
                _ = stop.changed() => return true,
            }
        }
    }

    async fn sweep_loop(&self, every: Duration) {
        let mut stop = self.shared.stop.clone();
        loop {
            match self.shared.inbox.pending(1000).await {
                Ok(events) => {
                    for event in events {
                        self.take(Job {
                            event,
                            fresh: false,
                            parsed: None,
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot sweep the inbox"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Stop taking events, let running handlers finish within `grace`, and leave the rest in
    /// the inbox. Returns whether everything stopped within the grace period.
    pub async fn shutdown(&self, grace: Duration) -> bool {
        let _ = self.stop_tx.send(true);
        self.tasks.wait(grace).await
    }
}

/// A tiny task tracker: spawn tasks and wait (bounded) for all of them to finish.
mod tokio_util_tracker {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use tokio::sync::Notify;

    #[derive(Clone)]
    pub(super) struct Tracker {
        inner: Arc<Inner>,
        runtime: tokio::runtime::Handle,
    }

    #[derive(Default)]
    struct Inner {
        running: AtomicUsize,
        idle: Notify,
    }

    struct Guard(Arc<Inner>);

    impl Drop for Guard {
        fn drop(&mut self) {
            if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
                self.0.idle.notify_waiters();
            }
        }
    }

    impl Tracker {
        pub(super) fn new(runtime: tokio::runtime::Handle) -> Self {
            Tracker {
                inner: Arc::default(),
                runtime,
            }
        }

        pub(super) fn spawn<F>(&self, task: F)
        where
            F: std::future::Future<Output = ()> + Send + 'static,
        {
            self.inner.running.fetch_add(1, Ordering::AcqRel);
            let guard = Guard(self.inner.clone());
            self.runtime.spawn(async move {
                let _guard = guard;
                task.await;
            });
        }

        pub(super) async fn wait(&self, grace: Duration) -> bool {
            let deadline = tokio::time::Instant::now() + grace;
            loop {
                let idle = self.inner.idle.notified();
                if self.inner.running.load(Ordering::Acquire) == 0 {
                    return true;
                }
                if tokio::time::timeout_at(deadline, idle).await.is_err() {
                    return self.inner.running.load(Ordering::Acquire) == 0;
                }
            }
        }
    }
}
