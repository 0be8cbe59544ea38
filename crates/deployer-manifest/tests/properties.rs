//! Property tests over generated manifests: an edit changes exactly the image values, keeps
//! the output valid, and is idempotent; a restart adds exactly one annotation per workload.

use deployer_core::image::{ImageRef, Tag};
use deployer_manifest::{
    ImageSelector, Limits, NewImage, RESTARTED_AT, list_images, parse_documents, set_image, set_restarted_at,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Workload {
    kind: &'static str,
    quote: usize,
    comment: bool,
    flow: bool,
    indentless: bool,
    sidecar: bool,
    init: Option<bool>, // Some(true): same repository; Some(false): another one
}

#[derive(Debug, Clone)]
struct Manifest {
    repo: &'static str,
    step: usize,
    crlf: bool,
    trailing_newline: bool,
    header: bool,
    extra_config_map: bool,
    workloads: Vec<Workload>,
}

const REPOS: [&str; 5] = [
    "nginx",
    "ghcr.io/shop/api",
    "registry.example.com:5000/team/app",
    "localhost:5000/x",
    "bitnami/redis",
];
const KINDS: [&str; 7] = [
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "ReplicaSet",
    "Job",
    "CronJob",
    "Pod",
];

fn workload() -> impl Strategy<Value = Workload> {
    (
        0..KINDS.len(),
        0..3usize,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<bool>()),
    )
        .prop_map(|(k, quote, comment, flow, indentless, sidecar, init)| Workload {
            kind: KINDS[k],
            quote,
            comment,
            flow,
            indentless,
            sidecar,
            init,
        })
}

fn manifest() -> impl Strategy<Value = Manifest> {
    (
        0..REPOS.len(),
        prop::sample::select(vec![2usize, 4]),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(workload(), 1..4),
    )
        .prop_map(
            |(r, step, crlf, trailing_newline, header, extra_config_map, workloads)| Manifest {
                repo: REPOS[r],
                step,
                crlf,
                trailing_newline,
                header,
                extra_config_map,
                workloads,
            },
        )
}

fn tag() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_][A-Za-z0-9_.-]{0,40}"
}

fn quoted(value: &str, quote: usize) -> String {
    match quote {
        0 => value.to_owned(),
        1 => format!("'{value}'"),
        _ => format!("\"{value}\""),
    }
}

/// Renders the manifest with the application image at `tag`.
fn render(m: &Manifest, tag: &str) -> String {
    let mut out = String::new();
    if m.header {
        out.push_str("# Generated manifest — edited by the deployer\n");
    }
    if m.extra_config_map {
        out.push_str("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings # settings\ndata:\n  image: not-a-container:1\n---\n");
    }
    for (i, w) in m.workloads.iter().enumerate() {
        if i > 0 {
            out.push_str(&format!("--- # workload {i}\n"));
        }
        out.push_str(&render_workload(m, w, i, tag));
    }
    if m.crlf {
        out = out.replace('\n', "\r\n");
    }
    if !m.trailing_newline {
        while out.ends_with(['\n', '\r']) {
            out.pop();
        }
    }
    out
}

fn render_workload(m: &Manifest, w: &Workload, i: usize, tag: &str) -> String {
    let s = m.step;
    let ind = |n: usize| " ".repeat(n * s);
    let app = format!("{}:{tag}", m.repo);
    let comment = if w.comment { " # app image" } else { "" };
    let api = match w.kind {
        "Job" | "CronJob" => "batch/v1",
        "Pod" => "v1",
        _ => "apps/v1",
    };
    let mut out = format!("apiVersion: {api}\nkind: {}\nmetadata:\n{}name: w{i}\n", w.kind, ind(1));
    // The pod spec's key and its level.
    let level = match w.kind {
        "Pod" => {
            out.push_str("spec:\n");
            1
        }
        "CronJob" => {
            out.push_str(&format!(
                "spec:\n{}schedule: \"0 * * * *\"\n{}jobTemplate:\n{}spec:\n{}template:\n{}spec:\n",
                ind(1),
                ind(1),
                ind(2),
                ind(3),
                ind(4)
            ));
            5
        }
        _ => {
            out.push_str(&format!(
                "spec:\n{}template:\n{}metadata:\n{}labels:\n{}app: w{i}\n{}spec:\n",
                ind(1),
                ind(2),
                ind(3),
                ind(4),
                ind(2)
            ));
            3
        }
    };
    let mut containers = vec![("app".to_owned(), quoted(&app, w.quote))];
    if w.sidecar {
        containers.push(("proxy".to_owned(), "envoyproxy/envoy:v1.30.1".to_owned()));
    }
    let mut inits = Vec::new();
    match w.init {
        Some(true) => inits.push(("migrate".to_owned(), quoted(&app, (w.quote + 1) % 3))),
        Some(false) => inits.push(("wait".to_owned(), "busybox:1.36".to_owned())),
        None => {}
    }
    for (key, list) in [("containers", &containers), ("initContainers", &inits)] {
        if list.is_empty() {
            continue;
        }
        if w.flow {
            let items: Vec<String> = list
                .iter()
                .map(|(n, img)| format!("{{name: {n}, image: {img}}}"))
                .collect();
            out.push_str(&format!("{}{key}: [{}]{comment}\n", ind(level), items.join(", ")));
        } else {
            out.push_str(&format!("{}{key}:\n", ind(level)));
            let dash = if w.indentless { ind(level) } else { ind(level + 1) };
            for (n, img) in list {
                out.push_str(&format!(
                    "{dash}- name: {n}\n{dash}  image: {img}{comment}\n{dash}  ports: [{{containerPort: 80}}]\n"
                ));
            }
        }
    }
    out
}

fn limits() -> Limits {
    Limits::default()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn an_image_edit_changes_exactly_the_image_values_and_is_idempotent(m in manifest(), old in tag(), new in tag()) {
        let input = render(&m, &old);
        let repo = ImageRef::parse(m.repo).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let new_tag = Tag::new(&new).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let selector = ImageSelector { image: Some(repo), container: None };
        let edit = set_image(input.as_bytes(), &selector, &NewImage::Tag(new_tag.clone()), &limits())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;

        // Byte for byte what the manifest looks like when written with the new tag.
        prop_assert_eq!(String::from_utf8_lossy(&edit.content), render(&m, &new));

        let app_images = m.workloads.iter().map(|w| 1 + usize::from(w.init == Some(true))).sum::<usize>();
        prop_assert_eq!(edit.matched.len(), app_images);
        prop_assert_eq!(edit.changes.len(), if old == new { 0 } else { app_images });

        // The output still parses, and lists the new image.
        prop_assert!(parse_documents(&edit.content, &limits()).is_ok());
        let listed = list_images(&edit.content, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let wanted = format!("{}:{new}", m.repo);
        prop_assert_eq!(listed.iter().filter(|c| c.image == wanted).count(), app_images);

        // Idempotent.
        let again = set_image(&edit.content, &selector, &NewImage::Tag(new_tag), &limits())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again.content, &edit.content);
        prop_assert!(again.changes.is_empty());
    }

    #[test]
    fn without_a_selector_the_single_application_image_is_found(m in manifest(), new in tag()) {
        let input = render(&m, "1.0");
        let new_tag = Tag::new(&new).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let result = set_image(input.as_bytes(), &ImageSelector::default(), &NewImage::Tag(new_tag), &limits());
        if m.workloads.iter().any(|w| w.sidecar) {
            prop_assert_eq!(result.map_err(|e| e.kind()).err(), Some("ambiguous_image"));
        } else {
            let edit = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(String::from_utf8_lossy(&edit.content), render(&m, &new));
        }
    }

    #[test]
    fn a_restart_adds_only_the_annotation(m in manifest()) {
        let input = render(&m, "1.0");
        let ts = "2024-05-01T12:00:00Z";
        let result = set_restarted_at(input.as_bytes(), ts, &limits());
        let restartable = m.workloads.iter().filter(|w| ["Deployment", "StatefulSet", "DaemonSet"].contains(&w.kind)).count();
        if restartable == 0 {
            prop_assert_eq!(result.map_err(|e| e.kind()).err(), Some("no_workloads"));
            return Ok(());
        }
        let edit = result.map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(edit.changes.len(), restartable);
        let before = parse_documents(input.as_bytes(), &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut after = parse_documents(&edit.content, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(before.len(), after.len());
        for doc in &mut after {
            let Some(metadata) = doc.pointer_mut("/spec/template/metadata") else { continue };
            let Some(annotations) = metadata.get_mut("annotations").and_then(|a| a.as_object_mut()) else { continue };
            prop_assert_eq!(annotations.remove(RESTARTED_AT), Some(serde_json::Value::from(ts)));
            prop_assert!(annotations.is_empty());
            if let Some(obj) = metadata.as_object_mut() {
                obj.remove("annotations");
            }
        }
        prop_assert_eq!(before, after);
        // The rest of the text is untouched: removing the inserted lines gives the input back.
        let text = String::from_utf8_lossy(&edit.content).into_owned();
        let newline = if m.crlf { "\r\n" } else { "\n" };
        let stripped: String = text
            .split_inclusive(newline)
            .filter(|line| !line.trim_start().starts_with("annotations:") && !line.contains(RESTARTED_AT))
            .collect();
        prop_assert_eq!(stripped, input);
        let again = set_restarted_at(&edit.content, ts, &limits()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.content, edit.content);
        prop_assert!(again.changes.is_empty());
    }
}
