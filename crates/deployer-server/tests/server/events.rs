//! Server-Sent Events: replay, resumption with `Last-Event-ID`, live events, the end.

use std::time::Duration;

use futures_util::StreamExt;

use super::support::{TOKEN, TestServer, api_body, json_of};

/// One parsed SSE message.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Message {
    id: i64,
    event: String,
    data: serde_json::Value,
}

/// Reads an SSE body message by message; comments (keep-alives) are counted, not returned.
struct Reader {
    stream: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
    comments: usize,
}

impl Reader {
    async fn open(server: &TestServer, id: &str, last_event_id: Option<i64>) -> Reader {
        let mut request = server
            .client
            .get(server.url(&format!("/api/v1/deployments/{id}/events")))
            .bearer_auth(TOKEN);
        if let Some(last) = last_event_id {
            request = request.header("Last-Event-ID", last.to_string());
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(response.status().as_u16(), 200);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(content_type.starts_with("text/event-stream"), "{content_type}");
        Reader {
            stream: Box::pin(response.bytes_stream()),
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next message, or `None` when the server closed the stream.
    async fn next(&mut self) -> Option<Message> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, None, String::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = Some(v.trim().to_owned());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if let (Some(id), Some(event)) = (id, event) {
                    let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("data not JSON ({e}): {data}"));
                    return Some(Message { id, event, data });
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.stream.next())
                .await
                .unwrap_or_else(|_| panic!("stream stalled"));
            match chunk {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(e)) => panic!("stream failed: {e}"),
                None => return None,
            }
        }
    }

    async fn rest(&mut self) -> Vec<Message> {
        let mut all = Vec::new();
        while let Some(m) = self.next().await {
            all.push(m);
        }
        all
    }
}

fn kinds(messages: &[Message]) -> Vec<&str> {
    messages.iter().map(|m| m.event.as_str()).collect()
}

#[tokio::test]
async fn a_finished_deployment_replays_its_events_and_the_stream_ends() {
    let server = TestServer::start(Duration::from_millis(10)).await;
    let record = json_of(server.post("/api/v1/deployments?wait=true", &api_body("v2")).await, 200).await;
    let id = record["id"].as_str().unwrap_or_default().to_owned();
    let all = Reader::open(&server, &id, None).await.rest().await;
    let kinds = kinds(&all);
    assert_eq!(kinds.first(), Some(&"queued"));
    assert_eq!(kinds.last(), Some(&"succeeded"));
    for expected in ["committed", "applied", "progress"] {
        assert!(kinds.contains(&expected), "{expected} missing from {kinds:?}");
    }
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ids increase");
    for m in &all {
        assert_eq!(m.data["seq"], m.id);
        assert_eq!(m.data["kind"], m.event.as_str());
        assert_eq!(m.data["deployment_id"], id.as_str());
    }
    assert_eq!(
        all.last().map(|m| m.data["record"]["status"].clone()),
        Some(serde_json::json!("succeeded"))
    );

    // Reconnecting after the second event replays only what followed it.
    let after = all[1].id;
    let rest = Reader::open(&server, &id, Some(after)).await.rest().await;
    assert_eq!(rest, all[2..].to_vec());
    // Reconnecting after the last event ends at once.
    let none = Reader::open(&server, &id, all.last().map(|m| m.id)).await.rest().await;
    assert!(none.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn live_events_follow_the_replay_until_the_terminal_event() {
    let server = TestServer::start(Duration::from_millis(10)).await;
    let gate = server.world.west.gate();
    let id = server.deploy_id(&api_body("v2")).await;
    let mut reader = Reader::open(&server, &id, None).await;
    let mut seen = Vec::new();
    while let Some(m) = reader.next().await {
        let kind = m.event.clone();
        seen.push(m);
        if kind == "progress" {
            break;
        }
    }
    // The rollout is held: the stream stays open, sending keep-alives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let record = server.get_json(&format!("/api/v1/deployments/{id}"), 200).await;
    assert_eq!(record["status"], "running");
    gate.add_permits(1);
    seen.extend(reader.rest().await);
    assert!(reader.comments >= 1, "keep-alive comments were sent while idle");
    let kinds = kinds(&seen);
    assert_eq!(kinds.first(), Some(&"queued"));
    assert_eq!(kinds.last(), Some(&"succeeded"));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    server.stop().await;
}

#[tokio::test]
async fn a_malformed_last_event_id_is_refused() {
    let server = TestServer::start(Duration::from_millis(10)).await;
    let id = server.deploy_id(&api_body("v2")).await;
    let r = server
        .client
        .get(server.url(&format!("/api/v1/deployments/{id}/events")))
        .bearer_auth(TOKEN)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let body = json_of(r, 400).await;
    assert_eq!(body["error"]["code"], "invalid_last_event_id");
    server.finished(&id).await;
    server.stop().await;
}
