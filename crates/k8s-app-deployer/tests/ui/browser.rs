//! Headless Chromium through `chromedriver`, started on a free port for each test, with the
//! helpers the flows use: waiting for a condition, reading text, and screenshots at desktop
//! and phone widths.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

/// Desktop and phone viewports of the screenshots.
pub const SIZES: [(&str, u32, u32); 2] = [("desktop", 1280, 800), ("phone", 390, 844)];

/// How long a page may take to show what a step waits for.
const PATIENCE: Duration = Duration::from_secs(60);

/// `chromedriver` and a Chromium session.
pub struct Browser {
    driver: Child,
    // Chromium's profile; deleted when the browser is dropped.
    _profile: tempfile::TempDir,
    /// The WebDriver session.
    pub client: Client,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("an address").port()
}

/// Where screenshots go: `<target dir>/ui-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp
        .parent()
        .map_or_else(|| tmp.join("ui-screenshots"), |t| t.join("ui-screenshots"));
    std::fs::create_dir_all(&dir).expect("the screenshot directory can be created");
    dir
}

impl Browser {
    /// Starts `chromedriver` and opens a headless Chromium at 1280×800.
    pub async fn start() -> Browser {
        let port = free_port();
        let profile = tempfile::tempdir().expect("a fresh Chromium profile directory");
        let log = profile.path().join("chromedriver.log");
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start `chromedriver` ({e}); install it with `apt-get install -y chromium chromium-driver`"
                )
            });
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut caps = serde_json::Map::new();
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--window-size=1280,800",
                format!("--user-data-dir={}", profile.path().join("chromium").display()),
            ]
        });
        if let Some(b) = binary {
            options["binary"] = json!(b);
        }
        caps.insert("goog:chromeOptions".to_owned(), options);
        // chromedriver speaks plain HTTP on the loopback interface: no TLS is involved.
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("Chromium did not start through chromedriver: {e}\n{}", tail(&log, 40))
            });
        let browser = Browser {
            driver,
            _profile: profile,
            client,
        };
        browser.viewport(1280, 800).await;
        browser
    }

    /// Runs `script` (a function body) and returns its value.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until `script` returns `true`; on time-out, fails with `what` and the page's text.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let started = Instant::now();
        loop {
            if self.client.execute(script, vec![]).await.ok() == Some(Value::Bool(true)) {
                return;
            }
            if started.elapsed() > PATIENCE {
                let text = self.js("return document.body.innerText").await;
                panic!(
                    "timed out waiting for {what}; the page says:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until an element matches `css`.
    pub async fn wait_for(&self, css: &str) {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.wait_until(&format!("`{css}`"), &script).await;
    }

    /// Whether an element matches `css` and is displayed.
    pub async fn visible(&self, css: &str) -> bool {
        let script = format!(
            "const e = document.querySelector({}); return e !== null && e.offsetParent !== null",
            json!(css)
        );
        self.js(&script).await == Value::Bool(true)
    }

    /// The text of the first element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .text()
            .await
            .unwrap_or_default()
    }

    /// Clicks the first element matching `css`.
    pub async fn click(&self, css: &str) {
        self.wait_for(css).await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// Focuses the element matching `css` and presses `key` on it (a WebDriver key such as
    /// `\u{E007}`, Enter, or `\u{E00C}`, Escape), as someone using only the keyboard would.
    pub async fn press(&self, css: &str, key: &str) {
        self.wait_for(css).await;
        self.js(&format!("document.querySelector({}).focus(); return true", json!(css)))
            .await;
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
            .send_keys(key)
            .await
            .unwrap_or_else(|e| panic!("cannot press a key on `{css}`: {e}"));
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        self.wait_for(css).await;
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"));
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("cannot clear `{css}`: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Writes `<name>-desktop.png` and `<name>-phone.png`, then returns to the desktop size.
    /// Fails when the page is wider than the window at either size (it would scroll sideways).
    pub async fn screenshots(&self, name: &str) {
        let dir = screenshot_dir();
        for (label, width, height) in SIZES {
            self.viewport(width, height).await;
            let widths = self
                .js("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
                .await;
            assert!(
                widths[0].as_u64() <= widths[1].as_u64(),
                "the {name} page scrolls sideways at {label} width (content, window): {widths}"
            );
            let png = self.client.screenshot().await.expect("a screenshot");
            std::fs::write(dir.join(format!("{name}-{label}.png")), png).expect("the screenshot is written");
        }
        self.viewport(1280, 800).await;
    }

    /// Sizes the window so that the page's viewport is `width`×`height`.
    pub async fn viewport(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window can be sized");
        let inner = self.js("return [window.innerWidth, window.innerHeight]").await;
        let (w, h) = (inner[0].as_u64().unwrap_or(0), inner[1].as_u64().unwrap_or(0));
        let grow = |want: u32, got: u64| want + want.saturating_sub(u32::try_from(got).unwrap_or(want));
        if (w, h) != (u64::from(width), u64::from(height)) {
            self.client
                .set_window_size(grow(width, w), grow(height, h))
                .await
                .expect("the window can be sized");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }

    /// Ends the WebDriver session, which closes Chromium.
    pub async fn finish(&self) {
        let _ = self.client.clone().close().await;
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
