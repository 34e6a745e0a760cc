//! Step 6 on a real cgroup v2 kernel.
//!
//! These machines are hybrid (cgroup v1 controllers), so the v2 code path
//! cannot run on the host itself, and the host's hierarchies must not be
//! remounted to pretend. Instead this test boots a small VM under qemu
//! (software emulation) with Debian's kernel, mounts cgroup2 there as a
//! pure v2 host would, and runs the step6 binary in it: OOM kill, pids
//! limit, CPU quota, verbose report, nothing left behind.
//!
//! Needs qemu-system-x86_64, a kernel in /boot, cpio and a static busybox
//! (`.ci/run` installs them).

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_step6");

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

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).stdout(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The initramfs: busybox, the step6 binary and its shared libraries, the
/// rootfs script and the guest's init and test script.
fn initramfs(dir: &Path) -> PathBuf {
    let tree = dir.join("tree");
    let copy = |from: &Path, to: &str| {
        let target = tree.join(to.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(from, &target).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
    };
    copy(Path::new("/bin/busybox"), "bin/busybox");
    copy(Path::new(BIN), "step6");
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    copy(&here.join("tests/v2vm/init"), "init");
    copy(&here.join("tests/v2vm/test.sh"), "test.sh");
    copy(&support::workspace().join("step1_chroot/mkrootfs.sh"), "mkrootfs.sh");
    // The binary's shared libraries, at the paths ldd names.
    let ldd = Command::new("ldd").arg(BIN).output().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line.split_whitespace().find(|word| word.starts_with('/'));
        if let Some(path) = path {
            copy(Path::new(path), path);
        }
    }
    let archive = dir.join("initramfs.cpio");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("cd {} && find . | cpio --quiet -o -H newc > {}", tree.display(), archive.display()))
        .status()
        .unwrap();
    assert!(status.success(), "cpio failed");
    archive
}

#[test]
fn step6_enforces_limits_on_a_cgroup_v2_kernel() {
    if !support::is_root() {
        support::cannot_run("needs root (to read the kernel in /boot)");
        return;
    }
    let Some(kernel) = kernel() else {
        support::cannot_run("no kernel in /boot: apt-get install linux-image-amd64");
        return;
    };
    for program in ["qemu-system-x86_64", "cpio"] {
        if !have(program) {
            support::cannot_run(&format!("{program} is missing: apt-get install qemu-system-x86 cpio"));
            return;
        }
    }
    let dir = std::env::temp_dir().join(format!("step6-v2vm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let archive = initramfs(&dir);

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
    let output = support::finish_within(child, std::time::Duration::from_secs(300));
    let _ = std::fs::remove_dir_all(&dir);
    let console = String::from_utf8_lossy(&output.stdout).replace('\r', "");
    let result = |name: &str| -> Vec<String> {
        console
            .lines()
            // A line may start with the terminal codes the firmware printed.
            .filter_map(|line| line.split_once("RESULT ").map(|(_, rest)| rest))
            .find_map(|rest| rest.strip_prefix(name).filter(|r| r.is_empty() || r.starts_with(' ')))
            .unwrap_or_else(|| panic!("no RESULT {name} in the VM's console:\n{console}"))
            .split_whitespace()
            .map(String::from)
            .collect()
    };

    assert!(console.contains("RESULT done"), "the VM did not finish its tests:\n{console}");
    let controllers = result("controllers");
    for controller in ["memory", "cpu", "pids"] {
        assert!(controllers.contains(&controller.to_string()), "{controllers:?}");
    }
    assert_eq!(result("setup").join(" "), "cgroups: cgroup v2 (unified)");
    assert_eq!(result("oom").join(" "), "137 killed: out of memory (limit 32 MiB)");
    let pids = result("pids");
    assert_eq!(pids[0], "0", "the container did not survive its fork loop");
    assert_ne!(pids[1], "0", "no fork failed under --pids-limit");
    assert_eq!(pids[2], "1");
    assert_eq!(result("cpumax").join(" "), "50000 100000");
    let cpu = result("cpu");
    assert_eq!(cpu[2], "143", "SIGTERM to the runtime should end the container with 128+15");
    let share = cpu[0].parse::<f64>().unwrap() / cpu[1].parse::<f64>().unwrap();
    assert!((0.2..=0.65).contains(&share), "the container used {share:.2} CPUs under --cpus 0.5");
    assert_eq!(result("verbose"), ["1"]);
    assert_eq!(result("left"), ["0", "clean"], "cgroups left in the VM:\n{console}");
}
