//! Writing a user namespace's id mappings, from outside it.
//!
//! /proc/PID/uid_map and gid_map take one line per range, "INSIDE OUTSIDE
//! COUNT", and can be written once. Root outside may map any ids. A user
//! who is not root may map only its own id, and only after denying
//! setgroups(2) in the namespace (or a process could drop a group that
//! was denying it access to a file); more ids need the setuid helpers
//! newuidmap and newgidmap, which map the ranges /etc/subuid and
//! /etc/subgid grant the user. Read: user_namespaces(7) "User and group
//! ID mappings", newuidmap(1), subuid(5).

use anyhow::{bail, Context, Result};
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxIdMapping};
use std::process::Command;

// ANCHOR: write_mappings
/// In the runtime, while the container process waits at its gate: write
/// its uid and gid maps. Root outside may map any ids (an unprivileged
/// user could map only its own, and only after denying setgroups).
pub fn write_mappings(pid: Pid, linux: &Linux) -> Result<()> {
    if crate::paths::rootless() {
        return write_unprivileged(pid, linux);
    }
    for (file, mappings) in [("uid_map", linux.uid_mappings()), ("gid_map", linux.gid_mappings())] {
        let text = lines(mappings.as_deref().unwrap_or_default());
        let path = format!("/proc/{pid}/{file}");
        crate::narrate!("echo '{}' > {path}", text.trim_end().replace('\n', "; "));
        std::fs::write(&path, &text).with_context(|| {
            format!(
                "config.json: linux.{}: cannot write {path}",
                if file == "uid_map" { "uidMappings" } else { "gidMappings" }
            )
        })?;
    }
    Ok(())
}
// ANCHOR_END: write_mappings

// ANCHOR: write_unprivileged
/// Write the maps of `pid` without privilege: one's own id directly
/// (setgroups denied first, as the kernel demands for gid_map), anything
/// more through newuidmap and newgidmap.
fn write_unprivileged(pid: Pid, linux: &Linux) -> Result<()> {
    let uids = linux.uid_mappings().clone().unwrap_or_default();
    let gids = linux.gid_mappings().clone().unwrap_or_default();
    if uids.len() == 1 && gids.len() == 1 {
        crate::narrate!("echo deny > /proc/{pid}/setgroups");
        std::fs::write(format!("/proc/{pid}/setgroups"), "deny").context("cannot deny setgroups")?;
        for (file, m) in [("uid_map", &uids[0]), ("gid_map", &gids[0])] {
            let line = lines(std::slice::from_ref(m));
            crate::narrate!("echo '{}' > /proc/{pid}/{file}", line.trim());
            std::fs::write(format!("/proc/{pid}/{file}"), line).with_context(|| {
                format!("rootless: cannot write /proc/{pid}/{file}: only your own id can be mapped without newuidmap")
            })?;
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
// ANCHOR_END: write_unprivileged

/// The mappings as uid_map and gid_map want them.
pub(super) fn lines(mappings: &[LinuxIdMapping]) -> String {
    mappings.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}
