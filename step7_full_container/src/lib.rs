//! Step 7: the full runtime, in three parts.
//!
//! - [`oci`]: runc's half. An OCI runtime built from steps 1-6: it runs
//!   a bundle (a rootfs and a config.json) the way runc does, with the
//!   lifecycle engines drive: create, start, state, kill, delete, exec.
//!   It knows nothing of images, flags or output.
//! - [`engine`]: docker's half, as a library that never prints: a
//!   validated set of run options becomes a Spec, a root filesystem (an
//!   image's layers under overlayfs), a network and published ports, and a
//!   container record that `ps`, `logs`, `stop` and `rm` find again.
//!   Compose files and the PaaS to come call it as the command line does.
//! - the command line (`src/cli/`, the `step7` binary only): clap, tables,
//!   the terminal, progress bars.
//!
//! Images (references, registries, the store, unpacking) are a crate of
//! their own, `step7-image`, which the engine uses. [`paths`] says where
//! everything lives, for root and for everybody else. Everything of steps
//! 1-6 is re-exported.

pub use step6::*;

pub mod engine;
pub mod oci;
pub mod paths;
