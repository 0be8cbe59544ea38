//! Finding workloads, their pod templates and their containers in a parsed manifest.
//!
//! A workload is an object whose `kind` is one of [`WORKLOAD_KINDS`], in any document of the
//! file. Objects inside a `kind: List` document's `items` count too, exactly as `kubectl
//! apply` treats them. The pod spec is at `spec.template.spec`, except for a `CronJob`
//! (`spec.jobTemplate.spec.template.spec`) and a bare `Pod` (`spec`).

use serde::Serialize;

use crate::tree::{NodeId, NodeKind, Tree};

/// The kinds whose pod templates hold containers.
pub const WORKLOAD_KINDS: [&str; 8] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "ReplicationController",
    "Job",
    "CronJob",
    "Pod",
];

/// A container's image, as found in a workload of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ContainerImage {
    /// Index of the YAML document in the file, from 0 (empty documents count).
    pub document: usize,
    /// The workload's `kind`.
    pub kind: String,
    /// The workload's `metadata.name` (empty when it has none).
    pub name: String,
    /// The container's `name`.
    pub container: String,
    /// Whether it is an init container.
    pub init: bool,
    /// The image as written (its value, without quotes).
    pub image: String,
    /// Line of the image value, from 1.
    pub line: usize,
}

/// A Kubernetes object found in a document (or in a `List`'s items).
#[derive(Debug, Clone)]
pub(crate) struct Object {
    /// Index of the document.
    pub document: usize,
    /// Its `kind`.
    pub kind: String,
    /// Its `metadata.name`, or empty.
    pub name: String,
    /// The object's mapping node.
    pub node: NodeId,
}

/// A container image with the node holding it.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    /// What is reported.
    pub image: ContainerImage,
    /// The scalar node holding the image (aliases followed).
    pub node: NodeId,
    /// Byte offset of the image value as written (the alias, for an alias).
    pub at: usize,
}

/// Every object of the file: each document's root mapping, and the items of `List`s.
pub(crate) fn objects(tree: &Tree<'_>) -> Vec<Object> {
    let mut out = Vec::new();
    for doc in &tree.documents {
        let Some(root) = doc.root else { continue };
        let Some(kind) = tree.lookup(root, "kind").and_then(|(k, _)| tree.scalar(k)) else {
            continue;
        };
        if kind == "List" {
            let items = tree
                .lookup(root, "items")
                .and_then(|(i, _)| tree.items(i))
                .unwrap_or(&[]);
            for &item in items {
                if let Some(obj) = object(tree, doc.index, item) {
                    out.push(obj);
                }
            }
        } else if let Some(obj) = object(tree, doc.index, root) {
            out.push(obj);
        }
    }
    out
}

fn object(tree: &Tree<'_>, document: usize, node: NodeId) -> Option<Object> {
    tree.pairs(node)?;
    let kind = tree.lookup(node, "kind").and_then(|(k, _)| tree.scalar(k))?.to_owned();
    let name = tree
        .lookup(node, "metadata")
        .and_then(|(m, _)| tree.lookup(m, "name"))
        .and_then(|(n, _)| tree.scalar(n))
        .unwrap_or_default()
        .to_owned();
    Some(Object {
        document,
        kind,
        name,
        node: tree.resolve(node),
    })
}

/// Follows a path of keys from a mapping node.
pub(crate) fn path(tree: &Tree<'_>, from: NodeId, keys: &[&str]) -> Option<NodeId> {
    keys.iter()
        .try_fold(from, |node, key| tree.lookup(node, key).map(|(v, _)| v))
}

/// The pod spec of a workload object, if it is a workload and has one.
pub(crate) fn pod_spec(tree: &Tree<'_>, obj: &Object) -> Option<NodeId> {
    let keys: &[&str] = match obj.kind.as_str() {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        k if WORKLOAD_KINDS.contains(&k) => &["spec", "template", "spec"],
        _ => return None,
    };
    path(tree, obj.node, keys)
}

/// Every container and init container image of every workload, in file order.
pub(crate) fn containers(tree: &Tree<'_>) -> Vec<Found> {
    let mut out = Vec::new();
    for obj in objects(tree) {
        let Some(spec) = pod_spec(tree, &obj) else { continue };
        for (key, init) in [("initContainers", true), ("containers", false)] {
            let Some((list, _)) = tree.lookup(spec, key) else {
                continue;
            };
            for &container in tree.items(list).unwrap_or(&[]) {
                let Some((image, _)) = tree.lookup(container, "image") else {
                    continue;
                };
                let node = tree.resolve(image);
                let NodeKind::Scalar { value, .. } = &tree.nodes[node].kind else {
                    continue;
                };
                let name = tree
                    .lookup(container, "name")
                    .and_then(|(n, _)| tree.scalar(n))
                    .unwrap_or_default()
                    .to_owned();
                out.push(Found {
                    image: ContainerImage {
                        document: obj.document,
                        kind: obj.kind.clone(),
                        name: obj.name.clone(),
                        container: name,
                        init,
                        image: value.clone(),
                        line: tree.nodes[image].start.line,
                    },
                    node,
                    at: tree.nodes[image].start.byte,
                });
            }
        }
    }
    // Report in file order: init containers usually come after containers in the text.
    out.sort_by_key(|f| f.at);
    out
}
