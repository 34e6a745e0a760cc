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
//! command line shows [`progress::Progress`] and lists what the store holds;
//! a registry server and image build can use the store and the protocol
//! without linking a container runtime.
//! Read: the OCI image-spec (manifest.md, config.md, layer.md) and
//! distribution-spec.

pub mod auth;
pub mod digest;
pub mod layer;
pub mod platform;
pub mod progress;
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

/// Manifests, indexes and configs are read whole into memory: at most
/// this much of each (real ones are a few KiB). More is an attack on
/// memory, not an image.
pub const MAX_DOCUMENT: u64 = 4 << 20;

// ANCHOR: refused
/// Content refused: a blob whose digest or size is not the manifest's, a
/// layer that does not unpack (damaged, hostile, a bomb, or too big for
/// the disk), a config that is malformed or contradicts the manifest or
/// `--platform`. Made where content is judged, found again anywhere in
/// an error's chain ([`refused`]): a pull that fails with one takes back
/// what it stored. Any other failure (the network, the registry's
/// answer, this machine) keeps what was verified, for the next try.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// Whether `err`, or anything in its chain, is a [`Refused`].
pub fn refused(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Refused>().is_some()
}
// ANCHOR_END: refused

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
    progress: &dyn progress::Progress,
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

/// "3.2 MiB"
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::{refused, Refused};
    use anyhow::{anyhow, Context};

    #[test]
    fn a_refusal_is_found_under_any_context_and_nothing_else_is_one() {
        let io: std::io::Result<()> = Err(std::io::Error::other("connection reset"));
        let at_root = Err::<(), _>(anyhow!(Refused("digest mismatch".into()))).context("cannot pull").unwrap_err();
        let as_context = io.context(Refused("cannot unpack layer".into())).context("cannot pull").unwrap_err();
        let io: std::io::Result<()> = Err(std::io::Error::other("connection reset"));
        let transport = io.context("cannot download").context("cannot pull").unwrap_err();
        assert!(refused(&at_root) && refused(&as_context));
        assert!(!refused(&transport));
        assert_eq!(format!("{as_context:#}"), "cannot pull: cannot unpack layer: connection reset");
    }
}
