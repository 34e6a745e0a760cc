//! A minimal /dev: a tmpfs with the device nodes every program expects.
//!
//! The host's /dev holds every disk and device of the machine; a container
//! gets a fresh tmpfs instead, with only the harmless character devices
//! (the same list as Docker and the OCI runtime spec), its own
//! pseudo-terminal instance, shared memory and the fd links.
//!
//! A device node is only a name for (type, major, minor): mknod(2) creates
//! one, and what it opens is decided by the kernel's driver for that
//! number. Read: mknod(2), devpts in mount(8), the kernel's
//! Documentation/admin-guide/devices.txt.

use anyhow::{Context, Result};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, Mode, SFlag};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::mount::{mount, mount_point};

// ANCHOR: devices
/// (name, major, minor) of the character devices a container gets.
pub const DEVICES: [(&str, u64, u64); 6] = [
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0), // the calling process's controlling terminal
];
// ANCHOR_END: devices

// ANCHOR: mount_dev
/// Mount and fill `rootfs/dev`.
pub fn mount_dev(rootfs: &Path) -> Result<()> {
    let dev = mount_point(rootfs, "dev")?;
    // No MS_NODEV here, of all places: the nodes must work.
    mount(
        Some(Path::new("tmpfs")),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )?;
    make_devices(&dev)?;

    // A new devpts instance: the container's ptys are numbered from 0 and
    // it cannot see or open the host's.
    let pts = mount_point(&dev, "pts")?;
    mount(
        Some(Path::new("devpts")),
        &pts,
        Some("devpts"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("newinstance,ptmxmode=0666,mode=0620"),
    )?;
    let shm = mount_point(&dev, "shm")?;
    mount(
        Some(Path::new("shm")),
        &shm,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("mode=1777,size=65536k"),
    )?;
    make_links(&dev)
}
// ANCHOR_END: mount_dev

/// The character devices of [`DEVICES`], in the directory `dev`.
pub fn make_devices(dev: &Path) -> Result<()> {
    for (name, major, minor) in DEVICES {
        make_device(&dev.join(name), major, minor)?;
    }
    Ok(())
}

// ANCHOR: make_links
/// The links in `dev` that point elsewhere: /dev/ptmx to the container's
/// own devpts instance (else new ptys would be allocated in the host's),
/// and the links programs use to name their own open files (/proc/self is
/// the container's /proc by the time anything follows them).
pub fn make_links(dev: &Path) -> Result<()> {
    symlink("pts/ptmx", &dev.join("ptmx"))?;
    symlink("/proc/self/fd", &dev.join("fd"))?;
    symlink("/proc/self/fd/0", &dev.join("stdin"))?;
    symlink("/proc/self/fd/1", &dev.join("stdout"))?;
    symlink("/proc/self/fd/2", &dev.join("stderr"))
}
// ANCHOR_END: make_links

// ANCHOR: make_device
/// mknod a character device, world read-write like the host's.
fn make_device(path: &Path, major: u64, minor: u64) -> Result<()> {
    crate::narrate!("mknod({path:?}, S_IFCHR|0666, makedev({major}, {minor}))");
    nix::sys::stat::mknod(path, SFlag::S_IFCHR, Mode::from_bits_truncate(0o666), makedev(major, minor))
        .with_context(|| format!("mknod {} failed", path.display()))?;
    // mknod applied the umask (0666 & ~022 = 0644): set the mode itself.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("chmod {} failed", path.display()))
}
// ANCHOR_END: make_device

fn symlink(target: &str, link: &Path) -> Result<()> {
    crate::narrate!("symlink({target:?}, {link:?})");
    std::os::unix::fs::symlink(target, link).with_context(|| format!("cannot create the symlink {}", link.display()))
}
