//! Background checkpoints: copying the WAL back into the database file off the writer thread.
//!
//! SQLite's own checkpoint runs inside the commit that crosses `wal_autocheckpoint`: the
//! writer copies every page written since the last one into the database file and syncs it,
//! and every callback waiting on the writer waits for that. A thread of [`serve`'s
//! store](super::SqliteInbox) runs a passive checkpoint (it never waits for, or blocks, the
//! writer or a reader) every [`INTERVAL`] on a connection of its own, so when the writer's
//! checkpoint comes it finds only the last moments left to copy and sync. Measured on the
//! 2-core machine under full load: ack p99 lower in every one of six interleaved runs, at the
//! same CPU per callback.
//!
//! Only a checkpoint that copies every frame with no commit in between lets the WAL start over
//! from its beginning — under load, only one the writer runs itself, between two commits. So
//! that it does not wait for `wal_autocheckpoint` (by then up to an interval's worth of frames
//! are left to copy, while every callback waits), the background thread, right after a copy
//! that found the WAL at [`HAND_OVER_FRAMES`] or more, asks the writer to finish the
//! checkpoint ([`CheckpointRequest`]): what is left then is what was committed during that copy.
//! The writer's own `wal_autocheckpoint` stays, as the net should this thread fall behind.
//! Measured under full load: ack p99 about halved again (9.75 against 19.25 ms in one
//! side-by-side run), CPU per callback unchanged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

use crate::store::StoreError;

/// How often the WAL is copied into the database file.
pub(super) const INTERVAL: Duration = Duration::from_millis(200);

/// How many frames the WAL holds, after a background copy, for the writer to be asked to
/// finish the checkpoint (and so let the WAL start over): ~10 MB of 4 KiB pages.
pub(super) const HAND_OVER_FRAMES: i64 = 2_500;

/// The background thread asking the writer to finish a checkpoint between two batches.
#[derive(Clone, Default)]
pub(super) struct CheckpointRequest(Arc<AtomicBool>);

impl CheckpointRequest {
    /// Ask (the background thread).
    pub(super) fn ask(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether it was asked since the last call (the writer).
    pub(super) fn take(&self) -> bool {
        self.0.swap(false, Ordering::AcqRel)
    }
}

/// The running checkpoint thread; dropping this stops it (within [`INTERVAL`]).
pub(super) struct Checkpoints {
    _stop: mpsc::Sender<()>,
}

impl Checkpoints {
    /// Start checkpointing the database at `path` (already in WAL mode), handing the end of
    /// each large checkpoint to the writer through `writer`.
    ///
    /// # Errors
    /// The database cannot be opened, or the thread cannot start.
    pub(super) fn start(
        path: &Path,
        busy_timeout: Duration,
        writer: CheckpointRequest,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open {}: {e}", path.display())))?;
        conn.busy_timeout(busy_timeout)?;
        let (stop, stopped) = mpsc::channel();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run(&conn, &stopped, &writer))
            .map_err(|e| StoreError(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Checkpoints { _stop: stop })
    }
}

/// Checkpoint every [`INTERVAL`] until the sender is dropped.
fn run(conn: &Connection, stop: &mpsc::Receiver<()>, writer: &CheckpointRequest) {
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(INTERVAL) {
        copy(conn, writer);
    }
}

/// One background checkpoint: copy what the WAL holds, and ask the writer to finish when it
/// holds [`HAND_OVER_FRAMES`] or more.
fn copy(conn: &Connection, writer: &CheckpointRequest) {
    match passive(conn) {
        Ok(frames) if frames >= HAND_OVER_FRAMES => writer.ask(),
        Ok(_) => {}
        // A failure here (a full disk, say) leaves the copying to the writer's checkpoint,
        // which reports it.
        Err(e) => tracing::debug!(error = %e, "background checkpoint failed"),
    }
}

/// The writer's end of a checkpoint the background thread asked for: copy what is left (run
/// between two batches, outside any transaction, this copies every frame and lets the next
/// commit start the WAL over).
pub(super) fn finish(conn: &Connection) {
    if let Err(e) = passive(conn) {
        tracing::debug!(error = %e, "the writer's checkpoint failed");
    }
}

/// A passive checkpoint on `conn` (it never waits for, or blocks, the writer or a reader): the
/// frames the WAL holds.
fn passive(conn: &Connection) -> rusqlite::Result<i64> {
    // Its row: busy, the frames in the WAL, the frames copied.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| row.get(1))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{CheckpointRequest, HAND_OVER_FRAMES, copy, finish};
    use crate::store::contract::event;
    use crate::store::sqlite::{SqliteInbox, SqliteOptions};
    use crate::store::{Appended, Inbox};

    /// With the owning `serve`'s store, stored events reach the database file itself soon,
    /// long before the WAL holds enough pages for the writer's own checkpoint.
    #[tokio::test]
    async fn events_reach_the_database_file_without_the_writers_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        let options = SqliteOptions {
            owner: true,
            ..SqliteOptions::default()
        };
        let inbox = SqliteInbox::open_with(&path, &options).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        for i in 0..200 {
            let text = format!("<xml><n>{i}</n>{}</xml>", "x".repeat(500));
            let stored = inbox.append(event("a", &text, None, &[], false)).await;
            assert!(matches!(stored.unwrap(), Appended::New { .. }));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() <= before + 100_000 {
            assert!(
                Instant::now() < deadline,
                "the events stayed in the WAL: no background checkpoint"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The frames in the WAL of the database at `path`, read from the wal-index header in its
    /// `-shm` file (`mxFrame`, native byte order at offset 16: SQLite's WAL format) — without
    /// a checkpoint, which would copy them.
    fn wal_frames(path: &std::path::Path) -> i64 {
        let shm = std::fs::read(format!("{}-shm", path.display())).unwrap();
        i64::from(u32::from_ne_bytes(shm[16..20].try_into().unwrap()))
    }

    /// A large WAL, once copied in the background, is handed to the writer, whose checkpoint
    /// lets the next commit start the WAL over; a small one is not.
    #[test]
    fn a_large_wal_is_handed_to_the_writer_which_starts_it_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (x BLOB);",
            )
            .unwrap();
        let background = rusqlite::Connection::open(&path).unwrap();
        let request = CheckpointRequest::default();
        let write = |pages: i64| {
            for _ in 0..pages {
                writer
                    .execute("INSERT INTO t VALUES (zeroblob(4000))", [])
                    .unwrap();
            }
        };
        write(10);
        copy(&background, &request);
        assert!(!request.take(), "a small WAL is left to the background");
        write(HAND_OVER_FRAMES);
        // As under load, the background copy cannot take every frame: here a reader's
        // snapshot holds back the last ones (under load, commits made during the copy).
        let reader = rusqlite::Connection::open(&path).unwrap();
        reader
            .execute_batch("BEGIN; SELECT count(*) FROM t;")
            .unwrap();
        write(5);
        copy(&background, &request);
        reader.execute_batch("COMMIT").unwrap();
        assert!(request.take(), "a large WAL is handed over");
        assert!(!request.take(), "asked once");
        write(1);
        assert!(
            wal_frames(&path) > HAND_OVER_FRAMES,
            "without the writer's checkpoint the WAL goes on growing"
        );
        finish(&writer);
        write(1);
        assert!(
            wal_frames(&path) < 10,
            "the WAL started over after the writer's checkpoint"
        );
    }

    /// The writer finishes a checkpoint it is asked for after its next batch: the commit after
    /// that one starts the WAL over.
    #[tokio::test]
    async fn the_writer_finishes_the_checkpoint_it_is_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inbox.db");
        // Not the owner: no background checkpoints, so only the writer copies the WAL.
        let inbox = SqliteInbox::open_with(&path, &SqliteOptions::default()).unwrap();
        let append = async |i: usize| {
            let text = format!("<xml><n>{i}</n>{}</xml>", "x".repeat(500));
            let stored = inbox.append(event("a", &text, None, &[], false)).await;
            assert!(matches!(stored.unwrap(), Appended::New { .. }));
        };
        for i in 0..100 {
            append(i).await;
        }
        let grown = wal_frames(&path);
        assert!(grown > 50, "{grown} frames");
        inbox.checkpoint.ask();
        append(100).await;
        append(101).await;
        let after = wal_frames(&path);
        assert!(
            after < 10,
            "the WAL did not start over: {after} frames after {grown}"
        );
    }
}
