//! A small synchronous rtnetlink client: the requests `ip link`, `ip addr`
//! and `ip route` send, made by the runtime itself.
//!
//! Network configuration in Linux is a conversation with the kernel over a
//! netlink socket (AF_NETLINK, NETLINK_ROUTE): each request is a message
//! such as RTM_NEWLINK ("create this interface") with attributes
//! (IFLA_IFNAME = "eth0", ...), and the kernel answers with an ACK or an
//! errno. The `ip` command is a front end to exactly these messages; the
//! narration shows the `ip` command each request stands for.
//!
//! A netlink socket acts on the network namespace it was created in. To
//! configure the inside of a container, [`Netlink::open_in`] creates the
//! socket from a thread that has joined the container's namespace with
//! setns(2). Read: rtnetlink(7), netlink(7), ip-link(8).

use anyhow::{bail, Context, Result};
use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::unistd::Pid;
use std::net::{IpAddr, Ipv4Addr};

pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

impl Netlink {
    /// A socket in this process's network namespace.
    pub fn open() -> Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE).context("cannot open a netlink socket")?;
        socket.bind_auto().context("cannot bind the netlink socket")?;
        socket.connect(&SocketAddr::new(0, 0)).context("cannot connect the netlink socket")?;
        Ok(Netlink { socket, sequence: 0 })
    }

    // ANCHOR: open_in
    /// A socket in the network namespace of process `pid`.
    ///
    /// setns(2) moves only the calling thread, so a short-lived thread
    /// joins the namespace and creates the socket there; the socket keeps
    /// working in that namespace after the thread is gone, and the runtime
    /// itself never leaves the host's namespace.
    pub fn open_in(pid: Pid) -> Result<Netlink> {
        let path = format!("/proc/{pid}/ns/net");
        let namespace = std::fs::File::open(&path).with_context(|| format!("cannot open {path}"))?;
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET)
                        .with_context(|| format!("setns({path}) failed"))?;
                    Netlink::open()
                })
                .join()
                .expect("the setns thread panicked")
        })
    }
    // ANCHOR_END: open_in

    /// Send one request and collect the kernel's answers until its ACK.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> Result<Vec<RouteNetlinkMessage>> {
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut buf = vec![0; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0).context("netlink send failed")?;

        let mut answers = Vec::new();
        loop {
            let (datagram, _) = self.socket.recv_from_full().context("netlink receive failed")?;
            let mut offset = 0;
            // One datagram may carry several messages, each 4-byte aligned.
            while offset < datagram.len() {
                let reply = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
                    .context("cannot parse the kernel's netlink answer")?;
                offset += (reply.header.length as usize + 3) & !3;
                if reply.header.sequence_number != self.sequence {
                    continue;
                }
                match reply.payload {
                    NetlinkPayload::Error(error) if error.code.is_none() => return Ok(answers),
                    NetlinkPayload::Error(error) => return Err(error.to_io().into()),
                    NetlinkPayload::Done(_) => return Ok(answers),
                    NetlinkPayload::InnerMessage(inner) => answers.push(inner),
                    _ => {}
                }
            }
        }
    }

    /// The index of interface `name`, `None` if there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>> {
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(RouteNetlinkMessage::GetLink(message), 0) {
            Ok(answers) => Ok(answers.into_iter().find_map(|answer| match answer {
                RouteNetlinkMessage::NewLink(link) => Some(link.header.index),
                _ => None,
            })),
            Err(err) if is_errno(&err, libc::ENODEV) => Ok(None),
            Err(err) => Err(err).with_context(|| format!("looking up interface {name} failed")),
        }
    }

    /// The index of `name`, or an error saying it is missing.
    pub fn existing_link(&mut self, name: &str) -> Result<u32> {
        self.link_index(name)?.with_context(|| format!("no interface named {name}"))
    }

    // ANCHOR: add_bridge
    /// `ip link add NAME type bridge`
    pub fn add_bridge(&mut self, name: &str) -> Result<()> {
        crate::narrate!("RTM_NEWLINK   (ip link add {name} type bridge)");
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(name.to_string()));
        message.attributes.push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]));
        self.request(RouteNetlinkMessage::NewLink(message), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("creating bridge {name} failed"))?;
        Ok(())
    }
    // ANCHOR_END: add_bridge

    // ANCHOR: add_veth
    /// `ip link add HOST type veth peer name PEER netns PID`: a veth pair,
    /// two interfaces joined like the ends of a cable, with the peer end
    /// created straight inside the network namespace of `pid`.
    pub fn add_veth(&mut self, host: &str, peer: &str, pid: Pid) -> Result<()> {
        crate::narrate!("RTM_NEWLINK   (ip link add {host} type veth peer name {peer} netns {pid})");
        let mut peer_message = LinkMessage::default();
        peer_message.attributes.push(LinkAttribute::IfName(peer.to_string()));
        peer_message.attributes.push(LinkAttribute::NetNsPid(pid.as_raw() as u32));
        let mut message = LinkMessage::default();
        message.attributes.push(LinkAttribute::IfName(host.to_string()));
        message.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_message))),
        ]));
        self.request(RouteNetlinkMessage::NewLink(message), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("creating veth pair {host}/{peer} failed"))?;
        Ok(())
    }
    // ANCHOR_END: add_veth

    /// `ip link set dev INDEX master BRIDGE`: plug an interface into a
    /// bridge.
    pub fn set_master(&mut self, name: &str, bridge: &str) -> Result<()> {
        crate::narrate!("RTM_SETLINK   (ip link set {name} master {bridge})");
        let index = self.existing_link(name)?;
        let bridge_index = self.existing_link(bridge)?;
        let mut message = LinkMessage::default();
        message.header.index = index;
        message.attributes.push(LinkAttribute::Controller(bridge_index));
        self.request(RouteNetlinkMessage::SetLink(message), 0)
            .with_context(|| format!("attaching {name} to {bridge} failed"))?;
        Ok(())
    }

    /// `ip link set NAME up`
    pub fn set_up(&mut self, name: &str) -> Result<()> {
        crate::narrate!("RTM_SETLINK   (ip link set {name} up)");
        let mut message = LinkMessage::default();
        message.header.index = self.existing_link(name)?;
        message.header.flags = LinkFlags::Up;
        message.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(message), 0).with_context(|| format!("bringing {name} up failed"))?;
        Ok(())
    }

    /// `ip link del NAME`; `false` if there was no such interface.
    pub fn delete_link(&mut self, name: &str) -> Result<bool> {
        let Some(index) = self.link_index(name)? else { return Ok(false) };
        crate::narrate!("RTM_DELLINK   (ip link del {name})");
        let mut message = LinkMessage::default();
        message.header.index = index;
        match self.request(RouteNetlinkMessage::DelLink(message), 0) {
            Ok(_) => Ok(true),
            // Gone meanwhile: the kernel deletes a veth pair with its namespace.
            Err(err) if is_errno(&err, libc::ENODEV) => Ok(false),
            Err(err) => Err(err).with_context(|| format!("deleting interface {name} failed")),
        }
    }

    /// `ip addr add ADDRESS/PREFIX dev NAME`
    pub fn add_address(&mut self, name: &str, address: Ipv4Addr, prefix: u8) -> Result<()> {
        crate::narrate!("RTM_NEWADDR   (ip addr add {address}/{prefix} dev {name})");
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = self.existing_link(name)?;
        message.attributes.push(AddressAttribute::Local(IpAddr::V4(address)));
        message.attributes.push(AddressAttribute::Address(IpAddr::V4(address)));
        self.request(RouteNetlinkMessage::NewAddress(message), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("adding {address}/{prefix} to {name} failed"))?;
        Ok(())
    }

    /// The IPv4 addresses of interface `name`, with their prefix lengths.
    pub fn addresses(&mut self, name: &str) -> Result<Vec<(Ipv4Addr, u8)>> {
        let index = self.existing_link(name)?;
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        let answers = self
            .request(RouteNetlinkMessage::GetAddress(message), netlink_packet_core::NLM_F_DUMP)
            .context("listing addresses failed")?;
        let mut found = Vec::new();
        for answer in answers {
            let RouteNetlinkMessage::NewAddress(address) = answer else { continue };
            if address.header.index != index {
                continue;
            }
            for attribute in &address.attributes {
                if let AddressAttribute::Local(IpAddr::V4(ip)) = attribute {
                    found.push((*ip, address.header.prefix_len));
                }
            }
        }
        Ok(found)
    }

    /// `ip route add default via GATEWAY`
    pub fn add_default_route(&mut self, gateway: Ipv4Addr) -> Result<()> {
        crate::narrate!("RTM_NEWROUTE  (ip route add default via {gateway})");
        let mut message = RouteMessage::default();
        message.header.address_family = AddressFamily::Inet;
        message.header.table = RouteHeader::RT_TABLE_MAIN;
        message.header.protocol = RouteProtocol::Boot;
        message.header.scope = RouteScope::Universe;
        message.header.kind = RouteType::Unicast;
        message.attributes.push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(RouteNetlinkMessage::NewRoute(message), NLM_F_CREATE | NLM_F_EXCL)
            .with_context(|| format!("adding the default route via {gateway} failed"))?;
        Ok(())
    }
}

fn is_errno(err: &anyhow::Error, errno: i32) -> bool {
    err.downcast_ref::<std::io::Error>().and_then(|e| e.raw_os_error()) == Some(errno)
}

/// Interface names are at most 15 bytes (IFNAMSIZ - 1).
pub fn check_interface_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !valid {
        bail!("invalid interface name {name:?}: 1 to 15 letters, digits, '-', '_' or '.'");
    }
    Ok(())
}
