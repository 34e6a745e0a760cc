//! The UTS namespace: the container gets its own hostname.
//!
//! "UTS" is the struct utsname that uname(2) returns; the namespace holds
//! its two settable fields, the hostname and the NIS domain name. A process
//! created with `CLONE_NEWUTS` starts with a copy of them, and
//! sethostname(2) inside changes the copy only: the host keeps its name.
//!
//! Left out on purpose: the container still shares the host's network
//! interfaces, addresses and ports (step 5). Read: uts_namespaces(7),
//! sethostname(2), uname(2).

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;

// ANCHOR: namespace
/// Passed to clone3: the container process gets its own hostname and
/// domain name.
pub const NAMESPACE: CloneFlags = CloneFlags::CLONE_NEWUTS;
// ANCHOR_END: namespace

/// The kernel's limit for a hostname (HOST_NAME_MAX).
const MAX_LEN: usize = 64;

// ANCHOR: check_hostname
/// Refuse, in the runtime and before anything is created, a name the
/// kernel would refuse (longer than 64 bytes) or that resolvers and shells
/// would choke on: dot-separated labels of at most 63 letters, digits and
/// inner '-' (RFC 1123).
pub fn check_hostname(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_LEN {
        bail!("invalid --hostname {name:?}: it must be 1 to {MAX_LEN} characters long");
    }
    for label in name.split('.') {
        let valid_chars = label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty() || label.len() > 63 || !valid_chars || label.starts_with('-') || label.ends_with('-') {
            bail!(
                "invalid --hostname {name:?}: use letters, digits and '-' \
                 (not first or last), in labels of at most 63 separated by '.'"
            );
        }
    }
    Ok(())
}
// ANCHOR_END: check_hostname

// ANCHOR: set_hostname
/// In the container process: set the hostname of its UTS namespace.
pub fn set_hostname(name: &str) -> Result<()> {
    crate::narrate!("sethostname({name:?})");
    nix::unistd::sethostname(name).with_context(|| format!("sethostname({name:?}) failed"))
}
// ANCHOR_END: set_hostname

#[cfg(test)]
mod tests {
    use super::check_hostname;

    #[test]
    fn accepts_ordinary_names() {
        for name in ["web", "a1b2c3d4e5f6", "db-1", "box.example.org", &"a".repeat(63)] {
            assert!(check_hostname(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn rejects_what_the_kernel_or_resolvers_would() {
        for name in ["", "-web", "web-", "a..b", "a b", "web_1", "é", &"a".repeat(64), &"a".repeat(65)] {
            assert!(check_hostname(name).is_err(), "{name}");
        }
    }
}
