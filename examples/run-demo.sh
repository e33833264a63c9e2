#!/bin/sh
# Builds the shim and the demo VMM, then runs the demo under LD_PRELOAD.
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p target/examples
cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -Iinclude examples/demo_vmm.c -o target/examples/demo_vmm
exec env LD_PRELOAD="$PWD/target/release/libkvm_s390_shim.so" target/examples/demo_vmm
