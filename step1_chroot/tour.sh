#!/bin/sh
# The demo tour: the same small commands on the host and inside a step's
# container, side by side, so you see what each step isolates.
#
#   step1_chroot/tour.sh STEP_BINARY ROOTFS
set -eu
bin=$1
rootfs=$2
step=$(basename "$bin")

# Steps from 4 on take --hostname, from 6 on --memory: use them, so they show.
set --
if "$bin" --help | grep -q -- --hostname; then set -- --hostname tour-box; fi
if "$bin" --help | grep -q -- --memory; then set -- "$@" --memory 64m; fi

# What each question is asked with; the same shell code runs on both sides.
probes='root directory|ls / | head -6 | tr "\n" " "
hostname|hostname
PID of this shell|echo $$
processes visible|ls -d /proc/[0-9]* 2>/dev/null | wc -l
mounts visible|cat /proc/self/mounts 2>/dev/null | wc -l
network interfaces|ls /sys/class/net 2>/dev/null | tr "\n" " "
user id|id -u
memory cgroup|(grep :memory: /proc/self/cgroup || grep ^0:: /proc/self/cgroup) 2>/dev/null | cut -d: -f3'

printf '\n%s: the same commands on the host and inside the container\n\n' "$step"
printf '  %-20s %-34s %s\n' "" "host" "container"
printf '%s\n' "$probes" | while IFS='|' read -r label code; do
    host=$(sh -c "$code" 2>&1 | head -1)
    inside=$("$bin" --rootfs "$rootfs" "$@" -- sh -c "$code" 2>&1 </dev/null | head -1)
    printf '  %-20s %-34s %s\n' "$label" "$host" "$inside"
done

printf '\n'
case $step in
    step1) echo "Isolated: the root directory (chroot). Everything else is the host's; /proc is empty because nothing mounted it." ;;
    step2) echo "Isolated: root directory, process IDs (the shell is PID 2 under a tiny init). Nothing mounts a /proc for the container, and the mounts are the host's (step 3)." ;;
    step3) echo "Isolated: root directory, process IDs, mounts (/proc shows only the container). Hostname: the host's (step 4)." ;;
    step4) echo "Isolated: root directory, process IDs, mounts, hostname. Network interfaces: still the host's (step 5)." ;;
    step5) echo "Isolated: root directory, process IDs, mounts, hostname, network (eth0 on bridge ctr0, NAT to the outside)."
           echo "Still shared: CPU and memory, without limits (step 6). The bridge stays for the next container: remove it with"
           echo "  sudo target/debug/step5 --cleanup-network" ;;
    step6) echo "Isolated: root directory, process IDs, mounts, hostname, network; limited: memory, CPU, processes (try --memory 32m)."
           echo "Still shared: users (root inside is root outside), capabilities, system calls (step 7). Remove the bridge with"
           echo "  sudo target/debug/step6 --cleanup-network" ;;
esac
echo "Try it yourself: sudo target/debug/$step --rootfs $rootfs --verbose"
