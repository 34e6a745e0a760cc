//! An engine drives step 7: Debian's podman, with `--runtime` pointing at
//! the step7 binary, runs, execs into, stops and removes a busybox
//! container made from an image the test imports itself.
//!
//! Two settings adapt podman to these machines: `--network none` (podman's
//! network stack would need netavark's bridge; step 7 joins whatever
//! network namespace an engine gives it), and ulimits within the host's
//! hard limits, because this sandbox withholds CAP_SYS_RESOURCE, without
//! which no runtime can raise them (runc fails the same way).

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::{assert_code, stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

/// podman with storage of its own (vfs: no overlay mounts to leave
/// behind), cgroupfs, and step7 as its runtime.
struct Podman {
    dir: PathBuf,
    /// libpod_parent cgroups podman creates and never removes.
    made_parents: Vec<PathBuf>,
}

impl Podman {
    fn new(dir: PathBuf) -> Podman {
        let made_parents = std::fs::read_dir("/sys/fs/cgroup")
            .unwrap()
            .flatten()
            .map(|entry| entry.path().join("libpod_parent"))
            .filter(|path| !path.exists())
            .collect();
        Podman { dir, made_parents }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = ["--root", "storage", "--runroot", "run"]
            .iter()
            .map(
                |a| if *a == "storage" || *a == "run" { self.dir.join(a).display().to_string() } else { a.to_string() },
            )
            .collect();
        all.extend(
            ["--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "file"].map(String::from),
        );
        all.extend(["--runtime".to_string(), BIN.to_string()]);
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        support::run("podman", &all)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.run(&["rm", "--all", "--force"]);
        let _ = self.run(&["rmi", "--all", "--force"]);
        let _ = std::fs::remove_dir_all(&self.dir);
        for parent in &self.made_parents {
            remove_empty_tree(parent);
        }
        // conmon double-forks: it and the containers end up children of
        // this test process (a subreaper). Reap them; this binary runs this
        // one test, so waiting for any child takes nobody else's.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            match unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) } {
                -1 => break,
                0 => std::thread::sleep(std::time::Duration::from_millis(20)),
                _ => {}
            }
        }
    }
}

fn remove_empty_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten().filter(|e| e.path().is_dir()) {
            remove_empty_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

#[test]
fn podman_runs_execs_stops_and_removes_with_step7() {
    let Some(rootfs) = Rootfs::new() else { return };
    if Command::new("podman").arg("--version").output().is_err() {
        support::cannot_run("podman is not installed (apt-get install podman)");
        return;
    }
    let podman = Podman::new(PathBuf::from(format!("{}-podman", rootfs.path.display())));
    std::fs::create_dir_all(&podman.dir).unwrap();
    let tar = podman.dir.join("rootfs.tar");
    assert!(Command::new("tar").arg("-C").arg(&rootfs.path).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
    assert_code(&podman.run(&["import", tar.to_str().unwrap(), "localhost/step7-busybox:test"]), 0);

    let limits = ["--network", "none", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];
    let mut run = vec!["run", "--rm"];
    run.extend(limits);
    run.extend(["localhost/step7-busybox:test", "sh", "-c", "echo hello from podman; exit 3"]);
    let out = podman.run(&run);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello from podman\n");

    // -t: conmon listens on a console socket, step 7 sends it the pty.
    let mut tty = vec!["run", "--rm", "--tty"];
    tty.extend(limits);
    tty.extend(["localhost/step7-busybox:test", "tty"]);
    let out = podman.run(&tty);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).trim(), "/dev/pts/0");

    let mut detached = vec!["run", "--detach", "--name", "step7-podman"];
    detached.extend(limits);
    detached.extend(["localhost/step7-busybox:test", "sleep", "300"]);
    assert_code(&podman.run(&detached), 0);
    let out = podman.run(&["exec", "step7-podman", "sh", "-c", "echo $$; cat /proc/1/comm"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "2\nsleep\n");
    // sleep as PID 1 ignores SIGTERM: podman's stop falls back to SIGKILL.
    assert_code(&podman.run(&["stop", "--time", "1", "step7-podman"]), 0);
    let out = podman.run(&["ps", "--all", "--format", "{{.Names}} {{.State}}"]);
    assert!(stdout(&out).to_lowercase().contains("step7-podman exited"), "{}", stdout(&out));
    assert_code(&podman.run(&["rm", "step7-podman"]), 0);
    assert_eq!(stdout(&podman.run(&["ps", "--all", "--quiet"])), "");
}
