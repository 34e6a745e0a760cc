//! The PID namespace: the container gets its own process numbers.
//!
//! A process created with `CLONE_NEWPID` is PID 1 of a new PID namespace;
//! its descendants are numbered 2, 3, ... there. Each process still has its
//! ordinary number in the parent namespace, which is what the host sees:
//! one process, two PIDs (see `NSpid:` in /proc/PID/status on the host).
//! From inside, processes outside the namespace cannot be named at all, so
//! kill(2) and ptrace(2) cannot reach them.
//!
//! PID 1 is special (pid_namespaces(7)):
//! - orphaned processes in the namespace are re-parented to it, and it must
//!   reap them, or they stay zombies;
//! - the kernel does not deliver a signal to it unless it asked for that
//!   signal (installed a handler, or blocked and waits for it); only SIGKILL
//!   and SIGSTOP from an ancestor namespace get through anyway;
//! - when it exits, the kernel kills every other process in the namespace.
//!
//! That is why the command does not run as PID 1 itself: most programs
//! (shells, servers) do neither job. A tiny init does both, see
//! [`crate::init`], as `docker run --init` and tini do.
//!
//! Left out on purpose: /proc. procfs shows the PID namespace of whoever
//! mounted it, and nothing mounts one for the container: /proc inside is
//! the rootfs's empty directory (ps shows nothing), or, if the host
//! mounted its procfs there as chroot users do, the host's processes.
//! Step 3 mounts a /proc of the container's own. Read: pid_namespaces(7).

use nix::sched::CloneFlags;

// ANCHOR: namespace
/// Passed to clone3: the container process becomes PID 1 of a new PID
/// namespace. (unshare(2) with this flag would not move the caller, only
/// its future children: a process never changes its PID.)
pub const NAMESPACE: CloneFlags = CloneFlags::CLONE_NEWPID;
// ANCHOR_END: namespace
