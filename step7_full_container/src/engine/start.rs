//! Starting a container the engine made up: everything between its Spec
//! and a running program, and the handle that removes it all again.

use anyhow::{Context, Result};
use nix::unistd::Pid;
use oci_spec::runtime::Spec;
use std::fs::File;
use std::path::PathBuf;

use super::options::RunOptions;
use super::ports::{self, Published};
use super::root::Root;
use super::spec;
use crate::network::{self, Network, NetworkArgs};
use crate::oci::{self, create, lifecycle};
use crate::paths::Paths;

/// A container started in the foreground, and everything made for it.
/// Dropping it (or [`Running::wait`]) removes the container, its network,
/// ports and root.
pub struct Running {
    paths: Paths,
    id: String,
    pub(super) pid: Pid,
    network: Option<Network>,
    ports: Option<Published>,
    root: Root,
    terminal: Option<File>,
    /// `create` succeeded: there is a container to delete.
    created: bool,
    /// Everything is removed (or handed on): nothing left to do.
    done: bool,
}

impl Running {
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The master side of the container's terminal (with `tty`), for the
    /// caller to be its keyboard and screen.
    pub fn take_terminal(&mut self) -> Option<File> {
        self.terminal.take()
    }

    /// Wait for the container as its parent (passing signals on, as step
    /// 2's runtime does), then remove it; its exit status.
    pub fn wait(mut self) -> Result<i32> {
        let code = crate::init::supervise(self.pid);
        self.remove()?;
        code
    }

    /// The container, its network and ports, then its root.
    fn remove(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.done, true) {
            return Ok(());
        }
        let deleted = if self.created { lifecycle::delete(&self.paths.state, &self.id, true) } else { Ok(()) };
        drop((self.ports.take(), self.network.take()));
        let removed = self.root.remove();
        deleted.and(removed)
    }

    /// The monitor keeps a stopped container listed until `rm`: only the
    /// network and ports go (and the cgroup, see `monitor`).
    pub(super) fn release(mut self) {
        self.done = true;
        drop((self.ports.take(), self.network.take()));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Err(err) = self.remove() {
            crate::warn!("{err:#}");
        }
    }
}

// ANCHOR: start
/// Everything up to a started container: network, bundle, create, eth0,
/// ports, start. On an error, whatever was made is removed, `root` too.
pub fn start(paths: &Paths, options: &RunOptions, id: &str, root: Root, spec: Spec) -> Result<Running> {
    let mut running = Running {
        paths: paths.clone(),
        id: id.to_string(),
        pid: Pid::from_raw(0),
        network: None,
        ports: None,
        root,
        terminal: None,
        created: false,
        done: false,
    };
    // Rootless: no bridge (it needs root); the container's own network
    // namespace has its loopback, brought up by the container process.
    if !crate::paths::rootless() {
        running.network = Some(network::prepare(&network_args(options), id, &spec_hostname(&spec))?);
    }
    let mut spec = spec;
    if let Some(network) = &running.network {
        let (hosts, resolv_conf) = network.files();
        spec::add_network_files(&mut spec, hosts, resolv_conf)?;
    }
    let bundle = Bundle::make(paths, id)?;
    // -t: a console socket of our own. No thread to accept on it: create
    // forks, and a fork must not copy a process in which another thread
    // may hold a lock. The container's connection waits in the backlog.
    let console = bundle.0.join("console.sock");
    let listener = if options.tty { Some(oci::console::listen(&console)?) } else { None };
    let create = create::Options {
        root: &paths.state,
        id,
        bundle: &bundle.0,
        pid_file: None,
        no_pivot: false,
        console_socket: options.tty.then_some(console.as_path()),
        systemd_cgroup: false,
    };
    let state = create::create_from(&create, oci::bundle::from_spec(&bundle.0, spec)?)?;
    running.pid = Pid::from_raw(state.pid);
    running.created = true;
    running.root.record(&oci::state::dir(&paths.state, id))?;
    running.terminal = listener.as_ref().map(oci::console::receive).transpose()?;
    if let Some(network) = running.network.as_mut() {
        network.connect(running.pid, id)?;
        let publish = published(options, &running.root)?;
        running.ports = network.address().map(|a| ports::publish(id, a, &publish)).transpose()?.flatten();
    }
    lifecycle::start(&paths.state, id)?;
    Ok(running)
}
// ANCHOR_END: start

/// Step 5's settings for `options.network`.
fn network_args(options: &RunOptions) -> NetworkArgs {
    let network = &options.network;
    NetworkArgs {
        network: network.mode,
        bridge: network.bridge.clone(),
        subnet: network.subnet,
        dns: network.dns.clone(),
        cleanup_network: false,
    }
}

fn spec_hostname(spec: &Spec) -> String {
    spec.hostname().clone().unwrap_or_default()
}

/// -p, and with -P every port the image exposes ("80/tcp") on the same
/// number of the host.
fn published(options: &RunOptions, root: &Root) -> Result<Vec<ports::Port>> {
    let mut ports = options.publish.clone();
    if options.publish_all {
        for exposed in &root.defaults.exposed_ports {
            let (number, protocol) = exposed.split_once('/').unwrap_or((exposed, "tcp"));
            let port = format!("{number}:{number}/{protocol}")
                .parse()
                .with_context(|| format!("the image exposes {exposed:?}"))?;
            ports.push(port);
        }
    }
    Ok(ports)
}

/// The bundle of a docker-like container: a directory holding its
/// config.json (the rootfs stays where it is: root.path is absolute).
/// Needed only while `create` runs, which keeps a copy in the state;
/// removed when dropped, with .bundles and the state root if they are
/// empty then.
struct Bundle(PathBuf);

impl Bundle {
    /// The bundle's directory. No config.json in it: `create` takes the
    /// Spec from memory, and keeps its own copy in the state directory
    /// (what `inspect` shows). The directory is still the bundle of the
    /// container's state, and holds the console socket.
    fn make(paths: &Paths, id: &str) -> Result<Bundle> {
        let dir = paths.bundle(id);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Bundle(dir))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        for dir in self.0.ancestors().skip(1).take(2) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}
