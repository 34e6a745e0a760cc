//! Capabilities: root's powers in some 40 pieces (capabilities(7)), of
//! which the container keeps only those config.json lists, in five sets:
//! bounding (the most it can ever get), permitted, effective, inheritable,
//! and ambient (what survives execve for a user other than root).

use anyhow::{bail, Context, Result};
use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, Process};
use std::collections::HashSet;
use std::hash::Hash;

/// The capabilities named in one set of config.json.
fn named(set: &Option<oci_spec::runtime::Capabilities>) -> Result<CapsHashSet> {
    let mut found = CapsHashSet::new();
    for capability in set.iter().flatten() {
        let name = format!("CAP_{capability}");
        match name.parse::<caps::Capability>() {
            Ok(cap) => {
                found.insert(cap);
            }
            Err(_) => bail!("config.json: process.capabilities: unknown capability {name}"),
        }
    }
    Ok(found)
}

// ANCHOR: drop_bounding
/// Remove from the bounding set every capability config.json does not
/// list: no later execve, not even of a setuid-root binary, can bring it
/// back. Needs CAP_SETPCAP, so it comes before the switch of user.
pub(super) fn drop_bounding(capabilities: &LinuxCapabilities) -> Result<()> {
    let keep = named(capabilities.bounding())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("cannot drop {cap} from the bounding set"))?;
        }
    }
    crate::narrate!("prctl(PR_CAPBSET_DROP, ...): bounding set is now {} capabilities", keep.len());
    Ok(())
}
// ANCHOR_END: drop_bounding

/// Set the permitted, effective and inheritable sets exactly to
/// config.json's lists, and raise the ambient capabilities the kernel
/// allows ([`raisable`]).
pub(super) fn set_capabilities(capabilities: &LinuxCapabilities) -> Result<()> {
    let permitted = named(capabilities.permitted())?;
    let effective = named(capabilities.effective())?;
    let inheritable = named(capabilities.inheritable())?;
    // capset(2) checks every call: effective within permitted, and a new
    // inheritable within the old permitted. So narrow permitted last.
    caps::set(None, CapSet::Inheritable, &inheritable).context("config.json: process.capabilities.inheritable")?;
    caps::set(None, CapSet::Effective, &effective).context("config.json: process.capabilities.effective")?;
    caps::set(None, CapSet::Permitted, &permitted).context("config.json: process.capabilities.permitted")?;
    caps::clear(None, CapSet::Ambient).ok();
    for cap in named(capabilities.ambient())? {
        if raisable(&cap, &permitted, &inheritable) {
            caps::raise(None, CapSet::Ambient, cap)
                .with_context(|| format!("config.json: process.capabilities.ambient: {cap}"))?;
        }
    }
    crate::narrate!("capset: {} effective capabilities", effective.len());
    Ok(())
}

// ANCHOR: raisable_ambient
/// Whether the kernel lets `cap` into the ambient set: only if it is both
/// permitted and inheritable (capabilities(7), "Ambient capability set").
/// `runc spec` writes an ambient set without an inheritable one, and runc
/// runs it without them; so does step 7: [`set_capabilities`] raises only
/// these, and [`unraisable_ambient`] names the others for a warning.
fn raisable<C: Eq + Hash>(cap: &C, permitted: &HashSet<C>, inheritable: &HashSet<C>) -> bool {
    permitted.contains(cap) && inheritable.contains(cap)
}

/// The ambient capabilities of `process` that will not be raised, as
/// "CAP_X", sorted; at once empty when there is no ambient set.
pub fn unraisable_ambient(process: &Process) -> Vec<String> {
    let Some(capabilities) = process.capabilities() else { return Vec::new() };
    let Some(ambient) = capabilities.ambient().as_ref().filter(|set| !set.is_empty()) else { return Vec::new() };
    let none = HashSet::new();
    let permitted = capabilities.permitted().as_ref().unwrap_or(&none);
    let inheritable = capabilities.inheritable().as_ref().unwrap_or(&none);
    let mut names: Vec<String> =
        ambient.iter().filter(|cap| !raisable(*cap, permitted, inheritable)).map(|cap| format!("CAP_{cap}")).collect();
    names.sort();
    names
}
// ANCHOR_END: raisable_ambient

/// Say which ambient capabilities of `process` will not be raised, where
/// it is read (so the warning also reaches `--log`). `field` names the
/// set where it was read: "config.json: process.capabilities.ambient", or
/// `exec --process FILE`'s "capabilities.ambient".
pub fn warn_unraisable_ambient(process: &Process, field: impl std::fmt::Display) {
    let names = unraisable_ambient(process);
    if !names.is_empty() {
        crate::warn!(
            "{field}: {} not in both permitted and inheritable, so not raised (capabilities(7)); add them to \
             inheritable to have them",
            names.join(", ")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn process(capabilities: serde_json::Value) -> Process {
        serde_json::from_value(
            serde_json::json!({"cwd": "/", "user": {"uid": 0, "gid": 0}, "capabilities": capabilities}),
        )
        .unwrap()
    }

    #[test]
    fn ambient_capabilities_need_permitted_and_inheritable() {
        let caps = serde_json::json!(["CAP_KILL", "CAP_CHOWN"]);
        // As `runc spec` writes it: no inheritable set.
        let runc_spec = process(serde_json::json!({"permitted": caps, "ambient": caps}));
        assert_eq!(unraisable_ambient(&runc_spec), ["CAP_CHOWN", "CAP_KILL"]);
        let some = process(serde_json::json!({"permitted": caps, "inheritable": ["CAP_KILL"], "ambient": caps}));
        assert_eq!(unraisable_ambient(&some), ["CAP_CHOWN"]);
        let all = process(serde_json::json!({"permitted": caps, "inheritable": caps, "ambient": caps}));
        assert!(unraisable_ambient(&all).is_empty());
        assert!(unraisable_ambient(&process(serde_json::json!({"permitted": caps}))).is_empty());
        // The same rule on the sets set_capabilities works with.
        let set = |names: &[caps::Capability]| names.iter().copied().collect::<CapsHashSet>();
        let (kill, chown) = (caps::Capability::CAP_KILL, caps::Capability::CAP_CHOWN);
        assert!(raisable(&kill, &set(&[kill, chown]), &set(&[kill])));
        assert!(!raisable(&chown, &set(&[kill, chown]), &set(&[kill])));
    }
}
