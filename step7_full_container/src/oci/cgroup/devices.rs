//! The devices cgroup: which device nodes the container may open.
//!
//! A device node is only a (type, major, minor) triple, and a process
//! with CAP_MKNOD can create one for any device, the host's disks
//! included. The devices controller closes that door: the kernel checks
//! every open(2) and mknod(2) of a device node against the cgroup's list.
//! The runtime denies everything, then applies config.json's
//! `linux.resources.devices` rules in order, then allows the devices
//! every container gets (/dev/null, /dev/zero, ..., the ptys).
//! cgroup v1 has the list in devices.allow and devices.deny; cgroup v2
//! replaced it with a BPF program attached to the cgroup: the kernel runs
//! it on every such access and it answers 1 (allow) or 0. [`apply_v2`]
//! compiles the same rules into one. Read: the kernel's
//! Documentation/admin-guide/cgroup-v1/devices.rst, bpf(2), and
//! "Device controller" in Documentation/admin-guide/cgroup-v2.rst.

use anyhow::{bail, Context, Result};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// What every container may use: the default devices, and its ptys
/// (/dev/ptmx 5:2, /dev/pts/* 136:*, /dev/console 5:1, /dev/tty 5:0),
/// /dev/net/tun; and, as with runc, *making* any node ("m"): a node it may
/// not open is harmless.
const DEFAULT_ALLOWED: [&str; 12] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

// ANCHOR: apply
/// Write the device rules into the cgroup directory `dir` (of the v1
/// devices hierarchy), before any process is in it.
pub fn apply(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    write(dir, "devices.deny", "a *:* rwm")?;
    for (i, rule) in rules.iter().enumerate() {
        let file = if rule.allow() { "devices.allow" } else { "devices.deny" };
        write(dir, file, &v1_rule(rule)).with_context(|| format!("config.json: linux.resources.devices[{i}]"))?;
    }
    for rule in DEFAULT_ALLOWED {
        write(dir, "devices.allow", rule)?;
    }
    Ok(())
}
// ANCHOR_END: apply

/// An OCI rule as a line of devices.allow: "c 1:3 rwm", "a *:* rwm".
fn v1_rule(rule: &LinuxDeviceCgroup) -> String {
    let kind = match rule.typ() {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => "c",
        Some(LinuxDeviceType::B) => "b",
        Some(LinuxDeviceType::P) => "p",
        Some(LinuxDeviceType::A) | None => "a",
    };
    let number = |n: Option<i64>| n.filter(|&n| n >= 0).map_or("*".to_string(), |n| n.to_string());
    let access = rule.access().clone().unwrap_or_else(|| "rwm".to_string());
    format!("{kind} {}:{} {access}", number(rule.major()), number(rule.minor()))
}

fn write(dir: &Path, file: &str, rule: &str) -> Result<()> {
    crate::narrate!("echo '{rule}' > {}", dir.join(file).display());
    std::fs::write(dir.join(file), rule)
        .with_context(|| format!("cannot write {rule:?} to {}", dir.join(file).display()))
}

/// One rule, as the BPF program tests it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    allow: bool,
    /// BPF_DEVCG_DEV_BLOCK (1) or _CHAR (2); None for all ("a").
    kind: Option<u32>,
    major: Option<u32>,
    minor: Option<u32>,
    /// BPF_DEVCG_ACC_MKNOD (1) | _READ (2) | _WRITE (4).
    access: u32,
}

/// A line of devices.allow/deny syntax ("c 1:3 rwm") as a rule; `None`
/// for fifos, which the v2 device controller does not see.
fn parse_rule(allow: bool, line: &str) -> Option<Rule> {
    let mut fields = line.split_whitespace();
    let kind = match fields.next()? {
        "a" => None,
        "b" => Some(1),
        "c" => Some(2),
        _ => return None,
    };
    let (major, minor) = fields.next()?.split_once(':')?;
    let number = |n: &str| if n == "*" { None } else { n.parse().ok() };
    let access = fields.next().unwrap_or("rwm").chars().fold(0, |bits, c| {
        bits | match c {
            'm' => 1,
            'r' => 2,
            'w' => 4,
            _ => 0,
        }
    });
    Some(Rule { allow, kind, major: number(major), minor: number(minor), access })
}

/// One BPF instruction (struct bpf_insn): opcode, registers, offset,
/// immediate.
fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[0] = code;
    bytes[1] = (src << 4) | dst;
    bytes[2..4].copy_from_slice(&off.to_ne_bytes());
    bytes[4..8].copy_from_slice(&imm.to_ne_bytes());
    bytes
}

const LDX_W: u8 = 0x61; // r_dst = *(u32 *)(r_src + off)
const MOV64_X: u8 = 0xbf; // r_dst = r_src
const MOV64_K: u8 = 0xb7; // r_dst = imm
const AND32_K: u8 = 0x54; // r_dst &= imm
const RSH32_K: u8 = 0x74; // r_dst >>= imm
const JNE_K: u8 = 0x55; // if r_dst != imm: skip `off` instructions
const EXIT: u8 = 0x95; // return r0

// ANCHOR: program
/// The rules as a program for BPF_PROG_TYPE_CGROUP_DEVICE. Its input
/// (r1) is struct bpf_cgroup_dev_ctx { access_type, major, minor }, where
/// access_type is access << 16 | type. Like the v1 lists, the last rule
/// that matches decides, so the program tests them from the last one back;
/// none matching means deny.
fn program(rules: &[Rule]) -> Vec<[u8; 8]> {
    let mut code = vec![
        insn(LDX_W, 2, 1, 0, 0),   // r2 = access_type
        insn(MOV64_X, 3, 2, 0, 0), // r3 = type
        insn(AND32_K, 3, 0, 0, 0xFFFF),
        insn(MOV64_X, 4, 2, 0, 0), // r4 = access
        insn(RSH32_K, 4, 0, 0, 16),
        insn(LDX_W, 5, 1, 4, 0), // r5 = major
        insn(LDX_W, 6, 1, 8, 0), // r6 = minor
    ];
    for rule in rules.iter().rev() {
        // Each test jumps past the rest of this rule's block on mismatch.
        let mut tests: Vec<Vec<[u8; 8]>> = Vec::new();
        if let Some(kind) = rule.kind {
            tests.push(vec![insn(JNE_K, 3, 0, 0, kind as i32)]);
        }
        if rule.access != 7 {
            // Every access asked for must be in the rule: r7 = r4 & ~rule.
            tests.push(vec![
                insn(MOV64_X, 7, 4, 0, 0),
                insn(AND32_K, 7, 0, 0, (!rule.access & 7) as i32),
                insn(JNE_K, 7, 0, 0, 0),
            ]);
        }
        if let Some(major) = rule.major {
            tests.push(vec![insn(JNE_K, 5, 0, 0, major as i32)]);
        }
        if let Some(minor) = rule.minor {
            tests.push(vec![insn(JNE_K, 6, 0, 0, minor as i32)]);
        }
        let verdict = [insn(MOV64_K, 0, 0, 0, i32::from(rule.allow)), insn(EXIT, 0, 0, 0, 0)];
        if tests.is_empty() {
            // A rule for every device ends the program: anything after it
            // could never run, and the verifier refuses unreachable code.
            code.extend(verdict);
            return code;
        }
        let mut block: Vec<[u8; 8]> = tests.into_iter().flatten().collect();
        block.extend(verdict);
        // Fix each jump's offset: to just after this block.
        let len = block.len();
        for (i, instruction) in block.iter_mut().enumerate() {
            if instruction[0] == JNE_K {
                let skip = (len - i - 1) as i16;
                instruction[2..4].copy_from_slice(&skip.to_ne_bytes());
            }
        }
        code.extend(block);
    }
    code.push(insn(MOV64_K, 0, 0, 0, 0));
    code.push(insn(EXIT, 0, 0, 0, 0));
    code
}
// ANCHOR_END: program

const BPF_PROG_LOAD: i64 = 5;
const BPF_PROG_ATTACH: i64 = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The first fields of union bpf_attr for BPF_PROG_LOAD (the kernel wants
/// the rest zeroed).
#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    rest: [u64; 16],
}

/// The fields of union bpf_attr for BPF_PROG_ATTACH.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    rest: [u64; 8],
}

// ANCHOR: apply_v2
/// cgroup v2: compile the rules (the same as [`apply`]'s) into a BPF
/// program, load it with bpf(2) and attach it to the cgroup `dir`.
pub fn apply_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<()> {
    let mut all = vec![Rule { allow: false, kind: None, major: None, minor: None, access: 7 }];
    all.extend(rules.iter().filter_map(|rule| parse_rule(rule.allow(), &v1_rule(rule))));
    all.extend(DEFAULT_ALLOWED.iter().filter_map(|line| parse_rule(true, line)));
    let code: Vec<u8> = program(&all).concat();
    crate::narrate!("bpf(BPF_PROG_LOAD, CGROUP_DEVICE, {} instructions)", code.len() / 8);
    let license = b"Apache-2.0\0";
    let mut log = vec![0u8; 65536];
    let load = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (code.len() / 8) as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        rest: [0; 16],
    };
    let fd = unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_LOAD, &load as *const ProgLoad, size_of::<ProgLoad>()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let log = String::from_utf8_lossy(&log).trim_end_matches('\0').to_string();
        bail!("the kernel refused the device program: {err}\n{log}");
    }
    let program = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    let attach = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: program.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        rest: [0; 8],
    };
    crate::narrate!("bpf(BPF_PROG_ATTACH, {}, BPF_CGROUP_DEVICE)", dir.display());
    let ret =
        unsafe { libc::syscall(libc::SYS_bpf, BPF_PROG_ATTACH, &attach as *const ProgAttach, size_of::<ProgAttach>()) };
    if ret != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot attach the device program to the cgroup");
    }
    // The cgroup holds the program now; our descriptor may go.
    Ok(())
}
// ANCHOR_END: apply_v2

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse_and_compile() {
        let rule = parse_rule(true, "c 1:3 rw").unwrap();
        assert_eq!(rule, Rule { allow: true, kind: Some(2), major: Some(1), minor: Some(3), access: 6 });
        assert_eq!(parse_rule(false, "a *:* rwm").unwrap().kind, None);
        assert!(parse_rule(true, "p 1:1 rwm").is_none());
        // Prologue (7), one block per rule, and the final deny (2).
        let code = program(&[rule]);
        // type, access (3), major, minor tests, then r0 = 1; exit.
        assert_eq!(code.len(), 7 + 6 + 2 + 2);
        assert_eq!(code[7][0], JNE_K);
        assert_eq!(i16::from_ne_bytes([code[7][2], code[7][3]]), 7, "a mismatch skips the rest of the block");
        assert_eq!(code.last().unwrap()[0], EXIT);
    }

    #[test]
    fn rules_in_v1_syntax() {
        let rule: LinuxDeviceCgroup =
            serde_json::from_str(r#"{"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}"#).unwrap();
        assert_eq!(v1_rule(&rule), "c 1:3 rw");
        let rule: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": false, "access": "rwm"}"#).unwrap();
        assert_eq!(v1_rule(&rule), "a *:* rwm");
        let rule: LinuxDeviceCgroup = serde_json::from_str(r#"{"allow": true, "type": "b", "major": 8}"#).unwrap();
        assert_eq!(v1_rule(&rule), "b 8:* rwm");
    }
}
