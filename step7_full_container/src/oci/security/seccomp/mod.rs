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
//! into it. Docker's default profile allows the calls ordinary programs
//! make and refuses the rest: what acts on the whole machine and is not
//! namespaced (the clocks, kernel modules, swap, reboot, the keyring), what
//! makes, enters or rearranges namespaces and mounts (the first step of
//! many escapes), and what has opened kernel bugs more often than
//! containers need it (bpf, userfaultfd, perf_event_open). Capabilities
//! already stop most of these; seccomp is a second wall, built so that a bug
//! in the kernel's permission check behind a call cannot matter: the call is
//! never made. It refuses *by default*: a call the kernel adds later is
//! refused until the profile names it.
//!
//! The OCI bundle carries the filter as `linux.seccomp` in config.json, in
//! libseccomp's vocabulary (`SCMP_ACT_ERRNO`, `SCMP_CMP_MASKED_EQ`, ...).
//! [`install`] compiles it with the seccompiler crate (no libseccomp) and
//! installs it. [`docker_default`] is the profile a docker-like container
//! gets ([`profile`], the table; [`docker`], Docker's profile format,
//! whose conditions on capabilities, architectures and kernels are resolved
//! for one container before anything is compiled).
//!
//! Read: seccomp(2), the OCI runtime spec's config-linux.md ("Seccomp"),
//! seccomp_rule_add(3) for the vocabulary. Out of scope here:
//! `SCMP_ACT_NOTIFY`, where a supervisor answers calls on the container's
//! behalf (seccomp_unotify(2)), and 32-bit programs: the filter is built
//! for the host's ABI only, where Docker's also covers x86 on x86_64.

pub mod docker;
pub mod profile;
mod syscalls;
#[cfg(test)]
mod tests;

pub use docker::{Container, Profile};
use syscalls::{highest_known, syscall_number};

use std::collections::BTreeMap;
use std::env::consts::ARCH;
use std::fmt;

use anyhow::{anyhow, bail, Context, Result};
use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

// ANCHOR: docker_default
/// Docker's default profile, for a container with `capabilities` on this
/// host.
pub fn docker_default(capabilities: &[String]) -> LinuxSeccomp {
    profile::docker_profile()
        .resolve(&Container::here(capabilities))
        .expect("the built-in profile has no bad condition")
}
// ANCHOR_END: docker_default

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
    /// The calls matched, when `rules` does not say (the hand-written
    /// guards: x32 calls, calls newer than this runtime).
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
        filters.push(Filter::new(named, SeccompAction::Allow, default_action.clone(), arch)?);
    }
    if let SeccompAction::Errno(_) = default_action {
        filters.push(future_guard(highest_known()));
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

// ANCHOR: future_guard
/// A call newer than this runtime (numbered above every call it knows)
/// fails with ENOSYS, "no such call", not with the profile's errno: that is
/// what an older kernel answers, and what makes a C library fall back to
/// the older call it used before (glibc does, for clone3 and faccessat2).
/// An EPERM would break the program instead. runc does the same (its
/// libcontainer/seccomp/patchbpf). Installed after the default filter,
/// whose errno it must win over: of two answers of the same kind the
/// kernel keeps the one of the filter installed last.
fn future_guard(highest: i64) -> Filter {
    #[cfg(target_arch = "x86_64")]
    const NATIVE: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const NATIVE: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    const NATIVE: u32 = 0;
    // Above the highest known (the x32 bit included: x32 calls get ENOSYS
    // from the x32 guard too).
    errno_for_numbers(NATIVE, libc::BPF_JGT, highest as u32, libc::ENOSYS as u32, "calls newer than this runtime")
}
// ANCHOR_END: future_guard

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
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    errno_for_numbers(AUDIT_ARCH_X86_64, libc::BPF_JGE, X32_SYSCALL_BIT, errno, "x32 syscalls")
}
// ANCHOR_END: x32_guard

// ANCHOR: errno_for_numbers
/// A filter written in classic BPF by hand, six instructions: a call of
/// ABI `arch` whose number compares to `bound` by `jump` (BPF_JGT, BPF_JGE)
/// fails with `errno`; every other call is allowed (here: the other filters
/// judge it). seccomp(2) shows the layout of struct seccomp_data that the
/// loads read.
fn errno_for_numbers(arch: u32, jump: u32, bound: u32, errno: u32, scope: &'static str) -> Filter {
    use seccompiler::sock_filter;
    // Offsets in struct seccomp_data.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let load =
        |offset| sock_filter { code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16, jt: 0, jf: 0, k: offset };
    let test = |op: u32, k, jt, jf| sock_filter { code: (libc::BPF_JMP | op | libc::BPF_K) as u16, jt, jf, k };
    let ret = |k| sock_filter { code: (libc::BPF_RET | libc::BPF_K) as u16, jt: 0, jf: 0, k };
    let program = vec![
        load(ARCH),
        // Another ABI: not this filter's to judge.
        test(libc::BPF_JEQ, arch, 0, 3),
        load(NR),
        test(jump, bound, 0, 1),
        ret(libc::SECCOMP_RET_ERRNO | errno),
        ret(libc::SECCOMP_RET_ALLOW),
    ];
    Filter {
        match_action: SeccompAction::Errno(errno),
        mismatch_action: SeccompAction::Allow,
        rules: BTreeMap::new(),
        scope: Some(scope),
        program,
    }
}
// ANCHOR_END: errno_for_numbers
