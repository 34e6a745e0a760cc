//! Terminals: `process.terminal` and `--console-socket`.
//!
//! An interactive program wants a terminal: line editing, Ctrl-C turned
//! into SIGINT, a window size. A pseudo-terminal is a pair: the *master*,
//! held by whoever plays the keyboard and screen, and the *slave*, which
//! the program gets as stdin, stdout and stderr and as its controlling
//! terminal. The runtime opens the pair inside the container (from the
//! container's own devpts instance, /dev/ptmx), keeps the slave for the
//! program and hands the master to the engine: over a Unix socket the
//! engine listens on (`--console-socket`), as a file descriptor in an
//! SCM_RIGHTS control message, the only way to pass an open file to
//! another process. [`listen`] and [`receive`] are the engine's end of
//! it. Read: pty(7), unix(7) "SCM_RIGHTS", setsid(2), ioctl_tty(2)
//! TIOCSCTTY and TIOCSWINSZ.

use anyhow::{Context, Result};
use nix::fcntl::OFlag;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use std::fs::File;
use std::io::IoSlice;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// A connection to the engine's console socket, made while its path (on
/// the host) is still reachable.
pub struct ConsoleSocket(UnixStream);

pub fn connect(path: &Path) -> Result<ConsoleSocket> {
    crate::narrate!("connect({})", path.display());
    let stream =
        UnixStream::connect(path).with_context(|| format!("cannot connect to --console-socket {}", path.display()))?;
    Ok(ConsoleSocket(stream))
}

// ANCHOR: setup
impl ConsoleSocket {
    /// In the container process, with the container's /dev mounted: make
    /// a pty, send its master to the engine, and make the slave this
    /// process's terminal and stdio.
    pub fn setup(&self, size: Option<(u16, u16)>) -> Result<()> {
        let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
            .context("cannot open /dev/ptmx (is /dev/pts mounted?)")?;
        nix::pty::grantpt(&master).context("grantpt on /dev/ptmx failed")?;
        nix::pty::unlockpt(&master).context("unlockpt on /dev/ptmx failed")?;
        let slave_name = nix::pty::ptsname_r(&master).context("ptsname on /dev/ptmx failed")?;
        crate::narrate!("posix_openpt: a new pty, {slave_name}");
        if let Some(size) = size {
            resize(&master, size);
        }
        let slave =
            nix::fcntl::open(slave_name.as_str(), OFlag::O_RDWR | OFlag::O_NOCTTY, nix::sys::stat::Mode::empty())
                .with_context(|| format!("cannot open {slave_name}"))?;

        // The master goes to the engine, with the pty's name as the data.
        let fds = [master.as_raw_fd()];
        crate::narrate!("sendmsg(console socket, SCM_RIGHTS [pty master])");
        sendmsg::<UnixAddr>(
            self.0.as_raw_fd(),
            &[IoSlice::new(slave_name.as_bytes())],
            &[ControlMessage::ScmRights(&fds)],
            MsgFlags::empty(),
            None,
        )
        .context("cannot send the terminal to the console socket")?;
        drop(master);

        // A new session, whose controlling terminal is the slave: Ctrl-C
        // typed on the engine's side becomes SIGINT for the program.
        nix::unistd::setsid().context("setsid failed")?;
        if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
            return Err(std::io::Error::last_os_error()).context("TIOCSCTTY failed");
        }
        for target in 0..=2 {
            dup2(slave.as_raw_fd(), target)?;
        }
        Ok(())
    }
}
// ANCHOR_END: setup

fn dup2(from: RawFd, to: RawFd) -> Result<()> {
    if unsafe { libc::dup2(from, to) } == -1 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("dup2 onto fd {to} failed"));
    }
    Ok(())
}

/// Set the window size of the terminal whose master is `master` (the
/// program sees it with TIOCGWINSZ, and gets SIGWINCH if it changed).
pub fn resize(master: &impl AsRawFd, (rows, cols): (u16, u16)) {
    let size = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads one winsize, alive for the call. A failure
    // leaves the size as it was: nothing to undo, nothing to report.
    unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
}

/// process.consoleSize as (rows, columns).
pub fn size(process: &oci_spec::runtime::Process) -> Option<(u16, u16)> {
    process.console_size().as_ref().map(|size| (size.height() as u16, size.width() as u16))
}

// ANCHOR: receive
/// A console socket of our own at `path`.
pub fn listen(path: &Path) -> Result<UnixListener> {
    UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))
}

/// Accept one connection on `listener` and receive the terminal master
/// sent over it.
pub fn receive(listener: &UnixListener) -> Result<File> {
    let (stream, _) = listener.accept().context("no terminal came from the container")?;
    let mut name = [0u8; 128];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<()>(stream.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::empty())
        .context("cannot receive the terminal from the console socket")?;
    let fd = message
        .cmsgs()?
        .find_map(|cmsg| match cmsg {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .context("the console socket got no file descriptor")?;
    // SAFETY: a descriptor just received, owned by nobody else.
    Ok(unsafe { File::from_raw_fd(fd) })
}
// ANCHOR_END: receive
