//! `cargo bench --bench cpu`: guest instructions per second of the same compute loop
//! (`benches/cpu/work.c`: an Adler-32 checksum over 1 MiB and a heapsort of 16 Ki words,
//! gcc -O2 -march=z10) on the shim's CPU (`Cpu::step_cached` over `VecStorage`), as guest
//! code through the shim's `KVM_RUN` (`benches/cpu/kvm_run.c` with the optimised library
//! preloaded: the vCPU's storage path with prefixing, keys and its instruction TLB), and as
//! an s390x user program under qemu-s390x (QEMU's JIT), and the ratios to QEMU.
//!
//! Needs `s390x-linux-gnu-gcc` (with its `ld` and `objcopy`) and `qemu-s390x(-static)`;
//! without them it prints why and exits. The instruction count is the shim's (the code is
//! the same bytes in both runs); QEMU's time is that of the call alone, measured inside the
//! guest program (its translation of the loop included, its start-up not).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use kvm_s390_shim::cpu::icache::InsnCache;
use kvm_s390_shim::cpu::{Cpu, Facilities, VecStorage};

const TEXT: u64 = 0x10000;
const RET: u64 = 0x8000;
const BUF: u64 = 0x10_0000;
const LEN: u64 = 1 << 20;
const ARR: u64 = 0x20_0000;
const N: u64 = 16 * 1024;
const STACK: u64 = 0x3f_0000;

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

fn run(cmd: &mut Command) {
    let st = cmd.status().expect("spawn");
    assert!(st.success(), "{cmd:?} failed");
}

/// The inputs, generated exactly as driver.c does.
fn inputs() -> (Vec<u8>, Vec<u32>) {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut step = || {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        x
    };
    let buf = (0..LEN).map(|_| (step() >> 56) as u8).collect();
    let arr = (0..N).map(|_| (step() >> 32) as u32).collect();
    (buf, arr)
}

fn shim(text: &[u8], entry: u64, div: u64) -> (u64, f64, u64) {
    let (buf, arr) = inputs();
    let (len, n) = (LEN / div, N / div);
    let mut mem = VecStorage::new(0x40_0000);
    mem.store(TEXT, text).unwrap();
    mem.store(BUF, &buf).unwrap();
    let words: Vec<u8> = arr.iter().flat_map(|w| w.to_be_bytes()).collect();
    mem.store(ARR, &words).unwrap();
    let mut cpu = Cpu::new(Facilities::z10());
    cpu.gr[2] = BUF;
    cpu.gr[3] = len;
    cpu.gr[4] = ARR;
    cpu.gr[5] = n;
    cpu.gr[14] = RET;
    cpu.gr[15] = STACK - 160;
    cpu.psw_addr = entry;
    let mut cache = InsnCache::new();
    let mut count = 0u64;
    let t0 = Instant::now();
    while cpu.psw_addr != RET {
        if let Err(p) = cpu.step_cached(&mut mem, &mut cache) {
            panic!("program interruption {p:?} at {:#x}", cpu.psw_addr);
        }
        count += 1;
    }
    (count, t0.elapsed().as_secs_f64(), cpu.gr[2])
}

fn qemu(qemu: &Path, exe: &Path) -> (f64, u64) {
    let out = Command::new(qemu).arg(exe).output().expect("qemu");
    assert!(out.status.success(), "qemu run failed");
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    let ns: f64 = it.next().and_then(|v| v.parse().ok()).expect("ns");
    let r: u64 = it.next().and_then(|v| v.parse().ok()).expect("result");
    (ns / 1e9, r)
}

fn kvm_run(exe: &Path, lib: &Path, bin: &Path, entry: u64) -> (f64, u64) {
    let out = Command::new(exe)
        .arg(bin)
        .arg(format!("{entry:#x}"))
        .env("LD_PRELOAD", lib)
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("kvm_run");
    assert!(
        out.status.success(),
        "kvm_run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    let ns: f64 = it.next().and_then(|v| v.parse().ok()).expect("ns");
    let r: u64 = it.next().and_then(|v| v.parse().ok()).expect("result");
    (ns / 1e9, r)
}

fn main() {
    let (Some(gcc), Some(q)) = (
        which("s390x-linux-gnu-gcc"),
        which("qemu-s390x-static").or_else(|| which("qemu-s390x")),
    ) else {
        eprintln!("SKIPPED: the cpu bench needs s390x-linux-gnu-gcc and qemu-s390x(-static)");
        return;
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cpu");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cpu-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let obj = dir.join("work.o");
    run(Command::new(&gcc)
        .args(["-O2", "-march=z10", "-ffreestanding", "-fno-builtin"])
        .args([
            "-fno-asynchronous-unwind-tables",
            "-fno-stack-protector",
            "-c",
        ])
        .arg(root.join("work.c"))
        .arg("-o")
        .arg(&obj));
    let elf = dir.join("work.elf");
    run(Command::new("s390x-linux-gnu-ld")
        .args(["-Ttext=0x10000", "-e", "work", "-o"])
        .arg(&elf)
        .arg(&obj));
    let bin = dir.join("work.bin");
    run(Command::new("s390x-linux-gnu-objcopy")
        .args(["-O", "binary", "-j", ".text"])
        .arg(&elf)
        .arg(&bin));
    let exe = dir.join("driver");
    run(Command::new(&gcc)
        .args(["-O2", "-march=z10", "-static", "-o"])
        .arg(&exe)
        .arg(root.join("driver.c"))
        .arg(&obj));
    let text = std::fs::read(&bin).unwrap();
    let nm = Command::new("s390x-linux-gnu-nm")
        .arg(&elf)
        .output()
        .expect("nm");
    let entry = String::from_utf8_lossy(&nm.stdout)
        .lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            let (a, _, name) = (f.next()?, f.next()?, f.next()?);
            (name == "work").then(|| u64::from_str_radix(a, 16).ok())?
        })
        .expect("work in the nm listing");

    // `--shim-only=D`: one run of the shim's loop alone on inputs D times smaller (for
    // instruction counting under callgrind: `--toggle-collect='*cpu::shim*'`).
    if let Some(d) = std::env::args().find_map(|a| a.strip_prefix("--shim-only=").map(String::from))
    {
        let div: u64 = d.parse().expect("--shim-only=<divisor>");
        let (n, t, r) = shim(&text, entry, div);
        println!("cpu: shim-only {n} guest instructions in {t:.3} s, result {r:#x}");
        return;
    }
    let reps = if std::env::args().any(|a| a == "--quick") {
        1
    } else {
        3
    };
    // The KVM_RUN driver, against the optimised library next to this bench binary.
    let deps = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf));
    let lib = deps.map(|d| d.join("libkvm_s390_shim.so"));
    let kvm_exe = dir.join("kvm_run");
    let have_kvm = lib.as_ref().is_some_and(|l| l.exists())
        && Command::new("cc")
            .args(["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("include"))
            .arg(root.join("kvm_run.c"))
            .arg("-o")
            .arg(&kvm_exe)
            .status()
            .is_ok_and(|s| s.success());
    let mut best_shim = f64::MAX;
    let mut best_qemu = f64::MAX;
    let mut best_kvm = f64::MAX;
    let mut count = 0;
    for _ in 0..reps {
        let (n, t, r) = shim(&text, entry, 1);
        let (tq, rq) = qemu(&q, &exe);
        assert_eq!(r, rq, "the shim and qemu computed different results");
        if let (true, Some(lib)) = (have_kvm, lib.as_ref()) {
            let (tk, rk) = kvm_run(&kvm_exe, lib, &bin, entry);
            assert_eq!(rk, rq, "KVM_RUN and qemu computed different results");
            best_kvm = best_kvm.min(tk);
        }
        count = n;
        best_shim = best_shim.min(t);
        best_qemu = best_qemu.min(tq);
    }
    let mips = |t: f64| count as f64 / t / 1e6;
    println!("cpu: {count} guest instructions (checksum of 1 MiB + heapsort of 16 Ki words)");
    println!(
        "cpu: shim step_cached {:.3} s = {:.1} M insn/s; qemu-s390x {:.3} s = {:.1} M insn/s; ratio {:.3}",
        best_shim,
        mips(best_shim),
        best_qemu,
        mips(best_qemu),
        best_qemu / best_shim
    );
    if best_kvm < f64::MAX {
        println!(
            "cpu: shim KVM_RUN {:.3} s = {:.1} M insn/s; ratio to qemu-s390x {:.3}",
            best_kvm,
            mips(best_kvm),
            best_qemu / best_kvm
        );
    } else {
        println!("cpu: KVM_RUN not measured (no libkvm_s390_shim.so next to the bench or no cc)");
    }
}
