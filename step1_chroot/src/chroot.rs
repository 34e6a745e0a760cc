//! chroot(2): give the container its own root directory.
//!
//! Every process has a root directory, the point where path lookup starts
//! for absolute paths and where `..` stops. chroot changes it for the
//! calling process (and children that inherit it). After
//! `chroot("/srv/rootfs")`, the path `/bin/sh` means `/srv/rootfs/bin/sh`.
//!
//! That is all chroot does. It moves no mounts, hides no processes and is
//! not a security boundary: a root process inside can call chroot again and
//! walk out with `..` (see the guide's chroot chapter and
//! `examples/chroot_escape.rs`). Step 3 replaces it with pivot_root(2) in a
//! mount namespace. Read: chroot(2), path_resolution(7).

use anyhow::{Context, Result};
use std::path::Path;

// ANCHOR: enter
/// Make `rootfs` the root directory of this process.
pub fn enter(rootfs: &Path) -> Result<()> {
    crate::narrate!("chroot({:?})", rootfs);
    nix::unistd::chroot(rootfs).with_context(|| format!("chroot({}) failed", rootfs.display()))?;

    // chroot does not move the working directory. Without this chdir the
    // process would still sit in a directory of the host, outside its new
    // root, and relative paths (and `..`) would resolve on the host.
    crate::narrate!("chdir(\"/\")");
    nix::unistd::chdir("/").context("chdir(\"/\") inside the new root failed")?;
    Ok(())
}
// ANCHOR_END: enter
