//! `exec`: one more process in a running container.
//!
//! There is no daemon to ask: the runtime makes itself part of the
//! container. It moves into the container's cgroup, joins its namespaces
//! with setns(2) on /proc/PID/ns/* of the container's first process, and
//! forks (a new PID namespace takes effect for children only). The child
//! then gets the same treatment as the first process: working directory,
//! rlimits, user, capabilities, no_new_privs, seccomp, and execve.
//! Joining the mount namespace also moves the root and working directory
//! to that namespace's root: the child sees the container's files.
//! runc does the same in C, in the `nsexec` constructor of
//! libcontainer/nsenter, before its Go runtime starts threads.
//! Read: setns(2), nsenter(1).

use anyhow::{bail, Context, Result};
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::stat::Mode;
use nix::unistd::{Pid, UnlinkatFlags};
use oci_spec::runtime::{Process, Spec};
use std::convert::Infallible;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use super::console::{self, ConsoleSocket};
use super::program::Program;
use super::security::{self, capabilities};
use super::state::{State, Status};
use crate::process::{self, Lifetime};

/// The namespaces a process can join, in the order runc joins them: the
/// user namespace first, since it owns the others and gives the
/// capabilities to join them.
const NAMESPACES: [(&str, CloneFlags); 7] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

// ANCHOR: exec
/// Start `process` in the container whose state (under `root`) and kept
/// config.json the caller has read. Returns its PID once it is running
/// the program (or an error saying why it could not); the caller waits
/// for it, or not (`--detach`). A terminal goes to `console_socket`.
pub fn exec(
    root: &Path,
    state: &State,
    spec: &Spec,
    process: &Process,
    console_socket: Option<&Path>,
    pid_file: Option<&Path>,
) -> Result<Pid> {
    let cgroup = state.cgroup();
    match state.status_in(root, cgroup.as_ref()) {
        Status::Running => {}
        status => bail!("container {} is {}: exec needs a running container", state.id, status.as_str()),
    }
    let console = match (process.terminal() == Some(true), console_socket) {
        (true, Some(path)) => Some(console::connect(path)?),
        (true, None) => bail!("process.terminal is true: pass --console-socket"),
        (false, Some(_)) => bail!("--console-socket needs --tty"),
        (false, None) => None,
    };
    // The pid file is a path on the host: open it before joining the
    // container's mount namespace, where the path would mean something else.
    let pid_file = pid_file.map(PidFile::create).transpose()?;
    // Into the container's cgroup first, so that the forked process starts
    // inside it and counts against its limits (a rootless container may
    // have none).
    if let Some(cgroup) = &cgroup {
        cgroup.attach(nix::unistd::getpid())?;
    }
    join_namespaces(state.pid)?;

    let seccomp = spec.linux().as_ref().and_then(|linux| linux.seccomp().as_ref());
    let mut child = process::spawn_with(CloneFlags::empty(), Lifetime::Detached, || run(process, seccomp, console))?;
    child.started()?;
    if let Some(pid_file) = pid_file {
        pid_file.write(child.pid())?;
    }
    Ok(child.pid())
}
// ANCHOR_END: exec

/// `--pid-file`, created before `exec` joins the container: if `exec`
/// fails, it is removed again (through its directory, opened on the host
/// too), not left behind empty.
struct PidFile {
    file: File,
    dir: OwnedFd,
    name: OsString,
    written: bool,
}

impl PidFile {
    fn create(path: &Path) -> Result<PidFile> {
        let name = path.file_name().with_context(|| format!("--pid-file {}: names no file", path.display()))?;
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let dir = nix::fcntl::open(parent, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
            .with_context(|| format!("cannot open {}, the directory of --pid-file", parent.display()))?;
        let file = File::create(path).with_context(|| format!("cannot create --pid-file {}", path.display()))?;
        Ok(PidFile { file, dir, name: name.to_os_string(), written: false })
    }

    fn write(mut self, pid: Pid) -> Result<()> {
        self.file.write_all(pid.to_string().as_bytes()).context("cannot write --pid-file")?;
        self.written = true;
        Ok(())
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if !self.written {
            let _ = nix::unistd::unlinkat(&self.dir, self.name.as_os_str(), UnlinkatFlags::NoRemoveDir);
        }
    }
}

/// setns into each namespace of `pid` that differs from ours. All are
/// opened first: after joining the mount namespace, /proc would be the
/// container's.
fn join_namespaces(pid: i32) -> Result<()> {
    let mut files = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
        let ours = PathBuf::from(format!("/proc/self/ns/{name}"));
        if std::fs::read_link(&theirs).ok() == std::fs::read_link(&ours).ok() {
            continue;
        }
        let file = std::fs::File::open(&theirs).with_context(|| format!("cannot open {}", theirs.display()))?;
        files.push((name, flag, file));
    }
    for (name, flag, file) in files {
        crate::narrate!("setns(/proc/{pid}/ns/{name})");
        nix::sched::setns(&file, flag).with_context(|| format!("cannot join the container's {name} namespace"))?;
    }
    Ok(())
}

/// In the forked child, inside the container.
fn run(
    process: &Process,
    seccomp: Option<&oci_spec::runtime::LinuxSeccomp>,
    console: Option<ConsoleSocket>,
) -> Result<Infallible> {
    let program = Program::find(process)?;
    if let Some(console) = console {
        console.setup(console::size(process))?;
    }
    security::close_inherited_fds(&[])?;
    security::apply(process, seccomp)?;
    program.exec()
}

/// What `exec`'s flags say about the process to run.
pub struct ProcessFlags<'a> {
    /// `--process FILE`: the whole process, as engines pass it.
    pub file: Option<&'a Path>,
    pub args: &'a [String],
    pub env: &'a [String],
    pub cwd: Option<&'a str>,
    pub user: Option<&'a str>,
    pub tty: bool,
}

/// The process to exec: `--process FILE` (the "process" object of
/// config.json), or the container's own process (`spec`, as kept at
/// `create`) with the flags' changes.
pub fn process_from(spec: &Spec, flags: &ProcessFlags) -> Result<Process> {
    let ProcessFlags { file, args, env, cwd, user, tty } = *flags;
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read --process {}", file.display()))?;
        let process: Process = serde_json::from_str(&text)
            .map_err(|err| anyhow::anyhow!("--process {}: line {}: {err}", file.display(), err.line()))?;
        let field = format_args!("--process {}: capabilities.ambient", file.display());
        capabilities::warn_unraisable_ambient(&process, field);
        return Ok(process);
    }
    if args.is_empty() {
        bail!("exec needs a command: step7 exec ID CMD [ARGS...], or --process FILE");
    }
    let mut process = spec.process().clone().context("config.json: process: missing")?;
    process.set_terminal(Some(tty));
    process.set_args(Some(args.to_vec()));
    let mut all_env = process.env().clone().unwrap_or_default();
    all_env.extend(env.iter().cloned());
    process.set_env(Some(all_env));
    if let Some(cwd) = cwd {
        process.set_cwd(cwd.into());
    }
    if let Some(user) = user {
        let (uid, gid) = user.split_once(':').unwrap_or((user, "0"));
        let mut spec_user = process.user().clone();
        spec_user.set_uid(uid.parse().with_context(|| format!("--user {user}: use UID[:GID], numbers"))?);
        spec_user.set_gid(gid.parse().with_context(|| format!("--user {user}: use UID[:GID], numbers"))?);
        process.set_user(spec_user);
    }
    Ok(process)
}
