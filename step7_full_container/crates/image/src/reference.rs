//! Image references: what `alpine`, `alpine:3.20`,
//! `docker.io/library/busybox@sha256:…` and `127.0.0.1:5000/app:v1` mean.
//!
//! A reference names a registry (a host, maybe with a port), a repository
//! in it, and either a tag (a movable name) or a digest (the sha256 of the
//! manifest: immutable, what to pin). The short forms are Docker's
//! conventions: no registry means Docker Hub, and a one-word repository
//! there lives under `library/`. The first part is a registry only if it
//! looks like a host (a dot, a port, or `localhost`): `alice/app` is a Hub
//! repository. Read: distribution-spec, docker's reference grammar.

use anyhow::{bail, Result};
use std::fmt;

/// Docker Hub's name in references, and the host its API answers on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reference {
    /// Host[:port], as written (docker.io for the Hub).
    pub registry: String,
    /// e.g. library/alpine
    pub repository: String,
    pub tag: Option<String>,
    /// sha256:<64 hex>
    pub digest: Option<String>,
}

impl Reference {
    // ANCHOR: parse
    pub fn parse(text: &str) -> Result<Reference> {
        let invalid = |why: &str| anyhow::anyhow!("invalid image reference {text:?}: {why}");
        let (name, digest) = match text.split_once('@') {
            Some((name, digest)) => (name, Some(digest.to_string())),
            None => (text, None),
        };
        if let Some(digest) = &digest {
            check_digest(digest).map_err(|_| invalid("a digest is sha256: and 64 hex digits"))?;
        }
        // A tag follows the last colon after the last slash (a colon
        // before it belongs to a registry's port).
        let slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[slash..].rfind(':') {
            Some(i) => (&name[..slash + i], Some(name[slash + i + 1..].to_string())),
            None => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
                (first.to_string(), rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let (host, port) = registry.rsplit_once(':').unwrap_or((&registry, "0"));
        let host_ok = !host.is_empty() && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
        if !host_ok || port.is_empty() || !port.chars().all(|c| c.is_ascii_digit()) {
            bail!(invalid("a registry is a host name, with :port if not the default"));
        }
        let repository = if registry == DOCKER_HUB && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        let component_ok = |c: &str| {
            !c.is_empty()
                && c.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "._-".contains(ch))
                && c.starts_with(|ch: char| ch.is_ascii_alphanumeric())
        };
        if !repository.split('/').all(component_ok) {
            bail!(invalid("a repository is lowercase letters, digits and . _ - between slashes"));
        }
        if let Some(tag) = &tag {
            let ok = tag.len() <= 128
                && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if !ok {
                bail!(invalid("a tag is up to 128 letters, digits, . _ -"));
            }
        }
        // Neither tag nor digest: "latest", by convention only.
        let tag = if tag.is_none() && digest.is_none() { Some("latest".to_string()) } else { tag };
        Ok(Reference { registry, repository, tag, digest })
    }
    // ANCHOR_END: parse

    /// What to ask the registry for: the digest if pinned, else the tag.
    pub fn target(&self) -> &str {
        self.digest.as_deref().or(self.tag.as_deref()).unwrap_or("latest")
    }

    /// The host the registry's HTTP API is on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// Registries on this machine's loopback speak plain HTTP (as the
    /// test registry does); anything else needs HTTPS unless `--insecure`.
    pub fn is_loopback(&self) -> bool {
        let host = self.registry.rsplit_once(':').map_or(self.registry.as_str(), |(h, _)| h);
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    }

    /// The name without tag or digest, shortened as Docker shows it
    /// (`alpine` for docker.io/library/alpine).
    pub fn familiar_name(&self) -> String {
        match self.repository.strip_prefix("library/") {
            Some(short) if self.registry == DOCKER_HUB => short.to_string(),
            _ if self.registry == DOCKER_HUB => self.repository.clone(),
            _ => format!("{}/{}", self.registry, self.repository),
        }
    }
}

impl fmt::Display for Reference {
    /// The full form: the key images are stored under.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// A digest we can check: sha256 and 64 lowercase hex digits (the only
/// algorithm registries use in practice; anything else is refused rather
/// than trusted unchecked).
pub fn check_digest(digest: &str) -> Result<&str> {
    match digest.strip_prefix("sha256:") {
        Some(hex) if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)) => Ok(hex),
        _ => bail!("unsupported or malformed digest {digest:?} (want sha256:<64 hex digits>)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (String, String, Option<String>, Option<String>) {
        let r = Reference::parse(text).unwrap();
        (r.registry, r.repository, r.tag, r.digest)
    }

    #[test]
    fn docker_conventions() {
        let hub = |repo: &str, tag: &str| (DOCKER_HUB.into(), repo.into(), Some(tag.into()), None);
        assert_eq!(parts("alpine"), hub("library/alpine", "latest"));
        assert_eq!(parts("alpine:3.20"), hub("library/alpine", "3.20"));
        assert_eq!(parts("alice/app:v1"), hub("alice/app", "v1"));
        assert_eq!(
            parts("127.0.0.1:5000/app/web:1"),
            ("127.0.0.1:5000".into(), "app/web".into(), Some("1".into()), None)
        );
        assert_eq!(parts("localhost/app"), ("localhost".into(), "app".into(), Some("latest".into()), None));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("docker.io/library/busybox@{digest}")).unwrap();
        assert_eq!((r.tag.as_deref(), r.digest.as_deref(), r.target()), (None, Some(digest.as_str()), digest.as_str()));
        assert_eq!(r.familiar_name(), "busybox");
        assert!(Reference::parse("127.0.0.1:5000/x").unwrap().is_loopback());
        assert_eq!(Reference::parse("alpine").unwrap().to_string(), "docker.io/library/alpine:latest");
    }

    #[test]
    fn refuses_malformed() {
        for bad in ["Alpine", "alpine:", "alpine@sha256:abc", "a//b", "alpine:ta/g", "", "alpine@md5:00"] {
            assert!(Reference::parse(bad).is_err(), "{bad} was accepted");
        }
    }
}
