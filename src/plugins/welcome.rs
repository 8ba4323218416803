//! `welcome`: greet each new customer with the event's `welcome_code`.
//!
//! On `add_external_contact` and `add_half_external_contact` carrying a `WelcomeCode`, it calls
//! send_welcome_msg with the configured text and attachments — or the `states.<state>`
//! override for the event's `State`. A welcome_code lives 20 s from `CreateTime` and works once:
//! no attempt is made after that (the event becomes a dead letter saying so), and 41050 (code
//! invalid or expired) and 41051 (the customer already chatted) are permanent.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::api::message::SendWelcomeMsgRequest;
use crate::api::types::{Attachment, Text};
use crate::config::{WelcomeConfig, WelcomeMessage};
use crate::dispatch::{Context, Handler, HandlerError, HandlerResult};
use crate::event::ContactEvent;

/// How long a welcome_code is valid after the event's `CreateTime`.
pub const WELCOME_CODE_LIFETIME: Duration = Duration::from_secs(20);

/// One ready-to-send welcome message.
#[derive(Debug, Clone, Default)]
struct Message {
    text: Option<String>,
    attachments: Vec<Attachment>,
}

impl Message {
    fn from_config(
        text: &Option<String>,
        attachments: &[serde_json::Value],
    ) -> Result<Self, String> {
        let attachments = attachments
            .iter()
            .map(|a| serde_json::from_value(a.clone()).map_err(|e| e.to_string()))
            .collect::<Result<Vec<Attachment>, String>>()?;
        Ok(Message {
            text: text.clone(),
            attachments,
        })
    }

    fn is_empty(&self) -> bool {
        self.text.as_deref().is_none_or(str::is_empty) && self.attachments.is_empty()
    }
}

/// The `welcome` plug-in of one app.
pub struct Welcome {
    default: Message,
    states: BTreeMap<String, Message>,
}

impl Welcome {
    /// Build from `[apps.welcome]`.
    ///
    /// # Errors
    /// An attachment that is not in send_welcome_msg's shape, with serde's reason.
    pub fn new(config: &WelcomeConfig) -> Result<Self, String> {
        let default = Message::from_config(&config.text, &config.attachments)?;
        let states = config
            .states
            .iter()
            .map(|(state, WelcomeMessage { text, attachments })| {
                Message::from_config(text, attachments)
                    .map(|m| (state.clone(), m))
                    .map_err(|e| format!("states.{state}: {e}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Welcome { default, states })
    }

    async fn greet(&self, ctx: &Context, event: &ContactEvent) -> HandlerResult {
        let Some(code) = event.welcome_code.as_deref() else {
            return Ok(());
        };
        let message = event
            .state
            .as_deref()
            .and_then(|s| self.states.get(s))
            .unwrap_or(&self.default);
        if message.is_empty() {
            return Ok(());
        }
        let age = age_of(event.header.create_time);
        if age > WELCOME_CODE_LIFETIME {
            return Err(HandlerError::permanent(format!(
                "welcome_code expired: the event is {}s old and codes live {}s",
                age.as_secs(),
                WELCOME_CODE_LIFETIME.as_secs()
            )));
        }
        let api = ctx
            .api
            .as_ref()
            .ok_or_else(|| HandlerError::permanent("the app has no secret for API calls"))?;
        let request = SendWelcomeMsgRequest {
            welcome_code: code.to_owned(),
            text: message.text.clone().map(|content| Text { content }),
            attachments: (!message.attachments.is_empty()).then(|| message.attachments.clone()),
        };
        match api.send_welcome_msg(&request).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_transient() => Err(HandlerError::transient(e)),
            Err(e) => Err(HandlerError::permanent(e)),
        }
    }
}

/// How long ago `create_time` (Unix seconds) was; zero for times in the future.
fn age_of(create_time: i64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    now.saturating_sub(Duration::from_secs(create_time.max(0) as u64))
}

#[async_trait::async_trait]
impl Handler for Welcome {
    fn name(&self) -> &str {
        "welcome"
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        self.greet(ctx, e).await
    }

    async fn on_add_half_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        self.greet(ctx, e).await
    }
}
