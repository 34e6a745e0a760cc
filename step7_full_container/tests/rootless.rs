//! A rootless container: a non-root user the test creates runs step7,
//! and is root only inside a user namespace of its own.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use support::{stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step7");
const USER: &str = "step7rootless";

/// The test's user, created if missing (and removed when dropped then).
struct TestUser {
    uid: u32,
    gid: u32,
    created: bool,
}

impl TestUser {
    fn new() -> Option<TestUser> {
        let created = nix::unistd::User::from_name(USER).ok().flatten().is_none();
        if created {
            let status = Command::new("useradd").args(["--create-home", USER]).status();
            if !status.is_ok_and(|s| s.success()) {
                support::cannot_run("useradd failed (package passwd)");
                return None;
            }
        }
        let user = nix::unistd::User::from_name(USER).ok().flatten()?;
        Some(TestUser { uid: user.uid.as_raw(), gid: user.gid.as_raw(), created })
    }

    /// `step7 ARGS...` as this user, with a runtime directory of its own.
    fn step7(&self, runtime_dir: &PathBuf, args: &[&str]) -> std::process::Output {
        Command::new(BIN)
            .args(args)
            .env("XDG_RUNTIME_DIR", runtime_dir)
            .uid(self.uid)
            .gid(self.gid)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        if self.created {
            let _ = Command::new("userdel").args(["--remove", USER]).output();
        }
    }
}

#[test]
fn a_non_root_user_runs_a_container_as_root_of_its_own_namespace() {
    let Some(rootfs) = Rootfs::new() else { return };
    let Some(user) = TestUser::new() else { return };
    let runtime_dir = PathBuf::from(format!("{}-xdg", rootfs.path.display()));
    std::fs::create_dir_all(&runtime_dir).unwrap();
    nix::unistd::chown(&runtime_dir, Some(user.uid.into()), Some(user.gid.into())).unwrap();
    let rootfs_dir = rootfs.path.to_str().unwrap();

    let script = "id -u; head -1 /proc/self/uid_map; ls /sys/class/net; stat -c %U /bin";
    let out = user.step7(&runtime_dir, &["run", "--rootfs", rootfs_dir, "--", "sh", "-c", script]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines[0], "0", "root inside");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", &user.uid.to_string(), "1"], "{text}");
    assert_eq!(lines[2], "lo", "loopback only: {text}");
    // The host's root-owned files are nobody's inside: root inside is not
    // root outside.
    assert_eq!(lines[3], "nobody");

    // A detached container without a cgroup: exec joins it (and no
    // cgroup of anyone else's), ps shows its process, rm -f removes it.
    let out = user.step7(&runtime_dir, &["run", "-d", "--rootfs", rootfs_dir, "--name", "bg", "sleep", "60"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = user.step7(&runtime_dir, &["exec", "bg", "sh", "-c", "id -u; cat /proc/self/cgroup | wc -l"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().next(), Some("0"), "{}", stdout(&out));
    let out = user.step7(&runtime_dir, &["ps", "bg"]);
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
    let pid: i32 = stdout(&out).trim().parse().unwrap_or(0);
    let out = user.step7(&runtime_dir, &["rm", "-f", "bg"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    support::reap(pid);

    // What needs root is refused, with the reason.
    let out = user.step7(&runtime_dir, &["run", "--rootfs", rootfs_dir, "--memory", "64m", "true"]);
    assert!(stderr(&out).contains("rootless: cgroup limits need a cgroup v2 subtree delegated"), "{}", stderr(&out));
    let out = user.step7(&runtime_dir, &["run", "--rootfs", rootfs_dir, "-p", "8080:80", "true"]);
    assert!(stderr(&out).contains("-p needs the bridge network"), "{}", stderr(&out));
    let leftovers: Vec<_> = std::fs::read_dir(&runtime_dir).unwrap().flatten().map(|e| e.path()).collect();
    let _ = std::fs::remove_dir_all(&runtime_dir);
    assert!(leftovers.is_empty(), "left in the runtime directory: {leftovers:?}");
}
