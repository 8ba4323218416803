//! Recognising retries in the SQLite inbox without a random index write per event.
//!
//! A dedup key is the event's CreateTime followed by a content hash, so within one second keys
//! fall at random places. Kept in a unique index of `events`, every commit rewrote about one
//! index page per event (4 KiB to the WAL, and again at the checkpoint) — the largest cost of a
//! callback. Instead the keys of the newest events live in memory ([`RecentKeys`]), and every
//! [`SWEEP_AT`] events (or after [`SWEEP_IDLE`] without writes) a sweep copies them, sorted,
//! into the `dedup` table in one transaction: their CreateTimes are recent, so they land together
//! at the end of its index — a few pages for thousands of events.
//!
//! A new event's key sorts after every key already in `dedup` once its CreateTime has moved on
//! since the last sweep, so the writer keeps each app's largest key there and looks a key up
//! only when it is not above it — retries and late events; a lookup at a random place of a
//! large index is a page read. (Every key that a sweep writes after the largest key was read is
//! held in memory until this writer's own sweep, which raises it.) Events of the second the last
//! sweep ended in are not above it either, and under load they are most new events (thousands
//! share a second): so the writer also keeps a fingerprint of each key of the largest key's
//! second that it swept itself ([`Indexed::newest`]) — when that second began in its own sweep,
//! they are all of that second's keys in `dedup`, and a key of that second whose fingerprint is
//! not among them is not there. (A fingerprint that is there only sends the key to the index.)
//!
//! `dedup_swept` holds the last event id swept: every event up to it is in `dedup`, every later
//! one only in `events`. The writer sweeps once when it starts (keys a crashed process held in
//! memory are indexed again), and when another process (`replay`, a CLI command) has written,
//! the writer first reads the keys of the events it has not seen. A key in memory is trusted
//! only while its event still exists (`events purge` may have removed it), and after a purge
//! that deleted events (or another process's write) the next sweep indexes only the keys whose
//! events exist — checking, in id order, only the keys of ids up to the largest one deleted
//! (the hourly purge deletes old events, below every key held, and usually nothing); rows of
//! `dedup` go with their event (a trigger).

use rustc_hash::{FxHashMap, FxHashSet};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use crate::store::StoreError;

/// Sweep once this many keys are held in memory.
pub(super) const SWEEP_AT: usize = 16_384;

/// Sweep what is held after this long without a write.
pub(super) const SWEEP_IDLE: Duration = Duration::from_secs(10);

/// The most fingerprints of an app's newest second kept after sweeps (~1 MiB); past it, keys
/// of that second are looked up in `dedup` again. A second of real traffic holds far fewer.
const NEWEST_AT_MOST: usize = 4 * SWEEP_AT;

/// The tables and trigger this module owns (part of the schema).
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dedup (
    app      TEXT    NOT NULL,
    key      BLOB    NOT NULL,
    event_id INTEGER NOT NULL,
    PRIMARY KEY (app, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedup_swept (up_to INTEGER NOT NULL);
INSERT INTO dedup_swept (up_to) SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM dedup_swept);
CREATE TRIGGER IF NOT EXISTS events_dedup_gone AFTER DELETE ON events BEGIN
    DELETE FROM dedup WHERE app = old.app AND key = old.dedup_key AND event_id = old.id;
END;
";

type Key = (Arc<str>, [u8; 32]);

/// The dedup keys of the events not yet swept, owned by the writer thread.
#[derive(Debug, Default)]
pub(super) struct RecentKeys {
    /// Hashed with FxHash: the keys are sha256 values already, and this map is on the writer
    /// thread, which every commit waits for.
    keys: FxHashMap<Key, i64>,
    /// Remembered in the open transaction: forgotten again if it rolls back.
    tentative: Vec<Key>,
    /// Every event up to this id is in `keys` or in `dedup`.
    seen_up_to: i64,
    /// `seen_up_to` when the open transaction began.
    seen_at_begin: i64,
    /// Events up to this id may have been deleted since the keys held were remembered (by a
    /// purge, or any event by another process's write): the next sweep indexes only those of
    /// the keys held of such ids whose events still exist.
    deleted_up_to: Option<i64>,
    /// Held keys whose events a sweep checked (read by tests).
    #[cfg(test)]
    checked: std::cell::Cell<usize>,
    /// `PRAGMA data_version` after our last look: it changes when another connection commits.
    data_version: i64,
    /// What is known of each app's keys in `dedup`, read at the app's first lookup and raised
    /// by every sweep.
    indexed: FxHashMap<Arc<str>, Indexed>,
    /// Lookups in `dedup` (what the newest second's keys save; read by tests).
    #[cfg(test)]
    lookups: usize,
}

/// What the writer knows of one app's keys in `dedup`.
#[derive(Debug)]
struct Indexed {
    /// The largest key (`None`: the app has none): a key above it is not there.
    largest: Option<Vec<u8>>,
    /// The [`fingerprint`]s of the keys of the largest key's second, when every one of them
    /// was swept by this writer (`None` when they may not have been: keys of that second are
    /// looked up).
    newest: Option<FxHashSet<u64>>,
}

impl Indexed {
    /// `key` was swept into `dedup`.
    fn swept(&mut self, key: &[u8; 32]) {
        let second = &key[..8];
        match self.largest.as_deref() {
            Some(largest) if &key[..] <= largest => {
                if largest.get(..8) != Some(second) {
                    return;
                }
            }
            largest => {
                // Every key of a second that begins in this writer's sweep passes here first
                // (keys in `dedup` were either below the largest key or held by this writer).
                if largest.is_none_or(|largest| largest.get(..8).is_none_or(|s| s < second)) {
                    self.newest = Some(FxHashSet::default());
                }
                self.largest = Some(key.to_vec());
            }
        }
        if let Some(newest) = &mut self.newest {
            newest.insert(fingerprint(key));
            if newest.len() > NEWEST_AT_MOST {
                self.newest = None;
            }
        }
    }
}

impl RecentKeys {
    /// Index every unswept event, starting with nothing in memory. Runs its own transaction.
    ///
    /// # Errors
    /// The sweep could not commit.
    pub(super) fn start(conn: &Connection) -> Result<Self, StoreError> {
        let swept: i64 = conn
            .prepare("SELECT up_to FROM dedup_swept")?
            .query_row([], |r| r.get(0))?;
        let mut recent = RecentKeys {
            seen_up_to: swept,
            // Unlike any version SQLite reports, so the sweep reads every event after `swept`.
            data_version: i64::MIN,
            ..RecentKeys::default()
        };
        // Only a store with unswept events is written to (a CLI command reading a store
        // takes no write lock).
        let unswept = conn
            .prepare("SELECT 1 FROM events WHERE id > ?1 LIMIT 1")?
            .exists([swept])?;
        if unswept {
            recent.sweep(conn)?;
        } else {
            recent.data_version = data_version(conn)?;
        }
        Ok(recent)
    }

    /// Whether enough keys are held to sweep them.
    pub(super) fn sweep_due(&self) -> bool {
        self.keys.len() >= SWEEP_AT
    }

    /// Whether any key is held.
    pub(super) fn holds_any(&self) -> bool {
        !self.keys.is_empty()
    }

    /// A transaction began: read the keys of events other processes appended since we last
    /// looked. True when another process has written since.
    ///
    /// # Errors
    /// The store could not be read.
    pub(super) fn begin(&mut self, conn: &Connection) -> Result<bool, StoreError> {
        self.tentative.clear();
        let version = data_version(conn)?;
        let others_wrote = version != self.data_version;
        if others_wrote {
            self.data_version = version;
            self.deleted_up_to = Some(i64::MAX);
            // It may have swept keys of the newest seconds.
            for indexed in self.indexed.values_mut() {
                indexed.newest = None;
            }
            let mut stmt = conn.prepare_cached(
                "SELECT id, app, dedup_key FROM events WHERE id > ?1 ORDER BY id",
            )?;
            let mut rows = stmt.query([self.seen_up_to])?;
            while let Some(row) = rows.next()? {
                let id: i64 = row.get(0)?;
                let app: String = row.get(1)?;
                let key: Vec<u8> = row.get(2)?;
                if let Ok(key) = <[u8; 32]>::try_from(key.as_slice()) {
                    self.keys.insert((app.into(), key), id);
                }
                self.seen_up_to = self.seen_up_to.max(id);
            }
        }
        self.seen_at_begin = self.seen_up_to;
        Ok(others_wrote)
    }

    /// The transaction committed: what it remembered stays.
    pub(super) fn commit(&mut self) {
        self.tentative.clear();
    }

    /// The transaction rolled back: forget what it remembered.
    pub(super) fn rollback(&mut self) {
        for key in self.tentative.drain(..) {
            self.keys.remove(&key);
        }
        self.seen_up_to = self.seen_at_begin;
    }

    /// The id of the event stored under `key` for `app`, if any.
    ///
    /// # Errors
    /// The store could not be read.
    pub(super) fn find(
        &mut self,
        conn: &Connection,
        app: &Arc<str>,
        key: &[u8; 32],
    ) -> Result<Option<i64>, StoreError> {
        let held = (app.clone(), *key);
        if let Some(&id) = self.keys.get(&held) {
            if event_exists(conn, id)? {
                return Ok(Some(id));
            }
            self.keys.remove(&held);
        }
        let indexed = self.indexed(conn, app)?;
        let Some(largest) = indexed.largest.as_deref() else {
            return Ok(None);
        };
        let unknown_in_newest_second = || {
            largest.get(..8) == Some(&key[..8])
                && indexed
                    .newest
                    .as_ref()
                    .is_some_and(|newest| !newest.contains(&fingerprint(key)))
        };
        if &key[..] > largest || unknown_in_newest_second() {
            return Ok(None);
        }
        #[cfg(test)]
        {
            self.lookups += 1;
        }
        Ok(conn
            .prepare_cached("SELECT event_id FROM dedup WHERE app = ?1 AND key = ?2")?
            .query_row(params![&**app, &key[..]], |r| r.get(0))
            .optional()?)
    }

    /// What is known of `app`'s keys in `dedup` (its largest key read at the first call).
    fn indexed(&mut self, conn: &Connection, app: &Arc<str>) -> Result<&mut Indexed, StoreError> {
        if !self.indexed.contains_key(app) {
            let largest: Option<Vec<u8>> = conn
                .prepare_cached("SELECT max(key) FROM dedup WHERE app = ?1")?
                .query_row([&**app], |r| r.get(0))?;
            self.indexed.insert(
                app.clone(),
                Indexed {
                    largest,
                    newest: None,
                },
            );
        }
        self.indexed
            .get_mut(app)
            .ok_or_else(|| StoreError("an app's dedup keys were not read".into()))
    }

    /// The event just inserted as `id` is stored under `key` (kept if the transaction commits).
    pub(super) fn remember(&mut self, app: &Arc<str>, key: &[u8; 32], id: i64) {
        let held = (app.clone(), *key);
        self.keys.insert(held.clone(), id);
        self.tentative.push(held);
        self.seen_up_to = self.seen_up_to.max(id);
    }

    /// Write every held key, sorted, into `dedup` in one transaction, and let go of them.
    /// Keys of events other processes appended are read first, so after the sweep every event
    /// up to `dedup_swept` is indexed.
    ///
    /// # Errors
    /// The sweep could not commit; the keys stay held.
    pub(super) fn sweep(&mut self, conn: &Connection) -> Result<(), StoreError> {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let written = self.begin(conn).and_then(|_| self.write_sorted(conn));
        let committed = written.and_then(|()| Ok(conn.execute_batch("COMMIT")?));
        match committed {
            Ok(()) => {
                for (app, key) in self.keys.keys() {
                    if let Some(indexed) = self.indexed.get_mut(app) {
                        indexed.swept(key);
                    }
                }
                self.keys.clear();
                self.tentative.clear();
                self.deleted_up_to = None;
                Ok(())
            }
            Err(e) => {
                if !conn.is_autocommit() {
                    let _ = conn.execute_batch("ROLLBACK");
                }
                Err(e)
            }
        }
    }

    /// Events, none with an id above `largest`, were deleted in this writer's transaction (a
    /// purge): the keys held of them must not reach `dedup`, where nothing would remove them
    /// again.
    pub(super) fn events_deleted(&mut self, largest: i64) {
        self.deleted_up_to = self.deleted_up_to.max(Some(largest));
    }

    fn write_sorted(&self, conn: &Connection) -> Result<(), StoreError> {
        let mut held: Vec<(&Key, &i64)> = self.keys.iter().collect();
        if let Some(deleted_up_to) = self.deleted_up_to {
            // In id order, so each page of `events` is read once (a sweep holds up to ~16,000
            // keys: looked up in key order, each was a page read at random).
            held.sort_unstable_by_key(|(_, id)| **id);
            let mut kept = Vec::with_capacity(held.len());
            for (key, id) in held {
                let keep = *id > deleted_up_to || {
                    #[cfg(test)]
                    self.checked.set(self.checked.get() + 1);
                    event_exists(conn, *id)?
                };
                if keep {
                    kept.push((key, id));
                }
            }
            held = kept;
        }
        // Almost every key is of the same app (the same `Arc`): compare its name only when not.
        held.sort_unstable_by(|((app_a, key_a), _), ((app_b, key_b), _)| {
            if Arc::ptr_eq(app_a, app_b) {
                key_a.cmp(key_b)
            } else {
                (app_a, key_a).cmp(&(app_b, key_b))
            }
        });
        // In statements of `SWEEP_ROWS` keys, the last few one at a time.
        let (many, few) = held.split_at(held.len() - held.len() % SWEEP_ROWS);
        let mut insert_many = conn.prepare_cached(&SWEEP_MANY)?;
        for chunk in many.chunks_exact(SWEEP_ROWS) {
            for (i, ((app, key), id)) in chunk.iter().enumerate() {
                insert_many.raw_bind_parameter(3 * i + 1, &**app)?;
                insert_many.raw_bind_parameter(3 * i + 2, &key[..])?;
                insert_many.raw_bind_parameter(3 * i + 3, **id)?;
            }
            insert_many.raw_execute()?;
        }
        let mut insert_one = conn.prepare_cached(
            "INSERT OR IGNORE INTO dedup (app, key, event_id) VALUES (?1, ?2, ?3)",
        )?;
        for ((app, key), id) in few {
            insert_one.execute(params![&**app, &key[..], id])?;
        }
        conn.prepare_cached("UPDATE dedup_swept SET up_to = max(up_to, ?1)")?
            .execute([self.seen_up_to])?;
        Ok(())
    }
}

/// Keys swept by one statement: a statement per key cost SQLite's start and end of a
/// statement, and rusqlite's binding, for each.
const SWEEP_ROWS: usize = 64;

/// The statement that sweeps [`SWEEP_ROWS`] keys.
static SWEEP_MANY: LazyLock<String> = LazyLock::new(|| {
    let rows = vec!["(?, ?, ?)"; SWEEP_ROWS].join(", ");
    format!("INSERT OR IGNORE INTO dedup (app, key, event_id) VALUES {rows}")
});

/// 8 bytes of a key's content hash: to tell keys of the same second apart.
fn fingerprint(key: &[u8; 32]) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&key[8..16]);
    u64::from_ne_bytes(bytes)
}

/// Whether event `id` still exists (a purge may have removed it, and its key with it).
fn event_exists(conn: &Connection, id: i64) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
        .exists([id])?)
}

fn data_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::RecentKeys;
    use crate::clock::now_ms;
    use crate::store::contract::event;
    use crate::store::sqlite::writer::{Needs, queue};
    use crate::store::sqlite::{SqliteInbox, schema};
    use crate::store::{Appended, Inbox};

    async fn id_of(inbox: &SqliteInbox, text: &str) -> Appended {
        let appended = inbox.append(event("a", text, None, &[], false)).await;
        appended.unwrap()
    }

    fn new_id(appended: Appended) -> i64 {
        match appended {
            Appended::New { id, .. } => id,
            other => panic!("expected a new event, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn retries_are_recognised_in_memory_after_a_sweep_and_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let first = {
            let inbox = SqliteInbox::open(&path).unwrap();
            let first = new_id(id_of(&inbox, "<xml>1</xml>").await);
            // Held in memory only.
            assert_eq!(
                id_of(&inbox, "<xml>1</xml>").await,
                Appended::Duplicate(first)
            );
            first
        };
        // Reopening sweeps what the last process held (as after a crash): now from `dedup`.
        let inbox = SqliteInbox::open(&path).unwrap();
        let swept: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM dedup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(swept, 1);
        assert_eq!(
            id_of(&inbox, "<xml>1</xml>").await,
            Appended::Duplicate(first)
        );
        let second = new_id(id_of(&inbox, "<xml>2</xml>").await);
        assert!(second > first);
    }

    #[tokio::test]
    async fn another_process_appending_is_seen_before_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let serve = SqliteInbox::open(&path).unwrap();
        let replay = SqliteInbox::open(&path).unwrap();
        new_id(id_of(&serve, "<xml>warm</xml>").await);
        let id = new_id(id_of(&replay, "<xml>same</xml>").await);
        assert_eq!(
            id_of(&serve, "<xml>same</xml>").await,
            Appended::Duplicate(id)
        );
        let other = new_id(id_of(&serve, "<xml>other</xml>").await);
        assert_eq!(
            id_of(&replay, "<xml>other</xml>").await,
            Appended::Duplicate(other)
        );
    }

    #[tokio::test]
    async fn a_purged_event_is_new_again_in_memory_and_in_the_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let later = now_ms() + 60_000;
        {
            let inbox = SqliteInbox::open(&path).unwrap();
            let id = new_id(id_of(&inbox, "<xml>held</xml>").await);
            assert_eq!(inbox.purge(later, 100).await.unwrap(), 1);
            let again = new_id(id_of(&inbox, "<xml>held</xml>").await);
            assert_ne!(again, id);
        }
        let inbox = SqliteInbox::open(&path).unwrap();
        assert_eq!(inbox.purge(later, 100).await.unwrap(), 1);
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM dedup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 0, "the index row goes with its event");
        new_id(id_of(&inbox, "<xml>held</xml>").await);
    }

    /// An event purged while its key is held in memory is new again after the sweep that
    /// follows (its key must not reach `dedup`, where nothing would remove it).
    #[tokio::test]
    async fn an_event_purged_before_its_sweep_is_new_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("inbox.db")).unwrap();
        let purged = new_id(id_of(&inbox, "<xml>purged</xml>").await);
        assert_eq!(inbox.purge(now_ms() + 60_000, 100).await.unwrap(), 1);
        // Enough appends for a sweep (32 at a time, as group commits).
        let texts: Vec<String> = (0..super::SWEEP_AT + 64)
            .map(|i| format!("<xml>{i}</xml>"))
            .collect();
        for chunk in texts.chunks(32) {
            futures::future::join_all(chunk.iter().map(|text| id_of(&inbox, text))).await;
        }
        let again = new_id(id_of(&inbox, "<xml>purged</xml>").await);
        assert!(again > purged);
    }

    /// A purge that deleted nothing leaves the held keys to be swept unchecked; one that
    /// deleted events has the keys up to its largest id checked.
    #[tokio::test]
    async fn only_a_purge_that_deleted_events_has_held_keys_checked() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = SqliteInbox::open(&dir.path().join("inbox.db")).unwrap();
        let old = new_id(id_of(&inbox, "<xml>old</xml>").await);
        let deleted_up_to = async || {
            queue(&inbox.jobs, Needs::WRITE, |_, memory, _| {
                Ok(memory.recent.deleted_up_to)
            })
            .await
            .unwrap()
        };
        assert_eq!(inbox.purge(0, 100).await.unwrap(), 0);
        assert_eq!(deleted_up_to().await, None);
        assert_eq!(inbox.purge(now_ms() + 60_000, 100).await.unwrap(), 1);
        assert_eq!(deleted_up_to().await, Some(old));
    }

    /// After a deletion, a sweep checks the held keys of ids up to the largest deleted one
    /// (and drops those whose events are gone), and no other.
    #[test]
    fn a_sweep_after_a_deletion_checks_only_the_keys_it_may_have_removed() {
        let (conn, mut recent) = empty_store();
        let app: std::sync::Arc<str> = "a".into();
        let ids: Vec<i64> = (0..10)
            .map(|n| {
                let key = key_of(100, n);
                let id = insert_event(&conn, &key);
                recent.remember(&app, &key, id);
                id
            })
            .collect();
        recent.commit();
        conn.execute("DELETE FROM events WHERE id = ?1", [ids[2]])
            .unwrap();
        recent.events_deleted(ids[3]);
        recent.sweep(&conn).unwrap();
        assert_eq!(recent.checked.get(), 4);
        let swept: i64 = conn
            .query_row("SELECT count(*) FROM dedup", [], |r| r.get(0))
            .unwrap();
        assert_eq!(swept, 9, "every key but the deleted event's");
        recent.sweep(&conn).unwrap();
        assert_eq!(recent.checked.get(), 4, "a sweep after it checks nothing");
    }

    /// Keys above the largest indexed one skip the index; below it, and swept by another
    /// process after the largest was read, they are still recognised.
    #[tokio::test]
    async fn retries_are_recognised_around_the_largest_indexed_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let texts: Vec<String> = (0..40).map(|i| format!("<xml>{i}</xml>")).collect();
        let mut ids = Vec::new();
        {
            let inbox = SqliteInbox::open(&path).unwrap();
            for text in &texts[..20] {
                ids.push(new_id(id_of(&inbox, text).await));
            }
        }
        // Swept at this start: every retry is found in the index, new events are new.
        let serve = SqliteInbox::open(&path).unwrap();
        for (text, id) in texts[..20].iter().zip(&ids) {
            assert_eq!(
                id_of(&serve, text).await,
                Appended::Duplicate(*id),
                "{text}"
            );
        }
        for text in &texts[20..30] {
            ids.push(new_id(id_of(&serve, text).await));
        }
        // Another process appends, and a third one sweeps it into the index.
        {
            let replay = SqliteInbox::open(&path).unwrap();
            for text in &texts[30..] {
                ids.push(new_id(id_of(&replay, text).await));
            }
        }
        drop(SqliteInbox::open(&path).unwrap());
        for (text, id) in texts.iter().zip(&ids) {
            assert_eq!(
                id_of(&serve, text).await,
                Appended::Duplicate(*id),
                "{text}"
            );
        }
    }

    /// An in-memory store with the current schema, and its writer's keys.
    fn empty_store() -> (Connection, RecentKeys) {
        let conn = Connection::open_in_memory().unwrap();
        schema::migrate(&conn).unwrap();
        let recent = RecentKeys::start(&conn).unwrap();
        (conn, recent)
    }

    /// Insert an event of app `a` stored under `key`; its id.
    fn insert_event(conn: &Connection, key: &[u8; 32]) -> i64 {
        conn.execute(
            "INSERT INTO events (app, dedup_key, kind, plaintext, received_at)
             VALUES ('a', ?1, 'k', '<xml/>', 1)",
            [&key[..]],
        )
        .unwrap();
        conn.last_insert_rowid()
    }

    /// A sweep raises the largest indexed key it read before: what it swept is still found.
    #[test]
    fn a_sweep_keeps_its_keys_findable() {
        let (conn, mut recent) = empty_store();
        let app = "a".into();
        let (low, high) = ([1u8; 32], [9u8; 32]);
        assert_eq!(
            recent.find(&conn, &app, &low).unwrap(),
            None,
            "nothing indexed"
        );
        let mut ids = Vec::new();
        for key in [low, high] {
            let id = insert_event(&conn, &key);
            ids.push(id);
            recent.remember(&app, &key, id);
        }
        recent.sweep(&conn).unwrap();
        assert!(!recent.holds_any());
        assert_eq!(recent.find(&conn, &app, &low).unwrap(), Some(ids[0]));
        assert_eq!(recent.find(&conn, &app, &high).unwrap(), Some(ids[1]));
        assert_eq!(recent.find(&conn, &app, &[5u8; 32]).unwrap(), None);
        assert_eq!(recent.find(&conn, &app, &[10u8; 32]).unwrap(), None);
    }

    /// A key of CreateTime `second`, the `n`th of that second.
    fn key_of(second: i64, n: u8) -> [u8; 32] {
        let mut key = [n; 32];
        key[..8].copy_from_slice(&second.to_be_bytes());
        key
    }

    /// After a sweep, a new key of the second it ended in is told new without the index; swept
    /// keys of that second, and keys of an earlier second, are looked up (and found).
    #[test]
    fn new_keys_of_the_newest_second_need_no_lookup() {
        let (conn, mut recent) = empty_store();
        let app = "a".into();
        assert_eq!(recent.find(&conn, &app, &key_of(5, 1)).unwrap(), None);
        let mut ids = Vec::new();
        for key in [key_of(5, 1), key_of(9, 7), key_of(9, 3), key_of(9, 5)] {
            let id = insert_event(&conn, &key);
            ids.push(id);
            recent.remember(&app, &key, id);
        }
        recent.sweep(&conn).unwrap();
        let mut find = |key: [u8; 32]| recent.find(&conn, &app, &key).unwrap();
        for n in [0, 2, 4, 6] {
            assert_eq!(find(key_of(9, n)), None);
        }
        for (key, id) in [(key_of(9, 7), ids[1]), (key_of(9, 3), ids[2])] {
            assert_eq!(find(key), Some(id));
        }
        assert_eq!(find(key_of(5, 1)), Some(ids[0]));
        assert_eq!(find(key_of(5, 0)), None);
        assert_eq!(recent.lookups, 4, "only swept keys and an earlier second's");
        // A later sweep of the same second adds to what is known of it; a new second starts
        // again.
        let id = insert_event(&conn, &key_of(9, 2));
        recent.remember(&app, &key_of(9, 2), id);
        recent.sweep(&conn).unwrap();
        assert_eq!(recent.find(&conn, &app, &key_of(9, 2)).unwrap(), Some(id));
        assert_eq!(recent.find(&conn, &app, &key_of(9, 1)).unwrap(), None);
        assert_eq!(recent.lookups, 5);
        let later = insert_event(&conn, &key_of(10, 1));
        recent.remember(&app, &key_of(10, 1), later);
        recent.sweep(&conn).unwrap();
        assert_eq!(recent.find(&conn, &app, &key_of(10, 0)).unwrap(), None);
        assert_eq!(recent.lookups, 5);
        assert_eq!(recent.find(&conn, &app, &key_of(9, 1)).unwrap(), None);
        assert_eq!(recent.lookups, 6, "the earlier second is looked up now");
    }

    /// Keys of a second the index already had when this writer first looked are looked up:
    /// the writer did not sweep them all.
    #[test]
    fn a_second_begun_before_this_writer_is_looked_up() {
        let (conn, mut recent) = empty_store();
        let app: std::sync::Arc<str> = "a".into();
        let earlier = insert_event(&conn, &key_of(9, 1));
        conn.execute(
            "INSERT INTO dedup (app, key, event_id) VALUES ('a', ?1, ?2)",
            rusqlite::params![&key_of(9, 1)[..], earlier],
        )
        .unwrap();
        assert_eq!(
            recent.find(&conn, &app, &key_of(9, 1)).unwrap(),
            Some(earlier)
        );
        let id = insert_event(&conn, &key_of(9, 2));
        recent.remember(&app, &key_of(9, 2), id);
        recent.sweep(&conn).unwrap();
        let before = recent.lookups;
        assert_eq!(
            recent.find(&conn, &app, &key_of(9, 1)).unwrap(),
            Some(earlier)
        );
        assert_eq!(recent.find(&conn, &app, &key_of(9, 0)).unwrap(), None);
        assert_eq!(recent.lookups, before + 2);
    }

    /// A sweep of more keys than one statement takes, of two apps, indexes every one.
    #[test]
    fn a_large_sweep_indexes_every_key() {
        let (conn, mut recent) = empty_store();
        let apps: [std::sync::Arc<str>; 2] = ["a".into(), "b".into()];
        let mut expected = Vec::new();
        for n in 0..(2 * super::SWEEP_ROWS + 22) {
            let key = key_of(100 + n as i64 % 3, n as u8);
            let app = &apps[n % 2];
            conn.execute(
                "INSERT INTO events (app, dedup_key, kind, plaintext, received_at)
                 VALUES (?1, ?2, 'k', '<xml/>', 1)",
                rusqlite::params![&**app, &key[..]],
            )
            .unwrap();
            let id = conn.last_insert_rowid();
            recent.remember(app, &key, id);
            expected.push((app.to_string(), key.to_vec(), id));
        }
        recent.sweep(&conn).unwrap();
        let mut indexed: Vec<(String, Vec<u8>, i64)> = conn
            .prepare("SELECT app, key, event_id FROM dedup")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        indexed.sort();
        expected.sort();
        assert_eq!(indexed, expected);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..proptest::prelude::ProptestConfig::default()
        })]

        /// Whatever the order of new events, late ones, retries, sweeps and purges, a key is
        /// found exactly when an event stored under it still exists, with that event's id.
        #[test]
        fn find_agrees_with_the_events_stored(
            steps in proptest::collection::vec((0u8..10, 0i64..4, 0u8..12), 1..150)
        ) {
            let (conn, mut recent) = empty_store();
            let app: std::sync::Arc<str> = "a".into();
            let mut stored: std::collections::HashMap<[u8; 32], i64> = Default::default();
            let mut purged: Vec<i64> = Vec::new();
            for (action, second, n) in steps {
                let key = key_of(100 + second, n);
                match action {
                    0 => {
                        if let Some((&gone, &id)) = stored.iter().next() {
                            // As a purge job does.
                            conn.execute("DELETE FROM events WHERE id = ?1", [id]).unwrap();
                            recent.events_deleted(id);
                            stored.remove(&gone);
                            purged.push(id);
                        }
                    }
                    1 | 2 => recent.sweep(&conn).unwrap(),
                    _ => {
                        let found = recent.find(&conn, &app, &key).unwrap();
                        proptest::prop_assert_eq!(found, stored.get(&key).copied());
                        if found.is_none() {
                            // Ids never repeat (the writer's `Ids`), purges or not.
                            let id = stored.values().chain(&purged).max().map_or(1, |id| id + 1);
                            conn.execute(
                                "INSERT INTO events (id, app, dedup_key, kind, plaintext, received_at)
                                 VALUES (?1, 'a', ?2, 'k', '<xml/>', 1)",
                                rusqlite::params![id, &key[..]],
                            )
                            .unwrap();
                            recent.remember(&app, &key, id);
                            recent.commit();
                            stored.insert(key, id);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_rolled_back_transaction_forgets_its_keys() {
        let (conn, mut recent) = empty_store();
        let app = "a".into();
        let key = [7u8; 32];
        conn.execute_batch("BEGIN").unwrap();
        recent.begin(&conn).unwrap();
        let id = insert_event(&conn, &key);
        recent.remember(&app, &key, id);
        assert!(recent.find(&conn, &app, &key).unwrap().is_some());
        conn.execute_batch("ROLLBACK").unwrap();
        recent.rollback();
        assert_eq!(recent.find(&conn, &app, &key).unwrap(), None);
    }

    #[tokio::test]
    async fn a_version_three_store_keeps_its_ids_its_sequence_and_its_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v3.db");
        let old = event("a", "<xml>old</xml>", None, &[], false);
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&schema::version_three()).unwrap();
            conn.execute(
                "INSERT INTO events (id, app, dedup_key, kind, plaintext, received_at)
                 VALUES (5, 'a', ?1, 'k', '<xml>old</xml>', 1)",
                [&old.dedup_key[..]],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO deliveries (event_id, app, handler, next_at, created_at)
                 VALUES (5, 'a', 'h', 1, 1)",
                [],
            )
            .unwrap();
            // A later event that was purged: its id is never given again.
            conn.execute(
                "UPDATE sqlite_sequence SET seq = 9 WHERE name = 'events'",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 3).unwrap();
        }
        let inbox = SqliteInbox::open(&path).unwrap();
        assert_eq!(inbox.append(old).await.unwrap(), Appended::Duplicate(5));
        assert_eq!(
            inbox.deliveries(5).await.unwrap().len(),
            1,
            "deliveries kept"
        );
        assert_eq!(new_id(id_of(&inbox, "<xml>new</xml>").await), 10);
        let schema = Connection::open(&path).unwrap();
        let count = |condition: &str| -> i64 {
            schema
                .query_row(
                    &format!("SELECT count(*) FROM sqlite_master WHERE {condition}"),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
        };
        assert_eq!(count("name LIKE 'sqlite_autoindex_events%'"), 0);
        assert_eq!(
            count("sql LIKE '%AUTOINCREMENT%'"),
            0,
            "events and deliveries rebuilt"
        );
    }
}
