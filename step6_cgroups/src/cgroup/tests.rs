//! The v2 and v1 code paths against fake cgroup trees: ordinary
//! directories with the files the kernel would provide. (The v1 path also
//! runs for real in the integration tests on hybrid hosts.)

use super::*;
use crate::limits::LimitArgs;

struct Fake(PathBuf);

impl Fake {
    fn new(name: &str) -> Fake {
        let dir = std::env::temp_dir().join(format!("step6-fake-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Fake(dir)
    }
    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.0.join(path)).unwrap_or_else(|_| panic!("no {path}"))
    }
    fn write(&self, path: &str, text: &str) {
        std::fs::create_dir_all(self.0.join(path).parent().unwrap()).unwrap();
        std::fs::write(self.0.join(path), text).unwrap();
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn limits(args: LimitArgs) -> Limits {
    args.parse().unwrap()
}

fn all_limits() -> Limits {
    limits(LimitArgs {
        memory: Some("32m".into()),
        memory_swap: Some("48m".into()),
        cpus: Some("0.5".into()),
        cpu_shares: Some(512),
        pids_limit: Some(64),
        blkio_weight: Some(500),
    })
}

#[test]
fn v2_writes_the_v2_files() {
    let fake = Fake::new("v2");
    let root = fake.0.join("cgroup");
    fake.write("cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n");
    fake.write("cgroup/cgroup.subtree_control", "cpu\n");
    let hierarchies = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(root) };
    let cgroup = Cgroup::create_in(&hierarchies, &fake.0.join("state"), "abc", &all_limits()).unwrap();

    // Only the missing controllers are enabled, at the root and in step6/.
    assert_eq!(fake.read("cgroup/cgroup.subtree_control"), "+memory +pids +io");
    assert_eq!(fake.read("cgroup/step6/cgroup.subtree_control"), "+memory +cpu +pids +io");
    assert_eq!(fake.read("cgroup/step6/abc/memory.max"), "33554432");
    assert_eq!(fake.read("cgroup/step6/abc/memory.swap.max"), (16u64 << 20).to_string());
    assert_eq!(fake.read("cgroup/step6/abc/cpu.max"), "50000 100000");
    assert_eq!(fake.read("cgroup/step6/abc/cpu.weight"), shares_to_weight(512).to_string());
    assert_eq!(fake.read("cgroup/step6/abc/pids.max"), "64");
    assert_eq!(fake.read("cgroup/step6/abc/io.weight"), format!("default {}", blkio_to_io_weight(500)));

    cgroup.attach(Pid::from_raw(4242)).unwrap();
    assert_eq!(fake.read("cgroup/step6/abc/cgroup.procs"), "4242");

    fake.write("cgroup/step6/abc/memory.peak", "33550000\n");
    fake.write("cgroup/step6/abc/cpu.stat", "usage_usec 1500000\nuser_usec 1000000\n");
    fake.write("cgroup/step6/abc/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
    assert_eq!(cgroup.peak_memory(), Some(33_550_000));
    assert_eq!(cgroup.cpu_time(), Some(Duration::from_millis(1500)));
    assert_eq!(cgroup.oom_kills(), 1);
    let err = cgroup.outcome(137).unwrap_err();
    assert_eq!(err.to_string(), "killed: out of memory (limit 32 MiB)");
    assert_eq!(step5::process::exit_code_of(&err), 137);
}

#[test]
fn v2_without_a_needed_controller_says_so() {
    let fake = Fake::new("v2-missing");
    fake.write("cgroup/cgroup.controllers", "cpu pids\n");
    let hierarchies = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(fake.0.join("cgroup")) };
    let memory = limits(LimitArgs { memory: Some("32m".into()), ..Default::default() });
    let err = Cgroup::create_in(&hierarchies, &fake.0.join("state"), "abc", &memory).err().unwrap();
    assert!(err.to_string().contains("--memory needs the memory controller"), "{err}");
    assert!(!fake.0.join("cgroup/step6/abc").exists());
    // Without --memory the same host is fine.
    let none = limits(LimitArgs::default());
    assert!(Cgroup::create_in(&hierarchies, &fake.0.join("state"), "abc", &none).is_ok());
}

#[test]
fn controllers_enabled_above_are_left_as_they_are() {
    let fake = Fake::new("v2-enabled-above");
    // The host enables memory and pids at its root already, and has
    // no cpu controller at all.
    fake.write("cgroup/cgroup.controllers", "memory pids\n");
    fake.write("cgroup/cgroup.subtree_control", "memory pids\n");
    let hierarchies = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(fake.0.join("cgroup")) };
    let memory = limits(LimitArgs { memory: Some("32m".into()), pids_limit: Some(16), ..Default::default() });
    let cgroup =
        Cgroup::create_at(&hierarchies, Path::new("a/b/abc"), &memory, &crate::hierarchy::CONTROLLERS, true).unwrap();
    assert_eq!(fake.read("cgroup/cgroup.subtree_control"), "memory pids\n", "not written again");
    assert_eq!(fake.read("cgroup/a/cgroup.subtree_control"), "+memory +pids");
    assert_eq!(fake.read("cgroup/a/b/abc/memory.max"), "33554432");
    drop(cgroup);

    let cpus = limits(LimitArgs { cpus: Some("0.5".into()), ..Default::default() });
    let err = Cgroup::create_at(&hierarchies, Path::new("a/b/def"), &cpus, &crate::hierarchy::CONTROLLERS, true)
        .err()
        .unwrap();
    assert_eq!(err.to_string(), "--cpus needs the cpu controller, which this host's cgroup v2 does not offer");
}

#[test]
fn a_failed_create_leaves_no_cgroup() {
    let fake = Fake::new("v2-refused");
    fake.write("cgroup/cgroup.controllers", "memory\n");
    // A cgroup.subtree_control that cannot be written (as when the
    // cgroup holds processes: EBUSY).
    std::fs::create_dir_all(fake.0.join("cgroup/cgroup.subtree_control")).unwrap();
    let hierarchies = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(fake.0.join("cgroup")) };
    let result = Cgroup::create_in(&hierarchies, &fake.0.join("state"), "abc", &limits(LimitArgs::default()));
    assert!(result.err().unwrap().to_string().contains("cannot enable +memory"));
    assert!(!fake.0.join("cgroup/step6").exists(), "the cgroup and its parent are removed again");
}

#[test]
fn v1_writes_per_hierarchy_files() {
    let fake = Fake::new("v1");
    let hierarchies = Hierarchies {
        setup: Setup::Hybrid,
        v1: vec![
            (vec!["memory".into()], fake.0.join("memory")),
            (vec!["cpu".into(), "cpuacct".into()], fake.0.join("cpu,cpuacct")),
            (vec!["pids".into()], fake.0.join("pids")),
            (vec!["blkio".into()], fake.0.join("blkio")),
        ],
        v2: Some(fake.0.join("unified")),
    };
    fake.write("memory/step6/abc/memory.memsw.limit_in_bytes", "");
    fake.write("blkio/step6/abc/blkio.bfq.weight", "");
    let cgroup = Cgroup::create_in(&hierarchies, &fake.0.join("state"), "abc", &all_limits()).unwrap();
    assert_eq!(fake.read("memory/step6/abc/memory.limit_in_bytes"), "33554432");
    assert_eq!(fake.read("memory/step6/abc/memory.memsw.limit_in_bytes"), (48u64 << 20).to_string());
    assert_eq!(fake.read("cpu,cpuacct/step6/abc/cpu.cfs_quota_us"), "50000");
    assert_eq!(fake.read("cpu,cpuacct/step6/abc/cpu.cfs_period_us"), "100000");
    assert_eq!(fake.read("cpu,cpuacct/step6/abc/cpu.shares"), "512");
    assert_eq!(fake.read("pids/step6/abc/pids.max"), "64");
    assert_eq!(fake.read("blkio/step6/abc/blkio.bfq.weight"), "500");
    // cpu and cpuacct share a hierarchy: one directory, one write.
    assert_eq!(cgroup.unique_dirs().len(), 4);
    fake.write("memory/step6/abc/memory.oom_control", "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    fake.write("cpu,cpuacct/step6/abc/cpuacct.usage", "2500000000\n");
    assert_eq!(cgroup.oom_kills(), 2);
    assert_eq!(cgroup.cpu_time(), Some(Duration::from_millis(2500)));
    // Killed by something else while a child was OOM-killed: a warning,
    // and the status stays.
    assert_eq!(cgroup.outcome(1).unwrap(), 1);
}

/// The hierarchy's root, or a path that climbs out of it, is never a
/// container's cgroup, on v2 or v1; nothing is created or written.
#[test]
fn the_root_is_never_the_cgroup() {
    let fake = Fake::new("root");
    fake.write("cgroup/cgroup.controllers", "cpu memory pids\n");
    fake.write("cgroup/cgroup.subtree_control", "");
    fake.write("memory/memory.limit_in_bytes", "");
    let v2 = Hierarchies { setup: Setup::Unified, v1: vec![], v2: Some(fake.0.join("cgroup")) };
    let v1 = Hierarchies { setup: Setup::Legacy, v1: vec![(vec!["memory".into()], fake.0.join("memory"))], v2: None };
    for hierarchies in [&v2, &v1] {
        for path in ["/", "", ".", "/a/../..", "../x", "a/../../b"] {
            let made = Cgroup::create_at(hierarchies, Path::new(path), &all_limits(), &["memory"], false);
            let err = made.err().unwrap_or_else(|| panic!("{path:?} was accepted"));
            assert!(err.to_string().contains("below the hierarchy's root"), "{path:?}: {err:#}");
        }
    }
    assert_eq!(fake.read("cgroup/cgroup.subtree_control"), "");
    assert_eq!(fake.read("memory/memory.limit_in_bytes"), "");
}
