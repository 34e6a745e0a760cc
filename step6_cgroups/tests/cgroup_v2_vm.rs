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
//! (`.ci/run` installs them). The VM itself is the tests' support::vm.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::path::Path;
use support::vm;

const BIN: &str = env!("CARGO_BIN_EXE_step6");

#[test]
fn step6_enforces_limits_on_a_cgroup_v2_kernel() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/v2vm/test.sh");
    let Some(console) = vm::run(Path::new(BIN), "step6", &script, &[]) else { return };
    let result = |name: &str| vm::result(&console, name);

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
