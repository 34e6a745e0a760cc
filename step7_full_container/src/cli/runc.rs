//! The runc verbs: `spec`, `create`, `start`, `state`, `kill`, `delete`,
//! `run ID`, `list`, `ps ID`, `exec`, `pause`, `resume`, `features`.
//!
//! Engines call a runtime with exactly runc's command line and read its
//! output as runc prints it (JSON for `state` and `features`, one PID per
//! line for `ps`), so these stay runc's.

use anyhow::{Context, Result};
use std::path::Path;
use step7::oci::create::{self, Options};
use step7::oci::exec::{self, ProcessFlags};
use step7::oci::state::{self, State, Status};
use step7::oci::{bundle, lifecycle};

use super::output::out;
use super::terminal;

/// `spec [--rootless]`
pub fn spec(bundle: &Path, rootless: bool) -> Result<i32> {
    bundle::write_default(bundle, rootless)?;
    Ok(0)
}

/// `state ID`
pub fn state(root: &Path, id: &str) -> Result<i32> {
    out!("{}", serde_json::to_string_pretty(&lifecycle::state(root, id)?)?);
    Ok(0)
}

// ANCHOR: run_container
/// `run ID`: create and start; unless detached, wait for the container as
/// its parent (passing signals on, as step 2's runtime does), then delete.
/// A bundle that asks for a terminal without --console-socket gets this
/// command as its terminal, as under runc (`runc spec`'s config.json
/// does ask for one).
pub fn run(options: &Options, detach: bool) -> Result<i32> {
    state::check_id(options.id)?;
    // Loaded here, once: whether this command is to be the terminal
    // depends on it.
    let bundle = bundle::load(options.bundle)?;
    let wants_terminal = bundle.spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let own_terminal = options.console_socket.is_none() && wants_terminal;
    if own_terminal && detach {
        anyhow::bail!(
            "config.json: process.terminal is true: with --detach, pass --console-socket (nothing else would be the \
             terminal), or set terminal to false"
        );
    }
    step7::init::block_signals()?;
    let terminal = own_terminal.then(|| Terminal::listen(options.root, options.id)).transpose()?;
    let create = Options { console_socket: terminal.as_ref().map(|t| t.socket.as_path()), ..*options };
    let created = create::create_from(&create, bundle);
    // The terminal comes now, or never: either way its socket goes.
    let master = match (&created, terminal) {
        (Ok(_), Some(terminal)) => Some(terminal.receive()),
        _ => None,
    };
    let state = created?;
    // Created: from here a failure deletes the container again.
    let started = master.transpose().and_then(|master| {
        // Our window's size, before the program starts and asks for it.
        if let (Some(master), Some(size)) = (&master, terminal::window_size()) {
            step7::oci::console::resize(master, size);
        }
        lifecycle::start(options.root, options.id)?;
        Ok(master)
    });
    let master = match started {
        Ok(master) => master,
        Err(err) => {
            let _ = lifecycle::delete(options.root, options.id, true);
            return Err(err);
        }
    };
    if detach {
        return Ok(0);
    }
    let screen = master.map(|master| (terminal::RawMode::enter(), terminal::proxy(master)));
    let code = step7::init::supervise(nix::unistd::Pid::from_raw(state.pid));
    if let Some((raw, screen)) = screen {
        let _ = screen.join();
        drop(raw);
    }
    lifecycle::delete(options.root, options.id, true)?;
    code
}

/// A console socket of this command's own, in the state root, for the
/// time `create` takes to send the terminal; removed when dropped.
struct Terminal {
    socket: std::path::PathBuf,
    listener: std::os::unix::net::UnixListener,
}

impl Terminal {
    fn listen(root: &Path, id: &str) -> Result<Terminal> {
        std::fs::create_dir_all(root).with_context(|| format!("cannot create the state root {}", root.display()))?;
        let socket = root.join(format!(".console-{id}-{}.sock", std::process::id()));
        let listener = step7::oci::console::listen(&socket)?;
        Ok(Terminal { socket, listener })
    }

    /// The master, once `create` has sent it; the socket goes with `self`.
    fn receive(self) -> Result<std::fs::File> {
        step7::oci::console::receive(&self.listener)
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}
// ANCHOR_END: run_container

/// `list [-q]`
pub fn list(root: &Path, quiet: bool) -> Result<i32> {
    let states = state::list(root);
    if quiet {
        for state in states {
            out!("{}", state.id);
        }
        return Ok(0);
    }
    out!("{:<20} {:<8} {:<10} {:<40} CREATED", "ID", "PID", "STATUS", "BUNDLE");
    for state in states {
        let status = state.status(root);
        let pid = if status == Status::Stopped { 0 } else { state.pid };
        out!("{:<20} {:<8} {:<10} {:<40} {}", state.id, pid, status.as_str(), state.bundle.display(), state.created);
    }
    Ok(0)
}

/// `ps ID`: the container's processes, their PIDs on the host.
pub fn ps(root: &Path, id: &str) -> Result<i32> {
    for pid in lifecycle::ps(root, id)? {
        out!("{pid}");
    }
    Ok(0)
}

/// What `exec` was asked, beside the process.
pub struct ExecFlags<'a> {
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub console_socket: Option<&'a Path>,
}

// ANCHOR: exec
/// `exec ID CMD` (or `--process FILE`): the process's exit status, or 0
/// at once with --detach. With -t and no console socket of an engine's,
/// this command is the terminal: it listens on a socket of its own for
/// the master, and plays keyboard and screen in this thread alone (a
/// process that joined a PID namespace may not start threads).
pub fn exec(root: &Path, id: &str, process: &ProcessFlags, flags: &ExecFlags) -> Result<i32> {
    // Read once, for the process to run and for joining the container.
    let state = State::load(root, id)?;
    let spec = state.spec(root)?;
    let mut process = exec::process_from(&spec, process)?;
    let own_terminal = process.terminal() == Some(true) && flags.console_socket.is_none();
    if !own_terminal {
        step7::init::block_signals()?;
        let pid = exec::exec(root, &state, &spec, &process, flags.console_socket, flags.pid_file)?;
        return if flags.detach { Ok(0) } else { step7::init::supervise(pid) };
    }
    if flags.detach {
        anyhow::bail!("exec -d -t needs --console-socket: nothing would be the terminal");
    }
    // Our window's size, set before the program starts.
    if let Some((rows, cols)) = terminal::window_size() {
        let size = serde_json::json!({"height": rows, "width": cols});
        process.set_console_size(serde_json::from_value(size).ok());
    }
    let socket = state::dir(root, id).join(format!("exec-{}.sock", std::process::id()));
    let listener = step7::oci::console::listen(&socket)?;
    step7::init::block_signals()?;
    let started = exec::exec(root, &state, &spec, &process, Some(&socket), flags.pid_file)
        .and_then(|pid| Ok((pid, step7::oci::console::receive(&listener)?)));
    let _ = std::fs::remove_file(&socket);
    let (pid, master) = started?;
    let raw = terminal::RawMode::enter();
    let code = terminal::interact(master, pid);
    drop(raw);
    code
}
// ANCHOR_END: exec
