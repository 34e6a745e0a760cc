//! Which runtime process owns a piece of state (a lease, a container's
//! files), and whether it still runs.
//!
//! A runtime that is SIGKILLed cannot clean up after itself; the next one
//! must tell its leftovers from the state of runtimes still running. A
//! state file records its owner as "PID STARTTIME": PIDs are reused, but
//! not together with the same start time. Read: proc(5) /proc/PID/stat.

use std::path::Path;

// ANCHOR: owner
/// "PID STARTTIME" of this runtime process.
pub fn owner() -> String {
    let pid = std::process::id();
    format!("{pid} {}", start_time(pid).unwrap_or_default())
}

/// Field 22 of /proc/PID/stat: when the process started, in clock ticks
/// since boot. Together with the PID it names one process for good.
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may contain spaces: count after its ')'.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the runtime that wrote `path` (a lease, an owner file) still
/// runs.
pub fn is_alive(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else { return false };
    let mut fields = text.split_whitespace();
    let (Some(pid), Some(started)) = (fields.next(), fields.next()) else { return false };
    let (Ok(pid), Ok(started)) = (pid.parse::<u32>(), started.parse::<u64>()) else { return false };
    start_time(pid) == Some(started)
}
// ANCHOR_END: owner
