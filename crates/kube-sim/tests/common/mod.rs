//! Test harness: starts the `kube-sim` binary, runs the real `kubectl` against it with a fresh
//! `HOME` per invocation, and talks to the `/_sim/` control API.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The directory of the test fixtures.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A running `kube-sim` process.
pub struct Sim {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    token: Option<String>,
}

/// The result of one `kubectl` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub command: String,
}

impl Run {
    /// Panics with the whole context unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "`{}` exited {} (expected {code})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.code, self.stdout, self.stderr
        );
        self
    }

    /// Panics unless the run succeeded.
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// Panics unless stdout contains `text`.
    pub fn stdout_has(&self, text: &str) -> &Self {
        assert!(
            self.stdout.contains(text),
            "`{}`: stdout lacks {text:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless stderr contains `text`.
    pub fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "`{}`: stderr lacks {text:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.stdout,
            self.stderr
        );
        self
    }
}

impl Sim {
    /// Starts `kube-sim --profile fast` with extra arguments and waits for its address line.
    pub fn start(extra: &[&str]) -> Sim {
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let kubeconfig = dir.path().join("kubeconfig");
        let mut args = vec!["--listen", "127.0.0.1:0", "--profile", "fast", "--kubeconfig-out"];
        let kc = kubeconfig.to_string_lossy().into_owned();
        args.push(&kc);
        args.extend_from_slice(extra);
        let mut child = Command::new(env!("CARGO_BIN_EXE_kube-sim"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the kube-sim binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("kube-sim prints its address");
        let addr = line.trim().to_string();
        assert!(addr.starts_with("127.0.0.1:"), "unexpected address line {line:?}");
        let token = extra
            .iter()
            .position(|a| *a == "--token")
            .and_then(|i| extra.get(i + 1))
            .map(|t| t.to_string());
        Sim {
            child,
            addr,
            dir,
            kubeconfig,
            token,
        }
    }

    /// Writes a file in the test directory and returns its path.
    pub fn write(&self, name: &str, contents: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("fixture file can be written");
        path.to_string_lossy().into_owned()
    }

    fn kubectl_command(&self, args: &[&str]) -> (Command, tempfile::TempDir) {
        let home = tempfile::tempdir().expect("a fresh HOME can be created");
        let mut command = Command::new("kubectl");
        command
            .args(args)
            .env("HOME", home.path())
            .env("KUBECONFIG", &self.kubeconfig)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .stdin(Stdio::null());
        (command, home)
    }

    /// Runs `kubectl` with a fresh HOME and returns its exit code and output.
    pub fn kubectl(&self, args: &[&str]) -> Run {
        let (mut command, _home) = self.kubectl_command(args);
        let output = command.output().expect("kubectl runs");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            command: format!("kubectl {}", args.join(" ")),
        }
    }

    /// Starts `kubectl` in the background (for `get -w`).
    pub fn kubectl_background(&self, args: &[&str]) -> Background {
        let (mut command, home) = self.kubectl_command(args);
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl starts");
        Background { child, _home: home }
    }

    /// A raw HTTP request to the simulator; returns the status code and body.
    pub fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        self.http_with(method, path, body, "application/json", &[])
    }

    /// A raw HTTP request with a content type and extra headers.
    pub fn http_with(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let (code, _, body) = self.http_full(method, path, body, content_type, headers);
        (code, body)
    }

    /// A raw HTTP request returning the status code, the response head and the body.
    pub fn http_full(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
        content_type: &str,
        headers: &[(&str, &str)],
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.addr).expect("the simulator accepts connections");
        stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
        let body = body.unwrap_or("");
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        let explicit_auth = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("authorization"));
        if let (Some(token), false) = (&self.token, explicit_auth) {
            request.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        for (k, v) in headers {
            request.push_str(&format!("{k}: {v}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        stream.write_all(request.as_bytes()).expect("the request is sent");
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let code = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            dechunk(rest)
        } else {
            rest.to_string()
        };
        (code, head.to_string(), body)
    }

    /// A JSON value read from the simulator.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.http("GET", path, None);
        assert_eq!(code, 200, "GET {path}: {body}");
        serde_json::from_str(&body).expect("the response is JSON")
    }

    /// Polls `check` until it holds or `timeout` passes.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if check() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("timed out waiting for {what}");
    }

    /// Sends SIGTERM and returns the exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().ok()?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            out.push_str(&after[..size.min(after.len())]);
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `kubectl` running in the background.
pub struct Background {
    child: Child,
    _home: tempfile::TempDir,
}

impl Background {
    /// Waits for it to exit (killing it after `timeout`); returns its exit code and output.
    pub fn wait(mut self, timeout: Duration) -> (Option<i32>, String, String) {
        let start = Instant::now();
        let mut code = None;
        while start.elapsed() < timeout {
            if let Ok(Some(status)) = self.child.try_wait() {
                code = status.code();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let (stdout, stderr) = self.stop();
        (code, stdout, stderr)
    }

    /// Stops it and returns what it printed.
    pub fn stop(mut self) -> (String, String) {
        let _ = self.child.kill();
        let mut stdout = String::new();
        let mut stderr = String::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_string(&mut stdout);
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut stderr);
        }
        let _ = self.child.wait();
        (stdout, stderr)
    }
}

/// The web Deployment manifest of the checklist, with the given image and extra spec lines.
pub fn web(image: &str, replicas: u32, extra_spec: &str) -> String {
    format!(
        "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: {replicas}
{extra_spec}  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: {image}
"
    )
}
