//! Step 1 in a real container: what chroot hides, and what it does not.

#[path = "support/mod.rs"]
mod support;

use support::{assert_code, run, stdout, Marker, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step1");

#[test]
fn runs_the_command_inside_the_rootfs() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "cat", "/etc/os-release"]);
    assert_code(&out, 0);
    assert!(stdout(&out).contains("busybox rootfs"), "{}", stdout(&out));
}

#[test]
fn host_files_are_invisible() {
    let Some(rootfs) = Rootfs::new() else { return };
    let marker = Marker::new();
    let path = marker.path.to_str().unwrap();
    let out = run(BIN, &[&rootfs.arg(), "cat", path]);
    assert_ne!(out.status.code(), Some(0), "the host's {path} was readable inside");
    assert!(!stdout(&out).contains(&marker.content));
    assert!(marker.path.exists(), "the marker must still be on the host");
}

/// Negative control for step 3: chroot is not a boundary for root.
#[test]
fn chroot_escape_reaches_the_host() {
    let Some(rootfs) = Rootfs::new() else { return };
    rootfs.add_escape();
    let marker = Marker::new();
    let out = run(BIN, &[&rootfs.arg(), "/escape", "cat", marker.path.to_str().unwrap()]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), marker.content, "the escape should have read the host's marker");
}

/// Negative control for step 2: without a PID namespace the command has its
/// ordinary host PID.
#[test]
fn pid_is_the_hosts() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "sh", "-c", "echo $$"]);
    assert_code(&out, 0);
    let pid: u32 = stdout(&out).trim().parse().unwrap();
    assert!(pid > 2, "pid {pid}");
}

#[test]
fn exit_status_is_passed_on() {
    let Some(rootfs) = Rootfs::new() else { return };
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "exit 42"]), 42);
    // Killed by a signal N: 128 + N, as the shell reports it.
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "kill -TERM $$"]), 128 + 15);
    assert_code(&run(BIN, &[&rootfs.arg(), "sh", "-c", "kill -KILL $$"]), 128 + 9);
}

#[test]
fn verbose_narrates_the_system_calls() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "--verbose", "true"]);
    assert_code(&out, 0);
    let err = support::stderr(&out);
    for call in ["clone3(", "chroot(", "chdir(\"/\")", "execvp(\"true\""] {
        assert!(err.contains(call), "no {call} in:\n{err}");
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &[]);
}
