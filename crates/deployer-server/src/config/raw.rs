//! The first phase: what the file and the environment say, unchecked.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::{ConfigError, Problem};

/// The prefix of the variables that override configuration keys.
pub const ENV_PREFIX: &str = "K8S_APP_DEPLOYER_";

/// The configuration as collected, before validation.
#[derive(Clone, Default)]
pub struct RawConfig {
    /// The merged table: file first, then the environment overrides.
    pub(super) table: toml::Table,
    /// The environment as it was at start-up, for `token_env`.
    pub(super) env: BTreeMap<String, String>,
    /// Problems met while collecting (unreadable file, malformed variable).
    pub(super) problems: Vec<Problem>,
    /// Where the file was read from, for messages.
    pub(super) origin: Option<PathBuf>,
}

impl std::fmt::Debug for RawConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The environment may hold secrets: only its size is shown.
        f.debug_struct("RawConfig")
            .field("table_keys", &self.table.keys().collect::<Vec<_>>())
            .field("env_vars", &self.env.len())
            .field("origin", &self.origin)
            .finish()
    }
}

impl RawConfig {
    /// Collects from TOML text and an environment.
    pub fn from_parts(toml_text: &str, env: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut raw = RawConfig {
            env: env.into_iter().collect(),
            ..RawConfig::default()
        };
        match toml_text.parse::<toml::Table>() {
            Ok(table) => raw.table = table,
            Err(e) => raw.problems.push(
                Problem::new("(file)", format!("the file is not valid TOML: {}", e.message()))
                    .hint(format!("check the syntax near {}", span_text(toml_text, e.span()))),
            ),
        }
        raw.apply_env();
        raw
    }

    /// Collects from a file (when given) and the process environment.
    ///
    /// # Errors
    /// [`ConfigError`] when the file cannot be read.
    pub fn collect(path: Option<&Path>) -> Result<Self, ConfigError> {
        let text = match path {
            Some(p) => std::fs::read_to_string(p).map_err(|e| ConfigError {
                problems: vec![
                    Problem::new("(file)", format!("cannot read `{}`: {e}", p.display()))
                        .hint("pass an existing file, or none to use the defaults and the environment"),
                ],
            })?,
            None => String::new(),
        };
        // Variables that are not UTF-8 cannot be configuration; they are skipped.
        let env = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let mut raw = Self::from_parts(&text, env);
        raw.origin = path.map(Path::to_path_buf);
        Ok(raw)
    }

    fn apply_env(&mut self) {
        let overrides: Vec<(String, String)> = self
            .env
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(ENV_PREFIX).map(|rest| (rest.to_owned(), v.clone())))
            .collect();
        for (name, value) in overrides {
            // `K8S_APP_DEPLOYER_CONFIG` and other one-word names belong to the binary.
            let Some((section, key)) = name.split_once('_') else {
                continue;
            };
            let section = section.to_ascii_lowercase();
            if !super::load::SECTIONS.contains(&section.as_str()) {
                self.problems.push(
                    Problem::new(
                        format!("{ENV_PREFIX}{name}"),
                        format!("names the unknown section `{section}`"),
                    )
                    .hint(format!(
                        "the sections are {}; one-word names such as `{ENV_PREFIX}CONFIG` are left to the binary",
                        super::load::SECTIONS.map(|s| format!("`{s}`")).join(", ")
                    )),
                );
                continue;
            }
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            if path.iter().any(String::is_empty) {
                self.problems.push(
                    Problem::new(format!("{ENV_PREFIX}{name}"), "the variable names an empty key")
                        .hint("write `K8S_APP_DEPLOYER_<SECTION>_<KEY>`, with `__` between nested keys"),
                );
                continue;
            }
            let mut segments = vec![section];
            segments.extend(path);
            let ok = insert_at(&mut self.table, &segments, env_value(&value));
            if !ok {
                self.problems.push(Problem::new(
                    format!("{ENV_PREFIX}{name}"),
                    "the variable sets a key below a value that is not a table",
                ));
            }
        }
    }
}

/// Sets `path` in `table`, creating tables on the way; `false` when a value is in the way.
fn insert_at(table: &mut toml::Table, path: &[String], value: toml::Value) -> bool {
    match path {
        [] => false,
        [last] => {
            table.insert(last.clone(), value);
            true
        }
        [first, rest @ ..] => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(inner) => insert_at(inner, rest, value),
            _ => false,
        },
    }
}

/// A variable's value as TOML: numbers, booleans and arrays as such, anything else as text
/// (quote it, as in `'"123"'`, to force text).
fn env_value(text: &str) -> toml::Value {
    let parsed = format!("v = {text}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"));
    match parsed {
        Some(
            v @ (toml::Value::Integer(_) | toml::Value::Boolean(_) | toml::Value::Float(_) | toml::Value::Array(_)),
        ) => v,
        Some(toml::Value::String(s)) if text.trim_start().starts_with(['"', '\'']) => toml::Value::String(s),
        _ => toml::Value::String(text.to_owned()),
    }
}

fn span_text(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return "the reported position".to_owned();
    };
    let line = text
        .get(..span.start)
        .map_or(1, |before| before.matches('\n').count() + 1);
    format!("line {line}")
}
