//! Start the container process, run the command in it, wait for it.
//!
//! The runtime (the process you started) never changes itself: it creates
//! a child with clone3(2), and the child sets itself up (chroot here; more
//! namespaces and mounts in later steps) and then replaces itself with the
//! command through execve(2). The runtime waits and exits with the
//! command's status.
//!
//! A child that fails before execve must not fail silently: it sends its
//! error to the runtime over a pipe whose write end is close-on-exec, so a
//! successful execve closes it and the runtime reads end-of-file instead.
//! Read: clone(2), execve(2), pipe(2), wait(2).

use anyhow::{Context, Result};
use nix::errno::Errno;
use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::Pid;
use std::convert::Infallible;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// Exit status for "the runtime or the container set-up failed" (as docker).
pub const EXIT_SETUP_FAILED: i32 = 125;
/// Exit status for "the command exists but cannot be executed" (as sh).
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit status for "the command was not found" (as sh).
pub const EXIT_NOT_FOUND: i32 = 127;

/// An error that ends the container with a particular exit status.
#[derive(Debug)]
pub struct Failed {
    pub code: i32,
    pub message: String,
}

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failed {}

/// The exit status an error stands for: its own for [`Failed`], else 125.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    err.downcast_ref::<Failed>().map_or(EXIT_SETUP_FAILED, |failed| failed.code)
}

/// The container process, as the runtime sees it.
pub struct Container {
    pid: Pid,
    /// Read end of the error pipe; `None` once read.
    errors: Option<File>,
}

/// Write end of the error pipe, in the child; -1 once closed.
static ERROR_PIPE: AtomicI32 = AtomicI32::new(-1);

// ANCHOR: spawn
/// Create the container process with clone3(2) and run `setup` in it.
///
/// `namespaces` are the `CLONE_NEW*` flags: the child starts life in new
/// namespaces of those kinds. Step 1 passes none, which makes clone3 a
/// plain fork(2); every later step adds its namespace here.
///
/// `setup` runs in the child and must end in execve (it only returns on
/// error). Its error reaches the runtime through [`Container::started`].
pub fn spawn(namespaces: CloneFlags, setup: impl FnOnce() -> Result<Infallible>) -> Result<Container> {
    spawn_with(namespaces, Lifetime::TiedToRuntime, setup)
}
// ANCHOR_END: spawn

/// Whether the container process dies with the runtime that started it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// Steps 1-6: the runtime waits for the container; if the runtime
    /// dies, the kernel kills the container.
    TiedToRuntime,
    /// Step 7's `create`: the container outlives the command that made it.
    Detached,
}

// ANCHOR: spawn_with
/// [`spawn`], choosing the container's [`Lifetime`].
pub fn spawn_with(
    namespaces: CloneFlags,
    lifetime: Lifetime,
    setup: impl FnOnce() -> Result<Infallible>,
) -> Result<Container> {
    // O_CLOEXEC: the kernel closes the write end when the command execs,
    // which is how the runtime learns that exec succeeded.
    let (read_end, write_end) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2 failed")?;

    // Anything still buffered would be printed twice, once by each process.
    let _ = std::io::stdout().flush();
    let runtime = runtime_pidfd()?;

    crate::narrate!("clone3(flags={})", flag_names(namespaces));
    match clone3(namespaces)? {
        Some(pid) => {
            crate::narrate!("clone3 returned: the container process is pid {pid}");
            drop((write_end, runtime));
            Ok(Container { pid, errors: Some(File::from(read_end)) })
        }
        None => {
            crate::narrate::set_role("container");
            if lifetime == Lifetime::TiedToRuntime {
                die_with_the_runtime(runtime);
            }
            // Signals the runtime blocked for itself must not stay blocked
            // in the container: the mask survives execve.
            let _ = nix::sys::signal::SigSet::empty().thread_set_mask();
            drop(read_end);
            ERROR_PIPE.store(write_end.into_raw_fd(), Ordering::Relaxed);
            // A panic must not unwind out of here: it would continue in the
            // runtime's code, in the child.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(setup));
            match result {
                Ok(Err(err)) => fail(err),
                Ok(Ok(never)) => match never {},
                Err(_) => unsafe { libc::_exit(EXIT_SETUP_FAILED) },
            }
        }
    }
}
// ANCHOR_END: spawn_with

// ANCHOR: clone3
/// The arguments of clone3(2), `struct clone_args` in <linux/sched.h>.
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// clone3 with no stack of its own: like fork(2), the child continues on a
/// copy of the parent's memory, right after this call. Returns the child's
/// pid in the parent and `None` in the child.
fn clone3(namespaces: CloneFlags) -> Result<Option<Pid>> {
    let args = CloneArgs {
        flags: namespaces.bits() as u64,
        // The signal the parent gets when the child exits; SIGCHLD is what
        // waitpid(2) expects.
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: the runtime is single-threaded here (no thread could hold a
    // lock that the child would then wait for forever), and with a zero
    // stack the child resumes on its own copy of this stack, as with fork.
    let ret = unsafe { libc::syscall(libc::SYS_clone3, &args as *const CloneArgs, size_of::<CloneArgs>()) };
    let ret = if ret == -1 && Errno::last() == Errno::ENOSYS {
        // Kernels before 5.3 (and some sandboxes) lack clone3; clone(2)
        // with a zero stack pointer does the same for what we need.
        crate::narrate!("clone3 is not available: clone(flags) instead");
        unsafe { libc::syscall(libc::SYS_clone, args.flags | args.exit_signal, 0, 0, 0, 0) }
    } else {
        ret
    };
    match ret {
        -1 => Err(Errno::last()).with_context(|| format!("clone3({}) failed", flag_names(namespaces))),
        0 => Ok(None),
        pid => Ok(Some(Pid::from_raw(pid as i32))),
    }
}
// ANCHOR_END: clone3

/// A pidfd of the runtime itself, for [`die_with_the_runtime`]: it
/// becomes readable when the runtime exits, and unlike a PID it still
/// means the runtime from inside a new PID namespace. Read: pidfd_open(2).
fn runtime_pidfd() -> Result<OwnedFd> {
    // SAFETY: pidfd_open returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    if fd < 0 {
        return Err(Errno::last()).context("pidfd_open of the runtime failed");
    }
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// In the child: the container must not outlive the runtime. If the
/// runtime dies, even by SIGKILL, the kernel sends this process SIGKILL
/// (for a PID namespace's init that ends the whole namespace).
/// PR_SET_PDEATHSIG survives execve, so in step 1 the command gets it.
fn die_with_the_runtime(runtime: OwnedFd) {
    crate::narrate!("prctl(PR_SET_PDEATHSIG, SIGKILL)");
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    // The runtime may have died before the prctl, and then no signal
    // comes: its pidfd is readable once it has exited.
    let mut poll = [libc::pollfd { fd: runtime.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
    if unsafe { libc::poll(poll.as_mut_ptr(), 1, 0) } == 1 {
        unsafe { libc::_exit(EXIT_SETUP_FAILED) };
    }
}

/// "CLONE_NEWPID|CLONE_NEWNS" for the narration, "0" for none.
pub fn flag_names(flags: CloneFlags) -> String {
    if flags.is_empty() {
        return "0".to_string();
    }
    flags.iter_names().map(|(name, _)| name).collect::<Vec<_>>().join("|")
}

impl Container {
    pub fn pid(&self) -> Pid {
        self.pid
    }

    // ANCHOR: started
    /// Wait until the command has been exec'd, or learn why it was not.
    ///
    /// Blocks until every copy of the pipe's write end is closed: by a
    /// successful execve (close-on-exec), or by the child exiting after it
    /// wrote its error. On error the child is reaped and the error carries
    /// its exit status.
    pub fn started(&mut self) -> Result<()> {
        let Some(mut pipe) = self.errors.take() else { return Ok(()) };
        let mut message = String::new();
        pipe.read_to_string(&mut message).context("reading the container's error pipe failed")?;
        if message.is_empty() {
            return Ok(());
        }
        let code = wait_for(self.pid).unwrap_or(EXIT_SETUP_FAILED);
        Err(Failed { code, message }.into())
    }
    // ANCHOR_END: started
}

/// In the child: report `err` to the runtime and exit with its status.
pub fn fail(err: anyhow::Error) -> ! {
    let code = exit_code_of(&err);
    let message = format!("{err:#}");
    let fd = ERROR_PIPE.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: the fd was the pipe's write end, owned by this process.
        let mut pipe = unsafe { File::from_raw_fd(fd) };
        let _ = pipe.write_all(message.as_bytes());
    } else {
        eprintln!("{}: {message}", crate::narrate::program());
    }
    // _exit, not exit: this is a copy of the runtime, and its atexit
    // handlers and buffers belong to the runtime.
    unsafe { libc::_exit(code) }
}

/// In a process that forks the command itself (step 2's init) and will not
/// exec: drop this process's copy of the error pipe, so that the runtime
/// reads end-of-file once the command has exec'd.
pub fn close_error_pipe() {
    let fd = ERROR_PIPE.swap(-1, Ordering::Relaxed);
    if fd >= 0 {
        let _ = nix::unistd::close(fd);
    }
}

// ANCHOR: exec
/// Replace this process with `command`, looked up in `$PATH` inside the
/// (new) root. Returns only on failure, with the shell's exit statuses:
/// 127 for not found, 126 for found but not executable.
pub fn exec(command: &[String]) -> Result<Infallible> {
    let args = command
        .iter()
        .map(|arg| CString::new(arg.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .context("the command contains a NUL byte")?;
    restore_default_signals();
    crate::narrate!("execvp({:?}, {:?})", command[0], command);
    let Err(errno) = nix::unistd::execvp(&args[0], &args);
    Err(exec_error(&command[0], errno))
}
// ANCHOR_END: exec

// ANCHOR: restore_default_signals
/// Just before execve: SIGPIPE back to its default action. Rust starts
/// every program with SIGPIPE ignored (a write to a closed pipe then
/// fails with EPIPE instead of killing the writer), and an ignored signal
/// stays ignored across execve(2): the command would inherit it, and
/// `yes | head -1` would behave as it does nowhere else. (Signals with a
/// handler are reset by execve itself.) Read: signal(7), "Signal
/// disposition"; execve(2), "All other process attributes".
pub fn restore_default_signals() {
    // SAFETY: SIG_DFL installs no handler; nothing runs concurrently.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
}
// ANCHOR_END: restore_default_signals

fn exec_error(program: &str, errno: Errno) -> anyhow::Error {
    let failed = match errno {
        Errno::ENOENT => Failed {
            code: EXIT_NOT_FOUND,
            message: format!(
                "{program}: command not found inside the container (a program whose \
                 dynamic loader or #! interpreter is missing from the rootfs fails \
                 the same way)"
            ),
        },
        _ => Failed { code: EXIT_CANNOT_EXECUTE, message: format!("{program}: cannot execute: {}", errno.desc()) },
    };
    failed.into()
}

// ANCHOR: wait_for
/// Wait for the container process and return its exit status, 128+N when
/// signal N killed it (the shell's convention).
pub fn wait_for(pid: Pid) -> Result<i32> {
    // Ctrl-C and Ctrl-\ at the terminal go to every process of the
    // foreground process group: the command and this runtime. The command
    // decides what they mean; the runtime stays to report its status, as
    // system(3) does. Set only in the runtime, after the clone: ignored
    // signals stay ignored across execve, and the command must not inherit
    // that.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    loop {
        match waitpid(pid, None) {
            Ok(status) => {
                if let Some(code) = exit_code(status) {
                    crate::narrate!("waitpid({pid}): {status:?}");
                    return Ok(code);
                }
            }
            Err(Errno::EINTR) => continue,
            Err(err) => return Err(err).with_context(|| format!("waitpid({pid}) failed")),
        }
    }
}
// ANCHOR_END: wait_for

/// The exit status to pass on for a child's wait status; `None` while it
/// has not ended (stopped, continued).
pub fn exit_code(status: WaitStatus) -> Option<i32> {
    match status {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, signal, _) => Some(128 + signal as i32),
        _ => None,
    }
}

/// End the runtime: with the container's status, or print the error as one
/// line and exit with the status it stands for.
pub fn exit_with(result: Result<i32>) -> ! {
    let code = match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("{}: {err:#}", crate::narrate::program());
            exit_code_of(&err)
        }
    };
    std::process::exit(code)
}
