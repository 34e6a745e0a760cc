//! Where step 7 keeps things, for root and for everybody else.
//!
//! ```text
//!                     root                other users
//! container state     /run/step7          $XDG_RUNTIME_DIR/step7 (/tmp/step7-UID)
//! images and layers   /var/lib/step7      $XDG_DATA_HOME/step7 (~/.local/share/step7)
//! ```
//!
//! State lives on a tmpfs (/run), as the containers do: a reboot ends both.
//! Images are kept on disk. A user who is not root cannot write either of
//! root's directories, and must not share them: rootless containers and
//! their images are the user's own (chapter 8). `--root` and `--store`
//! (or $STEP7_STORE) choose other places; the directories under the state
//! root that are not containers start with a dot (`list` skips them).

use std::path::{Path, PathBuf};

/// Whether this process runs as a user other than root: every choice
/// between root's way and the rootless way asks this.
pub fn rootless() -> bool {
    !nix::unistd::geteuid().is_root()
}

/// The directories of one invocation.
#[derive(Clone, Debug)]
pub struct Paths {
    /// Container state: a directory per container.
    pub state: PathBuf,
    /// The image store (`step7_image::store`).
    pub store: PathBuf,
}

impl Paths {
    /// The defaults, unless `state` or `store` (the flags) say otherwise.
    pub fn new(state: Option<PathBuf>, store: Option<PathBuf>) -> Paths {
        let store = store.or_else(|| std::env::var_os("STEP7_STORE").map(PathBuf::from)).unwrap_or_else(default_store);
        let state = state.unwrap_or_else(default_state);
        // Absolute, both: they are written into files that other
        // invocations read from other directories. Container roots in the
        // store become root.path of a bundle elsewhere; a container's
        // directory in the store records its state directory, and while
        // that exists the root is in use: relative, another directory's
        // `prune` would find it gone and remove a running container's root.
        let absolute = |path: PathBuf| std::path::absolute(&path).unwrap_or(path);
        Paths { state: absolute(state), store: absolute(store) }
    }

    /// The config.json the docker-like `run` writes for container `id`
    /// (its bundle: the rootfs stays where it is).
    pub fn bundle(&self, id: &str) -> PathBuf {
        self.state.join(".bundles").join(id)
    }

    /// A detached container's output.
    pub fn log(&self, id: &str) -> PathBuf {
        self.state.join(".logs").join(format!("{id}.log"))
    }
}

/// The root of the state directories.
pub fn default_state() -> PathBuf {
    if !rootless() {
        return PathBuf::from("/run/step7");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("step7"),
        None => std::env::temp_dir().join(format!("step7-{}", nix::unistd::geteuid())),
    }
}

// ANCHOR: default_store
/// /var/lib/step7 for root; a rootless user's own data directory
/// otherwise.
pub fn default_store() -> PathBuf {
    if !rootless() {
        return PathBuf::from("/var/lib/step7");
    }
    match (std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME")) {
        (Some(data), _) => PathBuf::from(data).join("step7"),
        (None, Some(home)) => Path::new(&home).join(".local/share/step7"),
        (None, None) => std::env::temp_dir().join(format!("step7-data-{}", nix::unistd::geteuid())),
    }
}
// ANCHOR_END: default_store
