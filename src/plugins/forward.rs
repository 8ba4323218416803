//! `forward`: POST each event's JSON to a URL of yours, signed as Standard Webhooks
//! (standardwebhooks.com), so receivers verify it with that project's libraries.
//!
//! The body is the event JSON (architecture §3.4). Headers: `webhook-id` = the event's id
//! (stable across retries: the receiver's key for idempotency), `webhook-timestamp` = Unix
//! seconds of this attempt, `webhook-signature` = `v1,` + base64(HMAC-SHA256(key,
//! "{id}.{timestamp}.{body}")), the key being the base64 part of the `whsec_…` secret.
//! Redirects are not followed (a 3xx would re-send the customer data elsewhere). 2xx is done;
//! anything else, or no answer within the handler's `timeout`, is retried with backoff. The
//! URL's credentials and query never appear in logs or stored errors ([`redact_url`]).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::event::Event;
use crate::handler::{Context, Handler, HandlerError, HandlerResult};

/// A Standard Webhooks signing key, from its `whsec_<base64>` form. `Debug` hides it.
#[derive(Clone)]
pub struct WebhookSecret(Vec<u8>);

impl WebhookSecret {
    /// Parse `whsec_<base64>`.
    ///
    /// # Errors
    /// A message explaining the expected form (never the value).
    pub fn parse(text: &str) -> Result<Self, String> {
        const FORM: &str = "must be a Standard Webhooks secret: whsec_ followed by base64 \
                            (make one with: echo whsec_$(openssl rand -base64 32))";
        let encoded = text.strip_prefix("whsec_").ok_or(FORM)?;
        let key = STANDARD.decode(encoded).map_err(|_| FORM)?;
        if key.len() < 16 {
            return Err("must hold at least 16 bytes of key (24 base64 characters)".into());
        }
        Ok(WebhookSecret(key))
    }

    /// `v1,<base64 signature>` of one message.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

/// `[[apps.forward]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardSettings {
    /// The URL to POST to.
    pub url: String,
    /// The `whsec_…` signing secret; unsigned when absent.
    #[serde(default)]
    pub secret: Option<crate::config::Secret>,
    /// Only these `event` (or `event/change_type`) values; all when absent.
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// The `forward` plug-in for one `[[apps.forward]]` entry.
pub struct Forward {
    name: String,
    /// Parsed once: a request given a string would parse it (host, IDNA) every time.
    url: reqwest::Url,
    shown_url: String,
    secret: Option<WebhookSecret>,
    events: Option<Vec<String>>,
    http: reqwest::Client,
}

impl Forward {
    /// Build from its settings; `index` keeps the names of several forwards apart; `timeout`
    /// bounds each request.
    ///
    /// # Errors
    /// A URL that is not http(s), or a secret not in `whsec_` form (the reason, without it).
    pub fn new(index: usize, settings: ForwardSettings, timeout: Duration) -> Result<Self, String> {
        if !(settings.url.starts_with("http://") || settings.url.starts_with("https://")) {
            return Err("url must start with http:// or https://".into());
        }
        // The parser's reason never repeats the URL, which may hold a password.
        let url = reqwest::Url::parse(&settings.url)
            .map_err(|e| format!("url is not a valid URL: {e}"))?;
        let secret = settings
            .secret
            .as_ref()
            .map(|s| WebhookSecret::parse(s.expose()))
            .transpose()?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Forward {
            name: if index == 0 {
                "forward".to_owned()
            } else {
                format!("forward[{index}]")
            },
            shown_url: redact_url(&settings.url),
            url,
            secret,
            events: settings.events,
            http,
        })
    }
}

/// A URL fit for logs: scheme, host, port and path; userinfo, query and fragment removed.
///
/// The URL is split as the HTTP client splits it, so a password holding `/`, `?` or `#` is not
/// mistaken for the host. A URL that does not parse is not shown at all: a secret may sit
/// anywhere in it.
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return "<invalid URL>".to_owned();
    };
    let userinfo = if parsed.username().is_empty() && parsed.password().is_none() {
        ""
    } else {
        "…@"
    };
    let port = parsed.port().map(|p| format!(":{p}")).unwrap_or_default();
    let query = if parsed.query().is_some() { "?…" } else { "" };
    format!(
        "{}://{userinfo}{}{port}{}{query}",
        parsed.scheme(),
        parsed.host_str().unwrap_or_default(),
        parsed.path()
    )
}

#[async_trait::async_trait]
impl Handler for Forward {
    fn name(&self) -> &str {
        &self.name
    }

    fn wants(&self, event: &Event) -> bool {
        let Some(filter) = &self.events else {
            return true;
        };
        let name = event.event_name().unwrap_or_default();
        let kind = event.kind();
        filter.iter().any(|f| f == name || *f == kind)
    }

    async fn on_event(&self, ctx: &Context, event: &Event) -> HandlerResult {
        let body = serde_json::to_vec(event).map_err(HandlerError::permanent)?;
        let id = ctx.event_id.to_string();
        let timestamp = crate::clock::now_secs();
        let mut request = self
            .http
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = &self.secret {
            request = request.header("webhook-signature", secret.sign(&id, timestamp, &body));
        }
        let response = request.body(body).send().await.map_err(|e| {
            let cause = if e.is_timeout() {
                "no answer in time".to_owned()
            } else {
                e.without_url().to_string()
            };
            HandlerError::transient(format!("forward to {}: {cause}", self.shown_url))
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(HandlerError::transient(format!(
                "forward to {} answered {status}; redirects are not followed",
                self.shown_url
            )))
        } else {
            Err(HandlerError::transient(format!(
                "forward to {} answered {status}",
                self.shown_url
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // The example of the Standard Webhooks specification's reference libraries.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            secret.sign(
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1614265330,
                br#"{"test": 2432232314}"#
            ),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn secrets_in_the_wrong_form_are_explained_not_shown() {
        let err = WebhookSecret::parse("hunter2hunter2hunter2").unwrap_err();
        assert!(err.contains("whsec_"), "{err}");
        assert!(!err.contains("hunter2"));
        assert!(
            format!(
                "{:?}",
                WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap()
            )
            .contains("redacted")
        );
    }

    #[test]
    fn urls_lose_credentials_and_query() {
        assert_eq!(
            redact_url("https://user:pw@hooks.example.com:8443/in?token=abc#x"),
            "https://…@hooks.example.com:8443/in?…"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9000/e"),
            "http://127.0.0.1:9000/e"
        );
        assert_eq!(
            redact_url("http://hooks.example.com/in?to=ops@example.com"),
            "http://hooks.example.com/in?…"
        );
    }

    #[test]
    fn passwords_with_delimiters_are_never_shown() {
        for url in [
            "http://user:pa/55word@hooks.example.com/in",
            "http://user:pa?55word@hooks.example.com/in",
            "http://user:pa#55word@hooks.example.com/in",
            "http://user:pa55word@@hooks.example.com/in",
            "http://user:pa55word@hooks.example.com:99999/in",
        ] {
            let shown = redact_url(url);
            assert!(
                !shown.contains("pa") && !shown.contains("55word"),
                "{url} shown as {shown}"
            );
        }
        let settings = |url: &str| ForwardSettings {
            url: url.to_owned(),
            secret: None,
            events: None,
        };
        let err = Forward::new(
            0,
            settings("http://user:pa/55word@hooks.example.com/in"),
            Duration::from_secs(1),
        )
        .err()
        .unwrap();
        assert!(err.starts_with("url is not a valid URL"), "{err}");
        assert!(!err.contains("55word"), "{err}");
    }
}
