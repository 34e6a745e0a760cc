//! Paths inside the rootfs, resolved as the container will see them.
//!
//! A mount target such as /proc is a path *inside* the rootfs, and the
//! rootfs is untrusted input: if /proc in it is a symlink to /etc, a
//! runtime that joins the two and calls mount(2) mounts over the host's
//! /etc. So symlinks are followed here as if the rootfs were `/`.
//! (runc now resolves by file descriptor with openat2(2)
//! RESOLVE_IN_ROOT, which also closes the window between resolving and
//! mounting; step 7's image unpacking does, in `step7_image::tree`.)
//! Read: path_resolution(7), CVE-2021-30465.

use anyhow::{bail, Result};
use std::path::{Component, Path, PathBuf};

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

#[cfg(test)]
mod tests {
    use super::*;

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
