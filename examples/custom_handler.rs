//! A plug-in of your own compiled into your own `wecom-callback` binary, with its own settings.
//!
//! ```sh
//! cargo run --example custom_handler -- check-config --config examples/custom_handler.toml
//! cargo run --example custom_handler -- replay --config examples/custom_handler.toml fixtures/events/*.xml
//! cargo run --example custom_handler -- serve --config examples/custom_handler.toml
//! ```
//!
//! The binary is the whole command line (serve, replay, events, seal, …). `NewCustomerLog` runs
//! for the apps whose config has an `[apps.plugins.new_customer_log]` table, after the built-in
//! plug-ins; its settings are that table (`prefix`), and a key it does not know is an error
//! naming it.

use std::sync::Arc;

use serde::Deserialize;
use wecom_callback::config::AppConfig;
use wecom_callback::plugins::Plugin;
use wecom_callback::{ChatEvent, ContactEvent, Context, Handler, HandlerError, HandlerResult};

/// `[apps.plugins.new_customer_log]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    /// Printed before every line.
    #[serde(default)]
    prefix: String,
}

/// Builds the handler for each app that has the table.
struct NewCustomerLogPlugin;

impl Plugin for NewCustomerLogPlugin {
    type Settings = Settings;

    fn name(&self) -> &str {
        "new_customer_log"
    }

    fn build(&self, settings: Settings, app: &AppConfig) -> Result<Arc<dyn Handler>, String> {
        Ok(Arc::new(NewCustomerLog {
            prefix: format!("{}[{}]", settings.prefix, app.name),
        }))
    }
}

/// Logs new customers and member changes of group chats; ignores everything else.
struct NewCustomerLog {
    prefix: String,
}

#[wecom_callback::async_trait]
impl Handler for NewCustomerLog {
    fn name(&self) -> &str {
        "new_customer_log"
    }

    async fn on_add_external_contact(&self, _ctx: &Context, e: &ContactEvent) -> HandlerResult {
        if e.external_user_id.is_empty() {
            // Retrying cannot fix this: make the delivery a dead letter with the reason.
            return Err(HandlerError::permanent("event without a customer id"));
        }
        println!(
            "{} {} added customer {} via {}",
            self.prefix,
            e.user_id,
            e.external_user_id,
            e.state.as_deref().unwrap_or("-")
        );
        Ok(())
    }

    async fn on_chat_update(&self, _ctx: &Context, e: &ChatEvent) -> HandlerResult {
        println!(
            "{} chat {} changed: {}",
            self.prefix,
            e.chat_id,
            e.update_detail.as_deref().unwrap_or("-")
        );
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    wecom_callback::cli::main_with(vec![Arc::new(NewCustomerLogPlugin)])
}
