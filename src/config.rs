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

/// A string that must never be printed.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`: HTTP listener and limits.
    #[serde(default)]
    pub server: ServerConfig,
    /// `[store]`: where events are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[dispatch]`: handler retries and concurrency.
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
    pub listen: String,
    /// Larger request bodies get 413.
    pub max_body_bytes: usize,
    /// How long shutdown waits for running handlers before leaving their events in the inbox.
    pub shutdown_timeout: String,
    /// HTTP worker threads (0 = one per core).
    pub workers: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "0.0.0.0:8080".into(),
            max_body_bytes: 65536,
            shutdown_timeout: "10s".into(),
            workers: 0,
        }
    }
}

/// Which inbox backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite file (WAL): the embedded default.
    #[default]
    Sqlite,
    /// In memory: tests and demos only; events are lost on exit.
    Memory,
    /// Redis: shared by several instances.
    Redis,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite` (default), `memory` or `redis`.
    pub backend: Backend,
    /// SQLite database file.
    pub path: String,
    /// Redis URL, for `backend = "redis"`.
    pub url: Option<String>,
    /// How long finished events and dedup keys are kept, e.g. `7d`.
    pub retention: String,
    /// SQLite durability: `full` (default) fsyncs every commit, so an acknowledged event
    /// survives power loss; `normal` survives process crashes (SIGKILL) but a power loss may
    /// lose the last commits.
    pub synchronous: Synchronous,
}

/// SQLite `synchronous` setting for the inbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Synchronous {
    /// fsync on every commit.
    #[default]
    Full,
    /// fsync only at WAL checkpoints.
    Normal,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            backend: Backend::Sqlite,
            path: "data/wecom-callback.db".into(),
            url: None,
            retention: "7d".into(),
            synchronous: Synchronous::Full,
        }
    }
}

/// `[dispatch]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DispatchConfig {
    /// Attempts per handler before its event goes to the dead letters.
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt.
    pub backoff_base: String,
    /// Longest retry delay.
    pub backoff_max: String,
    /// Handlers running at once across all events.
    pub concurrency: usize,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 8,
            backoff_base: "1s".into(),
            backoff_max: "5m".into(),
            concurrency: 64,
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
    pub timeout: String,
    /// Egress proxy for API calls (`http://…` or `https://…`); when unset, the `HTTPS_PROXY`,
    /// `HTTP_PROXY` and `NO_PROXY` environment variables apply.
    pub proxy: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            base_url: "https://qyapi.weixin.qq.com".into(),
            timeout: "10s".into(),
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
    /// Built-in plug-in: greet each new customer.
    #[serde(default)]
    pub welcome: Option<WelcomeConfig>,
    /// Built-in plug-in: tag new customers by the channel (`State`) they came through.
    #[serde(default)]
    pub tag_by_state: Option<BTreeMap<String, Vec<String>>>,
    /// Built-in plug-in: POST each event's JSON to your own services.
    #[serde(default)]
    pub forward: Vec<ForwardConfig>,
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
}

/// `[apps.welcome]`: the welcome message, and per-`State` overrides.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WelcomeConfig {
    /// The text (≤ 4000 bytes).
    #[serde(default)]
    pub text: Option<String>,
    /// Up to 9 attachments, in send_welcome_msg's JSON shape.
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
    /// Overrides per channel (`State`), e.g. `[apps.welcome.states.spring_sale]`.
    #[serde(default)]
    pub states: BTreeMap<String, WelcomeMessage>,
}

/// One welcome message.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WelcomeMessage {
    /// The text.
    #[serde(default)]
    pub text: Option<String>,
    /// The attachments.
    #[serde(default)]
    pub attachments: Vec<serde_json::Value>,
}

/// `[[apps.forward]]`: where to POST event JSON.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// The URL to POST to.
    pub url: String,
    /// HMAC-SHA256 key for `X-Wecom-Callback-Signature`.
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Only these `event` (or `event/change_type`) values; all when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

impl Config {
    /// Read, expand `${VAR}`s, parse and validate a config file.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text, &|var| std::env::var(var).ok())
    }

    /// Parse and validate TOML text; `env` looks variables up.
    ///
    /// # Errors
    /// See [`ConfigError`].
    pub fn from_toml(
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let mut value: toml::Value =
            toml::from_str(text).map_err(|e| ConfigError::Toml(one_line(&e.to_string())))?;
        expand_vars(&mut value, "", env)?;
        let config: Config =
            Config::deserialize(value).map_err(|e| ConfigError::Toml(one_line(&e.to_string())))?;
        config.validate()?;
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

    /// The listen address.
    ///
    /// # Errors
    /// When `server.listen` is not `host:port`.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|_| invalid("server.listen", "expected an address like 0.0.0.0:8080"))
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.server.max_body_bytes < 256 {
            return Err(invalid("server.max_body_bytes", "must be at least 256"));
        }
        parse_duration(&self.server.shutdown_timeout)
            .map_err(|r| invalid("server.shutdown_timeout", r))?;
        parse_duration(&self.store.retention).map_err(|r| invalid("store.retention", r))?;
        parse_duration(&self.dispatch.backoff_base)
            .map_err(|r| invalid("dispatch.backoff_base", r))?;
        parse_duration(&self.dispatch.backoff_max)
            .map_err(|r| invalid("dispatch.backoff_max", r))?;
        parse_duration(&self.api.timeout).map_err(|r| invalid("api.timeout", r))?;
        if self.dispatch.max_attempts == 0 {
            return Err(invalid("dispatch.max_attempts", "must be at least 1"));
        }
        if self.dispatch.concurrency == 0 {
            return Err(invalid("dispatch.concurrency", "must be at least 1"));
        }
        match self.store.backend {
            Backend::Sqlite if self.store.path.trim().is_empty() => {
                return Err(invalid("store.path", "is empty"));
            }
            Backend::Redis if self.store.url.is_none() => {
                return Err(invalid("store.url", "is required when backend = \"redis\""));
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
        if self.apps[..i].iter().any(|a| a.name == app.name) {
            return Err(invalid(
                key("name"),
                format!("{:?} is used twice", app.name),
            ));
        }
        if !app.path.starts_with('/') || app.path.contains(['?', '#', ' ']) {
            return Err(invalid(key("path"), "must be a URL path starting with /"));
        }
        if ["/healthz", "/metrics"].contains(&app.path.as_str()) {
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
        let needs_secret = app.welcome.is_some() || app.tag_by_state.is_some();
        if needs_secret && app.secret.as_ref().is_none_or(|s| s.expose().is_empty()) {
            return Err(invalid(
                key("secret"),
                "is required by the welcome and tag_by_state plug-ins",
            ));
        }
        if let Some(welcome) = &app.welcome {
            let messages = std::iter::once((
                "welcome".to_owned(),
                welcome.text.as_ref(),
                &welcome.attachments,
            ))
            .chain(welcome.states.iter().map(|(state, m)| {
                (
                    format!("welcome.states.{state}"),
                    m.text.as_ref(),
                    &m.attachments,
                )
            }));
            for (name, text, attachments) in messages {
                if text.is_some_and(|t| t.len() > 4000) {
                    return Err(invalid(
                        key(&format!("{name}.text")),
                        "is longer than 4000 bytes",
                    ));
                }
                if attachments.len() > 9 {
                    return Err(invalid(
                        key(&format!("{name}.attachments")),
                        "has more than 9 items",
                    ));
                }
            }
        }
        if let Err(reason) = crate::plugins::for_app(app) {
            return Err(invalid(key("welcome"), reason));
        }
        for (j, forward) in app.forward.iter().enumerate() {
            if !(forward.url.starts_with("http://") || forward.url.starts_with("https://")) {
                return Err(invalid(
                    key(&format!("forward[{j}].url")),
                    "must start with http:// or https://",
                ));
            }
        }
        Ok(())
    }

    /// `server.shutdown_timeout`, parsed.
    pub fn shutdown_timeout(&self) -> Duration {
        parse_duration(&self.server.shutdown_timeout).unwrap_or(Duration::from_secs(10))
    }

    /// `store.retention`, parsed.
    pub fn retention(&self) -> Duration {
        parse_duration(&self.store.retention).unwrap_or(Duration::from_secs(7 * 86400))
    }

    /// `api.timeout`, parsed.
    pub fn api_timeout(&self) -> Duration {
        parse_duration(&self.api.timeout).unwrap_or(Duration::from_secs(10))
    }
}

/// Parse `250ms`, `10s`, `5m`, `1h`, `7d`.
///
/// # Errors
/// A message saying what form is expected.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 250ms, 10s, 5m, 1h or 7d"))?;
    let millis = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => {
            return Err(format!(
                "{text:?} is not a duration like 250ms, 10s, 5m, 1h or 7d"
            ));
        }
    };
    Ok(Duration::from_millis(n.saturating_mul(millis)))
}

/// Replace `${VAR}` in every string value, naming the key when a variable is missing.
fn expand_vars(
    value: &mut toml::Value,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) if s.contains("${") => {
            *s = expand_string(s, key, env)?;
        }
        toml::Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_vars(item, &format!("{key}[{i}]"), env)?;
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                let child = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                expand_vars(v, &child, env)?;
            }
        }
        _ => {}
    }
    Ok(())
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
        assert_eq!(c.retention(), Duration::from_secs(7 * 86400));
        assert!(!format!("{c:?}").contains("QDG6eK"));
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
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604800)));
        assert!(parse_duration("7 days").is_err());
    }
}
