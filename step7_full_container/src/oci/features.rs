//! `features`: what this runtime supports, as the runtime-spec's features
//! document (features.md). Engines read it before choosing options: which
//! namespaces, mount options, seccomp actions and hooks they may use.

/// `features`: the runtime-spec's features document (features.md).
pub fn document() -> serde_json::Value {
    let capabilities: Vec<String> = caps::all().iter().map(|cap| cap.to_string()).collect();
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": "1.2.0",
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountExtensions": {"idmap": {"enabled": true}},
        "mountOptions": super::rootfs::options::names().collect::<Vec<_>>(),
        "linux": {
            "namespaces": ["pid", "mount", "uts", "ipc", "network", "cgroup", "user", "time"],
            "capabilities": capabilities,
            "cgroup": {"v1": true, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": true, "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL",
                "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"]},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "step7"},
    })
}
