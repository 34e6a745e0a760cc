//! Step 3 in a real container: its own mount table, /proc, /sys and /dev,
//! and a root no `..` walk gets out of.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use support::{assert_code, finish, run, start, stdout, wait_for_line, Marker, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step3");

#[test]
fn proc_lists_only_the_containers_processes() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "ps", "-o", "pid,comm"]);
    assert_code(&out, 0);
    let pids: Vec<u32> =
        stdout(&out).lines().skip(1).map(|l| l.split_whitespace().next().unwrap().parse().unwrap()).collect();
    // init (1) and ps (2): nothing of the host's.
    assert_eq!(pids, [1, 2], "{}", stdout(&out));
}

#[test]
fn a_mount_made_inside_is_invisible_on_the_host() {
    let Some(rootfs) = Rootfs::new() else { return };
    let script = "mkdir -p /mnt/inside && mount -t tmpfs inside-only /mnt/inside && echo ready && sleep 30";
    let mut child = start(BIN, &[&rootfs.arg(), "sh", "-c", script]);
    let _rest = wait_for_line(&mut child, "ready");
    let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = finish(child);
    assert!(!host.contains("inside-only"), "the container's tmpfs is in the host's mount table");
    assert!(!host.contains(rootfs.path.to_str().unwrap()), "the container's mounts leaked to the host:\n{host}");
}

#[test]
fn the_chroot_escape_fails() {
    let Some(rootfs) = Rootfs::new() else { return };
    rootfs.add_escape();
    let marker = Marker::new();
    let out = run(BIN, &[&rootfs.arg(), "/escape", "cat", marker.path.to_str().unwrap()]);
    assert!(!stdout(&out).contains(&marker.content), "escaped to the host: {}", stdout(&out));
    assert_ne!(out.status.code(), Some(0));
    // The walk ended at the container's own root.
    let out = run(BIN, &[&rootfs.arg(), "/escape", "cat", "/etc/os-release"]);
    assert!(stdout(&out).contains("busybox rootfs"), "{}", stdout(&out));
}

#[test]
fn dev_has_working_device_nodes() {
    let Some(rootfs) = Rootfs::new() else { return };
    let script = r#"
        for node in null:1,3 zero:1,5 full:1,7 random:1,8 urandom:1,9 tty:5,0; do
            name=${node%%:*}; want=${node#*:}
            test -c /dev/$name || { echo "/dev/$name is not a character device"; exit 1; }
            got=$(stat -c '%t,%T' /dev/$name)
            [ "$got" = "$(printf '%x,%x' ${want%,*} ${want#*,})" ] || { echo "/dev/$name is $got"; exit 1; }
        done
        echo discarded > /dev/null
        [ "$(head -c 4 /dev/zero | od -An -tx1 | tr -d ' ')" = 00000000 ] || exit 2
        [ "$(head -c 16 /dev/urandom | wc -c)" = 16 ] || exit 3
        if echo x 2>/dev/null > /dev/full; then exit 4; fi
        test -L /dev/ptmx && test -c /dev/pts/ptmx || exit 5
        test -d /dev/shm && test -k /dev/shm || exit 6
        [ "$(readlink /dev/fd)" = /proc/self/fd ] && test -e /dev/stdout || exit 7
        echo ok
    "#;
    let out = run(BIN, &[&rootfs.arg(), "sh", "-c", script]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "ok");
}

#[test]
fn sys_is_read_only() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "sh", "-c", "grep ' /sys ' /proc/mounts; echo 1 > /sys/kernel/profiling"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stdout(&out).contains("sysfs /sys sysfs ro,"), "{}", stdout(&out));
}

/// Negative control for step 4: without a UTS namespace the hostname is
/// the host's.
#[test]
fn hostname_is_the_hosts() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "hostname"]);
    assert_code(&out, 0);
    let host = nix::unistd::gethostname().unwrap();
    assert_eq!(stdout(&out).trim(), host.to_str().unwrap());
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &[]);
}

/// The command starts with SIGPIPE's default action, as under a shell:
/// the runtime, a Rust program, ignores SIGPIPE, and an ignored signal
/// would stay ignored across execve (step 1's `process::exec` restores it;
/// tested here, the first step with a /proc to read it in). Control: the
/// same reading shows the signal ignored when the command ignores it.
#[test]
fn the_command_gets_default_signal_actions() {
    let Some(rootfs) = Rootfs::new() else { return };
    // SigIgn is a mask: bit N-1 for signal N; SIGPIPE is 13.
    let pipe_ignored = |script: &str| {
        let out = run(BIN, &[&rootfs.arg(), "sh", "-c", script]);
        assert_code(&out, 0);
        let mask = stdout(&out).split_whitespace().nth(1).map(|m| u64::from_str_radix(m, 16).unwrap());
        mask.expect("a SigIgn line") & (1 << (libc::SIGPIPE - 1)) != 0
    };
    assert!(!pipe_ignored("grep SigIgn /proc/self/status"), "the command inherited SIGPIPE ignored");
    assert!(pipe_ignored("trap '' PIPE; grep SigIgn /proc/self/status"), "the control should see SIGPIPE ignored");
}
