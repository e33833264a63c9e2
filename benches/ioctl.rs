//! `cargo bench`: builds `benches/ioctl_bench.c` and runs it with `LD_PRELOAD` of the
//! optimised shim, once per caller-memory access method. Prints ns/op and ratios.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("target/release/deps").to_path_buf();
    let lib = deps.join("libkvm_s390_shim.so");
    assert!(lib.exists(), "{} missing", lib.display());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = deps.join("ioctl_bench");
    let mut cc = Command::new("cc");
    cc.args(["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror"]);
    // The native 16-byte CAS the cmpxchg memop is compared with is `cmpxchg16b`, which gcc
    // inlines only with -mcx16 (without it the benchmark fell back to an 8-byte CAS).
    if cfg!(target_arch = "x86_64") {
        cc.arg("-mcx16");
    }
    let status = cc
        .arg("-I")
        .arg(root.join("include"))
        .arg(root.join("benches/ioctl_bench.c"))
        .arg("-o")
        .arg(&out)
        .status()
        .expect("cc");
    assert!(status.success());
    // `cargo bench -- --quick` (or any argument) runs fewer iterations.
    let iters = if std::env::args().any(|a| a == "--quick") {
        "20000"
    } else {
        "300000"
    };
    for mode in [None, Some("syscall")] {
        let mut cmd = Command::new(&out);
        cmd.arg(iters)
            .env("LD_PRELOAD", &lib)
            .env_remove("LD_LIBRARY_PATH");
        if let Some(m) = mode {
            cmd.env("KVM_S390_SHIM_UACCESS", m);
        }
        let status = cmd.status().expect("run ioctl_bench");
        assert!(status.success());
        println!();
    }
}
