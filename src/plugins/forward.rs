//! `forward`: POST each event's JSON to a URL of yours, signed with HMAC-SHA256.
//!
//! The body is the event JSON (architecture §3.4). Headers: `X-Wecom-Callback-Signature` = hex
//! HMAC-SHA256(secret, body) when a secret is set, `X-Wecom-Callback-Event-Id` = the inbox id
//! (stable across retries, for idempotency). Any failure — network, timeout, non-2xx — is
//! transient: the inbox retries it with backoff like any handler.

use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{ForwardConfig, Secret};
use crate::dispatch::{Context, Handler, HandlerError, HandlerResult};
use crate::event::Event;

/// The `forward` plug-in for one `[[apps.forward]]` entry.
pub struct Forward {
    name: String,
    url: String,
    secret: Option<Secret>,
    events: Option<Vec<String>>,
    http: reqwest::Client,
}

impl Forward {
    /// Build from config; `index` keeps the names of several forwards apart.
    pub fn new(index: usize, config: &ForwardConfig) -> Self {
        Forward {
            name: if index == 0 {
                "forward".to_owned()
            } else {
                format!("forward[{index}]")
            },
            url: config.url.clone(),
            secret: config.secret.clone(),
            events: config.events.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        }
    }

    fn wants(&self, event: &Event) -> bool {
        let Some(filter) = &self.events else {
            return true;
        };
        let name = event.event_name().unwrap_or_default();
        let kind = event.kind();
        filter.iter().any(|f| f == name || *f == kind)
    }
}

/// Hex HMAC-SHA256 of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[async_trait::async_trait]
impl Handler for Forward {
    fn name(&self) -> &str {
        &self.name
    }

    async fn handle(&self, ctx: &Context, event: &Event) -> HandlerResult {
        if !self.wants(event) {
            return Ok(());
        }
        let body = serde_json::to_vec(event).map_err(HandlerError::permanent)?;
        let mut request = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-wecom-callback-event-id", ctx.event_id.to_string());
        if let Some(secret) = &self.secret {
            request = request.header(
                "x-wecom-callback-signature",
                signature(secret.expose(), &body),
            );
        }
        let response = request.body(body).send().await.map_err(|e| {
            HandlerError::transient(format!("forward to {}: {}", self.url, e.without_url()))
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(HandlerError::transient(format!(
                "forward to {} answered {status}",
                self.url
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hmac_matches_a_known_value() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
