//! Step 7 as an OCI runtime: the lifecycle, config.json features compared
//! with runc on the same bundle, hooks, and bad bundles.

#[path = "oci/bundle.rs"]
mod bundle;
#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use serde_json::{json, Value};
use std::path::Path;

use bundle::{cgroup_dirs, status, Bundle};
use support::{assert_code, run, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

#[test]
fn lifecycle_create_start_kill_delete() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("echo started > /started; exec sleep 30");
    let dir = bundle.dir.to_str().unwrap();
    let pid_file = bundle.dir.join("pid");
    assert_code(
        &bundle.step7_detached(&["create", "--bundle", dir, "--pid-file", pid_file.to_str().unwrap(), "life"]),
        0,
    );
    assert_eq!(status(&bundle, "life"), "created");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    assert!(!bundle.rootfs.path.join("started").exists(), "the program ran before start");
    assert!(stdout(&bundle.step7(&["list", "-q"])).contains("life"));

    assert_code(&bundle.step7(&["start", "life"]), 0);
    assert_eq!(status(&bundle, "life"), "running");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !bundle.rootfs.path.join("started").exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(bundle.rootfs.path.join("started").exists(), "the program did not run after start");
    assert_eq!(stdout(&bundle.step7(&["ps", "life"])).trim(), pid.to_string());
    assert_ne!(bundle.step7(&["start", "life"]).status.code(), Some(0), "a second start must fail");
    assert_ne!(bundle.step7(&["delete", "life"]).status.code(), Some(0), "deleting a running container needs --force");

    assert_code(&bundle.step7(&["kill", "life", "KILL"]), 0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&bundle, "life") != "stopped" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(status(&bundle, "life"), "stopped");
    bundle.delete("life", false);
    let out = bundle.step7(&["state", "life"]);
    assert!(stderr(&out).contains("no container named life"), "{}", stderr(&out));
    for dir in cgroup_dirs("life") {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[test]
fn run_passes_the_exit_status_on_and_removes_everything() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("echo out; exit 7");
    let out = bundle.run("status");
    assert_code(&out, 7);
    assert_eq!(stdout(&out), "out\n");
    assert!(!bundle.root.join("status").exists());
    for dir in cgroup_dirs("status") {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

#[test]
fn exec_pause_resume_and_kill_all() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("exec sleep 30");
    assert_code(&bundle.step7_detached(&["run", "--detach", "--bundle", bundle.dir.to_str().unwrap(), "busy"]), 0);

    // exec joins the container: its PID namespace, hostname, cgroup.
    let out = bundle.step7(&["exec", "busy", "sh", "-c", "echo $$; hostname; cat /proc/1/comm"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "2\nstep7\nsleep\n");
    assert_code(&bundle.step7(&["exec", "busy", "sh", "-c", "exit 5"]), 5);
    assert_code(&bundle.step7(&["exec", "busy", "no-such-program"]), 127);
    // --pid-file: written once the process runs, not left behind when it
    // cannot run.
    let pid_file = bundle.dir.join("exec.pid");
    let pid_path = pid_file.to_str().unwrap();
    assert_code(&bundle.step7(&["exec", "--pid-file", pid_path, "busy", "no-such-program"]), 127);
    assert!(!pid_file.exists(), "a failed exec left its --pid-file behind");
    assert_code(&bundle.step7(&["exec", "--pid-file", pid_path, "busy", "true"]), 0);
    let written = std::fs::read_to_string(&pid_file).unwrap();
    assert!(written.parse::<i32>().is_ok_and(|pid| pid > 0), "--pid-file holds {written:?}");
    let out = bundle.step7(&[
        "exec",
        "--user",
        "1000:1000",
        "--env",
        "X=y",
        "--cwd",
        "/tmp",
        "busy",
        "sh",
        "-c",
        "id -u; echo $X; pwd",
    ]);
    assert_eq!(stdout(&out), "1000\ny\n/tmp\n");
    let process = bundle.dir.join("process.json");
    std::fs::write(
        &process,
        json!({"args": ["echo", "from process.json"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]})
            .to_string(),
    )
    .unwrap();
    let out = bundle.step7(&["exec", "--process", process.to_str().unwrap(), "busy"]);
    assert_eq!(stdout(&out), "from process.json\n");

    // A second process, detached: two in the cgroup.
    assert_code(&bundle.step7_detached(&["exec", "--detach", "busy", "sleep", "30"]), 0);
    let pids = stdout(&bundle.step7(&["ps", "busy"]));
    assert_eq!(pids.lines().count(), 2, "{pids}");

    assert_code(&bundle.step7(&["pause", "busy"]), 0);
    assert_eq!(status(&bundle, "busy"), "paused");
    let frozen = pids.lines().all(|pid| {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('D') || rest.starts_with('S'))
    });
    assert!(frozen);
    assert_ne!(bundle.step7(&["pause", "busy"]).status.code(), Some(0), "pausing twice must fail");
    assert_code(&bundle.step7(&["resume", "busy"]), 0);
    assert_eq!(status(&bundle, "busy"), "running");

    assert_code(&bundle.step7(&["kill", "--all", "busy", "KILL"]), 0);
    // Both are children of this test process now (a subreaper).
    let pids: Vec<i32> = pids.lines().map(|pid| pid.parse().unwrap()).collect();
    support::reap_all(&pids);
    for pid in pids {
        assert!(!Path::new(&format!("/proc/{pid}")).exists(), "{pid} survived kill --all");
    }
    assert_eq!(status(&bundle, "busy"), "stopped");
    bundle.delete("busy", false);
}

/// linux.seccomp, attacked: with CAP_SYS_ADMIN, unshare(2) works without
/// a filter and fails with Docker's default profile as written for a
/// container without CAP_SYS_ADMIN (the capability list and the profile
/// disagree on purpose: the filter alone must stop it).
#[test]
fn seccomp_blocks_what_the_profile_blocks() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("unshare -u true && echo unshared || echo blocked");
    bundle.edit(|c| {
        let caps = json!(["CAP_SYS_ADMIN"]);
        c["process"]["capabilities"] = json!({"bounding": caps, "effective": caps, "permitted": caps});
    });
    let out = bundle.run("noseccomp");
    assert_eq!(stdout(&out), "unshared\n", "{}", stderr(&out));
    let profile = serde_json::to_value(step7::oci::security::seccomp::docker_default(&[])).unwrap();
    bundle.edit(|c| c["linux"]["seccomp"] = profile);
    let out = bundle.run("seccomp");
    assert_eq!(stdout(&out), "blocked\n", "{}", stderr(&out));
}

/// process.terminal: the engine's console socket receives the pty master
/// over SCM_RIGHTS; the program has the slave as its terminal.
#[test]
fn a_terminal_is_sent_to_the_console_socket() {
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd};
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("tty; stty size; echo $TERM");
    bundle.edit(|c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["consoleSize"] = json!({"height": 24, "width": 80});
    });
    let socket = bundle.dir.join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut name = [0u8; 64];
        let mut iov = [std::io::IoSliceMut::new(&mut name)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let message = nix::sys::socket::recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            nix::sys::socket::MsgFlags::empty(),
        )
        .unwrap();
        let fd = message.cmsgs().unwrap().find_map(|cmsg| match cmsg {
            nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        });
        unsafe { std::fs::File::from_raw_fd(fd.expect("no file descriptor received")) }
    });
    let dir = bundle.dir.to_str().unwrap().to_string();
    let out = bundle.step7_detached(&["create", "--bundle", &dir, "--console-socket", socket.to_str().unwrap(), "tty"]);
    assert_code(&out, 0);
    let mut master = receiver.join().unwrap();
    assert_code(&bundle.step7(&["start", "tty"]), 0);
    let mut screen = Vec::new();
    let mut buf = [0u8; 256];
    // Reading the master ends with EIO once the slave's last user is gone.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        screen.extend_from_slice(&buf[..n]);
    }
    let screen = String::from_utf8_lossy(&screen).replace('\r', "");
    assert_eq!(screen, "/dev/pts/0\n24 80\nxterm\n");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while status(&bundle, "tty") != "stopped" && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    bundle.delete("tty", false);
    // Without a socket, a terminal is refused with the reason.
    let out = bundle.step7(&["create", "--bundle", &dir, "tty2"]);
    assert!(stderr(&out).contains("--console-socket"), "{}", stderr(&out));
}

/// `run` as the terminal itself (process.terminal, no --console-socket):
/// the pty has the caller's window size before the program starts.
#[test]
fn run_as_the_terminal_passes_the_window_size_before_start() {
    let Some(bundle) = Bundle::new() else { return };
    if std::process::Command::new("script").arg("--version").output().is_err() {
        support::cannot_run("util-linux's script is missing (apt-get install bsdutils)");
        return;
    }
    // stty itself, no shell first: it asks for the size right after execve,
    // before `start` has even returned.
    bundle.edit(|c| {
        c["process"]["args"] = json!(["stty", "size"]);
        c["process"]["terminal"] = json!(true);
    });
    let command = format!(
        "stty rows 33 cols 99; {BIN} --root {} run --bundle {} sized; echo exit=$?",
        bundle.root.display(),
        bundle.dir.display()
    );
    let out = run("script", &["-qec", &command, "/dev/null"]);
    // (script may type a NUL at the end of its stdin, echoed as ^@.)
    let screen = stdout(&out).replace('\r', "").replace("^@", "");
    assert!(screen.contains("33 99\nexit=0\n"), "{screen}{}", stderr(&out));
    assert!(!bundle.root.join("sized").exists(), "run left its container");
}

/// Ambient capabilities the kernel would not raise (permitted but not
/// inheritable) are left out with a warning naming where they were read,
/// also in --log; the container runs, and exec too, of its own process or
/// of a --process file.
#[test]
fn unraisable_ambient_capabilities_are_named_and_left_out() {
    let Some(bundle) = Bundle::new() else { return };
    let dir = bundle.dir.to_str().unwrap().to_string();
    bundle.args("grep CapAmb /proc/self/status");
    bundle.edit(|c| {
        let caps = json!(["CAP_CHOWN", "CAP_KILL"]);
        c["process"]["user"] = json!({"uid": 1000, "gid": 1000});
        c["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps, "inheritable": ["CAP_KILL"], "ambient": caps});
    });
    // CAP_KILL is bit 5; CAP_CHOWN, bit 0, is left out.
    let log = bundle.dir.join("log");
    let out = bundle.step7(&["--log", log.to_str().unwrap(), "run", "--bundle", &dir, "ambient"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "CapAmb:\t0000000000000020\n");
    let warning = "config.json: process.capabilities.ambient: CAP_CHOWN not in both permitted and inheritable";
    assert!(stderr(&out).contains(&format!("warning: {warning}")), "{}", stderr(&out));
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains(warning), "not in --log: {logged}");

    bundle.args("exec sleep 30");
    assert_code(&bundle.step7_detached(&["run", "--detach", "--bundle", &dir, "ambient"]), 0);
    let out = bundle.step7(&["exec", "ambient", "grep", "CapAmb", "/proc/self/status"]);
    assert_eq!(stdout(&out), "CapAmb:\t0000000000000020\n", "{}", stderr(&out));
    let process = bundle.dir.join("process.json");
    let caps = json!(["CAP_KILL"]);
    let config = json!({
        "args": ["grep", "CapAmb", "/proc/self/status"], "cwd": "/", "env": ["PATH=/bin"],
        "user": {"uid": 1000, "gid": 1000},
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps, "ambient": caps},
    });
    std::fs::write(&process, config.to_string()).unwrap();
    let out = bundle.step7(&["exec", "--process", process.to_str().unwrap(), "ambient"]);
    assert_eq!(stdout(&out), "CapAmb:\t0000000000000000\n", "{}", stderr(&out));
    let warning = format!("warning: --process {}: capabilities.ambient: CAP_KILL not in both", process.display());
    assert!(stderr(&out).contains(&warning), "{}", stderr(&out));
    bundle.delete("ambient", true);
}

/// A rootless container without a cgroup (its user was delegated none):
/// when `create` fails after the container process got ready (here at
/// the --pid-file), that process, waiting for a `start` that cannot come,
/// is killed. No cgroup removal would kill it.
#[test]
fn a_failed_rootless_create_leaves_no_process_waiting() {
    use std::os::unix::process::CommandExt;
    const UID: u32 = 64123;
    let Some(bundle) = Bundle::new() else { return };
    let rootless = bundle.dir.join("rootless");
    let runtime_dir = bundle.dir.join("xdg");
    for dir in [&rootless, &runtime_dir] {
        std::fs::create_dir(dir).unwrap();
        nix::unistd::chown(dir, Some(UID.into()), Some(UID.into())).unwrap();
    }
    // Output to files, as in `step7_detached`: a process left behind would
    // hold pipes open, and the test would wait for it forever.
    let as_user = |args: &[&str]| {
        let (out, err) = (bundle.dir.join("user.out"), bundle.dir.join("user.err"));
        let status = std::process::Command::new(BIN)
            .args(args)
            .env("XDG_RUNTIME_DIR", &runtime_dir)
            .uid(UID)
            .gid(UID)
            .stdin(std::process::Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .status()
            .unwrap();
        std::process::Output { status, stdout: std::fs::read(out).unwrap(), stderr: std::fs::read(err).unwrap() }
    };
    assert_code(&as_user(&["spec", "--rootless", "--bundle", rootless.to_str().unwrap()]), 0);
    let path = rootless.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    config["root"]["path"] = json!(bundle.rootfs.path);
    config["process"]["args"] = json!(["sleep", "30"]);
    std::fs::write(&path, config.to_string()).unwrap();

    let out = as_user(&["create", "--bundle", rootless.to_str().unwrap(), "--pid-file", "/nonexistent/pid", "rl"]);
    assert!(stderr(&out).contains("cannot write --pid-file /nonexistent/pid"), "{}", stderr(&out));
    // Every live process of the user: there should be none.
    let left: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().next());
            uid == Some(&UID.to_string()) && !status.contains("State:\tZ")
        })
        .collect();
    for &pid in &left {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        support::reap(pid);
    }
    assert!(left.is_empty(), "the container process of the failed create is left: {left:?}");
}

/// A user namespace seen from the host: root inside is uid 100000
/// outside, and exec joins the same namespace.
#[test]
fn root_inside_a_user_namespace_is_not_root_outside() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("exec sleep 30");
    bundle.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().push(json!({"type": "user"}));
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
    });
    assert_code(&bundle.step7_detached(&["run", "--detach", "--bundle", bundle.dir.to_str().unwrap(), "userns"]), 0);
    let state: Value = serde_json::from_str(&stdout(&bundle.step7(&["state", "userns"]))).unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", state["pid"])).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(uid_line.split_whitespace().nth(1), Some("100000"), "{uid_line}");
    let out = bundle.step7(&["exec", "--user", "0:0", "userns", "sh", "-c", "id -u; cat /proc/self/uid_map"]);
    assert_eq!(stdout(&out).split_whitespace().collect::<Vec<_>>(), ["0", "0", "100000", "65536"], "{}", stderr(&out));
    bundle.delete("userns", true);
    // Mappings without a user namespace, and the reverse, are refused.
    bundle.edit(|c| {
        c["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != "user");
    });
    let out = bundle.step7(&["create", "--bundle", bundle.dir.to_str().unwrap(), "userns"]);
    assert!(stderr(&out).contains("linux.uidMappings"), "{}", stderr(&out));
}

/// An idmapped bind mount: a directory owned by uid 1000 on the host is
/// root's inside, and what root writes there is 1000's on the host.
#[test]
fn idmapped_mounts_shift_owners() {
    use std::os::unix::fs::MetadataExt;
    let Some(bundle) = Bundle::new() else { return };
    let shared = bundle.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("old"), "data").unwrap();
    for path in [&shared, &shared.join("old")] {
        nix::unistd::chown(path.as_path(), Some(1000.into()), Some(1000.into())).unwrap();
    }
    bundle.args("stat -c '%u %g' /shared/old; echo new > /shared/new");
    bundle.edit(|c| {
        let mapping = json!([{"containerID": 1000, "hostID": 0, "size": 1}]);
        c["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/shared", "type": "bind", "source": "shared", "options": ["rbind"],
            "uidMappings": mapping, "gidMappings": mapping,
        }));
    });
    let out = bundle.run("idmap");
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "0 0\n");
    assert_eq!(std::fs::metadata(shared.join("new")).unwrap().uid(), 1000);
}

/// CVE-2019-5736, attempted: until it execs, the container process runs
/// the runtime's code, and /proc/PID/exe leads to that code. Opening it
/// for writing (as the attack did, to replace runc on the host) must reach
/// a sealed copy in memory, never the binary on the host.
#[test]
fn the_runtime_binary_cannot_be_overwritten_from_a_container() {
    use std::io::Write;
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("true");
    let before = std::fs::read(BIN).unwrap();
    assert_code(&bundle.step7_detached(&["create", "--bundle", bundle.dir.to_str().unwrap(), "sealed"]), 0);
    let state: Value = serde_json::from_str(&stdout(&bundle.step7(&["state", "sealed"]))).unwrap();
    let exe = format!("/proc/{}/exe", state["pid"]);
    let target = std::fs::read_link(&exe).unwrap();
    assert!(target.to_string_lossy().starts_with("/memfd:step7-sealed"), "{}", target.display());
    let attempt = std::fs::OpenOptions::new().write(true).open(&exe).and_then(|mut f| f.write_all(b"pwned"));
    assert!(attempt.is_err(), "writing through {exe} succeeded");
    bundle.delete("sealed", true);
    assert!(std::fs::read(BIN).unwrap() == before, "the runtime binary on the host changed");
}

#[test]
fn features_lists_what_is_supported() {
    let out = run(BIN, &["features"]);
    assert_code(&out, 0);
    let features: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(features["ociVersionMax"], "1.2.0");
    assert!(features["linux"]["namespaces"].as_array().unwrap().contains(&json!("pid")));
    assert!(features["hooks"].as_array().unwrap().contains(&json!("createRuntime")));
}

#[test]
fn delete_force_removes_a_running_container() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("exec sleep 30");
    assert_code(&bundle.step7_detached(&["run", "--detach", "--bundle", bundle.dir.to_str().unwrap(), "forced"]), 0);
    assert_eq!(status(&bundle, "forced"), "running");
    bundle.delete("forced", true);
    assert!(!bundle.root.join("forced").exists());
    for dir in cgroup_dirs("forced") {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}

/// The hooks run in the order of the runtime spec, each with the state.
#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let Some(bundle) = Bundle::new() else { return };
    let log = bundle.rootfs.path.join("hooks.log");
    let hook = |name: &str, log: &Path| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("read state; echo \"{name} $state\" >> {}", log.display())]});
    bundle.args("true");
    bundle.edit(|c| {
        c["hooks"] = json!({
            "prestart": [hook("prestart", &log)],
            "createRuntime": [hook("createRuntime", &log)],
            "createContainer": [hook("createContainer", &log)],
            // Runs inside, after pivot_root: the log's path in the container.
            "startContainer": [hook("startContainer", Path::new("/hooks.log"))],
            "poststart": [hook("poststart", &log)],
            "poststop": [hook("poststop", &log)],
        })
    });
    assert_code(&bundle.run("hooked"), 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let names: Vec<&str> = text.lines().map(|l| l.split_whitespace().next().unwrap()).collect();
    assert_eq!(
        names,
        ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "{text}"
    );
    for line in text.lines() {
        let state: Value = serde_json::from_str(line.split_once(' ').unwrap().1).unwrap();
        assert_eq!(state["id"], "hooked", "{line}");
    }
}

/// `domainname` (runc 1.1 ignores it, so it is not in the comparison).
#[test]
fn domainname_is_set() {
    let Some(bundle) = Bundle::new() else { return };
    bundle.args("cat /proc/sys/kernel/domainname");
    bundle.edit(|c| c["domainname"] = json!("cmp.example"));
    let out = bundle.run("domain");
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "cmp.example\n");
}

#[test]
fn bad_bundles_name_the_field_and_leave_nothing() {
    let Some(bundle) = Bundle::new() else { return };
    let dir = bundle.dir.to_str().unwrap().to_string();
    type Change = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(Change, &str)> = vec![
        (Box::new(|c: &mut Value| c["process"]["args"] = json!([])), "process.args"),
        (Box::new(|c: &mut Value| c["process"]["args"] = json!(["no-such-program"])), "process.args[0]"),
        (Box::new(|c: &mut Value| c["process"]["cwd"] = json!("relative")), "process.cwd"),
        (Box::new(|c: &mut Value| c["root"]["path"] = json!("/nonexistent-rootfs")), "root.path"),
        (Box::new(|c: &mut Value| c["mounts"][0]["destination"] = json!("proc")), "mounts[0].destination"),
        (Box::new(|c: &mut Value| c["process"]["capabilities"]["bounding"] = json!(["CAP_NO_SUCH"])), "CAP_NO_SUCH"),
        (
            Box::new(|c: &mut Value| {
                c["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "hard": 10, "soft": 20}])
            }),
            "process.rlimits[0]",
        ),
    ];
    let original = bundle.config();
    for (change, field) in cases {
        bundle.edit(|c| {
            *c = original.clone();
            change(c)
        });
        let out = bundle.step7(&["create", "--bundle", &dir, "bad"]);
        assert_ne!(out.status.code(), Some(0), "{field}: accepted");
        assert!(stderr(&out).contains(field), "{field}: {}", stderr(&out));
        assert!(!bundle.root.join("bad").exists(), "{field}: state left behind");
        for cgroup in cgroup_dirs("bad") {
            assert!(!cgroup.exists(), "{field}: {} left behind", cgroup.display());
        }
    }
    // `run` reads the bundle first, itself: the same messages.
    let out = bundle.step7(&["run", "--bundle", "/nonexistent-bundle", "bad"]);
    assert!(stderr(&out).contains("no bundle at /nonexistent-bundle: pass --bundle DIR"), "{}", stderr(&out));
    std::fs::write(bundle.dir.join("config.json"), "{ not json").unwrap();
    for verb in ["create", "run"] {
        let out = bundle.step7(&[verb, "--bundle", &dir, "bad"]);
        assert!(stderr(&out).contains("config.json: line 1"), "{verb}: {}", stderr(&out));
    }
    // Two containers cannot share an id.
    let mut config = original.clone();
    config["process"]["args"] = json!(["sleep", "30"]);
    std::fs::write(bundle.dir.join("config.json"), config.to_string()).unwrap();
    assert_code(&bundle.step7_detached(&["create", "--bundle", &dir, "twice"]), 0);
    let out = bundle.step7(&["create", "--bundle", &dir, "twice"]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    bundle.delete("twice", false);
}
