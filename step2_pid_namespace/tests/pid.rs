//! Step 2 in a real container: the PID namespace and its tiny init.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::io::Read;
use std::time::Duration;
use support::{assert_code, finish, run, start, stdout, wait_for_line, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step2");

#[test]
fn init_is_pid_1_and_the_command_pid_2() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "sh", "-c", "echo $$ $PPID"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "2 1");
}

/// Signals sent to the runtime reach the command: runtime -> init -> command.
#[test]
fn signals_are_forwarded_to_the_command() {
    let Some(rootfs) = Rootfs::new() else { return };
    for (signal, name, code) in [(libc::SIGTERM, "TERM", 3), (libc::SIGHUP, "HUP", 4), (libc::SIGUSR1, "USR1", 5)] {
        let script = format!("trap 'echo got-{name}; exit {code}' {name}; echo ready; while :; do sleep 0.05; done");
        let mut child = start(BIN, &[&rootfs.arg(), "sh", "-c", &script]);
        let mut rest = wait_for_line(&mut child, "ready");
        unsafe { libc::kill(child.id() as i32, signal) };
        let out = finish(child);
        let mut tail = String::new();
        rest.read_to_string(&mut tail).unwrap();
        assert_eq!(tail.trim(), format!("got-{name}"), "stderr: {}", support::stderr(&out));
        assert_code(&out, code);
    }
}

/// Orphans are re-parented to PID 1; init must reap them or they stay
/// zombies until the namespace ends.
#[test]
fn orphaned_zombies_are_reaped() {
    let Some(rootfs) = Rootfs::new() else { return };
    // Five subshells each leave an orphaned `sleep` that exits at once.
    let script = "for i in 1 2 3 4 5; do (sleep 0.1 &); done; echo ready; sleep 5";
    let mut child = start(BIN, &[&rootfs.arg(), "sh", "-c", script]);
    let _rest = wait_for_line(&mut child, "ready");
    std::thread::sleep(Duration::from_millis(700));

    let init = children(child.id())[0];
    let namespace = std::fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    let in_container: Vec<u32> = all_pids()
        .into_iter()
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok().as_ref() == Some(&namespace))
        .collect();
    let zombies: Vec<u32> = in_container.iter().copied().filter(|&pid| state(pid) == 'Z').collect();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = finish(child);
    // init and the shell (which has become `sleep 5`): no zombie.
    assert!(zombies.is_empty(), "zombies {zombies:?} among {in_container:?}");
    assert_eq!(in_container.len(), 2, "{in_container:?}");
}

/// A SIGKILLed runtime cannot clean up: the kernel must end the container.
#[test]
fn killing_the_runtime_ends_the_container() {
    let Some(rootfs) = Rootfs::new() else { return };
    let mut child = start(BIN, &[&rootfs.arg(), "sh", "-c", "echo ready; sleep 30"]);
    let _rest = wait_for_line(&mut child, "ready");
    let init = children(child.id())[0];
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = finish(child);
    std::thread::sleep(Duration::from_millis(300));
    // Gone, or a zombie waiting for whoever inherited it (us) to reap it.
    assert!(matches!(state(init), 'Z' | '?'), "init {init} outlived the runtime");
    support::reap(init as i32);
}

#[test]
fn exit_status_is_passed_on_through_init() {
    let Some(rootfs) = Rootfs::new() else { return };
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "exit 42"]), 42);
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "kill -KILL $$"]), 128 + 9);
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "kill -TERM $$"]), 128 + 15);
}

/// Negative control for step 3: the PID namespace hides nothing from a
/// /proc mounted outside it. Mounting the host's procfs into the rootfs,
/// as chroot users do, makes `ps` list the host's processes.
#[test]
fn ps_lists_host_processes_with_the_hosts_proc() {
    let Some(rootfs) = Rootfs::new() else { return };
    let proc_dir = rootfs.path.join("proc");
    let _mounted = HostProc::mount(&proc_dir);
    let out = run(BIN, &[&rootfs.arg(), "ps", "-o", "pid"]);
    assert_code(&out, 0);
    let me = std::process::id().to_string();
    assert!(stdout(&out).lines().any(|line| line.trim() == me), "this test's pid {me} not in:\n{}", stdout(&out));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &[]);
}

/// The host's procfs mounted at a directory, unmounted when dropped.
struct HostProc(std::path::PathBuf);

impl HostProc {
    fn mount(dir: &std::path::Path) -> HostProc {
        nix::mount::mount(Some("proc"), dir, Some("proc"), nix::mount::MsFlags::empty(), None::<&str>).unwrap();
        HostProc(dir.to_path_buf())
    }
}

impl Drop for HostProc {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

fn children(pid: u32) -> Vec<u32> {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    list.split_whitespace().map(|p| p.parse().unwrap()).collect()
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// The state letter from /proc/PID/stat (R, S, Z, ...); '?' if gone.
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit_once(") ").and_then(|(_, rest)| rest.chars().next()).unwrap_or('?')
}
