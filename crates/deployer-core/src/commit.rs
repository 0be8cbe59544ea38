//! Commit messages built from user text, with no way to inject a header or a trailer.
//!
//! Every piece of user text (reason, requester, branch, build URL) is reduced to one line of
//! printable characters before it is placed in a message, so a reason such as
//! `"fix\n\nDeployment-Id: forged"` cannot add a trailer.

use crate::model::{DeploymentRecord, ImageChange, Method};
use crate::ports::CommitSpec;

/// The longest single-line value kept in a message (longer text is cut with `…`).
pub const MAX_LINE: usize = 200;

/// Reduces user text to one line of printable characters, at most [`MAX_LINE`] long.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_LINE));
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() { ' ' } else { c };
        // Unicode line and paragraph separators and bidi controls are not shown.
        if matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
            continue;
        }
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        out.push(c);
    }
    let trimmed = out.trim();
    if trimmed.chars().count() > MAX_LINE {
        let mut cut: String = trimmed.chars().take(MAX_LINE - 1).collect();
        cut.push('…');
        cut
    } else {
        trimmed.to_owned()
    }
}

/// The commit for a deployment: subject, body and trailers.
///
/// `old` and `new` describe the image change (`v1.2.2`, `v1.2.3`).
pub fn commit_spec(record: &DeploymentRecord, path: &str, old: &str, new: &str) -> CommitSpec {
    let req = &record.request;
    let target = &req.target;
    let subject = match (req.method, &req.change) {
        (Method::Restart, _) | (_, ImageChange::None) => {
            format!("restart {} on {}/{}", target.file, target.region, target.cluster)
        }
        _ if req.rollback_of.is_some() => {
            format!(
                "rollback {} {} → {} on {}/{}",
                target.file,
                one_line(old),
                one_line(new),
                target.region,
                target.cluster
            )
        }
        _ => format!(
            "deploy {} {} → {} to {}/{}",
            target.file,
            one_line(old),
            one_line(new),
            target.region,
            target.cluster
        ),
    };
    let mut body = String::new();
    if let Some(reason) = req.reason.as_deref().map(one_line).filter(|r| !r.is_empty()) {
        body.push_str(&reason);
        body.push('\n');
    }
    let mut trailers = vec![
        ("Deployment-Id".to_owned(), record.id.to_string()),
        ("Requested-By".to_owned(), one_line(&req.requested_by)),
        ("Source".to_owned(), source_label(record)),
        ("File".to_owned(), path.to_owned()),
    ];
    let optional = [
        ("CI-Build", req.source.build_url.as_deref()),
        ("Commit", req.source.commit.as_deref()),
        ("Branch", req.source.branch.as_deref()),
    ];
    for (key, value) in optional {
        if let Some(v) = value.map(one_line).filter(|v| !v.is_empty()) {
            trailers.push((key.to_owned(), v));
        }
    }
    if let Some(undone) = &req.rollback_of {
        trailers.push(("Rollback-Of".to_owned(), undone.to_string()));
    }
    if let Some(release) = &record.release_id {
        trailers.push(("Release-Id".to_owned(), one_line(release)));
    }
    CommitSpec {
        path: path.to_owned(),
        subject,
        body,
        trailers,
    }
}

fn source_label(record: &DeploymentRecord) -> String {
    let source = &record.request.source;
    let kind = serde_json::to_value(source.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "api".to_owned());
    match &source.ci {
        Some(ci) => format!("{kind} ({})", one_line(ci)),
        None => kind,
    }
}

/// The full message text: subject, blank line, body, blank line, trailers.
pub fn render_message(spec: &CommitSpec) -> String {
    let mut msg = one_line(&spec.subject);
    msg.push_str("\n\n");
    let body = spec.body.trim_end();
    if !body.is_empty() {
        msg.push_str(body);
        msg.push_str("\n\n");
    }
    for (k, v) in &spec.trailers {
        msg.push_str(&one_line(k));
        msg.push_str(": ");
        msg.push_str(&one_line(v));
        msg.push('\n');
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_cannot_forge_trailers() {
        assert_eq!(one_line("fix\n\nDeployment-Id: forged"), "fix Deployment-Id: forged");
        assert_eq!(one_line("a\r\nb\u{0}c\u{1b}[31m"), "a b c [31m");
        assert_eq!(one_line("  many   spaces\t"), "many spaces");
    }

    #[test]
    fn long_text_is_cut_to_one_line() {
        let long = "x".repeat(1000);
        let cut = one_line(&long);
        assert_eq!(cut.chars().count(), MAX_LINE);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn rendered_message_has_subject_body_and_trailers() {
        let spec = CommitSpec {
            path: "r/c/apps/a.yaml".to_owned(),
            subject: "deploy a v1 → v2 to r/c".to_owned(),
            body: "hotfix\n".to_owned(),
            trailers: vec![
                ("Deployment-Id".to_owned(), "X".to_owned()),
                ("Requested-By".to_owned(), "ci\nEvil: 1".to_owned()),
            ],
        };
        assert_eq!(
            render_message(&spec),
            "deploy a v1 → v2 to r/c\n\nhotfix\n\nDeployment-Id: X\nRequested-By: ci Evil: 1\n"
        );
    }
}
