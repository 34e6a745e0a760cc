//! A `cgroup` entry of `mounts`: the container's view of its cgroups at
//! /sys/fs/cgroup.
//!
//! Read: cgroup_namespaces(7), runtime-spec config-linux.md "cgroup".

use anyhow::{Context, Result};
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

use super::options::Options;
use crate::hierarchy::{Hierarchies, Setup};
use crate::mount::mount;
use crate::oci::namespaces::Namespaces;

/// The host's cgroup hierarchies and the container's cgroup in them, as
/// the runtime saw them. (Read before the container process unshares its
/// cgroup namespace: from inside, /proc/self/mountinfo shows the
/// hierarchies relative to the new root.)
pub struct Cgroups {
    pub hierarchies: Hierarchies,
    pub path: PathBuf,
}

// ANCHOR: mount_cgroup
/// A `cgroup` mount. With a cgroup namespace the container mounts the
/// cgroup file system itself and sees its own cgroup as the root; without
/// one, its own cgroup directories are bind-mounted, so it never sees the
/// host's tree.
pub fn mount_cgroup(target: &Path, options: &Options, namespaces: &Namespaces, cgroup: &Cgroups) -> Result<()> {
    let hierarchies = &cgroup.hierarchies;
    let path = &cgroup.path;
    let own = |mount: &Path| mount.join(path.strip_prefix("/").unwrap_or(path));
    if hierarchies.setup == Setup::Unified {
        let root = hierarchies.v2.clone().context("no cgroup2 mount")?;
        return if namespaces.new_cgroup {
            mount(Some(Path::new("cgroup2")), target, Some("cgroup2"), options.flags, None)
        } else {
            mount(Some(&own(&root)), target, None, MsFlags::MS_BIND, None)?;
            mount(None, target, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | options.flags, None)
        };
    }
    // v1 and hybrid: a tmpfs holding one directory per hierarchy.
    mount(
        Some(Path::new("tmpfs")),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=755"),
    )?;
    let current = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    for (controllers, host_mount) in &hierarchies.v1 {
        let name = host_mount.file_name().context("cgroup mount without a name")?;
        let dir = target.join(name);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        // cgroup v1 cannot be mounted from a user namespace: bind instead.
        let in_user_namespace = namespaces.new.contains(nix::sched::CloneFlags::CLONE_NEWUSER);
        if namespaces.new_cgroup && !in_user_namespace {
            let data = controllers.join(",");
            mount(Some(Path::new("cgroup")), &dir, Some("cgroup"), options.flags, Some(&data))?;
        } else {
            // The cgroup this process is in, in that hierarchy: ours where
            // we made one, else wherever it was put.
            let source = if own(host_mount).is_dir() {
                own(host_mount)
            } else {
                host_mount.join(cgroup_of(&current, controllers))
            };
            mount(Some(&source), &dir, None, MsFlags::MS_BIND, None)?;
            mount(None, &dir, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | options.flags, None)?;
        }
    }
    if options.flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None,
            target,
            None,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=755"),
        )?;
    }
    Ok(())
}
// ANCHOR_END: mount_cgroup

/// This process's cgroup path in the v1 hierarchy of `controllers`, from
/// /proc/self/cgroup lines such as "4:memory:/step7/web", relative.
fn cgroup_of(proc_cgroup: &str, controllers: &[String]) -> PathBuf {
    for line in proc_cgroup.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, Some(names), Some(path)) = (fields.next(), fields.next(), fields.next()) else { continue };
        if names.split(',').any(|name| controllers.iter().any(|c| c == name)) {
            return PathBuf::from(path.trim_start_matches('/'));
        }
    }
    PathBuf::new()
}
