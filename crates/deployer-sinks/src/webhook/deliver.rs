//! Sending webhook requests.

use async_trait::async_trait;
use chrono::Utc;
use secrecy::ExposeSecret;

use crate::cloudevents::Encoder;
use crate::delivery::{Delivered, DeliveryError, Sink};
use crate::http;
use crate::outbox::{OutboxItem, SinkName};
use crate::settings::SettingsError;

use super::config::WebhookConfig;
use super::encode::build_request;

/// A webhook receiver.
pub struct WebhookSink {
    config: WebhookConfig,
    encoder: Encoder,
    client: reqwest::Client,
}

impl WebhookSink {
    /// A sink for `config`.
    ///
    /// # Errors
    /// [`SettingsError::HttpClient`] when the HTTP client cannot be created.
    pub fn new(config: WebhookConfig, encoder: Encoder) -> Result<Self, SettingsError> {
        let client = http::client(config.timeout).map_err(SettingsError::HttpClient)?;
        Ok(Self {
            config,
            encoder,
            client,
        })
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &SinkName {
        &self.config.name
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<Delivered, DeliveryError> {
        if self
            .config
            .events
            .as_ref()
            .is_some_and(|e| !e.contains(&item.event.kind))
        {
            return Ok(Delivered::Skipped);
        }
        let event = self.encoder.encode(&item.event);
        let secret = self.config.secret.as_ref().map(|s| s.expose_secret().as_bytes());
        let request = build_request(&event, item.attempts.saturating_add(1), secret, Utc::now().timestamp());
        let mut builder = self.client.post(self.config.url.clone());
        for (name, value) in &request.headers {
            builder = builder.header(*name, value);
        }
        let response = builder
            .body(request.body)
            .send()
            .await
            .map_err(|e| http::transport_error(&e))?;
        let status = response.status();
        if status.is_success() {
            return Ok(Delivered::Sent);
        }
        let headers = response.headers().clone();
        let body = response.text().await.unwrap_or_default();
        Err(http::status_error(status, &headers, &body))
    }
}
