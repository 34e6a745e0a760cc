//! The default profile of a docker-like container: Docker's, written here
//! as a table from its facts (moby's profiles/seccomp/default.json).
//!
//! It is an *allowlist*: a call the table does not name fails with EPERM.
//! So a system call the kernel adds next year is refused until someone has
//! looked at it, where a list of refused calls would let it through. The
//! table allows what ordinary programs use, and allows the rest only to a
//! container that holds the capability the call needs anyway (`mount` to
//! one given CAP_SYS_ADMIN), or only with harmless arguments (`personality`,
//! `socket`, `clone`).

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompOperator};

use super::docker::{ArchMap, Conditions, Profile, Rule};

// ANCHOR: allowed
/// What every container may call, by kind. (Names a host does not have,
/// such as the 32-bit `chown32` on x86_64, are skipped when compiling.)
pub(super) const ALLOWED: &[&[&str]] = &[
    // Files and directories: their data, names, owners, modes, xattrs.
    &[
        "access",
        "chdir",
        "chmod",
        "chown",
        "chown32",
        "close",
        "close_range",
        "copy_file_range",
        "creat",
        "dup",
        "dup2",
        "dup3",
        "faccessat",
        "faccessat2",
        "fadvise64",
        "fadvise64_64",
        "fallocate",
        "fchdir",
        "fchmod",
        "fchmodat",
        "fchown",
        "fchown32",
        "fchownat",
        "fcntl",
        "fcntl64",
        "fdatasync",
        "fgetxattr",
        "flistxattr",
        "flock",
        "fremovexattr",
        "fsetxattr",
        "fstat",
        "fstat64",
        "fstatat64",
        "fstatfs",
        "fstatfs64",
        "fsync",
        "ftruncate",
        "ftruncate64",
        "futimesat",
        "getcwd",
        "getdents",
        "getdents64",
        "getxattr",
        "lchown",
        "lchown32",
        "lgetxattr",
        "link",
        "linkat",
        "listxattr",
        "llistxattr",
        "_llseek",
        "lremovexattr",
        "lseek",
        "lsetxattr",
        "lstat",
        "lstat64",
        "mkdir",
        "mkdirat",
        "mknod",
        "mknodat",
        "name_to_handle_at",
        "newfstatat",
        "open",
        "openat",
        "openat2",
        "pread64",
        "preadv",
        "preadv2",
        "pwrite64",
        "pwritev",
        "pwritev2",
        "read",
        "readahead",
        "readlink",
        "readlinkat",
        "readv",
        "removexattr",
        "rename",
        "renameat",
        "renameat2",
        "rmdir",
        "sendfile",
        "sendfile64",
        "setxattr",
        "splice",
        "stat",
        "stat64",
        "statfs",
        "statfs64",
        "statx",
        "symlink",
        "symlinkat",
        "sync",
        "sync_file_range",
        "syncfs",
        "tee",
        "truncate",
        "truncate64",
        "umask",
        "unlink",
        "unlinkat",
        "utime",
        "utimensat",
        "utimensat_time64",
        "utimes",
        "vmsplice",
        "write",
        "writev",
    ],
    // Watching files.
    &["fanotify_mark", "inotify_add_watch", "inotify_init", "inotify_init1", "inotify_rm_watch"],
    // Devices, terminals and sockets (what an ioctl may do is the driver's
    // to check), and the kernel's random numbers.
    &["ioctl", "getrandom"],
    // Memory.
    &[
        "brk",
        "madvise",
        "membarrier",
        "memfd_create",
        "memfd_secret",
        "mincore",
        "mlock",
        "mlock2",
        "mlockall",
        "mmap",
        "mmap2",
        "mprotect",
        "mremap",
        "msync",
        "munlock",
        "munlockall",
        "munmap",
        "pkey_alloc",
        "pkey_free",
        "pkey_mprotect",
        "process_mrelease",
        "remap_file_pages",
    ],
    // Processes and threads, their ids, limits and credentials. (Changing
    // ids needs CAP_SETUID or CAP_SETGID: the kernel still checks.)
    &[
        "capget",
        "capset",
        "execve",
        "execveat",
        "exit",
        "exit_group",
        "fork",
        "vfork",
        "getcpu",
        "getegid",
        "getegid32",
        "geteuid",
        "geteuid32",
        "getgid",
        "getgid32",
        "getgroups",
        "getgroups32",
        "getpgid",
        "getpgrp",
        "getpid",
        "getppid",
        "getpriority",
        "getresgid",
        "getresgid32",
        "getresuid",
        "getresuid32",
        "getrlimit",
        "get_robust_list",
        "getrusage",
        "getsid",
        "gettid",
        "get_thread_area",
        "getuid",
        "getuid32",
        "ioprio_get",
        "ioprio_set",
        "landlock_add_rule",
        "landlock_create_ruleset",
        "landlock_restrict_self",
        "pidfd_open",
        "pidfd_send_signal",
        "prctl",
        "prlimit64",
        "rseq",
        "seccomp",
        "setfsgid",
        "setfsgid32",
        "setfsuid",
        "setfsuid32",
        "setgid",
        "setgid32",
        "setgroups",
        "setgroups32",
        "setpgid",
        "setpriority",
        "setregid",
        "setregid32",
        "setresgid",
        "setresgid32",
        "setresuid",
        "setresuid32",
        "setreuid",
        "setreuid32",
        "setrlimit",
        "set_robust_list",
        "setsid",
        "set_thread_area",
        "set_tid_address",
        "setuid",
        "setuid32",
        "sysinfo",
        "times",
        "ugetrlimit",
        "uname",
        "wait4",
        "waitid",
        "waitpid",
    ],
    // Signals.
    &[
        "kill",
        "pause",
        "restart_syscall",
        "rt_sigaction",
        "rt_sigpending",
        "rt_sigprocmask",
        "rt_sigqueueinfo",
        "rt_sigreturn",
        "rt_sigsuspend",
        "rt_sigtimedwait",
        "rt_sigtimedwait_time64",
        "rt_tgsigqueueinfo",
        "sigaltstack",
        "signalfd",
        "signalfd4",
        "sigprocmask",
        "sigreturn",
        "tgkill",
        "tkill",
    ],
    // Clocks and timers, read (adjtimex and clock_adjtime only set the
    // clock with CAP_SYS_TIME, which the kernel checks).
    &[
        "adjtimex",
        "alarm",
        "clock_adjtime",
        "clock_adjtime64",
        "clock_getres",
        "clock_getres_time64",
        "clock_gettime",
        "clock_gettime64",
        "clock_nanosleep",
        "clock_nanosleep_time64",
        "getitimer",
        "gettimeofday",
        "nanosleep",
        "setitimer",
        "time",
        "timer_create",
        "timer_delete",
        "timer_getoverrun",
        "timer_gettime",
        "timer_gettime64",
        "timer_settime",
        "timer_settime64",
        "timerfd_create",
        "timerfd_gettime",
        "timerfd_gettime64",
        "timerfd_settime",
        "timerfd_settime64",
    ],
    // Waiting for events, and futexes (threads).
    &[
        "epoll_create",
        "epoll_create1",
        "epoll_ctl",
        "epoll_ctl_old",
        "epoll_pwait",
        "epoll_pwait2",
        "epoll_wait",
        "epoll_wait_old",
        "eventfd",
        "eventfd2",
        "futex",
        "futex_time64",
        "futex_waitv",
        "_newselect",
        "poll",
        "ppoll",
        "ppoll_time64",
        "pselect6",
        "pselect6_time64",
        "select",
    ],
    // Asynchronous I/O.
    &[
        "io_cancel",
        "io_destroy",
        "io_getevents",
        "io_pgetevents",
        "io_pgetevents_time64",
        "io_setup",
        "io_submit",
        "io_uring_enter",
        "io_uring_register",
        "io_uring_setup",
    ],
    // Sockets, once made (`socket` itself: below).
    &[
        "accept",
        "accept4",
        "bind",
        "connect",
        "getpeername",
        "getsockname",
        "getsockopt",
        "listen",
        "recv",
        "recvfrom",
        "recvmmsg",
        "recvmmsg_time64",
        "recvmsg",
        "send",
        "sendmmsg",
        "sendmsg",
        "sendto",
        "setsockopt",
        "shutdown",
        "socketcall",
        "socketpair",
    ],
    // Pipes and System V / POSIX IPC (of the container's IPC namespace).
    &[
        "ipc",
        "mq_getsetattr",
        "mq_notify",
        "mq_open",
        "mq_timedreceive",
        "mq_timedreceive_time64",
        "mq_timedsend",
        "mq_timedsend_time64",
        "mq_unlink",
        "msgctl",
        "msgget",
        "msgrcv",
        "msgsnd",
        "pipe",
        "pipe2",
        "semctl",
        "semget",
        "semop",
        "semtimedop",
        "semtimedop_time64",
        "shmat",
        "shmctl",
        "shmdt",
        "shmget",
    ],
    // Scheduling.
    &[
        "sched_getaffinity",
        "sched_getattr",
        "sched_getparam",
        "sched_get_priority_max",
        "sched_get_priority_min",
        "sched_getscheduler",
        "sched_rr_get_interval",
        "sched_rr_get_interval_time64",
        "sched_setaffinity",
        "sched_setattr",
        "sched_setparam",
        "sched_setscheduler",
        "sched_yield",
    ],
];
// ANCHOR_END: allowed

// ANCHOR: with_capability
/// Calls allowed only to a container that holds a capability: the kernel
/// would refuse them without it anyway, so the filter refuses them first
/// (fewer chances for a bug behind the call), and allows them when the
/// container was given the capability on purpose.
const WITH_CAPABILITY: &[(&str, &[&str])] = &[
    // Mounts, namespaces, names, BPF, perf, the kernel log: the many
    // powers of CAP_SYS_ADMIN.
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    // open_by_handle_at opens any file of a file system by its handle,
    // whatever the mount namespace shows: the 2014 "shocker" escape.
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    // Other processes' memory and kernel objects.
    ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv", "process_vm_writev", "ptrace"]),
    // I/O ports: the hardware itself.
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    // The machine's clocks are not namespaced: setting one sets the host's.
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    // NUMA memory placement.
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];
// ANCHOR_END: with_capability

/// Calls of one architecture only (Go's names, as Docker's profile).
const ARCH_SPECIFIC: &[(&[&str], &[&str])] = &[
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (
        &["arm", "arm64"],
        &["arm_fadvise64_64", "arm_sync_file_range", "sync_file_range2", "breakpoint", "cacheflush", "set_tls"],
    ),
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (&["s390", "s390x"], &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// personality(2) only for these: 0 (Linux), 8 (PER_LINUX32), 0x20000
/// (UNAME26), 0x20008, and 0xffffffff (which only asks). Not, say,
/// ADDR_NO_RANDOMIZE, which turns off address space randomisation for
/// what the process runs next: a gift to an exploit.
const PERSONALITIES: [u64; 5] = [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff];

/// AF_VSOCK: sockets to the hypervisor, or to other virtual machines,
/// which the network namespace does not cover.
const AF_VSOCK: u64 = 40;

// ANCHOR: clone_flags
/// The namespace flags of clone(2) (CLONE_NEWNS, UTS, IPC, USER, PID,
/// NET, CGROUP): a clone with one of them makes a namespace, as unshare(2)
/// does, which only a container with CAP_SYS_ADMIN may.
pub(super) const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
// ANCHOR_END: clone_flags

// ANCHOR: docker_profile
/// Docker's default profile: refuse with EPERM what the tables do not
/// allow. Resolved for one container with [`Profile::resolve`].
pub fn docker_profile() -> Profile {
    let mut rules = vec![allow(ALLOWED.concat())];
    // ptrace and reading other processes' memory: allowed from Linux 4.8,
    // which stopped ptrace from escaping seccomp (a traced process's
    // syscalls are re-checked after the tracer changes them).
    rules.push(Rule { includes: kernel("4.8"), ..allow(vec!["process_vm_readv", "process_vm_writev", "ptrace"]) });
    rules.push(Rule {
        args: Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK, None)]),
        ..allow(vec!["socket"])
    });
    for value in PERSONALITIES {
        rules.push(Rule {
            args: Some(vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, value, None)]),
            ..allow(vec!["personality"])
        });
    }
    for (arches, names) in ARCH_SPECIFIC {
        rules.push(Rule { includes: arch(arches), ..allow(names.to_vec()) });
    }
    for (cap, names) in WITH_CAPABILITY {
        rules.push(Rule { includes: capability(cap), ..allow(names.to_vec()) });
    }
    // Without CAP_SYS_ADMIN: clone, but with no namespace flag (flags is
    // argument 0, but 1 on s390); clone3 refused with ENOSYS, "no such
    // call": its flags are in a struct in memory, which a filter cannot
    // read, and glibc then falls back to clone. EPERM would not make it.
    let masked = |index| arg(index, LinuxSeccompOperator::ScmpCmpMaskedEq, CLONE_NAMESPACE_FLAGS, Some(0));
    rules.push(Rule {
        args: Some(vec![masked(0)]),
        excludes: Conditions { arches: vec!["s390".into(), "s390x".into()], ..capability("CAP_SYS_ADMIN") },
        ..allow(vec!["clone"])
    });
    rules.push(Rule {
        args: Some(vec![masked(1)]),
        includes: arch(&["s390", "s390x"]),
        excludes: capability("CAP_SYS_ADMIN"),
        ..allow(vec!["clone"])
    });
    rules.push(Rule {
        action: LinuxSeccompAction::ScmpActErrno,
        errno_ret: Some(libc::ENOSYS as u32),
        excludes: capability("CAP_SYS_ADMIN"),
        ..allow(vec!["clone3"])
    });
    Profile {
        default_action: LinuxSeccompAction::ScmpActErrno,
        default_errno_ret: Some(libc::EPERM as u32),
        architectures: Vec::new(),
        arch_map: vec![
            ArchMap {
                architecture: Arch::ScmpArchX86_64,
                sub_architectures: Some(vec![Arch::ScmpArchX86, Arch::ScmpArchX32]),
            },
            ArchMap { architecture: Arch::ScmpArchAarch64, sub_architectures: Some(vec![Arch::ScmpArchArm]) },
        ],
        syscalls: rules,
        flags: Vec::new(),
        listener_path: None,
        listener_metadata: None,
    }
}
// ANCHOR_END: docker_profile

/// A rule that allows `names`, always.
fn allow(names: Vec<&str>) -> Rule {
    Rule {
        names: names.into_iter().map(String::from).collect(),
        name: None,
        action: LinuxSeccompAction::ScmpActAllow,
        errno_ret: None,
        args: None,
        includes: Conditions::default(),
        excludes: Conditions::default(),
        comment: None,
    }
}

fn capability(cap: &str) -> Conditions {
    Conditions { caps: vec![cap.to_string()], ..Conditions::default() }
}

fn arch(arches: &[&str]) -> Conditions {
    Conditions { arches: arches.iter().map(|a| a.to_string()).collect(), ..Conditions::default() }
}

fn kernel(version: &str) -> Conditions {
    Conditions { min_kernel: Some(version.to_string()), ..Conditions::default() }
}

/// One condition on an argument register.
pub(super) fn arg(index: usize, op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let arg = LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
    match value_two {
        Some(value_two) => arg.value_two(value_two),
        None => arg,
    }
    .build()
    .expect("every field of LinuxSeccompArg has a default")
}
