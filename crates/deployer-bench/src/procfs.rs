//! CPU time and memory of a process, read from `/proc/<pid>/stat` and `/proc/<pid>/status`.

use std::time::Instant;

use anyhow::{Context, bail};
use serde::Serialize;

/// One reading of a process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// When it was taken.
    pub at: Instant,
    /// User plus system CPU time so far, in seconds.
    pub cpu_seconds: f64,
    /// User plus system CPU time of its children that it waited for (the `git` processes it
    /// runs), in seconds.
    pub children_cpu_seconds: f64,
    /// Resident set size now, in KiB (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size so far, in KiB (`VmHWM`).
    pub hwm_kib: u64,
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`; 100 on Linux).
pub fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|t| *t > 0.0)
        .unwrap_or(100.0)
}

/// Parses `utime + stime` (fields 14 and 15) and `cutime + cstime` (fields 16 and 17, the
/// children waited for) from the text of `/proc/<pid>/stat`, in ticks.
pub fn parse_cpu_ticks(stat: &str) -> Option<(u64, u64)> {
    // The command name (field 2) is in parentheses and may contain spaces: skip past it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field n is at index n - 3.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some((field(14)? + field(15)?, field(16)? + field(17)?))
}

/// Reads a `Vm…:   1234 kB` line of `/proc/<pid>/status`, in KiB.
pub fn parse_status_kib(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Reads the process now.
///
/// # Errors
/// When the process is gone or `/proc` cannot be read.
pub fn sample(pid: u32, ticks_per_second: f64) -> anyhow::Result<Sample> {
    let at = Instant::now();
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid} is gone"))?;
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid} is gone"))?;
    let Some((ticks, children)) = parse_cpu_ticks(&stat) else {
        bail!("cannot parse /proc/{pid}/stat")
    };
    let rss = parse_status_kib(&status, "VmRSS").unwrap_or(0);
    let hwm = parse_status_kib(&status, "VmHWM").unwrap_or(0);
    Ok(Sample {
        at,
        cpu_seconds: ticks as f64 / ticks_per_second,
        children_cpu_seconds: children as f64 / ticks_per_second,
        rss_kib: rss,
        hwm_kib: hwm,
    })
}

/// CPU use and memory of a process over an interval.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    /// CPU time used over the interval, in seconds.
    pub cpu_seconds: f64,
    /// CPU time over wall time, in percent of one core.
    pub cpu_percent: f64,
    /// CPU time of the children it waited for (`git`), in seconds.
    pub children_cpu_seconds: f64,
    /// Its own and its children's CPU time over wall time, in percent of one core.
    pub total_cpu_percent: f64,
    /// Resident set size at the end, in MiB.
    pub rss_mib: f64,
    /// Peak resident set size since the process started, in MiB.
    pub peak_rss_mib: f64,
}

/// The usage between two samples of one process.
pub fn usage(from: &Sample, to: &Sample) -> Usage {
    let wall = to.at.duration_since(from.at).as_secs_f64();
    let cpu = (to.cpu_seconds - from.cpu_seconds).max(0.0);
    let children = (to.children_cpu_seconds - from.children_cpu_seconds).max(0.0);
    let percent = |seconds: f64| if wall > 0.0 { seconds / wall * 100.0 } else { 0.0 };
    Usage {
        cpu_seconds: cpu,
        cpu_percent: percent(cpu),
        children_cpu_seconds: children,
        total_cpu_percent: percent(cpu + children),
        rss_mib: to.rss_kib as f64 / 1024.0,
        peak_rss_mib: to.hwm_kib as f64 / 1024.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_past_a_command_name_with_spaces() {
        let stat = "4242 (k8s app (x)) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 30 12 20 0 9 0 100 0 0";
        assert_eq!(parse_cpu_ticks(stat), Some((300, 42)));
    }

    #[test]
    fn status_lines_give_kibibytes() {
        let status = "Name:\tx\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(10240));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_sampled() -> anyhow::Result<()> {
        let s = sample(std::process::id(), clock_ticks())?;
        assert!(s.rss_kib > 0 && s.hwm_kib >= s.rss_kib);
        Ok(())
    }
}
