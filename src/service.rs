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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpServer, web};

use crate::api::TokenStore;
use crate::backoff::Backoff;
use crate::clock::{millis, now_ms};
use crate::config::{AppConfig, Backend, Config};
use crate::dispatch::{AppHandlers, DispatchSettings, Dispatcher};
use crate::handler::Handler;
use crate::intake::Intake;
use crate::metrics::Metrics;
use crate::plugins::HandlerLimits;
use crate::server::{AppRoute, ServerState};
use crate::store::{Inbox, MemoryInbox, PostgresInbox, SqliteInbox, SqliteOptions};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The store could not be opened.
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
    /// A listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// How long a `serve` waits for another process's SQLite write lock before answering 503:
/// well under WeCom's 5 s, so a backup or a `sqlite3` shell holding the lock costs retries,
/// never timeouts.
const SERVE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Finished events deleted per purge transaction, so the purge never holds the writer long.
const PURGE_BATCH: usize = 500;

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

    /// Use this store instead of the configured one (tests).
    pub fn with_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.inbox = Some(inbox);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The API client for an app, when it has a secret, with its token in this process.
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn api_client(
        config: &Config,
        app: &AppConfig,
    ) -> Result<Option<crate::api::Client>, ServiceError> {
        Self::api_client_with(config, app, None)
    }

    /// The API client for an app, when it has a secret, keeping its access token in `tokens`
    /// (the store's: kept across runs, shared by the instances of a shared store) or, when
    /// `None`, in this process.
    ///
    /// # Errors
    /// When the client cannot be built.
    pub fn api_client_with(
        config: &Config,
        app: &AppConfig,
        tokens: Option<Arc<dyn TokenStore>>,
    ) -> Result<Option<crate::api::Client>, ServiceError> {
        let Some(secret) = app.api_secret() else {
            return Ok(None);
        };
        let mut builder = crate::api::Client::builder()
            .corp_id(app.corp_id.clone())
            .secret(secret.expose().to_owned())
            .base_url(config.api.base_url.clone())
            .timeout(config.api.timeout);
        if let Some(tokens) = tokens {
            builder = builder.token_store(tokens);
        }
        builder.build().map(Some).map_err(|e| ServiceError::Api {
            app: app.name.clone(),
            message: e.to_string(),
        })
    }

    /// Where the configured store keeps access tokens (`None` for the memory store: each
    /// client keeps its own). Opens the store as a command does, not as `serve`.
    ///
    /// # Errors
    /// When the store cannot be opened.
    pub async fn token_store(config: &Config) -> Result<Option<Arc<dyn TokenStore>>, ServiceError> {
        if config.store.backend == Backend::Memory {
            return Ok(None);
        }
        Ok(Self::open_store(config, false).await?.token_store())
    }

    /// Every app's handlers with their limits: built-in plug-ins first, then shared ones,
    /// then app-specific ones. API clients keep their tokens in this process.
    ///
    /// # Errors
    /// A plug-in section that does not parse, or an API client that cannot be built.
    pub fn handlers(&self) -> Result<HashMap<String, AppHandlers>, ServiceError> {
        self.handlers_with(None)
    }

    /// As [`handlers`](Self::handlers), with the API clients keeping their tokens in `tokens`.
    ///
    /// # Errors
    /// As [`handlers`](Self::handlers).
    pub fn handlers_with(
        &self,
        tokens: Option<Arc<dyn TokenStore>>,
    ) -> Result<HashMap<String, AppHandlers>, ServiceError> {
        let config = &self.config;
        let mut out = HashMap::new();
        for (index, app) in config.apps.iter().enumerate() {
            let api = Self::api_client_with(config, app, tokens.clone())?;
            let mut handlers =
                crate::plugins::builtin(app, index, &config.dispatch, config.api.timeout)?;
            let own = self.shared_handlers.iter().chain(
                self.app_handlers
                    .iter()
                    .filter(|(name, _)| *name == app.name)
                    .map(|(_, h)| h),
            );
            for handler in own {
                let mut table = app.plugins.get(handler.name()).cloned().unwrap_or_default();
                let key = format!("apps[{index}].plugins.{}", handler.name());
                let limits =
                    HandlerLimits::defaults(&config.dispatch).take_from(&mut table, &key)?;
                handlers.push(limits.spec(handler.clone()));
            }
            let mut names = std::collections::HashSet::new();
            for spec in &handlers {
                if !names.insert(spec.handler.name().to_owned()) {
                    return Err(crate::config::ConfigError::Invalid {
                        key: format!("apps[{index}]"),
                        reason: format!("two handlers are named {:?}", spec.handler.name()),
                    }
                    .into());
                }
            }
            out.insert(app.name.clone(), AppHandlers { handlers, api });
        }
        Ok(out)
    }

    /// Open the configured store. `serve` owns a SQLite store (one at a time) and waits at most
    /// a second for another process's write lock; other commands wait up to five. A PostgreSQL
    /// store is shared: every instance (and command) connects alike, migrating its schema.
    ///
    /// # Errors
    /// When it cannot be opened.
    pub async fn open_store(config: &Config, serve: bool) -> Result<Arc<dyn Inbox>, ServiceError> {
        Ok(match config.store.backend {
            Backend::Sqlite => {
                let options = SqliteOptions {
                    full_sync: config.store.synchronous == crate::config::Synchronous::Full,
                    busy_timeout: if serve {
                        SERVE_BUSY_TIMEOUT
                    } else {
                        Duration::from_secs(5)
                    },
                    owner: serve,
                };
                Arc::new(SqliteInbox::open_with(&config.store.path, &options)?)
            }
            Backend::Memory => Arc::new(MemoryInbox::new()),
            Backend::Postgres => Arc::new(PostgresInbox::connect(&config.store).await?),
        })
    }

    /// The dispatcher's settings from `[dispatch]`.
    pub fn dispatch_settings(config: &Config) -> DispatchSettings {
        DispatchSettings {
            max_attempts: config.dispatch.max_attempts,
            backoff: Backoff::new(config.dispatch.backoff_base, config.dispatch.backoff_max),
            lease: config.dispatch.lease,
            poll: Duration::from_secs(1),
        }
    }

    /// Bind the listeners and start serving. Returns once the server accepts connections.
    ///
    /// # Errors
    /// See [`ServiceError`].
    pub async fn start(self) -> Result<Running, ServiceError> {
        let config = &self.config;
        let inbox = match &self.inbox {
            Some(inbox) => inbox.clone(),
            None => Self::open_store(config, true).await?,
        };
        // The store keeps the access tokens (one `gettoken` for every instance of a shared one).
        let apps = self.handlers_with(inbox.token_store())?;
        for (name, app) in &apps {
            let names: Vec<&str> = app.handlers.iter().map(|h| h.handler.name()).collect();
            tracing::info!(app = %name, plugins = %names.join(", "), "handlers");
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
                    reply: a.reply.clone(),
                }))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let state = web::Data::new(ServerState {
            intake: Intake::new(inbox.clone(), dispatcher.clone(), config.dispatch.lease),
            metrics,
            api_clients,
            health: Mutex::new(None),
            write_failed: Mutex::new(None),
        });
        let callbacks = crate::server::configure_callbacks(
            Arc::new(routes),
            state.clone(),
            config.server.max_body_bytes,
        );
        let admin = crate::server::configure_admin(state.clone());
        let admin_here = config.server.admin_listen.is_none();
        let grace = config.server.shutdown_timeout;
        let (addr, main) = listen(config, config.server.listen, move || {
            let app = App::new().configure(callbacks.clone());
            let app = if admin_here {
                app.configure(admin.clone())
            } else {
                app.configure(|_| {})
            };
            app.default_service(web::to(crate::server::not_found))
        })?;
        let admin_server = match config.server.admin_listen {
            Some(admin_addr) => {
                let admin = crate::server::configure_admin(state.clone());
                Some(listen(config, admin_addr, move || {
                    App::new()
                        .configure(admin.clone())
                        .default_service(web::to(crate::server::not_found))
                })?)
            }
            None => None,
        };
        let purge = tokio::spawn(purge_loop(inbox, config.store.retention));
        tracing::info!(listen = %addr, admin = ?admin_server.as_ref().map(|(a, _)| *a), apps = config.apps.len(), "serving");
        let (admin_addr, admin_server) = match admin_server {
            Some((a, s)) => (Some(a), Some(s)),
            None => (None, None),
        };
        Ok(Running {
            addr,
            admin_addr,
            servers: std::iter::once(main).chain(admin_server).collect(),
            purge,
            dispatcher,
            grace,
        })
    }
}

/// A started HTTP server: its handle and its task.
struct Listener {
    handle: actix_web::dev::ServerHandle,
    join: tokio::task::JoinHandle<std::io::Result<()>>,
}

fn listen<F, A>(
    config: &Config,
    addr: SocketAddr,
    factory: F,
) -> Result<(SocketAddr, Listener), ServiceError>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_web::dev::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let bind_error = |source| ServiceError::Bind {
        addr: addr.to_string(),
        source,
    };
    let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    let mut server = HttpServer::new(factory)
        .disable_signals()
        .shutdown_timeout(config.server.shutdown_timeout.as_secs().max(1));
    if config.server.workers > 0 {
        server = server.workers(config.server.workers);
    }
    let server = server.listen(listener).map_err(bind_error)?.run();
    let handle = server.handle();
    Ok((
        local,
        Listener {
            handle,
            join: tokio::spawn(server),
        },
    ))
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

/// A running service.
pub struct Running {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    servers: Vec<Listener>,
    purge: tokio::task::JoinHandle<()>,
    dispatcher: Dispatcher,
    grace: Duration,
}

impl Running {
    /// The bound callback address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound admin address (`/healthz`, `/metrics`) when `admin_listen` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Stop accepting, let running handlers finish within `shutdown_timeout`, and release the
    /// deliveries still running so the next start takes them at once.
    pub async fn stop(self) {
        tracing::info!("shutting down");
        for server in &self.servers {
            server.handle.stop(true).await;
        }
        let finished = self.dispatcher.shutdown(self.grace).await;
        if !finished {
            tracing::warn!("handlers still running at shutdown; their deliveries stay pending");
        }
        self.purge.abort();
        for server in self.servers {
            let _ = server.join.await;
        }
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
