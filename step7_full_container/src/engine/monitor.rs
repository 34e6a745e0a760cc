//! `run -d`: a container that outlives the command that started it.
//!
//! Something must still hold its network, wait for it, record how it
//! ended and free its cgroup: a *monitor* process (what conmon is for
//! podman, containerd-shim for containerd). Its output goes to a log file
//! that `logs` reads. Stopped containers stay listed (`ps -a`) until `rm`,
//! unless `--rm`.
//! Read: setsid(2), the "daemon" recipe in daemon(7).

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

use super::containers;
use super::options::RunOptions;
use super::root::Root;
use super::start::start;
use crate::oci::lifecycle;
use crate::paths::Paths;

// ANCHOR: detach
/// Fork a monitor, in a session of its own, that starts the container
/// with its stdout and stderr on the log file, tells us it started (or
/// why not) over a pipe, then waits for it and cleans up.
pub fn detach(paths: &Paths, options: &RunOptions, id: &str, root: Root, spec: Spec) -> Result<()> {
    let detached = fork_monitor(paths, options, id, root.clone(), spec);
    if detached.is_err() {
        // The monitor removes the root when the start fails, but there
        // may have been no monitor.
        let _ = root.remove();
    }
    detached
}

fn fork_monitor(paths: &Paths, options: &RunOptions, id: &str, root: Root, spec: Spec) -> Result<()> {
    let log = paths.log(id);
    let dir = log.parent().expect("a log has a directory");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2 failed")?;
    // SAFETY: single-threaded; the child becomes the monitor and exits.
    match unsafe { nix::unistd::fork() }.context("fork of the monitor failed")? {
        nix::unistd::ForkResult::Parent { child } => {
            drop(report_write);
            let mut report = String::new();
            std::fs::File::from(report_read).read_to_string(&mut report).context("reading the monitor's report")?;
            let _ = nix::sys::wait::waitpid(child, None);
            match report.trim() {
                "started" => Ok(()),
                // Died before it could say (killed, or a panic): what it
                // wrote is in the log, kept for that reason.
                "" => bail!("the monitor of {id} ended before the container started: see {}", log.display()),
                why => {
                    let _ = std::fs::remove_file(&log);
                    bail!("{why}")
                }
            }
        }
        nix::unistd::ForkResult::Child => {
            drop(report_read);
            // A session of its own, and a second fork so that the monitor
            // is nobody's child but init's (or a subreaper's).
            let _ = nix::unistd::setsid();
            // SAFETY: still single-threaded.
            if let Ok(nix::unistd::ForkResult::Parent { .. }) = unsafe { nix::unistd::fork() } {
                // SAFETY: _exit runs no destructor of the parent's state.
                unsafe { libc::_exit(0) };
            }
            redirect(&log_file);
            let code = monitor(paths, options, id, root, spec, report_write);
            // SAFETY: as above.
            unsafe { libc::_exit(code) }
        }
    }
}
// ANCHOR_END: detach

/// stdin from /dev/null, stdout and stderr to the log.
fn redirect(log: &std::fs::File) {
    let null = std::fs::File::open("/dev/null");
    // SAFETY: dup2 onto the standard descriptors, which we own.
    unsafe {
        if let Ok(null) = &null {
            libc::dup2(null.as_raw_fd(), 0);
        }
        libc::dup2(log.as_raw_fd(), 1);
        libc::dup2(log.as_raw_fd(), 2);
    }
}

// ANCHOR: monitor
/// The monitor: start, report, wait, record the exit status, clean up.
fn monitor(paths: &Paths, options: &RunOptions, id: &str, root: Root, spec: Spec, report: OwnedFd) -> i32 {
    let mut report = std::fs::File::from(report);
    let _ = crate::init::block_signals();
    let running = match start(paths, options, id, root, spec) {
        Ok(running) => running,
        Err(err) => {
            let _ = report.write_all(format!("{err:#}").as_bytes());
            return crate::process::EXIT_SETUP_FAILED;
        }
    };
    let _ = report.write_all(b"started");
    drop(report);
    let code = crate::init::supervise(running.pid).unwrap_or(crate::process::EXIT_SETUP_FAILED);
    if options.remove {
        drop(running);
        let _ = std::fs::remove_file(paths.log(id));
    } else {
        // Stopped, and listed until `rm`: keep the state, free the rest.
        containers::record_exit(paths, id, code);
        lifecycle::release_cgroup(&paths.state, id);
        running.release();
    }
    code
}
// ANCHOR_END: monitor
