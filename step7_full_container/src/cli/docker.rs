//! The docker verbs: `run IMAGE`, `ps`, `logs`, `stop`, `rm`, `inspect`.
//!
//! Flags become [`RunOptions`] (each value parsed by the engine's own
//! types: by clap for `-v`, `--ulimit`, `-p`, when the options are built
//! for `--security-opt` and the limits, with the same messages), the
//! engine runs the container, and this module is its screen: the
//! container's id, a table, a log, or, with `-t`, the terminal.

use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use step7::engine::options::{RunOptions, Security, Source, Ulimit, Volume};
use step7::engine::ports::Port;
use step7::engine::run::Run;
use step7::engine::{self, containers};
use step7::limits::LimitArgs;
use step7::network::NetworkArgs;
use step7::oci::state::Status;
use step7::paths::Paths;

use super::images::PullArgs;
use super::output::out;
use super::terminal;

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
    /// Hostname inside [default: the first 12 characters of --name, or of
    /// the id]
    #[arg(long)]
    pub hostname: Option<String>,
    /// Environment variable KEY=VALUE (repeatable)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Bind mount SRC:DST[:ro] (repeatable)
    #[arg(short = 'v', long = "volume", value_name = "SRC:DST[:ro]")]
    pub volumes: Vec<Volume>,
    /// Working directory inside
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// USER[:GROUP] to run as, names of the container's or numbers
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
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
    /// seccomp=unconfined, seccomp=PROFILE.json (Docker's format),
    /// no-new-privileges[=true|false] or systempaths=unconfined
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// A resource limit, NAME=SOFT[:HARD] (e.g. nofile=1024:2048)
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<Ulimit>,
    /// Publish a port, HOST:CONTAINER[/udp] (repeatable; needs the bridge)
    #[arg(short = 'p', long = "publish", value_name = "HOST:CTR")]
    pub publish: Vec<Port>,
    /// Publish every port the image exposes, each on the same port number
    /// of the host
    #[arg(short = 'P', long)]
    pub publish_all: bool,
    #[command(flatten)]
    pub pull: PullArgs,
    #[command(flatten)]
    pub network: NetworkArgs,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl RunArgs {
    /// The flags as the engine's options: the root filesystem from
    /// `source`, `command` after it.
    pub fn options(&self, source: Source, command: &[String], detach: bool) -> Result<RunOptions> {
        let network = &self.network;
        let mut options = RunOptions::new(source);
        options.command = command.to_vec();
        options.entrypoint = self.entrypoint.clone();
        options.name = self.name.clone();
        options.hostname = self.hostname.clone();
        options.env = self.env.clone();
        options.volumes = self.volumes.clone();
        options.workdir = self.workdir.clone();
        options.user = self.user.clone();
        options.read_only = self.read_only;
        options.remove = self.rm;
        options.detach = detach;
        options.tty = self.tty;
        options.console_size = if self.tty { terminal::window_size() } else { None };
        options.cap_add = self.cap_add.clone();
        options.cap_drop = self.cap_drop.clone();
        options.security = Security::parse(&self.security_opt)?;
        options.ulimits = self.ulimit.clone();
        options.publish = self.publish.clone();
        options.publish_all = self.publish_all;
        options.pull = self.pull.options();
        options.network.mode = network.network;
        options.network.bridge = network.bridge.clone();
        options.network.subnet = network.subnet;
        options.network.dns = network.dns.clone();
        options.limits = self.limits.parse()?;
        Ok(options)
    }
}

// ANCHOR: run
/// `run [flags] IMAGE [CMD]`: the id of a detached container, or this
/// command as the foreground container's parent (and terminal, with -t)
/// until it ends; its exit status.
pub fn run(paths: &Paths, args: &RunArgs, options: &RunOptions) -> Result<i32> {
    match engine::run::run(paths, options, &args.pull.progress())? {
        Run::Detached(id) => {
            out!("{id}");
            Ok(0)
        }
        Run::Foreground(mut running) => {
            // -t: this command is the container's terminal from here on.
            let screen = running.take_terminal().map(|master| (terminal::RawMode::enter(), terminal::proxy(master)));
            let code = running.wait();
            if let Some((raw, screen)) = screen {
                let _ = screen.join();
                drop(raw);
            }
            code
        }
    }
}
// ANCHOR_END: run

/// `ps [-a]`: the containers, docker-style.
pub fn ps(paths: &Paths, all: bool) -> Result<i32> {
    out!("{:<16} {:<14} {:<30} CREATED", "CONTAINER", "STATUS", "COMMAND");
    for container in containers::list(paths, all) {
        let status = match container.status {
            Status::Stopped => format!("exited ({})", container.exit_code.map_or("?".into(), |c| c.to_string())),
            other => other.as_str().to_string(),
        };
        let command: String = container.command.join(" ").chars().take(30).collect();
        out!("{:<16} {:<14} {:<30} {}", container.id, status, command, container.created);
    }
    Ok(0)
}

/// `logs [-f]`
pub fn logs(paths: &Paths, id: &str, follow: bool) -> Result<i32> {
    containers::logs(paths, id, follow, &mut super::output::Stdout)?;
    Ok(0)
}

/// `stop [-t SECS]`
pub fn stop(paths: &Paths, id: &str, timeout: u64) -> Result<i32> {
    containers::stop(paths, id, Duration::from_secs(timeout))?;
    Ok(0)
}

/// `rm [-f]`
pub fn rm(paths: &Paths, id: &str, force: bool) -> Result<i32> {
    containers::remove(paths, id, force)?;
    Ok(0)
}

/// `inspect`
pub fn inspect(paths: &Paths, id: &str) -> Result<i32> {
    out!("{}", serde_json::to_string_pretty(&containers::inspect(paths, id)?)?);
    Ok(0)
}

/// `run --cleanup-network [--bridge NAME --subnet CIDR]`: step 5's.
pub fn cleanup_network(args: &RunArgs) -> Result<i32> {
    args.network.check()?;
    step7::network::cleanup(&args.network)?;
    Ok(0)
}
