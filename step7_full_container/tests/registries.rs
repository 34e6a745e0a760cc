//! Step 7 against registries as they are: multi-arch indexes, passwords,
//! Bearer tokens as Docker Hub's, Docker's media types, zstd layers,
//! references that do not resolve, two pulls at once, and registries
//! that fail halfway or send more than the manifest says.

#[path = "../../step1_chroot/tests/support/mod.rs"]
mod support;
#[path = "images/token_registry.rs"]
mod token_registry;
#[path = "images/world.rs"]
mod world;

use serde_json::json;
use std::process::{Command, Stdio};
use support::{assert_code, stderr, stdout};
use token_registry::{Lie, TokenRegistry};
use world::*;

const BIN: &str = env!("CARGO_BIN_EXE_step7");

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

/// Docker Hub's way: a 401 naming a token service, a token for
/// repository:NAME:pull, then the request again with it. Docker's media
/// types (a manifest list, v2 manifests), and a zstd-compressed layer.
#[test]
fn bearer_tokens_docker_media_types_and_zstd() {
    let Some(world) = World::new() else { return };
    if !support::vm::have("zstd") {
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

/// An image of the busybox layer and a small one on top, served by a
/// registry of our own (which can be made to lie): the registry, the
/// image's name, and the top layer's blob digest.
fn lying_registry(world: &mut World, tag: &str) -> (TokenRegistry, String, String) {
    let top = Layout::tar(&[Entry::File("top", "the top layer\n")]);
    let manifest = world.layout.image(tag, &[world.base_layer(), top.clone()], json!({}), "amd64");
    let manifest = manifest["digest"].as_str().unwrap().to_string();
    let oci_manifest = "application/vnd.oci.image.manifest.v1+json".to_string();
    let registry =
        TokenRegistry::start(world.layout.dir.join("blobs/sha256"), vec![(tag.into(), oci_manifest, manifest)]);
    let image = format!("localhost:{}/test/hub:{tag}", registry.port);
    (registry, image, sha256(&Layout::gzip(&top)))
}

/// A pull cut short by the registry (a 500 for the second layer) is not
/// a refusal: it keeps the config and the layer it verified, and the next
/// try finds that layer "already here" and downloads only the rest.
#[test]
fn a_pull_cut_short_keeps_what_it_verified() {
    let Some(mut world) = World::new() else { return };
    let (registry, image, top) = lying_registry(&mut world, "cut");
    registry.lie(&top, Some(Lie::Fails));
    let out = world.step7(&["pull", &image]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("500 Internal Server Error"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256").len(), 1, "the verified layer was not kept: {}", stderr(&out));
    assert_eq!(world.stored("blobs/sha256").len(), 2, "the config and the first layer's blob");
    assert_eq!(world.stored("tmp"), Vec::<String>::new());
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 1, "an image recorded");

    registry.lie(&top, None);
    let out = world.step7(&["pull", &image]);
    assert_code(&out, 0);
    assert_eq!(stderr(&out).matches("already here").count(), 1, "{}", stderr(&out));
    assert_eq!(world.stored("layers/sha256").len(), 2);
}

/// A registry that sends more than the manifest's size for a blob, with
/// no Content-Length to say so beforehand: step7 reads one byte more than
/// the size, refuses the image, and takes back what it stored (the
/// config, the layer below).
#[test]
fn a_blob_longer_than_its_manifest_says_is_refused() {
    let Some(mut world) = World::new() else { return };
    let (registry, image, top) = lying_registry(&mut world, "longer");
    registry.lie(&top, Some(Lie::Longer(64 << 20)));
    let out = world.step7(&["pull", &image]);
    assert_ne!(out.status.code(), Some(0));
    let size = std::fs::metadata(world.layout.dir.join("blobs/sha256").join(&top[7..])).unwrap().len();
    let refusal = format!("the registry sent more than the manifest's {size} bytes for {top}");
    assert!(stderr(&out).contains(&refusal), "{}", stderr(&out));
    for sub in ["blobs/sha256", "layers/sha256", "tmp"] {
        assert_eq!(world.stored(sub), Vec::<String>::new(), "left in {sub}");
    }
    assert_eq!(stdout(&world.step7(&["images"])).lines().count(), 1, "an image recorded");
}
