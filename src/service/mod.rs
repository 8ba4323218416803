//! Assembling the service: config + store + handlers (built-in plug-ins and yours) +
//! dispatcher + the HTTP side, and stopping it cleanly.
//!
//! - [`Service`] collects what the service is made of and builds it.
//! - [`Service::build`] gives what `serve` has without a listener, to mount in your own actix-web
//!   or axum service ([`Embedded`], stopped with its [`Handle`]).
//! - [`Service::start`] is `serve`: it binds the listeners ([`Running`]).
//!
//! Your own binary with your own plug-ins compiled in is a few lines: see
//! [`crate::plugins::Plugin`] and [`crate::cli::main_with`].

mod embed;
mod listen;

pub use embed::{Embedded, Handle};
pub use listen::Running;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::api::TokenStore;
use crate::backoff::Backoff;
use crate::config::{AppConfig, Backend, Config};
use crate::dispatch::{AppHandlers, DispatchSettings};
use crate::handler::Handler;
use crate::plugins::{HandlerLimits, PluginFactory};
use crate::store::{Inbox, MemoryInbox, PostgresInbox, SqliteInbox, SqliteOptions};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The configuration (or a plug-in's settings) is unusable.
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

/// The service, before it is built.
pub struct Service {
    config: Config,
    plugins: Vec<Arc<dyn PluginFactory>>,
    shared_handlers: Vec<Arc<dyn Handler>>,
    app_handlers: Vec<(String, Arc<dyn Handler>)>,
    inbox: Option<Arc<dyn Inbox>>,
}

impl Service {
    /// A service for this configuration, with the built-in plug-ins it enables.
    pub fn new(config: Config) -> Self {
        Service {
            config,
            plugins: Vec::new(),
            shared_handlers: Vec::new(),
            app_handlers: Vec::new(),
            inbox: None,
        }
    }

    /// Add your plug-in: it runs for the apps whose config has its `[apps.plugins.<name>]`.
    pub fn plugin(mut self, plugin: Arc<dyn PluginFactory>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Add your plug-ins.
    pub fn plugins(mut self, plugins: impl IntoIterator<Item = Arc<dyn PluginFactory>>) -> Self {
        self.plugins.extend(plugins);
        self
    }

    /// Add a ready handler for every app (its limits from `[apps.plugins.<name>]` if present,
    /// else `[dispatch]`).
    pub fn handler(mut self, handler: impl Handler) -> Self {
        self.shared_handlers.push(Arc::new(handler));
        self
    }

    /// Add an already shared ready handler for every app.
    pub fn handler_arc(mut self, handler: Arc<dyn Handler>) -> Self {
        self.shared_handlers.push(handler);
        self
    }

    /// Add a ready handler for one app only.
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
            .timeout(config.api.timeout)
            .proxy(config.api.proxy.clone());
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

    /// Check every plug-in section without building your plug-ins: the built-in ones parse
    /// their sections, yours parse their tables, and a table no plug-in owns is an error.
    /// Returns each app's plug-in names with their limits, in the order they run.
    ///
    /// # Errors
    /// The first section at fault, naming its key.
    pub fn check(&self) -> Result<Vec<(String, Vec<String>)>, ServiceError> {
        let config = &self.config;
        let mut out = Vec::new();
        for (index, app) in config.apps.iter().enumerate() {
            let builtin =
                crate::plugins::builtin(app, index, &config.dispatch, config.api.timeout)?;
            let ready = self.ready_names(&app.name);
            crate::plugins::yours(app, index, &config.dispatch, &self.plugins, &ready, false)?;
            let mut names: Vec<String> = builtin.iter().map(describe).collect();
            for name in app.plugins.keys() {
                let mut table = app.plugins[name].clone();
                let key = format!("apps[{index}].plugins.{name}");
                let limits =
                    HandlerLimits::defaults(&config.dispatch).take_from(&mut table, &key)?;
                names.push(format!(
                    "{name} (concurrency {}, timeout {})",
                    limits.concurrency,
                    crate::config::format_duration(limits.timeout)
                ));
            }
            out.push((app.name.clone(), names));
        }
        Ok(out)
    }

    /// Build every app's handlers with their limits: built-in plug-ins first, then your
    /// plug-ins (in the order of their tables), then ready handlers. API clients keep their
    /// tokens in this process.
    ///
    /// # Errors
    /// A plug-in section that does not parse or a plug-in that cannot be built, or an API
    /// client that cannot be built.
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
            handlers.extend(crate::plugins::yours(
                app,
                index,
                &config.dispatch,
                &self.plugins,
                &self.ready_names(&app.name),
                true,
            )?);
            let ready = self.shared_handlers.iter().chain(
                self.app_handlers
                    .iter()
                    .filter(|(name, _)| *name == app.name)
                    .map(|(_, h)| h),
            );
            for handler in ready {
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

    /// The names of the ready handlers `app` gets.
    fn ready_names(&self, app: &str) -> Vec<&str> {
        self.shared_handlers
            .iter()
            .map(|h| h.name())
            .chain(
                self.app_handlers
                    .iter()
                    .filter(|(name, _)| name == app)
                    .map(|(_, h)| h.name()),
            )
            .collect()
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
}

/// `name (concurrency N, timeout T)`.
fn describe(spec: &crate::dispatch::HandlerSpec) -> String {
    format!(
        "{} (concurrency {}, timeout {})",
        spec.handler.name(),
        spec.concurrency,
        crate::config::format_duration(spec.timeout)
    )
}
