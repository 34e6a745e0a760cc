//! The docker-like front end: `step7 run [flags] IMAGE [CMD]` (or
//! `--rootfs DIR`, or `--layers A,B,C` instead of an image).
//!
//! Docker's command line is a way of writing a config.json: each flag is a
//! field (`-e` is process.env, `-v` a bind mount, `--memory` a cgroup
//! limit, `--read-only` root.readonly) on top of defaults chosen to be safe
//! (Docker's capability set, its seccomp profile, no_new_privs, the masked
//! and read-only paths). This module builds that Spec and hands it to the
//! same [`crate::create`] as every bundle: there is one container start-up,
//! whichever command line asked for it. Networking is step 5's, around it:
//! the address is leased before create, eth0 configured before start. An
//! image's root is stacked with overlayfs before create (crate::image) and
//! its config gives the defaults the flags override.
//!
//! A detached container (`-d`) needs a process that outlives the command:
//! a *monitor* (what conmon is for podman), which holds the network, waits
//! for the container, records its exit status and removes its cgroup. Its
//! output goes to a log file that `logs` reads. Stopped containers stay
//! listed (`ps -a`) until `rm`, unless `--rm`.

use anyhow::{bail, Context, Result};
use clap::Args;
use oci_spec::runtime::{LinuxNamespace, LinuxNamespaceType, Spec};
use serde_json::json;
use std::path::{Path, PathBuf};

use crate::create::{self, Options};
use crate::image::store::Store;
use crate::image::Defaults;
use crate::limits::LimitArgs;
use crate::network::{self, NetworkArgs};
use crate::state::Status;

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

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// A directory to use as the container's root, instead of an image
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,
    /// Layers made with `step7 layer add`, bottom first, instead of an image
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub layers: Vec<String>,
    /// Run this program instead of the image's entrypoint
    #[arg(long, value_name = "PROGRAM")]
    pub entrypoint: Option<String>,
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
    /// Give the container a terminal (this command becomes its screen and
    /// keyboard)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Keep stdin open (it always is: the container inherits it)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Add a capability to Docker's default set (CAP_ prefix optional; ALL)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop a capability from it (ALL for every one)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// seccomp=unconfined, or no-new-privileges[=true|false]
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// A resource limit, NAME=SOFT[:HARD] (e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Publish a port, HOST:CONTAINER[/udp] (repeatable; needs the bridge)
    #[arg(short = 'p', long = "publish", value_name = "HOST:CTR")]
    pub publish: Vec<crate::ports::Port>,
    /// Publish every port the image exposes, each on the same port number
    /// of the host
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    #[command(flatten)]
    pub pull: crate::image::pull::PullArgs,
    /// The image (run's first argument, when there is no --rootfs or
    /// --layers)
    #[arg(skip)]
    pub image: Option<String>,
    /// The image store (the global --store)
    #[arg(skip)]
    pub store: PathBuf,
    /// Run in the background (the `run` command's -d, shared with runc's)
    #[arg(skip)]
    pub detach: bool,
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
    let source =
        Path::new(source).canonicalize().with_context(|| format!("invalid -v {text:?}: no {source} on the host"))?;
    if !destination.starts_with('/') {
        bail!("invalid -v {text:?}: the destination must be an absolute path");
    }
    Ok(json!({"destination": destination, "type": "bind", "source": source, "options": options}))
}

// ANCHOR: capabilities
/// Docker's set, with `--cap-add` and `--cap-drop` applied (drop first,
/// so `--cap-drop ALL --cap-add NET_RAW` keeps exactly one).
fn capabilities(add: &[String], drop: &[String]) -> Result<Vec<String>> {
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

/// What `--security-opt` may turn off; everything is on by default.
struct Security {
    seccomp: bool,
    /// (Installing a seccomp filter sets no_new_privs too.)
    no_new_privileges: bool,
    /// The masked and read-only paths of /proc and /sys.
    system_paths: bool,
}

fn security_options(options: &[String]) -> Result<Security> {
    let mut security = Security { seccomp: true, no_new_privileges: true, system_paths: true };
    for option in options {
        match option.replace(':', "=").as_str() {
            "seccomp=unconfined" => security.seccomp = false,
            "no-new-privileges" | "no-new-privileges=true" => security.no_new_privileges = true,
            "no-new-privileges=false" => security.no_new_privileges = false,
            "systempaths=unconfined" => security.system_paths = false,
            _ => bail!(
                "unsupported --security-opt {option:?}: seccomp=unconfined, no-new-privileges[=true|false] \
                 or systempaths=unconfined"
            ),
        }
    }
    Ok(security)
}

/// `--ulimit nofile=1024:2048` as an rlimit of config.json.
fn ulimit(text: &str) -> Result<serde_json::Value> {
    let hint = || format!("invalid --ulimit {text:?}: write NAME=SOFT[:HARD], e.g. nofile=1024:2048");
    let (name, values) = text.split_once('=').with_context(hint)?;
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let (soft, hard): (u64, u64) = (soft.parse().with_context(hint)?, hard.parse().with_context(hint)?);
    if soft > hard {
        bail!("invalid --ulimit {text:?}: the soft limit is above the hard one");
    }
    let known = [
        "cpu",
        "fsize",
        "data",
        "stack",
        "core",
        "rss",
        "nproc",
        "nofile",
        "memlock",
        "as",
        "locks",
        "sigpending",
        "msgqueue",
        "nice",
        "rtprio",
        "rttime",
    ];
    if !known.contains(&name) {
        bail!("invalid --ulimit {text:?}: {name} is not a resource limit (see getrlimit(2))");
    }
    Ok(json!({"type": format!("RLIMIT_{}", name.to_ascii_uppercase()), "soft": soft, "hard": hard}))
}

// ANCHOR: root
/// The container's root filesystem and what its image says about running
/// it.
pub struct Root {
    pub path: PathBuf,
    pub defaults: Defaults,
    /// containers/<id> in the image store, for a root made from layers.
    pub image_dir: Option<PathBuf>,
}

impl Root {
    /// A directory as it is (--rootfs), or layers stacked for container
    /// `id`: an image's (pulled if missing) or named ones (--layers).
    pub fn prepare(root: &Path, args: &RunArgs, id: &str) -> Result<Root> {
        if let Some(dir) = &args.rootfs {
            return Ok(Root {
                path: crate::preflight::rootfs(Some(dir))?,
                defaults: Defaults::default(),
                image_dir: None,
            });
        }
        let store = Store::open(&args.store, false)?;
        let (layers, defaults) = match &args.image {
            Some(image) => crate::image::for_run(&store, image, &args.pull)?,
            None if !args.layers.is_empty() => {
                (crate::image::layer::resolve(&store, &args.layers)?, Defaults::default())
            }
            None => bail!("what should the container run? give an IMAGE, --rootfs DIR or --layers A,B,C"),
        };
        let path = crate::image::overlay::prepare(&store, id, &layers, &crate::state::dir(root, id))?;
        Ok(Root { path, defaults, image_dir: Some(store.container(id)) })
    }

    /// Remove what prepare made (nothing for a --rootfs directory).
    pub fn remove(&self) {
        if let Some(dir) = &self.image_dir {
            if let Err(err) = crate::image::overlay::remove(dir) {
                eprintln!("step7: {err:#}");
            }
        }
    }
}
// ANCHOR_END: root

// ANCHOR: command_line
/// The command: the entrypoint (--entrypoint, or the image's) followed by
/// CMD (the arguments, or the image's Cmd unless --entrypoint replaced
/// the entrypoint), as Docker combines them.
fn command_line(args: &RunArgs, command: &[String], defaults: &Defaults) -> Result<Vec<String>> {
    let mut line = match &args.entrypoint {
        Some(program) => vec![program.clone()],
        None => defaults.entrypoint.clone(),
    };
    if !command.is_empty() {
        line.extend(command.iter().cloned());
    } else if args.entrypoint.is_none() {
        line.extend(defaults.cmd.iter().cloned());
    }
    if line.is_empty() {
        if args.image.is_some() {
            bail!("the image has no command: give one after the image name");
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

// ANCHOR: spec
/// The Spec Docker would write for these flags.
pub fn spec(
    args: &RunArgs,
    hostname: &str,
    command: &[String],
    etc_files: Option<(&Path, &Path)>,
    root: &Root,
) -> Result<Spec> {
    let rootfs = &root.path;
    let defaults = &root.defaults;
    let mut config = serde_json::to_value(Spec::default())?;
    let command = command_line(args, command, defaults)?;
    // The image's environment, then ours, then -e: later ones win.
    let mut env = vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string()];
    for variable in &defaults.env {
        set_env(&mut env, variable);
    }
    set_env(&mut env, &format!("HOSTNAME={hostname}"));
    if args.tty {
        set_env(&mut env, "TERM=xterm");
    }
    for variable in &args.env {
        if !variable.contains('=') {
            bail!("invalid -e {variable:?}: write KEY=VALUE");
        }
        set_env(&mut env, variable);
    }
    let caps = json!(capabilities(&args.cap_add, &args.cap_drop)?);
    let security = security_options(&args.security_opt)?;
    let mut rlimits = vec![json!({"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024})];
    for text in &args.ulimit {
        let limit = ulimit(text)?;
        rlimits.retain(|r| r["type"] != limit["type"]);
        rlimits.push(limit);
    }
    config["process"] = json!({
        "terminal": args.tty,
        "args": command,
        "env": env,
        "cwd": args.workdir.as_deref().or(defaults.workdir.as_deref()).unwrap_or("/"),
        "user": {"uid": 0, "gid": 0},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": security.no_new_privileges,
        "rlimits": rlimits,
    });
    if args.tty {
        // The terminal starts with our window's size (the runtime passes
        // changes on later).
        if let Some((rows, cols)) = crate::terminal::window_size() {
            config["process"]["consoleSize"] = json!({"height": rows, "width": cols});
        }
    }
    if let Some(text) = args.user.as_ref().or(defaults.user.as_ref()) {
        let (uid, gid) = crate::passwd::resolve(text, rootfs)?;
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
    if security.seccomp {
        config["linux"]["seccomp"] = serde_json::to_value(crate::seccomp::docker_default())?;
    }
    if !security.system_paths {
        config["linux"]["maskedPaths"] = json!([]);
        config["linux"]["readonlyPaths"] = json!([]);
    }
    if rootless() {
        // Root inside is this user outside (rootless.rs); devpts cannot
        // name gid 5 (tty), which is not mapped.
        let (uids, gids) = crate::rootless::mappings();
        config["linux"]["uidMappings"] = serde_json::to_value(uids)?;
        config["linux"]["gidMappings"] = serde_json::to_value(gids)?;
        config["linux"]["namespaces"].as_array_mut().context("namespaces")?.push(json!({"type": "user"}));
        for mount in config["mounts"].as_array_mut().context("mounts")? {
            if let Some(options) = mount["options"].as_array_mut() {
                options.retain(|o| o != "gid=5");
            }
        }
    }
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
/// `step7 run [flags] IMAGE [CMD]`: a root filesystem and a bundle made on
/// the fly, then the same create and start as for any bundle, with step
/// 5's network around.
pub fn run(root: &Path, args: &RunArgs, command: &[String]) -> Result<i32> {
    args.network.check()?;
    if args.network.cleanup_network {
        network::cleanup(&args.network)?;
        return Ok(0);
    }
    args.limits.parse()?;
    let publishing = !args.publish.is_empty() || args.publish_all;
    if publishing && (args.network.network == network::Mode::None || rootless()) {
        bail!("-p needs the bridge network: drop --network none (rootless containers have loopback only)");
    }
    let id = match &args.name {
        Some(name) => name.clone(),
        None => crate::id::ContainerId::random()?.to_string(),
    };
    crate::state::check_id(&id)?;
    let hostname = args.hostname.clone().unwrap_or_else(|| id.chars().take(12).collect());
    crate::uts::check_hostname(&hostname)?;
    if crate::state::dir(root, &id).exists() {
        bail!("a container named {id} already exists (remove it with `step7 rm {id}`)");
    }
    if args.detach && args.tty {
        bail!("-t with -d is not supported yet: a detached container has no terminal to attach to");
    }
    // The root filesystem (an image is pulled if missing, its layers
    // stacked), removed again unless a container started with it.
    let rootfs = Root::prepare(root, args, &id)?;
    let result = run_on(root, args, command, &id, &hostname, &rootfs);
    if !(args.detach && result.is_ok()) {
        rootfs.remove();
    }
    result
}

/// `run` once the root filesystem is there.
fn run_on(root: &Path, args: &RunArgs, command: &[String], id: &str, hostname: &str, rootfs: &Root) -> Result<i32> {
    // Every flag checked before anything (a lease, a bridge) is made.
    spec(args, hostname, command, None, rootfs)?;
    if args.detach {
        return detach(root, args, command, id, hostname, rootfs);
    }
    crate::init::block_signals()?;
    let (state, net, ports, master) = start(root, args, command, id, hostname, rootfs)?;
    // -t: this command is the container's terminal from here on.
    let raw = master.as_ref().map(|_| crate::terminal::RawMode::enter());
    let screen = master.map(crate::terminal::proxy);
    let code = crate::init::supervise(nix::unistd::Pid::from_raw(state.pid));
    if let Some(screen) = screen {
        let _ = screen.join();
    }
    drop(raw);
    crate::lifecycle::delete(root, id, true)?;
    drop((ports, net));
    code
}
// ANCHOR_END: run

/// Everything up to a started container: network, config, create, eth0,
/// start. The caller holds the network until the container ends.
#[allow(clippy::type_complexity)]
fn start(
    root: &Path,
    args: &RunArgs,
    command: &[String],
    id: &str,
    hostname: &str,
    rootfs: &Root,
) -> Result<(crate::state::State, Option<network::Network>, Option<crate::ports::Published>, Option<std::fs::File>)> {
    // Rootless: no bridge (it needs root); the container's own network
    // namespace has its loopback, brought up by the container process.
    let mut net = if rootless() { None } else { Some(network::prepare(&args.network, id, hostname)?) };
    let spec = spec(args, hostname, command, net.as_ref().map(|net| net.files()), rootfs)?;
    // The bundle: a directory holding the config.json (the rootfs stays
    // where it is: root.path is absolute).
    let bundle = root.join(".bundles").join(id);
    std::fs::create_dir_all(&bundle).with_context(|| format!("cannot create {}", bundle.display()))?;
    let _bundle = RemoveOnDrop(bundle.clone());
    std::fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&spec)?)?;

    // -t: a console socket of our own. No thread to accept on it: create
    // forks, and a fork must not copy a process in which another thread
    // may hold a lock. The container's connection waits in the backlog.
    let console = bundle.join("console.sock");
    let listener = if args.tty { Some(crate::terminal::listen(&console)?) } else { None };
    let console_socket = args.tty.then_some(console.as_path());
    let options =
        Options { root, id, bundle: &bundle, pid_file: None, no_pivot: false, console_socket, systemd_cgroup: false };
    let state = create::create(&options)?;
    let started = (|| {
        // Whoever removes the container (`rm`) removes its root too.
        if let Some(dir) = &rootfs.image_dir {
            std::fs::write(crate::state::dir(root, id).join(IMAGE_ROOT), dir.as_os_str().as_encoded_bytes())?;
        }
        let master = listener.as_ref().map(crate::terminal::receive).transpose()?;
        let mut ports = None;
        if let Some(net) = net.as_mut() {
            net.connect(nix::unistd::Pid::from_raw(state.pid), id)?;
            let publish = published(args, &rootfs.defaults)?;
            ports = net.address().map(|a| crate::ports::publish(id, a, &publish)).transpose()?.flatten();
        }
        crate::lifecycle::start(root, id)?;
        Ok((ports, master))
    })();
    match started {
        Ok((ports, master)) => Ok((state, net, ports, master)),
        Err(err) => {
            let _ = crate::lifecycle::delete(root, id, true);
            crate::ports::unpublish(id);
            Err(err)
        }
    }
}

/// The file in a container's state directory naming its image root.
const IMAGE_ROOT: &str = "image-root";

/// -p, and with -P every port the image exposes ("80/tcp") on the same
/// number of the host.
fn published(args: &RunArgs, defaults: &Defaults) -> Result<Vec<crate::ports::Port>> {
    let mut ports = args.publish.clone();
    if args.publish_all {
        for exposed in &defaults.exposed_ports {
            let (number, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            ports.push(
                format!("{number}:{number}/{protocol}")
                    .parse()
                    .with_context(|| format!("the image exposes {exposed:?}"))?,
            );
        }
    }
    Ok(ports)
}

/// Whether this runs as a user other than root.
fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// Where a detached container's output goes.
pub fn log_path(root: &Path, id: &str) -> PathBuf {
    root.join(".logs").join(format!("{id}.log"))
}

// ANCHOR: detach
/// `run -d`: fork a monitor, in a session of its own, that starts the
/// container with its stdout and stderr on the log file, tells us it
/// started (or why not) over a pipe, then waits for it and cleans up.
fn detach(root: &Path, args: &RunArgs, command: &[String], id: &str, hostname: &str, rootfs: &Root) -> Result<i32> {
    let log = log_path(root, id);
    std::fs::create_dir_all(log.parent().unwrap())?;
    let log_file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: single-threaded; the child becomes the monitor and exits.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => {
            drop(report_write);
            let mut report = String::new();
            std::io::Read::read_to_string(&mut std::fs::File::from(report_read), &mut report)?;
            let _ = nix::sys::wait::waitpid(child, None);
            if report.trim() != "started" {
                let _ = std::fs::remove_file(&log);
                bail!("{}", report.trim());
            }
            println!("{id}");
            Ok(0)
        }
        nix::unistd::ForkResult::Child => {
            drop(report_read);
            // A session of its own, and a second fork so that the monitor
            // is nobody's child but init's (or a subreaper's).
            let _ = nix::unistd::setsid();
            if let Ok(nix::unistd::ForkResult::Parent { .. }) = unsafe { nix::unistd::fork() } {
                unsafe { libc::_exit(0) };
            }
            let null = std::fs::File::open("/dev/null").map(std::os::fd::OwnedFd::from);
            unsafe {
                if let Ok(null) = &null {
                    libc::dup2(std::os::fd::AsRawFd::as_raw_fd(null), 0);
                }
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&log_file), 1);
                libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&log_file), 2);
            }
            let code = monitor(root, args, command, id, hostname, rootfs, report_write);
            unsafe { libc::_exit(code) }
        }
    }
}

/// The monitor: start, report, wait, record the exit status, clean up.
#[allow(clippy::too_many_arguments)]
fn monitor(
    root: &Path,
    args: &RunArgs,
    command: &[String],
    id: &str,
    hostname: &str,
    rootfs: &Root,
    report: std::os::fd::OwnedFd,
) -> i32 {
    let mut report = std::fs::File::from(report);
    let _ = crate::init::block_signals();
    let (state, net, ports, _) = match start(root, args, command, id, hostname, rootfs) {
        Ok(started) => started,
        Err(err) => {
            let _ = std::io::Write::write_all(&mut report, format!("{err:#}").as_bytes());
            return 125;
        }
    };
    let _ = std::io::Write::write_all(&mut report, b"started");
    drop(report);
    let code = crate::init::supervise(nix::unistd::Pid::from_raw(state.pid)).unwrap_or(125);
    drop((ports, net));
    if args.rm {
        let _ = crate::lifecycle::delete(root, id, true);
        rootfs.remove();
        let _ = std::fs::remove_file(log_path(root, id));
    } else {
        // Stopped, and listed until `rm`: keep the state, free the rest.
        let _ = std::fs::write(crate::state::dir(root, id).join("exit_code"), code.to_string());
        crate::lifecycle::release_cgroup(root, id);
    }
    code
}
// ANCHOR_END: detach

// ANCHOR: commands
/// `ps [-a]`: the containers, docker-style.
pub fn ps(root: &Path, all: bool) -> Result<()> {
    println!("{:<16} {:<14} {:<30} CREATED", "CONTAINER", "STATUS", "COMMAND");
    for state in crate::state::list(root) {
        let status = state.status(root);
        if status == Status::Stopped && !all {
            continue;
        }
        let shown = match status {
            Status::Stopped => format!("exited ({})", exit_code(root, &state.id).map_or("?".into(), |c| c.to_string())),
            other => other.as_str().to_string(),
        };
        let command = state
            .spec(root)
            .ok()
            .and_then(|s| s.process().clone())
            .and_then(|p| p.args().clone())
            .unwrap_or_default()
            .join(" ");
        println!(
            "{:<16} {:<14} {:<30} {}",
            state.id,
            shown,
            command.chars().take(30).collect::<String>(),
            state.created
        );
    }
    Ok(())
}

/// The exit status the monitor recorded.
pub fn exit_code(root: &Path, id: &str) -> Option<i32> {
    std::fs::read_to_string(crate::state::dir(root, id).join("exit_code")).ok()?.trim().parse().ok()
}

/// `logs [-f]`: the container's output; with `follow`, until it stops.
pub fn logs(root: &Path, id: &str, follow: bool) -> Result<()> {
    let state = crate::state::State::load(root, id)?;
    let path = log_path(root, id);
    let mut file =
        std::fs::File::open(&path).with_context(|| format!("{id} has no log (only detached containers have one)"))?;
    let mut out = std::io::stdout();
    loop {
        std::io::copy(&mut file, &mut out)?;
        std::io::Write::flush(&mut out)?;
        if !follow || state.status(root) == Status::Stopped {
            // One last read: what was written just before it stopped.
            std::io::copy(&mut file, &mut out)?;
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `stop [-t SECS]`: SIGTERM, then SIGKILL if it is still there after
/// `timeout`.
pub fn stop(root: &Path, id: &str, timeout: u64) -> Result<()> {
    let state = crate::state::State::load(root, id)?;
    if state.status(root) == Status::Stopped {
        return Ok(());
    }
    let pid = nix::unistd::Pid::from_raw(state.pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(timeout);
    while state.is_alive() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    if state.is_alive() {
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
    }
    Ok(())
}

/// `rm [-f]`: remove a stopped container (or, with `force`, kill it
/// first), its state and its log.
pub fn rm(root: &Path, id: &str, force: bool) -> Result<()> {
    let state = crate::state::State::load(root, id)?;
    if state.status(root) != Status::Stopped && !force {
        bail!("container {id} is {}: stop it first, or use rm -f", state.status(root).as_str());
    }
    let image_root = std::fs::read(crate::state::dir(root, id).join(IMAGE_ROOT)).ok();
    crate::lifecycle::delete(root, id, true)?;
    // A killed monitor could not unpublish its ports.
    crate::ports::unpublish(id);
    if let Some(dir) = image_root {
        crate::image::overlay::remove(Path::new(&String::from_utf8_lossy(&dir).into_owned()))?;
    }
    let _ = std::fs::remove_file(log_path(root, id));
    let _ = std::fs::remove_dir(root.join(".logs"));
    let _ = std::fs::remove_dir(root);
    Ok(())
}

/// `inspect`: what is known of a container, as JSON.
pub fn inspect(root: &Path, id: &str) -> Result<serde_json::Value> {
    let state = crate::state::State::load(root, id)?;
    let status = state.status(root);
    Ok(json!({
        "Id": state.id,
        "State": state.oci(status),
        "ExitCode": exit_code(root, id),
        "LogPath": log_path(root, id),
        "Cgroup": state.cgroup,
        "Config": state.spec(root).ok(),
    }))
}
// ANCHOR_END: commands

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
