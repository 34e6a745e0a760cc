//! step7: an OCI runtime with runc's command line, and docker's on top.
//! The command line is in `cli/`; the library (`lib.rs`) does the work.

mod cli;

fn main() {
    cli::main()
}
