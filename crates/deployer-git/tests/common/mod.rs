//! Real repositories in temporary directories for the integration tests: a bare "remote"
//! seeded with files, other writers using the `git` program, and helpers to inspect history.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use deployer_core::ports::{CommitSpec, EditRejected, FileEdit};
use deployer_git::GitSettings;
use git2::{FileMode, Oid, Repository, RepositoryInitOptions, Signature};

/// The error type of the tests.
pub type TestResult<T = ()> = Result<T, Box<dyn Error + Send + Sync>>;

/// One entry to seed.
#[derive(Clone, Copy)]
pub enum Entry<'a> {
    /// A regular file.
    File(&'a [u8]),
    /// A symbolic link to the target.
    Symlink(&'a str),
    /// A submodule (gitlink) pointing at a commit.
    Submodule(Oid),
}

/// A bare remote in a temporary directory, plus room for clones.
pub struct World {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// The bare remote.
    pub remote: PathBuf,
}

impl World {
    /// A remote whose `main` holds `files`, refusing non-fast-forward pushes.
    pub fn new(files: &[(&str, Entry<'_>)]) -> TestResult<World> {
        let dir = tempfile::tempdir()?;
        let remote = dir.path().join("remote.git");
        let mut opts = RepositoryInitOptions::new();
        opts.bare(true).initial_head("main");
        let repo = Repository::init_opts(&remote, &opts)?;
        repo.config()?.set_bool("receive.denyNonFastForwards", true)?;
        repo.config()?.set_bool("receive.denyDeletes", true)?;
        let world = World { dir, remote };
        world.commit_on_remote(files, "seed the configuration\n", &[])?;
        Ok(world)
    }

    /// A fresh path for a clone.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Settings for a deployer clone of the remote at `clone`.
    pub fn settings(&self, clone: &str) -> TestResult<GitSettings> {
        let mut s = GitSettings::new(self.remote.to_string_lossy().parse()?, self.path(clone));
        s.author_name = "Deployer Bot".to_owned();
        s.author_email = "deployer@example.com".to_owned();
        Ok(s)
    }

    /// Opens the remote.
    pub fn remote_repo(&self) -> TestResult<Repository> {
        Ok(Repository::open_bare(&self.remote)?)
    }

    /// The remote's `main`.
    pub fn main(&self) -> TestResult<Oid> {
        Ok(self.remote_repo()?.refname_to_id("refs/heads/main")?)
    }

    /// Commits `files` (added or replaced) directly on the remote's `main`.
    pub fn commit_on_remote(&self, files: &[(&str, Entry<'_>)], message: &str, parents: &[Oid]) -> TestResult<Oid> {
        let repo = self.remote_repo()?;
        let parent = match repo.refname_to_id("refs/heads/main") {
            Ok(id) => Some(repo.find_commit(id)?),
            Err(_) => None,
        };
        let base = parent.as_ref().map(|c| c.tree()).transpose()?;
        let tree = write_tree(&repo, base.as_ref(), files)?;
        let tree = repo.find_tree(tree)?;
        let sig = Signature::now("Seeder", "seeder@example.com")?;
        let mut all: Vec<git2::Commit<'_>> = parent.into_iter().collect();
        for p in parents {
            all.push(repo.find_commit(*p)?);
        }
        let refs: Vec<&git2::Commit<'_>> = all.iter().collect();
        Ok(repo.commit(Some("refs/heads/main"), &sig, &sig, message, &tree, &refs)?)
    }

    /// Adds `files` on top of the remote's `main` in one commit made by `git fast-import`
    /// (much faster than libgit2 for thousands of files).
    pub fn commit_many_on_remote(&self, files: &[(String, Vec<u8>)]) -> TestResult<Oid> {
        use std::io::Write;
        let message = "add many unrelated files\n";
        let mut stream = format!(
            "commit refs/heads/main\ncommitter Seeder <seeder@example.com> 1700000000 +0000\ndata {}\n{message}from {}\n",
            message.len(),
            self.main()?
        )
        .into_bytes();
        for (path, content) in files {
            stream.extend(format!("M 100644 inline {path}\ndata {}\n", content.len()).as_bytes());
            stream.extend(content);
            stream.push(b'\n');
        }
        let mut child = Command::new("git")
            .arg("--git-dir")
            .arg(&self.remote)
            .args(["fast-import", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .spawn()?;
        child.stdin.take().ok_or("no stdin")?.write_all(&stream)?;
        if !child.wait()?.success() {
            return Err("git fast-import failed".into());
        }
        self.main()
    }

    /// The content of `path` at the remote's `main`.
    pub fn remote_file(&self, path: &str) -> TestResult<Vec<u8>> {
        let repo = self.remote_repo()?;
        let tree = repo.find_commit(self.main()?)?.tree()?;
        let entry = tree.get_path(Path::new(path))?;
        Ok(repo.find_blob(entry.id())?.content().to_vec())
    }

    /// The first-parent history of the remote's `main`, newest first, checking that it is
    /// linear (no merge commits).
    pub fn linear_history(&self) -> TestResult<Vec<Oid>> {
        let repo = self.remote_repo()?;
        let mut out = Vec::new();
        let mut next = Some(repo.find_commit(self.main()?)?);
        while let Some(commit) = next {
            if commit.parent_count() > 1 {
                return Err(format!("commit {} is a merge", commit.id()).into());
            }
            out.push(commit.id());
            next = commit.parents().next();
        }
        Ok(out)
    }

    /// The paths changed by `commit` relative to its parent.
    pub fn changed_paths(&self, commit: Oid) -> TestResult<Vec<String>> {
        let repo = self.remote_repo()?;
        let commit = repo.find_commit(commit)?;
        let parent = commit.parent(0)?;
        let diff = repo.diff_tree_to_tree(Some(&parent.tree()?), Some(&commit.tree()?), None)?;
        Ok(diff
            .deltas()
            .filter_map(|d| d.new_file().path().map(|p| p.to_string_lossy().into_owned()))
            .collect())
    }

    /// A working clone of the remote made with the `git` program.
    pub fn other_writer(&self, name: &str) -> TestResult<PathBuf> {
        let path = self.path(name);
        git(
            None,
            &["clone", "-q", &self.remote.to_string_lossy(), &path.to_string_lossy()],
        )?;
        Ok(path)
    }

    /// Installs a `pre-push` hook in the deployer's clone: it runs `script` (with a clean
    /// environment, in the directory of `other`) before each push, or only before the first one.
    pub fn install_pre_push(&self, clone: &str, other: &Path, script: &str, once: bool) -> TestResult {
        let hook = self.path(clone).join("hooks").join("pre-push");
        std::fs::create_dir_all(hook.parent().ok_or("no hooks dir")?)?;
        let marker = self.path(&format!("{clone}.hook-ran"));
        let guard = if once {
            format!("[ -e '{0}' ] && exit 0\ntouch '{0}'\n", marker.display())
        } else {
            String::new()
        };
        let text = format!(
            "#!/bin/sh\ncat > /dev/null\n{guard}cd '{}' || exit 1\nenv -i PATH=\"$PATH\" HOME=\"$HOME\" sh -e -c '{}' || exit 1\n",
            other.display(),
            script.replace('\'', "'\\''"),
        );
        std::fs::write(&hook, text)?;
        Command::new("chmod").arg("+x").arg(&hook).status()?;
        Ok(())
    }
}

/// The shell lines another writer runs to commit everything and push to `main`.
pub fn other_commit_and_push(message: &str) -> String {
    format!(
        "git -c user.name=Other -c user.email=other@example.com commit -q -am '{message}'\ngit push -q origin HEAD:main"
    )
}

/// Runs `git` in `dir`.
pub fn git(dir: Option<&Path>, args: &[&str]) -> TestResult<String> {
    let mut cmd = Command::new("git");
    if let Some(dir) = dir {
        cmd.current_dir(dir);
    }
    let out = cmd.args(args).env("GIT_TERMINAL_PROMPT", "0").output()?;
    if !out.status.success() {
        return Err(format!("git {args:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

enum Node {
    Leaf(Oid, i32),
    Dir(BTreeMap<String, Node>),
}

fn write_tree(repo: &Repository, base: Option<&git2::Tree<'_>>, files: &[(&str, Entry<'_>)]) -> TestResult<Oid> {
    let mut root = BTreeMap::new();
    for (path, entry) in files {
        let (id, mode) = match entry {
            Entry::File(bytes) => (repo.blob(bytes)?, i32::from(FileMode::Blob)),
            Entry::Symlink(target) => (repo.blob(target.as_bytes())?, i32::from(FileMode::Link)),
            Entry::Submodule(commit) => (*commit, i32::from(FileMode::Commit)),
        };
        let parts: Vec<&str> = path.split('/').collect();
        let mut node = &mut root;
        for dir in &parts[..parts.len() - 1] {
            let child = node
                .entry((*dir).to_owned())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            node = match child {
                Node::Dir(map) => map,
                Node::Leaf(..) => return Err(format!("{dir} is a file").into()),
            };
        }
        node.insert(parts[parts.len() - 1].to_owned(), Node::Leaf(id, mode));
    }
    build(repo, base, &root)
}

fn build(repo: &Repository, base: Option<&git2::Tree<'_>>, nodes: &BTreeMap<String, Node>) -> TestResult<Oid> {
    let mut builder = repo.treebuilder(base)?;
    for (name, node) in nodes {
        match node {
            Node::Leaf(id, mode) => {
                builder.insert(name, *id, *mode)?;
            }
            Node::Dir(children) => {
                let existing = base
                    .and_then(|t| t.get_name(name))
                    .filter(|e| e.kind() == Some(git2::ObjectType::Tree))
                    .map(|e| repo.find_tree(e.id()))
                    .transpose()?;
                let id = build(repo, existing.as_ref(), children)?;
                builder.insert(name, id, i32::from(FileMode::Tree))?;
            }
        }
    }
    Ok(builder.write()?)
}

/// An edit replacing `from` with `to`; unchanged when `to` is already there.
pub struct Replace {
    /// Text to find.
    pub from: &'static str,
    /// Its replacement.
    pub to: &'static str,
}

impl FileEdit for Replace {
    fn edit(&self, content: &[u8]) -> Result<Vec<u8>, EditRejected> {
        let text = String::from_utf8_lossy(content);
        if text.contains(self.from) {
            Ok(text.replacen(self.from, self.to, 1).into_bytes())
        } else if text.contains(self.to) {
            Ok(content.to_vec())
        } else {
            Err(EditRejected {
                code: "no_matching_image".to_owned(),
                message: format!("`{}` is not in the file", self.from),
            })
        }
    }
}

/// `Arc`ed [`Replace`].
pub fn replace(from: &'static str, to: &'static str) -> Arc<dyn FileEdit> {
    Arc::new(Replace { from, to })
}

/// A commit spec for `path` with a deployment id trailer.
pub fn spec(path: &str, deployment_id: &str) -> CommitSpec {
    CommitSpec {
        path: path.to_owned(),
        subject: format!("deploy {path}"),
        body: "hotfix for the login page\n".to_owned(),
        trailers: vec![
            ("Deployment-Id".to_owned(), deployment_id.to_owned()),
            ("Requested-By".to_owned(), "alice".to_owned()),
            ("File".to_owned(), path.to_owned()),
        ],
    }
}

/// The usual seed: two apps in one cluster, one in another region, and a README.
pub fn standard_files() -> Vec<(&'static str, Entry<'static>)> {
    vec![
        ("README.md", Entry::File(b"configuration\n")),
        (
            "eu/prod-a/apps/web.yaml",
            Entry::File(b"kind: Deployment\nimage: registry.example.com/web:v1\n"),
        ),
        (
            "eu/prod-a/apps/api.yaml",
            Entry::File(b"kind: Deployment\nimage: registry.example.com/api:v1\n"),
        ),
        (
            "us/prod-b/apps/web.yml",
            Entry::File(b"kind: Deployment\nimage: registry.example.com/web:v1\n"),
        ),
    ]
}
