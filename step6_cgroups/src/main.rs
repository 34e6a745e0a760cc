//! step6: step 5, plus cgroups: limits on memory, CPU and processes.

use anyhow::Result;
use clap::Parser;
use std::convert::Infallible;
use std::path::Path;
use step6::cgroup::Cgroup;
use step6::gate::Gate;
use step6::hierarchy::Hierarchies;
use step6::limits::LimitArgs;
use step6::network::{self, Network, NetworkArgs};
use step6::{cli::CommonArgs, dev, id::ContainerId, init, mount, narrate, pid, preflight, process, uts};

/// Step 6: step 5 plus cgroups: the container's memory, CPU and processes are limited.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,

    /// Hostname inside the container [default: the container's id]
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,

    #[command(flatten)]
    network: NetworkArgs,

    #[command(flatten)]
    limits: LimitArgs,
}

fn main() {
    let cli = Cli::parse();
    narrate::init(env!("CARGO_PKG_NAME"), cli.common.verbose);
    process::exit_with(run(&cli));
}

// ANCHOR: run
/// The runtime: check, create the container process, wait for it.
fn run(cli: &Cli) -> Result<i32> {
    preflight::require_root("namespaces, mount(2), pivot_root(2), network and cgroup set-up")?;
    cli.network.check()?;
    if cli.network.cleanup_network {
        network::cleanup(&cli.network)?;
        return Ok(0);
    }
    let rootfs = preflight::rootfs(cli.common.rootfs.as_deref())?;
    let id = ContainerId::random()?;
    let hostname = cli.hostname.clone().unwrap_or_else(|| id.to_string());
    uts::check_hostname(&hostname)?;
    let limits = cli.limits.parse()?;
    let hierarchies = Hierarchies::detect()?;
    narrate!("cgroups: {}", hierarchies.setup);

    // Signals meant for the container wait, blocked, for supervise to pass
    // them on: before it, one would kill the runtime half-way.
    init::block_signals()?;
    let cgroup = Cgroup::create(&hierarchies, id.as_str(), &limits)?;
    let mut network = network::prepare(&cli.network, id.as_str(), &hostname)?;
    let gate = Gate::new()?;

    let namespaces = pid::NAMESPACE | mount::NAMESPACE | uts::NAMESPACE | network::NAMESPACE;
    let mut container = process::spawn(namespaces, || container(cli, &rootfs, &hostname, &network, &gate))?;
    cgroup.attach(container.pid())?;
    network.connect(container.pid(), id.as_str())?;
    gate.open()?;
    container.started()?;
    let code = init::supervise(container.pid())?;
    cgroup.outcome(code)
}
// ANCHOR_END: run

// ANCHOR: container
/// The container process: everything between clone and exec.
fn container(cli: &Cli, rootfs: &Path, hostname: &str, network: &Network, gate: &Gate) -> Result<Infallible> {
    mount::prepare_new_root(rootfs)?;
    dev::mount_dev(rootfs)?;
    network.bind_files(rootfs)?;
    mount::pivot_to(rootfs)?;
    uts::set_hostname(hostname)?;
    gate.wait()?;
    init::run(|| process::exec(&cli.common.command()))
}
// ANCHOR_END: container
