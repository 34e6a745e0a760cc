//! A tiny init for PID 1: forward signals, reap zombies, pass on the exit
//! status.
//!
//! The container process becomes this init. It forks the command (PID 2),
//! then waits for two kinds of events:
//! - SIGCHLD: some process in the namespace has exited. Orphans are
//!   re-parented to PID 1, so init reaps whatever has exited; when it is
//!   the command, init exits with its status.
//! - a signal meant for the container (TERM, INT, HUP, ...): passed on to
//!   the command, which would otherwise never see `kill RUNTIME_PID`.
//!
//! The runtime on the host uses the same loop, [`supervise`], to wait for
//! init, so a signal sent to the runtime travels runtime -> init -> command.
//! Read: sigwaitinfo(2), sigprocmask(2), waitpid(2).

use anyhow::{bail, Context, Result};
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::convert::Infallible;
use step1::{narrate, process};

// ANCHOR: forwarded
/// The signals init and the runtime pass on to the command.
pub const FORWARDED: [Signal; 7] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGWINCH,
];
// ANCHOR_END: forwarded

/// The forwarded signals plus SIGCHLD: everything [`supervise`] waits for.
fn watched() -> SigSet {
    let mut set = SigSet::empty();
    for signal in FORWARDED {
        set.add(signal);
    }
    set.add(Signal::SIGCHLD);
    set
}

// ANCHOR: run
/// Become init: fork `command` as PID 2, then supervise it. Never returns
/// on success: exits with the command's status.
pub fn run(command: impl FnOnce() -> Result<Infallible>) -> Result<Infallible> {
    narrate::set_role("init");
    // Block before the fork, so that no signal can arrive between fork and
    // the first sigwaitinfo with its default action (which for PID 1 means
    // "dropped"). Blocked signals are queued instead, even for PID 1.
    narrate!("sigprocmask(SIG_BLOCK, {{INT TERM HUP QUIT USR1 USR2 WINCH CHLD}})");
    let mut before = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&watched()), Some(&mut before))
        .context("sigprocmask failed")?;

    narrate!("fork()");
    // SAFETY: single-threaded; the child only runs `command`, which execs.
    match unsafe { fork() }.context("fork of the command failed")? {
        ForkResult::Child => {
            narrate::set_role("command");
            // The blocked mask survives execve: unblock, or the command
            // would start with TERM and INT blocked and never see them.
            let _ = before.thread_set_mask();
            match command() {
                Err(err) => process::fail(err),
                Ok(never) => match never {},
            }
        }
        ForkResult::Parent { child } => {
            narrate!("fork returned: the command is pid {child}");
            process::close_error_pipe();
            let code = supervise(child)?;
            narrate!("exit({code}): the kernel now kills what is left in the namespace");
            let _ = std::io::Write::flush(&mut std::io::stdout());
            unsafe { libc::_exit(code) }
        }
    }
}
// ANCHOR_END: run

// ANCHOR: supervise
/// Wait for `main` to end, forwarding signals to it and reaping every other
/// child that exits meanwhile; return `main`'s exit status (128+N for
/// signal N).
pub fn supervise(main: Pid) -> Result<i32> {
    let watched = block_signals()?;
    loop {
        // Reap first: SIGCHLD may have come and gone before we blocked it,
        // and several children exiting at once raise a single SIGCHLD.
        if let Some(code) = reap(main)? {
            return Ok(code);
        }
        let (signal, from_terminal) = wait_signal(&watched)?;
        if signal == Signal::SIGCHLD {
            continue;
        }
        // The terminal sends Ctrl-C, Ctrl-\ and window changes to the whole
        // foreground process group, command included; passing them on
        // would deliver them twice.
        if from_terminal {
            narrate!("got {signal} from the terminal: the command got it too");
            continue;
        }
        narrate!("kill({main}, {signal})");
        match kill(main, signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(err) => return Err(err).with_context(|| format!("kill({main}, {signal}) failed")),
        }
    }
}
// ANCHOR_END: supervise

// ANCHOR: block_signals
/// Block the watched signals: from now on they wait, queued, until
/// [`supervise`] takes them. A runtime with set-up to undo calls this
/// first, so that a SIGTERM during set-up still ends in its clean-up.
pub fn block_signals() -> Result<SigSet> {
    let watched = watched();
    watched.thread_block().context("sigprocmask failed")?;
    Ok(watched)
}
// ANCHOR_END: block_signals

// ANCHOR: reap
/// Collect every child that has exited, without blocking. Returns `main`'s
/// exit status once it is among them.
fn reap(main: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(status) => {
                let Some(code) = process::exit_code(status) else { continue };
                if status.pid() == Some(main) {
                    narrate!("waitpid: pid {main} ended: {status:?}");
                    return Ok(Some(code));
                }
                narrate!("waitpid: reaped orphan {:?}", status.pid());
            }
            Err(Errno::EINTR) => {}
            Err(Errno::ECHILD) => bail!("{main} is not a child of this process"),
            Err(err) => return Err(err).context("waitpid failed"),
        }
    }
}
// ANCHOR_END: reap

/// Wait for one of `set` (blocked) and say whether the terminal sent it.
fn wait_signal(set: &SigSet) -> Result<(Signal, bool)> {
    loop {
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to a sigset and a siginfo.
        let signo = unsafe { libc::sigwaitinfo(set.as_ref(), &mut info) };
        if signo == -1 {
            if Errno::last() == Errno::EINTR {
                continue;
            }
            return Err(Errno::last()).context("sigwaitinfo failed");
        }
        let signal = Signal::try_from(signo).context("unexpected signal")?;
        // SI_KERNEL: generated by the kernel (the tty driver), not kill(2).
        return Ok((signal, info.si_code == libc::SI_KERNEL));
    }
}
