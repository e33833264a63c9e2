#!/usr/bin/env bash
# Builds the libFuzzer target fuzz/fuzz_api.c against a coverage-instrumented build of the shim
# and runs it for SECONDS (default 60). Exits non-zero if it finds a crash, a hang, a leak, a
# panic inside the shim (seen as EIO) or a sanitizer report; the reproducer is then in
# $FUZZ_OUT/artifacts (printed at the end).
#
#   fuzz/run.sh [SECONDS]
#
# Environment: CARGO_TARGET_DIR (default ./target; the fuzz build goes to its fuzz/ subdirectory),
# FUZZ_OUT (default $CARGO_TARGET_DIR/fuzz/out: the growing corpus and the artifacts),
# FUZZ_JOBS (default 1: parallel fuzzing processes), CC (default clang), FUZZ_ARGS (more
# libFuzzer flags). Needs clang with libFuzzer (Debian: apt-get install clang llvm libclang-rt-dev).
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}/fuzz
out=${FUZZ_OUT:-$target_dir/out}
cc=${CC:-clang}
if ! command -v "$cc" >/dev/null; then
	echo "$0: $cc not found (Debian: apt-get install clang llvm libclang-rt-dev)" >&2
	exit 2
fi
host=$(rustc -vV | sed -n 's/^host: //p')

# The shim with SanitizerCoverage (the flags cargo-fuzz uses), so libFuzzer sees its branches
# and comparisons, plus debug assertions and overflow checks. --target keeps RUSTFLAGS off the
# build script.
echo "fuzz/run.sh: building the instrumented shim in $target_dir" >&2
RUSTFLAGS="-Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions=on -Coverflow-checks=on" \
	cargo build --manifest-path "$root/Cargo.toml" --release --lib --target "$host" \
	--target-dir "$target_dir" --quiet
lib=$target_dir/$host/release

exe=$target_dir/fuzz_api
"$cc" -std=gnu11 -g -O1 -Wall -Wextra -Werror \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-I "$root/include" "$root/fuzz/fuzz_api.c" -o "$exe" \
	-rdynamic -L "$lib" -lkvm_s390_shim -Wl,--disable-new-dtags -Wl,-rpath,"$lib"

# The seed corpus: a few programs written out here (see fuzz/README.md for the encoding).
seeds=$target_dir/seeds
rm -rf "$seeds"
mkdir -p "$seeds" "$out/corpus" "$out/artifacts"
seed() { printf "$2" >"$seeds/$1"; }
# open; CREATE_VM; CREATE_VCPU 0; 1 MiB slot 0 at 0 over MiB 0; guest function that writes,
# reads, does CS, SSKE, ISKE, ESSA, translate; KVM_RUN.
seed basic_guest '\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x03\x00\x00\x00\x00\x01\x00\x08\x00\x00\x0b\x00\x01\x20\x01\x00\x10\x00\x04\x08\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10\x00\x02\x00\x03\x00\x00\x02\x00\x00\x04\x00\x00\x06\x00\x00\x01\x07\x00\x00\x00\x00\x00\x0c\x00\x00\x00'
# open; CREATE_VM; slot over the memfd (MiB 2, SIGBUS half); VM memop of a page.
seed memfd_slot '\x00\x00\x01\x00\x00\x00\x03\x00\x00\x00\x00\x01\x02\x08\x00\x00\x05\x00\x14\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01\x04\x01\x00\x03\x00\x08\x02\x08\x00\x00\x00\x00\x08\x00\x00'
# open; CREATE_VM; CREATE_VCPU; dup, dup2 onto 200, close the original, KVM_RUN (immediate exit).
seed dups '\x00\x00\x01\x00\x00\x00\x02\x00\x00\x00\x09\x02\x00\x09\x02\x02\x00\x05\x0a\x00\x02\x0c\x00\x00\x00\x0a\x01\x00'
# Every request once on a fresh VM and vCPU with NULL, wild and straddling pointers.
all=''
for i in $(seq 0 51); do
	h=$(printf '\\x%02x' "$i")
	all="$all\\x05\\x01$h\\x00\\x04\\x05\\x00\\x02$h\\x01\\x00\\x00\\x07\\x03$h\\x00\\x01\\x00"
done
seed all_requests "\\x00\\x00\\x01\\x00\\x00\\x00\\x02\\x00\\x00\\x00$all"

# libFuzzer exits non-zero on the first crash, leak, timeout or out-of-memory.
jobs=()
if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
	jobs=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
set +e
# shellcheck disable=SC2086
ASAN_OPTIONS=${ASAN_OPTIONS:-allow_user_segv_handler=1:handle_segv=1:handle_sigbus=1} \
	"$exe" -max_total_time="$secs" -timeout=20 -rss_limit_mb=6144 -max_len=4096 \
	"${jobs[@]}" -print_final_stats=1 \
	-artifact_prefix="$out/artifacts/" ${FUZZ_ARGS:-} "$out/corpus" "$seeds"
rc=$?
set -e
if [ $rc -ne 0 ]; then
	echo "fuzz/run.sh: libFuzzer found a defect (exit $rc); reproducers in $out/artifacts:" >&2
	ls -l "$out/artifacts" >&2
	echo "reproduce one with: $exe <file>" >&2
fi
exit $rc
