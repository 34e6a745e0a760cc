//! step7: an OCI runtime, with runc's command line, and docker's on top.
//!
//!     step7 spec                     write a config.json for a bundle
//!     step7 run ID                   create + start + wait + delete
//!     step7 create ID / start ID     the two halves engines use
//!     step7 state ID / list / ps ID
//!     step7 kill ID [SIGNAL] / delete ID
//!
//!     step7 pull IMAGE / images / rmi IMAGE / prune
//!     step7 run [flags] IMAGE [CMD]  (or --rootfs DIR, --layers A,B,C)
//!     step7 ps / logs / stop / rm / inspect / exec
//!     step7 layer add NAME DIR|TAR / layer ls / layer rm NAME

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use step7::create::{self, Options};
use step7::{init, lifecycle, narrate, process, state};

/// Step 7: an OCI runtime built from steps 1-6.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Where container state lives [default: /run/step7, or
    /// $XDG_RUNTIME_DIR/step7 for a non-root user]
    #[arg(long, global = true, value_name = "DIR")]
    root: Option<PathBuf>,

    /// Append errors to this file too (engines read it)
    #[arg(long, global = true, value_name = "FILE")]
    log: Option<PathBuf>,

    /// Format of --log: text or json
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text")]
    log_format: String,

    /// Narrate each system call (as --verbose in steps 1-6)
    #[arg(long, global = true)]
    debug: bool,

    /// Read cgroupsPath as systemd's "slice:prefix:name"; the cgroup is
    /// still made by writing cgroupfs directly, not through systemd
    #[arg(long, global = true)]
    systemd_cgroup: bool,

    /// Where images and layers are stored [default: $STEP7_STORE, else
    /// /var/lib/step7, or $XDG_DATA_HOME/step7 for a non-root user]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write a default config.json (like `runc spec`)
    Spec {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        /// A config.json for a non-root user: a user namespace mapping the
        /// caller to root inside
        #[arg(long)]
        rootless: bool,
    },
    /// Create a container from a bundle; it waits for `start`
    Create {
        #[arg(long, short, default_value = ".")]
        bundle: PathBuf,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Move the rootfs over / and chroot, instead of pivot_root
        #[arg(long)]
        no_pivot: bool,
        /// Receive the terminal's master over this socket
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        id: String,
    },
    /// Start a created container
    Start { id: String },
    /// Print a container's state as JSON
    State { id: String },
    /// Send a signal (default TERM) to a container
    Kill {
        /// Signal every process in the container, not only the first
        #[arg(long, short)]
        all: bool,
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
    },
    /// Remove a stopped container
    Delete {
        /// Kill it first if it still runs
        #[arg(long, short)]
        force: bool,
        id: String,
    },
    /// Create and start a container, wait for it, remove it: from a bundle
    /// (`run [--bundle DIR] ID`, as runc, when ./config.json exists or
    /// --bundle is given), or docker-like (`run [flags] IMAGE [CMD...]`,
    /// `run --rootfs DIR [flags] [CMD...]`, `run --layers A,B [CMD...]`)
    Run {
        /// The bundle [default: .]
        #[arg(long, short)]
        bundle: Option<PathBuf>,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Return once started, leaving the container running
        #[arg(long, short)]
        detach: bool,
        #[arg(long)]
        no_pivot: bool,
        /// Receive the terminal's master over this socket
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        #[command(flatten)]
        docker: step7::docker::RunArgs,
        /// ID (with a bundle), IMAGE [CMD...], or CMD [ARGS...] (with
        /// --rootfs or --layers)
        #[arg(trailing_var_arg = true, value_name = "ID | IMAGE [CMD]")]
        args: Vec<String>,
    },
    /// Fetch an image from a registry into the store
    Pull {
        #[command(flatten)]
        args: step7::image::pull::PullArgs,
        /// e.g. alpine, alpine:3.20, 127.0.0.1:5000/app:v1, name@sha256:...
        image: String,
    },
    /// The images in the store
    Images,
    /// Remove images (and whatever of them nothing else uses)
    Rmi {
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Remove what nothing uses: blobs, layers, roots of vanished
    /// containers, leftovers of interrupted pulls
    Prune,
    /// Layers of your own, to stack with `run --layers`
    #[command(subcommand)]
    Layer(LayerCommand),
    /// List containers
    List {
        /// Only the ids
        #[arg(long, short)]
        quiet: bool,
    },
    /// With an ID: the container's processes (their PIDs on the host), as
    /// runc; without: the containers, as docker (running ones, -a all)
    Ps {
        #[arg(short, long)]
        all: bool,
        id: Option<String>,
    },
    /// A detached container's output
    Logs {
        /// Keep following it until the container stops
        #[arg(short, long)]
        follow: bool,
        id: String,
    },
    /// Stop a container: SIGTERM, then SIGKILL after the timeout
    Stop {
        #[arg(short = 't', long = "time", default_value = "10")]
        timeout: u64,
        id: String,
    },
    /// Remove a stopped container (-f: also a running one)
    Rm {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// What is known of a container, as JSON
    Inspect { id: String },
    /// Run another process in a running container
    Exec {
        /// The process, as the "process" object of config.json
        #[arg(long, short, value_name = "FILE")]
        process: Option<PathBuf>,
        /// Return once it started
        #[arg(long, short)]
        detach: bool,
        #[arg(long, value_name = "FILE")]
        pid_file: Option<PathBuf>,
        /// Allocate a terminal (sent to --console-socket, or this command
        /// becomes it)
        #[arg(long, short)]
        tty: bool,
        /// Receive the terminal's master over this socket
        #[arg(long, value_name = "SOCKET")]
        console_socket: Option<PathBuf>,
        /// More environment, KEY=VALUE
        #[arg(long, short)]
        env: Vec<String>,
        /// Working directory inside
        #[arg(long)]
        cwd: Option<String>,
        /// UID[:GID] to run as
        #[arg(long, short)]
        user: Option<String>,
        id: String,
        #[arg(trailing_var_arg = true)]
        command: Vec<String>,
    },
    /// Freeze every process of a container
    Pause { id: String },
    /// Thaw a paused container
    Resume { id: String },
    /// What this runtime supports, as JSON (for engines)
    Features,
}

#[derive(Subcommand)]
enum LayerCommand {
    /// Make a layer from a directory or a tar archive (.tar, .tar.gz)
    Add { name: String, source: PathBuf },
    /// List the named layers
    Ls,
    /// Forget a named layer (removed when nothing uses it)
    Rm { name: String },
}

fn main() {
    let cli = Cli::parse();
    narrate::init("step7", cli.debug);
    let result = run(&cli);
    if let (Err(err), Some(log)) = (&result, &cli.log) {
        log_error(log, &cli.log_format, err);
    }
    process::exit_with(result);
}

fn run(cli: &Cli) -> Result<i32> {
    let root = cli.root.clone().unwrap_or_else(state::default_root);
    // The commands that make container processes run from a sealed copy
    // of this binary, so that no container can reach the file on the host.
    if matches!(cli.command, Command::Create { .. } | Command::Run { .. } | Command::Exec { .. }) {
        step7::sealed::ensure_sealed()?;
    }
    match &cli.command {
        Command::Spec { bundle, rootless } => spec(bundle, *rootless),
        Command::Create { bundle, pid_file, no_pivot, console_socket, id } => {
            let console_socket = console_socket.as_deref();
            let systemd_cgroup = cli.systemd_cgroup;
            create::create(&Options {
                root: &root,
                id,
                bundle,
                pid_file: pid_file.as_deref(),
                no_pivot: *no_pivot,
                console_socket,
                systemd_cgroup,
            })?;
            Ok(0)
        }
        Command::Start { id } => lifecycle::start(&root, id).map(|()| 0),
        Command::State { id } => {
            println!("{}", serde_json::to_string_pretty(&lifecycle::state(&root, id)?)?);
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            lifecycle::kill(&root, id, lifecycle::parse_signal(signal)?, *all).map(|()| 0)
        }
        Command::Delete { force, id } => lifecycle::delete(&root, id, *force).map(|()| 0),
        Command::Run { bundle, pid_file, detach, no_pivot, console_socket, docker, args } => {
            if !is_bundle_run(bundle.as_deref(), docker, args) {
                let mut docker = docker.clone();
                docker.detach |= *detach;
                docker.store = store(cli);
                let mut command = &args[..];
                if docker.rootfs.is_none() && docker.layers.is_empty() && !docker.network.cleanup_network {
                    let Some((image, rest)) = args.split_first() else {
                        anyhow::bail!("usage: step7 run [flags] IMAGE [CMD...] (or --rootfs DIR, --layers A,B,C), or step7 run [--bundle DIR] ID");
                    };
                    docker.image = Some(image.clone());
                    command = rest;
                }
                return step7::docker::run(&root, &docker, command);
            }
            let [id] = &args[..] else {
                anyhow::bail!(
                    "usage: step7 run [--bundle DIR] ID (an OCI bundle), or step7 run [flags] IMAGE [CMD...]"
                );
            };
            let bundle = bundle.as_deref().unwrap_or(Path::new("."));
            let console_socket = console_socket.as_deref();
            let systemd_cgroup = cli.systemd_cgroup;
            let options = Options {
                root: &root,
                id,
                bundle,
                pid_file: pid_file.as_deref(),
                no_pivot: *no_pivot,
                console_socket,
                systemd_cgroup,
            };
            run_container(&options, *detach)
        }
        Command::List { quiet } => {
            list(&root, *quiet);
            Ok(0)
        }
        Command::Exec { process, detach, pid_file, tty, console_socket, env, cwd, user, id, command } => {
            let flags = step7::exec::ProcessFlags {
                file: process.as_deref(),
                args: command,
                env,
                cwd: cwd.as_deref(),
                user: user.as_deref(),
                tty: *tty,
            };
            let process = step7::exec::process_from(&root, id, &flags)?;
            init::block_signals()?;
            step7::exec::exec(&root, id, &process, *detach, pid_file.as_deref(), console_socket.as_deref())
        }
        Command::Pause { id } => lifecycle::pause(&root, id, true).map(|()| 0),
        Command::Resume { id } => lifecycle::pause(&root, id, false).map(|()| 0),
        Command::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            Ok(0)
        }
        Command::Ps { id: Some(id), .. } => {
            for pid in lifecycle::ps(&root, id)? {
                println!("{pid}");
            }
            Ok(0)
        }
        Command::Ps { all, id: None } => step7::docker::ps(&root, *all).map(|()| 0),
        Command::Logs { follow, id } => step7::docker::logs(&root, id, *follow).map(|()| 0),
        Command::Stop { timeout, id } => step7::docker::stop(&root, id, *timeout).map(|()| 0),
        Command::Rm { force, id } => step7::docker::rm(&root, id, *force).map(|()| 0),
        Command::Pull { args, image } => {
            let store = step7::image::store::Store::open(&store(cli), false)?;
            println!("{}", step7::image::pull::pull(&store, image, args)?);
            Ok(0)
        }
        Command::Images => {
            step7::image::list(&step7::image::store::Store::open(&store(cli), false)?);
            Ok(0)
        }
        Command::Rmi { images } => {
            let store = step7::image::store::Store::open(&store(cli), true)?;
            for image in images {
                let freed = step7::image::remove(&store, image)?;
                println!("removed {image} ({} freed)", step7::image::store::human(freed));
            }
            Ok(0)
        }
        Command::Prune => {
            let store = step7::image::store::Store::open(&store(cli), true)?;
            println!("{} freed", step7::image::store::human(step7::image::prune(&store)?));
            Ok(0)
        }
        Command::Layer(command) => layer(&store(cli), command),
        Command::Inspect { id } => {
            println!("{}", serde_json::to_string_pretty(&step7::docker::inspect(&root, id)?)?);
            Ok(0)
        }
    }
}

/// Whether `run` means runc's `run ID` (a bundle) rather than docker's
/// `run IMAGE`: only with --bundle, or one argument and a config.json
/// here, and none of the flags that name a root filesystem.
fn is_bundle_run(bundle: Option<&Path>, docker: &step7::docker::RunArgs, args: &[String]) -> bool {
    if docker.rootfs.is_some() || !docker.layers.is_empty() || docker.network.cleanup_network {
        return false;
    }
    bundle.is_some() || (args.len() == 1 && Path::new("config.json").exists())
}

fn store(cli: &Cli) -> PathBuf {
    let from_env = std::env::var_os("STEP7_STORE").map(PathBuf::from);
    let dir = cli.store.clone().or(from_env).unwrap_or_else(step7::image::store::default_dir);
    // Absolute: container roots in it become root.path of a bundle
    // elsewhere, where a relative path would mean something else.
    std::path::absolute(&dir).unwrap_or(dir)
}

/// `layer add|ls|rm`
fn layer(store: &Path, command: &LayerCommand) -> Result<i32> {
    use step7::image::{layer, store::Store};
    match command {
        LayerCommand::Add { name, source } => {
            let added = layer::add(&Store::open(store, false)?, name, source)?;
            println!("{name} {}", added.diff_id);
        }
        LayerCommand::Ls => layer::list(&Store::open(store, false)?),
        LayerCommand::Rm { name } => {
            let freed = layer::remove(&Store::open(store, true)?, name)?;
            println!("removed {name} ({} freed)", step7::image::store::human(freed));
        }
    }
    Ok(0)
}

// ANCHOR: run_container
/// `run`: create and start; unless detached, wait for the container as
/// its parent (passing signals on, as step 2's runtime does), then delete.
fn run_container(options: &Options, detach: bool) -> Result<i32> {
    init::block_signals()?;
    let state = create::create(options)?;
    if let Err(err) = lifecycle::start(options.root, options.id) {
        let _ = lifecycle::delete(options.root, options.id, true);
        return Err(err);
    }
    if detach {
        return Ok(0);
    }
    let code = init::supervise(nix::unistd::Pid::from_raw(state.pid));
    lifecycle::delete(options.root, options.id, true)?;
    code
}
// ANCHOR_END: run_container

/// `spec`: the default config.json, as `runc spec` writes it, but not
/// asking for a terminal (which would need --console-socket).
fn spec(bundle: &Path, rootless: bool) -> Result<i32> {
    let path = bundle.join("config.json");
    if path.exists() {
        anyhow::bail!("{} exists already: remove it first", path.display());
    }
    let mut spec = if rootless {
        let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
        oci_spec::runtime::Spec::rootless(uid, gid)
    } else {
        oci_spec::runtime::Spec::default()
    };
    spec.set_hostname(Some("step7".into()));
    // 1.0.2, what runc 1.1 writes: older runtimes (crun 1.8) refuse newer.
    spec.set_version("1.0.2".into());
    let mut json = serde_json::to_value(&spec)?;
    // oci-spec keeps capabilities in hash sets: sort them, so that the file
    // is the same every time.
    if let Some(sets) = json.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut()) {
        for set in sets.values_mut().filter_map(|s| s.as_array_mut()) {
            set.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
    }
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(0)
}

/// `features`: the runtime-spec's features document (features.md).
fn features() -> serde_json::Value {
    let capabilities: Vec<String> = caps::all().iter().map(|cap| cap.to_string()).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountExtensions": {"idmap": {"enabled": true}},
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async",
            "dirsync", "noatime", "atime", "nodiratime", "diratime", "relatime", "norelatime", "strictatime",
            "nostrictatime", "bind", "rbind", "private", "rprivate", "shared", "rshared", "slave", "rslave",
            "unbindable", "runbindable"],
        "linux": {
            "namespaces": ["pid", "mount", "uts", "ipc", "network", "cgroup", "user", "time"],
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "step7"},
    })
}

fn list(root: &Path, quiet: bool) {
    let states = state::list(root);
    if quiet {
        for state in states {
            println!("{}", state.id);
        }
        return;
    }
    println!("{:<20} {:<8} {:<10} {:<40} CREATED", "ID", "PID", "STATUS", "BUNDLE");
    for state in states {
        let status = state.status(root);
        let pid = if status == state::Status::Stopped { 0 } else { state.pid };
        println!(
            "{:<20} {:<8} {:<10} {:<40} {}",
            state.id,
            pid,
            status.as_str(),
            state.bundle.display(),
            state.created
        );
    }
}

/// Engines (containerd's shim, conmon) read errors from --log.
fn log_error(log: &Path, format: &str, err: &anyhow::Error) {
    let line = if format == "json" {
        serde_json::json!({"level": "error", "msg": format!("{err:#}"), "time": state::now_rfc3339()}).to_string()
    } else {
        format!("{} step7: {err:#}", state::now_rfc3339())
    };
    if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = std::io::Write::write_all(&mut file, format!("{line}\n").as_bytes());
    }
}
