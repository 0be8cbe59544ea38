//! Running the controller passes at a lower CPU priority than the API server.
//!
//! A simulated cluster shares its machine with whatever talks to it. A real cluster's
//! controllers run on machines of their own; a benchmark that measures a client beside
//! simulated clusters can therefore ask for the passes to give way
//! ([`crate::server::SimOptions::controller_niceness`]), while requests are still served at the
//! priority of the rest of the process.

/// The highest niceness Linux knows.
const LOWEST_PRIORITY: i32 = 19;

/// Raises the calling thread's niceness to `niceness` (at most 19) when it is below it. Raising
/// one's own niceness needs no privilege; lowering it would, so it is never lowered.
///
/// # Errors
/// When the thread's priority cannot be read or set.
pub(crate) fn at_least(niceness: i32) -> std::io::Result<()> {
    let wanted = niceness.min(LOWEST_PRIORITY);
    if wanted <= 0 {
        return Ok(());
    }
    let me = rustix::thread::gettid();
    if rustix::process::getpriority_process(Some(me))? >= wanted {
        return Ok(());
    }
    rustix::process::setpriority_process(Some(me), wanted)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The niceness of this thread as the kernel reports it (`/proc/thread-self/stat`, field 19).
    fn own_niceness() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_else(|e| panic!("{e}"));
        let after_name = &stat[stat.rfind(')').unwrap_or_else(|| panic!("no comm in {stat}")) + 2..];
        after_name
            .split(' ')
            .nth(16)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no niceness in {stat}"))
    }

    #[test]
    fn the_thread_gives_way_and_never_asks_for_more() {
        std::thread::spawn(|| {
            let start = own_niceness();
            at_least(0).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(own_niceness(), start, "0 leaves the thread as it is");
            at_least(start + 3).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(own_niceness(), start + 3);
            at_least(start + 1).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(own_niceness(), start + 3, "never lowered");
            at_least(40).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(own_niceness(), 19);
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread panicked"));
        assert_eq!(own_niceness(), 0, "only the calling thread changes");
    }
}
