//! Outbound NAT: containers on the bridge reach beyond the host.
//!
//! The containers' addresses are private to this host; the rest of the
//! network has no route back to them. Two host settings fix that, the
//! same two Docker makes:
//! - IPv4 forwarding (/proc/sys/net/ipv4/ip_forward = 1): the host routes
//!   packets between the bridge and its other interfaces at all;
//! - a MASQUERADE rule: packets from the subnet leaving by another
//!   interface get the host's address as their source, and the kernel's
//!   connection tracking translates the answers back.
//!
//! The rule goes into a table of its own per bridge, through `nft` (or
//! `iptables` where that is all the host has), replaced atomically each
//! time so it is never duplicated, and deleted by `--cleanup-network`.
//! Read: nft(8) "NAT", ip-sysctl in the kernel documentation.

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::ipam::Subnet;

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// The host's packet filter front end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firewall {
    Nft,
    Iptables,
}

impl Firewall {
    /// nft where it is installed, else iptables.
    pub fn detect() -> Result<Firewall> {
        if runs("nft", &["--version"]) {
            Ok(Firewall::Nft)
        } else if runs("iptables", &["--version"]) {
            Ok(Firewall::Iptables)
        } else {
            bail!("outbound NAT needs nft or iptables: install nftables (apt-get install nftables), or use --network none")
        }
    }
}

fn runs<S: AsRef<std::ffi::OsStr>>(program: &str, args: &[S]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// nft names: letters, digits and '_' only.
fn table_name(bridge: &str) -> String {
    let safe: String = bridge.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("step5_{safe}")
}

// ANCHOR: masquerade
/// Make sure exactly one MASQUERADE rule exists for `subnet` on `bridge`.
pub fn ensure_masquerade(firewall: Firewall, bridge: &str, subnet: &Subnet) -> Result<()> {
    match firewall {
        Firewall::Nft => {
            let table = table_name(bridge);
            // One transaction: create the table if missing, delete it, and
            // define it anew. However often it runs, one rule remains.
            let ruleset = format!(
                "table ip {table}\n\
                 delete table ip {table}\n\
                 table ip {table} {{\n\
                 \tchain postrouting {{\n\
                 \t\ttype nat hook postrouting priority srcnat; policy accept;\n\
                 \t\tip saddr {subnet} oifname != \"{bridge}\" masquerade\n\
                 \t}}\n\
                 }}\n"
            );
            nft(&ruleset)
        }
        Firewall::Iptables => {
            if !runs("iptables", &iptables_rule("-C", bridge, subnet)) {
                iptables(&iptables_rule("-A", bridge, subnet))?;
            }
            Ok(())
        }
    }
}
// ANCHOR_END: masquerade

/// Remove the rule of `bridge`, if there is one.
pub fn remove_masquerade(firewall: Firewall, bridge: &str, subnet: &Subnet) -> Result<()> {
    match firewall {
        Firewall::Nft => {
            let table = table_name(bridge);
            nft(&format!("table ip {table}\ndelete table ip {table}\n"))
        }
        Firewall::Iptables => {
            while runs("iptables", &iptables_rule("-C", bridge, subnet)) {
                iptables(&iptables_rule("-D", bridge, subnet))?;
            }
            Ok(())
        }
    }
}

/// `iptables -t nat ACTION POSTROUTING -s SUBNET ! -o BRIDGE -j MASQUERADE`
fn iptables_rule(action: &str, bridge: &str, subnet: &Subnet) -> Vec<String> {
    let subnet = subnet.to_string();
    ["-t", "nat", action, "POSTROUTING", "-s", &subnet, "!", "-o", bridge, "-j", "MASQUERADE"]
        .map(String::from)
        .to_vec()
}

/// Apply `ruleset` with `nft -f -`, narrated.
pub fn nft(ruleset: &str) -> Result<()> {
    crate::narrate!("nft -f - <<EOF\n{ruleset}EOF");
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run nft")?;
    child.stdin.take().unwrap().write_all(ruleset.as_bytes()).context("cannot write to nft")?;
    let output = child.wait_with_output().context("nft failed")?;
    if !output.status.success() {
        bail!("nft refused the NAT rule: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

fn iptables(args: &[String]) -> Result<()> {
    crate::narrate!("iptables {}", args.join(" "));
    let output = Command::new("iptables").args(args).output().context("cannot run iptables")?;
    if !output.status.success() {
        bail!("iptables {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

// ANCHOR: forwarding
/// Turn IPv4 forwarding on, noting in `state_dir` that it was off, so
/// that [`restore_forwarding`] can put it back.
pub fn enable_forwarding(state_dir: &Path) -> Result<()> {
    let current = std::fs::read_to_string(IP_FORWARD).with_context(|| format!("cannot read {IP_FORWARD}"))?;
    if current.trim() == "1" {
        return Ok(());
    }
    std::fs::write(state_dir.join("ip_forward.before"), current.trim())
        .context("cannot record the forwarding setting")?;
    crate::narrate!("echo 1 > {IP_FORWARD}");
    std::fs::write(IP_FORWARD, "1").with_context(|| format!("cannot write {IP_FORWARD}"))
}
// ANCHOR_END: forwarding

/// Put IPv4 forwarding back as it was before the first bridge needed it.
pub fn restore_forwarding(state_dir: &Path) -> Result<()> {
    let note = state_dir.join("ip_forward.before");
    let Ok(before) = std::fs::read_to_string(&note) else { return Ok(()) };
    crate::narrate!("echo {before} > {IP_FORWARD}");
    std::fs::write(IP_FORWARD, before.trim()).with_context(|| format!("cannot write {IP_FORWARD}"))?;
    let _ = std::fs::remove_file(note);
    Ok(())
}
