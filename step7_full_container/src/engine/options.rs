//! What a docker-like `run` is asked for, checked before anything is made.
//!
//! Docker's command line is a way of writing a config.json: each flag is a
//! field (`-e` is process.env, `-v` a bind mount, `--memory` a cgroup
//! limit, `--read-only` root.readonly) on top of defaults chosen to be
//! safe. [`RunOptions`] holds those wishes as checked values, whoever
//! wrote them: the command line, and later a compose file or the PaaS.
//! Each piece of text parses into its type here ([`Volume`], [`Ulimit`],
//! [`Security`], [`capabilities`]), with an error that names the flag and
//! shows the right way to write it.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::PosixRlimitType;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::ports::Port;
use crate::ipam::Subnet;
use crate::limits::Limits;
use crate::network::Mode;

/// Where the container's root filesystem comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// An image, pulled if it is not in the store ("alpine:3.20").
    Image(String),
    /// A directory, used as it is (`--rootfs`).
    Rootfs(PathBuf),
    /// Layers made with `step7 layer add`, bottom first (`--layers`).
    Layers(Vec<String>),
}

/// Everything `run` can be asked for.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub source: Source,
    /// The arguments after the image: its CMD replaced (with --rootfs or
    /// --layers, the whole command; `/bin/sh` if empty).
    pub command: Vec<String>,
    /// Run this program instead of the image's entrypoint.
    pub entrypoint: Option<String>,
    /// The container's id [default: a random one].
    pub name: Option<String>,
    /// [default: the id's first 12 characters]
    pub hostname: Option<String>,
    /// KEY=VALUE, after the image's environment.
    pub env: Vec<String>,
    pub volumes: Vec<Volume>,
    pub workdir: Option<String>,
    /// USER[:GROUP], names or numbers of the container's /etc/passwd.
    pub user: Option<String>,
    pub read_only: bool,
    /// Remove a detached container when it ends (a foreground one always is).
    pub remove: bool,
    /// Run in the background, under a monitor.
    pub detach: bool,
    /// A terminal for the program, handed back to the caller.
    pub tty: bool,
    /// The terminal's size at start, (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// `--cap-add` and `--cap-drop`, on top of Docker's set.
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security: Security,
    pub ulimits: Vec<Ulimit>,
    pub publish: Vec<Port>,
    /// Publish every port the image exposes, on the same number.
    pub publish_all: bool,
    pub pull: step7_image::pull::PullOptions,
    pub network: NetworkOptions,
    pub limits: Limits,
}

impl RunOptions {
    /// A container from `source`, with every other option at its default.
    pub fn new(source: Source) -> RunOptions {
        RunOptions {
            source,
            command: Vec::new(),
            entrypoint: None,
            name: None,
            hostname: None,
            env: Vec::new(),
            volumes: Vec::new(),
            workdir: None,
            user: None,
            read_only: false,
            remove: false,
            detach: false,
            tty: false,
            console_size: None,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            security: Security::default(),
            ulimits: Vec::new(),
            publish: Vec::new(),
            publish_all: false,
            pull: Default::default(),
            network: NetworkOptions::default(),
            limits: Limits::default(),
        }
    }

    // ANCHOR: check
    /// What can be refused before anything is made: the rest (a --user
    /// name, an image without a command) needs the root filesystem.
    pub fn check(&self) -> Result<()> {
        for variable in &self.env {
            if !variable.contains('=') || variable.starts_with('=') {
                bail!("invalid -e {variable:?}: write KEY=VALUE");
            }
        }
        capabilities(&self.cap_add, &self.cap_drop)?;
        if let Some(name) = &self.name {
            crate::oci::state::check_id(name)?;
        }
        if let Some(hostname) = &self.hostname {
            crate::uts::check_hostname(hostname)?;
        }
        crate::netlink::check_interface_name(&self.network.bridge).context("invalid --bridge")?;
        let publishing = !self.publish.is_empty() || self.publish_all;
        if publishing && (self.network.mode == Mode::None || crate::paths::rootless()) {
            bail!("-p needs the bridge network: drop --network none (rootless containers have loopback only)");
        }
        if self.detach && self.tty {
            bail!("-t with -d is not supported yet: a detached container has no terminal to attach to");
        }
        Ok(())
    }
    // ANCHOR_END: check
}

/// The network the container joins: step 5's bridge, or none.
#[derive(Clone, Debug)]
pub struct NetworkOptions {
    pub mode: Mode,
    pub bridge: String,
    pub subnet: Subnet,
    /// Name servers for its /etc/resolv.conf [default: the host's].
    pub dns: Vec<Ipv4Addr>,
}

impl Default for NetworkOptions {
    fn default() -> NetworkOptions {
        NetworkOptions {
            mode: Mode::Bridge,
            bridge: crate::network::DEFAULT_BRIDGE.to_string(),
            subnet: crate::network::DEFAULT_SUBNET.parse().expect("the default subnet is valid"),
            dns: Vec::new(),
        }
    }
}

/// `-v SRC:DST[:ro]`: a directory or file of the host, bind-mounted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volume {
    /// Absolute, symlinks resolved.
    pub source: PathBuf,
    pub destination: String,
    pub read_only: bool,
}

impl FromStr for Volume {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Volume> {
        let parts: Vec<&str> = text.split(':').collect();
        let (source, destination, read_only) = match parts[..] {
            [source, destination] | [source, destination, "rw"] => (source, destination, false),
            [source, destination, "ro"] => (source, destination, true),
            _ => bail!("invalid -v {text:?}: write SRC:DST or SRC:DST:ro"),
        };
        let source = Path::new(source)
            .canonicalize()
            .with_context(|| format!("invalid -v {text:?}: no {source} on the host"))?;
        if !destination.starts_with('/') {
            bail!("invalid -v {text:?}: the destination must be an absolute path");
        }
        Ok(Volume { source, destination: destination.to_string(), read_only })
    }
}

/// `--ulimit nofile=1024:2048`: a resource limit (getrlimit(2)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ulimit {
    /// config.json's name: "RLIMIT_NOFILE".
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

impl FromStr for Ulimit {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Ulimit> {
        let hint = || format!("invalid --ulimit {text:?}: write NAME=SOFT[:HARD], e.g. nofile=1024:2048");
        let (name, values) = text.split_once('=').with_context(hint)?;
        let (soft, hard) = values.split_once(':').unwrap_or((values, values));
        let (soft, hard): (u64, u64) = (soft.parse().with_context(hint)?, hard.parse().with_context(hint)?);
        if soft > hard {
            bail!("invalid --ulimit {text:?}: the soft limit is above the hard one");
        }
        // The resources of getrlimit(2), as oci-spec knows them:
        // nofile is RLIMIT_NOFILE.
        let resource = format!("RLIMIT_{}", name.to_ascii_uppercase());
        let lower = name.bytes().all(|b| b.is_ascii_lowercase());
        if !lower || resource.parse::<PosixRlimitType>().is_err() {
            bail!("invalid --ulimit {text:?}: {name} is not a resource limit (see getrlimit(2))");
        }
        Ok(Ulimit { name: resource, soft, hard })
    }
}

/// What `--security-opt` may turn off; everything is on by default.
#[derive(Clone, Debug)]
pub struct Security {
    pub seccomp: Seccomp,
    /// no_new_privs (installing a seccomp filter sets it too).
    pub no_new_privileges: bool,
    /// The masked and read-only paths of /proc and /sys.
    pub system_paths: bool,
}

/// Which seccomp profile the container gets.
#[derive(Clone, Debug)]
pub enum Seccomp {
    /// Docker's default (`oci::security::seccomp::profile`).
    Default,
    /// `seccomp=FILE`: a profile in Docker's format.
    Profile(Box<crate::oci::security::seccomp::Profile>),
    /// `seccomp=unconfined`: none.
    Unconfined,
}

impl Default for Security {
    fn default() -> Security {
        Security { seccomp: Seccomp::Default, no_new_privileges: true, system_paths: true }
    }
}

impl Security {
    /// The defaults, with each `--security-opt` applied in turn.
    pub fn parse(options: &[String]) -> Result<Security> {
        let mut security = Security::default();
        for option in options {
            // Docker accepts "seccomp:..." too; a path may hold either.
            match option.split_once(['=', ':']) {
                Some(("seccomp", "unconfined")) => security.seccomp = Seccomp::Unconfined,
                Some(("seccomp", file)) => {
                    let profile = crate::oci::security::seccomp::Profile::load(Path::new(file))
                        .with_context(|| format!("--security-opt {option}"))?;
                    security.seccomp = Seccomp::Profile(Box::new(profile));
                }
                None if option == "no-new-privileges" => security.no_new_privileges = true,
                Some(("no-new-privileges", "true")) => security.no_new_privileges = true,
                Some(("no-new-privileges", "false")) => security.no_new_privileges = false,
                Some(("systempaths", "unconfined")) => security.system_paths = false,
                _ => bail!(
                    "unsupported --security-opt {option:?}: seccomp=unconfined or seccomp=PROFILE.json, \
                     no-new-privileges[=true|false], or systempaths=unconfined"
                ),
            }
        }
        Ok(security)
    }
}

/// Docker's default capabilities: what a container's root keeps of root's
/// powers (moby's oci/caps/defaults.go).
pub const DOCKER_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

// ANCHOR: capabilities
/// Docker's set, with `--cap-add` and `--cap-drop` applied (drop first,
/// so `--cap-drop ALL --cap-add NET_RAW` keeps exactly one).
pub fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<String>> {
    let name = |text: &str| {
        let upper = text.to_ascii_uppercase();
        let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        if name != "CAP_ALL" && name.parse::<caps::Capability>().is_err() {
            bail!("unknown capability {text:?} (see capabilities(7))");
        }
        Ok(name)
    };
    let mut set: Vec<String> = DOCKER_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    for text in drop {
        let cap = name(text)?;
        set.retain(|c| cap != "CAP_ALL" && *c != cap);
    }
    for text in add {
        let cap = name(text)?;
        if cap == "CAP_ALL" {
            set = caps::all().iter().map(|c| c.to_string()).collect();
        } else if !set.contains(&cap) {
            set.push(cap);
        }
    }
    Ok(set)
}
// ANCHOR_END: capabilities

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_ulimits_and_security_options_parse() {
        let volume: Volume = "/tmp:/data:ro".parse().unwrap();
        assert_eq!((volume.destination.as_str(), volume.read_only), ("/data", true));
        for bad in ["/tmp", "/tmp:data", "/tmp:/data:rx", "/no/such/dir:/data"] {
            assert!(bad.parse::<Volume>().is_err(), "{bad}");
        }
        let ulimit: Ulimit = "nofile=1024:2048".parse().unwrap();
        assert_eq!(ulimit, Ulimit { name: "RLIMIT_NOFILE".into(), soft: 1024, hard: 2048 });
        for good in ["cpu=1", "msgqueue=1", "rttime=1", "sigpending=1"] {
            assert!(good.parse::<Ulimit>().is_ok(), "{good}");
        }
        for bad in ["nofile", "nofile=2:1", "files=1", "nofile=x", "NOFILE=1", "=1", "rlimit_nofile=1"] {
            assert!(bad.parse::<Ulimit>().is_err(), "{bad}");
        }
        let security = Security::parse(&["seccomp:unconfined".into(), "no-new-privileges=false".into()]).unwrap();
        assert!(matches!(security.seccomp, Seccomp::Unconfined));
        assert!(!security.no_new_privileges && security.system_paths);
        assert!(Security::parse(&["apparmor=x".into()]).is_err());
        let err = Security::parse(&["seccomp=/no/such/profile.json".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("cannot read the seccomp profile /no/such/profile.json"), "{err:#}");
    }

    /// A profile file is read and checked when the option is parsed, before
    /// anything is made for the container; a ':' in its path is the path's.
    #[test]
    fn seccomp_profile_files_are_checked_when_read() {
        let dir = std::env::temp_dir().join(format!("step7-profiles-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let good = file("a:b.json", r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#);
        for option in [format!("seccomp={good}"), format!("seccomp:{good}")] {
            let security =
                Security::parse(std::slice::from_ref(&option)).unwrap_or_else(|err| panic!("{option}: {err:#}"));
            assert!(matches!(security.seccomp, Seccomp::Profile(_)), "{option}");
        }
        let flags = file("flags.json", r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}"#);
        let kernel = file(
            "kernel.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                "includes": {"minKernel": "four"}}]}"#,
        );
        for (path, says) in [(&flags, "flags and listenerPath"), (&kernel, "syscalls[0]: minKernel \"four\"")] {
            let err = format!("{:#}", Security::parse(&[format!("seccomp={path}")]).unwrap_err());
            assert!(err.contains(path.as_str()) && err.contains(says), "{err}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn capabilities_drop_then_add() {
        let only_raw = capabilities(&["net_raw".into()], &["ALL".into()]).unwrap();
        assert_eq!(only_raw, ["CAP_NET_RAW"]);
        assert!(capabilities(&["SYS_ADMIN".into()], &[]).unwrap().contains(&"CAP_SYS_ADMIN".to_string()));
        assert!(capabilities(&["NOT_A_CAP".into()], &[]).is_err());
    }
}
