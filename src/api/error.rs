//! [`ApiError`]: everything that can go wrong calling WeCom, typed so callers can branch.
//!
//! Messages never contain the secret or an access token: transport errors are stored with their
//! URL stripped (the URL carries `corpsecret` or `access_token`), and no variant keeps a request.

use super::errcode;

/// The boxed error a [`TokenStore`](super::TokenStore) backend reports.
pub type TokenStoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error from the WeCom API client.
///
/// `Display` of every variant that carries an `errcode` starts with `errcode N: errmsg`, which is
/// what the `api` command prints on failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// WeCom answered with a non-zero `errcode` that retrying at once cannot fix. For codes
    /// with a known fix (60020: egress IP not in 企业可信IP; 48002: no API permission) `Display`
    /// adds it after `errcode N: errmsg`.
    #[error("errcode {code}: {message}{}", errcode::hint(*code))]
    Api {
        /// WeCom's `errcode`.
        code: i64,
        /// WeCom's `errmsg`.
        message: String,
    },

    /// `errcode` 40001: WeCom rejected the secret. A configuration error; never retried.
    #[error("errcode 40001: {message} (invalid secret: check the app's corp_id and secret)")]
    InvalidSecret {
        /// WeCom's `errmsg`.
        message: String,
    },

    /// `errcode` 45009: a frequency limit of WeCom's was hit. Reported at once — retrying within
    /// seconds would only spend more of the same per-minute/per-hour quota. Transient: a caller
    /// that backs off for minutes (the dispatcher) may try again.
    #[error(
        "errcode {code}: {message} (frequency limit of {path} hit — 接口调用超过限制: WeCom caps \
         how often each corp, app and IP may call an API per minute and per hour; not retried \
         at once: wait a minute, then call less often)"
    )]
    FrequencyLimit {
        /// WeCom's `errcode` (45009).
        code: i64,
        /// WeCom's `errmsg`.
        message: String,
        /// The endpoint path whose limit was hit, without query.
        path: String,
    },

    /// WeCom stayed busy or over the concurrency limit (`-1`, `45033`) through every retry.
    #[error("errcode {code}: {message} (gave up after {attempts} attempts)")]
    Busy {
        /// The last `errcode`.
        code: i64,
        /// The last `errmsg`.
        message: String,
        /// How many times the call was sent.
        attempts: u32,
    },

    /// The request could not be sent or its answer not read (connect, TLS, timeout).
    /// `Display` includes the causes, e.g. `transport error: error sending request: client error
    /// (Connect): tcp connect error: Connection refused (os error 111)`.
    #[error("transport error: {}", with_causes(.0))]
    Transport(#[source] reqwest::Error),

    /// WeCom (or something in between) answered with an HTTP status other than 200.
    #[error("unexpected HTTP status {status} from {path}")]
    Http {
        /// The endpoint path, without query.
        path: String,
        /// The HTTP status code.
        status: u16,
    },

    /// The answer was not the JSON this endpoint returns.
    #[error("cannot decode the answer of {path}: {message}")]
    Decode {
        /// The endpoint path, without query.
        path: String,
        /// What did not fit.
        message: String,
    },

    /// The request could not be encoded (a GET parameter that is not a scalar).
    #[error("cannot encode the request for {path}: {message}")]
    Encode {
        /// The endpoint path.
        path: String,
        /// What could not be encoded.
        message: String,
    },

    /// The client was configured wrongly (missing corp id or secret, bad base URL).
    #[error("invalid API client configuration: {0}")]
    Config(String),

    /// The access-token store failed.
    #[error("token store error: {0}")]
    TokenStore(#[source] TokenStoreError),
}

/// `err` and its sources joined by `: ` (reqwest's own message alone is only "error sending
/// request").
fn with_causes(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl ApiError {
    /// Wraps a reqwest error, dropping its URL: the URL carries `access_token` or `corpsecret`.
    pub(crate) fn transport(err: reqwest::Error) -> Self {
        Self::Transport(err.without_url())
    }

    /// WeCom's `errcode`, when WeCom answered with one.
    pub fn code(&self) -> Option<i64> {
        match self {
            Self::Api { code, .. }
            | Self::Busy { code, .. }
            | Self::FrequencyLimit { code, .. } => Some(*code),
            Self::InvalidSecret { .. } => Some(errcode::INVALID_SECRET),
            _ => None,
        }
    }

    /// Whether trying the same call again later may succeed: transport failures, HTTP 429/5xx,
    /// busy or rate-limit codes, token problems and token-store outages.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport(_)
            | Self::Busy { .. }
            | Self::FrequencyLimit { .. }
            | Self::TokenStore(_) => true,
            Self::Http { status, .. } => *status == 429 || *status >= 500,
            Self::Api { code, .. } => matches!(
                errcode::classify(*code),
                errcode::Class::Busy
                    | errcode::Class::FrequencyLimit
                    | errcode::Class::TokenInvalid
            ),
            Self::InvalidSecret { .. }
            | Self::Decode { .. }
            | Self::Encode { .. }
            | Self::Config(_) => false,
        }
    }

    /// Whether retrying the same call cannot help (the opposite of [`is_transient`]).
    ///
    /// For `send_welcome_msg` this includes 41050 (welcome code expired or used) and 41051
    /// (customer already chatting).
    ///
    /// [`is_transient`]: ApiError::is_transient
    pub fn is_permanent(&self) -> bool {
        !self.is_transient()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_errcode() {
        let err = ApiError::Api {
            code: 41051,
            message: "externaluser has started chatting".into(),
        };
        assert_eq!(
            err.to_string(),
            "errcode 41051: externaluser has started chatting"
        );
        assert_eq!(err.code(), Some(41051));
        assert!(err.is_permanent());
    }

    #[test]
    fn busy_and_token_codes_are_transient() {
        for code in [-1, 45009, 45033, 42001] {
            let err = ApiError::Api {
                code,
                message: String::new(),
            };
            assert!(err.is_transient(), "{code}");
        }
        let secret = ApiError::InvalidSecret {
            message: "invalid credential".into(),
        };
        assert_eq!(secret.code(), Some(40001));
        assert!(secret.is_permanent());
        assert!(secret.to_string().starts_with("errcode 40001: "));
    }

    #[test]
    fn frequency_limit_names_the_limit() {
        let err = ApiError::FrequencyLimit {
            code: 45009,
            message: "api freq out of limit".into(),
            path: "/cgi-bin/externalcontact/get".into(),
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with("errcode 45009: api freq out of limit (frequency limit of /cgi-bin/externalcontact/get"),
            "{shown}"
        );
        assert!(err.is_transient() && err.code() == Some(45009));
    }

    #[test]
    fn untrusted_ip_says_what_to_do() {
        let err = ApiError::Api {
            code: 60020,
            message: "not allow to access from your ip, from ip: 203.0.113.7".into(),
        };
        let shown = err.to_string();
        assert!(
            shown.starts_with("errcode 60020: not allow to access from your ip")
                && shown.contains("egress IP")
                && shown.contains("企业可信IP"),
            "{shown}"
        );
        assert!(err.is_permanent());
    }
}
