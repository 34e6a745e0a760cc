//! The namespaces of config.json: new ones, and existing ones to join.
//!
//! `linux.namespaces` lists a type per entry; without `path` the container
//! gets a new namespace of that type (a clone3 flag, as in steps 2-5),
//! with `path` it joins an existing one (setns(2) on that file, e.g.
//! /proc/PID/ns/net of a container an engine set up). Two need care:
//! - a PID namespace is entered by the *children* of the process that
//!   joins it, so the runtime joins it before cloning the container;
//! - a new cgroup namespace takes the cgroup the process is in at that
//!   moment as its root, so the container process unshares it only after
//!   it was moved into its cgroup (crun and runc do the same).
//!
//! Read: namespaces(7), setns(2), cgroup_namespaces(7).

use anyhow::{Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::{Linux, LinuxNamespaceType};
use std::path::PathBuf;

#[derive(Debug)]
pub struct Namespaces {
    /// New namespaces, for clone3.
    pub new: CloneFlags,
    /// A new cgroup namespace, unshared once inside the cgroup.
    pub new_cgroup: bool,
    /// Existing namespaces to join, in the container process.
    pub join: Vec<(CloneFlags, PathBuf)>,
    /// An existing PID namespace, joined by the runtime before clone.
    pub join_pid: Option<PathBuf>,
}

fn flag(typ: LinuxNamespaceType) -> CloneFlags {
    match typ {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

// ANCHOR: from_spec
impl Namespaces {
    pub fn from_spec(linux: &Linux) -> Namespaces {
        let mut namespaces =
            Namespaces { new: CloneFlags::empty(), new_cgroup: false, join: Vec::new(), join_pid: None };
        for namespace in linux.namespaces().iter().flatten() {
            let flag = flag(namespace.typ());
            match (namespace.path(), namespace.typ()) {
                (None, LinuxNamespaceType::Cgroup) => namespaces.new_cgroup = true,
                (None, _) => namespaces.new |= flag,
                (Some(path), LinuxNamespaceType::Pid) => namespaces.join_pid = Some(path.clone()),
                (Some(path), _) => namespaces.join.push((flag, path.clone())),
            }
        }
        namespaces
    }

    /// Whether the container gets a namespace of this kind of its own
    /// (new, or joined): false means it shares the runtime's.
    pub fn has(&self, flag: CloneFlags) -> bool {
        self.new.contains(flag)
            || self.join.iter().any(|(f, _)| *f == flag)
            || (flag == CloneFlags::CLONE_NEWCGROUP && self.new_cgroup)
            || (flag == CloneFlags::CLONE_NEWPID && self.join_pid.is_some())
    }
}
// ANCHOR_END: from_spec

/// setns(2) into the namespace at `path`.
pub fn join(flag: CloneFlags, path: &std::path::Path) -> Result<()> {
    crate::narrate!("setns({}, {})", path.display(), step6::process::flag_names(flag));
    let file = std::fs::File::open(path).with_context(|| format!("cannot open namespace {}", path.display()))?;
    nix::sched::setns(&file, flag).with_context(|| format!("setns({}) failed", path.display()))
}
