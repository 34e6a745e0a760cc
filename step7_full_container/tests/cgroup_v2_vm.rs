//! Step 7 on a real cgroup v2 kernel (these machines are hybrid): the
//! device rules compiled into a BPF program and attached to the
//! container's cgroup, the memory limit in memory.max, and nothing left;
//! and rootless containers with limits, in a cgroup delegated to their
//! user. The VM is the tests' support::vm (qemu, Debian's kernel).

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use serde_json::json;
use std::path::Path;
use support::vm;

const BIN: &str = env!("CARGO_BIN_EXE_step7");

#[test]
fn device_rules_and_limits_hold_on_a_cgroup_v2_kernel() {
    // The bundle's config.json: `step7 spec`'s defaults, with CAP_MKNOD.
    let mut config = serde_json::to_value(oci_spec::runtime::Spec::default()).unwrap();
    let caps = json!(["CAP_MKNOD"]);
    config["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    config["process"]["args"] = json!([
        "sh",
        "-c",
        "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg >/dev/null 2>&1 && echo opened || echo refused; \
         echo x > /dev/null && echo null-works; cat /sys/fs/cgroup/memory.max"
    ]);
    config["root"] = json!({"path": "rootfs", "readonly": false});
    config["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    let dir = std::env::temp_dir().join(format!("step7-vm-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/v2vm/test.sh");
    let console = vm::run(Path::new(BIN), "step7", &script, &[(dir.join("config.json"), "config.json")]);
    let _ = std::fs::remove_dir_all(&dir);
    let Some(console) = console else { return };

    assert!(console.contains("RESULT done"), "the VM did not finish:\n{console}");
    assert_eq!(vm::result(&console, "devices"), ["made", "refused", "null-works", "67108864"], "{console}");
    assert_eq!(vm::result(&console, "left"), ["0", "clean"], "cgroups left in the VM:\n{console}");
}

#[test]
fn rootless_limits_hold_in_a_delegated_cgroup() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/v2vm/rootless.sh");
    let Some(console) = vm::run(Path::new(BIN), "step7", &script, &[]) else { return };
    let result = |name: &str| vm::result(&console, name);

    assert!(console.contains("RESULT done"), "the VM did not finish:\n{console}");
    // Enforced, at the values asked for: the OOM killer ended the 64 MiB
    // allocation under 32 MiB; forks failed under 16 pids, and the
    // container's shell went on.
    assert_eq!(result("oom"), ["137", "33554432"], "{console}");
    let pids = result("pids");
    assert_eq!(pids[..2], ["0", "16"], "{console}");
    assert_ne!(pids[2], "0", "no fork failed under --pids-limit 16:\n{console}");
    assert_eq!(pids[3], "1", "{console}");
    // The user enabled them for its subtree itself; cpu it was not given.
    assert_eq!(result("controllers"), ["memory", "pids"], "{console}");
    // No limits: a cgroup all the same, for ps, pause and kill --all.
    assert_eq!(result("bg"), ["bg", "1", "1"], "{console}");
    assert_eq!(result("pause"), ["\"status\":", "\"paused\""], "{console}");
    assert_eq!(result("killed"), ["gone"], "kill --all left the container running:\n{console}");
    assert_eq!(result("failed"), ["127"], "{console}");

    let refused = |name: &str, expected: &str| {
        let message = result(name).join(" ");
        assert!(message.contains(expected), "RESULT {name}: {message}\n{console}");
    };
    refused(
        "nocpu",
        "rootless: /sys/fs/cgroup/deleg (delegated to you) was not given the cpu controller, which --cpus needs: \
         as root, echo +cpu > /sys/fs/cgroup/cgroup.subtree_control",
    );
    refused(
        "plain",
        "rootless: cgroup limits need a cgroup v2 subtree delegated to you, but no cgroup above yours \
         (/sys/fs/cgroup/plain) is yours to write",
    );
    assert_eq!(result("plain-nolimits"), ["0"], "without limits, no cgroup is needed:\n{console}");
    refused("inside", "your cgroup /sys/fs/cgroup/deleg2 holds your processes");
    // Nothing left, the failed create's included: no step7 cgroup
    // anywhere, only the user's shell's.
    assert_eq!(result("left"), ["0", "/sys/fs/cgroup/deleg/shell"], "{console}");
}
