//! step2: step 1, plus a PID namespace with a tiny init as PID 1.

use anyhow::Result;
use clap::Parser;
use std::convert::Infallible;
use std::path::Path;
use step2::{chroot, cli::CommonArgs, init, narrate, pid, preflight, process};

/// Step 2: step 1 plus a PID namespace: CMD runs under a tiny init, PID 1.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

fn main() {
    let cli = Cli::parse();
    narrate::init(env!("CARGO_PKG_NAME"), cli.common.verbose);
    process::exit_with(run(&cli));
}

// ANCHOR: run
/// The runtime: check, create the container process, wait for it.
fn run(cli: &Cli) -> Result<i32> {
    preflight::require_root("chroot(2) and namespaces")?;
    let rootfs = preflight::rootfs(cli.common.rootfs.as_deref())?;

    // Signals meant for the container wait, blocked, for supervise to pass
    // them on: before it, one would kill the runtime half-way.
    init::block_signals()?;
    let namespaces = pid::NAMESPACE;
    let mut container = process::spawn(namespaces, || container(cli, &rootfs))?;
    container.started()?;
    init::supervise(container.pid())
}
// ANCHOR_END: run

// ANCHOR: container
/// The container process: everything between clone and exec.
fn container(cli: &Cli, rootfs: &Path) -> Result<Infallible> {
    chroot::enter(rootfs)?;
    init::run(|| process::exec(&cli.common.command()))
}
// ANCHOR_END: container
