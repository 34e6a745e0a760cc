//! The store against hostile images and other users: what a layer holds
//! (device nodes, setuid programs) is out of reach of the host's other
//! users; a layer refused leaves nothing; a layer that would fill the disk
//! is stopped before it does.

use serde_json::json;
use sha2::Digest;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{assert_code, stderr, stdout};
use crate::world::*;

/// The host's unprivileged user.
const NOBODY: u32 = 65534;

/// What uid 65534 gets when it opens each of `paths` (read-only) and
/// executes each of `programs`: every outcome that is not EACCES, as
/// "path: what happened".
fn reachable_by_nobody(paths: &[PathBuf], programs: &[PathBuf]) -> Vec<String> {
    let mut reached = Vec::new();
    for path in paths {
        let out = Command::new("/bin/sh")
            .args(["-c", "exec < \"$1\"", "sh"])
            .arg(path)
            .current_dir("/")
            .uid(NOBODY)
            .gid(NOBODY)
            .output()
            .unwrap();
        if out.status.success() {
            reached.push(format!("{}: opened", path.display()));
        } else if !stderr(&out).contains("Permission denied") {
            reached.push(format!("{}: {}", path.display(), stderr(&out).trim()));
        }
    }
    for program in programs {
        match Command::new(program).arg("true").current_dir("/").uid(NOBODY).gid(NOBODY).output() {
            Ok(_) => reached.push(format!("{}: ran", program.display())),
            Err(err) if err.raw_os_error() == Some(libc::EACCES) => {}
            Err(err) => reached.push(format!("{}: {err}", program.display())),
        }
    }
    reached
}

/// The store's directories as a version before 0700 made them: open to
/// everyone (umask 022).
fn make_old_store(store: &Path) {
    for sub in ["blobs/sha256", "layers/sha256", "containers", "tmp"] {
        std::fs::create_dir_all(store.join(sub)).unwrap();
    }
    for sub in ["", "blobs", "blobs/sha256", "layers", "layers/sha256", "containers", "tmp"] {
        std::fs::set_permissions(store.join(sub), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// An image with a block device (8:0, a disk), /dev/null's twin and a
/// setuid-root busybox, anyone may open or run them: a host user reaches
/// none of them, through the unpacked layer, the container's upper
/// directory or its root, while the container runs (detached). In the
/// container, a user other than root still reads the image's files (its
/// root is the overlay mount, or the copy, not a path through the store).
#[test]
fn the_store_is_closed_to_other_users() {
    let Some(mut world) = World::new() else { return };
    make_old_store(&world.store());
    let busybox = std::fs::read(world.rootfs.path.join("bin/busybox")).unwrap();
    let hostile = Layout::tar(&[
        Entry::Device("disk", tar::EntryType::Block, 8, 0),
        Entry::Device("null-copy", tar::EntryType::Char, 1, 3),
        Entry::Program("suid-sh", &busybox, 0o4755),
        Entry::Dir("data/"),
        Entry::File("data/secret", "the image's file\n"),
    ]);
    world.layout.image("v1", &[world.base_layer(), hostile], json!({}), "amd64");
    world.registry.push(&world.layout, "v1", "test/closed");
    let image = world.registry.name("test/closed:v1");
    let script = "cp /suid-sh /upper-suid && chmod 4755 /upper-suid && echo x > /upper-file && exec sleep 60";
    assert_code(&world.step7(&["run", "-d", "--network", "none", "--name", "held", &image, "sh", "-c", script]), 0);
    let container = world.store().join("containers/held");
    for _ in 0..100 {
        if container.join("upper/upper-file").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    // The container works, as root and as another user, mounted or copied.
    let check = "ls / >/dev/null && cat /data/secret && id -u";
    let out = world.step7(&["exec", "--user", "1000", "held", "sh", "-c", check]);
    assert_eq!(stdout(&out), "the image's file\n1000\n", "{}", stderr(&out));
    for no_overlay in [false, true] {
        let env: &[(&str, &str)] = if no_overlay { &[("STEP7_NO_OVERLAY", "1")] } else { &[] };
        let out = world.step7_env(&["run", "--network", "none", "--user", "1000", &image, "sh", "-c", check], env);
        assert_eq!(stdout(&out), "the image's file\n1000\n", "STEP7_NO_OVERLAY: {no_overlay}: {}", stderr(&out));
    }

    let store = world.store();
    let layer = world
        .stored("layers/sha256")
        .into_iter()
        .map(|hex| store.join("layers/sha256").join(hex))
        .find(|dir| dir.join("suid-sh").exists())
        .expect("no unpacked layer holds suid-sh");
    let (upper, root) = (container.join("upper"), container.join("rootfs"));
    let mut paths = vec![store.clone(), store.join("images.json"), upper.clone(), root.clone()];
    paths.extend(world.stored("blobs/sha256").iter().map(|hex| store.join("blobs/sha256").join(hex)));
    for dir in [&layer, &root] {
        paths.extend(["disk", "null-copy", "suid-sh", "data/secret"].map(|name| dir.join(name)));
    }
    paths.extend([upper.join("upper-suid"), upper.join("upper-file"), root.join("upper-file")]);
    let programs = [layer.join("suid-sh"), root.join("suid-sh"), upper.join("upper-suid"), root.join("upper-suid")];
    for path in paths.iter().chain(&programs) {
        assert!(path.symlink_metadata().is_ok(), "{} is not there: the test would prove nothing", path.display());
    }
    let reached = reachable_by_nobody(&paths, &programs);
    let modes: Vec<String> = ["", "blobs", "blobs/sha256", "layers", "layers/sha256", "containers", "tmp"]
        .iter()
        .map(|sub| store.join(sub))
        .chain([container.clone(), container.join("work")])
        .map(|dir| format!("{:o} {}", dir.metadata().unwrap().permissions().mode() & 0o7777, dir.display()))
        .filter(|line| !line.starts_with("700 "))
        .collect();
    assert_code(&world.step7(&["rm", "-f", "held"]), 0);
    assert!(reached.is_empty(), "uid {NOBODY} reached into the store:\n{}", reached.join("\n"));
    assert!(modes.is_empty(), "not 0700:\n{}", modes.join("\n"));
    world.assert_no_containers();
}

/// Layers refused for what they hold: a gzip stream cut short, bytes that
/// are not a layer at all, a tar cut short. Each pull fails, says so, and
/// leaves nothing of its image: not the refused blob, not the config, not
/// a layer it unpacked before the bad one; but what the image shares with
/// one already stored stays.
#[test]
fn a_refused_layer_leaves_nothing() {
    let Some(mut world) = World::new() else { return };
    let base = world.base_layer();
    world.layout.image("good", std::slice::from_ref(&base), json!({}), "amd64");
    world.registry.push(&world.layout, "good", "test/refused");
    assert_code(&world.step7(&["pull", &world.registry.name("test/refused:good")]), 0);
    let kept = (world.stored("blobs/sha256"), world.stored("layers/sha256"));

    let tar = Layout::tar(&[Entry::File("big", &"0123456789abcdef".repeat(4096))]);
    let gzip = Layout::gzip(&tar);
    let bad: [(&str, Vec<u8>, &str); 3] = [
        ("gzip-cut", gzip[..gzip.len() / 2].to_vec(), "corrupt layer: its gzip stream is cut short"),
        ("not-gzip", b"PK\x03\x04 a zip file, say\n".repeat(100), "not a layer: there is no tar archive in it"),
        ("tar-cut", Layout::gzip(&tar[..tar.len() / 2]), "corrupt layer: cut short or damaged after 1 entry"),
    ];
    let new = Layout::tar(&[Entry::File("new", "a layer of this image only\n")]);
    for (tag, blob, _) in &bad {
        let mut layers = Vec::new();
        for tar in [&base, &new] {
            layers.push(world.layout.blob(&Layout::gzip(tar)));
        }
        layers.push(world.layout.blob(blob));
        for layer in &mut layers {
            layer["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
        }
        let diff_ids = vec![sha256(&base), sha256(&new), sha256(&tar)];
        world.layout.image_with(tag, layers, diff_ids, json!({}), "amd64");
        world.registry.push(&world.layout, tag, "test/refused");
    }
    for (tag, _, why) in &bad {
        let out = world.step7(&["pull", &world.registry.name(&format!("test/refused:{tag}"))]);
        assert_ne!(out.status.code(), Some(0), "{tag}: {}", stderr(&out));
        assert!(stderr(&out).contains("cannot unpack layer") && stderr(&out).contains(why), "{tag}: {}", stderr(&out));
        let left = (world.stored("blobs/sha256"), world.stored("layers/sha256"));
        assert_eq!(left, kept, "{tag}: the store kept something of the refused image, or lost the good one's");
        assert_eq!(world.stored("tmp"), Vec::<String>::new(), "{tag}");
        assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 2, "{tag}: an image recorded");
    }
    // The image that shares the base layer still runs.
    let out = world.step7(&["run", "--network", "none", &world.registry.name("test/refused:good"), "echo", "ok"]);
    assert_eq!(stdout(&out), "ok\n", "{}", stderr(&out));
    world.assert_no_containers();
}

/// A writer that passes bytes on and hashes them (the diff_id of a tar
/// built as a stream).
struct Tee<W: Write> {
    out: W,
    hash: sha2::Sha256,
}

impl<W: Write> Write for Tee<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// A gzip layer of `files` files of `size` zero bytes each, never held
/// whole in memory, and its diff_id.
fn zeros_layer(files: usize, size: u64) -> (Vec<u8>, String) {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let mut builder = tar::Builder::new(Tee { out: encoder, hash: sha2::Sha256::new() });
    for i in 0..files {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_path(format!("zeros-{i}")).unwrap();
        header.set_mode(0o644);
        header.set_size(size);
        header.set_cksum();
        builder.append(&header, std::io::repeat(0).take(size)).unwrap();
    }
    let tee = builder.into_inner().unwrap();
    let hex: String = tee.hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    (tee.out.finish().unwrap(), format!("sha256:{hex}"))
}

/// Decompression bombs, into a store on a 64 MiB tmpfs with 4096 inodes
/// (so that the disk filled is the test's own): 200 MiB of zeros in a
/// layer of a few hundred KiB, and 10,000 empty files. Each is stopped
/// with an error that says where and how much, before the file system is
/// full, and leaves nothing.
#[test]
fn a_decompression_bomb_is_stopped_before_the_disk_is_full() {
    let Some(mut world) = World::new() else { return };
    let store = world.store();
    std::fs::create_dir_all(&store).unwrap();
    nix::mount::mount(
        Some("tmpfs"),
        &store,
        Some("tmpfs"),
        nix::mount::MsFlags::empty(),
        Some("size=64m,nr_inodes=4096,mode=0755"),
    )
    .unwrap();
    // World's drop unmounts it, after a failed assertion too.
    let bombs = [("bytes", zeros_layer(1, 200 << 20), "MiB written"), ("inodes", zeros_layer(10_000, 0), "inodes")];
    for (tag, (blob, diff_id), _) in &bombs {
        assert!(blob.len() < 1 << 20, "the {tag} bomb is {} bytes compressed", blob.len());
        let mut layer = world.layout.blob(blob);
        layer["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar+gzip");
        world.layout.image_with(tag, vec![layer], vec![diff_id.clone()], json!({}), "amd64");
        world.registry.push(&world.layout, tag, "test/bomb");
    }
    for (tag, _, how_much) in &bombs {
        let out = world.step7(&["pull", &world.registry.name(&format!("test/bomb:{tag}"))]);
        assert_ne!(out.status.code(), Some(0), "{tag}: the bomb was unpacked: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("refusing to write more into"), "{tag}: {err}");
        assert!(err.contains(&*store.to_string_lossy()) && err.contains(how_much), "{tag}: {err}");
        for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
            assert_eq!(world.stored(sub), Vec::<String>::new(), "{tag}: left in {sub}");
        }
        let fs = nix::sys::statvfs::statvfs(&store).unwrap();
        let free = fs.blocks_available() as u64 * fs.fragment_size();
        assert!(free > 60 << 20, "{tag}: only {free} bytes free after the refusal");
    }
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 1, "an image recorded");
}
