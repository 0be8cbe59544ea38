//! Setting the `kubectl.kubernetes.io/restartedAt` pod-template annotation, as
//! `kubectl rollout restart` does, but in the file.
//!
//! In every Deployment, StatefulSet and DaemonSet the annotation is set at
//! `spec.template.metadata.annotations`. Missing `metadata` or `annotations` mappings are
//! inserted: in a block mapping as new lines right after the parent key's line, indented like
//! the file (the step between the `template` key and its children); in a flow mapping as a
//! new first entry. An existing value keeps its quoting style; a new one is double quoted.
//! Parts reached through an alias or a `<<` merge key are shared with other places and are
//! refused rather than silently changing those.

use saphyr_parser::ScalarStyle;
use serde::Serialize;

use crate::error::EditError;
use crate::images::{Edit, decode};
use crate::limits::Limits;
use crate::splice::{self, Splice};
use crate::tree::{self, NodeId, NodeKind, Tree, skip_properties};
use crate::workload::{self, Object};

/// The annotation `kubectl rollout restart` sets.
pub const RESTARTED_AT: &str = "kubectl.kubernetes.io/restartedAt";

/// The kinds whose pods a restart annotation rolls.
const RESTARTABLE: [&str; 3] = ["Deployment", "StatefulSet", "DaemonSet"];

/// The restart annotation of one workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RestartChange {
    /// Index of the YAML document in the file, from 0.
    pub document: usize,
    /// The workload's `kind`.
    pub kind: String,
    /// The workload's `metadata.name`.
    pub name: String,
    /// The annotation's value before, if it was set.
    pub old: Option<String>,
    /// The annotation's value after.
    pub new: String,
    /// Line of the annotation's value after the edit, from 1.
    pub line: usize,
}

/// Sets `spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]` to
/// `timestamp` in every Deployment, StatefulSet and DaemonSet of the file, leaving every
/// other byte as it was. Setting the same timestamp twice changes nothing the second time.
///
/// # Errors
/// The parsing errors of [`list_images`](crate::list_images);
/// [`EditError::InvalidTimestamp`] unless `timestamp` is RFC 3339;
/// [`EditError::NoWorkloads`] when there is no such workload; and
/// [`EditError::UnsupportedLayout`] when the template is missing, is not a mapping, or is
/// shared through aliases or merge keys.
pub fn set_restarted_at(content: &[u8], timestamp: &str, limits: &Limits) -> Result<Edit<RestartChange>, EditError> {
    if !is_rfc3339(timestamp) {
        return Err(EditError::InvalidTimestamp {
            value: timestamp.chars().take(80).collect(),
        });
    }
    let src = decode(content)?;
    let tree = tree::parse(src, limits)?;
    let newline = if src.contains("\r\n") { "\r\n" } else { "\n" };
    let mut splices = Vec::new();
    let mut matched = Vec::new();
    for obj in workload::objects(&tree)
        .into_iter()
        .filter(|o| RESTARTABLE.contains(&o.kind.as_str()))
    {
        let fail = |line: usize, reason: &'static str| EditError::UnsupportedLayout {
            what: obj.kind.clone(),
            name: obj.name.clone(),
            line,
            reason,
        };
        let obj_line = tree.nodes[obj.node].start.line;
        let (spec_key, spec) = child(&tree, obj.node, "spec")
            .map_err(|r| fail(obj_line, r))?
            .ok_or_else(|| fail(obj_line, "it has no `spec`"))?;
        let (template_key, template) = child(&tree, spec, "template")
            .map_err(|r| fail(tree.nodes[spec_key].start.line, r))?
            .ok_or_else(|| fail(tree.nodes[spec_key].start.line, "its `spec` has no pod `template`"))?;
        if tree.pairs(template).is_none() {
            return Err(fail(
                tree.nodes[template].start.line,
                "its pod `template` is not a mapping",
            ));
        }
        let step = {
            let (k, t) = (&tree.nodes[template_key], &tree.nodes[template]);
            if !t.flow && t.start.col > k.start.col {
                t.start.col - k.start.col
            } else {
                2
            }
        };
        let ctx = Ctx {
            tree: &tree,
            newline,
            step,
            timestamp,
        };
        let (splice, old, line) = ctx
            .ensure(template, template_key, &["metadata", "annotations", RESTARTED_AT])
            .map_err(|(line, reason)| fail(line, reason))?;
        splices.extend(splice);
        matched.push(change(&obj, old, timestamp, line));
    }
    if matched.is_empty() {
        return Err(EditError::NoWorkloads);
    }
    let changes = matched
        .iter()
        .filter(|c| c.old.as_deref() != Some(timestamp))
        .cloned()
        .collect();
    Ok(Edit {
        content: splice::apply(src, splices).into_bytes(),
        changes,
        matched,
    })
}

fn change(obj: &Object, old: Option<String>, new: &str, line: usize) -> RestartChange {
    RestartChange {
        document: obj.document,
        kind: obj.kind.clone(),
        name: obj.name.clone(),
        old,
        new: new.to_owned(),
        line,
    }
}

/// A key's own pair in a mapping: `Err` when it is only inherited through a merge key or its
/// value is an alias (editing it would change other places), `Ok(None)` when absent.
fn child(tree: &Tree<'_>, map: NodeId, key: &str) -> Result<Option<(NodeId, NodeId)>, &'static str> {
    let Some(pairs) = tree.pairs(map) else {
        return Err("a parent of the pod template is not a mapping");
    };
    let direct = pairs
        .iter()
        .find(|(k, _)| !tree.is_merge_key(*k) && tree.scalar(*k) == Some(key));
    match direct {
        Some((_, v)) if matches!(tree.nodes[*v].kind, NodeKind::Alias(_)) => {
            Err("the pod template or its metadata is an alias, shared with other places; write it out")
        }
        Some(&(k, v)) => Ok(Some((k, v))),
        None if tree.lookup(map, key).is_some() => {
            Err("the pod template or its metadata comes from a `<<` merge key, shared with other places; write it out")
        }
        None => Ok(None),
    }
}

struct Ctx<'t, 's> {
    tree: &'t Tree<'s>,
    newline: &'static str,
    step: usize,
    timestamp: &'t str,
}

type Outcome = (Option<Splice>, Option<String>, usize);

impl Ctx<'_, '_> {
    /// Makes `keys` lead to the timestamp under `map` (the value of `parent_key`): returns the
    /// splice (none when already set), the previous value and the line of the value.
    fn ensure(&self, map: NodeId, parent_key: NodeId, keys: &[&str]) -> Result<Outcome, (usize, &'static str)> {
        let tree = self.tree;
        let line = tree.nodes[map].start.line;
        let Some((&key, rest)) = keys.split_first() else {
            return Err((line, "nothing to set"));
        };
        match child(tree, map, key).map_err(|r| (line, r))? {
            Some((k, v)) if rest.is_empty() => self.replace(k, v),
            Some((k, v)) if tree.pairs(v).is_some() => self.ensure(v, k, rest),
            Some((k, v)) if is_empty_value(tree, v) => {
                // `annotations:` with nothing after it: add the block mapping under the key.
                let indent = tree.nodes[k].start.col + self.step;
                let (at, line) = after_line(tree.src, tree.nodes[k].start.byte, tree.nodes[k].start.line);
                let text = self.block_lines(indent, rest, at == tree.src.len());
                Ok((
                    Some(Splice {
                        start: at,
                        end: at,
                        text,
                    }),
                    None,
                    line + rest.len() - 1,
                ))
            }
            Some((_, v)) => Err((
                tree.nodes[v].start.line,
                "the pod template's `metadata` or `annotations` is not a mapping",
            )),
            None => self.insert(map, parent_key, keys),
        }
    }

    /// Replaces an existing annotation value.
    fn replace(&self, key: NodeId, value: NodeId) -> Result<Outcome, (usize, &'static str)> {
        let tree = self.tree;
        let node = &tree.nodes[value];
        let line = node.start.line;
        let old = tree.scalar(value).map(str::to_owned);
        if old.as_deref() == Some(self.timestamp) {
            return Ok((None, old, line));
        }
        if matches!(&node.kind, NodeKind::Scalar { value, style: ScalarStyle::Plain } if value.is_empty()) {
            // `restartedAt:` with no value: write one after the colon.
            let colon = tree.src[tree.nodes[key].start.byte..]
                .find(':')
                .map(|i| tree.nodes[key].start.byte + i + 1);
            let Some(at) = colon else {
                return Err((line, "the annotation's key has no `:`"));
            };
            let text = format!(" {}", splice::double_quoted(self.timestamp));
            return Ok((
                Some(Splice {
                    start: at,
                    end: at,
                    text,
                }),
                None,
                tree.nodes[key].start.line,
            ));
        }
        let token = splice::scalar_token(tree, value).map_err(|r| (line, r))?;
        let text = splice::render(self.timestamp, token.quote);
        Ok((
            Some(Splice {
                start: token.start,
                end: token.end,
                text,
            }),
            old,
            line,
        ))
    }

    /// Inserts the missing `keys` as a new entry of `map`.
    fn insert(&self, map: NodeId, parent_key: NodeId, keys: &[&str]) -> Result<Outcome, (usize, &'static str)> {
        let tree = self.tree;
        let node = &tree.nodes[map];
        if node.flow {
            let open = skip_properties(tree.src, node.start.byte);
            if tree.src.as_bytes().get(open) != Some(&b'{') {
                return Err((
                    node.start.line,
                    "a flow mapping of the pod template could not be located",
                ));
            }
            let empty = tree.pairs(map).is_none_or(<[_]>::is_empty);
            let mut text = self.flow_entry(keys);
            if !empty {
                text.push_str(", ");
            }
            return Ok((
                Some(Splice {
                    start: open + 1,
                    end: open + 1,
                    text,
                }),
                None,
                node.start.line,
            ));
        }
        let parent = &tree.nodes[parent_key];
        let (at, line) = after_line(tree.src, parent.start.byte, parent.start.line);
        let text = self.block_lines(node.start.col, keys, at == tree.src.len());
        Ok((
            Some(Splice {
                start: at,
                end: at,
                text,
            }),
            None,
            line + keys.len() - 1,
        ))
    }

    /// `k0: {k1: {k2: "ts"}}`
    fn flow_entry(&self, keys: &[&str]) -> String {
        let mut text = String::new();
        for (i, key) in keys.iter().enumerate() {
            text.push_str(key);
            text.push_str(": ");
            if i + 1 == keys.len() {
                text.push_str(&splice::double_quoted(self.timestamp));
            } else {
                text.push('{');
            }
        }
        text.push_str(&"}".repeat(keys.len().saturating_sub(1)));
        text
    }

    /// One line per key, each nested one step deeper, the last holding the timestamp.
    fn block_lines(&self, indent: usize, keys: &[&str], at_end_without_newline: bool) -> String {
        let mut text = String::new();
        if at_end_without_newline {
            text.push_str(self.newline);
        }
        for (i, key) in keys.iter().enumerate() {
            text.push_str(&" ".repeat(indent + i * self.step));
            text.push_str(key);
            text.push(':');
            if i + 1 == keys.len() {
                text.push(' ');
                text.push_str(&splice::double_quoted(self.timestamp));
            }
            if !at_end_without_newline || i + 1 < keys.len() {
                text.push_str(self.newline);
            }
        }
        text
    }
}

/// Whether a value is empty: `key:` followed by nothing.
fn is_empty_value(tree: &Tree<'_>, v: NodeId) -> bool {
    matches!(&tree.nodes[v].kind, NodeKind::Scalar { value, style: ScalarStyle::Plain } if value.is_empty())
        && tree.nodes[v].tag.is_none()
}

/// The byte just after the line holding `byte` (and that line's number + 1).
fn after_line(src: &str, byte: usize, line: usize) -> (usize, usize) {
    match src[byte..].find('\n') {
        Some(i) => (byte + i + 1, line + 1),
        None => (src.len(), line + 1),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, as `kubectl rollout restart` writes it.
fn is_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20 || b.len() > 40 {
        return false;
    }
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut i = 19;
    if b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    match &b[i..] {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::is_rfc3339;

    #[test]
    fn only_rfc3339_timestamps_are_accepted() {
        assert!(is_rfc3339("2024-05-01T12:00:00Z"));
        assert!(is_rfc3339("2024-05-01T12:00:00.123456+02:00"));
        assert!(!is_rfc3339("2024-05-01 12:00:00"));
        assert!(!is_rfc3339("2024-05-01T12:00:00"));
        assert!(!is_rfc3339("now"));
        assert!(!is_rfc3339("2024-05-01T12:00:00Z\n"));
        assert!(!is_rfc3339("2024-05-01T12:00:00.Z"));
    }
}
