#!/bin/sh
# Builds the shim and the demo VMM, then runs the demo under LD_PRELOAD.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p target/examples
cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -Iinclude examples/demo_vmm.c -o target/examples/demo_vmm
# cargo's output directory: CARGO_TARGET_DIR when set (relative to here), else target/.
lib=$(realpath "${CARGO_TARGET_DIR:-target}")/release/libkvm_s390_shim.so
exec env LD_PRELOAD="$lib" target/examples/demo_vmm
