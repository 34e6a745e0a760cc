//! A mount entry's options, mount(8)-style ("ro", "nosuid", "rbind",
//! "rslave", "mode=755"), as what mount(2) takes: flags to set, flags to
//! clear, a propagation change, and the rest as file-system data.
//! Read: mount(8) "FILESYSTEM-INDEPENDENT MOUNT OPTIONS".

use nix::mount::MsFlags;

/// A mount entry's options, as mount(2) wants them.
#[derive(Debug)]
pub struct Options {
    pub flags: MsFlags,
    /// MS_BIND, or MS_BIND|MS_REC for rbind.
    pub bind: Option<MsFlags>,
    pub propagation: MsFlags,
    /// File-system specific options ("mode=755", "size=65536k").
    pub data: Vec<String>,
}

/// mount(8)'s flag options: the flags each sets and clears.
const FLAGS: [(&str, MsFlags, MsFlags); 19] = [
    ("ro", MsFlags::MS_RDONLY, MsFlags::empty()),
    ("rw", MsFlags::empty(), MsFlags::MS_RDONLY),
    ("nosuid", MsFlags::MS_NOSUID, MsFlags::empty()),
    ("suid", MsFlags::empty(), MsFlags::MS_NOSUID),
    ("nodev", MsFlags::MS_NODEV, MsFlags::empty()),
    ("dev", MsFlags::empty(), MsFlags::MS_NODEV),
    ("noexec", MsFlags::MS_NOEXEC, MsFlags::empty()),
    ("exec", MsFlags::empty(), MsFlags::MS_NOEXEC),
    ("sync", MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
    ("async", MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
    ("dirsync", MsFlags::MS_DIRSYNC, MsFlags::empty()),
    ("noatime", MsFlags::MS_NOATIME, MsFlags::empty()),
    ("atime", MsFlags::empty(), MsFlags::MS_NOATIME),
    ("nodiratime", MsFlags::MS_NODIRATIME, MsFlags::empty()),
    ("diratime", MsFlags::empty(), MsFlags::MS_NODIRATIME),
    ("relatime", MsFlags::MS_RELATIME, MsFlags::empty()),
    ("norelatime", MsFlags::empty(), MsFlags::MS_RELATIME),
    ("strictatime", MsFlags::MS_STRICTATIME, MsFlags::empty()),
    ("nostrictatime", MsFlags::empty(), MsFlags::MS_STRICTATIME),
];

/// A bind mount, of the tree (rbind) or of the top mount alone.
const BINDS: [(&str, MsFlags); 2] = [("bind", MsFlags::MS_BIND), ("rbind", MsFlags::MS_BIND.union(MsFlags::MS_REC))];

/// Propagation changes, made by a mount(2) call of their own.
const PROPAGATIONS: [(&str, MsFlags); 8] = [
    ("private", MsFlags::MS_PRIVATE),
    ("rprivate", MsFlags::MS_PRIVATE.union(MsFlags::MS_REC)),
    ("shared", MsFlags::MS_SHARED),
    ("rshared", MsFlags::MS_SHARED.union(MsFlags::MS_REC)),
    ("slave", MsFlags::MS_SLAVE),
    ("rslave", MsFlags::MS_SLAVE.union(MsFlags::MS_REC)),
    ("unbindable", MsFlags::MS_UNBINDABLE),
    ("runbindable", MsFlags::MS_UNBINDABLE.union(MsFlags::MS_REC)),
];

/// Accepted, and without effect (mandatory locks are gone from Linux).
const IGNORED: [&str; 3] = ["mand", "nomand", "defaults"];

/// Every option with an effect, for `features`: one list with [`Options::parse`].
pub fn names() -> impl Iterator<Item = &'static str> {
    let flags = FLAGS.iter().map(|(name, ..)| *name);
    flags.chain(BINDS.iter().map(|(name, _)| *name)).chain(PROPAGATIONS.iter().map(|(name, _)| *name))
}

impl Options {
    pub fn parse(options: &[String]) -> Options {
        let mut parsed =
            Options { flags: MsFlags::empty(), bind: None, propagation: MsFlags::empty(), data: Vec::new() };
        for option in options.iter().map(String::as_str) {
            if let Some((_, set, clear)) = FLAGS.iter().find(|(name, ..)| *name == option) {
                parsed.flags = (parsed.flags | *set) & !*clear;
            } else if let Some((_, bind)) = BINDS.iter().find(|(name, _)| *name == option) {
                parsed.bind = Some(*bind);
            } else if let Some(flags) = propagation_flags(option) {
                parsed.propagation |= flags;
            } else if !IGNORED.contains(&option) {
                parsed.data.push(option.to_string());
            }
        }
        parsed
    }
}

/// The propagation change `name` asks for, if it is one.
pub(super) fn propagation_flags(name: &str) -> Option<MsFlags> {
    PROPAGATIONS.iter().find(|(known, _)| *known == name).map(|(_, flags)| *flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flags_and_data() {
        let options: Vec<String> =
            ["nosuid", "strictatime", "mode=755", "size=65536k", "ro", "rw", "rslave"].map(String::from).to_vec();
        let parsed = Options::parse(&options);
        assert_eq!(parsed.flags, MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME);
        assert_eq!(parsed.data, ["mode=755", "size=65536k"]);
        assert_eq!(parsed.propagation, MsFlags::MS_SLAVE | MsFlags::MS_REC);
        assert_eq!(Options::parse(&["rbind".into()]).bind, Some(MsFlags::MS_BIND | MsFlags::MS_REC));
        assert!(Options::parse(&["defaults".into(), "nomand".into()]).data.is_empty());
    }

    #[test]
    fn every_option_features_lists_is_parsed_as_one() {
        let all: Vec<&str> = names().collect();
        assert_eq!(all.len(), 29);
        for name in all {
            assert!(Options::parse(&[name.to_string()]).data.is_empty(), "{name} taken for file-system data");
        }
    }
}
