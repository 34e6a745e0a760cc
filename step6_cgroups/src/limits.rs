//! The resource limits a container can be given, as flags, checked before
//! anything is created.
//!
//! The flags are Docker's; [`Limits`] holds them as numbers, independent
//! of the cgroup version that will enforce them ([`crate::cgroup`] writes
//! them to the v1 or v2 files).

use anyhow::{bail, Context, Result};
use clap::Args;

/// Below this a container cannot even start its shell (Docker's minimum).
pub const MIN_MEMORY: u64 = 6 * 1024 * 1024;
/// The CFS period the CPU quota is a share of: 100 ms, the kernel default.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel refuses a quota below 1 ms.
const MIN_CPU_QUOTA_US: u64 = 1_000;

#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Memory limit, e.g. 64m, 1g (bytes without a suffix); the kernel's
    /// OOM killer ends the container beyond it
    #[arg(long, value_name = "SIZE")]
    pub memory: Option<String>,

    /// Memory plus swap limit (>= --memory), or -1 for unlimited swap
    #[arg(long, value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,

    /// CPUs the container may use, e.g. 0.5 for half of one CPU
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub cpus: Option<String>,

    /// Relative CPU weight under contention (2-262144, default 1024)
    #[arg(long, value_name = "SHARES")]
    pub cpu_shares: Option<u64>,

    /// Maximum number of processes (and threads) in the container
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,

    /// Relative block I/O weight (10-1000), where the host's I/O
    /// controller has weights
    #[arg(long, value_name = "WEIGHT")]
    pub blkio_weight: Option<u16>,
}

/// The limits, validated. `None`: no limit of that kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    pub memory: Option<u64>,
    /// Memory plus swap, in bytes; `Some(None)`: swap unlimited.
    pub memory_swap: Option<Option<u64>>,
    /// CPU time per [`CPU_PERIOD_US`], in microseconds.
    pub cpu_quota_us: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids: Option<u64>,
    pub blkio_weight: Option<u16>,
}

// ANCHOR: parse_limits
impl LimitArgs {
    /// Check every value and turn it into numbers, or say what is wrong.
    pub fn parse(&self) -> Result<Limits> {
        let memory = self.memory.as_deref().map(|text| parse_size(text).context("invalid --memory")).transpose()?;
        if let Some(bytes) = memory {
            if bytes < MIN_MEMORY {
                bail!("invalid --memory {}: the minimum is 6m", self.memory.as_deref().unwrap());
            }
        }
        let memory_swap = match self.memory_swap.as_deref() {
            None => None,
            Some("-1") => Some(None),
            Some(text) => {
                let total = parse_size(text).context("invalid --memory-swap")?;
                let Some(memory) = memory else { bail!("--memory-swap needs --memory as well") };
                if total < memory {
                    bail!("invalid --memory-swap {text}: it counts memory plus swap, so it must be at least --memory");
                }
                Some(Some(total))
            }
        };
        let cpu_quota_us = self.cpus.as_deref().map(parse_cpus).transpose()?;
        if let Some(shares) = self.cpu_shares {
            if !(2..=262_144).contains(&shares) {
                bail!("invalid --cpu-shares {shares}: use 2 to 262144 (the default weight is 1024)");
            }
        }
        let pids = match self.pids_limit {
            None | Some(-1) => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(n) => bail!("invalid --pids-limit {n}: use a positive number, or -1 for no limit"),
        };
        if let Some(weight) = self.blkio_weight {
            if !(10..=1000).contains(&weight) {
                bail!("invalid --blkio-weight {weight}: use 10 to 1000");
            }
        }
        Ok(Limits {
            memory,
            memory_swap,
            cpu_quota_us,
            cpu_shares: self.cpu_shares,
            pids,
            blkio_weight: self.blkio_weight,
        })
    }
}
// ANCHOR_END: parse_limits

/// "64m" -> 67108864. Suffixes b, k, m, g, t (powers of 1024), with an
/// optional trailing "b" ("64mb"), in either case.
pub fn parse_size(text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let digits_end = lower.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits_end);
    let unit = unit.strip_suffix('b').filter(|u| !u.is_empty()).unwrap_or(unit);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => bail!("{text:?} is not a size: write a number with an optional unit b, k, m, g (e.g. 64m)"),
    };
    let number: f64 = number.parse().map_err(|_| {
        anyhow::anyhow!("{text:?} is not a size: write a number with an optional unit b, k, m, g (e.g. 64m)")
    })?;
    let bytes = number * multiplier as f64;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
        bail!("{text:?} is not a usable size: it must be more than 0");
    }
    Ok(bytes as u64)
}

/// "0.5" -> 50000 µs of CPU time per 100000 µs period.
fn parse_cpus(text: &str) -> Result<u64> {
    let cpus: f64 = text
        .trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("invalid --cpus {text:?}: write a number of CPUs, e.g. 0.5"))?;
    let online = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    if !cpus.is_finite() || cpus <= 0.0 {
        bail!("invalid --cpus {text}: it must be more than 0");
    }
    if cpus > online {
        bail!("invalid --cpus {text}: this machine has {online} CPUs");
    }
    let quota = (cpus * CPU_PERIOD_US as f64).round() as u64;
    if quota < MIN_CPU_QUOTA_US {
        bail!("invalid --cpus {text}: the smallest share the kernel accepts is 0.01");
    }
    Ok(quota)
}

// ANCHOR: shares_to_weight
/// cgroup v1's cpu.shares (2-262144) to v2's cpu.weight (1-10000), the
/// linear map runc and crun use. (systemd maps shares*100/1024 instead, so
/// that the defaults 1024 and 100 meet; this one maps 1024 to 39.)
pub fn shares_to_weight(shares: u64) -> u64 {
    1 + ((shares.clamp(2, 262_144) - 2) * 9999) / 262_142
}
// ANCHOR_END: shares_to_weight

/// v1's blkio.weight (10-1000) to v2's io.weight (1-10000), likewise.
pub fn blkio_to_io_weight(weight: u16) -> u64 {
    1 + ((weight.clamp(10, 1000) as u64 - 10) * 9999) / 990
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(memory: Option<&str>, cpus: Option<&str>, pids: Option<i64>) -> LimitArgs {
        LimitArgs { memory: memory.map(Into::into), cpus: cpus.map(Into::into), pids_limit: pids, ..Default::default() }
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("64MB").unwrap(), 64 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        for bad in ["12xb", "m", "", "-5m", "0", "1q", "0.1b"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn limits_are_checked() {
        let limits = args(Some("32m"), Some("0.5"), Some(64)).parse().unwrap();
        assert_eq!(limits.memory, Some(32 << 20));
        assert_eq!(limits.cpu_quota_us, Some(50_000));
        assert_eq!(limits.pids, Some(64));
        for bad in [
            args(Some("0"), None, None),
            args(Some("12xb"), None, None),
            args(Some("1k"), None, None),
            args(None, Some("-1"), None),
            args(None, Some("0"), None),
            args(None, Some("9999"), None),
            args(None, Some("0.001"), None),
            args(None, None, Some(0)),
            args(None, None, Some(-7)),
        ] {
            assert!(bad.parse().is_err(), "{bad:?}");
        }
        assert_eq!(args(None, None, Some(-1)).parse().unwrap().pids, None);
        let swap = LimitArgs { memory: Some("64m".into()), memory_swap: Some("32m".into()), ..Default::default() };
        assert!(swap.parse().is_err());
        let swap = LimitArgs { memory_swap: Some("64m".into()), ..Default::default() };
        assert!(swap.parse().is_err());
    }

    #[test]
    fn v1_to_v2_weights() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }
}
