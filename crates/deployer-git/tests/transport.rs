//! The network transports against real servers: SSH to an `sshd` on loopback (host keys are
//! checked), and HTTPS with a token that must never show in an error.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestResult, World, replace, spec, standard_files};
use deployer_core::ports::{CommitOutcome, ConfigRepo};
use deployer_git::{GitAuth, GitConfigRepo, HttpsTokenAuth, SshAuth};
use secrecy::SecretString;

const SSHD: &str = "/usr/sbin/sshd";

/// An `sshd` on a free loopback port accepting one generated key, stopped on drop.
struct Sshd {
    child: Child,
    port: u16,
    host_public_key: String,
    client_key: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) -> TestResult<String> {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .status()?;
    if !status.success() {
        return Err("ssh-keygen failed".into());
    }
    Ok(std::fs::read_to_string(path.with_extension("pub"))?.trim().to_owned())
}

fn start_sshd(dir: &Path) -> TestResult<Sshd> {
    if !Path::new(SSHD).exists() {
        return Err(format!(
            "{SSHD} is missing: the test script must install the `openssh-server` package (apt-get install -y openssh-server)"
        )
        .into());
    }
    std::fs::create_dir_all("/run/sshd")?;
    let host_key = dir.join("host_key");
    let host_public_key = keygen(&host_key)?;
    let client_key = dir.join("client_key");
    let client_public = keygen(&client_key)?;
    let authorized = dir.join("authorized_keys");
    std::fs::write(&authorized, format!("{client_public}\n"))?;
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\nUsePAM no\n\
             StrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nLogLevel ERROR\n",
            host_key.display(),
            authorized.display()
        ),
    )?;
    let child = Command::new(SSHD)
        .arg("-D")
        .arg("-e")
        .arg("-f")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let sshd = Sshd {
        child,
        port,
        host_public_key,
        client_key,
    };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("sshd did not start listening".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(sshd)
}

fn ssh_settings(world: &World, sshd: &Sshd, known_hosts: &Path) -> TestResult<deployer_git::GitSettings> {
    let mut settings = world.settings("clone")?;
    settings.remote = format!("ssh://root@127.0.0.1:{}{}", sshd.port, world.remote.display()).parse()?;
    settings.auth = GitAuth::Ssh(SshAuth {
        private_key_file: Some(sshd.client_key.clone()),
        known_hosts_file: Some(known_hosts.to_owned()),
        accept_new_host_keys: false,
    });
    settings.timeout = Duration::from_secs(20);
    Ok(settings)
}

/// The error and all its sources, as one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[tokio::test]
async fn a_commit_is_pushed_over_ssh_to_a_host_with_a_known_key() -> TestResult {
    let world = World::new(&standard_files())?;
    let sshd = start_sshd(world.dir.path())?;
    let known_hosts = world.path("known_hosts");
    std::fs::write(
        &known_hosts,
        format!("[127.0.0.1]:{} {}\n", sshd.port, sshd.host_public_key),
    )?;
    let repo = GitConfigRepo::open(ssh_settings(&world, &sshd, &known_hosts)?).await?;
    let outcome = repo
        .commit_edit(&spec("eu/prod-a/apps/web.yaml", "01SSH"), replace("web:v1", "web:v2"))
        .await?;
    let CommitOutcome::Pushed { sha, .. } = outcome else {
        return Err(format!("expected a push, got {outcome:?}").into());
    };
    assert_eq!(world.main()?.to_string(), sha);
    assert_eq!(
        repo.read_file("eu/prod-a/apps/web.yaml", true).await?.map(|f| f.commit),
        Some(sha)
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_host_key_is_refused() -> TestResult {
    let world = World::new(&standard_files())?;
    let sshd = start_sshd(world.dir.path())?;
    let stranger = keygen(&world.path("stranger_key"))?;
    let known_hosts = world.path("known_hosts");
    std::fs::write(&known_hosts, format!("[127.0.0.1]:{} {stranger}\n", sshd.port))?;
    let err = GitConfigRepo::open(ssh_settings(&world, &sshd, &known_hosts)?)
        .await
        .err()
        .ok_or("an unknown host key was accepted")?;
    assert_eq!(err.kind(), "repo_unavailable");
    let text = chain(&err);
    assert!(
        text.contains("Host key verification failed") || text.contains("HOST IDENTIFICATION HAS CHANGED"),
        "{text}"
    );
    // An empty known-hosts file is refused too (no trust on first use by default).
    std::fs::write(&known_hosts, "")?;
    std::fs::remove_dir_all(world.path("clone"))?;
    let err = GitConfigRepo::open(ssh_settings(&world, &sshd, &known_hosts)?)
        .await
        .err()
        .ok_or("a host key was trusted on first use")?;
    assert!(chain(&err).contains("Host key verification failed"), "{}", chain(&err));
    Ok(())
}

#[tokio::test]
async fn an_https_token_never_appears_in_error_messages() -> TestResult {
    const TOKEN: &str = "ghp_s3cr3tT0kenValue1234567890";
    let world = World::new(&standard_files())?;
    let closed_port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let token_file = world.path("token");
    std::fs::write(&token_file, format!("{TOKEN}\n"))?;
    for (i, (token, file)) in [
        (Some(SecretString::from(TOKEN)), None),
        (None, Some(token_file.clone())),
    ]
    .into_iter()
    .enumerate()
    {
        let mut settings = world.settings(&format!("clone{i}"))?;
        settings.remote = format!("https://127.0.0.1:{closed_port}/org/config.git").parse()?;
        settings.auth = GitAuth::HttpsToken(HttpsTokenAuth {
            username: "x-access-token".to_owned(),
            token,
            token_file: file,
            token_env: None,
        });
        settings.timeout = Duration::from_secs(10);
        assert!(!format!("{settings:?}").contains(TOKEN));
        let err = GitConfigRepo::open(settings)
            .await
            .err()
            .ok_or("a closed port was reachable")?;
        assert_eq!(err.kind(), "repo_unavailable");
        let text = format!("{} {err:?}", chain(&err));
        assert!(text.contains("127.0.0.1"), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
    Ok(())
}

#[tokio::test]
async fn a_server_that_never_answers_is_given_up_on_at_the_timeout() -> TestResult {
    let world = World::new(&standard_files())?;
    let silent = TcpListener::bind("127.0.0.1:0")?;
    let port = silent.local_addr()?.port();
    // Accept connections and hold them open without a word.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().flatten() {
            held.push(stream);
        }
    });
    let mut settings = world.settings("clone")?;
    settings.remote = format!("https://127.0.0.1:{port}/org/config.git").parse()?;
    settings.timeout = Duration::from_secs(1);
    let started = Instant::now();
    let err = GitConfigRepo::open(settings)
        .await
        .err()
        .ok_or("a silent server answered")?;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(chain(&err).contains("did not finish within 1s"), "{}", chain(&err));
    Ok(())
}
