//! Step 7's images, against a real registry: Debian's docker-registry on
//! 127.0.0.1, holding images these tests build themselves (an OCI layout
//! written here, pushed with skopeo). Each test has a registry, an image
//! store and a state root of its own, and checks that nothing is left.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use support::{assert_code, stderr, stdout, Rootfs};

const BIN: &str = env!("CARGO_BIN_EXE_step7");

fn have(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).output().is_ok_and(|o| o.status.success())
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A registry on a free loopback port, in a directory of its own.
struct Registry {
    dir: PathBuf,
    port: u16,
    process: Child,
}

impl Registry {
    /// `htpasswd`: a "user:bcrypt" line to require Basic authentication.
    fn start(dir: &Path, htpasswd: Option<&str>) -> Registry {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let dir = dir.join("registry");
        std::fs::create_dir_all(&dir).unwrap();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if let Some(line) = htpasswd {
            std::fs::write(dir.join("htpasswd"), format!("{line}\n")).unwrap();
            config += &format!("auth:\n  htpasswd:\n    realm: test\n    path: {}\n", dir.join("htpasswd").display());
        }
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let process = Command::new("docker-registry")
            .args(["serve", dir.join("config.yml").to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Registry { dir, port, process }
    }

    fn name(&self, repository: &str) -> String {
        format!("127.0.0.1:{}/{repository}", self.port)
    }

    /// Push `tag` of the OCI layout `layout` as `repository:tag`.
    fn push(&self, layout: &Layout, tag: &str, repository: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--dest-tls-verify=false", "--dest-creds=alice:secret"])
            .arg(format!("oci:{}:{tag}", layout.dir.display()))
            .arg(format!("docker://{}:{tag}", self.name(repository)))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The registry's own copy of a blob (to corrupt it).
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = &digest[7..];
        self.dir.join("data/docker/registry/v2/blobs/sha256").join(&hex[..2]).join(hex).join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// One entry of a hand-made layer.
enum Entry<'a> {
    File(&'a str, &'a str),
    /// A file with an owner and a mode of its own.
    Owned(&'a str, u64, u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
}

/// An OCI image layout written by hand, so that layers can hold exactly
/// what a test needs: whiteouts, opaque directories, hostile entries.
struct Layout {
    dir: PathBuf,
    manifests: Vec<serde_json::Value>,
}

impl Layout {
    fn new(dir: &Path) -> Layout {
        let dir = dir.join("layout");
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir, manifests: Vec::new() }
    }

    fn blob(&self, bytes: &[u8]) -> serde_json::Value {
        let digest = sha256(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    }

    /// A tar of `entries` (names written as given, unchecked).
    fn tar(entries: &[Entry]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for entry in entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(1_700_000_000);
            header.set_uid(0);
            header.set_gid(0);
            let (name, kind, link, data): (&str, tar::EntryType, Option<&str>, &[u8]) = match entry {
                Entry::File(name, text) => (name, tar::EntryType::Regular, None, text.as_bytes()),
                Entry::Owned(name, ..) => (name, tar::EntryType::Regular, None, b"#!/bin/sh\n"),
                Entry::Dir(name) => (name, tar::EntryType::Directory, None, b""),
                Entry::Symlink(name, target) => (name, tar::EntryType::Symlink, Some(target), b""),
                Entry::HardLink(name, target) => (name, tar::EntryType::Link, Some(target), b""),
            };
            header.set_entry_type(kind);
            header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
            header.set_size(data.len() as u64);
            if let Entry::Owned(_, uid, mode) = entry {
                header.set_uid(*uid);
                header.set_gid(*uid);
                header.set_mode(*mode);
            }
            // Raw names: the tar crate's set_path would refuse `..`.
            let gnu = header.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                gnu.linkname[..link.len()].copy_from_slice(link.as_bytes());
            }
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap()
    }

    /// A tar of a directory tree (the busybox rootfs).
    fn tar_dir(dir: &Path) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir).unwrap();
        builder.into_inner().unwrap()
    }

    fn gzip(tar: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, tar).unwrap();
        encoder.finish().unwrap()
    }

    /// An image of these layers (uncompressed tars, bottom first) with
    /// `config` ("Env", "Cmd", ...) under `tag`; its manifest descriptor.
    fn image(
        &mut self,
        tag: &str,
        layers: &[Vec<u8>],
        config: serde_json::Value,
        architecture: &str,
    ) -> serde_json::Value {
        let mut descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        for tar in layers {
            diff_ids.push(sha256(tar));
            let mut descriptor = self.blob(&Self::gzip(tar));
            descriptor["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
            descriptors.push(descriptor);
        }
        self.image_with(tag, descriptors, diff_ids, config, architecture)
    }

    fn image_with(
        &mut self,
        tag: &str,
        layers: Vec<serde_json::Value>,
        diff_ids: Vec<String>,
        config: serde_json::Value,
        architecture: &str,
    ) -> serde_json::Value {
        let config = json!({
            "architecture": architecture, "os": "linux", "config": config,
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        });
        let mut config_descriptor = self.blob(config.to_string().as_bytes());
        config_descriptor["mediaType"] = json!("application/vnd.oci.image.config.v1+json");
        let manifest = json!({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": config_descriptor, "layers": layers,
        });
        let mut descriptor = self.blob(manifest.to_string().as_bytes());
        descriptor["mediaType"] = json!("application/vnd.oci.image.manifest.v1+json");
        descriptor["platform"] = json!({"architecture": architecture, "os": "linux"});
        self.tag(tag, descriptor.clone());
        descriptor
    }

    /// A multi-arch index of `manifests` under `tag`.
    fn index(&mut self, tag: &str, manifests: Vec<serde_json::Value>) {
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let mut descriptor = self.blob(index.to_string().as_bytes());
        descriptor["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
        self.tag(tag, descriptor);
    }

    fn tag(&mut self, tag: &str, mut descriptor: serde_json::Value) {
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.manifests.push(descriptor);
        let index = json!({"schemaVersion": 2, "manifests": self.manifests});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// A test's world: a rootfs to build images from, a registry, an OCI
/// layout, a store and a state root, all under one directory.
struct World {
    rootfs: Rootfs,
    dir: PathBuf,
    registry: Registry,
    layout: Layout,
}

impl World {
    fn new() -> Option<World> {
        World::with_auth(None)
    }

    fn with_auth(htpasswd: Option<&str>) -> Option<World> {
        let rootfs = Rootfs::new()?;
        for program in ["docker-registry", "skopeo"] {
            if !have(program) {
                support::cannot_run(&format!("needs {program} (apt-get install docker-registry skopeo)"));
                return None;
            }
        }
        let dir = rootfs.path.with_extension("images");
        std::fs::create_dir_all(&dir).unwrap();
        let registry = Registry::start(&dir, htpasswd);
        let layout = Layout::new(&dir);
        Some(World { rootfs, dir, registry, layout })
    }

    fn store(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// step7 with this world's store and state root.
    fn step7(&self, args: &[&str]) -> Output {
        self.step7_env(args, &[])
    }

    fn step7_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        support::finish(command.spawn().unwrap())
    }

    /// The command, not started yet: stdout and stderr piped.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.arg("--store").arg(self.store()).arg("--root").arg(self.dir.join("state")).args(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    /// The busybox rootfs as a layer.
    fn base_layer(&self) -> Vec<u8> {
        Layout::tar_dir(&self.rootfs.path)
    }

    /// Entries of a store directory (blobs/sha256, layers/sha256, ...).
    fn stored(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.store().join(sub))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Nothing of a container left: no overlay mount of this store, no
    /// container directory, no state.
    fn assert_no_containers(&self) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let store = self.store().display().to_string();
        assert!(!mounts.contains(&store), "a mount of the store is left:\n{mounts}");
        assert_eq!(self.stored("containers"), Vec::<String>::new(), "container directories left");
        let state = self.dir.join("state");
        assert!(
            !state.exists() || std::fs::read_dir(&state).unwrap().next().is_none(),
            "state left in {}",
            state.display()
        );
    }
}

impl Drop for World {
    /// After a failed test too: its containers removed (which unmounts
    /// their roots), any mount still under the directory undone, and only
    /// then the files (never removed through a mount).
    fn drop(&mut self) {
        for entry in std::fs::read_dir(self.dir.join("state")).into_iter().flatten().flatten() {
            let id = entry.file_name().to_string_lossy().into_owned();
            if !id.starts_with('.') {
                let _ = self.step7(&["rm", "-f", &id]);
            }
        }
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = format!("{}/", self.dir.display());
        for point in mounts.lines().filter_map(|l| l.split(' ').nth(4)).filter(|p| p.starts_with(&prefix)) {
            let _ = nix::mount::umount2(point, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

/// A multi-arch index: the host's platform is chosen, --platform picks
/// another, and a platform the image lacks is named in the error.
#[test]
fn a_multi_arch_index_resolves_to_the_platform() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    let amd64 = world.layout.image(
        "amd64",
        &[base.clone(), Layout::tar(&[Entry::File("arch", "amd64\n")])],
        json!({"Cmd": ["cat", "/arch"]}),
        "amd64",
    );
    let arm64 = world.layout.image(
        "arm64",
        &[base, Layout::tar(&[Entry::File("arch", "arm64\n")])],
        json!({"Cmd": ["cat", "/arch"]}),
        "arm64",
    );
    world.layout.index("multi", vec![amd64, arm64]);
    world.registry.push(&world.layout, "multi", "test/multi");
    let image = world.registry.name("test/multi:multi");

    let out = world.step7(&["run", "--network", "none", &image]);
    assert_eq!(stdout(&out), "amd64\n", "{}", stderr(&out));
    // The arm64 image: pulled (not run here); its own top layer is added.
    let out = world.step7(&["pull", "--platform", "linux/arm64", &image]);
    assert_code(&out, 0);
    assert!(stderr(&out).contains("linux/arm64") && stderr(&out).contains("already here"), "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256").len(), 3);
    let out = world.step7(&["pull", "--platform", "linux/s390x", &image]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("no image for linux/s390x") && stderr(&out).contains("linux/arm64"),
        "{}",
        stderr(&out)
    );
    world.assert_no_containers();
}

/// A blob corrupted in the registry: the pull fails, says why, and stores
/// neither the blob nor a layer nor the image's name. A layer whose
/// content is not the diff_id the config promises is refused too.
#[test]
fn corrupt_content_is_refused_and_nothing_stored() {
    let Some(mut world) = World::new() else { return };
    let layer =
        world.layout.image("v1", &[Layout::tar(&[Entry::File("file", "the real content\n")])], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/corrupt");
    let manifest: serde_json::Value = serde_json::from_slice(
        &std::fs::read(world.layout.dir.join("blobs/sha256").join(&layer["digest"].as_str().unwrap()[7..])).unwrap(),
    )
    .unwrap();
    let blob = world.registry.blob_file(manifest["layers"][0]["digest"].as_str().unwrap());
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();

    let out = world.step7(&["pull", &world.registry.name("test/corrupt:v1")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("corrupt or tampered with"), "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256"), Vec::<String>::new());
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    assert!(!world.store().join("blobs/sha256").join(&manifest["layers"][0]["digest"].as_str().unwrap()[7..]).exists());
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 1, "an image was recorded");

    // A valid blob, but not the layer the config names.
    let tar = Layout::tar(&[Entry::File("file", "swapped\n")]);
    let mut descriptor = world.layout.blob(&Layout::gzip(&tar));
    descriptor["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
    let promised = sha256(&Layout::tar(&[Entry::File("file", "promised\n")]));
    world.layout.image_with("swapped", vec![descriptor], vec![promised], json!({}), "amd64");
    world.registry.push(&world.layout, "swapped", "test/corrupt");
    let out = world.step7(&["pull", &world.registry.name("test/corrupt:swapped")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("but the image config says"), "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256"), Vec::<String>::new());
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
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

/// A registry that wants a password: refused with a hint without one,
/// pulled with one from the environment or a docker-style config file.
#[test]
fn private_registry_credentials() {
    // bcrypt("secret"), as `htpasswd -B` makes it.
    let hash = Command::new("python3")
        .args(["-W", "ignore", "-c", "import crypt; print(crypt.crypt('secret', crypt.mksalt(crypt.METHOD_BLOWFISH)))"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    if !hash.starts_with("$2") {
        support::cannot_run("needs python3 with bcrypt in crypt (Debian's python3)");
        return;
    }
    let Some(mut world) = World::with_auth(Some(&format!("alice:{hash}"))) else { return };
    world.layout.image("v1", &[Layout::tar(&[Entry::File("file", "private\n")])], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/private");
    let image = world.registry.name("test/private:v1");
    let home = world.dir.join("home");
    std::fs::create_dir_all(home.join(".docker")).unwrap();
    let home_env = ("HOME", home.to_str().unwrap());

    let out = world.step7_env(&["pull", &image], &[home_env]);
    assert!(stderr(&out).contains("STEP7_REGISTRY_USER"), "{}", stderr(&out));
    let out = world.step7_env(
        &["pull", &image],
        &[home_env, ("STEP7_REGISTRY_USER", "alice"), ("STEP7_REGISTRY_PASSWORD", "wrong")],
    );
    assert!(stderr(&out).contains("refused the credentials"), "{}", stderr(&out));
    let out = world.step7_env(
        &["pull", &image],
        &[home_env, ("STEP7_REGISTRY_USER", "alice"), ("STEP7_REGISTRY_PASSWORD", "secret")],
    );
    assert_code(&out, 0);
    assert_code(&world.step7(&["rmi", &image]), 0);
    // base64("alice:secret")
    let config = json!({"auths": {format!("127.0.0.1:{}", world.registry.port): {"auth": "YWxpY2U6c2VjcmV0"}}});
    std::fs::write(home.join(".docker/config.json"), config.to_string()).unwrap();
    assert_code(&world.step7_env(&["pull", &image], &[home_env]), 0);
}

/// Clear errors for what cannot be pulled, and nothing left after them.
#[test]
fn bad_references_and_missing_images() {
    let Some(world) = World::new() else { return };
    let out = world.step7(&["pull", "Not/A:Valid:Name"]);
    assert!(stderr(&out).contains("invalid image reference"), "{}", stderr(&out));
    let out = world.step7(&["pull", &world.registry.name("nothing/here:1")]);
    assert!(stderr(&out).contains("not found"), "{}", stderr(&out));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = world.step7(&["pull", &format!("127.0.0.1:{closed}/x:1")]);
    assert!(stderr(&out).contains("cannot reach the registry"), "{}", stderr(&out));
    let out = world.step7(&["run", "--network", "none", &world.registry.name("nothing/here:1")]);
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    world.assert_no_containers();
}

/// Two pulls of one image at once: both succeed, one copy is stored.
#[test]
fn concurrent_pulls_are_safe() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    world.layout.image("v1", &[base], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/twice");
    let image = world.registry.name("test/twice:v1");
    let spawn = || world.command(&["pull", &image]).spawn().unwrap();
    let (a, b) = (spawn(), spawn());
    assert_code(&support::finish(a), 0);
    assert_code(&support::finish(b), 0);
    assert_eq!(world.stored("layers/sha256").len(), 1);
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 2);
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

/// A registry of our own making, for what Debian's registry does not do:
/// a Bearer token challenge (as Docker Hub's), Docker's media types (a
/// manifest list and a v2 manifest) and a zstd layer. It serves the
/// blobs of a layout, and only to requests carrying the token it issued.
struct TokenRegistry {
    port: u16,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenRegistry {
    /// `tags`: tag -> (media type, blob digest).
    fn start(blobs: PathBuf, tags: Vec<(String, String, String)>) -> TokenRegistry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        Self::answer(stream, port, &blobs, &tags);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        TokenRegistry { port, stop }
    }

    fn answer(mut stream: std::net::TcpStream, port: u16, blobs: &Path, tags: &[(String, String, String)]) {
        use std::io::{BufRead, Write};
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        let mut authorized = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                break;
            }
            authorized |= line.to_ascii_lowercase().starts_with("authorization: bearer issued-token");
        }
        let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (status, headers, body): (&str, String, Vec<u8>) = if path.starts_with("/token?") {
            let ok = path.contains("scope=repository%3Atest%2Fhub%3Apull") && path.contains("service=test-registry");
            if ok {
                ("200 OK", "Content-Type: application/json\r\n".into(), br#"{"token":"issued-token"}"#.to_vec())
            } else {
                ("400 Bad Request", String::new(), vec![])
            }
        } else if !authorized {
            let challenge = format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\",scope=\"repository:test/hub:pull\"\r\n");
            ("401 Unauthorized", challenge, br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec())
        } else if let Some(reference) = path.strip_prefix("/v2/test/hub/manifests/") {
            let found = tags.iter().find(|(tag, _, digest)| tag == reference || digest == reference);
            match found {
                Some((_, media_type, digest)) => {
                    let bytes = std::fs::read(blobs.join(&digest[7..])).unwrap();
                    ("200 OK", format!("Content-Type: {media_type}\r\nDocker-Content-Digest: {digest}\r\n"), bytes)
                }
                None => ("404 Not Found", String::new(), br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec()),
            }
        } else if let Some(digest) = path.strip_prefix("/v2/test/hub/blobs/") {
            match std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))) {
                Ok(bytes) => ("200 OK", String::new(), bytes),
                Err(_) => ("404 Not Found", String::new(), vec![]),
            }
        } else {
            ("404 Not Found", String::new(), vec![])
        };
        let head = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Docker Hub's way: a 401 naming a token service, a token for
/// repository:NAME:pull, then the request again with it. Docker's media
/// types (a manifest list, v2 manifests), and a zstd-compressed layer.
#[test]
fn bearer_tokens_docker_media_types_and_zstd() {
    let Some(world) = World::new() else { return };
    if !have("zstd") {
        support::cannot_run("needs zstd (apt-get install zstd)");
        return;
    }
    let base = Layout::gzip(&world.base_layer());
    let top = Layout::tar(&[Entry::File("hello", "from a zstd layer\n")]);
    let zstd = Command::new("sh")
        .args(["-c", "zstd -q -c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), &top)?;
            drop(child.stdin.take());
            child.wait_with_output()
        })
        .unwrap()
        .stdout;
    let mut layers = vec![world.layout.blob(&base), world.layout.blob(&zstd)];
    layers[0]["mediaType"] = json!("application/vnd.docker.image.rootfs.diff.tar.gzip");
    layers[1]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+zstd");
    let diff_ids = vec![sha256(&world.base_layer()), sha256(&top)];
    let config = json!({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["cat", "/hello"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}});
    let mut config_descriptor = world.layout.blob(config.to_string().as_bytes());
    config_descriptor["mediaType"] = json!("application/vnd.docker.container.image.v1+json");
    let manifest_type = "application/vnd.docker.distribution.manifest.v2+json";
    let manifest =
        json!({"schemaVersion": 2, "mediaType": manifest_type, "config": config_descriptor, "layers": layers});
    let mut descriptor = world.layout.blob(manifest.to_string().as_bytes());
    descriptor["mediaType"] = json!(manifest_type);
    descriptor["platform"] = json!({"architecture": "amd64", "os": "linux"});
    let list_type = "application/vnd.docker.distribution.manifest.list.v2+json";
    let list = json!({"schemaVersion": 2, "mediaType": list_type, "manifests": [descriptor]});
    let list_digest = world.layout.blob(list.to_string().as_bytes())["digest"].as_str().unwrap().to_string();
    let manifest_digest = descriptor["digest"].as_str().unwrap().to_string();
    let registry = TokenRegistry::start(
        world.layout.dir.join("blobs/sha256"),
        vec![
            ("latest".into(), list_type.into(), list_digest.clone()),
            (manifest_digest.clone(), manifest_type.into(), manifest_digest),
        ],
    );
    let image = format!("localhost:{}/test/hub", registry.port);

    let out = world.step7(&["run", "--network", "none", &image]);
    assert_eq!(stdout(&out), "from a zstd layer\n", "{}", stderr(&out));
    // Pinned by the digest of the list: the same image.
    let out = world.step7(&["pull", &format!("{image}@{list_digest}")]);
    assert_code(&out, 0);
    assert_eq!(world.stored("layers/sha256").len(), 2);
    world.assert_no_containers();
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
    let out = as_user(&["run", &image]);
    let user_store = home.join("step7");
    let left = std::fs::read_dir(user_store.join("containers")).map(|d| d.count()).unwrap_or(0);
    let rmi = as_user(&["rmi", &image]);
    if created {
        let _ = Command::new("userdel").arg(USER).output();
    }
    assert_eq!(stdout(&out), "0\n0\n1\n0\n", "{}", stderr(&out));
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
