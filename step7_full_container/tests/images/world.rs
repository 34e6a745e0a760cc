//! The image tests' world: a registry of their own (Debian's
//! docker-registry on a free loopback port), OCI layouts written by hand
//! so that a layer holds exactly what a test needs, and a directory per
//! test for the store and the state, removed with whatever is mounted in it.
//! (Shared by two test targets, each using part of it.)
#![allow(dead_code)]

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use crate::support::vm::have;
use crate::support::{self, Rootfs};
use crate::BIN;

pub fn sha256(bytes: &[u8]) -> String {
    digest(Sha256::new_with_prefix(bytes))
}

/// "sha256:<hex>" of what `hash` was given.
pub fn digest(hash: Sha256) -> String {
    format!("sha256:{}", hash.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A registry on a free loopback port, in a directory of its own.
pub struct Registry {
    pub dir: PathBuf,
    pub port: u16,
    pub process: Child,
}

impl Registry {
    /// `htpasswd`: a "user:bcrypt" line to require Basic authentication.
    pub fn start(dir: &Path, htpasswd: Option<&str>) -> Registry {
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

    pub fn name(&self, repository: &str) -> String {
        format!("127.0.0.1:{}/{repository}", self.port)
    }

    /// Push `tag` of the OCI layout `layout` as `repository:tag`.
    pub fn push(&self, layout: &Layout, tag: &str, repository: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "--all", "--dest-tls-verify=false", "--dest-creds=alice:secret"])
            .arg(format!("oci:{}:{tag}", layout.dir.display()))
            .arg(format!("docker://{}:{tag}", self.name(repository)))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo copy: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The registry's own copy of a blob (to corrupt it).
    pub fn blob_file(&self, digest: &str) -> PathBuf {
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
pub enum Entry<'a> {
    File(&'a str, &'a str),
    /// A file with an owner and a mode of its own.
    Owned(&'a str, u64, u32),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    HardLink(&'a str, &'a str),
    /// A device node anyone may open (mode 0666): Block or Char, major,
    /// minor.
    Device(&'a str, tar::EntryType, u32, u32),
    /// A file of these bytes with this mode, owned by root (a setuid
    /// program).
    Program(&'a str, &'a [u8], u32),
}

/// An OCI image layout written by hand, so that layers can hold exactly
/// what a test needs: whiteouts, opaque directories, hostile entries.
pub struct Layout {
    pub dir: PathBuf,
    pub manifests: Vec<serde_json::Value>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        let dir = dir.join("layout");
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout { dir, manifests: Vec::new() }
    }

    pub fn blob(&self, bytes: &[u8]) -> serde_json::Value {
        let digest = sha256(bytes);
        std::fs::write(self.dir.join("blobs/sha256").join(&digest[7..]), bytes).unwrap();
        json!({"digest": digest, "size": bytes.len()})
    }

    /// A tar of `entries` (names written as given, unchecked).
    pub fn tar(entries: &[Entry]) -> Vec<u8> {
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
                Entry::Device(name, kind, ..) => (name, *kind, None, b""),
                Entry::Program(name, bytes, _) => (name, tar::EntryType::Regular, None, bytes),
            };
            header.set_entry_type(kind);
            header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
            header.set_size(data.len() as u64);
            if let Entry::Owned(_, uid, mode) = entry {
                header.set_uid(*uid);
                header.set_gid(*uid);
                header.set_mode(*mode);
            }
            if let Entry::Device(_, _, major, minor) = entry {
                header.set_device_major(*major).unwrap();
                header.set_device_minor(*minor).unwrap();
                header.set_mode(0o666);
            }
            if let Entry::Program(_, _, mode) = entry {
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
    pub fn tar_dir(dir: &Path) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        builder.follow_symlinks(false);
        builder.append_dir_all(".", dir).unwrap();
        builder.into_inner().unwrap()
    }

    pub fn gzip(tar: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, tar).unwrap();
        encoder.finish().unwrap()
    }

    /// An image of these layers (uncompressed tars, bottom first) with
    /// `config` ("Env", "Cmd", ...) under `tag`; its manifest descriptor.
    pub fn image(
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

    pub fn image_with(
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
    pub fn index(&mut self, tag: &str, manifests: Vec<serde_json::Value>) {
        let index =
            json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests});
        let mut descriptor = self.blob(index.to_string().as_bytes());
        descriptor["mediaType"] = json!("application/vnd.oci.image.index.v1+json");
        self.tag(tag, descriptor);
    }

    pub fn tag(&mut self, tag: &str, mut descriptor: serde_json::Value) {
        descriptor["annotations"] = json!({"org.opencontainers.image.ref.name": tag});
        self.manifests.retain(|m| m["annotations"]["org.opencontainers.image.ref.name"] != tag);
        self.manifests.push(descriptor);
        let index = json!({"schemaVersion": 2, "manifests": self.manifests});
        std::fs::write(self.dir.join("index.json"), index.to_string()).unwrap();
    }
}

/// A test's world: a rootfs to build images from, a registry, an OCI
/// layout, a store and a state root, all under one directory.
pub struct World {
    pub rootfs: Rootfs,
    pub dir: PathBuf,
    pub registry: Registry,
    pub layout: Layout,
}

impl World {
    pub fn new() -> Option<World> {
        World::with_auth(None)
    }

    pub fn with_auth(htpasswd: Option<&str>) -> Option<World> {
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

    pub fn store(&self) -> PathBuf {
        self.dir.join("store")
    }

    /// step7 with this world's store and state root.
    pub fn step7(&self, args: &[&str]) -> Output {
        self.step7_env(args, &[])
    }

    pub fn step7_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut command = self.command(args);
        command.envs(env.iter().copied());
        support::finish(command.spawn().unwrap())
    }

    /// The command, not started yet: stdout and stderr piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command.arg("--store").arg(self.store()).arg("--root").arg(self.dir.join("state")).args(args);
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command
    }

    /// The busybox rootfs as a layer.
    pub fn base_layer(&self) -> Vec<u8> {
        Layout::tar_dir(&self.rootfs.path)
    }

    /// Entries of a store directory (blobs/sha256, layers/sha256, ...).
    pub fn stored(&self, sub: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.store().join(sub))
            .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Nothing of a container left: no overlay mount of this store, no
    /// container directory, no state.
    pub fn assert_no_containers(&self) {
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
