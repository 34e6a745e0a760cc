#!/bin/sh
# Make a root filesystem for the containers:  mkrootfs.sh [--busybox] DIR
#
# - DIR already exists: it is kept as it is.
# - Online (default): Alpine's minirootfs for this machine's architecture,
#   checked against the sha256 Alpine publishes next to it.
# - Offline, or with --busybox: a busybox rootfs assembled from the host's
#   static busybox (Debian/Ubuntu package busybox-static).
# - Neither possible: says what to install, exits 1.
#
# The rootfs is assembled in DIR.partial and renamed at the end, so an
# interrupted run never leaves a half-made DIR that a later run would keep.
set -eu

ALPINE_VERSION=${ALPINE_VERSION:-3.20.3}
ALPINE_MIRROR=${ALPINE_MIRROR:-https://dl-cdn.alpinelinux.org/alpine}

busybox_only=no
if [ "${1:-}" = "--busybox" ]; then busybox_only=yes; shift; fi
[ $# -eq 1 ] || { echo "usage: $0 [--busybox] DIR" >&2; exit 2; }
dir=$1
partial=$dir.partial

if [ -e "$dir" ]; then
    echo "rootfs: keeping the existing $dir (remove it to make a new one)"
    exit 0
fi

# Alpine's name for this machine's architecture.
alpine_arch() {
    case $(uname -m) in
        x86_64) echo x86_64 ;;
        aarch64|arm64) echo aarch64 ;;
        armv7l) echo armv7 ;;
        riscv64) echo riscv64 ;;
        *) return 1 ;;
    esac
}

fetch() { # URL FILE: quiet, quick to give up when there is no network
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout 5 --max-time 120 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -q -T 5 -O "$2" "$1"
    else
        return 1
    fi
}

alpine() {
    arch=$(alpine_arch) || return 1
    branch=v$(echo "$ALPINE_VERSION" | cut -d. -f1,2)
    name=alpine-minirootfs-$ALPINE_VERSION-$arch.tar.gz
    url=$ALPINE_MIRROR/$branch/releases/$arch/$name
    tmp=$(mktemp -d)
    echo "rootfs: downloading $url"
    if ! fetch "$url" "$tmp/$name" || ! fetch "$url.sha256" "$tmp/$name.sha256"; then
        echo "rootfs: cannot download Alpine (offline?)"
        rm -rf "$tmp"
        return 1
    fi
    # The .sha256 file is "<digest>  <name>": check the tarball against it.
    if ! (cd "$tmp" && sha256sum -c "$name.sha256" >/dev/null); then
        echo "rootfs: $name does not match its published sha256; not using it" >&2
        rm -rf "$tmp"
        exit 1
    fi
    mkdir -p "$partial"
    tar -xzf "$tmp/$name" -C "$partial"
    rm -rf "$tmp"
    # Alpine ships no resolv.conf; containers of steps 1-4 share the host's
    # network, so its resolver is the right one.
    [ -f /etc/resolv.conf ] && cp /etc/resolv.conf "$partial/etc/resolv.conf"
    echo "rootfs: Alpine $ALPINE_VERSION ($arch), sha256 verified"
}

static_busybox() { # prints the path of a statically linked busybox
    for bb in /bin/busybox /usr/bin/busybox "$(command -v busybox 2>/dev/null)"; do
        [ -x "$bb" ] || continue
        # A dynamically linked busybox would need the host's libc inside.
        if ! ldd "$bb" >/dev/null 2>&1; then echo "$bb"; return 0; fi
    done
    return 1
}

busybox_rootfs() {
    bb=$(static_busybox) || return 1
    mkdir -p "$partial"
    cd "$partial"
    mkdir -p bin sbin usr/bin usr/sbin etc root home proc sys dev tmp mnt var/run
    chmod 1777 tmp
    chmod 700 root
    cp "$bb" bin/busybox
    # One symlink per applet at its usual path (bin/sh, usr/bin/awk, ...).
    for applet in $(bin/busybox --list-full); do
        [ -e "$applet" ] || ln -s /bin/busybox "$applet"
    done
    cat > etc/passwd <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
    cat > etc/group <<'GROUP'
root:x:0:
tty:x:5:
nogroup:x:65534:
GROUP
    cat > etc/hosts <<'HOSTS'
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
HOSTS
    if [ -f /etc/resolv.conf ]; then cp /etc/resolv.conf etc/resolv.conf; else : > etc/resolv.conf; fi
    echo 'NAME="busybox rootfs (made by mkrootfs.sh)"' > etc/os-release
    cd - >/dev/null
    echo "rootfs: busybox rootfs from the host's $bb"
}

rm -rf "$partial"
if [ $busybox_only = yes ] || ! alpine; then
    if ! busybox_rootfs; then
        rm -rf "$partial"
        echo "rootfs: no network for Alpine and no static busybox on this host." >&2
        echo "rootfs: install one: sudo apt-get install busybox-static" >&2
        exit 1
    fi
fi
mv "$partial" "$dir"
echo "rootfs: ready at $dir"
