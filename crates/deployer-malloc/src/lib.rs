//! Heap settings of the long-running service.
//!
//! glibc's allocator gives every thread that meets contention an arena of its own, up to eight
//! per core, and raises its mmap threshold each time a large block is freed, up to 32 MiB, so
//! that later large blocks come from an arena and stay resident after they are freed. In a
//! service whose requests are served by a few runtime threads and whose bursts allocate and
//! free many buffers across them, both show up as resident memory that holds nothing: at 1,000
//! deploys in flight across 100 clusters the live heap peaks at about 27 MiB while the
//! anonymous memory reaches 47 MiB (docs/BENCHMARKS.md, "glibc's arenas and the loader's
//! relocations").
//!
//! [`plan`] decides what to set: at most one arena per core, and the mmap and trim thresholds
//! fixed at 512 KiB and 1 MiB, which stops their growth. (glibc's starting values, 128 KiB for
//! both, cost 1 to 2 ms of CPU per deploy in the same measurements, presumably blocks mapped
//! and unmapped each time and arenas trimmed and faulted in again.) A setting the operator
//! chose in the environment (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`,
//! `MALLOC_TRIM_THRESHOLD_` or the matching `GLIBC_TUNABLES` entry) is left as it is.
//! [`apply`] makes the calls; elsewhere than on glibc it does nothing.
//!
//! The trim threshold only gives back free space at the top of an arena. [`start_trimmer`]
//! runs a thread that gives back, every [`TRIM_EVERY`], the free pages anywhere in the arenas
//! (`malloc_trim`), which a burst leaves between the blocks still in use.

use std::fmt;
use std::time::Duration;

/// One allocator parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parameter {
    /// The most arenas.
    ArenaMax,
    /// The size from which a block is mapped on its own.
    MmapThreshold,
    /// The free space at the top of an arena beyond which it is given back.
    TrimThreshold,
}

impl Parameter {
    /// The environment variable glibc reads for this parameter.
    pub fn variable(self) -> &'static str {
        match self {
            Parameter::ArenaMax => "MALLOC_ARENA_MAX",
            Parameter::MmapThreshold => "MALLOC_MMAP_THRESHOLD_",
            Parameter::TrimThreshold => "MALLOC_TRIM_THRESHOLD_",
        }
    }

    /// The name of this parameter in `GLIBC_TUNABLES`.
    pub fn tunable(self) -> &'static str {
        match self {
            Parameter::ArenaMax => "glibc.malloc.arena_max",
            Parameter::MmapThreshold => "glibc.malloc.mmap_threshold",
            Parameter::TrimThreshold => "glibc.malloc.trim_threshold",
        }
    }
}

impl fmt::Display for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tunable())
    }
}

/// The fixed mmap threshold: blocks from this size up are mapped on their own.
pub const MMAP_THRESHOLD_BYTES: i32 = 512 * 1024;

/// The fixed trim threshold: an arena gives back the free space at its top beyond this size.
pub const TRIM_THRESHOLD_BYTES: i32 = 1024 * 1024;

/// What to set, given the number of cores and the environment: every parameter the operator
/// has not set, with its value.
pub fn plan(cores: usize, env: impl Fn(&str) -> Option<String>) -> Vec<(Parameter, i32)> {
    let tunables = env("GLIBC_TUNABLES").unwrap_or_default();
    let chosen = |p: Parameter| {
        env(p.variable()).is_some_and(|v| !v.trim().is_empty())
            || tunables
                .split(':')
                .any(|entry| entry.split('=').next() == Some(p.tunable()))
    };
    let arenas = i32::try_from(cores.max(1)).unwrap_or(i32::MAX);
    [
        (Parameter::ArenaMax, arenas),
        (Parameter::MmapThreshold, MMAP_THRESHOLD_BYTES),
        (Parameter::TrimThreshold, TRIM_THRESHOLD_BYTES),
    ]
    .into_iter()
    .filter(|(p, _)| !chosen(*p))
    .collect()
}

/// A parameter the allocator refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the allocator refused {parameter} = {value}")]
pub struct Refused {
    /// The parameter.
    pub parameter: Parameter,
    /// The value it was given.
    pub value: i32,
}

/// Whether this build can change the allocator's parameters (glibc on Linux).
pub const SUPPORTED: bool = cfg!(all(target_os = "linux", target_env = "gnu"));

/// Sets every parameter of `settings`, in order. Call it first thing in `main`, before any
/// thread is started: arenas already created stay. Returns the parameters set, which is
/// none where [`SUPPORTED`] is false.
pub fn apply(settings: &[(Parameter, i32)]) -> Result<Vec<(Parameter, i32)>, Refused> {
    if !SUPPORTED {
        return Ok(Vec::new());
    }
    for &(parameter, value) in settings {
        if !set(parameter, value) {
            return Err(Refused { parameter, value });
        }
    }
    Ok(settings.to_vec())
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn set(parameter: Parameter, value: i32) -> bool {
    let code = match parameter {
        Parameter::ArenaMax => libc::M_ARENA_MAX,
        Parameter::MmapThreshold => libc::M_MMAP_THRESHOLD,
        Parameter::TrimThreshold => libc::M_TRIM_THRESHOLD,
    };
    // SAFETY: `mallopt` takes two integers and changes only the allocator's own parameters,
    // under its own lock; any value is checked by glibc, which returns 0 when it refuses one.
    #[allow(unsafe_code)]
    let accepted = unsafe { libc::mallopt(code, value) };
    accepted == 1
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn set(_parameter: Parameter, _value: i32) -> bool {
    true
}

/// How often the service gives the free memory inside its arenas back to the system.
pub const TRIM_EVERY: Duration = Duration::from_millis(250);

/// Gives the free memory inside every arena back to the system (`malloc_trim(0)`), not only
/// what sits at the top of an arena, which is all the trim threshold covers. Returns whether
/// any memory was given back; where [`SUPPORTED`] is false it does nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim() -> bool {
    // SAFETY: `malloc_trim` takes one integer and walks the allocator's own free lists under
    // each arena's lock; it gives back only pages that hold no allocated block.
    #[allow(unsafe_code)]
    let released = unsafe { libc::malloc_trim(0) };
    released == 1
}

/// See the glibc version: nothing to give back here.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim() -> bool {
    false
}

/// Starts a thread that calls [`trim`] every `every` for the rest of the process's life; where
/// [`SUPPORTED`] is false, starts nothing.
///
/// A burst of requests allocates across the runtime's threads and frees out of order, so the
/// pages it freed sit between live blocks, where the trim threshold never reaches them; with
/// 1,000 deploys in flight that was about 2 MiB of the peak (docs/BENCHMARKS.md). A trim walks
/// the free lists under each arena's lock and costs microseconds when there is nothing to give
/// back.
///
/// # Errors
/// When the thread cannot be started.
pub fn start_trimmer(every: Duration) -> std::io::Result<()> {
    if !SUPPORTED {
        return Ok(());
    }
    std::thread::Builder::new()
        .name("heap-trim".to_owned())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                trim();
            }
        })
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn with_nothing_chosen_every_parameter_is_set_with_one_arena_per_core() {
        assert_eq!(
            plan(2, env(&[])),
            vec![
                (Parameter::ArenaMax, 2),
                (Parameter::MmapThreshold, 524_288),
                (Parameter::TrimThreshold, 1_048_576)
            ]
        );
        assert_eq!(plan(0, env(&[]))[0], (Parameter::ArenaMax, 1));
    }

    #[test]
    fn a_parameter_set_in_the_environment_is_left_alone() {
        let planned = plan(4, env(&[("MALLOC_ARENA_MAX", "8")]));
        assert_eq!(
            planned.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            vec![Parameter::MmapThreshold, Parameter::TrimThreshold]
        );
        let planned = plan(
            4,
            env(&[(
                "GLIBC_TUNABLES",
                "glibc.malloc.tcache_count=0:glibc.malloc.mmap_threshold=65536",
            )]),
        );
        assert_eq!(
            planned.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
            vec![Parameter::ArenaMax, Parameter::TrimThreshold]
        );
    }

    #[test]
    fn an_empty_variable_or_an_unrelated_tunable_does_not_count_as_a_choice() {
        let planned = plan(
            2,
            env(&[
                ("MALLOC_TRIM_THRESHOLD_", " "),
                ("GLIBC_TUNABLES", "glibc.malloc.arena_test=1"),
            ]),
        );
        assert_eq!(planned.len(), 3);
    }

    #[test]
    fn the_allocator_accepts_every_planned_value() {
        let planned = plan(2, env(&[]));
        let applied = apply(&planned).expect("glibc accepts the planned values");
        if SUPPORTED {
            assert_eq!(applied, planned);
        } else {
            assert!(applied.is_empty());
        }
    }

    #[test]
    fn a_trim_gives_back_the_pages_freed_between_live_blocks() {
        // Blocks under the mmap threshold come from an arena; freeing every other one leaves
        // whole free pages between live blocks, which only a full trim gives back.
        let mut blocks: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        for block in blocks.iter_mut().step_by(2) {
            *block = Vec::new();
        }
        let released = trim();
        assert_eq!(released, SUPPORTED, "the freed pages between the live blocks go back");
        assert!(blocks.iter().skip(1).step_by(2).all(|b| b.len() == 64 * 1024));
    }
}
