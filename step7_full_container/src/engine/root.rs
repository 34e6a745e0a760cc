//! The container's root filesystem: a directory as it is, or layers
//! stacked for it (an image's, pulled if missing, or named ones), with
//! what the image says about running it.

use anyhow::Result;
use std::path::{Path, PathBuf};
use step7_image::progress::Progress;
use step7_image::store::Store;
use step7_image::Defaults;

use super::options::{RunOptions, Source};
use super::overlay;
use crate::paths::Paths;

// ANCHOR: root
/// The container's root filesystem and what its image says about running
/// it.
#[derive(Clone, Debug)]
pub struct Root {
    pub path: PathBuf,
    pub defaults: Defaults,
    /// containers/<id> in the image store, for a root made from layers.
    pub image_dir: Option<PathBuf>,
}

impl Root {
    /// A directory as it is (--rootfs), or layers stacked for container
    /// `id`: an image's (pulled if missing) or named ones (--layers).
    pub fn prepare(paths: &Paths, options: &RunOptions, id: &str, progress: &dyn Progress) -> Result<Root> {
        let (store, layers, defaults) = match &options.source {
            Source::Rootfs(dir) => {
                return Ok(Root {
                    path: crate::preflight::rootfs(Some(dir))?,
                    defaults: Defaults::default(),
                    image_dir: None,
                })
            }
            Source::Image(image) => {
                let store = Store::open(&paths.store, false)?;
                let (layers, defaults) = step7_image::for_run(&store, image, &options.pull, progress)?;
                (store, layers, defaults)
            }
            Source::Layers(names) => {
                let store = Store::open(&paths.store, false)?;
                let layers = step7_image::layer::resolve(&store, names)?;
                (store, layers, Defaults::default())
            }
        };
        let state = crate::oci::state::dir(&paths.state, id);
        let path = overlay::prepare(&store, id, &layers, &state)?;
        Ok(Root { path, defaults, image_dir: Some(store.container(id)) })
    }

    /// Remove what prepare made (nothing for a --rootfs directory).
    pub fn remove(&self) -> Result<()> {
        match &self.image_dir {
            Some(dir) => overlay::remove(dir),
            None => Ok(()),
        }
    }

    /// Remember in the container's state directory which root is its own:
    /// whoever removes the container (`rm`, after a killed run too)
    /// removes the root with it.
    pub fn record(&self, state_dir: &Path) -> Result<()> {
        let Some(dir) = &self.image_dir else { return Ok(()) };
        let file = state_dir.join(IMAGE_ROOT);
        std::fs::write(&file, dir.as_os_str().as_encoded_bytes())
            .map_err(|err| anyhow::anyhow!("cannot write {}: {err}", file.display()))
    }
}
// ANCHOR_END: root

/// The file in a container's state directory naming its image root.
const IMAGE_ROOT: &str = "image-root";

/// The image root recorded for the container whose state directory is
/// `state_dir`, if it has one (read it before the state goes).
pub fn recorded(state_dir: &Path) -> Option<PathBuf> {
    let dir = std::fs::read(state_dir.join(IMAGE_ROOT)).ok()?;
    Some(PathBuf::from(String::from_utf8_lossy(&dir).into_owned()))
}
