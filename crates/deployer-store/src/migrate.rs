//! Schema migrations: versioned SQL files per backend, applied in order.
//!
//! The files live in `migrations/<backend>/NNNN_name.sql` and are compiled in. Every backend
//! applies the pending ones inside one transaction and records each in `schema_migrations`;
//! which ones are pending is decided here, by `plan`, from what the database recorded.

use crate::error::OpenError;

/// One migration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its version, the `NNNN` of the file name.
    pub version: i64,
    /// Its name, the rest of the file name without `.sql`.
    pub name: &'static str,
    /// The SQL to run.
    pub sql: &'static str,
}

/// The SQLite migrations, in order.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "access_and_triggers",
        sql: include_str!("../migrations/sqlite/0002_access_and_triggers.sql"),
    },
];

/// The PostgreSQL migrations, in order.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "access_and_triggers",
        sql: include_str!("../migrations/postgres/0002_access_and_triggers.sql"),
    },
];

/// A migration recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    /// Its version.
    pub version: i64,
    /// Its recorded name.
    pub name: String,
}

/// Which of `known` still have to run, given what the database recorded.
///
/// # Errors
/// [`OpenError::SchemaTooNew`] when the database has a version this build does not know, and
/// [`OpenError::SchemaMismatch`] when a recorded version carries another name.
pub(crate) fn plan<'a>(known: &'a [Migration], applied: &[Applied]) -> Result<Vec<&'a Migration>, OpenError> {
    let latest = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(found) = applied.iter().map(|a| a.version).max().filter(|v| *v > latest) {
        return Err(OpenError::SchemaTooNew { found, known: latest });
    }
    for a in applied {
        if let Some(m) = known
            .iter()
            .find(|m| m.version == a.version)
            .filter(|m| m.name != a.name)
        {
            return Err(OpenError::SchemaMismatch {
                version: a.version,
                recorded: a.name.clone(),
                shipped: m.name.to_owned(),
            });
        }
    }
    Ok(known
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(version: i64, name: &str) -> Applied {
        Applied {
            version,
            name: name.to_owned(),
        }
    }

    const KNOWN: &[Migration] = &[
        Migration {
            version: 1,
            name: "initial",
            sql: "",
        },
        Migration {
            version: 2,
            name: "more",
            sql: "",
        },
    ];

    #[test]
    fn a_fresh_database_gets_every_migration_in_order() {
        let p = plan(KNOWN, &[]).unwrap_or_default();
        assert_eq!(p.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn applied_migrations_are_skipped() {
        let p = plan(KNOWN, &[applied(1, "initial")]).unwrap_or_default();
        assert_eq!(p.iter().map(|m| m.version).collect::<Vec<_>>(), [2]);
        assert!(plan(KNOWN, &[applied(1, "initial"), applied(2, "more")]).is_ok_and(|p| p.is_empty()));
    }

    #[test]
    fn a_newer_schema_is_refused() {
        assert_eq!(
            plan(KNOWN, &[applied(1, "initial"), applied(3, "future")]),
            Err(OpenError::SchemaTooNew { found: 3, known: 2 })
        );
    }

    #[test]
    fn a_renamed_migration_is_refused() {
        assert!(matches!(
            plan(KNOWN, &[applied(1, "other")]),
            Err(OpenError::SchemaMismatch { version: 1, .. })
        ));
    }

    /// The compiled-in lists must match the files on disk, in order, with no gaps.
    #[test]
    fn compiled_in_migrations_match_the_files() {
        for (dir, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
                .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let expected: Vec<String> = list
                .iter()
                .map(|m| format!("{:04}_{}.sql", m.version, m.name))
                .collect();
            assert_eq!(
                files,
                expected,
                "migrations/{dir} and migrate::{} differ",
                dir.to_uppercase()
            );
            for (i, m) in list.iter().enumerate() {
                assert_eq!(
                    m.version,
                    i64::try_from(i + 1).unwrap_or_default(),
                    "versions must be 1, 2, 3, …"
                );
                let on_disk = std::fs::read_to_string(path.join(&expected[i])).unwrap_or_default();
                assert_eq!(on_disk, m.sql);
            }
        }
    }
}
