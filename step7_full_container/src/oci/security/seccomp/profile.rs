//! The profile used when config.json has no `linux.seccomp`: Docker's
//! default, as a table of calls and the rules that build it.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall,
};

// ANCHOR: docker_blocked
/// What Docker's default profile refuses a container (one without extra
/// capabilities), written as a list to refuse rather than Docker's list to
/// allow. Names that do not exist on the host architecture are skipped.
pub(super) const DOCKER_BLOCKED: &[&str] = &[
    // The machine's clocks are not namespaced: setting one sets the host's.
    "clock_adjtime",
    "clock_settime",
    "settimeofday",
    "stime",
    // Loading code into the running kernel, or replacing the kernel.
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "init_module",
    "query_module",
    "kexec_file_load",
    "kexec_load",
    // Machine-wide state: accounting, swap, quotas, reboot, the kernel log.
    "acct",
    "lookup_dcookie",
    "nfsservctl",
    "quotactl",
    "quotactl_fd",
    "reboot",
    "swapoff",
    "swapon",
    "syslog",
    "sysfs",
    "_sysctl",
    "uselib",
    "ustat",
    "vhangup",
    // The kernel keyring is not namespaced: the host's keys are reachable.
    "add_key",
    "keyctl",
    "request_key",
    // Mounts, with the old API and the new one: a mount could cover or
    // expose the host's files.
    "mount",
    "umount",
    "umount2",
    "pivot_root",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "mount_setattr",
    "move_mount",
    "open_tree",
    // Entering or making namespaces (clone's namespace flags: below).
    "setns",
    "unshare",
    // Other processes' memory and kernel objects.
    "kcmp",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    // NUMA memory placement, which is the host's to decide.
    "get_mempolicy",
    "mbind",
    "move_pages",
    "set_mempolicy",
    // open_by_handle_at opens any file of a file system by its handle,
    // whatever the mount namespace shows: the 2014 "shocker" escape.
    "name_to_handle_at",
    "open_by_handle_at",
    // I/O ports and virtual 8086 mode: the hardware itself.
    "ioperm",
    "iopl",
    "vm86",
    "vm86old",
    // Large kernel interfaces with a long record of exploitable bugs.
    "bpf",
    "fanotify_init",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "perf_event_open",
    "userfaultfd",
];
// ANCHOR_END: docker_blocked

/// The namespace flags of clone(2): a container that can pass one of them
/// makes a namespace, which Docker refuses (as it refuses unshare).
pub(super) const CLONE_NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWCGROUP,
];

// ANCHOR: docker_default
/// The profile used when config.json has no `linux.seccomp`: everything is
/// allowed except what Docker's default profile blocks, which fails with
/// EPERM (ENOSYS for clone3).
///
/// Docker allows `personality` for a few arguments only; here it is left
/// allowed, since its other arguments weaken only the container's own
/// programs (e.g. by turning off their address randomisation).
pub fn docker_default() -> LinuxSeccomp {
    let mut syscalls =
        vec![syscall_rule(DOCKER_BLOCKED, LinuxSeccompAction::ScmpActErrno, Some(libc::EPERM as u32), Vec::new())];
    // ANCHOR: clone_rules
    // Docker allows clone when `flags & NAMESPACE_FLAGS == 0` in a profile
    // that refuses by default. This profile allows by default, so it must
    // say the opposite, `flags & NAMESPACE_FLAGS != 0`, which no single
    // comparison expresses: MASKED_EQ tests equality. But the masked value
    // is non-zero exactly when one of the flags is set, and the rules of a
    // profile are alternatives, so: one rule per flag, each "flags & FLAG ==
    // FLAG". flags is argument 0 on x86_64 and aarch64 alike.
    for flag in CLONE_NAMESPACE_FLAGS {
        let flag = flag as u64;
        syscalls.push(syscall_rule(
            &["clone"],
            LinuxSeccompAction::ScmpActErrno,
            Some(libc::EPERM as u32),
            vec![seccomp_arg(0, LinuxSeccompOperator::ScmpCmpMaskedEq, flag, Some(flag))],
        ));
    }
    // clone3 takes its flags in a struct in memory, which a filter cannot
    // read. Refusing it with ENOSYS, "no such call", makes glibc fall back
    // to clone, whose flags the rules above do see. EPERM would not: glibc
    // would report the error instead of trying clone.
    syscalls.push(syscall_rule(&["clone3"], LinuxSeccompAction::ScmpActErrno, Some(libc::ENOSYS as u32), Vec::new()));
    // ANCHOR_END: clone_rules

    let mut profile = LinuxSeccomp::default();
    profile
        .set_default_action(LinuxSeccompAction::ScmpActAllow)
        .set_architectures(Some(docker_architectures()))
        .set_syscalls(Some(syscalls));
    profile
}
// ANCHOR_END: docker_default

/// Docker's `architectures` for the host: the native ABI and the 32-bit
/// ones the same processor runs.
fn docker_architectures() -> Vec<Arch> {
    if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    }
}

pub(super) fn seccomp_arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let arg = LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
    match value_two {
        Some(value_two) => arg.value_two(value_two),
        None => arg,
    }
    .build()
    .expect("every field of LinuxSeccompArg has a default")
}

pub(super) fn syscall_rule(
    names: &[&str],
    action: LinuxSeccompAction,
    errno_ret: Option<u32>,
    args: Vec<LinuxSeccompArg>,
) -> LinuxSyscall {
    let mut rule = LinuxSyscall::default();
    rule.set_names(names.iter().map(|name| name.to_string()).collect())
        .set_action(action)
        .set_errno_ret(errno_ret)
        .set_args(if args.is_empty() { None } else { Some(args) });
    rule
}
