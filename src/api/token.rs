//! The access token: its secret-keeping type, the [`TokenStore`] it is cached in, and the
//! single-flight refresh that makes many waiting calls share one `gettoken`.
//!
//! Tokens are per secret (per app), not per corp, so the cache key is built from the corp id and
//! a digest of the secret ([`cache_key`]) — never the secret itself, since a shared store (the
//! PostgreSQL one) shows its keys to anyone who can read the table. Fetching the token over HTTP is the client's
//! job; this module only decides *when* to fetch and makes sure it happens once.
//!
//! "Once" holds across processes when the store is shared (the PostgreSQL inbox's): a refresh
//! runs under the store's [`TokenStore::lock`] as well as this process's own lock, so the first
//! caller fetches and every other — here or in another instance — waits and then finds its
//! token; a token WeCom rejected is dropped only if it is still the stored one
//! ([`TokenStore::clear_if`]), so a late rejection never throws away a fresh token.
//!
//! Between refreshes a process uses the token it last saw without asking the store again (a
//! shared store would cost a database round trip, and a wait for a pooled connection, on every
//! API call): it reads the store once it has no fresh token of its own, and after WeCom
//! rejected the one it had — which is how a token another instance replaced reaches it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::error::{ApiError, TokenStoreError};

/// An access token. `Debug` prints `AccessToken(<redacted>)`; there is no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token string.
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token, for the `access_token` query parameter.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// A token with the moment WeCom stops accepting it.
///
/// Wall-clock time (not `Instant`) so that a store shared between processes can keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedToken {
    /// The token.
    pub token: AccessToken,
    /// When it expires, as WeCom's `expires_in` said.
    pub expires_at: SystemTime,
}

impl CachedToken {
    /// A token that expires `expires_in` from now.
    pub fn new(token: AccessToken, expires_in: Duration) -> Self {
        Self {
            token,
            expires_at: SystemTime::now() + expires_in,
        }
    }

    /// Whether the token is still good `margin` from now (i.e. needs no early refresh).
    pub fn is_fresh(&self, margin: Duration) -> bool {
        SystemTime::now() + margin < self.expires_at
    }

    /// Whether the token is still accepted right now.
    pub fn is_valid(&self) -> bool {
        self.is_fresh(Duration::ZERO)
    }
}

/// Held while one caller refreshes a token: dropping it lets the next caller in.
pub type TokenLock = Box<dyn Send>;

/// Where access tokens are cached, keyed by [`cache_key`].
///
/// The in-process [`MemoryTokenStore`] is the default; the store of a SQLite or PostgreSQL
/// inbox (`Inbox::token_store`) keeps the token across runs and, for PostgreSQL, shares one
/// token between instances.
#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The cached token for `key`, if any (expired ones may be returned; the caller checks).
    async fn get(&self, key: &str) -> Result<Option<CachedToken>, TokenStoreError>;
    /// Caches `token` under `key`, replacing any previous one.
    async fn set(&self, key: &str, token: CachedToken) -> Result<(), TokenStoreError>;
    /// Forgets the token under `key`.
    async fn clear(&self, key: &str) -> Result<(), TokenStoreError>;

    /// Waits until no other holder refreshes `key`, and holds that right until the returned
    /// guard is dropped. A store shared between processes makes them wait for each other; the
    /// default does nothing, since the caller's own lock already covers one process.
    async fn lock(&self, _key: &str) -> Result<TokenLock, TokenStoreError> {
        Ok(Box::new(()))
    }

    /// Forgets the token under `key` only if it is still `stale`; returns whether it did. The
    /// default reads then clears, which is enough within one process; a shared store does it
    /// in one step.
    async fn clear_if(&self, key: &str, stale: &AccessToken) -> Result<bool, TokenStoreError> {
        match self.get(key).await? {
            Some(cached) if cached.token == *stale => {
                self.clear(key).await?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// A [`TokenStore`] in this process's memory.
#[derive(Default)]
pub struct MemoryTokenStore {
    tokens: RwLock<HashMap<String, CachedToken>>,
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self
            .tokens
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("MemoryTokenStore")
            .field("tokens", &len)
            .finish()
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn get(&self, key: &str) -> Result<Option<CachedToken>, TokenStoreError> {
        let tokens = self.tokens.read().unwrap_or_else(PoisonError::into_inner);
        Ok(tokens.get(key).cloned())
    }

    async fn set(&self, key: &str, token: CachedToken) -> Result<(), TokenStoreError> {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        tokens.insert(key.to_owned(), token);
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), TokenStoreError> {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        tokens.remove(key);
        Ok(())
    }

    async fn clear_if(&self, key: &str, stale: &AccessToken) -> Result<bool, TokenStoreError> {
        let mut tokens = self.tokens.write().unwrap_or_else(PoisonError::into_inner);
        if tokens.get(key).is_some_and(|cached| cached.token == *stale) {
            tokens.remove(key);
            return Ok(true);
        }
        Ok(false)
    }
}

/// The store key for the token of `(corp_id, secret)`:
/// `wecom:access_token:<corp_id>:<first 16 hex digits of sha256(secret)>`.
pub fn cache_key(corp_id: &str, secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    format!("wecom:access_token:{corp_id}:{}", hex::encode(&digest[..8]))
}

/// How long a rejected secret (40001) is remembered. The secret cannot change for the life of a
/// client, and WeCom blocks `gettoken` for an hour after too many failed calls, so the callers
/// queued behind a rejection (and those right after) fail without asking again.
const REJECTED_SECRET_TTL: Duration = Duration::from_secs(30);

/// One client's view of its token: the store, its key, and the lock that makes refreshes
/// single-flight.
pub(crate) struct TokenCache {
    store: std::sync::Arc<dyn TokenStore>,
    key: String,
    margin: Duration,
    refresh: tokio::sync::Mutex<()>,
    rejected: Mutex<Option<(Instant, String)>>,
    /// The token this process last loaded or saved.
    seen: Mutex<Option<CachedToken>>,
}

impl TokenCache {
    /// A cache over `store` under `key` that refreshes `margin` before expiry.
    pub(crate) fn new(
        store: std::sync::Arc<dyn TokenStore>,
        key: String,
        margin: Duration,
    ) -> Self {
        Self {
            store,
            key,
            margin,
            refresh: tokio::sync::Mutex::new(()),
            rejected: Mutex::new(None),
            seen: Mutex::new(None),
        }
    }

    /// A token to use now: the cached one while it is fresh, otherwise one fetched with `fetch`.
    ///
    /// However many calls wait here at once, `fetch` runs once: the first takes the refresh lock
    /// (this process's, then the store's) and the others find its token when they get the
    /// lock. If the fetch fails while the old token has not actually expired yet (only the
    /// early-refresh margin passed), the old token is used.
    pub(crate) async fn current<F, Fut>(&self, fetch: F) -> Result<AccessToken, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, ApiError>>,
    {
        if let Some(token) = self.seen_fresh() {
            return Ok(token);
        }
        if let Some(cached) = self.load().await?
            && cached.is_fresh(self.margin)
        {
            return Ok(cached.token);
        }
        let _guard = self.refresh.lock().await;
        if let Some(cached) = self.load().await?
            && cached.is_fresh(self.margin)
        {
            return Ok(cached.token);
        }
        let _shared = self.lock_store().await;
        let cached = self.load().await?;
        if let Some(cached) = &cached
            && cached.is_fresh(self.margin)
        {
            return Ok(cached.token.clone());
        }
        self.check_rejected()?;
        match self.fetch_once(fetch).await {
            Ok(fetched) => self.save(fetched).await,
            Err(err) => match cached {
                Some(old) if old.is_valid() && err.is_transient() => {
                    tracing::debug!(error = %err, "token refresh failed; using the unexpired token");
                    Ok(old.token)
                }
                _ => Err(err),
            },
        }
    }

    /// A token to replace `stale`, which WeCom just rejected (40014/42001).
    ///
    /// If another call (here or in another instance sharing the store) already replaced it,
    /// that token is used; otherwise the stale one is dropped — only if it is still the stored
    /// one — and a new one fetched, once, under the same locks as [`current`](Self::current).
    pub(crate) async fn replace<F, Fut>(
        &self,
        stale: &AccessToken,
        fetch: F,
    ) -> Result<AccessToken, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, ApiError>>,
    {
        self.forget(stale);
        let _guard = self.refresh.lock().await;
        if let Some(fresh) = self.replaced(stale).await? {
            return Ok(fresh);
        }
        let _shared = self.lock_store().await;
        if let Some(fresh) = self.replaced(stale).await? {
            return Ok(fresh);
        }
        let cleared = self
            .store
            .clear_if(&self.key, stale)
            .await
            .map_err(ApiError::TokenStore)?;
        if !cleared && let Some(fresh) = self.replaced(stale).await? {
            return Ok(fresh);
        }
        self.check_rejected()?;
        let fetched = self.fetch_once(fetch).await?;
        self.save(fetched).await
    }

    /// The stored token when it is valid and no longer `stale`.
    async fn replaced(&self, stale: &AccessToken) -> Result<Option<AccessToken>, ApiError> {
        let cached = self.load().await?;
        // Still the stored one until it is cleared, but never used again here.
        self.forget(stale);
        Ok(cached
            .filter(|cached| cached.token != *stale && cached.is_valid())
            .map(|cached| cached.token))
    }

    /// The store's refresh lock for this key. A store that cannot take it (a database hiccup)
    /// does not stop the refresh: at worst two instances fetch a token each.
    async fn lock_store(&self) -> Option<TokenLock> {
        match self.store.lock(&self.key).await {
            Ok(guard) => Some(guard),
            Err(err) => {
                tracing::warn!(error = %err, "cannot take the shared token lock; refreshing without it");
                None
            }
        }
    }

    /// Runs `fetch`, remembering a rejected secret.
    async fn fetch_once<F, Fut>(&self, fetch: F) -> Result<CachedToken, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<CachedToken, ApiError>>,
    {
        let result = fetch().await;
        if let Err(ApiError::InvalidSecret { message }) = &result {
            let mut rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
            *rejected = Some((Instant::now(), message.clone()));
        }
        result
    }

    /// The remembered rejection of the secret, if recent.
    fn check_rejected(&self) -> Result<(), ApiError> {
        let rejected = self.rejected.lock().unwrap_or_else(PoisonError::into_inner);
        match &*rejected {
            Some((at, message)) if at.elapsed() < REJECTED_SECRET_TTL => {
                Err(ApiError::InvalidSecret {
                    message: message.clone(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The token this process last saw, while it is fresh.
    fn seen_fresh(&self) -> Option<AccessToken> {
        let seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.as_ref()
            .filter(|cached| cached.is_fresh(self.margin))
            .map(|cached| cached.token.clone())
    }

    /// Stop using `stale` (WeCom rejected it): the next call reads the store.
    fn forget(&self, stale: &AccessToken) {
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.as_ref().is_some_and(|cached| cached.token == *stale) {
            *seen = None;
        }
    }

    fn remember(&self, cached: &CachedToken) {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(cached.clone());
    }

    /// The stored token, which this process then uses until it is due for a refresh.
    async fn load(&self) -> Result<Option<CachedToken>, ApiError> {
        let cached = self
            .store
            .get(&self.key)
            .await
            .map_err(ApiError::TokenStore)?;
        if let Some(cached) = &cached {
            self.remember(cached);
        }
        Ok(cached)
    }

    async fn save(&self, fetched: CachedToken) -> Result<AccessToken, ApiError> {
        let token = fetched.token.clone();
        self.store
            .set(&self.key, fetched.clone())
            .await
            .map_err(ApiError::TokenStore)?;
        self.remember(&fetched);
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn cache(margin: Duration) -> (Arc<MemoryTokenStore>, TokenCache) {
        let store = Arc::new(MemoryTokenStore::new());
        let cache = TokenCache::new(store.clone(), "k".into(), margin);
        (store, cache)
    }

    fn token(value: &str, ttl: Duration) -> CachedToken {
        CachedToken::new(AccessToken::new(value), ttl)
    }

    /// Store `OLD`, valid for an hour, under the tests' key.
    async fn hold_old(store: &dyn TokenStore) {
        store
            .set("k", token("OLD", Duration::from_secs(3600)))
            .await
            .unwrap();
    }

    /// A fetch that must not happen.
    async fn no_fetch() -> Result<CachedToken, ApiError> {
        panic!("no fetch expected")
    }

    #[test]
    fn debug_hides_the_token() {
        let shown = format!("{:?}", token("TOPSECRET", Duration::from_secs(60)));
        assert!(!shown.contains("TOPSECRET"), "{shown}");
    }

    #[test]
    fn key_has_no_secret() {
        let key = cache_key("ww1", "my-secret");
        assert!(key.starts_with("wecom:access_token:ww1:"));
        assert!(!key.contains("my-secret"));
        assert_ne!(key, cache_key("ww1", "other-secret"));
    }

    #[tokio::test]
    async fn reuses_a_fresh_token_and_refreshes_early() {
        let (store, cache) = cache(Duration::from_secs(300));
        hold_old(store.as_ref()).await;
        let got = cache.current(no_fetch).await.unwrap();
        assert_eq!(got.as_str(), "OLD");

        // A process that finds the token within the margin of its expiry refreshes it.
        store
            .set("k", token("OLD", Duration::from_secs(60)))
            .await
            .unwrap();
        let later = TokenCache::new(store.clone(), "k".into(), Duration::from_secs(300));
        let got = later
            .current(|| async { Ok(token("NEW", Duration::from_secs(7200))) })
            .await
            .unwrap();
        assert_eq!(got.as_str(), "NEW");
    }

    #[tokio::test]
    async fn falls_back_to_the_unexpired_token_when_refresh_fails() {
        let (store, cache) = cache(Duration::from_secs(300));
        store
            .set("k", token("OLD", Duration::from_secs(60)))
            .await
            .unwrap();
        let got = cache
            .current(|| async {
                Err(ApiError::Api {
                    code: -1,
                    message: "busy".into(),
                })
            })
            .await
            .unwrap();
        assert_eq!(got.as_str(), "OLD");
    }

    #[tokio::test]
    async fn replace_fetches_once_for_many_callers() {
        let (store, cache) = cache(Duration::ZERO);
        store
            .set("k", token("STALE", Duration::from_secs(3600)))
            .await
            .unwrap();
        let cache = Arc::new(cache);
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..10 {
            let (cache, fetches) = (cache.clone(), fetches.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .replace(&AccessToken::new("STALE"), || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        Ok(token("FRESH", Duration::from_secs(7200)))
                    })
                    .await
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().as_str(), "FRESH");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    /// A store shared by several "instances": its lock is one async mutex for all of them.
    #[derive(Default)]
    struct SharedStore {
        tokens: MemoryTokenStore,
        lock: Arc<tokio::sync::Mutex<()>>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl TokenStore for SharedStore {
        async fn get(&self, key: &str) -> Result<Option<CachedToken>, TokenStoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.tokens.get(key).await
        }
        async fn set(&self, key: &str, token: CachedToken) -> Result<(), TokenStoreError> {
            self.tokens.set(key, token).await
        }
        async fn clear(&self, key: &str) -> Result<(), TokenStoreError> {
            self.tokens.clear(key).await
        }
        async fn lock(&self, _key: &str) -> Result<TokenLock, TokenStoreError> {
            Ok(Box::new(self.lock.clone().lock_owned().await))
        }
    }

    #[tokio::test]
    async fn instances_sharing_a_store_fetch_once() {
        let store = Arc::new(SharedStore::default());
        let fetches = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let cache = Arc::new(TokenCache::new(store.clone(), "k".into(), Duration::ZERO));
            for _ in 0..5 {
                let (cache, fetches) = (cache.clone(), fetches.clone());
                tasks.push(tokio::spawn(async move {
                    cache
                        .current(|| async move {
                            fetches.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            Ok(token("ONE", Duration::from_secs(7200)))
                        })
                        .await
                }));
            }
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().unwrap().as_str(), "ONE");
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    /// Between refreshes a process uses the token it saw without reading the store again; a
    /// rejection makes it read the store, which is how another instance's replacement
    /// reaches it.
    #[tokio::test]
    async fn a_fresh_token_is_used_without_reading_the_store_again() {
        let store = Arc::new(SharedStore::default());
        hold_old(store.as_ref()).await;
        let first = TokenCache::new(store.clone(), "k".into(), Duration::from_secs(300));
        for _ in 0..5 {
            assert_eq!(first.current(no_fetch).await.unwrap().as_str(), "OLD");
        }
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            1,
            "one read for five calls"
        );

        let second = TokenCache::new(store.clone(), "k".into(), Duration::from_secs(300));
        assert_eq!(second.current(no_fetch).await.unwrap().as_str(), "OLD");
        let replaced = second
            .replace(&AccessToken::new("OLD"), || async {
                Ok(token("NEW", Duration::from_secs(7200)))
            })
            .await
            .unwrap();
        assert_eq!(replaced.as_str(), "NEW");

        assert_eq!(first.current(no_fetch).await.unwrap().as_str(), "OLD");
        let found = first
            .replace(&AccessToken::new("OLD"), no_fetch)
            .await
            .unwrap();
        assert_eq!(
            found.as_str(),
            "NEW",
            "the other instance's token, not a fetch"
        );
        let reads = store.reads.load(Ordering::SeqCst);
        assert_eq!(first.current(no_fetch).await.unwrap().as_str(), "NEW");
        assert_eq!(
            store.reads.load(Ordering::SeqCst),
            reads,
            "used without a read"
        );
    }

    /// A replacement whose fetch fails leaves the rejected token unused: the next call fetches.
    #[tokio::test]
    async fn a_failed_replacement_does_not_bring_back_the_rejected_token() {
        let (store, cache) = cache(Duration::from_secs(300));
        hold_old(store.as_ref()).await;
        assert_eq!(cache.current(no_fetch).await.unwrap().as_str(), "OLD");
        let failed = cache
            .replace(&AccessToken::new("OLD"), || async {
                Err(ApiError::Api {
                    code: -1,
                    message: "busy".into(),
                })
            })
            .await;
        assert!(failed.is_err());
        let got = cache
            .current(|| async { Ok(token("NEW", Duration::from_secs(7200))) })
            .await
            .unwrap();
        assert_eq!(got.as_str(), "NEW");
    }

    #[tokio::test]
    async fn a_late_rejection_keeps_the_fresh_token() {
        let store = Arc::new(SharedStore::default());
        hold_old(store.as_ref()).await;
        let first = TokenCache::new(store.clone(), "k".into(), Duration::ZERO);
        let second = TokenCache::new(store.clone(), "k".into(), Duration::ZERO);
        let fresh = first
            .replace(&AccessToken::new("OLD"), || async {
                Ok(token("NEW", Duration::from_secs(7200)))
            })
            .await
            .unwrap();
        assert_eq!(fresh.as_str(), "NEW");
        let got = second
            .replace(&AccessToken::new("OLD"), || async {
                panic!("the other instance already replaced it")
            })
            .await
            .unwrap();
        assert_eq!(got.as_str(), "NEW");
        assert!(!store.clear_if("k", &AccessToken::new("OLD")).await.unwrap());
        assert_eq!(store.get("k").await.unwrap().unwrap().token.as_str(), "NEW");
        assert!(store.clear_if("k", &AccessToken::new("NEW")).await.unwrap());
        assert!(store.get("k").await.unwrap().is_none());
    }
}
