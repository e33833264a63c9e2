//! `cargo bench --bench bulk`: builds `benches/bulk_bench.c` and runs it with `LD_PRELOAD` of
//! the optimised shim: logical memops through DAT (and two vCPUs at once), `KVM_GET_DIRTY_LOG`
//! and the CMMA migration harvest, each as a ratio measured in the same run.
//! `cargo bench --bench bulk -- --quick` runs fewer iterations.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("target/release/deps").to_path_buf();
    let lib = deps.join("libkvm_s390_shim.so");
    assert!(lib.exists(), "{} missing", lib.display());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = deps.join("bulk_bench");
    let status = Command::new("cc")
        .args([
            "-std=gnu11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-pthread",
        ])
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join("benches/bulk_bench.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("cc");
    assert!(status.success());
    let iters = if std::env::args().any(|a| a == "--quick") {
        "5000"
    } else {
        "100000"
    };
    let status = Command::new(&out)
        .arg(iters)
        .env("LD_PRELOAD", &lib)
        .env_remove("LD_LIBRARY_PATH")
        .status()
        .expect("run bulk_bench");
    assert!(status.success());
}
