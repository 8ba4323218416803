//! Your own web service, as another crate would write it, with the WeCom callback endpoint
//! mounted under `/wecom`: [`actix_app`] for actix-web and [`axum_app`] for axum. Your routes,
//! your 404 and your body limits stay as they were; the callback paths, their body limit and
//! their 404 live under `/wecom`, and `/healthz` and `/metrics` only where you put them
//! (`/internal`).

use actix_web::{App, HttpResponse, web};
use wecom_callback::Embedded;

/// The actix-web app: `/` and `POST /upload` (up to 1 MB) are yours.
pub fn actix_app(
    embedded: &Embedded,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
        InitError = (),
    > + use<>,
> {
    App::new()
        .app_data(web::PayloadConfig::new(1 << 20))
        .route("/", web::get().to(|| async { "my service" }))
        .route(
            "/upload",
            web::post().to(|body: web::Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .service(web::scope("/wecom").configure(embedded.actix()))
        .service(web::scope("/internal").configure(embedded.actix_admin()))
        .default_service(web::to(|| async {
            HttpResponse::NotFound().body("my own 404")
        }))
}

/// The axum app: the same routes.
pub fn axum_app(embedded: &Embedded) -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/", get(|| async { "my service" }))
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { format!("{} bytes", body.len()) }),
        )
        .layer(axum::extract::DefaultBodyLimit::max(1 << 20))
        .nest("/wecom", embedded.axum())
        .nest("/internal", embedded.axum_admin())
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "my own 404") })
}
