//! The OCI core: runc's half of step 7.
//!
//! An OCI runtime is the program an engine (containerd, podman, or step
//! 7's own, in src/engine/) runs to make one container from a *bundle*:
//! a root filesystem and a config.json saying what to run, as whom, in
//! which namespaces, with which mounts and limits (the OCI runtime
//! specification). It is not a daemon: each command (`create`, `start`,
//! `state`, `kill`, `delete`, `exec`) is a process of its own that finds
//! the container through its state directory.
//!
//! - [`bundle`]: reading and checking config.json;
//! - [`create`]: the one implementation of container start-up, the
//!   runtime's half and the container process's half, with its parts:
//!   [`namespaces`], [`cgroup`] (limits, devices, the freezer),
//!   [`rootfs`] (mounts, devices, masked paths), [`userns`] (id mappings,
//!   idmapped mounts, rootless mode), [`security`] (capabilities, rlimits,
//!   no_new_privs, seccomp), [`console`] (terminals), [`hooks`] and
//!   [`program`] (finding what to execve);
//! - [`state`], [`lifecycle`] and [`exec`]: the commands after `create`;
//! - [`sealed`]: the runtime binary out of the container's reach;
//! - [`features`]: what this runtime supports, for engines.
//!
//! Nothing here imports the engine, the command line or images: it calls
//! steps 1 to 6, and of the rest of step 7 only `paths::rootless` (whether
//! it runs as root), which all three parts share.
//! Read: the runtime-spec's runtime.md, config.md and config-linux.md.

pub mod bundle;
pub mod cgroup;
pub mod console;
pub mod create;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod lifecycle;
pub mod namespaces;
pub mod program;
pub mod rootfs;
pub mod sealed;
pub mod security;
pub mod state;
pub mod userns;

/// The version of the runtime-spec this runtime writes (in `spec` and in
/// the state it reports): 1.0.2, what runc 1.1 writes. Older runtimes
/// (crun 1.8) refuse a config.json of a newer version.
pub const OCI_VERSION: &str = "1.0.2";
