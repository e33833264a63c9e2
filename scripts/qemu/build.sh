#!/usr/bin/env bash
# Builds QEMU's s390x-softmmu with KVM on this (x86_64) host from Debian's QEMU source package,
# with the project's patches (scripts/qemu/patches/), so QEMU runs s390x guests on the shim.
#
#   scripts/qemu/build.sh            build (or reuse) and print the build directory on stdout
#
# The result lives outside the repository, in
#   ${KVM_S390_SHIM_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}/qemu-<version>-<key>/
# where <key> hashes the source package's version, the patches and this script, so a changed
# patch builds anew and an unchanged one is reused. The directory holds:
#   build/qemu-system-s390x   the QEMU binary
#   firmware/                 s390-ccw.img and friends from Debian's qemu-system-data (the +ds
#                             source tarball ships no firmware): pass it with -L
#   build.log                 the full log of the fetch, configure and build
#
# Needs apt (installs the build dependencies and adds a deb-src line for the suite when missing,
# as root or through sudo) and PyPI (meson >= 1.5 in a venv: bookworm's meson is 1.0).
# QEMU_SUITE (default bookworm-backports) chooses the suite the source package comes from.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
suite=${QEMU_SUITE:-bookworm-backports}
cache_root=${KVM_S390_SHIM_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}
mkdir -p "$cache_root"

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
apt_log="$cache_root/apt.log"
apt_install() {
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" \
        >>"$apt_log" 2>&1 || { tail -n 20 "$apt_log" >&2; return 1; }
}

say() { echo "qemu/build.sh: $*" >&2; }

# The source package's version in the suite, from the deb-src index (the line is added once).
source_version() {
    { apt-cache showsrc qemu 2>/dev/null || true; } | awk -v want="$1" '
        /^Package: /  { pkg = $2 }
        /^Version: /  { if (pkg == "qemu" && index($2, want) > 0) print $2 }' | sort -V | tail -n1
}
# bookworm-backports versions end in ~bpo12+N; other suites are taken as they come.
version_pattern=""
case "$suite" in
*-backports) version_pattern="~bpo" ;;
esac
version=$(source_version "$version_pattern")
if [ -z "$version" ]; then
    say "adding a deb-src line for $suite"
    $SUDO tee /etc/apt/sources.list.d/kvm-s390-shim-qemu-src.sources >/dev/null <<EOF
Types: deb deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    $SUDO apt-get update -qq >>"$apt_log" 2>&1
    version=$(source_version "$version_pattern")
fi
[ -n "$version" ] || { say "no qemu source package in $suite"; exit 1; }
upstream=${version#*:}
upstream=${upstream%%-*}
upstream_plain=${upstream%%+*}

# The configuration: KVM only (no TCG), one target, none of the optional libraries; the default
# devices stay (virtio-ccw, the generic loader). The s390-ccw BIOS is not built (Debian's image
# is used).
configure_flags=(--target-list=s390x-softmmu --enable-kvm --disable-tcg --disable-download
    --without-default-features --disable-docs --disable-werror --disable-install-blobs
    --disable-debug-info)
# The cache key: what decides the binary (source version, patches, configuration).
key=$( { echo "$version"; echo "${configure_flags[*]}"; cat "$here"/patches/*.patch; } |
    sha256sum | cut -c1-12)
out="$cache_root/qemu-$upstream_plain-$key"
if [ -x "$out/build/qemu-system-s390x" ] && [ -f "$out/firmware/s390-ccw.img" ] && [ -f "$out/.complete" ]; then
    say "reusing $out"
    echo "$out"
    exit 0
fi

# Build dependencies for a minimal KVM-only s390x-softmmu build.
deps=(ninja-build libglib2.0-dev zlib1g-dev flex bison python3-venv dpkg-dev xz-utils patch gcc make
    pkg-config)
missing=()
for p in "${deps[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    $SUDO apt-get update -qq >>"$apt_log" 2>&1
    apt_install "${missing[@]}"
fi

rm -rf "$out"
mkdir -p "$out"
log="$out/build.log"
start=$(date +%s)
say "building QEMU $version into $out (log: $log)"
set +e
(
    set -ex
    cd "$out"
    mkdir -p dl
    # The upstream tarball of Debian's source package, by apt (which checks its SHA256 against the
    # signed index). The Debian part (.dsc, debian.tar.xz) is not needed: the project's patches
    # apply to the upstream tree.
    (cd dl && apt-get source --download-only --only-source "qemu=$version") ||
        echo "apt-get source left files out (checked below)"
    orig=$(ls dl/qemu_"$upstream".orig.tar.* 2>/dev/null | head -n1)
    [ -n "$orig" ] || { echo "no upstream tarball for qemu $version"; exit 1; }
    # awk reads to the end: an early exit would end apt-cache with SIGPIPE, which pipefail
    # and set -e turn into a failed build.
    want=$(apt-cache showsrc qemu | awk -v f="$(basename "$orig")" -v v="$version" '
        /^Package: / { p = $2 } /^Version: / { ver = $2 }
        /^Checksums-Sha256:/ { s = 1; next } /^[^ ]/ { s = 0 }
        s && p == "qemu" && ver == v && $3 == f && sum == "" { sum = $1 }
        END { print sum }')
    have=$(sha256sum "$orig" | cut -d' ' -f1)
    [ -n "$want" ] && [ "$want" = "$have" ] || { echo "checksum of $orig: $have, index: $want"; exit 1; }
    tar xf "$orig"
    mv "qemu-$upstream_plain" src
    for p in "$here"/patches/*.patch; do
        patch -d src -p1 --forward --batch < "$p"
    done

    # The firmware (s390-ccw.img for the BIOS) from Debian's qemu-system-data of the same version.
    (cd dl && apt-get download "qemu-system-data=$version")
    dpkg-deb -x dl/qemu-system-data_*.deb data
    mkdir -p firmware
    cp data/usr/share/qemu/s390-ccw.img data/usr/share/qemu/s390-netboot.img firmware/ 2>/dev/null ||
        cp data/usr/share/qemu/s390-ccw.img firmware/
    rm -rf data

    # meson >= 1.5 (QEMU 10.0's minimum) and pycotap (its test harness, checked by configure)
    # from PyPI, in a venv shared by all builds: the +ds tarball ships no wheels.
    venv="$cache_root/venv-meson"
    if ! "$venv/bin/python3" -c 'import mesonbuild, pycotap' 2>/dev/null; then
        rm -rf "$venv"
        /usr/bin/python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check 'meson>=1.5,<2' 'pycotap>=1.1'
    fi

    mkdir build
    cd build
    ../src/configure --python="$venv/bin/python3" "${configure_flags[@]}"
    nice -n 19 ninja qemu-system-s390x
    ./qemu-system-s390x --version
) > "$log" 2>&1
rc=$?
set -e
if [ "$rc" != 0 ]; then
    say "failed; the last lines of $log:"
    tail -n 30 "$log" >&2
    exit 1
fi
end=$(date +%s)
rm -rf "$out/dl"
echo "built in $((end - start)) s" >> "$log"
touch "$out/.complete"
# Builds of other keys (older patches or versions) go: each holds a ~1 GB build tree.
for old in "$cache_root"/qemu-[0-9]*-*; do
    [ "$old" = "$out" ] || rm -rf "$old"
done
say "built in $((end - start)) s"
echo "$out"
