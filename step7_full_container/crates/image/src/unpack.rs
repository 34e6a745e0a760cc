//! Unpacking a layer: a tar archive (gzip- or zstd-compressed, or not)
//! into a directory of its own, through [`Tree`] so that no entry lands
//! outside it.
//!
//! Each layer gets its own directory and is never unpacked on top of
//! another: overlayfs stacks them at run time. So deletions, which a tar
//! cannot express, are written as the OCI image spec's *whiteout* files
//! (layer.md): `.wh.NAME` means "NAME of the layers below is gone", and
//! `.wh..wh..opq` in a directory means "nothing below shows through
//! here". They are turned into what overlayfs reads: a 0:0 character
//! device named NAME, and the `overlay.opaque` xattr.
//!
//! While unpacking, the uncompressed stream is hashed: that is the
//! layer's *diff_id*, which the image config lists and which must match,
//! or someone swapped a layer under a valid compressed digest.

use anyhow::{bail, Context, Result};
use nix::sys::stat::SFlag;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::digest::Hashing;
use crate::space::Space;
use crate::tree::{clean, Meta, Tree};

pub struct Unpacked {
    /// sha256 of the uncompressed tar.
    pub diff_id: String,
    /// Device nodes not made (rootless).
    pub skipped_devices: usize,
}

// ANCHOR: decompress
/// The uncompressed stream, whatever the compression: chosen by the
/// first bytes (gzip 1f 8b, zstd 28 b5 2f fd) rather than the media type,
/// which registries and tools get wrong.
pub fn decompress<'a>(blob: impl Read + 'a) -> Result<Box<dyn Read + 'a>> {
    let mut input = BufReader::new(blob);
    let magic = input.fill_buf().context("cannot read the layer")?.to_vec();
    Ok(if magic.starts_with(&[0x1f, 0x8b]) {
        Box::new(Damaged { format: "gzip", inner: flate2::read::MultiGzDecoder::new(input) })
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(input)
            .map_err(|e| anyhow::anyhow!("corrupt layer: a bad zstd header: {e}"))?;
        Box::new(Damaged { format: "zstd", inner: decoder })
    } else {
        Box::new(input)
    })
}
// ANCHOR_END: decompress

/// A decompressor whose errors say that the layer is damaged, not the
/// disk (they surface wherever tar happens to be reading).
struct Damaged<R> {
    format: &'static str,
    inner: R,
}

/// Such an error, recognisable under the tar crate's.
#[derive(Debug)]
struct DamagedStream(String);

impl std::fmt::Display for DamagedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DamagedStream {}

impl<R: Read> Read for Damaged<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.inner.read(buf).map_err(|err| {
            let text = format!("corrupt layer: its {} stream is cut short or damaged ({err})", self.format);
            std::io::Error::new(err.kind(), DamagedStream(text))
        })
    }
}

// ANCHOR: unpack
/// Unpack the layer `blob` into the empty directory `dest`, every write
/// counted by `space`.
pub fn unpack(blob: impl Read, dest: &Path, space: Space) -> Result<Unpacked> {
    let mut stream = Hashing::new(decompress(blob)?);
    let mut tree = Tree::counted(dest, space)?;
    let (mut skipped_devices, mut entries) = (0, 0);
    {
        let mut archive = tar::Archive::new(&mut stream);
        for entry in archive.entries().context("not a tar archive")? {
            let entry = entry.map_err(|err| bad_header(err, entries))?;
            if !place(&mut tree, entry)? {
                skipped_devices += 1;
            }
            entries += 1;
        }
    }
    // The zero blocks after the last entry belong to the diff_id too.
    std::io::copy(&mut stream, &mut std::io::sink()).context("cannot read the layer to its end")?;
    tree.finish()?;
    Ok(Unpacked { diff_id: stream.digest(), skipped_devices })
}
// ANCHOR_END: unpack

/// A tar header that cannot be read, said plainly: a decompressor's
/// complaint as it is; at the start, not a layer at all; later, an
/// archive cut short or damaged (tar's own words escaped: they may quote
/// the header's bytes, and the error stays one line).
fn bad_header(err: std::io::Error, entries: usize) -> anyhow::Error {
    if err.get_ref().is_some_and(|inner| inner.is::<DamagedStream>()) {
        return err.into();
    }
    if entries == 0 {
        return anyhow::anyhow!("not a layer: there is no tar archive in it, plain or compressed (gzip, zstd)");
    }
    let entries = if entries == 1 { "1 entry".to_string() } else { format!("{entries} entries") };
    anyhow::anyhow!("corrupt layer: cut short or damaged after {entries} ({})", err.to_string().escape_debug())
}

/// One tar entry into the tree. False if a device node was skipped.
fn place(tree: &mut Tree, mut entry: tar::Entry<impl Read>) -> Result<bool> {
    let name = entry.path().context("corrupt layer: an entry name that is not a path")?.into_owned();
    let rel = clean(&name)?;
    let header = entry.header();
    let meta = Meta {
        mode: header.mode().unwrap_or(0o644),
        uid: header.uid().unwrap_or(0) as u32,
        gid: header.gid().unwrap_or(0) as u32,
        mtime: header.mtime().unwrap_or(0) as i64,
    };
    let kind = header.entry_type();
    // ANCHOR: whiteout_names
    if let Some(hidden) = rel.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix(".wh.")) {
        let dir = rel.parent().unwrap_or(Path::new(""));
        if hidden == ".wh..opq" {
            tree.opaque(dir)?;
        } else if !hidden.starts_with(".wh.") {
            tree.whiteout(&dir.join(hidden))?;
        } // else: other .wh..wh.* names are aufs bookkeeping, meaningless here.
        return Ok(true);
    }
    // ANCHOR_END: whiteout_names
    use tar::EntryType::*;
    match kind {
        Regular | Continuous => {
            let xattrs = xattrs(&mut entry)?;
            tree.file(&rel, &meta, &xattrs, &mut entry)?;
        }
        Directory => tree.dir(&rel, &meta)?,
        Symlink => {
            let target = entry.link_name()?.context("corrupt layer: a symlink without a target")?;
            tree.symlink(&rel, &target, &meta)?;
        }
        Link => {
            let target = entry.link_name()?.context("corrupt layer: a hard link without a target")?;
            tree.hard_link(&rel, &clean(&target)?)?;
        }
        Char | Block | Fifo => {
            let flag = match kind {
                Char => SFlag::S_IFCHR,
                Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let (major, minor) = (header.device_major()?.unwrap_or(0), header.device_minor()?.unwrap_or(0));
            return tree.node(&rel, flag, nix::sys::stat::makedev(major.into(), minor.into()), &meta);
        }
        // Metadata records the tar crate has already applied.
        XGlobalHeader | XHeader | GNULongName | GNULongLink => {}
        other => bail!("unsupported entry type {other:?} for {} in the layer", name.display()),
    }
    Ok(true)
}

/// Extended attributes a PAX header carries (SCHILY.xattr.NAME).
fn xattrs(entry: &mut tar::Entry<impl Read>) -> Result<Vec<(String, Vec<u8>)>> {
    let mut found = Vec::new();
    if let Some(extensions) = entry.pax_extensions()? {
        for extension in extensions {
            let extension = extension?;
            if let Some(name) = extension.key().ok().and_then(|k| k.strip_prefix("SCHILY.xattr.")) {
                // Only what a container needs (file capabilities, user
                // data); not trusted.* or security.selinux from elsewhere.
                if name == "security.capability" || name.starts_with("user.") {
                    found.push((name.to_string(), extension.value_bytes().to_vec()));
                }
            }
        }
    }
    Ok(found)
}

// ANCHOR: apply
/// Copy an unpacked layer onto `dest` (a container root assembled
/// without overlayfs): whiteouts delete, opaque directories are emptied
/// first. Hard links become copies.
pub fn apply(layer: &Path, dest: &mut Tree) -> Result<()> {
    apply_dir(layer, Path::new(""), dest)
}

fn apply_dir(layer: &Path, rel: &Path, dest: &mut Tree) -> Result<()> {
    let dir = layer.join(rel);
    let opaque = [true, false].iter().any(|&p| xattr::is_opaque(&dir, crate::tree::opaque_xattr(p)));
    if opaque {
        dest.remove_children(rel)?;
    }
    let cannot_read = |path: &Path| format!("cannot read {}: pull the image again", path.display());
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
        .and_then(|entries| entries.map(|e| e.map(|e| rel.join(e.file_name()))).collect())
        .with_context(|| cannot_read(&dir))?;
    entries.sort();
    for rel in entries {
        let path = layer.join(&rel);
        let stat = std::fs::symlink_metadata(&path).with_context(|| cannot_read(&path))?;
        let meta = meta_of(&stat);
        let file_type = stat.file_type();
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() && std::os::unix::fs::MetadataExt::rdev(&stat) == 0 {
            dest.remove(&rel)?;
        } else if file_type.is_dir() {
            dest.dir(&rel, &meta)?;
            apply_dir(layer, &rel, dest)?;
        } else if file_type.is_symlink() {
            dest.symlink(&rel, &std::fs::read_link(&path).with_context(|| cannot_read(&path))?, &meta)?;
        } else if file_type.is_file() {
            let mut file = std::fs::File::open(&path).with_context(|| cannot_read(&path))?;
            dest.file(&rel, &meta, &[], &mut file)?;
        } else {
            let kind =
                SFlag::from_bits_truncate(std::os::unix::fs::PermissionsExt::mode(&stat.permissions()) & libc::S_IFMT);
            dest.node(&rel, kind, std::os::unix::fs::MetadataExt::rdev(&stat), &meta)?;
        }
    }
    Ok(())
}
// ANCHOR_END: apply

fn meta_of(stat: &std::fs::Metadata) -> Meta {
    use std::os::unix::fs::MetadataExt;
    Meta { mode: stat.mode(), uid: stat.uid(), gid: stat.gid(), mtime: stat.mtime() }
}

mod xattr {
    use std::path::Path;

    /// Whether `dir` carries the opaque xattr `name` set to "y".
    pub fn is_opaque(dir: &Path, name: &str) -> bool {
        let (Ok(path), Ok(name)) =
            (std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()), std::ffi::CString::new(name))
        else {
            return false;
        };
        let mut value = [0u8; 1];
        // SAFETY: valid NUL-terminated strings and a 1-byte buffer.
        let n = unsafe { libc::lgetxattr(path.as_ptr(), name.as_ptr(), value.as_mut_ptr().cast(), 1) };
        n == 1 && value[0] == b'y'
    }
}
