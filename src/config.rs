//! The service configuration: TOML in the shape of `config.example.toml`, `${VAR}` values read
//! from the environment, every key checked (an unknown key is an error naming it), and the
//! values validated once at load so the server never starts half-configured.
//!
//! Secrets (`token`, `encoding_aes_key`, `secret`) are kept in [`Secret`], whose `Debug` and
//! `Display` print `<redacted>`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::crypto::MsgCrypt;
pub use crate::secret::Secret;

/// Why a configuration was refused. Always one line naming the key or variable at fault, and
/// never a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key, or a value of the wrong type.
    #[error("invalid config: {0}")]
    Toml(String),
    /// A `${VAR}` whose variable is not set.
    #[error("environment variable {var} is not set (used by {key})")]
    MissingVar {
        /// The variable name.
        var: String,
        /// The config key that uses it.
        key: String,
    },
    /// A value that parsed but makes no sense.
    #[error("invalid config: {key}: {reason}")]
    Invalid {
        /// The config key, e.g. `apps[0].encoding_aes_key`.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole configuration file, typed: every duration, address and key is parsed once, here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: HTTP listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[store]`: where events and deliveries are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[dispatch]`: retries, leases, and the default limits of every handler.
    #[serde(default)]
    pub dispatch: DispatchConfig,
    /// `[api]`: the outbound WeCom API.
    #[serde(default)]
    pub api: ApiConfig,
    /// `[log]`: log format and level.
    #[serde(default)]
    pub log: LogConfig,
    /// `[[apps]]`: one per callback URL.
    #[serde(default)]
    pub apps: Vec<AppConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(deserialize_with = "socket_addr")]
    pub listen: SocketAddr,
    /// When set, `/metrics` and `/healthz` are served here instead of on `listen`.
    #[serde(deserialize_with = "optional_socket_addr")]
    pub admin_listen: Option<SocketAddr>,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// Callbacks whose `timestamp` is further from our clock are refused (401); zero turns the
    /// check off.
    #[serde(deserialize_with = "duration")]
    pub timestamp_tolerance: Duration,
    /// How long shutdown waits for running handlers before releasing their deliveries.
    #[serde(deserialize_with = "duration")]
    pub shutdown_timeout: Duration,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            admin_listen: None,
            max_body_bytes: 65536,
            timestamp_tolerance: Duration::from_secs(600),
            shutdown_timeout: Duration::from_secs(10),
            workers: 0,
        }
    }
}

/// Which store backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One SQLite file (WAL): the embedded default, one `serve` at a time.
    #[default]
    Sqlite,
    /// PostgreSQL: shared by several instances.
    Postgres,
    /// In memory: tests and demos only; events are lost on exit.
    Memory,
}

impl Backend {
    /// `sqlite`, `postgres` or `memory`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Memory => "memory",
        }
    }
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (default), `postgres` or `memory`.
    pub backend: Backend,
    /// SQLite database file.
    pub path: PathBuf,
    /// PostgreSQL connection URL, for `backend = "postgres"` (may hold a password: never
    /// printed).
    pub url: Option<Secret>,
    /// PostgreSQL connections per instance for handlers, operators and health checks (intake
    /// and `LISTEN` have one each besides).
    pub pool_size: usize,
    /// How long connecting to PostgreSQL may take.
    #[serde(deserialize_with = "duration")]
    pub connect_timeout: Duration,
    /// How long one PostgreSQL statement may take (callbacks answer 503 rather than hang).
    #[serde(deserialize_with = "duration")]
    pub statement_timeout: Duration,
    /// How long finished events and their dedup keys are kept. Dead letters stay until purged
    /// by hand.
    #[serde(deserialize_with = "duration")]
    pub retention: Duration,
    /// SQLite durability: `full` (default) fsyncs every commit that stores events, so an
    /// acknowledged event survives power loss (a commit of the dispatcher's bookkeeping alone —
    /// leases, outcomes — is not waited for: a power loss may only run a delivery again);
    /// `normal` survives process crashes (SIGKILL) but a power loss may lose the last commits.
    pub synchronous: Synchronous,
}

/// SQLite `synchronous` setting for the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync on every commit that stores events.
    #[default]
    Full,
    /// fsync only at WAL checkpoints.
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Backend::Sqlite,
            path: PathBuf::from("data/wecom-callback.db"),
            url: None,
            pool_size: 16,
            connect_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(5),
            retention: Duration::from_secs(7 * 86400),
            synchronous: Synchronous::Full,
        }
    }
}

/// `[dispatch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Attempts per delivery before it is a dead letter.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    #[serde(deserialize_with = "duration")]
    pub backoff_base: Duration,
    /// Longest retry delay.
    #[serde(deserialize_with = "duration")]
    pub backoff_max: Duration,
    /// Default deliveries of one handler running at once (each handler section may set its own
    /// `concurrency`).
    pub concurrency: usize,
    /// Default time one attempt may take (each handler section may set its own `timeout`).
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// How long a running delivery's lease holds without renewal; an instance that dies
    /// leaves its work to be taken over after this.
    #[serde(deserialize_with = "duration")]
    pub lease: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            concurrency: 16,
            timeout: Duration::from_secs(30),
            lease: Duration::from_secs(30),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// WeCom API base URL (tests point it at a local fake).
    pub base_url: String,
    /// Per-request timeout.
    #[serde(deserialize_with = "duration")]
    pub timeout: Duration,
    /// Egress proxy for API calls (`http://…` or `https://…`); when unset, the `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` environment variables apply.
    pub proxy: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            base_url: "https://qyapi.weixin.qq.com".into(),
            timeout: Duration::from_secs(10),
            proxy: None,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `human` (default) or `json`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `wecom_callback=debug` (`RUST_LOG` overrides it).
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// A plug-in's own settings: the TOML table of its section, handed to the plug-in, which
/// parses and validates it (and names a bad key).
pub type PluginTable = toml::Table;

/// `[[apps]]`: one WeCom app (callback URL) this service receives for.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// Name used by `--app`, logs and metrics.
    pub name: String,
    /// The callback URL path, e.g. `/callback/contacts`.
    pub path: String,
    /// CorpID: gettoken's `corpid`, and the receive id unless `receive_id` is set.
    pub corp_id: String,
    /// The callback Token from the console.
    pub token: Secret,
    /// The callback EncodingAESKey from the console (43 characters).
    pub encoding_aes_key: Secret,
    /// The app (or 客户联系) secret, for outbound API calls.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Receive id when it differs from `corp_id` (a SuiteID for third-party suites; may be "").
    #[serde(default)]
    pub receive_id: Option<String>,
    /// Body of the 200 answer to POSTs: empty (self-built apps) or `success` (suites).
    #[serde(default)]
    pub reply: String,
    /// Built-in plug-in `welcome`: greet each new customer.
    #[serde(default)]
    pub welcome: Option<PluginTable>,
    /// Built-in plug-in `tag_by_state`: tag new customers by the channel (`State`) they came
    /// through.
    #[serde(default)]
    pub tag_by_state: Option<PluginTable>,
    /// Built-in plug-in `forward`: POST each event's JSON to your own services.
    #[serde(default)]
    pub forward: Vec<PluginTable>,
    /// Your own compiled-in plug-ins' settings, `[apps.plugins.<name>]`.
    #[serde(default)]
    pub plugins: BTreeMap<String, PluginTable>,
}

impl AppConfig {
    /// The receive id decrypted callbacks must carry.
    pub fn receive_id(&self) -> &str {
        self.receive_id.as_deref().unwrap_or(&self.corp_id)
    }

    /// The app's crypto, from its token, key and receive id.
    ///
    /// # Errors
    /// An invalid EncodingAESKey.
    pub fn msg_crypt(&self) -> Result<MsgCrypt, crate::CryptoError> {
        MsgCrypt::new(
            self.token.expose(),
            self.encoding_aes_key.expose(),
            self.receive_id(),
        )
    }

    /// The app's `secret`, when it has a non-empty one.
    pub fn api_secret(&self) -> Option<&Secret> {
        self.secret.as_ref().filter(|s| !s.expose().is_empty())
    }
}

impl Config {
    /// Read, expand `${VAR}`s, parse and validate a config file.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Self::load_for(path, Uses::Everything)
    }

    /// Read a config file for a command that uses only part of it: a `${VAR}` that is not set
    /// is an error only in the keys it uses (elsewhere it reads as empty), and only those keys
    /// are validated.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn load_for(path: &Path, uses: Uses) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml_for(&text, &|var| std::env::var(var).ok(), uses)
    }

    /// Parse and validate TOML text; `env` looks variables up.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        Self::from_toml_for(text, env, Uses::Everything)
    }

    /// [`Config::from_toml`] for a command that uses only part of the config (see
    /// [`Config::load_for`]).
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn from_toml_for(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        uses: Uses,
    ) -> Result<Config, ConfigError> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| ConfigError::Toml(one_line(&e.to_string())))?;
        let lenient = |var: &str| env(var).or_else(|| Some(String::new()));
        match uses {
            Uses::Everything => expand_vars(&mut value, "", env)?,
            Uses::Callbacks => expand_vars_where(&mut value, "", env, &lenient, &callback_key)?,
        }
        let config: Config = from_value(value)?;
        match uses {
            Uses::Everything => config.validate()?,
            Uses::Callbacks => config.validate_callbacks()?,
        }
        Ok(config)
    }

    /// The app named `name`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the apps that exist.
    pub fn app(&self, name: &str) -> Result<&AppConfig, ConfigError> {
        self.apps.iter().find(|a| a.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.apps.iter().map(|a| a.name.as_str()).collect();
            invalid(
                "--app",
                format!("no app named {name:?} (apps: {})", names.join(", ")),
            )
        })
    }

    /// Only what opening and sealing callbacks needs: the apps' names, paths, ids and keys.
    fn validate_callbacks(&self) -> Result<(), ConfigError> {
        if self.apps.is_empty() {
            return Err(invalid("apps", "at least one [[apps]] is required"));
        }
        for (i, app) in self.apps.iter().enumerate() {
            self.validate_app(i, app)?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.server.max_body_bytes < 256 {
            return Err(invalid("server.max_body_bytes", "must be at least 256"));
        }
        if self.server.admin_listen == Some(self.server.listen) {
            return Err(invalid(
                "server.admin_listen",
                "must differ from server.listen",
            ));
        }
        if !self.server.timestamp_tolerance.is_zero()
            && self.store.retention < self.server.timestamp_tolerance
        {
            // A callback replayed after its dedup key is purged must be too old to pass.
            return Err(invalid(
                "store.retention",
                "must be at least server.timestamp_tolerance",
            ));
        }
        if self.dispatch.max_attempts == 0 {
            return Err(invalid("dispatch.max_attempts", "must be at least 1"));
        }
        if self.dispatch.concurrency == 0 {
            return Err(invalid("dispatch.concurrency", "must be at least 1"));
        }
        for (key, d) in [
            ("dispatch.timeout", self.dispatch.timeout),
            ("dispatch.lease", self.dispatch.lease),
            ("dispatch.backoff_base", self.dispatch.backoff_base),
            ("api.timeout", self.api.timeout),
        ] {
            if d.is_zero() {
                return Err(invalid(key, "must be more than 0"));
            }
        }
        if self.dispatch.lease < Duration::from_secs(3) {
            return Err(invalid("dispatch.lease", "must be at least 3s"));
        }
        match self.store.backend {
            Backend::Sqlite if self.store.path.as_os_str().is_empty() => {
                return Err(invalid("store.path", "is empty"));
            }
            Backend::Postgres => {
                let url = self.store.url.as_ref().map(Secret::expose).unwrap_or("");
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    return Err(invalid(
                        "store.url",
                        "is required when backend = \"postgres\": postgres://user@host/db",
                    ));
                }
                if self.store.pool_size == 0 {
                    return Err(invalid("store.pool_size", "must be at least 1"));
                }
            }
            _ => {}
        }
        if !(self.api.base_url.starts_with("http://") || self.api.base_url.starts_with("https://"))
        {
            return Err(invalid(
                "api.base_url",
                "must start with http:// or https://",
            ));
        }
        if let Some(proxy) = &self.api.proxy
            && !(proxy.starts_with("http://") || proxy.starts_with("https://"))
        {
            return Err(invalid("api.proxy", "must start with http:// or https://"));
        }
        if self.apps.is_empty() {
            return Err(invalid("apps", "at least one [[apps]] is required"));
        }
        for (i, app) in self.apps.iter().enumerate() {
            self.validate_app(i, app)?;
        }
        Ok(())
    }

    fn validate_app(&self, i: usize, app: &AppConfig) -> Result<(), ConfigError> {
        let key = |field: &str| format!("apps[{i}].{field}");
        if app.name.trim().is_empty() {
            return Err(invalid(key("name"), "is empty"));
        }
        // The name goes into logs, metric labels and the store (PostgreSQL refuses NUL).
        if app.name.contains(char::is_control) {
            return Err(invalid(key("name"), "holds a control character"));
        }
        if self.apps[..i].iter().any(|a| a.name == app.name) {
            return Err(invalid(
                key("name"),
                format!("{:?} is used twice", app.name),
            ));
        }
        if !app.path.starts_with('/') || app.path.contains(['?', '#', ' ']) {
            return Err(invalid(key("path"), "must be a URL path starting with /"));
        }
        if self.server.admin_listen.is_none()
            && ["/healthz", "/metrics"].contains(&app.path.as_str())
        {
            return Err(invalid(key("path"), "is reserved"));
        }
        if self.apps[..i].iter().any(|a| a.path == app.path) {
            return Err(invalid(
                key("path"),
                format!("{:?} is used twice", app.path),
            ));
        }
        if app.corp_id.trim().is_empty() {
            return Err(invalid(key("corp_id"), "is empty"));
        }
        let token = app.token.expose();
        if token.is_empty() || token.len() > 32 || !token.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(key("token"), "must be 1 to 32 letters or digits"));
        }
        app.msg_crypt()
            .map_err(|e| invalid(key("encoding_aes_key"), e.to_string()))?;
        Ok(())
    }
}

/// Deserialize `T` from a TOML value, naming the key at fault (`store.retention: …`).
///
/// # Errors
/// [`ConfigError::Toml`] with the key's path and serde's reason.
pub fn from_value<T: serde::de::DeserializeOwned>(value: toml::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let reason = one_line(&e.into_inner().to_string());
        ConfigError::Toml(if path == "." || path.is_empty() {
            reason
        } else {
            format!("{path}: {reason}")
        })
    })
}

/// Serde: a duration written `250ms`, `10s`, `5m`, `1h`, `7d` (or `"0"`).
///
/// # Errors
/// A message saying what form is expected.
pub fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn socket_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|_| {
        serde::de::Error::custom(format!("{text:?} is not an address like 0.0.0.0:8080"))
    })
}

fn optional_socket_addr<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<SocketAddr>, D::Error> {
    socket_addr(d).map(Some)
}

/// Parse `250ms`, `10s`, `5m`, `1h`, `7d`, or `0`.
///
/// # Errors
/// A message saying what form is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let expected = || format!("{text:?} is not a duration like 250ms, 10s, 5m, 1h or 7d");
    let n: u64 = number.parse().map_err(|_| expected())?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(expected()),
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)))
}

/// A duration the way the config writes it: `1500ms`, `10s`, `5m`, `2h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0 => "0".into(),
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// Which part of the config a command uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uses {
    /// All of it (`serve`, `replay`, `check-config`, `api`, `events`).
    Everything,
    /// Only what opens and seals callbacks — each app's `name`, `path`, `corp_id`, `token`,
    /// `encoding_aes_key`, `receive_id` and `reply` (`seal`, `decrypt`, `doctor`).
    Callbacks,
}

/// Whether `key` is one that opening and sealing callbacks reads.
fn callback_key(key: &str) -> bool {
    let Some(rest) = key.strip_prefix("apps[") else {
        return false;
    };
    let field = rest.split_once("].").map(|(_, f)| f).unwrap_or_default();
    matches!(
        field,
        "name" | "path" | "corp_id" | "token" | "encoding_aes_key" | "receive_id" | "reply"
    )
}

/// Like [`expand_vars`], but keys for which `strict` is false look variables up with
/// `lenient` instead.
fn expand_vars_where(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
    lenient: &dyn Fn(&str) -> Option<String>,
    strict: &dyn Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) if s.contains("${") => {
            let lookup = if strict(key) { env } else { lenient };
            *s = expand_string(s, key, lookup)?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_vars_where(item, &format!("{key}[{i}]"), env, lenient, strict)?;
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let child = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                expand_vars_where(v, &child, env, lenient, strict)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Replace `${VAR}` in every string value, naming the key when a variable is missing.
fn expand_vars(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    expand_vars_where(value, key, env, env, &|_| true)
}

fn expand_string(
    s: &str,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| invalid(key, "has an unclosed ${"))?;
        let var = &after[..end];
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(invalid(
                key,
                format!("${{{var}}} is not a valid variable name"),
            ));
        }
        let found = env(var).ok_or_else(|| ConfigError::MissingVar {
            var: var.to_owned(),
            key: key.to_owned(),
        })?;
        out.push_str(&found);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with('|') && !l.chars().all(|c| c == '^' || c == ' ')
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "wx5823bf96d3bd56c7"
token = "${TOKEN}"
encoding_aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
"#;

    fn env(var: &str) -> Option<String> {
        (var == "TOKEN").then(|| "QDG6eK".to_owned())
    }

    #[test]
    fn expands_vars_and_applies_defaults() {
        let c = Config::from_toml(MINIMAL, &env).unwrap();
        assert_eq!(c.apps[0].token.expose(), "QDG6eK");
        assert_eq!(c.server.max_body_bytes, 65536);
        assert_eq!(c.store.backend, Backend::Sqlite);
        assert_eq!(c.store.retention, Duration::from_secs(7 * 86400));
        assert_eq!(c.server.timestamp_tolerance, Duration::from_secs(600));
        assert!(!format!("{c:?}").contains("QDG6eK"));
    }

    #[test]
    fn commands_that_only_open_callbacks_need_only_their_keys() {
        let text = format!(
            "[store]\nbackend = \"postgres\"\nurl = \"${{DATABASE_URL}}\"\n{MINIMAL}secret = \"${{SECRET}}\"\n"
        );
        assert!(Config::from_toml(&text, &env).is_err());
        let c = Config::from_toml_for(&text, &env, Uses::Callbacks).unwrap();
        assert_eq!(c.apps[0].token.expose(), "QDG6eK");
        assert!(c.apps[0].api_secret().is_none());
        let err = Config::from_toml_for(&text, &|_| None, Uses::Callbacks).unwrap_err();
        assert!(err.to_string().contains("apps[0].token"), "{err}");
    }

    #[test]
    fn an_app_name_with_a_control_character_is_refused() {
        for name in ["con\\u0000tacts", "con\\ntacts"] {
            let text = MINIMAL.replace("name = \"contacts\"", &format!("name = \"{name}\""));
            let err = Config::from_toml(&text, &env).unwrap_err().to_string();
            assert!(err.contains("apps[0].name"), "{err}");
        }
    }

    #[test]
    fn missing_var_is_named() {
        let err = Config::from_toml(MINIMAL, &|_| None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable TOKEN is not set (used by apps[0].token)"
        );
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml(&format!("{MINIMAL}colour = \"red\"\n"), &env).unwrap_err();
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn bad_key_is_named_without_the_value() {
        let text = MINIMAL.replace("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "tooshort");
        let err = Config::from_toml(&text, &env).unwrap_err().to_string();
        assert!(err.contains("apps[0].encoding_aes_key"), "{err}");
        assert!(!err.contains("tooshort"));
    }

    #[test]
    fn a_bad_duration_names_its_key() {
        let err = Config::from_toml(&format!("[store]\nretention = \"7 days\"\n{MINIMAL}"), &env)
            .unwrap_err()
            .to_string();
        assert!(err.contains("store.retention"), "{err}");
        assert!(err.contains("7 days"), "{err}");
    }

    #[test]
    fn plugin_tables_are_kept_for_their_plugins() {
        let c = Config::from_toml(
            &format!("{MINIMAL}[apps.plugins.greeter]\ngreeting = \"hi\"\n"),
            &env,
        )
        .unwrap();
        assert_eq!(
            c.apps[0].plugins["greeter"]["greeting"].as_str(),
            Some("hi")
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
        assert_eq!(format_duration(Duration::from_secs(600)), "10m");
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604800)));
        assert!(parse_duration("7 days").is_err());
    }
}
