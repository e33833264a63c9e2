//! Builds the C tests in `ffi-tests/` and runs each in both modes:
//! * preload: plain libc calls, not linked against the shim, run with `LD_PRELOAD`;
//! * linked: `-DSHIM_LINKED`, calling `kvm_s390_shim_*`, linked against the shared library.
//!
//! C code is compiled with `-Wall -Wextra -Werror` and UBSan (plus ASan when linked).
//!
//! Cross testing (the s390x stage, `scripts/s390x/run.sh`) sets three variables:
//! * `KVM_S390_SHIM_TEST_CROSS`: a tool prefix such as `s390x-linux-gnu-`; C programs are then
//!   built with `<prefix>gcc` against its own sysroot, symbols read with `<prefix>nm`;
//! * `KVM_S390_SHIM_TEST_RUNNER`: a command that runs the built C programs, such as
//!   `qemu-s390x-static` (split at spaces);
//! * `KVM_S390_SHIM_TEST_SANITIZE`: the `-fsanitize=` list for both modes instead of the
//!   default (ASan does not run under qemu-user: its shadow memory does not fit).

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the `libkvm_s390_shim.so` built together with this test binary:
/// `target/<profile>/deps` (cargo does not copy the cdylib up to `target/<profile>` when it
/// builds only tests, so that copy may be stale).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().expect("target/<profile>/deps").to_path_buf();
    assert!(
        dir.join("libkvm_s390_shim.so").exists(),
        "no libkvm_s390_shim.so in {}",
        dir.display()
    );
    dir
}

/// The cross tool prefix, empty for a native build.
fn cross() -> String {
    std::env::var("KVM_S390_SHIM_TEST_CROSS").unwrap_or_default()
}

/// The command and install tests run host programs (the command, `cc`, `make`, pkg-config):
/// in a cross run (the s390x stage) they are skipped, as the host run covers them.
fn host_only() -> bool {
    let skip = !cross().is_empty();
    if skip {
        println!("SKIPPED in a cross run: a host-tooling test");
    }
    skip
}

/// The C compiler for the programs under test.
fn cc() -> Command {
    let cross = cross();
    Command::new(if cross.is_empty() {
        "cc".to_string()
    } else {
        format!("{cross}gcc")
    })
}

/// A command that runs the built program `exe` (through the cross runner, if any).
fn exec(exe: &Path) -> Command {
    let runner = std::env::var("KVM_S390_SHIM_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(first) => {
            let mut cmd = Command::new(first);
            cmd.args(words).arg(exe);
            cmd
        }
        None => Command::new(exe),
    }
}

/// The `-fsanitize=` argument for a test program.
fn sanitize(linked: bool) -> String {
    let list = std::env::var("KVM_S390_SHIM_TEST_SANITIZE").unwrap_or_else(|_| {
        if linked {
            "address,undefined"
        } else {
            "undefined"
        }
        .to_string()
    });
    format!("-fsanitize={list}")
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ffi-tests");
    std::fs::create_dir_all(&d).expect("create out dir");
    d
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{text}",
        out.status
    );
    text
}

/// Compiles `ffi-tests/<name>.c` for `mode` and returns the executable.
fn build(name: &str, linked: bool, extra: &[&str]) -> PathBuf {
    build_as(name, name, linked, extra)
}

/// Compiles `ffi-tests/<name>.c` into an executable called after `tag`.
fn build_as(name: &str, tag: &str, linked: bool, extra: &[&str]) -> PathBuf {
    let exe = out_dir().join(format!(
        "{tag}-{}",
        if linked { "linked" } else { "preload" }
    ));
    let mut cmd = cc();
    cmd.args([
        "-std=gnu11",
        "-O1",
        "-g",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pthread",
    ])
    .arg("-I")
    .arg(root().join("include"))
    .arg(root().join("ffi-tests").join(format!("{name}.c")))
    .args(extra)
    .arg("-o")
    .arg(&exe);
    if linked {
        let lib = lib_dir();
        cmd.args(["-DSHIM_LINKED", "-fno-sanitize-recover=all"])
            .arg(sanitize(true))
            .arg(format!("-L{}", lib.display()))
            // RPATH (not RUNPATH): it outranks LD_LIBRARY_PATH, which cargo sets for tests.
            .arg("-Wl,--disable-new-dtags")
            .arg(format!("-Wl,-rpath,{}", lib.display()))
            .arg("-lkvm_s390_shim");
    } else {
        cmd.args(["-fno-sanitize-recover=all"]).arg(sanitize(false));
    }
    run(&mut cmd);
    exe
}

/// Runs a built test and checks that it ran exactly `cases` cases and all passed: one
/// "ok K name" line per case, numbered 1..=cases, and the closing line
/// "`cases` passed, 0 failed" (so a test that stops early, skips cases or loses one cannot
/// pass by accident).
fn run_test(exe: &Path, preload: bool, cases: u32) {
    run_test_env(exe, preload, cases, &[]);
}

/// As [`run_test`], with extra environment variables.
fn run_test_env(exe: &Path, preload: bool, cases: u32, env: &[(&str, &str)]) {
    let mut cmd = exec(exe);
    cmd.envs(env.iter().copied());
    if preload {
        cmd.env("LD_PRELOAD", lib_dir().join("libkvm_s390_shim.so"));
    }
    cmd.env("ASAN_OPTIONS", "detect_leaks=0")
        .env_remove("LD_LIBRARY_PATH");
    let text = run(&mut cmd);
    print!("{text}");
    let oks: Vec<u32> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        oks,
        (1..=cases).collect::<Vec<_>>(),
        "{}: the passing cases, by number",
        exe.display()
    );
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains(" passed, "))
        .expect("a closing summary line");
    assert_eq!(
        last,
        format!("{cases} passed, 0 failed"),
        "{}: the closing line",
        exe.display()
    );
}

/// A C test in both modes, with its exact number of cases.
macro_rules! c_test {
    ($name:ident, $cases:literal) => {
        mod $name {
            #[test]
            fn preload() {
                super::run_test(&super::build(stringify!($name), false, &[]), true, $cases);
            }
            #[test]
            fn linked() {
                super::run_test(&super::build(stringify!($name), true, &[]), false, $cases);
            }
        }
    };
}

c_test!(test_system, 6);
c_test!(test_memslot, 4);
c_test!(test_slot_lifetime, 5);
c_test!(test_fds, 5);
c_test!(test_fd_lifetime, 11);
c_test!(test_efault, 2);
c_test!(test_threads, 1);
c_test!(test_memop, 11);
c_test!(test_skeys, 3);
c_test!(test_concurrency, 1);
c_test!(test_attrs, 7);
c_test!(test_cmma, 5);
c_test!(test_vcpu, 9);
c_test!(test_vcpu_memop, 6);
c_test!(test_vcpu_memop_direct, 5);
c_test!(test_dat, 2);
c_test!(test_guest, 11);
c_test!(test_wait, 12);
c_test!(test_stats, 5);
c_test!(test_cpu_run, 9);
c_test!(test_stsi, 11);
c_test!(test_sigp, 12);
c_test!(test_guestdbg, 6);
c_test!(test_mvcos, 1);
c_test!(test_random_guest, 1);
c_test!(test_ioeventfd, 4);
c_test!(selftest_cmma, 4);
c_test!(selftest_memop, 16);
c_test!(test_irq, 8);
c_test!(test_irqfd, 3);
c_test!(selftest_irq_routing, 4);

/// The caller-memory test, with each method and its exact number of cases. It interposes `sigaction` on the shim, so the
/// executable exports its symbols (`-rdynamic`).
macro_rules! uaccess_test {
    ($name:ident, $method:literal, $cases:literal) => {
        mod $name {
            const ENV: &[(&str, &str)] = &[("KVM_S390_SHIM_UACCESS", $method)];
            /// qemu-user allowance: qemu-user 7.2 has no `process_vm_readv`/`writev`, so the
            /// syscall method cannot work under it (scripts/s390x/run.sh sets the variable).
            fn skipped() -> bool {
                let skip =
                    $method == "syscall" && std::env::var_os("KVM_S390_SHIM_QEMU_USER").is_some();
                if skip {
                    println!("SKIPPED under qemu-user: no process_vm_readv");
                }
                skip
            }
            #[test]
            fn preload() {
                if skipped() {
                    return;
                }
                let exe = super::build_as("test_uaccess", stringify!($name), false, &["-rdynamic"]);
                super::run_test_env(&exe, true, $cases, ENV);
            }
            #[test]
            fn linked() {
                if skipped() {
                    return;
                }
                let exe = super::build_as("test_uaccess", stringify!($name), true, &["-rdynamic"]);
                super::run_test_env(&exe, false, $cases, ENV);
            }
        }
    };
}

uaccess_test!(test_uaccess, "fault", 7);
uaccess_test!(test_uaccess_syscall, "syscall", 7);

/// The CPU-model test once per machine profile, in both modes, with its exact number of cases.
macro_rules! profile_test {
    ($name:ident, $machine:literal, $cases:literal) => {
        mod $name {
            #[test]
            fn preload() {
                let exe = super::build_as("test_cpu_model", stringify!($name), false, &[]);
                super::run_test_env(&exe, true, $cases, &[("KVM_S390_SHIM_MACHINE", $machine)]);
            }
            #[test]
            fn linked() {
                let exe = super::build_as("test_cpu_model", stringify!($name), true, &[]);
                super::run_test_env(&exe, false, $cases, &[("KVM_S390_SHIM_MACHINE", $machine)]);
            }
        }
    };
}

profile_test!(test_cpu_model_z14, "z14", 5);
profile_test!(test_cpu_model_z15, "z15", 5);
profile_test!(test_cpu_model_z16, "z16", 5);

/// The bundled demo VMM builds with warnings as errors and runs cleanly under LD_PRELOAD.
#[test]
fn demo_vmm_runs_under_preload() {
    let exe = out_dir().join("demo_vmm");
    run(cc()
        .args(["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg(sanitize(false))
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("examples/demo_vmm.c"))
        .arg("-o")
        .arg(&exe));
    let text = run(exec(&exe)
        .env("LD_PRELOAD", lib_dir().join("libkvm_s390_shim.so"))
        .env_remove("LD_LIBRARY_PATH"));
    assert!(
        text.contains("KVM_GET_API_VERSION") && text.contains("-> 12"),
        "{text}"
    );
    assert!(text.contains("-> DIAG 0x501"), "{text}");
    assert!(text.contains("copy matches, counter 1"), "{text}");
    assert!(text.contains("all steps behaved as on s390 KVM"), "{text}");
}

/// The shared library exports exactly the C API and the interposers.
#[test]
fn exported_symbols() {
    let out = run(Command::new(format!("{}nm", cross()))
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("libkvm_s390_shim.so")));
    let mut got: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    got.sort_unstable();
    let mut want = vec![
        "__open64_2",
        "__open_2",
        "__openat64_2",
        "__openat_2",
        "close",
        "close_range",
        "dup",
        "dup2",
        "dup3",
        "fcntl",
        "fcntl64",
        "ftruncate",
        "ftruncate64",
        "ioctl",
        "kvm_s390_shim_close",
        "kvm_s390_shim_ioctl",
        "kvm_s390_shim_open",
        "kvm_s390_shim_set_machine",
        "kvm_s390_shim_set_kernel",
        "kvm_s390_shim_machine",
        "kvm_s390_shim_tod_freeze",
        "kvm_s390_shim_tod_advance",
        "kvm_s390_shim_tod_realtime",
        "kvm_s390_shim_set_guest",
        "kvm_s390_shim_guest_read",
        "kvm_s390_shim_guest_write",
        "kvm_s390_shim_guest_cs",
        "kvm_s390_shim_guest_sske",
        "kvm_s390_shim_guest_iske",
        "kvm_s390_shim_guest_rrbe",
        "kvm_s390_shim_guest_essa",
        "kvm_s390_shim_guest_translate",
        "kvm_s390_shim_guest_get_reg",
        "kvm_s390_shim_guest_set_reg",
        "kvm_s390_shim_guest_wait",
        "kvm_s390_shim_guest_diag500",
        "kvm_s390_shim_version",
        "open",
        "open64",
        "openat",
        "openat64",
        // Signal-mask changes (uaccess's per-thread cache).
        "sigprocmask",
        "pthread_sigmask",
        "longjmp",
        "_longjmp",
        "siglongjmp",
        "__longjmp_chk",
        "setcontext",
        "swapcontext",
    ];
    want.sort_unstable();
    assert_eq!(got, want);
}

/// The header defines only kernel uapi names: every `#define` is a constant of `src/uapi` or a
/// row of its ioctl table (internal constants must not leak into the C namespace).
#[test]
fn header_defines_only_uapi_names() {
    let header = std::fs::read_to_string(root().join("include/kvm_s390_shim.h")).unwrap();
    let mut uapi = String::new();
    for f in std::fs::read_dir(root().join("src/uapi")).unwrap() {
        uapi.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
    }
    for line in header.lines() {
        let Some(rest) = line.strip_prefix("#define ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name == "KVM_S390_SHIM_H"
            || name.starts_with("KVM_S390_SHIM_EXIT_")
            || name.starts_with("KVM_S390_SHIM_WAIT_")
            || name.starts_with("KVM_S390_SHIM_DIAG500_")
        {
            continue;
        }
        let known = uapi.contains(&format!("pub const {name}:"))
            || uapi.contains(&format!("    {name} = IO"));
        assert!(
            known,
            "{name} is in the header but is not a uapi constant or ioctl"
        );
    }
}

/// The header compiles on its own as C11 and as C++ with warnings as errors.
#[test]
fn header_is_standalone() {
    let src = out_dir().join("header_only.c");
    std::fs::write(
        &src,
        "#include \"kvm_s390_shim.h\"\nint main(void) { return 0; }\n",
    )
    .unwrap();
    for (lang, std) in [("c", "-std=c11"), ("c++", "-std=c++17")] {
        run(Command::new("cc")
            .args([
                "-x",
                lang,
                std,
                "-Wall",
                "-Wextra",
                "-Werror",
                "-fsyntax-only",
            ])
            .arg("-I")
            .arg(root().join("include"))
            .arg(&src));
    }
}

/// Object-like macro names defined by `#include`ing `header` with `flags`.
fn macro_names(header: &str, flags: &[String]) -> std::collections::BTreeSet<String> {
    let src = out_dir().join(format!(
        "macros-{}.c",
        header.replace(['/', '.', '"', '<', '>'], "_")
    ));
    std::fs::write(&src, format!("#include {header}\n")).unwrap();
    let out = run(cc().args(["-E", "-dM"]).args(flags).arg(&src));
    out.lines()
        .filter_map(|l| l.strip_prefix("#define "))
        .filter_map(|l| {
            let name: String = l
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Object-like only: the name is followed by a space or nothing, not '('.
            matches!(l[name.len()..].chars().next(), None | Some(' ')).then_some(name)
        })
        .collect()
}

/// Compiler flags that compile the real s390x uapi headers with the host compiler.
fn real_header_flags() -> Vec<String> {
    if !cross().is_empty() {
        // A cross compiler's own sysroot holds its target's uapi headers with its libc.
        return Vec::new();
    }
    let inc = Path::new("/usr/s390x-linux-gnu/include");
    assert!(
        inc.join("linux/kvm.h").exists(),
        "the s390x uapi headers are missing: apt-get install linux-libc-dev-s390x-cross"
    );
    // Only the kernel's directories: with libc6-dev-s390x-cross installed, the s390x glibc
    // headers sit beside them and would shadow the host's.
    let kernel_only = out_dir().join("s390x-uapi");
    std::fs::create_dir_all(&kernel_only).unwrap();
    for d in ["linux", "asm", "asm-generic"] {
        let link = kernel_only.join(d);
        if std::fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(inc.join(d), &link).unwrap();
        }
    }
    let gcc_inc = run(Command::new("cc").arg("-print-file-name=include"))
        .trim()
        .to_string();
    let multiarch = run(Command::new("cc").arg("-print-multiarch"))
        .trim()
        .to_string();
    vec![
        "-nostdinc".into(),
        "-isystem".into(),
        gcc_inc,
        "-isystem".into(),
        kernel_only.display().to_string(),
        "-isystem".into(),
        format!("/usr/include/{multiarch}"),
        "-isystem".into(),
        "/usr/include".into(),
    ]
}

/// Real macros whose expansion is not usable from userspace C, with the reason.
const LAYOUT_SKIP: &[(&str, &str)] = &[(
    "KVM_S390_NO_MEM_LIMIT",
    "expands to U64_MAX, which uapi does not define",
)];

/// Every struct, field, constant and ioctl number the shim's header shares with the real
/// s390x headers agrees with them; newer items agree with the specification.
#[test]
fn layout_matches_real_s390x_headers() {
    let real_flags = real_header_flags();
    let shim_flags = vec![
        "-I".to_string(),
        root().join("include").display().to_string(),
    ];
    let real = macro_names("<linux/kvm.h>", &real_flags);
    let shim = macro_names("\"kvm_s390_shim.h\"", &shim_flags);
    let common: Vec<&String> = real
        .intersection(&shim)
        .filter(|n| n.starts_with("KVM") && !LAYOUT_SKIP.iter().any(|(s, _)| s == n))
        .collect();
    // Everything the shim header defines under a kernel name must be in the comparison.
    let shim_only: Vec<&String> = shim
        .iter()
        .filter(|n| n.starts_with("KVM") && !real.contains(*n))
        .collect();
    println!(
        "{} constants compared; {} newer than the 6.1 headers: {shim_only:?}",
        common.len(),
        shim_only.len()
    );
    let new_items = std::fs::read_to_string(root().join("ffi-tests/layout_items_new.h")).unwrap();
    for n in &shim_only {
        assert!(
            n.starts_with("KVM_S390_SHIM_") || new_items.contains(&format!("NEW_CONST({n},")),
            "{n} is in the shim header but neither in the 6.1 headers nor in layout_items_new.h"
        );
    }
    assert!(
        common.len() > 400,
        "suspiciously few common constants: {}",
        common.len()
    );
    let consts: String = common
        .iter()
        .map(|n| format!(" LAYOUT_CONST({n})"))
        .collect();
    let out = out_dir();
    std::fs::write(
        out.join("layout_consts.h"),
        format!("#define LAYOUT_CONSTS{consts}\n"),
    )
    .unwrap();

    let ffi = root().join("ffi-tests");
    let common_flags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", "-c"];
    let obj = |name: &str, flags: &[String]| {
        let o = out.join(format!("{name}.o"));
        run(cc()
            .args(common_flags)
            .args(flags)
            .arg("-I")
            .arg(&out)
            .arg("-I")
            .arg(&ffi)
            .arg(ffi.join(format!("{name}.c")))
            .arg("-o")
            .arg(&o));
        o
    };
    let objs = [
        obj("layout_real", &real_flags),
        obj("layout_shim", &shim_flags),
        obj("layout", &[]),
    ];
    let exe = out.join("layout");
    run(cc().args(&objs).arg("-o").arg(&exe));
    let text = run(&mut exec(&exe));
    let last = text.lines().last().unwrap_or_default().to_string();
    println!("{last}");
    assert!(last.ends_with(" 0 failed"), "{text}");
    let passed: usize = last
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed > 900, "only {passed} items compared");
}

/// The fault-injection rules of `ffi-tests/test_fail.c`.
const FAIL_SPEC: &str = "KVM_CREATE_VCPU:ENOMEM@2,s390_mem_op:EFAULT@3,KVM_GET_API_VERSION:EPERM";

mod test_fail {
    #[test]
    fn preload() {
        let exe = super::build("test_fail", false, &[]);
        super::run_test_env(&exe, true, 3, &[("KVM_S390_SHIM_FAIL", super::FAIL_SPEC)]);
    }
    #[test]
    fn linked() {
        let exe = super::build("test_fail", true, &[]);
        super::run_test_env(&exe, false, 3, &[("KVM_S390_SHIM_FAIL", super::FAIL_SPEC)]);
    }
}

/// Every injected failure is logged (at warn, without `KVM_S390_SHIM_LOG`).
#[test]
fn injected_failures_are_logged() {
    let exe = build_as("test_fail", "test_fail_log", false, &[]);
    let log = out_dir().join("test_fail.log");
    let _ = std::fs::remove_file(&log);
    run_test_env(
        &exe,
        true,
        3,
        &[
            ("KVM_S390_SHIM_FAIL", FAIL_SPEC),
            ("KVM_S390_SHIM_LOG_FILE", log.to_str().expect("utf-8 path")),
        ],
    );
    let text = std::fs::read_to_string(&log).expect("log file");
    let injected: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("injected failure"))
        .collect();
    assert_eq!(injected.len(), 5, "{text}");
    assert!(
        injected[0].starts_with("kvm-s390-shim WARN  injected failure: KVM_CREATE_VCPU on vm fd ")
            && injected[0].ends_with(" fails with ENOMEM"),
        "{text}"
    );
}

/// Masks what differs between runs in a trace: thread ids, fd numbers (used and returned),
/// user addresses, times.
fn mask_trace(text: &str) -> String {
    let tid = regex::Regex::new(r"\[tid \d+\]").expect("regex");
    let fd = regex::Regex::new(r"\] (kvm|vm|vcpu|device) \d+ ").expect("regex");
    let addr = regex::Regex::new(r"\b(buf|userspace_addr|addr)=0x[0-9a-f]+").expect("regex");
    let time = regex::Regex::new(r"<\d+\.\d{6}>$").expect("regex");
    let new_fd = regex::Regex::new(r"(KVM_CREATE_(VM|VCPU)\b.*) = \d+ ").expect("regex");
    text.lines()
        .map(|l| {
            let l = tid.replace(l, "[tid T]");
            let l = fd.replace(&l, "] $1 N ");
            let l = addr.replace_all(&l, "$1=ADDR");
            let l = new_fd.replace(&l, "$1 = FD ");
            time.replace(&l, "<T>").into_owned() + "\n"
        })
        .collect()
}

/// `KVM_S390_SHIM_LOG=trace` writes one decoded line per KVM call (golden output, both modes).
#[test]
fn trace_golden() {
    let golden_path = root().join("tests/golden/trace_sequence.txt");
    for linked in [false, true] {
        let exe = build("trace_sequence", linked, &[]);
        let log = out_dir().join(format!("trace_sequence-{linked}.log"));
        let _ = std::fs::remove_file(&log);
        run_test_env(
            &exe,
            !linked,
            1,
            &[
                ("KVM_S390_SHIM_LOG", "trace"),
                ("KVM_S390_SHIM_LOG_FILE", log.to_str().expect("utf-8 path")),
            ],
        );
        let got = mask_trace(&std::fs::read_to_string(&log).expect("trace file"));
        if std::env::var_os("KVM_S390_SHIM_BLESS").is_some() {
            std::fs::write(&golden_path, &got).expect("write golden");
        }
        let want = std::fs::read_to_string(&golden_path).expect("golden file");
        assert_eq!(got, want, "trace differs from {}", golden_path.display());
    }
}

/// The `kvm-s390-shim` command, told where the freshly built library is.
fn shim_cmd() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kvm-s390-shim"));
    c.env("KVM_S390_SHIM_LIB", lib_dir().join("libkvm_s390_shim.so"))
        .env_remove("KVM_S390_SHIM_LOG")
        .env_remove("LD_PRELOAD")
        .env_remove("LD_LIBRARY_PATH");
    c
}

/// Builds the demo VMM (plain libc calls, not linked against the shim) as `name`.
fn build_demo(name: &str) -> PathBuf {
    let exe = out_dir().join(name);
    run(Command::new("cc")
        .args(["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(root().join("include"))
        .arg(root().join("examples/demo_vmm.c"))
        .arg("-o")
        .arg(&exe));
    exe
}

/// `kvm-s390-shim run -- demo` runs the demo under the shim; `--trace` adds the decoded trace
/// to its output, `--machine` reaches the shim.
#[test]
fn command_runs_the_demo() {
    if host_only() {
        return;
    }
    let demo = build_demo("demo_vmm_cli");
    let text = run(shim_cmd().arg("run").arg("--").arg(&demo));
    assert!(text.contains("all steps behaved as on s390 KVM"), "{text}");
    assert!(!text.contains("TRACE"), "{text}");

    let text = run(shim_cmd()
        .args(["run", "--trace", "--machine", "z14", "--"])
        .arg(&demo));
    assert!(text.contains("all steps behaved as on s390 KVM"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("kvm-s390-shim TRACE [tid ")
                && l.contains(" kvm ")
                && l.contains(" KVM_CREATE_VM 0 = ")),
        "{text}"
    );
    assert!(
        text.contains("KVM_S390_MEM_OP {op=KVM_S390_MEMOP_"),
        "{text}"
    );
    let env = run(shim_cmd()
        .args([
            "run",
            "--machine",
            "z14",
            "--tod",
            "frozen:1",
            "--kernel",
            "6.1",
        ])
        .args(["--trace=/dev/null", "--fail", "KVM_RUN@2", "--", "sh", "-c"])
        .arg("env | grep KVM_S390_SHIM_ | sort"));
    assert_eq!(
        env,
        "KVM_S390_SHIM_FAIL=KVM_RUN@2\nKVM_S390_SHIM_KERNEL=6.1\n\
         KVM_S390_SHIM_LIB="
            .to_string()
            + lib_dir()
                .join("libkvm_s390_shim.so")
                .to_str()
                .expect("utf-8")
            + "\nKVM_S390_SHIM_LOG=warn,kvm_s390_shim::trace=trace\n\
               KVM_S390_SHIM_LOG_FILE=/dev/null\nKVM_S390_SHIM_MACHINE=z14\n\
               KVM_S390_SHIM_TOD=frozen:1\n"
    );
}

/// `--fail` reaches the shim: the demo sees the injected error.
#[test]
fn command_injects_failures() {
    if host_only() {
        return;
    }
    let demo = build_demo("demo_vmm_cli_fail");
    let out = shim_cmd()
        .args(["run", "--fail", "KVM_CREATE_VM:EMFILE", "--"])
        .arg(&demo)
        .output()
        .expect("run");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{text}");
    assert!(
        text.contains("injected failure: KVM_CREATE_VM on kvm fd ") && text.contains("EMFILE"),
        "{text}"
    );
    let out = shim_cmd()
        .args(["run", "--fail", "KVM_NOPE", "--", "true"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "kvm-s390-shim: --fail: unknown request `KVM_NOPE`\n"
    );
}

/// An s390x program without the s390x build of the library gets a clear message.
#[test]
fn command_explains_missing_s390x_library() {
    if host_only() {
        return;
    }
    let fake = out_dir().join("fake-s390x-elf");
    let mut h = vec![0u8; 64];
    h[..4].copy_from_slice(b"\x7fELF");
    h[4] = 2; // 64-bit
    h[5] = 2; // big-endian
    h[18..20].copy_from_slice(&22u16.to_be_bytes()); // EM_S390
    std::fs::write(&fake, h).expect("write");
    let out = shim_cmd()
        .env("KVM_S390_SHIM_S390X_LIB", out_dir().join("no-such-lib.so"))
        .args(["run", "--"])
        .arg(&fake)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("kvm-s390-shim: this is an s390x program: it needs the s390x build"),
        "{err}"
    );
}

/// `kvm-s390-shim decode` turns numbers into the kernel's names.
#[test]
fn command_decodes() {
    if host_only() {
        return;
    }
    let decode = |args: &[&str]| run(shim_cmd().arg("decode").args(args));
    assert_eq!(
        decode(&["request", "0x4040aeb1"]),
        "0x4040aeb1 KVM_S390_MEM_OP\n  direction _IOW (write: the kernel reads the argument)\n  \
         size 64 bytes\n  type 0xae (KVMIO) nr 0xb1\n  _IOW(KVMIO, 0xb1, kvm_s390_mem_op)\n"
    );
    assert!(decode(&["request", "create_vcpu"]).starts_with("0x0000ae41 KVM_CREATE_VCPU\n"));
    assert_eq!(
        decode(&["attr", "1", "2"]),
        "group 1 KVM_S390_VM_TOD\nattr 2 KVM_S390_VM_TOD_EXT\n"
    );
    assert_eq!(
        decode(&["attr", "--flic", "6"]),
        "group 6 KVM_DEV_FLIC_ADAPTER_REGISTER\n"
    );
    assert_eq!(decode(&["cap", "108"]), "108 KVM_CAP_S390_MEM_OP\n");
    assert_eq!(decode(&["errno", "ENOMEM"]), "12 ENOMEM (Out of memory)\n");
    assert_eq!(
        decode(&["irq", "0xfffe0001"]),
        "0xfffe0001 KVM_S390_PROGRAM_INT\n"
    );
    let info = run(shim_cmd().arg("info"));
    assert!(info.starts_with("kvm-s390-shim 0.1.0\n"), "{info}");
    assert!(info.contains("\n  KVM_CAP_S390_MEM_OP "), "{info}");
}

/// The kernel-profile test once per `KVM_S390_SHIM_KERNEL` value (`None`: unset, 6.12), in
/// both modes.
macro_rules! kernel_test {
    ($name:ident, $kernel:expr) => {
        mod $name {
            fn env() -> Vec<(&'static str, &'static str)> {
                let k: Option<&'static str> = $kernel;
                k.map(|k| ("KVM_S390_SHIM_KERNEL", k)).into_iter().collect()
            }
            #[test]
            fn preload() {
                let exe = super::build_as("test_kernel_profile", stringify!($name), false, &[]);
                super::run_test_env(&exe, true, 6, &env());
            }
            #[test]
            fn linked() {
                let exe = super::build_as("test_kernel_profile", stringify!($name), true, &[]);
                super::run_test_env(&exe, false, 6, &env());
            }
        }
    };
}

kernel_test!(test_kernel_6_1, Some("6.1"));
kernel_test!(test_kernel_6_6, Some("6.6"));
kernel_test!(test_kernel_6_12, Some("6.12"));
kernel_test!(test_kernel_latest, Some("latest"));
kernel_test!(test_kernel_default, None);

/// The port of the upstream selftest `s390/keyop.c`, under the `latest` profile.
mod selftest_keyop {
    const ENV: &[(&str, &str)] = &[("KVM_S390_SHIM_KERNEL", "latest")];
    #[test]
    fn preload() {
        super::run_test_env(&super::build("selftest_keyop", false, &[]), true, 20, ENV);
    }
    #[test]
    fn linked() {
        super::run_test_env(&super::build("selftest_keyop", true, &[]), false, 20, ENV);
    }
}

/// `make install` into a temporary prefix (from the freshly built library), then the demo
/// built against it with `pkg-config`, shared and static, runs cleanly.
#[test]
fn install_and_build_with_pkg_config() {
    if host_only() {
        return;
    }
    let prefix = out_dir().join("prefix");
    let _ = std::fs::remove_dir_all(&prefix);
    run(Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(root())
        .arg("install")
        .arg("NO_BUILD=1")
        .arg(format!("BUILD_DIR={}", lib_dir().display()))
        .arg(format!("PREFIX={}", prefix.display())));
    let lib = prefix.join("lib");
    for f in [
        "libkvm_s390_shim.so.0.1.0",
        "libkvm_s390_shim.so.0",
        "libkvm_s390_shim.so",
        "libkvm_s390_shim.a",
        "pkgconfig/kvm-s390-shim.pc",
    ] {
        assert!(lib.join(f).exists(), "{f} not installed");
    }
    assert!(prefix.join("include/kvm_s390_shim.h").exists());
    let pkg = |args: &[&str]| -> Vec<String> {
        run(Command::new("pkg-config")
            .env("PKG_CONFIG_PATH", lib.join("pkgconfig"))
            .args(args)
            .arg("kvm-s390-shim"))
        .split_whitespace()
        .map(str::to_string)
        .collect()
    };
    assert_eq!(pkg(&["--modversion"]), ["0.1.0"]);
    let cflags_libs = pkg(&["--cflags", "--libs"]);
    assert_eq!(
        cflags_libs,
        [
            format!("-I{}", prefix.join("include").display()),
            format!("-L{}", lib.display()),
            "-lkvm_s390_shim".to_string()
        ]
    );
    let cc = |out: &Path, extra: &[String]| {
        run(Command::new("cc")
            .args(["-std=gnu11", "-O1", "-Wall", "-Wextra", "-Werror"])
            .arg(root().join("examples/demo_vmm.c"))
            .args(extra)
            .arg("-o")
            .arg(out));
    };
    let shared = out_dir().join("demo_vmm_pkgconfig");
    cc(&shared, &cflags_libs);
    let text = run(Command::new(&shared)
        .env("LD_LIBRARY_PATH", &lib)
        .env_remove("LD_PRELOAD"));
    assert!(text.contains("all steps behaved as on s390 KVM"), "{text}");
    // Static: the archive and its Libs.private; -rdynamic for the demo's dlsym lookups.
    let mut extra = pkg(&["--cflags"]);
    extra.push("-rdynamic".into());
    extra.push(lib.join("libkvm_s390_shim.a").display().to_string());
    extra.extend(
        pkg(&["--static", "--libs-only-l"])
            .into_iter()
            .filter(|l| l != "-lkvm_s390_shim"),
    );
    let stat = out_dir().join("demo_vmm_static");
    cc(&stat, &extra);
    let text = run(Command::new(&stat)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("LD_PRELOAD"));
    assert!(text.contains("all steps behaved as on s390 KVM"), "{text}");
}

/// An s390x program runs under qemu-s390x with the s390x library preloaded in the guest and
/// the shim's variables in its environment. (A stand-in s390x library: the real s390x build is
/// another CI stage.) Skipped when `s390x-linux-gnu-gcc` or `qemu-s390x(-static)` is missing.
#[test]
fn command_runs_s390x_programs_under_qemu() {
    if host_only() {
        return;
    }
    let have = |tool: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !have("s390x-linux-gnu-gcc") || !(have("qemu-s390x") || have("qemu-s390x-static")) {
        eprintln!("skipped: no s390x-linux-gnu-gcc or qemu-s390x");
        return;
    }
    let dir = out_dir();
    let src = dir.join("s390x_env.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <stdlib.h>\nint main(void) {\n\
         \tconst char *p = getenv(\"LD_PRELOAD\"), *m = getenv(\"KVM_S390_SHIM_MACHINE\");\n\
         \tprintf(\"LD_PRELOAD=%s MACHINE=%s\\n\", p ? p : \"-\", m ? m : \"-\");\n\
         \treturn 0;\n}\n",
    )
    .expect("write");
    let prog = dir.join("s390x_env");
    run(Command::new("s390x-linux-gnu-gcc")
        .arg(&src)
        .arg("-o")
        .arg(&prog));
    let stub_src = dir.join("s390x_stub.c");
    std::fs::write(&stub_src, "int kvm_s390_shim_stub;\n").expect("write");
    let stub = dir.join("libs390x_stub.so");
    run(Command::new("s390x-linux-gnu-gcc")
        .args(["-shared", "-fPIC"])
        .arg(&stub_src)
        .arg("-o")
        .arg(&stub));
    let text = run(shim_cmd()
        .env("KVM_S390_SHIM_S390X_LIB", &stub)
        .args(["run", "--machine", "z15", "--"])
        .arg(&prog));
    assert_eq!(text, format!("LD_PRELOAD={} MACHINE=z15\n", stub.display()));
}
