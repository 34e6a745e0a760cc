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
//! Read: setns(2), nsenter(1), runc's "exec" in runtime-order.md.

use anyhow::{bail, Context, Result};
use nix::sched::CloneFlags;
use oci_spec::runtime::Process;
use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::hierarchy::Hierarchies;
use crate::process::{self, Lifetime};
use crate::security;
use crate::state::{State, Status};

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
/// Run `process` in container `id`; returns its exit status, or 0 at once
/// with `detach`.
pub fn exec(
    root: &Path,
    id: &str,
    process: &Process,
    detach: bool,
    pid_file: Option<&Path>,
    console_socket: Option<&Path>,
) -> Result<i32> {
    let state = State::load(root, id)?;
    if state.status(root) != Status::Running {
        bail!("container {id} is {}: exec needs a running container", state.status(root).as_str());
    }
    let spec = state.spec(root)?;
    // A terminal goes to the engine's console socket, or, without one
    // (docker-like `exec -t`), to this command, which becomes the terminal:
    // it listens on a socket of its own and connects to it. (No thread:
    // setns into a mount namespace needs a single-threaded process.)
    let mut screen = None;
    let mut sized = process.clone();
    let console = match (process.terminal() == Some(true), console_socket) {
        (true, Some(path)) => Some(crate::console::connect(path)?),
        (true, None) => {
            // Our window's size, set before the program starts.
            if let Some((rows, cols)) = crate::terminal::window_size() {
                let size = serde_json::json!({"height": rows, "width": cols});
                sized.set_console_size(serde_json::from_value(size).ok());
            }
            let path = crate::state::dir(root, id).join(format!("exec-{}.sock", std::process::id()));
            let listener = crate::terminal::listen(&path)?;
            let console = crate::console::connect(&path)?;
            screen = Some((listener, path));
            Some(console)
        }
        (false, Some(_)) => bail!("--console-socket needs --tty"),
        (false, None) => None,
    };
    // The pid file is a path on the host: open it before joining the
    // container's mount namespace, where the path would mean something else.
    let pid_file = pid_file
        .map(|path| std::fs::File::create(path).with_context(|| format!("cannot create --pid-file {}", path.display())))
        .transpose()?;
    // Into the container's cgroup first, so that the forked process starts
    // inside it and counts against its limits (a rootless container may
    // have none).
    if let Some(path) = &state.cgroup {
        let hierarchies = Hierarchies::detect()?;
        crate::cgroup::Cgroup::open(&hierarchies, path, false).attach(nix::unistd::getpid())?;
    }
    join_namespaces(state.pid)?;

    let seccomp = spec.linux().as_ref().and_then(|linux| linux.seccomp().clone());
    let process = &sized;
    let mut child =
        process::spawn_with(CloneFlags::empty(), Lifetime::Detached, || run(process, seccomp.as_ref(), console))?;
    child.started()?;
    if let Some(mut pid_file) = pid_file {
        std::io::Write::write_all(&mut pid_file, child.pid().to_string().as_bytes())
            .context("cannot write --pid-file")?;
    }
    if detach {
        return Ok(0);
    }
    let Some((listener, path)) = screen else { return crate::init::supervise(child.pid()) };
    let master = crate::terminal::receive(&listener);
    let _ = std::fs::remove_file(path);
    let raw = crate::terminal::RawMode::enter();
    let code = crate::terminal::interact(master?, child.pid());
    drop(raw);
    code
}
// ANCHOR_END: exec

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
    console: Option<crate::console::ConsoleSocket>,
) -> Result<Infallible> {
    let args = process.args().clone().unwrap_or_default();
    let env = process.env().clone().unwrap_or_default();
    let Some(name) = args.first() else { bail!("process.args: empty") };
    let program = crate::create::find_program(name, &env)
        .map_err(|err| process::Failed { code: process::EXIT_NOT_FOUND, message: format!("{err:#}") })?;
    if let Some(console) = console {
        console.setup(crate::console::size(process))?;
    }
    security::close_inherited_fds(&[])?;
    security::apply(process, seccomp)?;
    let cstring = |s: &String| CString::new(s.as_bytes()).context("a NUL byte in the process");
    let args: Vec<CString> = args.iter().map(cstring).collect::<Result<_>>()?;
    let env: Vec<CString> = env.iter().map(cstring).collect::<Result<_>>()?;
    crate::narrate!("execve({program:?}, {args:?})");
    let Err(errno) = nix::unistd::execve(&program, &args, &env);
    Err(anyhow::anyhow!("cannot execute {program:?}: {}", errno.desc()))
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
/// config.json), or the container's own process with the flags' changes.
pub fn process_from(root: &Path, id: &str, flags: &ProcessFlags) -> Result<Process> {
    let ProcessFlags { file, args, env, cwd, user, tty } = *flags;
    if let Some(file) = file {
        let text =
            std::fs::read_to_string(file).with_context(|| format!("cannot read --process {}", file.display()))?;
        return serde_json::from_str(&text)
            .map_err(|err| anyhow::anyhow!("--process {}: line {}: {err}", file.display(), err.line()));
    }
    if args.is_empty() {
        bail!("exec needs a command: step7 exec ID CMD [ARGS...], or --process FILE");
    }
    let state = State::load(root, id)?;
    let spec = state.spec(root)?;
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
