//! Assembling the service: config + inbox + handlers (built-in and your own) + dispatcher +
//! HTTP server, and stopping it gracefully.
//!
//! Your own binary with your own plug-ins compiled in is a few lines:
//!
//! ```no_run
//! use wecom_callback::{Context, ContactEvent, Handler, HandlerResult};
//!
//! struct Greeter;
//!
//! #[wecom_callback::async_trait]
//! impl Handler for Greeter {
//!     fn name(&self) -> &str { "greeter" }
//!     async fn on_add_external_contact(&self, _ctx: &Context, e: &ContactEvent) -> HandlerResult {
//!         println!("new customer {}", e.external_user_id);
//!         Ok(())
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     wecom_callback::cli::main_with(vec![std::sync::Arc::new(Greeter)])
//! }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpServer, web};

use crate::config::{AppConfig, Backend, Config};
use crate::dispatch::{AppHandlers, Dispatcher, DispatcherConfig, Handler, RetryPolicy};
use crate::metrics::Metrics;
use crate::server::{AppRoute, ServerState};
use crate::store::{Inbox, MemoryInbox, SqliteInbox, now_ms};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The inbox could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// An app's API client could not be built.
    #[error("apps.{app}: {message}")]
    Api {
        /// The app.
        app: String,
        /// What went wrong.
        message: String,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A configured feature this build does not have.
    #[error("{0}")]
    Unsupported(String),
}

/// The service, before it starts.
pub struct Service {
    config: Config,
    shared_handlers: Vec<Arc<dyn Handler>>,
    app_handlers: Vec<(String, Arc<dyn Handler>)>,
    inbox: Option<Arc<dyn Inbox>>,
}

impl Service {
    /// A service for this configuration, with the built-in plug-ins it enables.
    pub fn new(config: Config) -> Self {
        Service {
            config,
            shared_handlers: Vec::new(),
            app_handlers: Vec::new(),
            inbox: None,
        }
    }

    /// Add a handler for every app.
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.shared_handlers.push(Arc::new(handler));
        self
    }

    /// Add an already shared handler for every app.
    pub fn handler_arc(mut self, handler: Arc<dyn Handler>) -> Self {
        self.shared_handlers.push(handler);
        self
    }

    /// Add a handler for one app only.
    pub fn app_handler(mut self, app: &str, handler: impl Handler) -> Self {
        self.app_handlers.push((app.to_owned(), Arc::new(handler)));
        self
    }

    /// Use this inbox instead of the configured one (tests).
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The API client for an app, when it has a secret.
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn api_client(&self, app: &AppConfig) -> Result<Option<crate::api::Client>, ServiceError> {
        let Some(secret) = app.secret.as_ref().filter(|s| !s.expose().is_empty()) else {
            return Ok(None);
        };
        crate::api::Client::builder()
            .corp_id(app.corp_id.clone())
            .secret(secret.expose().to_owned())
            .base_url(self.config.api.base_url.clone())
            .timeout(self.config.api_timeout())
            .proxy(self.config.api.proxy.clone())
            .build()
            .map(Some)
            .map_err(|e| ServiceError::Api {
                app: app.name.clone(),
                message: e.to_string(),
            })
    }

    /// Every app's handlers: built-in plug-ins first, then shared ones, then app-specific ones.
    ///
    /// # Errors
    /// When an API client cannot be built.
    pub fn handlers(&self) -> Result<HashMap<String, AppHandlers>, ServiceError> {
        let mut out = HashMap::new();
        for app in &self.config.apps {
            let api = self.api_client(app)?;
            let mut handlers = crate::plugins::for_app(app).map_err(|reason| {
                crate::config::ConfigError::Invalid {
                    key: format!("apps.{}.welcome", app.name),
                    reason,
                }
            })?;
            handlers.extend(self.shared_handlers.iter().cloned());
            handlers.extend(
                self.app_handlers
                    .iter()
                    .filter(|(name, _)| *name == app.name)
                    .map(|(_, h)| h.clone()),
            );
            out.insert(app.name.clone(), AppHandlers { handlers, api });
        }
        Ok(out)
    }

    /// Open the configured inbox.
    ///
    /// # Errors
    /// When it cannot be opened, or its backend is not in this build.
    pub fn open_inbox(config: &Config) -> Result<Arc<dyn Inbox>, ServiceError> {
        Ok(match config.store.backend {
            Backend::Sqlite => Arc::new(SqliteInbox::open_with(
                Path::new(&config.store.path),
                config.store.synchronous,
            )?),
            Backend::Memory => Arc::new(MemoryInbox::new()),
            Backend::Redis => {
                return Err(ServiceError::Unsupported(
                    "store.backend = \"redis\" is not available in this version; use \"sqlite\""
                        .into(),
                ));
            }
        })
    }

    /// Bind the listener and start serving. Returns once the server accepts connections.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn start(self) -> Result<Running, ServiceError> {
        let config = &self.config;
        let inbox = match &self.inbox {
            Some(inbox) => inbox.clone(),
            None => Self::open_inbox(config)?,
        };
        let apps = self.handlers()?;
        let api_clients: Vec<_> = apps
            .iter()
            .filter_map(|(name, a)| a.api.clone().map(|c| (name.clone(), c)))
            .collect();
        let metrics = Metrics::new();
        let dispatcher = Dispatcher::start(
            inbox.clone(),
            DispatcherConfig {
                apps,
                retry: RetryPolicy {
                    max_attempts: config.dispatch.max_attempts,
                    base: crate::config::parse_duration(&config.dispatch.backoff_base)
                        .unwrap_or(Duration::from_secs(1)),
                    max: crate::config::parse_duration(&config.dispatch.backoff_max)
                        .unwrap_or(Duration::from_secs(300)),
                },
                concurrency: config.dispatch.concurrency,
                sweep_every: Duration::from_secs(1),
            },
            metrics.clone(),
        );
        let routes = config
            .apps
            .iter()
            .map(|a| {
                Ok(Arc::new(AppRoute {
                    name: a.name.clone(),
                    path: a.path.clone(),
                    crypt: a
                        .msg_crypt()
                        .map_err(|e| crate::config::ConfigError::Invalid {
                            key: format!("apps.{}.encoding_aes_key", a.name),
                            reason: e.to_string(),
                        })?,
                    reply: a.reply.clone(),
                }))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let state = web::Data::new(ServerState {
            inbox: inbox.clone(),
            dispatcher: dispatcher.clone(),
            metrics,
            api_clients,
        });
        let addr = config.listen_addr()?;
        let listener = std::net::TcpListener::bind(addr).map_err(|source| ServiceError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let local = listener.local_addr().map_err(|source| ServiceError::Bind {
            addr: addr.to_string(),
            source,
        })?;
        let max_body = config.server.max_body_bytes;
        let grace = config.shutdown_timeout();
        let mut server = HttpServer::new(move || {
            App::new().configure(crate::server::configure(&routes, state.clone(), max_body))
        })
        .disable_signals()
        .shutdown_timeout(grace.as_secs().max(1));
        if config.server.workers > 0 {
            server = server.workers(config.server.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| ServiceError::Bind {
                addr: addr.to_string(),
                source,
            })?
            .run();
        let handle = server.handle();
        let join = tokio::spawn(server);
        let purge = tokio::spawn(purge_loop(inbox, config.retention()));
        tracing::info!(listen = %local, apps = config.apps.len(), "serving");
        Ok(Running {
            addr: local,
            handle,
            join,
            purge,
            dispatcher,
            grace,
        })
    }
}

/// Delete finished events (and their dedup keys) older than `retention`, hourly.
async fn purge_loop(inbox: Arc<dyn Inbox>, retention: Duration) {
    loop {
        let before = now_ms() - retention.as_millis() as i64;
        match inbox.purge(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "old finished events purged"),
            Err(e) => tracing::warn!(error = %e, "cannot purge old events"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// A running service.
pub struct Running {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
    purge: tokio::task::JoinHandle<()>,
    dispatcher: Dispatcher,
    grace: Duration,
}

impl Running {
    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let running handlers finish within `shutdown_timeout`, and leave the
    /// rest in the inbox for the next start.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        self.handle.stop(true).await;
        let finished = self.dispatcher.shutdown(self.grace).await;
        if !finished {
            tracing::warn!("handlers still running at shutdown; their events stay in the inbox");
        }
        self.purge.abort();
        let _ = self.join.await;
    }

    /// Serve until SIGTERM or SIGINT, then [`Running::stop`].
    pub async fn run_until_signal(self) {
        wait_for_signal().await;
        self.stop().await;
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
