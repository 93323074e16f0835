//! Printing that never panics. `println!` panics when standard output is a pipe whose
//! reader has gone (`dpsynth verify r/ | head -1`); a command's output is a courtesy to
//! that reader, so once it has closed the pipe the rest is dropped and the command goes on
//! to finish and exit as it would have. Other write errors (a full disk behind a
//! redirection) still fail the command. Standard error is best effort: a failed write
//! there has nowhere to be reported.

use std::fmt::Arguments;
use std::io::{self, ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes to standard output (flushed); a closed pipe silences the rest of the run.
pub fn write_out(args: Arguments<'_>) -> io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = io::stdout().lock();
    match out.write_fmt(args).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        r => r,
    }
}

/// Writes to standard error, ignoring failure.
pub fn write_err(args: Arguments<'_>) {
    let mut err = io::stderr().lock();
    let _ = err.write_fmt(args).and_then(|()| err.flush());
}

/// `print!` to standard output through [`write_out`]; evaluates to `io::Result<()>`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` to standard output through [`write_out`]; evaluates to `io::Result<()>`.
macro_rules! outln {
    () => {
        $crate::cli::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
