//! The command line every step shares:
//! `stepN [--rootfs DIR] [--verbose] [--] [CMD [ARGS...]]`.
//!
//! Each step's binary flattens [`CommonArgs`] into its own parser and adds
//! the flags of its new feature next to it, so `make diff` shows them.

use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// Root filesystem of the container [default: rootfs/ at the top of
    /// the checkout, made by `make rootfs`]
    #[arg(long, value_name = "DIR")]
    pub rootfs: Option<PathBuf>,

    /// Narrate each system call, in order, as the container is built
    #[arg(short, long)]
    pub verbose: bool,

    /// Command to run inside the container, with its arguments
    /// [default: /bin/sh]
    // trailing_var_arg: once CMD has started, `-l` in `ls -l` belongs to
    // CMD, not to us.
    #[arg(value_name = "CMD", trailing_var_arg = true)]
    pub command: Vec<String>,
}

impl CommonArgs {
    /// The command to exec, `/bin/sh` when none was given.
    pub fn command(&self) -> Vec<String> {
        if self.command.is_empty() {
            vec!["/bin/sh".to_string()]
        } else {
            self.command.clone()
        }
    }
}
