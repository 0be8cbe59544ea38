//! Errors: why a store could not be opened, and how database failures become
//! `StoreError`s.
//!
//! Database messages pass through a scrubber that removes the password before they reach
//! an error, so no secret ends up in a log line or an API answer.

use secrecy::{ExposeSecret, SecretString};

use deployer_core::ports::StoreError;

use crate::settings::InvalidUrl;

/// Why a store could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The settings are inconsistent or malformed.
    #[error("invalid store settings: {message}")]
    InvalidSettings {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The URL names no supported database.
    #[error(transparent)]
    InvalidUrl(#[from] InvalidUrl),
    /// The password file or variable could not be read.
    #[error("cannot read the database password: {message}")]
    PasswordUnreadable {
        /// Which source failed, and why.
        message: String,
    },
    /// The database could not be reached or opened.
    #[error("cannot open the history database `{url}`: {message}")]
    Unavailable {
        /// The URL, password removed.
        url: String,
        /// The driver's message, password removed.
        message: String,
    },
    /// The database was migrated by a newer release.
    #[error(
        "the history database is at schema version {found}, but this build knows versions up to {known}: \
         it was upgraded by a newer k8s-app-deployer; run that release, or point `store.url` at another database"
    )]
    SchemaTooNew {
        /// The highest version recorded in `schema_migrations`.
        found: i64,
        /// The highest version this build ships.
        known: i64,
    },
    /// An applied migration does not match the one this build ships under the same version.
    #[error(
        "schema migration {version} is recorded as `{recorded}` but this build ships `{shipped}`: the database was migrated by a different build"
    )]
    SchemaMismatch {
        /// The version.
        version: i64,
        /// The name recorded in the database.
        recorded: String,
        /// The name this build ships.
        shipped: String,
    },
    /// Applying the migrations failed; nothing was changed.
    #[error("migrating the history database failed: {message}")]
    MigrationFailed {
        /// The driver's message, password removed.
        message: String,
    },
}

impl OpenError {
    /// A stable label for metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            OpenError::InvalidSettings { .. } => "invalid_settings",
            OpenError::InvalidUrl(_) => "invalid_url",
            OpenError::PasswordUnreadable { .. } => "password_unreadable",
            OpenError::Unavailable { .. } => "store_unavailable",
            OpenError::SchemaTooNew { .. } => "schema_too_new",
            OpenError::SchemaMismatch { .. } => "schema_mismatch",
            OpenError::MigrationFailed { .. } => "migration_failed",
        }
    }
}

/// Removes known secrets from driver messages.
#[derive(Clone, Default)]
pub(crate) struct Scrubber {
    secrets: Vec<SecretString>,
}

impl Scrubber {
    /// A scrubber removing `secrets` (empty ones are ignored).
    pub(crate) fn new(secrets: impl IntoIterator<Item = SecretString>) -> Self {
        Self {
            secrets: secrets.into_iter().filter(|s| !s.expose_secret().is_empty()).collect(),
        }
    }

    /// `text` with every secret replaced by `***`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.secrets
            .iter()
            .fold(text.to_owned(), |acc, s| acc.replace(s.expose_secret(), "***"))
    }

    /// Classifies a driver error into a [`StoreError`], prefixing what was being done.
    pub(crate) fn store_error(&self, doing: &str, err: &sqlx::Error) -> StoreError {
        let message = self.scrub(&format!("{doing}: {}", describe(err)));
        match classify(err) {
            Class::Unavailable => StoreError::Unavailable { message },
            Class::Conflict => StoreError::Conflict { message },
            Class::Internal => StoreError::Internal { message },
        }
    }

    /// An [`OpenError::Unavailable`] for a connection failure.
    pub(crate) fn open_error(&self, url: String, err: &sqlx::Error) -> OpenError {
        OpenError::Unavailable {
            url,
            message: self.scrub(&describe(err)),
        }
    }

    /// An [`OpenError::MigrationFailed`].
    pub(crate) fn migration_error(&self, doing: &str, err: &sqlx::Error) -> OpenError {
        OpenError::MigrationFailed {
            message: self.scrub(&format!("{doing}: {}", describe(err))),
        }
    }
}

/// How a driver error is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The database is unreachable or too busy; retrying may help.
    Unavailable,
    /// A constraint or serialization conflict.
    Conflict,
    /// Anything else.
    Internal,
}

/// Decides how a driver error is reported.
pub(crate) fn classify(err: &sqlx::Error) -> Class {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Class::Unavailable,
        sqlx::Error::Database(db) => {
            use sqlx::error::ErrorKind;
            match db.kind() {
                ErrorKind::UniqueViolation
                | ErrorKind::ForeignKeyViolation
                | ErrorKind::NotNullViolation
                | ErrorKind::CheckViolation => Class::Conflict,
                _ => match (db.code(), db.try_downcast_ref::<sqlx::sqlite::SqliteError>()) {
                    (Some(code), Some(_)) => code.parse().map_or(Class::Internal, classify_sqlite_code),
                    (Some(code), None) => classify_sqlstate(&code),
                    (None, _) => Class::Internal,
                },
            }
        }
        _ => Class::Internal,
    }
}

/// Classifies a SQLite extended result code; the primary code is its low byte.
fn classify_sqlite_code(code: i32) -> Class {
    match code & 0xff {
        5 /* BUSY */ | 6 /* LOCKED */ | 10 /* IOERR */ | 13 /* FULL */ | 14 /* CANTOPEN */ => Class::Unavailable,
        19 /* CONSTRAINT */ => Class::Conflict,
        _ => Class::Internal,
    }
}

/// Classifies a PostgreSQL SQLSTATE.
fn classify_sqlstate(code: &str) -> Class {
    match code {
        // Serialization failure, deadlock.
        "40001" | "40P01" => Class::Conflict,
        // Too many connections, out of resources, operator intervention, connection exceptions.
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => Class::Unavailable,
        // Invalid authorization (wrong password, unknown role).
        c if c.starts_with("28") => Class::Unavailable,
        "3D000" /* database does not exist */ => Class::Unavailable,
        _ => Class::Internal,
    }
}

/// A one-line description of a driver error.
fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (code {code})", db.message()),
            None => db.message().to_owned(),
        },
        sqlx::Error::PoolTimedOut => "timed out waiting for a database connection".to_owned(),
        other => other.to_string(),
    }
}

/// A [`StoreError::Internal`] for a row that cannot be decoded.
pub(crate) fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Internal {
        message: format!("corrupt {what} in the history store: {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_and_postgres_connection_codes_mean_unavailable() {
        assert_eq!(classify_sqlite_code(5), Class::Unavailable);
        assert_eq!(classify_sqlite_code(517), Class::Unavailable);
        assert_eq!(classify_sqlite_code(2067), Class::Conflict);
        assert_eq!(classify_sqlite_code(1), Class::Internal);
        assert_eq!(classify_sqlstate("08006"), Class::Unavailable);
        assert_eq!(classify_sqlstate("28P01"), Class::Unavailable);
        assert_eq!(classify_sqlstate("57P01"), Class::Unavailable);
        assert_eq!(classify_sqlstate("53300"), Class::Unavailable);
        assert_eq!(classify_sqlstate("40001"), Class::Conflict);
        assert_eq!(classify_sqlstate("42P01"), Class::Internal);
    }

    #[test]
    fn scrubbing_removes_every_secret() {
        let s = Scrubber::new([SecretString::from("hunter2"), SecretString::from("")]);
        assert_eq!(
            s.scrub("auth failed for hunter2 (hunter2)"),
            "auth failed for *** (***)"
        );
        let e = s.store_error("connecting", &sqlx::Error::Protocol("bad hunter2".into()));
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        let s = Scrubber::default();
        assert!(matches!(
            s.store_error("x", &sqlx::Error::PoolTimedOut),
            StoreError::Unavailable { .. }
        ));
        assert!(matches!(
            s.store_error("x", &sqlx::Error::RowNotFound),
            StoreError::Internal { .. }
        ));
    }
}
