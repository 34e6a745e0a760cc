//! `step7 pull REF`: from a reference to layers on disk.
//!
//! 1. The manifest for the tag. It may be an *index* (a multi-arch image:
//!    one manifest per platform), then the host's platform picks one.
//! 2. The manifest lists the config blob (how to run the image, and the
//!    diff_ids of its layers) and the layer blobs, bottom first.
//! 3. Each blob is fetched unless present, its sha256 checked as it
//!    streams in; each layer is unpacked into a directory of its own
//!    unless present, its uncompressed sha256 checked against the diff_id.
//! 4. Only then is the name recorded in images.json.

use anyhow::{bail, Context, Result};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use std::io::IsTerminal;

use super::reference::Reference;
use super::registry::{Registry, DOCKER_LIST, OCI_INDEX};
use super::store::{human, ImageRecord, Store};

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PullArgs {
    /// The platform to pull from a multi-arch image, os/arch[/variant]
    /// [default: this machine's]
    #[arg(long, value_name = "OS/ARCH[/VARIANT]")]
    pub platform: Option<String>,
    /// Plain HTTP to this registry (always so for 127.0.0.1 and localhost)
    #[arg(long)]
    pub insecure: bool,
    /// No progress output
    #[arg(long, short)]
    pub quiet: bool,
}

// ANCHOR: platform
/// An os/architecture/variant triple, in the spelling of Go's GOOS and
/// GOARCH, which the image spec uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform { os: "linux".into(), architecture: architecture.into(), variant: variant.map(Into::into) }
    }

    pub fn parse(text: &str) -> Result<Platform> {
        let parts: Vec<&str> = text.split('/').collect();
        match parts[..] {
            [os, architecture] | [os, architecture, _] if !os.is_empty() && !architecture.is_empty() => Ok(Platform {
                os: os.into(),
                architecture: architecture.into(),
                variant: parts.get(2).map(|v| v.to_string()),
            }),
            _ => bail!("invalid --platform {text:?}: write os/arch[/variant], e.g. linux/arm64"),
        }
    }

    /// Whether an index entry's platform is this one. A variant we do
    /// not require matches any (arm64 images often omit "v8").
    fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        os == self.os
            && architecture == self.architecture
            && (variant.is_none() || self.variant.is_none() || variant == self.variant.as_deref())
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) => write!(f, "/{variant}"),
            None => Ok(()),
        }
    }
}
// ANCHOR_END: platform

/// Progress: a bar per layer on a terminal, a line per step otherwise.
struct Progress {
    bars: bool,
    quiet: bool,
}

impl Progress {
    fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// A reader that moves a bar (or says nothing) as `inner` is read.
    fn wrap<'a, R: std::io::Read + 'a>(
        &self,
        inner: R,
        label: &str,
        length: Option<u64>,
    ) -> Box<dyn std::io::Read + 'a> {
        if !self.bars || self.quiet {
            return Box::new(inner);
        }
        let bar = indicatif::ProgressBar::new(length.unwrap_or(0));
        bar.set_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        Box::new(bar.wrap_read(inner))
    }
}

// ANCHOR: pull
/// Pull `text` into the store; returns the name it is stored under.
pub fn pull(store: &Store, text: &str, args: &PullArgs) -> Result<String> {
    let reference = Reference::parse(text)?;
    let platform = match &args.platform {
        Some(p) => Platform::parse(p)?,
        None => Platform::host(),
    };
    let progress = Progress { bars: std::io::stderr().is_terminal(), quiet: args.quiet };
    let mut registry = Registry::connect(&reference, args.insecure)?;
    progress.line(&format!("pulling {reference} ({platform})"));

    let mut fetched = registry.manifest(reference.target()).with_context(|| format!("cannot pull {text}"))?;
    if is_index(&fetched.media_type, &fetched.bytes) {
        let digest = choose(&fetched.bytes, &platform, text)?;
        fetched = registry.manifest(&digest)?;
    }
    let manifest =
        ImageManifest::from_reader(&fetched.bytes[..]).context("the registry sent a manifest step7 cannot read")?;

    // The config: small, read whole, checked like every blob.
    let config_digest = manifest.config().digest().to_string();
    if !store.blob(&config_digest)?.exists() {
        let (body, _) = registry.blob(&config_digest)?;
        store.put_blob(&config_digest, body)?;
    }
    let config = ImageConfiguration::from_reader(&store.read_blob(&config_digest)?[..])
        .context("the image config is malformed")?;
    let platform = check_platform(&config, platform, args.platform.is_some(), &progress)?;
    let diff_ids = config.rootfs().diff_ids().clone();
    if diff_ids.len() != manifest.layers().len() {
        bail!(
            "the image is inconsistent: {} layers in the manifest, {} in the config",
            manifest.layers().len(),
            diff_ids.len()
        );
    }

    let mut size = 0;
    for (layer, diff_id) in manifest.layers().iter().zip(&diff_ids) {
        let digest = layer.digest().to_string();
        size += layer.size();
        let short = &digest[7..19];
        if store.layer(diff_id)?.exists() {
            progress.line(&format!("layer {short}: already here"));
            continue;
        }
        if !store.blob(&digest)?.exists() {
            let (body, length) = registry.blob(&digest)?;
            let body = progress.wrap(body, short, length.or(Some(layer.size())));
            store.put_blob(&digest, body)?;
        }
        let (_, skipped) = super::layer::unpack_blob(store, &digest, Some(diff_id))?;
        let note = if skipped > 0 { format!(", {skipped} device nodes skipped (rootless)") } else { String::new() };
        progress.line(&format!("layer {short}: {} unpacked{note}", human(layer.size())));
    }

    // Last: the name. Until here, an interrupted pull named nothing.
    store.put_blob(&fetched.digest, &fetched.bytes[..])?;
    let name = reference.to_string();
    let record = ImageRecord {
        manifest: fetched.digest.clone(),
        config: config_digest,
        layers: manifest.layers().iter().map(|l| l.digest().to_string()).collect(),
        diff_ids,
        size,
        platform: platform.to_string(),
        pulled: crate::state::now_rfc3339(),
    };
    store.update_images(|images| {
        images.insert(name.clone(), record);
    })?;
    progress.line(&format!("digest: {}", fetched.digest));
    Ok(name)
}
// ANCHOR_END: pull

/// The platform the image is really for (its config says), refused if
/// `--platform` asked for another; a warning if only the host differs
/// (an arm64 image on amd64 runs only with emulation).
fn check_platform(
    config: &ImageConfiguration,
    wanted: Platform,
    explicit: bool,
    progress: &Progress,
) -> Result<Platform> {
    let actual = Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    };
    if actual.matches(&wanted.os, &wanted.architecture, wanted.variant.as_deref()) {
        return Ok(actual);
    }
    if explicit {
        bail!("the image is for {actual}, not {wanted}");
    }
    progress.line(&format!("warning: the image is for {actual}, this machine is {wanted}"));
    Ok(actual)
}

fn is_index(media_type: &str, bytes: &[u8]) -> bool {
    if media_type.starts_with(OCI_INDEX) || media_type.starts_with(DOCKER_LIST) {
        return true;
    }
    // An index served without a Content-Type still says what it is.
    let value: serde_json::Value = serde_json::from_slice(bytes).unwrap_or_default();
    value["manifests"].is_array() && !value["layers"].is_array()
}

// ANCHOR: choose
/// The manifest for `platform` in a multi-arch index.
fn choose(bytes: &[u8], platform: &Platform, text: &str) -> Result<String> {
    let index = ImageIndex::from_reader(bytes).context("the registry sent an index step7 cannot read")?;
    let mut offered = Vec::new();
    for entry in index.manifests() {
        let Some(p) = entry.platform() else { continue };
        let (os, architecture) = (p.os().to_string(), p.architecture().to_string());
        if platform.matches(&os, &architecture, p.variant().as_deref()) {
            return Ok(entry.digest().to_string());
        }
        // Build attestations are listed as "unknown/unknown".
        if os != "unknown" {
            offered.push(format!(
                "{os}/{architecture}{}",
                p.variant().as_ref().map(|v| format!("/{v}")).unwrap_or_default()
            ));
        }
    }
    bail!("{text} has no image for {platform} (it has: {}); choose one with --platform", offered.join(", "))
}
// ANCHOR_END: choose

/// The store's record of `text`, pulling it first if it is not there.
pub fn find_or_pull(store: &Store, text: &str, args: &PullArgs) -> Result<(String, ImageRecord)> {
    let name = Reference::parse(text)?.to_string();
    if let Some(record) = store.images().get(&name) {
        return Ok((name, record.clone()));
    }
    let name = pull(store, text, args)?;
    let record = store.images().get(&name).cloned().context("the image vanished after its pull")?;
    Ok((name, record))
}
