#!/usr/bin/env bash
# The kernel's own s390 KVM selftests, unmodified, against the s390x shim under qemu-user.
#
# usage: scripts/selftests/run.sh <path to the s390x libkvm_s390_shim.so>
#
# Fetches Debian's newest linux-source-* package with apt-get, builds
# tools/testing/selftests/kvm for ARCH=s390 CROSS_COMPILE=s390x-linux-gnu-, runs every s390 KVM
# selftest under qemu-s390x-static with the shim preloaded and a per-test timeout, and prints a
# kselftest-style table. Fails if a test listed in scripts/selftests/expected-pass does not pass.
#
# Timeouts: a test in expected-pass gets the seconds written after its name there, else
# KVM_S390_SHIM_SELFTEST_PASS_TIMEOUT (default 300 s: these finish, emulated, in well under that;
# the limit only catches a regression that hangs); every other test gets
# KVM_S390_SHIM_SELFTEST_TIMEOUT (default 30 s).
#
# The source, the build and the logs live in $KVM_S390_SHIM_CACHE/selftests (default
# ~/.cache/kvm-s390-shim/selftests) and are reused when present. No kernel code enters the
# repository.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SO=$(realpath "${1:?usage: $0 <s390x libkvm_s390_shim.so>}")
[ -f "$SO" ] || { echo "no such library: $SO" >&2; exit 1; }
CACHE=${KVM_S390_SHIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}/selftests
TIMEOUT=${KVM_S390_SHIM_SELFTEST_TIMEOUT:-30}
PASS_TIMEOUT=${KVM_S390_SHIM_SELFTEST_PASS_TIMEOUT:-300}
mkdir -p "$CACHE"
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

newest_source() {
    apt-cache search --names-only '^linux-source-[0-9.]+$' | awk '{print $1}' | sort -V | tail -1
}
PKG=$(newest_source)
if [ -z "$PKG" ]; then
    $SUDO apt-get update -qq
    PKG=$(newest_source)
fi
[ -n "$PKG" ] || { echo "no linux-source package in the apt sources" >&2; exit 1; }
VERSION=$(apt-cache policy "$PKG" | awk '/Candidate:/ {print $2}')
WORK=$CACHE/${PKG}_$VERSION
BUILD=$WORK/build
KVM_MAKEFILE=$WORK/src/tools/testing/selftests/kvm/Makefile

if [ ! -f "$WORK/built" ]; then
    echo "# building the s390 KVM selftests of $PKG $VERSION in $WORK"
    rm -rf "$WORK"
    mkdir -p "$WORK/src"
    (cd "$WORK" && apt-get download -q "$PKG=$VERSION" 2>&1 | grep -v "unsandboxed" || true)
    deb=$(ls "$WORK"/*.deb)
    # Only what the selftests and the uapi headers need: the tarball without the driver, sound
    # and documentation trees.
    dpkg-deb --fsys-tarfile "$deb" | tar -xO --wildcards './usr/src/linux-source-*.tar.*' |
        tar -xJ -C "$WORK/src" --strip-components=1 \
            --exclude='*/drivers' --exclude='*/sound' --exclude='*/Documentation'
    rm -f "$deb"
    make -s -C "$WORK/src" ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- headers
    make -s -C "$WORK/src/tools/testing/selftests/kvm" ARCH=s390 CROSS_COMPILE=s390x-linux-gnu- \
        OUTPUT="$BUILD" -j"$(nproc)"
    touch "$WORK/built"
fi

# The s390 test list, as the selftests' Makefile names it (TEST_GEN_PROGS_s390x).
mapfile -t TESTS < <(sed -n 's/^TEST_GEN_PROGS_s390x[[:space:]]*+\{0,1\}=[[:space:]]*//p' "$KVM_MAKEFILE")
[ ${#TESTS[@]} -gt 0 ] || { echo "no s390 tests found in $KVM_MAKEFILE" >&2; exit 1; }

# The tests that must pass, each with its own timeout if one follows the name.
declare -A MUST_LIMIT
while read -r name secs _; do
    [ -n "$name" ] && MUST_LIMIT[$name]=${secs:-$PASS_TIMEOUT}
done < <(sed -e 's/#.*//' "$HERE/expected-pass")
MUST=("${!MUST_LIMIT[@]}")
must_pass() {
    [ -n "${MUST_LIMIT[$1]:-}" ]
}

LOGS=$CACHE/logs
rm -rf "$LOGS"
mkdir -p "$LOGS"
export QEMU_LD_PREFIX=/usr/s390x-linux-gnu
declare -A RESULT
echo "TAP version 13"
echo "# $PKG $VERSION under qemu-s390x-static with the s390x shim preloaded"
echo "# timeout ${PASS_TIMEOUT}s for the tests in expected-pass (unless it names one), ${TIMEOUT}s for the others"
echo "1..${#TESTS[@]}"
n=0
for t in "${TESTS[@]}"; do
    n=$((n + 1))
    log=$LOGS/${t//\//_}.log
    limit=$TIMEOUT
    must_pass "$t" && limit=${MUST_LIMIT[$t]}
    t0=$SECONDS
    rc=0
    (cd "$BUILD" && timeout -k 5 "$limit" env LD_PRELOAD="$SO" qemu-s390x-static "./$t") \
        >"$log" 2>&1 </dev/null || rc=$?
    echo "# selftests: kvm: $t: exit $rc after $((SECONDS - t0))s"
    case $rc in
    0) RESULT[$t]=pass; echo "ok $n selftests: kvm: $t" ;;
    4) RESULT[$t]=skip
        why=$(grep -m1 -o 'SKIP.*' "$log" | sed 's/^SKIP[ -]*//' || true)
        echo "ok $n selftests: kvm: $t # SKIP $why" ;;
    124 | 137) RESULT[$t]=timeout; echo "not ok $n selftests: kvm: $t # TIMEOUT ${limit} seconds" ;;
    *) RESULT[$t]=fail
        why=$(grep -E 'errno ?[:=] ' "$log" | grep -v 'pid=' | head -1 | tr -s ' \t' ' ' | cut -c1-90 || true)
        echo "not ok $n selftests: kvm: $t # exit=$rc $why" ;;
    esac
done
count() { local k c=0; for k in "${!RESULT[@]}"; do [ "${RESULT[$k]}" = "$1" ] && c=$((c + 1)); done; echo $c; }
echo "# PASS: $(count pass)  SKIP: $(count skip)  TIMEOUT: $(count timeout)  FAIL: $(count fail)"

bad=0
for t in "${MUST[@]}"; do
    if [ "${RESULT[$t]:-missing}" != pass ]; then
        echo "expected to pass, but $t: ${RESULT[$t]:-not in the test list}" >&2
        [ -f "$LOGS/${t//\//_}.log" ] && tail -20 "$LOGS/${t//\//_}.log" >&2
        bad=1
    fi
done
exit $bad
