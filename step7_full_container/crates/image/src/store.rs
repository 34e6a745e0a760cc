//! The image store: content addressed, so that what two images share is
//! stored once.
//!
//! ```text
//! /var/lib/step7/                  ($XDG_DATA_HOME/step7 rootless)
//!   blobs/sha256/<hex>             manifests, configs, compressed layers
//!   layers/sha256/<hex>/           unpacked layers, named by diff_id
//!   images.json                    name -> manifest, config, layers
//!   layers.json                    `layer add` names -> diff_id
//!   containers/<id>/               a container's upper, work and root
//!   tmp/                           downloads and unpacks in progress
//! ```
//!
//! Nothing appears under its final name until it is complete and checked:
//! it is written in tmp/ and renamed (rename(2) is atomic), so a killed
//! pull leaves only tmp/ entries, which `prune` removes, and two pulls of
//! one image at once both succeed (the second rename finds the work done).
//! Removal (`rmi`, `prune`) takes the store's lock exclusively; pulls and
//! runs take it shared, so nothing is collected while they pick it up.
//! A pull that fails takes back what it stored ([`Store::discard`]).
//!
//! The store is its owner's alone (root's, or the rootless user's): its
//! directory and those above are 0700, and so is each container's.
//! Layers are unpacked as their archives say, device nodes and setuid
//! root programs included, and containers write their own into upper/.
//! Were the path to them open, any user of the host could open an
//! image's node for the host's disk (8:0) or run its setuid shell: root
//! would be one `step7 pull` of a hostile image away. (Docker keeps
//! /var/lib/docker's directories 0700, or 0710 where a remapped root
//! must pass.) A container does not need the path: its processes reach
//! their files through the root they were given, the overlay mount or
//! the copy, never through the store.

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::Permissions;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::Hashing;
use crate::reference::check_digest;

/// What the store knows of a pulled image.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImageRecord {
    /// Digest of the manifest (of the platform's, for a multi-arch image).
    pub manifest: String,
    pub config: String,
    /// Compressed layer blobs, bottom first.
    pub layers: Vec<String>,
    /// The same layers uncompressed (what layers/ is named by).
    pub diff_ids: Vec<String>,
    /// Sum of the compressed layer sizes.
    pub size: u64,
    pub platform: String,
    pub pulled: String,
}

/// A layer made by `step7 layer add`, under a name of its own.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NamedLayer {
    /// The tar it was made from.
    pub blob: String,
    pub diff_id: String,
    pub size: u64,
    pub added: String,
}

pub struct Store {
    pub dir: PathBuf,
    lock: Flock<std::fs::File>,
    exclusive: bool,
}

impl Store {
    // ANCHOR: open
    /// Open (making it if needed) the store at `dir`; `exclusive` for
    /// removals, shared otherwise.
    pub fn open(dir: &Path, exclusive: bool) -> Result<Store> {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let subs = ["blobs", "blobs/sha256", "layers", "layers/sha256", "containers", "tmp"];
        for path in std::iter::once(dir.to_path_buf()).chain(subs.iter().map(|sub| dir.join(sub))) {
            private_dir(&path).with_context(|| {
                format!("cannot make {} a directory of mode 0700 for the image store (is it yours?)", path.display())
            })?;
        }
        let path = dir.join("lock");
        let file = std::fs::File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let how = if exclusive { FlockArg::LockExclusive } else { FlockArg::LockShared };
        let lock =
            Flock::lock(file, how).map_err(|(_, e)| e).with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(Store { dir: dir.to_path_buf(), lock, exclusive })
    }
    // ANCHOR_END: open

    pub fn blob(&self, digest: &str) -> Result<PathBuf> {
        Ok(self.dir.join("blobs/sha256").join(check_digest(digest)?))
    }

    pub fn layer(&self, diff_id: &str) -> Result<PathBuf> {
        Ok(self.dir.join("layers/sha256").join(check_digest(diff_id)?))
    }

    pub fn container(&self, id: &str) -> PathBuf {
        self.dir.join("containers").join(id)
    }

    /// A fresh name in tmp/.
    pub fn temp(&self, what: &str) -> PathBuf {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.dir.join("tmp").join(format!("{what}-{}-{n}", std::process::id()))
    }

    // ANCHOR: put_blob
    /// Store `content` as the blob `digest`, hashing it as it streams to
    /// disk. A mismatch is an error and leaves nothing behind.
    pub fn put_blob(&self, digest: &str, content: impl Read) -> Result<PathBuf> {
        let path = self.blob(digest)?;
        let (temp, got, _) = self.write_temp(content).with_context(|| format!("downloading {digest} failed"))?;
        if got != digest {
            let _ = std::fs::remove_file(&temp);
            bail!("blob {digest} arrived with digest {got}: corrupt or tampered with, so not stored");
        }
        std::fs::rename(&temp, &path).with_context(|| format!("cannot store {}", path.display()))?;
        Ok(path)
    }

    /// `content` into tmp/, hashed on the way: the file, its digest and
    /// its size.
    fn write_temp(&self, content: impl Read) -> Result<(PathBuf, String, u64)> {
        let temp = self.temp("blob");
        let mut hashing = Hashing::new(content);
        let copied = std::fs::File::create(&temp).and_then(|mut file| std::io::copy(&mut hashing, &mut file));
        if let Err(err) = copied {
            let _ = std::fs::remove_file(&temp);
            return Err(err.into());
        }
        Ok((temp, hashing.digest(), hashing.bytes))
    }
    // ANCHOR_END: put_blob

    /// Store `content` under the digest it turns out to have (a tar of
    /// `layer add`: there is no name to check it against). Returns the
    /// digest and the size.
    pub fn put_new(&self, content: impl Read) -> Result<(String, u64)> {
        let (temp, digest, size) = self.write_temp(content)?;
        let path = self.blob(&digest)?;
        std::fs::rename(&temp, &path).with_context(|| format!("cannot store {}", path.display()))?;
        Ok((digest, size))
    }

    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob(digest)?;
        std::fs::read(&path).with_context(|| format!("blob {digest} is not in the store (pull the image again)"))
    }

    pub fn images(&self) -> BTreeMap<String, ImageRecord> {
        read_json(&self.dir.join("images.json"))
    }

    pub fn named_layers(&self) -> BTreeMap<String, NamedLayer> {
        read_json(&self.dir.join("layers.json"))
    }

    /// Change images.json under a lock of its own (pulls run side by side
    /// under the shared store lock).
    pub fn update_images(&self, change: impl FnOnce(&mut BTreeMap<String, ImageRecord>)) -> Result<()> {
        self.update(Path::new("images.json"), change)
    }

    pub fn update_named_layers(&self, change: impl FnOnce(&mut BTreeMap<String, NamedLayer>)) -> Result<()> {
        self.update(Path::new("layers.json"), change)
    }

    fn update<T: Serialize + serde::de::DeserializeOwned + Default>(
        &self,
        file: &Path,
        change: impl FnOnce(&mut T),
    ) -> Result<()> {
        let lock_path = self.dir.join("index.lock");
        let lock = std::fs::File::create(&lock_path).with_context(|| format!("cannot open {}", lock_path.display()))?;
        let _lock = Flock::lock(lock, FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let path = self.dir.join(file);
        let mut value: T = read_json(&path);
        change(&mut value);
        let temp = self.temp("index");
        std::fs::write(&temp, serde_json::to_vec_pretty(&value)?)
            .with_context(|| format!("cannot write {}", temp.display()))?;
        std::fs::rename(&temp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Digests every container of this store is using (layers.json in
    /// its directory).
    fn container_layers(&self) -> BTreeSet<String> {
        let mut used = BTreeSet::new();
        for entry in std::fs::read_dir(self.dir.join("containers")).into_iter().flatten().flatten() {
            let layers: Vec<String> = read_json(&entry.path().join("layers.json"));
            used.extend(layers);
        }
        used
    }

    /// The blobs and the layers that some image, named layer or container
    /// refers to.
    fn in_use(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut blobs: BTreeSet<String> = BTreeSet::new();
        let mut layers: BTreeSet<String> = self.container_layers();
        for image in self.images().into_values() {
            blobs.insert(image.manifest);
            blobs.insert(image.config);
            blobs.extend(image.layers);
            layers.extend(image.diff_ids);
        }
        for layer in self.named_layers().into_values() {
            // A named layer keeps the tar it was made from.
            blobs.insert(layer.blob);
            layers.insert(layer.diff_id);
        }
        (blobs, layers)
    }

    // ANCHOR: collect
    /// Remove every blob and layer that no image, named layer or
    /// container refers to, and whatever a killed command left in tmp/.
    /// Needs the exclusive lock. Returns the bytes freed (roughly).
    pub fn collect(&self) -> Result<u64> {
        let (blobs, layers) = self.in_use();
        let mut freed = 0;
        for (dir, keep) in [("blobs/sha256", &blobs), ("layers/sha256", &layers)] {
            for entry in list_dir(&self.dir.join(dir))? {
                let digest = format!("sha256:{}", entry.file_name().to_string_lossy());
                if !keep.contains(&digest) {
                    freed += remove_all(&entry.path())?;
                }
            }
        }
        for entry in list_dir(&self.dir.join("tmp"))? {
            freed += remove_all(&entry.path())?;
        }
        Ok(freed)
    }
    // ANCHOR_END: collect

    // ANCHOR: discard
    /// Remove those of `blobs` and `layers` (what a failed pull or `layer
    /// add` stored) that no image, named layer or container refers to. A
    /// shared lock is not enough: a pull beside this one may have found
    /// one of them here and be about to name it in its image. So only if
    /// the lock can be had exclusively at once; if not, false: the rest
    /// is for `prune`.
    pub fn discard(&self, blobs: &[String], layers: &[String]) -> Result<bool> {
        if !self.exclusive && !self.lock_alone()? {
            return Ok(false);
        }
        let (used_blobs, used_layers) = self.in_use();
        let removed = (|| {
            for blob in blobs.iter().filter(|b| !used_blobs.contains(*b)) {
                remove_all(&self.blob(blob)?)?;
            }
            for layer in layers.iter().filter(|l| !used_layers.contains(*l)) {
                remove_all(&self.layer(layer)?)?;
            }
            Ok(true)
        })();
        if !self.exclusive {
            self.relock(FlockArg::LockShared)?;
        }
        removed
    }
    // ANCHOR_END: discard

    /// Turn the shared lock exclusive if nobody else holds the store.
    /// flock(2) converts by dropping the lock first, so a refusal leaves
    /// none: the shared one is taken again.
    fn lock_alone(&self) -> Result<bool> {
        match self.lock.relock(FlockArg::LockExclusiveNonblock) {
            Ok(()) => Ok(true),
            Err(nix::errno::Errno::EWOULDBLOCK) => self.relock(FlockArg::LockShared).map(|()| false),
            Err(err) => Err(err).with_context(|| format!("cannot lock {}", self.dir.join("lock").display())),
        }
    }

    fn relock(&self, how: FlockArg) -> Result<()> {
        self.lock.relock(how).with_context(|| format!("cannot lock {}", self.dir.join("lock").display()))
    }
}

// ANCHOR: private_dir
/// Make `dir` with mode 0700, or chmod it to 0700 if it is open to others
/// (as an older step7 made the store). Not a sticky directory, though
/// (/tmp given as --store): that one is meant to be shared, and the 0700
/// directories made in it keep the content private anyway.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => return Err(err),
        _ => {}
    }
    let mode = std::fs::metadata(dir)?.permissions().mode();
    if mode & 0o077 != 0 && mode & libc::S_ISVTX == 0 {
        std::fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    }
    Ok(())
}
// ANCHOR_END: private_dir

/// mkdir(2) with exactly `mode`: the umask may take bits away, so chmod
/// after.
pub fn make_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(mode).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(mode))
}

/// The entries of directory `dir`.
fn list_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(entries.flatten().collect())
}

fn read_json<T: serde::de::DeserializeOwned + Default>(path: &Path) -> T {
    std::fs::read(path).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

/// Remove a file or a whole tree, returning the bytes it held. Unpacked
/// layers may hold read-only directories; as their owner we may still
/// remove them, after making them writable again (rootless).
pub fn remove_all(path: &Path) -> Result<u64> {
    let stat = match std::fs::symlink_metadata(path) {
        Ok(stat) => stat,
        Err(_) => return Ok(0),
    };
    if !stat.is_dir() {
        std::fs::remove_file(path).with_context(|| format!("cannot remove {}", path.display()))?;
        return Ok(stat.len());
    }
    let mut size = 0;
    let _ = std::fs::set_permissions(path, Permissions::from_mode(0o700));
    for entry in list_dir(path)? {
        size += remove_all(&entry.path())?;
    }
    std::fs::remove_dir(path).with_context(|| format!("cannot remove {}", path.display()))?;
    Ok(size)
}

/// "3.2 MiB"
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
