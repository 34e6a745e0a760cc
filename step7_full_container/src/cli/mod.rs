//! The command line: clap, and what is printed. The work is the library's:
//! runc's verbs call [`step7::oci`], docker's [`step7::engine`], the image
//! verbs `step7_image`.
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

pub mod docker;
pub mod images;
pub mod output;
pub mod runc;
pub mod terminal;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use step7::engine::options::Source;
use step7::oci::create::{self, Options};
use step7::oci::exec::ProcessFlags;
use step7::oci::lifecycle;
use step7::paths::Paths;
use step7::{narrate, process};

use output::out;

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
    #[arg(long, global = true, value_name = "FORMAT", default_value = "text", value_parser = ["text", "json"])]
    log_format: String,

    /// Narrate each system call (as --verbose in steps 1-6)
    #[arg(long, global = true)]
    debug: bool,

    /// Read cgroupsPath as systemd's "slice:prefix:name"; the cgroup is
    /// still made by writing cgroupfs directly, not through systemd
    #[arg(long, global = true)]
    systemd_cgroup: bool,

    /// Where images and layers are stored [default: $STEP7_STORE, else
    /// /var/lib/step7, or $XDG_DATA_HOME/step7 for a non-root user].
    /// Downloads and unpacking keep $STEP7_STORE_MIN_FREE bytes of its file
    /// system free
    /// [default: 5%, at most 1 GiB]
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

// Parsed once per run: the size of its largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
        docker: docker::RunArgs,
        /// ID (with a bundle), IMAGE [CMD...], or CMD [ARGS...] (with
        /// --rootfs or --layers)
        #[arg(trailing_var_arg = true, value_name = "ID | IMAGE [CMD]")]
        args: Vec<String>,
    },
    /// Fetch an image from a registry into the store
    Pull {
        #[command(flatten)]
        args: images::PullArgs,
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
    Layer(images::LayerCommand),
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

/// Parse, run, report: the exit status is the container's, or 125 (and
/// one line on stderr) when the runtime failed.
pub fn main() {
    let cli = Cli::parse();
    narrate::init("step7", cli.debug);
    if let Some(log) = &cli.log {
        output::log_to(log, &cli.log_format);
    }
    let result = run(&cli);
    if let Err(err) = &result {
        output::log_error(err);
    }
    process::exit_with(result);
}

fn run(cli: &Cli) -> Result<i32> {
    let paths = Paths::new(cli.root.clone(), cli.store.clone());
    let root = paths.state.as_path();
    // The commands that make container processes run from a sealed copy
    // of this binary, so that no container can reach the file on the host.
    if matches!(cli.command, Command::Create { .. } | Command::Run { .. } | Command::Exec { .. }) {
        step7::oci::sealed::ensure_sealed()?;
    }
    match &cli.command {
        Command::Spec { bundle, rootless } => runc::spec(bundle, *rootless),
        Command::Create { bundle, pid_file, no_pivot, console_socket, id } => {
            let options = Options {
                root,
                id,
                bundle,
                pid_file: pid_file.as_deref(),
                no_pivot: *no_pivot,
                console_socket: console_socket.as_deref(),
                systemd_cgroup: cli.systemd_cgroup,
            };
            create::create(&options).map(|_| 0)
        }
        Command::Start { id } => lifecycle::start(root, id).map(|()| 0),
        Command::State { id } => runc::state(root, id),
        Command::Kill { all, id, signal } => {
            lifecycle::kill(root, id, lifecycle::parse_signal(signal)?, *all).map(|()| 0)
        }
        Command::Delete { force, id } => lifecycle::delete(root, id, *force).map(|()| 0),
        Command::Run { bundle, pid_file, detach, no_pivot, console_socket, docker, args } => {
            match which_run(bundle.as_deref(), docker, args)? {
                RunStyle::Bundle(id) => {
                    let options = Options {
                        root,
                        id,
                        bundle: bundle.as_deref().unwrap_or(Path::new(".")),
                        pid_file: pid_file.as_deref(),
                        no_pivot: *no_pivot,
                        console_socket: console_socket.as_deref(),
                        systemd_cgroup: cli.systemd_cgroup,
                    };
                    runc::run(&options, *detach)
                }
                RunStyle::CleanupNetwork => docker::cleanup_network(docker),
                RunStyle::Docker(source, command) => {
                    let options = docker.options(source, command, *detach)?;
                    docker::run(&paths, docker, &options)
                }
            }
        }
        Command::List { quiet } => runc::list(root, *quiet),
        Command::Exec { process, detach, pid_file, tty, console_socket, env, cwd, user, id, command } => {
            let process = ProcessFlags {
                file: process.as_deref(),
                args: command,
                env,
                cwd: cwd.as_deref(),
                user: user.as_deref(),
                tty: *tty,
            };
            let flags = runc::ExecFlags {
                detach: *detach,
                pid_file: pid_file.as_deref(),
                console_socket: console_socket.as_deref(),
            };
            runc::exec(root, id, &process, &flags)
        }
        Command::Pause { id } => lifecycle::pause(root, id, true).map(|()| 0),
        Command::Resume { id } => lifecycle::pause(root, id, false).map(|()| 0),
        Command::Features => {
            out!("{}", serde_json::to_string_pretty(&step7::oci::features::document())?);
            Ok(0)
        }
        Command::Ps { id: Some(id), .. } => runc::ps(root, id),
        Command::Ps { all, id: None } => docker::ps(&paths, *all),
        Command::Logs { follow, id } => docker::logs(&paths, id, *follow),
        Command::Stop { timeout, id } => docker::stop(&paths, id, *timeout),
        Command::Rm { force, id } => docker::rm(&paths, id, *force),
        Command::Inspect { id } => docker::inspect(&paths, id),
        Command::Pull { args, image } => images::pull(&paths, args, image),
        Command::Images => images::images(&paths),
        Command::Rmi { images } => images::rmi(&paths, images),
        Command::Prune => images::prune(&paths),
        Command::Layer(command) => images::layer(&paths, command),
    }
}

// ANCHOR: which_run
/// The two `run`s: runc's and docker's.
enum RunStyle<'a> {
    /// `run [--bundle DIR] ID`: the OCI bundle in DIR (or here).
    Bundle(&'a str),
    /// `run [flags] IMAGE [CMD...]`, `run --rootfs DIR [CMD...]`, `run
    /// --layers A,B [CMD...]`: a container the engine makes.
    Docker(Source, &'a [String]),
    /// `run --cleanup-network`: step 5's bridge removed.
    CleanupNetwork,
}

/// Which `run` is meant. Engines call runc's, `run [--bundle DIR] ID`,
/// and people docker's, so the same verb takes both, told apart here and
/// only here: runc's with --bundle, or with one argument while a
/// config.json is in the current directory; docker's with --rootfs or
/// --layers, or otherwise (the first argument is then the image).
fn which_run<'a>(bundle: Option<&Path>, docker: &docker::RunArgs, args: &'a [String]) -> Result<RunStyle<'a>> {
    if docker.network.cleanup_network {
        return Ok(RunStyle::CleanupNetwork);
    }
    if let Some(dir) = &docker.rootfs {
        return Ok(RunStyle::Docker(Source::Rootfs(dir.clone()), args));
    }
    if !docker.layers.is_empty() {
        return Ok(RunStyle::Docker(Source::Layers(docker.layers.clone()), args));
    }
    if bundle.is_some() || (args.len() == 1 && Path::new("config.json").exists()) {
        let [id] = args else {
            anyhow::bail!("usage: step7 run [--bundle DIR] ID (an OCI bundle), or step7 run [flags] IMAGE [CMD...]");
        };
        return Ok(RunStyle::Bundle(id));
    }
    let Some((image, command)) = args.split_first() else {
        anyhow::bail!(
            "usage: step7 run [flags] IMAGE [CMD...] (or --rootfs DIR, --layers A,B,C), or step7 run [--bundle DIR] ID"
        );
    };
    Ok(RunStyle::Docker(Source::Image(image.clone()), command))
}
// ANCHOR_END: which_run
