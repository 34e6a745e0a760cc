//! Step 1: chroot.
//!
//! The one new feature is [`chroot`]: give a process a different root
//! directory. The other modules are the skeleton every later step reuses:
//! the command line ([`cli`]), the `--verbose` narration ([`narrate`]), the
//! checks made before anything is created ([`preflight`]) and starting,
//! exec'ing and waiting for the container process ([`process`]).

pub mod chroot;
pub mod cli;
pub mod narrate;
pub mod preflight;
pub mod process;
