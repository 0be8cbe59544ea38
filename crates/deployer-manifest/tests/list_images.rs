//! `list_images` reports every workload container image with where it is.

use deployer_manifest::{ContainerImage, Limits, list_images};

fn image(
    document: usize,
    kind: &str,
    name: &str,
    container: &str,
    init: bool,
    image: &str,
    line: usize,
) -> ContainerImage {
    ContainerImage {
        document,
        kind: kind.into(),
        name: name.into(),
        container: container.into(),
        init,
        image: image.into(),
        line,
    }
}

#[test]
fn every_container_and_init_container_is_listed_in_file_order() {
    let src = "\
apiVersion: v1
kind: Service
metadata: {name: s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      containers:
        - name: web
          image: 'ghcr.io/o/web:1'
        - name: proxy
          image: envoyproxy/envoy:v1.30.1
      initContainers:
        - name: init
          image: busybox:1.36
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: cron}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers: [{name: job, image: \"ghcr.io/o/job:2\"}]
";
    let images = list_images(src.as_bytes(), &Limits::default());
    assert_eq!(
        images,
        Ok(vec![
            image(1, "Deployment", "web", "web", false, "ghcr.io/o/web:1", 13),
            image(1, "Deployment", "web", "proxy", false, "envoyproxy/envoy:v1.30.1", 15),
            image(1, "Deployment", "web", "init", true, "busybox:1.36", 18),
            image(2, "CronJob", "cron", "job", false, "ghcr.io/o/job:2", 28),
        ])
    );
}

#[test]
fn non_workload_kinds_are_ignored() {
    let src = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  containers: x\n---\napiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec:\n  template:\n    spec:\n      containers: [{name: a, image: a:1}]\n";
    assert_eq!(list_images(src.as_bytes(), &Limits::default()), Ok(vec![]));
}
