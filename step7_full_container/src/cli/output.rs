//! What the command line writes: lines on stdout, errors for engines.
//!
//! A Rust program starts with SIGPIPE ignored, so a write to a closed pipe
//! fails with EPIPE instead of ending the program, and `println!` panics
//! on that error: `step7 ps -a | head -1` would end in a backtrace. Every
//! line goes through [`line`] instead, which ends the program quietly on a
//! closed pipe, the way other Unix tools end: killed by SIGPIPE. (The
//! runtime itself keeps SIGPIPE ignored: a hook that exits without
//! reading its stdin must not kill it.)

use std::io::Write;
use std::path::Path;

/// `out!("{id}")`: one line on stdout.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::line(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// Write one line to stdout, or end as a program does whose reader has
/// gone.
pub fn line(text: std::fmt::Arguments) {
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        fail(&err);
    }
}

/// A write to stdout failed: die of SIGPIPE on a closed pipe, else say why.
pub fn fail(err: &std::io::Error) -> ! {
    if err.kind() == std::io::ErrorKind::BrokenPipe {
        closed_pipe();
    }
    eprintln!("step7: cannot write the output: {err}");
    std::process::exit(1)
}

/// Whether an error comes from a closed pipe on stdout (`logs | head`).
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| cause.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe))
}

/// End by SIGPIPE, as `cat` or `ls` do when their reader is gone: no
/// message, and the shell sees status 141.
pub fn closed_pipe() -> ! {
    // SAFETY: SIG_DFL, then a signal to ourselves that it makes fatal.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(128 + libc::SIGPIPE)
}

/// Engines (containerd's shim, conmon) read the runtime's errors from the
/// file given with --log, as text or JSON lines.
pub fn log_error(log: &Path, format: &str, err: &anyhow::Error) {
    let time = step7::oci::state::now_rfc3339();
    let line = if format == "json" {
        serde_json::json!({"level": "error", "msg": format!("{err:#}"), "time": time}).to_string()
    } else {
        format!("{time} step7: {err:#}")
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}
