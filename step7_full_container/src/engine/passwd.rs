//! `--user NAME[:GROUP]`: names are the container's, not the host's. A
//! user called `nobody` or `app` is whatever uid the image's /etc/passwd
//! gives it, so names are looked up there (read with the rootfs as root:
//! a planted symlink cannot make us read a host file). Numbers need no
//! lookup. Without a group, the user's primary group from /etc/passwd
//! (0 if the user is not listed), as Docker does. Read: passwd(5),
//! group(5).

use anyhow::{bail, Result};
use std::path::Path;

use step7_image::tree::Tree;

// ANCHOR: resolve
/// `text` ("uid", "name", "uid:gid", "name:group") as numbers, looked
/// up in `rootfs`'s /etc/passwd and /etc/group.
pub fn resolve(text: &str, rootfs: &Path) -> Result<(u32, u32)> {
    let (user, group) = match text.split_once(':') {
        Some((user, group)) => (user, Some(group)),
        None => (text, None),
    };
    if user.is_empty() || group == Some("") {
        bail!("invalid --user {text:?}: write USER[:GROUP], names or numbers");
    }
    let passwd = read(rootfs, "etc/passwd");
    // name:password:uid:gid:...
    let entry = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() > 3 && (f[0] == user || f[2] == user));
    let uid = match (user.parse::<u32>(), &entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(fields)) => fields[2].parse()?,
        (Err(_), None) => bail!("no user {user:?} in the container's /etc/passwd: use a number, --user UID[:GID]"),
    };
    let gid = match group {
        None => entry.and_then(|f| f[3].parse().ok()).unwrap_or(0),
        Some(group) => match group.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let groups = read(rootfs, "etc/group");
                let found =
                    groups.lines().map(|l| l.split(':').collect::<Vec<_>>()).find(|f| f.len() > 2 && f[0] == group);
                match found {
                    Some(fields) => fields[2].parse()?,
                    None => bail!("no group {group:?} in the container's /etc/group: use a number"),
                }
            }
        },
    };
    Ok((uid, gid))
}
// ANCHOR_END: resolve

fn read(rootfs: &Path, file: &str) -> String {
    let bytes = Tree::open(rootfs).and_then(|tree| tree.read(Path::new(file)));
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_and_numbers() {
        let dir = std::env::temp_dir().join(format!("step7-passwd-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
            .unwrap();
        std::fs::write(dir.join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
        let resolve = |text| super::resolve(text, &dir);
        assert_eq!(resolve("app").unwrap(), (1000, 1001));
        assert_eq!(resolve("app:staff").unwrap(), (1000, 50));
        assert_eq!(resolve("1000").unwrap(), (1000, 1001));
        assert_eq!(resolve("4242:7").unwrap(), (4242, 7));
        assert_eq!(resolve("4242").unwrap(), (4242, 0));
        assert!(resolve("nobody").is_err());
        assert!(resolve("app:wheel").is_err());
        assert!(resolve(":1").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
