//! An OCI bundle for the tests: a busybox rootfs and `step7 spec`'s
//! config.json, changed by each test, with a state root of its own.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::{Command, Output};

use crate::support::{self, assert_code, run, stdout, Rootfs};
use crate::BIN;

/// A bundle: a busybox rootfs and the config.json of `step7 spec`,
/// changed by the test. Removed, with its state root, when dropped.
pub struct Bundle {
    pub rootfs: Rootfs,
    pub dir: PathBuf,
    pub root: PathBuf,
}

impl Bundle {
    pub fn new() -> Option<Bundle> {
        let rootfs = Rootfs::new()?;
        let dir = PathBuf::from(format!("{}-bundle", rootfs.path.display()));
        let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
        std::fs::create_dir_all(&dir).unwrap();
        std::os::unix::fs::symlink(&rootfs.path, dir.join("rootfs")).unwrap();
        let out = run(BIN, &["spec", "--bundle", dir.to_str().unwrap()]);
        assert_code(&out, 0);
        let bundle = Bundle { rootfs, dir, root };
        // runc refuses a symlinked root.path: give both the real one. A
        // writable root, so that the tests can leave traces in it.
        bundle.edit(|c| {
            c["root"]["path"] = json!(bundle.rootfs.path);
            c["root"]["readonly"] = json!(false);
        });
        Some(bundle)
    }

    pub fn config(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("config.json")).unwrap()).unwrap()
    }

    pub fn edit(&self, change: impl FnOnce(&mut Value)) {
        let mut config = self.config();
        change(&mut config);
        std::fs::write(self.dir.join("config.json"), serde_json::to_string_pretty(&config).unwrap()).unwrap();
    }

    pub fn args(&self, script: &str) {
        self.edit(|c| c["process"]["args"] = json!(["sh", "-c", script]));
    }

    /// `step7 --root R COMMAND ARGS...`
    pub fn step7(&self, args: &[&str]) -> Output {
        let mut all = vec!["--root", self.root.to_str().unwrap()];
        all.extend_from_slice(args);
        run(BIN, &all)
    }

    /// `step7 run --bundle B ID`
    pub fn run(&self, id: &str) -> Output {
        self.step7(&["run", "--bundle", self.dir.to_str().unwrap(), id])
    }

    /// `step7 delete [--force] ID`, then reap the container's first
    /// process: after `create` exited it was re-parented to this test
    /// process (a subreaper).
    pub fn delete(&self, id: &str, force: bool) {
        let saved = std::fs::read_to_string(self.root.join(id).join("state.json")).unwrap_or_default();
        let pid = serde_json::from_str::<Value>(&saved).ok().and_then(|s| s["pid"].as_i64()).unwrap_or(0);
        let out = if force { self.step7(&["delete", "--force", id]) } else { self.step7(&["delete", id]) };
        assert_code(&out, 0);
        if pid > 0 {
            support::reap(pid as i32);
        }
    }

    /// A command that leaves a container running (`create`, `run -d`):
    /// the container inherits its stdout and stderr, so they go to files,
    /// not to pipes that would stay open as long as the container runs.
    pub fn step7_detached(&self, args: &[&str]) -> Output {
        let out = self.dir.join("out");
        let err = self.dir.join("err");
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        Output { status, stdout: std::fs::read(out).unwrap(), stderr: std::fs::read(err).unwrap() }
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

pub fn status(bundle: &Bundle, id: &str) -> String {
    let out = bundle.step7(&["state", id]);
    assert_code(&out, 0);
    let state: Value = serde_json::from_str(&stdout(&out)).unwrap();
    state["status"].as_str().unwrap().to_string()
}

/// Every directory the cgroup `step7/<id>` may have.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let hierarchies = step7::hierarchy::Hierarchies::detect().unwrap();
    hierarchies
        .v1
        .iter()
        .map(|(_, m)| m.clone())
        .chain(hierarchies.v2.clone())
        .map(|m| m.join("step7").join(id))
        .collect()
}
