//! `run -t`: the runtime as the container's terminal.
//!
//! With `-t` the container's program gets a pseudo-terminal made inside
//! the container (see `step7::oci::console`); its master comes back to the
//! runtime over a console socket of the runtime's own, and the runtime
//! plays keyboard and screen: it puts its own terminal in raw mode (so
//! that Ctrl-C is a byte for the container's terminal to turn into SIGINT,
//! not a signal for the runtime), copies keystrokes in and output out,
//! and passes window size changes on. Read: termios(3) "Raw mode",
//! ioctl_tty(2) TIOCGWINSZ.

use anyhow::{Context, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::thread::JoinHandle;

/// The terminal attributes of stdin, restored when dropped.
pub struct RawMode(Option<nix::sys::termios::Termios>);

impl RawMode {
    /// Raw mode on stdin, if stdin is a terminal.
    pub fn enter() -> RawMode {
        let stdin = std::io::stdin();
        let Ok(saved) = nix::sys::termios::tcgetattr(&stdin) else { return RawMode(None) };
        let mut raw = saved.clone();
        nix::sys::termios::cfmakeraw(&mut raw);
        let _ = nix::sys::termios::tcsetattr(&stdin, nix::sys::termios::SetArg::TCSANOW, &raw);
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = nix::sys::termios::tcsetattr(std::io::stdin(), nix::sys::termios::SetArg::TCSANOW, saved);
        }
    }
}

// ANCHOR: proxy
/// Copy stdin to the master and the master to stdout until the container's
/// side closes, passing our window size on whenever it changes.
pub fn proxy(master: File) -> JoinHandle<()> {
    let mut input = master.try_clone().expect("dup of the terminal master");
    std::thread::spawn(move || {
        let _ = std::thread::Builder::new().spawn(move || {
            let mut buf = [0u8; 4096];
            let mut stdin = std::io::stdin();
            while let Ok(n) = stdin.read(&mut buf) {
                if n == 0 || input.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        });
        let mut output = master;
        let mut out = std::io::stdout();
        let mut buf = [0u8; 4096];
        let mut size = None;
        loop {
            size = pass_window_size(&output, size);
            let mut poll = [libc::pollfd { fd: output.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            if unsafe { libc::poll(poll.as_mut_ptr(), 1, 200) } == 0 {
                continue;
            }
            // EIO: the container's last user of the terminal is gone.
            match output.read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                _ => break,
            }
        }
    })
}
// ANCHOR_END: proxy

// ANCHOR: interact
/// The same, in this thread alone, until process `child` ends; returns its
/// exit status. (`exec -t`: a process that joined a PID namespace may not
/// start threads.)
pub fn interact(master: File, child: nix::unistd::Pid) -> Result<i32> {
    let mut master = master;
    let mut stdin_open = true;
    let mut size = None;
    let mut buf = [0u8; 4096];
    let mut out = std::io::stdout();
    loop {
        size = pass_window_size(&master, size);
        let mut fds = [
            libc::pollfd { fd: if stdin_open { 0 } else { -1 }, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        unsafe { libc::poll(fds.as_mut_ptr(), 2, 100) };
        if fds[0].revents != 0 {
            match std::io::stdin().read(&mut buf) {
                Ok(n) if n > 0 => {
                    let _ = master.write_all(&buf[..n]);
                }
                _ => stdin_open = false,
            }
        }
        if fds[1].revents & libc::POLLIN != 0 {
            if let Ok(n) = master.read(&mut buf) {
                let _ = out.write_all(&buf[..n]);
                let _ = out.flush();
            }
        }
        match nix::sys::wait::waitpid(child, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(nix::errno::Errno::EINTR) => {}
            Ok(status) => {
                if let Some(code) = step7::process::exit_code(status) {
                    // What it wrote last, until the terminal is empty.
                    let mut last = [libc::pollfd { fd: master.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
                    while unsafe { libc::poll(last.as_mut_ptr(), 1, 50) } == 1 {
                        match master.read(&mut buf) {
                            Ok(n) if n > 0 => {
                                let _ = out.write_all(&buf[..n]);
                            }
                            _ => break,
                        }
                    }
                    let _ = out.flush();
                    return Ok(code);
                }
            }
            Err(err) => return Err(err).context("waitpid failed"),
        }
    }
}
// ANCHOR_END: interact

/// The window size of the terminal on stdout, if it is one.
pub fn window_size() -> Option<(u16, u16)> {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0).then_some((size.ws_row, size.ws_col))
}

/// Copy stdout's window size to the master when it differs from `last`.
fn pass_window_size(master: &File, last: Option<(u16, u16)>) -> Option<(u16, u16)> {
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(std::io::stdout().as_raw_fd(), libc::TIOCGWINSZ, &mut size) } != 0 {
        return last;
    }
    let now = Some((size.ws_row, size.ws_col));
    if now != last {
        unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
    }
    now
}
