#!/usr/bin/env bash
# Regenerate guide/src/generated/*.txt: the real output of the containers,
# shown in the guide with {{#include generated/NAME.txt}}.
#
#   sudo guide/regen-outputs.sh          (from any directory; needs root)
#   sudo guide/regen-outputs.sh 6 7      only these chapters (intro, 1 ... 11)
#
# What it does:
# - builds steps 1-7 (cargo build) and uses the binaries in target/debug;
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
# It never changes the host's mounts: the containers make their mounts in
# their own mount namespaces, and the demos that mount something
# themselves run under `unshare --mount`. It never remounts or reconfigures
# the host's cgroup hierarchies either: step 6 only creates (and removes)
# its own step6/<id> cgroups in them, step 7 its step7/<id> ones, and runc
# (chapter 7 runs the same bundle under runc) its own /<id> ones.
#
# The step 7 demos (chapters 7, 8 and 10) keep their containers' state inside the
# temporary directory (`step7 --root state`, `runc --root runc-state`) and
# delete every container they create; whatever a demo cut short leaves,
# the exit trap deletes with `delete --force`, before removing the
# directory.
#
# The rootless demo (chapter 9) runs step 7 as a user it creates for the
# purpose, guide7 (useradd, which also gives it a range in /etc/subuid),
# and removes again with its home (userdel --remove), at the end of the
# demo and in the exit trap. For that user to reach the rootfs, the
# temporary directory is made readable (not writable) by everyone.
#
# The image demos (chapter 11) run two registries (Debian's docker-registry)
# that listen on 127.0.0.1:5000 and 127.0.0.1:5001 only, with their
# storage in the temporary directory; every request goes to them. Their
# images are built there with umoci and pushed with skopeo; step 7 keeps
# its image stores there too (`--store $PWD/store`), and overlayfs roots
# of its containers below them. The registries are stopped and every
# container removed (`step7 rm -f`, which unmounts its root) at the end of
# the chapter, and by the exit trap if a demo was cut short.
#
# The network demos (chapter 5) do change the host's network while they
# run, as step 5 does: a bridge `guide0` on 172.29.0.0/24 (not the default
# ctr0, which may be in use), its NAT table, IPv4 forwarding, and for two
# demos a stand-in "remote host" (a veth `guide-remote` to a namespace)
# and a bridge `hand0` made by hand. Traffic goes only to addresses these
# demos create. Whatever happens, the exit trap removes all of it with
# `step5 --cleanup-network --bridge guide0 --subnet 172.29.0.0/24` and
# `ip link del`, and puts IPv4 forwarding back as it was.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
out=$here/src/generated

if [ "$(id -u)" != 0 ]; then
    echo "regen-outputs.sh: needs root (the containers do): sudo $0" >&2
    exit 1
fi

# The chapters to regenerate: every one, or those named as arguments.
chapters=("$@")
for chapter in "${chapters[@]}"; do
    case $chapter in
        intro | [1-9] | 1[01]) ;;
        *) echo "usage: $0 [intro | 1 ... 11]..." >&2; exit 2 ;;
    esac
done
# selected NAME: whether generated/NAME.txt belongs to a chosen chapter.
selected() {
    local chapter
    [ ${#chapters[@]} -eq 0 ] && return 0
    for chapter in "${chapters[@]}"; do
        case $chapter:$1 in
            intro:intro-*) return 0 ;;
            intro:*) ;;
            *) [[ $1 == ch$(printf %02d "$chapter")-* ]] && return 0 ;;
        esac
    done
    return 1
}

for tool in unshare nsenter findmnt pgrep pstree script rustc ip bridge nft ss sysctl busybox awk python3 runc; do
    command -v "$tool" >/dev/null || { echo "regen-outputs.sh: $tool is missing" >&2; exit 1; }
done

# The outputs must match the source: build first (quick when up to date).
# Under sudo, cargo may not be on root's PATH: then use what is built.
if command -v cargo >/dev/null; then
    echo "regen-outputs.sh: cargo build -p step1 ... -p step7"
    (cd "$repo" && cargo build --quiet -p step1 -p step2 -p step3 -p step4 -p step5 -p step6 -p step7)
else
    echo "regen-outputs.sh: no cargo on PATH; using the binaries in target/debug" >&2
fi
for n in 1 2 3 4 5 6 7; do
    if [ ! -x "$repo/target/debug/step$n" ]; then
        echo "regen-outputs.sh: target/debug/step$n is missing: run cargo build first" >&2
        exit 1
    fi
done

# The chapter 5 demos' network, and what was there before them.
net_args=(--bridge guide0 --subnet 172.29.0.0/24)
forward_before=   # read once the leftovers of an interrupted run are gone

# Remove the network objects of the chapter 5 demos, if any are left.
cleanup_network() {
    local try
    # A container that is still running (a demo cut short) holds its
    # lease; it ends within seconds, so try again for a while.
    for try in 1 2 3 4 5 6 7 8 9 10; do
        "$repo/target/debug/step5" --cleanup-network "${net_args[@]}" >/dev/null 2>&1 && break
        sleep 1
    done
    ip link del guide-remote 2>/dev/null || true
    ip link del vethhand 2>/dev/null || true
    ip link del hand0 2>/dev/null || true
    nft delete table ip hand 2>/dev/null || true
    if [ -e /run/netns/hand ]; then ip netns del hand 2>/dev/null || true; fi
    # step5 restores forwarding when its last bridge is gone; the demo made
    # by hand may have set it too. Put it back unless another step 5
    # bridge (not ours) still needs it.
    if [ -n "$forward_before" ] && [ -z "$(ls -A /run/step5/bridges 2>/dev/null)" ] &&
       [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$forward_before" ]; then
        echo "$forward_before" > /proc/sys/net/ipv4/ip_forward
    fi
}

# Delete the step 7 and runc containers of the chapter 7 demos, if a demo
# cut short left any (each demo deletes its own).
cleanup_containers() {
    local id
    if [ -d "$tmp/state" ]; then
        for id in $("$repo/target/debug/step7" --root "$tmp/state" list --quiet 2>/dev/null); do
            "$repo/target/debug/step7" --root "$tmp/state" delete --force "$id" >/dev/null 2>&1 || true
        done
    fi
    if [ -d "$tmp/runc-state" ]; then
        for id in $(runc --root "$tmp/runc-state" list --quiet 2>/dev/null); do
            runc --root "$tmp/runc-state" delete --force "$id" >/dev/null 2>&1 || true
        done
    fi
}

# Stop the chapter 11 registries and remove the containers of its demos
# with `step7 rm -f`, which also unmounts and removes their overlayfs
# roots. A root left mounted (rm failed) is unmounted by hand: it is below
# $tmp, so it is ours.
registry_pids=
cleanup_images() {
    local id pid mountpoint
    for pid in $registry_pids; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    registry_pids=
    if [ -d "$tmp/state" ]; then
        for id in $("$repo/target/debug/step7" --root "$tmp/state" list --quiet 2>/dev/null); do
            "$repo/target/debug/step7" --root "$tmp/state" rm -f "$id" >/dev/null 2>&1 || true
        done
    fi
    for mountpoint in $(awk -v dir="$tmp/" 'index($5, dir) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
        umount -l "$mountpoint" 2>/dev/null || true
    done
}

# Remove the rootless demo's user, if the script made it.
rootless_user=guide7
rootless_made=no
cleanup_rootless() {
    if [ "$rootless_made" = yes ]; then
        pkill -KILL -u "$rootless_user" 2>/dev/null || true
        userdel --remove "$rootless_user" 2>/dev/null || true
        rootless_made=no
    fi
}

tmp=$(mktemp -d /tmp/guide-regen.XXXXXX)
cleanup() {
    # Stop any demo still running (started by this script only).
    local pids
    pids=$(jobs -p) || true
    [ -n "$pids" ] && kill $pids 2>/dev/null || true
    cleanup_images
    cleanup_containers
    cleanup_rootless
    cleanup_network
    # Nothing should be mounted below $tmp on the host; if something is,
    # leave the directory alone rather than delete through a mount.
    if grep -q " $tmp[/ ]" /proc/self/mountinfo; then
        echo "regen-outputs.sh: something is still mounted below $tmp; not removing it" >&2
        return
    fi
    rm -rf --one-file-system "$tmp"
}
trap cleanup EXIT

# Leftovers of an interrupted run would change the outputs (the first demo
# of chapter 5 shows the bridge being created).
cleanup_network
forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

echo "regen-outputs.sh: making a busybox rootfs in $tmp/rootfs"
"$repo/step1_chroot/mkrootfs.sh" --busybox "$tmp/rootfs" >/dev/null
ln -s "$repo/target" "$tmp/target"
ln -s "$repo/step1_chroot" "$tmp/step1_chroot"
ln -s "$repo/step7_full_container" "$tmp/step7_full_container"
mkdir -p "$out"
cd "$tmp"

# The runner: reads command lines on fd 3, prints each after the prompt and
# evals it in the same shell (so `&`, `$!` and `wait` work across lines).
# With $GUIDE_RUNNER_SOURCE set, it first sources that file (chapter 7's
# shell functions).
cat > "$tmp/runner.sh" <<'RUNNER'
prompt=$1
if [ -n "${GUIDE_RUNNER_SOURCE:-}" ]; then . "$GUIDE_RUNNER_SOURCE"; fi
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
    selected "$name" || return 0
    echo "regen-outputs.sh: $name"
    timeout --kill-after=5 120 "$@" bash "$tmp/runner.sh" "$prompt" \
        3<"$tmp/commands" >"$tmp/session" 2>&1 || true
    # \r: from script(1)'s pseudo-terminal. The rest: see the header.
    sed -e 's/\r//g' -e "s|$tmp|/tmp/guide-regen.XXXXXX|g" "$tmp/session" > "$out/$name.txt"
    written=$((written + 1))
}
written=0

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

# ----------------------------------------------------- 5. network namespace
#
# Every bridged container uses guide0 on 172.29.0.0/24 (see the header);
# the first capture creates the bridge, the last one removes it.

capture ch05-verbose <<'EOF'
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 --verbose -- true
EOF

capture ch05-inside <<'EOF'
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- ip addr
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- ip route
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- ping -c 1 172.29.0.1
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 --hostname web -- cat /etc/hosts /etc/resolv.conf
EOF

capture ch05-host-view <<'EOF'
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- sh -c 'hostname; sleep 3' &
sleep 1
ip link show master guide0
bridge link
ip -br addr show guide0; ip route | grep guide0
nft list ruleset
cat /proc/sys/net/ipv4/ip_forward
wait
EOF

capture ch05-two <<'EOF'
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 --hostname a -- sh -c 'echo "$(hostname) is $(hostname -i)"; echo hello from a | nc -l -p 8080' &
sleep 1
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 --hostname b -- sh -c 'echo "$(hostname) is $(hostname -i)"; nc 172.29.0.2 8080'
wait
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- sh -c 'echo hello from the container | nc -l -p 8080' &
sleep 1
busybox nc 172.29.0.2 8080
wait
EOF

# The other side of the NAT, without sending anything beyond this host: a
# "remote host" that is a network namespace behind a veth, on 198.18.0.0/30
# (a range reserved for tests). It sees the host's address, not the
# container's.
capture ch05-nat <<'EOF'
unshare --net sleep 10 & remote=$!
sleep 0.5; ip link add guide-remote type veth peer name eth0 netns $remote
ip addr add 198.18.0.1/30 dev guide-remote && ip link set guide-remote up
nsenter --target $remote --net sh -c 'ip addr add 198.18.0.2/30 dev eth0 && ip link set eth0 up'
nsenter --target $remote --net sh -c 'sleep 3 | busybox nc -l -p 9000' &
sleep 0.5
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- sh -c '(echo hello from the container; sleep 2) | nc 198.18.0.2 9000' &
sleep 1
nsenter --target $remote --net ss -tn
wait $!; ip link del guide-remote; kill $remote
EOF

capture ch05-lease <<'EOF'
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 -- sleep 10 &
sleep 1
cat /run/step5/bridges/guide0/172.29.0.2
awk '{print $1, $22}' /proc/$!/stat
kill -KILL $!; wait $! 2>/dev/null; echo $?
ls /run/step5/bridges/guide0 /run/step5/containers
target/debug/step5 --rootfs rootfs --bridge guide0 --subnet 172.29.0.0/24 --verbose -- true 2>&1 | grep -e gone -e leased -e released
ls /run/step5/bridges/guide0 /run/step5/containers
EOF

capture ch05-none <<'EOF'
target/debug/step5 --rootfs rootfs --network none -- sh -c 'ip addr; ip route; ping -c 1 -W 1 172.29.0.1'; echo $?
EOF

# The loopback-resolver rule: a host whose /etc/resolv.conf names
# 127.0.0.53 (systemd-resolved), faked in a scratch mount namespace.
printf 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.internal\n' > "$tmp/resolv.conf.loopback"
capture ch05-resolv 'sandbox# ' unshare --mount <<'EOF'
mount --bind resolv.conf.loopback /etc/resolv.conf && cat /etc/resolv.conf
target/debug/step5 --rootfs rootfs --network none -- cat /etc/resolv.conf
target/debug/step5 --rootfs rootfs --network none --dns 172.29.0.1 -- cat /etc/resolv.conf
EOF

# The same by hand. In a scratch mount namespace only because
# `ip netns add` mounts the namespace on /run/netns/hand; the bridge, the
# veth and the nft table are the host's, and removed at the end.
capture ch05-by-hand 'sandbox# ' unshare --mount <<'EOF'
ip netns add hand
ip link add hand0 type bridge
ip addr add 172.29.1.1/24 dev hand0
ip link set hand0 up
ip link add vethhand type veth peer name eth0 netns hand
ip link set vethhand master hand0
ip link set vethhand up
ip -n hand addr add 172.29.1.2/24 dev eth0
ip -n hand link set eth0 up
ip -n hand link set lo up
ip -n hand route add default via 172.29.1.1
sysctl -w net.ipv4.ip_forward=1
nft add table ip hand
nft add chain ip hand postrouting '{ type nat hook postrouting priority srcnat; }'
nft add rule ip hand postrouting ip saddr 172.29.1.0/24 oifname != hand0 masquerade
ip netns exec hand ip -br addr
ip netns exec hand busybox ping -c 1 172.29.1.1
nft delete table ip hand
ip netns del hand
ip link del hand0
EOF

capture ch05-shared <<'EOF'
target/debug/step5 --rootfs rootfs --network none -- sh -c 'for ns in net uts cgroup ipc user; do readlink /proc/self/ns/$ns; done'
for ns in net uts cgroup ipc user; do readlink /proc/self/ns/$ns; done
EOF

capture ch05-cleanup <<'EOF'
target/debug/step5 --verbose --cleanup-network --bridge guide0 --subnet 172.29.0.0/24
ip link show guide0
nft list ruleset; cat /proc/sys/net/ipv4/ip_forward
EOF

# ------------------------------------------------------------- 6. cgroups
#
# --network none: the network is step 5's business.

capture ch06-hierarchy <<'EOF'
findmnt -t cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS
cat /sys/fs/cgroup/unified/cgroup.controllers
target/debug/step6 --rootfs rootfs --network none --verbose -- true 2>&1 | grep cgroups:
EOF

capture ch06-verbose <<'EOF'
target/debug/step6 --rootfs rootfs --network none --verbose --memory 64m --cpus 0.5 --pids-limit 64 -- true 2>&1 | grep -v -e '\[container\]' -e '\[init\]'
EOF

capture ch06-host-view <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 64m --pids-limit 64 -- sleep 2 &
sleep 1
init=$(pgrep -P $!); cat /proc/$init/cgroup
cg=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/$init/cgroup)
cat $cg/cgroup.procs; cat $cg/memory.limit_in_bytes
cat /sys/fs/cgroup/pids$(awk -F: '$2 == "pids" {print $3}' /proc/$init/cgroup)/pids.max
target/debug/step6 --rootfs rootfs --network none -- cat /proc/self/cgroup
wait
EOF

capture ch06-oom <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 32m -- dd if=/dev/zero of=/dev/null bs=64M count=1; echo $?
EOF

capture ch06-usage <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 128m --verbose -- dd if=/dev/zero of=/dev/null bs=64M count=1 2>&1 | grep -e records -e peak
EOF

capture ch06-oom-counter <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 32m -- sh -c 'dd if=/dev/zero of=/dev/null bs=64M count=1; echo "dd: $?"; sleep 2' &
sleep 1
init=$(pgrep -P $!); cat /sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/$init/cgroup)/memory.oom_control
wait $!; echo $?
EOF

capture ch06-pids <<'EOF'
target/debug/step6 --rootfs rootfs --network none --pids-limit 16 -- sh -c 'for i in $(seq 40); do sleep 1 & done; echo survived'; echo $?
target/debug/step6 --rootfs rootfs --network none --pids-limit 16 -- sh -c '(for i in $(seq 40); do sleep 1 & done); echo subshell=$?; echo survived'; echo $?
EOF

capture ch06-cpus <<'EOF'
target/debug/step6 --rootfs rootfs --network none --cpus 0.5 -- sh -c 'while :; do :; done' &
sleep 1
init=$(pgrep -P $!); cg=/sys/fs/cgroup/cpuacct$(awk -F: '$2 == "cpuacct" {print $3}' /proc/$init/cgroup)
a=$(cat $cg/cpuacct.usage); sleep 2; b=$(cat $cg/cpuacct.usage); echo "$(( (b - a) / 20000000 ))% of one CPU"
kill $!; wait $!; echo $?
target/debug/step6 --rootfs rootfs --network none -- sh -c 'while :; do :; done' &
sleep 1
init=$(pgrep -P $!); cg=/sys/fs/cgroup/cpuacct$(awk -F: '$2 == "cpuacct" {print $3}' /proc/$init/cgroup)
a=$(cat $cg/cpuacct.usage); sleep 2; b=$(cat $cg/cpuacct.usage); echo "$(( (b - a) / 20000000 ))% of one CPU"
kill $!; wait $!; echo $?
EOF

capture ch06-recover <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 64m -- sleep 10 &
sleep 1
grep -H . /run/step6/*; ls -d /sys/fs/cgroup/*/step6/*/
kill -KILL $!; wait $! 2>/dev/null; echo $?
ls -d /sys/fs/cgroup/*/step6/*/
target/debug/step6 --rootfs rootfs --network none --verbose -- true 2>&1 | grep -e gone -e rmdir
ls -d /sys/fs/cgroup/*/step6/*/
EOF

capture ch06-invalid <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 1k -- true; echo $?
target/debug/step6 --rootfs rootfs --network none --cpus 64 -- true; echo $?
target/debug/step6 --rootfs rootfs --network none --pids-limit 0 -- true; echo $?
target/debug/step6 --rootfs rootfs --network none --memory-swap 64m -- true; echo $?
EOF

capture ch06-root <<'EOF'
target/debug/step6 --rootfs rootfs --network none --memory 64m -- sh -c 'id; cat /proc/self/uid_map; grep CapEff /proc/self/status; readlink /proc/self/ns/user'
readlink /proc/self/ns/user; grep CapEff /proc/self/status
EOF

# ---------------------------------------------------- 7. an OCI runtime
#
# One bundle, $tmp/bundle: the config.json of `step7 spec`, running the
# busybox rootfs, changed from demo to demo with the `config` function of
# guide/bundle-config.sh (which every runner sources from here on, with
# `show`). base.json is the bundle's config.json as the first run leaves
# it; demos that change more than process.args start from it again.
# Container state: $tmp/state (step7 --root state) and $tmp/runc-state
# (runc --root runc-state). Every demo deletes the containers it makes.

export GUIDE_RUNNER_SOURCE=$here/bundle-config.sh

capture ch07-help <<'EOF'
target/debug/step7 --help
EOF

capture ch07-spec <<'EOF'
mkdir bundle && target/debug/step7 spec --bundle bundle
ls bundle
show root
show process
EOF

capture ch07-mounts <<'EOF'
show mounts | grep destination
show mounts.1
show mounts.6
EOF

capture ch07-linux <<'EOF'
show hostname
show linux
EOF

capture ch07-first-run <<'EOF'
config root.path $PWD/rootfs
config root.readonly false
config process.args '["sh", "-c", "echo hello from $(hostname); id; ps"]'
show root; show process.args
cp bundle/config.json base.json
target/debug/step7 --root state run --bundle bundle hello; echo $?
EOF

capture ch07-debug <<'EOF'
target/debug/step7 --root state --debug run --bundle bundle hello 2>&1 | grep -v -e mknod -e symlink -e /cpu -e /pids -e /freezer -e /blkio
EOF

capture ch07-lifecycle <<'EOF'
config process.args '["sh", "-c", "echo started; exec sleep 1000"]'
target/debug/step7 --root state create --bundle bundle --pid-file web.pid web
target/debug/step7 --root state state web
ls -l state/web
ps -o pid,ppid,stat,wchan:36,args -p $(cat web.pid)
target/debug/step7 --root state --debug start web; sleep 0.5
target/debug/step7 --root state state web | grep status
ps -o pid,ppid,stat,args -p $(cat web.pid)
target/debug/step7 --root state start web; echo $?
target/debug/step7 --root state kill web; sleep 1; target/debug/step7 --root state state web | grep status
target/debug/step7 --root state kill web KILL; sleep 1; target/debug/step7 --root state state web | grep -e status -e '"pid"'
target/debug/step7 --root state delete web
target/debug/step7 --root state list
EOF

capture ch07-runc-fifo <<'EOF'
runc --root runc-state create --bundle bundle web
runc --root runc-state state web | grep -e status -e '"pid"'
ps -o pid,ppid,stat,wchan:36,args -p $(runc --root runc-state state web | grep '"pid"' | tr -dc 0-9)
ls -l runc-state/web
runc --root runc-state start web; sleep 0.5
runc --root runc-state delete --force web
EOF

capture ch07-exec <<'EOF'
config process.args '["sleep", "1000"]'
target/debug/step7 --root state run --detach --bundle bundle web
target/debug/step7 --root state create --bundle bundle idle
target/debug/step7 --root state list
target/debug/step7 --root state exec web sh -c 'echo "I am $$ in $(hostname)"; ps'
target/debug/step7 --root state exec --user 1000:1000 --env GREETING=hi --cwd /tmp web sh -c 'id; echo $GREETING; pwd'
echo '{"args": ["echo", "from process.json"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]}' > process.json
target/debug/step7 --root state exec --process process.json web
target/debug/step7 --root state exec web no-such-program; echo $?
target/debug/step7 --root state exec --detach --pid-file sleeper.pid web sleep 1000
target/debug/step7 --root state ps web
ps -o pid,ppid,args -p $(target/debug/step7 --root state ps web | paste -sd, -)
target/debug/step7 --root state delete idle
EOF

capture ch07-exec-debug <<'EOF'
target/debug/step7 --root state --debug exec web true 2>&1 | grep -v -e /cpu -e /pids -e /freezer
EOF

capture ch07-pause <<'EOF'
target/debug/step7 --root state pause web
target/debug/step7 --root state state web | grep status
cat /sys/fs/cgroup/freezer/step7/web/freezer.state
ps -o pid,stat,args -p $(target/debug/step7 --root state ps web | paste -sd, -)
target/debug/step7 --root state exec web true; echo $?
target/debug/step7 --root state resume web
ps -o pid,stat,args -p $(target/debug/step7 --root state ps web | paste -sd, -)
target/debug/step7 --root state delete web; echo $?
target/debug/step7 --root state delete --force web
ls -d /sys/fs/cgroup/*/step7/web
target/debug/step7 --root state list
EOF

capture ch07-errors <<'EOF'
cp base.json bundle/config.json
config mounts.0.destination proc
target/debug/step7 --root state create --bundle bundle bad; echo $?
cp base.json bundle/config.json
config process.cwd /no/such/dir
target/debug/step7 --root state create --bundle bundle bad; echo $?
cp base.json bundle/config.json
config process.rlimits.0.soft 2000
target/debug/step7 --root state --log errors.log --log-format json create --bundle bundle bad; echo $?
cat errors.log
ls state; ls -d /sys/fs/cgroup/*/step7/bad
cp base.json bundle/config.json
EOF

# The hook of the hooks demo (the demo shows it with `cat`).
cat > "$tmp/netns-hook.sh" <<'HOOK'
#!/bin/sh
# A createRuntime hook. The runtime starts it with the container's state
# (JSON) on stdin, and no environment but what config.json gives it.
PATH=/usr/sbin:/usr/bin:/sbin:/bin
state=$(cat)
echo "hook: got $state"
pid=$(echo "$state" | sed 's/.*"pid":\([0-9]*\).*/\1/')
# What an engine's network set-up does with it: configure the container's
# network namespace (here, only switch its loopback interface on).
nsenter --target "$pid" --net ip link set lo up
HOOK
chmod +x "$tmp/netns-hook.sh"

capture ch07-hooks <<'EOF'
cat netns-hook.sh
config process.args '["ip", "link", "show", "lo"]'
target/debug/step7 --root state run --bundle bundle lo-down
config hooks.createRuntime "[{\"path\": \"$PWD/netns-hook.sh\"}]"
target/debug/step7 --root state run --bundle bundle lo-up
target/debug/step7 --root state --debug run --bundle bundle lo-up 2>&1 | grep -e /memory/ -e clone3 -e hook -e gate -e pivot_root -e execve
runc --root runc-state run --bundle bundle lo-up
cp base.json bundle/config.json
EOF

# In a scratch mount namespace whose /etc is an empty tmpfs: the demo shows
# that a symlink in the rootfs does not lead the runtime to the host's
# /etc; were it to, only that scratch /etc would be touched.
capture ch07-symlink 'sandbox# ' unshare --mount <<'EOF'
config mounts.+ '{"destination": "/evil/guide-demo", "type": "tmpfs", "source": "tmpfs"}'
config process.args '["sh", "-c", "readlink /evil; grep guide-demo /proc/self/mountinfo"]'
mount -t tmpfs scratch-etc /etc
ln -s /etc rootfs/evil
target/debug/step7 --root state run --bundle bundle evil
ls -d rootfs/etc/guide-demo /etc/guide-demo
rmdir rootfs/etc/guide-demo; rm rootfs/evil; cp base.json bundle/config.json
EOF

capture ch07-runc-user <<'EOF'
config process.user '{"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}'
config process.args '["sh", "-c", "id; grep -e Cap -e NoNewPrivs /proc/self/status; ulimit -n"]'
runc --root runc-state run --bundle bundle cmp
target/debug/step7 --root state run --bundle bundle cmp
cp base.json bundle/config.json
EOF

capture ch07-runc-readonly <<'EOF'
config root.readonly true
config process.args '["sh", "-c", "touch /x; wc -c < /proc/keys; echo x > /proc/sys/kernel/domainname"]'
runc --root runc-state run --bundle bundle cmp
target/debug/step7 --root state run --bundle bundle cmp
cp base.json bundle/config.json
EOF

capture ch07-runc-cgroup <<'EOF'
config linux.resources '{"memory": {"limit": 67108864}, "pids": {"limit": 42}}'
config process.args '["sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max; grep -e memory -e pids /proc/self/cgroup"]'
runc --root runc-state run --bundle bundle cmp
target/debug/step7 --root state run --bundle bundle cmp
cp base.json bundle/config.json
EOF

capture ch07-features <<'EOF'
target/debug/step7 features | head -n 11
target/debug/step7 features | grep -A8 '"namespaces"'
EOF

unset GUIDE_RUNNER_SOURCE

# ------------------------------------------------------------ 8. Security
#
# Each demo attempts an attack from inside a docker-like container (`step7
# run --rootfs`), with --network none only: no bridge, no host network.
# The containers run in the foreground and are deleted when they end; their
# state is kept in $tmp/state (`--root state`), which the exit trap cleans.
# The attacks that succeed stay inside the container: a tmpfs mounted in
# its own mount namespace, the hostname of a UTS namespace made inside it,
# the domainname of its own UTS namespace.

capture ch08-caps <<'EOF'
target/debug/step7 --root state run --rootfs rootfs --network none -- grep Cap /proc/self/status
target/debug/step7 --root state run --rootfs rootfs --network none --cap-drop ALL --cap-add CHOWN -- grep Cap /proc/self/status
target/debug/step7 --root state run --rootfs rootfs --network none -- sh -c 'touch /tmp/f; chown 1234 /tmp/f && echo chowned'
target/debug/step7 --root state run --rootfs rootfs --network none --cap-drop CHOWN -- sh -c 'touch /tmp/f; chown 1234 /tmp/f && echo chowned'
EOF

capture ch08-mount <<'EOF'
target/debug/step7 --root state run --rootfs rootfs --network none -- sh -c 'mount -t tmpfs attack /mnt && echo mounted'; echo $?
target/debug/step7 --root state run --rootfs rootfs --network none --cap-add SYS_ADMIN -- sh -c 'mount -t tmpfs attack /mnt && echo mounted'; echo $?
target/debug/step7 --root state run --rootfs rootfs --network none --cap-add SYS_ADMIN --security-opt seccomp=unconfined -- sh -c 'mount -t tmpfs attack /mnt && echo mounted'; echo $?
EOF

capture ch08-seccomp <<'EOF'
target/debug/step7 --root state run --rootfs rootfs --network none -- grep -e NoNewPrivs -e Seccomp /proc/self/status
target/debug/step7 --root state run --rootfs rootfs --network none --security-opt no-new-privileges=false -- grep -e NoNewPrivs -e Seccomp: /proc/self/status
target/debug/step7 --root state run --rootfs rootfs --network none --security-opt no-new-privileges=false --security-opt seccomp=unconfined -- grep -e NoNewPrivs -e Seccomp: /proc/self/status
EOF

capture ch08-probe <<'EOF'
rustc -O -C target-feature=+crt-static -o rootfs/probe step7_full_container/examples/syscall_probe.rs
target/debug/step7 --root state run --rootfs rootfs --network none -- /probe
target/debug/step7 --root state run --rootfs rootfs --network none --security-opt seccomp=unconfined -- /probe
target/debug/step7 --root state run --rootfs rootfs --network none -- sh -c 'unshare -u true && echo unshared'
target/debug/step7 --root state run --rootfs rootfs --network none --cap-add SYS_ADMIN -- sh -c 'unshare -u sh -c "hostname inner; hostname" && echo unshared'
rm rootfs/probe
EOF

capture ch08-masked <<'EOF'
target/debug/step7 --root state run --rootfs rootfs --network none -- sh -c 'wc -c < /proc/timer_list; ls /sys/firmware | wc -l; echo attack > /proc/sys/kernel/domainname'
target/debug/step7 --root state run --rootfs rootfs --network none --security-opt systempaths=unconfined -- sh -c 'head -n 2 /proc/timer_list; ls /sys/firmware | wc -l; echo attack > /proc/sys/kernel/domainname && echo written'
target/debug/step7 --root state run --rootfs rootfs --network none -- sh -c 'grep -e " /proc/" -e " /sys/firmware" /proc/self/mountinfo | cut -d" " -f5,6 | head -n 8'
EOF

capture ch08-cwd <<'EOF'
target/debug/step7 --root state run --rootfs rootfs --network none -- ls -l /proc/self/fd
for fd in 3 4 5 6 7; do target/debug/step7 --root state run --rootfs rootfs --network none -w /proc/self/fd/$fd -- pwd; done
EOF

# ---------------------------------------------- 9. user namespaces, rootless
#
# As guide7, a user made here (see the header): its state and store in its
# own directories, so nothing of root's is touched.

if selected ch09-rootless; then
    if id "$rootless_user" >/dev/null 2>&1; then
        echo "regen-outputs.sh: a user $rootless_user exists already; not touching it" >&2
        exit 1
    fi
    useradd --create-home "$rootless_user"
    rootless_made=yes
    chmod a+rx "$tmp"
fi

capture ch09-rootless <<'EOF'
runuser -u guide7 -- target/debug/step7 run --rootfs rootfs -- sh -c 'id; cat /proc/self/uid_map; ls -ld /bin /etc/passwd; touch /etc/passwd'
grep guide7 /etc/subuid
runuser -u guide7 -- target/debug/step7 run --rootfs rootfs --memory 32m -- true; echo $?
EOF

cleanup_rootless
chmod 700 "$tmp"

# --------------------------------------------- 10. the engine and the CLI
#
# Docker-like containers from the busybox rootfs, --network none, their
# state in $tmp/state. The detached one is stopped and removed by the demo;
# the exit trap removes what a demo cut short leaves.

capture ch10-errors <<'EOF'
target/debug/step7 --root state run --rootfs rootfs -v /no/such/dir:/data -- true; echo $?
target/debug/step7 --root state run --rootfs rootfs --ulimit nofile=2048:1024 -- true; echo $?
target/debug/step7 --root state run --rootfs rootfs --network none --user bob -- true; echo $?
target/debug/step7 --root state run --rootfs rootfs --network none -p 8080:80 -- true; echo $?
ls state 2>&1
EOF

capture ch10-detached <<'EOF'
target/debug/step7 --root state run -d --rootfs rootfs --network none --name web -- sh -c 'trap "echo bye; exit 0" TERM; echo hello; while :; do sleep 0.1; done'
target/debug/step7 --root state ps
target/debug/step7 --root state exec web sh -c 'ps; hostname'
target/debug/step7 --root state logs web
target/debug/step7 --root state stop web
target/debug/step7 --root state ps -a
target/debug/step7 --root state logs web
target/debug/step7 --root state rm web
ls -A state
EOF

# ------------------------------------------------------------- 11. Images
#
# Two registries on this machine's loopback: 127.0.0.1:5000, open, and
# 127.0.0.1:5001, which wants a user name and password (htpasswd); both
# serve the same storage, $tmp/registry. Images are built with umoci in
# $tmp/image (an OCI layout) and pushed with skopeo. step 7 keeps images
# in $tmp/store (the main store), $tmp/layers-store (the layering
# exercise), and a few throwaway ones; container state in $tmp/state. The
# demos remove their containers; cleanup_images stops the registries.

if selected ch11-registry; then
    for tool in docker-registry skopeo umoci jq curl sha256sum; do
        command -v "$tool" >/dev/null || { echo "regen-outputs.sh: $tool is missing (chapter 11)" >&2; exit 1; }
    done
    if ss -Hltn '( sport = :5000 or sport = :5001 )' | grep -q .; then
        echo "regen-outputs.sh: something listens on port 5000 or 5001 already; chapter 11's registries need them" >&2
        exit 1
    fi
    export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

    cat > "$tmp/registry.yml" <<CONFIG
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $tmp/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5000
CONFIG
    sed -e 's/127.0.0.1:5000/127.0.0.1:5001/' "$tmp/registry.yml" > "$tmp/registry-auth.yml"
    cat >> "$tmp/registry-auth.yml" <<CONFIG
auth:
  htpasswd:
    realm: guide-registry
    path: $tmp/htpasswd
CONFIG
    # bcrypt, the one hash docker-registry accepts (htpasswd -B would do).
    python3 -W ignore -c 'import crypt; print("guide:" + crypt.crypt("secret", crypt.mksalt(crypt.METHOD_BLOWFISH)))' > "$tmp/htpasswd"
    # >>: O_APPEND, so that a demo can empty the log while it is written.
    (cd "$tmp" && exec docker-registry serve registry.yml >> registry.log 2>&1 </dev/null) &
    registry_pids="$registry_pids $!"
    (cd "$tmp" && exec docker-registry serve registry-auth.yml >> registry-auth.log 2>&1 </dev/null) &
    registry_pids="$registry_pids $!"
    for port in 5000 5001; do
        for try in $(seq 50); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/v2/")" != 000 ] && break
            sleep 0.1
        done
    done

    # The app image's entrypoint.
    cat > "$tmp/hello.sh" <<'SCRIPT'
#!/bin/sh
# The entrypoint of the app image: who and where it runs.
echo "$GREETING, $1: I am $(id -u):$(id -g) in $(pwd)"
SCRIPT

    # A multi-platform index made by hand (the demo shows it with `cat`).
    cat > "$tmp/make-index.sh" <<'SCRIPT'
#!/bin/sh
# make-index.sh REPOSITORY TAG SOURCE...: put an OCI image index under TAG
# that lists the manifests tagged SOURCE..., each with the platform its
# config names: what `docker buildx` pushes for a multi-platform image.
set -eu
api=http://127.0.0.1:5000/v2/$1; tag=$2; shift 2
for source in "$@"; do
    curl -sf -H 'Accept: application/vnd.oci.image.manifest.v1+json' -o m.json "$api/manifests/$source"
    platform=$(curl -sf "$api/blobs/$(jq -r .config.digest m.json)" | jq '{os, architecture}')
    jq -n --arg digest "sha256:$(sha256sum < m.json | cut -c1-64)" --argjson size "$(wc -c < m.json)" \
        --argjson platform "$platform" \
        '{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $digest, size: $size, platform: $platform}'
done | jq -s '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: .}' > index.json
rm m.json
curl -sf -X PUT -H 'Content-Type: application/vnd.oci.image.index.v1+json' \
    --data-binary @index.json "$api/manifests/$tag"
SCRIPT
    chmod +x "$tmp/make-index.sh"

    # The layering exercise: a "runtime" (a library) and an app using it.
    cat > "$tmp/greet.sh" <<'SCRIPT'
# The runtime layer: a library that the app layer uses.
greet() { echo "hello from $(hostname), $1"; }
SCRIPT
    cat > "$tmp/run.sh" <<'SCRIPT'
#!/bin/sh
# The app layer's program.
. /usr/lib/greet/greet.sh
greet "${1:-world}"
SCRIPT
fi

capture ch11-registry <<'EOF'
cat registry.yml
curl -si http://127.0.0.1:5000/v2/; echo
EOF

capture ch11-build <<'EOF'
umoci init --layout image
umoci new --image image:latest
umoci unpack --image image:latest unpacked
ls unpacked
cp -a rootfs/. unpacked/rootfs/
umoci repack --image image:latest unpacked
umoci config --image image:latest --config.cmd /bin/sh
umoci gc --layout image
find image -type f | sort
jq . image/index.json
EOF

capture ch11-push <<'EOF'
skopeo copy --dest-tls-verify=false oci:image:latest docker://127.0.0.1:5000/guide/busybox:1.0
curl -s http://127.0.0.1:5000/v2/_catalog
curl -s http://127.0.0.1:5000/v2/guide/busybox/tags/list
EOF

capture ch11-manifest <<'EOF'
curl -s http://127.0.0.1:5000/v2/guide/busybox/manifests/1.0
curl -s -H 'Accept: application/vnd.oci.image.manifest.v1+json' -D headers.txt -o manifest.json http://127.0.0.1:5000/v2/guide/busybox/manifests/1.0
grep -i -e content-type -e digest headers.txt
jq . manifest.json
sha256sum manifest.json
EOF

capture ch11-blobs <<'EOF'
config=$(jq -r .config.digest manifest.json); layer=$(jq -r '.layers[0].digest' manifest.json)
curl -s http://127.0.0.1:5000/v2/guide/busybox/blobs/$config | jq .
curl -s -o layer.tar.gz http://127.0.0.1:5000/v2/guide/busybox/blobs/$layer
echo $layer; sha256sum layer.tar.gz
zcat layer.tar.gz | sha256sum
tar -tvzf layer.tar.gz | head -n 6
EOF

capture ch11-auth <<'EOF'
curl -si http://127.0.0.1:5001/v2/guide/busybox/manifests/1.0 | grep -i -e HTTP/ -e www-authenticate
target/debug/step7 --store $PWD/auth-store pull 127.0.0.1:5001/guide/busybox:1.0; echo $?
STEP7_REGISTRY_USER=guide STEP7_REGISTRY_PASSWORD=wrong target/debug/step7 --store $PWD/auth-store pull 127.0.0.1:5001/guide/busybox:1.0; echo $?
skopeo login --tls-verify=false --authfile auth.json -u guide -p secret 127.0.0.1:5001
cat auth.json; echo; jq -r '.auths[].auth' auth.json | base64 -d; echo
REGISTRY_AUTH_FILE=auth.json target/debug/step7 --store $PWD/auth-store pull 127.0.0.1:5001/guide/busybox:1.0; echo $?
rm -rf auth-store auth.json
EOF

capture ch11-pull <<'EOF'
: > registry.log
target/debug/step7 --store $PWD/store pull 127.0.0.1:5000/guide/busybox:1.0
cut -d'"' -f2 registry.log
: > registry.log
target/debug/step7 --store $PWD/store pull 127.0.0.1:5000/guide/busybox:1.0
cut -d'"' -f2 registry.log
target/debug/step7 --store $PWD/store images
EOF

capture ch11-store <<'EOF'
find store -maxdepth 3 | sort
jq . store/images.json
sha256sum store/blobs/sha256/*
ls -l store/layers/sha256/*/ | head -n 8
ls -ld store store/*/
setpriv --reuid nobody --regid nogroup --clear-groups ls store/layers/sha256; echo $?
EOF

capture ch11-verify <<'EOF'
layer=$(jq -r '.layers[0].digest' manifest.json | cut -d: -f2)
data=registry/docker/registry/v2/blobs/sha256/${layer:0:2}/$layer/data
cp $data saved; printf X | dd of=$data bs=1 seek=100000 conv=notrunc status=none
target/debug/step7 --store $PWD/fresh pull 127.0.0.1:5000/guide/busybox:1.0; echo $?
ls fresh/blobs/sha256 fresh/layers/sha256 fresh/tmp
cp saved $data; rm -rf saved fresh
EOF

capture ch11-index <<'EOF'
cat make-index.sh
umoci config --image image:latest --tag arm64 --architecture arm64
skopeo copy -q --dest-tls-verify=false oci:image:arm64 docker://127.0.0.1:5000/guide/busybox:1.0-arm64
./make-index.sh guide/busybox multi 1.0 1.0-arm64
curl -s -H 'Accept: application/vnd.oci.image.index.v1+json' http://127.0.0.1:5000/v2/guide/busybox/manifests/multi | jq .
target/debug/step7 --store $PWD/store pull 127.0.0.1:5000/guide/busybox:multi
target/debug/step7 --store $PWD/store pull --platform linux/s390x 127.0.0.1:5000/guide/busybox:multi; echo $?
EOF

capture ch11-app <<'EOF'
cat hello.sh
umoci unpack --image image:latest app-unpacked
install -m 755 hello.sh app-unpacked/rootfs/bin/hello
echo 'app:x:1234:1234:app:/home/app:/bin/sh' >> app-unpacked/rootfs/etc/passwd
mkdir app-unpacked/rootfs/home/app
rm app-unpacked/rootfs/etc/os-release
umoci repack --image image:app app-unpacked
umoci config --image image:app --config.entrypoint /bin/hello --config.cmd world --config.env GREETING=hello --config.workingdir /home/app --config.user app
skopeo copy -q --dest-tls-verify=false oci:image:app docker://127.0.0.1:5000/guide/app:1.0
: > registry.log
target/debug/step7 --store $PWD/store pull 127.0.0.1:5000/guide/app:1.0
cut -d'"' -f2 registry.log
EOF

# In a scratch mount namespace whose /etc is an empty tmpfs: were a
# hostile entry to escape the layer, it would land there, not in the
# host's /etc.
capture ch11-hostile 'sandbox# ' unshare --mount <<'EOF'
mount -t tmpfs scratch-etc /etc
mkdir -p hostile/etc hostile/x && ln -s /etc hostile/evil && echo planted > hostile/x/pwned
tar -C hostile -cPf dotdot.tar --transform 's,^x/,../../,' x/pwned
tar -C hostile -cPf absolute.tar --transform 's,^x/,/etc/,' x/pwned
tar -C hostile -cf symlink.tar --transform 's,^x/,evil/,' etc evil x/pwned
tar -C hostile -cf dangling.tar --transform 's,^x/,evil/,' evil x/pwned
for t in dotdot absolute symlink dangling; do echo "== $t.tar"; tar -tvPf $t.tar; done
target/debug/step7 --store $PWD/hostile-store layer add dotdot dotdot.tar; echo $?
target/debug/step7 --store $PWD/hostile-store layer add absolute absolute.tar; echo $?
target/debug/step7 --store $PWD/hostile-store layer add symlink symlink.tar; echo $?
target/debug/step7 --store $PWD/hostile-store layer add dangling dangling.tar; echo $?
find /etc
find hostile-store/layers -mindepth 3 | sort
rm -rf hostile *.tar
EOF

# A decompression bomb (200 MiB of zeros in 200 KiB of gzip), given to a
# store on a 64 MiB tmpfs mounted in a scratch mount namespace: the host's
# disk is never the one filled, and the tmpfs goes with the namespace.
capture ch11-bomb 'sandbox# ' unshare --mount <<'EOF'
mkdir small bomb && mount -t tmpfs -o size=64m,mode=0700 small-store small
truncate -s 200M bomb/zeros && tar -C bomb -czf bomb.tar.gz zeros && ls -l bomb.tar.gz
target/debug/step7 --store $PWD/small layer add bomb bomb.tar.gz; echo $?
df -h small; ls small/layers/sha256 small/tmp
rm -rf bomb bomb.tar.gz
EOF

capture ch11-whiteouts <<'EOF'
app='.["127.0.0.1:5000/guide/app:1.0"]'
tar -tvzf store/blobs/sha256/$(jq -r "$app.layers[1]" store/images.json | cut -d: -f2)
ls -l store/layers/sha256/$(jq -r "$app.diff_ids[1]" store/images.json | cut -d: -f2)/etc
target/debug/step7 --store $PWD/store --root state run --network none --entrypoint ls 127.0.0.1:5000/guide/app:1.0 /etc
mkdir -p slim/etc && echo 'only this' > slim/etc/motd && touch slim/etc/.wh..wh..opq
target/debug/step7 --store $PWD/store layer add slim slim
python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "trusted.overlay.opaque"))' store/layers/sha256/$(jq -r .slim.diff_id store/layers.json | cut -d: -f2)/etc
base=$(jq -r "$app.diff_ids[0]" store/images.json); echo $base
target/debug/step7 --store $PWD/store --root state run --network none --layers $base,slim ls /etc
rm -rf slim
EOF

capture ch11-by-hand 'sandbox# ' unshare --mount <<'EOF'
mkdir -p ovl/lower1 ovl/lower2 ovl/upper ovl/work ovl/merged
echo 'from lower1' > ovl/lower1/a; echo 'from lower1' > ovl/lower1/b; echo 'from lower2' > ovl/lower2/b; echo 'from lower2' > ovl/lower2/c
mount -t overlay overlay -o lowerdir=ovl/lower2:ovl/lower1,upperdir=ovl/upper,workdir=ovl/work ovl/merged
grep -H . ovl/merged/*
echo 'changed' >> ovl/merged/a; rm ovl/merged/c; echo 'new' > ovl/merged/d
ls -l ovl/upper
cat ovl/lower1/a ovl/upper/a
umount ovl/merged; rm -rf ovl
EOF

capture ch11-overlay <<'EOF'
target/debug/step7 --store $PWD/store --root state run -d --name one --network none 127.0.0.1:5000/guide/busybox:1.0 sleep 1000
target/debug/step7 --store $PWD/store --root state run -d --name two --network none 127.0.0.1:5000/guide/busybox:1.0 sleep 1000
mount | grep "overlay on $PWD"
target/debug/step7 --root state exec one grep overlay /proc/self/mountinfo
target/debug/step7 --root state exec one sh -c 'echo hello > /tmp/note; echo "guest:x:1000:1000::/:/bin/sh" >> /etc/passwd; rm /bin/vi'
target/debug/step7 --root state exec two sh -c 'cat /tmp/note; tail -n 1 /etc/passwd; ls /bin/vi'
find store/containers/one/upper | sort
ls -l store/containers/one/upper/bin store/containers/one/upper/etc
target/debug/step7 --root state rm -f one; target/debug/step7 --root state rm -f two
mount | grep -c "overlay on $PWD"; ls store/containers
EOF

capture ch11-config <<'EOF'
jq .config store/blobs/sha256/$(jq -r '.["127.0.0.1:5000/guide/app:1.0"].config' store/images.json | cut -d: -f2)
target/debug/step7 --store $PWD/store --root state run --network none 127.0.0.1:5000/guide/app:1.0
target/debug/step7 --store $PWD/store --root state run --network none 127.0.0.1:5000/guide/app:1.0 you
target/debug/step7 --store $PWD/store --root state run --network none -e GREETING=hi -u nobody -w /tmp 127.0.0.1:5000/guide/app:1.0
target/debug/step7 --store $PWD/store --root state run --network none --entrypoint id 127.0.0.1:5000/guide/app:1.0
getent passwd app; echo $?
target/debug/step7 --store $PWD/store --root state run --network none -u ghost 127.0.0.1:5000/guide/app:1.0; echo $?
EOF

capture ch11-layers <<'EOF'
target/debug/step7 --store $PWD/layers-store layer add base rootfs
cat greet.sh run.sh
install -D -m 644 greet.sh runtime/usr/lib/greet/greet.sh
install -D -m 755 run.sh app/app/run.sh
target/debug/step7 --store $PWD/layers-store layer add runtime runtime
target/debug/step7 --store $PWD/layers-store layer add app app
target/debug/step7 --store $PWD/layers-store layer ls
target/debug/step7 --store $PWD/layers-store --root state run --network none --hostname box --layers base,runtime,app /app/run.sh layers
target/debug/step7 --store $PWD/layers-store --root state run --network none --layers base,runtime ls /app; echo $?
target/debug/step7 --store $PWD/layers-store --root state run -d --name one --network none --layers base,runtime,app sleep 1000
target/debug/step7 --store $PWD/layers-store --root state run -d --name two --network none --layers base,runtime,app sh -c 'dd if=/dev/zero of=/big bs=1M count=5 2>/dev/null; sleep 1000'
sleep 1
du -sh layers-store/layers/sha256/* layers-store/containers/*/upper
du -sh layers-store/containers/*/rootfs
target/debug/step7 --root state rm -f one; target/debug/step7 --root state rm -f two
rm -rf runtime app
EOF

capture ch11-rmi <<'EOF'
target/debug/step7 --store $PWD/store images
target/debug/step7 --store $PWD/store rmi 127.0.0.1:5000/guide/app:1.0
target/debug/step7 --store $PWD/store rmi 127.0.0.1:5000/guide/busybox:1.0
ls store/blobs/sha256 store/layers/sha256
target/debug/step7 --store $PWD/store rmi 127.0.0.1:5000/guide/busybox:multi
target/debug/step7 --store $PWD/store layer rm slim
ls store/blobs/sha256 store/layers/sha256
ls hostile-store/blobs/sha256
target/debug/step7 --store $PWD/hostile-store prune
ls hostile-store/blobs/sha256
EOF

if selected ch11-registry; then
    cleanup_images
    rm -rf "$tmp"/{registry,image,unpacked,app-unpacked,store,layers-store,hostile-store} "$tmp"/registry*.log
fi

echo "regen-outputs.sh: wrote $written files in $out"
