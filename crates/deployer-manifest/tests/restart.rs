//! `set_restarted_at` beyond the golden cases: idempotence, updates, and refusals.

use deployer_manifest::{EditError, Limits, RESTARTED_AT, parse_documents, set_restarted_at};

const DEPLOY: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: app:1\n";

fn restarted_at(content: &[u8]) -> Vec<String> {
    parse_documents(content, &Limits::default())
        .unwrap_or_default()
        .iter()
        .filter_map(|d| {
            d["spec"]["template"]["metadata"]["annotations"][RESTARTED_AT]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[test]
fn restarting_twice_with_a_new_timestamp_updates_the_value_in_place() {
    let limits = Limits::default();
    let first = set_restarted_at(DEPLOY.as_bytes(), "2024-05-01T12:00:00Z", &limits).map_err(|e| e.to_string());
    let first = first.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restarted_at(&first.content), ["2024-05-01T12:00:00Z"]);
    let second = set_restarted_at(&first.content, "2024-05-02T08:30:00+02:00", &limits).map_err(|e| e.to_string());
    let second = second.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(restarted_at(&second.content), ["2024-05-02T08:30:00+02:00"]);
    assert_eq!(second.content.len(), first.content.len() + 5);
    assert_eq!(second.changes.len(), 1);
    assert_eq!(second.changes[0].old.as_deref(), Some("2024-05-01T12:00:00Z"));
    let third = set_restarted_at(&second.content, "2024-05-02T08:30:00+02:00", &limits).map_err(|e| e.to_string());
    let third = third.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(third.content, second.content);
    assert!(third.changes.is_empty());
    assert_eq!(third.matched.len(), 1);
}

#[test]
fn an_empty_annotations_key_gets_a_block_mapping() {
    let src = DEPLOY.replace(
        "    spec:\n      containers",
        "    metadata:\n      annotations:\n    spec:\n      containers",
    );
    let edit = set_restarted_at(src.as_bytes(), "2024-05-01T12:00:00Z", &Limits::default()).map_err(|e| e.to_string());
    let content = edit.map(|e| e.content).unwrap_or_default();
    let want = DEPLOY.replace(
        "    spec:\n      containers",
        "    metadata:\n      annotations:\n        kubectl.kubernetes.io/restartedAt: \"2024-05-01T12:00:00Z\"\n    spec:\n      containers",
    );
    assert_eq!(String::from_utf8_lossy(&content), want);
}

#[test]
fn a_file_without_restartable_workloads_is_refused() {
    let src = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: a:1}]\n";
    let err = set_restarted_at(src.as_bytes(), "2024-05-01T12:00:00Z", &Limits::default());
    assert!(matches!(err, Err(EditError::NoWorkloads)), "{err:?}");
}

#[test]
fn a_template_shared_through_an_alias_is_refused() {
    let src = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  template: &t\n    spec:\n      containers: [{name: a, image: a:1}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\nspec:\n  template: *t\n";
    let err = set_restarted_at(src.as_bytes(), "2024-05-01T12:00:00Z", &Limits::default());
    assert!(
        matches!(
            err,
            Err(EditError::Yaml { .. }) | Err(EditError::UnsupportedLayout { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn a_template_alias_within_one_document_is_refused_with_a_layout_error() {
    let src = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: a}\n  spec:\n    template: &t\n      spec:\n        containers: [{name: a, image: a:1}]\n- apiVersion: apps/v1\n  kind: Deployment\n  metadata: {name: b}\n  spec:\n    template: *t\n";
    let err = set_restarted_at(src.as_bytes(), "2024-05-01T12:00:00Z", &Limits::default());
    assert!(
        matches!(err, Err(EditError::UnsupportedLayout { ref name, .. }) if name == "b"),
        "{err:?}"
    );
}

#[test]
fn a_deployment_without_a_template_is_refused() {
    let src = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 1\n";
    let err = set_restarted_at(src.as_bytes(), "2024-05-01T12:00:00Z", &Limits::default());
    assert!(matches!(err, Err(EditError::UnsupportedLayout { .. })), "{err:?}");
}
