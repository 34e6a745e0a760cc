//! The store against hostile images, registries and other users: what a
//! layer holds (device nodes, setuid programs) is out of reach of the
//! host's other users, who cannot plant anything in the store either; a
//! layer refused leaves nothing; a layer or a download that would fill
//! the disk is stopped before it does.

use serde_json::json;
use sha2::Digest;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{assert_code, stderr, stdout};
use crate::token_registry::{Lie, TokenRegistry};
use crate::world::*;

/// The host's unprivileged user.
const NOBODY: u32 = 65534;

/// The directories the store makes for itself ("": its own).
const STORE_DIRS: [&str; 7] = ["", "blobs", "blobs/sha256", "layers", "layers/sha256", "containers", "tmp"];

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
    for sub in STORE_DIRS {
        std::fs::create_dir_all(store.join(sub)).unwrap();
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
    let modes: Vec<String> = STORE_DIRS
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

/// Layers refused for what they are: a blob corrupted in the registry (its
/// digest is not its name), one longer than its manifest says, a layer
/// whose content is not the diff_id its config promises, a gzip stream
/// cut short, bytes that are not a layer at all, a tar cut short. Each
/// pull fails, says so, and leaves nothing of its image: not the refused
/// blob, not the config, not a layer it unpacked before the bad one; but
/// what the image shares with one already stored stays. Refused while
/// another command holds the store, a pull leaves what it stored for
/// `prune`, and says so.
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
    // Valid layers of their own, to be corrupted or lengthened in the
    // registry's storage after the push.
    let corrupt = Layout::gzip(&Layout::tar(&[Entry::File("big", "to be corrupted\n")]));
    let longer = Layout::gzip(&Layout::tar(&[Entry::File("big", "to be lengthened\n")]));
    let swapped = Layout::gzip(&Layout::tar(&[Entry::File("big", "not what the config says\n")]));
    let unpack = "cannot unpack layer";
    let bad: [(&str, Vec<u8>, [&str; 2]); 6] = [
        ("corrupt", corrupt, ["arrived with digest", "corrupt or tampered with"]),
        // Refused on the registry's Content-Length, before the body
        // (registries.rs has one that sends none).
        ("longer", longer, [" sends ", "more than the manifest's"]),
        ("swapped", swapped, [unpack, "but the image config says"]),
        ("gzip-cut", gzip[..gzip.len() / 2].to_vec(), [unpack, "corrupt layer: its gzip stream is cut short"]),
        (
            "not-gzip",
            b"PK\x03\x04 a zip file, say\n".repeat(100),
            [unpack, "not a layer: there is no tar archive in it"],
        ),
        ("tar-cut", Layout::gzip(&tar[..tar.len() / 2]), [unpack, "corrupt layer: cut short or damaged after 1 entry"]),
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
    let in_registry = |blob: &[u8]| world.registry.blob_file(&sha256(blob));
    let mut corrupted = std::fs::read(in_registry(&bad[0].1)).unwrap();
    let last = corrupted.len() - 1;
    corrupted[last] ^= 0xff;
    std::fs::write(in_registry(&bad[0].1), corrupted).unwrap();
    let mut lengthened = std::fs::OpenOptions::new().append(true).open(in_registry(&bad[1].1)).unwrap();
    lengthened.write_all(&[b'x'; 4096]).unwrap();

    let name = |tag: &str| world.registry.name(&format!("test/refused:{tag}"));
    for (tag, _, why) in &bad {
        let out = world.step7(&["pull", &name(tag)]);
        assert_ne!(out.status.code(), Some(0), "{tag}: {}", stderr(&out));
        assert!(why.iter().all(|why| stderr(&out).contains(why)), "{tag}: {}", stderr(&out));
        assert!(!stderr(&out).contains("warning"), "{tag}: {}", stderr(&out));
        let left = (world.stored("blobs/sha256"), world.stored("layers/sha256"));
        assert_eq!(left, kept, "{tag}: the store kept something of the refused image, or lost the good one's");
        assert_eq!(world.stored("tmp"), Vec::<String>::new(), "{tag}");
        assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 2, "{tag}: an image recorded");
    }

    // Another command holds the store (shared, as a run or a pull does):
    // the refused pull may not remove, so it says what stays (a warning,
    // which --quiet does not silence), and prune removes it once the
    // store is free.
    // (Held by this process itself: flock(2) locks belong to the open
    // file, and a helper process could outlive the test holding it.)
    let lock = std::fs::File::open(world.store().join("lock")).unwrap();
    let held = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockShared).map_err(|(_, e)| e).unwrap();
    let out = world.step7(&["pull", "--quiet", &name("tar-cut")]);
    drop(held);
    assert!(stderr(&out).contains("corrupt layer") && !stderr(&out).contains("already here"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("step7: warning: the store is in use: what this pull stored stays until `step7 prune`"),
        "{}",
        stderr(&out)
    );
    let left = (world.stored("blobs/sha256"), world.stored("layers/sha256"));
    assert_ne!(left, kept, "nothing left while the store was held: the test would prove nothing");
    assert_code(&world.step7(&["prune"]), 0);
    assert_eq!((world.stored("blobs/sha256"), world.stored("layers/sha256")), kept, "prune left the refused pull's");

    // The image that shares the base layer still runs.
    let out = world.step7(&["run", "--network", "none", &name("good"), "echo", "ok"]);
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
    (tee.out.finish().unwrap(), digest(tee.hash))
}

/// Decompression bombs, into a store on a 64 MiB tmpfs with 4096 inodes
/// (so that the disk filled is the test's own): 200 MiB of zeros in a
/// layer of a few hundred KiB, and 10,000 empty files; and a download
/// that never ends, of a layer its manifest says is 1 TiB. Each is
/// stopped with an error that says where and how much, before the file
/// system is full, and leaves nothing.
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
    // The endless one, from a registry that lies (Debian's would not).
    let endless = sha256(b"an endless layer");
    let layer =
        json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": endless, "size": 1u64 << 40});
    let manifest = world.layout.image_with("endless", vec![layer], vec![endless.clone()], json!({}), "amd64");
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json".to_string();
    let manifest = manifest["digest"].as_str().unwrap().to_string();
    let liar =
        TokenRegistry::start(world.layout.dir.join("blobs/sha256"), vec![("endless".into(), oci_manifest, manifest)]);
    liar.lie(&endless, Some(Lie::Endless));
    let mut images: Vec<(String, &str)> =
        bombs.iter().map(|(tag, _, how_much)| (world.registry.name(&format!("test/bomb:{tag}")), *how_much)).collect();
    images.push((format!("localhost:{}/test/hub:endless", liar.port), "MiB written"));
    for (image, how_much) in &images {
        let out = world.step7(&["pull", image]);
        assert_ne!(out.status.code(), Some(0), "{image}: the bomb was unpacked: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains(&format!("refusing to write more into the image store {}:", store.display())),
            "{image}: {err}"
        );
        assert!(err.contains(how_much), "{image}: {err}");
        for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
            assert_eq!(world.stored(sub), Vec::<String>::new(), "{image}: left in {sub}");
        }
        let fs = nix::sys::statvfs::statvfs(&store).unwrap();
        let free = fs.blocks_available() as u64 * fs.fragment_size();
        assert!(free > 60 << 20, "{image}: only {free} bytes free after the refusal");
    }
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 1, "an image recorded");
}

/// Nobody else may put anything into the store, where a planted "layer"
/// would be taken for the one a pull unpacks: a store directory another
/// user owns, one others may write (a sticky /tmp-like one included),
/// and a symlink in the store are refused, and nothing is written
/// through them.
#[test]
fn a_store_others_could_write_into_is_refused() {
    let Some(world) = World::new() else { return };
    let with_store = |store: &Path| {
        let out = Command::new(crate::BIN).arg("--store").arg(store).args(["images"]).output().unwrap();
        assert_ne!(out.status.code(), Some(0), "{} was taken as a store", store.display());
        stderr(&out)
    };
    let entries = |dir: &Path| std::fs::read_dir(dir).unwrap().count();

    // Made by uid 65534, and still its: it may write there whenever it likes.
    let theirs = world.dir.join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
    nix::unistd::chown(&theirs, Some(nix::unistd::Uid::from_raw(NOBODY)), None).unwrap();
    let err = with_store(&theirs);
    assert!(err.contains(&format!("belongs to uid {NOBODY}")) && err.contains("choose another --store"), "{err}");
    assert_eq!(entries(&theirs), 0, "written into a store directory of uid {NOBODY}");

    // Ours, but anyone's to write into, as /tmp: sticky or not.
    let shared = world.dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    for mode in [0o1777, 0o777, 0o770] {
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = with_store(&shared);
        let inside = format!("--store {}", shared.join("step7").display());
        assert!(err.contains("may be written by others") && err.contains(&inside), "{mode:o}: {err}");
        assert_eq!(entries(&shared), 0, "{mode:o}: written into a store others may write");
    }

    // A store whose layers/ is a symlink to a directory of someone else's.
    let store = world.store();
    std::fs::create_dir_all(store.join("blobs/sha256")).unwrap();
    let elsewhere = world.dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, store.join("layers")).unwrap();
    let err = with_store(&store);
    assert!(err.contains(&format!("{} is a symlink", store.join("layers").display())), "{err}");
    assert_eq!(entries(&elsewhere), 0, "written through a symlink in the store");
}
