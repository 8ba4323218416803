//! The HTTP side (architecture §3.3): one resource per configured app path answering GET URL
//! verification and POST callbacks, plus `/healthz` and `/metrics`.
//!
//! A POST goes query → open (envelope, signature, timestamp window, decryption, parse) →
//! [`Intake`] → status: 200 only once the event and its deliveries are committed, 503 when the
//! store cannot commit (WeCom retries). Refusals are one short line: 400 for a malformed query
//! or envelope, 401 for a bad signature or a stale timestamp, 400 `undecryptable` — the same
//! for every cause — once the signature matched, 413 for a body over `max_body_bytes`. Unknown
//! paths are 404, other methods 405. Acknowledging does no network I/O.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::callback::{self, CallbackError, CallbackQuery, TimestampWindow, Undecryptable};
use crate::clock::now_ms;
use crate::crypto::MsgCrypt;
use crate::intake::{Accepted, Intake};
use crate::log::Escaped;
use crate::metrics::Metrics;

/// One app as the server sees it.
pub(crate) struct AppRoute {
    /// The app name.
    pub(crate) name: Arc<str>,
    /// The URL path.
    pub(crate) path: String,
    /// Its crypto.
    pub(crate) crypt: MsgCrypt,
    /// The body of 200 answers to POSTs.
    pub(crate) reply: String,
    /// How far a callback's timestamp may be from our clock (zero: no check).
    pub(crate) timestamp_tolerance: Duration,
}

impl AppRoute {
    fn window(&self) -> TimestampWindow {
        TimestampWindow::around_now(self.timestamp_tolerance)
    }
}

/// What every request handler shares.
pub(crate) struct ServerState {
    /// Where accepted events go.
    pub(crate) intake: Intake,
    /// The metrics.
    pub(crate) metrics: Metrics,
    /// API clients by app, for their call counts in `/metrics`.
    pub(crate) api_clients: Vec<(String, crate::api::Client)>,
    /// The last store check, reused for a second so probes cannot load the store.
    pub(crate) health: Mutex<Option<(Instant, Result<(), String>)>>,
    /// When the store last refused to store a callback (cleared by the next success).
    pub(crate) write_failed: Mutex<Option<(Instant, String)>>,
}

impl ServerState {
    /// Whether the store answers, checked at most once a second.
    async fn store_health(&self) -> Result<(), String> {
        if let Ok(failed) = self.write_failed.lock()
            && let Some((at, error)) = &*failed
            && at.elapsed() < Duration::from_secs(10)
        {
            self.metrics.set_store_up(false);
            return Err(format!("the store refuses writes: {error}"));
        }
        if let Ok(cached) = self.health.lock()
            && let Some((at, result)) = &*cached
            && at.elapsed() < Duration::from_secs(1)
        {
            return result.clone();
        }
        let checked = tokio::time::timeout(Duration::from_secs(2), self.intake.inbox().ping())
            .await
            .map_err(|_| "store check timed out".to_owned())
            .and_then(|r| r.map_err(|e| e.to_string()));
        self.metrics.set_store_up(checked.is_ok());
        if let Ok(mut cached) = self.health.lock() {
            *cached = Some((Instant::now(), checked.clone()));
        }
        checked
    }
}

/// Register the apps' callback paths and the 404 fallback.
pub(crate) fn configure_callbacks(
    apps: Arc<Vec<Arc<AppRoute>>>,
    state: web::Data<ServerState>,
    max_body_bytes: usize,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .app_data(web::PayloadConfig::new(max_body_bytes));
        for app in apps.iter() {
            cfg.service(
                web::resource(app.path.as_str())
                    .app_data(web::Data::from(app.clone()))
                    .route(web::get().to(verify))
                    .route(web::post().to(receive)),
            );
        }
    }
}

/// Register `/healthz` and `/metrics`.
pub(crate) fn configure_admin(
    state: web::Data<ServerState>,
) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics));
    }
}

/// The answer to a path no app has.
pub(crate) async fn not_found() -> HttpResponse {
    refuse(StatusCode::NOT_FOUND, "no such callback path")
}

fn refuse(status: StatusCode, reason: &str) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(reason.to_owned())
}

fn refuse_callback(
    state: &ServerState,
    app: &AppRoute,
    method: &str,
    error: &CallbackError,
) -> HttpResponse {
    state.metrics.callback(&app.name, "-", error.label());
    tracing::warn!(
        app = %app.name,
        method,
        reason = error.label(),
        error = %Escaped(&error.log_line()),
        "callback refused"
    );
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST);
    refuse(status, &error.answer())
}

/// GET `{path}?msg_signature&timestamp&nonce&echostr`: answer the bare decrypted echostr.
async fn verify(
    req: HttpRequest,
    app: web::Data<AppRoute>,
    state: web::Data<ServerState>,
) -> HttpResponse {
    let opened = CallbackQuery::parse(req.query_string())
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
            state
                .metrics
                .callback(&app.name, "url_verification", "verified");
            tracing::info!(app = %app.name, "url verification answered");
            HttpResponse::Ok().content_type("text/plain").body(plain)
        }
        Err(e) => refuse_callback(&state, &app, "GET", &e),
    }
}

/// POST `{path}?msg_signature&timestamp&nonce`: open, parse, store, then answer 200.
async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<AppRoute>,
    state: web::Data<ServerState>,
) -> HttpResponse {
    let started = Instant::now();
    let (plaintext, event) = match CallbackQuery::parse(req.query_string())
        .and_then(|query| callback::open_event(&app.crypt, &query, &body, app.window()))
    {
        Ok(opened) => opened,
        Err(e) => return refuse_callback(&state, &app, "POST", &e),
    };
    let kind = event.kind();
    let accepted = state.intake.accept(&app.name, plaintext, event).await;
    if let Ok(mut failed) = state.write_failed.lock() {
        *failed = accepted
            .as_ref()
            .err()
            .map(|e| (Instant::now(), e.to_string()));
    }
    let outcome = match accepted {
        Ok(Accepted::Stored(id)) => {
            tracing::info!(app = %app.name, event_id = id, kind = %Escaped(&kind), "callback stored");
            "stored"
        }
        Ok(Accepted::Duplicate(id)) => {
            tracing::info!(app = %app.name, event_id = id, kind = %Escaped(&kind), "duplicate callback acknowledged");
            "duplicate"
        }
        Ok(Accepted::Probe) => {
            tracing::info!(app = %app.name, "doctor probe acknowledged");
            "probe"
        }
        Err(e) => {
            state
                .metrics
                .callback(&app.name, &kind, "store_unavailable");
            tracing::error!(app = %app.name, error = %e, "cannot store callback");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable, retry later",
            );
        }
    };
    state.metrics.callback(&app.name, &kind, outcome);
    state
        .metrics
        .ack_latency(&app.name, started.elapsed().as_secs_f64());
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(app.reply.clone())
}

/// GET /healthz: 200 when the store answers (checked at most once a second).
async fn healthz(state: web::Data<ServerState>) -> HttpResponse {
    match state.store_health().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// GET /metrics: Prometheus text.
async fn metrics(state: web::Data<ServerState>) -> HttpResponse {
    if state.store_health().await.is_ok()
        && let Ok(Ok(stats)) =
            tokio::time::timeout(Duration::from_secs(2), state.intake.inbox().stats(now_ms())).await
    {
        // Every configured handler has its series, at zero when the store has nothing of it.
        let mut gauges = stats.handlers;
        for (app, handler) in state.intake.handlers() {
            if !gauges.iter().any(|g| g.app == app && g.handler == handler) {
                gauges.push(crate::metrics::HandlerGauges {
                    app,
                    handler,
                    ..Default::default()
                });
            }
        }
        state.metrics.set_deliveries(&gauges, stats.events_pending);
    }
    for (app, client) in &state.api_clients {
        state.metrics.set_api_calls(app, client.call_counts());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
