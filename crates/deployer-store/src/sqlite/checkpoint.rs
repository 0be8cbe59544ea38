//! Checkpoints of the write-ahead log, off the writer's way.
//!
//! SQLite folds the write-ahead log back into the database file (a checkpoint) whenever a
//! commit leaves more than 1,000 pages in it, inside that commit, on the committing
//! connection; with `synchronous = NORMAL` a checkpoint syncs the log and the database file to
//! disk. Under a steady stream of deployments that was a checkpoint every 300 ms, each holding
//! the one writer for two or three `fsync`s (5 to 15 ms on the benchmark machine), and every
//! deployment whose phase write met one waited that long (docs/BENCHMARKS.md).
//!
//! So no connection checkpoints on commit (`wal_autocheckpoint = 0`). A task of its own, on a
//! connection of its own, runs a passive checkpoint, which never waits for the writer or a
//! reader and which they never wait for, [`DELAY`] after the writer was last used, at most
//! once per [`DELAY`]. An idle service does no checkpoints (its connection is opened on the
//! first one); the frames a last write leaves are folded in when the database is closed.

use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use tokio::sync::mpsc;

use crate::error::Scrubber;

/// How long after a use of the writer the checkpoint runs, and the least time between two.
pub(super) const DELAY: Duration = Duration::from_millis(250);

/// The writer's side: tells the checkpoint task that the writer was used.
#[derive(Debug, Clone)]
pub(super) struct Wrote(mpsc::Sender<()>);

impl Wrote {
    /// Notes a use of the writer; never waits.
    pub(super) fn note(&self) {
        // A full channel already holds a note: the checkpoint is due anyway.
        let _ = self.0.try_send(());
    }
}

/// The checkpoint task's handle: its pool, closed with the store's.
#[derive(Debug, Clone)]
pub(super) struct Checkpoints {
    pool: SqlitePool,
}

impl Checkpoints {
    /// Starts the checkpoint task on the current Tokio runtime, with a connection made from
    /// `options` when the first checkpoint is due. It ends when every [`Wrote`] is dropped
    /// or [`Checkpoints::close`] is called.
    pub(super) fn start(options: SqliteConnectOptions, scrubber: Scrubber) -> (Self, Wrote) {
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .test_before_acquire(false)
            .connect_lazy_with(options);
        let (wrote, notes) = mpsc::channel(1);
        tokio::spawn(run(pool.clone(), scrubber, notes));
        (Self { pool }, Wrote(wrote))
    }

    /// Stops the task and closes its connection.
    pub(super) async fn close(&self) {
        self.pool.close().await;
    }
}

async fn run(pool: SqlitePool, scrubber: Scrubber, mut notes: mpsc::Receiver<()>) {
    loop {
        tokio::select! {
            note = notes.recv() => if note.is_none() { return },
            () = pool.close_event() => return,
        }
        tokio::time::sleep(DELAY).await;
        // The notes that came while waiting are covered by this checkpoint.
        while notes.try_recv().is_ok() {}
        if pool.is_closed() {
            return;
        }
        let done: Result<(i64, i64, i64), sqlx::Error> =
            sqlx::query_as("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&pool).await;
        match done {
            Ok((busy, log, folded)) => {
                tracing::trace!(message = "Write-ahead log checkpointed.", busy, log, folded);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                let error = scrubber.store_error("checkpointing the write-ahead log", &e);
                tracing::warn!(message = "A checkpoint of the history store failed; the next write tries again.", error = %error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::{DatabaseUrl, StoreSettings};
    use crate::sqlite::SqliteStore;

    #[tokio::test]
    async fn no_connection_checkpoints_inside_a_commit() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let settings = StoreSettings::with_url(DatabaseUrl::sqlite_file(dir.path().join("deployer.db")));
        let store = SqliteStore::open(&settings).await.unwrap_or_else(|e| panic!("{e}"));
        for pool in [&store.writer, &store.reader] {
            let pages: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
                .fetch_one(pool)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(pages, 0);
        }
        assert!(store.checkpoints.is_some(), "a file database has a checkpoint task");
        store.close().await;
    }
}
