#!/usr/bin/env bash
# ThreadSanitizer run of the threaded C tests: the shim built with -Zsanitizer=thread (through
# RUSTC_BOOTSTRAP=1 on the stable toolchain), each C test compiled with clang -fsanitize=thread
# in linked mode and linked against rustc's own TSAN runtime (the one that matches the Rust
# instrumentation). Exits non-zero if a test fails or TSAN reports anything not suppressed.
#
#   scripts/tsan.sh [TEST...]     (default: every ffi-tests/*.c that starts threads or irqfds)
#
# Environment: CARGO_TARGET_DIR (default ./target; the build goes to its tsan/ subdirectory),
# CC (default clang). Needs clang (Debian: apt-get install clang llvm libclang-rt-dev).
#
# The standard library is only instrumented when its source is installed (rustup component
# rust-src, then -Zbuild-std is used). Without it, std's lock slow paths (a contended Mutex or
# RwLock) are invisible to TSAN and a write under a contended std lock shows as a race: those
# are listed, each with the lock that orders it, in scripts/tsan.supp.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}/tsan
cc=${CC:-clang}
if ! command -v "$cc" >/dev/null; then
	echo "$0: $cc not found (Debian: apt-get install clang llvm libclang-rt-dev)" >&2
	exit 2
fi
host=$(rustc -vV | sed -n 's/^host: //p')
sysroot=$(rustc --print sysroot)

flags="-Zsanitizer=thread -Cunsafe-allow-abi-mismatch=sanitizer"
build_std=()
supp=$root/scripts/tsan.supp
if [ -d "$sysroot/lib/rustlib/src/rust/library" ]; then
	build_std=(-Zbuild-std)
	flags="-Zsanitizer=thread"
fi
echo "scripts/tsan.sh: building the shim with $flags ${build_std[*]:-} in $target_dir" >&2
RUSTC_BOOTSTRAP=1 RUSTFLAGS="$flags" cargo build --manifest-path "$root/Cargo.toml" --release \
	--lib --target "$host" --target-dir "$target_dir" "${build_std[@]}" --quiet
lib=$target_dir/$host/release
rt=$sysroot/lib/rustlib/$host/lib/librustc-stable_rt.tsan.a
[ -f "$rt" ] || rt=$(ls "$sysroot"/lib/rustlib/"$host"/lib/librustc-*_rt.tsan.a | head -1)

if [ $# -gt 0 ]; then
	tests=("$@")
else
	# The tests that start threads, and those whose VMs get the shim's irqfd thread.
	mapfile -t tests < <(grep -l -e pthread_create -e KVM_IRQFD "$root"/ffi-tests/*.c |
		xargs -n1 basename | sed 's/\.c$//')
fi

# Cases that cannot pass under TSAN, whatever the shim does: TSAN's vfork interceptor forks, so
# a vfork child's stores do not reach the parent.
tsan_cannot=" test_fd_lifetime:test_vfork_child_uses_vm "

out=$target_dir/tests
mkdir -p "$out"
"$cc" -O1 -g -c "$root/scripts/tsan_preinit.c" -o "$out/tsan_preinit.o"
failed=0
for t in "${tests[@]}"; do
	# -Werror is left to the regular build (gcc); clang warns differently on some tests.
	"$cc" -std=gnu11 -g -O1 -Wall -Wextra -pthread -fsanitize=thread -DSHIM_LINKED \
		-I "$root/include" -c "$root/ffi-tests/$t.c" -o "$out/$t.o"
	# The TSAN runtime from rustc's sysroot, exported so that the shim's instrumentation binds
	# to it; tsan_preinit starts the symbolizer before main (see there).
	"$cc" -o "$out/$t" "$out/$t.o" "$out/tsan_preinit.o" -rdynamic -Wl,--whole-archive "$rt" -Wl,--no-whole-archive \
		-lpthread -ldl -lm -lrt -L "$lib" -lkvm_s390_shim -Wl,--disable-new-dtags -Wl,-rpath,"$lib"
	log=$out/$t.log
	set +e
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1 suppressions=$supp ${TSAN_OPTIONS:-}" \
		"$out/$t" >"$log" 2>&1
	rc=$?
	set -e
	reports=$(grep -c "^WARNING: ThreadSanitizer" "$log" || true)
	echo "$t: exit $rc, $reports TSAN report(s), $(tail -1 "$log")"
	unexpected=0
	while read -r _ _ _ name _; do
		case "$tsan_cannot" in
		*" $t:$name "*) echo "  $name: expected to fail under TSAN" ;;
		*) unexpected=1 ;;
		esac
	done < <(grep "^not ok " "$log")
	if { [ $rc -ne 0 ] && [ $unexpected -ne 0 ]; } || [ "$reports" -ne 0 ] ||
		{ [ $rc -ne 0 ] && [ $rc -ne 1 ]; }; then
		failed=1
		grep -A40 "^WARNING: ThreadSanitizer" "$log" | head -200 || true
		echo "full log: $log"
	fi
done
exit $failed
