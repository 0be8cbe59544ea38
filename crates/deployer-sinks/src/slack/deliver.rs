//! Sending Slack messages: the Web API (`chat.postMessage`, `chat.update`) or an incoming
//! webhook, and the sink that remembers each deployment's message.

use std::sync::Arc;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;
use tracing::warn;

use crate::cloudevents::{Encoder, deployment_data};
use crate::delivery::{Delivered, DeliveryError, Sink};
use crate::environment::EnvironmentName;
use crate::http;
use crate::outbox::{OutboxItem, SinkName};
use crate::settings::SettingsError;

use super::config::{SlackConfig, SlackMode};
use super::encode::{SlackMessage, render};
use super::refs::{MessageRefs, SlackMessageRef};

/// Web API errors that a later attempt may not have.
const RETRYABLE: [&str; 6] = [
    "ratelimited",
    "rate_limited",
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];
/// `chat.update` errors after which a new message is posted instead.
const REPOST: [&str; 3] = ["message_not_found", "cant_update_message", "edit_window_closed"];

/// Classifies a Web API or webhook error string.
pub fn classify_api_error(error: &str) -> DeliveryError {
    let message = format!("slack answered `{}`", http::shorten(error, 100));
    if RETRYABLE.contains(&error) {
        DeliveryError::retryable("slack_api", message)
    } else {
        DeliveryError::permanent("slack_api", message)
    }
}

/// The part of a Web API answer we read.
#[derive(Debug, Deserialize)]
struct ApiAnswer {
    ok: bool,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    ts: Option<String>,
}

/// Talks to Slack.
pub struct SlackClient {
    config: SlackConfig,
    client: reqwest::Client,
}

impl SlackClient {
    /// A client for `config`.
    ///
    /// # Errors
    /// [`SettingsError::HttpClient`] when the HTTP client cannot be created.
    pub fn new(config: SlackConfig) -> Result<Self, SettingsError> {
        let client = http::client(config.timeout).map_err(SettingsError::HttpClient)?;
        Ok(Self { config, client })
    }

    /// The configuration.
    pub fn config(&self) -> &SlackConfig {
        &self.config
    }

    /// Sends `message`. With a bot token, updates `prior` in place when given (posting anew
    /// if it can no longer be edited) and returns the message's reference; with a webhook,
    /// posts and returns `None`.
    ///
    /// # Errors
    /// A [`DeliveryError`] saying whether to retry.
    pub async fn deliver(
        &self,
        message: &SlackMessage,
        environment: Option<&EnvironmentName>,
        prior: Option<SlackMessageRef>,
    ) -> Result<Option<SlackMessageRef>, DeliveryError> {
        match &self.config.mode {
            SlackMode::Webhook { url } => {
                self.post_webhook(url.expose_secret(), message).await?;
                Ok(None)
            }
            SlackMode::Bot { token, channels } => {
                let token = token.expose_secret();
                if let Some(prior) = prior {
                    let body = json!({"channel": prior.channel, "ts": prior.ts, "text": message.text, "blocks": message.blocks});
                    match self.call(token, "chat.update", &body).await {
                        Ok(_) => return Ok(Some(prior)),
                        Err(Repost::Yes) => {}
                        Err(Repost::No(err)) => return Err(err),
                    }
                }
                let channel = channels.channel(environment);
                let body =
                    json!({"channel": channel, "text": message.text, "blocks": message.blocks, "unfurl_links": false});
                let answer = self
                    .call(token, "chat.postMessage", &body)
                    .await
                    .map_err(Repost::into_error)?;
                match (answer.channel, answer.ts) {
                    (Some(channel), Some(ts)) => Ok(Some(SlackMessageRef { channel, ts })),
                    _ => Err(DeliveryError::permanent(
                        "slack_api",
                        "chat.postMessage answered without `channel` and `ts`",
                    )),
                }
            }
        }
    }

    async fn post_webhook(&self, url: &str, message: &SlackMessage) -> Result<(), DeliveryError> {
        let body = json!({"text": message.text, "blocks": message.blocks});
        let response = self
            .client
            .post(url)
            .json(&body)
            .send()
            .await
            .map_err(|e| http::transport_error(&e))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        if http::status_is_retryable(status.as_u16()) {
            return Err(http::status_error(status, &headers, &text));
        }
        // Webhooks answer failures with a status and an error string body.
        Err(DeliveryError::permanent(
            "slack_webhook",
            format!("slack webhook answered HTTP {status}: `{}`", http::shorten(&text, 100)),
        ))
    }

    async fn call(&self, token: &str, method: &str, body: &serde_json::Value) -> Result<ApiAnswer, Repost> {
        let url = self
            .config
            .api_base
            .join(method)
            .map_err(|_| Repost::No(DeliveryError::permanent("slack_api", "invalid Slack API URL")))?;
        let response = self
            .client
            .post(url)
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| Repost::No(http::transport_error(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            return Err(Repost::No(http::status_error(status, &headers, &text)));
        }
        let answer: ApiAnswer = serde_json::from_str(&text).map_err(|_| {
            Repost::No(DeliveryError::retryable(
                "slack_api",
                format!("{method} answered with something other than JSON"),
            ))
        })?;
        if answer.ok {
            return Ok(answer);
        }
        let error = answer.error.unwrap_or_else(|| "unknown_error".to_owned());
        if method == "chat.update" && REPOST.contains(&error.as_str()) {
            return Err(Repost::Yes);
        }
        let mut err = classify_api_error(&error);
        err.message = format!("{method}: {}", err.message);
        Err(Repost::No(err.with_retry_after(http::retry_after(&headers))))
    }
}

/// Whether a failed `chat.update` should become a new post.
enum Repost {
    Yes,
    No(DeliveryError),
}

impl Repost {
    fn into_error(self) -> DeliveryError {
        match self {
            Repost::Yes => DeliveryError::permanent("slack_api", "the message cannot be posted"),
            Repost::No(err) => err,
        }
    }
}

/// The Slack sink.
pub struct SlackSink {
    client: SlackClient,
    encoder: Encoder,
    refs: Arc<dyn MessageRefs>,
}

impl SlackSink {
    /// A sink for `config`, remembering messages in `refs`.
    ///
    /// # Errors
    /// [`SettingsError::HttpClient`] when the HTTP client cannot be created.
    pub fn new(config: SlackConfig, encoder: Encoder, refs: Arc<dyn MessageRefs>) -> Result<Self, SettingsError> {
        Ok(Self {
            client: SlackClient::new(config)?,
            encoder,
            refs,
        })
    }
}

#[async_trait]
impl Sink for SlackSink {
    fn name(&self) -> &SinkName {
        &self.client.config().name
    }

    async fn deliver(&self, item: &OutboxItem) -> Result<Delivered, DeliveryError> {
        let event = &item.event;
        if !self.client.config().events.contains(&event.kind) {
            return Ok(Delivered::Skipped);
        }
        let environment = self.encoder.environment(event);
        let data = deployment_data(event, environment.as_ref());
        let message = render(&data, self.client.config().commit_url.as_ref());
        let bot = matches!(self.client.config().mode, SlackMode::Bot { .. });
        let prior = if bot {
            self.refs
                .get(event.deployment_id)
                .await
                .map_err(|e| DeliveryError::retryable("message_store", e.to_string()))?
        } else {
            None
        };
        let posted = self
            .client
            .deliver(&message, environment.as_ref(), prior.clone())
            .await?;
        if let Some(posted) = posted
            && prior.as_ref() != Some(&posted)
            && let Err(err) = self.refs.put(event.deployment_id, &posted).await
        {
            // The message is out; failing now would post it twice. Later events of this
            // deployment post a new message instead of updating this one.
            warn!(message = "Could not remember the Slack message.", deployment_id = %event.deployment_id, error = %err);
        }
        Ok(Delivered::Sent)
    }
}
