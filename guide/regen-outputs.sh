#!/usr/bin/env bash
# Regenerate guide/src/generated/*.txt: the real output of the containers,
# shown in the guide with {{#include generated/NAME.txt}}.
#
#   sudo guide/regen-outputs.sh          (from any directory; needs root)
#
# What it does:
# - builds steps 1-4 (cargo build) and uses the binaries in target/debug;
# - makes a throwaway "checkout" in a temporary directory: a busybox rootfs
#   made by step1_chroot/mkrootfs.sh --busybox, the chroot escape compiled
#   statically into it, and symlinks to target/ and step1_chroot/, so that
#   every command reads exactly as a student would type it at the top of
#   the checkout (`target/debug/step3 --rootfs rootfs -- ps`);
# - runs each demo, writing every command line (after a `host# ` prompt,
#   or `sandbox# ` for demos run in a scratch mount namespace) followed by
#   its output (stdout and stderr) into the .txt file;
# - removes the temporary directory, whatever happens.
#
# The only edit made to the output: the random part of the temporary
# directory's name is shown as XXXXXX (same length, so columns stay
# aligned), so that re-running the script does not change every file.
# PIDs, container ids and namespace numbers still differ on each run.
#
# It never changes the host's mounts, cgroups or network: the containers
# make their mounts in their own mount namespaces, and the demos that mount
# something themselves run under `unshare --mount`.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=$here/src/generated

if [ "$(id -u)" != 0 ]; then
    echo "regen-outputs.sh: needs root (the containers do): sudo $0" >&2
    exit 1
fi

for tool in unshare findmnt pgrep pstree script rustc; do
    command -v "$tool" >/dev/null || { echo "regen-outputs.sh: $tool is missing" >&2; exit 1; }
done

# The outputs must match the source: build first (quick when up to date).
# Under sudo, cargo may not be on root's PATH: then use what is built.
if command -v cargo >/dev/null; then
    echo "regen-outputs.sh: cargo build -p step1 -p step2 -p step3 -p step4"
    (cd "$repo" && cargo build --quiet -p step1 -p step2 -p step3 -p step4)
else
    echo "regen-outputs.sh: no cargo on PATH; using the binaries in target/debug" >&2
fi
for n in 1 2 3 4; do
    if [ ! -x "$repo/target/debug/step$n" ]; then
        echo "regen-outputs.sh: target/debug/step$n is missing: run cargo build first" >&2
        exit 1
    fi
done

tmp=$(mktemp -d /tmp/guide-regen.XXXXXX)
cleanup() {
    # Stop any demo still running (started by this script only).
    local pids
    pids=$(jobs -p) || true
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    # Nothing should be mounted below $tmp on the host; if something is,
    # leave the directory alone rather than delete through a mount.
    if grep -q " $tmp[/ ]" /proc/self/mountinfo; then
        echo "regen-outputs.sh: something is still mounted below $tmp; not removing it" >&2
        return
    fi
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

echo "regen-outputs.sh: making a busybox rootfs in $tmp/rootfs"
"$repo/step1_chroot/mkrootfs.sh" --busybox "$tmp/rootfs" >/dev/null
ln -s "$repo/target" "$tmp/target"
ln -s "$repo/step1_chroot" "$tmp/step1_chroot"
mkdir -p "$out"
cd "$tmp"

# The runner: reads command lines on fd 3, prints each after the prompt and
# evals it in the same shell (so `&`, `$!` and `wait` work across lines).
cat > "$tmp/runner.sh" <<'RUNNER'
prompt=$1
while IFS= read -r line <&3; do
    printf '%s%s\n' "$prompt" "$line"
    eval "$line" </dev/null
done
wait
RUNNER

# capture NAME [PROMPT [WRAPPER...]] <<'EOF' ... EOF
#   Run the command lines from stdin, one by one, and write the session to
#   generated/NAME.txt. WRAPPER (e.g. `unshare --mount`) runs the whole
#   session in a scratch namespace.
capture() {
    local name=$1 prompt=${2:-host# }
    shift $(( $# < 2 ? $# : 2 ))
    cat > "$tmp/commands"
    echo "regen-outputs.sh: $name"
    timeout --kill-after=5 120 "$@" bash "$tmp/runner.sh" "$prompt" \
        3<"$tmp/commands" >"$tmp/session" 2>&1 || true
    # \r: from script(1)'s pseudo-terminal. The rest: see the header.
    sed -e 's/\r//g' -e "s|$tmp|/tmp/guide-regen.XXXXXX|g" "$tmp/session" > "$out/$name.txt"
}

# ---------------------------------------------------------------- intro

capture intro-help <<'EOF'
target/debug/step4 --help
EOF

capture intro-exit-status <<'EOF'
target/debug/step1 --rootfs rootfs -- sh -c 'exit 3'; echo $?
target/debug/step1 --rootfs rootfs -- sh -c 'kill -TERM $$'; echo $?
target/debug/step1 --rootfs rootfs -- /etc/passwd; echo $?
target/debug/step1 --rootfs rootfs -- no-such-command; echo $?
target/debug/step1 --rootfs /no/such/dir -- true; echo $?
EOF

capture intro-verbose <<'EOF'
target/debug/step2 --rootfs rootfs --verbose -- echo hello
EOF

# ------------------------------------------------------------ 1. chroot

capture ch01-verbose <<'EOF'
target/debug/step1 --rootfs rootfs --verbose -- ls /
EOF

capture ch01-host-view <<'EOF'
target/debug/step1 --rootfs rootfs -- sleep 2 &
sleep 1
pstree -p $!
readlink /proc/$(pgrep -P $!)/root
wait
EOF

capture ch01-not-isolated <<'EOF'
target/debug/step1 --rootfs rootfs -- sh -c 'echo "my pid: $$"; hostname; ls /proc | wc -l; ls /dev | wc -l'
hostname
target/debug/step1 --rootfs rootfs -- sh -c 'kill -0 1 && echo "PID 1 can be signalled from inside"'
EOF

capture ch01-escape <<'EOF'
rustc -O -C target-feature=+crt-static -o rootfs/escape step1_chroot/examples/chroot_escape.rs
target/debug/step1 --rootfs rootfs -- head -n 1 /etc/os-release
target/debug/step1 --rootfs rootfs -- /escape head -n 1 /etc/os-release
target/debug/step2 --rootfs rootfs -- /escape head -n 1 /etc/os-release
EOF

# -------------------------------------------------------- 2. PID namespace

capture ch02-pid <<'EOF'
target/debug/step1 --rootfs rootfs -- sh -c 'echo $$'
target/debug/step2 --rootfs rootfs -- sh -c 'echo $$'
EOF

capture ch02-verbose <<'EOF'
target/debug/step2 --rootfs rootfs --verbose -- true
EOF

capture ch02-host-view <<'EOF'
target/debug/step2 --rootfs rootfs -- sleep 3 &
sleep 1
pstree -p $!
init=$(pgrep -P $!); cmd=$(pgrep -P $init)
grep NSpid /proc/$init/status /proc/$cmd/status
readlink /proc/self/ns/pid /proc/$init/ns/pid
wait
EOF

capture ch02-pid1-signals <<'EOF'
unshare --pid --fork sleep 30 2>/dev/null &
sleep 1
p=$(pgrep -P $! sleep); grep NSpid /proc/$p/status
kill -TERM $p; sleep 1; ps -o pid,stat,args -p $p
kill -KILL $p; wait
EOF

capture ch02-forward <<'EOF'
target/debug/step2 --rootfs rootfs --verbose -- sleep 30 &
sleep 1
kill -TERM $!; wait $!; echo $?
EOF

capture ch02-terminal <<'EOF'
(sleep 1; printf '\003'; sleep 2) | script -qec "target/debug/step2 --rootfs rootfs --verbose -- sleep 30" /dev/null; echo $?
EOF

capture ch02-reap <<'EOF'
target/debug/step2 --rootfs rootfs --verbose -- sh -c '(sleep 0.2 &); sleep 1; echo done'
EOF

capture ch02-proc <<'EOF'
target/debug/step2 --rootfs rootfs -- sh -c 'ls /proc | wc -l; ps'
unshare --mount sh -c 'mount -t proc proc rootfs/proc && target/debug/step2 --rootfs rootfs -- sh -c "echo my pid: \$\$; ps -o pid,args | grep -e PID -e [s]tep2; ps | wc -l"'
EOF

# ------------------------------------------------------ 3. mount namespace

capture ch03-ps <<'EOF'
target/debug/step3 --rootfs rootfs -- ps
EOF

capture ch03-verbose <<'EOF'
target/debug/step3 --rootfs rootfs --verbose -- true
EOF

capture ch03-mounts <<'EOF'
target/debug/step3 --rootfs rootfs -- cat /proc/self/mountinfo
target/debug/step3 --rootfs rootfs -- touch /sys/kernel/x
target/debug/step3 --rootfs rootfs -- ls -l /dev
EOF

capture ch03-invisible <<'EOF'
target/debug/step3 --rootfs rootfs -- sh -c 'mount -t tmpfs scratch /mnt && grep scratch /proc/self/mountinfo && sleep 2' &
sleep 1
grep scratch /proc/self/mountinfo; echo $?
findmnt --source scratch; echo $?
ls -A rootfs/proc rootfs/dev
grep scratch /proc/$(pgrep -P $!)/mountinfo
wait
EOF

capture ch03-escape <<'EOF'
target/debug/step3 --rootfs rootfs -- /escape head -n 1 /etc/os-release
target/debug/step3 --rootfs rootfs -- /escape ls /
EOF

capture ch03-propagation 'sandbox# ' unshare --mount <<'EOF'
mkdir demo && mount -t tmpfs demo demo && mount --make-shared demo && mkdir demo/a demo/b
unshare --mount --propagation unchanged mount -t tmpfs from-unchanged demo/a
unshare --mount --propagation private mount -t tmpfs from-private demo/b
findmnt -R -o TARGET,SOURCE,PROPAGATION $PWD/demo
mount --make-rshared /
unshare --mount --propagation unchanged sh -c 'mount --bind rootfs rootfs && cd rootfs && pivot_root . .'
findmnt -o TARGET,SOURCE,PROPAGATION $PWD/rootfs
EOF

capture ch03-shell <<'EOF'
unshare --pid --fork --mount --propagation private sh -c 'mount --make-rprivate / && mount --rbind rootfs rootfs && mount -t proc proc rootfs/proc && cd rootfs && pivot_root . . && umount -l . && exec /bin/sh -c "ps; cat /proc/self/mountinfo"'
EOF

# -------------------------------------------------------- 4. UTS namespace

capture ch04-hostname <<'EOF'
target/debug/step4 --rootfs rootfs -- hostname
target/debug/step4 --rootfs rootfs --hostname web -- uname -n
target/debug/step4 --rootfs rootfs --hostname web -- sh -c 'hostname renamed-inside; hostname'
hostname
EOF

capture ch04-verbose <<'EOF'
target/debug/step4 --rootfs rootfs --verbose --hostname web -- true 2>&1 | grep -e clone3 -e sethostname
EOF

capture ch04-invalid <<'EOF'
target/debug/step4 --rootfs rootfs --hostname web_1 -- true; echo $?
EOF

capture ch04-shared <<'EOF'
target/debug/step4 --rootfs rootfs -- ls -l /proc/self/ns
ls -l /proc/self/ns
target/debug/step4 --rootfs rootfs -- ip link
EOF

echo "regen-outputs.sh: wrote $(ls "$out"/*.txt | wc -l) files in $out"
