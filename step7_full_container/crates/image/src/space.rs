//! Free space while writing into the store: a layer's size says nothing
//! of what it becomes. Gzip expands zeros about a thousandfold, so a
//! 200 KiB layer can hold 200 MiB, and a layer of a few MiB can hold a
//! million empty files (inodes run out before the bytes do). Unpacked
//! blindly, such a *decompression bomb* fills the file system of the
//! store, and with it everybody's logs and databases, and stops only at
//! ENOSPC. A download is bounded by the size its manifest declares, but
//! nothing bounds what a manifest declares.
//!
//! So every write into the store (a download, a [`crate::tree::Tree`]
//! being unpacked or copied) is counted, and at least every MiB
//! fstatvfs(3) says how much the file system has left. Writing stops,
//! with an error saying where and how much, while there is still a
//! reserve (`min_free`). `STEP7_STORE_MIN_FREE=BYTES` sets another
//! reserve: a test on a small tmpfs, or a disk you know has room.
//! Read: statvfs(3), and the `-m` option of mke2fs(8).

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::statvfs::{fstatvfs, Statvfs};
use std::cell::Cell;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::human;
use crate::Refused;

/// What a name costs besides its content: a block for a small file, a
/// directory or a symlink on file systems with 4 KiB blocks, a page on
/// tmpfs. Charged so that a million empty files count as what they take.
const ENTRY: u64 = 4096;

/// fstatvfs(3) again after this much, even within budget: other programs
/// write to the same file system meanwhile.
const CHECK_EVERY: u64 = 1 << 20;

/// The environment variable that sets the reserve in bytes.
const MIN_FREE_VAR: &str = "STEP7_STORE_MIN_FREE";

/// $STEP7_STORE_MIN_FREE, read and parsed once per process. The store
/// asks first, when it is opened: a bad value is said before anything is
/// made, not halfway through a pull.
pub fn min_free_setting() -> Result<Option<u64>> {
    static SETTING: OnceLock<Result<Option<u64>, String>> = OnceLock::new();
    let setting = SETTING.get_or_init(|| match std::env::var_os(MIN_FREE_VAR) {
        None => Ok(None),
        Some(value) => parse_min_free(&value.to_string_lossy()).map(Some).map_err(|err| format!("{err:#}")),
    });
    setting.clone().map_err(anyhow::Error::msg)
}

fn parse_min_free(value: &str) -> Result<u64> {
    value.trim().parse().with_context(|| format!("{MIN_FREE_VAR}={value}: not a number of bytes"))
}

// ANCHOR: min_free
/// What must stay free on a file system of `size` bytes: `setting`
/// ($STEP7_STORE_MIN_FREE) bytes if given; else 5% of it, at most 1 GiB.
///
/// Docker and containerd do not check: a bomb stops at ENOSPC, when the
/// disk is full for everyone. kubelet, by default, starts evicting pods
/// when the file system of the images (its *imagefs*, the node's own
/// unless they have one apart) has less than 15% free
/// (`imagefs.available<15%`), and mke2fs keeps 5% for root. The reserve
/// here comes on top of that one (statvfs's f_bavail leaves it out, and
/// root could eat it); 5% is the same share, and keeps a small disk or
/// tmpfs usable (3.2 MiB of 64 MiB). On a big disk 1 GiB is plenty for
/// logs to go on, where 5% of 2 TB would refuse a pull with 100 GiB free.
fn min_free(size: u64, setting: Option<u64>) -> u64 {
    setting.unwrap_or((size / 20).min(1 << 30))
}
// ANCHOR_END: min_free

/// Inodes kept free, likewise: 5% (kubelet's `nodefs.inodesFree<5%`), at
/// most 65536 (what 1 GiB holds at mke2fs's default of an inode per
/// 16 KiB). None where the file system has no fixed number (btrfs says 0).
fn min_free_inodes(fs: &Statvfs) -> Option<u64> {
    let files = fs.files();
    (files > 0).then(|| (files / 20).min(65536))
}

/// What the last fstatvfs(3) found, and the reserve.
#[derive(Clone, Copy, Default)]
struct Measure {
    free: u64,
    keep: u64,
    inodes: u64,
    keep_inodes: u64,
}

/// The writes into a directory of the store, counted against its file
/// system.
pub struct Space {
    /// The directory whose file system is measured, held open:
    /// fstatvfs(3) on it, never a path looked up again.
    fd: OwnedFd,
    /// What the refusal names: the store, not the temporary directory
    /// that goes with the refusal.
    dir: PathBuf,
    /// What a refusal most likely means here ("a decompression bomb").
    suspect: &'static str,
    setting: Option<u64>,
    /// Bytes and inodes that may be used before fstatvfs(3) is asked again.
    budget: Cell<(u64, u64)>,
    /// Bytes charged since then.
    since: Cell<u64>,
    /// Content bytes written and names made, for the error.
    written: Cell<(u64, u64)>,
    last: Cell<Measure>,
}

/// Why [`Space::copy`] stopped: the source failed, or the write was
/// refused or failed.
pub enum CopyError {
    Read(std::io::Error),
    Write(anyhow::Error),
}

impl Space {
    /// The writes into `dir` and below. `suspect`: what a refusal most
    /// likely means, in the words of the caller, who knows what it writes.
    /// Nothing measured yet: the first write measures.
    pub fn new(dir: &Path, suspect: &'static str) -> Result<Space> {
        let fd = nix::fcntl::open(dir, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
            .with_context(|| format!("cannot open {}", dir.display()))?;
        Ok(Space {
            fd,
            dir: dir.to_path_buf(),
            suspect,
            setting: min_free_setting()?,
            budget: Cell::new((0, 0)),
            since: Cell::new(0),
            written: Cell::new((0, 0)),
            last: Cell::new(Measure::default()),
        })
    }

    // ANCHOR: take
    /// Before writing `bytes` of a file's content.
    pub fn write(&self, bytes: u64) -> Result<()> {
        self.take(bytes, 0)?;
        let (written, names) = self.written.get();
        self.written.set((written + bytes, names));
        Ok(())
    }

    /// Before making a name: a new inode (a file, directory, node,
    /// symlink) or only a directory entry (a hard link).
    pub fn name(&self, new_inode: bool) -> Result<()> {
        self.take(ENTRY, new_inode.into())?;
        let (written, names) = self.written.get();
        self.written.set((written, names + 1));
        Ok(())
    }

    /// Refused if it would eat into the reserve, as last measured.
    fn take(&self, bytes: u64, inodes: u64) -> Result<()> {
        let (mut left, mut left_inodes) = self.budget.get();
        if bytes > left || inodes > left_inodes || self.since.get() >= CHECK_EVERY {
            (left, left_inodes) = self.measure()?;
        }
        if bytes > left {
            bail!(Refused(self.refusal(false)));
        }
        if inodes > left_inodes {
            bail!(Refused(self.refusal(true)));
        }
        self.budget.set((left - bytes, left_inodes - inodes));
        self.since.set(self.since.get() + bytes);
        Ok(())
    }
    // ANCHOR_END: take

    /// `content` into `file`, each piece charged before it is written.
    /// Returns the bytes copied.
    pub fn copy(&self, content: &mut dyn Read, file: &mut dyn Write) -> Result<u64, CopyError> {
        let mut buf = [0u8; 64 * 1024];
        let mut copied = 0;
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => return Ok(copied),
                Ok(n) => n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(CopyError::Read(err)),
            };
            self.write(n as u64).map_err(CopyError::Write)?;
            file.write_all(&buf[..n]).map_err(|err| CopyError::Write(err.into()))?;
            copied += n as u64;
        }
    }

    /// fstatvfs(3) of the directory's file system: the new budget.
    fn measure(&self) -> Result<(u64, u64)> {
        let fs = fstatvfs(&self.fd).with_context(|| format!("fstatvfs({}) failed", self.dir.display()))?;
        let keep_inodes = min_free_inodes(&fs);
        let measure = Measure {
            // f_bavail: what an unprivileged user could still get, so
            // that ext4's reserve for root stays untouched too.
            free: fs.blocks_available() as u64 * fs.fragment_size() as u64,
            keep: min_free(fs.blocks() as u64 * fs.fragment_size() as u64, self.setting),
            inodes: fs.files_available() as u64,
            keep_inodes: keep_inodes.unwrap_or(0),
        };
        self.last.set(measure);
        self.since.set(0);
        let inodes = match keep_inodes {
            Some(keep) => measure.inodes.saturating_sub(keep),
            None => u64::MAX,
        };
        let budget = (measure.free.saturating_sub(measure.keep), inodes);
        self.budget.set(budget);
        Ok(budget)
    }

    /// What, how much and where, and what to do.
    fn refusal(&self, inodes: bool) -> String {
        let Measure { free, keep, inodes: free_inodes, keep_inodes } = self.last.get();
        let (written, names) = self.written.get();
        let what = if inodes {
            format!("{names} files made so far, {free_inodes} inodes left on its file system, which step7 keeps {keep_inodes} free")
        } else {
            format!(
                "{} written so far, {} left on its file system, which step7 keeps {} free ({MIN_FREE_VAR}=bytes)",
                human(written),
                human(free),
                human(keep)
            )
        };
        format!(
            "refusing to write more into the image store {}: {what}: {} (step7 prune and step7 rmi free space)",
            self.dir.display(),
            self.suspect
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{min_free, parse_min_free};

    #[test]
    fn the_reserve_is_five_percent_at_most_a_gib_or_as_set() {
        assert_eq!(min_free(64 << 20, None), (64 << 20) / 20);
        assert_eq!(min_free(2 << 40, None), 1 << 30);
        assert_eq!(min_free(2 << 40, Some(parse_min_free("12345").unwrap())), 12345);
        assert!(parse_min_free("1G").unwrap_err().to_string().contains("not a number of bytes"));
    }
}
