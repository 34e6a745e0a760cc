//! `--verbose`: narrate every system call as it is made.
//!
//! The container is built by a handful of system calls made by up to four
//! processes (the runtime, the container process, its init, the command).
//! Each line says which process made the call, so a student can follow the
//! container being built, like `strace -f` with the noise left out.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ENABLED: AtomicBool = AtomicBool::new(false);
static WARNING_HOOK: std::sync::OnceLock<fn(&str)> = std::sync::OnceLock::new();
static PROGRAM: Mutex<&'static str> = Mutex::new("container");
static ROLE: Mutex<&'static str> = Mutex::new("runtime");

/// Remember the program's name and whether `--verbose` was given.
pub fn init(program: &'static str, verbose: bool) {
    *PROGRAM.lock().unwrap() = program;
    ENABLED.store(verbose, Ordering::Relaxed);
}

/// Name the process that makes the following calls. Called right after a
/// fork: the child inherits a copy of this state and renames itself.
pub fn set_role(role: &'static str) {
    *ROLE.lock().unwrap() = role;
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The program name used in messages, e.g. "step3".
pub fn program() -> &'static str {
    *PROGRAM.lock().unwrap()
}

#[doc(hidden)]
pub fn print(line: std::fmt::Arguments) {
    let role = *ROLE.lock().unwrap();
    // One write(2) per line: several processes narrate at once, and
    // eprintln! would write piece by piece, interleaving their lines.
    let text = format!("{} [{role}] {line}\n", program());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
}

/// Say that something went wrong without stopping the command ("cannot
/// remove cgroup ...: still busy"), as one line on stderr, whether
/// `--verbose` is on or not.
#[doc(hidden)]
pub fn print_warning(line: std::fmt::Arguments) {
    let line = line.to_string();
    let text = format!("{}: warning: {line}\n", program());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), text.as_bytes());
    if let Some(hook) = WARNING_HOOK.get() {
        hook(&line);
    }
}

/// Also hand every warning to `hook` (step 7 writes them to the log an
/// engine reads, `--log`). Set once, at start.
pub fn set_warning_hook(hook: fn(&str)) {
    let _ = WARNING_HOOK.set(hook);
}

/// `warn!("cannot remove {}", dir.display())` prints
/// "step6: warning: cannot remove ...".
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::narrate::print_warning(format_args!($($arg)*))
    };
}

/// `narrate!("chroot({:?})", path)` prints the call when `--verbose` is on.
#[macro_export]
macro_rules! narrate {
    ($($arg:tt)*) => {
        if $crate::narrate::enabled() {
            $crate::narrate::print(format_args!($($arg)*));
        }
    };
}
