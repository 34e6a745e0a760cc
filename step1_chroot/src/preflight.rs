//! Checks made before anything is created.
//!
//! Every step refuses to start, with one line saying why and what to do,
//! when the host lacks something it needs. Checking first means a failed
//! start leaves nothing behind: no half-built container to clean up.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Where `make rootfs` puts the root filesystem: `rootfs/` at the top of
/// the checkout. Taken from the source location at build time, so
/// `cargo run -p stepN` finds it from any directory of the checkout.
pub fn default_rootfs() -> PathBuf {
    let step1 = Path::new(env!("CARGO_MANIFEST_DIR"));
    step1.parent().unwrap_or(step1).join("rootfs")
}

// ANCHOR: require_root
/// Namespaces, mounts and chroot all need privileges (CAP_SYS_CHROOT,
/// CAP_SYS_ADMIN) that only root has until step 7 brings user namespaces.
pub fn require_root(needs: &str) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "needs root for {needs}: run it with sudo \
             (e.g. `cargo build && sudo target/debug/{}`); \
             step 7 adds a rootless mode",
            crate::narrate::program()
        );
    }
    Ok(())
}
// ANCHOR_END: require_root

/// The container's root filesystem as an absolute path: `--rootfs DIR`, or
/// [`default_rootfs`].
pub fn rootfs(arg: Option<&Path>) -> Result<PathBuf> {
    let path = arg.map_or_else(default_rootfs, Path::to_path_buf);
    let hint = "run `make rootfs` to create the default one, or pass --rootfs DIR";
    // Canonical, so that the narration and error messages show the real
    // path, and chroot/pivot_root get no `..` or symlinks to trip over.
    let path = path.canonicalize().map_err(|_| anyhow::anyhow!("no rootfs at {}: {hint}", path.display()))?;
    if !path.is_dir() {
        bail!("no rootfs at {}: not a directory; {hint}", path.display());
    }
    if path == Path::new("/") {
        bail!("the rootfs is the host's / : that would isolate nothing; {hint}");
    }
    path.read_dir().with_context(|| format!("cannot read the rootfs at {}", path.display()))?;
    Ok(path)
}
