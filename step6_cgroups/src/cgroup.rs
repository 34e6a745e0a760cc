//! One cgroup per container: its limits, its statistics, and its removal.
//!
//! A cgroup is a directory in a cgroup file system. Creating one is
//! mkdir(2); moving a process into it is writing the PID to its
//! `cgroup.procs`; a limit is a write to one of its files; removing it is
//! rmdir(2), which the kernel refuses while a process is still inside.
//! Children of a process start in its cgroups, so the container's command,
//! forked after the container process was moved in, starts inside.
//!
//! Each container gets `step6/<id>` in every hierarchy it needs (see
//! [`crate::hierarchy`]): on cgroup v1 one directory per controller
//! hierarchy, on cgroup v2 a single one. The file names differ by version:
//!
//! | limit          | cgroup v1                                  | cgroup v2                 |
//! |----------------|--------------------------------------------|---------------------------|
//! | --memory       | memory.limit_in_bytes                      | memory.max                |
//! | --memory-swap  | memory.memsw.limit_in_bytes (memory+swap)  | memory.swap.max (swap)    |
//! | --cpus         | cpu.cfs_quota_us / cpu.cfs_period_us       | cpu.max "QUOTA PERIOD"    |
//! | --cpu-shares   | cpu.shares                                 | cpu.weight                |
//! | --pids-limit   | pids.max                                   | pids.max                  |
//! | --blkio-weight | blkio.weight (or blkio.bfq.weight)         | io.weight                 |
//!
//! The host's hierarchies themselves are never remounted or reconfigured;
//! on v2 a controller is only enabled for the `step6` subtree (and at the
//! root if the host has not enabled it there already).
//! Read: cgroups(7), the kernel's Documentation/admin-guide/cgroup-v2.rst
//! and cgroup-v1/{memory,cpuacct,pids}.rst.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::hierarchy::{Hierarchies, Setup};
use crate::limits::{blkio_to_io_weight, shares_to_weight, Limits, CPU_PERIOD_US};

/// The parent of every container's cgroup, in each hierarchy.
pub const PARENT: &str = "step6";
/// Owner files, one per container cgroup, to recognise a killed run's.
pub const STATE_DIR: &str = "/run/step6";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// A container's cgroup, in every hierarchy it needs. Dropping it kills
/// what is left inside and removes the directories.
pub struct Cgroup {
    version: Version,
    /// The controllers it was asked to have (v1: a directory in each).
    controllers: Vec<&'static str>,
    /// (controller, directory); on v2 every controller has the same one.
    dirs: Vec<(&'static str, PathBuf)>,
    memory_limit: Option<u64>,
    /// The file that tells a killed runtime's cgroup from a live one.
    owner_file: Option<PathBuf>,
    /// Remove the parent too, when it is ours (step6/) and empty.
    remove_parent: bool,
    /// Leave the cgroup in place when dropped (it outlives this process).
    keep: bool,
}

// ANCHOR: create
impl Cgroup {
    /// Create `step6/<id>` and write the limits, before the container
    /// process exists.
    pub fn create(hierarchies: &Hierarchies, id: &str, limits: &Limits) -> Result<Cgroup> {
        Cgroup::create_in(hierarchies, Path::new(STATE_DIR), id, limits)
    }

    /// [`Cgroup::create`], with the owner files in `state_dir` (tests use a
    /// fake cgroup tree and state directory).
    pub fn create_in(hierarchies: &Hierarchies, state_dir: &Path, id: &str, limits: &Limits) -> Result<Cgroup> {
        recover_stale(hierarchies, state_dir);
        std::fs::create_dir_all(state_dir).with_context(|| format!("cannot create {}", state_dir.display()))?;
        // The owner file first: a cgroup without one is a killed run's.
        // (Written twice if need be: the last runtime to leave removes the
        // empty state directory, maybe just between our mkdir and write.)
        let owner_file = state_dir.join(id);
        if std::fs::write(&owner_file, step5::owner::owner()).is_err() {
            std::fs::create_dir_all(state_dir)?;
            std::fs::write(&owner_file, step5::owner::owner())
                .with_context(|| format!("cannot write {}", owner_file.display()))?;
        }
        let path = Path::new(PARENT).join(id);
        match Cgroup::create_at(hierarchies, &path, limits, &crate::hierarchy::CONTROLLERS, true) {
            Ok(mut cgroup) => {
                cgroup.owner_file = Some(owner_file);
                Ok(cgroup)
            }
            Err(err) => {
                let _ = std::fs::remove_file(&owner_file);
                Err(err)
            }
        }
    }
    // ANCHOR_END: create

    /// The mechanism under [`Cgroup::create`]: the cgroup `path` (relative
    /// to each hierarchy's root) with `limits`, in the hierarchies of
    /// `controllers`, and no owner bookkeeping. `own_parent`: the parent
    /// directory is ours, remove it once empty.
    pub fn create_at(
        hierarchies: &Hierarchies,
        path: &Path,
        limits: &Limits,
        controllers: &[&'static str],
        own_parent: bool,
    ) -> Result<Cgroup> {
        let path = path.strip_prefix("/").unwrap_or(path);
        check_below_root(path)?;
        let version = if hierarchies.setup == Setup::Unified { Version::V2 } else { Version::V1 };
        // From here on, Drop undoes whatever has been created.
        let mut cgroup = Cgroup {
            version,
            controllers: controllers.to_vec(),
            dirs: Vec::new(),
            memory_limit: limits.memory,
            owner_file: None,
            remove_parent: own_parent,
            keep: false,
        };
        match version {
            Version::V1 => cgroup.make_v1_dirs(hierarchies, path, limits)?,
            Version::V2 => cgroup.make_v2_dir(hierarchies, path, limits)?,
        }
        match version {
            Version::V1 => cgroup.apply_v1(limits)?,
            Version::V2 => cgroup.apply_v2(limits)?,
        }
        Ok(cgroup)
    }

    /// An existing cgroup `path`, made earlier (by another process) with
    /// [`Cgroup::create_at`] and kept with [`Cgroup::keep`]. It stays when
    /// dropped; [`Cgroup::remove`] removes it.
    pub fn open(hierarchies: &Hierarchies, path: &Path, own_parent: bool) -> Cgroup {
        let path = path.strip_prefix("/").unwrap_or(path);
        let mut cgroup = Cgroup {
            version: if hierarchies.setup == Setup::Unified { Version::V2 } else { Version::V1 },
            controllers: crate::hierarchy::KNOWN.to_vec(),
            dirs: Vec::new(),
            memory_limit: None,
            owner_file: None,
            remove_parent: own_parent,
            keep: true,
        };
        for controller in crate::hierarchy::KNOWN {
            let mount = match cgroup.version {
                Version::V1 => hierarchies.v1_mount(controller),
                Version::V2 => hierarchies.v2.as_deref(),
            };
            if let Some(dir) = mount.map(|mount| mount.join(path)).filter(|dir| dir.is_dir()) {
                cgroup.dirs.push((controller, dir));
            }
        }
        cgroup
    }

    /// Leave the cgroup in place when this value is dropped: the container
    /// outlives this process, and a later one removes it.
    pub fn keep(mut self) {
        self.keep = true;
    }

    /// Kill what is left in the cgroup and remove it, now.
    pub fn remove(mut self) {
        self.keep = false;
    }

    /// The directory of this cgroup in the hierarchy of `controller`, if
    /// it has one (on v2: the one directory).
    pub fn controller_dir(&self, controller: &str) -> Option<PathBuf> {
        self.dir(controller).map(Path::to_path_buf)
    }

    /// The PIDs of every process in the cgroup.
    pub fn pids(&self) -> Vec<Pid> {
        let Some(dir) = self.unique_dirs().first().map(|dir| dir.to_path_buf()) else { return vec![] };
        let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        procs.split_whitespace().filter_map(|p| p.parse().ok()).map(Pid::from_raw).collect()
    }

    /// v1: `<hierarchy>/<path>` in each controller's hierarchy.
    fn make_v1_dirs(&mut self, hierarchies: &Hierarchies, path: &Path, limits: &Limits) -> Result<()> {
        for controller in self.controllers.clone() {
            let Some(mount) = hierarchies.v1_mount(controller) else {
                if let Some(flag) = needed_for(controller, limits) {
                    bail!("{flag} needs the {controller} cgroup controller, which this host does not mount");
                }
                continue;
            };
            if controller == "blkio" && limits.blkio_weight.is_none() {
                continue;
            }
            let dir = mount.join(path);
            // Controllers mounted together share one directory.
            if !self.dirs.iter().any(|(_, known)| *known == dir) {
                make_dir(&dir)?;
            }
            self.dirs.push((controller, dir));
        }
        Ok(())
    }

    // ANCHOR: make_v2_dir
    /// v2: `<root>/<path>`, with the controllers enabled on the way down.
    /// A controller works in a cgroup only if every cgroup above it
    /// enables it for its children (cgroup.subtree_control), and a cgroup
    /// can enable only what it was given itself (cgroup.controllers).
    fn make_v2_dir(&mut self, hierarchies: &Hierarchies, path: &Path, limits: &Limits) -> Result<()> {
        let root = hierarchies.v2.as_deref().context("no cgroup2 mount")?;
        let dir = root.join(path);
        let mut above: Vec<&Path> = dir.ancestors().skip(1).take_while(|a| a.starts_with(root)).collect();
        above.reverse();
        let mut wanted = Vec::new();
        for (controller, v2_name) in [("memory", "memory"), ("cpu", "cpu"), ("pids", "pids"), ("blkio", "io")] {
            if controller == "blkio" && limits.blkio_weight.is_none() {
                continue;
            }
            match above.iter().find(|cgroup| !can_pass_on(cgroup, v2_name)) {
                None => wanted.push(v2_name),
                // Not there: fine, unless a limit needs it.
                Some(cgroup) => {
                    if let Some(flag) = needed_for(controller, limits) {
                        bail!("{flag} needs the {v2_name} controller, {}", why_not(cgroup, v2_name, root));
                    }
                }
            }
        }
        make_dir(&dir)?;
        // Recorded at once: if enabling fails below, Drop removes it.
        for controller in self.controllers.clone() {
            self.dirs.push((controller, dir.clone()));
        }
        for cgroup in above {
            enable_controllers(cgroup, &wanted)?;
        }
        Ok(())
    }
    // ANCHOR_END: make_v2_dir

    // ANCHOR: apply_v1
    fn apply_v1(&self, limits: &Limits) -> Result<()> {
        if let Some(bytes) = limits.memory {
            self.write("memory", "memory.limit_in_bytes", &bytes.to_string())?;
        }
        if let Some(total) = limits.memory_swap {
            if !self.path("memory", "memory.memsw.limit_in_bytes").exists() {
                bail!(
                    "--memory-swap: this kernel does not account swap (no memory.memsw files; boot with swapaccount=1)"
                );
            }
            let value = total.map_or("-1".to_string(), |bytes| bytes.to_string());
            self.write("memory", "memory.memsw.limit_in_bytes", &value)?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            self.write("cpu", "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            self.write("cpu", "cpu.cfs_quota_us", &quota.to_string())?;
        }
        if let Some(shares) = limits.cpu_shares {
            self.write("cpu", "cpu.shares", &shares.to_string())?;
        }
        if let Some(pids) = limits.pids {
            self.write("pids", "pids.max", &pids.to_string())?;
        }
        if let Some(weight) = limits.blkio_weight {
            let file = ["blkio.weight", "blkio.bfq.weight"]
                .into_iter()
                .find(|file| self.path("blkio", file).exists())
                .context(
                    "--blkio-weight: this host's blkio controller has no weights (they need the BFQ I/O scheduler)",
                )?;
            self.write("blkio", file, &weight.to_string())?;
        }
        Ok(())
    }
    // ANCHOR_END: apply_v1

    // ANCHOR: apply_v2
    fn apply_v2(&self, limits: &Limits) -> Result<()> {
        if let Some(bytes) = limits.memory {
            self.write("memory", "memory.max", &bytes.to_string())?;
        }
        if let Some(total) = limits.memory_swap {
            // v2 limits swap alone, where v1 (and the flag) count memory+swap.
            let swap = match (total, limits.memory) {
                (Some(total), Some(memory)) => (total - memory).to_string(),
                _ => "max".to_string(),
            };
            self.write("memory", "memory.swap.max", &swap)?;
        }
        if let Some(quota) = limits.cpu_quota_us {
            self.write("cpu", "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
        }
        if let Some(shares) = limits.cpu_shares {
            self.write("cpu", "cpu.weight", &shares_to_weight(shares).to_string())?;
        }
        if let Some(pids) = limits.pids {
            self.write("pids", "pids.max", &pids.to_string())?;
        }
        if let Some(weight) = limits.blkio_weight {
            self.write("blkio", "io.weight", &format!("default {}", blkio_to_io_weight(weight)))?;
        }
        Ok(())
    }
    // ANCHOR_END: apply_v2

    // ANCHOR: attach
    /// Move process `pid` into the cgroup, in every hierarchy. Called while
    /// the container process waits at its gate, before anything of the
    /// user's runs: everything it forks from then on starts inside.
    pub fn attach(&self, pid: Pid) -> Result<()> {
        for dir in self.unique_dirs() {
            let procs = dir.join("cgroup.procs");
            crate::narrate!("echo {pid} > {}", procs.display());
            std::fs::write(&procs, pid.to_string())
                .with_context(|| format!("cannot move pid {pid} into {}", dir.display()))?;
        }
        Ok(())
    }
    // ANCHOR_END: attach

    /// The directory of this cgroup in `controller`'s hierarchy.
    pub fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.iter().find(|(c, _)| *c == controller).map(|(_, dir)| dir.as_path())
    }

    fn path(&self, controller: &str, file: &str) -> PathBuf {
        self.dir(controller).map(|dir| dir.join(file)).unwrap_or_default()
    }

    fn read(&self, controller: &str, file: &str) -> Option<String> {
        std::fs::read_to_string(self.path(controller, file)).ok()
    }

    /// Whether this is a cgroup v2 cgroup.
    pub fn is_v2(&self) -> bool {
        self.version == Version::V2
    }

    /// Write `value` to `file` in `controller`'s directory (what a limit
    /// of step 6 does; step 7 sets more of them from config.json).
    pub fn set(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        self.write(controller, file, value)
    }

    fn write(&self, controller: &str, file: &str, value: &str) -> Result<()> {
        let path = self.path(controller, file);
        crate::narrate!("echo {value} > {}", path.display());
        std::fs::write(&path, value).with_context(|| format!("cannot set {} to {value}", path.display()))
    }

    fn unique_dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = Vec::new();
        for (_, dir) in &self.dirs {
            if !dirs.contains(&dir.as_path()) {
                dirs.push(dir);
            }
        }
        dirs
    }
}

// ANCHOR: remove
impl Drop for Cgroup {
    /// Every exit path ends here: kill what is left, then rmdir.
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        for dir in self.unique_dirs() {
            remove(dir);
            // Our parent too, once the last container is gone (rmdir
            // refuses while another container's cgroup is in it).
            if let Some(parent) = dir.parent().filter(|_| self.remove_parent) {
                let _ = std::fs::remove_dir(parent);
            }
        }
        if let Some(owner_file) = &self.owner_file {
            let _ = std::fs::remove_file(owner_file);
            if let Some(state_dir) = owner_file.parent() {
                let _ = std::fs::remove_dir(state_dir);
            }
        }
    }
}

/// Empty the cgroup `dir` and remove it. rmdir fails with EBUSY while a
/// process is inside, so kill leftovers (a killed runtime's container, a
/// process that escaped its init) and try again until they are gone.
fn remove(dir: &Path) {
    for _ in 0..300 {
        crate::narrate!("rmdir {}", dir.display());
        match std::fs::remove_dir(dir) {
            Ok(()) => return,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return,
            Err(err) if err.raw_os_error() == Some(libc::EBUSY) => kill_all(dir),
            Err(err) => {
                crate::warn!("cannot remove cgroup {}: {err}", dir.display());
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    crate::warn!("cgroup {} still has processes", dir.display());
}
// ANCHOR_END: remove

/// SIGKILL every process in the cgroup: `cgroup.kill` on v2 (kernel 5.14+),
/// else one by one from `cgroup.procs`.
fn kill_all(dir: &Path) {
    let kill_file = dir.join("cgroup.kill");
    if kill_file.exists() && std::fs::write(&kill_file, "1").is_ok() {
        return;
    }
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.split_whitespace().filter_map(|p| p.parse().ok()) {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

// ANCHOR: recover_stale
/// Remove the cgroups of runs whose runtime is gone (SIGKILLed): their
/// owner file names a dead process, or is missing.
fn recover_stale(hierarchies: &Hierarchies, state_dir: &Path) {
    let mounts = hierarchies.v1.iter().map(|(_, mount)| mount.as_path()).chain(hierarchies.v2.as_deref());
    for mount in mounts {
        let Ok(entries) = std::fs::read_dir(mount.join(PARENT)) else { continue };
        for entry in entries.flatten().filter(|entry| entry.path().is_dir()) {
            if !step5::owner::is_alive(&state_dir.join(entry.file_name())) {
                crate::narrate!("removing the cgroup of a runtime that is gone: {}", entry.path().display());
                remove(&entry.path());
                let _ = std::fs::remove_file(state_dir.join(entry.file_name()));
            }
        }
    }
}
// ANCHOR_END: recover_stale

/// mkdir, narrated; the parent is made if missing.
/// A container's cgroup is a cgroup of its own, below the hierarchy's
/// root: `path` (relative to the root) names at least one directory and
/// never climbs with `..`. Given "/" (an OCI cgroupsPath can say anything),
/// the root itself would become the container's cgroup, its limits the
/// whole machine's, and removing it would kill every process of the host.
fn check_below_root(path: &Path) -> Result<()> {
    use std::path::Component;
    let plain = path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
    if !plain || !path.components().any(|c| matches!(c, Component::Normal(_))) {
        bail!("the cgroup path /{} must name a cgroup below the hierarchy's root, without '..'", path.display());
    }
    Ok(())
}

fn make_dir(dir: &Path) -> Result<()> {
    crate::narrate!("mkdir {}", dir.display());
    match std::fs::create_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(err) if err.raw_os_error() == Some(Errno::EEXIST as i32) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("cannot create the cgroup {}", dir.display())),
    }
}

/// `echo +memory +cpu > DIR/cgroup.subtree_control`, for those not enabled.
fn enable_controllers(dir: &Path, controllers: &[&str]) -> Result<()> {
    let path = dir.join("cgroup.subtree_control");
    let enabled = std::fs::read_to_string(&path).unwrap_or_default();
    let missing: Vec<String> =
        controllers.iter().filter(|c| !enabled.split_whitespace().any(|e| e == **c)).map(|c| format!("+{c}")).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let value = missing.join(" ");
    crate::narrate!("echo {value} > {}", path.display());
    std::fs::write(&path, &value).with_context(|| format!("cannot enable {value} in {}", path.display()))
}

/// Whether the cgroup `dir` enables `controller` for its children, or can:
/// it was given it and we may write its cgroup.subtree_control (root may
/// anywhere; a user only in a subtree delegated to it, step 7). A cgroup
/// still to be made will be ours, and given what its parent enables.
fn can_pass_on(dir: &Path, controller: &str) -> bool {
    if !dir.exists() {
        return true;
    }
    let listed = |file: &str| {
        std::fs::read_to_string(dir.join(file)).unwrap_or_default().split_whitespace().any(|c| c == controller)
    };
    let writable = nix::unistd::access(&dir.join("cgroup.subtree_control"), nix::unistd::AccessFlags::W_OK).is_ok();
    listed("cgroup.subtree_control") || (listed("cgroup.controllers") && writable)
}

/// Why the cgroup `dir` cannot pass `controller` on: it does not have it
/// (the kernel has no such controller, or the parent did not enable it),
/// or we may not write its cgroup.subtree_control.
fn why_not(dir: &Path, controller: &str, root: &Path) -> String {
    let given = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    match (given.split_whitespace().any(|c| c == controller), dir == root) {
        (false, true) => "which this host's cgroup v2 does not offer".to_string(),
        (false, false) => format!("which {} was not given (see its cgroup.controllers)", dir.display()),
        (true, _) => {
            format!("which cannot be enabled: {} is not writable", dir.join("cgroup.subtree_control").display())
        }
    }
}

/// The flag that needs `controller` (its cgroup v1 name), if one was given.
pub fn needed_for(controller: &str, limits: &Limits) -> Option<&'static str> {
    match controller {
        "memory" if limits.memory.is_some() => Some("--memory"),
        "cpu" if limits.cpu_quota_us.is_some() => Some("--cpus"),
        "cpu" if limits.cpu_shares.is_some() => Some("--cpu-shares"),
        "pids" if limits.pids.is_some() => Some("--pids-limit"),
        "blkio" if limits.blkio_weight.is_some() => Some("--blkio-weight"),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
mod usage;
