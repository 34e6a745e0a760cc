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

impl Options {
    pub fn parse(options: &[String]) -> Options {
        let mut parsed =
            Options { flags: MsFlags::empty(), bind: None, propagation: MsFlags::empty(), data: Vec::new() };
        for option in options {
            let (set, clear) = match option.as_str() {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME),
                "mand" | "nomand" | "defaults" => (MsFlags::empty(), MsFlags::empty()),
                "bind" => {
                    parsed.bind = Some(MsFlags::MS_BIND);
                    continue;
                }
                "rbind" => {
                    parsed.bind = Some(MsFlags::MS_BIND | MsFlags::MS_REC);
                    continue;
                }
                other => {
                    if let Some(flags) = propagation_flags(other) {
                        parsed.propagation |= flags;
                    } else {
                        parsed.data.push(other.to_string());
                    }
                    continue;
                }
            };
            parsed.flags = (parsed.flags | set) & !clear;
        }
        parsed
    }
}

pub fn propagation_flags(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
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
    }
}
