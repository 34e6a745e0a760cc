//! A probe for seccomp profiles: make a list of system calls, each with
//! harmless arguments, and print what became of each, "ok" or the errno.
//! The tests run it inside a container under a profile, and under runc
//! with the same profile, and compare.
//!
//! Only the standard library and the C library's syscall(2), so that it
//! links statically and runs in any rootfs:
//!
//!     rustc -O -C target-feature=+crt-static -o rootfs/probe \
//!         step7_full_container/examples/syscall_probe.rs
//!     sudo target/debug/step7 run --rootfs rootfs -- /probe
//!
//! A call the filter refuses never reaches the kernel, so its errno is the
//! profile's (EPERM, or ENOSYS for clone3); a call it allows gets the
//! kernel's answer, often an error for these arguments (EBADF, EINVAL),
//! which is fine: what matters is that the kernel saw it.

use std::ffi::c_long;

extern "C" {
    fn syscall(number: c_long, ...) -> c_long;
    fn __errno_location() -> *mut i32;
}

/// The calls, by number on this architecture (asm/unistd.h).
#[cfg(target_arch = "x86_64")]
mod nr {
    pub const GETPID: i64 = 39;
    pub const PERSONALITY: i64 = 135;
    pub const SOCKET: i64 = 41;
    pub const KEYCTL: i64 = 250;
    pub const ADD_KEY: i64 = 248;
    pub const UNSHARE: i64 = 272;
    pub const CLONE: i64 = 56;
    pub const CLONE3: i64 = 435;
    pub const USERFAULTFD: i64 = 323;
    pub const PIDFD_GETFD: i64 = 438;
    pub const PROCESS_MADVISE: i64 = 440;
    pub const SET_MEMPOLICY: i64 = 238;
    pub const PROCESS_VM_READV: i64 = 310;
    pub const CHROOT: i64 = 161;
    pub const NAME_TO_HANDLE_AT: i64 = 303;
    /// Reserved, never implemented: the kernel answers ENOSYS itself.
    pub const UNNAMED: i64 = 184; // tuxcall
    pub const GETXATTRAT: i64 = 464;
}

#[cfg(target_arch = "aarch64")]
mod nr {
    pub const GETPID: i64 = 172;
    pub const PERSONALITY: i64 = 92;
    pub const SOCKET: i64 = 198;
    pub const KEYCTL: i64 = 219;
    pub const ADD_KEY: i64 = 217;
    pub const UNSHARE: i64 = 97;
    pub const CLONE: i64 = 220;
    pub const CLONE3: i64 = 435;
    pub const USERFAULTFD: i64 = 282;
    pub const PIDFD_GETFD: i64 = 438;
    pub const PROCESS_MADVISE: i64 = 440;
    pub const SET_MEMPOLICY: i64 = 237;
    pub const PROCESS_VM_READV: i64 = 270;
    pub const CHROOT: i64 = 51;
    pub const NAME_TO_HANDLE_AT: i64 = 264;
    /// Removed from the kernel long ago: it answers ENOSYS itself.
    pub const UNNAMED: i64 = 42; // nfsservctl
    pub const GETXATTRAT: i64 = 464;
}

const AF_INET: i64 = 2;
const AF_VSOCK: i64 = 40;
const SOCK_DGRAM: i64 = 2;
const CLONE_NEWUTS: i64 = 0x0400_0000;
const SIGCHLD: i64 = 17;
const ADDR_NO_RANDOMIZE: i64 = 0x0040000;

/// Make one call; "ok", or the errno's name.
fn call(number: i64, args: [i64; 5]) -> String {
    // SAFETY: every argument is a number or a null pointer, for calls that
    // take them (checked by hand against each call's man page).
    let result = unsafe { syscall(number as c_long, args[0], args[1], args[2], args[3], args[4]) };
    if result == 0 && number == nr::CLONE {
        // A clone that was allowed: this is the child.
        std::process::exit(0);
    }
    if result >= 0 {
        return "ok".to_string();
    }
    // SAFETY: the C library's errno of this thread.
    let errno = unsafe { *__errno_location() };
    match errno {
        1 => "EPERM".to_string(),
        3 => "ESRCH".to_string(),
        9 => "EBADF".to_string(),
        14 => "EFAULT".to_string(),
        22 => "EINVAL".to_string(),
        38 => "ENOSYS".to_string(),
        97 => "EAFNOSUPPORT".to_string(),
        other => format!("errno {other}"),
    }
}

fn main() {
    let null = 0;
    let probes: [(&str, i64, [i64; 5]); 18] = [
        ("getpid", nr::GETPID, [0; 5]),
        ("personality(query)", nr::PERSONALITY, [0xffff_ffff, 0, 0, 0, 0]),
        ("personality(ADDR_NO_RANDOMIZE)", nr::PERSONALITY, [ADDR_NO_RANDOMIZE, 0, 0, 0, 0]),
        ("socket(AF_INET)", nr::SOCKET, [AF_INET, SOCK_DGRAM, 0, 0, 0]),
        ("socket(AF_VSOCK)", nr::SOCKET, [AF_VSOCK, SOCK_DGRAM, 0, 0, 0]),
        // KEYCTL_GET_KEYRING_ID (0) of the session keyring (-3), not made.
        ("keyctl", nr::KEYCTL, [0, -3, 0, 0, 0]),
        ("add_key", nr::ADD_KEY, [null, null, null, 0, 0]),
        ("unshare(CLONE_NEWUTS)", nr::UNSHARE, [CLONE_NEWUTS, 0, 0, 0, 0]),
        ("clone(CLONE_NEWUTS)", nr::CLONE, [CLONE_NEWUTS | SIGCHLD, 0, 0, 0, 0]),
        ("clone3", nr::CLONE3, [null, 0, 0, 0, 0]),
        ("userfaultfd", nr::USERFAULTFD, [0; 5]),
        ("pidfd_getfd", nr::PIDFD_GETFD, [-1, -1, 0, 0, 0]),
        ("process_madvise", nr::PROCESS_MADVISE, [-1, null, 0, 0, 0]),
        // MPOL_DEFAULT with no nodes: what every process has already.
        ("set_mempolicy", nr::SET_MEMPOLICY, [0, null, 0, 0, 0]),
        ("process_vm_readv", nr::PROCESS_VM_READV, [0, null, 0, null, 0]),
        ("name_to_handle_at", nr::NAME_TO_HANDLE_AT, [-1, null, null, null, 0]),
        // A call the profile names nowhere: refused by default.
        ("unnamed", nr::UNNAMED, [0; 5]),
        // Linux 6.13, newer than both runtimes: "no such call", so that a
        // C library falls back as on an older kernel.
        ("getxattrat", nr::GETXATTRAT, [-1, null, 0, null, 0]),
    ];
    for (name, number, args) in probes {
        println!("{name}: {}", call(number, args));
    }
    // chroot(2) is allowed to a container with CAP_SYS_CHROOT (Docker's).
    let root = b"/\0";
    println!("chroot: {}", call(nr::CHROOT, [root.as_ptr() as i64, 0, 0, 0, 0]));
}
