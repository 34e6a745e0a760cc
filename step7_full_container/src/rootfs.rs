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

use anyhow::{bail, Context, Result};
use nix::mount::MsFlags;
use oci_spec::runtime::{Linux, LinuxDevice, LinuxDeviceType, Mount, Spec};
use std::path::{Component, Path, PathBuf};

use crate::mount::mount;
use crate::namespaces::Namespaces;

/// The host's cgroup hierarchies and the container's cgroup in them, as
/// the runtime saw them. (Read before the container process unshares its
/// cgroup namespace: from inside, /proc/self/mountinfo shows the
/// hierarchies relative to the new root.)
pub struct Cgroups {
    pub hierarchies: Hierarchies,
    pub path: PathBuf,
}
use step6::hierarchy::{Hierarchies, Setup};

// ANCHOR: prepare
/// In the container process, before pivot_root: propagation, the rootfs
/// as a mount point, every mount of config.json, the devices.
pub fn prepare(
    spec: &Spec,
    rootfs: &Path,
    bundle: &Path,
    namespaces: &Namespaces,
    cgroup: &Cgroups,
    idmapped: &crate::idmap::Prepared,
) -> Result<()> {
    let linux = spec.linux().as_ref().expect("checked by config::load");
    // rslave, as runc: the host's later mounts still reach the container
    // (a volume mounted afterwards shows up), nothing flows back.
    mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None)?;
    mount(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    for (i, entry) in spec.mounts().iter().flatten().enumerate() {
        let result = match idmapped.iter().find(|(index, _)| *index == i) {
            Some((_, tree)) => resolve_in_root(rootfs, entry.destination())
                .and_then(|target| make_target(&target, false).map(|()| target))
                .and_then(|target| crate::idmap::attach(tree, &target)),
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
        return mount_cgroup(&target, &options, namespaces, cgroup);
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

// ANCHOR: mount_cgroup
/// A `cgroup` mount. With a cgroup namespace the container mounts the
/// cgroup file system itself and sees its own cgroup as the root; without
/// one, its own cgroup directories are bind-mounted, so it never sees the
/// host's tree.
fn mount_cgroup(target: &Path, options: &Options, namespaces: &Namespaces, cgroup: &Cgroups) -> Result<()> {
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
        std::fs::create_dir_all(&dir)?;
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
    nix::unistd::chown(&path, device.uid().map(Into::into), device.gid().map(Into::into))?;
    Ok(())
}

// ANCHOR: resolve_in_root
/// `dest` inside `rootfs`, following symlinks as if `rootfs` were `/`:
/// an absolute link target starts again at `rootfs`, and `..` stops
/// there. The result is always below `rootfs`.
pub fn resolve_in_root(rootfs: &Path, dest: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<PathBuf> = vec![dest.to_path_buf()];
    let mut links = 0;
    while let Some(path) = pending.pop() {
        let mut components: Vec<Component> = path.components().collect();
        components.reverse();
        while let Some(component) = components.pop() {
            match component {
                Component::RootDir => resolved.clear(),
                Component::CurDir | Component::Prefix(_) => {}
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => {
                    let candidate = resolved.join(name);
                    match std::fs::read_link(rootfs.join(&candidate)) {
                        Ok(target) => {
                            links += 1;
                            if links > 40 {
                                bail!("too many symlinks in {}", dest.display());
                            }
                            // Resolve the link target, then what was left.
                            let rest: PathBuf = components.iter().rev().collect();
                            components.clear();
                            pending.push(rest);
                            pending.push(target);
                        }
                        Err(_) => resolved = candidate,
                    }
                }
            }
        }
    }
    Ok(rootfs.join(resolved))
}
// ANCHOR_END: resolve_in_root

/// Create the mount target: a directory, or an empty file to bind a file
/// over.
fn make_target(target: &Path, file: bool) -> Result<()> {
    if target.exists() {
        return Ok(());
    }
    if file {
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::File::create(target).with_context(|| format!("cannot create {}", target.display()))?;
    } else {
        std::fs::create_dir_all(target).with_context(|| format!("cannot create {}", target.display()))?;
    }
    Ok(())
}

// ANCHOR: finish
/// In the container process, after pivot_root: hide what must not be
/// seen, freeze what must not be changed, then make the root read-only if
/// asked.
pub fn finish(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref().expect("checked by config::load");
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
    let current = statvfs(path)?.flags();
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

/// A mount entry's options, as mount(2) wants them.
#[derive(Debug)]
struct Options {
    flags: MsFlags,
    /// MS_BIND, or MS_BIND|MS_REC for rbind.
    bind: Option<MsFlags>,
    propagation: MsFlags,
    /// File-system specific options ("mode=755", "size=65536k").
    data: Vec<String>,
}

impl Options {
    fn parse(options: &[String]) -> Options {
        let mut parsed =
            Options { flags: MsFlags::empty(), bind: None, propagation: MsFlags::empty(), data: Vec::new() };
        for option in options {
            let (set, clear) = match option.as_str() {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "mand" | "nomand" | "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "bind" => {
                    parsed.bind = Some(MsFlags::MS_BIND);
                    continue;
                }
                "rbind" => {
                    parsed.bind = Some(MsFlags::MS_BIND | MsFlags::MS_REC);
                    continue;
                }
                other => {
                    if let Some(flags) = propagation_flags(other) {
                        parsed.propagation |= flags;
                    } else {
                        parsed.data.push(other.to_string());
                    }
                    continue;
                }
            };
            parsed.flags = (parsed.flags | set) & !clear;
        }
        parsed
    }
}

fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_and_data() {
        let options: Vec<String> =
            ["nosuid", "strictatime", "mode=755", "size=65536k", "ro", "rw", "rslave"].map(String::from).to_vec();
        let parsed = Options::parse(&options);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(parsed.data, ["mode=755", "size=65536k"]);
        assert_eq!(parsed.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(Options::parse(&["rbind".into()]).bind, Some(MsFlags::MS_BIND | MsFlags::MS_REC));
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let root = std::env::temp_dir().join(format!("step7-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../real", root.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", root.join("loop")).unwrap();
        assert_eq!(resolve_in_root(&root, Path::new("/abs/passwd")).unwrap(), root.join("etc/passwd"));
        assert_eq!(resolve_in_root(&root, Path::new("/up/x")).unwrap(), root.join("real/x"));
        assert_eq!(resolve_in_root(&root, Path::new("/../../proc")).unwrap(), root.join("proc"));
        assert!(resolve_in_root(&root, Path::new("/loop")).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }
}
