//! A one-shot gate between the runtime and the container process.
//!
//! Some set-up can only be done from outside once the container process
//! exists (its veth can only be moved into a namespace that exists), yet
//! must be finished before the command runs. The container process waits
//! at the gate, a pipe, until the runtime writes one byte; if the runtime
//! gives up instead, the pipe closes empty and the container process
//! stops. Read: pipe(7).

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};

pub struct Gate {
    read: OwnedFd,
    write: OwnedFd,
}

impl Gate {
    /// Make the gate before clone, so that both processes have it.
    pub fn new() -> Result<Gate> {
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("pipe2 failed")?;
        Ok(Gate { read, write })
    }

    // ANCHOR: wait
    /// In the container process: block until the runtime opens the gate.
    pub fn wait(&self) -> Result<()> {
        // Close this process's copy of the write end first: otherwise the
        // read below could never see end-of-file if the runtime died.
        let _ = nix::unistd::close(self.write.as_raw_fd());
        crate::narrate!("read(gate): waiting for the runtime");
        let mut file = File::from(self.read.try_clone().context("dup failed")?);
        let mut byte = [0u8; 1];
        match file.read(&mut byte) {
            Ok(1) => Ok(()),
            _ => bail!("the runtime stopped before the container was ready"),
        }
    }
    // ANCHOR_END: wait

    /// In the runtime: let the container process go on.
    pub fn open(self) -> Result<()> {
        drop(self.read);
        crate::narrate!("write(gate): the container may go on");
        File::from(self.write).write_all(b"1").context("opening the gate failed")
    }
}
