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
//!
//! A pull whose content is refused (a blob corrupt, a layer hostile, a
//! config inconsistent: [`Refused`]) takes back what it stored that
//! nothing else uses: a refused image leaves nothing. A pull cut short
//! (the network, the registry's answer) keeps what it verified, so that
//! the next try finds those layers "already here"; `prune` removes them
//! if that try never comes.

use anyhow::{bail, Context, Result};
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

use crate::platform::Platform;
use crate::progress::{take_back, Progress};
use crate::reference::Reference;
use crate::registry::{Registry, DOCKER_LIST, OCI_INDEX};
use crate::store::{ImageRecord, Store};
use crate::{human, refused, Refused, MAX_DOCUMENT};

/// How to pull.
#[derive(Clone, Debug, Default)]
pub struct PullOptions {
    /// The platform to pick from a multi-arch image (default: this
    /// machine's); an image for another platform is refused.
    pub platform: Option<Platform>,
    /// Plain HTTP to this registry (always so for 127.0.0.1 and localhost).
    pub insecure: bool,
}

// ANCHOR: pull
/// Pull `text` into the store; returns the name it is stored under.
pub fn pull(store: &Store, text: &str, options: &PullOptions, progress: &dyn Progress) -> Result<String> {
    let reference = Reference::parse(text)?;
    let platform = options.platform.clone().unwrap_or_else(Platform::host);
    let mut registry = Registry::connect(&reference, options.insecure)?;
    progress.note(&format!("pulling {reference} ({platform})"));

    let mut fetched = registry.manifest(reference.target()).with_context(|| format!("cannot pull {text}"))?;
    if is_index(&fetched.media_type, &fetched.bytes) {
        let digest = choose(&fetched.bytes, &platform, text)?;
        fetched = registry.manifest(&digest)?;
    }
    let manifest =
        ImageManifest::from_reader(&fetched.bytes[..]).context("the registry sent a manifest step7 cannot read")?;

    let stored = (|| {
        // The config: small, read whole, checked like every blob.
        let config_digest = manifest.config().digest().to_string();
        let config_size = manifest.config().size();
        if config_size > MAX_DOCUMENT {
            bail!(Refused(format!(
                "the image config is {config_size} bytes, says its manifest: step7 reads at most {}",
                human(MAX_DOCUMENT)
            )));
        }
        if !store.blob(&config_digest)?.exists() {
            let body = registry.blob(&config_digest, config_size)?;
            store.put_blob(&config_digest, config_size, body)?;
        }
        let config = ImageConfiguration::from_reader(&store.read_blob(&config_digest)?[..])
            .map_err(|err| Refused(format!("the image config is malformed: {err}")))?;
        let platform = check_platform(&config, platform, options.platform.is_some(), progress)?;
        let diff_ids = config.rootfs().diff_ids().clone();
        if diff_ids.len() != manifest.layers().len() {
            bail!(Refused(format!(
                "the image is inconsistent: {} layers in the manifest, {} in the config",
                manifest.layers().len(),
                diff_ids.len()
            )));
        }

        let mut size = 0;
        for (layer, diff_id) in manifest.layers().iter().zip(&diff_ids) {
            let digest = layer.digest().to_string();
            size += layer.size();
            let short = &digest[7..19];
            if store.layer(diff_id)?.exists() {
                progress.note(&format!("layer {short}: already here"));
                continue;
            }
            if !store.blob(&digest)?.exists() {
                let body = registry.blob(&digest, layer.size())?;
                let body = progress.track(Box::new(body), short, Some(layer.size()));
                store.put_blob(&digest, layer.size(), body)?;
            }
            let (_, skipped) = crate::layer::unpack_blob(store, &digest, Some(diff_id))?;
            let note = if skipped > 0 { format!(", {skipped} device nodes skipped (rootless)") } else { String::new() };
            progress.note(&format!("layer {short}: {} unpacked{note}", human(layer.size())));
        }

        // Last: the name. Until here, an interrupted pull named nothing.
        store.put_blob(&fetched.digest, fetched.bytes.len() as u64, &fetched.bytes[..])?;
        let name = reference.to_string();
        let record = ImageRecord {
            manifest: fetched.digest.clone(),
            config: config_digest,
            layers: manifest.layers().iter().map(|l| l.digest().to_string()).collect(),
            diff_ids,
            size,
            platform: platform.to_string(),
            pulled: humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string(),
        };
        store.update_images(|images| {
            images.insert(name.clone(), record);
        })?;
        progress.note(&format!("digest: {}", fetched.digest));
        Ok(name)
    })();
    match &stored {
        Err(err) if refused(err) => take_back(store, "this pull", progress),
        // Named now, or verified and kept for the next try.
        _ => store.keep_stored(),
    }
    stored
}

// ANCHOR_END: pull

/// The platform the image is really for (its config says), refused if
/// `--platform` asked for another; a warning if only the host differs
/// (an arm64 image on amd64 runs only with emulation).
fn check_platform(
    config: &ImageConfiguration,
    wanted: Platform,
    explicit: bool,
    progress: &dyn Progress,
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
        bail!(Refused(format!("the image is for {actual}, not {wanted}")));
    }
    progress.warn(&format!("the image is for {actual}, this machine is {wanted}"));
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
pub fn find_or_pull(
    store: &Store,
    text: &str,
    options: &PullOptions,
    progress: &dyn Progress,
) -> Result<(String, ImageRecord)> {
    let name = Reference::parse(text)?.to_string();
    if let Some(record) = store.images().get(&name) {
        return Ok((name, record.clone()));
    }
    let name = pull(store, text, options, progress)?;
    let record = store.images().get(&name).cloned().context("the image vanished after its pull")?;
    Ok((name, record))
}
