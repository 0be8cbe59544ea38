//! The `[store]` section of the configuration: which database, and how to reach it.
//!
//! The URL may carry a password, so it is kept as a secret and only ever shown redacted. A
//! PostgreSQL password can also come from a file (a mounted Kubernetes secret) or an
//! environment variable; it is read once, when the store is opened.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// Settings of the history store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// Where the database is: `sqlite:///var/lib/deployer/deployer.db`, `sqlite::memory:` or
    /// `postgres://deployer@db.internal:5432/deployer`.
    pub url: DatabaseUrl,
    /// A file holding the PostgreSQL password (a trailing newline is dropped).
    pub password_file: Option<PathBuf>,
    /// An environment variable holding the PostgreSQL password.
    pub password_env: Option<String>,
    /// The PostgreSQL schema to keep the tables in; created when missing. The server's
    /// `search_path` is used when unset.
    pub schema: Option<String>,
    /// The most connections the pool opens. With SQLite this is the number of readers; writes
    /// always go through one connection.
    pub max_connections: u32,
    /// How long to wait for a connection from the pool, or for SQLite's write lock.
    #[serde(deserialize_with = "humantime_duration")]
    pub busy_timeout: Duration,
    /// How long a claimed outbox entry stays invisible to other claims: a worker that dies
    /// while delivering leaves the entry due again after this long.
    #[serde(deserialize_with = "humantime_duration")]
    pub outbox_lease: Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            url: DatabaseUrl::sqlite_file("deployer.db"),
            password_file: None,
            password_env: None,
            schema: None,
            max_connections: 8,
            busy_timeout: Duration::from_secs(5),
            outbox_lease: Duration::from_secs(300),
        }
    }
}

impl StoreSettings {
    /// Settings for the database at `url`, everything else at its default.
    pub fn with_url(url: DatabaseUrl) -> Self {
        Self { url, ..Self::default() }
    }
}

/// Which database engine a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, in a file or in memory.
    Sqlite,
    /// PostgreSQL 15 or newer.
    Postgres,
}

impl Backend {
    /// The name used in messages (`sqlite`, `postgres`).
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL whose scheme was checked. It is secret because it may hold a password:
/// [`DatabaseUrl::redacted`] is what messages show.
#[derive(Clone)]
pub struct DatabaseUrl {
    backend: Backend,
    url: SecretString,
}

/// A URL that names no database this store supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported database URL `{shown}`: use `sqlite:///path/to/deployer.db`, `sqlite::memory:` or `postgres://user@host:5432/database`"
)]
pub struct InvalidUrl {
    /// The URL with any password removed.
    pub shown: String,
}

impl DatabaseUrl {
    /// Checks the scheme of `url`.
    ///
    /// # Errors
    /// [`InvalidUrl`] unless it starts with `sqlite:`, `postgres://` or `postgresql://`.
    pub fn parse(url: &str) -> Result<Self, InvalidUrl> {
        let backend = if url.starts_with("sqlite:") && url.len() > "sqlite:".len() {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(InvalidUrl { shown: redact_url(url) });
        };
        Ok(Self {
            backend,
            url: SecretString::from(url),
        })
    }

    /// A SQLite database in the file at `path`, created when missing.
    pub fn sqlite_file(path: impl AsRef<std::path::Path>) -> Self {
        // The driver percent-decodes the path and cuts it at `?` and `#`.
        let path = path
            .as_ref()
            .display()
            .to_string()
            .replace('%', "%25")
            .replace('?', "%3F")
            .replace('#', "%23");
        Self {
            backend: Backend::Sqlite,
            url: SecretString::from(format!("sqlite://{path}")),
        }
    }

    /// A private in-memory SQLite database, gone when the store is dropped.
    pub fn sqlite_memory() -> Self {
        Self {
            backend: Backend::Sqlite,
            url: SecretString::from("sqlite::memory:"),
        }
    }

    /// The engine the URL names.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL with any password replaced by `***`, safe to log.
    pub fn redacted(&self) -> String {
        redact_url(self.url.expose_secret())
    }

    /// The URL as given, password included. Only the backends call this, to connect.
    pub(crate) fn expose(&self) -> &str {
        self.url.expose_secret()
    }

    /// The password written in the URL itself, if any.
    pub(crate) fn inline_password(&self) -> Option<&str> {
        let (_, password) = split_password(self.url.expose_secret())?;
        Some(password)
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = SecretString::deserialize(d)?;
        DatabaseUrl::parse(s.expose_secret()).map_err(serde::de::Error::custom)
    }
}

/// Finds the password of `scheme://user:password@host/...`: the byte offset where it starts
/// and the password itself.
fn split_password(url: &str) -> Option<(usize, &str)> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let at = authority.rfind('@')?;
    let userinfo = &authority[..at];
    let colon = userinfo.find(':')?;
    Some((authority_start + colon + 1, &userinfo[colon + 1..]))
}

/// `url` with the password of its user info, and any `password=` query parameter, replaced
/// by `***`.
pub(crate) fn redact_url(url: &str) -> String {
    let mut out = match split_password(url) {
        Some((start, password)) => format!("{}***{}", &url[..start], &url[start + password.len()..]),
        None => url.to_owned(),
    };
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

/// Deserialises a humantime duration (`"5s"`, `"1m 30s"`).
fn humantime_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    humantime::parse_duration(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            redact_url("postgres://app:s3cr3t@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(
            redact_url("postgres://app@db/x?password=s3cr3t&sslmode=require"),
            "postgres://app@db/x?password=***&sslmode=require"
        );
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("sqlite:///var/lib/d.db"), "sqlite:///var/lib/d.db");
    }

    #[test]
    fn debug_output_of_a_url_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cr3t@db/x").unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{url:?}").contains("s3cr3t"));
        assert_eq!(url.inline_password(), Some("s3cr3t"));
        assert_eq!(url.backend(), Backend::Postgres);
    }

    #[test]
    fn unknown_schemes_are_refused_with_the_supported_ones_named() {
        let err = DatabaseUrl::parse("mysql://root:pw@db/x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("mysql://root:***@db/x"), "{err}");
        assert!(err.contains("sqlite::memory:"), "{err}");
        assert!(DatabaseUrl::parse("sqlite:").is_err());
    }

    #[test]
    fn settings_deserialize_with_defaults_and_refuse_unknown_keys() {
        let s: StoreSettings =
            serde_json::from_str(r#"{"url":"sqlite::memory:","busy_timeout":"2s"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.busy_timeout, Duration::from_secs(2));
        assert_eq!(s.max_connections, 8);
        assert_eq!(s.url.backend(), Backend::Sqlite);
        let bad: Result<StoreSettings, _> = serde_json::from_str(r#"{"url":"sqlite::memory:","pasword_file":"x"}"#);
        assert!(bad.is_err());
    }
}
