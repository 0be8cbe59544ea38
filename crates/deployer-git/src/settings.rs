//! The `[git]` settings section: where the configuration repository lives and how to reach it.
//!
//! Settings are read without side effects; [`GitSettings::validate`] reports every problem at
//! once, and secrets (an HTTPS token from the settings, a file or an environment variable) are
//! resolved once, when the repository is opened.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

/// The configuration repository section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitSettings {
    /// The remote: a local path, `file:///path`, `ssh://user@host[:port]/path`, the scp-like
    /// `user@host:path`, or `https://host/path`. Credentials never go in the URL: use `auth`.
    pub remote: RemoteUrl,
    /// The branch commits are pushed to (default `main`).
    #[serde(default)]
    pub branch: BranchName,
    /// The local bare clone: created when missing or empty, reused (and fetched) otherwise.
    pub clone_dir: PathBuf,
    /// The author and committer name of every commit (default `k8s-app-deployer`).
    #[serde(default = "default_author_name")]
    pub author_name: String,
    /// The author and committer email of every commit (default `k8s-app-deployer@localhost`).
    #[serde(default = "default_author_email")]
    pub author_email: String,
    /// How to authenticate to the remote (default: no credentials of our own).
    #[serde(default)]
    pub auth: GitAuth,
    /// How many times a push is attempted while the remote branch keeps moving (default 8).
    #[serde(default = "default_push_retries")]
    pub push_retries: u32,
    /// The deadline of each network operation (fetch or push), as humantime text such as
    /// `60s` (default 60 seconds).
    #[serde(default = "default_timeout", deserialize_with = "deserialize_duration")]
    pub timeout: Duration,
    /// The most queued commits sent in one push, each still its own commit (default 64).
    #[serde(default = "default_max_commits_per_push")]
    pub max_commits_per_push: usize,
}

impl GitSettings {
    /// Settings for `remote` and `clone_dir`, with every other field at its default.
    pub fn new(remote: RemoteUrl, clone_dir: impl Into<PathBuf>) -> Self {
        GitSettings {
            remote,
            branch: BranchName::default(),
            clone_dir: clone_dir.into(),
            author_name: default_author_name(),
            author_email: default_author_email(),
            auth: GitAuth::None,
            push_retries: default_push_retries(),
            timeout: default_timeout(),
            max_commits_per_push: default_max_commits_per_push(),
        }
    }

    /// Checks the settings as a whole.
    ///
    /// # Errors
    /// [`SettingsError::Invalid`] listing every problem with its key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut problems = Vec::new();
        if self.author_name.trim().is_empty() || has_control(&self.author_name) {
            problems.push("`author_name` must be a non-empty single line".to_owned());
        }
        if self.author_email.trim().is_empty()
            || has_control(&self.author_email)
            || self.author_email.contains(['<', '>'])
        {
            problems.push("`author_email` must be a non-empty single line without `<` or `>`".to_owned());
        }
        if self.push_retries == 0 {
            problems.push("`push_retries` must be at least 1".to_owned());
        }
        if self.timeout.is_zero() {
            problems.push("`timeout` must be more than zero".to_owned());
        }
        if self.max_commits_per_push == 0 {
            problems.push("`max_commits_per_push` must be at least 1".to_owned());
        }
        if self.clone_dir.as_os_str().is_empty() {
            problems.push("`clone_dir` must be set".to_owned());
        }
        let kind = self.remote.kind();
        match &self.auth {
            GitAuth::None => {}
            GitAuth::Ssh(ssh) => {
                if !matches!(kind, RemoteKind::Ssh | RemoteKind::ScpLike) {
                    problems.push(format!(
                        "`auth.type = \"ssh\"` needs an ssh remote, but `remote` is a {kind} remote"
                    ));
                }
                for (key, path) in [
                    ("private_key_file", &ssh.private_key_file),
                    ("known_hosts_file", &ssh.known_hosts_file),
                ] {
                    if let Some(path) = path
                        && path.to_str().is_none_or(|p| p.is_empty() || has_control(p))
                    {
                        problems.push(format!("`auth.{key}` must be a non-empty UTF-8 path on one line"));
                    }
                }
            }
            GitAuth::HttpsToken(https) => {
                if kind != RemoteKind::Https {
                    problems.push(format!(
                        "`auth.type = \"https_token\"` needs an https remote, but `remote` is a {kind} remote"
                    ));
                }
                if https.username.is_empty() || has_control(&https.username) || https.username.contains(':') {
                    problems.push("`auth.username` must be a non-empty single line without `:`".to_owned());
                }
                let sources = [
                    https.token.is_some(),
                    https.token_file.is_some(),
                    https.token_env.is_some(),
                ];
                if sources.iter().filter(|s| **s).count() != 1 {
                    problems.push(
                        "exactly one of `auth.token`, `auth.token_file` and `auth.token_env` must be set".to_owned(),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Invalid { problems })
        }
    }
}

/// How to authenticate to the remote.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GitAuth {
    /// No credentials of our own (local remotes, or the ambient ssh agent and config).
    #[default]
    None,
    /// SSH with a key file and a known-hosts file; host keys are always checked.
    Ssh(SshAuth),
    /// HTTPS basic authentication with a token as the password.
    HttpsToken(HttpsTokenAuth),
}

/// SSH authentication.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshAuth {
    /// The private key; when set, only this key is offered. Without it, the ssh agent and the
    /// user's default keys are used.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// The known-hosts file the remote's host key must be in (default: the user's).
    #[serde(default)]
    pub known_hosts_file: Option<PathBuf>,
    /// Accept and remember the host key of a host never seen before (a changed key is still
    /// refused). Off by default: host keys must be provisioned.
    #[serde(default)]
    pub accept_new_host_keys: bool,
}

/// HTTPS token authentication. Exactly one of `token`, `token_file` and `token_env` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpsTokenAuth {
    /// The user name sent with the token (`x-access-token` on GitHub, `oauth2` on GitLab).
    pub username: String,
    /// The token itself.
    #[serde(default)]
    pub token: Option<SecretString>,
    /// A file holding the token (surrounding whitespace is ignored).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token, read once when the repository is opened.
    #[serde(default)]
    pub token_env: Option<String>,
}

/// A settings problem.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// One or more fields are invalid.
    #[error("invalid git settings: {}", problems.join("; "))]
    Invalid {
        /// Every problem found, naming its key.
        problems: Vec<String>,
    },
    /// The token file could not be read.
    #[error("failed to read the token file `{}`", path.display())]
    TokenFileUnreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token variable is not set (or empty).
    #[error("environment variable `{name}` named by `auth.token_env` is not set")]
    TokenEnvMissing {
        /// The variable.
        name: String,
    },
}

impl SettingsError {
    /// A stable label for metrics and failure codes.
    pub fn kind(&self) -> &'static str {
        match self {
            SettingsError::Invalid { .. } => "invalid_settings",
            SettingsError::TokenFileUnreadable { .. } => "token_file_unreadable",
            SettingsError::TokenEnvMissing { .. } => "token_env_missing",
        }
    }
}

/// The kind of a remote URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteKind {
    /// A path on this machine.
    Local,
    /// `file://`.
    File,
    /// `ssh://`.
    Ssh,
    /// `user@host:path`.
    ScpLike,
    /// `https://`.
    Https,
}

impl fmt::Display for RemoteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemoteKind::Local => "local path",
            RemoteKind::File => "file://",
            RemoteKind::Ssh => "ssh://",
            RemoteKind::ScpLike => "scp-like ssh",
            RemoteKind::Https => "https://",
        })
    }
}

/// A remote URL git is allowed to use, without credentials in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteUrl {
    text: String,
    kind: RemoteKind,
}

impl RemoteUrl {
    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Its kind.
    pub fn kind(&self) -> RemoteKind {
        self.kind
    }
}

/// Why a remote URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid remote `{shown}`: {reason}")]
pub struct InvalidRemote {
    shown: String,
    reason: &'static str,
}

impl std::str::FromStr for RemoteUrl {
    type Err = InvalidRemote;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fail = |reason| {
            Err(InvalidRemote {
                shown: crate::scrub::scrub_url_credentials(text),
                reason,
            })
        };
        if text.is_empty() {
            return fail("it is empty");
        }
        if has_control(text) {
            return fail("it contains control characters");
        }
        if text.starts_with('-') {
            return fail("it starts with `-`");
        }
        let kind = if let Some(rest) = text.strip_prefix("https://") {
            let authority = rest.split('/').next().unwrap_or_default();
            if authority.contains('@') {
                return fail("credentials do not belong in the URL; use `auth.type = \"https_token\"`");
            }
            if authority.is_empty() {
                return fail("it names no host");
            }
            RemoteKind::Https
        } else if let Some(rest) = text.strip_prefix("ssh://") {
            if rest.split('/').next().unwrap_or_default().is_empty() {
                return fail("it names no host");
            }
            RemoteKind::Ssh
        } else if text.starts_with("file://") {
            RemoteKind::File
        } else if text.contains("://") {
            return fail(
                "only local paths, `file://`, `ssh://`, scp-like `user@host:path` and `https://` are supported",
            );
        } else {
            match text.find(':') {
                // git's rule: a colon before any slash makes it `host:path`.
                Some(colon) if !text[..colon].contains('/') => {
                    if text.contains("::") || colon == 0 {
                        return fail("remote helpers (`transport::address`) are not supported");
                    }
                    RemoteKind::ScpLike
                }
                _ => RemoteKind::Local,
            }
        };
        Ok(RemoteUrl {
            text: text.to_owned(),
            kind,
        })
    }
}

impl TryFrom<String> for RemoteUrl {
    type Error = InvalidRemote;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl<'de> Deserialize<'de> for RemoteUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for RemoteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A branch name git accepts (`git check-ref-format --branch` rules).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchName(String);

impl BranchName {
    /// The name (`main`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for BranchName {
    fn default() -> Self {
        BranchName("main".to_owned())
    }
}

/// Why a branch name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid branch name `{0}`")]
pub struct InvalidBranch(String);

impl std::str::FromStr for BranchName {
    type Err = InvalidBranch;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad_char =
            |c: char| c.is_control() || c.is_whitespace() || matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\');
        let valid = !name.is_empty()
            && name != "@"
            && !name.starts_with(['-', '/'])
            && !name.ends_with(['/', '.'])
            && !name.ends_with(".lock")
            && !name.contains("..")
            && !name.contains("//")
            && !name.contains("@{")
            && !name.chars().any(bad_char)
            && name.split('/').all(|c| !c.starts_with('.'));
        if valid {
            Ok(BranchName(name.to_owned()))
        } else {
            Err(InvalidBranch(name.chars().take(100).collect()))
        }
    }
}

impl<'de> Deserialize<'de> for BranchName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

fn default_author_name() -> String {
    "k8s-app-deployer".to_owned()
}

fn default_author_email() -> String {
    "k8s-app-deployer@localhost".to_owned()
}

fn default_push_retries() -> u32 {
    8
}

fn default_timeout() -> Duration {
    Duration::from_secs(60)
}

fn default_max_commits_per_push() -> usize {
    64
}

fn deserialize_duration<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(deserializer)?;
    humantime::parse_duration(&text).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(text: &str) -> Result<RemoteKind, InvalidRemote> {
        text.parse::<RemoteUrl>().map(|r| r.kind())
    }

    #[test]
    fn remote_kinds_are_recognised() {
        assert_eq!(remote("/srv/config.git"), Ok(RemoteKind::Local));
        assert_eq!(remote("relative/dir"), Ok(RemoteKind::Local));
        assert_eq!(remote("file:///srv/config.git"), Ok(RemoteKind::File));
        assert_eq!(remote("ssh://git@example.com:2222/org/config.git"), Ok(RemoteKind::Ssh));
        assert_eq!(remote("git@example.com:org/config.git"), Ok(RemoteKind::ScpLike));
        assert_eq!(remote("https://example.com/org/config.git"), Ok(RemoteKind::Https));
    }

    #[test]
    fn unsafe_or_credential_bearing_remotes_are_refused() {
        for bad in [
            "",
            "-uexploit",
            "ext::sh -c touch% /tmp/x",
            "http://example.com/x.git",
            "git://example.com/x",
        ] {
            assert!(remote(bad).is_err(), "{bad} was accepted");
        }
        let err = remote("https://user:hunter2@example.com/x.git")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("credentials"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn branch_names_follow_git_rules() {
        for good in ["main", "release/2024", "env-prod"] {
            assert!(good.parse::<BranchName>().is_ok(), "{good}");
        }
        for bad in ["", "-x", "a..b", "a b", "x.lock", "a:b", ".hidden", "a/", "@", "a@{1}"] {
            assert!(bad.parse::<BranchName>().is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_deserialise_with_defaults_and_reject_unknown_keys() -> Result<(), serde_json::Error> {
        let s: GitSettings = serde_json::from_str(r#"{"remote": "/srv/c.git", "clone_dir": "/var/lib/d/c"}"#)?;
        assert_eq!(s.branch.as_str(), "main");
        assert_eq!(s.push_retries, 8);
        assert_eq!(s.timeout, Duration::from_secs(60));
        assert!(matches!(s.auth, GitAuth::None));
        assert!(s.validate().is_ok());
        let unknown = serde_json::from_str::<GitSettings>(r#"{"remote": "/r", "clone_dir": "/c", "colour": 1}"#);
        assert!(unknown.is_err());
        let unknown_auth = serde_json::from_str::<GitSettings>(
            r#"{"remote": "ssh://h/r", "clone_dir": "/c", "auth": {"type": "ssh", "password": "x"}}"#,
        );
        assert!(unknown_auth.is_err());
        Ok(())
    }

    #[test]
    fn auth_must_match_the_remote_and_name_one_token_source() -> Result<(), serde_json::Error> {
        let s: GitSettings = serde_json::from_str(
            r#"{"remote": "/srv/c.git", "clone_dir": "/c", "timeout": "5s",
                "auth": {"type": "https_token", "username": "x", "token": "t", "token_env": "T"}}"#,
        )?;
        assert_eq!(s.timeout, Duration::from_secs(5));
        let problems = match s.validate() {
            Err(SettingsError::Invalid { problems }) => problems,
            other => panic!("expected problems, got {other:?}"),
        };
        assert_eq!(problems.len(), 2, "{problems:?}");
        let debug = format!("{s:?}");
        assert!(!debug.contains("\"t\""), "the token shows in {debug}");
        Ok(())
    }
}
