//! Step 6 in real containers: limits the kernel really enforces, measured
//! from the cgroups' own counters. Containers run with `--network none`:
//! the network is step 5's business.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use step6::hierarchy::{Hierarchies, Setup};
use support::{assert_code, finish, run, start, stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step6");

fn args<'a>(rootfs: &'a str, rest: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![rootfs, "--network", "none"];
    all.extend_from_slice(rest);
    all
}

/// Every directory the container `id`'s cgroup may have.
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let hierarchies = Hierarchies::detect().unwrap();
    let mounts = hierarchies.v1.iter().map(|(_, m)| m.clone()).chain(hierarchies.v2.clone());
    mounts.map(|mount| mount.join("step6").join(id)).collect()
}

/// The container's CPU usage counter, read from its cgroup.
fn cpu_usage(id: &str) -> Duration {
    let hierarchies = Hierarchies::detect().unwrap();
    if hierarchies.setup == Setup::Unified {
        let stat = std::fs::read_to_string(hierarchies.v2.unwrap().join("step6").join(id).join("cpu.stat")).unwrap();
        let usec = stat.lines().find_map(|l| l.strip_prefix("usage_usec ")).unwrap().trim().parse().unwrap();
        Duration::from_micros(usec)
    } else {
        let mount = hierarchies.v1_mount("cpuacct").unwrap();
        let ns = std::fs::read_to_string(mount.join("step6").join(id).join("cpuacct.usage")).unwrap();
        Duration::from_nanos(ns.trim().parse().unwrap())
    }
}

/// The first line a running container printed (the scripts start with
/// `hostname`, which is the container's id).
fn first_line(child: &mut std::process::Child) -> String {
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    line.trim().to_string()
}

#[test]
fn allocating_beyond_the_memory_limit_is_oom_killed() {
    let Some(rootfs) = Rootfs::new() else { return };
    // dd's 64 MiB buffer is filled from /dev/zero: 64 MiB touched, charged.
    let out =
        run(BIN, &args(&rootfs.arg(), &["--memory", "32m", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]));
    assert_code(&out, 137);
    assert!(stderr(&out).contains("killed: out of memory (limit 32 MiB)"), "{}", stderr(&out));
    // The same allocation under a larger limit runs to its end.
    let out = run(
        BIN,
        &args(&rootfs.arg(), &["--memory", "128m", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"]),
    );
    assert_code(&out, 0);
}

#[test]
fn a_fork_loop_hits_the_pids_limit_and_the_container_survives() {
    let Some(rootfs) = Rootfs::new() else { return };
    // The loop runs in a subshell: busybox's shell gives up when a fork
    // fails, and the one that gives up must not be the container's.
    let script = "(for i in $(seq 40); do sleep 1 & done); echo subshell=$?; echo survived";
    let out = run(BIN, &args(&rootfs.arg(), &["--pids-limit", "16", "sh", "-c", script]));
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "subshell=2\nsurvived\n");
    assert!(stderr(&out).contains("can't fork"), "no fork failed: {}", stderr(&out));
}

#[test]
fn a_busy_loop_under_half_a_cpu_uses_about_half_a_cpu() {
    let Some(rootfs) = Rootfs::new() else { return };
    let mut child = start(BIN, &args(&rootfs.arg(), &["--cpus", "0.5", "sh", "-c", "hostname; while :; do :; done"]));
    let id = first_line(&mut child);
    // Let the quota settle, then measure over a second and a half.
    std::thread::sleep(Duration::from_millis(300));
    let (used_before, started) = (cpu_usage(&id), Instant::now());
    std::thread::sleep(Duration::from_millis(1500));
    let (used_after, elapsed) = (cpu_usage(&id), started.elapsed());
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let _ = finish(child);
    let share = (used_after - used_before).as_secs_f64() / elapsed.as_secs_f64();
    // A quota is a ceiling: well under 1 CPU, and the loop ran at all.
    assert!((0.2..=0.65).contains(&share), "the container used {share:.2} CPUs");
}

#[test]
fn no_cgroup_is_left_after_exit() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(
        BIN,
        &args(
            &rootfs.arg(),
            &["--memory", "64m", "--pids-limit", "32", "sh", "-c", "hostname; grep -c step6 /proc/self/cgroup"],
        ),
    );
    assert_code(&out, 0);
    let text = stdout(&out);
    let mut lines = text.lines();
    let id = lines.next().unwrap();
    // Inside, the container was in its cgroups: memory, cpu, cpuacct, pids.
    assert!(lines.next().unwrap().parse::<u32>().unwrap() >= 3, "{text}");
    for dir in cgroup_dirs(id) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
    assert!(!PathBuf::from("/run/step6").join(id).exists());
}

#[test]
fn a_signalled_runtime_removes_the_cgroup() {
    let Some(rootfs) = Rootfs::new() else { return };
    let mut child = start(BIN, &args(&rootfs.arg(), &["--memory", "64m", "sh", "-c", "hostname; exec sleep 30"]));
    let id = first_line(&mut child);
    assert!(cgroup_dirs(&id).iter().any(|dir| dir.exists()));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert_code(&finish(child), 128 + libc::SIGTERM);
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

/// A SIGKILLed runtime removes nothing; the next run removes its cgroup.
#[test]
fn a_killed_runtimes_cgroup_is_recovered() {
    let Some(rootfs) = Rootfs::new() else { return };
    let mut child = start(BIN, &args(&rootfs.arg(), &["--memory", "64m", "sh", "-c", "hostname; exec sleep 30"]));
    let id = first_line(&mut child);
    let init = support::first_child(child.id());
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = finish(child);
    support::reap(init);
    assert!(cgroup_dirs(&id).iter().any(|dir| dir.exists()), "the killed run's cgroup should still be there");
    assert_code(&run(BIN, &args(&rootfs.arg(), &["true"])), 0);
    for dir in cgroup_dirs(&id) {
        assert!(!dir.exists(), "{} was not recovered", dir.display());
    }
}

#[test]
fn verbose_reports_the_setup_and_the_usage() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = run(BIN, &args(&rootfs.arg(), &["--verbose", "--memory", "64m", "true"]));
    assert_code(&out, 0);
    let err = stderr(&out);
    let setup = Hierarchies::detect().unwrap().setup.to_string();
    assert!(err.contains(&format!("cgroups: {setup}")), "{err}");
    assert!(err.contains("peak memory ") && err.contains("CPU time "), "{err}");
}

#[test]
fn invalid_limits_are_refused_before_anything_is_created() {
    let Some(rootfs) = Rootfs::new() else { return };
    for (flag, value, message) in [
        ("--memory", "0", "invalid --memory"),
        ("--memory", "12xb", "is not a size"),
        ("--memory", "1k", "the minimum is 6m"),
        ("--cpus", "-1", "it must be more than 0"),
        ("--cpus", "1000", "this machine has"),
        ("--pids-limit", "0", "invalid --pids-limit"),
        ("--cpu-shares", "1", "invalid --cpu-shares"),
    ] {
        let out = run(BIN, &args(&rootfs.arg(), &["--verbose", flag, value, "true"]));
        assert_code(&out, 125);
        let err = stderr(&out);
        assert!(err.contains(message), "{flag} {value}: {err}");
        assert!(!err.contains("mkdir") && !err.contains("clone3"), "{flag} {value} created something: {err}");
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    support::check_bad_input(BIN, &rootfs, &["--network", "none"]);
}
