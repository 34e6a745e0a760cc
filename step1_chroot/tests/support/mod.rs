//! Shared by the integration tests of every step (each includes this file
//! with `#[path]`): run a step's binary as root against a fresh busybox
//! rootfs, with a time limit.
//!
//! These tests run real containers, so they need root and the host's
//! static busybox. Without them a test is skipped with the reason printed,
//! except under CI (`CI` set), where it fails with that reason instead:
//! CI must never pass by running nothing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// No test container should live longer than this.
pub const TIME_LIMIT: Duration = Duration::from_secs(60);

/// The top of the checkout.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Skip (print why, return false) or, under CI, fail.
pub fn cannot_run(reason: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("this test cannot run here: {reason}");
    }
    eprintln!("SKIPPED: {reason}");
    false
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A busybox root filesystem made for one test by `mkrootfs.sh --busybox`
/// in a directory of its own; removed when dropped.
pub struct Rootfs {
    pub path: PathBuf,
}

impl Rootfs {
    /// `None` (after printing why) when the test cannot run here.
    pub fn new() -> Option<Rootfs> {
        if !is_root() {
            cannot_run("needs root (run the tests with sudo, as `make test` does)");
            return None;
        }
        become_subreaper();
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "{}-test-{}-{}",
            env!("CARGO_PKG_NAME"),
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let script = workspace().join("step1_chroot/mkrootfs.sh");
        let out = Command::new(&script).arg("--busybox").arg(&dir).output().unwrap();
        if !out.status.success() {
            cannot_run(&format!(
                "no busybox rootfs ({}): install busybox-static",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            return None;
        }
        Some(Rootfs { path: dir })
    }

    pub fn arg(&self) -> String {
        format!("--rootfs={}", self.path.display())
    }

    /// Copy the statically linked chroot escape to /escape in this rootfs.
    pub fn add_escape(&self) {
        std::fs::copy(escape_binary(), self.path.join("escape")).unwrap();
    }
}

impl Drop for Rootfs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// Orphans among this test process's descendants (a killed runtime's
/// container, a detached one) are re-parented to it instead of to PID 1,
/// so that the test can reap them with [`reap`]: a PID 1 that reaps slowly
/// would leave zombies for the host-state check to find.
pub fn become_subreaper() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    });
}

/// Wait (up to 10 s) for process `pid`, an orphan re-parented to this test
/// process, and reap it.
pub fn reap(pid: i32) {
    reap_all(&[pid]);
}

/// [`reap`] for several processes at once, in whatever order they end: a
/// namespace's init does not finish dying while another process of its
/// namespace is still to be reaped, so waiting for them one by one in the
/// wrong order waits in vain (and PIDs wrap, so their numbers say nothing
/// of which came first).
pub fn reap_all(pids: &[i32]) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut left = pids.to_vec();
    while !left.is_empty() && std::time::Instant::now() < deadline {
        // 0: still running; anything else: reaped, or not ours (ECHILD).
        left.retain(|&pid| unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0);
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The first child of process `pid` (the container process of a runtime).
pub fn first_child(pid: u32) -> i32 {
    let list = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    list.split_whitespace().next().and_then(|p| p.parse().ok()).unwrap_or(0)
}

/// step1_chroot/examples/chroot_escape.rs, compiled once per test binary,
/// statically linked so it runs in a rootfs without a C library.
pub fn escape_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| static_binary("step1_chroot/examples/chroot_escape.rs")).clone()
}

/// A program of the workspace's `examples/` (`source`, from the
/// workspace's top), compiled with rustc alone and linked statically, so
/// that it runs in a busybox rootfs. Each test binary keeps its own copy.
pub fn static_binary(source: &str) -> PathBuf {
    let name = Path::new(source).file_stem().unwrap().to_string_lossy().into_owned();
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let status = Command::new(rustc)
        .args(["-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(&out)
        .arg(workspace().join(source))
        .status()
        .expect("cannot run rustc");
    assert!(status.success(), "building {source} statically failed (needs libc6-dev)");
    out
}

/// A host file the container must not see, removed when dropped.
pub struct Marker {
    pub path: PathBuf,
    pub content: String,
}

impl Marker {
    pub fn new() -> Marker {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let content = format!("host-marker-{}-{}", std::process::id(), COUNT.fetch_add(1, Ordering::Relaxed));
        let path = PathBuf::from("/var/tmp").join(&content);
        std::fs::write(&path, &content).unwrap();
        Marker { path, content }
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Run `bin args...` to completion (stdin from /dev/null), within
/// [`TIME_LIMIT`].
pub fn run(bin: &str, args: &[&str]) -> Output {
    let child = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child)
}

/// Wait for a child started by [`start`] (or `run`), killing it at the time
/// limit.
pub fn finish(child: Child) -> Output {
    finish_within(child, TIME_LIMIT)
}

/// [`finish`] with a time limit of its own.
pub fn finish_within(child: Child, limit: Duration) -> Output {
    let pid = child.id() as i32;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait_with_output()));
    match rx.recv_timeout(limit) {
        Ok(output) => output.unwrap(),
        Err(_) => {
            unsafe { libc::kill(pid, libc::SIGKILL) };
            panic!("the process did not end within {limit:?}");
        }
    }
}

/// Start `bin args...` in the background with piped output.
pub fn start(bin: &str, args: &[&str]) -> Child {
    Command::new(bin).args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
}

/// Read `child`'s stdout until a line equal to `line`; returns the reader
/// so that the rest of the output can be read later.
pub fn wait_for_line(child: &mut Child, line: &str) -> BufReader<ChildStdout> {
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut buf = String::new();
        if reader.read_line(&mut buf).unwrap() == 0 {
            panic!("output ended before {line:?}; got {seen:?}");
        }
        seen.push_str(&buf);
        if buf.trim_end() == line {
            return reader;
        }
    }
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Assert a run ended with `code`, showing its output if not.
#[track_caller]
pub fn assert_code(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(output), stderr(output));
}

/// The bad-input behaviour every step shares: not root, no rootfs, a bad
/// flag, a command that is not there. `extra` goes before the command
/// (e.g. `--network none`, so that no bridge is created).
pub fn check_bad_input(bin: &str, rootfs: &Rootfs, extra: &[&str]) {
    // Not root: one line, why, and where rootless comes.
    let out = Command::new(bin).args([&rootfs.arg(), "true"]).uid(65534).gid(65534).output().unwrap();
    assert_code(&out, 125);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs root") && err.contains("step 7"), "{err}");

    // No rootfs: say where it looked and how to make one.
    let out = run(bin, &["--rootfs=/nonexistent-rootfs", "true"]);
    assert_code(&out, 125);
    let err = stderr(&out);
    assert!(err.contains("no rootfs at /nonexistent-rootfs") && err.contains("make rootfs"), "{err}");

    // A flag that does not exist: clap's usage error.
    let out = run(bin, &["--no-such-flag"]);
    assert_code(&out, 2);

    // A command that is not in the rootfs: the shell's 127, one clear line.
    let rootfs_arg = rootfs.arg();
    let args: Vec<&str> = [&[rootfs_arg.as_str()][..], extra, &["no-such-command"]].concat();
    let out = run(bin, &args);
    assert_code(&out, 127);
    let err = stderr(&out);
    assert!(err.contains("no-such-command: command not found"), "{err}");
}

use std::os::unix::process::CommandExt;

/// A small VM with a real cgroup v2 kernel, for the tests of code these
/// hybrid machines cannot run: qemu (software emulation) boots Debian's
/// kernel from /boot with an initramfs holding busybox, `binary` as
/// /NAME, its shared libraries, the rootfs script, `extra` files, the
/// VM's init (step6_cgroups/tests/v2vm/init) and `script` as /test.sh,
/// which prints "RESULT name values..." lines and powers off. Returns the
/// console, or `None` (after saying why) where the VM cannot run.
pub mod vm {
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    fn kernel() -> Option<PathBuf> {
        let mut kernels: Vec<PathBuf> = std::fs::read_dir("/boot")
            .ok()?
            .flatten()
            .map(|entry| entry.path())
            .filter(|path| path.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
            .collect();
        kernels.sort();
        kernels.pop()
    }

    /// Whether `program` is on PATH.
    pub fn have(program: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {program}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn run(binary: &Path, name: &str, script: &Path, extra: &[(PathBuf, &str)]) -> Option<String> {
        if !super::is_root() {
            super::cannot_run("needs root (to read the kernel in /boot)");
            return None;
        }
        let Some(kernel) = kernel() else {
            super::cannot_run("no kernel in /boot: apt-get install linux-image-amd64");
            return None;
        };
        for program in ["qemu-system-x86_64", "cpio"] {
            if !have(program) {
                super::cannot_run(&format!("{program} is missing: apt-get install qemu-system-x86 cpio"));
                return None;
            }
        }
        // Named after the script too: the VM tests of one binary run in
        // parallel.
        let script_name = script.file_stem().unwrap_or_default().to_string_lossy();
        let dir = std::env::temp_dir().join(format!("{name}-vm-{script_name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let tree = dir.join("tree");
        let copy = |from: &Path, to: &str| {
            let target = tree.join(to.trim_start_matches('/'));
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::copy(from, &target).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        };
        copy(Path::new("/bin/busybox"), "bin/busybox");
        copy(binary, name);
        copy(&super::workspace().join("step6_cgroups/tests/v2vm/init"), "init");
        copy(script, "test.sh");
        copy(&super::workspace().join("step1_chroot/mkrootfs.sh"), "mkrootfs.sh");
        for (from, to) in extra {
            copy(from, to);
        }
        // The binary's shared libraries, at the paths ldd names.
        let ldd = Command::new("ldd").arg(binary).output().unwrap();
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            if let Some(path) = line.split_whitespace().find(|word| word.starts_with('/')) {
                copy(Path::new(path), path);
            }
        }
        let archive = dir.join("initramfs.cpio");
        let pack = format!("cd {} && find . | cpio --quiet -o -H newc > {}", tree.display(), archive.display());
        assert!(Command::new("sh").arg("-c").arg(pack).status().unwrap().success(), "cpio failed");

        // Software emulation: KVM is not usable on these machines.
        let child = Command::new("qemu-system-x86_64")
            .args(["-accel", "tcg", "-m", "768", "-smp", "2", "-nographic", "-no-reboot", "-kernel"])
            .arg(&kernel)
            .arg("-initrd")
            .arg(&archive)
            .args(["-append", "console=ttyS0 panic=-1 quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = super::finish_within(child, std::time::Duration::from_secs(300));
        let _ = std::fs::remove_dir_all(&dir);
        Some(String::from_utf8_lossy(&output.stdout).replace('\r', ""))
    }

    /// The values of the line "RESULT name ..." of a VM's console.
    pub fn result(console: &str, name: &str) -> Vec<String> {
        console
            .lines()
            // A line may start with the terminal codes the firmware printed.
            .filter_map(|line| line.split_once("RESULT ").map(|(_, rest)| rest))
            .find_map(|rest| rest.strip_prefix(name).filter(|r| r.is_empty() || r.starts_with(' ')))
            .unwrap_or_else(|| panic!("no RESULT {name} in the VM's console:\n{console}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    }
}

/// What a TCP server at `address` sends before closing, waiting up to
/// 10 s for it to listen (a container starting); empty if it never does.
pub fn read_from(address: &str) -> String {
    use std::io::Read;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = std::net::TcpStream::connect(address).and_then(|mut stream| {
            let mut text = String::new();
            stream.read_to_string(&mut text).map(|_| text)
        });
        match attempt {
            Ok(text) if !text.is_empty() => return text,
            _ if std::time::Instant::now() > deadline => return String::new(),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
