//! The container's cgroup: made by `create` with step 6's mechanism, found
//! again by the commands after it.
//!
//! config.json's `linux.cgroupsPath` names the cgroup (relative to each
//! hierarchy's root; runc's default is `<id>` below a parent of its own,
//! here `step7/<id>`), and `linux.resources` its limits: step 6's five,
//! the ones step 6 has no flag for ([`resources`]) and the device rules
//! ([`devices`]). Then the cgroup outlives `create`: `kill --all`, `ps`,
//! `pause` and `delete` open it again by its path, kept in the state.
//! Step 7 adds the freezer to step 6's controllers, for `pause`.
//! Read: runtime-spec config-linux.md "Control groups", cgroups(7).

pub mod devices;
pub mod resources;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Linux;
use std::path::{Path, PathBuf};

use crate::cgroup::Cgroup;
use crate::hierarchy::{Hierarchies, Setup};
use crate::limits::Limits;

/// Step 6's controllers, plus the freezer (`pause`) and the devices
/// controller (which device nodes the container may open).
pub const CONTROLLERS: [&str; 7] = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "devices"];

/// Where the container's cgroup goes, as `create` works it out.
pub struct Placement {
    /// Relative to each hierarchy's root.
    pub path: PathBuf,
    /// The parent is ours (step7/), to remove once empty.
    pub own_parent: bool,
}

// ANCHOR: placement
/// The cgroup of container `id`. Rootless, below `delegated` (the cgroup
/// delegated to the user, see [`crate::oci::userns::rootless`]): a relative
/// cgroupsPath is the runtime's to place (runtime-spec), an absolute one
/// must lie there. `systemd`: cgroupsPath is systemd's "slice:prefix:name".
pub fn placement(linux: &Linux, id: &str, systemd: bool, delegated: Option<&Path>) -> Result<Placement> {
    let (path, own_parent) = match linux.cgroups_path() {
        Some(path) if systemd => (systemd_path(path)?, false),
        Some(path) => (path.clone(), false),
        None => (Path::new("step7").join(id), true),
    };
    let Some(top) = delegated else { return Ok(Placement { path, own_parent }) };
    let Ok(absolute) = path.strip_prefix("/") else {
        return Ok(Placement { path: top.join(path), own_parent });
    };
    if !absolute.starts_with(top) || absolute == top {
        bail!(
            "rootless: config.json: linux.cgroupsPath {} is outside the cgroup delegated to you (/{}): make it \
             relative",
            path.display(),
            top.display()
        );
    }
    Ok(Placement { path: absolute.to_path_buf(), own_parent })
}
// ANCHOR_END: placement

/// systemd's "slice:prefix:name" as the cgroupfs path systemd would use,
/// "slice/prefix-name.scope". This runtime writes cgroupfs itself instead
/// of asking systemd over D-Bus (it may run where there is no systemd);
/// --systemd-cgroup only changes how cgroupsPath is read.
fn systemd_path(path: &Path) -> Result<PathBuf> {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        bail!("config.json: linux.cgroupsPath: {text:?} is not systemd's slice:prefix:name (--systemd-cgroup)");
    };
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    Ok(Path::new(slice).join(format!("{prefix}-{name}.scope")))
}

// ANCHOR: make
/// The container's cgroup: its limits, the resources step 6 has no flag
/// for, the device rules. Rootless (`rootless`), without device rules:
/// loading their BPF program needs privilege, and in a user namespace
/// mknod(2) of a device is refused anyway.
pub fn make(
    hierarchies: &Hierarchies,
    placement: &Placement,
    limits: &Limits,
    linux: &Linux,
    rootless: bool,
) -> Result<Cgroup> {
    // On an error from here on, dropping `cgroup` removes it again.
    let cgroup = Cgroup::create_at(hierarchies, &placement.path, limits, &CONTROLLERS, placement.own_parent)?;
    resources::set_more(&cgroup, linux)?;
    if rootless {
        return Ok(cgroup);
    }
    let device_rules = linux.resources().as_ref().and_then(|r| r.devices().clone()).unwrap_or_default();
    match (hierarchies.setup, cgroup.controller_dir("devices")) {
        (Setup::Unified, Some(dir)) => devices::apply_v2(&dir, &device_rules)?,
        (_, Some(dir)) => devices::apply(&dir, &device_rules)?,
        (_, None) => crate::warn!("no devices cgroup on this host: device access is not restricted"),
    }
    Ok(cgroup)
}
// ANCHOR_END: make

/// The cgroup a container's state names, as `create` made it (left in
/// place when dropped: [`remove`] removes it).
pub fn open(path: &Path, own_parent: bool) -> Cgroup {
    let hierarchies = Hierarchies::detect().unwrap_or(Hierarchies { setup: Setup::Legacy, v1: vec![], v2: None });
    Cgroup::open(&hierarchies, path, own_parent)
}

/// Kill what is left in the cgroup and remove it. A frozen process
/// cannot die (on cgroup v1 a SIGKILL waits for the thaw): thaw first.
pub fn remove(cgroup: Cgroup) {
    if is_frozen(&cgroup) {
        let _ = freeze(&cgroup, false);
    }
    cgroup.remove();
}

// ANCHOR: freeze
/// Freeze (or thaw) every process in the cgroup: they stop being
/// scheduled, whatever signals they block, and go on where they were
/// when thawed. v1: the freezer controller's freezer.state; v2: the
/// cgroup.freeze file every cgroup has.
pub fn freeze(cgroup: &Cgroup, frozen: bool) -> Result<()> {
    let dir = cgroup.controller_dir("freezer").context("this container's cgroup has no freezer")?;
    let (file, value) = match (cgroup.is_v2(), frozen) {
        (false, true) => ("freezer.state", "FROZEN"),
        (false, false) => ("freezer.state", "THAWED"),
        (true, true) => ("cgroup.freeze", "1"),
        (true, false) => ("cgroup.freeze", "0"),
    };
    cgroup.set("freezer", file, value).with_context(|| format!("cannot freeze or thaw {}", dir.display()))
}

/// Whether the cgroup is frozen (or still freezing). v2 reports it in
/// cgroup.events, "frozen 1", once every process has stopped.
pub fn is_frozen(cgroup: &Cgroup) -> bool {
    let Some(dir) = cgroup.controller_dir("freezer") else { return false };
    if cgroup.is_v2() {
        let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
        events.lines().any(|line| line.trim() == "frozen 1")
    } else {
        std::fs::read_to_string(dir.join("freezer.state")).is_ok_and(|state| state.trim() != "THAWED")
    }
}
// ANCHOR_END: freeze
