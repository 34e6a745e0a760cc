//! Step 6: cgroups.
//!
//! New here: [`cgroup`] (a cgroup per container: limits, statistics,
//! removal), [`hierarchy`] (which cgroup setup the host has: v2, v1 or
//! hybrid) and [`limits`] (the flags, checked). Everything of steps 1-5 is
//! re-exported, so the next step builds on this crate alone.

pub use step5::*;

pub mod cgroup;
pub mod hierarchy;
pub mod limits;
