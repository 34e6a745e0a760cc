//! step3: step 2, plus a mount namespace: pivot_root and its own /proc, /sys, /dev.

use anyhow::Result;
use clap::Parser;
use std::convert::Infallible;
use std::path::Path;
use step3::{cli::CommonArgs, dev, init, mount, narrate, pid, preflight, process};

/// Step 3: step 2 plus a mount namespace: the rootfs becomes the root (pivot_root).
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
    preflight::require_root("namespaces, mount(2) and pivot_root(2)")?;
    let rootfs = preflight::rootfs(cli.common.rootfs.as_deref())?;

    // Signals meant for the container wait, blocked, for supervise to pass
    // them on: before it, one would kill the runtime half-way.
    init::block_signals()?;
    let namespaces = pid::NAMESPACE | mount::NAMESPACE;
    let mut container = process::spawn(namespaces, || container(cli, &rootfs))?;
    container.started()?;
    init::supervise(container.pid())
}
// ANCHOR_END: run

// ANCHOR: container
/// The container process: everything between clone and exec.
fn container(cli: &Cli, rootfs: &Path) -> Result<Infallible> {
    mount::prepare_new_root(rootfs)?;
    dev::mount_dev(rootfs)?;
    mount::pivot_to(rootfs)?;
    init::run(|| process::exec(&cli.common.command()))
}
// ANCHOR_END: container
