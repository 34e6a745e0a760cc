//! The devices cgroup: which device nodes the container may open.
//!
//! A device node is only a (type, major, minor) triple, and a process
//! with CAP_MKNOD can create one for any device, the host's disks
//! included. The devices controller closes that door: the kernel checks
//! every open(2) and mknod(2) of a device node against the cgroup's list.
//! The runtime denies everything, then applies config.json's
//! `linux.resources.devices` rules in order, then allows the devices
//! every container gets (/dev/null, /dev/zero, ..., the ptys).
//! cgroup v1 has the list in devices.allow and devices.deny; cgroup v2
//! replaced it with a BPF program attached to the cgroup, which this
//! runtime does not build yet. Read: the kernel's
//! Documentation/admin-guide/cgroup-v1/devices.rst.

use anyhow::{Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::path::Path;

/// What every container may use: the default devices, and its ptys
/// (/dev/ptmx 5:2, /dev/pts/* 136:*, /dev/console 5:1, /dev/tty 5:0),
/// /dev/net/tun; and, as with runc, *making* any node ("m"): a node it may
/// not open is harmless.
const DEFAULT_ALLOWED: [&str; 12] = [
    "c *:* m", "b *:* m",
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
];

// ANCHOR: apply
/// Write the device rules into the cgroup directory `dir` (of the v1
/// devices hierarchy), before any process is in it.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(dir, "devices.deny", "a *:* rwm")?;
    for (i, rule) in rules.iter().enumerate() {
        let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
        write(dir, file, &v1_rule(rule)).with_context(|| format!("config.json: linux.resources.devices[{i}]"))?;
    }
    for rule in DEFAULT_ALLOWED {
        write(dir, "devices.allow", rule)?;
    }
    Ok(())
}
// ANCHOR_END: apply

/// An OCI rule as a line of devices.allow: "c 1:3 rwm", "a *:* rwm".
fn v1_rule(rule: &LinuxDeviceCgroup) -> String {
    let kind = match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let number = |n: Option<i64>| n.filter(|&n| n >= 0).map_or("*".to_string(), |n| n.to_string());
    let access = rule.access().clone().unwrap_or_else(|| "rwm".to_string());
    format!("{kind} {}:{} {access}", number(rule.major()), number(rule.minor()))
}

fn write(dir: &Path, file: &str, rule: &str) -> Result<()> {
    crate::narrate!("echo '{rule}' > {}", dir.join(file).display());
    std::fs::write(dir.join(file), rule).with_context(|| format!("cannot write {rule:?} to {}", dir.join(file).display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_in_v1_syntax() {
        let rule: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}"#).unwrap();
        assert_eq!(v1_rule(&rule), "c 1:3 rw");
        let rule: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": false, "access": "rwm"}"#).unwrap();
        assert_eq!(v1_rule(&rule), "a *:* rwm");
        let rule: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": true, "type": "b", "major": 8}"#).unwrap();
        assert_eq!(v1_rule(&rule), "b 8:* rwm");
    }
}
