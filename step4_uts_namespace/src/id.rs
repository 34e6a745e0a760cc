//! Container ids: 12 random hex digits, like the short ids docker shows.
//!
//! From this step on every container has an id. Its first use is the
//! default hostname; later steps name the container's network interface
//! and cgroup after it.

use anyhow::{Context, Result};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerId(String);

impl ContainerId {
    /// 48 random bits from getrandom(2), as 12 hex digits.
    pub fn random() -> Result<Self> {
        let mut bytes = [0u8; 6];
        // SAFETY: writes at most bytes.len() bytes into bytes.
        let n = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
        if n != bytes.len() as isize {
            return Err(std::io::Error::last_os_error()).context("getrandom failed");
        }
        Ok(Self(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
