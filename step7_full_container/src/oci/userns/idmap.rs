//! Idmapped mounts: a bind mount that shows its files' owners shifted.
//!
//! A mount entry of config.json may carry `uidMappings`/`gidMappings`: a
//! directory whose files belong to host uid 1000 can then appear inside as
//! belonging to 0, without chown-ing a single file. The kernel (5.12+)
//! does it per mount: mount_setattr(2) with MOUNT_ATTR_IDMAP attaches a
//! user namespace to a mount, and ids are translated through that
//! namespace's mapping on every access.
//!
//! The mount is made by the runtime, before clone, with the new mount
//! API: open_tree(2) clones the source into a detached mount held by a
//! file descriptor, mount_setattr(2) idmaps it, and the container process
//! later move_mount(2)s the descriptor it inherited onto the target in its
//! own mount namespace. The user namespace carrying the mapping belongs to
//! a helper process that exists only long enough for its namespace to be
//! captured. Read: mount_setattr(2), open_tree(2), move_mount(2).

use anyhow::{bail, Context, Result};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxIdMapping, Mount, Spec};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// `struct mount_attr` of <linux/mount.h>.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// The idmapped mounts of `spec`, by their index in `mounts`.
pub type Prepared = Vec<(usize, OwnedFd)>;

// ANCHOR: prepare
/// In the runtime: a detached, idmapped copy of the source of every mount
/// entry that asks for one.
pub fn prepare(spec: &Spec, bundle: &Path) -> Result<Prepared> {
    let mut prepared = Vec::new();
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        if mount.uid_mappings().is_none() && mount.gid_mappings().is_none() {
            continue;
        }
        let fd = idmapped(mount, bundle)
            .with_context(|| format!("config.json: mounts[{i}] (idmapped {})", mount.destination().display()))?;
        prepared.push((i, fd));
    }
    Ok(prepared)
}
// ANCHOR_END: prepare

fn idmapped(mount: &Mount, bundle: &Path) -> Result<OwnedFd> {
    let (Some(uids), Some(gids)) = (mount.uid_mappings(), mount.gid_mappings()) else {
        bail!("uidMappings and gidMappings go together");
    };
    let source = mount.source().as_ref().context("an idmapped mount needs a source")?;
    let source = if source.is_relative() { bundle.join(source) } else { source.clone() };
    let recursive = mount.options().iter().flatten().any(|o| o == "rbind");

    crate::narrate!("open_tree({}, OPEN_TREE_CLONE)", source.display());
    let path = CString::new(source.as_os_str().as_bytes())?;
    let flags = libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC | if recursive { libc::AT_RECURSIVE as u32 } else { 0 };
    let fd = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("open_tree({}) failed", source.display()));
    }
    let tree = unsafe { OwnedFd::from_raw_fd(fd as i32) };

    let userns = mapping_namespace(uids, gids)?;
    let attr =
        MountAttr { attr_set: MOUNT_ATTR_IDMAP, attr_clr: 0, propagation: 0, userns_fd: userns.as_raw_fd() as u64 };
    let empty = CString::new("")?;
    crate::narrate!("mount_setattr(MOUNT_ATTR_IDMAP)");
    let flags = libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 };
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            empty.as_ptr(),
            flags,
            &attr as *const MountAttr,
            size_of::<MountAttr>(),
        )
    };
    if ret != 0 {
        return Err(std::io::Error::last_os_error())
            .context("mount_setattr(MOUNT_ATTR_IDMAP) failed: does this file system support idmapped mounts?");
    }
    Ok(tree)
}

/// A user namespace with these mappings: a helper process unshares one,
/// we write its maps, keep a descriptor of it, and end the helper.
fn mapping_namespace(uids: &[LinuxIdMapping], gids: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let (ready_read, ready_write) = nix::unistd::pipe().context("pipe failed")?;
    // SAFETY: the child only unshares, writes one byte and pauses.
    match unsafe { fork() }.context("fork of the id mapping helper failed")? {
        ForkResult::Child => {
            let ok = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER).is_ok();
            let _ = nix::unistd::write(&ready_write, if ok { b"1" } else { b"0" });
            loop {
                unsafe { libc::pause() };
            }
        }
        ForkResult::Parent { child } => {
            drop(ready_write);
            let mut byte = [0u8; 1];
            let result = (|| {
                nix::unistd::read(&ready_read, &mut byte).context("the id mapping helper did not answer")?;
                if byte[0] != b'1' {
                    bail!("cannot create a user namespace for the mapping");
                }
                std::fs::write(format!("/proc/{child}/uid_map"), super::mappings::lines(uids))
                    .context("cannot write the mount's uidMappings")?;
                std::fs::write(format!("/proc/{child}/gid_map"), super::mappings::lines(gids))
                    .context("cannot write the mount's gidMappings")?;
                let ns = std::fs::File::open(format!("/proc/{child}/ns/user"))
                    .with_context(|| format!("cannot open /proc/{child}/ns/user"))?;
                Ok(OwnedFd::from(ns))
            })();
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            result
        }
    }
}

// ANCHOR: attach
/// In the container process: put the prepared mount on `target`.
pub fn attach(tree: &OwnedFd, target: &Path) -> Result<()> {
    crate::narrate!("move_mount(idmapped tree, {})", target.display());
    let empty = CString::new("")?;
    let target_c = CString::new(target.as_os_str().as_bytes())?;
    let ret = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            target_c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH,
        )
    };
    if ret != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("move_mount onto {} failed", target.display()));
    }
    Ok(())
}
// ANCHOR_END: attach
