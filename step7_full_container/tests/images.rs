//! Step 7's images, against a real registry: Debian's docker-registry on
//! 127.0.0.1, holding images these tests build themselves (an OCI layout
//! written here, pushed with skopeo). Each test has a registry, an image
//! store and a state root of its own, and checks that nothing is left.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;
#[path = "images/token_registry.rs"]
mod token_registry;
#[path = "images/world.rs"]
mod world;
// Hostile images against the store itself: its permissions, refused
// layers, decompression bombs, other users.
#[path = "images/store_safety.rs"]
mod store_safety;

use serde_json::json;

use std::process::{Command, Stdio};
use support::{assert_code, stderr, stdout};
use world::*;

const BIN: &str = env!("CARGO_BIN_EXE_step7");

// ANCHOR: layers_test

/// A two-layer image: the second deletes a file of the first (whiteout),
/// replaces a directory's contents (opaque) and adds an app; its config
/// sets the command, environment, working directory and user (by name).
#[test]
fn an_image_runs_with_its_layers_and_config() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    let extra = Layout::tar(&[
        Entry::File("etc/passwd", "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n"),
        Entry::Dir("data/"),
        Entry::Dir("data/old/"),
        Entry::File("data/old/a", "a\n"),
        Entry::File("data/old/b", "b\n"),
        Entry::File("gone", "soon gone\n"),
    ]);
    let app = Layout::tar(&[
        Entry::File(".wh.gone", ""),
        Entry::File("data/old/.wh..wh..opq", ""),
        Entry::File("data/old/new", "new\n"),
        Entry::Dir("app/"),
        Entry::File("app/hello", "hello from the app layer\n"),
        Entry::HardLink("app/hello-again", "app/hello"),
        Entry::Owned("app/setuid", 1234, 0o4750),
    ]);
    let config = json!({
        "Env": ["GREETING=hi", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
        "Entrypoint": ["sh", "-c"],
        "Cmd": ["echo $GREETING; pwd; id -u; cat hello-again; ls /data/old; test -e /gone || echo gone is gone; stat -c '%u:%g %a' setuid"],
        "WorkingDir": "/app",
        "User": "app",
    });
    world.layout.image("v1", &[base, extra, app], config, "amd64");
    world.registry.push(&world.layout, "v1", "test/app");
    let image = world.registry.name("test/app:v1");

    let out = world.step7(&["pull", &image]);
    assert_code(&out, 0);
    assert_eq!(world.stored("layers/sha256").len(), 3, "{}", stderr(&out));

    // The image's defaults.
    let out = world.step7(&["run", "--network", "none", &image]);
    assert_code(&out, 0);
    assert_eq!(
        stdout(&out),
        "hi\n/app\n1000\nhello from the app layer\nnew\ngone is gone\n1234:1234 4750\n",
        "{}",
        stderr(&out)
    );

    // The flags' overrides: -e, -w, --user, CMD, --entrypoint.
    let out = world.step7(&[
        "run",
        "--network",
        "none",
        "-e",
        "GREETING=bye",
        "-w",
        "/data",
        "--user",
        "0",
        &image,
        "echo $GREETING; pwd; id -u",
    ]);
    assert_eq!(stdout(&out), "bye\n/data\n0\n", "{}", stderr(&out));
    let out = world.step7(&["run", "--network", "none", "--entrypoint", "cat", &image, "/app/hello"]);
    assert_eq!(stdout(&out), "hello from the app layer\n", "{}", stderr(&out));

    // A second pull fetches nothing.
    let out = world.step7(&["pull", &image]);
    assert_eq!(stderr(&out).matches("already here").count(), 3, "{}", stderr(&out));
    let out = world.step7(&["images"]);
    assert!(stdout(&out).contains("test/app") && stdout(&out).contains("v1"), "{}", stdout(&out));

    world.assert_no_containers();
    assert_code(&world.step7(&["rmi", &image]), 0);
    assert_eq!((world.stored("blobs/sha256"), world.stored("layers/sha256")), (vec![], vec![]), "rmi left content");
}
// ANCHOR_END: layers_test

/// Two containers of one image share its layers (the same lower
/// directories) and never see each other's writes.
#[test]
fn two_containers_share_layers_but_not_writes() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    world.layout.image("v1", &[base], json!({"Cmd": ["sh"]}), "amd64");
    world.registry.push(&world.layout, "v1", "test/shared");
    let image = world.registry.name("test/shared:v1");
    for name in ["one", "two"] {
        let out = world.step7(&["run", "-d", "--network", "none", "--name", name, &image, "sleep", "60"]);
        assert_code(&out, 0);
    }
    assert_code(&world.step7(&["exec", "one", "sh", "-c", "echo mine > /etc/written-by-one; rm /bin/ls"]), 0);
    let out = world.step7(&[
        "exec",
        "two",
        "sh",
        "-c",
        "cat /etc/written-by-one 2>&1; test -e /bin/ls && echo ls is still here",
    ]);
    assert!(stdout(&out).contains("No such file") && stdout(&out).contains("ls is still here"), "{}", stdout(&out));
    // A container of the same name under another state directory is
    // refused: the store holds one root per name.
    let other = Command::new(BIN)
        .arg("--store")
        .arg(world.store())
        .arg("--root")
        .arg(world.dir.join("other-state"))
        .args(["run", "--network", "none", "--name", "one", &image, "true"])
        .output()
        .unwrap();
    assert!(stderr(&other).contains("already holds a root for a container named one"), "{}", stderr(&other));
    let out = world.step7(&["exec", "one", "cat", "/etc/written-by-one"]);
    assert_eq!(stdout(&out), "mine\n", "{}", stderr(&out));
    // One layer on disk, the lower directory of both overlay mounts.
    assert_eq!(world.stored("layers/sha256").len(), 1);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let lowers: Vec<&str> = mounts
        .lines()
        .filter(|l| l.contains(&*world.store().to_string_lossy()))
        .filter_map(|l| l.split("lowerdir=").nth(1))
        .map(|o| o.split(',').next().unwrap())
        .collect();
    assert_eq!(lowers.len(), 2, "{mounts}");
    assert_eq!(lowers[0], lowers[1]);
    // The layer itself is untouched.
    let layer = world.store().join("layers/sha256").join(&world.stored("layers/sha256")[0]);
    assert!(layer.join("bin/ls").exists() && !layer.join("etc/written-by-one").exists());
    for name in ["one", "two"] {
        assert_code(&world.step7(&["rm", "-f", name]), 0);
    }
    world.assert_no_containers();
}

// ANCHOR: hostile_test

/// Hostile layers: nothing is written outside the layer directory,
/// whether the archive climbs out with `..`, writes through a symlink it
/// planted, or through one an earlier layer planted.
#[test]
fn hostile_layers_stay_inside() {
    let Some(mut world) = World::new() else { return };
    let outside = world.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let target = outside.display().to_string();
    let base = world.base_layer();

    // `..`: refused outright.
    let climbing = format!("../../../../../../../..{target}/climbed");
    world.layout.image("climb", &[Layout::tar(&[Entry::File(&climbing, "x")])], json!({}), "amd64");
    // A symlink to the outside, then a file through it (same layer).
    let through = Layout::tar(&[Entry::Symlink("link", &target), Entry::File("link/through-link", "x")]);
    world.layout.image("symlink", &[through], json!({}), "amd64");
    // An absolute name and a hard link to a host file: both land inside.
    let absolute = format!("{target}/absolute");
    let inside = Layout::tar(&[
        Entry::File("etc/passwd", "inside\n"),
        Entry::File(&absolute, "x"),
        Entry::HardLink("passwd-link", "/etc/passwd"),
        Entry::Symlink("up", "/"),
        Entry::File("up/etc/through-up", "x"),
    ]);
    // A symlink in one layer, a file "through" it in the next.
    let planted = Layout::tar(&[Entry::Symlink("planted", &target)]);
    let next = Layout::tar(&[Entry::File("planted/through-layers", "x\n")]);
    world.layout.image("layers", &[base, planted, next], json!({}), "amd64");
    world.layout.image("inside", &[inside], json!({}), "amd64");
    for tag in ["climb", "symlink", "layers", "inside"] {
        world.registry.push(&world.layout, tag, "test/hostile");
    }
    let name = |tag: &str| world.registry.name(&format!("test/hostile:{tag}"));

    let out = world.step7(&["pull", &name("climb")]);
    assert!(stderr(&out).contains("climbs out with '..'"), "{}", stderr(&out));
    let out = world.step7(&["pull", &name("symlink")]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_code(&world.step7(&["pull", &name("inside")]), 0);
    let out = world.step7(&["run", "--network", "none", &name("layers"), "cat", "/planted/through-layers"]);
    assert_eq!(stdout(&out), "x\n", "{}", stderr(&out));
    // The same stack copied instead of mounted (the fallback) holds too.
    let out = world.step7_env(
        &["run", "--network", "none", &name("layers"), "cat", "/planted/through-layers"],
        &[("STEP7_NO_OVERLAY", "1")],
    );
    assert_eq!(stdout(&out), "x\n", "{}", stderr(&out));

    let escaped: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(escaped.is_empty(), "written outside the layer: {escaped:?}");
    assert_eq!(
        std::fs::read_to_string("/etc/passwd").unwrap().lines().next().map(|l| l.starts_with("root:")),
        Some(true)
    );
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    world.assert_no_containers();
}
// ANCHOR_END: hostile_test

/// `layer add` and `run --layers`: a base layer, an app layer, stacked;
/// two containers stacking the same base share it.
#[test]
fn layers_by_hand() {
    let Some(world) = World::new() else { return };
    let app = world.dir.join("app");
    std::fs::create_dir_all(app.join("app")).unwrap();
    std::fs::write(app.join("app/run.sh"), "echo app layer on $(cat /etc/os-name)\n").unwrap();
    let runtime = world.dir.join("runtime.tar");
    std::fs::write(
        &runtime,
        Layout::gzip(&Layout::tar(&[Entry::Dir("etc/"), Entry::File("etc/os-name", "busybox\n")])),
    )
    .unwrap();
    assert_code(&world.step7(&["layer", "add", "base", world.rootfs.path.to_str().unwrap()]), 0);
    assert_code(&world.step7(&["layer", "add", "runtime", runtime.to_str().unwrap()]), 0);
    assert_code(&world.step7(&["layer", "add", "app", app.to_str().unwrap()]), 0);
    let out = world.step7(&["layer", "ls"]);
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
    let out = world.step7(&["run", "--network", "none", "--layers", "base,runtime,app", "sh", "/app/run.sh"]);
    assert_eq!(stdout(&out), "app layer on busybox\n", "{}", stderr(&out));
    let out = world.step7(&["run", "--network", "none", "--layers", "base,nope", "true"]);
    assert!(stderr(&out).contains("no layer named nope"), "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256").len(), 3);
    for name in ["app", "runtime", "base"] {
        assert_code(&world.step7(&["layer", "rm", name]), 0);
    }
    assert_eq!((world.stored("blobs/sha256"), world.stored("layers/sha256")), (vec![], vec![]));
    world.assert_no_containers();
}

/// A detached container started with a relative `--root` from one
/// directory keeps its root when `prune` runs from another: the store
/// records where its state is, and a relative path read elsewhere would
/// name nothing, making a live container's root look like an orphan's.
#[test]
fn a_relative_state_root_is_not_taken_for_an_orphan() {
    let Some(mut world) = World::new() else { return };
    world.layout.image("v1", &[world.base_layer()], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/relative");
    let image = world.registry.name("test/relative:v1");
    let store = world.store();
    let started = Command::new(BIN)
        .current_dir(&world.dir)
        .args(["--store", store.to_str().unwrap(), "--root", "state", "run", "-d", "--network", "none"])
        .args(["--name", "web", &image, "sh", "-c", "echo mine > /written && exec sleep 60"])
        .output()
        .unwrap();
    assert_code(&started, 0);
    assert_code(&world.step7(&["prune"]), 0);
    let root = store.join("containers/web");
    let kept = root.join("upper").exists();
    assert_code(&world.step7(&["rm", "-f", "web"]), 0);
    assert!(kept, "prune removed the root of a running container: {}", root.display());
    world.assert_no_containers();
}

/// A store reached through a symlink: `rm` still sees that the root is
/// mounted (/proc/self/mountinfo shows the resolved path, which a text
/// comparison missed), unmounts it and removes it.
#[test]
fn a_store_behind_a_symlink_is_unmounted_and_removed() {
    let Some(mut world) = World::new() else { return };
    world.layout.image("v1", &[world.base_layer()], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/symlinked");
    let image = world.registry.name("test/symlinked:v1");
    let link = world.dir.with_extension("link");
    std::os::unix::fs::symlink(&world.dir, &link).unwrap();
    let store = link.join("store");
    let state = world.dir.join("state");
    let step7 = |args: &[&str]| {
        let mut all = vec!["--store", store.to_str().unwrap(), "--root", state.to_str().unwrap()];
        all.extend(args);
        Command::new(BIN).args(&all).output().unwrap()
    };
    assert_code(&step7(&["run", "-d", "--network", "none", "--name", "linked", &image, "sleep", "60"]), 0);
    let removed = step7(&["rm", "-f", "linked"]);
    let _ = std::fs::remove_file(&link);
    assert_code(&removed, 0);
    world.assert_no_containers();
}

/// prune removes what a killed run or pull left: a container root whose
/// container never came to be, and half-done downloads.
#[test]
fn prune_removes_leftovers() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    world.layout.image("v1", &[base], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/prune");
    let image = world.registry.name("test/prune:v1");
    // A run SIGKILLed while its container sleeps: state and root remain.
    let mut child = world
        .command(&["run", "--network", "none", "--name", "killed", &image, "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..200 {
        if world.dir.join("state/killed").exists() && support::first_child(child.id()) != 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let container = support::first_child(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    let out = world.step7(&["ps", "-a"]);
    assert!(stdout(&out).contains("killed"), "{}", stdout(&out));
    // `rm -f` removes it all, root included.
    assert_code(&world.step7(&["rm", "-f", "killed"]), 0);
    support::reap(container);
    world.assert_no_containers();

    // An orphan root (its maker died before create) and a half download.
    let orphan = world.store().join("containers/orphan");
    std::fs::create_dir_all(orphan.join("rootfs")).unwrap();
    std::fs::write(orphan.join("state"), world.dir.join("state/orphan").to_str().unwrap()).unwrap();
    std::fs::write(world.store().join("tmp/blob-1-0"), "partial").unwrap();
    assert_code(&world.step7(&["prune"]), 0);
    assert_eq!(world.stored("containers"), Vec::<String>::new());
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    // The image itself stays: prune takes only what nothing uses.
    assert_eq!(world.stored("layers/sha256").len(), 1);
}

/// A non-root user pulls into a store of its own ($XDG_DATA_HOME/step7)
/// and runs the image rootless: files it cannot own are its own, device
/// nodes are skipped, whiteouts still hide, and the root is a copy (the
/// runtime cannot mount overlayfs outside a user namespace).
#[test]
fn a_rootless_user_pulls_and_runs_an_image() {
    use std::os::unix::process::CommandExt;
    let Some(mut world) = World::new() else { return };
    const USER: &str = "step7images";
    let created = nix::unistd::User::from_name(USER).ok().flatten().is_none();
    if created && !Command::new("useradd").arg(USER).status().is_ok_and(|s| s.success()) {
        support::cannot_run("useradd failed (package passwd)");
        return;
    }
    let user = nix::unistd::User::from_name(USER).unwrap().unwrap();
    let home = world.dir.join("rootless");
    std::fs::create_dir_all(&home).unwrap();
    nix::unistd::chown(&home, Some(user.uid), Some(user.gid)).unwrap();

    let base = world.base_layer();
    let mut with_node = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Char);
    header.set_path("dev-null-copy").unwrap();
    header.set_device_major(1).unwrap();
    header.set_device_minor(3).unwrap();
    header.set_mode(0o666);
    header.set_size(0);
    header.set_cksum();
    with_node.append(&header, &b""[..]).unwrap();
    let top = Layout::tar(&[Entry::File(".wh.linuxrc", ""), Entry::File("owned-by-7", "x\n")]);
    let node = with_node.into_inner().unwrap();
    world.layout.image("v1", &[base, node, top], json!({"Cmd": ["sh", "-c", "id -u; stat -c %u /owned-by-7; ls /dev-null-copy 2>&1 | grep -c 'No such'; ls /linuxrc 2>/dev/null | wc -l"]}), "amd64");
    world.registry.push(&world.layout, "v1", "test/rootless");
    let image = world.registry.name("test/rootless:v1");

    let as_user = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("XDG_RUNTIME_DIR", &home)
            .env("XDG_DATA_HOME", &home)
            .env("HOME", &home)
            .uid(user.uid.as_raw())
            .gid(user.gid.as_raw())
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = as_user(&["pull", &image]);
    assert!(stderr(&out).contains("1 device nodes skipped (rootless)"), "{}", stderr(&out));
    // The user's store is the user's alone, as root's is root's.
    let user_store = home.join("step7");
    let open: Vec<String> = ["", "blobs", "layers", "containers", "tmp"]
        .iter()
        .map(|sub| user_store.join(sub))
        .filter(|dir| std::os::unix::fs::PermissionsExt::mode(&dir.metadata().unwrap().permissions()) & 0o077 != 0)
        .map(|dir| dir.display().to_string())
        .collect();
    let out = as_user(&["run", &image]);
    let left = std::fs::read_dir(user_store.join("containers")).map(|d| d.count()).unwrap_or(0);
    let rmi = as_user(&["rmi", &image]);
    if created {
        let _ = Command::new("userdel").arg(USER).output();
    }
    assert_eq!(stdout(&out), "0\n0\n1\n0\n", "{}", stderr(&out));
    assert_eq!(open, Vec::<String>::new(), "open to other users");
    assert_eq!(left, 0, "a container root left in the user's store");
    assert_code(&rmi, 0);
}

/// -P: the ports the image exposes are published (each on the same
/// number of the host) and reached from the host.
#[test]
fn exposed_ports_are_published_with_capital_p() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    let config = json!({
        "ExposedPorts": {"18082/tcp": {}},
        "Cmd": ["sh", "-c", "while :; do echo hello-exposed | nc -l -p 18082; done"],
    });
    world.layout.image("v1", &[base], config, "amd64");
    world.registry.push(&world.layout, "v1", "test/exposed");
    let network = ["--bridge", "s7test3", "--subnet", "172.31.74.0/24"];
    let image = world.registry.name("test/exposed:v1");
    let mut args = vec!["run", "-d", "-P", "--name", "exposed"];
    args.extend(network);
    args.push(&image);
    assert_code(&world.step7(&args), 0);
    let answer = support::read_from("172.31.74.1:18082");
    let state: serde_json::Value = serde_json::from_str(&stdout(&world.step7(&["state", "exposed"]))).unwrap();
    assert_code(&world.step7(&["rm", "-f", "exposed"]), 0);
    support::reap(state["pid"].as_i64().unwrap_or(0) as i32);
    let mut cleanup = vec!["run", "--cleanup-network"];
    cleanup.extend(network);
    assert_code(&world.step7(&cleanup), 0);
    assert_eq!(answer.trim(), "hello-exposed");
    world.assert_no_containers();
}
