//! Hooks: programs config.json asks the runtime to run at fixed points of
//! the lifecycle, with the container's state (JSON) on their stdin.
//!
//! | hook            | run by, where                        | when                                   |
//! |-----------------|--------------------------------------|----------------------------------------|
//! | prestart        | runtime, host namespaces (deprecated)| namespaces exist, before pivot_root    |
//! | createRuntime   | runtime, host namespaces             | same moment                            |
//! | createContainer | container process, its namespaces    | mounts done, before pivot_root         |
//! | startContainer  | container process, its namespaces    | after `start`, before execve           |
//! | poststart       | runtime, host namespaces             | after the program started              |
//! | poststop        | runtime, host namespaces             | at `delete`                            |
//!
//! Engines use them to set up networking (prestart/createRuntime: the
//! network namespace exists and can be given interfaces) or to register
//! the container elsewhere. A failing hook before the start aborts it.
//! Read: runtime-spec/config.md "POSIX-platform Hooks".

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ANCHOR: run
/// Run `hooks` (the `name` list of config.json) one after the other, each
/// with `state` on stdin; the first failure is an error.
pub fn run(name: &str, hooks: Option<&Vec<Hook>>, state: &serde_json::Value) -> Result<()> {
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        run_one(hook, state).with_context(|| format!("config.json: hooks.{name}[{i}] ({})", hook.path().display()))?;
    }
    Ok(())
}
// ANCHOR_END: run

fn run_one(hook: &Hook, state: &serde_json::Value) -> Result<()> {
    crate::narrate!("hook {}", hook.path().display());
    let args = hook.args().clone().unwrap_or_default();
    let mut command = Command::new(hook.path());
    // args[0] is the program's name as it sees it (argv[0]).
    if let Some((argv0, rest)) = args.split_first() {
        std::os::unix::process::CommandExt::arg0(&mut command, argv0);
        command.args(rest);
    }
    command.env_clear();
    for variable in hook.env().iter().flatten() {
        if let Some((key, value)) = variable.split_once('=') {
            command.env(key, value);
        }
    }
    let mut child = command.stdin(Stdio::piped()).spawn().context("cannot start the hook")?;
    let mut stdin = child.stdin.take().unwrap();
    // A hook that exits without reading its stdin is fine.
    let _ = stdin.write_all(state.to_string().as_bytes());
    drop(stdin);
    let timeout = hook.timeout().map(|secs| Duration::from_secs(secs.max(1) as u64));
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("the hook failed: {status}");
            }
            return Ok(());
        }
        if timeout.is_some_and(|limit| started.elapsed() > limit) {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the hook ran past its timeout of {} s", timeout.unwrap().as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
