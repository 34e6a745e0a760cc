//! Step 2: a PID namespace.
//!
//! New here: [`pid`] (the namespace) and [`init`] (the tiny init that runs
//! as PID 1 inside it). Everything of step 1 is re-exported, so the next
//! step builds on this crate alone.

pub use step1::*;

pub mod init;
pub mod pid;
