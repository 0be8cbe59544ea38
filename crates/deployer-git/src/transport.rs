//! Fetch and push through the `git` program, with a deadline, fixed environment and no secret
//! in any argument or message.
//!
//! Arguments are passed as a list (never through a shell). SSH options go in
//! `GIT_SSH_COMMAND`; an HTTPS token reaches git through a credential helper defined in
//! `GIT_CONFIG_*` variables that reads it from the child's environment, so it is never in argv,
//! in the URL or in a file. Every message taken from git's output is scrubbed.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use crate::scrub::scrub;
use crate::settings::{BranchName, GitAuth, GitSettings, RemoteUrl, SettingsError};

/// The environment variable holding the token for the credential helper.
const TOKEN_VAR: &str = "DEPLOYER_GIT_TOKEN";
/// The environment variable holding the user name for the credential helper.
const USER_VAR: &str = "DEPLOYER_GIT_USERNAME";
/// A credential helper that answers `get` from the two variables above.
const CREDENTIAL_HELPER: &str = "!f() { if test \"$1\" = get; then printf 'username=%s\\npassword=%s\\n' \"$DEPLOYER_GIT_USERNAME\" \"$DEPLOYER_GIT_TOKEN\"; fi; }; f";
/// Variables from the caller's environment that would point git somewhere else.
const INHERITED_VARS_REMOVED: &[&str] = &[
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
];

/// A fetch or push failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// `git` could not be started.
    #[error("failed to start `git {op}`: {message}")]
    Spawn {
        /// The subcommand.
        op: &'static str,
        /// The OS error.
        message: String,
    },
    /// The operation passed its deadline and was stopped.
    #[error("`git {op}` did not finish within {}", humantime::format_duration(*.timeout))]
    TimedOut {
        /// The subcommand.
        op: &'static str,
        /// The deadline.
        timeout: Duration,
    },
    /// git reported a failure (its message, scrubbed).
    #[error("`git {op}` failed: {message}")]
    Failed {
        /// The subcommand.
        op: &'static str,
        /// git's last lines of error output.
        message: String,
    },
}

impl TransportError {
    /// A stable label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            TransportError::Spawn { .. } => "git_spawn_failed",
            TransportError::TimedOut { .. } => "git_timed_out",
            TransportError::Failed { .. } => "git_failed",
        }
    }

    /// Whether a quick retry may help (a timeout already took the whole budget).
    pub fn quick_retry_may_help(&self) -> bool {
        matches!(self, TransportError::Failed { .. })
    }
}

/// What the remote said to a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushReply {
    /// The branch now points at the pushed commit.
    Accepted,
    /// The branch moved since we read it (non-fast-forward, or a lost race for the ref lock).
    Stale {
        /// git's summary.
        detail: String,
    },
    /// The remote refused the update for another reason (a hook, a protected branch).
    Refused {
        /// git's summary (scrubbed).
        detail: String,
    },
}

/// Credentials resolved from the settings, once.
enum Credentials {
    None,
    Ssh { command: String },
    Token { username: String, token: SecretString },
}

/// Runs `git fetch` and `git push` for one bare clone.
pub struct GitCli {
    git_dir: PathBuf,
    remote: RemoteUrl,
    branch: BranchName,
    timeout: Duration,
    credentials: Credentials,
}

impl GitCli {
    /// Resolves the credentials of `settings` (reading a token file or variable now).
    ///
    /// # Errors
    /// [`SettingsError`] when the token cannot be read.
    pub fn new(settings: &GitSettings) -> Result<Self, SettingsError> {
        let credentials = match &settings.auth {
            GitAuth::None => Credentials::None,
            GitAuth::Ssh(ssh) => Credentials::Ssh {
                command: ssh_command(ssh, settings.timeout),
            },
            GitAuth::HttpsToken(https) => {
                let token = if let Some(token) = &https.token {
                    token.clone()
                } else if let Some(path) = &https.token_file {
                    let text = std::fs::read_to_string(path).map_err(|source| SettingsError::TokenFileUnreadable {
                        path: path.clone(),
                        source,
                    })?;
                    SecretString::from(text.trim().to_owned())
                } else if let Some(name) = &https.token_env {
                    match std::env::var(name) {
                        Ok(v) if !v.trim().is_empty() => SecretString::from(v.trim().to_owned()),
                        _ => return Err(SettingsError::TokenEnvMissing { name: name.clone() }),
                    }
                } else {
                    return Err(SettingsError::Invalid {
                        problems: vec!["`auth` names no token source".to_owned()],
                    });
                };
                Credentials::Token {
                    username: https.username.clone(),
                    token,
                }
            }
        };
        Ok(GitCli {
            git_dir: settings.clone_dir.clone(),
            remote: settings.remote.clone(),
            branch: settings.branch.clone(),
            timeout: settings.timeout,
            credentials,
        })
    }

    /// The remote-tracking ref the fetched tip is kept in.
    pub fn tracking_ref(&self) -> String {
        format!("refs/remotes/origin/{}", self.branch)
    }

    /// Fetches the branch into the tracking ref (forced: the remote is the truth).
    ///
    /// # Errors
    /// [`TransportError`] when git fails or times out.
    pub fn fetch(&self) -> Result<(), TransportError> {
        let refspec = format!("+refs/heads/{}:{}", self.branch, self.tracking_ref());
        let args = [
            "-c",
            "gc.autoDetach=false",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "origin",
            &refspec,
        ];
        let out = self.run("fetch", &args)?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failed("fetch", &out.stderr))
        }
    }

    /// Asks the remote for its branch without fetching anything or touching a ref of the
    /// clone.
    ///
    /// # Errors
    /// [`TransportError`] when the remote could not be reached or git fails or times out.
    pub fn ls_remote(&self) -> Result<(), TransportError> {
        let branch = format!("refs/heads/{}", self.branch);
        let out = self.run("ls-remote", &["ls-remote", "--quiet", "origin", &branch])?;
        if out.status.success() {
            Ok(())
        } else {
            Err(self.failed("ls-remote", &out.stderr))
        }
    }

    /// Pushes `sha` to the branch, never forced.
    ///
    /// # Errors
    /// [`TransportError`] when the remote could not be reached or git fails or times out.
    pub fn push(&self, sha: &str) -> Result<PushReply, TransportError> {
        let refspec = format!("{sha}:refs/heads/{}", self.branch);
        let out = self.run("push", &["push", "--porcelain", "origin", &refspec])?;
        match parse_push_porcelain(&out.stdout) {
            Some(PushReply::Accepted) if out.status.success() => Ok(PushReply::Accepted),
            Some(PushReply::Stale { detail }) => Ok(PushReply::Stale {
                detail: self.scrub(&detail),
            }),
            Some(PushReply::Refused { detail }) => Ok(PushReply::Refused {
                detail: self.scrub(&detail),
            }),
            _ => Err(self.failed("push", &out.stderr)),
        }
    }

    fn failed(&self, op: &'static str, stderr: &str) -> TransportError {
        TransportError::Failed {
            op,
            message: self.scrub(&summarise_stderr(stderr)),
        }
    }

    fn scrub(&self, text: &str) -> String {
        match &self.credentials {
            Credentials::Token { token, .. } => scrub(text, &[token.expose_secret()]),
            _ => scrub(text, &[]),
        }
    }

    /// The command for `args`, with the environment set up. Secrets are only in `env`.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("git");
        cmd.arg("--git-dir").arg(&self.git_dir).args(args);
        for var in INHERITED_VARS_REMOVED {
            cmd.env_remove(var);
        }
        cmd.env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_ALLOW_PROTOCOL", "file:ssh:https")
            .env("SSH_ASKPASS_REQUIRE", "never")
            .env("LC_ALL", "C");
        match &self.credentials {
            Credentials::None => {}
            Credentials::Ssh { command } => {
                cmd.env("GIT_SSH_COMMAND", command).env("GIT_SSH_VARIANT", "ssh");
            }
            Credentials::Token { username, token } => {
                cmd.env("GIT_CONFIG_COUNT", "2")
                    .env("GIT_CONFIG_KEY_0", "credential.helper")
                    .env("GIT_CONFIG_VALUE_0", "")
                    .env("GIT_CONFIG_KEY_1", "credential.helper")
                    .env("GIT_CONFIG_VALUE_1", CREDENTIAL_HELPER)
                    .env(USER_VAR, username)
                    .env(TOKEN_VAR, token.expose_secret());
            }
        }
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // Its own process group, so that a timeout stops ssh and helpers too.
        cmd.process_group(0);
        cmd
    }

    fn run(&self, op: &'static str, args: &[&str]) -> Result<Output, TransportError> {
        run_with_deadline(self.command(args), op, self.timeout)
    }

    /// The remote URL this client was built for.
    pub fn remote(&self) -> &RemoteUrl {
        &self.remote
    }

    /// The bare clone.
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }
}

struct Output {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

fn run_with_deadline(mut cmd: Command, op: &'static str, timeout: Duration) -> Result<Output, TransportError> {
    let mut child = cmd.spawn().map_err(|e| TransportError::Spawn {
        op,
        message: e.to_string(),
    })?;
    let stdout = child.stdout.take().map(read_in_background);
    let stderr = child.stderr.take().map(read_in_background);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                stop_group(&mut child);
                return Err(TransportError::TimedOut { op, timeout });
            }
            Ok(None) => thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                stop_group(&mut child);
                return Err(TransportError::Spawn {
                    op,
                    message: e.to_string(),
                });
            }
        }
    };
    let collect = |h: Option<thread::JoinHandle<Vec<u8>>>| {
        h.and_then(|h| h.join().ok())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    };
    Ok(Output {
        status,
        stdout: collect(stdout),
        stderr: collect(stderr),
    })
}

fn read_in_background<R: Read + Send + 'static>(mut pipe: R) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        // A read error only shortens the message; the exit status decides.
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn stop_group(child: &mut std::process::Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // The group may already be gone; either way the child is reaped below.
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The last meaningful lines of git's error output, on one line, at most [`MAX_MESSAGE`] long.
fn summarise_stderr(stderr: &str) -> String {
    const BOILERPLATE: &[&str] = &[
        "Please make sure you have the correct access rights",
        "and the repository exists.",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !BOILERPLATE.contains(l) && !l.chars().all(|c| c == '@'))
        .collect();
    let text = lines[lines.len().saturating_sub(6)..].join(" | ");
    if text.is_empty() {
        "no error output".to_owned()
    } else if text.chars().count() > MAX_MESSAGE {
        let mut cut: String = text.chars().take(MAX_MESSAGE - 1).collect();
        cut.push('…');
        cut
    } else {
        text
    }
}

/// The longest message kept from git's output.
const MAX_MESSAGE: usize = 1000;

/// The `GIT_SSH_COMMAND` for `ssh`: batch mode, the configured key only, strict host keys.
fn ssh_command(ssh: &crate::settings::SshAuth, timeout: Duration) -> String {
    let mut parts: Vec<String> = vec![
        "ssh".to_owned(),
        "-o".to_owned(),
        "BatchMode=yes".to_owned(),
        "-o".to_owned(),
        format!("ConnectTimeout={}", timeout.as_secs().max(1)),
    ];
    if let Some(key) = &ssh.private_key_file {
        parts.extend([
            "-i".to_owned(),
            shell_quote(key.as_os_str()),
            "-o".to_owned(),
            "IdentitiesOnly=yes".to_owned(),
        ]);
    }
    if let Some(known) = &ssh.known_hosts_file {
        parts.extend([
            "-o".to_owned(),
            format!("UserKnownHostsFile={}", shell_quote(known.as_os_str())),
        ]);
    }
    let strict = if ssh.accept_new_host_keys { "accept-new" } else { "yes" };
    parts.extend(["-o".to_owned(), format!("StrictHostKeyChecking={strict}")]);
    parts.join(" ")
}

/// Quotes a path for the shell git runs `GIT_SSH_COMMAND` with.
fn shell_quote(text: &std::ffi::OsStr) -> String {
    let text: OsString = text.to_owned();
    format!("'{}'", text.to_string_lossy().replace('\'', "'\\''"))
}

/// Reads the status line of our one ref from `git push --porcelain` output.
fn parse_push_porcelain(stdout: &str) -> Option<PushReply> {
    for line in stdout.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(flag), Some(_refs), Some(summary)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        return Some(match flag {
            " " | "+" | "*" | "=" => PushReply::Accepted,
            "!" => classify_rejection(summary),
            _ => continue,
        });
    }
    None
}

fn classify_rejection(summary: &str) -> PushReply {
    let detail = summary.to_owned();
    if summary.starts_with("[rejected]") {
        return PushReply::Stale { detail };
    }
    let lost_race = [
        "failed to update ref",
        "cannot lock ref",
        "failed to lock",
        "incorrect old value",
        "but expected",
        "reference already exists",
    ];
    if summary.starts_with("[remote rejected]") && lost_race.iter().any(|m| summary.contains(m)) {
        PushReply::Stale { detail }
    } else {
        PushReply::Refused { detail }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_porcelain_lines_are_classified() {
        let ok = "To /srv/r.git\n \tabc:refs/heads/main\t1111..2222\nDone\n";
        assert_eq!(parse_push_porcelain(ok), Some(PushReply::Accepted));
        let nff = "To /srv/r.git\n!\tabc:refs/heads/main\t[rejected] (fetch first)\nDone\n";
        assert!(matches!(parse_push_porcelain(nff), Some(PushReply::Stale { .. })));
        let race = "To x\n!\tabc:refs/heads/main\t[remote rejected] (cannot lock ref 'refs/heads/main': is at 1 but expected 2)\n";
        assert!(matches!(parse_push_porcelain(race), Some(PushReply::Stale { .. })));
        let hook = "To x\n!\tabc:refs/heads/main\t[remote rejected] (pre-receive hook declined)\n";
        assert!(matches!(parse_push_porcelain(hook), Some(PushReply::Refused { .. })));
        assert_eq!(parse_push_porcelain("fatal: nothing\n"), None);
    }

    #[test]
    fn error_output_is_summarised_on_one_line() {
        let stderr = "Host key verification failed.\nfatal: Could not read from remote repository.\n\n\
                      Please make sure you have the correct access rights\nand the repository exists.\n";
        assert_eq!(
            summarise_stderr(stderr),
            "Host key verification failed. | fatal: Could not read from remote repository."
        );
        assert_eq!(summarise_stderr(""), "no error output");
        assert_eq!(summarise_stderr(&"x".repeat(5000)).chars().count(), MAX_MESSAGE);
    }

    #[test]
    fn ssh_command_checks_host_keys_and_quotes_paths() {
        let ssh = crate::settings::SshAuth {
            private_key_file: Some(PathBuf::from("/keys/it's key")),
            known_hosts_file: Some(PathBuf::from("/keys/known")),
            accept_new_host_keys: false,
        };
        assert_eq!(
            ssh_command(&ssh, Duration::from_secs(30)),
            "ssh -o BatchMode=yes -o ConnectTimeout=30 -i '/keys/it'\\''s key' -o IdentitiesOnly=yes \
             -o UserKnownHostsFile='/keys/known' -o StrictHostKeyChecking=yes"
        );
    }

    #[test]
    fn the_token_reaches_git_through_the_credential_helper_and_not_argv() -> Result<(), Box<dyn std::error::Error>> {
        use std::io::Write;
        let dir = tempfile::tempdir()?;
        git2::Repository::init_bare(dir.path())?;
        let mut settings = GitSettings::new("https://example.com/org/config.git".parse()?, dir.path());
        settings.auth = GitAuth::HttpsToken(crate::settings::HttpsTokenAuth {
            username: "x-access-token".to_owned(),
            token: Some(SecretString::from("tok-123-secret")),
            token_file: None,
            token_env: None,
        });
        let cli = GitCli::new(&settings)?;
        let mut cmd = cli.command(&["credential", "fill"]);
        assert!(cmd.get_args().all(|a| !a.to_string_lossy().contains("tok-123-secret")));
        cmd.stdin(Stdio::piped());
        let mut child = cmd.spawn()?;
        child
            .stdin
            .take()
            .ok_or("no stdin")?
            .write_all(b"protocol=https\nhost=example.com\n\n")?;
        let out = child.wait_with_output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("username=x-access-token\n"), "{text}");
        assert!(text.contains("password=tok-123-secret\n"), "{text}");
        assert_eq!(cli.scrub("denied for tok-123-secret"), "denied for ***");
        Ok(())
    }

    #[test]
    fn a_command_past_its_deadline_is_stopped() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "sleep 30 & sleep 30"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let result = run_with_deadline(cmd, "fetch", Duration::from_millis(200));
        assert!(matches!(result, Err(TransportError::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
