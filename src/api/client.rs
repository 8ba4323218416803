//! [`Client`]: sends a request to WeCom with a cached access token and turns the answer into a
//! typed value or an [`ApiError`].
//!
//! The policy for WeCom's answers lives here, in one loop (`Client::round_trip`):
//! - 40014 / 42001 (and 40082 / 42009): the token was rejected — replace it (single flight) and
//!   replay the call once;
//! - 40001: the secret is wrong — [`ApiError::InvalidSecret`], never a refresh loop;
//! - -1 / 45033: back off exponentially with jitter and retry a bounded number of times;
//! - 45009: a per-minute/per-hour frequency limit — [`ApiError::FrequencyLimit`] at once, since
//!   retrying within seconds only spends more of the same quota;
//! - 84061 from `externalcontact/list` (the member has no customers): an empty answer;
//! - any other non-zero `errcode`: [`ApiError::Api`].
//!
//! Transport failures are not retried: a POST that timed out may have been carried out.
//! Neither the secret nor a token is ever logged or put in an error.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::call_counts::CallCounts;
use super::endpoint::{Endpoint, HttpMethod};
use super::errcode::{self, Class};
use super::error::ApiError;
use super::retry::RetryPolicy;
use super::token::{AccessToken, CachedToken, MemoryTokenStore, TokenCache, TokenStore, cache_key};
use crate::secret::Secret;

/// WeCom's API host.
pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";
/// The path of `gettoken`.
const GETTOKEN_PATH: &str = "/cgi-bin/gettoken";
/// `expires_in` to assume when WeCom sends none (its documented normal value).
const DEFAULT_EXPIRES_IN: u64 = 7200;

/// A WeCom API client for one app (one `corp_id` + `secret`).
///
/// Cheap to clone: clones share the HTTP connection pool, the token cache and the call counts.
/// The typed endpoint methods (`client.send_welcome_msg(&req)`, …) are generated from the
/// endpoint table in [`catalog`](super::catalog).
///
/// ```no_run
/// # async fn run() -> Result<(), wecom_callback::api::ApiError> {
/// use wecom_callback::api::{Client, contact::GetFollowUserListRequest};
///
/// let client = Client::builder().corp_id("ww0123456789abcdef").secret("…").build()?;
/// let members = client.get_follow_user_list(&GetFollowUserListRequest {}).await?;
/// println!("{:?}", members.follow_user);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    corp_id: String,
    secret: Secret,
    tokens: TokenCache,
    retry: RetryPolicy,
    counts: CallCounts,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base_url)
            .field("corp_id", &self.inner.corp_id)
            .field("secret", &self.inner.secret)
            .field("retry", &self.inner.retry)
            .finish_non_exhaustive()
    }
}

/// How a call authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// With the cached `access_token` in the query (every endpoint but `gettoken`).
    Token,
    /// With `corpid` and `corpsecret` already in the query (`gettoken`).
    Credentials,
}

/// The encoded parameters of a call, kept so the call can be replayed.
enum Payload {
    Query(Vec<(String, String)>),
    Json(Vec<u8>),
}

impl Client {
    /// Starts configuring a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The corp id this client calls for.
    pub fn corp_id(&self) -> &str {
        &self.inner.corp_id
    }

    /// Calls the endpoint `request` belongs to and returns its typed answer.
    ///
    /// # Errors
    /// Any [`ApiError`]; a non-zero `errcode` is [`ApiError::Api`] (after the retries described
    /// in the module docs).
    pub async fn call<E: Endpoint>(&self, request: &E) -> Result<E::Response, ApiError> {
        let answer = self.call_raw(request).await?;
        decode(E::PATH, answer)
    }

    /// Calls the endpoint `request` belongs to and returns WeCom's answer as received: the
    /// whole JSON object, `errcode` and `errmsg` included, with every field whether the
    /// response type knows it or not.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn call_raw<E: Endpoint>(&self, request: &E) -> Result<Value, ApiError> {
        self.exchange(E::METHOD, E::PATH, request).await
    }

    /// Calls `path` with `request`'s fields (query parameters for GET, the JSON body for POST)
    /// exactly as given, and returns WeCom's answer as received — for walking pages by name,
    /// where the next request is the last one with a new cursor.
    ///
    /// # Errors
    /// As [`call`](Self::call); [`ApiError::Encode`] for a GET field that is not a scalar.
    pub async fn call_json(
        &self,
        method: HttpMethod,
        path: &str,
        request: &Value,
    ) -> Result<Value, ApiError> {
        self.exchange(method, path, request).await
    }

    /// POSTs `body` as JSON to `path` (e.g. `/cgi-bin/externalcontact/remark`) and decodes the
    /// answer. For endpoints that have no typed method yet.
    ///
    /// # Errors
    /// As [`call`](Self::call).
    pub async fn post_json<Req, Resp>(&self, path: &str, body: &Req) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let answer = self.exchange(HttpMethod::Post, path, body).await?;
        decode(path, answer)
    }

    /// GETs `path` with the fields of `query` (a flat struct or map of scalars; `None` fields are
    /// left out) as query parameters, and decodes the answer.
    ///
    /// # Errors
    /// As [`call`](Self::call); [`ApiError::Encode`] if a field is not a scalar.
    pub async fn get_query<Req, Resp>(&self, path: &str, query: &Req) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let answer = self.exchange(HttpMethod::Get, path, query).await?;
        decode(path, answer)
    }

    /// Encodes `request` for `method` and sends it with the access token; returns the answer.
    async fn exchange<Req: Serialize + ?Sized>(
        &self,
        method: HttpMethod,
        path: &str,
        request: &Req,
    ) -> Result<Value, ApiError> {
        let payload = match method {
            HttpMethod::Get => Payload::Query(query_pairs(path, request)?),
            HttpMethod::Post => {
                Payload::Json(serde_json::to_vec(request).map_err(|err| ApiError::Encode {
                    path: path.to_owned(),
                    message: err.to_string(),
                })?)
            }
        };
        self.round_trip(method, path, &payload, Auth::Token).await
    }

    /// A valid access token: the cached one, or a new one from `gettoken` (fetched once however
    /// many calls wait for it, and refreshed ahead of expiry).
    ///
    /// # Errors
    /// [`ApiError::InvalidSecret`] for a wrong secret; any other `gettoken` failure.
    pub async fn access_token(&self) -> Result<AccessToken, ApiError> {
        self.inner.tokens.current(|| self.fetch_token()).await
    }

    /// How many answers each endpoint gave with each `errcode`: `(path, errcode, count)`, sorted.
    /// `gettoken` and retries are included; calls that got no answer are not.
    pub fn call_counts(&self) -> Vec<(String, i64, u64)> {
        self.inner.counts.snapshot()
    }

    /// Asks `gettoken` for a new token. Boxed because it runs inside [`round_trip`], which it
    /// also uses.
    ///
    /// [`round_trip`]: Self::round_trip
    fn fetch_token(&self) -> BoxFuture<'_, Result<CachedToken, ApiError>> {
        Box::pin(async move {
            let credentials = Payload::Query(vec![
                ("corpid".to_owned(), self.inner.corp_id.clone()),
                (
                    "corpsecret".to_owned(),
                    self.inner.secret.expose().to_owned(),
                ),
            ]);
            let answer = self
                .round_trip(
                    HttpMethod::Get,
                    GETTOKEN_PATH,
                    &credentials,
                    Auth::Credentials,
                )
                .await?;
            let token = answer
                .get("access_token")
                .and_then(Value::as_str)
                // It goes into URLs and the shared store: a control character (a NUL, which
                // PostgreSQL cannot store) makes it no token.
                .filter(|token| !token.is_empty() && !token.contains(char::is_control))
                .ok_or_else(|| ApiError::Decode {
                    path: GETTOKEN_PATH.to_owned(),
                    message: "no usable access_token in the answer".to_owned(),
                })?;
            let expires_in = answer
                .get("expires_in")
                .and_then(Value::as_u64)
                .filter(|secs| *secs > 0)
                .unwrap_or(DEFAULT_EXPIRES_IN);
            Ok(CachedToken::new(
                AccessToken::new(token),
                Duration::from_secs(expires_in),
            ))
        })
    }

    /// Sends one call until WeCom gives an answer the policy accepts, and returns that answer
    /// (the whole JSON object: `errcode` 0, or a code that means "none" for this path).
    async fn round_trip(
        &self,
        method: HttpMethod,
        path: &str,
        payload: &Payload,
        auth: Auth,
    ) -> Result<Value, ApiError> {
        let mut token = match auth {
            Auth::Token => Some(self.access_token().await?),
            Auth::Credentials => None,
        };
        let mut replayed = false;
        let mut retries = 0;
        loop {
            let answer = self.send(method, path, payload, token.as_ref()).await?;
            let (code, message) = envelope(&answer);
            if errcode::means_empty(path, code) {
                return Ok(answer);
            }
            match errcode::classify(code) {
                Class::Success => return Ok(answer),
                Class::TokenInvalid if !replayed => {
                    if let Some(stale) = &token {
                        tracing::debug!(path, errcode = code, "access token rejected; refreshing");
                        replayed = true;
                        token = Some(
                            self.inner
                                .tokens
                                .replace(stale, || self.fetch_token())
                                .await?,
                        );
                        continue;
                    }
                    return Err(ApiError::Api { code, message });
                }
                Class::InvalidSecret => return Err(ApiError::InvalidSecret { message }),
                Class::Busy if retries < self.inner.retry.max_retries => {
                    let delay = self.inner.retry.delay(retries);
                    tracing::debug!(
                        path,
                        errcode = code,
                        retry = retries + 1,
                        ?delay,
                        "busy; backing off"
                    );
                    tokio::time::sleep(delay).await;
                    retries += 1;
                }
                Class::Busy => {
                    return Err(ApiError::Busy {
                        code,
                        message,
                        attempts: retries + 1,
                    });
                }
                Class::FrequencyLimit => {
                    return Err(ApiError::FrequencyLimit {
                        code,
                        message,
                        path: path.to_owned(),
                    });
                }
                Class::TokenInvalid | Class::Other => return Err(ApiError::Api { code, message }),
            }
        }
    }

    /// One HTTP exchange: returns the answer's JSON object whatever its `errcode`.
    async fn send(
        &self,
        method: HttpMethod,
        path: &str,
        payload: &Payload,
        token: Option<&AccessToken>,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.inner.base_url);
        let mut request = match method {
            HttpMethod::Get => self.inner.http.get(url),
            HttpMethod::Post => self.inner.http.post(url),
        };
        if let Some(token) = token {
            request = request.query(&[("access_token", token.as_str())]);
        }
        request = match payload {
            Payload::Query(pairs) => request.query(pairs),
            Payload::Json(body) => request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone()),
        };

        let started = Instant::now();
        let response = request.send().await.map_err(|err| {
            let err = ApiError::transport(err);
            tracing::debug!(path, error = %err, "wecom api call failed");
            err
        })?;
        let status = response.status();
        if status != StatusCode::OK {
            tracing::debug!(
                path,
                status = status.as_u16(),
                "wecom api call: unexpected status"
            );
            return Err(ApiError::Http {
                path: path.to_owned(),
                status: status.as_u16(),
            });
        }
        let body = response.bytes().await.map_err(ApiError::transport)?;
        let answer: Value = serde_json::from_slice(&body).map_err(|err| ApiError::Decode {
            path: path.to_owned(),
            message: err.to_string(),
        })?;
        if !answer.is_object() {
            return Err(ApiError::Decode {
                path: path.to_owned(),
                message: "the answer is not a JSON object".to_owned(),
            });
        }
        let (code, _) = envelope(&answer);
        self.inner.counts.record(path, code);
        tracing::debug!(
            path,
            errcode = code,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "wecom api call"
        );
        Ok(answer)
    }
}

/// `errcode` (0 when absent) and `errmsg` of an answer.
fn envelope(answer: &Value) -> (i64, String) {
    let code = answer
        .get("errcode")
        .and_then(Value::as_i64)
        .unwrap_or(errcode::OK);
    let message = answer
        .get("errmsg")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    (code, message)
}

/// Decodes a successful answer into the endpoint's response type (unknown fields are ignored).
fn decode<Resp: DeserializeOwned>(path: &str, answer: Value) -> Result<Resp, ApiError> {
    serde_json::from_value(answer).map_err(|err| ApiError::Decode {
        path: path.to_owned(),
        message: err.to_string(),
    })
}

/// The fields of `query` as query pairs: scalars only, `null`/absent fields left out.
fn query_pairs<Req: Serialize + ?Sized>(
    path: &str,
    query: &Req,
) -> Result<Vec<(String, String)>, ApiError> {
    let encode_error = |message: String| ApiError::Encode {
        path: path.to_owned(),
        message,
    };
    let fields = match serde_json::to_value(query).map_err(|err| encode_error(err.to_string()))? {
        Value::Object(fields) => fields,
        Value::Null => return Ok(Vec::new()),
        _ => return Err(encode_error("GET parameters must be an object".to_owned())),
    };
    let mut pairs = Vec::with_capacity(fields.len());
    for (name, value) in fields {
        let value = match value {
            Value::Null => continue,
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Array(_) | Value::Object(_) => {
                return Err(encode_error(format!("`{name}` is not a scalar")));
            }
        };
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// Configures a [`Client`]. `corp_id` and `secret` are required.
#[derive(Clone)]
pub struct ClientBuilder {
    corp_id: Option<String>,
    secret: Option<Secret>,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    refresh_margin: Duration,
    token_store: Option<Arc<dyn TokenStore>>,
    proxy: Option<String>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            corp_id: None,
            secret: None,
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
            refresh_margin: Duration::from_secs(300),
            token_store: None,
            proxy: None,
        }
    }
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("corp_id", &self.corp_id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .field("refresh_margin", &self.refresh_margin)
            .field("proxy", &self.proxy.as_ref().map(|_| "<set>"))
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// The CorpID (`gettoken`'s `corpid`).
    pub fn corp_id(mut self, corp_id: impl Into<String>) -> Self {
        self.corp_id = Some(corp_id.into());
        self
    }

    /// The 客户联系 secret, or that of a self-built app allowed to call customer-contact APIs.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(Secret::new(secret));
        self
    }

    /// The API host, default [`DEFAULT_BASE_URL`] (tests point it at a fake).
    pub fn base_url(mut self, base_url: impl Into<String>) -> Self {
        self.base_url = base_url.into();
        self
    }

    /// The whole-request timeout, default 10 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The connect timeout, default 5 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How many times a busy call (-1, or 45033 over the concurrency limit) is retried,
    /// default 3. A frequency limit (45009) is never retried at once.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.retry.max_retries = retries;
        self
    }

    /// The delay before the first busy retry, default 200 ms; it doubles each retry (with
    /// jitter) up to 10 s.
    pub fn retry_backoff(mut self, base: Duration) -> Self {
        self.retry.backoff.base = base;
        self
    }

    /// How long before expiry the token is refreshed, default 5 minutes.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// Where tokens are cached, default a fresh [`MemoryTokenStore`].
    pub fn token_store(mut self, store: Arc<dyn TokenStore>) -> Self {
        self.token_store = Some(store);
        self
    }

    /// Sends every call through this egress proxy (`http://host:port`, `https://…`; it may carry
    /// `user:password@`). `None`, the default, leaves the choice to the environment: reqwest's
    /// usual `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY` variables apply. Use it when WeCom only
    /// accepts calls from a 企业可信IP that is not this machine's own egress address.
    pub fn proxy(mut self, url: impl Into<Option<String>>) -> Self {
        self.proxy = url.into().filter(|url| !url.trim().is_empty());
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`ApiError::Config`] if `corp_id` or `secret` is missing or empty, the base URL or the
    /// proxy URL is not http(s), or the HTTP client cannot be built.
    pub fn build(self) -> Result<Client, ApiError> {
        let corp_id = self
            .corp_id
            .filter(|id| !id.trim().is_empty())
            .ok_or_else(|| ApiError::Config("corp_id is required".to_owned()))?;
        let secret = self
            .secret
            .filter(|secret| !secret.expose().is_empty())
            .ok_or_else(|| ApiError::Config("secret is required".to_owned()))?;
        let base_url = self.base_url.trim_end_matches('/').to_owned();
        if !(base_url.starts_with("https://") || base_url.starts_with("http://")) {
            return Err(ApiError::Config(format!(
                "base_url must start with https:// or http://, got {base_url:?}"
            )));
        }
        let mut http = reqwest::Client::builder()
            .use_rustls_tls()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .user_agent(concat!("wecom-callback/", env!("CARGO_PKG_VERSION")));
        if let Some(url) = &self.proxy {
            // The URL may carry credentials: errors say what is wrong, never the URL itself.
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ApiError::Config(
                    "proxy must start with http:// or https://".to_owned(),
                ));
            }
            let proxy = reqwest::Proxy::all(url.as_str())
                .map_err(|_| ApiError::Config("proxy is not a valid URL".to_owned()))?;
            http = http.proxy(proxy);
        }
        let http = http
            .build()
            .map_err(|err| ApiError::Config(format!("cannot build the HTTP client: {err}")))?;
        let store = self
            .token_store
            .unwrap_or_else(|| Arc::new(MemoryTokenStore::new()));
        let tokens = TokenCache::new(
            store,
            cache_key(&corp_id, secret.expose()),
            self.refresh_margin,
        );
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url,
                corp_id,
                secret,
                tokens,
                retry: self.retry,
                counts: CallCounts::default(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_requires_credentials() {
        let err = Client::builder().secret("s").build().unwrap_err();
        assert!(err.to_string().contains("corp_id"), "{err}");
        let err = Client::builder().corp_id("ww1").build().unwrap_err();
        assert!(err.to_string().contains("secret"), "{err}");
        let err = Client::builder()
            .corp_id("ww1")
            .secret("s")
            .base_url("ftp://x")
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("base_url"), "{err}");
    }

    #[test]
    fn proxy_must_be_http_and_is_never_shown() {
        let builder = Client::builder().corp_id("ww1").secret("s");
        let err = builder
            .clone()
            .proxy("ftp://user:PASSWORD@proxy".to_owned())
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("proxy") && !err.contains("PASSWORD"), "{err}");
        let err = builder
            .clone()
            .proxy("http://user:PASSWORD@[::1".to_owned())
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("proxy") && !err.contains("PASSWORD"), "{err}");
        let with_proxy = builder.proxy("http://user:PASSWORD@127.0.0.1:3128".to_owned());
        assert!(!format!("{with_proxy:?}").contains("PASSWORD"));
        with_proxy.build().expect("a proxy URL with credentials");
    }

    #[test]
    fn debug_hides_the_secret() {
        let builder = Client::builder().corp_id("ww1").secret("TOPSECRET");
        assert!(!format!("{builder:?}").contains("TOPSECRET"));
        let client = builder.build().unwrap();
        let shown = format!("{client:?}");
        assert!(
            shown.contains("ww1") && !shown.contains("TOPSECRET"),
            "{shown}"
        );
    }

    #[test]
    fn query_pairs_skip_unset_fields_and_reject_nesting() {
        let pairs = query_pairs("/p", &serde_json::json!({"a": "x", "b": null, "c": 3})).unwrap();
        assert_eq!(
            pairs,
            vec![("a".into(), "x".into()), ("c".into(), "3".into())]
        );
        assert!(query_pairs("/p", &serde_json::json!({"a": [1]})).is_err());
    }
}
