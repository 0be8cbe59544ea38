//! The real `kubectl` (1.32, through the dispatcher) against the `kube-sim` binary: the
//! conformance checklist of the specification (§9) plus the everyday commands the deployer's
//! users run. Every kubectl invocation gets a fresh `HOME`.

mod common;

use std::time::Duration;

use common::{Sim, web};

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

fn rows<'a>(out: &'a str, prefix: &str) -> Vec<Vec<&'a str>> {
    out.lines().filter(|l| l.starts_with(prefix)).map(words).collect()
}

fn jsonpath(sim: &Sim, target: &str, path: &str) -> String {
    let template = format!("jsonpath={path}");
    let run = sim.kubectl(&["get", target, "-o", &template]);
    run.ok();
    run.stdout.clone()
}

fn rollout_ok(sim: &Sim) {
    sim.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .ok()
        .stdout_has("deployment \"web\" successfully rolled out");
}

fn apply_web(sim: &Sim, manifest: &str) {
    let path = sim.write("web.yaml", manifest);
    sim.kubectl(&["apply", "--server-side", "-f", &path])
        .ok()
        .stdout_has("deployment.apps/web serverside-applied");
}

fn replicaset_count(sim: &Sim) -> usize {
    let run = sim.kubectl(&["get", "rs", "-l", "app=web", "-o", "name"]);
    run.ok();
    run.stdout.lines().filter(|l| !l.is_empty()).count()
}

#[test]
fn version_discovery_empty_lists_and_health_work() {
    let sim = Sim::start(&[]);
    // 1
    sim.kubectl(&["version"])
        .ok()
        .stdout_has("Server Version: v1.32.0-double");
    let log = sim.get_json("/_sim/requests");
    let agents: Vec<String> = log["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|r| r["userAgent"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    assert!(agents.iter().any(|a| a.starts_with("kubectl/v1.32.4")), "{agents:?}");
    // 2
    let resources = sim.kubectl(&["api-resources"]);
    resources.ok();
    assert!(rows(&resources.stdout, "deployments ").contains(&vec![
        "deployments",
        "deploy",
        "apps/v1",
        "true",
        "Deployment"
    ]));
    assert!(rows(&resources.stdout, "replicasets ").contains(&vec![
        "replicasets",
        "rs",
        "apps/v1",
        "true",
        "ReplicaSet"
    ]));
    // 3
    sim.kubectl(&["get", "deployments", "-n", "default"])
        .ok()
        .stderr_has("No resources found in default namespace.");
    // 24
    let health = sim.kubectl(&["get", "--raw", "/healthz"]);
    health.ok();
    assert_eq!(health.stdout.trim(), "ok");
}

#[test]
fn namespaces_are_created_listed_and_deleted_with_their_contents() {
    let sim = Sim::start(&[]);
    // 4
    let ns = sim.write(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n",
    );
    sim.kubectl(&["create", "-f", &ns])
        .ok()
        .stdout_has("namespace/team-a created");
    let get = sim.kubectl(&["get", "ns", "team-a"]);
    get.ok();
    assert_eq!(rows(&get.stdout, "team-a").first().map(|r| r[1]), Some("Active"));
    sim.kubectl(&["create", "ns", "team-b"])
        .ok()
        .stdout_has("namespace/team-b created");

    let cm = sim.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team-a\ndata:\n  a: \"1\"\n",
    );
    sim.kubectl(&["apply", "--server-side", "-f", &cm]).ok();
    sim.kubectl(&["delete", "ns", "team-a"])
        .ok()
        .stdout_has("namespace \"team-a\" deleted");
    sim.kubectl(&["get", "ns", "team-a"])
        .expect_code(1)
        .stderr_has("Error from server (NotFound): namespaces \"team-a\" not found");
    let gone = sim.get_json("/api/v1/configmaps");
    assert_eq!(
        gone["items"]
            .as_array()
            .map(|i| i.iter().filter(|c| c["metadata"]["namespace"] == "team-a").count()),
        Some(0)
    );
    sim.kubectl(&["create", "-f", &cm])
        .expect_code(1)
        .stderr_has("Error from server (NotFound): error when creating");
}

#[test]
fn a_rollout_rollback_and_history_behave_like_a_real_cluster() {
    let sim = Sim::start(&[]);
    // 5
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    // 6
    rollout_ok(&sim);
    let rv_before = jsonpath(&sim, "deploy/web", "{.metadata.resourceVersion}");
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    assert_eq!(jsonpath(&sim, "deploy/web", "{.metadata.resourceVersion}"), rv_before);
    // 7
    let deploy = sim.kubectl(&["get", "deploy", "web"]);
    deploy.ok();
    assert_eq!(
        deploy.stdout.lines().next().map(words),
        Some(vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"])
    );
    assert_eq!(
        rows(&deploy.stdout, "web").first().map(|r| r[1..4].to_vec()),
        Some(vec!["2/2", "2", "2"])
    );
    let rs = sim.kubectl(&["get", "rs", "-l", "app=web"]);
    rs.ok();
    let rs_rows = rows(&rs.stdout, "web-");
    assert_eq!(rs_rows.len(), 1, "{}", rs.stdout);
    assert_eq!(rs_rows[0][1..4].to_vec(), vec!["2", "2", "2"]);
    sim.wait_until("two running pods", Duration::from_secs(10), || {
        let pods = sim.kubectl(&["get", "pods", "-l", "app=web"]);
        let pod_rows = rows(&pods.stdout, "web-");
        pod_rows.len() == 2 && pod_rows.iter().all(|r| r[1] == "1/1" && r[2] == "Running")
    });
    // 8
    assert_eq!(
        jsonpath(
            &sim,
            "deploy/web",
            "{.metadata.generation} {.status.observedGeneration} {.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "1 1 1"
    );
    // 9
    apply_web(&sim, &web("nginx:1.26", 2, ""));
    rollout_ok(&sim);
    let history = sim.kubectl(&["rollout", "history", "deployment/web"]);
    history.ok().stdout_has("REVISION  CHANGE-CAUSE");
    assert_eq!(
        rows(&history.stdout, "1 ").len() + rows(&history.stdout, "2 ").len(),
        2,
        "{}",
        history.stdout
    );
    // 10
    sim.kubectl(&["rollout", "undo", "deployment/web"])
        .ok()
        .stdout_has("deployment.apps/web rolled back");
    rollout_ok(&sim);
    assert_eq!(
        jsonpath(&sim, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.25"
    );
    let history = sim.kubectl(&["rollout", "history", "deployment/web"]);
    history.ok();
    let revisions: Vec<&str> = history
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(revisions, vec!["2", "3"], "{}", history.stdout);
    assert_eq!(replicaset_count(&sim), 2);
    // 11
    sim.kubectl(&["rollout", "undo", "deployment/web", "--to-revision=3"])
        .ok()
        .stdout_has("deployment.apps/web skipped rollback (current template already matches revision 3)");
    sim.kubectl(&["rollout", "undo", "deployment/web", "--to-revision=9"])
        .expect_code(1)
        .stderr_has("error: unable to find specified revision 9 in history");
    // 19
    sim.kubectl(&["wait", "--for=condition=Available", "deploy/web", "--timeout=30s"])
        .ok()
        .stdout_has("deployment.apps/web condition met");
    // 20
    sim.kubectl(&["get", "deploy", "nope"])
        .expect_code(1)
        .stderr_has("Error from server (NotFound): deployments.apps \"nope\" not found");
    // 21
    sim.kubectl(&["describe", "deploy", "web"])
        .ok()
        .stdout_has("Conditions:")
        .stdout_has("NewReplicaSet:")
        .stdout_has("ScalingReplicaSet");
    // 23
    sim.kubectl(&["delete", "deploy", "web"])
        .ok()
        .stdout_has("deployment.apps \"web\" deleted");
    sim.wait_until("replica sets and pods to be collected", Duration::from_secs(10), || {
        let left = sim.kubectl(&["get", "rs,pods", "-l", "app=web", "-o", "name"]);
        left.code == 0 && left.stdout.trim().is_empty()
    });
}

#[test]
fn progress_deadlines_and_rollout_timeouts_are_reported() {
    let sim = Sim::start(&[]);
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    rollout_ok(&sim);
    // 12
    apply_web(
        &sim,
        &web("nginx:1.27-never-ready", 2, "  progressDeadlineSeconds: 5\n"),
    );
    sim.kubectl(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .expect_code(1)
        .stderr_has("error: deployment \"web\" exceeded its progress deadline");
    assert_eq!(
        jsonpath(
            &sim,
            "deploy/web",
            "{.status.conditions[?(@.type==\"Progressing\")].reason}"
        ),
        "ProgressDeadlineExceeded"
    );
    let old_rs = sim.kubectl(&[
        "get",
        "rs",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image} {.status.readyReplicas}{\"\\n\"}{end}",
    ]);
    old_rs.ok().stdout_has("nginx:1.25 2");
    // 13
    apply_web(&sim, &web("nginx:1.29-never-ready", 2, ""));
    sim.kubectl(&["rollout", "status", "deployment/web", "--timeout=2s"])
        .expect_code(1)
        .stderr_has("error: timed out waiting for the condition");
    let before = replicaset_count(&sim);
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    rollout_ok(&sim);
    assert_eq!(replicaset_count(&sim), before);
    assert_eq!(jsonpath(&sim, "deploy/web", "{.spec.progressDeadlineSeconds}"), "600");
}

#[test]
fn apply_conflicts_dry_runs_and_scaling_work() {
    let sim = Sim::start(&[]);
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    rollout_ok(&sim);
    // 14
    let five = sim.write("web5.yaml", &web("nginx:1.25", 5, ""));
    sim.kubectl(&["apply", "--server-side", "--field-manager=other", "-f", &five])
        .expect_code(1)
        .stderr_has("error: Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas");
    sim.kubectl(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &five,
    ])
    .ok()
    .stdout_has("deployment.apps/web serverside-applied");
    assert_eq!(jsonpath(&sim, "deploy/web", "{.spec.replicas}"), "5");
    // 15
    rollout_ok(&sim);
    let rv = jsonpath(&sim, "deploy/web", "{.metadata.resourceVersion}");
    let img2 = sim.write("web-img2.yaml", &web("nginx:1.26", 5, ""));
    sim.kubectl(&[
        "apply",
        "--server-side",
        "--dry-run=server",
        "--force-conflicts",
        "-f",
        &img2,
    ])
    .ok()
    .stdout_has("deployment.apps/web serverside-applied (server dry run)");
    assert_eq!(
        jsonpath(&sim, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.25"
    );
    assert_eq!(jsonpath(&sim, "deploy/web", "{.metadata.resourceVersion}"), rv);
    // 16
    sim.kubectl(&["scale", "deploy", "web", "--replicas=3"])
        .ok()
        .stdout_has("deployment.apps/web scaled");
    sim.wait_until("3/3 ready", Duration::from_secs(15), || {
        let get = sim.kubectl(&["get", "deploy", "web"]);
        rows(&get.stdout, "web").first().map(|r| r[1] == "3/3").unwrap_or(false)
    });
}

#[test]
fn pause_resume_and_restart_control_rollouts() {
    let sim = Sim::start(&[]);
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    rollout_ok(&sim);
    apply_web(&sim, &web("nginx:1.26", 2, ""));
    rollout_ok(&sim);
    // 17
    sim.kubectl(&["rollout", "pause", "deploy/web"])
        .ok()
        .stdout_has("deployment.apps/web paused");
    sim.kubectl(&["set", "image", "deploy/web", "web=nginx:1.28"])
        .ok()
        .stdout_has("deployment.apps/web image updated");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(replicaset_count(&sim), 2);
    sim.kubectl(&["rollout", "undo", "deployment/web"])
        .expect_code(1)
        .stderr_has("error: you cannot rollback a paused deployment; resume it first with 'kubectl rollout resume' and try again");
    sim.kubectl(&["rollout", "resume", "deploy/web"])
        .ok()
        .stdout_has("deployment.apps/web resumed");
    rollout_ok(&sim);
    assert_eq!(replicaset_count(&sim), 3);
    assert_eq!(
        jsonpath(&sim, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.28"
    );
    // 18
    sim.kubectl(&["rollout", "restart", "deploy/web"])
        .ok()
        .stdout_has("deployment.apps/web restarted");
    rollout_ok(&sim);
    assert_eq!(
        jsonpath(
            &sim,
            "deploy/web",
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"
        ),
        "4"
    );
}

#[test]
fn watches_print_rows_and_rollout_status_recovers_from_compaction() {
    let sim = Sim::start(&[]);
    apply_web(&sim, &web("nginx:1.25", 2, ""));
    rollout_ok(&sim);
    // 22
    let watch = sim.kubectl_background(&["get", "deploy", "-w"]);
    std::thread::sleep(Duration::from_millis(1500));
    apply_web(&sim, &web("nginx:1.26", 2, ""));
    rollout_ok(&sim);
    std::thread::sleep(Duration::from_millis(300));
    let (out, err) = watch.stop();
    let web_rows = out.lines().filter(|l| l.starts_with("web ")).count();
    assert!(web_rows >= 3, "expected several rows, got:\n{out}\n{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("NAME")).count(), 1, "{out}");

    // A watch that comes back with a compacted resourceVersion gets 410 and relists: hold the
    // rollout in the "spec update not observed" window, keep watches away (503) while the
    // deployment changes, compact, then let everything resume.
    assert_eq!(sim.http("POST", "/_sim/pause-controllers", None).0, 200);
    apply_web(&sim, &web("nginx:1.27", 2, ""));
    let before = request_count(&sim);
    let status = sim.kubectl_background(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    sim.wait_until("rollout status to start watching", Duration::from_secs(20), || {
        deployment_requests_since(&sim, before)
            .iter()
            .any(|r| r["query"].as_str().unwrap_or("").contains("watch=true"))
    });
    let faults = r#"{"verbs":{"watch":{"rate":1.0,"code":503}}}"#;
    assert_eq!(sim.http("PUT", "/_sim/faults", Some(faults)).0, 200);
    assert_eq!(sim.http("POST", "/_sim/drop-watches", None).0, 200);
    sim.kubectl(&["annotate", "deploy", "web", "note=compacted"]).ok();
    assert_eq!(sim.http("POST", "/_sim/compact", None).0, 200);
    assert_eq!(sim.http("PUT", "/_sim/faults", Some("{}")).0, 200);
    assert_eq!(sim.http("POST", "/_sim/resume-controllers", None).0, 200);
    let (code, out, err) = status.wait(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(
        out.contains("Waiting for deployment spec update to be observed..."),
        "{out}\n{err}"
    );
    assert!(
        out.contains("deployment \"web\" successfully rolled out"),
        "{out}\n{err}"
    );
    let lists = deployment_requests_since(&sim, before)
        .iter()
        .filter(|r| !r["query"].as_str().unwrap_or("").contains("watch=true"))
        .count();
    assert!(lists >= 2, "rollout status should have listed again after the 410");
}

fn request_count(sim: &Sim) -> usize {
    sim.get_json("/_sim/requests")["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0)
}

/// Collection requests on `default/deployments` logged after the first `since` entries.
fn deployment_requests_since(sim: &Sim, since: usize) -> Vec<serde_json::Value> {
    let log = sim.get_json("/_sim/requests");
    log["items"]
        .as_array()
        .map(|items| {
            items[since.min(items.len())..]
                .iter()
                .filter(|r| r["path"] == "/apis/apps/v1/namespaces/default/deployments")
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn multi_document_and_client_side_apply_diff_and_patches_work() {
    let sim = Sim::start(&[]);
    let bundle = format!(
        "{}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n    targetPort: 8080\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: blue\n",
        web("nginx:1.25", 2, "")
    );
    let path = sim.write("bundle.yaml", &bundle);
    sim.kubectl(&["apply", "--server-side", "-f", &path])
        .ok()
        .stdout_has("deployment.apps/web serverside-applied")
        .stdout_has("service/web serverside-applied")
        .stdout_has("configmap/settings serverside-applied");
    rollout_ok(&sim);

    let cs = |mode: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cs\n  namespace: default\ndata:\n  mode: {mode}\n")
    };
    let cs_path = sim.write("cs.yaml", &cs("blue"));
    sim.kubectl(&["apply", "-f", &cs_path])
        .ok()
        .stdout_has("configmap/cs created");
    sim.kubectl(&["apply", "-f", &cs_path])
        .ok()
        .stdout_has("configmap/cs unchanged");
    let green = sim.write("cs-green.yaml", &cs("green"));
    sim.kubectl(&["diff", "-f", &green])
        .expect_code(1)
        .stdout_has("+  mode: green");
    sim.kubectl(&["diff", "-f", &cs_path]).ok();
    sim.kubectl(&["apply", "-f", &green])
        .ok()
        .stdout_has("configmap/cs configured");
    let settings = |mode: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: default\ndata:\n  mode: {mode}\n"
        )
    };
    let settings_green = sim.write("settings-green.yaml", &settings("green"));
    sim.kubectl(&["diff", "--server-side", "-f", &settings_green])
        .expect_code(1)
        .stdout_has("+  mode: green");
    let settings_blue = sim.write("settings-blue.yaml", &settings("blue"));
    sim.kubectl(&["diff", "--server-side", "-f", &settings_blue]).ok();
    assert_eq!(jsonpath(&sim, "cm/cs", "{.data.mode}"), "green");

    sim.kubectl(&["patch", "cm", "cs", "--type=merge", "-p", r#"{"data":{"m":"1"}}"#])
        .ok()
        .stdout_has("configmap/cs patched");
    sim.kubectl(&[
        "patch",
        "cm",
        "cs",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/data/j","value":"2"}]"#,
    ])
    .ok()
    .stdout_has("configmap/cs patched");
    sim.kubectl(&["patch", "cm", "cs", "--type=strategic", "-p", r#"{"data":{"s":"3"}}"#])
        .ok()
        .stdout_has("configmap/cs patched");
    assert_eq!(jsonpath(&sim, "cm/cs", "{.data.m}{.data.j}{.data.s}"), "123");
    sim.kubectl(&[
        "patch",
        "cm",
        "cs",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/data/missing","value":"x"}]"#,
    ])
    .expect_code(1)
    .stderr_has("The request is invalid: replace operation does not apply");
    sim.kubectl(&[
        "patch",
        "deploy",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.26"}]}}}}"#,
    ])
    .ok()
    .stdout_has("deployment.apps/web patched");
    assert_eq!(
        jsonpath(&sim, "deploy/web", "{.spec.template.spec.containers[0].image}"),
        "nginx:1.26"
    );

    sim.kubectl(&["label", "cm", "cs", "tier=front"])
        .ok()
        .stdout_has("configmap/cs labeled");
    sim.kubectl(&["annotate", "cm", "cs", "note=hello"])
        .ok()
        .stdout_has("configmap/cs annotated");
    sim.kubectl(&["get", "cm", "-l", "tier=front", "-o", "name"])
        .ok()
        .stdout_has("configmap/cs");
    assert_eq!(jsonpath(&sim, "cm/cs", "{.metadata.annotations.note}"), "hello");

    rollout_ok(&sim);
    let wide = sim.kubectl(&["get", "deploy", "web", "-o", "wide"]);
    wide.ok()
        .stdout_has("CONTAINERS")
        .stdout_has("IMAGES")
        .stdout_has("SELECTOR")
        .stdout_has("nginx:1.26");
    let json = sim.kubectl(&["get", "deploy", "web", "-o", "json"]);
    json.ok();
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).expect("kubectl prints JSON");
    assert_eq!(parsed["kind"], "Deployment");
    sim.kubectl(&["get", "svc", "web", "-o", "yaml"])
        .ok()
        .stdout_has("kind: Service")
        .stdout_has("port: 80");
    sim.kubectl(&["get", "svc,cm"])
        .ok()
        .stdout_has("service/web")
        .stdout_has("configmap/settings");
    sim.kubectl(&["get", "events"]).ok().stdout_has("ScalingReplicaSet");
    sim.kubectl(&["get", "all"]).ok().stdout_has("deployment.apps/web");
}

#[test]
fn secured_mode_serves_tls_and_requires_the_token() {
    let sim = Sim::start(&["--tls", "--token", "s3cret", "--cluster-name", "secure"]);
    let kubeconfig = std::fs::read_to_string(&sim.kubeconfig).expect("the kubeconfig was written");
    assert!(kubeconfig.contains("https://127.0.0.1:"), "{kubeconfig}");
    assert!(kubeconfig.contains("certificate-authority-data:"), "{kubeconfig}");
    sim.kubectl(&["get", "ns", "default"]).ok().stdout_has("Active");
    apply_web(&sim, &web("nginx:1.25", 1, ""));
    rollout_ok(&sim);

    let wrong = sim.write("wrong-token", &kubeconfig.replace("s3cret", "nope"));
    let home = tempfile::tempdir().expect("a fresh HOME can be created");
    let output = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &wrong, "get", "ns"])
        .env("HOME", home.path())
        .output()
        .expect("kubectl runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: You must be logged in to the server"),
        "{stderr}"
    );
}

#[test]
fn the_binary_documents_its_flags_and_stops_cleanly_on_sigterm() {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_kube-sim"))
        .arg("--help")
        .output()
        .expect("kube-sim runs");
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--listen",
        "--kubeconfig-out",
        "--cluster-name",
        "--seed",
        "--token",
        "--tls",
        "--images",
        "--profile",
        "--clock",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}:\n{text}");
    }
    let sim = Sim::start(&[]);
    assert_eq!(sim.terminate(), Some(0));
}

/// The API requests (no discovery, OpenAPI or `/version`) made by one kubectl command.
fn requests_of(sim: &Sim, args: &[&str]) -> (common::Run, Vec<serde_json::Value>) {
    let before = sim.get_json("/_sim/requests")["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    let run = sim.kubectl(args);
    let log = sim.get_json("/_sim/requests");
    let new = log["items"]
        .as_array()
        .map(|items| {
            items[before.min(items.len())..]
                .iter()
                .filter(|r| {
                    let path = r["path"].as_str().unwrap_or("");
                    (path.starts_with("/api/v1/") || path.starts_with("/apis/apps/v1/"))
                        && path != "/api/v1"
                        && path != "/apis/apps/v1"
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    (run, new)
}

fn has_request(
    log: &[serde_json::Value],
    method: &str,
    path_suffix: &str,
    query_parts: &[&str],
    content_type: &str,
) -> bool {
    log.iter().any(|r| {
        r["method"] == method
            && r["path"].as_str().is_some_and(|p| p.ends_with(path_suffix))
            && query_parts
                .iter()
                .all(|q| r["query"].as_str().is_some_and(|have| have.contains(q)))
            && r["contentType"].as_str().is_some_and(|c| c.starts_with(content_type))
    })
}

#[test]
fn kubectl_sends_the_recorded_request_sequences() {
    let sim = Sim::start(&[]);
    let path = sim.write("web.yaml", &web("nginx:1.25", 2, ""));
    let (run, log) = requests_of(&sim, &["apply", "--server-side", "-f", &path]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web",
            &["fieldManager=kubectl", "fieldValidation=Strict", "force=false"],
            "application/apply-patch+yaml"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["rollout", "status", "deployment/web", "--timeout=30s"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "GET",
            "/deployments",
            &["fieldSelector=metadata.name%3Dweb", "resourceVersion=0"],
            ""
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["apply", "--server-side", "--dry-run=server", "-f", &path]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web",
            &["dryRun=All"],
            "application/apply-patch+yaml"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["scale", "deploy", "web", "--replicas=3"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web/scale",
            &[],
            "application/merge-patch+json"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["set", "image", "deploy/web", "web=nginx:1.26"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web",
            &["fieldManager=kubectl-set"],
            "application/strategic-merge-patch+json"
        ),
        "{log:#?}"
    );
    rollout_ok(&sim);
    let (run, log) = requests_of(&sim, &["rollout", "undo", "deployment/web"]);
    run.ok();
    assert!(
        has_request(&log, "PATCH", "/deployments/web", &[], "application/json-patch+json"),
        "{log:#?}"
    );
    rollout_ok(&sim);
    let (run, log) = requests_of(&sim, &["rollout", "restart", "deploy/web"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web",
            &["fieldManager=kubectl-rollout"],
            "application/strategic-merge-patch+json"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["annotate", "deploy", "web", "a=b"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "PATCH",
            "/deployments/web",
            &["fieldManager=kubectl-annotate"],
            "application/merge-patch+json"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["create", "ns", "team-b"]);
    run.ok();
    assert!(
        has_request(
            &log,
            "POST",
            "/api/v1/namespaces",
            &["fieldManager=kubectl-create"],
            "application/vnd.kubernetes.protobuf"
        ),
        "{log:#?}"
    );
    let (run, log) = requests_of(&sim, &["delete", "deploy", "web"]);
    run.ok();
    assert!(
        has_request(&log, "DELETE", "/deployments/web", &[], "application/json"),
        "{log:#?}"
    );
    assert!(
        log.iter().all(|r| r["code"].as_u64().is_some_and(|c| c < 500)),
        "{log:#?}"
    );
}
