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
//! - cgroups, unless a cgroup v2 subtree was delegated to the user (as
//!   systemd does for user sessions): no limits otherwise;
//! - a bridge and NAT: the container gets loopback only (a rootless network
//!   helper such as slirp4netns or pasta would be needed).
//!
//! Hosts may forbid unprivileged user namespaces altogether; the error
//! then names the setting. Read: user_namespaces(7), newuidmap(1),
//! subuid(5).

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxIdMapping};
use std::process::Command;

use crate::limits::Limits;
use crate::namespaces::Namespaces;

// ANCHOR: check
/// What a rootless container cannot have, said before anything is made.
pub fn check(namespaces: &Namespaces, limits: &Limits) -> Result<()> {
    if !namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
        bail!("not root: a container needs a user namespace of its own (`step7 spec --rootless`), or sudo");
    }
    if *limits != Limits::default() {
        bail!(
            "rootless: cgroup limits need a cgroup v2 subtree delegated to you (systemd's Delegate=yes), \
             and this host has none: drop the limits, or run as root"
        );
    }
    if let Some(setting) = forbidden() {
        bail!("rootless: this host forbids unprivileged user namespaces ({setting})");
    }
    Ok(())
}
// ANCHOR_END: check

/// The setting that forbids unprivileged user namespaces, if one does.
fn forbidden() -> Option<String> {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_string());
    if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        return Some("kernel.apparmor_restrict_unprivileged_userns = 1: set it to 0, or give step7 an AppArmor profile allowing userns".into());
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

// ANCHOR: write_mappings
/// Write the maps of `pid` without privilege: one's own id directly
/// (setgroups denied first, as the kernel demands for gid_map), anything
/// more through newuidmap and newgidmap.
pub fn write_mappings(pid: Pid, linux: &Linux) -> Result<()> {
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    if uids.len() == 1 && gids.len() == 1 {
        crate::narrate!("echo deny > /proc/{pid}/setgroups");
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny").context("cannot deny setgroups")?;
        for (file, m) in [("uid_map", &uids[0]), ("gid_map", &gids[0])] {
            let line = format!("{} {} {}\n", m.container_id(), m.host_id(), m.size());
            crate::narrate!("echo '{}' > /proc/{pid}/{file}", line.trim());
            std::fs::write(format!("/proc/{pid}/{file}"), line)
                .with_context(|| format!("rootless: cannot write /proc/{pid}/{file}: only your own id can be mapped without newuidmap"))?;
        }
        return Ok(());
    }
    for (helper, mappings) in [("newuidmap", &uids), ("newgidmap", &gids)] {
        let mut command = Command::new(helper);
        command.arg(pid.to_string());
        for m in mappings.iter() {
            command.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
        }
        crate::narrate!("{helper} {pid} ...");
        let status = command.status().with_context(|| format!("cannot run {helper} (package uidmap)"))?;
        if !status.success() {
            bail!("{helper} refused the mapping: check your ranges in /etc/subuid and /etc/subgid");
        }
    }
    Ok(())
}
// ANCHOR_END: write_mappings
