//! `linux.resources`: step 6's limits, and the ones step 6 has no flag
//! for.
//!
//! config.json writes limits in cgroup v1's units (a CPU quota per period,
//! shares, memory plus swap), whatever the host's cgroup version. Step 6's
//! [`Limits`] already converts its flags to either version's files; what it
//! does not know is set here, file by file.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Linux;

use crate::cgroup::Cgroup;
use crate::limits::{Limits, CPU_PERIOD_US};

// ANCHOR: limits
/// linux.resources, as step 6's limits.
pub fn limits(linux: &Linux) -> Limits {
    let mut limits = Limits::default();
    let Some(resources) = linux.resources() else { return limits };
    if let Some(memory) = resources.memory() {
        limits.memory = memory.limit().filter(|&l| l > 0).map(|l| l as u64);
        limits.memory_swap = memory.swap().map(|s| (s > 0).then_some(s as u64));
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = cpu.quota().filter(|&q| q > 0) {
            // Step 6 uses the kernel's default period: scale the quota.
            let period = cpu.period().filter(|&p| p > 0).unwrap_or(CPU_PERIOD_US);
            limits.cpu_quota_us = Some((quota as u64 * CPU_PERIOD_US / period).max(1000));
        }
        limits.cpu_shares = cpu.shares().filter(|&s| s > 0);
    }
    if let Some(pids) = resources.pids() {
        limits.pids = (pids.limit() > 0).then_some(pids.limit() as u64);
    }
    limits.blkio_weight = resources.block_io().as_ref().and_then(|io| io.weight());
    limits
}
// ANCHOR_END: limits

/// The resources step 6 has no flag for: memory.reservation, swappiness
/// and disableOOMKiller, and on cgroup v2 the raw `unified` map.
pub fn set_more(cgroup: &Cgroup, linux: &Linux) -> Result<()> {
    let Some(resources) = linux.resources() else { return Ok(()) };
    let v2 = cgroup.is_v2();
    if let Some(memory) = resources.memory() {
        if let Some(bytes) = memory.reservation().filter(|&b| b > 0) {
            let file = if v2 { "memory.low" } else { "memory.soft_limit_in_bytes" };
            cgroup
                .set("memory", file, &bytes.to_string())
                .context("config.json: linux.resources.memory.reservation")?;
        }
        match (memory.swappiness(), v2) {
            (Some(swappiness), false) => cgroup
                .set("memory", "memory.swappiness", &swappiness.to_string())
                .context("config.json: linux.resources.memory.swappiness")?,
            (Some(_), true) => {
                crate::warn!("config.json: linux.resources.memory.swappiness does not exist on cgroup v2; ignored")
            }
            _ => {}
        }
        match (memory.disable_oom_killer(), v2) {
            (Some(true), false) => cgroup
                .set("memory", "memory.oom_control", "1")
                .context("config.json: linux.resources.memory.disableOOMKiller")?,
            (Some(true), true) => {
                crate::warn!(
                    "config.json: linux.resources.memory.disableOOMKiller does not exist on cgroup v2; ignored"
                )
            }
            _ => {}
        }
    }
    for (file, value) in resources.unified().iter().flatten() {
        if !v2 {
            bail!("config.json: linux.resources.unified: needs cgroup v2, and this host's limits are v1");
        }
        if file.contains('/') || file.starts_with('.') {
            bail!("config.json: linux.resources.unified: {file:?} is not a cgroup file name");
        }
        cgroup.set("memory", file, value).with_context(|| format!("config.json: linux.resources.unified[{file}]"))?;
    }
    Ok(())
}
