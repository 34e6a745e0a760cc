//! Rootless containers: started by a user who is not root.
//!
//! Such a user may still create a user namespace, and inside it be root
//! of namespaces it owns: mount, PID, UTS, IPC, network. So a rootless
//! container is one whose config.json has a user namespace mapping the
//! user to root inside. What stays out of reach:
//! - mappings of other ids: only one's own id can be mapped without
//!   privilege, after denying setgroups(2); the setuid helpers newuidmap
//!   and newgidmap (package uidmap) map the ranges /etc/subuid and
//!   /etc/subgid grant the user;
//! - cgroups outside a subtree delegated to the user. cgroup v2 lets root
//!   hand a cgroup to a user by chown(2) of its directory and its
//!   cgroup.procs, cgroup.subtree_control and cgroup.threads (systemd does
//!   this for `Delegate=yes` units, such as each user's user@UID.service);
//!   the user may then make child cgroups there, enable the controllers
//!   it was given for them, and move its own processes between them.
//!   Where there is such a subtree, the container's cgroup is made in it,
//!   with its limits; where there is none (cgroup v1 cannot be delegated
//!   safely), the container has no cgroup, and limits are refused with
//!   what is missing;
//! - a bridge and NAT: the container gets loopback only (a rootless network
//!   helper such as slirp4netns or pasta would be needed).
//!
//! Hosts may forbid unprivileged user namespaces altogether; the error
//! then names the setting. Read: user_namespaces(7), newuidmap(1),
//! subuid(5), and the kernel's Documentation/admin-guide/cgroup-v2.rst,
//! "Delegation" and "No Internal Process Constraint".

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::AccessFlags;
use oci_spec::runtime::LinuxIdMapping;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::hierarchy::{Hierarchies, Setup};
use crate::limits::Limits;
use crate::oci::namespaces::Namespaces;

// ANCHOR: check
/// What a rootless container cannot have, said before anything is made.
/// Returns where its cgroup goes: below a delegated cgroup (relative to
/// the cgroup v2 root), or nowhere.
pub fn check(namespaces: &Namespaces, limits: &Limits, hierarchies: &Hierarchies) -> Result<Option<PathBuf>> {
    if !namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
        bail!("not root: a container needs a user namespace of its own (`step7 spec --rootless`), or sudo");
    }
    if let Some(setting) = forbidden() {
        bail!("rootless: this host forbids unprivileged user namespaces ({setting})");
    }
    let limited = *limits != Limits::default();
    match delegated(hierarchies) {
        Ok(top) if limited => {
            controllers_given(hierarchies, &top, limits)?;
            Ok(Some(top))
        }
        Ok(top) => Ok(Some(top)),
        Err(why) if limited => bail!("rootless: cgroup limits need a cgroup v2 subtree delegated to you, but {why}"),
        // No limits asked for: a container without a cgroup of its own.
        Err(_) => Ok(None),
    }
}
// ANCHOR_END: check

// ANCHOR: delegated
/// The cgroup delegated to this user that the container's cgroup goes
/// under, relative to the cgroup v2 root; or why there is none, and what
/// to do. It is the nearest above our own cgroup (in /proc/self/cgroup,
/// "0::/PATH") that we may write (its directory, cgroup.procs and
/// cgroup.subtree_control) and that holds no process: only such a cgroup
/// may enable controllers for its children (cgroup v2's no-internal-
/// process rule), and moving the container process out of our cgroup
/// into one below it needs write access to the cgroup.procs of their
/// common ancestor. Our own cgroup never qualifies: we are in it.
fn delegated(hierarchies: &Hierarchies) -> Result<PathBuf, String> {
    let (Setup::Unified, Some(root)) = (hierarchies.setup, hierarchies.v2.as_deref()) else {
        let setup = if hierarchies.setup == Setup::Hybrid { "hybrid" } else { "legacy" };
        return Err(format!("this host's controllers are cgroup v1 ({setup}), which cannot be delegated: {ELSE}"));
    };
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(own) = proc_cgroup.lines().find_map(|line| line.strip_prefix("0::")) else {
        return Err("/proc/self/cgroup names no cgroup v2 cgroup".into());
    };
    let own = root.join(own.trim_start_matches('/'));
    for dir in own.ancestors().skip(1).take_while(|dir| dir.starts_with(root)) {
        if writable(dir) && !holds_processes(dir) {
            return Ok(dir.strip_prefix(root).unwrap_or(dir).to_path_buf());
        }
    }
    if writable(&own) {
        return Err(format!(
            "your cgroup {0} holds your processes, and a cgroup with processes cannot pass controllers on \
             to children: move your shell into a child of it \
             (mkdir {0}/shell && echo $$ > {0}/shell/cgroup.procs), {ELSE}",
            own.display()
        ));
    }
    Err(format!(
        "no cgroup above yours ({}) is yours to write (its directory, cgroup.procs and cgroup.subtree_control, \
         as systemd's Delegate=yes makes them): start step7 in one (systemd-run --user --scope step7 ...), {ELSE}",
        own.display()
    ))
}

// ANCHOR_END: delegated

/// The way out that is always there.
const ELSE: &str = "drop the limits, or run as root";

/// Whether this user may use `dir` as a delegated cgroup. (access(2),
/// not the owner: root may also delegate by group or mode.)
fn writable(dir: &Path) -> bool {
    let ok = |path: &Path| nix::unistd::access(path, AccessFlags::W_OK).is_ok();
    ok(dir) && ok(&dir.join("cgroup.procs")) && ok(&dir.join("cgroup.subtree_control"))
}

/// Whether processes are in `dir` itself (not only in its children).
fn holds_processes(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("cgroup.procs")).map_or(true, |procs| !procs.trim().is_empty())
}

/// The controllers the limits need must have been given to `top` (by its
/// parent's cgroup.subtree_control); only root can change that. (Those
/// given but not yet enabled for its children, `top`'s own
/// cgroup.subtree_control, the user enables when making the cgroup.)
fn controllers_given(hierarchies: &Hierarchies, top: &Path, limits: &Limits) -> Result<()> {
    let root = hierarchies.v2.as_deref().context("no cgroup2 mount")?;
    let top = root.join(top);
    let listed = |dir: &Path, file: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(file)).unwrap_or_default().split_whitespace().map(String::from).collect()
    };
    let given = listed(&top, "cgroup.controllers");
    for (controller, v2_name) in [("memory", "memory"), ("cpu", "cpu"), ("pids", "pids"), ("blkio", "io")] {
        let Some(flag) = crate::cgroup::needed_for(controller, limits) else { continue };
        if given.iter().any(|c| c == v2_name) {
            continue;
        }
        // Every ancestor that does not yet enable it, from the root down.
        let mut missing: Vec<String> = top
            .ancestors()
            .skip(1)
            .take_while(|dir| dir.starts_with(root))
            .filter(|dir| !listed(dir, "cgroup.subtree_control").iter().any(|c| c == v2_name))
            .map(|dir| format!("echo +{v2_name} > {}", dir.join("cgroup.subtree_control").display()))
            .collect();
        missing.reverse();
        if missing.is_empty() {
            missing.push(format!("enable {v2_name} in the cgroup.subtree_control above it"));
        }
        bail!(
            "rootless: {} (delegated to you) was not given the {v2_name} controller, which {flag} needs: as root, {}",
            top.display(),
            missing.join(" && ")
        );
    }
    Ok(())
}

/// The setting that forbids unprivileged user namespaces, if one does.
fn forbidden() -> Option<String> {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some(
            "kernel.apparmor_restrict_unprivileged_userns = 1: set it to 0, or give step7 an AppArmor profile \
             allowing userns"
                .into(),
        );
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Some("kernel.unprivileged_userns_clone = 0: set it to 1".into());
    }
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Some("user.max_user_namespaces = 0: raise it".into());
    }
    None
}

/// The mappings for this user: root inside is the user; with newuidmap
/// and a range in /etc/subuid, ids 1.. inside are that range.
pub fn mappings() -> (Vec<LinuxIdMapping>, Vec<LinuxIdMapping>) {
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let user = nix::unistd::User::from_uid(nix::unistd::getuid()).ok().flatten().map(|u| u.name);
    let mapping = |container: u32, host: u32, size: u32| -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": container, "hostID": host, "size": size})).unwrap()
    };
    let mut uids = vec![mapping(0, uid, 1)];
    let mut gids = vec![mapping(0, gid, 1)];
    let helpers = ["newuidmap", "newgidmap"].iter().all(|h| Command::new(h).arg("--help").output().is_ok());
    if let (Some(user), true) = (user, helpers) {
        if let Some((start, count)) = subordinate("/etc/subuid", &user, uid) {
            uids.push(mapping(1, start, count));
        }
        if let Some((start, count)) = subordinate("/etc/subgid", &user, gid) {
            gids.push(mapping(1, start, count));
        }
    }
    (uids, gids)
}

/// The user's range in /etc/subuid or /etc/subgid ("name:start:count").
fn subordinate(file: &str, user: &str, id: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let (who, start, count) = (fields.next()?, fields.next()?, fields.next()?);
        (who == user || who == id.to_string()).then(|| Some((start.parse().ok()?, count.parse().ok()?)))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_controller_names_the_files_root_must_write() {
        // A fake cgroup v2 tree: the root hands down pids only, and a/
        // nothing, to a/deleg/.
        let root = std::env::temp_dir().join(format!("step7-delegation-{}", std::process::id()));
        let write = |path: &str, text: &str| {
            std::fs::create_dir_all(root.join(path).parent().unwrap()).unwrap();
            std::fs::write(root.join(path), text).unwrap();
        };
        write("cgroup.subtree_control", "pids\n");
        write("a/cgroup.subtree_control", "");
        write("a/deleg/cgroup.controllers", "pids\n");
        let hierarchies = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(root.clone()) };
        let top = Path::new("a/deleg");

        let pids = Limits { pids: Some(16), ..Limits::default() };
        assert!(controllers_given(&hierarchies, top, &pids).is_ok());
        let memory = Limits { memory: Some(32 << 20), ..Limits::default() };
        let err = controllers_given(&hierarchies, top, &memory).unwrap_err().to_string();
        let r = root.display();
        assert_eq!(
            err,
            format!(
                "rootless: {r}/a/deleg (delegated to you) was not given the memory controller, which --memory needs: \
                 as root, echo +memory > {r}/cgroup.subtree_control && echo +memory > {r}/a/cgroup.subtree_control"
            )
        );
        let _ = std::fs::remove_dir_all(&root);
    }
}
