//! The containers `run` made, found again by `ps`, `logs`, `stop`, `rm`
//! and `inspect`.
//!
//! There is no daemon keeping a list: a container is its state directory
//! (the OCI runtime's, `crate::oci::state`), plus what the engine adds
//! there: the exit status a monitor recorded, the image root it runs on.
//! Its output, for a detached one, is a log file beside the states.

use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::time::{Duration, Instant};

use super::root;
use crate::oci::lifecycle;
use crate::oci::state::{self, State, Status};
use crate::paths::Paths;

/// The file in a container's state directory holding its exit status.
const EXIT_CODE: &str = "exit_code";

/// What `ps` shows of a container.
pub struct Summary {
    pub id: String,
    pub status: Status,
    /// For a stopped container: how it ended, if its monitor said.
    pub exit_code: Option<i32>,
    pub command: Vec<String>,
    /// RFC 3339.
    pub created: String,
}

// ANCHOR: list
/// Every container (with `all`) or the ones not stopped, by id.
pub fn list(paths: &Paths, all: bool) -> Vec<Summary> {
    let mut summaries = Vec::new();
    for state in state::list(&paths.state) {
        let status = state.status(&paths.state);
        if status == Status::Stopped && !all {
            continue;
        }
        let process = state.spec(&paths.state).ok().and_then(|spec| spec.process().clone());
        summaries.push(Summary {
            exit_code: exit_code(paths, &state.id),
            command: process.and_then(|p| p.args().clone()).unwrap_or_default(),
            created: state.created.clone(),
            status,
            id: state.id,
        });
    }
    summaries
}
// ANCHOR_END: list

/// Write the exit status of container `id` (its monitor does, once it
/// ended).
pub fn record_exit(paths: &Paths, id: &str, code: i32) {
    let _ = std::fs::write(state::dir(&paths.state, id).join(EXIT_CODE), code.to_string());
}

/// The exit status the monitor recorded.
pub fn exit_code(paths: &Paths, id: &str) -> Option<i32> {
    std::fs::read_to_string(state::dir(&paths.state, id).join(EXIT_CODE)).ok()?.trim().parse().ok()
}

// ANCHOR: commands
/// `logs [-f]`: the container's output, copied to `out`; with `follow`,
/// until it stops.
pub fn logs(paths: &Paths, id: &str, follow: bool, out: &mut dyn Write) -> Result<()> {
    let state = State::load(&paths.state, id)?;
    let path = paths.log(id);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("{id} has no log (only detached containers have one)"))?;
    loop {
        std::io::copy(&mut file, out)?;
        out.flush()?;
        if !follow || state.status(&paths.state) == Status::Stopped {
            // One last read: what was written just before it stopped.
            std::io::copy(&mut file, out)?;
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `stop [-t SECS]`: SIGTERM, then SIGKILL if it is still there after
/// `timeout`.
pub fn stop(paths: &Paths, id: &str, timeout: Duration) -> Result<()> {
    let state = State::load(&paths.state, id)?;
    if state.status(&paths.state) == Status::Stopped {
        return Ok(());
    }
    let pid = nix::unistd::Pid::from_raw(state.pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + timeout;
    while state.is_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if state.is_alive() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    Ok(())
}

/// `rm [-f]`: remove a stopped container (or, with `force`, kill it
/// first), its state, its root and its log.
pub fn remove(paths: &Paths, id: &str, force: bool) -> Result<()> {
    let state = State::load(&paths.state, id)?;
    let status = state.status(&paths.state);
    if status != Status::Stopped && !force {
        bail!("container {id} is {}: stop it first, or use rm -f", status.as_str());
    }
    let image_root = root::recorded(&state::dir(&paths.state, id));
    lifecycle::delete(&paths.state, id, true)?;
    // A killed monitor could not unpublish its ports.
    super::ports::unpublish(id);
    if let Some(dir) = image_root {
        super::overlay::remove(&dir)?;
    }
    let _ = std::fs::remove_file(paths.log(id));
    let _ = std::fs::remove_dir(paths.log(id).parent().expect("a log has a directory"));
    let _ = std::fs::remove_dir(&paths.state);
    Ok(())
}

/// `inspect`: what is known of a container, as JSON.
pub fn inspect(paths: &Paths, id: &str) -> Result<serde_json::Value> {
    let state = State::load(&paths.state, id)?;
    let status = state.status(&paths.state);
    Ok(json!({
        "Id": state.id,
        "State": state.oci(status),
        "ExitCode": exit_code(paths, id),
        "LogPath": paths.log(id),
        "Cgroup": state.cgroup,
        "Config": state.spec(&paths.state).ok(),
    }))
}
// ANCHOR_END: commands
