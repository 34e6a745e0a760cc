//! IP address management: which container has which address.
//!
//! Each container on a bridge needs an address of the bridge's subnet that
//! no other container has. The leases live in files under the runtime's
//! state directory, one per address, naming the container and the runtime
//! process that holds it. An exclusive flock(2) on the bridge's lock file
//! makes "find a free address and take it" one step, so containers started
//! at the same moment never get the same address.
//!
//! A lease whose runtime process is gone (killed, crashed) is stale: the
//! next allocation takes it back (see [`crate::owner`]). Read: flock(2).

use anyhow::{bail, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::owner::{is_alive, owner};
use std::str::FromStr;

/// An IPv4 subnet such as 172.20.0.0/24.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Subnet {
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl FromStr for Subnet {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<Subnet> {
        let hint = || format!("invalid subnet {text:?}: write it as ADDRESS/PREFIX, e.g. 172.20.0.0/24");
        let (address, prefix) = text.split_once('/').with_context(hint)?;
        let address: Ipv4Addr = address.parse().with_context(hint)?;
        let prefix: u8 = prefix.parse().with_context(hint)?;
        if !(16..=29).contains(&prefix) {
            bail!("invalid subnet {text}: the prefix must be /16 to /29 (room for a gateway and containers)");
        }
        let mask = u32::MAX << (32 - prefix);
        if u32::from(address) & !mask != 0 {
            bail!(
                "invalid subnet {text}: host bits are set; did you mean {}/{prefix}?",
                Ipv4Addr::from(u32::from(address) & mask)
            );
        }
        Ok(Subnet { network: address, prefix })
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl Subnet {
    /// The first address: the bridge's, and the containers' gateway.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    /// The addresses containers may get: after the gateway, before the
    /// broadcast address.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let first = u32::from(self.network) + 2;
        let broadcast = u32::from(self.network) | (u32::MAX >> self.prefix);
        (first..broadcast).map(Ipv4Addr::from)
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix);
        u32::from(address) & mask == u32::from(self.network)
    }
}

/// The leases of one bridge: `DIR/lock` and one file per leased address.
pub struct Leases {
    dir: PathBuf,
}

/// Held while the bridge's lock is taken; dropping it unlocks.
pub struct Locked {
    _lock: Flock<File>,
}

/// One container's address; released when dropped.
#[derive(Debug)]
pub struct Lease {
    pub address: Ipv4Addr,
    path: PathBuf,
}

impl Leases {
    pub fn new(dir: PathBuf) -> Leases {
        Leases { dir }
    }

    // ANCHOR: lock
    /// Take the bridge's lock, waiting for whoever holds it. The kernel
    /// releases a flock when its holder dies, so a killed runtime never
    /// leaves the lock taken.
    pub fn lock(&self) -> Result<Locked> {
        std::fs::create_dir_all(&self.dir).with_context(|| format!("cannot create {}", self.dir.display()))?;
        let path = self.dir.join("lock");
        let file = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        crate::narrate!("flock({path:?}, LOCK_EX)");
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| errno)
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(Locked { _lock: lock })
    }
    // ANCHOR_END: lock

    // ANCHOR: allocate
    /// The lowest free address of `subnet`, leased to container `id`.
    pub fn allocate(&self, _locked: &Locked, subnet: &Subnet, id: &str) -> Result<Lease> {
        for address in subnet.hosts() {
            let path = self.dir.join(address.to_string());
            if path.exists() && is_alive(&path) {
                continue;
            }
            // Free, or stale: its runtime is gone. Take it.
            std::fs::write(&path, format!("{} {}\n", owner(), id))
                .with_context(|| format!("cannot write the lease {}", path.display()))?;
            crate::narrate!("leased {address} to {id} ({path:?})");
            return Ok(Lease { address, path });
        }
        bail!("no free address left in {subnet}: stop a container, or use a larger --subnet")
    }
    // ANCHOR_END: allocate

    /// How many leases are held by runtimes that are still alive.
    pub fn live(&self, _locked: &Locked) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return 0 };
        entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_name().to_str().is_some_and(|n| n.parse::<Ipv4Addr>().is_ok()))
            .filter(|entry| is_alive(&entry.path()))
            .count()
    }

    /// Forget every lease and the lock file (the bridge is being removed).
    pub fn remove_all(self, locked: Locked) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .or_else(|err| if err.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(err) })
            .with_context(|| format!("cannot remove {}", self.dir.display()))?;
        drop(locked);
        Ok(())
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        crate::narrate!("released {}", self.address);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_describes_subnets() {
        let subnet: Subnet = "172.20.0.0/24".parse().unwrap();
        assert_eq!(subnet.gateway(), Ipv4Addr::new(172, 20, 0, 1));
        let hosts: Vec<_> = subnet.hosts().collect();
        assert_eq!(hosts.first(), Some(&Ipv4Addr::new(172, 20, 0, 2)));
        assert_eq!(hosts.last(), Some(&Ipv4Addr::new(172, 20, 0, 254)));
        assert!(subnet.contains(Ipv4Addr::new(172, 20, 0, 77)));
        assert!(!subnet.contains(Ipv4Addr::new(172, 21, 0, 77)));
    }

    #[test]
    fn rejects_bad_subnets() {
        for bad in ["172.20.0.0", "172.20.0.0/33", "172.20.0.1/24", "x/24", "10.0.0.0/8", "10.0.0.0/30"] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn leases_are_distinct_and_stale_ones_are_taken_back() {
        let dir = std::env::temp_dir().join(format!("ipam-test-{}", std::process::id()));
        let leases = Leases::new(dir.clone());
        let subnet: Subnet = "10.9.0.0/29".parse().unwrap();
        let locked = leases.lock().unwrap();
        let a = leases.allocate(&locked, &subnet, "a").unwrap();
        let b = leases.allocate(&locked, &subnet, "b").unwrap();
        assert_ne!(a.address, b.address);
        // A lease left by a runtime that no longer exists.
        std::fs::write(dir.join("10.9.0.4"), "999999999 1 dead\n").unwrap();
        let c = leases.allocate(&locked, &subnet, "c").unwrap();
        assert_eq!(c.address, Ipv4Addr::new(10, 9, 0, 4));
        assert_eq!(leases.live(&locked), 3);
        drop(b);
        assert_eq!(leases.live(&locked), 2);
        drop((a, c));
        leases.remove_all(locked).unwrap();
        assert!(!dir.exists());
    }
}
