//! step1: run a command inside a root filesystem, with chroot(2).

use anyhow::Result;
use clap::Parser;
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::path::Path;
use step1::{chroot, cli::CommonArgs, narrate, preflight, process};

/// Step 1: run CMD with the rootfs as its root directory (chroot).
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
    preflight::require_root("chroot(2)")?;
    let rootfs = preflight::rootfs(cli.common.rootfs.as_deref())?;

    let namespaces = CloneFlags::empty();
    let mut container = process::spawn(namespaces, || container(cli, &rootfs))?;
    container.started()?;
    process::wait_for(container.pid())
}
// ANCHOR_END: run

// ANCHOR: container
/// The container process: everything between clone and exec.
fn container(cli: &Cli, rootfs: &Path) -> Result<Infallible> {
    chroot::enter(rootfs)?;
    process::exec(&cli.common.command())
}
// ANCHOR_END: container
