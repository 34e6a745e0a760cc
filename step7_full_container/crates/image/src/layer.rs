//! Layers: unpacking a stored blob into layers/, and the manual layering
//! exercise: `step7 layer add NAME DIR|TAR` makes a layer of your own
//! (a base, a runtime, an app), `step7 run --layers base,runtime,app`
//! stacks them, and `du` shows that a layer two containers use is on
//! disk once.

use anyhow::{bail, Context, Result};
use std::path::Path;

use crate::progress::{take_back, Progress};
use crate::store::{remove_all, NamedLayer, Store};
use crate::unpack::unpack;
use crate::Refused;

// ANCHOR: unpack_blob
/// Unpack the blob `digest` into layers/<diff_id>, unless it is there.
/// `expected`: the diff_id the image config promises (checked). Returns
/// the diff_id and how many device nodes were skipped. A layer that does
/// not unpack, whatever the reason (damaged, hostile, a bomb, not the
/// diff_id promised), is [`Refused`]: this machine's own faults here are
/// rare, and cost only a download.
pub fn unpack_blob(store: &Store, digest: &str, expected: Option<&str>) -> Result<(String, usize)> {
    if let Some(diff_id) = expected {
        if store.layer(diff_id)?.exists() {
            return Ok((diff_id.to_string(), 0));
        }
    }
    // Unpacked beside the store's layers, renamed when complete and right.
    let temp = store.temp("layer");
    std::fs::create_dir(&temp).with_context(|| format!("cannot create {} (is the store writable?)", temp.display()))?;
    let unpacked = (|| {
        let path = store.blob(digest)?;
        let blob = std::fs::File::open(&path)
            .with_context(|| format!("cannot read {}: pull the image again", path.display()))?;
        let unpacked = unpack(blob, &temp, store.space("a decompression bomb, or a nearly full disk")?)?;
        if let Some(expected) = expected.filter(|e| *e != unpacked.diff_id) {
            bail!("its content is {}, but the image config says {expected}: refusing it", unpacked.diff_id);
        }
        Ok(unpacked)
    })();
    let unpacked = match unpacked {
        Ok(unpacked) => unpacked,
        Err(err) => {
            remove_all(&temp)?;
            return Err(err.context(Refused(format!("cannot unpack layer {digest}"))));
        }
    };
    let path = store.layer(&unpacked.diff_id)?;
    if std::fs::rename(&temp, &path).is_ok() {
        store.stored_layer(&unpacked.diff_id);
    } else {
        // A concurrent pull got there first: same content, keep theirs.
        remove_all(&temp)?;
        if !path.exists() {
            bail!("cannot store the layer at {}", path.display());
        }
    }
    Ok((unpacked.diff_id, unpacked.skipped_devices))
}
// ANCHOR_END: unpack_blob

// ANCHOR: add
/// `layer add NAME DIR|TAR`: a directory is archived first (so that every
/// layer, pulled or made, is unpacked by the same careful code). One
/// that fails takes back the tar it stored, at once (unless a named layer
/// or an image has the same), or `progress` warns that it stays.
pub fn add(store: &Store, name: &str, source: &Path, progress: &dyn Progress) -> Result<NamedLayer> {
    check_name(name)?;
    let stat =
        std::fs::metadata(source).with_context(|| format!("no directory or tar archive at {}", source.display()))?;
    let added = (|| {
        let (blob, size) = if stat.is_dir() {
            let temp = store.temp("tar");
            let archived = (|| {
                let file = std::fs::File::create(&temp)?;
                let mut builder = tar::Builder::new(file);
                builder.follow_symlinks(false);
                builder.append_dir_all(".", source)?;
                builder.into_inner()?.sync_all()?;
                store.put_new(std::fs::File::open(&temp)?)
            })()
            .with_context(|| format!("cannot archive {} into {}", source.display(), temp.display()));
            let _ = std::fs::remove_file(&temp);
            archived?
        } else {
            let file = std::fs::File::open(source).with_context(|| format!("cannot read {}", source.display()))?;
            store.put_new(file).with_context(|| format!("cannot store {}", source.display()))?
        };
        let (diff_id, _) = unpack_blob(store, &blob, None)?;
        let layer = NamedLayer {
            blob,
            diff_id,
            size,
            added: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        };
        store.update_named_layers(|layers| {
            layers.insert(name.to_string(), layer.clone());
        })?;
        Ok(layer)
    })();
    match &added {
        Ok(_) => store.keep_stored(),
        Err(_) => take_back(store, "`layer add`", progress),
    }
    added
}
// ANCHOR_END: add

fn check_name(name: &str) -> Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    if !ok {
        bail!("invalid layer name {name:?}: lowercase letters, digits, . _ -");
    }
    Ok(())
}

/// `--layers a,b,c`: names (or diff_ids) to the diff_ids, bottom first.
pub fn resolve(store: &Store, names: &[String]) -> Result<Vec<String>> {
    let named = store.named_layers();
    names
        .iter()
        .map(|name| match named.get(name) {
            Some(layer) => Ok(layer.diff_id.clone()),
            None if name.starts_with("sha256:") && store.layer(name)?.exists() => Ok(name.clone()),
            None => bail!("no layer named {name}: add it with `step7 layer add {name} DIR`"),
        })
        .collect()
}

/// `layer rm NAME`: forget the name; what nothing else uses is removed.
pub fn remove(store: &Store, name: &str) -> Result<u64> {
    if !store.named_layers().contains_key(name) {
        bail!("no layer named {name} (see `step7 layer ls`)");
    }
    store.update_named_layers(|layers| {
        layers.remove(name);
    })?;
    store.collect()
}
