//! Writing to standard output and standard error without panicking when a reader goes away.
//!
//! `println!` and `eprintln!` panic when the write fails, so `k8s-app-deployer deploy … --wait |
//! head -3` used to end in a panic (exit 101) once `head` closed the pipe. Output written here is
//! dropped instead when nobody reads it any more, and the command goes on to its real outcome:
//! the exit code of `deploy --wait` still says how the deployment ended. Any other failure to
//! write standard output (a full disk behind a redirect, say) is reported once on standard error.

use std::fmt;
use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to standard output has failed; later writes are skipped.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output and flushes. Returns the error, if any, for output that must not be
/// lost silently (a token shown only once); ordinary output ignores it through [`out!`].
pub fn write_out(args: fmt::Arguments<'_>) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Err(io::Error::new(io::ErrorKind::BrokenPipe, "standard output is closed"));
    }
    let mut lock = io::stdout().lock();
    let written = lock.write_fmt(args).and_then(|()| lock.flush());
    if let Err(e) = &written {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe {
            write_err(format_args!(
                "warning: cannot write to standard output ({e}); the rest of it is dropped\n"
            ));
        }
    }
    written
}

/// Writes to standard error and flushes, ignoring failure: there is nowhere left to report it.
pub fn write_err(args: fmt::Arguments<'_>) {
    let mut lock = io::stderr().lock();
    let _ = lock.write_fmt(args).and_then(|()| lock.flush());
}

/// Like `print!`, without the panic when standard output is closed.
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = $crate::console::write_out(format_args!($($arg)*));
    }};
}

/// Like `println!`, without the panic when standard output is closed.
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = $crate::console::write_out(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

/// Like `eprintln!`, without the panic when standard error is closed.
macro_rules! errln {
    ($($arg:tt)*) => {{
        $crate::console::write_err(format_args!("{}\n", format_args!($($arg)*)));
    }};
}

pub(crate) use {errln, out, outln};
