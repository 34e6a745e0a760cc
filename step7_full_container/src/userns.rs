//! User namespaces: root inside, somebody else outside.
//!
//! A user namespace gives its processes their own user and group ids.
//! The mapping, written once by a process outside into
//! /proc/PID/uid_map and gid_map, says which outside id each inside id
//! stands for ("0 100000 65536": inside 0-65535 are outside
//! 100000-165535). Root inside then has every capability *over the
//! namespaces its user namespace owns* (the new mount, PID, network ...
//! namespaces created with it) and none over the host: a file of the host
//! owned by root is, inside, owned by "nobody", and root inside cannot
//! write it. Some operations stay reserved to the initial namespace:
//! mknod of devices (so devices are bind-mounted instead), cgroup v1
//! mounts, raising hard rlimits.
//! Read: user_namespaces(7), "ID mappings" in config-linux.md.

use anyhow::{Context, Result};
use nix::unistd::Pid;
use oci_spec::runtime::{Linux, LinuxIdMapping};

// ANCHOR: write_mappings
/// In the runtime, while the container process waits at its gate: write
/// its uid and gid maps. Root outside may map any ids (an unprivileged
/// user could map only its own, and only after denying setgroups).
pub fn write_mappings(pid: Pid, linux: &Linux) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        return crate::rootless::write_mappings(pid, linux);
    }
    for (file, mappings) in [("uid_map", linux.uid_mappings()), ("gid_map", linux.gid_mappings())] {
        let text: String =
            mappings.iter().flatten().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect();
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

// ANCHOR: become_root
/// In the container process, once mapped: become root of the namespace.
/// After clone(CLONE_NEWUSER) the process had every capability but an id
/// that was not mapped yet; now 0 means something.
pub fn become_root() -> Result<()> {
    crate::narrate!("setresgid(0, 0, 0); setresuid(0, 0, 0)");
    let root_gid = nix::unistd::Gid::from_raw(0);
    let root_uid = nix::unistd::Uid::from_raw(0);
    nix::unistd::setresgid(root_gid, root_gid, root_gid)
        .context("setresgid(0) in the user namespace: is gid 0 mapped?")?;
    nix::unistd::setresuid(root_uid, root_uid, root_uid)
        .context("setresuid(0) in the user namespace: is uid 0 mapped?")?;
    Ok(())
}
// ANCHOR_END: become_root

/// The host id that `id` inside stands for.
pub fn host_id(mappings: Option<&Vec<LinuxIdMapping>>, id: u32) -> Option<u32> {
    mappings.into_iter().flatten().find_map(|m| {
        (id >= m.container_id() && id - m.container_id() < m.size()).then(|| m.host_id() + (id - m.container_id()))
    })
}
