//! The shared [`Inbox`]: PostgreSQL, for several instances behind one load balancer.
//!
//! Every instance accepts callbacks and runs deliveries; what they share lives here:
//!
//! - **Intake** ([`intake`], [`insert`]): appends are group-committed by a batcher task —
//!   whatever is queued goes into one transaction, stored with a few set-based statements.
//!   Per-lane arrival order across instances comes from lane locks (`pg_advisory_xact_lock` on
//!   a hash of app and lane, taken before inserting), so event ids of one lane grow in commit
//!   order; the dedup key is unique (an exclusion constraint on a hash index: the key hashes
//!   its app too), so a retry reaching another instance at the same moment is one event.
//! - **Deliveries** ([`leases`]) are leased with `FOR UPDATE SKIP LOCKED`, renewed while they
//!   run, settled only by the instance that holds the lease — group-committed, as appends are
//!   ([`settles`]). A dead instance's leases simply expire and any instance takes the work
//!   over; [`Inbox::recover`] has nothing to do here.
//!   What operators ask (`events …`, metrics) is in [`operators`].
//! - **Wake-ups** ([`listen`]): work another instance should see (deliveries stored unleased, a
//!   lane with more to run, `retry`, `redeliver`, released leases) is announced with `NOTIFY`;
//!   one connection per instance `LISTEN`s and raises [`Inbox::work_signal`].
//! - **The access token** ([`tokens`]): one `gettoken` for all instances, refreshed under an
//!   advisory lock, a rejected token dropped only while it is still the stored one.
//!
//! The schema is created and migrated at start ([`schema`]), under an advisory lock so that
//! instances starting together do not race; while `deliveries` and `events` grow from nothing,
//! the planner's statistics of them, which their plans depend on, are kept current by each
//! instance that runs deliveries ([`statistics`]). Connections are made in [`db`]. Every wait is
//! bounded — the pool's wait, connect and recycle timeouts, `statement_timeout` on each
//! connection, and a deadline around each operation — so that an unreachable database makes
//! callbacks answer 503 promptly instead of hanging; the pool reconnects by itself when the
//! database returns. Neither the URL's password nor any SQL parameter appears in an error.

mod db;
mod insert;
mod intake;
mod leases;
mod listen;
mod operators;
mod schema;
mod settles;
mod statistics;
mod tokens;

pub use tokens::PostgresTokenStore;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

use db::{
    CHANNEL, Db, LOCK_CLASS, StoreRuntime, TxConn, announce, causes, db_error, describe, hash_key,
    pg_config, pool, try_xact_lock,
};

use super::{
    Appended, DeliveryRecord, EventFilter, Inbox, LeaseBatch, NewEvent, Outcome, RetryFilter,
    Settled, Stats, StoreError, StoredEvent,
};
use crate::config::StoreConfig;

/// How long `ping` may take: `/healthz` must answer quickly whatever the database does.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// The PostgreSQL-backed inbox, one per instance (its lease owner is its own).
pub struct PostgresInbox {
    db: Db,
    owner: Arc<str>,
    /// Appends waiting for the batcher.
    appends: mpsc::UnboundedSender<intake::Append>,
    /// Attempts waiting for theirs.
    settles: mpsc::UnboundedSender<settles::Settle>,
    /// How long a callback waits for its append before the store is called unavailable.
    append_deadline: Duration,
    /// For the `LISTEN` connection, started (with the statistics keeper) by the first
    /// [`Inbox::work_signal`]: the dispatcher, never a command.
    pg: tokio_postgres::Config,
    signal: OnceLock<Arc<Notify>>,
    /// Cancelled when the inbox is dropped: stops the `LISTEN` connection and the statistics
    /// keeper.
    stop: CancellationToken,
    _stop_on_drop: DropGuard,
}

impl PostgresInbox {
    /// Connect to the database of `[store]` (`url`, `pool_size`, `connect_timeout`,
    /// `statement_timeout`), create or migrate its schema, and start the store's own thread
    /// (its connections, and the batchers of appends and attempts). Several instances may
    /// connect at once.
    ///
    /// # Errors
    /// When `url` is missing or malformed, the database cannot be reached, or the schema
    /// cannot be migrated.
    pub async fn connect(config: &StoreConfig) -> Result<Self, StoreError> {
        let url = config
            .url
            .as_ref()
            .ok_or_else(|| StoreError("store.url is required for PostgreSQL".into()))?;
        let pg = pg_config(url.expose(), config)?;
        let runtime = StoreRuntime::start()?;
        let db = Db {
            pool: pool(pg.clone(), config, config.pool_size)?,
            intake: pool(pg.clone(), config, 1)?,
            runtime,
            op_timeout: config.connect_timeout * 2 + config.statement_timeout,
            target: describe(&pg).into(),
        };
        db.run_for(
            "migrate",
            config.connect_timeout * 2 + schema::MIGRATION_LIMIT,
            |db| async move {
                let mut conn = db.conn().await?;
                schema::migrate(&mut conn).await
            },
        )
        .await?;
        let owner: Arc<str> = super::lease_owner().into();
        let appends = intake::spawn(db.clone(), owner.clone());
        let settles = settles::spawn(db.clone(), owner.clone());
        let stop = CancellationToken::new();
        Ok(PostgresInbox {
            append_deadline: intake::DEADLINE
                .min(config.connect_timeout + config.statement_timeout),
            db,
            owner,
            appends,
            settles,
            pg,
            signal: OnceLock::new(),
            _stop_on_drop: stop.clone().drop_guard(),
            stop,
        })
    }

    /// A [`TokenStore`](crate::api::TokenStore) on this database, shared by every instance.
    pub fn tokens(&self) -> PostgresTokenStore {
        PostgresTokenStore::new(self.db.clone())
    }
}

#[async_trait::async_trait]
impl Inbox for PostgresInbox {
    async fn append(&self, event: NewEvent) -> Result<Appended, StoreError> {
        intake::append(&self.appends, event, self.append_deadline).await
    }

    async fn lease(
        &self,
        app: &str,
        handler: &str,
        limit: usize,
        now: i64,
        until: i64,
    ) -> Result<LeaseBatch, StoreError> {
        leases::lease(&self.db, &self.owner, (app, handler, limit), (now, until)).await
    }

    async fn renew(&self, ids: Vec<i64>, until: i64) -> Result<(), StoreError> {
        leases::renew(&self.db, &self.owner, ids, until).await
    }

    async fn release(&self, ids: Vec<i64>) -> Result<(), StoreError> {
        leases::release(&self.db, &self.owner, ids).await
    }

    async fn settle(
        &self,
        id: i64,
        attempts: u32,
        outcome: Outcome,
    ) -> Result<Settled, StoreError> {
        settles::settle(&self.settles, id, attempts, outcome).await
    }

    async fn recover(&self) -> Result<u64, StoreError> {
        // Leases are shared: those of an instance that died expire, and anyone takes them. A
        // delivery left waiting with nothing before it in its lane is made due.
        leases::unwait(&self.db).await?;
        Ok(0)
    }

    async fn get(&self, id: i64) -> Result<Option<StoredEvent>, StoreError> {
        operators::get(&self.db, id).await
    }

    async fn deliveries(&self, event_id: i64) -> Result<Vec<DeliveryRecord>, StoreError> {
        operators::deliveries(&self.db, event_id).await
    }

    async fn list(&self, filter: EventFilter) -> Result<Vec<StoredEvent>, StoreError> {
        operators::list(&self.db, filter).await
    }

    async fn retry(&self, filter: RetryFilter) -> Result<u64, StoreError> {
        operators::retry(&self.db, &self.owner, filter).await
    }

    async fn redeliver(&self, app: &str, handler: &str, since: i64) -> Result<u64, StoreError> {
        operators::redeliver(&self.db, &self.owner, (app, handler, since)).await
    }

    async fn purge(&self, before: i64, batch: usize) -> Result<u64, StoreError> {
        operators::purge(&self.db, before, batch).await
    }

    async fn purge_failed(&self, before: i64) -> Result<u64, StoreError> {
        operators::purge_failed(&self.db, before).await
    }

    async fn stats(&self, now: i64) -> Result<Stats, StoreError> {
        operators::stats(&self.db, now).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_for("ping", PING_TIMEOUT, |db| async move {
                db.conn()
                    .await?
                    .simple_query("SELECT 1")
                    .await
                    .map_err(db_error)?;
                Ok(())
            })
            .await
    }

    fn work_signal(&self) -> Option<Arc<Notify>> {
        let signal = self.signal.get_or_init(|| {
            let signal = Arc::new(Notify::new());
            self.db.runtime.spawn(listen::run(
                self.pg.clone(),
                self.owner.clone(),
                signal.clone(),
                self.stop.clone(),
            ));
            // The instance that runs deliveries keeps the statistics their plans need (a
            // command that only reads or writes a few rows has no use for it).
            self.db
                .runtime
                .spawn(statistics::keep(self.db.clone(), self.stop.clone()));
            signal
        });
        Some(signal.clone())
    }

    fn token_store(&self) -> Option<Arc<dyn crate::api::TokenStore>> {
        Some(Arc::new(self.tokens()))
    }
}

#[cfg(test)]
mod tests;
