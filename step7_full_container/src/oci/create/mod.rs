//! Creating a container from a bundle: the one implementation of
//! container start-up in step 7. `create`, `run` and the engine's `run`
//! all come through here; `exec` only shares the last part with it (the
//! program lookup and [`super::security::apply`]).
//!
//! The runtime (this process, [`create`]) and the container process
//! ([`container`]) each have their part, in an order that matters:
//!
//! | runtime                                   | container process                         |
//! |-------------------------------------------|-------------------------------------------|
//! | check config.json, reserve the state dir  |                                           |
//! | make the exec fifo, the cgroup            |                                           |
//! | clone3 with the new namespaces            | wait at the gate                          |
//! | move it into the cgroup, run createRuntime|                                           |
//! | and prestart hooks, open the gate         | join namespaces given by path, unshare    |
//! |                                           | the cgroup namespace (now inside the      |
//! |                                           | cgroup), hostname, mounts, devices,       |
//! |                                           | createContainer hooks, pivot_root, masked |
//! |                                           | and read-only paths, find the program,    |
//! |                                           | rlimits, user, capabilities, no_new_privs,|
//! |                                           | seccomp, close the error pipe             |
//! | read end-of-file: save state "created"    | wait on the exec fifo...                  |
//! | (`start`: write to the fifo)              | ...startContainer hooks, execve           |
//!
//! Everything that can fail is done before the error pipe closes, so
//! `create` reports it and cleans up; after that only the wait on the
//! fifo, the startContainer hooks and execve are left. (The fifo and the
//! console socket are opened by the runtime and inherited.) runc orders
//! the same steps in libcontainer/process_linux.go (the runtime's side)
//! and standard_init_linux.go (the container's), crun in
//! src/libcrun/container.c, youki in crates/libcontainer/src/process/;
//! chapter 7 of the guide compares them.

mod container;

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

use super::bundle::{self, Bundle};
use super::cgroup::{self, resources};
use super::namespaces::{self, Namespaces};
use super::state::{self, State, Status};
use super::{console, hooks, rootfs, userns};
use crate::gate::Gate;
use crate::hierarchy::Hierarchies;
use crate::process::{self, Lifetime};

/// What `create` is asked to do: runc's flags.
#[derive(Clone, Copy)]
pub struct Options<'a> {
    /// The state root (`--root`).
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    /// Move the rootfs over / and chroot, instead of pivot_root.
    pub no_pivot: bool,
    /// Where to send the terminal's master, for process.terminal.
    pub console_socket: Option<&'a Path>,
    /// cgroupsPath is systemd's "slice:prefix:name" (--systemd-cgroup).
    pub systemd_cgroup: bool,
}

/// Create container `id` from the bundle `options.bundle`; on return it
/// waits for `start`.
pub fn create(options: &Options) -> Result<State> {
    state::check_id(options.id)?;
    create_from(options, bundle::load(options.bundle)?)
}

// ANCHOR: create
/// Create container `id` from `bundle`, already loaded (`run` needs to see
/// it first, an engine has its Spec in memory): `options.bundle` is not
/// read again.
pub fn create_from(options: &Options, bundle: Bundle) -> Result<State> {
    state::check_id(options.id)?;
    let linux = bundle.spec.linux().as_ref().expect("checked by bundle::load");
    let namespaces = Namespaces::from_spec(linux);
    let limits = resources::limits(linux);
    let hierarchies = Hierarchies::detect()?;
    // Rootless: a user that is not root may do all this only inside a user
    // namespace of its own, and gets a cgroup only below one delegated to
    // it (see userns::rootless).
    let rootless = crate::paths::rootless();
    let delegated = if rootless { userns::rootless::check(&namespaces, &limits, &hierarchies)? } else { None };
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    match (terminal, options.console_socket) {
        (true, None) => {
            bail!("config.json: process.terminal is true: pass --console-socket (or set terminal to false)")
        }
        (false, Some(_)) => bail!("--console-socket needs process.terminal true in config.json"),
        _ => {}
    }

    let dir = Reserved::make(options.root, options.id)?;
    let fifo = dir.path().join("exec.fifo");
    crate::narrate!("mkfifo({})", fifo.display());
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600))
        .with_context(|| format!("cannot make the exec fifo {}", fifo.display()))?;

    let placement = cgroup::placement(linux, options.id, options.systemd_cgroup, delegated.as_deref())?;
    let made = match (rootless, delegated.is_some()) {
        (true, false) => None,
        _ => Some(cgroup::make(&hierarchies, &placement, &limits, linux, rootless)?),
    };
    let cgroups = rootfs::Cgroups { hierarchies, path: placement.path.clone() };

    if let Some(path) = &namespaces.join_pid {
        // The children of this process will be in that PID namespace.
        namespaces::join(CloneFlags::CLONE_NEWPID, path)?;
    }
    // Opened here and inherited: the container process, root of a user
    // namespace perhaps, could not open them by their paths on the host.
    // Non-blocking: a fifo's reader may open before any writer.
    let fifo = nix::fcntl::open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .with_context(|| format!("cannot open the exec fifo {}", fifo.display()))?;
    let console = options.console_socket.map(console::connect).transpose()?;
    let idmapped = userns::idmap::prepare(&bundle.spec, &bundle.dir)?;
    let gate = Gate::new()?;
    let setup = container::Setup {
        id: options.id,
        bundle: &bundle,
        namespaces: &namespaces,
        gate: &gate,
        fifo: &fifo,
        console: console.as_ref(),
        cgroups: &cgroups,
        idmapped: &idmapped,
        no_pivot: options.no_pivot,
    };
    let mut child = process::spawn_with(namespaces.new, Lifetime::Detached, || setup.run())?;
    drop((fifo, console, idmapped));
    if let Some(cgroup) = &made {
        cgroup.attach(child.pid())?;
    }
    if namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
        userns::write_mappings(child.pid(), linux)?;
    }

    let state = State {
        id: options.id.to_string(),
        pid: child.pid().as_raw(),
        pid_start: crate::owner::start_time(child.pid().as_raw() as u32).unwrap_or_default(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        cgroup: made.is_some().then(|| placement.path.clone()),
        own_cgroup_parent: placement.own_parent,
        annotations: bundle.spec.annotations().clone().unwrap_or_default().into_iter().collect(),
    };
    let hooks = bundle.spec.hooks().clone().unwrap_or_default();
    let creating = state.oci(Status::Creating);
    #[allow(deprecated)]
    hooks::run("prestart", hooks.prestart().as_ref(), &creating)?;
    hooks::run("createRuntime", hooks.create_runtime().as_ref(), &creating)?;
    gate.open()?;
    child.started()?;
    // From here the container process waits on its fifo: if `create` fails
    // now, removing the cgroup kills it; without one, this guard does.
    let waiting = Waiting(made.is_none().then(|| child.pid()));

    state.save(options.root)?;
    state.keep_spec(options.root, &bundle.spec)?;
    if let Some(pid_file) = options.pid_file {
        std::fs::write(pid_file, state.pid.to_string())
            .with_context(|| format!("cannot write --pid-file {}", pid_file.display()))?;
    }
    // Created: the process, the cgroup and the state directory stay for
    // the commands to come.
    waiting.keep();
    if let Some(cgroup) = made {
        cgroup.keep();
    }
    dir.keep();
    Ok(state)
}
// ANCHOR_END: create

/// The state directory while `create` runs: removed again unless the
/// container was created.
struct Reserved(Option<PathBuf>);

impl Reserved {
    /// Make the container's state directory, failing if it exists: two
    /// `create`s of one id cannot both win a mkdir.
    fn make(root: &Path, id: &str) -> Result<Reserved> {
        let dir = state::dir(root, id);
        // Twice if need be: a `delete` of the last container may remove
        // the empty root between our mkdirs.
        let mut made = Err(std::io::Error::from(std::io::ErrorKind::NotFound));
        for _ in 0..2 {
            std::fs::create_dir_all(root).with_context(|| {
                format!("cannot create the state root {} (choose another with --root)", root.display())
            })?;
            made = std::fs::create_dir(&dir);
            if !matches!(&made, Err(err) if err.kind() == std::io::ErrorKind::NotFound) {
                break;
            }
        }
        match made {
            Ok(()) => Ok(Reserved(Some(dir))),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("a container named {id} already exists (remove it with `step7 delete {id}`)")
            }
            Err(err) => Err(err).with_context(|| format!("cannot create {}", dir.display())),
        }
    }

    fn path(&self) -> &Path {
        self.0.as_deref().expect("kept only at the end")
    }

    /// The container exists: its directory stays.
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The container process of a rootless container without a cgroup, once it
/// waits on its exec fifo: killed (and reaped) when dropped, unless the
/// container was created. Nothing else would end it: it would wait for a
/// `start` that cannot come, its state being gone.
struct Waiting(Option<Pid>);

impl Waiting {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
    }
}
