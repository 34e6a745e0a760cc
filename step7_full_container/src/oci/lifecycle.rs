//! The commands after `create`: start, state, kill, delete, and run
//! (create + start + wait + delete).
//!
//! Each is a short-lived process that finds the container through its
//! state directory. `start` writes one byte to the exec fifo the waiting
//! container process holds; `kill` signals its first process (or, with
//! `--all`, every process of its cgroup); `delete` removes what `create`
//! left: the cgroup and the state directory.

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill as send, Signal};
use nix::unistd::Pid;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use super::hooks;
use super::state::{self, State, Status};

// ANCHOR: start
/// Let a created container run its program.
pub fn start(root: &Path, id: &str) -> Result<()> {
    let state = State::load(root, id)?;
    match state.status(root) {
        Status::Created => {}
        status => bail!("container {id} is {}, not created: only a created container can be started", status.as_str()),
    }
    let fifo = state::dir(root, id).join("exec.fifo");
    // O_NONBLOCK: if no reader holds the fifo (the container process
    // died), fail with ENXIO instead of waiting forever.
    crate::narrate!("open({}, O_WRONLY) and write one byte", fifo.display());
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .with_context(|| format!("container {id} is not waiting to start (its process is gone)"))?;
    file.write_all(b"0").context("cannot write to the exec fifo")?;
    std::fs::remove_file(&fifo).context("cannot remove the exec fifo")?;
    wait_for_execve(&state);
    let spec = load_spec(root, &state);
    let hooks = spec.and_then(|spec| spec.hooks().clone()).unwrap_or_default();
    if let Err(err) = hooks::run("poststart", hooks.poststart().as_ref(), &state.oci(Status::Running)) {
        // The program runs already: a failing poststart hook is reported,
        // not fatal (runtime-spec).
        crate::warn!("{err:#}");
    }
    Ok(())
}
// ANCHOR_END: start

/// The OCI state of container `id`.
pub fn state(root: &Path, id: &str) -> Result<serde_json::Value> {
    let state = State::load(root, id)?;
    Ok(state.oci(state.status(root)))
}

// ANCHOR: kill
/// Send `signal` to the container's first process, or with `all` to every
/// process in its cgroup.
pub fn kill(root: &Path, id: &str, signal: Signal, all: bool) -> Result<()> {
    let state = State::load(root, id)?;
    let cgroup = state.cgroup();
    if state.status_in(root, cgroup.as_ref()) == Status::Stopped {
        bail!("container {id} is not running");
    }
    let pids = match cgroup {
        Some(cgroup) if all => cgroup.pids(),
        _ => vec![Pid::from_raw(state.pid)],
    };
    for pid in pids {
        crate::narrate!("kill({pid}, {signal})");
        match send(pid, signal) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(err) => return Err(err).with_context(|| format!("kill({pid}, {signal}) failed")),
        }
    }
    Ok(())
}
// ANCHOR_END: kill

// ANCHOR: delete
/// Remove a stopped (or, with `force`, any) container: kill what is left,
/// remove its cgroup and state, run the poststop hooks.
pub fn delete(root: &Path, id: &str, force: bool) -> Result<()> {
    let state = State::load(root, id)?;
    let cgroup = state.cgroup();
    match state.status_in(root, cgroup.as_ref()) {
        Status::Stopped | Status::Created => {}
        status if force => crate::narrate!("container {id} is {}: killing it", status.as_str()),
        status => bail!("container {id} is {}: stop it first, or use delete --force", status.as_str()),
    }
    if state.is_alive() {
        let _ = send(Pid::from_raw(state.pid), Signal::SIGKILL);
        wait_gone(&state);
    }
    if let Some(cgroup) = cgroup {
        super::cgroup::remove(cgroup);
    }
    let spec = load_spec(root, &state);
    // Renamed away first, in one step: a monitor writing the exit status
    // at this moment then fails to find the directory, instead of adding
    // a file to it while it is being emptied.
    let doomed = root.join(format!(".deleting-{id}-{}", std::process::id()));
    std::fs::rename(state::dir(root, id), &doomed).with_context(|| format!("cannot remove the state of {id}"))?;
    std::fs::remove_dir_all(&doomed).with_context(|| format!("cannot remove the state of {id}"))?;
    // The root too, once the last container is gone (refused otherwise).
    let _ = std::fs::remove_dir(root);
    let hooks = spec.and_then(|spec| spec.hooks().clone()).unwrap_or_default();
    if let Err(err) = hooks::run("poststop", hooks.poststop().as_ref(), &state.oci(Status::Stopped)) {
        crate::warn!("{err:#}");
    }
    Ok(())
}
// ANCHOR_END: delete

/// Poststart hooks run "after the user-specified process is executed":
/// wait until the container process is no longer running this binary
/// (its startContainer hooks are done and execve happened), or is gone.
fn wait_for_execve(state: &State) {
    let ours = std::fs::read_link("/proc/self/exe").ok();
    let started = Instant::now();
    while state.is_alive() && started.elapsed() < Duration::from_secs(10) {
        if std::fs::read_link(format!("/proc/{}/exe", state.pid)).ok() != ours {
            return;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Remove the cgroup of a container that has ended, keeping its state (a
/// stopped docker-like container stays listed until `rm`).
pub fn release_cgroup(root: &Path, id: &str) {
    if let Some(cgroup) = State::load(root, id).ok().and_then(|state| state.cgroup()) {
        super::cgroup::remove(cgroup);
    }
}

/// Wait (a little) until the container's first process is gone; it may
/// not be our child, so poll rather than waitpid.
fn wait_gone(state: &State) {
    let started = Instant::now();
    while state.is_alive() && started.elapsed() < Duration::from_secs(5) {
        // Reap it if it is our child (as after `run`); ignore otherwise.
        let _ = nix::sys::wait::waitpid(Pid::from_raw(state.pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The container's config.json, for its hooks (None if it is gone).
fn load_spec(root: &Path, state: &State) -> Option<oci_spec::runtime::Spec> {
    state.spec(root).ok()
}

/// PIDs of the container's processes (its cgroup's).
pub fn ps(root: &Path, id: &str) -> Result<Vec<Pid>> {
    let state = State::load(root, id)?;
    Ok(match state.cgroup() {
        Some(cgroup) => cgroup.pids(),
        None if state.is_alive() => vec![Pid::from_raw(state.pid)],
        None => vec![],
    })
}

// ANCHOR: pause
/// Freeze every process of a running container (`pause`), or thaw a
/// paused one (`resume`).
pub fn pause(root: &Path, id: &str, paused: bool) -> Result<()> {
    let state = State::load(root, id)?;
    let (from, to) = if paused { (Status::Running, "pause") } else { (Status::Paused, "resume") };
    let cgroup = state.cgroup();
    let status = state.status_in(root, cgroup.as_ref());
    if status != from {
        bail!("container {id} is {}: only a {} container can be {to}d", status.as_str(), from.as_str());
    }
    let cgroup =
        cgroup.context("a rootless container without a delegated cgroup has no freezer: it cannot be paused")?;
    super::cgroup::freeze(&cgroup, paused)
}
// ANCHOR_END: pause

/// A signal by name ("TERM", "SIGTERM", "term") or number ("15").
pub fn parse_signal(text: &str) -> Result<Signal> {
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).with_context(|| format!("unknown signal number {number}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") { upper } else { format!("SIG{upper}") };
    name.parse::<Signal>()
        .map_err(|_| anyhow::anyhow!("unknown signal {text:?}: use a name such as TERM or KILL, or a number"))
}
