//! Acknowledging Docker Hub's legacy `callback_url`, best-effort and in the background.
//!
//! Docker Hub marks a webhook delivery as done when its callback URL receives a JSON
//! `{"state": "success" | "failure", "description", "context"}`. Nothing depends on it: the
//! acknowledgement runs after the answer, and its failures are logged at debug level only.
//! `deployer_triggers::webhook::dockerhub` keeps only `https://` URLs on Docker Hub's hosts,
//! so a payload cannot make the server call anywhere else.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

/// The acknowledgement sent to a callback URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    /// `success` when the delivery was accepted, `failure` otherwise.
    pub state: &'static str,
    /// One line saying what was done.
    pub description: String,
    /// Who acknowledges.
    pub context: &'static str,
}

/// Sends acknowledgements.
#[async_trait]
pub trait CallbackSender: Send + Sync {
    /// Posts `ack` to `url`.
    ///
    /// # Errors
    /// A short reason, for the debug log.
    async fn acknowledge(&self, url: &str, ack: &Acknowledgement) -> Result<(), String>;
}

/// Posts acknowledgements over HTTPS, with a short timeout.
#[derive(Debug, Clone)]
pub struct HttpCallbacks {
    http: reqwest::Client,
}

impl HttpCallbacks {
    /// How long one acknowledgement may take.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// A sender with its own connection pool; `None` when no HTTP client can be built (the
    /// acknowledgements are then skipped).
    pub fn new() -> Option<Self> {
        reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("k8s-app-deployer/", env!("CARGO_PKG_VERSION")))
            .build()
            .ok()
            .map(|http| Self { http })
    }
}

#[async_trait]
impl CallbackSender for HttpCallbacks {
    async fn acknowledge(&self, url: &str, ack: &Acknowledgement) -> Result<(), String> {
        let response = self
            .http
            .post(url)
            .json(ack)
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the callback answered {}", response.status()))
        }
    }
}

/// Sends nothing: used when no HTTP client could be built.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCallbacks;

#[async_trait]
impl CallbackSender for NoCallbacks {
    async fn acknowledge(&self, _url: &str, _ack: &Acknowledgement) -> Result<(), String> {
        Err("acknowledgements are disabled".to_owned())
    }
}
