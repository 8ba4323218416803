//! The public URL `doctor` checks, taken apart: scheme, host (a name to resolve or an
//! address), port, and the URL WeCom calls with its signed query appended.

use std::net::IpAddr;

use reqwest::Url;

use crate::cli::CliError;

/// The public URL, taken apart.
pub(super) struct Target {
    /// The URL as given.
    pub url: Url,
    /// Its host.
    pub host: Host,
    /// Its port (the scheme's default when not given).
    pub port: u16,
    /// Whether it is `https://`.
    pub https: bool,
}

/// The host of the URL: a name to resolve, or an address.
pub(super) enum Host {
    /// A DNS name.
    Name(String),
    /// An IP address (nothing to resolve).
    Ip(IpAddr),
}

impl Target {
    /// Parses `--url`.
    ///
    /// # Errors
    /// A one-line error when it is not an http(s) URL with a host.
    pub(super) fn parse(text: &str) -> Result<Self, CliError> {
        let url = Url::parse(text.trim())
            .map_err(|e| CliError::new(format!("--url {text:?} is not a URL: {e}")))?;
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            other => {
                return Err(CliError::new(format!(
                    "--url must start with https:// or http://, not {other}://"
                )));
            }
        };
        let host = match url.host_str() {
            Some(name) if !name.is_empty() => {
                // An IPv6 host comes in brackets.
                match name.trim_start_matches('[').trim_end_matches(']').parse() {
                    Ok(ip) => Host::Ip(ip),
                    Err(_) => Host::Name(name.to_owned()),
                }
            }
            _ => return Err(CliError::new(format!("--url {text:?} has no host"))),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if https { 443 } else { 80 });
        Ok(Target {
            url,
            host,
            port,
            https,
        })
    }

    /// The host as written in the URL.
    pub(super) fn host_text(&self) -> String {
        self.url.host_str().unwrap_or_default().to_owned()
    }

    /// The URL with `query` appended, as WeCom calls it.
    pub(super) fn with_query(&self, query: &str) -> String {
        let mut base = self.url.clone();
        base.set_fragment(None);
        let base = base.as_str().to_owned();
        let separator = if base.contains('?') { '&' } else { '?' };
        format!("{base}{separator}{query}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart() {
        let target = Target::parse("https://example.com/callback/contacts").unwrap();
        assert!(target.https && target.port == 443);
        assert!(matches!(&target.host, Host::Name(name) if name == "example.com"));
        assert_eq!(
            target.with_query("a=1"),
            "https://example.com/callback/contacts?a=1"
        );
        let target = Target::parse("http://[::1]:8080/cb?x=y#frag").unwrap();
        assert!(!target.https && target.port == 8080);
        assert!(matches!(target.host, Host::Ip(ip) if ip.is_loopback()));
        assert_eq!(target.with_query("a=1"), "http://[::1]:8080/cb?x=y&a=1");
        assert!(Target::parse("ftp://example.com/").is_err());
        assert!(Target::parse("/callback/contacts").is_err());
    }
}
