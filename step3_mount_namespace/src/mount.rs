//! The mount namespace: the container gets its own mount table, its own
//! /proc and /sys, and a root that is really a root (pivot_root).
//!
//! A process created with `CLONE_NEWNS` gets a *copy* of its parent's
//! mount table. Mounts made afterwards belong to that copy only, unless
//! mount propagation carries them across: on systemd hosts `/` is a
//! "shared" mount, so the first thing to do is make every mount private.
//!
//! Then the rootfs becomes the root of that mount table with pivot_root(2),
//! and the host's old root is detached. Unlike chroot, there is then no
//! path at all to the host's files: no `..` walk gets out.
//!
//! /proc is mounted fresh by a process inside the PID namespace, so it
//! shows that namespace's processes only: `ps` now sees the container.
//!
//! Left out on purpose: the hostname is still the host's (step 4), and so
//! is the network (step 5). Read: mount_namespaces(7), pivot_root(2),
//! mount(2), proc(5).

use anyhow::{Context, Result};
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use std::path::Path;

// ANCHOR: namespace
/// Passed to clone3: the container process gets its own copy of the mount
/// table.
pub const NAMESPACE: CloneFlags = CloneFlags::CLONE_NEWNS;
// ANCHOR_END: namespace

// ANCHOR: prepare_new_root
/// In the container process, before the pivot: the container's mount
/// table around `rootfs`. Its /dev comes next ([`crate::dev::mount_dev`]),
/// then later steps add their own mounts (files of /etc, volumes), while
/// the host's paths are still reachable, and [`pivot_to`] makes it the
/// root.
pub fn prepare_new_root(rootfs: &Path) -> Result<()> {
    make_mounts_private()?;
    bind_onto_itself(rootfs)?;
    mount_proc(rootfs)?;
    mount_sys(rootfs)
}
// ANCHOR_END: prepare_new_root

// ANCHOR: make_mounts_private
/// Stop mount events from propagating between the host and the container.
///
/// Without this, on a host whose / is "shared" (every systemd host), each
/// mount below would also appear on the host, and the host's later mounts
/// would appear in the container. MS_REC applies it to every mount.
fn make_mounts_private() -> Result<()> {
    mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None)
}
// ANCHOR_END: make_mounts_private

// ANCHOR: bind_onto_itself
/// pivot_root needs the new root to be a mount point, and a plain directory
/// is not. Bind-mounting the directory onto itself makes it one (MS_REC
/// brings along whatever is already mounted below it).
fn bind_onto_itself(rootfs: &Path) -> Result<()> {
    mount(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
}
// ANCHOR_END: bind_onto_itself

// ANCHOR: mount_proc
/// A new procfs instance. procfs shows the PID namespace of the process
/// that mounts it; this process is PID 1 of the container's, so `ps`
/// inside sees the container's processes only.
fn mount_proc(rootfs: &Path) -> Result<()> {
    let target = mount_point(rootfs, "proc")?;
    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some(Path::new("proc")), &target, Some("proc"), flags, None)
}
// ANCHOR_END: mount_proc

// ANCHOR: mount_sys
/// sysfs, read-only: programs read it to learn about devices and the
/// network, and nothing in a container should change the host's kernel
/// settings through it.
fn mount_sys(rootfs: &Path) -> Result<()> {
    let target = mount_point(rootfs, "sys")?;
    let flags = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount(Some(Path::new("sysfs")), &target, Some("sysfs"), flags, None)
}
// ANCHOR_END: mount_sys

// ANCHOR: pivot_to
/// Make `rootfs` the root of this mount namespace and detach the old root.
pub fn pivot_to(rootfs: &Path) -> Result<()> {
    crate::narrate!("chdir({rootfs:?})");
    nix::unistd::chdir(rootfs).with_context(|| format!("chdir({}) failed", rootfs.display()))?;

    // pivot_root(new_root, put_old) moves the old root to put_old. With
    // both ".", the old root ends up stacked on top of the new one, on
    // "." itself: no directory for it is needed inside the rootfs.
    crate::narrate!("pivot_root(\".\", \".\")");
    nix::unistd::pivot_root(".", ".").context("pivot_root failed")?;

    // Unmount that old root (the top mount at "."). MNT_DETACH, because
    // it is busy: it has mounts below it, and this process still runs the
    // runtime's binary loaded from it. Detach now; the kernel frees it
    // when the last user is gone. From here on no path leads to the host.
    crate::narrate!("umount2(\".\", MNT_DETACH)");
    nix::mount::umount2(".", MntFlags::MNT_DETACH).context("detaching the old root failed")?;

    crate::narrate!("chdir(\"/\")");
    nix::unistd::chdir("/").context("chdir(\"/\") in the new root failed")?;
    Ok(())
}
// ANCHOR_END: pivot_to

/// `rootfs/name`, created as a directory if missing.
pub fn mount_point(rootfs: &Path, name: &str) -> Result<std::path::PathBuf> {
    let path = rootfs.join(name);
    if !path.is_dir() {
        crate::narrate!("mkdir({path:?})");
        std::fs::create_dir_all(&path).with_context(|| format!("cannot create the mount point {}", path.display()))?;
    }
    Ok(path)
}

/// mount(2), narrated, with an error that names what was mounted where.
pub fn mount(
    source: Option<&Path>,
    target: impl AsRef<Path>,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    let target = target.as_ref();
    crate::narrate!(
        "mount({}, {target:?}, {}, {}, {})",
        source.map_or("NULL".into(), |s| format!("{s:?}")),
        fstype.map_or("NULL".into(), |t| format!("{t:?}")),
        flag_names(flags),
        data.map_or("NULL".into(), |d| format!("{d:?}")),
    );
    nix::mount::mount(source, target, fstype, flags, data).with_context(|| {
        format!(
            "mounting {} on {} failed",
            fstype.map_or_else(|| source.map_or("".into(), |s| s.display().to_string()), String::from),
            target.display()
        )
    })
}

fn flag_names(flags: MsFlags) -> String {
    if flags.is_empty() {
        return "0".to_string();
    }
    flags.iter_names().map(|(name, _)| name).collect::<Vec<_>>().join("|")
}
