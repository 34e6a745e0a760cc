//! Step 7's protections, each tested by attempting the attack from inside
//! a docker-like container: it fails with the protection, and (where that
//! is safe) succeeds with the protection turned off.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use support::{run, stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

/// `step7 run --rootfs R --network none FLAGS... -- sh -c SCRIPT`: stdout.
fn attempt(rootfs: &Rootfs, flags: &[&str], script: &str) -> String {
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let mut args =
        vec!["--root", root.to_str().unwrap(), "run", "--rootfs", rootfs.path.to_str().unwrap(), "--network", "none"];
    args.extend_from_slice(flags);
    args.extend(["--", "sh", "-c", script]);
    let out = run(BIN, &args);
    assert!(out.status.code().is_some(), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&root);
    stdout(&out)
        + &stderr(&out).lines().filter(|l| l.starts_with("step7:")).map(|l| format!("{l}\n")).collect::<String>()
}

#[test]
fn mounting_needs_a_capability_the_container_lacks() {
    let Some(rootfs) = Rootfs::new() else { return };
    let script = "mount -t tmpfs attack /mnt 2>/dev/null && echo mounted || echo refused";
    assert_eq!(attempt(&rootfs, &[], script), "refused\n");
    // With CAP_SYS_ADMIN and no seccomp filter, the same attempt works.
    assert_eq!(
        attempt(&rootfs, &["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"], script),
        "mounted\n"
    );
}

/// The profile follows the capabilities, as Docker's does: unshare(2) is
/// refused to a container without CAP_SYS_ADMIN, by the filter before the
/// capability check, and allowed to one given it on purpose.
#[test]
fn seccomp_allows_namespaces_only_with_cap_sys_admin() {
    let Some(rootfs) = Rootfs::new() else { return };
    let script = "unshare -u true 2>/dev/null && echo unshared || echo refused";
    assert_eq!(attempt(&rootfs, &[], script), "refused\n");
    assert_eq!(attempt(&rootfs, &["--cap-add", "SYS_ADMIN"], script), "unshared\n");
}

/// What Docker's default profile does to each call of the probe, for a
/// container with Docker's capabilities.
pub const DOCKER_PROFILE_ANSWERS: &str = "getpid: ok
personality(query): ok
personality(ADDR_NO_RANDOMIZE): EPERM
socket(AF_INET): ok
socket(AF_VSOCK): EPERM
keyctl: EPERM
add_key: EPERM
unshare(CLONE_NEWUTS): EPERM
clone(CLONE_NEWUTS): EPERM
clone3: ENOSYS
userfaultfd: EPERM
pidfd_getfd: EPERM
process_madvise: EPERM
set_mempolicy: EPERM
process_vm_readv: EINVAL
name_to_handle_at: EFAULT
unnamed: EPERM
getxattrat: ENOSYS
chroot: ok
";

/// Docker's default profile, attacked call by call: an allowlist refuses
/// what it does not name, answers "no such call" for what is newer than
/// the runtime, and allows some calls only with harmless arguments
/// (personality, socket). Control: unconfined, the same calls reach the
/// kernel.
#[test]
fn the_default_profile_refuses_what_dockers_refuses() {
    let Some(rootfs) = Rootfs::new() else { return };
    std::fs::copy(support::static_binary("step7_full_container/examples/syscall_probe.rs"), rootfs.path.join("probe"))
        .unwrap();
    assert_eq!(attempt(&rootfs, &[], "/probe"), DOCKER_PROFILE_ANSWERS);
    let unfiltered = attempt(&rootfs, &["--security-opt", "seccomp=unconfined"], "/probe");
    let refused =
        ["personality(ADDR_NO_RANDOMIZE): EPERM", "socket(AF_VSOCK): EPERM", "keyctl: EPERM", "unnamed: EPERM"];
    for refused in refused {
        assert!(!unfiltered.contains(refused), "without a filter: {unfiltered}");
    }
}

#[test]
fn cap_drop_takes_a_default_capability_away() {
    let Some(rootfs) = Rootfs::new() else { return };
    let script = "touch /tmp/f; chown 1234 /tmp/f 2>/dev/null && echo chowned || echo refused";
    assert_eq!(attempt(&rootfs, &[], script), "chowned\n");
    assert_eq!(attempt(&rootfs, &["--cap-drop", "CHOWN"], script), "refused\n");
    assert_eq!(
        attempt(&rootfs, &["--cap-drop", "ALL"], "grep CapEff /proc/self/status"),
        "CapEff:\t0000000000000000\n"
    );
}

#[test]
fn no_new_privs_and_the_user() {
    let Some(rootfs) = Rootfs::new() else { return };
    assert_eq!(attempt(&rootfs, &[], "grep NoNewPrivs /proc/self/status"), "NoNewPrivs:\t1\n");
    // (A seccomp filter sets no_new_privs as well: both must be off.)
    let off = ["--security-opt", "no-new-privileges=false", "--security-opt", "seccomp=unconfined"];
    assert_eq!(attempt(&rootfs, &off, "grep NoNewPrivs /proc/self/status"), "NoNewPrivs:\t0\n");
    // A non-root user cannot read root's home (mode 700).
    let script = "id -u; ls /root 2>/dev/null && echo read || echo refused";
    assert_eq!(attempt(&rootfs, &["--user", "1000:1000"], script), "1000\nrefused\n");
    assert_eq!(attempt(&rootfs, &[], script), "0\nread\n");
}

#[test]
fn rlimits_hold() {
    let Some(rootfs) = Rootfs::new() else { return };
    assert_eq!(attempt(&rootfs, &["--ulimit", "nofile=64:64"], "ulimit -n"), "64\n");
    // Raising a hard limit needs CAP_SYS_RESOURCE, which the container lacks.
    assert_eq!(
        attempt(&rootfs, &["--ulimit", "nofile=64:64"], "ulimit -n 128 2>/dev/null && echo raised || echo refused"),
        "refused\n"
    );
}

#[test]
fn masked_and_read_only_paths_hide_and_protect_the_host() {
    let Some(rootfs) = Rootfs::new() else { return };
    // /proc/timer_list tells about the host's timers; /proc/sys is the
    // kernel's settings (kernel.domainname is harmless to write: it is the
    // container's own UTS namespace's).
    let script = "echo timer_list $(head -c 16 /proc/timer_list 2>/dev/null | wc -c); \
                  echo firmware $(ls /sys/firmware 2>/dev/null | wc -l); \
                  echo attack 2>/dev/null > /proc/sys/kernel/domainname && echo written || echo refused";
    assert_eq!(attempt(&rootfs, &[], script), "timer_list 0\nfirmware 0\nrefused\n");
    let out = attempt(&rootfs, &["--security-opt", "systempaths=unconfined"], script);
    assert!(out.starts_with("timer_list 16\n") && out.ends_with("written\n"), "{out}");
}

/// CVE-2024-21626: a working directory of /proc/self/fd/N, N a descriptor
/// the runtime held, must never land on the host.
#[test]
fn no_host_file_descriptor_reaches_the_container() {
    let Some(rootfs) = Rootfs::new() else { return };
    // Only stdin, stdout, stderr (and ls's own directory) are open inside.
    assert_eq!(attempt(&rootfs, &[], "ls /proc/self/fd | wc -l"), "4\n");
    for fd in 3..12 {
        let cwd = format!("/proc/self/fd/{fd}");
        let out = attempt(&rootfs, &["-w", &cwd], "pwd; ls / | head -3");
        assert!(!out.contains("bin\nboot") && !out.contains("container_info"), "fd {fd} led outside: {out}");
    }
}

/// `--security-opt seccomp=FILE`: a profile in Docker's format, resolved
/// for the container's capabilities (here a rule that refuses mkdir to a
/// container without CAP_SYS_ADMIN); a file that is not one is refused
/// with its line and column.
#[test]
fn a_profile_file_in_dockers_format() {
    let Some(rootfs) = Rootfs::new() else { return };
    let profile = rootfs.path.with_extension("seccomp.json");
    let rule = r#"{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                   "excludes": {"caps": ["CAP_SYS_ADMIN"]}}"#;
    std::fs::write(&profile, format!(r#"{{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{rule}]}}"#)).unwrap();
    let option = format!("seccomp={}", profile.display());
    let script = "mkdir /made 2>&1 && echo made";
    assert_eq!(
        attempt(&rootfs, &["--security-opt", &option], script),
        "mkdir: can't create directory '/made': Permission denied\n"
    );
    assert_eq!(attempt(&rootfs, &["--security-opt", &option, "--cap-add", "SYS_ADMIN"], script), "made\n");
    std::fs::write(&profile, r#"{"defaultAction": "SCMP_ACT_NOPE"}"#).unwrap();
    let out = attempt(&rootfs, &["--security-opt", &option], "true");
    assert!(out.contains("line 1, column") && out.contains("seccomp.json"), "{out}");
    let _ = std::fs::remove_file(&profile);
}
