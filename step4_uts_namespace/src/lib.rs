//! Step 4: a UTS namespace.
//!
//! New here: [`uts`] (the namespace and the hostname) and [`id`] (every
//! container now gets an id, and its hostname defaults to it). Everything
//! of steps 1-3 is re-exported, so the next step builds on this crate
//! alone.

pub use step3::*;

pub mod id;
pub mod uts;
