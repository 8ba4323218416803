//! Reaching the database: the connection settings and pool (every wait bounded), the runtime
//! connections live on, a transaction's connection that is closed rather than reused when the
//! transaction did not end cleanly, errors as one line without secrets, and announcements.
//!
//! The runtime is the store's own: one thread ([`StoreRuntime`]) that drives every connection,
//! the intake batcher and the `LISTEN` connection. Nothing else runs there, so a plug-in that
//! blocks its thread cannot hold up intake, and the store's many small wakes stay on one thread
//! (measured on the 2-core machine: 8–13% more callbacks/s and less CPU than on the shared
//! two-thread runtime).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{
    Hook, HookError, Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime, Transaction,
};
use sha2::{Digest, Sha256};
use tokio_postgres::NoTls;

use crate::config::StoreConfig;
use crate::store::StoreError;

/// The channel instances announce work on; the payload is the sender's lease owner, so an
/// instance ignores its own announcements.
pub(super) const CHANNEL: &str = "wecom_callback_work";

/// The first key of this crate's two-part advisory locks (`pg_advisory_xact_lock(int, int)`),
/// which live apart from the one-part lane locks: `'wc'` followed by the lock's kind.
pub(super) const LOCK_CLASS: i32 = 0x7763_0000;

/// Take this crate's advisory lock `kind` (under [`LOCK_CLASS`]) for the rest of `tx` if no
/// other session holds it: `true` when taken, `false` when another session has it.
///
/// # Errors
/// The database did not answer.
pub(super) async fn try_xact_lock(tx: &Transaction<'_>, kind: i32) -> Result<bool, StoreError> {
    tx.query_one(
        "SELECT pg_try_advisory_xact_lock($1, $2)",
        &[&LOCK_CLASS, &kind],
    )
    .await
    .map_err(db_error)?
    .try_get(0)
    .map_err(db_error)
}

/// Where and how to reach the database: the pool, the runtime its connections live on, and
/// the deadline of one operation. Cheap to clone.
#[derive(Clone)]
pub(super) struct Db {
    pub(super) pool: Pool,
    /// The intake batcher's own connection (a pool of one, so that a lost connection is
    /// replaced): a callback's commit never waits for a connection behind handlers' leases
    /// and settles, which with a busy handler held every connection of `pool`.
    pub(super) intake: Pool,
    /// Connections are made and driven on this runtime, whichever runtime the caller is on
    /// (HTTP workers have their own, which stop with the listener).
    pub(super) runtime: StoreRuntime,
    /// The most one operation may take: a pool wait, a connect and a statement.
    pub(super) op_timeout: Duration,
    /// `host:port/dbname`, for errors (never the user or password).
    pub(super) target: Arc<str>,
}

/// The store's runtime: a single-threaded Tokio runtime on a thread of its own, stopped (its
/// tasks dropped) when the last clone goes. Derefs to its [`Handle`](tokio::runtime::Handle).
#[derive(Clone)]
pub(super) struct StoreRuntime(Arc<RuntimeThread>);

struct RuntimeThread {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl StoreRuntime {
    /// Start the thread and its runtime.
    ///
    /// # Errors
    /// When the thread or the runtime cannot be created.
    pub(super) fn start() -> Result<Self, StoreError> {
        let (handles, handle) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("postgres-store".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = handles.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = handles.send(Ok(runtime.handle().clone()));
                runtime.block_on(async move {
                    let _ = stopped.await;
                });
            })
            .map_err(|e| StoreError(format!("cannot start the PostgreSQL store thread: {e}")))?;
        let handle = handle
            .recv()
            .map_err(|_| StoreError("the PostgreSQL store thread did not start".into()))?
            .map_err(|e| StoreError(format!("cannot start the PostgreSQL store runtime: {e}")))?;
        Ok(StoreRuntime(Arc::new(RuntimeThread {
            handle,
            stop: Some(stop),
        })))
    }
}

impl std::ops::Deref for StoreRuntime {
    type Target = tokio::runtime::Handle;

    fn deref(&self) -> &tokio::runtime::Handle {
        &self.0.handle
    }
}

impl Drop for RuntimeThread {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Db {
    /// Run `work` on the pool's runtime, giving up after `limit`.
    pub(super) async fn run_for<T, Fut>(
        &self,
        what: &'static str,
        limit: Duration,
        work: impl FnOnce(Db) -> Fut,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let task = self
            .runtime
            .spawn(tokio::time::timeout(limit, work(self.clone())));
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError(format!(
                "{what}: PostgreSQL at {} did not answer within {}",
                self.target,
                crate::config::format_duration(limit)
            ))),
            Err(e) => Err(StoreError(format!("{what}: {e}"))),
        }
    }

    /// Run `work` on the pool's runtime within the operation deadline.
    pub(super) async fn run<T, Fut>(
        &self,
        what: &'static str,
        work: impl FnOnce(Db) -> Fut,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        self.run_for(what, self.op_timeout, work).await
    }

    /// A connection from the pool.
    pub(super) async fn conn(&self) -> Result<Object, StoreError> {
        self.checkout(&self.pool).await
    }

    /// The intake's connection.
    pub(super) async fn intake_conn(&self) -> Result<Object, StoreError> {
        self.checkout(&self.intake).await
    }

    async fn checkout(&self, pool: &Pool) -> Result<Object, StoreError> {
        pool.get().await.map_err(|e| {
            StoreError(format!(
                "cannot reach PostgreSQL at {}: {}",
                self.target,
                causes(&e)
            ))
        })
    }
}

/// A pooled connection inside a transaction. It goes back to the pool only through
/// [`TxConn::finish`], once the transaction has ended; dropped any other way (an error, a
/// deadline, a cancelled task) the connection is closed, which ends the transaction on the
/// server, so no later user of the pool finds itself inside it.
pub(super) struct TxConn(Option<Object>);

impl TxConn {
    pub(super) fn new(conn: Object) -> Self {
        TxConn(Some(conn))
    }

    /// The connection.
    pub(super) fn conn(&self) -> Result<&Object, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError("the connection was already returned".into()))
    }

    /// The transaction ended cleanly: the connection can serve others (dropping the returned
    /// connection gives it back to the pool).
    pub(super) fn finish(mut self) -> Option<Object> {
        self.0.take()
    }
}

impl Drop for TxConn {
    fn drop(&mut self) {
        if let Some(conn) = self.0.take() {
            drop(Object::take(conn));
        }
    }
}

/// A database error as one line: its message and causes (no parameters, no URL).
pub(super) fn db_error(e: tokio_postgres::Error) -> StoreError {
    StoreError(match e.as_db_error() {
        Some(db) => format!("postgres: {}", db.message()),
        None => format!("postgres: {}", causes(&e)),
    })
}

/// `e` and its sources joined by `: `.
pub(super) fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

/// The first eight bytes of sha256 over `parts` (each followed by a zero byte): a lock key
/// that every instance and every build computes the same.
pub(super) fn hash_key(parts: &[&str]) -> [u8; 8] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    key
}

/// `host:port/dbname` of a connection config: enough to say which database, nothing secret.
pub(super) fn describe(pg: &tokio_postgres::Config) -> String {
    let host = match pg.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    };
    let port = pg.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}/{}", pg.get_dbname().unwrap_or(""))
}

/// The connection settings from `[store]`: its URL, `connect_timeout`, TCP keepalives.
pub(super) fn pg_config(
    url: &str,
    config: &StoreConfig,
) -> Result<tokio_postgres::Config, StoreError> {
    // The parser's message may quote parts of the URL, so it is not passed on.
    let mut pg: tokio_postgres::Config = url.parse().map_err(|_| {
        StoreError("store.url is not a valid PostgreSQL URL (postgres://user@host/db)".into())
    })?;
    pg.connect_timeout(config.connect_timeout)
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    if pg.get_application_name().is_none() {
        pg.application_name("wecom-callback");
    }
    Ok(pg)
}

/// A pool of `size` connections, every wait bounded by `connect_timeout`, each new connection
/// with `statement_timeout` set.
pub(super) fn pool(
    pg: tokio_postgres::Config,
    config: &StoreConfig,
    size: usize,
) -> Result<Pool, StoreError> {
    let manager = Manager::from_config(
        pg,
        NoTls,
        ManagerConfig {
            // A closed connection is noticed without a round trip; one that dies in use fails
            // that use, and the next checkout replaces it.
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let statement_ms = config.statement_timeout.as_millis().max(1);
    Pool::builder(manager)
        .max_size(size)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(config.connect_timeout))
        .create_timeout(Some(config.connect_timeout))
        .recycle_timeout(Some(config.connect_timeout))
        .post_create(Hook::async_fn(move |client, _| {
            Box::pin(async move {
                // Generic plans: the statements here are simple lookups by key whose plans do
                // not depend on the values, and planning each execution anew would cost more
                // than running it. (A plan is made again whenever the tables are analyzed.)
                client
                    .batch_execute(&format!(
                        "SET statement_timeout = {statement_ms}; \
                         SET plan_cache_mode = force_generic_plan"
                    ))
                    .await
                    .map_err(HookError::Backend)
            })
        }))
        .build()
        .map_err(|e| StoreError(format!("cannot build the PostgreSQL pool: {e}")))
}

/// Announce work to the other instances (delivered when the surrounding transaction commits,
/// at once outside one).
pub(super) async fn announce(conn: &tokio_postgres::Client, owner: &str) -> Result<(), StoreError> {
    conn.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &owner])
        .await
        .map_err(db_error)?;
    Ok(())
}
