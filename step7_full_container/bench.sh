#!/bin/sh
# make bench: step7, runc and crun running the same bundle, side by side.
#
# The bundle: a busybox rootfs and `step7 spec`'s config.json running
# /bin/true, with every namespace of the default spec (pid, network, ipc,
# uts, mount) and no terminal. Each timed command is a whole `run`:
# create, start, wait, delete. Needs root and hyperfine; runc and crun are
# compared when installed.
#
# crun 1.8 refuses to start on hosts whose cgroup2 hierarchy holds a
# controller while v1 is in use (these hybrid machines: hugetlb). With
# BENCH_CRUN_HUGETLB=1 the benchmark mounts a v1 hugetlb hierarchy for the
# duration, which moves hugetlb off cgroup2, and removes it at the end:
# that changes the host's cgroup setup while it runs, so it is opt-in.
set -eu
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-50}
work=$(mktemp -d /tmp/step7-bench.XXXXXX)
hugetlb_mounted=no
cleanup() {
    for root in step7 runc crun; do
        [ -d "$work/$root" ] || continue
        for id in $(ls "$work/$root" 2>/dev/null); do
            case $root in
                step7) target/release/step7 --root "$work/step7" delete --force "$id" 2>/dev/null || true ;;
                *) $root --root "$work/$root" delete --force "$id" 2>/dev/null || true ;;
            esac
        done
    done
    if [ $hugetlb_mounted = yes ]; then
        umount /sys/fs/cgroup/hugetlb && rmdir /sys/fs/cgroup/hugetlb
        echo "bench: removed the v1 hugetlb hierarchy again"
    fi
    rm -rf "$work"
}
trap cleanup EXIT

command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "bench: needs root"; exit 1; }
cargo build --release -p step7 >/dev/null 2>&1 || cargo build --release -p step7

mkdir -p "$work/bundle"
step1_chroot/mkrootfs.sh --busybox "$work/bundle/rootfs" >/dev/null
(top=$PWD; cd "$work/bundle" && "$top/target/release/step7" spec)
python3 - "$work/bundle/config.json" "$work/bundle/rootfs" <<'PY'
import json, sys
path, rootfs = sys.argv[1], sys.argv[2]
config = json.load(open(path))
config["process"]["args"] = ["/bin/true"]
config["process"]["terminal"] = False
config["root"] = {"path": rootfs, "readonly": True}
json.dump(config, open(path, "w"), indent=1)
PY

set -- -n step7 "target/release/step7 --root $work/step7 run --bundle $work/bundle bench"
if command -v runc >/dev/null; then
    set -- "$@" -n runc "runc --root $work/runc run --bundle $work/bundle bench"
fi
if command -v crun >/dev/null; then
    if crun --root "$work/crun" run --bundle "$work/bundle" probe >/dev/null 2>&1; then
        set -- "$@" -n crun "crun --root $work/crun run --bundle $work/bundle bench"
    elif [ "${BENCH_CRUN_HUGETLB:-0}" = 1 ] && [ -d /sys/fs/cgroup/unified ] && [ ! -e /sys/fs/cgroup/hugetlb ]; then
        echo "bench: crun refuses this hybrid host; mounting a v1 hugetlb hierarchy for the benchmark"
        mkdir /sys/fs/cgroup/hugetlb && mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
        hugetlb_mounted=yes
        sleep 1
        set -- "$@" -n crun "crun --root $work/crun run --bundle $work/bundle bench"
    else
        echo "bench: crun left out: it refuses this host (run with BENCH_CRUN_HUGETLB=1 on a hybrid host)"
    fi
fi
set -- "$@" -n "unshare + chroot (no runtime)" "unshare --pid --fork --mount --uts --ipc --net chroot $work/bundle/rootfs /bin/true"
hyperfine --shell=none --warmup 3 --runs "$runs" --export-markdown target/bench.md "$@"
echo "bench: results in target/bench.md"

# The cost of the seccomp filter: the same bundle with Docker's default
# profile in linux.seccomp (as step 7 writes it for a docker-like
# container, taken from one with `inspect`), under step 7 (seccompiler
# compiles it) and runc (libseccomp does), and without it.
cp -r "$work/bundle" "$work/seccomp-bundle"
target/release/step7 --root "$work/step7" run -d --rootfs "$work/bundle/rootfs" --network none --name profile sleep 60 >/dev/null
target/release/step7 --root "$work/step7" inspect profile > "$work/inspect.json"
target/release/step7 --root "$work/step7" rm -f profile
python3 - "$work/inspect.json" "$work/seccomp-bundle/config.json" <<'PY'
import json, sys
profile = json.load(open(sys.argv[1]))["Config"]["linux"]["seccomp"]
config = json.load(open(sys.argv[2]))
config["linux"]["seccomp"] = profile
json.dump(config, open(sys.argv[2], "w"), indent=1)
PY
set -- -n "step7, Docker's profile" "target/release/step7 --root $work/step7 run --bundle $work/seccomp-bundle bench" \
    -n "step7, no filter" "target/release/step7 --root $work/step7 run --bundle $work/bundle bench"
if command -v runc >/dev/null; then
    set -- "$@" -n "runc, Docker's profile" "runc --root $work/runc run --bundle $work/seccomp-bundle bench" \
        -n "runc, no filter" "runc --root $work/runc run --bundle $work/bundle bench"
fi
hyperfine --shell=none --warmup 3 --runs "$runs" --export-markdown target/bench-seccomp.md "$@"
echo "bench: results in target/bench-seccomp.md"
