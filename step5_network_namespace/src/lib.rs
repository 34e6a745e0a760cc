//! Step 5: a network namespace.
//!
//! New here: [`network`] (the namespace, and connecting it: bridge, veth,
//! addresses, routes, /etc/hosts and resolv.conf), with its parts
//! [`netlink`] (talking to the kernel's network configuration),
//! [`ipam`] (address leases), [`nat`] (forwarding and masquerading),
//! [`gate`] (the container waits until its network is ready) and [`owner`]
//! (telling a killed runtime's leftovers from live state). Everything
//! of steps 1-4 is re-exported, so the next step builds on this crate alone.

pub use step4::*;

pub mod gate;
pub mod ipam;
pub mod nat;
pub mod netlink;
pub mod network;
pub mod owner;
