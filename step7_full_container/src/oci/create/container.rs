//! The container process's half of `create`: from clone to execve.
//!
//! It starts as a copy of the runtime in its new namespaces, waits at the
//! gate until the runtime has put it in its cgroup and written its id
//! mappings, then builds the container around itself, in the order of the
//! table in [`super`]: it joins and unshares what is left, names itself,
//! mounts its root and pivots into it, gives up its privileges, and waits
//! on the exec fifo for `start`.

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use std::convert::Infallible;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::gate::Gate;
use crate::oci::bundle::Bundle;
use crate::oci::console::ConsoleSocket;
use crate::oci::namespaces::{self, Namespaces};
use crate::oci::program::Program;
use crate::oci::{hooks, rootfs, security, userns, OCI_VERSION};

/// Everything the container process needs, made by the runtime before
/// clone (the process gets a copy of it).
pub(super) struct Setup<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub namespaces: &'a Namespaces,
    pub gate: &'a Gate,
    /// The exec fifo's read end: `start` writes to it.
    pub fifo: &'a OwnedFd,
    pub console: Option<&'a ConsoleSocket>,
    pub cgroups: &'a rootfs::Cgroups,
    pub idmapped: &'a userns::idmap::Prepared,
    pub no_pivot: bool,
}

impl Setup<'_> {
    // ANCHOR: container
    /// The container process, from clone to execve.
    pub fn run(&self) -> Result<Infallible> {
        let spec = &self.bundle.spec;
        self.gate.wait()?;
        self.enter_namespaces()?;
        self.set_names()?;
        let hooks = spec.hooks().as_ref();
        let state = self.hook_state();
        if self.namespaces.has(CloneFlags::CLONE_NEWNS) {
            rootfs::prepare(spec, &self.bundle.rootfs, &self.bundle.dir, self.namespaces, self.cgroups, self.idmapped)?;
            hooks::run("createContainer", hooks.and_then(|h| h.create_container().as_ref()), &state)?;
            if self.no_pivot {
                move_root(&self.bundle.rootfs)?;
            } else {
                crate::mount::pivot_to(&self.bundle.rootfs)?;
            }
            rootfs::finish(spec)?;
        } else {
            crate::chroot::enter(&self.bundle.rootfs)?;
        }
        let process = spec.process().as_ref().expect("checked by bundle::load");
        let program = Program::find(process).context("config.json")?;
        if let Some(console) = self.console {
            console.setup(crate::oci::console::size(process))?;
        }
        security::close_inherited_fds(&[self.fifo.as_raw_fd()])?;
        security::apply(process, spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()))?;

        // Everything that could fail has been done: `create` may return.
        crate::process::close_error_pipe();
        wait_for_start(self.fifo)?;
        hooks::run("startContainer", hooks.and_then(|h| h.start_container().as_ref()), &state)?;
        program.exec()
    }
    // ANCHOR_END: container

    /// Root of the new user namespace, the namespaces given by path, and
    /// a cgroup namespace now that the process is in its cgroup.
    fn enter_namespaces(&self) -> Result<()> {
        if self.namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
            userns::become_root()?;
        }
        for (flag, path) in &self.namespaces.join {
            namespaces::join(*flag, path)?;
        }
        if self.namespaces.new_cgroup {
            crate::narrate!("unshare(CLONE_NEWCGROUP)");
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP) failed")?;
        }
        if self.namespaces.new.contains(CloneFlags::CLONE_NEWNET) {
            // A new network namespace's loopback starts down (runc and crun
            // bring it up too): programs expect 127.0.0.1 to work.
            crate::netlink::Netlink::open()?.set_up("lo")?;
        }
        Ok(())
    }

    /// hostname and domainname, in a UTS namespace of its own.
    fn set_names(&self) -> Result<()> {
        if !self.namespaces.has(CloneFlags::CLONE_NEWUTS) {
            return Ok(());
        }
        if let Some(hostname) = self.bundle.spec.hostname() {
            crate::uts::set_hostname(hostname)?;
        }
        if let Some(domainname) = self.bundle.spec.domainname() {
            crate::narrate!("setdomainname({domainname:?})");
            // SAFETY: a pointer and length of a live string.
            if unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) } != 0 {
                return Err(std::io::Error::last_os_error()).context("config.json: domainname");
            }
        }
        Ok(())
    }

    /// The state the createContainer and startContainer hooks get. It
    /// names this process by its PID on the host: the first of NSpid in
    /// /proc/self/status (the host's /proc, until the container's is
    /// mounted). Null, and nothing read, when there are no such hooks.
    fn hook_state(&self) -> serde_json::Value {
        let hooks = self.bundle.spec.hooks().as_ref();
        let listed = |list: &Option<Vec<oci_spec::runtime::Hook>>| list.as_ref().is_some_and(|l| !l.is_empty());
        if !hooks.is_some_and(|h| listed(h.create_container()) || listed(h.start_container())) {
            return serde_json::Value::Null;
        }
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let host_pid = status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|l| l.split_whitespace().next());
        serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": "created",
            "pid": host_pid.and_then(|pid| pid.parse::<i32>().ok()).unwrap_or(0),
            "bundle": self.bundle.dir,
        })
    }
}

// ANCHOR: wait_for_start
/// Block until `start` writes to the exec fifo. (A fifo read end never
/// reports end-of-file before a writer has come, so poll waits.)
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut poll = [libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    loop {
        // SAFETY: one pollfd, for the length of the call.
        let ready = unsafe { libc::poll(poll.as_mut_ptr(), 1, -1) };
        if ready == 1 {
            break;
        }
        if ready == -1 && nix::errno::Errno::last() != nix::errno::Errno::EINTR {
            bail!("waiting on the exec fifo failed");
        }
    }
    let mut byte = [0u8; 1];
    match nix::unistd::read(fifo, &mut byte) {
        Ok(1) => Ok(()),
        _ => bail!("start gave up before the container was started"),
    }
}
// ANCHOR_END: wait_for_start

/// `--no-pivot`: move the rootfs over / and chroot into it, for file
/// systems where pivot_root is impossible (a ramdisk root). Weaker: the
/// old root stays reachable to whoever can chroot again.
fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs).with_context(|| format!("cannot enter {}", rootfs.display()))?;
    crate::mount::mount(Some(rootfs), "/", None, nix::mount::MsFlags::MS_MOVE, None)?;
    crate::chroot::enter(Path::new("."))
}
