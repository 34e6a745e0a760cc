//! The container's file system, from config.json: `mounts`, the default
//! devices, pivot_root, then masked and read-only paths.
//!
//! Step 3 hard-coded /proc, /sys and /dev. An OCI bundle lists its mounts
//! instead, each with a type, a source and mount(8)-style options ("ro",
//! "nosuid", "rbind", "mode=755"): the runtime turns each option into a
//! mount(2) flag or passes it on as file-system data. Targets are resolved
//! *inside* the rootfs, symlinks included: a rootfs is untrusted input,
//! and a symlink `/proc -> /etc` in it must not make the runtime mount
//! over the host's /etc (CVE-2021-30465 and friends).
//! Read: mount(2), mount(8) "FILESYSTEM-INDEPENDENT MOUNT OPTIONS",
//! runtime-spec/config.md "Mounts", config-linux.md "Masked paths".

pub mod cgroupfs;
pub mod finish;
pub mod options;
pub mod resolve;

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::path::Path;

pub use cgroupfs::Cgroups;
pub use finish::finish;
use options::{propagation_flags, Options};
pub use resolve::resolve_in_root;

use crate::mount::mount;
use crate::oci::namespaces::Namespaces;
use crate::oci::userns::idmap;

// ANCHOR: prepare
/// In the container process, before pivot_root: propagation, the rootfs
/// as a mount point, every mount of config.json, the devices.
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    namespaces: &Namespaces,
    cgroup: &Cgroups,
    idmapped: &idmap::Prepared,
) -> Result<()> {
    let linux = spec.linux().as_ref().expect("checked by bundle::load");
    // rslave, as runc: the host's later mounts still reach the container
    // (a volume mounted afterwards shows up), nothing flows back.
    mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None)?;
    mount(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    for (i, entry) in spec.mounts().iter().flatten().enumerate() {
        let result = match idmapped.iter().find(|(index, _)| *index == i) {
            Some((_, tree)) => resolve_in_root(rootfs, entry.destination())
                .and_then(|target| make_target(&target, false).map(|()| target))
                .and_then(|target| idmap::attach(tree, &target)),
            None => mount_entry(entry, rootfs, bundle, namespaces, cgroup),
        };
        result.with_context(|| format!("config.json: mounts[{i}] ({})", entry.destination().display()))?;
    }
    let dev_is_tmpfs = spec.mounts().iter().flatten().any(|m| m.destination() == Path::new("/dev"));
    let in_user_namespace = namespaces.new.contains(nix::sched::CloneFlags::CLONE_NEWUSER);
    if dev_is_tmpfs {
        // The devices every container gets (the OCI's default list), then
        // those config.json adds.
        let dev = resolve_in_root(rootfs, Path::new("/dev"))?;
        if in_user_namespace {
            bind_host_devices(&dev)?;
        } else {
            crate::dev::make_devices(&dev)?;
        }
        crate::dev::make_links(&dev).or_else(|err| if dev.join("ptmx").exists() { Ok(()) } else { Err(err) })?;
    }
    for (i, device) in linux.devices().iter().flatten().enumerate() {
        make_device(rootfs, device).with_context(|| format!("config.json: linux.devices[{i}]"))?;
    }
    if let Some(propagation) = linux.rootfs_propagation() {
        let flags = propagation_flags(propagation)
            .with_context(|| format!("config.json: linux.rootfsPropagation: unknown value {propagation:?}"))?;
        mount(None, rootfs, None, flags, None)?;
    }
    Ok(())
}
// ANCHOR_END: prepare

/// In a user namespace mknod is refused: bind the host's device nodes
/// onto empty files instead (the same devices, the same numbers).
fn bind_host_devices(dev: &Path) -> Result<()> {
    for (name, _, _) in crate::dev::DEVICES {
        let target = dev.join(name);
        make_target(&target, true)?;
        mount(Some(&Path::new("/dev").join(name)), &target, None, MsFlags::MS_BIND, None)?;
    }
    Ok(())
}

/// One entry of `mounts`.
fn mount_entry(entry: &Mount, rootfs: &Path, bundle: &Path, namespaces: &Namespaces, cgroup: &Cgroups) -> Result<()> {
    let options = Options::parse(entry.options().as_deref().unwrap_or_default());
    let typ = entry.typ().as_deref().unwrap_or("");
    let is_bind = typ == "bind" || options.bind.is_some();
    let source =
        entry.source().as_ref().map(
            |source| {
                if is_bind && source.is_relative() {
                    bundle.join(source)
                } else {
                    source.clone()
                }
            },
        );
    let target = resolve_in_root(rootfs, entry.destination())?;
    let source_is_file = source.as_ref().is_some_and(|s| s.is_file());
    make_target(&target, is_bind && source_is_file)?;

    if typ == "cgroup" {
        return cgroupfs::mount_cgroup(&target, &options, namespaces, cgroup);
    }
    if is_bind {
        let source = source.context("a bind mount needs a source")?;
        if !source.exists() {
            bail!("bind source {} does not exist", source.display());
        }
        mount(Some(&source), &target, None, options.bind.unwrap_or(MsFlags::MS_BIND), None)?;
        // A bind mount takes its flags (ro, nosuid, ...) only on a remount.
        if !options.flags.is_empty() {
            mount(None, &target, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | options.flags, None)?;
        }
    } else {
        let data = (!options.data.is_empty()).then(|| options.data.join(","));
        let result = mount(source.as_deref(), &target, Some(typ), options.flags, data.as_deref());
        match result {
            // sysfs belongs to a network namespace: one that is not owned
            // by the container's user namespace cannot be mounted fresh;
            // bind the host's instead (read-only, as runc does).
            Err(_) if typ == "sysfs" && namespaces.new.contains(nix::sched::CloneFlags::CLONE_NEWUSER) => {
                mount(Some(Path::new("/sys")), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
                mount(None, &target, None, MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY, None)?;
            }
            other => other?,
        }
    }
    if !options.propagation.is_empty() {
        mount(None, &target, None, options.propagation, None)?;
    }
    Ok(())
}

/// mknod a device of `linux.devices`.
fn make_device(rootfs: &Path, device: &LinuxDevice) -> Result<()> {
    use nix::sys::stat::{makedev, Mode, SFlag};
    let kind = match device.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => bail!("type \"a\" is for cgroup rules, not a device node"),
    };
    let path = resolve_in_root(rootfs, device.path())?;
    make_target(&path, true)?;
    let _ = std::fs::remove_file(&path);
    let mode = Mode::from_bits_truncate(device.file_mode().unwrap_or(0o666));
    crate::narrate!("mknod({path:?}, {kind:?}, {}:{})", device.major(), device.minor());
    nix::sys::stat::mknod(&path, kind, mode, makedev(device.major() as u64, device.minor() as u64))
        .with_context(|| format!("mknod {} failed", path.display()))?;
    nix::unistd::chown(&path, device.uid().map(Into::into), device.gid().map(Into::into))
        .with_context(|| format!("chown {} failed", path.display()))?;
    Ok(())
}

/// Create the mount target: a directory, or an empty file to bind a file
/// over.
fn make_target(target: &Path, file: bool) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    if file {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::File::create(target).with_context(|| format!("cannot create {}", target.display()))?;
    } else {
        std::fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
    }
    Ok(())
}
