#!/bin/sh
# Runs step6 on a pure cgroup v2 kernel, inside the test VM, and prints
# RESULT lines for the test on the host to check. Ends with poweroff.
report() { echo "RESULT $*"; }
finish() { sync; poweroff -f; }
trap finish EXIT

# A pure v2 host: cgroup2 on /sys/fs/cgroup, every controller in it.
mount -t cgroup2 cgroup2 /sys/fs/cgroup || { report fatal no-cgroup2; exit; }
report controllers "$(cat /sys/fs/cgroup/cgroup.controllers)"
/mkrootfs.sh --busybox /rootfs >/dev/null || { report fatal no-rootfs; exit; }
run() { /step6 --rootfs /rootfs --network none "$@"; }

report setup "$(run --verbose true 2>&1 | grep -o 'cgroups: .*')"

out=$(run --memory 32m dd if=/dev/zero of=/dev/null bs=64M count=1 2>&1)
report oom "$?" "$(echo "$out" | grep -o 'killed: out of memory.*')"

out=$(run --pids-limit 16 sh -c '(for i in $(seq 40); do sleep 1 & done); echo subshell=$?; echo survived' 2>&1)
report pids "$?" "$(echo "$out" | grep -c "can't fork")" "$(echo "$out" | grep -c survived)"

# CPU: the cgroup's own counter, over two seconds of a busy loop.
# Not through run(): $! must be step6 itself, not a subshell.
/step6 --rootfs /rootfs --network none --cpus 0.5 sh -c 'hostname > /tmp/id; while :; do :; done' > /tmp/cpu.out 2>&1 &
runtime=$!
sleep 1
id=$(cat /rootfs/tmp/id)
usage() { sed -n 's/^usage_usec //p' "/sys/fs/cgroup/step6/$id/cpu.stat"; }
before=$(usage); sleep 2; after=$(usage)
report cpumax "$(cat "/sys/fs/cgroup/step6/$id/cpu.max")"
kill -TERM $runtime; wait $runtime
report cpu "$((after - before))" 2000000 "$?"

report verbose "$(run --verbose --memory 64m true 2>&1 | grep -c 'peak memory')"
# Nothing left: no container cgroup, and no step6 parent either.
report left "$(find /sys/fs/cgroup/step6 -mindepth 1 -type d 2>/dev/null | wc -l)" "$(test -d /sys/fs/cgroup/step6 && echo parent-left || echo clean)"
report done
