//! Step 7's docker-like front end: `run --rootfs DIR [flags] CMD` builds a
//! config.json from the flags and runs it through the same create/start.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use support::{assert_code, run, stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

/// `step7 --root R run --rootfs ROOTFS ARGS...`, with a state root of its own.
fn step7_run(rootfs: &Rootfs, args: &[&str]) -> std::process::Output {
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let mut all = vec!["--root", root.to_str().unwrap(), "run", "--rootfs", rootfs.path.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = run(BIN, &all);
    assert!(!root.exists() || std::fs::read_dir(&root).unwrap().next().is_none(), "state left in {}", root.display());
    let _ = std::fs::remove_dir(&root);
    out
}

#[test]
fn flags_become_the_containers_config() {
    let Some(rootfs) = Rootfs::new() else { return };
    let volume = rootfs.path.with_extension("volume");
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join("file"), "from the host\n").unwrap();
    let mount = format!("{}:/data:ro", volume.display());
    let script = "echo $FOO; pwd; cat file; hostname; id -u; id -g; \
                  echo x 2>/dev/null > file || echo volume read-only; \
                  touch /x 2>/dev/null || echo root read-only; \
                  grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status | tr -s '\\t' ' '; \
                  ls /sys/class/net";
    let out = step7_run(
        &rootfs,
        &[
            "--network",
            "none",
            "--name",
            "web-1",
            "-e",
            "FOO=bar",
            "-v",
            &mount,
            "-w",
            "/data",
            "--user",
            "1000:1000",
            "--read-only",
            "--",
            "sh",
            "-c",
            script,
        ],
    );
    let _ = std::fs::remove_dir_all(&volume);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "bar\n/data\nfrom the host\nweb-1\n1000\n1000\nvolume read-only\nroot read-only\n\
         CapEff: 0000000000000000\nNoNewPrivs: 1\nSeccomp: 2\nlo\n",
        "{}",
        stderr(&out)
    );
}

/// Root in a docker-like container keeps Docker's capabilities, no more.
#[test]
fn root_gets_dockers_capability_set() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = step7_run(&rootfs, &["--network", "none", "sh", "-c", "grep CapEff /proc/self/status"]);
    assert_code(&out, 0);
    assert_eq!(stdout(&out).split_whitespace().nth(1), Some("00000000a80425fb"), "{}", stderr(&out));
}

#[test]
fn limits_and_exit_status() {
    let Some(rootfs) = Rootfs::new() else { return };
    let out = step7_run(
        &rootfs,
        &["--network", "none", "--memory", "32m", "dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"],
    );
    assert_code(&out, 137);
    let out = step7_run(
        &rootfs,
        &[
            "--network",
            "none",
            "--pids-limit",
            "20",
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; exit 3",
        ],
    );
    assert_code(&out, 3);
    assert_eq!(stdout(&out), "20\n");
}

#[test]
fn bridge_network_gives_an_address_and_leaves_nothing() {
    let Some(rootfs) = Rootfs::new() else { return };
    let args = ["--bridge", "s7test0", "--subnet", "172.31.70.0/24"];
    let mut all = args.to_vec();
    all.extend(["sh", "-c", "ip -4 -o addr show eth0 | awk '{print $4}'; tail -1 /etc/hosts | cut -f1"]);
    let out = step7_run(&rootfs, &all);
    let mut cleanup = vec!["run", "--cleanup-network"];
    cleanup.extend(args);
    let removed = run(BIN, &cleanup);
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "172.31.70.2/24\n172.31.70.2\n", "{}", stderr(&out));
    assert_code(&removed, 0);
}

#[test]
fn bad_flags_get_a_clear_error_and_leave_nothing() {
    let Some(rootfs) = Rootfs::new() else { return };
    for (args, message) in [
        (vec!["-v", "/nonexistent-dir:/data"], "no /nonexistent-dir on the host"),
        (vec!["-v", "just-one-part"], "invalid -v"),
        (vec!["-v", "/tmp:relative"], "must be an absolute path"),
        (vec!["--user", "bob"], "no user \"bob\" in the container's /etc/passwd"),
        (vec!["--user", "1000:"], "invalid --user"),
        (vec!["-e", "NOEQUALS"], "invalid -e"),
        (vec!["--memory", "12xb"], "is not a size"),
        (vec!["--name", "../escape"], "invalid container id"),
        (vec!["-p", "8080"], "invalid -p"),
        (vec!["-p", "8080:80"], "-p needs the bridge network"),
    ] {
        let mut all = vec!["--network", "none"];
        all.extend(args.iter().copied());
        all.push("true");
        let out = step7_run(&rootfs, &all);
        assert_ne!(out.status.code(), Some(0), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
    }
}

/// `step7 --root R ARGS...` with the given state root.
fn step7(root: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut all = vec!["--root", root.to_str().unwrap()];
    all.extend_from_slice(args);
    run(BIN, &all)
}

/// `step7 --root R run -d --rootfs ROOTFS --network none --name NAME ARGS...`
fn detached(root: &std::path::Path, rootfs: &str, name: &str, args: &[&str]) -> std::process::Output {
    let mut all = vec!["run", "-d", "--rootfs", rootfs, "--network", "none", "--name", name];
    all.extend_from_slice(args);
    step7(root, &all)
}

fn wait_until(what: &str, check: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// The docker-like lifecycle: run -d, ps, logs, exec, stop, ps -a,
/// inspect, rm, and nothing left.
#[test]
fn detached_lifecycle_run_ps_logs_exec_stop_rm() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let rootfs_dir = rootfs.path.to_str().unwrap();
    let out = detached(
        &root,
        rootfs_dir,
        "bg",
        &[
            "--memory",
            "64m",
            "--",
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; trap 'echo bye; exit 7' TERM; while :; do sleep 0.1; done",
        ],
    );
    assert_code(&out, 0);
    assert_eq!(stdout(&out), "bg\n");
    assert!(stdout(&step7(&root, &["ps"])).contains("bg               running"), "{}", stdout(&step7(&root, &["ps"])));
    wait_until("the log has both lines", || stdout(&step7(&root, &["logs", "bg"])).contains("to-stderr"));
    assert_eq!(stdout(&step7(&root, &["exec", "bg", "hostname"])), "bg\n");
    let out = detached(&root, rootfs_dir, "bg", &["true"]);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    assert_code(&step7(&root, &["stop", "-t", "5", "bg"]), 0);
    wait_until("ps -a shows it exited", || stdout(&step7(&root, &["ps", "-a"])).contains("exited (7)"));
    assert!(!stdout(&step7(&root, &["ps"])).contains("bg "), "a stopped container in ps without -a");
    assert!(stdout(&step7(&root, &["logs", "bg"])).ends_with("bye\n"));
    let inspect: serde_json::Value = serde_json::from_str(&stdout(&step7(&root, &["inspect", "bg"]))).unwrap();
    assert_eq!(inspect["ExitCode"], 7);
    assert_eq!(inspect["State"]["status"], "stopped");
    // Its cgroup went with it; the state stays until rm.
    let hierarchies = step7::hierarchy::Hierarchies::detect().unwrap();
    for (_, mount) in &hierarchies.v1 {
        assert!(!mount.join("step7/bg").exists(), "cgroup left in {}", mount.display());
    }
    assert_code(&step7(&root, &["rm", "bg"]), 0);
    assert!(stderr(&step7(&root, &["inspect", "bg"])).contains("no container named bg"));
    assert!(!root.exists(), "state left in {}", root.display());
}

/// --rm: the container is gone as soon as it ends.
#[test]
fn detached_with_rm_removes_itself() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let out = detached(&root, rootfs.path.to_str().unwrap(), "brief", &["--rm", "true"]);
    assert_code(&out, 0);
    wait_until("the container removed itself", || !root.join("brief").exists());
    assert!(stdout(&step7(&root, &["ps", "-a"])).lines().count() == 1);
    let _ = std::fs::remove_dir_all(&root);
}

/// A SIGKILLed monitor: ps still tells the truth, and rm -f cleans up.
#[test]
fn a_killed_monitor_leaves_state_that_rm_f_cleans() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let out = detached(&root, rootfs.path.to_str().unwrap(), "orphan", &["sleep", "30"]);
    assert_code(&out, 0);
    let state: serde_json::Value = serde_json::from_str(&stdout(&step7(&root, &["state", "orphan"]))).unwrap();
    let pid = state["pid"].as_i64().unwrap() as i32;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let monitor: i32 = status.lines().find_map(|l| l.strip_prefix("PPid:")).unwrap().trim().parse().unwrap();
    unsafe { libc::kill(monitor, libc::SIGKILL) };
    support::reap(monitor);
    assert!(stdout(&step7(&root, &["ps"])).contains("orphan           running"));
    assert_code(&step7(&root, &["rm", "-f", "orphan"]), 0);
    support::reap(pid);
    let hierarchies = step7::hierarchy::Hierarchies::detect().unwrap();
    for (_, mount) in &hierarchies.v1 {
        assert!(!mount.join("step7/orphan").exists(), "cgroup left in {}", mount.display());
    }
    assert!(!root.exists(), "state left in {}", root.display());
}

#[test]
fn unknown_containers_are_named_in_the_error() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    for command in [
        vec!["logs", "ghost"],
        vec!["stop", "ghost"],
        vec!["rm", "ghost"],
        vec!["inspect", "ghost"],
        vec!["exec", "ghost", "true"],
    ] {
        let out = step7(&root, &command);
        assert_ne!(out.status.code(), Some(0), "{command:?}");
        assert!(stderr(&out).contains("no container named ghost"), "{command:?}: {}", stderr(&out));
    }
}

/// -p: a connection from the host to one of its own addresses (here the
/// bridge's) and the published port reaches the container's port; the
/// rule goes with the container.
#[test]
fn a_published_port_is_reached_from_the_host() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let network = ["--bridge", "s7test2", "--subnet", "172.31.73.0/24"];
    let mut args = vec!["run", "-d", "--rootfs", rootfs.path.to_str().unwrap(), "--name", "pub", "-p", "18081:80"];
    args.extend(network);
    args.extend(["--", "sh", "-c", "while :; do echo hello-published | nc -l -p 80; done"]);
    assert_code(&step7(&root, &args), 0);
    let answer = support::read_from("172.31.73.1:18081");
    let state: serde_json::Value = serde_json::from_str(&stdout(&step7(&root, &["state", "pub"]))).unwrap();
    assert_code(&step7(&root, &["rm", "-f", "pub"]), 0);
    support::reap(state["pid"].as_i64().unwrap_or(0) as i32);
    let mut cleanup = vec!["run", "--cleanup-network"];
    cleanup.extend(network);
    assert_code(&step7(&root, &cleanup), 0);
    assert_eq!(answer.trim(), "hello-published");
    let rules = std::process::Command::new("nft").args(["list", "ruleset"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&rules.stdout).contains("step7_ports_pub"), "the DNAT rule is left");
}

/// `run -t` under a terminal of its own (util-linux's `script` provides
/// one): the container gets a pty of the window's size, and Ctrl-C typed
/// at the terminal reaches the container's program.
#[test]
fn a_terminal_with_window_size_and_ctrl_c() {
    use std::io::Write;
    let Some(rootfs) = Rootfs::new() else { return };
    if std::process::Command::new("script").arg("--version").output().is_err() {
        support::cannot_run("util-linux's script is missing (apt-get install bsdutils)");
        return;
    }
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let step7 = format!("{BIN} --root {} run -t --rootfs {} --network none", root.display(), rootfs.path.display());
    let shown = format!("stty rows 30 cols 100; {step7} -- sh -c 'tty; stty size; echo $TERM'");
    let out = run("script", &["-qec", &shown, "/dev/null"]);
    // (At the end of its stdin, /dev/null here, script may type a NUL into
    // the terminal, which echoes it as ^@.)
    let screen = stdout(&out).replace('\r', "").replace("^@", "");
    assert_eq!(screen, "/dev/pts/0\n30 100\nxterm\n", "{}", stderr(&out));

    let interrupted = format!(
        "{step7} -- sh -c 'trap \"echo interrupted; exit 130\" INT; echo ready; sleep 20 & wait'; echo exit=$?"
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &interrupted, "/dev/null"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A watchdog: a failure must not hang the suite.
    let pid = child.id() as i32;
    std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(30));
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut stdin = child.stdin.take().unwrap();
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 0, "no ready line");
    }
    stdin.write_all(b"\x03").unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
    drop(stdin);
    let _ = child.wait();
    let rest = rest.replace('\r', "");
    assert!(rest.contains("interrupted") && rest.contains("exit=130"), "{rest}");
    let _ = std::fs::remove_dir_all(&root);
}

/// `exec -t` without a console socket: this command becomes the terminal.
#[test]
fn exec_with_a_terminal() {
    let Some(rootfs) = Rootfs::new() else { return };
    let root = PathBuf::from(format!("{}-state", rootfs.path.display()));
    let out = detached(&root, rootfs.path.to_str().unwrap(), "tty-exec", &["sleep", "60"]);
    assert_code(&out, 0);
    let script = format!(
        "stty rows 24 cols 90; {BIN} --root {} exec -t tty-exec sh -c 'tty; stty size; exit 4'; echo rc=$?",
        root.display()
    );
    let out = run("script", &["-qec", &script, "/dev/null"]);
    let state: serde_json::Value = serde_json::from_str(&stdout(&step7(&root, &["state", "tty-exec"]))).unwrap();
    assert_code(&step7(&root, &["rm", "-f", "tty-exec"]), 0);
    support::reap(state["pid"].as_i64().unwrap_or(0) as i32);
    let screen = stdout(&out).replace('\r', "").replace("^@", "");
    assert!(screen.contains("/dev/pts/") && screen.contains("24 90\nrc=4"), "{screen}");
}

/// The IPC and cgroup namespaces: a System V shared memory segment of the
/// host is not among the container's, and the container's cgroup is its
/// root.
#[test]
fn ipc_and_cgroup_namespaces_are_the_containers_own() {
    let Some(rootfs) = Rootfs::new() else { return };
    let made = std::process::Command::new("ipcmk").args(["-M", "4096"]).output();
    let Ok(made) = made else {
        support::cannot_run("ipcmk is missing (util-linux)");
        return;
    };
    let text = String::from_utf8_lossy(&made.stdout).to_string();
    let shmid = text.split_whitespace().last().unwrap_or("").to_string();
    let host = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    let out = step7_run(
        &rootfs,
        &["--network", "none", "sh", "-c", "wc -l < /proc/sysvipc/shm; grep -c ':/$' /proc/self/cgroup"],
    );
    let _ = std::process::Command::new("ipcrm").args(["-m", &shmid]).output();
    assert!(host.lines().count() > 1, "the host's segment is missing: {host}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1", "the container sees the host's segments: {text}");
    assert!(lines[1].parse::<u32>().unwrap() >= 1, "no cgroup is the namespace's root: {text}");
}

/// `step7 ps -a | head -1`: a reader that goes away early ends the
/// command as it ends `ls` or `cat`, killed by SIGPIPE, without a word
/// (not with a panic and a backtrace). Control: with a reader, the same
/// command prints its table.
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    let root = std::env::temp_dir().join(format!("step7-pipe-{}", std::process::id()));
    let (reader, writer) = nix::unistd::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(BIN)
        .args(["--root", root.to_str().unwrap(), "ps", "-a"])
        .stdout(std::process::Stdio::from(writer))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&out.status), Some(libc::SIGPIPE), "{out:?}");
    assert_eq!(stderr(&out), "");
    let out = step7(&root, &["ps", "-a"]);
    assert_code(&out, 0);
    assert!(stdout(&out).starts_with("CONTAINER"), "{}", stdout(&out));
}
