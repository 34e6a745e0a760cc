//! Images: what `step7 run alpine sh` runs.
//!
//! An image is a stack of *layers* (tar archives of files) and a *config*
//! (the command, environment, working directory and user to run it with),
//! tied together by a *manifest* that names each by its sha256 digest. A
//! registry serves these as blobs over HTTP ([`registry`]); [`pull`]
//! fetches and checks them into a content-addressed [`store`], unpacking
//! each layer into a directory of its own ([`unpack`], through [`tree`],
//! which keeps hostile archives inside). To run, [`overlay`] stacks the
//! layer directories into the container's root with overlayfs; the config
//! becomes the defaults of the docker-like `run`'s Spec. [`layer`] lets
//! you make and stack layers by hand.
//! Read: the OCI image-spec (manifest.md, config.md, layer.md) and
//! distribution-spec.

pub mod auth;
pub mod digest;
pub mod layer;
pub mod overlay;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod tree;
pub mod unpack;

use anyhow::{bail, Context, Result};
use oci_spec::image::ImageConfiguration;

use reference::Reference;
use store::{human, Store};

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

/// The image `text` for a run: pulled if missing; its layers and config.
pub fn for_run(store: &Store, text: &str, args: &pull::PullArgs) -> Result<(Vec<String>, Defaults)> {
    let (_, record) = pull::find_or_pull(store, text, args)?;
    let config = ImageConfiguration::from_reader(&store.read_blob(&record.config)?[..])
        .context("the stored image config is malformed")?;
    Ok((record.diff_ids, Defaults::of(&config)))
}

/// `images`: what is stored, Docker's columns.
pub fn list(store: &Store) {
    println!("{:<40} {:<12} {:<14} {:>10}  PULLED", "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
    for (name, image) in store.images() {
        let reference = Reference::parse(&name).ok();
        let repository = reference.as_ref().map_or(name.clone(), |r| r.familiar_name());
        let tag = reference.and_then(|r| r.tag).unwrap_or_else(|| "<none>".into());
        println!(
            "{:<40} {:<12} {:<14} {:>10}  {}",
            repository,
            tag,
            &image.config[7..19],
            human(image.size),
            image.pulled
        );
    }
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

/// `prune`: the roots of containers that no longer exist, then every blob
/// and layer nothing uses, and leftovers of interrupted pulls.
pub fn prune(store: &Store) -> Result<u64> {
    for orphan in overlay::orphans(store) {
        crate::narrate!("removing {} (its container is gone)", orphan.display());
        overlay::remove(&orphan)?;
    }
    store.collect()
}
