//! After pivot_root: what the container must not see or change.
//!
//! `linux.maskedPaths` hides files of /proc and /sys that tell about the
//! host or control it (/proc/kcore, /proc/keys, /sys/firmware ...);
//! `linux.readonlyPaths` freezes others (/proc/sys, /proc/sysrq-trigger);
//! `root.readonly` makes the whole root read-only. Done after the pivot,
//! so that the paths are the container's own /proc and /sys.
//! Read: runtime-spec config-linux.md "Masked Paths", "Readonly Paths".

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::{Linux, Spec};
use std::path::{Path, PathBuf};

use crate::mount::mount;

// ANCHOR: finish
/// In the container process, after pivot_root: hide what must not be
/// seen, freeze what must not be changed, then make the root read-only if
/// asked.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref().expect("checked by bundle::load");
    // sysctls first: readonlyPaths usually makes /proc/sys read-only.
    set_sysctls(linux)?;
    for path in linux.masked_paths().iter().flatten() {
        mask(Path::new(path)).with_context(|| format!("config.json: linux.maskedPaths: {path}"))?;
    }
    for path in linux.readonly_paths().iter().flatten() {
        make_readonly(Path::new(path)).with_context(|| format!("config.json: linux.readonlyPaths: {path}"))?;
    }
    if spec.root().as_ref().is_some_and(|root| root.readonly() == Some(true)) {
        remount_readonly(Path::new("/")).context("config.json: root.readonly")?;
    }
    Ok(())
}
// ANCHOR_END: finish

// ANCHOR: mask
/// A masked file gets /dev/null bound over it (reads are empty, writes
/// vanish); a masked directory gets an empty read-only tmpfs.
fn mask(path: &Path) -> Result<()> {
    match std::fs::metadata(path) {
        Err(_) => Ok(()), // nothing there to hide
        Ok(meta) if meta.is_dir() => mount(Some(Path::new("tmpfs")), path, Some("tmpfs"), MsFlags::MS_RDONLY, None),
        Ok(_) => mount(Some(Path::new("/dev/null")), path, None, MsFlags::MS_BIND, None),
    }
}
// ANCHOR_END: mask

/// Bind `path` onto itself and remount the bind read-only.
fn make_readonly(path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    mount(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    remount_readonly(path)
}

/// Remount read-only, keeping nosuid/nodev/noexec and the atime flags as
/// they are (a remount that changed them would be refused inside a user
/// namespace, where they are locked, and would loosen them otherwise).
fn remount_readonly(path: &Path) -> Result<()> {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let current = statvfs(path).with_context(|| format!("statvfs({}) failed", path.display()))?.flags();
    let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    let kept = [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ];
    for (fs, ms) in kept {
        if current.contains(fs) {
            flags |= ms;
        }
    }
    mount(None, path, None, flags, None)
}

/// linux.sysctl: `net.ipv4.ip_forward = 1` is /proc/sys/net/ipv4/ip_forward.
fn set_sysctls(linux: &Linux) -> Result<()> {
    for (key, value) in linux.sysctl().iter().flatten() {
        if key.contains("..") || key.contains('/') {
            bail!("config.json: linux.sysctl: invalid key {key:?}");
        }
        let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
        crate::narrate!("echo {value} > {}", path.display());
        std::fs::write(&path, value)
            .with_context(|| format!("config.json: linux.sysctl: cannot set {key} = {value}"))?;
    }
    Ok(())
}
