#!/bin/sh
# Builds the shim and the demo VMM, then runs the demo under the shim with the
# `kvm-s390-shim run` command. Options are passed on to `run`, e.g.
#   ./examples/run-demo.sh --trace          # the decoded KVM trace, interleaved with the output
#   ./examples/run-demo.sh --machine z14 --fail KVM_CREATE_VCPU:ENOMEM@1
set -eu
cd "$(dirname "$0")/.."
cargo build --release --quiet
mkdir -p target/examples
cc -std=gnu11 -O2 -Wall -Wextra -Werror -pthread -Iinclude examples/demo_vmm.c -o target/examples/demo_vmm
# cargo's output directory: CARGO_TARGET_DIR when set (relative to here), else target/.
exec "$(realpath "${CARGO_TARGET_DIR:-target}")/release/kvm-s390-shim" run "$@" -- target/examples/demo_vmm
