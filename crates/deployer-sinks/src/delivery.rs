//! The [`Sink`] trait every notification target implements, and what a delivery ends with.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::outbox::{OutboxItem, SinkName};

/// What a successful delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivered {
    /// The event reached the target.
    Sent,
    /// The sink is configured not to send this kind of event; nothing was sent.
    Skipped,
}

/// A failed delivery: whether it is worth trying again, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryError {
    /// Whether a later attempt may succeed (timeouts, 5xx, rate limits, a broker that is
    /// down). A permanent error marks the entry dead at once.
    pub retryable: bool,
    /// How long the target asked us to wait (HTTP `Retry-After`); the worker waits at least
    /// this long before the next delivery to this sink.
    pub retry_after: Option<Duration>,
    /// A stable label for metrics (`http_status`, `timeout`, `slack_api`, `kafka_produce`, …).
    pub kind: &'static str,
    /// What happened, without secrets; it is stored as the entry's last error.
    pub message: String,
}

impl DeliveryError {
    /// A failure a later attempt may not have.
    pub fn retryable(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            retryable: true,
            retry_after: None,
            kind,
            message: message.into(),
        }
    }

    /// A failure that will not go away by itself (bad credentials, unknown channel, 4xx).
    pub fn permanent(kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            retryable: false,
            retry_after: None,
            kind,
            message: message.into(),
        }
    }

    /// Adds the delay the target asked for.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeliveryError {}

/// A notification target. One worker drives each sink; a sink only sends, it never touches
/// the outbox.
#[async_trait]
pub trait Sink: Send + Sync {
    /// The sink's name, which is also its name in the outbox.
    fn name(&self) -> &SinkName;

    /// Sends one event.
    ///
    /// # Errors
    /// A [`DeliveryError`] saying whether to retry.
    async fn deliver(&self, item: &OutboxItem) -> Result<Delivered, DeliveryError>;
}
