//! The axum side (feature `axum`): requests in, [`Answer`]s out. [`callbacks`] is a `Router`
//! with the apps' paths, their body limit and a 404 for anything else — nest it under the path
//! you choose; [`admin`] serves `/healthz` and `/metrics`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::{Answer, Web};

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        match self.content_type {
            Some(content_type) => {
                (status, [(header::CONTENT_TYPE, content_type)], self.body).into_response()
            }
            // `Body`, not `Bytes`, which axum would label `application/octet-stream`.
            None => (status, axum::body::Body::from(self.body)).into_response(),
        }
    }
}

/// The apps' callback paths, the body limit and the 404 for other paths.
pub(crate) fn callbacks(shared: Arc<Web>) -> Router {
    let mut router = Router::new();
    for app in &shared.apps {
        let (get_shared, get_app) = (shared.clone(), app.clone());
        let (post_shared, post_app) = (shared.clone(), app.clone());
        router = router.route(
            &app.path,
            get(move |RawQuery(query): RawQuery| async move {
                get_shared.verify(&get_app, query.as_deref().unwrap_or_default())
            })
            .post(
                move |RawQuery(query): RawQuery, body: Result<Bytes, BytesRejection>| async move {
                    match body {
                        Ok(body) => {
                            post_shared
                                .receive(&post_app, query.as_deref().unwrap_or_default(), &body)
                                .await
                        }
                        Err(e) => post_shared.refuse_body(&post_app, e.status().as_u16()),
                    }
                },
            ),
        );
    }
    router
        .fallback(|| async { Answer::not_found() })
        .layer(DefaultBodyLimit::max(shared.max_body_bytes))
}

/// `/healthz` and `/metrics`.
pub(crate) fn admin(shared: Arc<Web>) -> Router {
    let metrics = shared.clone();
    Router::new()
        .route(
            "/healthz",
            get(move || async move { shared.healthz().await }),
        )
        .route(
            "/metrics",
            get(move || async move { metrics.metrics().await }),
        )
}
