//! Docker's profile format, and how one profile becomes a container's.
//!
//! A Docker profile (`docker run --security-opt seccomp=profile.json`,
//! podman's seccomp.json) is config.json's `linux.seccomp` plus
//! conditions: a rule may hold only on some architectures
//! (`includes.arches`), only for a container that has some capabilities
//! (`includes.caps`), only from some kernel version on
//! (`includes.minKernel`), or never for some (`excludes`). Docker resolves
//! the conditions when it writes config.json, for that one container: the
//! runtime gets plain rules. So does step 7 ([`Profile::resolve`]), for
//! its own default profile and for a file given with `--security-opt`.
//!
//! Why conditions on capabilities: a capability already stops the call
//! for a container that lacks it, so a container that was *given*
//! CAP_SYS_ADMIN (`--cap-add SYS_ADMIN`) expects mount(2) to work, and the
//! profile must follow. Read: moby's docs/security/seccomp.md.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSyscall};
use serde::Deserialize;
use std::path::Path;

/// A profile as Docker writes it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    pub default_action: LinuxSeccompAction,
    #[serde(default)]
    pub default_errno_ret: Option<u32>,
    /// Older profiles list the architectures directly.
    #[serde(default)]
    pub architectures: Vec<Arch>,
    /// Newer ones map each to the ABIs that run on it (x86_64: x86, x32).
    #[serde(default)]
    pub arch_map: Vec<ArchMap>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
    #[serde(default)]
    pub flags: Vec<String>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArchMap {
    pub architecture: Arch,
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// One rule: calls, an action, and when it applies.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    #[serde(default)]
    pub names: Vec<String>,
    /// Profiles older than `names` had one call per rule.
    #[serde(default)]
    pub name: Option<String>,
    pub action: LinuxSeccompAction,
    #[serde(default)]
    pub errno_ret: Option<u32>,
    #[serde(default)]
    pub args: Option<Vec<LinuxSeccompArg>>,
    #[serde(default)]
    pub includes: Conditions,
    #[serde(default)]
    pub excludes: Conditions,
    #[serde(default)]
    pub comment: Option<String>,
}

/// When a rule applies (`includes`: all of these hold) or not
/// (`excludes`: any of these holds).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    /// Go's names: amd64, x32, x86, arm64, arm, s390x, ...
    #[serde(default)]
    pub arches: Vec<String>,
    /// CAP_SYS_ADMIN, ...
    #[serde(default)]
    pub caps: Vec<String>,
    /// "4.8"
    #[serde(default)]
    pub min_kernel: Option<String>,
}

/// What a profile's conditions are resolved against: one container on
/// this host.
pub struct Container<'a> {
    /// Its capabilities (the bounding set it will have), CAP_ names.
    pub capabilities: &'a [String],
    /// The host's architecture in Go's spelling (amd64, arm64).
    pub arch: &'a str,
    /// The running kernel, (major, minor).
    pub kernel: (u32, u32),
}

impl Container<'_> {
    /// The host's architecture and kernel, with these capabilities.
    pub fn here(capabilities: &[String]) -> Container<'_> {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "riscv64" => "riscv64",
            other => other,
        };
        Container { capabilities, arch, kernel: kernel_version() }
    }

    fn has(&self, cap: &str) -> bool {
        self.capabilities.iter().any(|c| c == cap)
    }
}

impl Profile {
    /// Read a profile file (`--security-opt seccomp=FILE`).
    pub fn load(path: &Path) -> Result<Profile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the seccomp profile {}", path.display()))?;
        let profile: Profile = serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "{}: line {}, column {}: not a seccomp profile: {err}",
                path.display(),
                err.line(),
                err.column()
            )
        })?;
        profile.check().with_context(|| format!("the seccomp profile {}", path.display()))?;
        Ok(profile)
    }

    /// What [`Profile::resolve`] would refuse, found when the file is read:
    /// before anything is pulled or mounted for the container.
    fn check(&self) -> Result<()> {
        if !self.flags.is_empty() || self.listener_path.is_some() {
            bail!("flags and listenerPath are not supported by this runtime");
        }
        for (i, rule) in self.syscalls.iter().enumerate() {
            for version in [&rule.includes.min_kernel, &rule.excludes.min_kernel].into_iter().flatten() {
                parse_version(version).with_context(|| format!("syscalls[{i}]"))?;
            }
        }
        Ok(())
    }

    // ANCHOR: resolve
    /// The rules that hold for `container`, as config.json's
    /// `linux.seccomp`: what Docker writes for one container.
    pub fn resolve(&self, container: &Container) -> Result<LinuxSeccomp> {
        self.check().context("seccomp profile")?;
        let mut syscalls = Vec::new();
        for (i, rule) in self.syscalls.iter().enumerate() {
            if !rule.applies(container).with_context(|| format!("seccomp profile: syscalls[{i}]"))? {
                continue;
            }
            let mut names = rule.names.clone();
            names.extend(rule.name.clone());
            let mut syscall = LinuxSyscall::default();
            syscall.set_names(names).set_action(rule.action).set_errno_ret(rule.errno_ret).set_args(rule.args.clone());
            syscalls.push(syscall);
        }
        let mut profile = LinuxSeccomp::default();
        profile
            .set_default_action(self.default_action)
            .set_default_errno_ret(self.default_errno_ret)
            .set_architectures(Some(self.architectures(container.arch)))
            .set_syscalls(Some(syscalls));
        Ok(profile)
    }
    // ANCHOR_END: resolve

    /// The ABIs the profile covers on this host: from `archMap`, the
    /// host's entry; else the `architectures` list as it is.
    fn architectures(&self, arch: &str) -> Vec<Arch> {
        let native = match arch {
            "amd64" => Arch::ScmpArchX86_64,
            "arm64" => Arch::ScmpArchAarch64,
            "riscv64" => Arch::ScmpArchRiscv64,
            _ => return self.architectures.clone(),
        };
        match self.arch_map.iter().find(|entry| entry.architecture == native) {
            Some(entry) => std::iter::once(native).chain(entry.sub_architectures.clone().unwrap_or_default()).collect(),
            None => self.architectures.clone(),
        }
    }
}

impl Rule {
    /// Whether the rule holds for `container`.
    fn applies(&self, container: &Container) -> Result<bool> {
        let includes = &self.includes;
        if !includes.arches.is_empty() && !includes.arches.iter().any(|a| a == container.arch) {
            return Ok(false);
        }
        if !includes.caps.iter().all(|cap| container.has(cap)) {
            return Ok(false);
        }
        if let Some(version) = &includes.min_kernel {
            if container.kernel < parse_version(version)? {
                return Ok(false);
            }
        }
        let excludes = &self.excludes;
        if excludes.arches.iter().any(|a| a == container.arch) || excludes.caps.iter().any(|cap| container.has(cap)) {
            return Ok(false);
        }
        if let Some(version) = &excludes.min_kernel {
            if container.kernel >= parse_version(version)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// "4.8" as (4, 8).
fn parse_version(text: &str) -> Result<(u32, u32)> {
    let mut parts = text.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) => Ok((major, minor)),
        (Some(Ok(major)), None) => Ok((major, 0)),
        _ => bail!("minKernel {text:?} is not a kernel version such as \"4.8\""),
    }
}

/// The running kernel's version, from uname(2): "6.1.0-18-amd64" is (6, 1).
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default();
    let numbers: String = release.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    parse_version(numbers.trim_end_matches('.')).unwrap_or((0, 0))
}
