//! The compiler against hand-written expectations, and filters installed
//! in a forked child to see what the kernel does with them.

use super::profile::{arg as seccomp_arg, CLONE_NAMESPACE_FLAGS};
use super::*;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::LinuxSyscall;
use LinuxSeccompAction::*;

fn syscall_rule(
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

/// Some of Docker's capabilities, none that opens a call of the profile
/// but CAP_SYS_CHROOT's chroot.
fn docker_caps() -> Vec<String> {
    ["CAP_CHOWN", "CAP_SETUID", "CAP_SYS_CHROOT", "CAP_NET_RAW"].map(String::from).to_vec()
}

fn profile(default: LinuxSeccompAction, syscalls: Vec<LinuxSyscall>) -> LinuxSeccomp {
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(default).set_syscalls(Some(syscalls));
    profile
}

fn arg(index: usize, op: LinuxSeccompOperator, value: u64) -> LinuxSeccompArg {
    seccomp_arg(index, op, value, None)
}

fn cond(index: u8, op: SeccompCmpOp, value: u64) -> SeccompCondition {
    SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value).unwrap()
}

/// The filters built, without the x32 guard (checked to come first) and
/// the guard for calls newer than the runtime (checked to come last when
/// the default is an errno).
fn compiled(profile: &LinuxSeccomp) -> Vec<Filter> {
    let mut filters = compile(profile).unwrap();
    if cfg!(target_arch = "x86_64") && !filters.is_empty() {
        let guard = filters.remove(0);
        assert_eq!(guard.scope, Some("x32 syscalls"), "first filter: {guard}");
    }
    if profile.default_action() == ScmpActErrno {
        let guard = filters.pop().unwrap();
        assert_eq!(guard.scope, Some("calls newer than this runtime"), "last filter: {guard}");
    }
    filters
}

/// (match action, mismatch action, syscall numbers) of each filter.
fn summary(filters: &[Filter]) -> Vec<(SeccompAction, SeccompAction, Vec<i64>)> {
    filters
        .iter()
        .map(|f| {
            let numbers = f.rules.keys().copied().collect();
            (f.match_action.clone(), f.mismatch_action.clone(), numbers)
        })
        .collect()
}

fn sorted(mut numbers: Vec<i64>) -> Vec<i64> {
    numbers.sort();
    numbers
}

#[test]
fn one_filter_per_action_then_the_default_filter() {
    let p = profile(
        ScmpActErrno,
        vec![
            syscall_rule(&["getpid", "read"], ScmpActAllow, None, vec![]),
            syscall_rule(&["keyctl"], ScmpActErrno, Some(38), vec![]),
            syscall_rule(&["ptrace"], ScmpActKillProcess, None, vec![]),
            syscall_rule(&["add_key"], ScmpActErrno, Some(38), vec![]),
            syscall_rule(&["personality"], ScmpActErrno, None, vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, 0)]),
        ],
    );
    let filters = compiled(&p);
    use libc::{SYS_add_key, SYS_getpid, SYS_keyctl, SYS_personality, SYS_ptrace, SYS_read};
    assert_eq!(
        summary(&filters),
        vec![
            // Groups in reverse order of their first rule.
            (SeccompAction::Errno(1), SeccompAction::Allow, vec![SYS_personality]),
            (SeccompAction::KillProcess, SeccompAction::Allow, vec![SYS_ptrace]),
            (SeccompAction::Errno(38), SeccompAction::Allow, sorted(vec![SYS_keyctl, SYS_add_key])),
            // Last: allow what any rule names, else the default action.
            (
                SeccompAction::Allow,
                SeccompAction::Errno(1),
                sorted(vec![SYS_getpid, SYS_read, SYS_keyctl, SYS_ptrace, SYS_add_key, SYS_personality])
            ),
        ]
    );
    let personality = vec![SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, 0)]).unwrap()];
    assert_eq!(filters[0].rules[&SYS_personality], personality);
    assert_eq!(filters[3].rules[&SYS_personality], personality);
    assert!(filters[3].rules[&SYS_getpid].is_empty());
}

#[test]
fn docker_default_refuses_by_default() {
    let filters = compiled(&docker_default(&docker_caps()));
    let actions: Vec<_> = summary(&filters).into_iter().map(|(matched, mismatched, _)| (matched, mismatched)).collect();
    // clone3's ENOSYS, then the default: allowed if named, else EPERM.
    assert_eq!(
        actions,
        vec![(SeccompAction::Errno(38), SeccompAction::Allow), (SeccompAction::Allow, SeccompAction::Errno(1))]
    );
    assert!(filters[0].rules[&libc::SYS_clone3].is_empty());
    let allowed = &filters[1].rules;
    assert!(allowed[&libc::SYS_getpid].is_empty(), "getpid, unconditionally");
    for refused in [libc::SYS_keyctl, libc::SYS_unshare, libc::SYS_mount, libc::SYS_bpf, libc::SYS_pidfd_getfd] {
        assert!(!allowed.contains_key(&refused), "{refused} is allowed");
    }
    let personality: Vec<_> = [0u64, 8, 0x20000, 0x20008, 0xffff_ffff]
        .iter()
        .map(|&value| SeccompRule::new(vec![cond(0, SeccompCmpOp::Eq, value)]).unwrap())
        .collect();
    assert_eq!(allowed[&libc::SYS_personality], personality);
    assert_eq!(allowed[&libc::SYS_socket], vec![SeccompRule::new(vec![cond(0, SeccompCmpOp::Ne, 40)]).unwrap()]);
    let clone = SeccompRule::new(vec![cond(0, SeccompCmpOp::MaskedEq(CLONE_NAMESPACE_FLAGS), 0)]).unwrap();
    assert_eq!(allowed[&libc::SYS_clone], vec![clone]);
}

#[test]
fn capabilities_open_their_calls() {
    let mut caps = docker_caps();
    caps.push("CAP_SYS_ADMIN".into());
    let filters = compiled(&docker_default(&caps));
    // No ENOSYS for clone3, and no conditions on clone.
    assert_eq!(filters.len(), 1);
    let allowed = &filters[0].rules;
    for call in [libc::SYS_mount, libc::SYS_unshare, libc::SYS_setns, libc::SYS_clone3, libc::SYS_clone] {
        assert!(allowed[&call].is_empty(), "{call} should be allowed without conditions");
    }
    assert!(!allowed.contains_key(&libc::SYS_reboot), "CAP_SYS_BOOT was not given");
    let profile = profile::docker_profile();
    let old_kernel = Container { capabilities: &caps, arch: "amd64", kernel: (4, 4) };
    let names: Vec<String> =
        profile.resolve(&old_kernel).unwrap().syscalls().iter().flatten().flat_map(|s| s.names().clone()).collect();
    assert!(!names.contains(&"process_vm_readv".to_string()), "ptrace's rule is for kernels from 4.8");
    assert!(names.contains(&"arch_prctl".to_string()));
    let arm = Container { capabilities: &caps, arch: "arm64", kernel: (6, 1) };
    let names: Vec<String> =
        profile.resolve(&arm).unwrap().syscalls().iter().flatten().flat_map(|s| s.names().clone()).collect();
    assert!(!names.contains(&"arch_prctl".to_string()) && names.contains(&"set_tls".to_string()));
}

/// Every call the table names exists on this host, but for those of
/// other ABIs (the 32-bit `chown32`, `socketcall`, ...): a name the
/// syscall table lacks would be refused by mistake.
#[cfg(target_arch = "x86_64")]
#[test]
fn every_allowed_call_is_known_on_x86_64() {
    let absent_on_x86_64 = [
        "chown32",
        "fadvise64_64",
        "fcntl64",
        "fchown32",
        "fstat64",
        "fstatat64",
        "fstatfs64",
        "ftruncate64",
        "lchown32",
        "_llseek",
        "lstat64",
        "mmap2",
        "sendfile64",
        "stat64",
        "statfs64",
        "truncate64",
        "utimensat_time64",
        "getegid32",
        "geteuid32",
        "getgid32",
        "getgroups32",
        "getresgid32",
        "getresuid32",
        "getuid32",
        "setfsgid32",
        "setfsuid32",
        "setgid32",
        "setgroups32",
        "setregid32",
        "setresgid32",
        "setresuid32",
        "setreuid32",
        "setuid32",
        "ugetrlimit",
        "waitpid",
        "rt_sigtimedwait_time64",
        "sigprocmask",
        "sigreturn",
        "signalfd",
        "clock_adjtime64",
        "clock_getres_time64",
        "clock_gettime64",
        "clock_nanosleep_time64",
        "timer_gettime64",
        "timer_settime64",
        "timerfd_gettime64",
        "timerfd_settime64",
        "futex_time64",
        "_newselect",
        "ppoll_time64",
        "pselect6_time64",
        "io_pgetevents_time64",
        "recv",
        "recvmmsg_time64",
        "send",
        "socketcall",
        "ipc",
        "mq_timedreceive_time64",
        "mq_timedsend_time64",
        "semtimedop_time64",
        "sched_rr_get_interval_time64",
        "epoll_ctl_old",
        "epoll_wait_old",
        "get_thread_area",
        "set_thread_area",
    ];
    let missing: Vec<&str> = profile::ALLOWED
        .concat()
        .into_iter()
        .filter(|name| syscall_number(name).is_none() && !absent_on_x86_64.contains(name))
        .collect();
    assert!(missing.is_empty(), "not in the syscall table: {missing:?}");
}

#[test]
fn conditions_on_one_argument_are_alternatives_as_in_runc() {
    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpGt, ScmpCmpMaskedEq};
    let masked = seccomp_arg(2, ScmpCmpMaskedEq, 0xff, Some(0x10));
    let p = profile(
        ScmpActAllow,
        vec![
            syscall_rule(&["read"], ScmpActErrno, None, vec![arg(0, ScmpCmpEq, 3), arg(0, ScmpCmpEq, 4)]),
            syscall_rule(&["write"], ScmpActErrno, None, vec![arg(0, ScmpCmpGt, 2), masked]),
        ],
    );
    let filters = compiled(&p);
    let rule = |conditions| SeccompRule::new(conditions).unwrap();
    assert_eq!(
        filters[0].rules[&libc::SYS_read],
        vec![rule(vec![cond(0, SeccompCmpOp::Eq, 3)]), rule(vec![cond(0, SeccompCmpOp::Eq, 4)]),]
    );
    assert_eq!(
        filters[0].rules[&libc::SYS_write],
        vec![rule(vec![cond(0, SeccompCmpOp::Gt, 2), cond(2, SeccompCmpOp::MaskedEq(0xff), 0x10),])]
    );
}

#[test]
fn an_unconditional_rule_absorbs_conditional_ones() {
    let p = profile(
        ScmpActAllow,
        vec![
            syscall_rule(&["read"], ScmpActErrno, None, vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, 3)]),
            syscall_rule(&["read"], ScmpActErrno, None, vec![]),
        ],
    );
    assert!(compiled(&p)[0].rules[&libc::SYS_read].is_empty());
}

#[test]
fn unknown_syscall_names_are_skipped() {
    let p = profile(
        ScmpActErrno,
        vec![syscall_rule(&["getpid", "no_such_syscall", "s390_runtime_instr", ""], ScmpActAllow, None, vec![])],
    );
    assert_eq!(summary(&compiled(&p)), vec![(SeccompAction::Allow, SeccompAction::Errno(1), vec![libc::SYS_getpid])]);
    assert_eq!(syscall_number("SYS_getpid"), None);
}

#[test]
fn an_allow_everything_profile_installs_nothing() {
    assert!(compile(&profile(ScmpActAllow, vec![])).unwrap().is_empty());
    let p = profile(ScmpActAllow, vec![syscall_rule(&["getpid"], ScmpActAllow, None, vec![])]);
    assert!(compile(&p).unwrap().is_empty());
}

#[test]
fn notify_is_rejected_with_the_field_named() {
    let p = profile(
        ScmpActAllow,
        vec![
            syscall_rule(&["getpid"], ScmpActErrno, None, vec![]),
            syscall_rule(&["keyctl"], ScmpActNotify, None, vec![]),
        ],
    );
    let err = compile(&p).err().unwrap().to_string();
    assert!(err.starts_with("linux.seccomp.syscalls[1].action: SCMP_ACT_NOTIFY is not supported"), "{err}");

    let err = compile(&profile(ScmpActNotify, vec![])).err().unwrap().to_string();
    assert!(err.starts_with("linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported"), "{err}");
}

#[test]
fn bad_argument_index_and_errno_are_rejected_with_the_field_named() {
    let p = profile(
        ScmpActAllow,
        vec![syscall_rule(
            &["read"],
            ScmpActErrno,
            None,
            vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, 0), arg(6, LinuxSeccompOperator::ScmpCmpEq, 0)],
        )],
    );
    let err = compile(&p).err().unwrap().to_string();
    assert!(err.starts_with("linux.seccomp.syscalls[0].args[1].index: 6 is not an argument"), "{err}");

    let p = profile(ScmpActAllow, vec![syscall_rule(&["read"], ScmpActErrno, Some(70000), vec![])]);
    let err = compile(&p).err().unwrap().to_string();
    assert!(err.starts_with("linux.seccomp.syscalls[0].errnoRet: 70000 does not fit"), "{err}");
}

#[test]
fn actions_map_to_seccompiler_actions() {
    let map = |a, errno| action(a, errno, "f", "e").unwrap();
    assert_eq!(map(ScmpActErrno, None), SeccompAction::Errno(1));
    assert_eq!(map(ScmpActErrno, Some(13)), SeccompAction::Errno(13));
    assert_eq!(map(ScmpActTrace, Some(7)), SeccompAction::Trace(7));
    assert_eq!(map(ScmpActKill, None), SeccompAction::KillThread);
    assert_eq!(map(ScmpActKillThread, None), SeccompAction::KillThread);
    assert_eq!(map(ScmpActKillProcess, None), SeccompAction::KillProcess);
    assert_eq!(map(ScmpActTrap, None), SeccompAction::Trap);
    assert_eq!(map(ScmpActLog, None), SeccompAction::Log);
    assert_eq!(map(ScmpActAllow, Some(5)), SeccompAction::Allow);
}

#[test]
fn docker_default_serialises_to_the_oci_schema() {
    let json = serde_json::to_value(docker_default(&docker_caps())).unwrap();
    assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(json["defaultErrnoRet"], libc::EPERM);
    #[cfg(target_arch = "x86_64")]
    assert_eq!(json["architectures"], serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
    let syscalls = json["syscalls"].as_array().unwrap();
    assert_eq!(syscalls[0]["action"], "SCMP_ACT_ALLOW");
    assert!(syscalls[0]["names"].as_array().unwrap().contains(&"read".into()));
    let clone3 = syscalls.last().unwrap();
    assert_eq!(clone3["names"], serde_json::json!(["clone3"]));
    assert_eq!(clone3["errnoRet"], libc::ENOSYS);
    let back: LinuxSeccomp = serde_json::from_value(json).unwrap();
    assert_eq!(back, docker_default(&docker_caps()));
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// Fork; in the child only, set no_new_privs, install `filters` and
/// return `check()`'s bits as the exit code. The bits set, or why the
/// child did not exit.
///
/// The filters are compiled by the caller, before the fork: the test
/// harness has threads, and the child of a threaded process must not
/// allocate (another thread may have held malloc's lock at the fork).
fn in_filtered_child(filters: &[Filter], check: fn() -> i32) -> Result<i32, String> {
    // SAFETY: the child makes system calls only, and leaves by _exit.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            let code = if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 || apply(filters).is_err()
            {
                1 << 7
            } else {
                check()
            };
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).unwrap() {
            WaitStatus::Exited(_, code) => Ok(code),
            other => Err(format!("the filtered child ended with {other:?}")),
        },
    }
}

const KEYCTL: i32 = 1 << 0;
const UNSHARE: i32 = 1 << 1;
const GETPID: i32 = 1 << 2;
const CLONE_NEWUTS: i32 = 1 << 3;
const CLONE_PLAIN: i32 = 1 << 4;
const CLONE3: i32 = 1 << 5;
const PERSONALITY: i32 = 1 << 6;
const VSOCK: i32 = 1 << 8;
const UNNAMED: i32 = 1 << 9;
const FUTURE: i32 = 1 << 10;

/// The calls, under docker_default(); a bit for each that went wrong.
fn docker_default_checks() -> i32 {
    let mut wrong = 0;
    let r = unsafe { libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0) };
    if r != -1 || errno() != libc::EPERM {
        wrong |= KEYCTL;
    }
    if unsafe { libc::unshare(libc::CLONE_NEWUTS) } != -1 || errno() != libc::EPERM {
        wrong |= UNSHARE;
    }
    if unsafe { libc::getpid() } <= 0 {
        wrong |= GETPID;
    }
    // A raw clone without a new stack returns twice, like fork.
    let clone = |flags: libc::c_int| -> (libc::c_long, i32) {
        let r = unsafe { libc::syscall(libc::SYS_clone, flags as libc::c_ulong, 0, 0, 0, 0) };
        let e = errno();
        if r == 0 {
            unsafe { libc::_exit(0) }
        }
        if r > 0 {
            unsafe { libc::waitpid(r as libc::pid_t, std::ptr::null_mut(), 0) };
        }
        (r, e)
    };
    let (r, e) = clone(libc::CLONE_NEWUTS | libc::SIGCHLD);
    if r != -1 || e != libc::EPERM {
        wrong |= CLONE_NEWUTS;
    }
    if clone(libc::SIGCHLD).0 <= 0 {
        wrong |= CLONE_PLAIN;
    }
    // Unfiltered, a null struct of size 0 is EINVAL.
    let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    if r != -1 || errno() != libc::ENOSYS {
        wrong |= CLONE3;
    }
    // personality: asking (0xffffffff) is allowed, ADDR_NO_RANDOMIZE is not.
    let asked = unsafe { libc::personality(0xffff_ffff) };
    if asked == -1 || unsafe { libc::personality(0x0040000) } != -1 || errno() != libc::EPERM {
        wrong |= PERSONALITY;
    }
    if unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM, 0) } != -1 || errno() != libc::EPERM {
        wrong |= VSOCK;
    }
    // A call the table does not name (userfaultfd) is refused, not made.
    if unsafe { libc::syscall(libc::SYS_userfaultfd, 0) } != -1 || errno() != libc::EPERM {
        wrong |= UNNAMED;
    }
    // A call numbered above every known one: "no such call".
    if unsafe { libc::syscall(super::syscalls::highest_known() + 1) } != -1 || errno() != libc::ENOSYS {
        wrong |= FUTURE;
    }
    wrong
}

#[test]
fn docker_default_refuses_keyctl_and_namespaces_in_a_real_process() {
    let filters = compile(&docker_default(&docker_caps())).unwrap();
    let wrong = in_filtered_child(&filters, docker_default_checks).unwrap();
    let names = [
        (KEYCTL, "keyctl was not EPERM"),
        (UNSHARE, "unshare(CLONE_NEWUTS) was not EPERM"),
        (GETPID, "getpid failed"),
        (CLONE_NEWUTS, "clone(CLONE_NEWUTS) was not EPERM"),
        (CLONE_PLAIN, "clone without namespace flags failed"),
        (CLONE3, "clone3 was not ENOSYS"),
        (PERSONALITY, "personality: asking failed, or ADDR_NO_RANDOMIZE was not EPERM"),
        (VSOCK, "socket(AF_VSOCK) was not EPERM"),
        (UNNAMED, "userfaultfd, named nowhere, was not EPERM"),
        (FUTURE, "a call newer than the runtime was not ENOSYS"),
        (1 << 7, "the filters could not be installed"),
    ];
    let failures: Vec<_> = names.iter().filter(|(bit, _)| wrong & bit != 0).map(|(_, what)| *what).collect();
    assert!(failures.is_empty(), "{failures:?}");
}

#[cfg(target_arch = "x86_64")]
#[test]
fn the_x32_guard_refuses_x32_calls_only() {
    // EXDEV, an errno no kernel gives these calls, tells the guard's
    // answer from a kernel's own ENOSYS for x32.
    fn checks() -> i32 {
        let x32_getpid = 0x4000_0000 | libc::SYS_getpid;
        let mut wrong = 0;
        if unsafe { libc::syscall(x32_getpid) } != -1 || errno() != libc::EXDEV {
            wrong |= 1;
        }
        if unsafe { libc::syscall(libc::SYS_getpid) } <= 0 {
            wrong |= 2;
        }
        wrong
    }
    let guard = [x32_guard(libc::EXDEV as u32)];
    assert_eq!(in_filtered_child(&guard, checks), Ok(0));
}
