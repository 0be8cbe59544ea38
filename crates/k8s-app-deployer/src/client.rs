//! A small client of the deployer's HTTP API, for the command-line commands.

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::cli::ClientArgs;

/// How a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error document.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The error code.
        code: String,
        /// The message.
        message: String,
        /// The hint.
        hint: Option<String>,
    },
    /// The server could not be reached or the answer was unreadable.
    #[error("cannot reach the deployer at `{url}`: {message}")]
    Transport {
        /// The base URL.
        url: String,
        /// What went wrong.
        message: String,
    },
}

impl ClientError {
    /// Whether the server refused the request (bad input, not allowed) rather than failing.
    pub fn is_rejection(&self) -> bool {
        matches!(self, ClientError::Api { status, .. } if (400..500).contains(status))
    }
}

/// The API client.
pub struct ApiClient {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl ApiClient {
    /// A client for the server named by the flags.
    pub fn new(args: &ClientArgs) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("k8s-app-deployer-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Transport {
                url: args.server.clone(),
                message: e.to_string(),
            })?;
        Ok(Self {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            token: args.token.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    fn transport(&self, e: &reqwest::Error) -> ClientError {
        // reqwest errors name the URL, never the token.
        let mut message = e.to_string();
        if e.is_connect() {
            message = "connection refused or unreachable".to_owned();
        } else if e.is_timeout() {
            message = "timed out".to_owned();
        }
        ClientError::Transport {
            url: self.base.clone(),
            message,
        }
    }

    async fn decode(&self, resp: reqwest::Response) -> Result<Value, ClientError> {
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.transport(&e))?;
        let json: Value = serde_json::from_slice(&body).unwrap_or_else(|_| {
            serde_json::json!({"error": {"code": "unreadable", "message": String::from_utf8_lossy(&body).chars().take(300).collect::<String>()}})
        });
        if status.is_success() {
            return Ok(json);
        }
        let err = json.get("error").cloned().unwrap_or_default();
        let text = |k: &str| err.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(ClientError::Api {
            status: status.as_u16(),
            code: text("code").unwrap_or_else(|| "http_error".to_owned()),
            message: text("message").unwrap_or_else(|| format!("the server answered {status}")),
            hint: text("hint"),
        })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        let resp = self
            .request(reqwest::Method::GET, path)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        self.decode(resp).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let resp = self
            .request(reqwest::Method::POST, path)
            .json(body)
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        self.decode(resp).await
    }

    /// Follows a deployment's Server-Sent Events, calling `on_event` with each event's kind
    /// and record, until the terminal event. Returns the last record seen.
    pub async fn follow(&self, id: &str, mut on_event: impl FnMut(&str, &Value)) -> Result<Value, ClientError> {
        let mut last_seq: Option<String> = None;
        // Reconnect a few times if the stream drops, resuming after the last event.
        for _ in 0..20 {
            let mut req = self
                .request(reqwest::Method::GET, &format!("/api/v1/deployments/{id}/events"))
                .header("Accept", "text/event-stream");
            if let Some(seq) = &last_seq {
                req = req.header("Last-Event-ID", seq);
            }
            let resp = match req.send().await {
                Ok(r) => r,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            if !resp.status().is_success() {
                return Err(self.decode(resp).await.err().unwrap_or(ClientError::Transport {
                    url: self.base.clone(),
                    message: "unexpected answer to the event stream".to_owned(),
                }));
            }
            let mut stream = resp.bytes_stream();
            let mut buf = String::new();
            let (mut event, mut data, mut seq) = (String::new(), String::new(), None::<String>);
            while let Some(chunk) = stream.next().await {
                let Ok(chunk) = chunk else { break };
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(pos) = buf.find('\n') {
                    let line = buf[..pos].trim_end_matches('\r').to_owned();
                    buf.drain(..=pos);
                    if line.is_empty() {
                        if !data.is_empty() {
                            let payload: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                            let record = payload.get("record").cloned().unwrap_or(payload);
                            on_event(&event, &record);
                            if seq.is_some() {
                                last_seq = seq.take();
                            }
                            if matches!(event.as_str(), "succeeded" | "failed" | "unchanged") {
                                return Ok(record);
                            }
                        }
                        event.clear();
                        data.clear();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        if !data.is_empty() {
                            data.push('\n');
                        }
                        data.push_str(v.trim_start());
                    } else if let Some(v) = line.strip_prefix("id:") {
                        seq = Some(v.trim().to_owned());
                    }
                }
            }
            // The stream ended: if the deployment is over, say so; otherwise reconnect.
            let current = self.get(&format!("/api/v1/deployments/{id}")).await?;
            if is_terminal(&current) {
                return Ok(current);
            }
        }
        self.get(&format!("/api/v1/deployments/{id}")).await
    }
}

/// Whether a record's status is terminal.
pub fn is_terminal(record: &Value) -> bool {
    matches!(
        record.get("status").and_then(Value::as_str),
        Some("succeeded" | "failed" | "unchanged")
    )
}
