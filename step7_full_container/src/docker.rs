//! The docker-like front end: `step7 run --rootfs DIR [flags] CMD`.
//!
//! Docker's command line is a way of writing a config.json: each flag is a
//! field (`-e` is process.env, `-v` a bind mount, `--memory` a cgroup
//! limit, `--read-only` root.readonly) on top of defaults chosen to be safe
//! (Docker's capability set, its seccomp profile, no_new_privs, the masked
//! and read-only paths). This module builds that Spec and hands it to the
//! same [`crate::create`] as every bundle: there is one container start-up,
//! whichever command line asked for it. Networking is step 5's, around it:
//! the address is leased before create, eth0 configured before start.
//!
//! This is the foreground part: `-d`, `logs`, `ps -a`, `rm`, `inspect` and
//! `-p` need a monitor process that outlives the command, still to come.

use anyhow::{bail, Context, Result};
use clap::Args;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::create::{self, Options};
use crate::limits::LimitArgs;
use crate::network::{self, NetworkArgs};

/// Docker's default capabilities: what a container's root keeps of root's
/// powers (moby's oci/caps/defaults.go).
pub const DOCKER_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID",
    "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// The container's root filesystem (images come with `step7 pull`)
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// A name for the container [default: a random id]
    #[arg(long)]
    pub name: Option<String>,
    /// Hostname inside [default: the container's id]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Bind mount SRC:DST[:ro] (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<String>,
    /// Working directory inside
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// UID[:GID] to run as
    #[arg(short = 'u', long = "user", value_name = "UID[:GID]")]
    pub user: Option<String>,
    /// Mount the root filesystem read-only
    #[arg(long)]
    pub read_only: bool,
    /// Remove the container when it ends (a foreground container always is)
    #[arg(long)]
    pub rm: bool,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

/// `-v SRC:DST[:ro]` as an OCI mount.
fn volume(text: &str) -> Result<serde_json::Value> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, destination, options) = match parts[..] {
        [source, destination] => (source, destination, vec!["rbind"]),
        [source, destination, "ro"] => (source, destination, vec!["rbind", "ro"]),
        [source, destination, "rw"] => (source, destination, vec!["rbind"]),
        _ => bail!("invalid -v {text:?}: write SRC:DST or SRC:DST:ro"),
    };
    let source = Path::new(source)
        .canonicalize()
        .with_context(|| format!("invalid -v {text:?}: no {source} on the host"))?;
    if !destination.starts_with('/') {
        bail!("invalid -v {text:?}: the destination must be an absolute path");
    }
    Ok(json!({"destination": destination, "type": "bind", "source": source, "options": options}))
}

/// `--user UID[:GID]`, numbers.
fn user(text: &str) -> Result<(u32, u32)> {
    let (uid, gid) = text.split_once(':').unwrap_or((text, "0"));
    let number = |n: &str| n.parse::<u32>().with_context(|| format!("invalid --user {text:?}: write UID[:GID] as numbers"));
    Ok((number(uid)?, number(gid)?))
}

// ANCHOR: spec
/// The Spec Docker would write for these flags.
pub fn spec(args: &RunArgs, hostname: &str, command: &[String], etc_files: Option<(&Path, &Path)>) -> Result<Spec> {
    let rootfs = args.rootfs.as_ref().context("give the container a root filesystem: --rootfs DIR (images come later)")?;
    let rootfs = crate::preflight::rootfs(Some(rootfs))?;
    let mut config = serde_json::to_value(Spec::default())?;
    let command = if command.is_empty() { vec!["/bin/sh".to_string()] } else { command.to_vec() };
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        format!("HOSTNAME={hostname}"),
    ];
    for variable in &args.env {
        if !variable.contains('=') {
            bail!("invalid -e {variable:?}: write KEY=VALUE");
        }
        env.push(variable.clone());
    }
    let caps = json!(DOCKER_CAPABILITIES);
    config["process"] = json!({
        "terminal": false,
        "args": command,
        "env": env,
        "cwd": args.workdir.as_deref().unwrap_or("/"),
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": true,
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    });
    if let Some(text) = &args.user {
        let (uid, gid) = user(text)?;
        config["process"]["user"] = json!({"uid": uid, "gid": gid});
    }
    config["root"] = json!({"path": rootfs, "readonly": args.read_only});
    config["hostname"] = json!(hostname);
    let mounts = config["mounts"].as_array_mut().context("the default spec has mounts")?;
    if let Some((hosts, resolv_conf)) = etc_files {
        mounts.push(json!({"destination": "/etc/hosts", "type": "bind", "source": hosts, "options": ["rbind", "rw"]}));
        mounts.push(json!({"destination": "/etc/resolv.conf", "type": "bind", "source": resolv_conf, "options": ["rbind", "rw"]}));
    }
    for text in &args.volumes {
        mounts.push(volume(text)?);
    }
    let limits = args.limits.parse()?;
    let mut resources = json!({});
    if let Some(memory) = limits.memory {
        resources["memory"] = json!({"limit": memory});
        if let Some(total) = limits.memory_swap {
            resources["memory"]["swap"] = json!(total.map_or(-1, |t| t as i64));
        }
    }
    if let Some(quota) = limits.cpu_quota_us {
        resources["cpu"] = json!({"quota": quota, "period": crate::limits::CPU_PERIOD_US});
    }
    if let Some(shares) = limits.cpu_shares {
        resources["cpu"]["shares"] = json!(shares);
    }
    if let Some(pids) = limits.pids {
        resources["pids"] = json!({"limit": pids});
    }
    config["linux"]["resources"] = resources;
    config["linux"]["seccomp"] = serde_json::to_value(crate::seccomp::docker_default())?;
    let mut spec: Spec = serde_json::from_value(config).context("building the container's config")?;
    if let Some(linux) = spec.linux_mut() {
        let mut namespaces = linux.namespaces().clone().unwrap_or_default();
        if !namespaces.iter().any(|n| n.typ() == LinuxNamespaceType::Cgroup) {
            let mut cgroup = LinuxNamespace::default();
            cgroup.set_typ(LinuxNamespaceType::Cgroup);
            namespaces.push(cgroup);
        }
        linux.set_namespaces(Some(namespaces));
    }
    Ok(spec)
}
// ANCHOR_END: spec

// ANCHOR: run
/// `step7 run --rootfs DIR [flags] CMD`: a bundle made on the fly, then the
/// same create and start as for any bundle, with step 5's network around.
pub fn run(root: &Path, args: &RunArgs, command: &[String]) -> Result<i32> {
    args.network.check()?;
    if args.network.cleanup_network {
        network::cleanup(&args.network)?;
        return Ok(0);
    }
    args.limits.parse()?;
    let id = match &args.name {
        Some(name) => name.clone(),
        None => crate::id::ContainerId::random()?.to_string(),
    };
    crate::state::check_id(&id)?;
    let hostname = args.hostname.clone().unwrap_or_else(|| id.chars().take(12).collect());
    crate::uts::check_hostname(&hostname)?;

    crate::init::block_signals()?;
    let mut net = network::prepare(&args.network, &id, &hostname)?;
    let spec = spec(args, &hostname, command, Some(net.files()))?;
    // The bundle: a directory holding the config.json (the rootfs stays
    // where it is: root.path is absolute).
    let bundle = root.join(".bundles").join(&id);
    std::fs::create_dir_all(&bundle).with_context(|| format!("cannot create {}", bundle.display()))?;
    let _bundle = RemoveOnDrop(bundle.clone());
    std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;

    let options = Options { root, id: &id, bundle: &bundle, pid_file: None, no_pivot: false, console_socket: None, systemd_cgroup: false };
    let state = create::create(&options)?;
    let started = net
        .connect(nix::unistd::Pid::from_raw(state.pid), &id)
        .and_then(|()| crate::lifecycle::start(root, &id));
    if let Err(err) = started {
        let _ = crate::lifecycle::delete(root, &id, true);
        return Err(err);
    }
    let code = crate::init::supervise(nix::unistd::Pid::from_raw(state.pid));
    crate::lifecycle::delete(root, &id, true)?;
    code
}
// ANCHOR_END: run

/// Removes a directory when dropped.
struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        // Then .bundles and the state root, if nothing else is in them.
        for dir in self.0.ancestors().skip(1).take(2) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
