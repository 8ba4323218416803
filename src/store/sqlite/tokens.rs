//! [`SqliteTokenStore`]: the API access tokens in the inbox's own file (table `tokens`).
//!
//! Writes go through the inbox's writer thread (they join its next group commit) and reads use
//! its read connection, so a token costs no connection of its own. The refresh lock stays the
//! in-process default: one `serve` owns a SQLite store, and a concurrent `api` command at worst
//! asks `gettoken` once more (WeCom hands out the same token while it is valid).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::read_on;
use super::writer::{Jobs, submit};
use crate::api::TokenStoreError;
use crate::api::token::{AccessToken, CachedToken, TokenStore};
use crate::clock::{from_unix_ms, unix_ms};

/// A [`TokenStore`] in a SQLite inbox's file; from [`crate::Inbox::token_store`].
pub struct SqliteTokenStore {
    jobs: Jobs,
    reader: Arc<Mutex<Connection>>,
}

impl SqliteTokenStore {
    pub(super) fn new(jobs: Jobs, reader: Arc<Mutex<Connection>>) -> Self {
        SqliteTokenStore { jobs, reader }
    }
}

#[async_trait]
impl TokenStore for SqliteTokenStore {
    async fn get(&self, key: &str) -> Result<Option<CachedToken>, TokenStoreError> {
        let key = key.to_owned();
        let row = read_on(&self.reader, move |conn| {
            Ok(conn
                .prepare_cached("SELECT token, expires_at FROM tokens WHERE key = ?1")?
                .query_row([key], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .optional()?)
        })
        .await?;
        Ok(row.map(|(token, expires_at)| CachedToken {
            token: AccessToken::new(token),
            expires_at: from_unix_ms(expires_at),
        }))
    }

    async fn set(&self, key: &str, token: CachedToken) -> Result<(), TokenStoreError> {
        let key = key.to_owned();
        submit(&self.jobs, move |conn| {
            conn.prepare_cached(
                "INSERT INTO tokens (key, token, expires_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (key) DO UPDATE SET token = excluded.token,
                                                 expires_at = excluded.expires_at",
            )?
            .execute(params![
                key,
                token.token.as_str(),
                unix_ms(token.expires_at)
            ])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn clear(&self, key: &str) -> Result<(), TokenStoreError> {
        let key = key.to_owned();
        submit(&self.jobs, move |conn| {
            conn.prepare_cached("DELETE FROM tokens WHERE key = ?1")?
                .execute([key])?;
            Ok(())
        })
        .await?;
        Ok(())
    }

    async fn clear_if(&self, key: &str, stale: &AccessToken) -> Result<bool, TokenStoreError> {
        let (key, stale) = (key.to_owned(), stale.as_str().to_owned());
        let cleared = submit(&self.jobs, move |conn| {
            Ok(conn
                .prepare_cached("DELETE FROM tokens WHERE key = ?1 AND token = ?2")?
                .execute([key, stale])?)
        })
        .await?;
        Ok(cleared > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteInbox;
    use crate::Inbox;
    use crate::api::token::{AccessToken, CachedToken};
    use std::time::Duration;

    #[tokio::test]
    async fn tokens_survive_a_reopen_and_clear_only_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        {
            let inbox = SqliteInbox::open(&path).unwrap();
            let tokens = inbox.token_store().unwrap();
            assert!(tokens.get("k").await.unwrap().is_none());
            let token = CachedToken::new(AccessToken::new("T1"), Duration::from_secs(7200));
            tokens.set("k", token.clone()).await.unwrap();
            tokens.set("k", token).await.unwrap();
        }
        let inbox = SqliteInbox::open(&path).unwrap();
        let tokens = inbox.token_store().unwrap();
        let cached = tokens.get("k").await.unwrap().unwrap();
        assert_eq!(cached.token.as_str(), "T1");
        assert!(cached.is_fresh(Duration::from_secs(7000)));
        assert!(!tokens.clear_if("k", &AccessToken::new("T0")).await.unwrap());
        assert!(tokens.get("k").await.unwrap().is_some());
        assert!(tokens.clear_if("k", &AccessToken::new("T1")).await.unwrap());
        assert!(tokens.get("k").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_version_two_store_gains_the_tokens_table() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v2.db");
        {
            let conn = rusqlite::Connection::open(&path).unwrap();
            let schema = super::super::schema::version_three().replace(
                "CREATE TABLE IF NOT EXISTS tokens (
    key        TEXT    PRIMARY KEY,
    token      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);",
                "",
            );
            assert!(
                !schema.contains("tokens"),
                "the version 2 schema has no tokens table"
            );
            conn.execute_batch(&schema).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
        }
        let inbox = SqliteInbox::open(&path).unwrap();
        let tokens = inbox.token_store().unwrap();
        let token = CachedToken::new(AccessToken::new("T"), Duration::from_secs(60));
        tokens.set("k", token).await.unwrap();
        assert!(tokens.get("k").await.unwrap().is_some());
    }
}
