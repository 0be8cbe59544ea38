//! One isolated database per test, for each backend, reopenable to test restarts.

use std::str::FromStr;
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use deployer_store::{DatabaseUrl, HistoryStore, OpenError, SinkName, StoreSettings, open, open_with_outbox};

/// A database for one test.
pub trait Harness: Sized {
    /// Creates a fresh, empty database.
    async fn new() -> Self;

    /// Settings that open this test's database.
    fn settings(&self) -> StoreSettings;

    /// Opens the store (again), running the migrations.
    async fn open(&self) -> Result<Arc<dyn HistoryStore>, OpenError> {
        open(&self.settings()).await
    }

    /// Opens the store with outbox sinks.
    async fn open_with_outbox(&self, sinks: Vec<SinkName>) -> Arc<dyn HistoryStore> {
        open_with_outbox(&self.settings(), sinks)
            .await
            .unwrap_or_else(|e| panic!("opening the store failed: {e}"))
    }

    /// Runs one SQL statement directly on the database.
    async fn execute(&self, sql: &str);

    /// Runs a query returning one integer directly on the database.
    async fn scalar(&self, sql: &str) -> i64;

    /// Removes what the test created.
    async fn cleanup(self);
}

/// A SQLite file in a temporary directory.
pub struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    /// The database file.
    pub fn path(&self) -> std::path::PathBuf {
        self.dir.path().join("deployer.db")
    }
}

impl Harness for SqliteHarness {
    async fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("a temporary directory can be created"),
        }
    }

    fn settings(&self) -> StoreSettings {
        StoreSettings::with_url(DatabaseUrl::sqlite_file(self.path()))
    }

    async fn execute(&self, sql: &str) {
        let mut conn = SqliteConnectOptions::new()
            .filename(self.path())
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {} failed: {e}", self.path().display()));
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        let _ = conn.close().await;
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = SqliteConnectOptions::new()
            .filename(self.path())
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to {} failed: {e}", self.path().display()));
        let v: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        let _ = conn.close().await;
        v
    }

    async fn cleanup(self) {}
}

/// The server tests use unless `DEPLOYER_TEST_POSTGRES_URL` says otherwise.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://deployer@127.0.0.1:5432/deployer_test";

/// A schema of its own in the test PostgreSQL database.
pub struct PostgresHarness {
    url: String,
    password_file: Option<tempfile::NamedTempFile>,
    schema: String,
}

impl PostgresHarness {
    fn admin_options(&self) -> PgConnectOptions {
        let mut options = PgConnectOptions::from_str(&self.url).unwrap_or_else(|e| panic!("bad test URL: {e}"));
        if let Some(f) = &self.password_file {
            let pw = std::fs::read_to_string(f.path()).unwrap_or_default();
            options = options.password(pw.trim_end());
        }
        options
    }

    /// The URL of the test server.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Harness for PostgresHarness {
    async fn new() -> Self {
        let from_env = std::env::var("DEPLOYER_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let url = from_env.unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_owned());
        let has_inline_password = DatabaseUrl::parse(&url)
            .map(|u| u.redacted().contains(":***@"))
            .unwrap_or_else(|e| panic!("DEPLOYER_TEST_POSTGRES_URL: {e}"));
        // The password goes through a file, the way a mounted secret would.
        let password_file = (!has_inline_password).then(|| {
            let pw = std::env::var("DEPLOYER_TEST_POSTGRES_PASSWORD").unwrap_or_else(|_| "deployer".to_owned());
            let f = tempfile::NamedTempFile::new().expect("a temporary file can be created");
            std::fs::write(f.path(), format!("{pw}\n")).expect("the password file can be written");
            f
        });
        let schema = format!("test_{}", ulid_like().to_lowercase());
        let h = Self {
            url,
            password_file,
            schema,
        };
        let conn = h.admin_options().connect().await;
        match conn {
            Ok(c) => {
                let _ = c.close().await;
            }
            Err(e) => panic!(
                "PostgreSQL is not reachable at `{}`: {e}\n\n\
                 hint: start it and create the test role and database (as root) with\n  \
                 bash scripts/postgres-test-db (as root)\n\
                 which runs `pg_ctlcluster 15 main start` and creates role `deployer` (password `deployer`)\n\
                 and database `deployer_test`, or point DEPLOYER_TEST_POSTGRES_URL (and DEPLOYER_TEST_POSTGRES_PASSWORD) at another server",
                DatabaseUrl::parse(&h.url).map(|u| u.redacted()).unwrap_or_default()
            ),
        }
        h
    }

    fn settings(&self) -> StoreSettings {
        let mut s = StoreSettings::with_url(DatabaseUrl::parse(&self.url).unwrap_or_else(|e| panic!("{e}")));
        s.password_file = self.password_file.as_ref().map(|f| f.path().to_owned());
        s.schema = Some(self.schema.clone());
        s.max_connections = 4;
        s
    }

    async fn execute(&self, sql: &str) {
        let mut conn = self
            .admin_options()
            .options([("search_path", self.schema.as_str())])
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to PostgreSQL failed: {e}"));
        sqlx::raw_sql(sql)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        let _ = conn.close().await;
    }

    async fn scalar(&self, sql: &str) -> i64 {
        let mut conn = self
            .admin_options()
            .options([("search_path", self.schema.as_str())])
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connecting to PostgreSQL failed: {e}"));
        let v: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` failed: {e}"));
        let _ = conn.close().await;
        v
    }

    async fn cleanup(self) {
        if let Ok(mut conn) = self.admin_options().connect().await {
            let _ = sqlx::raw_sql(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

/// A unique, sortable name part: time in microseconds plus a counter.
fn ulid_like() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    format!(
        "{micros}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
