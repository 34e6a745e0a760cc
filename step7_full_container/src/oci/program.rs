//! The program a container process becomes: found, then exec'd.
//!
//! `process.args[0]` is looked up in the PATH of `process.env`, inside
//! the container (after pivot_root, or after joining its mount namespace
//! for `exec`), not in the runtime's own PATH as execvp(3) would. It is
//! looked up early, while errors can still reach whoever ran `create`:
//! once `start` has released the container, nobody reads them. A program
//! that is not there ends the container with 127, as in a shell.
//! Read: execve(2), and runc's `LookPath` before its exec fifo wait.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Process;
use std::convert::Infallible;
use std::ffi::CString;
use std::path::{Path, PathBuf};

use crate::process::{Failed, EXIT_NOT_FOUND};

/// The PATH a process without one gets (runc and Docker use the same).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What execve(2) takes: the file, the arguments, the environment.
pub struct Program {
    path: CString,
    args: Vec<CString>,
    env: Vec<CString>,
}

impl Program {
    // ANCHOR: find
    /// `process`'s program, found inside the container. A missing one is
    /// a [`Failed`] with status 127.
    pub fn find(process: &Process) -> Result<Program> {
        let args = process.args().clone().unwrap_or_default();
        let env = process.env().clone().unwrap_or_default();
        let Some(name) = args.first() else { bail!("process.args: empty; name the program to run") };
        let path =
            find_in_path(name, &env).map_err(|err| Failed { code: EXIT_NOT_FOUND, message: format!("{err:#}") })?;
        let cstring = |s: &String| CString::new(s.as_bytes()).context("a NUL byte in process.args or process.env");
        Ok(Program {
            path: CString::new(path.into_os_string().into_encoded_bytes()).context("a NUL byte in process.args[0]")?,
            args: args.iter().map(cstring).collect::<Result<_>>()?,
            env: env.iter().map(cstring).collect::<Result<_>>()?,
        })
    }
    // ANCHOR_END: find

    /// Become the program. Returns only if execve fails.
    pub fn exec(self) -> Result<Infallible> {
        crate::process::restore_default_signals();
        crate::narrate!("execve({:?}, {:?})", self.path, self.args);
        let Err(errno) = nix::unistd::execve(&self.path, &self.args, &self.env);
        Err(anyhow::anyhow!("cannot execute {:?}: {}", self.path, errno.desc()))
    }
}

/// `name` as a path: as it is if it has a slash, else the first match in
/// the PATH of `env`.
fn find_in_path(name: &str, env: &[String]) -> Result<PathBuf> {
    let program = if name.contains('/') {
        PathBuf::from(name)
    } else {
        let path = env.iter().find_map(|v| v.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
        path.split(':')
            .map(|dir| Path::new(dir).join(name))
            .find(|candidate| candidate.is_file())
            .with_context(|| format!("process.args[0]: {name} not found in the container's PATH ({path})"))?
    };
    if !program.is_file() {
        bail!("process.args[0]: {} does not exist in the container", program.display());
    }
    Ok(program)
}
