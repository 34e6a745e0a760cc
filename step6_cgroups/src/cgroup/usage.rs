//! What a container used, read from its cgroup once it ended: its peak
//! memory and CPU time for `--verbose`, and whether the kernel's OOM
//! killer is why it ended.

use anyhow::Result;
use std::time::Duration;

use super::{Cgroup, Version};

impl Cgroup {
    // ANCHOR: outcome
    /// After the container ended with `code`: say so if the OOM killer
    /// ended it, and with `--verbose` what it used.
    pub fn outcome(&self, code: i32) -> Result<i32> {
        if crate::narrate::enabled() {
            let peak = self.peak_memory().map_or("unknown".into(), mib);
            let cpu = self.cpu_time().map_or("unknown".into(), |t| format!("{:.2} s", t.as_secs_f64()));
            crate::narrate!("peak memory {peak}, CPU time {cpu}");
        }
        let oom_kills = self.oom_kills();
        let limit = self.memory_limit.map_or("none".into(), mib);
        if oom_kills > 0 && code == 128 + libc::SIGKILL {
            return Err(
                step5::process::Failed { code, message: format!("killed: out of memory (limit {limit})") }.into()
            );
        }
        if oom_kills > 0 {
            crate::warn!("the OOM killer ended {oom_kills} process(es) in the container (limit {limit})");
        }
        Ok(code)
    }
    // ANCHOR_END: outcome

    /// The most memory the container used at once.
    pub fn peak_memory(&self) -> Option<u64> {
        let file = match self.version {
            Version::V1 => "memory.max_usage_in_bytes",
            Version::V2 => "memory.peak",
        };
        self.read("memory", file)?.trim().parse().ok()
    }

    /// CPU time used by every process of the container.
    pub fn cpu_time(&self) -> Option<Duration> {
        match self.version {
            Version::V1 => Some(Duration::from_nanos(self.read("cpuacct", "cpuacct.usage")?.trim().parse().ok()?)),
            Version::V2 => Some(Duration::from_micros(keyed(&self.read("cpu", "cpu.stat")?, "usage_usec")?)),
        }
    }

    /// How many processes the kernel's OOM killer ended in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        self.read("memory", file).and_then(|text| keyed(&text, "oom_kill")).unwrap_or(0)
    }
}

/// The number after `key` in "key value" lines (memory.events, cpu.stat,
/// memory.oom_control).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// "32 MiB", or "0.4 MiB" when it is not a whole number.
fn mib(bytes: u64) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib} MiB")
    } else {
        format!("{mib:.1} MiB")
    }
}
