//! Step 4 in a real container: its own hostname.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use support::{assert_code, run, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step4");

fn host_name() -> String {
    nix::unistd::gethostname().unwrap().into_string().unwrap()
}

#[test]
fn hostname_is_set_inside_and_the_hosts_is_untouched() {
    let Some(rootfs) = Rootfs::new() else { return };
    let before = host_name();
    let out =
        run(BIN, &[&rootfs.arg(), "--hostname", "box-1", "sh", "-c", "hostname; uname -n; hostname renamed; hostname"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "box-1\nbox-1\nrenamed\n");
    assert_eq!(host_name(), before, "the host's hostname changed");
}

#[test]
fn default_hostname_is_the_container_id() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "hostname"]);
    assert_code(&out, 0);
    let name = stdout(&out).trim().to_string();
    assert!(name.len() == 12 && name.bytes().all(|b| b.is_ascii_hexdigit()), "{name:?}");
    let again = stdout(&run(BIN, &[&rootfs.arg(), "hostname"])).trim().to_string();
    assert_ne!(name, again, "two containers got the same id");
}

#[test]
fn an_invalid_hostname_is_refused_before_anything_starts() {
    let Some(rootfs) = Rootfs::new() else { return };
    for bad in ["-x", "a_b", "a..b", &"x".repeat(65)] {
        let out = run(BIN, &[&rootfs.arg(), &format!("--hostname={bad}"), "true"]);
        assert_code(&out, 125);
        assert!(support::stderr(&out).contains("invalid --hostname"), "{}", support::stderr(&out));
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &[]);
}

/// Negative control for step 5: without a network namespace the container
/// sees the host's interfaces.
#[test]
fn network_interfaces_are_the_hosts() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &[&rootfs.arg(), "ls", "/sys/class/net"]);
    assert_code(&out, 0);
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    host.sort();
    let mut inside: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
    inside.sort();
    assert_eq!(inside, host);
}
