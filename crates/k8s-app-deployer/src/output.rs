//! How results are shown: live progress on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};

use serde_json::Value;

fn text<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(next) => next,
            None => return "",
        };
    }
    cur.as_str().unwrap_or("")
}

fn num(v: &Value, path: &[&str]) -> i64 {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(next) => next,
            None => return 0,
        };
    }
    cur.as_i64().unwrap_or(0)
}

/// The target of a record, `region/cluster/file`.
pub fn target(record: &Value) -> String {
    let t = &record["request"]["target"];
    format!(
        "{}/{}/{}",
        text(t, &["region"]),
        text(t, &["cluster"]),
        text(t, &["file"])
    )
}

/// One line describing where a deployment stands.
pub fn progress_line(kind: &str, record: &Value) -> String {
    let phase = text(record, &["phase"]);
    let status = text(record, &["status"]);
    let mut line = format!("{:<10} {:<11}", if kind.is_empty() { status } else { kind }, phase);
    if let Some(r) = record.get("rollout").filter(|r| !r.is_null()) {
        line.push_str(&format!(
            " updated {}/{} ready {} available {}",
            num(r, &["updated"]),
            num(r, &["desired"]),
            num(r, &["ready"]),
            num(r, &["available"])
        ));
    }
    if let Some(sha) = record.get("commit_sha").and_then(Value::as_str) {
        line.push_str(&format!(" commit {}", &sha[..sha.len().min(12)]));
    }
    line
}

/// Renders progress events: rewrites one line on a terminal, prints a line each otherwise.
pub struct Progress {
    tty: bool,
    last: String,
}

impl Progress {
    /// A renderer for standard error.
    pub fn new() -> Self {
        let tty = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self {
            tty,
            last: String::new(),
        }
    }

    /// Shows one event.
    pub fn show(&mut self, kind: &str, record: &Value) {
        let line = progress_line(kind, record);
        if line == self.last {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r\x1b[2K{line}");
            if matches!(kind, "succeeded" | "failed" | "unchanged") {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        self.last = line;
    }
}

/// A human summary of a finished (or current) record, for standard output.
pub fn summary(record: &Value) -> String {
    let mut out = String::new();
    let id = text(record, &["id"]);
    let status = text(record, &["status"]);
    out.push_str(&format!("deployment {id} {status}\n"));
    out.push_str(&format!("  target:  {}\n", target(record)));
    let method = text(record, &["request", "method"]);
    if !method.is_empty() {
        out.push_str(&format!("  method:  {method}\n"));
    }
    let old = record
        .get("old_images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let new = record
        .get("new_images")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut seen = std::collections::BTreeSet::new();
    for (o, n) in old.iter().zip(new.iter()) {
        if !seen.insert((o.to_string(), n.to_string())) {
            continue;
        }
        out.push_str(&format!(
            "  image:   {} → {}\n",
            o.as_str().unwrap_or(""),
            n.as_str().unwrap_or("")
        ));
    }
    if let Some(sha) = record.get("commit_sha").and_then(Value::as_str) {
        out.push_str(&format!("  commit:  {sha}\n"));
    }
    if let Some(r) = record.get("rollout").filter(|r| !r.is_null()) {
        out.push_str(&format!("  rollout: {}\n", text(r, &["message"])));
    }
    if let Some(f) = record.get("failure").filter(|f| !f.is_null()) {
        out.push_str(&format!(
            "  failure: [{}] {}\n",
            text(f, &["code"]),
            text(f, &["message"])
        ));
    }
    if let Some(d) = record.get("dry_run").filter(|d| !d.is_null()) {
        out.push('\n');
        out.push_str(text(d, &["diff"]));
        out.push_str("\ncommit message:\n");
        for line in text(d, &["commit_message"]).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}
