//! Built-in handler plug-ins and the settings every plug-in section shares.
//!
//! Each plug-in owns its settings: its section of the config (`[apps.welcome]`,
//! `[apps.tag_by_state]`, `[[apps.forward]]`, `[apps.plugins.<name>]`) arrives as a TOML table,
//! and the plug-in parses it into its own typed settings, naming any key it does not know.
//! Every section may also set `concurrency` and `timeout` for its handler ([`HandlerLimits`]);
//! the defaults come from `[dispatch]`.

mod forward;
mod tag_by_state;
mod welcome;

pub use forward::{Forward, ForwardSettings, WebhookSecret, redact_url};
pub use tag_by_state::TagByState;
pub use welcome::{WELCOME_CODE_LIFETIME, Welcome, WelcomeSettings};

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{AppConfig, ConfigError, DispatchConfig, PluginTable};
use crate::dispatch::HandlerSpec;
use crate::handler::Handler;

/// The two settings every handler section may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandlerLimits {
    /// Deliveries of this handler running at once.
    pub concurrency: usize,
    /// How long one attempt may take; longer is a transient failure.
    pub timeout: Duration,
}

impl HandlerLimits {
    /// The `[dispatch]` defaults.
    pub fn defaults(dispatch: &DispatchConfig) -> Self {
        HandlerLimits {
            concurrency: dispatch.concurrency,
            timeout: dispatch.timeout,
        }
    }

    /// Take `concurrency` and `timeout` out of a plug-in's table (`key` names the section in
    /// errors), leaving the plug-in's own keys; absent ones keep `self`'s values.
    ///
    /// # Errors
    /// A value of the wrong type or out of range, naming the key.
    pub fn take_from(self, table: &mut PluginTable, key: &str) -> Result<Self, ConfigError> {
        #[derive(Deserialize)]
        struct Limits {
            concurrency: Option<usize>,
            #[serde(default, deserialize_with = "optional_duration")]
            timeout: Option<Duration>,
        }
        let mut picked = PluginTable::new();
        for name in ["concurrency", "timeout"] {
            if let Some(value) = table.remove(name) {
                picked.insert(name.to_owned(), value);
            }
        }
        let limits: Limits = parse_section(picked, key)?;
        let out = HandlerLimits {
            concurrency: limits.concurrency.unwrap_or(self.concurrency),
            timeout: limits.timeout.unwrap_or(self.timeout),
        };
        if out.concurrency == 0 {
            return Err(invalid(format!("{key}.concurrency"), "must be at least 1"));
        }
        if out.timeout.is_zero() {
            return Err(invalid(format!("{key}.timeout"), "must be more than 0"));
        }
        Ok(out)
    }

    /// A handler with these limits.
    pub fn spec(self, handler: Arc<dyn Handler>) -> HandlerSpec {
        HandlerSpec {
            handler,
            concurrency: self.concurrency,
            timeout: self.timeout,
        }
    }
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    crate::config::duration(d).map(Some)
}

/// Parse a plug-in's table into its settings type, prefixing errors with the section's key.
///
/// # Errors
/// [`ConfigError::Toml`] naming the key at fault.
pub fn parse_section<T: serde::de::DeserializeOwned>(
    table: PluginTable,
    key: &str,
) -> Result<T, ConfigError> {
    crate::config::from_value(toml::Value::Table(table)).map_err(|e| match e {
        ConfigError::Toml(reason) => ConfigError::Toml(format!("{key}.{reason}")),
        other => other,
    })
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The built-in handlers an app's configuration enables, with their limits: welcome first
/// (its code expires in 20 s), then tag_by_state, then each forward.
///
/// # Errors
/// A section that does not parse or is inconsistent (e.g. `welcome` without `secret`), naming
/// the key.
pub fn builtin(
    app: &AppConfig,
    index: usize,
    dispatch: &DispatchConfig,
    api_timeout: Duration,
) -> Result<Vec<HandlerSpec>, ConfigError> {
    let key = |section: &str| format!("apps[{index}].{section}");
    let defaults = HandlerLimits::defaults(dispatch);
    let needs_secret = |section: &str| {
        if app.api_secret().is_none() {
            Err(invalid(
                key("secret"),
                format!("is required by the {section} plug-in"),
            ))
        } else {
            Ok(())
        }
    };
    let mut handlers = Vec::new();
    if let Some(table) = &app.welcome {
        needs_secret("welcome")?;
        let mut table = table.clone();
        let limits = HandlerLimits {
            timeout: api_timeout,
            ..defaults
        }
        .take_from(&mut table, &key("welcome"))?;
        let welcome = Welcome::new(parse_section(table, &key("welcome"))?, &key("welcome"))?;
        handlers.push(limits.spec(Arc::new(welcome)));
    }
    if let Some(table) = &app.tag_by_state {
        needs_secret("tag_by_state")?;
        let mut table = table.clone();
        let limits = HandlerLimits {
            timeout: api_timeout,
            ..defaults
        }
        .take_from(&mut table, &key("tag_by_state"))?;
        let tags = parse_section(table, &key("tag_by_state"))?;
        handlers.push(limits.spec(Arc::new(TagByState::new(tags))));
    }
    for (i, table) in app.forward.iter().enumerate() {
        let section = key(&format!("forward[{i}]"));
        let mut table = table.clone();
        let limits = HandlerLimits {
            timeout: Duration::from_secs(10),
            ..defaults
        }
        .take_from(&mut table, &section)?;
        let settings: ForwardSettings = parse_section(table, &section)?;
        let forward = Forward::new(i, settings, limits.timeout)
            .map_err(|reason| invalid(format!("{section}.secret"), reason))?;
        handlers.push(limits.spec(Arc::new(forward)));
    }
    Ok(handlers)
}
