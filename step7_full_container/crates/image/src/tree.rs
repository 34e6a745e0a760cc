//! Writing files into a directory that must contain them: a layer being
//! unpacked, or a container's root being assembled without overlayfs.
//!
//! A layer is someone else's tar archive, and tar entries are only names:
//! `../../etc/cron.d/x`, `/etc/passwd`, or `link/x` after an entry `link`
//! that is a symlink to `/`. Joining such names to a directory and calling
//! open(2) writes wherever they point (CVE-2018-15664-style escapes, the
//! "tar slip" bugs). Every path here is therefore resolved by the kernel
//! with openat2(2) and RESOLVE_IN_ROOT: the directory acts as `/` for the
//! lookup, `..` stops at it, and a symlink to `/x` means `<dir>/x`, as it
//! will inside the container. Only the last component is created, with
//! the *at() calls relative to its parent's descriptor and never
//! following a symlink there (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW). Names with
//! `..` are refused outright: no honest layer has them.
//! Every write is counted against the free space of the tree's file
//! system ([`Space`]): a layer that would fill it is stopped.
//! Read: openat2(2), path_resolution(7).

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::fcntl::{openat2, AtFlags, OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{Mode, SFlag};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};
use std::ffi::{OsStr, OsString};

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::space::{CopyError, Space};

/// What an entry says about itself beyond its name and kind.
#[derive(Clone, Copy, Debug, Default)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

/// The xattr that makes a directory opaque to overlayfs (it hides what
/// lower layers have there). trusted.* needs CAP_SYS_ADMIN; without it,
/// overlayfs reads user.* when mounted with `userxattr`.
pub fn opaque_xattr(privileged: bool) -> &'static str {
    if privileged {
        "trusted.overlay.opaque"
    } else {
        "user.overlay.opaque"
    }
}

pub struct Tree {
    root: OwnedFd,
    /// Root may set owners and make device nodes; a rootless user cannot.
    pub privileged: bool,
    /// Directory modes and times, applied last: a directory unpacked
    /// read-only (0555) must still take the entries that follow it.
    dirs: Vec<(PathBuf, Meta)>,
    space: Space,
}

impl Tree {
    /// The tree at `dir`, its writes counted against `dir`'s own file
    /// system (to read, or to write outside the store).
    pub fn open(dir: &Path) -> Result<Tree> {
        Tree::counted(dir, Space::new(dir, "a nearly full disk")?)
    }

    /// The tree at `dir`, its writes counted by `space` (the store's,
    /// [`crate::store::Store::space`]).
    pub fn counted(dir: &Path, space: Space) -> Result<Tree> {
        let root = nix::fcntl::open(dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .with_context(|| format!("cannot open {}", dir.display()))?;
        Ok(Tree { root, privileged: nix::unistd::geteuid().is_root(), dirs: Vec::new(), space })
    }

    // ANCHOR: resolve
    /// Open `rel` (a directory) with the tree as its root: whatever
    /// symlinks are on the way, the result is inside the tree.
    fn resolve(&self, rel: &Path) -> nix::Result<OwnedFd> {
        let how = OpenHow::new()
            .flags(OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
        openat2(self.root.as_fd(), rel, how)
    }
    // ANCHOR_END: resolve

    /// Read the file `rel` (resolved inside the tree, like everything).
    pub fn read(&self, rel: &Path) -> Result<Vec<u8>> {
        let how = OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
        let fd = openat2(self.root.as_fd(), rel, how)?;
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut bytes)?;
        Ok(bytes)
    }

    /// The parent directory of `rel` (made if missing) and the last name.
    fn parent(&self, rel: &Path) -> Result<(OwnedFd, OsString)> {
        let name = rel.file_name().context("an entry without a name")?.to_os_string();
        let parent = rel.parent().unwrap_or(Path::new(""));
        match self.resolve(parent) {
            Ok(fd) => Ok((fd, name)),
            Err(Errno::ENOENT) => Ok((self.make_dirs(parent)?, name)),
            Err(err) => bail!("cannot open directory {} in the layer: {err}", parent.display()),
        }
    }

    /// Make the missing directories of `rel`, one at a time, each
    /// relative to the descriptor of the one before.
    fn make_dirs(&self, rel: &Path) -> Result<OwnedFd> {
        let mut fd = self.resolve(Path::new(""))?;
        let mut done = PathBuf::new();
        for component in rel.components() {
            done.push(component);
            match self.resolve(&done) {
                Ok(next) => fd = next,
                Err(Errno::ENOENT) => {
                    self.space.name(true)?;
                    match nix::sys::stat::mkdirat(fd.as_fd(), component.as_os_str(), Mode::from_bits_truncate(0o755)) {
                        Ok(()) => {}
                        // There is a name, but not a directory we may
                        // enter: a dangling symlink planted to lead out.
                        Err(Errno::EEXIST) => bail!(
                            "{} is a symlink to nowhere in the layer: refusing to write through it",
                            done.display()
                        ),
                        Err(err) => bail!("cannot make directory {}: {err}", done.display()),
                    }
                    fd = self.resolve(&done)?;
                }
                Err(err) => bail!("cannot open directory {}: {err}", done.display()),
            }
        }
        Ok(fd)
    }

    /// Remove whatever is at `name` in `parent` (tar semantics: a later
    /// entry replaces an earlier one), except a directory about to be
    /// written again as a directory.
    fn clear(&self, parent: &OwnedFd, name: &OsStr, keep_dir: bool) -> Result<()> {
        match is_dir_at(parent, name)? {
            None => Ok(()),
            Some(true) if keep_dir => Ok(()),
            Some(is_dir) => remove_entry(parent, name, is_dir),
        }
    }

    /// Owner, mode and time of a just-made entry (not for directories,
    /// whose turn is at [`Tree::finish`]). Owner before mode: chown(2)
    /// clears setuid bits.
    fn settle(&self, parent: &OwnedFd, name: &OsStr, meta: &Meta, symlink: bool) -> Result<()> {
        if self.privileged {
            nix::unistd::fchownat(
                parent.as_fd(),
                name,
                Some(Uid::from_raw(meta.uid)),
                Some(Gid::from_raw(meta.gid)),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .with_context(|| format!("cannot chown {name:?}"))?;
        }
        if !symlink {
            nix::sys::stat::fchmodat(
                parent.as_fd(),
                name,
                Mode::from_bits_truncate(meta.mode & 0o7777),
                nix::sys::stat::FchmodatFlags::NoFollowSymlink,
            )
            .or_else(|_| {
                nix::sys::stat::fchmodat(
                    parent.as_fd(),
                    name,
                    Mode::from_bits_truncate(meta.mode & 0o7777),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
            })
            .with_context(|| format!("cannot chmod {name:?}"))?;
        }
        let time = TimeSpec::new(meta.mtime, 0);
        nix::sys::stat::utimensat(parent.as_fd(), name, &time, &time, nix::sys::stat::UtimensatFlags::NoFollowSymlink)
            .with_context(|| format!("cannot set the time of {name:?}"))?;
        Ok(())
    }

    // ANCHOR: file
    /// A regular file with `content`.
    /// `xattrs` (file capabilities, say: security.capability) are kept
    /// when root.
    pub fn file(
        &mut self,
        rel: &Path,
        meta: &Meta,
        xattrs: &[(String, Vec<u8>)],
        content: &mut dyn std::io::Read,
    ) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, false)?;
        self.space.name(true).with_context(|| format!("cannot create {}", rel.display()))?;
        // O_EXCL|O_NOFOLLOW: a new file, never one a symlink points to.
        let fd = nix::fcntl::openat(
            parent.as_fd(),
            name.as_os_str(),
            OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .with_context(|| format!("cannot create {}", rel.display()))?;
        let mut file = std::fs::File::from(fd);
        // A read error is the layer's (a damaged stream), a write error
        // the disk's: the message says which.
        self.space.copy(content, &mut file).map_err(|err| match err {
            CopyError::Read(err) => {
                anyhow::Error::new(err).context(format!("cannot read {} from the layer", rel.display()))
            }
            CopyError::Write(err) => err.context(format!("cannot write {}", rel.display())),
        })?;
        self.settle(&parent, &name, meta, false)?;
        // After chown, which would clear security.capability.
        for (key, value) in xattrs.iter().filter(|_| self.privileged) {
            let key = std::ffi::CString::new(key.as_str())?;
            // SAFETY: a valid fd, a NUL-terminated name, value and length.
            let rc = unsafe { libc::fsetxattr(file.as_raw_fd(), key.as_ptr(), value.as_ptr().cast(), value.len(), 0) };
            Errno::result(rc).with_context(|| format!("cannot set {key:?} on {}", rel.display()))?;
        }
        Ok(())
    }
    // ANCHOR_END: file

    pub fn dir(&mut self, rel: &Path, meta: &Meta) -> Result<()> {
        if rel.as_os_str().is_empty() {
            self.dirs.push((PathBuf::new(), *meta));
            return Ok(());
        }
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, true)?;
        self.space.name(true).with_context(|| format!("cannot make directory {}", rel.display()))?;
        match nix::sys::stat::mkdirat(parent.as_fd(), name.as_os_str(), Mode::from_bits_truncate(0o755)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(err) => bail!("cannot make directory {}: {err}", rel.display()),
        }
        self.dirs.push((rel.to_path_buf(), *meta));
        Ok(())
    }

    /// A symlink. Its target is not checked: it is only text until
    /// something resolves it, and inside the container that happens
    /// within the container's root (here, within the tree's).
    pub fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, false)?;
        self.space.name(true).with_context(|| format!("cannot make symlink {}", rel.display()))?;
        nix::unistd::symlinkat(target, parent.as_fd(), name.as_os_str())
            .with_context(|| format!("cannot make symlink {}", rel.display()))?;
        self.settle(&parent, &name, meta, true)
    }

    /// A hard link to `target`, an earlier entry of the same tree. linkat
    /// without AT_SYMLINK_FOLLOW links a symlink itself, never what it
    /// points to, so a link cannot reach a file outside.
    pub fn hard_link(&mut self, rel: &Path, target: &Path) -> Result<()> {
        let (target_parent, target_name) = self.parent(target)?;
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, false)?;
        self.space.name(false).with_context(|| format!("cannot link {}", rel.display()))?;
        nix::unistd::linkat(
            target_parent.as_fd(),
            target_name.as_os_str(),
            parent.as_fd(),
            name.as_os_str(),
            AtFlags::empty(),
        )
        .with_context(|| format!("cannot link {} to {}", rel.display(), target.display()))
    }

    /// A device node or FIFO. Devices need CAP_MKNOD: skipped rootless
    /// (the runtime provides /dev anyway). Returns whether it was made.
    pub fn node(&mut self, rel: &Path, kind: SFlag, dev: libc::dev_t, meta: &Meta) -> Result<bool> {
        if kind != SFlag::S_IFIFO && !self.privileged {
            return Ok(false);
        }
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, false)?;
        self.space.name(true).with_context(|| format!("cannot make node {}", rel.display()))?;
        nix::sys::stat::mknodat(parent.as_fd(), name.as_os_str(), kind, Mode::from_bits_truncate(0o600), dev)
            .with_context(|| format!("cannot make node {}", rel.display()))?;
        self.settle(&parent, &name, meta, false)?;
        Ok(true)
    }

    // ANCHOR: whiteouts
    /// overlayfs's whiteout: a character device 0:0 where a lower layer
    /// has `rel`, which hides it. (Making one needs no CAP_MKNOD since
    /// Linux 5.8.)
    pub fn whiteout(&mut self, rel: &Path) -> Result<()> {
        let (parent, name) = self.parent(rel)?;
        self.clear(&parent, &name, false)?;
        self.space.name(true).with_context(|| format!("cannot make the whiteout for {}", rel.display()))?;
        nix::sys::stat::mknodat(parent.as_fd(), name.as_os_str(), SFlag::S_IFCHR, Mode::empty(), 0)
            .with_context(|| format!("cannot make the whiteout for {}", rel.display()))?;
        Ok(())
    }

    /// An opaque directory: nothing of the lower layers shows through it.
    pub fn opaque(&mut self, rel: &Path) -> Result<()> {
        let dir = match self.resolve(rel) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => self.make_dirs(rel)?,
            Err(err) => bail!("cannot open {}: {err}", rel.display()),
        };
        let name = std::ffi::CString::new(opaque_xattr(self.privileged))?;
        // SAFETY: a valid fd, a NUL-terminated name, a 1-byte value.
        let rc = unsafe { libc::fsetxattr(dir.as_raw_fd(), name.as_ptr(), b"y".as_ptr().cast(), 1, 0) };
        Errno::result(rc).with_context(|| format!("cannot mark {} opaque", rel.display()))?;
        Ok(())
    }
    // ANCHOR_END: whiteouts

    /// Remove `rel` (applying a whiteout when layers are copied onto one
    /// directory instead of stacked by overlayfs).
    pub fn remove(&mut self, rel: &Path) -> Result<()> {
        let Some(parent) = rel.parent() else { return Ok(()) };
        let parent = match self.resolve(parent) {
            Ok(fd) => fd,
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Ok(()),
            Err(err) => bail!("cannot open {}: {err}", parent.display()),
        };
        self.clear(&parent, rel.file_name().context("no name")?, false)
    }

    /// Empty the directory `rel` (an opaque directory, when copying).
    pub fn remove_children(&mut self, rel: &Path) -> Result<()> {
        match self.resolve(rel) {
            Ok(fd) => empty_dir(&fd),
            Err(Errno::ENOENT) => Ok(()),
            Err(err) => bail!("cannot open {}: {err}", rel.display()),
        }
    }

    /// Directory modes and times, deepest first (setting a directory's
    /// time before writing into it would be undone by the write).
    pub fn finish(mut self) -> Result<()> {
        self.dirs.sort_by_key(|(path, _)| std::cmp::Reverse(path.components().count()));
        for (rel, meta) in &self.dirs {
            let dir = self.resolve(rel).with_context(|| format!("cannot reopen {}", rel.display()))?;
            if self.privileged {
                nix::unistd::fchown(dir.as_fd(), Some(Uid::from_raw(meta.uid)), Some(Gid::from_raw(meta.gid)))?;
            }
            // A rootless user keeps write permission on its own directories
            // (it could not remove the layer later otherwise).
            let mode = if self.privileged { meta.mode & 0o7777 } else { (meta.mode & 0o7777) | 0o700 };
            nix::sys::stat::fchmod(dir.as_fd(), Mode::from_bits_truncate(mode))?;
            let time = TimeSpec::new(meta.mtime, 0);
            nix::sys::stat::futimens(dir.as_fd(), &time, &time)?;
        }
        Ok(())
    }
}

/// Remove everything inside the directory `dir` (without following any
/// symlink found in it).
fn empty_dir(dir: &OwnedFd) -> Result<()> {
    let entries = nix::dir::Dir::openat(
        dir.as_fd(),
        ".",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names: Vec<std::ffi::CString> = entries
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_owned())
        .filter(|n| n.as_bytes() != b"." && n.as_bytes() != b"..")
        .collect();
    for name in names {
        let name = OsStr::from_bytes(name.as_bytes());
        if let Some(is_dir) = is_dir_at(dir, name)? {
            remove_entry(dir, name, is_dir)?;
        }
    }
    Ok(())
}

/// Whether `name` in `parent` is a directory (not following a symlink);
/// None if there is no such name.
fn is_dir_at(parent: &OwnedFd, name: &OsStr) -> Result<Option<bool>> {
    match nix::sys::stat::fstatat(parent.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)),
        Err(Errno::ENOENT) => Ok(None),
        Err(err) => bail!("cannot stat {name:?}: {err}"),
    }
}

/// Remove `name` from `parent`; a directory with everything in it.
fn remove_entry(parent: &OwnedFd, name: &OsStr, is_dir: bool) -> Result<()> {
    if is_dir {
        let flags = OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        empty_dir(&nix::fcntl::openat(parent.as_fd(), name, flags, Mode::empty())?)?;
    }
    let flag = if is_dir { nix::unistd::UnlinkatFlags::RemoveDir } else { nix::unistd::UnlinkatFlags::NoRemoveDir };
    nix::unistd::unlinkat(parent.as_fd(), name, flag).with_context(|| format!("cannot remove {name:?}"))
}

// ANCHOR: clean
/// An entry's name as a path inside the tree: leading `/` and `./`
/// dropped (tar writers add them), `..` refused.
pub fn clean(name: &Path) -> Result<PathBuf> {
    let mut rel = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => bail!("hostile layer: the entry {} climbs out with '..'", name.display()),
            Component::Prefix(_) => bail!("hostile layer: the entry {} is not a Unix path", name.display()),
        }
    }
    Ok(rel)
}
// ANCHOR_END: clean

#[cfg(test)]
mod tests {
    use super::clean;
    use std::path::Path;

    #[test]
    fn names_are_made_relative_and_dotdot_refused() {
        assert_eq!(clean(Path::new("/etc/passwd")).unwrap(), Path::new("etc/passwd"));
        assert_eq!(clean(Path::new("./usr//bin/./sh")).unwrap(), Path::new("usr/bin/sh"));
        assert_eq!(clean(Path::new("./")).unwrap(), Path::new(""));
        assert!(clean(Path::new("../etc/passwd")).is_err());
        assert!(clean(Path::new("usr/../../etc")).is_err());
    }
}
