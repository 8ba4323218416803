//! What `serve` has without its listener: the callback endpoint to mount in your own actix-web
//! or axum service, the dispatcher and the retention purge running, and a [`Handle`] to stop
//! them cleanly.
//!
//! ```no_run
//! # async fn run(config: wecom_callback::Config) -> Result<(), Box<dyn std::error::Error>> {
//! use actix_web::{App, HttpServer, web};
//!
//! let embedded = wecom_callback::Service::new(config).build().await?;
//! let (callbacks, admin) = (embedded.actix(), embedded.actix_admin());
//! HttpServer::new(move || {
//!     App::new()
//!         // Your own routes, 404 and body limits stay yours; the callback paths, their body
//!         // limit and their 404 live under /wecom.
//!         .service(web::scope("/wecom").configure(callbacks.clone()))
//!         .service(web::scope("/internal").configure(admin.clone()))
//! })
//! .bind("127.0.0.1:8080")?
//! .run()
//! .await?;
//! embedded.handle().stop().await;
//! # Ok(())
//! # }
//! ```

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::web;

use super::{Service, ServiceError};
use crate::clock::{millis, now_ms};
use crate::dispatch::Dispatcher;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::store::Inbox;
use crate::web::{AppRoute, Recent, Tally, Web};

/// Finished events deleted per purge transaction, so the purge never holds the writer long.
const PURGE_BATCH: usize = 500;

/// The built service, ready to mount. Cheap to clone (one per HTTP worker).
#[derive(Clone)]
pub struct Embedded {
    web: Arc<Web>,
    handle: Handle,
}

/// Stops a built service: stops leasing, lets running deliveries finish within the grace
/// period (`server.shutdown_timeout`), releases the rest, and stops the purge. Cheap to clone.
#[derive(Clone)]
pub struct Handle {
    dispatcher: Dispatcher,
    /// The retention purge and the periodic log summary.
    background: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    /// For the last log summary.
    web: Arc<Web>,
    grace: Duration,
}

impl Handle {
    /// Stop cleanly. Returns whether every running delivery finished within the grace period.
    pub async fn stop(&self) -> bool {
        if let Ok(mut background) = self.background.lock() {
            for task in background.drain(..) {
                task.abort();
            }
        }
        self.web.tally.log_summary();
        let finished = self.dispatcher.shutdown(self.grace).await;
        if !finished {
            tracing::warn!("handlers still running at shutdown; their deliveries stay pending");
        }
        finished
    }
}

impl Service {
    /// Build everything `serve` has except the listener: the store opened, the handlers built,
    /// the dispatcher and the retention purge started on the current Tokio runtime.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn build(self) -> Result<Embedded, ServiceError> {
        let config = &self.config;
        let inbox = match &self.inbox {
            Some(inbox) => inbox.clone(),
            None => Self::open_store(config, true).await?,
        };
        // The store keeps the access tokens (one `gettoken` for every instance of a shared one).
        let apps = self.handlers_with(inbox.token_store())?;
        let mut names: Vec<_> = apps.iter().collect();
        names.sort_by_key(|(name, _)| name.as_str());
        for (name, app) in names {
            let plugins: Vec<&str> = app.handlers.iter().map(|h| h.handler.name()).collect();
            let plugins = if plugins.is_empty() {
                "none".to_owned()
            } else {
                plugins.join(", ")
            };
            tracing::info!(app = %name, %plugins, "handlers");
        }
        let api_clients: Vec<_> = apps
            .iter()
            .filter_map(|(name, a)| a.api.clone().map(|c| (name.clone(), c)))
            .collect();
        let metrics = Metrics::new();
        let dispatcher = Dispatcher::start(
            inbox.clone(),
            apps,
            Self::dispatch_settings(config),
            metrics.clone(),
        )
        .await;
        let routes = config
            .apps
            .iter()
            .map(|a| {
                Ok(Arc::new(AppRoute {
                    name: Arc::from(a.name.as_str()),
                    path: a.path.clone(),
                    crypt: a
                        .msg_crypt()
                        .map_err(|e| crate::config::ConfigError::Invalid {
                            key: format!("apps.{}.encoding_aes_key", a.name),
                            reason: e.to_string(),
                        })?,
                    reply: a.reply.clone().into(),
                    timestamp_tolerance: config.server.timestamp_tolerance,
                }))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let web = Arc::new(Web {
            apps: routes,
            max_body_bytes: config.server.max_body_bytes,
            intake: Intake::new(inbox.clone(), dispatcher.clone(), config.dispatch.lease),
            metrics,
            api_clients,
            health: Recent::new(Web::STORE_READS_EVERY),
            stats: Recent::new(Web::STORE_READS_EVERY),
            write_failing: AtomicBool::new(false),
            write_failed: Mutex::new(None),
            tally: Tally::default(),
        });
        let purge = tokio::spawn(purge_loop(inbox, config.store.retention));
        let summary = tokio::spawn({
            let web = web.clone();
            async move {
                loop {
                    tokio::time::sleep(Tally::EVERY).await;
                    web.tally.log_summary();
                }
            }
        });
        Ok(Embedded {
            web: web.clone(),
            handle: Handle {
                web,
                dispatcher,
                background: Arc::new(Mutex::new(vec![purge, summary])),
                grace: config.server.shutdown_timeout,
            },
        })
    }
}

impl Embedded {
    /// For an actix-web `Scope` (or `App`): the apps' callback paths (relative to where you
    /// mount it), their body limit, and a 404 for other paths below it. Mount it in a scope
    /// (`web::scope("/wecom").configure(embedded.actix())`) so that the body limit and the
    /// 404 stay there.
    pub fn actix(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        crate::web::actix::callbacks(self.web.clone())
    }

    /// For an actix-web `Scope` (or `App`): `/healthz` and `/metrics`. Mount them where only
    /// you can reach them.
    pub fn actix_admin(&self) -> impl Fn(&mut web::ServiceConfig) + Clone + 'static {
        crate::web::actix::admin(self.web.clone())
    }

    /// An axum `Router` with the apps' callback paths, their body limit and a 404 for other
    /// paths; nest it under the path you choose (`Router::new().nest("/wecom", …)`).
    #[cfg(feature = "axum")]
    pub fn axum(&self) -> axum::Router {
        crate::web::axum::callbacks(self.web.clone())
    }

    /// An axum `Router` with `/healthz` and `/metrics`.
    #[cfg(feature = "axum")]
    pub fn axum_admin(&self) -> axum::Router {
        crate::web::axum::admin(self.web.clone())
    }

    /// The handle that stops the service.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

/// Delete finished events (and their dedup keys) older than `retention`: hourly, in small
/// batches with pauses between them, so acknowledgements never wait behind a long delete.
/// Dead letters are never purged here (`events purge --failed` does that by hand).
async fn purge_loop(inbox: Arc<dyn Inbox>, retention: Duration) {
    loop {
        let before = now_ms() - millis(retention);
        let mut purged = 0u64;
        loop {
            match inbox.purge(before, PURGE_BATCH).await {
                Ok(0) => break,
                Ok(n) => purged += n,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot purge old events");
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if purged > 0 {
            tracing::info!(purged, "old finished events purged");
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}
