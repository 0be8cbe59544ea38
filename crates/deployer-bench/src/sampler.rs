//! Sampling a process's CPU and memory in the background while a scenario runs.

use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::procfs::{self, Sample};

/// A running sampler.
#[derive(Debug)]
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Sample>>,
}

impl Sampler {
    /// Samples process `pid` now and then every `every`.
    pub fn start(pid: u32, every: Duration) -> Sampler {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let ticks = procfs::clock_ticks();
        let task = tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut interval = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = interval.tick() => match procfs::sample(pid, ticks) {
                        Ok(s) => samples.push(s),
                        Err(_) => break,
                    },
                }
            }
            if let Ok(s) = procfs::sample(pid, ticks) {
                samples.push(s);
            }
            samples
        });
        Sampler { stop, task }
    }

    /// Stops and returns the samples, oldest first.
    pub async fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// The median of the resident set sizes of `samples`, in MiB.
pub fn median_rss_mib(samples: &[Sample]) -> f64 {
    let mut rss: Vec<u64> = samples.iter().map(|s| s.rss_kib).collect();
    rss.sort_unstable();
    rss.get(rss.len() / 2).map_or(0.0, |k| *k as f64 / 1024.0)
}

/// The largest peak resident set size of `samples`, in MiB.
pub fn peak_rss_mib(samples: &[Sample]) -> f64 {
    samples
        .iter()
        .map(|s| s.hwm_kib)
        .max()
        .map_or(0.0, |k| k as f64 / 1024.0)
}
