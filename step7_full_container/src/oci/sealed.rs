//! The runtime binary cannot be overwritten from a container
//! (CVE-2019-5736).
//!
//! Until it execs the container's program, the container process runs the
//! runtime's own code, and /proc/PID/exe leads to the runtime's binary on
//! the host. A hostile container could open that link (or make its
//! /bin/sh a symlink to /proc/self/exe, so that an `exec` runs the runtime
//! inside it) and, once the runtime has exited, reopen the descriptor for
//! writing and replace the host's binary: the next container start runs
//! the attacker's code as root on the host. That is how runc was broken
//! in 2019.
//!
//! The fix runc, crun and youki share: before making containers, the
//! runtime re-executes itself from a copy in memory (memfd_create(2)),
//! sealed against any change (F_SEAL_WRITE and friends, see fcntl(2)
//! "File Sealing"). What the container can reach is then that sealed copy,
//! not the file on the host.

use anyhow::{Context, Result};
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

/// The name the copy shows in /proc/PID/exe ("/memfd:step7-sealed").
const NAME: &str = "step7-sealed";

// ANCHOR: ensure_sealed
/// Re-execute this program from a sealed in-memory copy, unless this
/// already is that copy. Returns only in the copy.
pub fn ensure_sealed() -> Result<()> {
    let exe = std::fs::read_link("/proc/self/exe").context("cannot read /proc/self/exe")?;
    if exe.to_string_lossy().starts_with(&format!("/memfd:{NAME}")) {
        return Ok(());
    }
    crate::narrate!("memfd_create({NAME:?}): re-executing from a sealed copy (CVE-2019-5736)");
    let memfd =
        memfd_create(NAME, MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING).context("memfd_create failed")?;
    let mut copy = std::fs::File::from(memfd);
    let mut binary = std::fs::File::open("/proc/self/exe").context("cannot open /proc/self/exe")?;
    std::io::copy(&mut binary, &mut copy).context("cannot copy the runtime into memory")?;
    let seals = SealFlag::F_SEAL_SEAL | SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_WRITE;
    fcntl(&copy, FcntlArg::F_ADD_SEALS(seals)).context("cannot seal the copy")?;

    let args: Vec<CString> = std::env::args_os().map(|a| CString::new(a.as_bytes())).collect::<Result<_, _>>()?;
    let env: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| CString::new([k.as_bytes(), b"=", v.as_bytes()].concat()))
        .collect::<Result<_, _>>()?;
    let Err(errno) = nix::unistd::fexecve(&copy, &args, &env);
    Err(errno).context("cannot execute the sealed copy")
}
// ANCHOR_END: ensure_sealed
