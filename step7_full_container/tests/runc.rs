//! The same bundle under runc and under step 7: the reference runtime and
//! ours must agree on what each feature of config.json does.

#[path = "oci/bundle.rs"]
mod bundle;
#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use bundle::Bundle;
use serde_json::{json, Value};
use std::process::Command;
use support::{run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

/// Whether runc is here to compare with; if not, says so (a failure under
/// CI, a skip elsewhere).
fn runc_installed() -> bool {
    Command::new("runc").arg("--version").output().is_ok()
        || support::cannot_run("runc is not installed (apt-get install runc)")
}

/// The same bundle under runc and under step 7: for each feature of
/// config.json, the container reports the same.
#[test]
fn config_features_behave_as_under_runc() {
    let Some(bundle) = Bundle::new() else { return };
    if !runc_installed() {
        return;
    }
    std::fs::write(bundle.rootfs.path.join("file.txt"), "from the bundle\n").unwrap();
    let original = bundle.config();
    type Change = Box<dyn Fn(&mut Value)>;
    let features: Vec<(&str, Change, &str)> = vec![
        ("hostname", Box::new(|c| c["hostname"] = json!("cmp-host")), "hostname"),
        ("user", Box::new(|c| c["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]})), "id -u; id -g; id -G"),
        ("env", Box::new(|c| c["process"]["env"] = json!(["PATH=/bin:/usr/bin", "FOO=bar baz"])), "echo \"$FOO\"; echo $PATH"),
        ("cwd", Box::new(|c| c["process"]["cwd"] = json!("/tmp")), "pwd"),
        ("readonly root", Box::new(|c| c["root"]["readonly"] = json!(true)), "touch /x 2>/dev/null && echo writable || echo read-only"),
        ("writable root", Box::new(|c| c["root"]["readonly"] = json!(false)), "touch /x 2>/dev/null && echo writable || echo read-only; rm -f /x"),
        ("rlimit", Box::new(|c| c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 123, "soft": 100}])), "ulimit -n; ulimit -Hn"),
        ("capabilities", Box::new(|c| {
            let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW"]);
            c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": [], "ambient": []});
        }), "grep ^Cap /proc/self/status"),
        ("no_new_privs", Box::new(|c| c["process"]["noNewPrivileges"] = json!(true)), "grep NoNewPrivs /proc/self/status"),
        ("masked paths", Box::new(|_| {}), "wc -c < /proc/kcore; ls /sys/firmware | wc -l; cat /proc/keys | wc -c"),
        ("readonly paths", Box::new(|_| {}), "echo x 2>/dev/null > /proc/sys/kernel/domainname && echo writable || echo read-only"),
        // (Not `stat -c %a /data`: runc 1.1 gives a tmpfs the mode of the
        // directory it was mounted on, 755, whatever mode= says.)
        ("tmpfs mount", Box::new(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "size=1m", "mode=700"]}))), "grep ' /data ' /proc/mounts | cut -d' ' -f3,4"),
        ("bind mount", Box::new(|c| c["mounts"].as_array_mut().unwrap().push(json!({"destination": "/etc/bound.txt", "type": "bind", "source": "rootfs/file.txt", "options": ["rbind", "ro"]}))), "cat /etc/bound.txt; echo x 2>/dev/null >> /etc/bound.txt || echo read-only"),
        ("umask", Box::new(|c| c["process"]["user"]["umask"] = json!(0o027)), "umask"),
        ("sysctl", Box::new(|c| c["linux"]["sysctl"] = json!({"kernel.domainname": "example.org"})), "cat /proc/sys/kernel/domainname"),
        ("oom score", Box::new(|c| c["process"]["oomScoreAdj"] = json!(500)), "cat /proc/self/oom_score_adj"),
        ("pid namespace", Box::new(|_| {}), "echo $$; cat /proc/1/comm"),
        ("memory limit", Box::new(|c| c["linux"]["resources"] = json!({"memory": {"limit": 67108864}})), "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"),
        ("user namespace", Box::new(|c| {
            c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
            c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
            c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        }), "id; cat /proc/self/uid_map /proc/self/gid_map; stat -c '%u %g' /bin; touch /x 2>/dev/null || echo root of the host's files? no; ls /dev | wc -l"),
        // With CAP_MKNOD a node for /dev/kmsg (1:11) can be made, but the
        // devices cgroup refuses to open it; the default devices work.
        ("device cgroup", Box::new(|c| {
            let caps = json!(["CAP_MKNOD"]);
            c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
        }), "mknod /tmp/kmsg c 1 11 && echo made; head -c 1 /tmp/kmsg >/dev/null 2>&1 && echo opened || echo refused; rm /tmp/kmsg; echo x > /dev/null && echo null works"),
        ("memory reservation and swappiness", Box::new(|c| c["linux"]["resources"] = json!({"memory": {"reservation": 33554432, "swappiness": 10}})),
            "cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes /sys/fs/cgroup/memory/memory.swappiness 2>/dev/null || cat /sys/fs/cgroup/memory.low"),
        ("pids limit", Box::new(|c| c["linux"]["resources"] = json!({"pids": {"limit": 42}})), "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"),
    ];
    let runc_root = bundle.root.with_extension("runc");
    let mut differences = Vec::new();
    for (n, (name, change, script)) in features.iter().enumerate() {
        bundle.edit(|c| {
            *c = original.clone();
            change(c);
            c["process"]["args"] = json!(["sh", "-c", script]);
            c["process"]["terminal"] = json!(false);
        });
        let id = format!("cmp{n}");
        let ours = bundle.run(&id);
        let theirs =
            run("runc", &["--root", runc_root.to_str().unwrap(), "run", "--bundle", bundle.dir.to_str().unwrap(), &id]);
        let _ = run("runc", &["--root", runc_root.to_str().unwrap(), "delete", "--force", &id]);
        if (ours.status.code(), stdout(&ours)) != (theirs.status.code(), stdout(&theirs)) {
            differences.push(format!(
                "{name}: step7 {:?} {:?} {}| runc {:?} {:?} {}",
                ours.status.code(),
                stdout(&ours),
                stderr(&ours),
                theirs.status.code(),
                stdout(&theirs),
                stderr(&theirs)
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&runc_root);
    assert!(differences.is_empty(), "differences from runc:\n{}", differences.join("\n"));
}

/// Docker's default seccomp profile, as step 7 writes it for a container
/// with Docker's capabilities, under runc (libseccomp compiles it) and
/// under step 7 (seccompiler compiles it): the probe's calls meet the same
/// answers, Docker's.
#[test]
fn the_default_seccomp_profile_behaves_as_under_runc() {
    let Some(bundle) = Bundle::new() else { return };
    if !runc_installed() {
        return;
    }
    std::fs::copy(
        support::static_binary("step7_full_container/examples/syscall_probe.rs"),
        bundle.rootfs.path.join("probe"),
    )
    .unwrap();
    let caps: Vec<String> = step7::engine::options::DOCKER_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    let profile = serde_json::to_value(step7::oci::security::seccomp::docker_default(&caps)).unwrap();
    bundle.edit(|c| {
        c["process"]["args"] = json!(["/probe"]);
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
        c["linux"]["seccomp"] = profile;
    });
    let ours = bundle.run("probe");
    let runc_root = bundle.root.with_extension("runc");
    let dir = bundle.dir.to_str().unwrap();
    let theirs = run("runc", &["--root", runc_root.to_str().unwrap(), "run", "--bundle", dir, "probe"]);
    let _ = run("runc", &["--root", runc_root.to_str().unwrap(), "delete", "--force", "probe"]);
    let _ = std::fs::remove_dir_all(&runc_root);
    assert_eq!(stdout(&ours), stdout(&theirs), "step7: {}runc: {}", stderr(&ours), stderr(&theirs));
    assert!(stdout(&ours).contains("unnamed: EPERM\n") && stdout(&ours).contains("getxattrat: ENOSYS\n"));
}

/// The config.json that the installed `runc spec` writes, unchanged: a
/// terminal (this command becomes it, as runc does), and ambient
/// capabilities without inheritable ones (not raised, with a warning, as
/// runc does). Both runtimes run it the same.
#[test]
fn runc_specs_own_config_runs_unchanged() {
    let Some(rootfs) = support::Rootfs::new() else { return };
    for program in ["runc", "script"] {
        if Command::new(program).arg("--version").output().is_err() {
            support::cannot_run(&format!("{program} is missing (apt-get install runc bsdutils)"));
            return;
        }
    }
    let bundle = rootfs.path.with_extension("runc-spec");
    std::fs::create_dir_all(&bundle).unwrap();
    std::fs::rename(&rootfs.path, bundle.join("rootfs")).unwrap();
    assert!(Command::new("runc").arg("spec").current_dir(&bundle).status().unwrap().success());
    let root = bundle.with_extension("state");
    let session = |runtime: &str| {
        let command =
            format!("{runtime} --root {} run --bundle {} spec; echo exit=$?", root.display(), bundle.display());
        let mut child = Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child.stdin.take().unwrap().write_all(b"grep CapAmb /proc/self/status; exit 3\n").unwrap();
        String::from_utf8_lossy(&support::finish(child).stdout).replace('\r', "")
    };
    let ours = session(BIN);
    let theirs = session("runc");
    let _ = std::fs::remove_dir_all(&bundle);
    let _ = std::fs::remove_dir_all(&root);
    for out in [&ours, &theirs] {
        assert!(out.contains("CapAmb:\t0000000000000000\n") && out.contains("exit=3\n"), "{out}");
    }
    assert!(ours.contains("warning: config.json: process.capabilities.ambient"), "{ours}");
}
