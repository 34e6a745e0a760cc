//! Step 3: a mount namespace.
//!
//! New here: [`mount`] (the namespace, the container's /proc and /sys, and
//! pivot_root) and [`dev`] (a minimal /dev). Everything of steps 1-2 is
//! re-exported, so the next step builds on this crate alone.

pub use step2::*;

pub mod dev;
pub mod mount;
