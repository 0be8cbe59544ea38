//! The web UI driven in headless Chromium through WebDriver (`chromedriver`), against the real
//! `demo`: signing in, deploying from the form and following it live, a failing rollout, a
//! rollback and its pin, a read-only token, and screenshots of every page at desktop and phone
//! widths in `target/ui-screenshots/`.
//!
//! Needs `chromium` and `chromedriver` on `PATH` (Debian: `apt-get install -y chromium
//! chromium-driver`); the tests fail with that hint when they are missing.

mod browser;
mod demo;
mod flows;
