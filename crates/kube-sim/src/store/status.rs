//! The Kubernetes `Status` object that every error response carries (spec §5).

use serde_json::{Map, Value, json};

/// A failure `Status`: HTTP code, machine reason, human message and details.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiStatus {
    /// HTTP status code (`404`).
    pub code: u16,
    /// Machine-readable reason (`NotFound`).
    pub reason: &'static str,
    /// Human-readable message, exactly as kube-apiserver words it.
    pub message: String,
    /// The `details` object; `{}` when there are none.
    pub details: Map<String, Value>,
}

impl ApiStatus {
    /// A status with empty details.
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds `details.name`, `details.group` (left out when empty) and `details.kind`.
    pub fn with_target(mut self, name: &str, group: &str, kind: &str) -> Self {
        if !name.is_empty() {
            self.details.insert("name".into(), Value::String(name.into()));
        }
        if !group.is_empty() {
            self.details.insert("group".into(), Value::String(group.into()));
        }
        self.details.insert("kind".into(), Value::String(kind.into()));
        self
    }

    /// Sets `details.causes`.
    pub fn with_causes(mut self, causes: Vec<Value>) -> Self {
        if !causes.is_empty() {
            self.details.insert("causes".into(), Value::Array(causes));
        }
        self
    }

    /// Sets `details.retryAfterSeconds`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.details.insert("retryAfterSeconds".into(), json!(seconds));
        self
    }

    /// `400 BadRequest` with the given message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// `404 NotFound` for an unknown path.
    pub fn unknown_path() -> Self {
        Self::new(404, "NotFound", "the server could not find the requested resource")
    }

    /// `405 MethodNotAllowed` for a verb the path does not serve.
    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )
    }

    /// `500 InternalError` for an unexpected condition; the message names no internals.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    /// The JSON `Status` body.
    pub fn to_json(&self) -> Value {
        let mut body = Map::new();
        body.insert("kind".into(), json!("Status"));
        body.insert("apiVersion".into(), json!("v1"));
        body.insert("metadata".into(), json!({}));
        body.insert("status".into(), json!("Failure"));
        body.insert("message".into(), Value::String(self.message.clone()));
        body.insert("reason".into(), json!(self.reason));
        body.insert("details".into(), Value::Object(self.details.clone()));
        body.insert("code".into(), json!(self.code));
        Value::Object(body)
    }
}
