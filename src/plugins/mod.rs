//! Plug-ins: the built-in ones (`welcome`, `tag_by_state`, `forward`), the [`Plugin`] trait
//! for your own, and the settings every plug-in section shares.
//!
//! Each plug-in owns its settings: its section of the config (`[apps.welcome]`,
//! `[apps.tag_by_state]`, `[[apps.forward]]`, `[apps.plugins.<name>]`) arrives as a TOML table,
//! and the plug-in parses it into its own typed settings, naming any key it does not know.
//! Every section may also set `concurrency` and `timeout` for its handler ([`HandlerLimits`]);
//! the defaults come from `[dispatch]`.
//!
//! Your own plug-in runs for the apps whose config has its `[apps.plugins.<name>]` table (an
//! empty table when it has no settings). Its [`Plugin::build`] is called only by the commands
//! that run handlers (`serve`, `replay`), after the config is loaded, once per app;
//! `check-config` only parses its settings.

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

/// One of your plug-ins: builds its handler for an app from the app's `[apps.plugins.<name>]`
/// table.
///
/// ```
/// use std::sync::Arc;
/// use wecom_callback::config::AppConfig;
/// use wecom_callback::plugins::Plugin;
/// use wecom_callback::{ContactEvent, Context, Handler, HandlerResult};
///
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct GreeterSettings {
///     greeting: String,
/// }
///
/// struct Greeter;
///
/// impl Plugin for Greeter {
///     type Settings = GreeterSettings;
///     fn name(&self) -> &str {
///         "greeter"
///     }
///     fn build(&self, settings: GreeterSettings, _app: &AppConfig) -> Result<Arc<dyn Handler>, String> {
///         Ok(Arc::new(GreeterHandler { greeting: settings.greeting }))
///     }
/// }
///
/// struct GreeterHandler {
///     greeting: String,
/// }
///
/// #[wecom_callback::async_trait]
/// impl Handler for GreeterHandler {
///     fn name(&self) -> &str {
///         "greeter"
///     }
///     async fn on_add_external_contact(&self, _ctx: &Context, e: &ContactEvent) -> HandlerResult {
///         println!("{} {}", self.greeting, e.external_user_id);
///         Ok(())
///     }
/// }
/// ```
pub trait Plugin: Send + Sync + 'static {
    /// Its settings, parsed from its table (`concurrency` and `timeout` taken out first). Use
    /// `#[serde(deny_unknown_fields)]` so that a mistyped key is an error naming it.
    type Settings: serde::de::DeserializeOwned;

    /// The plug-in's name: the key of its table, and the name of the handler it builds.
    fn name(&self) -> &str;

    /// Build the handler for `app` (open its files, connect its clients).
    ///
    /// # Errors
    /// Why it cannot be built, in one line; it is shown with the table's key.
    fn build(&self, settings: Self::Settings, app: &AppConfig) -> Result<Arc<dyn Handler>, String>;
}

/// A [`Plugin`] of any settings type, as the service keeps it. Every `Plugin` is one.
pub trait PluginFactory: Send + Sync + 'static {
    /// The plug-in's name.
    fn name(&self) -> &str;

    /// Parse `table` without building anything (`check-config`).
    ///
    /// # Errors
    /// A key or value the plug-in refuses, named under `key`.
    fn check(&self, table: PluginTable, key: &str) -> Result<(), ConfigError>;

    /// Parse `table` and build the handler for `app`.
    ///
    /// # Errors
    /// As [`PluginFactory::check`], or the plug-in's own reason not to build.
    fn build(
        &self,
        table: PluginTable,
        key: &str,
        app: &AppConfig,
    ) -> Result<Arc<dyn Handler>, ConfigError>;
}

impl<P: Plugin> PluginFactory for P {
    fn name(&self) -> &str {
        Plugin::name(self)
    }

    fn check(&self, table: PluginTable, key: &str) -> Result<(), ConfigError> {
        parse_section::<P::Settings>(table, key).map(|_| ())
    }

    fn build(
        &self,
        table: PluginTable,
        key: &str,
        app: &AppConfig,
    ) -> Result<Arc<dyn Handler>, ConfigError> {
        let settings = parse_section::<P::Settings>(table, key)?;
        let handler = Plugin::build(self, settings, app).map_err(|reason| invalid(key, reason))?;
        if handler.name() != Plugin::name(self) {
            return Err(invalid(
                key,
                format!(
                    "the plug-in built a handler named {:?}; it must be named {:?}",
                    handler.name(),
                    Plugin::name(self)
                ),
            ));
        }
        Ok(handler)
    }
}

/// The handlers of your plug-ins for one app (those with a table in it), with their limits.
/// With `build` false, the tables are only parsed and nothing is returned. Tables named after
/// a ready handler (`ready`) hold only its limits and are skipped here.
///
/// # Errors
/// A table no compiled-in plug-in owns, or one its plug-in refuses, naming the key.
pub fn yours(
    app: &AppConfig,
    index: usize,
    dispatch: &DispatchConfig,
    plugins: &[Arc<dyn PluginFactory>],
    ready: &[&str],
    build: bool,
) -> Result<Vec<HandlerSpec>, ConfigError> {
    let mut out = Vec::new();
    for (name, table) in &app.plugins {
        if ready.contains(&name.as_str()) {
            continue;
        }
        let key = format!("apps[{index}].plugins.{name}");
        let plugin = plugins.iter().find(|p| p.name() == name).ok_or_else(|| {
            let known: Vec<&str> = plugins.iter().map(|p| p.name()).collect();
            invalid(
                &key,
                format!(
                    "no plug-in named {name:?} is compiled into this binary ({})",
                    if known.is_empty() {
                        "it has none of your own".to_owned()
                    } else {
                        format!("it has: {}", known.join(", "))
                    }
                ),
            )
        })?;
        let mut table = table.clone();
        let limits = HandlerLimits::defaults(dispatch).take_from(&mut table, &key)?;
        if build {
            out.push(limits.spec(plugin.build(table, &key, app)?));
        } else {
            plugin.check(table, &key)?;
        }
    }
    Ok(out)
}
