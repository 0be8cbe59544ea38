//! `parse_documents` turns a manifest file into the JSON objects `kubectl apply` would send.

use deployer_manifest::{EditError, Limits, parse_documents};
use serde_json::json;

fn parse(src: &str) -> Result<Vec<serde_json::Value>, EditError> {
    parse_documents(src.as_bytes(), &Limits::default())
}

#[test]
fn documents_become_objects_and_empty_ones_are_skipped() {
    let src = "---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n---\n---\napiVersion: v1\nkind: Service\nmetadata: {name: b}\n...\n";
    let docs = parse(src);
    assert_eq!(
        docs,
        Ok(vec![
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}}),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "b"}}),
        ])
    );
}

#[test]
fn scalars_resolve_as_kubectl_reads_them() {
    let src = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: types}
data:
  int: 42
  neg: -7
  hex: 0x1F
  octal: 0755
  float: 1.5
  version: "1.10"
  yes11: yes
  off11: off
  truth: true
  nothing: ~
  empty:
  quoted: "true"
  single: '007'
  str: !!str 123
  when: 2024-05-01T12:00:00Z
  plain: hello world
"#;
    let docs = parse(src).unwrap_or_default();
    assert_eq!(
        docs.first().map(|d| &d["data"]),
        Some(&json!({
            "int": 42, "neg": -7, "hex": 31, "octal": 493, "float": 1.5, "version": "1.10",
            "yes11": true, "off11": false, "truth": true, "nothing": null, "empty": null,
            "quoted": "true", "single": "007", "str": "123", "when": "2024-05-01T12:00:00Z",
            "plain": "hello world"
        }))
    );
}

#[test]
fn anchors_aliases_and_merge_keys_are_resolved() {
    let src = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: app, labels: &labels {app: web, tier: front}}
spec:
  selector: {matchLabels: *labels}
  template:
    spec:
      containers:
        - &base {name: web, image: "app:1", env: [{name: A, value: "1"}]}
        - <<: *base
          name: worker
"#;
    let docs = parse(src).unwrap_or_default();
    let d = &docs[0];
    assert_eq!(
        d["spec"]["selector"]["matchLabels"],
        json!({"app": "web", "tier": "front"})
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][1],
        json!({"name": "worker", "image": "app:1", "env": [{"name": "A", "value": "1"}]})
    );
}

#[test]
fn a_list_contributes_its_items() {
    let src = "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
    let names: Vec<String> = parse(src)
        .unwrap_or_default()
        .iter()
        .map(|d| d["metadata"]["name"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[test]
fn a_document_without_kind_api_version_or_name_is_refused() {
    for (src, missing) in [
        ("apiVersion: v1\nmetadata: {name: a}\n", "`kind`"),
        ("kind: ConfigMap\nmetadata: {name: a}\n", "`apiVersion`"),
        (
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {}}\n",
            "`metadata.name`",
        ),
        ("apiVersion: v1\nkind: ConfigMap\n---\n- a\n", "`metadata.name`"),
    ] {
        match parse(src) {
            Err(EditError::InvalidDocument { reason, .. }) => assert!(reason.contains(missing), "{src}: {reason}"),
            other => panic!("{src}: expected InvalidDocument, got {other:?}"),
        }
    }
}

#[test]
fn a_sequence_document_is_refused() {
    let err = parse("- a\n- b\n");
    assert!(
        matches!(err, Err(EditError::InvalidDocument { document: 0, .. })),
        "{err:?}"
    );
}

#[test]
fn values_json_cannot_hold_and_custom_tags_are_refused() {
    for src in [
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: .inf}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {x: !custom y}\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {[a, b]: c}\n",
    ] {
        let err = parse(src);
        assert!(matches!(err, Err(EditError::InvalidDocument { .. })), "{src}: {err:?}");
    }
}

#[test]
fn crlf_and_a_byte_order_mark_do_not_change_the_objects() {
    let lf = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: |\n    line\n";
    let crlf = format!("\u{feff}{}", lf.replace('\n', "\r\n"));
    assert_eq!(parse(lf), parse(&crlf));
    assert_eq!(parse(lf).unwrap_or_default()[0]["data"]["k"], "line\n");
}
