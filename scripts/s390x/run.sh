#!/usr/bin/env bash
# The s390x stage: the shim on a big-endian s390x host, emulated by qemu-user.
#
# Installs what it needs from Debian (bookworm: rustc-web/cargo-web/rust-web-src from the
# security suite, the s390x cross gcc and libc, qemu-user-static), cross-builds the library, the
# C tests and the demo for s390x-unknown-linux-gnu with Debian's Rust and -Zbuild-std, runs the
# Rust unit tests and the C tests (preload and linked mode, UBSan; ASan cannot run under
# qemu-user) under qemu-s390x-static, then the kernel's own s390 KVM selftests
# (scripts/selftests/run.sh).
#
# Build output and downloads live outside the repository, in $KVM_S390_SHIM_CACHE (default
# ~/.cache/kvm-s390-shim), and are reused when present.
set -euo pipefail
cd "$(dirname "$0")/../.."

CACHE=${KVM_S390_SHIM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kvm-s390-shim}
mkdir -p "$CACHE"
export KVM_S390_SHIM_CACHE=$CACHE

# --- Debian packages (apt-get update at most once, nothing when all are present) ---
PKGS=(gcc-s390x-linux-gnu libc6-dev-s390x-cross linux-libc-dev-s390x-cross qemu-user-static
    rustc-web cargo-web rust-web-src xz-utils make)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "== apt-get install ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# --- Debian's Rust (rustup's cargo and rustc may come first in PATH) ---
export RUSTC=/usr/bin/rustc
CARGO=/usr/bin/cargo
export RUSTC_BOOTSTRAP=1 # for -Zbuild-std: Debian ships no prebuilt s390x std
export CARGO_TARGET_DIR=$CACHE/target-s390x
export CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_LINKER=s390x-linux-gnu-gcc
export CARGO_TARGET_S390X_UNKNOWN_LINUX_GNU_RUNNER=qemu-s390x-static
export CARGO_TERM_COLOR=never
TARGET=s390x-unknown-linux-gnu
# The release profile: the code under test is the one users run, and optimised code is several
# times faster under emulation (the C tests drive millions of ioctls).
CARGO_ARGS=(-Zbuild-std=std,panic_unwind --target "$TARGET" --release)

# --- qemu-user and the test knobs (tests/ffi.rs, ffi-tests/test.h) ---
export QEMU_LD_PREFIX=/usr/s390x-linux-gnu # the s390x dynamic loader and libc
export KVM_S390_SHIM_QEMU_USER=1           # enables the marked qemu-user allowances only
export KVM_S390_SHIM_TEST_CROSS=s390x-linux-gnu-
export KVM_S390_SHIM_TEST_RUNNER=qemu-s390x-static
export KVM_S390_SHIM_TEST_SANITIZE=undefined

start=$SECONDS
echo "== s390x: cross-build (cache $CARGO_TARGET_DIR)"
"$CARGO" build --quiet "${CARGO_ARGS[@]}"
# The build script regenerated the header from the same sources: it must not have changed.
git diff --exit-code -- include/ >/dev/null || {
    echo "include/kvm_s390_shim.h differs when generated for s390x" >&2
    exit 1
}
echo "== s390x: built in $((SECONDS - start)) s"
t=$SECONDS
echo "== s390x: Rust unit tests, C tests (preload and linked), layout proof, demo under qemu-s390x"
"$CARGO" test --quiet "${CARGO_ARGS[@]}"
echo "== s390x: tests done in $((SECONDS - t)) s"
t=$SECONDS
echo "== s390x: kernel selftests"
scripts/selftests/run.sh "$CARGO_TARGET_DIR/$TARGET/release/libkvm_s390_shim.so"
echo "== s390x: selftests done in $((SECONDS - t)) s"
echo "== s390x stage done in $((SECONDS - start)) s (after package installation)"
