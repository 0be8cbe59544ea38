//! The second phase: typed, checked settings, with every problem reported.

use std::collections::BTreeSet;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use super::commit_links::{CommitLinks, CommitUrlTemplate};
use super::error::{ConfigError, Problem};
use super::raw::{ENV_PREFIX, RawConfig};
use super::settings::{AuthSettings, QueueSettings, ServerSettings, Settings, TokenSettings};
use super::triggers::TriggerConfig;

/// The top-level sections of the configuration.
pub(super) const SECTIONS: [&str; 10] = [
    "server", "auth", "queue", "executor", "git", "store", "sinks", "clusters", "triggers", "policies",
];
const MIN_TOKEN_LEN: usize = 16;

/// Deserializes `value` as the section `key`, reporting a problem with the full key path.
///
/// The service reads its own sections this way, and the adapters' sections (`git`, `store`,
/// `clusters`) are read into their crates' types with it.
///
/// # Errors
/// A [`ConfigError`] with one problem naming the key (`store.max_connections`,
/// `clusters[1].kubeconfig`).
pub fn typed<T: DeserializeOwned>(key: &str, value: toml::Value) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let path = e.path().to_string();
        let full = match path.as_str() {
            "." | "" => key.to_owned(),
            p if p.starts_with('[') => format!("{key}{p}"),
            p => format!("{key}.{p}"),
        };
        let message = e.into_inner().message().to_owned();
        let hint = if message.contains("unknown field") {
            "remove the key, or check its spelling against the documented keys"
        } else {
            "check the value's type and format"
        };
        ConfigError {
            problems: vec![Problem::new(full, message).hint(hint)],
        }
    })
}

fn section<T: DeserializeOwned + Default>(table: &toml::Table, name: &str, problems: &mut Vec<Problem>) -> T {
    let Some(value) = table.get(name).cloned() else {
        return T::default();
    };
    if !value.is_table() {
        problems.push(Problem::new(name, "must be a table").hint(format!("write it as `[{name}]`")));
        return T::default();
    }
    typed(name, value).unwrap_or_else(|e| {
        problems.extend(e.problems);
        T::default()
    })
}

fn opaque_table(table: &toml::Table, name: &str, problems: &mut Vec<Problem>) -> Option<toml::Table> {
    match table.get(name)? {
        toml::Value::Table(t) => Some(t.clone()),
        _ => {
            problems.push(Problem::new(name, "must be a table").hint(format!("write it as `[{name}]`")));
            None
        }
    }
}

fn clusters(table: &toml::Table, problems: &mut Vec<Problem>) -> Vec<toml::Table> {
    let Some(value) = table.get("clusters") else {
        return Vec::new();
    };
    let entries = value
        .as_array()
        .map(|a| a.iter().map(toml::Value::as_table).collect::<Option<Vec<_>>>());
    match entries {
        Some(Some(list)) => list.into_iter().cloned().collect(),
        _ => {
            problems.push(Problem::new("clusters", "must be a list of tables").hint(
                "write one `[[clusters]]` entry per cluster, with `region`, `cluster` and `kubeconfig` or `in_cluster`",
            ));
            Vec::new()
        }
    }
}

fn policies(table: &toml::Table, problems: &mut Vec<Problem>) -> Vec<super::policies::PolicySettings> {
    match table.get("policies") {
        None => Vec::new(),
        Some(value @ toml::Value::Array(_)) => typed("policies", value.clone()).unwrap_or_else(|e| {
            problems.extend(e.problems);
            Vec::new()
        }),
        Some(_) => {
            problems.push(Problem::new("policies", "must be a list of tables").hint(
                "write one `[[policies]]` entry per scope, with `environment` or `region` (and `cluster`) and `on_failure`",
            ));
            Vec::new()
        }
    }
}

/// Takes `commit_url` out of the `[git]` table (the rest of it is `deployer-git`'s) and links
/// commits through it, or through the page derived from `remote`.
fn commit_links(git: Option<&mut toml::Table>, problems: &mut Vec<Problem>) -> CommitLinks {
    let Some(git) = git else {
        return CommitLinks::default();
    };
    let hint = "give the page of one commit with `{sha}` where its id goes, \
                e.g. `https://git.example.com/org/config/-/commit/{sha}`";
    let configured = match git.remove("commit_url") {
        None => None,
        Some(toml::Value::String(text)) => text
            .trim()
            .parse::<CommitUrlTemplate>()
            .map_err(|e| problems.push(Problem::new("git.commit_url", e.to_string()).hint(hint)))
            .ok(),
        Some(_) => {
            problems.push(Problem::new("git.commit_url", "must be a string").hint(hint));
            None
        }
    };
    let remote = git.get("remote").and_then(toml::Value::as_str);
    CommitLinks::new(configured, remote)
}

fn check_server(s: &ServerSettings, problems: &mut Vec<Problem>) {
    if !(1024..=64 * 1024 * 1024).contains(&s.body_limit_bytes) {
        problems.push(
            Problem::new(
                "server.body_limit_bytes",
                format!("{} is out of range", s.body_limit_bytes),
            )
            .hint("use a value between 1024 and 67108864 (the default is 1048576)"),
        );
    }
    if s.max_in_flight == 0 {
        problems.push(Problem::new("server.max_in_flight", "must be at least 1"));
    }
    if s.wait_default > s.wait_max {
        problems.push(
            Problem::new("server.wait_default", "is longer than `server.wait_max`")
                .hint("make `wait_default` at most `wait_max`"),
        );
    }
    if s.sse_keep_alive.is_zero() {
        problems.push(Problem::new("server.sse_keep_alive", "must be longer than zero"));
    }
    if let Some(tls) = &s.tls
        && let Err(e) = crate::transport::tls::check(tls)
    {
        problems.push(
            Problem::new("server.tls", e.to_string())
                .hint("give a PEM certificate chain in `cert_file` and its PEM private key in `key_file`"),
        );
    }
}

fn check_queue(q: &QueueSettings, problems: &mut Vec<Problem>) {
    if !(1..=4096).contains(&q.concurrency) {
        problems.push(
            Problem::new("queue.concurrency", format!("{} is out of range", q.concurrency)).hint("use 1 to 4096"),
        );
    }
    if q.capacity < q.concurrency.max(1) {
        problems.push(
            Problem::new("queue.capacity", "is smaller than `queue.concurrency`")
                .hint("make the capacity at least the concurrency"),
        );
    }
    if q.cluster_concurrency == 0 {
        problems.push(
            Problem::new("queue.cluster_concurrency", "must be at least 1")
                .hint("use at most `queue.concurrency`; the default is 32"),
        );
    }
    if q.per_target == 0 || q.per_target > q.capacity {
        problems.push(
            Problem::new("queue.per_target", format!("{} is out of range", q.per_target))
                .hint("use at least 1 and at most `queue.capacity`"),
        );
    }
}

fn resolve_token(i: usize, t: &mut TokenSettings, raw: &RawConfig, problems: &mut Vec<Problem>) {
    let key = |k: &str| format!("auth.tokens[{i}].{k}");
    let given = [t.token.is_some(), t.token_file.is_some(), t.token_env.is_some()]
        .iter()
        .filter(|g| **g)
        .count();
    if given != 1 {
        problems.push(
            Problem::new(
                key("token"),
                format!(
                    "token `{}` must give exactly one of `token`, `token_file`, `token_env`",
                    t.name
                ),
            )
            .hint("prefer `token_file` (a mounted secret) or `token_env`"),
        );
        return;
    }
    if let Some(path) = &t.token_file {
        match std::fs::read_to_string(path) {
            Ok(text) => t.token = Some(SecretString::from(text.trim().to_owned())),
            Err(e) => {
                problems.push(
                    Problem::new(
                        key("token_file"),
                        format!("cannot read `{}`: {}", path.display(), e.kind()),
                    )
                    .hint("check that the secret is mounted and readable by the service user"),
                );
                return;
            }
        }
    }
    if let Some(var) = &t.token_env {
        match raw.env.get(var) {
            Some(v) => t.token = Some(SecretString::from(v.trim().to_owned())),
            None => {
                let mut p = Problem::new(key("token_env"), format!("variable `{var}` is not set"));
                if var.starts_with(ENV_PREFIX) {
                    p = p.hint(format!(
                        "name it outside the `{ENV_PREFIX}` prefix, which is for configuration keys"
                    ));
                }
                problems.push(p);
                return;
            }
        }
    }
    let len = t.token.as_ref().map_or(0, |s| s.expose_secret().chars().count());
    if len < MIN_TOKEN_LEN {
        problems.push(
            Problem::new(
                key("token"),
                format!("token `{}` is shorter than {MIN_TOKEN_LEN} characters", t.name),
            )
            .hint("generate one with `openssl rand -hex 32`"),
        );
    }
}

fn check_auth(auth: &mut AuthSettings, raw: &RawConfig, problems: &mut Vec<Problem>) {
    // No `[[auth.tokens]]` is fine: tokens issued with `token create` live in the store.
    let mut names = BTreeSet::new();
    for (i, t) in auth.tokens.iter_mut().enumerate() {
        let valid_name = !t.name.is_empty()
            && t.name.len() <= 64
            && t.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if !valid_name {
            problems.push(
                Problem::new(
                    format!("auth.tokens[{i}].name"),
                    format!("`{}` is not a valid token name", t.name.escape_default()),
                )
                .hint("use 1 to 64 letters, digits, `-`, `_`, `.` or `@`"),
            );
        } else if !names.insert(t.name.clone()) {
            problems.push(Problem::new(
                format!("auth.tokens[{i}].name"),
                format!("`{}` is used by another token", t.name),
            ));
        }
        resolve_token(i, t, raw, problems);
    }
}

impl Settings {
    /// Checks the collected configuration and builds the settings.
    ///
    /// # Errors
    /// [`ConfigError`] listing every problem found, each with its key path and a hint.
    pub fn from_raw(raw: &RawConfig) -> Result<Settings, ConfigError> {
        let mut problems = raw.problems.clone();
        for key in raw.table.keys() {
            if !SECTIONS.contains(&key.as_str()) {
                problems.push(Problem::new(key.as_str(), "unknown section").hint(format!(
                    "the sections are {}",
                    SECTIONS.map(|s| format!("`{s}`")).join(", ")
                )));
            }
        }
        let mut settings = Settings {
            server: section(&raw.table, "server", &mut problems),
            auth: section(&raw.table, "auth", &mut problems),
            queue: section(&raw.table, "queue", &mut problems),
            executor: section(&raw.table, "executor", &mut problems),
            git: opaque_table(&raw.table, "git", &mut problems),
            store: opaque_table(&raw.table, "store", &mut problems),
            sinks: opaque_table(&raw.table, "sinks", &mut problems),
            clusters: clusters(&raw.table, &mut problems),
            triggers: TriggerConfig::from_table(raw.table.get("triggers"), &raw.env).unwrap_or_else(|p| {
                problems.extend(p);
                TriggerConfig::default()
            }),
            policies: policies(&raw.table, &mut problems),
        };
        settings.server.commit_links = commit_links(settings.git.as_mut(), &mut problems);
        check_server(&settings.server, &mut problems);
        check_queue(&settings.queue, &mut problems);
        check_auth(&mut settings.auth, raw, &mut problems);
        super::policies::check_policies(&settings.policies, &mut problems);
        if problems.is_empty() {
            Ok(settings)
        } else {
            Err(ConfigError { problems })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    const TOKENS: &str = "[[auth.tokens]]\nname = \"ci\"\ntoken_env = \"CI_TOKEN\"\n";

    #[test]
    fn a_small_file_with_an_env_token_is_valid() {
        let raw = RawConfig::from_parts(
            &format!("[server]\nlisten = \"0.0.0.0:9000\"\n{TOKENS}"),
            env(&[("CI_TOKEN", "0123456789abcdef0123")]),
        );
        let settings = Settings::from_raw(&raw).map_err(|e| e.to_string());
        let settings = settings.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.server.listen.port(), 9000);
        assert_eq!(settings.queue.concurrency, 128);
        assert_eq!(settings.queue.cluster_concurrency, 32);
        assert_eq!(
            settings.auth.tokens[0]
                .token
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            Some("0123456789abcdef0123".to_owned())
        );
    }

    #[test]
    fn environment_variables_override_the_file_with_typed_values() {
        let raw = RawConfig::from_parts(
            &format!("[queue]\nconcurrency = 8\n{TOKENS}"),
            env(&[
                ("CI_TOKEN", "0123456789abcdef0123"),
                ("K8S_APP_DEPLOYER_QUEUE_CONCURRENCY", "16"),
                ("K8S_APP_DEPLOYER_SERVER_SHUTDOWN_GRACE", "3s"),
                ("K8S_APP_DEPLOYER_STORE_SQLITE__PATH", "/var/lib/deployer.db"),
                ("K8S_APP_DEPLOYER_CONFIG", "/etc/deployer.toml"),
            ]),
        );
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.queue.concurrency, 16);
        assert_eq!(settings.server.shutdown_grace, std::time::Duration::from_secs(3));
        let path = settings
            .store
            .as_ref()
            .and_then(|s| s.get("sqlite"))
            .and_then(|t| t.get("path"));
        assert_eq!(path.and_then(toml::Value::as_str), Some("/var/lib/deployer.db"));
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let raw = RawConfig::from_parts(
            "[server]\nlisten = \"nowhere\"\n[queue]\nconcurrency = 0\n[colour]\nx = 1\n[[auth.tokens]]\nname = \"ci\"\ntoken = \"tiny-s3cr3t\"\n[[auth.tokens]]\nname = \"ci\"\n",
            env(&[
                ("K8S_APP_DEPLOYER_SERVER_MAX_IN_FLIGHT", "0"),
                ("K8S_APP_DEPLOYER_COLOUR_X", "1"),
            ]),
        );
        let err = Settings::from_raw(&raw).err().unwrap_or_else(|| panic!("should fail"));
        let keys: Vec<&str> = err.problems.iter().map(|p| p.key.as_str()).collect();
        for expected in [
            "colour",
            "server.listen",
            "queue.concurrency",
            "auth.tokens[0].token",
            "auth.tokens[1].name",
            "K8S_APP_DEPLOYER_COLOUR_X",
            "auth.tokens[1].token",
        ] {
            assert!(keys.contains(&expected), "{expected} missing from {keys:?}");
        }
        assert!(
            err.problems.iter().all(|p| !p.message.contains("tiny-s3cr3t")),
            "secrets must not appear in messages"
        );
    }

    #[test]
    fn adapter_sections_are_read_into_their_types_with_key_paths() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Cluster {
            #[allow(dead_code)]
            region: String,
            #[allow(dead_code)]
            kubeconfig: String,
        }
        let raw = RawConfig::from_parts(
            &format!(
                "[executor]\nretries = 2\n[[clusters]]\nregion = \"r\"\nkubeconfig = \"k\"\n[[clusters]]\nregion = \"r\"\nkubecfg = \"k\"\n{TOKENS}"
            ),
            env(&[("CI_TOKEN", "0123456789abcdef0123")]),
        );
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.executor.retries, 2);
        let list = toml::Value::Array(settings.clusters.into_iter().map(toml::Value::Table).collect());
        let err = typed::<Vec<Cluster>>("clusters", list)
            .err()
            .unwrap_or_else(|| panic!("should fail"));
        assert_eq!(err.problems[0].key, "clusters[1].kubecfg");
    }

    #[test]
    fn a_commit_url_in_git_is_checked_and_taken_out_of_the_git_table() {
        let raw = RawConfig::from_parts(
            "[git]\nremote = \"git@github.com:acme/config.git\"\ncommit_url = \"https://git.example.com/acme/config/-/commit/{sha}\"\n",
            env(&[]),
        );
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            settings.server.commit_links.url("abcd1234"),
            Some("https://git.example.com/acme/config/-/commit/abcd1234".to_owned())
        );
        let git = settings.git.unwrap_or_default();
        assert!(
            !git.contains_key("commit_url") && git.contains_key("remote"),
            "`deployer-git` gets the rest of `[git]`: {git:?}"
        );
    }

    #[test]
    fn without_a_commit_url_links_are_derived_from_a_well_known_remote() {
        let raw = RawConfig::from_parts("[git]\nremote = \"https://gitlab.com/acme/config.git\"\n", env(&[]));
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            settings.server.commit_links.url("abcd1234"),
            Some("https://gitlab.com/acme/config/-/commit/abcd1234".to_owned())
        );
        let local = RawConfig::from_parts("[git]\nremote = \"/srv/git/config.git\"\n", env(&[]));
        let settings = Settings::from_raw(&local)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(settings.server.commit_links.url("abcd1234"), None);
    }

    #[test]
    fn a_commit_url_that_is_not_http_or_lacks_the_sha_is_reported_with_a_hint() {
        for (value, expected) in [
            ("\"ftp://git.example.com/c/{sha}\"", "http:// or https://"),
            ("\"https://git.example.com/acme/config/commit/\"", "{sha}"),
            ("42", "must be a string"),
        ] {
            let raw = RawConfig::from_parts(
                &format!("[git]\nremote = \"/srv/git/config.git\"\ncommit_url = {value}\n"),
                env(&[]),
            );
            let err = Settings::from_raw(&raw)
                .err()
                .unwrap_or_else(|| panic!("{value} should be refused"));
            let problem = err
                .problems
                .iter()
                .find(|p| p.key == "git.commit_url")
                .unwrap_or_else(|| panic!("no problem for `git.commit_url`: {err}"));
            assert!(problem.message.contains(expected), "{value}: {}", problem.message);
            assert!(problem.hint.as_deref().is_some_and(|h| h.contains("{sha}")));
        }
    }

    #[test]
    fn the_commit_url_can_come_from_the_environment() {
        let raw = RawConfig::from_parts(
            "[git]\nremote = \"/srv/git/config.git\"\n",
            env(&[("K8S_APP_DEPLOYER_GIT_COMMIT_URL", "https://git.example.com/c/{sha}")]),
        );
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            settings.server.commit_links.url("abcd1234"),
            Some("https://git.example.com/c/abcd1234".to_owned())
        );
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let raw = RawConfig::from_parts(
            "[[auth.tokens]]\nname = \"ci\"\ntoken = \"0123456789abcdef-very-secret\"\n",
            env(&[]),
        );
        let settings = Settings::from_raw(&raw)
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(!format!("{settings:?}").contains("very-secret"));
        assert!(!format!("{raw:?}").contains("very-secret"));
    }
}
