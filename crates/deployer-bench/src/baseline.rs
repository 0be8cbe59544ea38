//! The baseline: the script a team writes without a deployer, run one deploy at a time
//! against the same clusters and remote: `sed` the tag in a local clone, `git commit`,
//! `git push`, `kubectl apply --server-side -f`, and optionally `kubectl rollout status`.

use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::layout;
use crate::repo::git;
use crate::stats::Percentiles;
use crate::world::World;

/// The script. Arguments: file, tag, kubeconfig context, Deployment name, rollout (0 or 1).
/// It prints `pushed`, `applied` and `rolled-out` with `$EPOCHREALTIME` after each step.
pub const SCRIPT: &str = r#"#!/usr/bin/env bash
# One deploy, the way a team scripts it without a deployer.
set -euo pipefail
file=$1 tag=$2 context=$3 deployment=$4 rollout=$5
cd "$BASELINE_CLONE"
sed -i -E "s#^([[:space:]]*image: [^:]+):[^[:space:]]+#\1:${tag}#" "$file"
git commit --quiet -am "Deploy ${deployment} ${tag}"
git push --quiet origin HEAD:main
echo "pushed $EPOCHREALTIME"
kubectl --kubeconfig "$BASELINE_KUBECONFIG" --context "$context" apply --server-side --force-conflicts -f "$file" >/dev/null
echo "applied $EPOCHREALTIME"
if [ "$rollout" = 1 ]; then
  kubectl --kubeconfig "$BASELINE_KUBECONFIG" --context "$context" rollout status "deployment/${deployment}" --timeout=120s >/dev/null
  echo "rolled-out $EPOCHREALTIME"
fi
"#;

/// A prepared baseline: a clone of the world's remote and the script.
#[derive(Debug)]
pub struct Baseline {
    clone: PathBuf,
    script: PathBuf,
    kubeconfig: PathBuf,
}

/// Step times of one scripted deploy, in ms from its start.
#[derive(Debug, Clone, Copy, Default)]
pub struct Steps {
    /// After `git push`.
    pub pushed: f64,
    /// After `kubectl apply`.
    pub applied: f64,
    /// After `kubectl rollout status` (when asked).
    pub rolled_out: Option<f64>,
    /// The whole script.
    pub total: f64,
}

/// The baseline's figures for a run of deploys.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BaselineRun {
    /// Deploys made.
    pub deploys: usize,
    /// Whether each waited for the rollout.
    pub rollout: bool,
    /// Start to pushed.
    pub to_pushed: Option<Percentiles>,
    /// Start to applied.
    pub to_applied: Option<Percentiles>,
    /// Start to rolled out.
    pub to_rolled_out: Option<Percentiles>,
    /// Wall time of the run, in seconds.
    pub seconds: f64,
    /// Deploys per second.
    pub per_second: f64,
}

/// Parses the script's step lines relative to `start` (seconds since the epoch).
pub fn parse_steps(output: &str, start: f64, total: f64) -> Option<Steps> {
    let at = |key: &str| {
        output
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|v| v.trim().parse::<f64>().ok()))
            .map(|t| (t - start) * 1000.0)
    };
    Some(Steps {
        pushed: at("pushed ")?,
        applied: at("applied ")?,
        rolled_out: at("rolled-out "),
        total,
    })
}

impl Baseline {
    /// Clones the world's remote into `<world>/baseline-clone` and writes the script.
    ///
    /// # Errors
    /// When git fails.
    pub fn prepare(world: &World) -> anyhow::Result<Baseline> {
        let clone = world.dir.join("baseline-clone");
        if clone.exists() {
            std::fs::remove_dir_all(&clone)?;
        }
        let remote = world.remote.to_string_lossy().into_owned();
        git(
            &world.dir,
            &[
                "clone",
                "--quiet",
                "--branch",
                "main",
                &remote,
                &clone.to_string_lossy(),
            ],
        )?;
        git(&clone, &["config", "user.name", "Release Script"])?;
        git(&clone, &["config", "user.email", "release@bench.invalid"])?;
        let script = world.dir.join("deploy.sh");
        std::fs::write(&script, SCRIPT)?;
        Ok(Baseline {
            clone,
            script,
            kubeconfig: world.kubeconfig.clone(),
        })
    }

    /// Runs the script once.
    ///
    /// # Errors
    /// When the script fails.
    pub async fn deploy(
        &self,
        path: &str,
        context: &str,
        name: &str,
        tag: &str,
        rollout: bool,
    ) -> anyhow::Result<Steps> {
        let start_epoch = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs_f64();
        let started = Instant::now();
        let out = tokio::process::Command::new("bash")
            .arg(&self.script)
            .args([path, tag, context, name, if rollout { "1" } else { "0" }])
            .env("BASELINE_CLONE", &self.clone)
            .env("BASELINE_KUBECONFIG", &self.kubeconfig)
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .await
            .context("cannot run bash")?;
        let total = started.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            bail!(
                "the baseline script failed for {path}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        parse_steps(&String::from_utf8_lossy(&out.stdout), start_epoch, total)
            .context("the baseline script printed no step times")
    }

    /// Deploys `count` applications of `world` one after another (tags `b<round>-<n>`).
    ///
    /// # Errors
    /// When a deploy fails.
    pub async fn run(&self, world: &World, count: usize, rollout: bool, round: usize) -> anyhow::Result<BaselineRun> {
        let mut pushed = Vec::with_capacity(count);
        let mut applied = Vec::with_capacity(count);
        let mut rolled = Vec::with_capacity(count);
        let started = Instant::now();
        for n in 0..count {
            let app = &world.apps[n % world.apps.len().max(1)];
            let cluster = world.cluster_of(app);
            let path = layout::app_path(cluster, &app.name);
            let steps = self
                .deploy(&path, &cluster.context(), &app.name, &format!("b{round}-{n}"), rollout)
                .await?;
            pushed.push(steps.pushed);
            applied.push(steps.applied);
            if let Some(r) = steps.rolled_out {
                rolled.push(r);
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        Ok(BaselineRun {
            deploys: count,
            rollout,
            to_pushed: Percentiles::of_millis(&pushed),
            to_applied: Percentiles::of_millis(&applied),
            to_rolled_out: Percentiles::of_millis(&rolled),
            seconds,
            per_second: if seconds > 0.0 { count as f64 / seconds } else { 0.0 },
        })
    }
}

/// Whether `kubectl` is on `PATH`.
pub fn kubectl_available() -> bool {
    std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_lines_become_milliseconds_from_the_start() {
        let out = "pushed 100.250\napplied 100.500\n";
        let steps = parse_steps(out, 100.0, 600.0);
        assert_eq!(
            steps.map(|s| (s.pushed, s.applied, s.rolled_out)),
            Some((250.0, 500.0, None))
        );
    }

    #[test]
    fn output_without_step_lines_is_rejected() {
        assert!(parse_steps("nothing\n", 0.0, 1.0).is_none());
    }

    #[test]
    fn the_scripts_sed_edits_only_the_tag() -> anyhow::Result<()> {
        let line = SCRIPT.lines().find(|l| l.starts_with("sed -i -E ")).unwrap_or_default();
        let expression = line
            .trim_start_matches("sed -i -E \"")
            .split('"')
            .next()
            .unwrap_or_default()
            .replace("${tag}", "v9");
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("app.yaml");
        std::fs::write(&file, layout::manifest("app-00001", "v0"))?;
        let status = std::process::Command::new("sed")
            .args(["-i", "-E", &expression])
            .arg(&file)
            .status()?;
        assert!(status.success());
        assert_eq!(std::fs::read_to_string(&file)?, layout::manifest("app-00001", "v9"));
        Ok(())
    }
}
