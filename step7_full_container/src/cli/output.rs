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

/// Stdout for what is copied rather than printed line by line (`logs`):
/// a failed write ends the program as in [`line`]. Only a write to
/// *stdout* may end it quietly: a broken pipe to `nft` or a registry is an
/// error to report.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        std::io::stdout().write(buf).map_err(|err| fail(&err))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stdout().flush().map_err(|err| fail(&err))
    }
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

/// The file given with --log and its format, "text" or "json".
static LOG: std::sync::OnceLock<(std::path::PathBuf, String)> = std::sync::OnceLock::new();

/// Engines (containerd's shim, conmon) read the runtime's errors and
/// warnings from the file given with --log, as text or JSON lines: send
/// them there too from now on.
pub fn log_to(log: &Path, format: &str) {
    let _ = LOG.set((log.to_path_buf(), format.to_string()));
    step7::narrate::set_warning_hook(|message| append("warning", message));
}

/// The command failed: its error, for the log.
pub fn log_error(err: &anyhow::Error) {
    append("error", &format!("{err:#}"));
}

/// One line in the log, if there is one: `{"level", "msg", "time"}` as
/// runc writes them, or "TIME step7: [warning: ]MESSAGE".
fn append(level: &str, message: &str) {
    let Some((log, format)) = LOG.get() else { return };
    let time = step7::oci::state::now_rfc3339();
    let line = match (format.as_str(), level) {
        ("json", _) => serde_json::json!({"level": level, "msg": message, "time": time}).to_string(),
        (_, "warning") => format!("{time} step7: warning: {message}"),
        _ => format!("{time} step7: {message}"),
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = file.write_all(format!("{line}\n").as_bytes());
    }
}
