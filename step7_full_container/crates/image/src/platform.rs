//! Platforms: which operating system and processor an image is for.

use anyhow::{bail, Result};

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
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
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
