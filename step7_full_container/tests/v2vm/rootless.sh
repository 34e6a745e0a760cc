#!/bin/sh
# Rootless step7 on a pure cgroup v2 kernel, inside the test VM (see
# support::vm). Root delegates a cgroup to an ordinary user, as systemd's
# Delegate=yes does; that user's containers get their cgroups, and their
# limits, there. Prints RESULT lines for the test on the host.
report() { echo "RESULT $*"; }
trap 'sync; poweroff -f' EXIT

cg=/sys/fs/cgroup
mount -t cgroup2 cgroup2 $cg || { report fatal no-cgroup2; exit; }
/mkrootfs.sh --busybox /rootfs >/dev/null || { report fatal no-rootfs; exit; }

# The user (uid 1000), for su, and a runtime directory for step7's state.
mkdir -p /etc
printf 'root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/tmp:/bin/sh\n' > /etc/passwd
printf 'root:x:0:\nuser:x:1000:\n' > /etc/group
mkdir -p /run/user/1000 && chown 1000:1000 /run/user/1000

# The delegation, by hand: memory and pids (not cpu) handed down to
# deleg/, which belongs to the user (the directory, and the files that
# move processes and enable controllers). Its shell goes into a child,
# so that deleg/ itself holds no process and may enable controllers.
echo "+memory +pids" > $cg/cgroup.subtree_control
mkdir $cg/deleg $cg/deleg/shell $cg/plain
chown 1000:1000 $cg/deleg $cg/deleg/cgroup.procs $cg/deleg/cgroup.subtree_control $cg/deleg/cgroup.threads

# as_user CGROUP COMMAND: COMMAND run by the user from a shell in CGROUP. Root
# moves that shell (only it may: moving needs write access to the
# cgroup.procs of the common ancestor, here the root cgroup's).
as_user() {
    sh -c 'echo $$ > "$0/cgroup.procs" && exec su -s /bin/sh user -c "$1"' "$cg/$1" \
        "export XDG_RUNTIME_DIR=/run/user/1000; $2"
}
run='/step7 run --rootfs /rootfs'

# Limits in the delegated subtree: the memory limit ends a 64 MiB
# allocation (137: SIGKILL by the OOM killer), the pids limit refuses
# forks, and both are what was asked for.
out=$(as_user deleg/shell "$run --memory 32m -- sh -c 'cat /sys/fs/cgroup/memory.max; dd if=/dev/zero of=/dev/null bs=64M count=1' 2>&1")
report oom "$?" "$(echo "$out" | head -1)"
out=$(as_user deleg/shell "$run --pids-limit 16 -- sh -c 'cat /sys/fs/cgroup/pids.max; (for i in \$(seq 40); do sleep 1 & done); echo survived' 2>&1")
report pids "$?" "$(echo "$out" | head -1)" "$(echo "$out" | grep -c "can't fork")" "$(echo "$out" | grep -c survived)"
report controllers "$(cat $cg/deleg/cgroup.subtree_control)"

# Without limits the container still gets a cgroup there, so that ps,
# pause and kill --all work.
as_user deleg/shell "$run -d --name bg sleep 1000" >/dev/null 2>&1
report bg "$(find $cg/deleg/step7 -mindepth 1 -type d -exec basename {} \;)" "$(cat $cg/deleg/step7/bg/cgroup.procs | wc -l)" \
    "$(as_user deleg/shell '/step7 ps bg | wc -l')"
report pause "$(as_user deleg/shell '/step7 pause bg && /step7 state bg | grep -o "\"status\": \"[a-z]*\""; /step7 resume bg')"
as_user deleg/shell '/step7 kill --all bg KILL'
for i in $(seq 50); do test -d $cg/deleg/step7 || break; sleep 0.1; done
report killed "$(test -d $cg/deleg/step7 && echo running || echo gone)"
as_user deleg/shell '/step7 rm bg'

# A create that fails after its cgroup was made removes it again.
as_user deleg/shell "$run --memory 32m /no/such/program" 2>/dev/null
report failed "$?"

# What cannot be: the cpu controller was not handed down; a user whose
# cgroup is not delegated; a user whose delegated cgroup holds its shell
# (no internal processes). Without limits, the last two run, with no
# cgroup made.
report nocpu "$(as_user deleg/shell "$run --cpus 0.5 true 2>&1")"
report plain "$(as_user plain "$run --memory 32m true 2>&1")"
as_user plain "$run true"
report plain-nolimits "$?"
mkdir $cg/deleg2 && chown 1000:1000 $cg/deleg2 $cg/deleg2/cgroup.procs $cg/deleg2/cgroup.subtree_control
report inside "$(as_user deleg2 "$run --memory 32m true 2>&1")"

report left "$(find $cg -name 'step7*' | wc -l)" "$(find $cg/deleg -mindepth 1 -type d)"
report done
