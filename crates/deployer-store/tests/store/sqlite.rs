//! The suite on SQLite, plus what only SQLite has: WAL mode, in-memory databases, one writer.

use std::sync::Arc;

use deployer_core::model::EventKind;
use deployer_core::ports::{DeploymentFilter, Inserted, PageRequest};
use deployer_store::{DatabaseUrl, OpenError, SqliteStore, StoreSettings, open};

use crate::fixtures::{event, full_record, queued, target};
use crate::harness::{Harness, SqliteHarness};

crate::behaviour_suite!(SqliteHarness);

#[tokio::test]
async fn a_file_database_uses_the_write_ahead_log() {
    let h = SqliteHarness::new().await;
    let _store = h.open().await.unwrap_or_else(|e| panic!("{e}"));
    // `journal_mode` is persistent: any connection reports it.
    let mut conn = <sqlx::sqlite::SqliteConnectOptions as sqlx::ConnectOptions>::connect(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(h.path()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(mode, "wal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_writers_never_see_a_busy_database() {
    let h = SqliteHarness::new().await;
    let store = h.open().await.unwrap_or_else(|e| panic!("{e}"));
    let t = target("r1", "c1", "api");
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        let r = queued(&t, i);
        tasks.push(tokio::spawn(async move {
            store.insert_deployment(&r, &[event(EventKind::Queued, &r)]).await
        }));
    }
    for task in tasks {
        let result = task.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(result, Ok(Inserted::New));
    }
    let all = store
        .list_deployments(
            &DeploymentFilter::default(),
            &PageRequest {
                limit: 100,
                before: None,
            },
        )
        .await;
    assert_eq!(all.map(|v| v.len()), Ok(50));
}

#[tokio::test]
async fn an_in_memory_database_keeps_its_data_while_open() {
    let store = open(&StoreSettings::with_url(DatabaseUrl::sqlite_memory()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let record = full_record();
    assert_eq!(
        store
            .insert_deployment(&record, &[event(EventKind::Queued, &record)])
            .await,
        Ok(Inserted::New)
    );
    // Give an idle-connection reaper every chance to drop the database.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(store.get_deployment(record.id).await, Ok(Some(record.clone())));
    assert_eq!(store.events(record.id, 0).await.map(|e| e.len()), Ok(1));
    // Two in-memory stores are separate databases.
    let other = open(&StoreSettings::with_url(DatabaseUrl::sqlite_memory()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(other.get_deployment(record.id).await, Ok(None));
}

#[tokio::test]
async fn postgres_only_settings_are_refused_for_sqlite() {
    let mut s = StoreSettings::with_url(DatabaseUrl::sqlite_memory());
    s.schema = Some("deployer".to_owned());
    let err = open(&s).await.err();
    assert!(matches!(err, Some(OpenError::InvalidSettings { .. })), "{err:?}");
}

#[tokio::test]
async fn an_unopenable_file_is_reported_as_unavailable() {
    let s = StoreSettings::with_url(DatabaseUrl::sqlite_file("/nonexistent-dir/deeper/deployer.db"));
    let err = open(&s).await.err();
    assert!(matches!(err, Some(OpenError::Unavailable { .. })), "{err:?}");
    assert_eq!(err.map(|e| e.kind()), Some("store_unavailable"));
}

#[tokio::test]
async fn a_closed_file_database_reopens_with_its_data() {
    let h = SqliteHarness::new().await;
    let record = full_record();
    let first = SqliteStore::open(&h.settings()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        first
            .insert_deployment(&record, &[event(EventKind::Queued, &record)])
            .await,
        Ok(Inserted::New)
    );
    first.close().await;
    assert!(
        first.get_deployment(record.id).await.is_err(),
        "a closed store refuses work"
    );
    let second = SqliteStore::open(&h.settings()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.get_deployment(record.id).await, Ok(Some(record.clone())));
    assert_eq!(second.events(record.id, 0).await.map(|e| e.len()), Ok(1));
    second.close().await;
}

#[tokio::test]
async fn a_file_path_with_url_characters_is_used_as_written() {
    let dir = tempfile::Builder::new()
        .prefix("a%20b#c?d ")
        .tempdir()
        .unwrap_or_else(|e| panic!("{e}"));
    let path = dir.path().join("deployer.db");
    let store = open(&StoreSettings::with_url(DatabaseUrl::sqlite_file(&path)))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let record = full_record();
    assert_eq!(store.insert_deployment(&record, &[]).await, Ok(Inserted::New));
    assert!(path.exists(), "the database is at {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_share_commits_but_each_gets_its_own_answer() {
    use deployer_core::model::{Phase, Status};
    use deployer_core::ports::StoreError;

    let h = SqliteHarness::new().await;
    let store = h.open().await.unwrap_or_else(|e| panic!("{e}"));
    let t = target("r1", "c1", "api");
    let mut records = Vec::new();
    for i in 0..60 {
        let r = queued(&t, i);
        let inserted = store.insert_deployment(&r, &[event(EventKind::Queued, &r)]).await;
        assert_eq!(inserted, Ok(Inserted::New));
        records.push(r);
    }
    // Sixty valid updates, an update of a deployment that does not exist, and one carrying an
    // event of another deployment, all at once: the two bad ones fail alone.
    let mut tasks = Vec::new();
    for (i, mut r) in records.clone().into_iter().enumerate() {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            r.enter(Phase::Committed, crate::fixtures::at(100 + i as i64, 0));
            r.commit_sha = Some(format!("{i:040x}"));
            let committed = event(EventKind::Committed, &r);
            r.finish(Status::Succeeded, crate::fixtures::at(200 + i as i64, 0));
            let succeeded = event(EventKind::Succeeded, &r);
            (Some(r.id), store.update_deployment(&r, &[committed, succeeded]).await)
        }));
    }
    let ghost = queued(&t, 1000);
    let ghost_store = Arc::clone(&store);
    tasks.push(tokio::spawn(async move {
        (
            None,
            ghost_store
                .update_deployment(&ghost, &[event(EventKind::Committed, &ghost)])
                .await,
        )
    }));
    let (a, b) = (records[0].clone(), records[1].clone());
    let crossed_store = Arc::clone(&store);
    tasks.push(tokio::spawn(async move {
        (
            None,
            crossed_store
                .update_deployment(&a, &[event(EventKind::Failed, &b)])
                .await,
        )
    }));

    let mut failures = Vec::new();
    for task in tasks {
        match task.await.unwrap_or_else(|e| panic!("{e}")) {
            (Some(_), Ok(())) => {}
            (Some(id), Err(e)) => panic!("the update of {id} failed: {e}"),
            (None, result) => failures.push(result),
        }
    }
    assert_eq!(failures.len(), 2);
    assert!(
        failures.iter().all(|r| matches!(r, Err(StoreError::Internal { .. }))),
        "{failures:?}"
    );

    for (i, r) in records.iter().enumerate() {
        let stored = store.get_deployment(r.id).await.ok().flatten();
        assert_eq!(stored.as_ref().map(|s| s.status), Some(Status::Succeeded), "{i}");
        assert_eq!(
            stored.and_then(|s| s.commit_sha),
            Some(format!("{i:040x}")),
            "each deployment keeps its own row"
        );
        let kinds: Vec<EventKind> = store
            .events(r.id, 0)
            .await
            .unwrap_or_default()
            .iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds,
            [EventKind::Queued, EventKind::Committed, EventKind::Succeeded],
            "{i}"
        );
    }
}

/// The deployments in the database file alone, without its write-ahead log: a copy of the
/// file is opened, so nothing the log holds is seen. 0 while the file does not hold the
/// table yet (or the copy caught a checkpoint half way).
async fn deployments_in_the_file_alone(path: &std::path::Path) -> i64 {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let copy = dir.path().join("copy.db");
    std::fs::copy(path, &copy).unwrap_or_else(|e| panic!("{e}"));
    let mut conn = <sqlx::sqlite::SqliteConnectOptions as sqlx::ConnectOptions>::connect(
        &sqlx::sqlite::SqliteConnectOptions::new().filename(&copy),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    sqlx::query_scalar("SELECT count(*) FROM deployments")
        .fetch_one(&mut conn)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn writes_are_folded_into_the_database_file_off_the_writers_way() {
    let h = SqliteHarness::new().await;
    let store = h.open().await.unwrap_or_else(|e| panic!("{e}"));
    let t = target("r1", "c1", "api");
    // Far fewer pages than SQLite's own checkpoint waits for (1,000): only the store's
    // checkpoint task folds them in.
    for i in 0..400 {
        let r = queued(&t, i);
        assert_eq!(
            store.insert_deployment(&r, &[event(EventKind::Queued, &r)]).await,
            Ok(Inserted::New)
        );
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let folded = deployments_in_the_file_alone(&h.path()).await;
        if folded == 400 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log was not checkpointed into the file: {folded} of 400 deployments there"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
