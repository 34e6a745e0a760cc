//! Where the host keeps its cgroups: cgroup v2, v1, or both ("hybrid").
//!
//! A cgroup *hierarchy* is a tree of directories in a mounted cgroup file
//! system; a process is in exactly one cgroup of each hierarchy.
//! - cgroup v1 has one hierarchy per controller (or a few controllers
//!   mounted together): /sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, ...
//! - cgroup v2 has a single hierarchy for every controller, usually at
//!   /sys/fs/cgroup itself.
//! - "hybrid" hosts mount the v1 controllers *and* a cgroup2 hierarchy
//!   (at /sys/fs/cgroup/unified) that holds no resource controllers; the
//!   limits are then v1's.
//!
//! The mount table says which is which: /proc/self/mountinfo lists every
//! cgroup mount with its type (cgroup or cgroup2) and, for v1, the
//! controllers it carries. Read: cgroups(7), proc(5) "mountinfo".

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The controllers this step makes a container's cgroup in.
pub const CONTROLLERS: [&str; 5] = ["memory", "cpu", "cpuacct", "pids", "blkio"];

/// Every cgroup v1 controller the kernel has (cgroups(7)): the ones a
/// mount may carry.
pub const KNOWN: [&str; 14] = [
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "blkio",
    "perf_event",
    "net_prio",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    /// cgroup v2 only.
    Unified,
    /// v1 controllers plus a cgroup2 hierarchy without them.
    Hybrid,
    /// cgroup v1 only.
    Legacy,
}

impl std::fmt::Display for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Setup::Unified => "cgroup v2 (unified)",
            Setup::Hybrid => "hybrid: cgroup v1 controllers, plus a cgroup v2 hierarchy (limits go to v1)",
            Setup::Legacy => "cgroup v1 (legacy)",
        })
    }
}

/// The host's cgroup mounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchies {
    pub setup: Setup,
    /// v1: (controllers, mount point), one entry per hierarchy.
    pub v1: Vec<(Vec<String>, PathBuf)>,
    /// The cgroup2 mount, if any.
    pub v2: Option<PathBuf>,
}

impl Hierarchies {
    // ANCHOR: detect
    /// Read the host's setup from this process's mount table.
    pub fn detect() -> Result<Hierarchies> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")?;
        Hierarchies::from_mountinfo(&mountinfo)
    }
    // ANCHOR_END: detect

    // ANCHOR: from_mountinfo
    /// Parse mountinfo lines such as
    /// `36 25 0:31 / /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory`.
    pub fn from_mountinfo(mountinfo: &str) -> Result<Hierarchies> {
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(dash) = fields.iter().position(|&f| f == "-") else { continue };
            let (Some(root), Some(mount_point), Some(fstype), Some(options)) =
                (fields.get(3), fields.get(4), fields.get(dash + 1), fields.get(dash + 3))
            else {
                continue;
            };
            // Only a hierarchy's root: a bind mount of one of its cgroups
            // (as inside a container) is not where new cgroups go.
            if *root != "/" {
                continue;
            }
            let mount_point = PathBuf::from(unescape(mount_point));
            match *fstype {
                "cgroup2" => v2 = Some(mount_point),
                "cgroup" => {
                    let controllers: Vec<String> =
                        options.split(',').filter(|option| KNOWN.contains(option)).map(String::from).collect();
                    if !controllers.is_empty() {
                        v1.push((controllers, mount_point));
                    }
                }
                _ => {}
            }
        }
        let setup = match (v1.is_empty(), &v2) {
            (true, Some(_)) => Setup::Unified,
            (false, Some(_)) => Setup::Hybrid,
            (false, None) => Setup::Legacy,
            (true, None) => bail!("no cgroup file system is mounted: mount cgroup2 at /sys/fs/cgroup"),
        };
        Ok(Hierarchies { setup, v1, v2 })
    }
    // ANCHOR_END: from_mountinfo

    /// The v1 hierarchy that carries `controller`.
    pub fn v1_mount(&self, controller: &str) -> Option<&Path> {
        self.v1
            .iter()
            .find(|(controllers, _)| controllers.iter().any(|c| c == controller))
            .map(|(_, path)| path.as_path())
    }
}

/// mountinfo writes space, tab, newline and backslash as \040 and so on.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4).and_then(|octal| u8::from_str_radix(octal, 8).ok());
        match code {
            Some(byte) => {
                out.push(byte as char);
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out + rest
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,memory
31 25 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:15 - cgroup cgroup rw,cpu,cpuacct
32 25 0:30 / /sys/fs/cgroup/pids rw,nosuid shared:16 - cgroup cgroup rw,pids
33 25 0:31 /inner /mnt/bound rw shared:17 - cgroup cgroup rw,blkio
";

    #[test]
    fn hybrid() {
        let found = Hierarchies::from_mountinfo(HYBRID).unwrap();
        assert_eq!(found.setup, Setup::Hybrid);
        assert_eq!(found.v2.as_deref(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(found.v1_mount("cpuacct"), Some(Path::new("/sys/fs/cgroup/cpu,cpuacct")));
        assert_eq!(found.v1_mount("memory"), Some(Path::new("/sys/fs/cgroup/memory")));
        // A bind mount of a sub-cgroup is not a hierarchy root.
        assert_eq!(found.v1_mount("blkio"), None);
    }

    #[test]
    fn unified_and_legacy() {
        let unified =
            "29 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n";
        assert_eq!(Hierarchies::from_mountinfo(unified).unwrap().setup, Setup::Unified);
        let legacy: String = HYBRID.lines().filter(|l| !l.contains("cgroup2")).map(|l| format!("{l}\n")).collect();
        assert_eq!(Hierarchies::from_mountinfo(&legacy).unwrap().setup, Setup::Legacy);
        assert!(Hierarchies::from_mountinfo("").is_err());
    }

    #[test]
    fn escaped_mount_points() {
        assert_eq!(unescape(r"/a\040b"), "/a b");
    }
}
