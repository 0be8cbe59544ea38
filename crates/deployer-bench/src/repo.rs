//! The configuration repository of a benchmark: a bare "remote" on local disk, written in one
//! `git fast-import` stream (application files, filler files and any amount of history).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use crate::layout::{self, App, ClusterSpec};

/// What to put in the repository.
#[derive(Debug, Clone, Default)]
pub struct RepoPlan {
    /// Applications, each in its own file at tag `v0`.
    pub apps: Vec<App>,
    /// Files that are never deployed, spread over the clusters' directories, so the
    /// repository holds `apps + filler` files.
    pub filler: usize,
    /// Commits of history before the tip, each changing one filler file (or the README).
    pub history: usize,
}

const AUTHOR: &str = "Bench Seeder <seeder@bench.invalid>";

fn blob(out: &mut Vec<u8>, path: &str, content: &[u8]) {
    out.extend_from_slice(format!("M 100644 inline {path}\ndata {}\n", content.len()).as_bytes());
    out.extend_from_slice(content);
    out.push(b'\n');
}

fn commit_header(out: &mut Vec<u8>, time: u64, message: &str, first: bool) {
    out.extend_from_slice(
        format!(
            "commit refs/heads/main\ncommitter {AUTHOR} {time} +0000\ndata {}\n{message}\n",
            message.len()
        )
        .as_bytes(),
    );
    if first {
        out.extend_from_slice(b"deleteall\n");
    }
}

/// The path of the `n`th filler file.
fn filler_path(clusters: &[ClusterSpec], n: usize) -> String {
    let c = &clusters[n % clusters.len()];
    layout::app_path(c, &format!("svc-{n:06}"))
}

/// The `git fast-import` stream of `plan`.
pub fn fast_import_stream(clusters: &[ClusterSpec], plan: &RepoPlan) -> Vec<u8> {
    let mut out = Vec::new();
    let start = 1_700_000_000u64;
    commit_header(&mut out, start, "Seed the configuration repository", true);
    blob(
        &mut out,
        "README.md",
        b"# Configuration repository\n\n`<region>/<cluster>/apps/<app>.yaml`\n",
    );
    for app in &plan.apps {
        let path = layout::app_path(&clusters[app.cluster], &app.name);
        blob(&mut out, &path, layout::manifest(&app.name, &layout::tag(0)).as_bytes());
    }
    for n in 0..plan.filler {
        let name = format!("svc-{n:06}");
        blob(
            &mut out,
            &filler_path(clusters, n),
            layout::manifest(&name, &layout::tag(0)).as_bytes(),
        );
    }
    for h in 0..plan.history {
        commit_header(&mut out, start + 1 + h as u64, &format!("Deploy history {h}"), false);
        if plan.filler > 0 {
            let n = h % plan.filler;
            let name = format!("svc-{n:06}");
            blob(
                &mut out,
                &filler_path(clusters, n),
                layout::manifest(&name, &format!("h{h}")).as_bytes(),
            );
        } else {
            blob(
                &mut out,
                "README.md",
                format!("# Configuration repository\n\nrevision {h}\n").as_bytes(),
            );
        }
    }
    out.extend_from_slice(b"done\n");
    out
}

/// Runs `git` with arguments in `dir`, returning stdout.
///
/// # Errors
/// When git cannot run or fails.
pub fn git(dir: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .context("cannot run `git`")?;
    if !out.status.success() {
        bail!(
            "`git {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Creates the bare remote at `remote` with `plan`'s content on `main`.
///
/// # Errors
/// When git fails.
pub fn create_remote(remote: &Path, clusters: &[ClusterSpec], plan: &RepoPlan) -> anyhow::Result<()> {
    std::fs::create_dir_all(remote)?;
    git(remote, &["init", "--quiet", "--bare", "--initial-branch=main"])?;
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet", "--done"])
        .current_dir(remote)
        .env("GIT_DIR", remote)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("cannot run `git fast-import`")?;
    let stream = fast_import_stream(clusters, plan);
    child
        .stdin
        .take()
        .context("no stdin for `git fast-import`")?
        .write_all(&stream)?;
    if !child.wait()?.success() {
        bail!("`git fast-import` failed");
    }
    Ok(())
}

/// How many commits `main` of a bare repository has.
///
/// # Errors
/// When git fails.
pub fn commit_count(remote: &Path) -> anyhow::Result<u64> {
    let text = git(remote, &["rev-list", "--count", "main"])?;
    text.trim().parse().context("unexpected `git rev-list --count` output")
}

/// How many files `main` holds.
///
/// # Errors
/// When git fails.
pub fn file_count(remote: &Path) -> anyhow::Result<usize> {
    Ok(git(remote, &["ls-tree", "-r", "--name-only", "main"])?.lines().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_holds_the_planned_files_and_history() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let remote = dir.path().join("remote.git");
        let clusters = layout::clusters(2);
        let plan = RepoPlan {
            apps: layout::apps(3, 2),
            filler: 4,
            history: 10,
        };
        create_remote(&remote, &clusters, &plan)?;
        assert_eq!(file_count(&remote)?, 1 + 3 + 4);
        assert_eq!(commit_count(&remote)?, 11);
        let shown = git(&remote, &["show", "main:bench-0/c001/apps/app-00001.yaml"])?;
        assert!(shown.contains("registry.bench.local/team/app-00001:v0"));
        Ok(())
    }
}
