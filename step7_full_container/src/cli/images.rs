//! The image verbs: `pull`, `images`, `rmi`, `prune`, `layer add|ls|rm`,
//! and the progress a pull shows.

use anyhow::Result;
use clap::{Args, Subcommand};
use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use step7::engine;
use step7::paths::Paths;
use step7_image::human;
use step7_image::platform::Platform;
use step7_image::progress::Progress;
use step7_image::pull::{self, PullOptions};
use step7_image::reference::Reference;
use step7_image::store::Store;

use super::output::out;

#[derive(Args, Debug, Clone, Default)]
pub struct PullArgs {
    /// The platform to pull from a multi-arch image, os/arch[/variant]
    /// [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = Platform::parse)]
    pub platform: Option<Platform>,
    /// Plain HTTP to this registry (always so for 127.0.0.1 and localhost)
    #[arg(long)]
    pub insecure: bool,
    /// No progress output (warnings still)
    #[arg(long, short)]
    pub quiet: bool,
}

impl PullArgs {
    pub fn options(&self) -> PullOptions {
        PullOptions { platform: self.platform.clone(), insecure: self.insecure }
    }

    /// What the person waiting sees: a bar per layer on a terminal, a line
    /// per step otherwise, only warnings with --quiet.
    pub fn progress(&self) -> Bars {
        Bars { bars: std::io::stderr().is_terminal(), quiet: self.quiet }
    }
}

#[derive(Subcommand)]
pub enum LayerCommand {
    /// Make a layer from a directory or a tar archive (.tar, .tar.gz)
    Add { name: String, source: PathBuf },
    /// List the named layers
    Ls,
    /// Forget a named layer (removed when nothing uses it)
    Rm { name: String },
}

/// A pull's progress on stderr.
pub struct Bars {
    bars: bool,
    quiet: bool,
}

impl Progress for Bars {
    fn note(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Always, --quiet or not: "step7: warning: ...", as the runtime's
    /// own warnings are written (and logged, `--log`).
    fn warn(&self, text: &str) {
        step7::warn!("{text}");
    }

    fn track<'a>(&self, body: Box<dyn Read + 'a>, label: &str, length: Option<u64>) -> Box<dyn Read + 'a> {
        if !self.bars || self.quiet {
            return body;
        }
        let bar = indicatif::ProgressBar::new(length.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Box::new(bar.wrap_read(body))
    }
}

/// `pull IMAGE`: prints the name it is stored under.
pub fn pull(paths: &Paths, args: &PullArgs, image: &str) -> Result<i32> {
    let store = Store::open(&paths.store, false)?;
    out!("{}", pull::pull(&store, image, &args.options(), &args.progress())?);
    Ok(0)
}

/// `images`: what is stored, Docker's columns.
pub fn images(paths: &Paths) -> Result<i32> {
    let store = Store::open(&paths.store, false)?;
    out!("{:<40} {:<12} {:<14} {:>10}  PULLED", "REPOSITORY", "TAG", "IMAGE ID", "SIZE");
    for (name, image) in store.images() {
        let reference = Reference::parse(&name).ok();
        let repository = reference.as_ref().map_or(name.clone(), |r| r.familiar_name());
        let tag = reference.and_then(|r| r.tag).unwrap_or_else(|| "<none>".into());
        out!("{:<40} {:<12} {:<14} {:>10}  {}", repository, tag, &image.config[7..19], human(image.size), image.pulled);
    }
    Ok(0)
}

/// `rmi IMAGE...`
pub fn rmi(paths: &Paths, images: &[String]) -> Result<i32> {
    let store = Store::open(&paths.store, true)?;
    for image in images {
        let freed = step7_image::remove(&store, image)?;
        out!("removed {image} ({} freed)", human(freed));
    }
    Ok(0)
}

/// `prune`
pub fn prune(paths: &Paths) -> Result<i32> {
    out!("{} freed", human(engine::images::prune(paths)?));
    Ok(0)
}

/// `layer add|ls|rm`
pub fn layer(paths: &Paths, command: &LayerCommand) -> Result<i32> {
    use step7_image::layer;
    match command {
        LayerCommand::Add { name, source } => {
            let progress = Bars { bars: false, quiet: false };
            let added = layer::add(&Store::open(&paths.store, false)?, name, source, &progress)?;
            out!("{name} {}", added.diff_id);
        }
        LayerCommand::Ls => {
            let store = Store::open(&paths.store, false)?;
            out!("{:<20} {:<20} {:>10}  ADDED", "NAME", "DIFF ID", "SIZE");
            for (name, layer) in store.named_layers() {
                out!("{:<20} {:<20} {:>10}  {}", name, &layer.diff_id[7..19], human(layer.size), layer.added);
            }
        }
        LayerCommand::Rm { name } => {
            let freed = layer::remove(&Store::open(&paths.store, true)?, name)?;
            out!("removed {name} ({} freed)", human(freed));
        }
    }
    Ok(0)
}
