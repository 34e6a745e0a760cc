//! Step 7 on a real cgroup v2 kernel (these machines are hybrid): the
//! device rules compiled into a BPF program and attached to the
//! container's cgroup, the memory limit in memory.max, and nothing left.
//! The VM is the tests' support::vm (qemu, Debian's kernel).

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
    config["process"]["args"] = json!(["sh", "-c",
        "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg >/dev/null 2>&1 && echo opened || echo refused; \
         echo x > /dev/null && echo null-works; cat /sys/fs/cgroup/memory.max"]);
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
