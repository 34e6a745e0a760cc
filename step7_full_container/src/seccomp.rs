//! Seccomp: which system calls the container may make at all.
//!
//! Namespaces decide what the container can see, cgroups how much it can
//! use, capabilities which privileged operations it may attempt. Seccomp
//! ("secure computing") works below all three: the kernel asks it about
//! every system call before the call does anything.
//!
//! ## The filter
//!
//! A seccomp filter is a small program in classic BPF, the bytecode tcpdump
//! compiles its expressions to. The kernel runs it on entry to every system
//! call and hands it a `struct seccomp_data`: the call's number, the ABI it
//! was made through (`arch`, an `AUDIT_ARCH_*` value), the instruction
//! pointer and the six argument registers. The program can only compare
//! those numbers: it can test a flags argument, but it cannot follow a
//! pointer, so the path given to open(2) or the struct given to clone3(2)
//! are out of its reach. It returns one action:
//!
//! | action                     | what happens to the call                        |
//! |----------------------------|-------------------------------------------------|
//! | `SECCOMP_RET_KILL_PROCESS` | the whole process dies of SIGSYS                |
//! | `SECCOMP_RET_KILL_THREAD`  | the calling thread dies                         |
//! | `SECCOMP_RET_TRAP`         | not made; the thread gets a SIGSYS              |
//! | `SECCOMP_RET_ERRNO`        | not made; returns -1 with an errno we choose    |
//! | `SECCOMP_RET_USER_NOTIF`   | a supervisor process decides (seccomp_unotify)  |
//! | `SECCOMP_RET_TRACE`        | a ptrace(2) tracer decides                      |
//! | `SECCOMP_RET_LOG`          | made, and logged                                |
//! | `SECCOMP_RET_ALLOW`        | made                                            |
//!
//! seccomp(2) with `SECCOMP_SET_MODE_FILTER` installs a filter on the
//! calling thread. It is never removed: children inherit it, execve(2) keeps
//! it, and installing more only adds filters, which all run. An unprivileged
//! process may install one only after `prctl(PR_SET_NO_NEW_PRIVS)`, so that
//! it cannot run a set-user-ID program under a filter that program does not
//! expect.
//!
//! ## Why a container runtime installs one
//!
//! Every container shares the host's kernel, and each system call is a way
//! into it. Docker's default profile refuses the calls that act on the whole
//! machine and are not namespaced (the clock, kernel modules, swap, reboot,
//! the keyring), that make or enter namespaces (the first step of many
//! escapes), or that opened kernel bugs more often than containers need them
//! (bpf, userfaultfd, perf_event_open, io_uring). Capabilities already stop
//! most of these; seccomp is a second wall, built so that a bug in the
//! kernel's permission check behind a call cannot matter: the call is never
//! made.
//!
//! The OCI bundle carries the filter as `linux.seccomp` in config.json, in
//! libseccomp's vocabulary (`SCMP_ACT_ERRNO`, `SCMP_CMP_MASKED_EQ`, ...).
//! [`install`] compiles it with the seccompiler crate (no libseccomp) and
//! installs it; [`docker_default`] is the profile used when the bundle has
//! none.
//!
//! Read: seccomp(2), the OCI runtime spec's config-linux.md ("Seccomp"),
//! seccomp_rule_add(3) for the vocabulary. Out of scope here:
//! `SCMP_ACT_NOTIFY`, where a supervisor answers calls on the container's
//! behalf (seccomp_unotify(2)).

use std::collections::BTreeMap;
use std::env::consts::ARCH;
use std::fmt;

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder, LinuxSeccompOperator, LinuxSyscall,
};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

// ANCHOR: docker_blocked
/// What Docker's default profile refuses a container (one without extra
/// capabilities), written as a list to refuse rather than Docker's list to
/// allow. Names that do not exist on the host architecture are skipped.
const DOCKER_BLOCKED: &[&str] = &[
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
const CLONE_NAMESPACE_FLAGS: [libc::c_int; 7] = [
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

fn seccomp_arg(index: usize, op: LinuxSeccompOperator, value: u64, value_two: Option<u64>) -> LinuxSeccompArg {
    let arg = LinuxSeccompArgBuilder::default().index(index).op(op).value(value);
    match value_two {
        Some(value_two) => arg.value_two(value_two),
        None => arg,
    }
    .build()
    .expect("every field of LinuxSeccompArg has a default")
}

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

// ANCHOR: install
/// Compile `profile` and install it on the calling thread, for good. Called
/// in the container process just before execve(2), which must therefore
/// be allowed by the profile, as must write(2) if `--verbose` narrates.
///
/// Everything is compiled before anything is installed, so a profile with
/// an error leaves the process unfiltered and the error names the field.
pub fn install(profile: &LinuxSeccomp) -> Result<()> {
    let filters = compile(profile)?;
    apply(&filters)
}

fn apply(filters: &[Filter]) -> Result<()> {
    // seccompiler's apply_filter sets PR_SET_NO_NEW_PRIVS before every
    // seccomp(2), whatever process.noNewPrivileges says (runc, holding
    // CAP_SYS_ADMIN, would not): under a profile, set-user-ID programs in
    // the container never gain privileges. The filter covers this thread
    // only, and the container process has no other.
    //
    // Each seccomp(2) and prctl(2) made here passes through the filters
    // installed before it. The filter of the default action, the one that
    // refuses what the profile does not name, is last for that reason.
    for filter in filters {
        crate::narrate!("seccomp(SECCOMP_SET_MODE_FILTER, {filter})");
        seccompiler::apply_filter(&filter.program).with_context(|| {
            format!(
                "linux.seccomp: installing the filter {filter} (a filter installed before it \
                 may refuse seccomp(2) or prctl(2))"
            )
        })?;
    }
    Ok(())
}
// ANCHOR_END: install

/// One BPF program to install, and what it was built from.
struct Filter {
    match_action: SeccompAction,
    mismatch_action: SeccompAction,
    /// Syscall number -> the argument rules of which one must match; an
    /// empty list matches every call (seccompiler's own convention).
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    /// The calls matched, when `rules` does not say (the x32 guard).
    scope: Option<&'static str>,
    program: BpfProgram,
}

impl Filter {
    fn new(
        rules: BTreeMap<i64, Vec<SeccompRule>>,
        match_action: SeccompAction,
        mismatch_action: SeccompAction,
        arch: TargetArch,
    ) -> Result<Self> {
        let program = SeccompFilter::new(rules.clone(), mismatch_action.clone(), match_action.clone(), arch)
            .and_then(BpfProgram::try_from);
        let mut filter = Filter { match_action, mismatch_action, rules, scope: None, program: Vec::new() };
        filter.program = program.with_context(|| format!("linux.seccomp: compiling the filter {filter}"))?;
        Ok(filter)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (matched, mismatched) = (&self.match_action, &self.mismatch_action);
        match self.scope {
            Some(scope) => write!(f, "{matched:?} for {scope}")?,
            None => write!(f, "{matched:?} for {} syscalls", self.rules.len())?,
        }
        write!(f, ", else {mismatched:?} ({} BPF instructions)", self.program.len())
    }
}

// ANCHOR: compile
/// Translate the OCI profile into the BPF programs to install, in order.
///
/// seccompiler's `SeccompFilter` has one action for a call that matches any
/// of its rules and one for a call that matches none. An OCI profile has an
/// action per rule and a default. So the rules are grouped by action, and
/// each group becomes a filter of its own:
///
/// * for each action A other than ALLOW that some rule names, a filter F_A:
///   "A if the call matches a rule whose action is A, else ALLOW";
/// * if the default action D is not ALLOW, a filter F_D: "ALLOW if the call
///   matches any rule of the profile, whatever its action, else D".
///
/// The kernel runs every filter installed and keeps the result of highest
/// precedence (seccomp(2)):
/// KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > USER_NOTIF > TRACE > LOG > ALLOW.
/// Take a call c:
///
/// * c matches rules with actions A1..Ak: F_D says ALLOW, each F_Ai says Ai,
///   every other F_A says ALLOW. The result is the highest of A1..Ak (ALLOW
///   if they are all ALLOW): the action of c's rule.
/// * c matches no rule: F_D says D, every F_A says ALLOW. The result is D.
///
/// Which is the profile: the action of the call's rule, else the default.
/// OCI does not say what happens when rules with different actions match
/// the same call; here the strictest wins. Between two results of the same
/// precedence but different data (ERRNO with EPERM and with ENOSYS) the
/// kernel keeps the one of the filter installed last, as it runs the newest
/// first; the groups are installed in reverse order of their first rule, so
/// that the rule written first in config.json wins.
fn compile(profile: &LinuxSeccomp) -> Result<Vec<Filter>> {
    let arch = TargetArch::try_from(ARCH)
        .map_err(|_| anyhow!("linux.seccomp: seccompiler cannot build filters for {ARCH}"))?;
    let default_action = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "linux.seccomp.defaultAction",
        "linux.seccomp.defaultErrnoRet",
    )?;
    narrate_ignored_fields(profile);

    // (action, its rules), in the order their first rule appears.
    let mut groups: Vec<(SeccompAction, BTreeMap<i64, Vec<SeccompRule>>)> = Vec::new();
    // Every rule, whatever its action: what F_D allows.
    let mut named: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();

    for (i, syscall) in profile.syscalls().iter().flatten().enumerate() {
        let field = format!("linux.seccomp.syscalls[{i}]");
        let action =
            action(syscall.action(), syscall.errno_ret(), &format!("{field}.action"), &format!("{field}.errnoRet"))?;
        let rules = rules(syscall.args().as_deref().unwrap_or_default(), &field)?;
        for name in syscall.names() {
            // Docker's profiles name the calls of every architecture; a call
            // the host does not have cannot be made, so there is nothing to
            // filter.
            let Some(number) = syscall_number(name) else {
                crate::narrate!("{field}: no syscall {name:?} on {ARCH}, skipped");
                continue;
            };
            add_rules(&mut named, number, &rules);
            if action == SeccompAction::Allow {
                continue;
            }
            let group = match groups.iter().position(|(a, _)| *a == action) {
                Some(group) => group,
                None => {
                    groups.push((action.clone(), BTreeMap::new()));
                    groups.len() - 1
                }
            };
            add_rules(&mut groups[group].1, number, &rules);
        }
    }

    let mut filters = Vec::new();
    if groups.is_empty() && default_action == SeccompAction::Allow {
        crate::narrate!("linux.seccomp allows every syscall: no filter to install");
        return Ok(filters);
    }
    #[cfg(target_arch = "x86_64")]
    filters.push(x32_guard(libc::ENOSYS as u32));
    for (action, rules) in groups.into_iter().rev() {
        filters.push(Filter::new(rules, action, SeccompAction::Allow, arch)?);
    }
    if default_action != SeccompAction::Allow {
        filters.push(Filter::new(named, SeccompAction::Allow, default_action, arch)?);
    }
    Ok(filters)
}
// ANCHOR_END: compile

/// Add `rules` for syscall `number` to a filter's map. The rules of one
/// syscall are alternatives, and an empty list (no condition) matches
/// every call, so it absorbs any other.
fn add_rules(map: &mut BTreeMap<i64, Vec<SeccompRule>>, number: i64, rules: &[SeccompRule]) {
    match map.get_mut(&number) {
        None => {
            map.insert(number, rules.to_vec());
        }
        Some(existing) if existing.is_empty() => {}
        Some(existing) if rules.is_empty() => existing.clear(),
        Some(existing) => existing.extend_from_slice(rules),
    }
}

/// Fields this runtime accepts and does not act on. None of them can make
/// the filter refuse less.
fn narrate_ignored_fields(profile: &LinuxSeccomp) {
    // The filter is built for the host's ABI only. seccompiler starts every
    // program with a check of seccomp_data.arch, and a call made through
    // another ABI, such as a 32-bit x86 program's int 0x80 on x86_64, kills
    // the process (SECCOMP_RET_KILL_PROCESS). Where Docker lists
    // SCMP_ARCH_X86, runc translates every rule for it; here 32-bit
    // programs cannot run in the container at all.
    if let Some(arches) = profile.architectures() {
        crate::narrate!("linux.seccomp.architectures {arches:?}: filter built for {ARCH} only");
    }
    // SECCOMP_FILTER_FLAG_LOG and _SPEC_ALLOW cannot be passed through
    // seccompiler::apply_filter; TSYNC is moot in a single-threaded process.
    if let Some(flags) = profile.flags().as_ref().filter(|flags| !flags.is_empty()) {
        crate::narrate!("linux.seccomp.flags {flags:?} ignored");
    }
    if let Some(path) = profile.listener_path() {
        crate::narrate!("linux.seccomp.listenerPath {} ignored", path.display());
    }
}

// ANCHOR: actions
/// An OCI action, with its errnoRet, as seccompiler's. `field` and
/// `errno_field` name them in errors.
fn action(action: LinuxSeccompAction, errno_ret: Option<u32>, field: &str, errno_field: &str) -> Result<SeccompAction> {
    // SECCOMP_RET_DATA, where the errno (or the tracer's value) goes, has
    // 16 bits. Without errnoRet, runc returns EPERM.
    let data = || -> Result<u32> {
        match errno_ret {
            None => Ok(libc::EPERM as u32),
            Some(value) if value <= 0xffff => Ok(value),
            Some(value) => {
                bail!("{errno_field}: {value} does not fit in the 16 bits seccomp returns")
            }
        }
    };
    Ok(match action {
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(data()?),
        // libseccomp's SCMP_ACT_KILL is SCMP_ACT_KILL_THREAD.
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(data()?),
        LinuxSeccompAction::ScmpActNotify => bail!(
            "{field}: SCMP_ACT_NOTIFY is not supported (it needs a seccomp agent, \
             see seccomp_unotify(2))"
        ),
    })
}
// ANCHOR_END: actions

// ANCHOR: conditions
/// The `args` of one OCI rule, as seccompiler rules (alternatives; none:
/// every call matches).
///
/// Like runc: the conditions of a rule must all hold, except when two of
/// them test the same argument. Then each condition is a rule of its own,
/// any of which may hold (libseccomp once refused two tests of one argument
/// in a rule, and profiles written for runc rely on this reading).
fn rules(args: &[LinuxSeccompArg], field: &str) -> Result<Vec<SeccompRule>> {
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let mut conditions = Vec::with_capacity(args.len());
    let mut tests_of = [0; 6];
    for (j, arg) in args.iter().enumerate() {
        let (index, condition) = condition(arg, &format!("{field}.args[{j}]"))?;
        tests_of[index] += 1;
        conditions.push(condition);
    }
    let rules = if tests_of.iter().any(|&tests| tests > 1) {
        conditions.into_iter().map(|condition| SeccompRule::new(vec![condition])).collect::<Result<Vec<_>, _>>()?
    } else {
        vec![SeccompRule::new(conditions)?]
    };
    Ok(rules)
}

/// One OCI argument test, and the index of the argument it tests.
fn condition(arg: &LinuxSeccompArg, field: &str) -> Result<(usize, SeccompCondition)> {
    let index = arg.index();
    if index > 5 {
        bail!("{field}.index: {index} is not an argument (system calls have arguments 0 to 5)");
    }
    let (op, value) = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => (SeccompCmpOp::Ne, arg.value()),
        LinuxSeccompOperator::ScmpCmpLt => (SeccompCmpOp::Lt, arg.value()),
        LinuxSeccompOperator::ScmpCmpLe => (SeccompCmpOp::Le, arg.value()),
        LinuxSeccompOperator::ScmpCmpEq => (SeccompCmpOp::Eq, arg.value()),
        LinuxSeccompOperator::ScmpCmpGe => (SeccompCmpOp::Ge, arg.value()),
        LinuxSeccompOperator::ScmpCmpGt => (SeccompCmpOp::Gt, arg.value()),
        // OCI: `value` is the mask, `valueTwo` what the masked argument must
        // equal. seccompiler's MaskedEq(mask) with `value` tests
        // `arg & mask == value & mask`; libseccomp masks the compared value
        // the same way, so bits of valueTwo outside the mask are ignored by
        // both.
        LinuxSeccompOperator::ScmpCmpMaskedEq => (SeccompCmpOp::MaskedEq(arg.value()), arg.value_two().unwrap_or(0)),
    };
    // All 64 bits, as libseccomp compares them on a 64-bit host.
    let condition =
        SeccompCondition::new(index as u8, SeccompCmpArgLen::Qword, op, value).with_context(|| field.to_string())?;
    Ok((index, condition))
}
// ANCHOR_END: conditions

// ANCHOR: x32_guard
/// x32 is a third ABI of x86_64 kernels: 64-bit registers, 32-bit pointers.
/// Its calls report the same `arch` as x86_64 ones, so seccompiler's arch
/// check lets them through, and are numbered from `__X32_SYSCALL_BIT`, so
/// no rule for an x86_64 number matches them. Under a profile that allows
/// by default, `keyctl` made through x32 would then be allowed. This filter
/// refuses every x32 call with `errno`, as a kernel built without x32
/// does. (libseccomp, too, never lets x32 calls through x86_64 rules.)
#[cfg(target_arch = "x86_64")]
fn x32_guard(errno: u32) -> Filter {
    use seccompiler::sock_filter;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let load =
        |offset| sock_filter { code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: offset };
    let jump = |op: u32, k, jt, jf| sock_filter { code: (libc::BPF_JMP | op | libc::BPF_K) as u16, jt, jf, k };
    let ret = |k| sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k };
    let program = vec![
        load(ARCH),
        // Another ABI: the other filters kill the process; nothing to add.
        jump(libc::BPF_JEQ, AUDIT_ARCH_X86_64, 0, 3),
        load(NR),
        jump(libc::BPF_JGE, X32_SYSCALL_BIT, 0, 1),
        ret(libc::SECCOMP_RET_ERRNO | errno),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    Filter {
        match_action: SeccompAction::Errno(errno),
        mismatch_action: SeccompAction::Allow,
        rules: BTreeMap::new(),
        scope: Some("x32 syscalls"),
        program,
    }
}
// ANCHOR_END: x32_guard

// ANCHOR: syscall_number
/// The number of the system call `name` on the host architecture, for
/// every call the libc crate knows there.
fn syscall_number(name: &str) -> Option<i64> {
    // The table holds libc's own constants, so a number cannot be mistyped:
    // `SYS_keyctl` becomes ("SYS_keyctl", libc::SYS_keyctl).
    macro_rules! table {
        ($($sys:ident)*) => { &[$((stringify!($sys), libc::$sys as i64)),*] };
    }
    #[cfg(target_arch = "x86_64")]
    const TABLE: &[(&str, i64)] = table![
        SYS__sysctl SYS_accept SYS_accept4 SYS_access SYS_acct
        SYS_add_key SYS_adjtimex SYS_afs_syscall SYS_alarm SYS_arch_prctl
        SYS_bind SYS_bpf SYS_brk SYS_capget SYS_capset
        SYS_chdir SYS_chmod SYS_chown SYS_chroot SYS_clock_adjtime
        SYS_clock_getres SYS_clock_gettime SYS_clock_nanosleep SYS_clock_settime SYS_clone
        SYS_clone3 SYS_close SYS_close_range SYS_connect SYS_copy_file_range
        SYS_creat SYS_delete_module SYS_dup SYS_dup2 SYS_dup3
        SYS_epoll_create SYS_epoll_create1 SYS_epoll_ctl SYS_epoll_ctl_old SYS_epoll_pwait
        SYS_epoll_pwait2 SYS_epoll_wait SYS_epoll_wait_old SYS_eventfd SYS_eventfd2
        SYS_execve SYS_execveat SYS_exit SYS_exit_group SYS_faccessat
        SYS_faccessat2 SYS_fadvise64 SYS_fallocate SYS_fanotify_init SYS_fanotify_mark
        SYS_fchdir SYS_fchmod SYS_fchmodat SYS_fchmodat2 SYS_fchown
        SYS_fchownat SYS_fcntl SYS_fdatasync SYS_fgetxattr SYS_finit_module
        SYS_flistxattr SYS_flock SYS_fork SYS_fremovexattr SYS_fsconfig
        SYS_fsetxattr SYS_fsmount SYS_fsopen SYS_fspick SYS_fstat
        SYS_fstatfs SYS_fsync SYS_ftruncate SYS_futex SYS_futex_waitv
        SYS_futimesat SYS_get_mempolicy SYS_get_robust_list SYS_get_thread_area SYS_getcpu
        SYS_getcwd SYS_getdents SYS_getdents64 SYS_getegid SYS_geteuid
        SYS_getgid SYS_getgroups SYS_getitimer SYS_getpeername SYS_getpgid
        SYS_getpgrp SYS_getpid SYS_getpmsg SYS_getppid SYS_getpriority
        SYS_getrandom SYS_getresgid SYS_getresuid SYS_getrlimit SYS_getrusage
        SYS_getsid SYS_getsockname SYS_getsockopt SYS_gettid SYS_gettimeofday
        SYS_getuid SYS_getxattr SYS_init_module SYS_inotify_add_watch SYS_inotify_init
        SYS_inotify_init1 SYS_inotify_rm_watch SYS_io_cancel SYS_io_destroy SYS_io_getevents
        SYS_io_setup SYS_io_submit SYS_io_uring_enter SYS_io_uring_register SYS_io_uring_setup
        SYS_ioctl SYS_ioperm SYS_iopl SYS_ioprio_get SYS_ioprio_set
        SYS_kcmp SYS_kexec_file_load SYS_kexec_load SYS_keyctl SYS_kill
        SYS_landlock_add_rule SYS_landlock_create_ruleset SYS_landlock_restrict_self SYS_lchown SYS_lgetxattr
        SYS_link SYS_linkat SYS_listen SYS_listxattr SYS_llistxattr
        SYS_lookup_dcookie SYS_lremovexattr SYS_lseek SYS_lsetxattr SYS_lstat
        SYS_madvise SYS_mbind SYS_membarrier SYS_memfd_create SYS_memfd_secret
        SYS_migrate_pages SYS_mincore SYS_mkdir SYS_mkdirat SYS_mknod
        SYS_mknodat SYS_mlock SYS_mlock2 SYS_mlockall SYS_mmap
        SYS_modify_ldt SYS_mount SYS_mount_setattr SYS_move_mount SYS_move_pages
        SYS_mprotect SYS_mq_getsetattr SYS_mq_notify SYS_mq_open SYS_mq_timedreceive
        SYS_mq_timedsend SYS_mq_unlink SYS_mremap SYS_mseal SYS_msgctl
        SYS_msgget SYS_msgrcv SYS_msgsnd SYS_msync SYS_munlock
        SYS_munlockall SYS_munmap SYS_name_to_handle_at SYS_nanosleep SYS_newfstatat
        SYS_nfsservctl SYS_open SYS_open_by_handle_at SYS_open_tree SYS_openat
        SYS_openat2 SYS_pause SYS_perf_event_open SYS_personality SYS_pidfd_getfd
        SYS_pidfd_open SYS_pidfd_send_signal SYS_pipe SYS_pipe2 SYS_pivot_root
        SYS_pkey_alloc SYS_pkey_free SYS_pkey_mprotect SYS_poll SYS_ppoll
        SYS_prctl SYS_pread64 SYS_preadv SYS_preadv2 SYS_prlimit64
        SYS_process_madvise SYS_process_mrelease SYS_process_vm_readv SYS_process_vm_writev SYS_pselect6
        SYS_ptrace SYS_putpmsg SYS_pwrite64 SYS_pwritev SYS_pwritev2
        SYS_quotactl SYS_quotactl_fd SYS_read SYS_readahead SYS_readlink
        SYS_readlinkat SYS_readv SYS_reboot SYS_recvfrom SYS_recvmmsg
        SYS_recvmsg SYS_remap_file_pages SYS_removexattr SYS_rename SYS_renameat
        SYS_renameat2 SYS_request_key SYS_restart_syscall SYS_rmdir SYS_rseq
        SYS_rt_sigaction SYS_rt_sigpending SYS_rt_sigprocmask SYS_rt_sigqueueinfo SYS_rt_sigreturn
        SYS_rt_sigsuspend SYS_rt_sigtimedwait SYS_rt_tgsigqueueinfo SYS_sched_get_priority_max SYS_sched_get_priority_min
        SYS_sched_getaffinity SYS_sched_getattr SYS_sched_getparam SYS_sched_getscheduler SYS_sched_rr_get_interval
        SYS_sched_setaffinity SYS_sched_setattr SYS_sched_setparam SYS_sched_setscheduler SYS_sched_yield
        SYS_seccomp SYS_security SYS_select SYS_semctl SYS_semget
        SYS_semop SYS_semtimedop SYS_sendfile SYS_sendmmsg SYS_sendmsg
        SYS_sendto SYS_set_mempolicy SYS_set_mempolicy_home_node SYS_set_robust_list SYS_set_thread_area
        SYS_set_tid_address SYS_setdomainname SYS_setfsgid SYS_setfsuid SYS_setgid
        SYS_setgroups SYS_sethostname SYS_setitimer SYS_setns SYS_setpgid
        SYS_setpriority SYS_setregid SYS_setresgid SYS_setresuid SYS_setreuid
        SYS_setrlimit SYS_setsid SYS_setsockopt SYS_settimeofday SYS_setuid
        SYS_setxattr SYS_shmat SYS_shmctl SYS_shmdt SYS_shmget
        SYS_shutdown SYS_sigaltstack SYS_signalfd SYS_signalfd4 SYS_socket
        SYS_socketpair SYS_splice SYS_stat SYS_statfs SYS_statx
        SYS_swapoff SYS_swapon SYS_symlink SYS_symlinkat SYS_sync
        SYS_sync_file_range SYS_syncfs SYS_sysfs SYS_sysinfo SYS_syslog
        SYS_tee SYS_tgkill SYS_time SYS_timer_create SYS_timer_delete
        SYS_timer_getoverrun SYS_timer_gettime SYS_timer_settime SYS_timerfd_create SYS_timerfd_gettime
        SYS_timerfd_settime SYS_times SYS_tkill SYS_truncate SYS_tuxcall
        SYS_umask SYS_umount2 SYS_uname SYS_unlink SYS_unlinkat
        SYS_unshare SYS_uselib SYS_userfaultfd SYS_ustat SYS_utime
        SYS_utimensat SYS_utimes SYS_vfork SYS_vhangup SYS_vmsplice
        SYS_vserver SYS_wait4 SYS_waitid SYS_write SYS_writev
    ];
    #[cfg(target_arch = "aarch64")]
    const TABLE: &[(&str, i64)] = table![
        SYS_accept SYS_accept4 SYS_acct SYS_add_key SYS_adjtimex
        SYS_bind SYS_bpf SYS_brk SYS_capget SYS_capset
        SYS_chdir SYS_chroot SYS_clock_adjtime SYS_clock_getres SYS_clock_gettime
        SYS_clock_nanosleep SYS_clock_settime SYS_clone SYS_clone3 SYS_close
        SYS_close_range SYS_connect SYS_copy_file_range SYS_delete_module SYS_dup
        SYS_dup3 SYS_epoll_create1 SYS_epoll_ctl SYS_epoll_pwait SYS_epoll_pwait2
        SYS_eventfd2 SYS_execve SYS_execveat SYS_exit SYS_exit_group
        SYS_faccessat SYS_faccessat2 SYS_fallocate SYS_fanotify_init SYS_fanotify_mark
        SYS_fchdir SYS_fchmod SYS_fchmodat SYS_fchown SYS_fchownat
        SYS_fcntl SYS_fdatasync SYS_fgetxattr SYS_finit_module SYS_flistxattr
        SYS_flock SYS_fremovexattr SYS_fsconfig SYS_fsetxattr SYS_fsmount
        SYS_fsopen SYS_fspick SYS_fstat SYS_fstatfs SYS_fsync
        SYS_ftruncate SYS_futex SYS_futex_waitv SYS_get_mempolicy SYS_get_robust_list
        SYS_getcpu SYS_getcwd SYS_getdents64 SYS_getegid SYS_geteuid
        SYS_getgid SYS_getgroups SYS_getitimer SYS_getpeername SYS_getpgid
        SYS_getpid SYS_getppid SYS_getpriority SYS_getrandom SYS_getresgid
        SYS_getresuid SYS_getrusage SYS_getsid SYS_getsockname SYS_getsockopt
        SYS_gettid SYS_gettimeofday SYS_getuid SYS_getxattr SYS_init_module
        SYS_inotify_add_watch SYS_inotify_init1 SYS_inotify_rm_watch SYS_io_cancel SYS_io_destroy
        SYS_io_getevents SYS_io_setup SYS_io_submit SYS_io_uring_enter SYS_io_uring_register
        SYS_io_uring_setup SYS_ioctl SYS_ioprio_get SYS_ioprio_set SYS_kcmp
        SYS_kexec_load SYS_keyctl SYS_kill SYS_landlock_add_rule SYS_landlock_create_ruleset
        SYS_landlock_restrict_self SYS_lgetxattr SYS_linkat SYS_listen SYS_listxattr
        SYS_llistxattr SYS_lookup_dcookie SYS_lremovexattr SYS_lseek SYS_lsetxattr
        SYS_madvise SYS_mbind SYS_membarrier SYS_memfd_create SYS_memfd_secret
        SYS_migrate_pages SYS_mincore SYS_mkdirat SYS_mknodat SYS_mlock
        SYS_mlock2 SYS_mlockall SYS_mmap SYS_mount SYS_mount_setattr
        SYS_move_mount SYS_move_pages SYS_mprotect SYS_mq_getsetattr SYS_mq_notify
        SYS_mq_open SYS_mq_timedreceive SYS_mq_timedsend SYS_mq_unlink SYS_mremap
        SYS_mseal SYS_msgctl SYS_msgget SYS_msgrcv SYS_msgsnd
        SYS_msync SYS_munlock SYS_munlockall SYS_munmap SYS_name_to_handle_at
        SYS_nanosleep SYS_newfstatat SYS_nfsservctl SYS_open_by_handle_at SYS_open_tree
        SYS_openat SYS_openat2 SYS_perf_event_open SYS_personality SYS_pidfd_getfd
        SYS_pidfd_open SYS_pidfd_send_signal SYS_pipe2 SYS_pivot_root SYS_pkey_alloc
        SYS_pkey_free SYS_pkey_mprotect SYS_ppoll SYS_prctl SYS_pread64
        SYS_preadv SYS_preadv2 SYS_prlimit64 SYS_process_madvise SYS_process_mrelease
        SYS_process_vm_readv SYS_process_vm_writev SYS_pselect6 SYS_ptrace SYS_pwrite64
        SYS_pwritev SYS_pwritev2 SYS_quotactl SYS_quotactl_fd SYS_read
        SYS_readahead SYS_readlinkat SYS_readv SYS_reboot SYS_recvfrom
        SYS_recvmmsg SYS_recvmsg SYS_remap_file_pages SYS_removexattr SYS_renameat2
        SYS_request_key SYS_restart_syscall SYS_rseq SYS_rt_sigaction SYS_rt_sigpending
        SYS_rt_sigprocmask SYS_rt_sigqueueinfo SYS_rt_sigreturn SYS_rt_sigsuspend SYS_rt_sigtimedwait
        SYS_rt_tgsigqueueinfo SYS_sched_get_priority_max SYS_sched_get_priority_min SYS_sched_getaffinity SYS_sched_getattr
        SYS_sched_getparam SYS_sched_getscheduler SYS_sched_rr_get_interval SYS_sched_setaffinity SYS_sched_setattr
        SYS_sched_setparam SYS_sched_setscheduler SYS_sched_yield SYS_seccomp SYS_semctl
        SYS_semget SYS_semop SYS_semtimedop SYS_sendmmsg SYS_sendmsg
        SYS_sendto SYS_set_mempolicy SYS_set_mempolicy_home_node SYS_set_robust_list SYS_set_tid_address
        SYS_setdomainname SYS_setfsgid SYS_setfsuid SYS_setgid SYS_setgroups
        SYS_sethostname SYS_setitimer SYS_setns SYS_setpgid SYS_setpriority
        SYS_setregid SYS_setresgid SYS_setresuid SYS_setreuid SYS_setsid
        SYS_setsockopt SYS_settimeofday SYS_setuid SYS_setxattr SYS_shmat
        SYS_shmctl SYS_shmdt SYS_shmget SYS_shutdown SYS_sigaltstack
        SYS_signalfd4 SYS_socket SYS_socketpair SYS_splice SYS_statfs
        SYS_statx SYS_swapoff SYS_swapon SYS_symlinkat SYS_sync
        SYS_syncfs SYS_sysinfo SYS_syslog SYS_tee SYS_tgkill
        SYS_timer_create SYS_timer_delete SYS_timer_getoverrun SYS_timer_gettime SYS_timer_settime
        SYS_timerfd_create SYS_timerfd_gettime SYS_timerfd_settime SYS_times SYS_tkill
        SYS_truncate SYS_umask SYS_umount2 SYS_uname SYS_unlinkat
        SYS_unshare SYS_userfaultfd SYS_utimensat SYS_vhangup SYS_vmsplice
        SYS_wait4 SYS_waitid SYS_write SYS_writev
    ];
    // In the kernel's generic table, but in the libc crate for aarch64
    // glibc only.
    #[cfg(target_arch = "aarch64")]
    const EXTRA: &[(&str, i64)] = &[("SYS_fadvise64", 223), ("SYS_kexec_file_load", 294), ("SYS_sendfile", 71)];
    #[cfg(not(target_arch = "aarch64"))]
    const EXTRA: &[(&str, i64)] = &[];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const TABLE: &[(&str, i64)] = &[];

    TABLE.iter().chain(EXTRA).find(|(sys, _)| sys.strip_prefix("SYS_") == Some(name)).map(|&(_, number)| number)
}
// ANCHOR_END: syscall_number

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use LinuxSeccompAction::*;

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

    /// The filters built, without the x32 guard (checked to come first).
    fn compiled(profile: &LinuxSeccomp) -> Vec<Filter> {
        let mut filters = compile(profile).unwrap();
        if cfg!(target_arch = "x86_64") && !filters.is_empty() {
            let guard = filters.remove(0);
            assert_eq!(guard.scope, Some("x32 syscalls"), "first filter: {guard}");
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
    fn docker_default_compiles_to_two_errno_filters_and_no_default_filter() {
        let filters = compiled(&docker_default());
        let actions: Vec<_> =
            summary(&filters).into_iter().map(|(matched, mismatched, _)| (matched, mismatched)).collect();
        assert_eq!(
            actions,
            vec![(SeccompAction::Errno(38), SeccompAction::Allow), (SeccompAction::Errno(1), SeccompAction::Allow),]
        );
        assert!(filters[0].rules[&libc::SYS_clone3].is_empty());
        let eperm = &filters[1].rules;
        assert!(eperm[&libc::SYS_keyctl].is_empty());
        assert!(eperm[&libc::SYS_unshare].is_empty());
        assert!(!eperm.contains_key(&libc::SYS_getpid));
        let clone: Vec<_> = CLONE_NAMESPACE_FLAGS
            .iter()
            .map(|&flag| {
                let flag = flag as u64;
                SeccompRule::new(vec![cond(0, SeccompCmpOp::MaskedEq(flag), flag)]).unwrap()
            })
            .collect();
        assert_eq!(eperm[&libc::SYS_clone], clone);
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
        assert_eq!(
            summary(&compiled(&p)),
            vec![(SeccompAction::Allow, SeccompAction::Errno(1), vec![libc::SYS_getpid])]
        );
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
        let json = serde_json::to_value(docker_default()).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ALLOW");
        #[cfg(target_arch = "x86_64")]
        assert_eq!(json["architectures"], serde_json::json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
        let syscalls = json["syscalls"].as_array().unwrap();
        let blocked = &syscalls[0];
        assert_eq!(blocked["action"], "SCMP_ACT_ERRNO");
        assert_eq!(blocked["errnoRet"], libc::EPERM);
        for name in ["keyctl", "unshare", "mount", "ptrace", "bpf", "setns"] {
            assert!(blocked["names"].as_array().unwrap().contains(&name.into()));
        }
        let clone: Vec<_> = syscalls.iter().filter(|s| s["names"] == serde_json::json!(["clone"])).collect();
        assert_eq!(clone.len(), 7);
        assert_eq!(
            clone[3]["args"],
            serde_json::json!([{
                "index": 0,
                "value": libc::CLONE_NEWUSER,
                "valueTwo": libc::CLONE_NEWUSER,
                "op": "SCMP_CMP_MASKED_EQ",
            }])
        );
        let clone3 = syscalls.last().unwrap();
        assert_eq!(clone3["names"], serde_json::json!(["clone3"]));
        assert_eq!(clone3["errnoRet"], libc::ENOSYS);

        let back: LinuxSeccomp = serde_json::from_value(json).unwrap();
        assert_eq!(back, docker_default());
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
                let code =
                    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 || apply(filters).is_err() {
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
        wrong
    }

    #[test]
    fn docker_default_refuses_keyctl_and_namespaces_in_a_real_process() {
        let filters = compile(&docker_default()).unwrap();
        let wrong = in_filtered_child(&filters, docker_default_checks).unwrap();
        let names = [
            (KEYCTL, "keyctl was not EPERM"),
            (UNSHARE, "unshare(CLONE_NEWUTS) was not EPERM"),
            (GETPID, "getpid failed"),
            (CLONE_NEWUTS, "clone(CLONE_NEWUTS) was not EPERM"),
            (CLONE_PLAIN, "clone without namespace flags failed"),
            (CLONE3, "clone3 was not ENOSYS"),
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
}
