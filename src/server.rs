//! The HTTP side (architecture §3.3): one resource per configured app path answering GET URL
//! verification and POST callbacks, plus `/healthz` and `/metrics`.
//!
//! A POST is verified, decrypted, parsed, appended to the inbox and only then answered 200 —
//! acknowledging does no network I/O. Refusals are one short line: 400 for malformed input,
//! 401 for a bad signature or receive id, 413 for a body over `max_body_bytes`, 503 when the
//! inbox cannot store (WeCom retries). Unknown paths are 404, other methods 405.

use std::sync::Arc;
use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use crate::callback::{self, CallbackError, CallbackQuery};
use crate::crypto::MsgCrypt;
use crate::dispatch::Dispatcher;
use crate::event::Event;
use crate::metrics::Metrics;
use crate::store::{Appended, Inbox, NewEvent, Status, StoredEvent, dedup_key, now_ms};

/// One app as the server sees it.
pub struct AppRoute {
    /// The app name.
    pub name: String,
    /// The URL path.
    pub path: String,
    /// Its crypto.
    pub crypt: MsgCrypt,
    /// The body of 200 answers to POSTs.
    pub reply: String,
}

/// What every request handler shares.
pub struct ServerState {
    /// The inbox events are appended to.
    pub inbox: Arc<dyn Inbox>,
    /// Where appended events go next.
    pub dispatcher: Dispatcher,
    /// The metrics.
    pub metrics: Metrics,
    /// API clients, for their call counts in `/metrics`.
    pub api_clients: Vec<(String, crate::api::Client)>,
}

/// Register every route: the apps' paths, `/healthz`, `/metrics`, and the 404 fallback.
pub fn configure(
    apps: &[Arc<AppRoute>],
    state: web::Data<ServerState>,
    max_body_bytes: usize,
) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state)
            .app_data(web::PayloadConfig::new(max_body_bytes))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics));
        for app in apps {
            cfg.service(
                web::resource(app.path.as_str())
                    .app_data(web::Data::from(app.clone()))
                    .route(web::get().to(verify))
                    .route(web::post().to(receive)),
            );
        }
        cfg.default_service(web::to(|| async {
            HttpResponse::NotFound()
                .content_type("text/plain")
                .body("no such callback path")
        }));
    }
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
    tracing::warn!(app = %app.name, method, reason = error.label(), error = %error, "callback refused");
    let status = if error.is_authentication() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    refuse(status, &error.to_string())
}

/// GET `{path}?msg_signature&timestamp&nonce&echostr`: answer the bare decrypted echostr.
async fn verify(
    req: HttpRequest,
    app: web::Data<AppRoute>,
    state: web::Data<ServerState>,
) -> HttpResponse {
    let opened = CallbackQuery::parse(req.query_string())
        .and_then(|query| callback::open_get(&app.crypt, &query));
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

/// POST `{path}?msg_signature&timestamp&nonce`: verify, decrypt, store, then answer 200.
async fn receive(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<AppRoute>,
    state: web::Data<ServerState>,
) -> HttpResponse {
    let started = Instant::now();
    let plaintext = match CallbackQuery::parse(req.query_string())
        .and_then(|query| callback::open_post(&app.crypt, &query, &body))
    {
        Ok(p) => p,
        Err(e) => return refuse_callback(&state, &app, "POST", &e),
    };
    let event = match Event::parse(&plaintext) {
        Ok(e) => e,
        Err(e) => {
            state.metrics.callback(&app.name, "-", "bad_plaintext");
            tracing::warn!(app = %app.name, error = %e, "decrypted callback is not valid xml");
            return refuse(StatusCode::BAD_REQUEST, &format!("plaintext: {e}"));
        }
    };
    let kind = event.kind();
    let order_key = event.order_key();
    let received_at = now_ms();
    let finished = !state.dispatcher.has_handlers(&app.name);
    // The dispatcher needs its own copy only when there is something to dispatch.
    let for_dispatch = (!finished).then(|| plaintext.clone());
    let new = NewEvent {
        app: app.name.clone(),
        dedup_key: dedup_key(&app.name, &plaintext),
        kind: kind.clone(),
        order_key: order_key.clone(),
        plaintext,
        received_at,
        finished,
    };
    match state.inbox.append(new).await {
        Ok(Appended::New(id)) => {
            state.metrics.callback(&app.name, &kind, "stored");
            tracing::info!(app = %app.name, event_id = id, kind = %kind, "callback stored");
            if let Some(plaintext) = for_dispatch {
                let stored = StoredEvent {
                    id,
                    app: app.name.clone(),
                    kind,
                    order_key,
                    plaintext,
                    received_at,
                    status: Status::Pending,
                };
                state.dispatcher.submit(stored, event);
            }
        }
        Ok(Appended::Duplicate(id)) => {
            state.metrics.callback(&app.name, &kind, "duplicate");
            tracing::info!(app = %app.name, event_id = id, kind = %kind, "duplicate callback acknowledged");
        }
        Err(e) => {
            state
                .metrics
                .callback(&app.name, &kind, "store_unavailable");
            tracing::error!(app = %app.name, error = %e, "cannot store callback");
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "inbox unavailable, retry later",
            );
        }
    }
    state
        .metrics
        .ack_latency(&app.name, started.elapsed().as_secs_f64());
    HttpResponse::Ok()
        .content_type("text/plain")
        .body(app.reply.clone())
}

/// GET /healthz: 200 when the inbox answers.
async fn healthz(state: web::Data<ServerState>) -> HttpResponse {
    match state.inbox.depth().await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// GET /metrics: Prometheus text.
async fn metrics(state: web::Data<ServerState>) -> HttpResponse {
    if let Ok(depth) = state.inbox.depth().await {
        state.metrics.set_deliveries(&[], depth.pending);
    }
    for (app, client) in &state.api_clients {
        state.metrics.set_api_calls(app, client.call_counts());
    }
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}
