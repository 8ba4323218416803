//! `welcome`: greet each new customer with the event's `welcome_code`.
//!
//! On `add_external_contact` and `add_half_external_contact` carrying a `WelcomeCode`, it calls
//! send_welcome_msg with the configured text and attachments — or the `states.<state>`
//! override for the event's `State`. A welcome_code lives 20 s: judged by when this service
//! received the event (our own clock, so neither a skewed WeCom clock nor a replayed fixture
//! fools it), no attempt is made after that, and WeCom's 41050 (code invalid or expired) and
//! 41051 (the customer already chatted) are permanent.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::api::message::SendWelcomeMsgRequest;
use crate::api::types::{Attachment, Text};
use crate::config::ConfigError;
use crate::event::{ContactChange, ContactEvent, Event};
use crate::handler::{Context, Handler, HandlerError, HandlerResult};

/// How long a welcome_code is valid after the event.
pub const WELCOME_CODE_LIFETIME: Duration = Duration::from_secs(20);

/// One welcome message: `text` and up to 9 `attachments` in send_welcome_msg's shape.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageSettings {
    /// The text (≤ 4000 bytes).
    #[serde(default)]
    pub text: Option<String>,
    /// Up to 9 attachments.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `[apps.welcome]`: the message, and per-`State` overrides in `[apps.welcome.states.<state>]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WelcomeSettings {
    /// The default text (≤ 4000 bytes).
    #[serde(default)]
    pub text: Option<String>,
    /// The default attachments (up to 9).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Overrides per channel (`State`).
    #[serde(default)]
    pub states: BTreeMap<String, MessageSettings>,
}

/// The `welcome` plug-in of one app.
pub struct Welcome {
    default: MessageSettings,
    states: BTreeMap<String, MessageSettings>,
}

impl Welcome {
    /// Build from `[apps.welcome]`; `key` names the section in errors.
    ///
    /// # Errors
    /// A text over 4000 bytes or more than 9 attachments.
    pub fn new(settings: WelcomeSettings, key: &str) -> Result<Self, ConfigError> {
        let welcome = Welcome {
            default: MessageSettings {
                text: settings.text,
                attachments: settings.attachments,
            },
            states: settings.states,
        };
        let messages = std::iter::once((key.to_owned(), &welcome.default)).chain(
            welcome
                .states
                .iter()
                .map(|(state, m)| (format!("{key}.states.{state}"), m)),
        );
        for (name, message) in messages {
            let invalid = |field: &str, reason: &str| ConfigError::Invalid {
                key: format!("{name}.{field}"),
                reason: reason.into(),
            };
            if message.text.as_ref().is_some_and(|t| t.len() > 4000) {
                return Err(invalid("text", "is longer than 4000 bytes"));
            }
            if message.attachments.len() > 9 {
                return Err(invalid("attachments", "has more than 9 items"));
            }
        }
        Ok(welcome)
    }

    fn message_for(&self, event: &ContactEvent) -> Option<&MessageSettings> {
        let message = event
            .state
            .as_deref()
            .and_then(|s| self.states.get(s))
            .unwrap_or(&self.default);
        let empty =
            message.text.as_deref().is_none_or(str::is_empty) && message.attachments.is_empty();
        (!empty && event.welcome_code.is_some()).then_some(message)
    }

    async fn greet(&self, ctx: &Context, event: &ContactEvent) -> HandlerResult {
        let (Some(code), Some(message)) = (event.welcome_code.as_deref(), self.message_for(event))
        else {
            return Ok(());
        };
        let age = Duration::from_millis(
            crate::clock::now_ms()
                .saturating_sub(ctx.received_at)
                .max(0) as u64,
        );
        if age > WELCOME_CODE_LIFETIME {
            return Err(HandlerError::permanent(format!(
                "welcome_code expired: received {}s ago and codes live {}s",
                age.as_secs(),
                WELCOME_CODE_LIFETIME.as_secs()
            )));
        }
        let request = SendWelcomeMsgRequest {
            welcome_code: code.to_owned(),
            text: message.text.clone().map(|content| Text { content }),
            attachments: (!message.attachments.is_empty()).then(|| message.attachments.clone()),
        };
        ctx.api()?.send_welcome_msg(&request).await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Handler for Welcome {
    fn name(&self) -> &str {
        "welcome"
    }

    fn wants(&self, event: &Event) -> bool {
        matches!(event, Event::Contact(e)
            if matches!(e.change, ContactChange::AddExternalContact
                | ContactChange::AddHalfExternalContact)
                && self.message_for(e).is_some())
    }

    async fn on_add_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        self.greet(ctx, e).await
    }

    async fn on_add_half_external_contact(&self, ctx: &Context, e: &ContactEvent) -> HandlerResult {
        self.greet(ctx, e).await
    }
}
