//! `run`: from [`RunOptions`] to a running container.
//!
//! The engine's half of what `docker run` does: pick an id, make the root
//! filesystem (pull, stack layers), build the Spec, make the network
//! around the container (a lease before create, eth0 once the container
//! process exists, published ports), then the same `oci::create` and
//! `oci::start` as for any bundle ([`super::start`]). A foreground
//! container is handed back as [`Running`], which waits for it and
//! removes everything; a detached one goes to a monitor
//! ([`super::monitor`]) and outlives this process.

use anyhow::Result;
use step7_image::progress::Progress;

use super::options::RunOptions;
use super::root::Root;
use super::start::{start, Running};
use super::{monitor, spec};
use crate::oci;
use crate::paths::Paths;

/// What `run` started.
pub enum Run {
    /// Under a monitor, in the background: its id.
    Detached(String),
    /// In the foreground: the caller waits for it.
    Foreground(Box<Running>),
}

// ANCHOR: run
/// `step7 run [flags] IMAGE [CMD]`: a root filesystem and a bundle made on
/// the fly, then the same create and start as for any bundle, with step
/// 5's network around. `progress` hears about a pull.
pub fn run(paths: &Paths, options: &RunOptions, progress: &dyn Progress) -> Result<Run> {
    options.check()?;
    let id = match &options.name {
        Some(name) => name.clone(),
        None => crate::id::ContainerId::random()?.to_string(),
    };
    let hostname = options.hostname.clone().unwrap_or_else(|| id.chars().take(12).collect());
    if oci::state::dir(&paths.state, &id).exists() {
        anyhow::bail!("a container named {id} already exists (remove it with `step7 rm {id}`)");
    }
    // The root filesystem (an image is pulled if missing, its layers
    // stacked), removed again unless a container started with it.
    let root = Root::prepare(paths, options, &id, progress)?;
    let spec = match spec::build(options, &hostname, &root) {
        Ok(spec) => spec,
        Err(err) => {
            let _ = root.remove();
            return Err(err);
        }
    };
    if options.detach {
        return monitor::detach(paths, options, &id, root, spec).map(|()| Run::Detached(id));
    }
    crate::init::block_signals()?;
    start(paths, options, &id, root, spec).map(|running| Run::Foreground(Box::new(running)))
}
// ANCHOR_END: run
