//! The actix-web side: requests in, [`Answer`]s out. [`callbacks`] registers the apps' paths
//! with their body limit and a 404 for anything else, all inside whatever scope it is mounted
//! in; [`admin`] registers `/healthz` and `/metrics`.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::{Answer, AppRoute, Web};

impl From<Answer> for HttpResponse {
    fn from(answer: Answer) -> Self {
        HttpResponse::build(StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST))
            .content_type(answer.content_type)
            .body(answer.body)
    }
}

/// Register the apps' callback paths, the body limit and the 404 for other paths.
pub(crate) fn callbacks(shared: Arc<Web>) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
    move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(web::Data::from(shared.clone()))
            .app_data(web::PayloadConfig::new(shared.max_body_bytes));
        for app in &shared.apps {
            cfg.service(
                web::resource(app.path.as_str())
                    .app_data(web::Data::from(app.clone()))
                    .route(web::get().to(verify))
                    .route(web::post().to(receive)),
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

async fn verify(
    req: HttpRequest,
    app: web::Data<AppRoute>,
    shared: web::Data<Web>,
) -> HttpResponse {
    shared.verify(&app, req.query_string()).into()
}

async fn receive(
    req: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
    app: web::Data<AppRoute>,
    shared: web::Data<Web>,
) -> HttpResponse {
    match body {
        Ok(body) => shared.receive(&app, req.query_string(), &body).await.into(),
        Err(e) => {
            let status = e.as_response_error().status_code().as_u16();
            shared.refuse_body(&app, status).into()
        }
    }
}

async fn healthz(shared: web::Data<Web>) -> HttpResponse {
    shared.healthz().await.into()
}

async fn metrics(shared: web::Data<Web>) -> HttpResponse {
    shared.metrics().await.into()
}
