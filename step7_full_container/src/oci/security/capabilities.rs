//! Capabilities: root's powers in some 40 pieces (capabilities(7)), of
//! which the container keeps only those config.json lists, in five sets:
//! bounding (the most it can ever get), permitted, effective, inheritable,
//! and ambient (what survives execve for a user other than root).

use anyhow::{bail, Context, Result};
use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{LinuxCapabilities, Process};

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
pub fn drop_bounding(capabilities: &LinuxCapabilities) -> Result<()> {
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

/// Set the permitted, effective, inheritable and ambient sets exactly to
/// config.json's lists.
pub fn set_capabilities(capabilities: &LinuxCapabilities) -> Result<()> {
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
        // The kernel refuses an ambient capability that is not both
        // permitted and inheritable.
        caps::raise(None, CapSet::Ambient, cap)
            .with_context(|| format!("config.json: process.capabilities.ambient: {cap}"))?;
    }
    crate::narrate!("capset: {} effective capabilities", effective.len());
    Ok(())
}

// ANCHOR: raisable_ambient
/// Take out of `process`'s ambient set what the kernel would refuse to
/// raise: a capability must be both permitted and inheritable to be
/// ambient (capabilities(7), "Ambient capability set"). `runc spec` writes
/// an ambient set without an inheritable one, and runc runs it, without
/// them; so does step 7, saying which it left out.
pub fn drop_unraisable_ambient(process: &mut Process) -> Vec<String> {
    let Some(mut capabilities) = process.capabilities().clone() else { return Vec::new() };
    let Some(ambient) = capabilities.ambient().clone() else { return Vec::new() };
    let listed = |set: &Option<oci_spec::runtime::Capabilities>, cap: &oci_spec::runtime::Capability| {
        set.as_ref().is_some_and(|s| s.contains(cap))
    };
    let (kept, dropped): (Vec<_>, Vec<_>) = ambient
        .iter()
        .copied()
        .partition(|cap| listed(capabilities.permitted(), cap) && listed(capabilities.inheritable(), cap));
    capabilities.set_ambient(Some(kept.into_iter().collect()));
    process.set_capabilities(Some(capabilities));
    let mut names: Vec<String> = dropped.iter().map(|cap| format!("CAP_{cap}")).collect();
    names.sort();
    names
}
// ANCHOR_END: raisable_ambient
