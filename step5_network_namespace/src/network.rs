//! The network namespace: the container gets its own network stack, and a
//! virtual cable to the host.
//!
//! A process created with `CLONE_NEWNET` starts in an empty network
//! namespace: its own interfaces (only a loopback, down), addresses,
//! routes, ports and firewall. `--network none` leaves it like that, with
//! `lo` up. `--network bridge` (the default) connects it, as Docker does:
//!
//! ```text
//!   container netns                 host
//!   eth0 172.20.0.2/24 ==veth==  vethXXXX --+
//!   default via 172.20.0.1                  |  ctr0 172.20.0.1/24 (bridge)
//!   other container  eth0 ==veth==  vethYYYY --+        |
//!                                               NAT (masquerade) -> eth0 of the host
//! ```
//!
//! The runtime does the host side before clone (bridge, NAT, address
//! lease) and the rest once the container process exists (the veth pair,
//! the inside configuration), while the container process waits at a
//! [`Gate`](crate::gate::Gate). Everything is undone when [`Network`] is
//! dropped, and a killed runtime's leftovers are recovered by the next run:
//! its veth dies with its namespace, its lease and files are taken back.
//! Read: network_namespaces(7), veth(4), ip-link(8).

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use nix::mount::MsFlags;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::ipam::{Lease, Leases, Subnet};
use crate::nat::{self, Firewall};
use crate::netlink::{self, Netlink};

// ANCHOR: namespace
/// Passed to clone3: the container process gets its own network stack.
pub const NAMESPACE: CloneFlags = CloneFlags::CLONE_NEWNET;
// ANCHOR_END: namespace

/// Where the runtime keeps leases and per-container files. Under /run, a
/// tmpfs: a reboot, which removes every container, empties it too.
pub const STATE_DIR: &str = "/run/step5";

/// The bridge and subnet containers get unless told otherwise.
pub const DEFAULT_BRIDGE: &str = "ctr0";
pub const DEFAULT_SUBNET: &str = "172.20.0.0/24";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Only a loopback interface
    None,
    /// A veth pair to a bridge on the host, with outbound NAT
    Bridge,
}

#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// Network of the container
    #[arg(long, value_enum, default_value = "bridge")]
    pub network: Mode,

    /// Bridge on the host the containers are connected to
    #[arg(long, value_name = "NAME", default_value = DEFAULT_BRIDGE)]
    pub bridge: String,

    /// Subnet of the bridge: it gets the first address, containers the rest
    #[arg(long, value_name = "CIDR", default_value = DEFAULT_SUBNET)]
    pub subnet: Subnet,

    /// Name server for the container's /etc/resolv.conf (repeatable)
    /// [default: the host's, unless it is on loopback]
    #[arg(long = "dns", value_name = "IP")]
    pub dns: Vec<Ipv4Addr>,

    /// Remove the bridge, its NAT rule and its leases, then exit
    #[arg(long)]
    pub cleanup_network: bool,
}

/// The container's network, as the runtime holds it. Dropping it removes
/// the veth, releases the address and removes the container's files.
pub struct Network {
    bridge: Option<(String, Subnet)>,
    lease: Option<Lease>,
    veth: Option<String>,
    files: ContainerFiles,
}

impl NetworkArgs {
    /// Refuse bad values before anything is created.
    pub fn check(&self) -> Result<()> {
        netlink::check_interface_name(&self.bridge).context("invalid --bridge")
    }
}

// ANCHOR: prepare
/// In the runtime, before clone: the host side of the network.
pub fn prepare(args: &NetworkArgs, id: &str, hostname: &str) -> Result<Network> {
    let state = Path::new(STATE_DIR);
    recover_stale_files(state);
    let (bridge, lease) = match args.network {
        Mode::None => (None, None),
        Mode::Bridge => {
            let leases = Leases::new(state.join("bridges").join(&args.bridge));
            // One runtime at a time from here: two first containers must
            // not both create the bridge, or both take the same address.
            let locked = leases.lock()?;
            ensure_bridge(&args.bridge, &args.subnet)?;
            nat::enable_forwarding(state)?;
            nat::ensure_masquerade(Firewall::detect()?, &args.bridge, &args.subnet)?;
            let lease = leases.allocate(&locked, &args.subnet, id)?;
            (Some((args.bridge.clone(), args.subnet)), Some(lease))
        }
    };
    let address = lease.as_ref().map(|lease| lease.address);
    let files = ContainerFiles::write(state, id, hostname, address, &args.dns)?;
    Ok(Network { bridge, lease, veth: None, files })
}
// ANCHOR_END: prepare

// ANCHOR: ensure_bridge
/// `ip link add NAME type bridge; ip addr add GATEWAY/PREFIX dev NAME;
/// ip link set NAME up`, unless the bridge is already there.
fn ensure_bridge(name: &str, subnet: &Subnet) -> Result<()> {
    let mut host = Netlink::open()?;
    let gateway = subnet.gateway();
    if host.link_index(name)?.is_none() {
        host.add_bridge(name)?;
        host.add_address(name, gateway, subnet.prefix)?;
    } else if !host.addresses(name)?.contains(&(gateway, subnet.prefix)) {
        bail!(
            "bridge {name} exists without the address {gateway}/{}: it serves another subnet; \
             use --bridge with a new name for {subnet}, or remove it with --cleanup-network",
            subnet.prefix
        );
    }
    host.set_up(name)
}
// ANCHOR_END: ensure_bridge

impl Network {
    // ANCHOR: connect
    /// In the runtime, once the container process `pid` exists: its veth
    /// pair and the configuration inside its namespace.
    pub fn connect(&mut self, pid: Pid, id: &str) -> Result<()> {
        let mut inside = Netlink::open_in(pid)?;
        inside.set_up("lo")?;
        let (Some((bridge, subnet)), Some(lease)) = (&self.bridge, &self.lease) else { return Ok(()) };

        // The host end is named after the container, so `ip link` on the
        // host tells which container it belongs to.
        let host_end = format!("veth{}", &id[..id.len().min(10)]);
        let mut host = Netlink::open()?;
        host.add_veth(&host_end, "eth0", pid)?;
        self.veth = Some(host_end.clone());
        host.set_master(&host_end, bridge)?;
        host.set_up(&host_end)?;

        inside.add_address("eth0", lease.address, subnet.prefix)?;
        inside.set_up("eth0")?;
        inside.add_default_route(subnet.gateway())
    }
    // ANCHOR_END: connect

    /// The container's own /etc/hosts and /etc/resolv.conf, on the host
    /// (for a runtime that bind-mounts them through its own mount list).
    pub fn files(&self) -> (&Path, &Path) {
        (&self.files.hosts, &self.files.resolv_conf)
    }

    /// The container's address on the bridge, if it has one.
    pub fn address(&self) -> Option<Ipv4Addr> {
        self.lease.as_ref().map(|lease| lease.address)
    }

    // ANCHOR: bind_files
    /// In the container process, after `mount::prepare_new_root`: its own
    /// /etc/hosts and /etc/resolv.conf, bind-mounted over the rootfs's, so
    /// the rootfs (shared by every container) is never written to.
    pub fn bind_files(&self, rootfs: &Path) -> Result<()> {
        for (source, name) in [(&self.files.hosts, "hosts"), (&self.files.resolv_conf, "resolv.conf")] {
            let target = rootfs.join("etc").join(name);
            if !target.exists() {
                std::fs::create_dir_all(rootfs.join("etc"))?;
                std::fs::File::create(&target).with_context(|| format!("cannot create {}", target.display()))?;
            }
            crate::mount::mount(Some(source), &target, None, MsFlags::MS_BIND, None)?;
        }
        Ok(())
    }
    // ANCHOR_END: bind_files
}

impl Drop for Network {
    fn drop(&mut self) {
        if let Some(veth) = self.veth.take() {
            // The kernel deletes a veth pair when its namespace dies, but
            // in the background, a moment later: delete it now, so that the
            // name and the bridge port are free when we return.
            if let Ok(mut host) = Netlink::open() {
                let _ = host.delete_link(&veth);
            }
        }
        // The lease and the files go with their own Drop.
    }
}

// ANCHOR: cleanup
/// `--cleanup-network`: remove the bridge, its NAT rule and its leases,
/// and put forwarding back once no bridge of ours is left.
pub fn cleanup(args: &NetworkArgs) -> Result<()> {
    let state = Path::new(STATE_DIR);
    let leases = Leases::new(state.join("bridges").join(&args.bridge));
    let locked = leases.lock()?;
    let live = leases.live(&locked);
    if live > 0 {
        bail!("{live} running container(s) still use {}: stop them first", args.bridge);
    }
    if Netlink::open()?.delete_link(&args.bridge)? {
        println!("removed bridge {}", args.bridge);
    }
    if let Ok(firewall) = Firewall::detect() {
        nat::remove_masquerade(firewall, &args.bridge, &args.subnet)?;
    }
    leases.remove_all(locked)?;
    let bridges_left = std::fs::read_dir(state.join("bridges")).map_or(0, |dir| dir.count());
    if bridges_left == 0 {
        nat::restore_forwarding(state)?;
        // The state directory too, once empty (remove_dir refuses otherwise).
        for dir in [state.join("bridges"), state.join("containers"), state.to_path_buf()] {
            let _ = std::fs::remove_dir(dir);
        }
    }
    Ok(())
}
// ANCHOR_END: cleanup

/// A container's own /etc/hosts and /etc/resolv.conf, in the state
/// directory; removed when dropped.
struct ContainerFiles {
    dir: PathBuf,
    hosts: PathBuf,
    resolv_conf: PathBuf,
}

impl ContainerFiles {
    fn write(state: &Path, id: &str, hostname: &str, address: Option<Ipv4Addr>, dns: &[Ipv4Addr]) -> Result<Self> {
        let dir = state.join("containers").join(id);
        // Retried: another runtime's Drop may remove the empty parents
        // between our mkdirs.
        let mut made = std::fs::create_dir_all(&dir);
        for _ in 0..3 {
            if made.is_ok() {
                break;
            }
            made = std::fs::create_dir_all(&dir);
        }
        made.with_context(|| format!("cannot create {}", dir.display()))?;
        let files = ContainerFiles { hosts: dir.join("hosts"), resolv_conf: dir.join("resolv.conf"), dir };
        let write = |path: &Path, text: String| {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        };
        // Written whole, then renamed: another runtime never reads a
        // half-written owner (which would name no live process).
        let owner = files.dir.join("owner");
        write(&files.dir.join("owner.new"), crate::owner::owner())?;
        std::fs::rename(files.dir.join("owner.new"), &owner)
            .with_context(|| format!("cannot write {}", owner.display()))?;
        let own_line = match address {
            Some(address) => format!("{address}\t{hostname}\n"),
            None => format!("127.0.1.1\t{hostname}\n"),
        };
        write(&files.hosts, format!("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n{own_line}"))?;
        write(&files.resolv_conf, resolv_conf(dns))?;
        Ok(files)
    }
}

impl Drop for ContainerFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // The state directory too, once nothing else is in it (remove_dir
        // refuses otherwise): a host without containers keeps no trace.
        if let Some(containers) = self.dir.parent() {
            let _ = std::fs::remove_dir(containers);
            if let Some(state) = containers.parent() {
                let _ = std::fs::remove_dir(state);
            }
        }
    }
}

/// Remove the files of containers whose runtime is gone (killed runs).
/// A directory without an owner file is being made by another runtime,
/// which puts the file there (whole, by rename) just after its mkdir:
/// left alone unless it is old (its runtime was killed in between).
fn recover_stale_files(state: &Path) {
    let Ok(entries) = std::fs::read_dir(state.join("containers")) else { return };
    for entry in entries.flatten() {
        let owner = entry.path().join("owner");
        let age = entry.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        let being_made = !owner.exists() && age.is_some_and(|age| age < std::time::Duration::from_secs(60));
        if !being_made && !crate::owner::is_alive(&owner) {
            crate::narrate!("removing the files of a runtime that is gone: {:?}", entry.path());
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

// ANCHOR: resolv_conf
/// The container's resolver: `--dns`, else the host's name servers. A
/// server on loopback (127.0.0.53 of systemd-resolved, a local dnsmasq) is
/// the *host's* loopback, unreachable from the container's namespace:
/// then systemd-resolved's upstream list, else public resolvers.
fn resolv_conf(dns: &[Ipv4Addr]) -> String {
    if !dns.is_empty() {
        return dns.iter().map(|ip| format!("nameserver {ip}\n")).collect();
    }
    for candidate in ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"] {
        let Ok(text) = std::fs::read_to_string(candidate) else { continue };
        let usable: Vec<&str> = text
            .lines()
            .filter(|line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                ["nameserver", server] => server.parse::<std::net::IpAddr>().is_ok_and(|ip| !ip.is_loopback()),
                ["search", ..] | ["options", ..] => true,
                _ => false,
            })
            .collect();
        if usable.iter().any(|line| line.starts_with("nameserver")) {
            return usable.iter().map(|line| format!("{line}\n")).collect();
        }
    }
    "# the host's resolver is on loopback, unreachable from here; override with --dns\n\
     nameserver 1.1.1.1\nnameserver 8.8.8.8\n"
        .to_string()
}
// ANCHOR_END: resolv_conf
