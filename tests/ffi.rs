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
c_test!(test_memop, 10);
c_test!(test_skeys, 3);
c_test!(test_concurrency, 1);
c_test!(test_attrs, 7);
c_test!(test_cmma, 5);
c_test!(test_vcpu, 9);
c_test!(test_vcpu_memop, 6);
c_test!(test_dat, 1);
c_test!(test_guest, 11);
c_test!(test_wait, 10);
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

profile_test!(test_cpu_model_z14, "z14", 4);
profile_test!(test_cpu_model_z15, "z15", 4);
profile_test!(test_cpu_model_z16, "z16", 4);

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
