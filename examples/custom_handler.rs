//! A custom handler plug-in compiled into your own `wecom-callback` binary.
//!
//! ```sh
//! cargo run --example custom_handler -- serve --config config.example.toml
//! cargo run --example custom_handler -- replay --config config.example.toml fixtures/events/*.xml
//! ```
//!
//! The binary is the whole command line (serve, replay, events, seal, …) with `NewCustomerLog`
//! added to every app, after the built-in plug-ins the config enables.

use std::sync::Arc;

use wecom_callback::{ChatEvent, ContactEvent, Context, Handler, HandlerError, HandlerResult};

/// Logs new customers and member changes of group chats; ignores everything else.
struct NewCustomerLog;

#[wecom_callback::async_trait]
impl Handler for NewCustomerLog {
    fn name(&self) -> &str {
        "new_customer_log"
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        if e.external_user_id.is_empty() {
            // Retrying cannot fix this: send it to the dead letters with the reason.
            return Err(HandlerError::permanent("event without a customer id"));
        }
        println!(
            "[{}] {} added customer {} via {}",
            ctx.app,
            e.user_id,
            e.external_user_id,
            e.state.as_deref().unwrap_or("-")
        );
        Ok(())
    }

    async fn on_chat_update(&self, ctx: &Context, e: &ChatEvent) -> HandlerResult {
        println!(
            "[{}] chat {} changed: {}",
            ctx.app,
            e.chat_id,
            e.update_detail.as_deref().unwrap_or("-")
        );
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    wecom_callback::cli::main_with(vec![Arc::new(NewCustomerLog)])
}
