#!/bin/sh
# make bench, part 2: pulling an image from a registry and unpacking it,
# step7 against `skopeo copy` + `umoci unpack` (the usual pair without
# Docker), on the same image from the same local registry.
#
# The image is built here: the busybox rootfs, plus a layer of this host's
# /usr/lib/python3 (about 50 MB in some thousands of small files, the
# shape of real layers; BENCH_LAYER=DIR for another), pushed to Debian's
# docker-registry on 127.0.0.1. Each timed
# run starts from an empty store, so everything is fetched, checked
# (sha256) and unpacked every time.
set -eu
cd "$(dirname "$0")/.."
runs=${BENCH_RUNS:-10}
work=$(mktemp -d /tmp/step7-bench-images.XXXXXX)
registry_pid=
cleanup() {
    [ -z "$registry_pid" ] || kill "$registry_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

for tool in hyperfine docker-registry skopeo umoci; do
    command -v $tool >/dev/null || { echo "bench: needs $tool (apt-get install $tool)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root"; exit 1; }
cargo build --release -p step7 >/dev/null 2>&1 || cargo build --release -p step7

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry_pid=$!
sleep 1

# The image: busybox, then $layer as a second layer.
layer=${BENCH_LAYER:-/usr/lib/python3}
[ -d "$layer" ] || layer=/usr/share/zoneinfo
step1_chroot/mkrootfs.sh --busybox "$work/rootfs" >/dev/null
umoci init --layout "$work/layout"
umoci new --image "$work/layout:bench"
umoci unpack --image "$work/layout:bench" "$work/build" >/dev/null
cp -a "$work/rootfs/." "$work/build/rootfs/"
umoci repack --image "$work/layout:bench" "$work/build"
mkdir -p "$work/build/rootfs$(dirname "$layer")" && cp -a "$layer" "$work/build/rootfs$(dirname "$layer")/"
umoci repack --image "$work/layout:bench" "$work/build"
umoci config --image "$work/layout:bench" --config.cmd /bin/sh
umoci gc --layout "$work/layout"
rm -rf "$work/build"
image=127.0.0.1:$port/bench/image:1
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:bench" "docker://$image"
echo "bench: image $image: $(du -sh "$work/registry" | cut -f1) in the registry, $(du -sh "$work/rootfs" | cut -f1) + $(du -sh "$layer" | cut -f1) ($layer) unpacked"

hyperfine --warmup 1 --runs "$runs" --export-markdown target/bench-images.md \
    --prepare "rm -rf $work/store $work/oci $work/unpacked" \
    -n "step7 pull" "target/release/step7 --store $work/store pull --quiet $image" \
    -n "skopeo copy + umoci unpack" \
    "skopeo copy --quiet --src-tls-verify=false docker://$image oci:$work/oci:1 && umoci unpack --image $work/oci:1 $work/unpacked"
echo "bench: results in target/bench-images.md"
