//! Where a container's state lives between commands.
//!
//! An OCI runtime is not a daemon: `create`, `start`, `kill` and `delete`
//! are separate processes, and everything one leaves for the next is a
//! directory per container under the runtime's root (/run/step7, a tmpfs
//! that a reboot empties, like the containers themselves): state.json and
//! the exec fifo that `start` opens. The container's status is not stored
//! but observed: a process that is gone (or a zombie, or a new process
//! with a reused PID: PID plus start time) is "stopped".
//! Read: runtime-spec/runtime.md "State".

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Only while `create` runs (what its hooks are told).
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What `create` leaves for the commands after it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    pub pid: i32,
    /// Start time of `pid` (clock ticks since boot): tells it from a
    /// later process that got the same PID.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339, UTC.
    pub created: String,
    /// The cgroup, relative to each hierarchy's root; none for a rootless
    /// container without a delegated cgroup v2 subtree.
    #[serde(default)]
    pub cgroup: Option<PathBuf>,
    /// The cgroup's parent is ours (step7/), to remove once empty.
    pub own_cgroup_parent: bool,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// Container ids become directory names: keep them to a safe alphabet.
pub fn check_id(id: &str) -> Result<()> {
    let safe = id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if id.is_empty() || id.len() > 128 || !safe || id.starts_with('.') {
        bail!("invalid container id {id:?}: use letters, digits, '_', '-' and '.', not first '.'");
    }
    Ok(())
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

impl State {
    pub fn load(root: &Path, id: &str) -> Result<State> {
        check_id(id)?;
        let path = dir(root, id).join("state.json");
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                bail!("no container named {id} (see `step7 list`)")
            }
            Err(err) => return Err(err).with_context(|| format!("cannot read {}", path.display())),
        };
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    /// Write state.json atomically: a reader never sees half a file.
    pub fn save(&self, root: &Path) -> Result<()> {
        let dir = dir(root, &self.id);
        let temporary = dir.join("state.json.new");
        std::fs::write(&temporary, serde_json::to_vec_pretty(self)?)
            .with_context(|| format!("cannot write {}", temporary.display()))?;
        std::fs::rename(&temporary, dir.join("state.json"))
            .with_context(|| format!("cannot save the state in {}", dir.display()))
    }

    // ANCHOR: status
    /// Observe the status: stopped if the process is gone, created while
    /// it waits on its exec fifo, paused if frozen, else running.
    pub fn status(&self, root: &Path) -> Status {
        self.observe(root, || self.cgroup().is_some_and(|cgroup| crate::oci::cgroup::is_frozen(&cgroup)))
    }

    /// The rule of [`State::status`]. `frozen` is asked last, only of a
    /// live and started container: finding its cgroup reads the mount table.
    fn observe(&self, root: &Path, frozen: impl FnOnce() -> bool) -> Status {
        if !self.is_alive() {
            Status::Stopped
        } else if dir(root, &self.id).join("exec.fifo").exists() {
            Status::Created
        } else if frozen() {
            Status::Paused
        } else {
            Status::Running
        }
    }
    // ANCHOR_END: status

    /// [`State::status`], for a caller that has opened the cgroup already
    /// ([`State::cgroup`]) to use it next: it is not looked for twice.
    pub fn status_in(&self, root: &Path, cgroup: Option<&crate::cgroup::Cgroup>) -> Status {
        self.observe(root, || cgroup.is_some_and(crate::oci::cgroup::is_frozen))
    }

    /// The container's first process still runs (not a zombie, not a
    /// reused PID).
    pub fn is_alive(&self) -> bool {
        let pid = self.pid as u32;
        if step6::owner::start_time(pid) != Some(self.pid_start) {
            return false;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next());
        !matches!(state, Some('Z') | Some('X') | None)
    }

    /// The container's cgroup, as `create` made it (left in place when
    /// dropped); none for a rootless container without a delegated one.
    pub fn cgroup(&self) -> Option<crate::cgroup::Cgroup> {
        Some(crate::oci::cgroup::open(self.cgroup.as_deref()?, self.own_cgroup_parent))
    }

    /// Keep config.json as it is at `create` in the state directory:
    /// later commands (hooks, exec) must not see later edits of the bundle.
    pub fn keep_spec(&self, root: &Path, spec: &oci_spec::runtime::Spec) -> Result<()> {
        let path = dir(root, &self.id).join("config.json");
        std::fs::write(&path, serde_json::to_vec(spec)?).with_context(|| {
            format!(
                "cannot keep a copy of config.json at {} (the hooks and exec of later commands read it): is the \
                 state root writable?",
                path.display()
            )
        })
    }

    /// config.json as it was at `create` (see [`State::keep_spec`]).
    pub fn spec(&self, root: &Path) -> Result<oci_spec::runtime::Spec> {
        let path = dir(root, &self.id).join("config.json");
        let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
    }

    /// The state as the OCI specifies it, what `step7 state` prints.
    pub fn oci(&self, status: Status) -> serde_json::Value {
        serde_json::json!({
            "ociVersion": crate::oci::OCI_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "pid": if status == Status::Stopped { 0 } else { self.pid },
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
        })
    }
}

/// Every container under `root`, sorted by id.
pub fn list(root: &Path) -> Vec<State> {
    let Ok(entries) = std::fs::read_dir(root) else { return vec![] };
    let mut states: Vec<State> = entries
        .flatten()
        // (Dot names: .bundles, .logs, a state being deleted.)
        .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|entry| State::load(root, entry.file_name().to_str()?).ok())
        .collect();
    states.sort_by(|a, b| a.id.cmp(&b.id));
    states
}

/// Now, as RFC 3339 in UTC ("2026-11-23T21:04:05.123456789Z").
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        for good in ["web", "a1", "my_ctr-2.0"] {
            assert!(check_id(good).is_ok());
        }
        for bad in ["", ".", "..", "../x", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn timestamps_look_like_rfc3339() {
        let now = now_rfc3339();
        assert_eq!(now.len(), 30, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z') && &now[10..11] == "T", "{now}");
    }
}
