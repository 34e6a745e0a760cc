#!/bin/sh
# Runs step7 on a pure cgroup v2 kernel, inside the test VM (see
# support::vm), and prints RESULT lines for the test on the host.
report() { echo "RESULT $*"; }
trap 'sync; poweroff -f' EXIT

mount -t cgroup2 cgroup2 /sys/fs/cgroup || { report fatal no-cgroup2; exit; }
mkdir -p /bundle
/mkrootfs.sh --busybox /bundle/rootfs >/dev/null || { report fatal no-rootfs; exit; }
cp /config.json /bundle/config.json

# The bundle's program makes a node for /dev/kmsg (allowed: "m") and
# tries to read it (refused by the BPF device program), then uses
# /dev/null (allowed), and reports its memory limit.
out=$(cd /bundle && /step7 run devices 2>&1)
report devices $out
report left "$(find /sys/fs/cgroup/step7 -mindepth 1 -type d 2>/dev/null | wc -l)" "$(test -d /sys/fs/cgroup/step7 && echo parent-left || echo clean)"
report done
