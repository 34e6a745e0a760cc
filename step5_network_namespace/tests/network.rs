//! Step 5 in real containers: their own network stacks, connected through
//! a bridge. Every test uses a bridge and subnet of its own and removes
//! them at the end (`--cleanup-network`); traffic goes only to addresses
//! the tests themselves created.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::io::{BufRead, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};
use support::{assert_code, finish, run, start, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step5");

/// A bridge and subnet for one test, removed when dropped.
struct TestNet {
    bridge: String,
    subnet: String,
    prefix: String,
}

impl TestNet {
    fn new(n: u8) -> TestNet {
        TestNet { bridge: format!("s5test{n}"), subnet: format!("172.31.{n}.0/24"), prefix: format!("172.31.{n}.") }
    }

    fn with_subnet(n: u8, subnet: &str) -> TestNet {
        let prefix = subnet.rsplit_once('.').unwrap().0.to_string() + ".";
        TestNet { bridge: format!("s5test{n}"), subnet: subnet.to_string(), prefix }
    }

    /// `--rootfs R --bridge B --subnet S`, then `args`.
    fn args<'a>(&'a self, rootfs: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec![rootfs, "--bridge", &self.bridge, "--subnet", &self.subnet];
        all.extend_from_slice(args);
        all
    }

    fn gateway(&self) -> String {
        format!("{}1", self.prefix)
    }

    /// The files of the bridge's leases, the lock file aside.
    fn leases(&self) -> Vec<String> {
        let dir = Path::new("/run/step5/bridges").join(&self.bridge);
        let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
        entries.flatten().map(|e| e.file_name().into_string().unwrap()).filter(|n| n != "lock").collect()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let out = run(BIN, &["--cleanup-network", "--bridge", &self.bridge, "--subnet", &self.subnet]);
        if !std::thread::panicking() {
            assert_code(&out, 0);
        }
    }
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Read the first line of a running container's stdout.
fn first_line(child: &mut std::process::Child) -> (String, std::io::BufReader<std::process::ChildStdout>) {
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    (line.trim().to_string(), reader)
}

/// Connect to `address`, retrying while the listener is not up yet.
fn connect(address: &str) -> TcpStream {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&address.parse().unwrap(), Duration::from_secs(1)) {
            Ok(stream) => return stream,
            Err(err) if Instant::now() > deadline => panic!("cannot connect to {address}: {err}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// The container's IPv4 address on eth0, printed first by every script.
const PRINT_ADDRESS: &str = "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1";

#[test]
fn eth0_has_an_address_of_the_subnet_and_reaches_the_gateway() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(1);
    let script = format!(
        "{PRINT_ADDRESS}; ip route | grep default; ping -c 1 -W 2 {} >/dev/null && echo reached",
        net.gateway()
    );
    let out = run(BIN, &net.args(&rootfs.arg(), &["sh", "-c", &script]));
    assert_code(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    let address: Ipv4Addr = lines.next().unwrap().parse().unwrap();
    assert!(address.to_string().starts_with(&net.prefix), "{address}");
    assert!(lines.next().unwrap().starts_with(&format!("default via {}", net.gateway())), "{text}");
    assert_eq!(lines.next(), Some("reached"));
}

#[test]
fn the_host_connects_to_a_listener_inside() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(2);
    let script = format!("{PRINT_ADDRESS}; echo hello-from-inside | nc -l -p 8080");
    let mut child = start(BIN, &net.args(&rootfs.arg(), &["sh", "-c", &script]));
    let (address, _rest) = first_line(&mut child);
    let mut answer = String::new();
    connect(&format!("{address}:8080")).read_to_string(&mut answer).unwrap();
    assert_eq!(answer.trim(), "hello-from-inside");
    assert_code(&finish(child), 0);
}

#[test]
fn two_containers_reach_each_other() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(3);
    let listener = format!("{PRINT_ADDRESS}; echo hello-from-a | nc -l -p 8081");
    let mut a = start(BIN, &net.args(&rootfs.arg(), &["sh", "-c", &listener]));
    let (address, _rest) = first_line(&mut a);
    let client = format!("for i in $(seq 100); do nc -w 2 {address} 8081 && exit 0; sleep 0.1; done; exit 1");
    let out = run(BIN, &net.args(&rootfs.arg(), &["sh", "-c", &client]));
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "hello-from-a");
    assert_code(&finish(a), 0);
}

#[test]
fn concurrent_starts_get_distinct_addresses() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(4);
    let rootfs_arg = rootfs.arg();
    let script = format!("{PRINT_ADDRESS}; sleep 1");
    let children: Vec<_> = (0..6).map(|_| start(BIN, &net.args(&rootfs_arg, &["sh", "-c", &script]))).collect();
    let mut addresses: Vec<String> = children
        .into_iter()
        .map(|child| {
            let out = finish(child);
            assert_code(&out, 0);
            stdout(&out).trim().to_string()
        })
        .collect();
    assert!(addresses.iter().all(|a| a.starts_with(&net.prefix)), "{addresses:?}");
    addresses.sort();
    addresses.dedup();
    assert_eq!(addresses.len(), 6, "two containers got the same address: {addresses:?}");
    assert!(net.leases().is_empty(), "leases left: {:?}", net.leases());
}

#[test]
fn nothing_is_left_after_exit() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(5);
    let out = run(BIN, &net.args(&rootfs.arg(), &["hostname"]));
    assert_code(&out, 0);
    let id = stdout(&out).trim().to_string();
    assert!(!link_exists(&format!("veth{}", &id[..10])), "the veth of {id} is still there");
    assert!(net.leases().is_empty(), "leases left: {:?}", net.leases());
    assert!(!Path::new("/run/step5/containers").join(&id).exists());
}

/// SIGTERM and SIGINT to the runtime: passed on, then the same clean-up.
#[test]
fn a_signalled_runtime_cleans_up() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(6);
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut child = start(BIN, &net.args(&rootfs.arg(), &["sh", "-c", "hostname; exec sleep 30"]));
        let (id, _rest) = first_line(&mut child);
        assert!(link_exists(&format!("veth{}", &id[..10])));
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = finish(child);
        assert_eq!(out.status.code(), Some(128 + signal));
        assert!(!link_exists(&format!("veth{}", &id[..10])), "veth left after signal {signal}");
        assert!(net.leases().is_empty(), "leases left after signal {signal}: {:?}", net.leases());
    }
}

/// The container killed from outside (its init, PID 1 inside): the runtime
/// reports 137 and cleans up as after any exit.
#[test]
fn a_killed_container_is_cleaned_up() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::new(9);
    let mut child = start(BIN, &net.args(&rootfs.arg(), &["sh", "-c", "hostname; exec sleep 30"]));
    let (id, _rest) = first_line(&mut child);
    let list = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    let init: i32 = list.split_whitespace().next().unwrap().parse().unwrap();
    unsafe { libc::kill(init, libc::SIGKILL) };
    assert_code(&finish(child), 137);
    assert!(!link_exists(&format!("veth{}", &id[..10])), "veth left");
    assert!(net.leases().is_empty(), "leases left: {:?}", net.leases());
}

/// A SIGKILLed runtime cleans nothing up; the next run recovers its lease.
#[test]
fn a_killed_runtimes_lease_is_recovered() {
    let Some(rootfs) = Rootfs::new() else { return };
    let net = TestNet::with_subnet(7, "172.31.7.0/29");
    let script = format!("{PRINT_ADDRESS}; exec sleep 30");
    let mut child = start(BIN, &net.args(&rootfs.arg(), &["sh", "-c", &script]));
    let (first, _rest) = first_line(&mut child);
    let init = support::first_child(child.id());
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = finish(child);
    support::reap(init);
    assert_eq!(net.leases(), std::slice::from_ref(&first), "the killed run's lease should still be on disk");
    let out = run(BIN, &net.args(&rootfs.arg(), &["sh", "-c", PRINT_ADDRESS]));
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), first, "the stale lease should have been taken back");
    assert!(net.leases().is_empty());
}

#[test]
fn network_none_has_only_loopback() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "--network", "none", "sh", "-c", "ls /sys/class/net; ip -4 -o addr"]);
    assert_code(&out, 0);
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("lo"));
    assert!(text.contains("inet 127.0.0.1/8"), "lo should be up: {text}");
    assert_eq!(text.lines().count(), 2, "{text}");
}

/// Outbound NAT, against a "remote host" the test builds itself: a
/// network namespace behind a veth on 198.18.0.0/30 (a benchmarking
/// range). The listener there must see the host's address as the source,
/// not the container's.
#[test]
fn outbound_connections_are_masqueraded() {
    let Some(rootfs) = Rootfs::new() else { return };
    if !support::is_root() || std::process::Command::new("ip").arg("-V").output().is_err() {
        support::cannot_run("needs iproute2's `ip` to build the remote host");
        return;
    }
    let net = TestNet::new(8);
    let remote = Remote::new();
    let netns = remote.netns();
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = std::thread::spawn(move || {
        let ns = std::fs::File::open(netns).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let listener = std::net::TcpListener::bind("198.18.0.2:9000").unwrap();
        tx.send(()).unwrap();
        let (mut stream, peer) = listener.accept().unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        (peer.ip().to_string(), text)
    });
    rx.recv().unwrap();
    let out = run(BIN, &net.args(&rootfs.arg(), &["sh", "-c", "echo through-nat | nc -w 5 198.18.0.2 9000"]));
    assert_code(&out, 0);
    let (source, text) = listener.join().unwrap();
    assert_eq!(text.trim(), "through-nat");
    assert_eq!(source, "198.18.0.1", "the remote host saw the container's own address");
    drop(remote);
}

/// A network namespace held by a process of its own (`unshare --net
/// sleep`), with a veth to it: host 198.18.0.1, remote .2. Not `ip netns
/// add`: the first one on a machine bind-mounts /run/netns for good, and
/// the test would leave the host changed.
struct Remote {
    holder: std::process::Child,
}

impl Remote {
    fn new() -> Remote {
        let holder = std::process::Command::new("unshare").args(["--net", "sleep", "3600"]).spawn().unwrap();
        let pid = holder.id();
        // unshare(1) makes the namespace, then execs sleep: wait for it.
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        while std::fs::read_link(format!("/proc/{pid}/ns/net")).is_ok_and(|ns| ns == ours) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::process::Command::new("ip").args(["link", "del", "s5remote0"]).status();
        let script = format!(
            "ip link add s5remote0 type veth peer name eth0 netns {pid}
             ip addr add 198.18.0.1/30 dev s5remote0
             ip link set s5remote0 up
             nsenter --target {pid} --net ip addr add 198.18.0.2/30 dev eth0
             nsenter --target {pid} --net ip link set eth0 up
             nsenter --target {pid} --net ip link set lo up"
        );
        let status = std::process::Command::new("sh").args(["-ec", &script]).status().unwrap();
        assert!(status.success(), "{script}");
        Remote { holder }
    }

    /// The namespace, to setns(2) into.
    fn netns(&self) -> String {
        format!("/proc/{}/ns/net", self.holder.id())
    }
}

impl Drop for Remote {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", "s5remote0"]).status();
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn bad_network_values_are_refused_before_anything_is_created() {
    let Some(rootfs) = Rootfs::new() else { return };
    for (args, message) in [
        (vec!["--subnet", "172.31.9.1/24"], "host bits are set"),
        (vec!["--subnet", "172.31.9.0"], "invalid subnet"),
        (vec!["--bridge", "a-name-far-too-long"], "invalid interface name"),
    ] {
        let mut all = vec![rootfs.arg()];
        all.extend(args.iter().map(|a| a.to_string()));
        all.push("true".into());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = run(BIN, &all);
        assert!(matches!(out.status.code(), Some(2) | Some(125)), "{args:?}");
        assert!(support::stderr(&out).contains(message), "{args:?}: {}", support::stderr(&out));
    }
    assert!(!link_exists("a-name-far-too-long"));
    let out = run(BIN, &[&rootfs.arg(), "--network", "bogus", "true"]);
    assert_code(&out, 2);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &["--network", "none"]);
}

/// Negative control for step 6: without cgroups of its own the container
/// is in the runtime's cgroups, with the runtime's (lack of) limits.
#[test]
fn the_container_shares_the_runtimes_cgroups() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "--network", "none", "cat", "/proc/self/cgroup"]);
    assert_code(&out, 0);
    let mine = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    assert_eq!(stdout(&out), mine);
}

/// Many runtimes at once, each with its own /etc/hosts and resolv.conf in
/// /run/step5: none may take another's half-made files for a killed
/// runtime's leftovers and remove them under it. (They did: a runtime
/// cleaning up stale files found a new directory whose owner file was not
/// written yet.)
#[test]
fn concurrent_runtimes_keep_their_files() {
    let Some(rootfs) = Rootfs::new() else { return };
    let arg = rootfs.arg();
    for _ in 0..6 {
        let runs: Vec<_> = (0..8).map(|_| start(BIN, &[&arg, "--network", "none", "--", "true"])).collect();
        for child in runs {
            let out = finish(child);
            assert_code(&out, 0);
        }
    }
}
