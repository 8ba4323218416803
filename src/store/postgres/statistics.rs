//! Keeping the planner's statistics of `deliveries` and `events` current while they grow from
//! nothing, so that their plans use the right index.
//!
//! Connections prepare every statement once with a generic plan, made again whenever a table
//! is analyzed. Until a table is first analyzed the planner knows nothing of it, and on a new
//! database it is usually the first burst that fills it: autovacuum analyzes only after its
//! next nap (a minute by default). Until then:
//! - finding a lane's next delivery walked the due index of every pending delivery instead of
//!   the lane index (measured on the 2-core machine: a 20,000-event backlog ran at ~600
//!   deliveries/s, and at ~2,900/s the moment `deliveries` was analyzed);
//! - looking up the retries of earlier events by their dedup keys scanned all of `events`
//!   (in parallel) instead of using the dedup index: without statistics the planner takes a
//!   key to match one row in 200, not one. A wave of retries ran at a few hundred callbacks
//!   per second.
//!
//! So every [`CHECK_EVERY`] the instance looks at how much each table changed since it was
//! last analyzed, and analyzes it itself when it has never been analyzed, or has changed by ten
//! times the rows it held (which autovacuum, at 10% by default, normally catches long before).
//! Of `events` only the key columns are analyzed: its texts are what the lookups never need,
//! and analyzing them cost the database ~8% of its CPU during a burst. Instances take turns
//! under an advisory lock.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{Db, db_error, try_xact_lock};
use crate::store::StoreError;

/// How often the table's change count is read.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// Fewer changed rows than this are never worth an analyze.
const MIN_CHANGES: i64 = 1_000;

/// The most an analyze may take.
const ANALYZE_TIMEOUT: Duration = Duration::from_secs(60);

/// The second key of the advisory lock instances analyze under.
const ANALYZE_LOCK: i32 = 2;

/// A table analyzed before has changed enough when it changed by this many times its rows.
const GROWTH: i64 = 10;

/// The tables kept current, each with what `ANALYZE` is given for it.
const TABLES: [(&str, &str); 2] = [
    ("deliveries", "deliveries"),
    ("events", "events (app, dedup_key)"),
];

/// Whether a table of `rows` rows by its last statistics (negative: never analyzed) with
/// `changed` rows inserted, updated or deleted since needs analyzing.
fn stale(rows: f32, changed: i64) -> bool {
    // The row estimate is approximate anyway; `as` only drops what no table here reaches.
    #[allow(clippy::cast_possible_truncation)]
    let rows = rows.max(0.0) as i64;
    changed >= MIN_CHANGES && (rows == 0 || changed > rows.saturating_mul(GROWTH))
}

/// Check, and analyze when needed, every [`CHECK_EVERY`] until `stop`.
pub(super) async fn keep(db: Db, stop: CancellationToken) {
    let mut warned = [false; TABLES.len()];
    loop {
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        for ((table, analyzed), warned) in TABLES.into_iter().zip(&mut warned) {
            let limit = db.op_timeout + ANALYZE_TIMEOUT;
            let checked = db
                .run_for("analyze", limit, |db| async move {
                    if !is_stale(&db, table).await? || !analyze(&db, analyzed).await? {
                        return Ok(true);
                    }
                    // Only the owner may analyze (for others PostgreSQL warns and skips): a
                    // table still stale right after was not analyzed.
                    Ok(!is_stale(&db, table).await?)
                })
                .await;
            match checked {
                Ok(true) => {}
                Ok(false) => {
                    if !*warned {
                        tracing::warn!(
                            table,
                            "cannot analyze a table of the store (is the configured user its \
                             owner?); autovacuum will, after its next nap"
                        );
                        *warned = true;
                    }
                }
                // The database unreachable: intake and deliveries report it.
                Err(e) => tracing::debug!(error = %e, "checking the store's statistics failed"),
            }
        }
    }
}

/// Whether `table` needs analyzing. (An `ANALYZE` of some columns, as of `events`, leaves the
/// change count as it was; the row count it sets then stops the table from looking stale
/// until it grew tenfold again.)
async fn is_stale(db: &Db, table: &str) -> Result<bool, StoreError> {
    let row = db
        .conn()
        .await?
        .query_one(
            "SELECT c.reltuples, s.n_mod_since_analyze
             FROM pg_class c JOIN pg_stat_user_tables s ON s.relid = c.oid
             WHERE c.oid = $1::text::regclass",
            &[&table],
        )
        .await
        .map_err(db_error)?;
    Ok(stale(
        row.try_get(0).map_err(db_error)?,
        row.try_get(1).map_err(db_error)?,
    ))
}

/// `ANALYZE analyzed` unless another instance is analyzing right now (then it does, and this
/// returns `false`).
async fn analyze(db: &Db, analyzed: &str) -> Result<bool, StoreError> {
    let mut conn = db.conn().await?;
    let tx = conn.transaction().await.map_err(db_error)?;
    let ours = try_xact_lock(&tx, ANALYZE_LOCK).await?;
    if ours {
        tx.batch_execute(&format!(
            "SET LOCAL statement_timeout = {}; ANALYZE {analyzed}",
            ANALYZE_TIMEOUT.as_millis()
        ))
        .await
        .map_err(db_error)?;
        tracing::debug!(analyzed, "analyzed a table of the store");
    }
    tx.commit().await.map_err(db_error)?;
    Ok(ours)
}

#[cfg(test)]
mod tests {
    use super::stale;

    #[test]
    fn a_table_is_analyzed_when_new_or_grown_tenfold_and_not_for_a_few_changes() {
        assert!(!stale(-1.0, 999));
        assert!(stale(-1.0, 1_000));
        assert!(stale(0.0, 1_000));
        assert!(!stale(5_000.0, 49_000));
        assert!(stale(5_000.0, 50_001));
    }
}
