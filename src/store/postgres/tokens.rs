//! [`PostgresTokenStore`]: one access token for every instance on the database (table
//! `tokens`, keyed by [`crate::api::token::cache_key`]).
//!
//! A refresh runs under a transaction-scoped advisory lock on the key, taken on a connection
//! of its own and held until the client's refresh is over: the first instance fetches, the
//! others wait and then find its token. A token WeCom rejected is deleted only while it is
//! still the stored one (compare-and-swap on its value), so an instance that saw the rejection
//! late never throws away the token another instance just fetched.

use std::time::Duration;

use async_trait::async_trait;

use super::{Db, LOCK_CLASS, StoreRuntime, TxConn, db_error, hash_key};
use crate::api::TokenStoreError;
use crate::api::token::{AccessToken, CachedToken, TokenLock, TokenStore};
use crate::clock::{from_unix_ms, unix_ms};

/// The second key of a token's refresh lock is a hash of its cache key, under this class.
const TOKEN_LOCK_CLASS: i32 = LOCK_CLASS + 2;

/// How long an instance waits for another's refresh (a `gettoken` with its retries) before
/// it fetches a token itself.
const LOCK_WAIT: Duration = Duration::from_secs(30);

/// A [`TokenStore`] on PostgreSQL; from [`crate::Inbox::token_store`] or
/// [`super::PostgresInbox::tokens`].
pub struct PostgresTokenStore {
    db: Db,
}

impl PostgresTokenStore {
    pub(super) fn new(db: Db) -> Self {
        PostgresTokenStore { db }
    }
}

/// The refresh lock of one key: its transaction ends (and the lock with it) when dropped.
struct RefreshLock {
    tx: Option<TxConn>,
    runtime: StoreRuntime,
}

impl Drop for RefreshLock {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else {
            return;
        };
        // Ending the transaction needs a round trip; if it cannot be made, dropping the
        // connection (closing it) ends the transaction on the server just the same.
        self.runtime.spawn(async move {
            let ended = match tx.conn() {
                Ok(conn) => conn.batch_execute("ROLLBACK").await.is_ok(),
                Err(_) => false,
            };
            if ended {
                drop(tx.finish());
            }
        });
    }
}

#[async_trait]
impl TokenStore for PostgresTokenStore {
    async fn get(&self, key: &str) -> Result<Option<CachedToken>, TokenStoreError> {
        let key = key.to_owned();
        let row = self
            .db
            .run("token", move |db| async move {
                let row = db
                    .conn()
                    .await?
                    .query_opt(
                        "SELECT token, expires_at FROM tokens WHERE key = $1",
                        &[&key],
                    )
                    .await
                    .map_err(db_error)?;
                match row {
                    Some(row) => Ok(Some((
                        row.try_get::<_, String>(0).map_err(db_error)?,
                        row.try_get::<_, i64>(1).map_err(db_error)?,
                    ))),
                    None => Ok(None),
                }
            })
            .await?;
        Ok(row.map(|(token, expires_at)| CachedToken {
            token: AccessToken::new(token),
            expires_at: from_unix_ms(expires_at),
        }))
    }

    async fn set(&self, key: &str, token: CachedToken) -> Result<(), TokenStoreError> {
        let key = key.to_owned();
        self.db
            .run("token", move |db| async move {
                db.conn()
                    .await?
                    .execute(
                        "INSERT INTO tokens (key, token, expires_at) VALUES ($1, $2, $3)
                         ON CONFLICT (key) DO UPDATE SET token = excluded.token,
                                                         expires_at = excluded.expires_at",
                        &[&key, &token.token.as_str(), &unix_ms(token.expires_at)],
                    )
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), TokenStoreError> {
        let key = key.to_owned();
        self.db
            .run("token", move |db| async move {
                db.conn()
                    .await?
                    .execute("DELETE FROM tokens WHERE key = $1", &[&key])
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
            .await?;
        Ok(())
    }

    async fn clear_if(&self, key: &str, stale: &AccessToken) -> Result<bool, TokenStoreError> {
        let (key, stale) = (key.to_owned(), stale.as_str().to_owned());
        let deleted = self
            .db
            .run("token", move |db| async move {
                db.conn()
                    .await?
                    .execute(
                        "DELETE FROM tokens WHERE key = $1 AND token = $2",
                        &[&key, &stale],
                    )
                    .await
                    .map_err(db_error)
            })
            .await?;
        Ok(deleted > 0)
    }

    async fn lock(&self, key: &str) -> Result<TokenLock, TokenStoreError> {
        let lock_key = i32::from_be_bytes({
            let hash = hash_key(&["token", key]);
            [hash[0], hash[1], hash[2], hash[3]]
        });
        let limit = self.db.op_timeout + LOCK_WAIT;
        let tx = self
            .db
            .run_for("token lock", limit, move |db| async move {
                let tx = TxConn::new(db.conn().await?);
                let conn = tx.conn()?;
                conn.batch_execute(&format!(
                    "BEGIN; SET LOCAL statement_timeout = {}",
                    LOCK_WAIT.as_millis()
                ))
                .await
                .map_err(db_error)?;
                conn.execute(
                    "SELECT pg_advisory_xact_lock($1, $2)",
                    &[&TOKEN_LOCK_CLASS, &lock_key],
                )
                .await
                .map_err(db_error)?;
                Ok(tx)
            })
            .await?;
        Ok(Box::new(RefreshLock {
            tx: Some(tx),
            runtime: self.db.runtime.clone(),
        }))
    }
}
