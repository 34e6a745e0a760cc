//! The engine: docker's half of step 7, as a library.
//!
//! Docker's command line is a way of writing a config.json, plus what a
//! runtime does not do: get the root filesystem (pull an image, stack its
//! layers), connect the network, publish ports, keep containers listed
//! after they end. [`options`] holds what a `run` is asked for, checked;
//! [`run`] turns it into a Spec ([`spec`]), a root ([`root`], [`overlay`]),
//! a network and ports ([`ports`]) around `oci::create` and `oci::start`;
//! [`monitor`] keeps a detached container company; [`containers`] finds
//! them again for `ps`, `logs`, `stop`, `rm` and `inspect`.
//!
//! It never prints and takes no command-line types: the command line, a
//! compose file or the PaaS fill in [`options::RunOptions`] and show the
//! results as they like. (Narration with --debug and warnings on stderr
//! are the runtime's, as for runc.)

pub mod containers;
pub mod images;
pub mod monitor;
pub mod options;
pub mod overlay;
pub mod passwd;
pub mod ports;
pub mod root;
pub mod run;
pub mod spec;
pub mod start;
