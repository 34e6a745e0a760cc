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
//! A pull whose content is refused takes back what it stored
//! ([`Store::take_back`]).
//!
//! The store is its owner's alone (root's, or the rootless user's): the
//! directories it makes for itself (its own and those in the listing
//! above) are 0700, and so is each container's. Layers are unpacked as
//! their archives say, device nodes and setuid root programs included,
//! and containers write their own into upper/. Were the path to them
//! open, any user of the host could open an image's node for the host's
//! disk (8:0) or run its setuid shell: root would be one `step7 pull` of
//! a hostile image away. (Docker had this bug until 20.10.9,
//! CVE-2021-41091: its data root is 0710 since, its group root's or the
//! remapped root's; containerd had it too, CVE-2021-41103.) A container
//! does not need the path: its processes reach their files through the
//! root they were given, the overlay mount or the copy, never through
//! the store. And nobody else may write in the store: a "layer" planted
//! under a diff_id would be taken for the one a pull unpacked.

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::Permissions;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::digest::Hashing;
use crate::reference::check_digest;
use crate::space::{CopyError, Space};
use crate::{human, Refused, MAX_DOCUMENT};

/// The directories of the store, below its own.
const DIRS: [&str; 6] = ["blobs", "blobs/sha256", "layers", "layers/sha256", "containers", "tmp"];

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
    /// What this handle stored, for [`Store::take_back`].
    stored: RefCell<Stored>,
}

/// Blobs (digests) and layers (diff_ids) one handle stored.
#[derive(Default)]
struct Stored {
    blobs: Vec<String>,
    layers: Vec<String>,
}

/// How [`Store::take_back`] went.
pub enum TakeBack {
    /// Removed, or there was nothing to remove.
    Done,
    /// Another command holds the store: what was stored stays for `prune`.
    Deferred,
    Failed(anyhow::Error),
}

impl Store {
    // ANCHOR: open
    /// Open (making it if needed) the store at `dir`; `exclusive` for
    /// removals, shared otherwise.
    pub fn open(dir: &Path, exclusive: bool) -> Result<Store> {
        // Before anything is made: a bad STEP7_STORE_MIN_FREE.
        crate::space::min_free_setting()?;
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        // The store's own directory first: once it is ours and closed to
        // other writers, nobody else can add anything below it.
        private_dir(dir, true)?;
        for sub in DIRS {
            private_dir(&dir.join(sub), false)?;
        }
        let path = dir.join("lock");
        let file = std::fs::File::create(&path).with_context(|| format!("cannot open {}", path.display()))?;
        let how = if exclusive { FlockArg::LockExclusive } else { FlockArg::LockShared };
        let lock =
            Flock::lock(file, how).map_err(|(_, e)| e).with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(Store { dir: dir.to_path_buf(), lock, exclusive, stored: RefCell::default() })
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

    /// The writes of one command into the store, counted against its file
    /// system. `suspect`: what running out of room most likely means.
    pub fn space(&self, suspect: &'static str) -> Result<Space> {
        Space::new(&self.dir, suspect)
    }

    // ANCHOR: put_blob
    /// Store `content` as the blob `digest` of `size` bytes (the
    /// manifest's word for both), hashing it as it streams to disk. At
    /// most `size` + 1 bytes are read, however long the registry would go
    /// on, and each is charged to the store's [`Space`] first. Anything
    /// but `size` bytes of that digest is an error and leaves nothing.
    pub fn put_blob(&self, digest: &str, size: u64, content: impl Read) -> Result<PathBuf> {
        let path = self.blob(digest)?;
        let space = self.space("more than the disk has room for")?;
        let (temp, got, bytes) = self
            .write_temp(content.take(size.saturating_add(1)), &space)
            .with_context(|| format!("cannot download {digest}"))?;
        if (got.as_str(), bytes) != (digest, size) {
            let _ = std::fs::remove_file(&temp);
            if bytes > size {
                bail!(Refused(format!(
                    "the registry sent more than the manifest's {size} bytes for {digest}: refusing it"
                )));
            }
            if got == digest {
                bail!(Refused(format!("{digest} is {bytes} bytes, not the manifest's {size}: refusing the image")));
            }
            if bytes < size {
                // A cut, most likely: not a refusal of the content.
                bail!("the download of {digest} ended after {bytes} of its {size} bytes: pull again");
            }
            bail!(Refused(format!("blob {digest} arrived with digest {got}: corrupt or tampered with, so not stored")));
        }
        std::fs::rename(&temp, &path).with_context(|| format!("cannot store {}", path.display()))?;
        self.stored.borrow_mut().blobs.push(digest.to_string());
        Ok(path)
    }

    /// `content` into tmp/, hashed on the way and charged to `space`: the
    /// file, its digest and its size.
    fn write_temp(&self, content: impl Read, space: &Space) -> Result<(PathBuf, String, u64)> {
        let temp = self.temp("blob");
        let mut hashing = Hashing::new(content);
        let copied = match std::fs::File::create(&temp) {
            Ok(mut file) => space.copy(&mut hashing, &mut file),
            Err(err) => Err(CopyError::Write(err.into())),
        };
        match copied {
            Ok(_) => Ok((temp, hashing.digest(), hashing.bytes)),
            Err(err) => {
                let _ = std::fs::remove_file(&temp);
                Err(match err {
                    CopyError::Read(err) => err.into(),
                    CopyError::Write(err) => err.context(format!("cannot write {}", temp.display())),
                })
            }
        }
    }
    // ANCHOR_END: put_blob

    /// Store `content` under the digest it turns out to have (a tar of
    /// `layer add`: there is no name to check it against). Returns the
    /// digest and the size.
    pub fn put_new(&self, content: impl Read) -> Result<(String, u64)> {
        let (temp, digest, size) = self.write_temp(content, &self.space("a nearly full disk")?)?;
        let path = self.blob(&digest)?;
        std::fs::rename(&temp, &path).with_context(|| format!("cannot store {}", path.display()))?;
        self.stored.borrow_mut().blobs.push(digest.clone());
        Ok((digest, size))
    }

    /// The layer `diff_id` is one this handle unpacked.
    pub(crate) fn stored_layer(&self, diff_id: &str) {
        self.stored.borrow_mut().layers.push(diff_id.to_string());
    }

    /// The blob `digest` (a config), whole: at most [`MAX_DOCUMENT`].
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>> {
        let path = self.blob(digest)?;
        let file = std::fs::File::open(&path)
            .with_context(|| format!("blob {digest} is not in the store (pull the image again)"))?;
        let mut bytes = Vec::new();
        file.take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            bail!(Refused(format!("blob {digest} is more than {}: too big to be read whole", human(MAX_DOCUMENT))));
        }
        Ok(bytes)
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
            let found = list_dir(&self.dir.join(dir))?.into_iter();
            freed +=
                remove_unused(found.map(|e| (format!("sha256:{}", e.file_name().to_string_lossy()), e.path())), keep)?;
        }
        for entry in list_dir(&self.dir.join("tmp"))? {
            freed += remove_all(&entry.path())?;
        }
        Ok(freed)
    }
    // ANCHOR_END: collect

    // ANCHOR: take_back
    /// Remove what this handle stored (with put_blob, put_new, or a
    /// layer unpacked) that no image, named layer or container refers to:
    /// after a refusal, so that a refused image leaves nothing.
    ///
    /// A shared lock is not enough to remove: a pull beside this one may
    /// have found one of them here and be about to name it in its image.
    /// So the lock is turned exclusive if that can be had at once
    /// (LOCK_NB); if not, Deferred, and the rest is for `prune`. flock(2)
    /// converts by dropping the shared lock first: for a moment this
    /// command holds no lock, and an `rmi` or `prune` may slip in and
    /// collect. Only a command about to fail, which picks up nothing
    /// more from the store, may take back.
    pub fn take_back(&self) -> TakeBack {
        let stored = self.stored.take();
        if stored.blobs.is_empty() && stored.layers.is_empty() {
            return TakeBack::Done;
        }
        if !self.exclusive {
            match self.lock_alone() {
                Ok(true) => {}
                Ok(false) => return TakeBack::Deferred,
                Err(err) => return TakeBack::Failed(err),
            }
        }
        let removed = (|| {
            let (used_blobs, used_layers) = self.in_use();
            let blobs: Vec<_> = stored.blobs.iter().map(|d| Ok((d.clone(), self.blob(d)?))).collect::<Result<_>>()?;
            let layers: Vec<_> =
                stored.layers.iter().map(|d| Ok((d.clone(), self.layer(d)?))).collect::<Result<_>>()?;
            remove_unused(blobs, &used_blobs)?;
            remove_unused(layers, &used_layers)
        })();
        let relocked = if self.exclusive { Ok(()) } else { self.relock(FlockArg::LockShared) };
        match (removed, relocked) {
            (Ok(_), Ok(())) => TakeBack::Done,
            (Err(err), Ok(())) => TakeBack::Failed(err),
            (Ok(_), Err(relock)) => TakeBack::Failed(relock.context("removed what was stored, but then")),
            (Err(err), Err(relock)) => TakeBack::Failed(err.context(format!("{relock:#}; and before that"))),
        }
    }
    // ANCHOR_END: take_back

    /// What this handle stored is no longer its to take back: named in
    /// an image now, or kept for the next try of a pull cut short.
    pub fn keep_stored(&self) {
        self.stored.take();
    }

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
/// Make `dir`, a directory of the store, or check the one there: a
/// directory, ours, that nobody else may write; left mode 0700. One
/// already there is not trusted for being there: with `--store /tmp`
/// (or a store in any directory others may write) another user could
/// have made `layers/` first and kept it, to plant a "layer" under the
/// diff_id of one you will pull, which the pull would then take as
/// unpacked. `top`: the store's own directory (not one in it).
fn private_dir(dir: &Path, top: bool) -> Result<()> {
    match make_dir(dir, 0o700) {
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        made => return made.with_context(|| format!("cannot make {} for the image store", dir.display())),
    }
    let fd = match open_dir(dir) {
        Err(Errno::ENOTDIR | Errno::ELOOP) if dir.symlink_metadata().is_ok_and(|m| m.is_symlink()) => bail!(
            "{} is a symlink: the image store follows none, it could lead anywhere (remove it, or choose another --store)",
            dir.display()
        ),
        opened => opened.with_context(|| format!("cannot open {} (the image store)", dir.display()))?,
    };
    let stat = nix::sys::stat::fstat(&fd).with_context(|| format!("cannot stat {}", dir.display()))?;
    let mode = stat.st_mode & 0o7777;
    // Sticky or not: the sticky bit stops others removing what is ours,
    // not adding what is theirs.
    if mode & 0o022 != 0 {
        let instead = match top {
            true => {
                format!("choose a directory of your own inside it, such as --store {}", dir.join("step7").display())
            }
            false => "choose another --store".to_string(),
        };
        bail!(
            "{} may be written by others (mode {mode:o}): they could plant layers in the image store; {instead}",
            dir.display()
        );
    }
    let me = nix::unistd::geteuid().as_raw();
    if stat.st_uid != me {
        bail!("{} belongs to uid {}, not to uid {me}: choose another --store", dir.display(), stat.st_uid);
    }
    if mode != 0o700 {
        // Only searchable by others: as an older step7 made the store.
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(0o700))
            .with_context(|| format!("cannot chmod {} to 0700", dir.display()))?;
    }
    Ok(())
}
// ANCHOR_END: private_dir

/// mkdir(2) with exactly `mode`: the umask may take bits away, so
/// fchmod(2) after, on the directory just made (opened without following
/// a symlink, should one have taken its name meanwhile).
pub fn make_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(mode).create(dir)?;
    let fd = open_dir(dir)?;
    nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))?;
    Ok(())
}

/// open(2) the directory `dir` itself: O_NOFOLLOW makes a symlink in its
/// place fail (ENOTDIR with O_DIRECTORY, else ELOOP) instead of leading
/// elsewhere.
fn open_dir(dir: &Path) -> nix::Result<OwnedFd> {
    let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
    nix::fcntl::open(dir, flags, Mode::empty())
}

/// The entries of directory `dir`.
fn list_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    Ok(entries.flatten().collect())
}

/// Remove those of the blobs or layers `found` (digest and path) that
/// `keep` lacks. Returns the bytes freed.
fn remove_unused(found: impl IntoIterator<Item = (String, PathBuf)>, keep: &BTreeSet<String>) -> Result<u64> {
    let mut freed = 0;
    for (digest, path) in found {
        if !keep.contains(&digest) {
            freed += remove_all(&path)?;
        }
    }
    Ok(freed)
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
