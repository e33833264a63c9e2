//! `kvm-s390-shim`: run a program under the shim, show what the shim models, decode numbers.
//!
//! ```text
//! kvm-s390-shim run [--machine z16] [--tod frozen:<hex>] [--trace[=FILE]] [--fail RULES]
//!                   [--kernel 6.12] [--lib PATH] -- PROGRAM [ARGS...]
//! kvm-s390-shim info
//! kvm-s390-shim decode request 0x4040aeb1 | attr [--flic] GROUP [ATTR] | cap N | errno N | irq TYPE
//! ```

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::{Parser, Subcommand};
use kvm_s390_shim::ioctl::names::{self, Names};
use kvm_s390_shim::uapi::{IOCTLS, IOC_READ, IOC_WRITE, KVMIO};

/// The library file name.
const LIB: &str = "libkvm_s390_shim.so";
/// ELF `e_machine` of s390/s390x.
const EM_S390: u16 = 22;

#[derive(Parser)]
#[command(
    name = "kvm-s390-shim",
    version,
    about = "KVM for s390x guests in userspace: run, inspect, decode"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run PROGRAM with the shim preloaded (s390x programs under qemu-s390x).
    Run(RunArgs),
    /// Version, host machine, capability table and kernel profile.
    Info,
    /// Turn a number into the kernel's names.
    Decode {
        #[command(subcommand)]
        what: Decode,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// The modelled host machine (KVM_S390_SHIM_MACHINE).
    #[arg(long, value_parser = ["z14", "z15", "z16"])]
    machine: Option<String>,
    /// The host TOD clock, e.g. `frozen:<hex tod>` (KVM_S390_SHIM_TOD).
    #[arg(long)]
    tod: Option<String>,
    /// Trace every KVM call to stderr (`--trace`, `--trace=-`), or to FILE (KVM_S390_SHIM_LOG=trace).
    #[arg(long, value_name = "FILE", num_args = 0..=1, require_equals = true, default_missing_value = "-")]
    trace: Option<PathBuf>,
    /// Fault-injection rules, REQUEST[:ERRNO][@NTH|%PERCENT[:SEED]],... (KVM_S390_SHIM_FAIL).
    #[arg(long, value_name = "RULES")]
    fail: Option<String>,
    /// The kernel version to behave like (KVM_S390_SHIM_KERNEL).
    #[arg(long, value_parser = ["6.1", "6.6", "6.12", "latest"])]
    kernel: Option<String>,
    /// The shim library to preload (default: found next to this program; KVM_S390_SHIM_LIB).
    #[arg(long, value_name = "PATH")]
    lib: Option<PathBuf>,
    /// The program and its arguments.
    #[arg(required = true, last = true)]
    program: Vec<OsString>,
}

#[derive(Subcommand)]
enum Decode {
    /// An ioctl request number (or name): name, direction, size, argument type number.
    Request { request: String },
    /// A device-attribute group and attribute (VM groups, or FLIC groups with --flic).
    Attr {
        #[arg(long)]
        flic: bool,
        group: String,
        attr: Option<String>,
    },
    /// A capability number (or name).
    Cap { cap: String },
    /// An errno number (or name).
    Errno { errno: String },
    /// An interrupt type (kvm_s390_irq.type).
    Irq { irq_type: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Run(a) => run(a),
        Cmd::Info => {
            info();
            Ok(())
        }
        Cmd::Decode { what } => decode(what),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("kvm-s390-shim: {msg}");
            ExitCode::from(2)
        }
    }
}

/// The directory holding this program.
fn exe_dir() -> Option<PathBuf> {
    std::env::current_exe()
        .ok()?
        .canonicalize()
        .ok()?
        .parent()
        .map(Path::to_path_buf)
}

/// The host build of the library: `--lib`, `KVM_S390_SHIM_LIB`, next to this program, in its
/// `deps/` (a cargo target directory), or in `../lib` (an installed prefix).
fn find_lib(explicit: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = explicit.or_else(|| std::env::var_os("KVM_S390_SHIM_LIB").map(PathBuf::from)) {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("no library at {}", p.display()))
        };
    }
    let dir = exe_dir().ok_or("cannot locate this program")?;
    let candidates = [
        dir.join(LIB),
        dir.join("deps").join(LIB),
        dir.join("../lib").join(LIB),
        dir.join("../lib64").join(LIB),
    ];
    candidates
        .iter()
        .find(|p| p.is_file())
        .cloned()
        .ok_or_else(|| {
            format!(
                "{LIB} not found next to this program, in its deps/ or in ../lib; \
                 pass --lib or set KVM_S390_SHIM_LIB"
            )
        })
}

/// The s390x build of the library: `KVM_S390_SHIM_S390X_LIB`, or `s390x/` next to this
/// program, or `../lib/s390x-linux-gnu/` (an installed prefix), or
/// `../s390x-unknown-linux-gnu/release/` (a cargo target directory, as the s390x CI stage
/// builds it).
fn find_s390x_lib() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KVM_S390_SHIM_S390X_LIB") {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let dir = exe_dir()?;
    [
        dir.join("s390x").join(LIB),
        dir.join("../lib/s390x-linux-gnu").join(LIB),
        dir.join("../s390x-unknown-linux-gnu/release").join(LIB),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// `PROGRAM` as `execvp` would find it.
fn resolve_program(p: &OsString) -> Option<PathBuf> {
    let path = PathBuf::from(p);
    if path.components().count() > 1 {
        return Some(path);
    }
    std::env::var_os("PATH").and_then(|dirs| {
        std::env::split_paths(&dirs)
            .map(|d| d.join(&path))
            .find(|c| c.is_file())
    })
}

/// The ELF machine of `path`, if it is an ELF file.
fn elf_machine(path: &Path) -> Option<u16> {
    use std::io::Read;
    let mut h = [0u8; 20];
    std::fs::File::open(path).ok()?.read_exact(&mut h).ok()?;
    if &h[..4] != b"\x7fELF" {
        return None;
    }
    let m = [h[18], h[19]];
    Some(if h[5] == 2 {
        u16::from_be_bytes(m)
    } else {
        u16::from_le_bytes(m)
    })
}

fn run(a: RunArgs) -> Result<(), String> {
    let program = &a.program[0];
    let mut cmd;
    let s390x = resolve_program(program).and_then(|p| elf_machine(&p)) == Some(EM_S390);
    if s390x && cfg!(not(target_arch = "s390x")) {
        let lib = find_s390x_lib().ok_or(
            "this is an s390x program: it needs the s390x build of the library, \
             at KVM_S390_SHIM_S390X_LIB, s390x/libkvm_s390_shim.so next to this program, or \
             <prefix>/lib/s390x-linux-gnu/libkvm_s390_shim.so (see README, \"The command\")",
        )?;
        let qemu = ["qemu-s390x", "qemu-s390x-static"]
            .into_iter()
            .find(|q| resolve_program(&OsString::from(q)).is_some())
            .ok_or("this is an s390x program: qemu-s390x (or qemu-s390x-static) is not in PATH")?;
        cmd = Command::new(qemu);
        if std::env::var_os("QEMU_LD_PREFIX").is_none()
            && Path::new("/usr/s390x-linux-gnu").is_dir()
        {
            cmd.arg("-L").arg("/usr/s390x-linux-gnu");
        }
        let mut e = OsString::from("LD_PRELOAD=");
        e.push(lib);
        cmd.arg("-E").arg(e);
        cmd.args(&a.program);
    } else {
        let lib = find_lib(a.lib)?;
        let mut preload = lib.into_os_string();
        if let Some(old) = std::env::var_os("LD_PRELOAD").filter(|o| !o.is_empty()) {
            preload.push(":");
            preload.push(old);
        }
        cmd = Command::new(program);
        cmd.args(&a.program[1..]).env("LD_PRELOAD", preload);
    }
    if let Some(m) = a.machine {
        cmd.env("KVM_S390_SHIM_MACHINE", m);
    }
    if let Some(t) = a.tod {
        cmd.env("KVM_S390_SHIM_TOD", t);
    }
    if let Some(k) = a.kernel {
        cmd.env("KVM_S390_SHIM_KERNEL", k);
    }
    if let Some(f) = a.fail {
        kvm_s390_shim::ioctl::hook::parse_fail_spec(&f).map_err(|e| format!("--fail: {e}"))?;
        cmd.env("KVM_S390_SHIM_FAIL", f);
    }
    if let Some(file) = a.trace {
        // Keep a level the user chose for the other messages; add the trace.
        let level = match std::env::var("KVM_S390_SHIM_LOG") {
            Ok(l) if !l.is_empty() => format!("{l},kvm_s390_shim::trace=trace"),
            _ => "warn,kvm_s390_shim::trace=trace".to_string(),
        };
        cmd.env("KVM_S390_SHIM_LOG", level);
        if file.as_os_str() != "-" {
            cmd.env("KVM_S390_SHIM_LOG_FILE", file);
        }
    }
    let err = cmd.exec();
    Err(format!(
        "cannot run {}: {err}",
        PathBuf::from(program).display()
    ))
}

fn info() {
    let host = kvm_s390_shim::host::host();
    let p = &host.profile;
    println!("kvm-s390-shim {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("host machine: {} ({})", p.name, p.description);
    println!(
        "  cpuid {:#018x}, ibc {:#x}, {} facilities",
        p.cpuid,
        p.ibc,
        p.facilities.len()
    );
    println!(
        "  ESOP {}, ESCA {}, CMMA {}, AP {}, AIV {}, huge pages {}, PV {}, ucontrol {}",
        yes(host.has_esop),
        yes(host.has_esca),
        yes(host.has_cmma),
        yes(host.has_ap),
        yes(host.has_aiv),
        yes(host.hpage),
        yes(host.prot_virt),
        yes(host.ucontrol)
    );
    println!(
        "  max vCPUs {}, online CPUs {}",
        host.max_vcpus(),
        host.online_cpus
    );
    println!(
        "kernel profile: {} (KVM_S390_SHIM_KERNEL: 6.1, 6.6, 6.12, latest)",
        kvm_s390_shim::host::kernel::kernel().name()
    );
    println!();
    println!("capabilities (KVM_CHECK_EXTENSION on /dev/kvm):");
    for c in kvm_s390_shim::caps::CAPS {
        let v = kvm_s390_shim::caps::answer(&host, None, u64::from(c.cap));
        println!("  {:<44} {v}", names::or_hex(names::CAPS, u64::from(c.cap)));
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// A number, or a name in `table`.
fn lookup(table: Names, s: &str, what: &str) -> Result<u64, String> {
    names::parse_number(s)
        .or_else(|| names::value_of(table, s))
        .ok_or_else(|| format!("unknown {what} `{s}`"))
}

fn decode(what: Decode) -> Result<(), String> {
    match what {
        Decode::Request { request } => {
            let r = names::request_by_name(&request)
                .ok_or_else(|| format!("unknown request `{request}`"))?;
            let dir = match r >> 30 {
                0 => "_IO (none)",
                d if d == IOC_WRITE => "_IOW (write: the kernel reads the argument)",
                d if d == IOC_READ => "_IOR (read: the kernel writes the argument)",
                _ => "_IOWR (read/write)",
            };
            let ty = (r >> 8) & 0xff;
            let name = names::request_name(r).unwrap_or("(not a request the shim knows)");
            println!("{r:#010x} {name}");
            println!("  direction {dir}");
            println!("  size {} bytes", (r >> 16) & 0x3fff);
            println!(
                "  type {ty:#04x}{} nr {:#04x}",
                if ty == KVMIO { " (KVMIO)" } else { "" },
                r & 0xff
            );
            if let Some(d) = IOCTLS.iter().find(|d| d.request == r) {
                println!("  {}", d.definition);
            }
        }
        Decode::Attr { flic, group, attr } => {
            let gtable = if flic {
                names::FLIC_GROUPS
            } else {
                names::VM_ATTR_GROUPS
            };
            let g = lookup(gtable, &group, "group")?;
            println!("group {g} {}", names::or_hex(gtable, g));
            if let Some(a) = attr {
                let atable = if flic { &[][..] } else { names::vm_attrs(g) };
                let v = lookup(atable, &a, "attribute")?;
                println!("attr {v} {}", names::or_hex(atable, v));
            } else if !flic {
                for (v, n) in names::vm_attrs(g) {
                    println!("  attr {v} {n}");
                }
            }
        }
        Decode::Cap { cap } => {
            let c = lookup(names::CAPS, &cap, "capability")?;
            println!("{c} {}", names::or_hex(names::CAPS, c));
        }
        Decode::Errno { errno } => {
            let e =
                names::errno_by_name(&errno).ok_or_else(|| format!("unknown errno `{errno}`"))?;
            println!(
                "{e} {} ({})",
                names::errno_name(e),
                nix::errno::Errno::from_raw(e).desc()
            );
        }
        Decode::Irq { irq_type } => {
            let t = lookup(names::IRQ_TYPES, &irq_type, "interrupt type")?;
            println!("{t:#x} {}", names::irq_type(t));
        }
    }
    Ok(())
}
