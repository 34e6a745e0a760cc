//! Step 7: the full runtime.
//!
//! An OCI runtime built from steps 1-6: it runs a bundle (a rootfs and a
//! config.json) the way runc does, with the lifecycle engines drive:
//! create, start, state, kill, delete. New here: [`config`] (reading
//! config.json), [`create`] (the one implementation of container start-up),
//! [`rootfs`] (mounts, devices, masked paths), [`idmap`] (idmapped
//! mounts), [`namespaces`] (new and joined), [`userns`] (uid and gid
//! mappings), [`security`] (user, capabilities, rlimits, no_new_privs),
//! [`seccomp`], [`console`] (terminals), [`hooks`], [`state`],
//! [`lifecycle`], [`exec`] and [`sealed`] (the runtime binary out of the
//! container's reach). Everything of steps 1-6 is re-exported.

pub use step6::*;

pub mod config;
pub mod console;
pub mod create;
pub mod devices;
pub mod docker;
pub mod exec;
pub mod hooks;
pub mod idmap;
pub mod image;
pub mod lifecycle;
pub mod namespaces;
pub mod passwd;
pub mod ports;
pub mod rootfs;
pub mod rootless;
pub mod sealed;
pub mod seccomp;
pub mod security;
pub mod state;
pub mod terminal;
pub mod userns;
