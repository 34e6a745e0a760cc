//! Step 7's images: what `step7 run alpine sh` runs.
//!
//! An image is a stack of *layers* (tar archives of files) and a *config*
//! (the command, environment, working directory and user to run it with),
//! tied together by a *manifest* that names each by its sha256 digest. A
//! registry serves these as blobs over HTTP ([`registry`]); [`pull`]
//! fetches and checks them into a content-addressed [`store`], unpacking
//! each layer into a directory of its own ([`unpack`], through [`tree`],
//! which keeps hostile archives inside, and [`space`], which stops one
//! that would fill the disk). To run, the engine of step 7
//! stacks the layer directories into the container's root with overlayfs;
//! the config ([`Defaults`]) becomes the defaults of the docker-like
//! `run`'s Spec. [`layer`] lets you make layers by hand.
//!
//! A crate of its own, which neither prints nor knows the runtime: the
//! command line shows [`pull::Progress`] and lists what the store holds;
//! a registry server and image build can use the store and the protocol
//! without linking a container runtime.
//! Read: the OCI image-spec (manifest.md, config.md, layer.md) and
//! distribution-spec.

pub mod auth;
pub mod digest;
pub mod layer;
pub mod platform;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod space;
pub mod store;
pub mod tree;
pub mod unpack;

use anyhow::{bail, Context, Result};
use oci_spec::image::ImageConfiguration;

use reference::Reference;
use store::Store;

// ANCHOR: defaults
/// What an image's config says about running it; `run`'s flags override
/// each part.
#[derive(Clone, Debug, Default)]
pub struct Defaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// "80/tcp", for -P.
    pub exposed_ports: Vec<String>,
}

impl Defaults {
    pub fn of(config: &ImageConfiguration) -> Defaults {
        let Some(c) = config.config() else { return Defaults::default() };
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        Defaults {
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            cmd: c.cmd().clone().unwrap_or_default(),
            env: c.env().clone().unwrap_or_default(),
            workdir: non_empty(c.working_dir()),
            user: non_empty(c.user()),
            exposed_ports: c.exposed_ports().clone().unwrap_or_default(),
        }
    }
}
// ANCHOR_END: defaults

/// The image `text` for a run, pulled if missing: its layers (diff_ids,
/// bottom first) and what its config says about running it.
pub fn for_run(
    store: &Store,
    text: &str,
    options: &pull::PullOptions,
    progress: &dyn pull::Progress,
) -> Result<(Vec<String>, Defaults)> {
    let (_, record) = pull::find_or_pull(store, text, options, progress)?;
    let config = ImageConfiguration::from_reader(&store.read_blob(&record.config)?[..])
        .context("the stored image config is malformed")?;
    Ok((record.diff_ids, Defaults::of(&config)))
}

// ANCHOR: rmi
/// `rmi REF`: forget the name, then remove what no other image, layer or
/// container uses.
pub fn remove(store: &Store, text: &str) -> Result<u64> {
    let name = Reference::parse(text)?.to_string();
    if !store.images().contains_key(&name) {
        bail!("no image {text} here (see `step7 images`)");
    }
    store.update_images(|images| {
        images.remove(&name);
    })?;
    store.collect()
}
// ANCHOR_END: rmi
