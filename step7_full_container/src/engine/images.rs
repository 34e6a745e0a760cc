//! The engine's side of images: what needs both the store and the
//! containers made from it.

use anyhow::Result;
use step7_image::store::Store;

use super::overlay;
use crate::paths::Paths;

// ANCHOR: prune
/// `prune`: the roots of containers that no longer exist, then every blob
/// and layer nothing uses, and leftovers of interrupted pulls. Returns
/// the bytes freed (roughly).
pub fn prune(paths: &Paths) -> Result<u64> {
    let store = Store::open(&paths.store, true)?;
    for orphan in overlay::orphans(&store) {
        crate::narrate!("removing {} (its container is gone)", orphan.display());
        overlay::remove(&orphan)?;
    }
    store.collect()
}
// ANCHOR_END: prune
