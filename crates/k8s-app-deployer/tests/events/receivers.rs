//! Local HTTP receivers standing in for the Slack Web API and a webhook endpoint. They check
//! every request against the shapes `docs/events.md` documents and record what they got;
//! anything off is recorded as a problem (a handler never panics).

use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::bed::{SLACK_TOKEN, WEBHOOK_SECRET};

/// One Slack Web API call.
#[derive(Debug, Clone)]
pub struct SlackCall {
    /// `chat.postMessage` or `chat.update`.
    pub method: String,
    /// The JSON body.
    pub body: Value,
}

/// One webhook delivery.
#[derive(Debug, Clone)]
pub struct HookCall {
    /// The CloudEvent.
    pub event: Value,
    /// `X-Deployer-Delivery-Attempt`.
    pub attempt: u32,
    /// The status answered.
    pub answered: u16,
}

#[derive(Default)]
struct Recorded {
    slack: Mutex<Vec<SlackCall>>,
    hooks: Mutex<Vec<HookCall>>,
    problems: Mutex<Vec<String>>,
    next_ts: AtomicU64,
    /// The status the webhook answers (200 unless a test changes it).
    hook_status: AtomicU16,
    /// How long the webhook waits before answering, in milliseconds.
    hook_delay_ms: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Recorded {
    fn problem(&self, text: String) {
        lock(&self.problems).push(text);
    }
}

/// The running receivers.
#[derive(Clone)]
pub struct Receivers {
    base: String,
    recorded: Arc<Recorded>,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn slack(State(r): State<Arc<Recorded>>, method: &'static str, headers: HeaderMap, body: Bytes) -> Response {
    if header(&headers, "authorization") != format!("Bearer {SLACK_TOKEN}") {
        r.problem(format!(
            "{method}: wrong authorization `{}`",
            header(&headers, "authorization")
        ));
        return axum::Json(json!({"ok": false, "error": "invalid_auth"})).into_response();
    }
    if !header(&headers, "content-type").starts_with("application/json") {
        r.problem(format!("{method}: content-type `{}`", header(&headers, "content-type")));
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        r.problem(format!("{method}: body is not JSON"));
        return axum::Json(json!({"ok": false, "error": "invalid_json"})).into_response();
    };
    if !value["text"].is_string() || !value["blocks"].is_array() || !value["channel"].is_string() {
        r.problem(format!("{method}: body lacks channel, text or blocks: {value}"));
    }
    let answer = if method == "chat.update" {
        if !value["ts"].is_string() {
            r.problem(format!("chat.update without ts: {value}"));
        }
        json!({"ok": true, "channel": value["channel"], "ts": value["ts"]})
    } else {
        if value["channel"] != "deploys" {
            r.problem(format!("chat.postMessage to channel {}", value["channel"]));
        }
        let ts = r.next_ts.fetch_add(1, Ordering::Relaxed) + 1;
        json!({"ok": true, "channel": "C0DEPLOYS", "ts": format!("1700000000.{ts:06}")})
    };
    lock(&r.slack).push(SlackCall {
        method: method.to_owned(),
        body: value,
    });
    axum::Json(answer).into_response()
}

async fn post_message(state: State<Arc<Recorded>>, headers: HeaderMap, body: Bytes) -> Response {
    slack(state, "chat.postMessage", headers, body).await
}

async fn update(state: State<Arc<Recorded>>, headers: HeaderMap, body: Bytes) -> Response {
    slack(state, "chat.update", headers, body).await
}

/// Checks `t=<unix seconds>,v1=<hex>` against the body.
fn signature_problem(signature: &str, body: &[u8]) -> Option<String> {
    let mut t = None;
    let mut v1 = None;
    for part in signature.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => return Some(format!("unexpected signature part `{part}`")),
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return Some(format!("signature `{signature}` lacks t or v1"));
    };
    let Ok(seconds) = t.parse::<i64>() else {
        return Some(format!("signature time `{t}` is not a number"));
    };
    if (chrono::Utc::now().timestamp() - seconds).abs() > 300 {
        return Some(format!("signature time {seconds} is more than five minutes off"));
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()) else {
        return Some("hmac key".to_owned());
    };
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = hex::encode(mac.finalize().into_bytes());
    (expected != v1).then(|| format!("signature v1 `{v1}` does not match the body"))
}

async fn hook(State(r): State<Arc<Recorded>>, headers: HeaderMap, body: Bytes) -> Response {
    let delay = r.hook_delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let content_type = header(&headers, "content-type");
    if content_type != "application/cloudevents+json; charset=utf-8" {
        r.problem(format!("webhook content-type `{content_type}`"));
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        r.problem("webhook body is not JSON".to_owned());
        return StatusCode::BAD_REQUEST.into_response();
    };
    if header(&headers, "x-deployer-event-id") != event["id"].as_str().unwrap_or("?") {
        r.problem(format!(
            "X-Deployer-Event-Id `{}` is not the event id",
            header(&headers, "x-deployer-event-id")
        ));
    }
    if header(&headers, "x-deployer-event-type") != event["type"].as_str().unwrap_or("?") {
        r.problem(format!(
            "X-Deployer-Event-Type `{}` is not the event type",
            header(&headers, "x-deployer-event-type")
        ));
    }
    let attempt = header(&headers, "x-deployer-delivery-attempt")
        .parse::<u32>()
        .unwrap_or(0);
    if attempt == 0 {
        r.problem(format!(
            "X-Deployer-Delivery-Attempt `{}`",
            header(&headers, "x-deployer-delivery-attempt")
        ));
    }
    if let Some(problem) = signature_problem(header(&headers, "x-deployer-signature"), &body) {
        r.problem(problem);
    }
    let status = r.hook_status.load(Ordering::Relaxed);
    lock(&r.hooks).push(HookCall {
        event,
        attempt,
        answered: status,
    });
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK).into_response()
}

impl Receivers {
    /// Starts both receivers on one free port of 127.0.0.1.
    pub async fn start() -> Receivers {
        let recorded = Arc::new(Recorded::default());
        recorded.hook_status.store(200, Ordering::Relaxed);
        let app = Router::new()
            .route("/api/chat.postMessage", post(post_message))
            .route("/api/chat.update", post(update))
            .route("/events", post(hook))
            .with_state(Arc::clone(&recorded));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receivers {
            base: format!("http://{addr}"),
            recorded,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base(&self) -> String {
        self.base.clone()
    }

    /// Every Slack call so far.
    pub fn slack(&self) -> Vec<SlackCall> {
        lock(&self.recorded.slack).clone()
    }

    /// Every webhook delivery so far.
    pub fn hooks(&self) -> Vec<HookCall> {
        lock(&self.recorded.hooks).clone()
    }

    /// Every request that did not have the documented shape.
    pub fn problems(&self) -> Vec<String> {
        lock(&self.recorded.problems).clone()
    }

    /// Makes the webhook answer `status` from now on.
    pub fn answer_hooks_with(&self, status: u16) {
        self.recorded.hook_status.store(status, Ordering::Relaxed);
    }

    /// Makes the webhook wait this long before answering.
    pub fn delay_hooks(&self, delay: Duration) {
        self.recorded
            .hook_delay_ms
            .store(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}
