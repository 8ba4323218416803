//! The actix-web side: requests in, [`Answer`]s out. [`callbacks`] registers the apps' paths
//! with their body limit and a 404 for anything else, all inside whatever scope it is mounted
//! in; [`admin`] registers `/healthz` and `/metrics`.

use std::sync::Arc;

use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::web::{Bytes, BytesMut};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use futures::StreamExt;

use super::{Answer, AppRoute, Web};

impl From<Answer> for HttpResponse {
    fn from(answer: Answer) -> Self {
        let mut response = HttpResponse::build(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST),
        );
        if let Some(content_type) = answer.content_type {
            response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(content_type)));
        }
        response.body(answer.body)
    }
}

/// Register the apps' callback paths, the body limit and the 404 for other paths.
pub(crate) fn callbacks(shared: Arc<Web>) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(shared.clone()));
        for app in &shared.apps {
            cfg.service(
                web::resource(app.path.as_str())
                    .app_data(web::Data::from(app.clone()))
                    .route(web::route().to(by_method)),
            );
        }
        cfg.default_service(web::to(not_found));
    }
}

/// Register `/healthz` and `/metrics`.
pub(crate) fn admin(shared: Arc<Web>) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(shared.clone()))
            .route("/healthz", web::get().to(healthz))
            .route("/metrics", web::get().to(metrics));
    }
}

pub(crate) async fn not_found() -> HttpResponse {
    Answer::not_found().into()
}

/// An app's path: POST is a callback, GET WeCom's URL verification, any other method 405.
/// Chosen here rather than by actix-web's method guards, which record every method they check
/// in the request's extensions (for the 405's `Allow`): 4 allocations per callback.
async fn by_method(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppRoute>,
    shared: web::Data<Web>,
) -> HttpResponse {
    match *req.method() {
        Method::POST => receive(req, payload, app, shared).await,
        Method::GET => shared.verify(&app, req.query_string()).into(),
        _ => HttpResponse::MethodNotAllowed()
            .insert_header((header::ALLOW, "GET, POST"))
            .finish(),
    }
}

async fn receive(
    req: HttpRequest,
    payload: web::Payload,
    app: web::Data<AppRoute>,
    shared: web::Data<Web>,
) -> HttpResponse {
    match read_body(&req, payload, shared.max_body_bytes).await {
        Ok(body) => shared.receive(&app, req.query_string(), &body).await.into(),
        Err(e) => shared.refuse_body(&app, e.status_code().as_u16()).into(),
    }
}

/// The request body, refused as [`PayloadError::Overflow`] past `limit` bytes (at once when
/// its `Content-Length` says so). A body that came in one chunk — a callback of a few hundred
/// bytes always does — is that chunk, not a copy: actix-web's `Bytes` extractor would copy it
/// into a new 8 KiB buffer, an allocation large enough to make the allocator tidy up at
/// every callback. The body is read as it came: no `Content-Encoding` is undone (WeCom sends
/// none, and undoing one would spend CPU on what an unauthenticated sender chose).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Bytes, PayloadError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(PayloadError::Overflow);
    }
    let Some(first) = payload.next().await.transpose()? else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
        return Err(PayloadError::Overflow);
    }
    let Some(mut chunk) = payload.next().await.transpose()? else {
        return Ok(first);
    };
    let mut body = BytesMut::with_capacity(declared.unwrap_or(0).max(first.len()).min(limit));
    body.extend_from_slice(&first);
    loop {
        if body.len() + chunk.len() > limit {
            return Err(PayloadError::Overflow);
        }
        body.extend_from_slice(&chunk);
        match payload.next().await.transpose()? {
            Some(next) => chunk = next,
            None => return Ok(body.freeze()),
        }
    }
}

async fn healthz(shared: web::Data<Web>) -> HttpResponse {
    shared.healthz().await.into()
}

async fn metrics(shared: web::Data<Web>) -> HttpResponse {
    shared.metrics().await.into()
}
