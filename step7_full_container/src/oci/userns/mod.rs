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

pub mod idmap;
pub mod mappings;
pub mod rootless;

use anyhow::{Context, Result};

pub use mappings::write_mappings;

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
