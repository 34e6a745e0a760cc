//! Who the container's process is, and what it may do: the last steps
//! before execve.
//!
//! Root inside a container is still root on the kernel's books, so its
//! power is cut down in layers, each from config.json's `process`:
//! - rlimits (setrlimit(2)): per-process ceilings such as open files;
//! - the user and groups (setgroups(2), setgid(2), setuid(2));
//! - capabilities ([`capabilities`]): of root's powers, only the ones
//!   config.json lists;
//! - no_new_privs (PR_SET_NO_NEW_PRIVS): execve can no longer grant
//!   privileges (setuid binaries, file capabilities);
//! - a seccomp filter ([`seccomp`]): which system calls it may make.
//!
//! The order matters: capabilities are needed to change user and to drop
//! the bounding set, so they go last but one; seccomp goes last, or it
//! could forbid the calls that do the rest.

pub mod capabilities;
pub mod seccomp;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType, Process};

use capabilities::{drop_bounding, set_capabilities};

// ANCHOR: apply
/// In the container process, after its file system is finished.
pub fn apply(process: &Process, seccomp: Option<&oci_spec::runtime::LinuxSeccomp>) -> Result<()> {
    for (i, rlimit) in process.rlimits().iter().flatten().enumerate() {
        set_rlimit(rlimit).with_context(|| format!("config.json: process.rlimits[{i}]"))?;
    }
    if let Some(score) = process.oom_score_adj() {
        // Before dropping privileges: lowering the score needs
        // CAP_SYS_RESOURCE.
        std::fs::write("/proc/self/oom_score_adj", score.to_string()).context("config.json: process.oomScoreAdj")?;
    }
    if let Some(umask) = process.user().umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    }
    // chdir as root, who may enter any directory, then check it worked.
    nix::unistd::chdir(process.cwd())
        .with_context(|| format!("config.json: process.cwd: cannot enter {}", process.cwd().display()))?;
    verify_cwd()?;
    let capabilities = process.capabilities().clone().unwrap_or_default();
    drop_bounding(&capabilities)?;
    set_user(process)?;
    set_capabilities(&capabilities)?;
    if process.no_new_privileges() == Some(true) {
        crate::narrate!("prctl(PR_SET_NO_NEW_PRIVS, 1)");
        nix::sys::prctl::set_no_new_privs().context("config.json: process.noNewPrivileges")?;
    }
    if let Some(profile) = seccomp {
        seccomp::install(profile).context("config.json: linux.seccomp")?;
    }
    Ok(())
}
// ANCHOR_END: apply

fn set_rlimit(rlimit: &PosixRlimit) -> Result<()> {
    let resource = match rlimit.typ() {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    };
    crate::narrate!("setrlimit({}, soft {}, hard {})", rlimit.typ(), rlimit.soft(), rlimit.hard());
    let limit = libc::rlimit { rlim_cur: rlimit.soft(), rlim_max: rlimit.hard() };
    if unsafe { libc::setrlimit(resource, &limit) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("setrlimit({}) failed", rlimit.typ()));
    }
    Ok(())
}

// ANCHOR: set_user
/// Become `process.user`: supplementary groups, group, then user (in that
/// order: after setuid to a non-root user, setgroups and setgid are no
/// longer allowed). PR_SET_KEEPCAPS keeps the permitted capabilities
/// across the change of user, so that [`set_capabilities`] can still pick
/// from them.
fn set_user(process: &Process) -> Result<()> {
    let user = process.user();
    let groups: Vec<nix::unistd::Gid> = user.additional_gids().iter().flatten().map(|&g| g.into()).collect();
    crate::narrate!("setgroups({groups:?}); setgid({}); setuid({})", user.gid(), user.uid());
    // In a rootless user namespace setgroups(2) is denied (the price of
    // mapping one's own gid without privilege). With no groups to set it
    // is skipped there; with some it is tried either way, so the file is
    // read only for an empty list.
    let denied = groups.is_empty() && std::fs::read_to_string("/proc/self/setgroups").is_ok_and(|s| s.trim() == "deny");
    if !denied {
        nix::unistd::setgroups(&groups).context("config.json: process.user.additionalGids")?;
    }
    nix::unistd::setgid(user.gid().into()).context("config.json: process.user.gid")?;
    nix::sys::prctl::set_keepcaps(true).context("prctl(PR_SET_KEEPCAPS) failed")?;
    nix::unistd::setuid(user.uid().into()).context("config.json: process.user.uid")?;
    nix::sys::prctl::set_keepcaps(false).context("prctl(PR_SET_KEEPCAPS, 0) failed")?;
    Ok(())
}
// ANCHOR_END: set_user

// ANCHOR: verify_cwd
/// The working directory must be inside the container's root. A cwd of
/// /proc/self/fd/N, N a descriptor the runtime still held of a host
/// directory, put runc's containers on the host's file system
/// (CVE-2024-21626). getcwd(2) cannot name a directory outside the root:
/// it fails with ENOENT, or returns "(unreachable)...".
fn verify_cwd() -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(cwd) if cwd.is_absolute() => Ok(()),
        _ => bail!("config.json: process.cwd: the working directory is outside the container; refusing to start"),
    }
}
// ANCHOR_END: verify_cwd

/// Close every file descriptor above stderr, or mark it close-on-exec:
/// nothing the runtime had open may reach the container. A leaked
/// descriptor of a host directory let a container escape through
/// `cwd=/proc/self/fd/N` (CVE-2024-21626).
pub fn close_inherited_fds(keep: &[i32]) -> Result<()> {
    for entry in std::fs::read_dir("/proc/self/fd").context("cannot list /proc/self/fd")? {
        let Some(fd) = entry?.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else { continue };
        if fd > 2 && !keep.contains(&fd) {
            unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
        }
    }
    Ok(())
}
