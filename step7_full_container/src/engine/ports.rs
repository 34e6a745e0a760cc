//! Published ports: `-p 8080:80` makes the host's port 8080 lead to port
//! 80 of the container.
//!
//! The container's address lives on the bridge, reachable from this host
//! only. A DNAT rule rewrites the destination of packets for a local
//! address of the host and port 8080 to the container's address and port
//! 80, and connection tracking rewrites the answers back. Two hooks: the
//! `prerouting` one for packets coming from elsewhere, the `output` one for
//! connections the host itself makes (to its own addresses; `fib daddr
//! type local` matches any of them). One nft table per container, deleted
//! with it. Read: nft(8) "NAT STATEMENTS", "FIB EXPRESSIONS".

use anyhow::{bail, Context, Result};
use std::net::Ipv4Addr;

/// One `-p HOST:CONTAINER[/tcp|udp]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Port {
    pub host: u16,
    pub container: u16,
    pub udp: bool,
}

impl std::str::FromStr for Port {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Port> {
        let hint = || format!("invalid -p {text:?}: write HOST:CONTAINER, e.g. 8080:80 (or 53:53/udp)");
        let (ports, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
        let udp = match protocol {
            "tcp" => false,
            "udp" => true,
            _ => bail!("{}", hint()),
        };
        let (host, container) = ports.split_once(':').with_context(hint)?;
        let port = |p: &str| p.parse::<u16>().ok().filter(|&p| p > 0).with_context(hint);
        Ok(Port { host: port(host)?, container: port(container)?, udp })
    }
}

/// The nft table of container `id`'s ports.
fn table(id: &str) -> String {
    let safe: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    format!("step7_ports_{safe}")
}

/// The published ports of a container; dropping it removes them.
pub struct Published {
    id: String,
}

// ANCHOR: publish
/// DNAT each host port to `address`'s container port.
pub fn publish(id: &str, address: Ipv4Addr, ports: &[Port]) -> Result<Option<Published>> {
    if ports.is_empty() {
        return Ok(None);
    }
    let rules: String = ports
        .iter()
        .map(|p| {
            let proto = if p.udp { "udp" } else { "tcp" };
            format!("\t\tfib daddr type local {proto} dport {} dnat to {address}:{}\n", p.host, p.container)
        })
        .collect();
    let table = table(id);
    let ruleset = format!(
        "table ip {table} {{\n\
         \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n{rules}\t}}\n\
         \tchain output {{\n\t\ttype nat hook output priority -100; policy accept;\n{rules}\t}}\n\
         }}\n"
    );
    crate::nat::nft(&ruleset).context("publishing the ports (-p)")?;
    Ok(Some(Published { id: id.to_string() }))
}
// ANCHOR_END: publish

/// Remove container `id`'s published ports, if any (also after a killed
/// run, from `rm`).
pub fn unpublish(id: &str) {
    let table = table(id);
    let _ = crate::nat::nft(&format!("table ip {table}\ndelete table ip {table}\n"));
}

impl Drop for Published {
    fn drop(&mut self) {
        unpublish(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_syntax() {
        assert_eq!("8080:80".parse::<Port>().unwrap(), Port { host: 8080, container: 80, udp: false });
        assert!("53:53/udp".parse::<Port>().unwrap().udp);
        for bad in ["80", "0:80", "x:80", "8080:80/sctp", "70000:80", ""] {
            assert!(bad.parse::<Port>().is_err(), "{bad}");
        }
    }
}
