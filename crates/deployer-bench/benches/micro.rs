//! Micro-benchmarks of the hot steps of one deploy: the tag edit of a manifest, image
//! reference parsing, webhook parsing (Docker Hub and GitHub) and commit creation (the
//! object writing alone, the packing of a big directory's tree, and
//! `GitConfigRepo::commit_edit` with its push to a local bare remote).
//!
//! Run with `cargo bench -p deployer-bench --bench micro`.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use deployer_bench::layout;
use deployer_core::image::{ImageRef, Tag};
use deployer_core::ports::{CommitSpec, ConfigRepo, EditRejected, FileEdit};
use deployer_git::paths::RepoPath;
use deployer_git::{GitConfigRepo, GitSettings};
use deployer_manifest::{ImageSelector, Limits, NewImage, list_images, set_image};
use deployer_triggers::Provider;
use deployer_triggers::pattern::RepositoryPattern;
use deployer_triggers::webhook::{Headers, Hook, Hooks, dockerhub, github, sign_sha256};
use secrecy::SecretString;

const HUB_TOKEN: &str = "hub-token-acme-api-7f3c9a1e5b2d4f6a8c0e";
const GITHUB_SECRET: &str = "github-webhook-secret-4b5c6d7e8f9a0b1c";

const DOCKERHUB_PUSH: &str = r#"{
  "callback_url": "https://registry.hub.docker.com/u/acme/api/hook/2141b5bi5i5b02bec211i4eeih0242eg11000a/",
  "push_data": {"pushed_at": 1764138000, "pusher": "acmebot", "tag": "1.4.2"},
  "repository": {"comment_count": 0, "date_created": 1700000000, "description": "The acme API", "dockerfile": "",
    "full_description": "", "is_official": false, "is_private": true, "is_trusted": false, "name": "api",
    "namespace": "acme", "owner": "acme", "repo_name": "acme/api", "repo_url": "https://hub.docker.com/r/acme/api",
    "star_count": 3, "status": "Active"}
}"#;

const GITHUB_PACKAGE: &str = r#"{
  "action": "published",
  "package": {
    "id": 1234567, "name": "API", "namespace": "Acme", "description": "", "ecosystem": "CONTAINER",
    "package_type": "CONTAINER", "html_url": "https://github.com/orgs/Acme/packages/container/package/api",
    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-11-26T06:00:00Z",
    "owner": {"login": "Acme", "type": "Organization"},
    "package_version": {
      "id": 7654321,
      "version": "sha256:5f0c8d3e7b1a9c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d",
      "name": "sha256:5f0c8d3e7b1a9c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d",
      "package_url": "ghcr.io/acme/api:1.4.2",
      "container_metadata": {
        "tag": {"name": "1.4.2", "digest": "sha256:5f0c8d3e7b1a9c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d"},
        "labels": {"description": "", "source": "https://github.com/Acme/api"},
        "manifest": {}
      }
    },
    "registry": {"about_url": "https://docs.github.com/packages", "name": "GitHub CONTAINER registry", "type": "CONTAINER", "url": "https://ghcr.io/acme", "vendor": "GitHub Inc"}
  },
  "repository": {"full_name": "Acme/api"},
  "organization": {"login": "Acme"},
  "sender": {"login": "octocat"}
}"#;

fn or_exit<T, E: std::fmt::Display>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {what}: {e}");
            std::process::exit(1)
        }
    }
}

fn tag_edit(c: &mut Criterion) {
    let manifest = layout::large_manifest("web", "v1", 6, 300);
    let limits = Limits::default();
    let new = NewImage::Tag(or_exit(Tag::new("v2"), "tag"));
    let selector = ImageSelector::default();
    or_exit(
        set_image(manifest.as_bytes(), &selector, &new, &limits),
        "the manifest must be editable",
    );
    c.bench_function("manifest/set_image 300 lines 7 documents", |b| {
        b.iter(|| set_image(black_box(manifest.as_bytes()), &selector, &new, &limits))
    });
    c.bench_function("manifest/list_images 300 lines 7 documents", |b| {
        b.iter(|| list_images(black_box(manifest.as_bytes()), &limits))
    });
}

fn image_parsing(c: &mut Criterion) {
    let refs = [
        "nginx",
        "ghcr.io/example/api:2.3.0",
        "registry.example.com:5000/team/service/worker:1.0.0-rc.1",
        "docker.io/library/redis@sha256:5f0c8d3e7b1a9c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d",
        "quay.io/acme/api:1.4.2@sha256:5f0c8d3e7b1a9c2d4e6f8a0b2c4d6e8f0a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d",
    ];
    for r in refs {
        or_exit(ImageRef::parse(r), r);
    }
    c.bench_function("image/parse 5 references", |b| {
        b.iter(|| {
            for r in refs {
                let _ = black_box(ImageRef::parse(black_box(r)));
            }
        })
    });
}

fn hook(name: &str, provider: Provider, secret: &str, pattern: &str) -> Hook {
    Hook::new(
        name,
        provider,
        SecretString::from(secret),
        vec![or_exit(RepositoryPattern::new(pattern), "pattern")],
    )
}

fn webhooks(c: &mut Criterion) {
    let hooks = Hooks::new(vec![
        hook("hub-api", Provider::Dockerhub, HUB_TOKEN, "acme/api"),
        hook("github", Provider::Github, GITHUB_SECRET, "ghcr.io/acme/*"),
    ]);
    let hub = DOCKERHUB_PUSH.as_bytes();
    or_exit(
        dockerhub::receive(&hooks, HUB_TOKEN, hub),
        "the Docker Hub payload must parse",
    );
    c.bench_function("webhook/dockerhub push", |b| {
        b.iter(|| dockerhub::receive(&hooks, HUB_TOKEN, black_box(hub)))
    });

    let body = GITHUB_PACKAGE.as_bytes();
    let signature = sign_sha256(GITHUB_SECRET.as_bytes(), &[body]);
    let headers = Headers::new([
        (github::SIGNATURE_HEADER, signature.as_str()),
        (github::EVENT_HEADER, "package"),
        (github::DELIVERY_HEADER, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    or_exit(github::receive(&hooks, &headers, body), "the GitHub payload must parse");
    c.bench_function("webhook/github package (HMAC verified)", |b| {
        b.iter(|| github::receive(&hooks, &headers, black_box(body)))
    });
}

/// Sets the app's tag to a new value each time it is applied.
struct BumpTag {
    counter: AtomicUsize,
}

impl FileEdit for BumpTag {
    fn edit(&self, content: &[u8]) -> Result<Vec<u8>, EditRejected> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tag = Tag::new(&format!("c{n}")).map_err(|e| EditRejected {
            code: "tag".into(),
            message: e.to_string(),
        })?;
        set_image(
            content,
            &ImageSelector::default(),
            &NewImage::Tag(tag),
            &Limits::default(),
        )
        .map(|e| e.content)
        .map_err(|e| EditRejected {
            code: e.kind().into(),
            message: e.to_string(),
        })
    }
}

fn commits(c: &mut Criterion) {
    let dir = or_exit(tempfile::tempdir(), "temporary directory");
    let clusters = layout::clusters(4);
    let plan = deployer_bench::repo::RepoPlan {
        apps: layout::apps(20, 4),
        filler: 980,
        history: 0,
    };
    let remote = dir.path().join("remote.git");
    or_exit(
        deployer_bench::repo::create_remote(&remote, &clusters, &plan),
        "the remote",
    );
    let path = layout::app_path(&clusters[0], "app-00000");

    // The object writing alone, as the deployer's writer does it: blob, trees along the path
    // and commit staged in memory (tip trees cached as between deploys; no pack, no push).
    let repo = or_exit(git2::Repository::open_bare(&remote), "open the remote");
    let odb = or_exit(repo.odb(), "the remote's object database");
    let tip = or_exit(repo.refname_to_id("refs/heads/main"), "main");
    let signature = or_exit(
        git2::Signature::now("k8s-app-deployer", "deployer@bench.invalid"),
        "signature",
    );
    let repo_path = or_exit(RepoPath::parse(&path).map_err(|_| "unsafe path"), "path");
    let content = layout::manifest("app-00000", "v9");
    let mut staging = deployer_git::staging::Staging::new();
    c.bench_function("git/commit_file staged in memory (1,000-file repository)", |b| {
        b.iter(|| {
            let commit = staging.commit_file(
                &odb,
                tip,
                &repo_path,
                black_box(content.as_bytes()),
                git2::FileMode::Blob,
                &signature,
                "Deploy app-00000 v9",
            );
            staging.clear();
            commit
        })
    });

    // The whole `commit_edit`: fetch state, edit, objects, `git push` to the bare remote.
    let runtime = or_exit(
        tokio::runtime::Builder::new_multi_thread().enable_all().build(),
        "runtime",
    );
    let settings = {
        let mut s = GitSettings::new(
            or_exit(remote.to_string_lossy().parse(), "remote URL"),
            dir.path().join("clone"),
        );
        s.author_name = "k8s-app-deployer".to_owned();
        s.author_email = "deployer@bench.invalid".to_owned();
        s
    };
    let config_repo = or_exit(runtime.block_on(GitConfigRepo::open(settings)), "open the clone");
    let edit: Arc<dyn FileEdit> = Arc::new(BumpTag {
        counter: AtomicUsize::new(0),
    });
    let spec = CommitSpec {
        path,
        subject: "Deploy app-00000".into(),
        body: String::new(),
        trailers: Vec::new(),
    };
    let mut group = c.benchmark_group("git");
    group.sample_size(20);
    group.bench_function("commit_edit with push to a local bare remote", |b| {
        b.iter(|| runtime.block_on(config_repo.commit_edit(&spec, Arc::clone(&edit))))
    });
    group.finish();
}

/// The tree of a directory of 2,500 files (about 105 KB), with ids that do not compress.
fn directory_tree() -> Vec<u8> {
    let mut tree = Vec::new();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..2_500 {
        tree.extend_from_slice(format!("100644 svc-{i:06}.yaml\0").as_bytes());
        for _ in 0..20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            tree.push(x.to_le_bytes()[0]);
        }
    }
    tree
}

fn packing(c: &mut Criterion) {
    use deployer_git::pack::{self, Deflater, PackObject};
    let mut tree = directory_tree();
    let entry = tree.len() / 2_500;
    let mut deflater = Deflater::default();
    let mut next = 0usize;
    let mut group = c.benchmark_group("git");
    // As the writer packs it: one entry of the directory changed since the last tree, the
    // chunks of the last tree kept.
    group.bench_function("pack the next tree of a 2,500-file directory", |b| {
        b.iter(|| {
            next = (next + 7) % 2_500;
            tree[next * entry + entry - 1] ^= 0x5a;
            let object = PackObject {
                id: git2::Oid::ZERO_SHA1,
                kind: git2::ObjectType::Tree,
                data: &tree,
            };
            pack::encode_with(&[object], &mut deflater)
        })
    });
    // The same tree with nothing kept: a new compressor, every chunk compressed.
    group.bench_function("pack a 2,500-file directory's tree afresh", |b| {
        b.iter(|| {
            let object = PackObject {
                id: git2::Oid::ZERO_SHA1,
                kind: git2::ObjectType::Tree,
                data: black_box(&tree),
            };
            pack::encode(&[object])
        })
    });
    group.finish();
}

criterion_group!(benches, tag_edit, image_parsing, webhooks, commits, packing);
criterion_main!(benches);
