//! A container's root filesystem from image layers, with overlayfs.
//!
//! The layers stay read-only and shared: overlayfs shows them stacked as
//! one tree (`lowerdir`, top layer first), and sends every write to a
//! directory of the container's own (`upperdir`): a changed file is copied
//! up there first, a deleted one leaves a whiteout there. So two
//! containers from one image share every byte of it and never see each
//! other's writes, and removing a container is removing its upper dir.
//! `workdir` is overlayfs's scratch space (same filesystem as upperdir).
//!
//! ```text
//! containers/<id>/        0700, as the whole store: nobody else's way in
//! containers/<id>/upper   the container's changes
//! containers/<id>/work
//! containers/<id>/rootfs  the overlay mount: root.path of its config
//! ```
//!
//! Where overlayfs cannot be mounted (a rootless user outside its own
//! user namespace, or a store on a filesystem overlayfs refuses as
//! upper), the layers are copied into rootfs instead: slower and not
//! shared, but the same tree. STEP7_NO_OVERLAY=1 forces the copy.
//! Read: Documentation/filesystems/overlayfs.rst.

use anyhow::{bail, Context, Result};
use nix::mount::{MntFlags, MsFlags};
use std::path::{Path, PathBuf};

use step7_image::store::{make_dir, remove_all, Store};
use step7_image::tree::Tree;

// ANCHOR: prepare
/// Make the root of container `id` from `layers` (diff_ids, bottom
/// first). `state` is the container's state directory: once this
/// process is gone, a root without one is an orphan `prune` removes.
pub fn prepare(store: &Store, id: &str, layers: &[String], state: &Path) -> Result<PathBuf> {
    let dir = store.container(id);
    if dir.exists() {
        // Left by a run killed before its container existed, or the root
        // of a live container of that name under another state directory.
        if !is_orphan(&dir) {
            bail!(
                "the image store already holds a root for a container named {id} (another --root?): \
                 choose another --name"
            );
        }
        remove(&dir)?;
    }
    // 0700: upper/ gets what the container writes, setuid programs and
    // device nodes included (as are the directories the store makes for
    // itself).
    make_dir(&dir, 0o700).with_context(|| format!("cannot make {} (is the store writable?)", dir.display()))?;
    let made = (|| -> std::io::Result<()> {
        // But 0755 below: overlayfs shows upper's owner and mode as the
        // container's `/`, and the copy makes rootfs `/` itself; 0700 and
        // a user other than root inside could look up nothing. The 0700
        // above guards only the host's path, which the container's
        // processes never take: their root is the mount itself.
        for (sub, mode) in [("upper", 0o755), ("work", 0o700), ("rootfs", 0o755)] {
            make_dir(&dir.join(sub), mode)?;
        }
        // What collection must not take while this container lives.
        std::fs::write(dir.join("layers.json"), serde_json::to_vec(layers)?)?;
        std::fs::write(dir.join("state"), state.as_os_str().as_encoded_bytes())?;
        std::fs::write(dir.join("owner"), crate::owner::owner())
    })();
    if let Err(err) = made {
        let _ = remove(&dir);
        return Err(err).with_context(|| {
            format!("cannot make the container's root in {} (is the store writable?)", dir.display())
        });
    }
    let rootfs = dir.join("rootfs");
    let made = if use_overlay() {
        mount_overlay(store, layers, &dir).or_else(|err| {
            crate::narrate!("overlayfs refused ({err:#}): copying the layers instead");
            copy_layers(store, layers, &rootfs)
        })
    } else {
        copy_layers(store, layers, &rootfs)
    };
    if let Err(err) = made {
        let _ = remove(&dir);
        return Err(err);
    }
    Ok(rootfs)
}
// ANCHOR_END: prepare

fn use_overlay() -> bool {
    // A rootless user could mount overlayfs only inside a user namespace
    // of its own; the runtime prepares the root before there is one.
    !crate::paths::rootless() && std::env::var_os("STEP7_NO_OVERLAY").is_none()
}

// ANCHOR: mount_overlay
fn mount_overlay(store: &Store, layers: &[String], dir: &Path) -> Result<()> {
    let lower: Vec<PathBuf> = layers.iter().rev().map(|diff_id| store.layer(diff_id)).collect::<Result<_>>()?;
    for layer in &lower {
        if !layer.is_dir() {
            bail!("layer {} is missing from the store: pull the image again", layer.display());
        }
    }
    let lower: Vec<String> = lower.iter().map(|l| l.display().to_string()).collect();
    let options = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        dir.join("upper").display(),
        dir.join("work").display()
    );
    // mount(2) takes at most a page of options: some 40 layers here.
    if options.len() >= 4096 {
        bail!("{} layers are too many for one overlay mount's options", layers.len());
    }
    let target = dir.join("rootfs");
    crate::narrate!("mount(\"overlay\", {target:?}, \"overlay\", 0, {options:?})");
    nix::mount::mount(Some("overlay"), &target, Some("overlay"), MsFlags::empty(), Some(options.as_str()))
        .with_context(|| format!("cannot mount overlayfs on {}", target.display()))?;
    Ok(())
}
// ANCHOR_END: mount_overlay

// ANCHOR: copy_layers
/// The fallback: each layer copied onto the last, whiteouts applied,
/// every write counted against the store's file system.
fn copy_layers(store: &Store, layers: &[String], rootfs: &Path) -> Result<()> {
    let mut tree = Tree::counted(rootfs, store.space("a nearly full disk")?)?;
    for diff_id in layers {
        step7_image::unpack::apply(&store.layer(diff_id)?, &mut tree)
            .with_context(|| format!("cannot copy layer {diff_id}"))?;
    }
    tree.finish()
}
// ANCHOR_END: copy_layers

// ANCHOR: remove
/// Unmount and remove a container's root, upper and work directories.
pub fn remove(dir: &Path) -> Result<()> {
    let rootfs = dir.join("rootfs");
    if is_mount_point(&rootfs) {
        crate::narrate!("umount2({rootfs:?}, MNT_DETACH)");
        match nix::mount::umount2(&rootfs, MntFlags::MNT_DETACH) {
            // EINVAL: unmounted meanwhile.
            Ok(()) | Err(nix::errno::Errno::EINVAL) => {}
            Err(err) => bail!("cannot unmount {}: {err}", rootfs.display()),
        }
    }
    // Never remove through a mount: that would delete in the layers'
    // view of things (whiteouts in upper at best).
    if is_mount_point(&rootfs) {
        bail!("{} is still mounted: not removing it", rootfs.display());
    }
    remove_all(dir)?;
    Ok(())
}
// ANCHOR_END: remove

/// Whether the container's root is mounted: an overlayfs mount is a file
/// system of its own, with a device number of its own, where the copy is
/// a plain directory beside upper/ and work/. (Not by the path's text in
/// /proc/self/mountinfo, which shows it with symlinks resolved and spaces
/// escaped: a store reached through a symlink would look unmounted.)
fn is_mount_point(rootfs: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let parent = rootfs.parent().unwrap_or(rootfs);
    match (std::fs::symlink_metadata(rootfs), std::fs::symlink_metadata(parent)) {
        (Ok(root), Ok(parent)) => root.dev() != parent.dev(),
        _ => false,
    }
}

// ANCHOR: orphans
/// Containers whose state directory is gone (a run killed before create
/// finished, or state on a tmpfs emptied by a reboot) and whose maker is
/// no longer running: removed by prune.
pub fn orphans(store: &Store) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(store.dir.join("containers")).into_iter().flatten().flatten();
    entries.map(|entry| entry.path()).filter(|dir| is_orphan(dir)).collect()
}

fn is_orphan(dir: &Path) -> bool {
    let state = std::fs::read(dir.join("state")).ok().map(|b| PathBuf::from(String::from_utf8_lossy(&b).to_string()));
    !state.is_some_and(|s| s.exists()) && !crate::owner::is_alive(&dir.join("owner"))
}
// ANCHOR_END: orphans
