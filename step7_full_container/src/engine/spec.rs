//! The config.json Docker would write for a `run`: [`RunOptions`] on top
//! of the image's defaults, on top of safe defaults of its own.
//!
//! The result goes to the same `oci::create` as every bundle: there is one
//! container start-up, whichever command line asked for it. Built once,
//! when the root is ready (the image's config gives its defaults) and
//! before the network, the bundle or the container exist; the network's
//! /etc files join it when the network exists.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use serde_json::{json, Value};
use std::path::Path;

use super::options::{capabilities, RunOptions, Seccomp, Source};
use super::root::Root;
use crate::limits::CPU_PERIOD_US;
use crate::oci::program::DEFAULT_PATH;
use crate::oci::security::seccomp;

// ANCHOR: build
/// The Spec for container `hostname` of `options`, running on `root`.
pub fn build(options: &RunOptions, hostname: &str, root: &Root) -> Result<Spec> {
    // oci-spec's defaults: runc spec's config.json, every namespace but
    // the user's (the cgroup namespace included, which tests/docker.rs
    // checks from inside).
    let mut config = serde_json::to_value(Spec::default())?;
    config["process"] = process(options, hostname, root)?;
    config["root"] = json!({"path": root.path, "readonly": options.read_only});
    config["hostname"] = json!(hostname);
    let mounts = config["mounts"].as_array_mut().context("the default spec has mounts")?;
    for volume in &options.volumes {
        let flags = if volume.read_only { json!(["rbind", "ro"]) } else { json!(["rbind"]) };
        mounts.push(
            json!({"destination": volume.destination, "type": "bind", "source": volume.source, "options": flags}),
        );
    }
    config["linux"]["resources"] = resources(options);
    if let Some(profile) = seccomp(options)? {
        config["linux"]["seccomp"] = serde_json::to_value(profile)?;
    }
    if !options.security.system_paths {
        config["linux"]["maskedPaths"] = json!([]);
        config["linux"]["readonlyPaths"] = json!([]);
    }
    if crate::paths::rootless() {
        rootless(&mut config)?;
    }
    serde_json::from_value(config).context("building the container's config")
}
// ANCHOR_END: build

/// `process`: what runs, with which environment, as whom, with which of
/// root's powers.
fn process(options: &RunOptions, hostname: &str, root: &Root) -> Result<Value> {
    let defaults = &root.defaults;
    // The image's environment, then ours, then -e: later ones win.
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    for variable in &defaults.env {
        set_env(&mut env, variable);
    }
    set_env(&mut env, &format!("HOSTNAME={hostname}"));
    if options.tty {
        set_env(&mut env, "TERM=xterm");
    }
    for variable in &options.env {
        set_env(&mut env, variable);
    }
    let caps = json!(capabilities(&options.cap_add, &options.cap_drop)?);
    let mut rlimits = vec![json!({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024})];
    for ulimit in &options.ulimits {
        rlimits.retain(|r| r["type"] != ulimit.name.as_str());
        rlimits.push(json!({"type": ulimit.name, "soft": ulimit.soft, "hard": ulimit.hard}));
    }
    let (uid, gid) = match options.user.as_ref().or(defaults.user.as_ref()) {
        Some(text) => super::passwd::resolve(text, &root.path)?,
        None => (0, 0),
    };
    let mut process = json!({
        "terminal": options.tty,
        "args": command_line(options, defaults)?,
        "env": env,
        "cwd": options.workdir.as_deref().or(defaults.workdir.as_deref()).unwrap_or("/"),
        "user": {"uid": uid, "gid": gid},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": options.security.no_new_privileges,
        "rlimits": rlimits,
    });
    if let (true, Some((rows, cols))) = (options.tty, options.console_size) {
        process["consoleSize"] = json!({"height": rows, "width": cols});
    }
    Ok(process)
}

// ANCHOR: command_line
/// The command: the entrypoint (--entrypoint, or the image's) followed by
/// CMD (the arguments, or the image's Cmd unless --entrypoint replaced
/// the entrypoint), as Docker combines them.
fn command_line(options: &RunOptions, defaults: &step7_image::Defaults) -> Result<Vec<String>> {
    let mut line = match &options.entrypoint {
        Some(program) => vec![program.clone()],
        None => defaults.entrypoint.clone(),
    };
    if !options.command.is_empty() {
        line.extend(options.command.iter().cloned());
    } else if options.entrypoint.is_none() {
        line.extend(defaults.cmd.iter().cloned());
    }
    if line.is_empty() {
        if let Source::Image(image) = &options.source {
            bail!("the image {image} has no command: give one after the image name");
        }
        line.push("/bin/sh".to_string());
    }
    Ok(line)
}

/// Add `variable` (KEY=VALUE) to `env`, replacing an earlier KEY: the
/// process would see only the first of two.
fn set_env(env: &mut Vec<String>, variable: &str) {
    let key = variable.split('=').next().unwrap_or_default();
    env.retain(|v| v.split('=').next() != Some(key));
    env.push(variable.to_string());
}
// ANCHOR_END: command_line

// ANCHOR: seccomp
/// The container's seccomp profile, resolved for its capabilities: the
/// calls that need one the container was given are allowed to it.
fn seccomp(options: &RunOptions) -> Result<Option<LinuxSeccomp>> {
    let capabilities = capabilities(&options.cap_add, &options.cap_drop)?;
    Ok(match &options.security.seccomp {
        Seccomp::Default => Some(seccomp::docker_default(&capabilities)),
        Seccomp::Profile(profile) => Some(profile.resolve(&seccomp::Container::here(&capabilities))?),
        Seccomp::Unconfined => None,
    })
}
// ANCHOR_END: seccomp

/// `linux.resources`: step 6's limits in config.json's (cgroup v1) units.
fn resources(options: &RunOptions) -> Value {
    let limits = &options.limits;
    let mut resources = json!({});
    if let Some(memory) = limits.memory {
        resources["memory"] = json!({"limit": memory});
        if let Some(total) = limits.memory_swap {
            resources["memory"]["swap"] = json!(total.map_or(-1, |t| t as i64));
        }
    }
    if let Some(quota) = limits.cpu_quota_us {
        resources["cpu"] = json!({"quota": quota, "period": CPU_PERIOD_US});
    }
    if let Some(shares) = limits.cpu_shares {
        resources["cpu"]["shares"] = json!(shares);
    }
    if let Some(pids) = limits.pids {
        resources["pids"] = json!({"limit": pids});
    }
    resources
}

/// A user other than root: root inside is this user outside (with its
/// subordinate ids, see oci::userns::rootless); devpts cannot name gid 5
/// (tty), which is not mapped.
fn rootless(config: &mut Value) -> Result<()> {
    let (uids, gids) = crate::oci::userns::rootless::mappings();
    config["linux"]["uidMappings"] = serde_json::to_value(uids)?;
    config["linux"]["gidMappings"] = serde_json::to_value(gids)?;
    config["linux"]["namespaces"].as_array_mut().context("namespaces")?.push(json!({"type": "user"}));
    for mount in config["mounts"].as_array_mut().context("mounts")? {
        if let Some(options) = mount["options"].as_array_mut() {
            options.retain(|o| o != "gid=5");
        }
    }
    Ok(())
}

// ANCHOR: network_files
/// The container's own /etc/hosts and /etc/resolv.conf (step 5's, made
/// with the network), bind-mounted. Last, as Docker sorts its mounts so
/// that a volume on /etc does not cover them; none where a volume
/// provides the file itself.
pub fn add_network_files(spec: &mut Spec, hosts: &Path, resolv_conf: &Path) -> Result<()> {
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    for (destination, source) in [("/etc/hosts", hosts), ("/etc/resolv.conf", resolv_conf)] {
        if mounts.iter().any(|m| m.destination() == Path::new(destination)) {
            continue;
        }
        let mount = json!({"destination": destination, "type": "bind", "source": source, "options": ["rbind", "rw"]});
        mounts.push(serde_json::from_value(mount)?);
    }
    spec.set_mounts(Some(mounts));
    Ok(())
}
// ANCHOR_END: network_files
