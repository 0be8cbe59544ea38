//! The Block Kit message of a deployment, as a pure function of its data.

use serde_json::{Value, json};

use deployer_core::image::ImageRef;
use deployer_core::model::{EventKind, Status, TriggerKind};

use crate::cloudevents::DeploymentData;

use super::config::CommitUrlTemplate;

/// The most pods listed in a failure.
const MAX_PODS: usize = 10;
/// Slack's limit for a section's text is 3000 characters; stay under it.
const MAX_SECTION: usize = 2900;

/// A message: Block Kit blocks plus the plain-text fallback used in notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackMessage {
    /// The fallback text.
    pub text: String,
    /// The blocks.
    pub blocks: Vec<Value>,
}

/// Renders the message for a deployment at one of its events.
pub fn render(data: &DeploymentData, commit_url: Option<&CommitUrlTemplate>) -> SlackMessage {
    let place = match &data.environment {
        Some(env) => format!("{}/{} ({env})", data.region, data.cluster),
        None => format!("{}/{}", data.region, data.cluster),
    };
    let headline = headline(data, &place);
    let old = data.image.old.as_deref().map(short_image);
    let new = data
        .image
        .new
        .as_deref()
        .map_or_else(|| data.image.requested.clone(), short_image);
    let change = match &old {
        Some(old) if *old != new => format!("`{}` → `{}`", escape(old), escape(&new)),
        Some(_) | None => format!("`{}`", escape(&new)),
    };
    let commit = data.commit_sha.as_deref().map(|sha| {
        let short: String = sha.chars().take(7).collect();
        match commit_url {
            Some(t) => link(&t.url(sha), &short),
            None => format!("`{}`", escape(&short)),
        }
    });
    let duration = humantime::format_duration(std::time::Duration::from_secs(
        u64::try_from(data.durations.total_ms / 1000).unwrap_or_default(),
    ))
    .to_string();

    let mut fields = vec![
        field("App", &format!("`{}`", escape(&data.file))),
        field("Image", &change),
        field("Where", &escape(&place)),
        field("Status", &status_line(data)),
    ];
    if let Some(commit) = &commit {
        fields.push(field("Commit", commit));
    }
    fields.push(field("Duration", &duration));

    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&headline, 150), "emoji": true}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(failure) = &data.failure {
        let text = format!("*Failure* (`{}`)\n{}", escape(&failure.code), escape(&failure.message));
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, MAX_SECTION)}}));
        if !failure.pods.is_empty() {
            let mut lines: Vec<String> = failure
                .pods
                .iter()
                .take(MAX_PODS)
                .map(|p| {
                    let mut line = format!(
                        "• `{}`/`{}`: *{}*",
                        escape(&p.pod),
                        escape(&p.container),
                        escape(&p.reason)
                    );
                    if p.restarts > 0 {
                        line.push_str(&format!(" ({} restarts)", p.restarts));
                    }
                    if !p.message.is_empty() {
                        line.push_str(&format!(" — {}", escape(&p.message)));
                    }
                    line
                })
                .collect();
            if failure.pods.len() > MAX_PODS {
                lines.push(format!("… and {} more", failure.pods.len() - MAX_PODS));
            }
            let text = format!("*Pods*\n{}", lines.join("\n"));
            blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": cut(&text, MAX_SECTION)}}));
        }
    }
    blocks.push(
        json!({"type": "context", "elements": [{"type": "mrkdwn", "text": cut(&context_line(data), MAX_SECTION)}]}),
    );

    let mut text = format!("{headline}: {}", plain_change(old.as_deref(), &new));
    if data.outcome.is_some() {
        text.push_str(&format!(" ({duration})"));
    }
    if let Some(failure) = &data.failure {
        text.push_str(&format!(" — {}: {}", failure.code, failure.message));
    }
    SlackMessage {
        text: cut(&text, 3000),
        blocks,
    }
}

fn headline(data: &DeploymentData, place: &str) -> String {
    let file = &data.file;
    let rollback = data.trigger.kind == TriggerKind::Rollback;
    match data.event {
        EventKind::Queued => format!("⏳ {file} queued for {place}"),
        EventKind::Committed => format!("📝 {file} committed for {place}"),
        EventKind::Applied => format!("🚀 {file} applied to {place}"),
        EventKind::Progress => format!("🔄 {file} rolling out on {place}"),
        EventKind::Succeeded if rollback => format!("↩️ {file} rolled back on {place}"),
        EventKind::Succeeded => format!("✅ {file} deployed to {place}"),
        EventKind::Failed => format!("❌ {file} failed on {place}"),
        EventKind::Unchanged => format!("➖ {file} unchanged on {place}"),
    }
}

fn status_line(data: &DeploymentData) -> String {
    let mut s = match data.status {
        Status::Running => format!("running ({})", data.phase),
        other => other.to_string(),
    };
    if let Some(r) = &data.rollout
        && data.outcome.is_none()
    {
        s.push_str(&format!("\n{}/{} updated, {} ready", r.updated, r.desired, r.ready));
    }
    escape(&s)
}

fn context_line(data: &DeploymentData) -> String {
    let t = &data.trigger;
    let mut parts = vec![format!("by *{}* via {}", escape(&t.requested_by), trigger_name(t.kind))];
    if let Some(url) = &t.build_url {
        let label =
            t.ci.as_deref()
                .map_or_else(|| "CI build".to_owned(), |ci| format!("{ci} build"));
        parts.push(link(url, &label));
    } else if let Some(ci) = &t.ci {
        parts.push(escape(ci));
    }
    if let Some(branch) = &t.branch {
        parts.push(format!("branch `{}`", escape(branch)));
    }
    if let Some(commit) = &t.commit {
        let short: String = commit.chars().take(7).collect();
        parts.push(format!("app commit `{}`", escape(&short)));
    }
    if let Some(reason) = &t.reason {
        parts.push(format!("“{}”", escape(reason)));
    }
    parts.push(format!("deployment `{}`", escape(&data.deployment_id)));
    parts.join(" · ")
}

fn trigger_name(kind: TriggerKind) -> &'static str {
    match kind {
        TriggerKind::Api => "the API",
        TriggerKind::Cli => "the CLI",
        TriggerKind::Ui => "the UI",
        TriggerKind::Ci => "a CI release",
        TriggerKind::Registry => "a registry push",
        TriggerKind::Rollback => "a rollback",
    }
}

fn plain_change(old: Option<&str>, new: &str) -> String {
    match old {
        Some(old) if old != new => format!("{old} → {new}"),
        _ => new.to_owned(),
    }
}

/// The tag of an image (or its short digest), else the reference as given.
fn short_image(image: &str) -> String {
    match ImageRef::parse(image) {
        Ok(r) => match (r.tag(), r.digest()) {
            (Some(tag), _) => tag.to_string(),
            (None, Some(d)) => format!("{}:{}", d.algorithm(), d.hex().chars().take(12).collect::<String>()),
            (None, None) => image.to_owned(),
        },
        Err(_) => image.to_owned(),
    }
}

fn field(title: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut(&format!("*{title}*\n{value}"), 1900)})
}

/// A mrkdwn link, or the escaped label when the URL cannot be linked safely.
fn link(url: &str, label: &str) -> String {
    let safe = (url.starts_with("https://") || url.starts_with("http://"))
        && !url.chars().any(|c| c.is_whitespace() || matches!(c, '|' | '<' | '>'));
    if safe {
        format!("<{url}|{}>", escape(label))
    } else {
        escape(label)
    }
}

/// Escapes the three characters mrkdwn gives meaning to.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mrkdwn_control_characters_are_escaped() {
        assert_eq!(escape("<@U123> & <!channel>"), "&lt;@U123&gt; &amp; &lt;!channel&gt;");
        assert_eq!(
            link("https://ci.example.com/b/1", "build"),
            "<https://ci.example.com/b/1|build>"
        );
        assert_eq!(link("javascript:alert(1)", "x<y"), "x&lt;y");
    }

    #[test]
    fn images_are_shown_by_tag() {
        assert_eq!(short_image("registry.example.com/team/api:v1.4.2"), "v1.4.2");
        assert_eq!(short_image("not an image"), "not an image");
    }
}
