//! Your own plug-in with its own settings, as `cli::main_with` runs it: its
//! `[apps.plugins.<name>]` table is handed to it; a bad key is an error naming it; only the
//! commands that run handlers construct it (`seal` and `check-config` never do); `seal`
//! needs neither the app's `secret` nor any variable it does not use.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use clap::Parser;
use common::*;
use serde::Deserialize;
use wecom_callback::cli::{Cli, run};
use wecom_callback::config::AppConfig;
use wecom_callback::plugins::{Plugin, PluginFactory};
use wecom_callback::{ContactEvent, Context, Handler, HandlerResult};

static BUILT: AtomicUsize = AtomicUsize::new(0);
static GREETED: AtomicUsize = AtomicUsize::new(0);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GreeterSettings {
    greeting: String,
}

struct Greeter;

impl Plugin for Greeter {
    type Settings = GreeterSettings;
    fn name(&self) -> &str {
        "greeter"
    }
    fn build(
        &self,
        settings: GreeterSettings,
        app: &AppConfig,
    ) -> Result<Arc<dyn Handler>, String> {
        BUILT.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            app.name, "contacts",
            "the factory has the app's config in hand"
        );
        Ok(Arc::new(GreeterHandler(settings.greeting)))
    }
}

struct GreeterHandler(String);

#[wecom_callback::async_trait]
impl Handler for GreeterHandler {
    fn name(&self) -> &str {
        "greeter"
    }
    async fn on_add_external_contact(&self, _: &Context, _: &ContactEvent) -> HandlerResult {
        assert_eq!(self.0, "hi");
        GREETED.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

/// A config with the greeter's table; `secret` reads a variable that is never set when
/// `unset_secret`.
fn write_config(dir: &std::path::Path, plugin_table: &str, unset_secret: bool) -> String {
    let path = dir.join(format!("config-{}.toml", rand_suffix()));
    let secret = if unset_secret {
        "secret = \"${WECOM_TEST_SECRET_NEVER_SET}\""
    } else {
        ""
    };
    std::fs::write(
        &path,
        format!(
            r#"
[store]
backend = "memory"
[[apps]]
name = "contacts"
path = "/callback/contacts"
corp_id = "{CORP_ID}"
token = "{TOKEN}"
encoding_aes_key = "{AES_KEY}"
{secret}
[apps.plugins.greeter]
{plugin_table}
"#
        ),
    )
    .unwrap();
    path.display().to_string()
}

fn rand_suffix() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

fn cli(args: &[&str]) -> Result<(), String> {
    let plugins: Vec<Arc<dyn PluginFactory>> = vec![Arc::new(Greeter)];
    let args = std::iter::once("wecom-callback").chain(args.iter().copied());
    run(Cli::parse_from(args), plugins).map_err(|e| e.message().to_owned())
}

#[test]
fn plugin_settings_are_the_plugins_and_only_running_commands_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixtures_dir()
        .join("change_external_contact__add_external_contact.xml")
        .display()
        .to_string();

    // A mistyped key is named, by check-config, without building the plug-in.
    let bad = write_config(dir.path(), "greting = \"hi\"", false);
    let err = cli(&["check-config", "--config", &bad]).unwrap_err();
    assert!(err.contains("apps[0].plugins.greeter"), "{err}");
    assert!(err.contains("greting"), "{err}");

    // `seal` uses neither the plug-in nor the app's secret (whose variable is not set), while
    // the commands that use everything need the variable.
    let unset = write_config(dir.path(), "greting = \"hi\"", true);
    cli(&["seal", "--config", &unset, &fixture]).unwrap();
    let err = cli(&["check-config", "--config", &unset]).unwrap_err();
    assert!(err.contains("WECOM_TEST_SECRET_NEVER_SET"), "{err}");
    assert_eq!(BUILT.load(Ordering::SeqCst), 0);

    let good = write_config(dir.path(), "greeting = \"hi\"\ntimeout = \"5s\"", false);
    cli(&["check-config", "--config", &good]).unwrap();
    assert_eq!(
        BUILT.load(Ordering::SeqCst),
        0,
        "check-config does not build it"
    );
    cli(&["replay", "--config", &good, &fixture]).unwrap();
    assert_eq!(
        BUILT.load(Ordering::SeqCst),
        1,
        "replay builds it once for its app"
    );
    assert_eq!(GREETED.load(Ordering::SeqCst), 1);

    // A table no compiled-in plug-in owns is an error naming it.
    let unknown = write_config(
        dir.path(),
        "greeting = \"hi\"\n[apps.plugins.nobody]",
        false,
    );
    let err = cli(&["check-config", "--config", &unknown]).unwrap_err();
    assert!(err.contains("apps[0].plugins.nobody"), "{err}");
    assert!(
        err.contains("greeter"),
        "names the plug-ins there are: {err}"
    );
}
