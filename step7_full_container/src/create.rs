//! Creating a container from a bundle: the one implementation of
//! container start-up in step 7. `create`, `run` and every command built
//! on them come through here.
//!
//! The runtime (this process) and the container process each have their
//! part, in an order that matters (the notes in runtime-order.md compare
//! runc, crun and youki):
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
//! console socket are opened by the runtime and inherited.)

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use std::convert::Infallible;
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::cgroup::Cgroup;
use crate::config::{self, Bundle};
use crate::gate::Gate;
use crate::hierarchy::Hierarchies;
use crate::limits::{Limits, CPU_PERIOD_US};
use crate::namespaces::{self, Namespaces};
use crate::process::{self, Lifetime};
use crate::state::{self, State};
use crate::{console, hooks, rootfs, security};

/// Step 6's controllers, plus the freezer (`pause`) and the devices
/// controller (which device nodes the container may open).
const CONTROLLERS: [&str; 7] = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "devices"];

pub struct Options<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    /// Where to send the terminal's master, for process.terminal.
    pub console_socket: Option<&'a Path>,
    /// cgroupsPath is systemd's "slice:prefix:name" (--systemd-cgroup).
    pub systemd_cgroup: bool,
}

/// The state directory while `create` runs: removed again unless the
/// container was created.
struct Reserved(Option<PathBuf>);

impl Drop for Reserved {
    fn drop(&mut self) {
        if let Some(dir) = self.0.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

// ANCHOR: create
/// Create container `id` from its bundle; on return it waits for `start`.
pub fn create(options: &Options) -> Result<State> {
    state::check_id(options.id)?;
    let bundle = config::load(options.bundle)?;
    let linux = bundle.spec.linux().as_ref().expect("checked by config::load");
    let namespaces = Namespaces::from_spec(linux);
    let limits = limits(linux)?;
    let hierarchies = Hierarchies::detect()?;
    // Rootless: a user that is not root may do all this only inside a user
    // namespace of its own, and gets a cgroup only below one delegated to
    // it (see crate::rootless).
    let rootless = !nix::unistd::geteuid().is_root();
    let delegated = if rootless { crate::rootless::check(&namespaces, &limits, &hierarchies)? } else { None };
    let terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    match (terminal, options.console_socket) {
        (true, None) => {
            bail!("config.json: process.terminal is true: pass --console-socket (or set terminal to false)")
        }
        (false, Some(_)) => bail!("--console-socket needs process.terminal true in config.json"),
        _ => {}
    }

    let dir = reserve(options.root, options.id)?;
    let fifo = dir.0.as_ref().unwrap().join("exec.fifo");
    crate::narrate!("mkfifo({})", fifo.display());
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).context("cannot make the exec fifo")?;

    let (cgroup_path, own_parent) = cgroup_path(linux, options, delegated.as_deref())?;
    let cgroup = match (rootless, delegated.as_deref()) {
        (true, None) => None,
        (_, top) => Some(make_cgroup(&hierarchies, top, &cgroup_path, &limits, linux, own_parent)?),
    };
    let cgroups = rootfs::Cgroups { hierarchies, path: cgroup_path.clone() };

    if let Some(path) = &namespaces.join_pid {
        // The children of this process will be in that PID namespace.
        namespaces::join(CloneFlags::CLONE_NEWPID, path)?;
    }
    // Opened here and inherited: the container process, root of a user
    // namespace perhaps, could not open them by their paths on the host.
    // Non-blocking: a fifo's reader may open before any writer.
    let fifo = nix::fcntl::open(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC, Mode::empty())
        .context("cannot open the exec fifo")?;
    let console = options.console_socket.map(console::connect).transpose()?;
    let idmapped = crate::idmap::prepare(&bundle.spec, &bundle.dir)?;
    let gate = Gate::new()?;
    let mut container = process::spawn_with(namespaces.new, Lifetime::Detached, || {
        container(options.id, &bundle, &namespaces, &gate, &fifo, console.as_ref(), &cgroups, &idmapped, options)
    })?;
    drop((fifo, console, idmapped));
    if let Some(cgroup) = &cgroup {
        cgroup.attach(container.pid())?;
    }
    if namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
        crate::userns::write_mappings(container.pid(), linux)?;
    }

    let state = State {
        id: options.id.to_string(),
        pid: container.pid().as_raw(),
        pid_start: step6::owner::start_time(container.pid().as_raw() as u32).unwrap_or_default(),
        bundle: bundle.dir.clone(),
        rootfs: bundle.rootfs.clone(),
        created: state::now_rfc3339(),
        cgroup: cgroup.is_some().then(|| cgroup_path.clone()),
        own_cgroup_parent: own_parent,
        annotations: bundle.spec.annotations().clone().unwrap_or_default().into_iter().collect(),
    };
    let hooks = bundle.spec.hooks().clone().unwrap_or_default();
    let creating = state.oci(state::Status::Creating);
    #[allow(deprecated)]
    hooks::run("prestart", hooks.prestart().as_ref(), &creating)?;
    hooks::run("createRuntime", hooks.create_runtime().as_ref(), &creating)?;
    gate.open()?;
    container.started()?;

    state.save(options.root)?;
    std::fs::write(state::dir(options.root, options.id).join("config.json"), serde_json::to_vec(&bundle.spec)?)
        .context("cannot keep a copy of config.json")?;
    if let Some(pid_file) = options.pid_file {
        std::fs::write(pid_file, state.pid.to_string())
            .with_context(|| format!("cannot write --pid-file {}", pid_file.display()))?;
    }
    // Created: the cgroup and the state directory stay for the commands
    // to come.
    if let Some(cgroup) = cgroup {
        cgroup.keep();
    }
    let mut dir = dir;
    dir.0 = None;
    Ok(state)
}
// ANCHOR_END: create

/// The container's cgroup, relative to each hierarchy's root, and whether
/// its parent is ours (step7/, removed once empty). Rootless, below `top`,
/// the cgroup delegated to the user: a relative cgroupsPath is the
/// runtime's to place (runtime-spec), an absolute one must lie there.
fn cgroup_path(linux: &oci_spec::runtime::Linux, options: &Options, top: Option<&Path>) -> Result<(PathBuf, bool)> {
    let (path, own_parent) = match linux.cgroups_path() {
        Some(path) if options.systemd_cgroup => (systemd_path(path)?, false),
        Some(path) => (path.clone(), false),
        None => (Path::new("step7").join(options.id), true),
    };
    let Some(top) = top else { return Ok((path, own_parent)) };
    let Ok(absolute) = path.strip_prefix("/") else { return Ok((top.join(path), own_parent)) };
    if !absolute.starts_with(top) || absolute == top {
        bail!(
            "rootless: config.json: linux.cgroupsPath {} is outside the cgroup delegated to you (/{}): make it relative",
            path.display(),
            top.display()
        );
    }
    Ok((absolute.to_path_buf(), own_parent))
}

// ANCHOR: make_cgroup
/// The container's cgroup: its limits, the resources step 6 has no flag
/// for, the device rules. Rootless, below the delegated cgroup `top`, and
/// without device rules: loading their BPF program needs privilege, and
/// in a user namespace mknod(2) of a device is refused anyway.
fn make_cgroup(
    hierarchies: &Hierarchies,
    top: Option<&Path>,
    path: &Path,
    limits: &Limits,
    linux: &oci_spec::runtime::Linux,
    own_parent: bool,
) -> Result<Cgroup> {
    // On an error from here on, dropping `cgroup` removes it again.
    let cgroup = match top {
        Some(top) => Cgroup::create_delegated(hierarchies, top, path, limits, &CONTROLLERS, own_parent)?,
        None => Cgroup::create_at(hierarchies, path, limits, &CONTROLLERS, own_parent)?,
    };
    set_more_resources(&cgroup, linux)?;
    if top.is_some() {
        return Ok(cgroup);
    }
    let device_rules = linux.resources().as_ref().and_then(|r| r.devices().clone()).unwrap_or_default();
    match (hierarchies.setup, cgroup.controller_dir("devices")) {
        (crate::hierarchy::Setup::Unified, Some(dir)) => crate::devices::apply_v2(&dir, &device_rules)?,
        (_, Some(dir)) => crate::devices::apply(&dir, &device_rules)?,
        (_, None) => eprintln!("step7: warning: no devices cgroup on this host: device access is not restricted"),
    }
    Ok(cgroup)
}
// ANCHOR_END: make_cgroup

/// systemd's "slice:prefix:name" as the cgroupfs path systemd would use,
/// "slice/prefix-name.scope". This runtime writes cgroupfs itself instead
/// of asking systemd over D-Bus (it may run where there is no systemd);
/// --systemd-cgroup only changes how cgroupsPath is read.
fn systemd_path(path: &Path) -> Result<PathBuf> {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split(':').collect();
    let [slice, prefix, name] = parts[..] else {
        bail!("config.json: linux.cgroupsPath: {text:?} is not systemd's slice:prefix:name (--systemd-cgroup)");
    };
    let slice = if slice.is_empty() { "system.slice" } else { slice };
    Ok(Path::new(slice).join(format!("{prefix}-{name}.scope")))
}

/// Make the container's state directory, failing if it exists: two
/// `create`s of one id cannot both win a mkdir.
fn reserve(root: &Path, id: &str) -> Result<Reserved> {
    let dir = state::dir(root, id);
    // Twice if need be: a `delete` of the last container may remove the
    // empty root between our mkdirs.
    let mut made = Err(std::io::Error::from(std::io::ErrorKind::NotFound));
    for _ in 0..2 {
        std::fs::create_dir_all(root).with_context(|| format!("cannot create the state root {}", root.display()))?;
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

/// The resources step 6 has no flag for: memory.reservation, swappiness
/// and disableOOMKiller, and on cgroup v2 the raw `unified` map.
fn set_more_resources(cgroup: &Cgroup, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let Some(resources) = linux.resources() else { return Ok(()) };
    let v2 = cgroup.is_v2();
    if let Some(memory) = resources.memory() {
        if let Some(bytes) = memory.reservation().filter(|&b| b > 0) {
            let file = if v2 { "memory.low" } else { "memory.soft_limit_in_bytes" };
            cgroup
                .set("memory", file, &bytes.to_string())
                .context("config.json: linux.resources.memory.reservation")?;
        }
        match (memory.swappiness(), v2) {
            (Some(swappiness), false) => cgroup
                .set("memory", "memory.swappiness", &swappiness.to_string())
                .context("config.json: linux.resources.memory.swappiness")?,
            (Some(_), true) => eprintln!(
                "step7: warning: config.json: linux.resources.memory.swappiness does not exist on cgroup v2; ignored"
            ),
            _ => {}
        }
        match (memory.disable_oom_killer(), v2) {
            (Some(true), false) => cgroup
                .set("memory", "memory.oom_control", "1")
                .context("config.json: linux.resources.memory.disableOOMKiller")?,
            (Some(true), true) => eprintln!("step7: warning: config.json: linux.resources.memory.disableOOMKiller does not exist on cgroup v2; ignored"),
            _ => {}
        }
    }
    for (file, value) in resources.unified().iter().flatten() {
        if !v2 {
            bail!("config.json: linux.resources.unified: needs cgroup v2, and this host's limits are v1");
        }
        if file.contains('/') || file.starts_with('.') {
            bail!("config.json: linux.resources.unified: {file:?} is not a cgroup file name");
        }
        cgroup.set("memory", file, value).with_context(|| format!("config.json: linux.resources.unified[{file}]"))?;
    }
    Ok(())
}

/// linux.resources, as step 6's limits.
fn limits(linux: &oci_spec::runtime::Linux) -> Result<Limits> {
    let mut limits = Limits::default();
    let Some(resources) = linux.resources() else { return Ok(limits) };
    if let Some(memory) = resources.memory() {
        limits.memory = memory.limit().filter(|&l| l > 0).map(|l| l as u64);
        limits.memory_swap = memory.swap().map(|s| (s > 0).then_some(s as u64));
    }
    if let Some(cpu) = resources.cpu() {
        if let Some(quota) = cpu.quota().filter(|&q| q > 0) {
            // Step 6 uses the kernel's default period: scale the quota.
            let period = cpu.period().filter(|&p| p > 0).unwrap_or(CPU_PERIOD_US);
            limits.cpu_quota_us = Some((quota as u64 * CPU_PERIOD_US / period).max(1000));
        }
        limits.cpu_shares = cpu.shares().filter(|&s| s > 0);
    }
    if let Some(pids) = resources.pids() {
        limits.pids = (pids.limit() > 0).then_some(pids.limit() as u64);
    }
    limits.blkio_weight = resources.block_io().as_ref().and_then(|io| io.weight());
    Ok(limits)
}

// ANCHOR: container
/// The container process, from clone to execve.
#[allow(clippy::too_many_arguments)]
fn container(
    id: &str,
    bundle: &Bundle,
    namespaces: &Namespaces,
    gate: &Gate,
    fifo: &OwnedFd,
    console: Option<&console::ConsoleSocket>,
    cgroup: &rootfs::Cgroups,
    idmapped: &crate::idmap::Prepared,
    options: &Options,
) -> Result<Infallible> {
    let spec = &bundle.spec;
    gate.wait()?;
    if namespaces.new.contains(CloneFlags::CLONE_NEWUSER) {
        crate::userns::become_root()?;
    }
    for (flag, path) in &namespaces.join {
        namespaces::join(*flag, path)?;
    }
    if namespaces.new_cgroup {
        crate::narrate!("unshare(CLONE_NEWCGROUP)");
        nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP).context("unshare(CLONE_NEWCGROUP) failed")?;
    }
    if namespaces.new.contains(CloneFlags::CLONE_NEWNET) {
        // A new network namespace's loopback starts down (runc and crun
        // bring it up too): programs expect 127.0.0.1 to work.
        crate::netlink::Netlink::open()?.set_up("lo")?;
    }
    if namespaces.has(CloneFlags::CLONE_NEWUTS) {
        if let Some(hostname) = spec.hostname() {
            crate::uts::set_hostname(hostname)?;
        }
        if let Some(domainname) = spec.domainname() {
            crate::narrate!("setdomainname({domainname:?})");
            if unsafe { libc::setdomainname(domainname.as_ptr().cast(), domainname.len()) } != 0 {
                return Err(std::io::Error::last_os_error()).context("config.json: domainname");
            }
        }
    }
    let hooks = spec.hooks().clone().unwrap_or_default();
    // The hooks' state names this process by its PID on the host: the
    // first of NSpid in /proc/self/status (the host's /proc, until the
    // container's is mounted).
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let host_pid =
        status.lines().find_map(|l| l.strip_prefix("NSpid:")).and_then(|l| l.split_whitespace().next()).unwrap_or("0");
    let state = serde_json::json!({"ociVersion": "1.0.2", "id": id, "status": "created", "pid": host_pid.parse::<i32>().unwrap_or(0), "bundle": bundle.dir});
    if namespaces.has(CloneFlags::CLONE_NEWNS) {
        rootfs::prepare(spec, &bundle.rootfs, &bundle.dir, namespaces, cgroup, idmapped)?;
        hooks::run("createContainer", hooks.create_container().as_ref(), &state)?;
        if options.no_pivot {
            move_root(&bundle.rootfs)?;
        } else {
            crate::mount::pivot_to(&bundle.rootfs)?;
        }
        rootfs::finish(spec)?;
    } else {
        crate::chroot::enter(&bundle.rootfs)?;
    }
    let process = spec.process().as_ref().expect("checked by config::load");
    let (program, args, env) = command(process)
        .map_err(|err| process::Failed { code: process::EXIT_NOT_FOUND, message: format!("config.json: {err:#}") })?;
    if let Some(console) = console {
        console.setup(console::size(process))?;
    }
    security::close_inherited_fds(&[fifo.as_raw_fd()])?;
    security::apply(process, spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()))?;

    // Everything that could fail has been done: `create` may return.
    process::close_error_pipe();
    wait_for_start(fifo)?;
    hooks::run("startContainer", hooks.start_container().as_ref(), &state)?;
    crate::narrate!("execve({program:?}, {args:?})");
    let Err(errno) = nix::unistd::execve(&program, &args, &env);
    Err(anyhow::anyhow!("cannot execute {program:?}: {}", errno.desc()))
}
// ANCHOR_END: container

// ANCHOR: wait_for_start
/// Block until `start` writes to the exec fifo. (A fifo read end never
/// reports end-of-file before a writer has come, so poll waits.)
fn wait_for_start(fifo: &OwnedFd) -> Result<()> {
    let mut poll = [libc::pollfd { fd: fifo.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    loop {
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

/// The program to execve, resolved in the container's PATH now, so that a
/// missing program is reported by `create`, not lost after `start`.
fn command(process: &oci_spec::runtime::Process) -> Result<(CString, Vec<CString>, Vec<CString>)> {
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let program = find_program(&args[0], &env)?;
    let cstring = |s: &str| CString::new(s).context("config.json: a NUL byte in process.args or env");
    Ok((
        program,
        args.iter().map(|a| cstring(a)).collect::<Result<_>>()?,
        env.iter().map(|e| cstring(e)).collect::<Result<_>>()?,
    ))
}

/// `name` as execve wants it: looked up in the PATH of `env` (execvp
/// would use the runtime's own PATH), inside the container.
pub fn find_program(name: &str, env: &[String]) -> Result<CString> {
    let program = if name.contains('/') {
        PathBuf::from(name)
    } else {
        let path = env
            .iter()
            .find_map(|v| v.strip_prefix("PATH="))
            .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        path.split(':')
            .map(|dir| Path::new(dir).join(name))
            .find(|candidate| candidate.is_file())
            .with_context(|| format!("process.args[0]: {name} not found in the container's PATH ({path})"))?
    };
    if !program.is_file() {
        bail!("process.args[0]: {} does not exist in the container", program.display());
    }
    CString::new(program.as_os_str().as_encoded_bytes()).context("a NUL byte in process.args[0]")
}

/// `--no-pivot`: move the rootfs over / and chroot into it, for file
/// systems where pivot_root is impossible (a ramdisk root). Weaker: the
/// old root stays reachable to whoever can chroot again.
fn move_root(rootfs: &Path) -> Result<()> {
    nix::unistd::chdir(rootfs)?;
    crate::mount::mount(Some(rootfs), "/", None, nix::mount::MsFlags::MS_MOVE, None)?;
    crate::chroot::enter(Path::new("."))
}
