//! A bundle's config.json: read it, check it, and say which field is
//! wrong; and `spec`'s default one.
//!
//! An OCI bundle is a directory with a root filesystem and a config.json
//! (the OCI runtime specification, runtime-spec/config.md): what to run,
//! as whom, in which namespaces, with which mounts and limits. The
//! `oci-spec` crate holds its types, so step 7 reads a bundle exactly as
//! runc, crun and youki do. What the kernel here cannot do is refused up
//! front, naming the field and the reason, before anything is created;
//! what it does without, it says: fields this runtime does not apply
//! ([`unsupported`]), and ambient capabilities the kernel would not raise
//! (see [`super::security::capabilities`]). [`write_default`] is `step7
//! spec`: the config.json to start from.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use std::path::{Path, PathBuf};

use super::security::capabilities::warn_unraisable_ambient;

/// A loaded and checked bundle.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    /// root.path, absolute.
    pub rootfs: PathBuf,
}

// ANCHOR: load
/// Read `dir/config.json` and check what step 7 must rely on.
pub fn load(dir: &Path) -> Result<Bundle> {
    let dir = locate(dir)?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}: create one with `step7 spec`", path.display()))?;
    let spec: Spec = serde_json::from_str(&text)
        .map_err(|err| anyhow::anyhow!("{}: line {}, column {}: {err}", path.display(), err.line(), err.column()))?;
    checked(dir, spec)
}

/// The bundle in `dir` with a config.json already in memory (an engine's
/// own Spec), checked as [`load`] checks the file: read once, not again.
pub fn from_spec(dir: &Path, spec: Spec) -> Result<Bundle> {
    checked(locate(dir)?, spec)
}

/// The bundle directory, absolute: it is kept in the state, and relative
/// paths in config.json are relative to it.
fn locate(dir: &Path) -> Result<PathBuf> {
    dir.canonicalize().with_context(|| {
        format!("no bundle at {}: pass --bundle DIR (a directory with config.json and a rootfs)", dir.display())
    })
}

fn checked(dir: PathBuf, spec: Spec) -> Result<Bundle> {
    let rootfs = check(&dir, &spec)?;
    Ok(Bundle { dir, spec, rootfs })
}
// ANCHOR_END: load

/// The checks, each naming its field. Returns root.path, absolute.
fn check(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec.root().as_ref().context("config.json: root: missing (the rootfs to run)")?;
    let rootfs = if root.path().is_absolute() { root.path().clone() } else { dir.join(root.path()) };
    let rootfs = rootfs
        .canonicalize()
        .with_context(|| format!("config.json: root.path: no directory at {}", rootfs.display()))?;
    if !rootfs.is_dir() {
        bail!("config.json: root.path: {} is not a directory", rootfs.display());
    }
    let process = spec.process().as_ref().context("config.json: process: missing (what to run)")?;
    if process.args().as_ref().is_none_or(|args| args.is_empty()) {
        bail!("config.json: process.args: empty; name the program to run");
    }
    if !process.cwd().is_absolute() {
        bail!("config.json: process.cwd: {:?} must be an absolute path", process.cwd());
    }
    let linux = spec.linux().as_ref().context("config.json: linux: missing (only Linux containers run here)")?;
    let new_user =
        linux.namespaces().iter().flatten().any(|n| n.typ() == LinuxNamespaceType::User && n.path().is_none());
    let mapped = |m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| m.as_ref().is_some_and(|m| !m.is_empty());
    if new_user && !(mapped(linux.uid_mappings()) && mapped(linux.gid_mappings())) {
        bail!("config.json: linux.uidMappings and gidMappings: a new user namespace needs both");
    }
    if !new_user && (mapped(linux.uid_mappings()) || mapped(linux.gid_mappings())) {
        bail!("config.json: linux.uidMappings: mappings need a new user namespace in linux.namespaces");
    }
    for (i, namespace) in linux.namespaces().iter().flatten().enumerate() {
        if let Some(path) = namespace.path() {
            if !path.exists() {
                bail!("config.json: linux.namespaces[{i}].path: {} does not exist", path.display());
            }
        }
    }
    if linux.time_offsets().as_ref().is_some_and(|offsets| !offsets.is_empty()) {
        bail!("config.json: linux.timeOffsets: not supported by this runtime yet");
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) {
        crate::warn!("config.json: linux.mountLabel ignored: SELinux is not in use here");
    }
    for (i, mount) in spec.mounts().iter().flatten().enumerate() {
        if !mount.destination().is_absolute() {
            bail!("config.json: mounts[{i}].destination: {:?} must be an absolute path", mount.destination());
        }
    }
    for field in unsupported(spec) {
        crate::warn!("config.json: {field} is not supported by this runtime yet, and ignored");
    }
    warn_unraisable_ambient(process, "config.json: process.capabilities.ambient");
    Ok(rootfs)
}

// ANCHOR: default_spec
/// `spec`: the default config.json, as `runc spec` writes it, but not
/// asking for a terminal (which would need --console-socket). `rootless`:
/// a user namespace mapping the caller to root inside.
pub fn write_default(dir: &Path, rootless: bool) -> Result<()> {
    let path = dir.join("config.json");
    if path.exists() {
        bail!("{} exists already: remove it first", path.display());
    }
    let mut spec = if rootless {
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        Spec::rootless(uid, gid)
    } else {
        Spec::default()
    };
    spec.set_hostname(Some("step7".into()));
    spec.set_version(super::OCI_VERSION.into());
    let mut json = serde_json::to_value(&spec)?;
    // oci-spec keeps capabilities in hash sets: sort them, so that the file
    // is the same every time.
    if let Some(sets) = json.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut()) {
        for set in sets.values_mut().filter_map(|s| s.as_array_mut()) {
            set.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("cannot write {} (is the bundle directory writable?)", path.display()))
}
// ANCHOR_END: default_spec

// ANCHOR: unsupported
/// The fields config.json sets that this runtime does not apply: said
/// out loud, never silently dropped.
fn unsupported(spec: &Spec) -> Vec<&'static str> {
    let mut fields = Vec::new();
    let mut check = |set: bool, field: &'static str| {
        if set {
            fields.push(field);
        }
    };
    if let Some(process) = spec.process() {
        check(process.scheduler().is_some(), "process.scheduler");
        check(process.io_priority().is_some(), "process.ioPriority");
        check(process.exec_cpu_affinity().is_some(), "process.execCPUAffinity");
        check(process.selinux_label().as_ref().is_some_and(|l| !l.is_empty()), "process.selinuxLabel");
        check(process.apparmor_profile().as_ref().is_some_and(|p| !p.is_empty()), "process.apparmorProfile");
    }
    let Some(linux) = spec.linux() else { return fields };
    check(linux.intel_rdt().is_some(), "linux.intelRdt");
    check(linux.memory_policy().is_some(), "linux.memoryPolicy");
    check(linux.personality().is_some(), "linux.personality");
    check(linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()), "linux.netDevices");
    if let Some(resources) = linux.resources() {
        if let Some(cpu) = resources.cpu() {
            check(cpu.cpus().as_ref().is_some_and(|c| !c.is_empty()), "linux.resources.cpu.cpus");
            check(cpu.mems().as_ref().is_some_and(|m| !m.is_empty()), "linux.resources.cpu.mems");
            check(cpu.realtime_runtime().is_some(), "linux.resources.cpu.realtimeRuntime");
        }
        if let Some(io) = resources.block_io() {
            check(io.weight_device().as_ref().is_some_and(|d| !d.is_empty()), "linux.resources.blockIO.weightDevice");
            check(
                io.throttle_read_bps_device().as_ref().is_some_and(|d| !d.is_empty()),
                "linux.resources.blockIO.throttle*",
            );
        }
        check(resources.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()), "linux.resources.hugepageLimits");
        check(resources.network().is_some(), "linux.resources.network");
        check(resources.rdma().as_ref().is_some_and(|r| !r.is_empty()), "linux.resources.rdma");
    }
    fields
}
// ANCHOR_END: unsupported

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> (PathBuf, Result<Bundle>) {
        static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("step7-bundle-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        std::fs::write(dir.join("config.json"), config).unwrap();
        let result = load(&dir);
        (dir, result)
    }

    fn error_of(config: &str) -> String {
        let (dir, result) = bundle_with(config);
        let _ = std::fs::remove_dir_all(dir);
        format!("{:#}", result.err().expect("the config should be refused"))
    }

    #[test]
    fn the_default_spec_loads() {
        let json = serde_json::to_string(&Spec::default()).unwrap();
        let (dir, result) = bundle_with(&json);
        assert!(result.is_ok(), "{:#}", result.err().unwrap());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_spec_in_memory_is_checked_as_the_file_is() {
        let (dir, loaded) = bundle_with(&serde_json::to_string(&Spec::default()).unwrap());
        let loaded = loaded.unwrap();
        let given = from_spec(&dir, Spec::default()).unwrap();
        assert_eq!((&given.dir, &given.rootfs), (&loaded.dir, &loaded.rootfs));
        let mut spec = Spec::default();
        spec.process_mut().as_mut().unwrap().set_args(Some(vec![]));
        let refused = from_spec(&dir, spec).err().expect("empty args accepted");
        assert!(format!("{refused:#}").contains("process.args"), "{refused:#}");
        let _ = std::fs::remove_dir_all(&dir);
        let missing = load(&dir).err().expect("a missing bundle loaded");
        assert!(format!("{missing:#}").contains("no bundle at"), "{missing:#}");
    }

    #[test]
    fn unsupported_fields_are_named() {
        let mut spec = Spec::default();
        assert!(unsupported(&spec).is_empty());
        let cpu: oci_spec::runtime::LinuxCpu = serde_json::from_str(r#"{"cpus": "0-1"}"#).unwrap();
        let mut resources = oci_spec::runtime::LinuxResources::default();
        resources.set_cpu(Some(cpu));
        spec.linux_mut().as_mut().unwrap().set_resources(Some(resources));
        assert_eq!(unsupported(&spec), ["linux.resources.cpu.cpus"]);
    }

    #[test]
    fn errors_name_the_field() {
        assert!(error_of("{").contains("line 1"));
        let mut spec = Spec::default();
        spec.process_mut().as_mut().unwrap().set_args(Some(vec![]));
        assert!(error_of(&serde_json::to_string(&spec).unwrap()).contains("process.args"));
        let mut spec = Spec::default();
        spec.process_mut().as_mut().unwrap().set_cwd("relative".into());
        assert!(error_of(&serde_json::to_string(&spec).unwrap()).contains("process.cwd"));
        let json = serde_json::to_string(&Spec::default()).unwrap().replace("\"rootfs\"", "\"missing\"");
        assert!(error_of(&json).contains("root.path"));
    }
}
