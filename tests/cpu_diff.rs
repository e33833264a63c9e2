//! Differential test of the CPU module against qemu-s390x, and a check of the instruction
//! table against binutils.
//!
//! Needs `qemu-s390x-static` (or `qemu-s390x`), `s390x-linux-gnu-gcc` and
//! `s390x-linux-gnu-objdump`; without them both tests print why and pass.
//!
//! Cases are random instruction sequences with random registers, condition code, program
//! mask and a 2 KiB memory window. Each runs under qemu-s390x (in `tests/cpu_diff/runner.c`,
//! one process for all cases) and on `kvm_s390_shim::cpu`; GPRs, CC, program mask, the
//! window, and the program interruption (as the signal and si_code Linux maps it to, with
//! the PSW address) must agree. `CPU_DIFF_CASES` sets the cases per class (default 1500),
//! `CPU_DIFF_SEED` the seed (default fixed).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kvm_s390_shim::cpu::insn::{by_mnemonic, encode, Insn, InsnDef, Src, INSNS};
use kvm_s390_shim::cpu::{decode, Cpu, Facilities, Format, Pgm, Storage, VecStorage};

const CODE: u64 = 0x60000;
const WIN_ADDR: u64 = 0x71000;
const WIN: usize = 2048;
const STATE: i32 = 0x70000;

/// One instruction with base 0 and a long displacement into the state area.
fn state_op(m: &str, r: u8, r3: u8, d: i32) -> Vec<u8> {
    let def = def(m);
    let mut i = Insn::blank(def);
    i.r1 = r;
    i.r3 = r3;
    i.d2 = STATE + d;
    encode(&i)[..usize::from(i.len)].to_vec()
}

/// Save the C registers, set CC and program mask, load the case's FPRs and GPRs.
fn prologue() -> Vec<u8> {
    static P: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    P.get_or_init(build_prologue).clone()
}

fn build_prologue() -> Vec<u8> {
    let mut v = state_op("STMG", 0, 15, 0x100);
    for f in 8..16 {
        v.extend(state_op("STDY", f, 0, 0x400 + 8 * (i32::from(f) - 8)));
    }
    v.extend(state_op("LY", 1, 0, 0x80));
    v.extend([0x04, 0x10]); // spm %r1
    v.extend(state_op("LY", 1, 0, 0x84));
    v.extend([0xb3, 0x84, 0x00, 0x10]); // sfpc %r1
    for f in 0..16 {
        v.extend(state_op("LDY", f, 0, 0x300 + 8 * i32::from(f)));
    }
    v.extend(state_op("LMG", 0, 15, 0));
    v
}

/// Store the GPRs, FPRs and IPM result, restore the C registers, return.
fn epilogue() -> Vec<u8> {
    static E: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    E.get_or_init(build_epilogue).clone()
}

fn build_epilogue() -> Vec<u8> {
    let mut v = state_op("STMG", 0, 15, 0x200);
    for f in 0..16 {
        v.extend(state_op("STDY", f, 0, 0x380 + 8 * i32::from(f)));
    }
    v.extend([0xb2, 0x22, 0x00, 0x10]); // ipm %r1
    v.extend(state_op("STY", 1, 0, 0x280));
    v.extend([0xb3, 0x8c, 0x00, 0x10]); // efpc %r1
    v.extend(state_op("STY", 1, 0, 0x284));
    v.extend([0xa7, 0x18, 0x00, 0x00]); // lhi %r1,0
    v.extend([0xb3, 0x84, 0x00, 0x10]); // sfpc %r1: the C code runs with the FPC zero
    for f in 8..16 {
        v.extend(state_op("LDY", f, 0, 0x400 + 8 * (i32::from(f) - 8)));
    }
    v.extend(state_op("LMG", 0, 15, 0x100));
    v.extend([0x07, 0xfe]); // br %r14
    v
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(name))
        .find(|p| p.is_file())
}

struct Tools {
    qemu: PathBuf,
    gcc: PathBuf,
    objdump: PathBuf,
}

fn tools() -> Option<Tools> {
    let qemu = which("qemu-s390x-static").or_else(|| which("qemu-s390x"));
    let gcc = which("s390x-linux-gnu-gcc");
    let objdump = which("s390x-linux-gnu-objdump");
    match (qemu, gcc, objdump) {
        (Some(qemu), Some(gcc), Some(objdump)) => Some(Tools { qemu, gcc, objdump }),
        _ => {
            let msg = "cpu differential test needs qemu-s390x(-static), s390x-linux-gnu-gcc \
                 and s390x-linux-gnu-objdump (Debian: qemu-user-static gcc-s390x-linux-gnu \
                 binutils-s390x-linux-gnu)";
            // CI sets this after installing them, so the test cannot skip silently there.
            assert!(
                std::env::var_os("KVM_S390_SHIM_REQUIRE_CPU_DIFF").is_none(),
                "{msg}"
            );
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

fn build_runner(t: &Tools) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cpu-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("runner");
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cpu_diff/runner.c");
    let st = Command::new(&t.gcc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success(), "building the runner failed");
    out
}

/// xorshift64*
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    /// A value biased towards the edges of 8/16/32/64-bit arithmetic.
    fn value(&mut self) -> u64 {
        let edges = [
            0u64,
            1,
            2,
            u64::MAX,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0xffff_ffff_8000_0000,
            0x7fff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            0x7fff,
            0x8000,
            0xffff,
            0xff,
            0x80,
            0x1_0000_0000,
        ];
        match self.below(6) {
            0 => self.pick(&edges),
            1 => self
                .pick(&edges)
                .wrapping_add(self.below(3))
                .wrapping_sub(1),
            2 => self.below(256),
            3 => self.next() as u32 as u64,
            4 => self.next() as u32 as i32 as i64 as u64,
            _ => self.next(),
        }
    }
}

/// Registers the generated code may write; r11 and r12 keep window addresses (bases), r13
/// the address of an EXECUTE target.
const W: [u8; 13] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 15];
const PAIRS: [u8; 6] = [0, 2, 4, 6, 8, 14];
const BASES: [u8; 2] = [11, 12];

fn def(m: &str) -> &'static InsnDef {
    by_mnemonic(m).unwrap_or_else(|| panic!("no row {m}"))
}

fn is_pair_r1(m: &str) -> bool {
    matches!(
        m,
        "MR" | "M"
            | "MFY"
            | "MLR"
            | "ML"
            | "MLGR"
            | "MLG"
            | "DR"
            | "D"
            | "DLR"
            | "DL"
            | "DLGR"
            | "DLG"
            | "DSGR"
            | "DSGFR"
            | "DSG"
            | "DSGF"
            | "SLDL"
            | "SRDL"
            | "SLDA"
            | "SRDA"
            | "FLOGR"
            | "CDS"
            | "CDSY"
            | "CDSG"
            | "MVCL"
            | "CLCL"
            | "MVCLE"
            | "CLCLE"
    )
}

fn is_rel_branch(i: &Insn) -> bool {
    use Format::*;
    matches!(i.def.format, RIb | RIc | RILc | RSI | RIEb | RIEc | RIEe)
        || matches!(i.def.mnemonic, "BRASL")
}

struct Case {
    class: &'static str,
    code: Vec<u8>,
    /// End of the test code (the epilogue's address).
    end: u64,
    regs: [u64; 16],
    fprs: [u64; 16],
    cc: u8,
    pm: u8,
    fpc: u32,
    win: Vec<u8>,
}

struct Gen<'a> {
    rng: &'a mut Rng,
}

impl Gen<'_> {
    fn mem_operand(&mut self) -> (u8, i32) {
        (self.rng.pick(&BASES), self.rng.below(0x300) as i32)
    }

    /// Fields for one instruction at `addr` (relative branches fixed up later).
    fn insn(&mut self, d: &'static InsnDef, addr: u64) -> Insn {
        use Format::*;
        let m = d.mnemonic;
        let mut i = Insn::blank(d);
        let r = &mut *self.rng;
        i.r1 = r.pick(&W);
        i.r2 = r.below(16) as u8;
        i.r3 = r.below(16) as u8;
        i.m3 = r.below(16) as u8;
        i.i2 = r.value() as u32;
        if r.chance(30) {
            i.i2 = r.below(256) as u32;
        }
        if is_pair_r1(m) {
            i.r1 = if r.chance(4) {
                r.pick(&[1, 3, 5, 7, 9])
            } else {
                r.pick(&PAIRS)
            };
        }
        match d.format {
            RXa | RXb | RXE | RXYa | RXYb | RSb | RSYb => {
                let (b, dd) = self.mem_operand();
                i.b2 = b;
                i.d2 = dd;
            }
            RSa | RSYa => {
                let (b, dd) = self.mem_operand();
                i.b2 = b;
                i.d2 = dd;
                if matches!(m, "LM" | "LMY" | "LMG" | "LMH") {
                    let r = &mut *self.rng;
                    if r.chance(70) {
                        i.r1 = r.below(11) as u8;
                        i.r3 = i.r1 + r.below(11 - u64::from(i.r1)) as u8;
                    } else {
                        i.r1 = 14 + r.below(2) as u8;
                        i.r3 = if r.chance(50) { 15 } else { r.below(11) as u8 };
                    }
                }
                if matches!(m, "CDS" | "CDSY" | "CDSG") {
                    i.r3 = self.rng.pick(&PAIRS);
                }
                if CLASSES[5].1.contains(&m) {
                    // Shift amount: any base, any displacement.
                    i.b2 = self.rng.below(16) as u8;
                    i.d2 = self.rng.below(0x1000) as i32;
                }
                if matches!(m, "CS" | "CSY" | "CSG" | "CDS" | "CDSY" | "CDSG")
                    && self.rng.chance(80)
                {
                    let n = if m == "CDSG" { 16 } else { 8 };
                    i.d2 &= !(n - 1);
                }
            }
            SI | SIY | SIL => {
                let (b, dd) = self.mem_operand();
                i.b1 = b;
                i.d1 = dd;
                i.i2 = if d.format == SIL {
                    self.rng.value() as u16 as u32
                } else {
                    i.i2 & 0xff
                };
            }
            SSa => {
                let (b, dd) = self.mem_operand();
                i.b1 = b;
                i.d1 = dd;
                let (b, dd) = self.mem_operand();
                i.b2 = b;
                i.d2 = dd;
                i.l1 = if self.rng.chance(50) {
                    self.rng.below(16)
                } else {
                    self.rng.below(256)
                } as u8;
            }
            SSF => {
                // CSST: both operands in the window, mostly aligned for every size.
                let (b, dd) = self.mem_operand();
                (i.b1, i.d1) = (b, dd);
                let (b, dd) = self.mem_operand();
                (i.b2, i.d2) = (b, dd);
                if self.rng.chance(95) {
                    i.d1 &= !15;
                }
                if self.rng.chance(95) {
                    i.d2 &= !15;
                }
                // Not R0 or R1 (an unequal compare loads R3, and the next CSST's function
                // code and store characteristic would be random).
                i.r3 = if self.rng.chance(10) {
                    self.rng.pick(&[3, 5, 7, 9])
                } else {
                    self.rng.pick(&PAIRS[1..])
                };
            }
            RILb if m != "BRASL" => {
                // Relative-long storage operand in the window (EXRL and LARL are set below).
                let n = d.src.bytes().max(if matches!(m, "STRL") { 4 } else { 1 });
                let n = match m {
                    "STGRL" => 8,
                    "STHRL" => 2,
                    _ => n,
                } as u64;
                let mut t = WIN_ADDR + 2 * self.rng.below(0x300);
                // Always aligned: qemu 7.2 does not check the alignment the architecture
                // requires of LRL/LGRL/STRL... (the unit tests check our specification
                // exception).
                t &= !(n - 1);
                i.ri = (t as i64 - addr as i64) / 2;
            }
            RIEf => {
                i.i3 = self.rng.below(256) as u8;
                i.i4 = self.rng.below(256) as u8;
                i.i5 = self.rng.below(64) as u8;
            }
            RIEc | RIS => i.i2 &= 0xff,
            RIEa | RIEd | RIa => i.i2 &= 0xffff,
            _ => {}
        }
        match m {
            "LA" | "LAY" => {
                i.x2 = self.rng.below(16) as u8;
                i.b2 = self.rng.below(16) as u8;
                i.d2 = self.rng.below(0x1000) as i32 - if m == "LAY" { 0x800 } else { 0 };
            }
            // Within +-2 MiB: qemu 8.2 sign-extends LARL results at or above 2 GiB (bit 32
            // of the sum), where the architecture gives a positive 64-bit address.
            "LARL" => i.ri = (self.rng.next() as i32 >> 11) as i64,
            "BCR" | "BASR" | "BALR" | "BCTR" | "BCTGR" | "IPM" | "SPM" => i.r2 = 0,
            "SLL" | "SRL" | "SLA" | "SRA" | "SLDL" | "SRDL" | "SLDA" | "SRDA" => i.r3 = 0,
            // M3 bit 0 (total count) needs miscellaneous-instruction-extensions 3 (z15).
            "POPCNT" => i.m3 = 0,
            "LZDR" | "LZER" => i.r2 = 0,
            // qemu 7.2 computes R[NOX]SBG with the test-only bit from an uninitialised
            // temporary (fixed upstream in 8.0, "Fix R[NOX]SBG with T=1"); unit-tested here.
            "RNSBG" | "ROSBG" | "RXSBG" => i.i3 &= 0x7f,
            "EAR" => i.r2 = 2 + self.rng.below(14) as u8,
            "SAR" => i.r1 = 2 + self.rng.below(14) as u8,
            "MVCL" | "CLCL" => {
                i.r1 = self.rng.pick(&[2, 4, 6, 8, 14]);
                i.r2 = self.rng.pick(&[2, 4, 6, 8, 14]);
            }
            "CLST" | "SRST" | "MVST" => {
                i.r1 = self.rng.pick(&PAIRS[1..]);
                i.r2 = self.rng.pick(&PAIRS[1..]);
            }
            // qemu 7.2 accepts an odd R1 for CDSG (unit-tested here).
            "CDSG" => i.r1 &= !1,
            "MVCLE" | "CLCLE" => i.r3 = self.rng.pick(&PAIRS),
            // M3: the FPC's mode or one of the five explicit ones (3, prepare for shorter
            // precision, needs the floating-point-extension facility).
            "CFEBR" | "CFDBR" | "CGEBR" | "CGDBR" => {
                i.m3 = self.rng.pick(&[0, 1, 4, 5, 6, 7]);
                i.m4 = 0;
            }
            _ => {}
        }
        i
    }
}

/// Mnemonics per class (the relative branches get forward targets).
const CLASSES: &[(&str, &[&str])] = &[
    (
        "load/store",
        &[
            "LR", "LGR", "LGFR", "LLGFR", "LLGTR", "LBR", "LGBR", "LHR", "LGHR", "LLCR", "LLGCR",
            "LLHR", "LLGHR", "L", "LY", "LG", "LGF", "LLGF", "LLGT", "LH", "LHY", "LGH", "LB",
            "LGB", "LLC", "LLGC", "LLH", "LLGH", "LHI", "LGHI", "LGFI", "LLILF", "LLIHF", "LLIHH",
            "LLIHL", "LLILH", "LLILL", "IIHF", "IILF", "IIHH", "IIHL", "IILH", "IILL", "LRL",
            "LGRL", "LGFRL", "LLGFRL", "LHRL", "LGHRL", "LLHRL", "LLGHRL", "LTR", "LTGR", "LTGFR",
            "LT", "LTG", "LTGF", "LCR", "LCGR", "LCGFR", "LNR", "LNGR", "LNGFR", "LPR", "LPGR",
            "LPGFR", "LRVR", "LRVGR", "LRV", "LRVG", "LRVH", "LA", "LAY", "LARL", "IC", "ICY",
            "ICM", "ICMY", "ICMH", "LM", "LMY", "LMG", "LMH", "ST", "STY", "STG", "STH", "STHY",
            "STC", "STCY", "STRL", "STGRL", "STHRL", "STRV", "STRVG", "STRVH", "STCM", "STCMY",
            "STCMH", "STM", "STMY", "STMG", "MVHHI", "MVHI", "MVGHI",
        ],
    ),
    (
        "add/subtract",
        &[
            "AR", "ARK", "AGR", "AGRK", "AGFR", "A", "AY", "AG", "AGF", "AH", "AHY", "AHI", "AGHI",
            "AHIK", "AGHIK", "AFI", "AGFI", "ASI", "AGSI", "ALSI", "ALGSI", "ALR", "ALRK", "ALGR",
            "ALGRK", "ALGFR", "AL", "ALY", "ALG", "ALGF", "ALFI", "ALGFI", "ALHSIK", "ALGHSIK",
            "ALCR", "ALCGR", "ALC", "ALCG", "SR", "SRK", "SGR", "SGRK", "SGFR", "S", "SY", "SG",
            "SGF", "SH", "SHY", "SLR", "SLRK", "SLGR", "SLGRK", "SLGFR", "SL", "SLY", "SLG",
            "SLGF", "SLFI", "SLGFI", "SLBR", "SLBGR", "SLB", "SLBG",
        ],
    ),
    (
        "multiply/divide",
        &[
            "MSR", "MSGR", "MSGFR", "MS", "MSY", "MSG", "MSGF", "MH", "MHY", "MHI", "MGHI", "MSFI",
            "MSGFI", "MR", "M", "MFY", "MLR", "ML", "MLGR", "MLG", "DR", "D", "DLR", "DL", "DLGR",
            "DLG", "DSGR", "DSGFR", "DSG", "DSGF",
        ],
    ),
    (
        "logical",
        &[
            "NR", "NRK", "NGR", "NGRK", "N", "NY", "NG", "OR", "ORK", "OGR", "OGRK", "O", "OY",
            "OG", "XR", "XRK", "XGR", "XGRK", "X", "XY", "XG", "NIHF", "NILF", "NIHH", "NIHL",
            "NILH", "NILL", "OIHF", "OILF", "OIHH", "OIHL", "OILH", "OILL", "XIHF", "XILF", "TMLH",
            "TMLL", "TMHH", "TMHL", "NI", "NIY", "OI", "OIY", "XI", "XIY", "MVI", "MVIY", "CLI",
            "CLIY", "TM", "TMY", "POPCNT", "FLOGR",
        ],
    ),
    (
        "compare",
        &[
            "CR", "CGR", "CGFR", "C", "CY", "CG", "CGF", "CH", "CHY", "CGH", "CHI", "CGHI", "CFI",
            "CGFI", "CRL", "CGRL", "CGFRL", "CHRL", "CGHRL", "CLR", "CLGR", "CLGFR", "CL", "CLY",
            "CLG", "CLGF", "CLFI", "CLGFI", "CLRL", "CLGRL", "CLGFRL", "CLHRL", "CLGHRL", "CHHSI",
            "CHSI", "CGHSI", "CLHHSI", "CLFHSI", "CLGHSI", "CLM", "CLMY", "CLMH", "CRJ", "CGRJ",
            "CLRJ", "CLGRJ", "CIJ", "CGIJ", "CLIJ", "CLGIJ", "CRT", "CGRT", "CLRT", "CLGRT", "CIT",
            "CGIT", "CLFIT", "CLGIT",
        ],
    ),
    (
        "shift/rotate",
        &[
            "SLL", "SRL", "SLA", "SRA", "SLLK", "SRLK", "SLAK", "SRAK", "SLLG", "SRLG", "SLAG",
            "SRAG", "RLL", "RLLG", "SLDL", "SRDL", "SLDA", "SRDA", "RISBG", "RNSBG", "ROSBG",
            "RXSBG",
        ],
    ),
    (
        "branch",
        &[
            "BCR", "BRC", "BRCL", "BASR", "BALR", "BRAS", "BRASL", "BCTR", "BRCT", "BCTGR",
            "BRCTG", "BRXH", "BRXLE", "BRXHG", "BRXLG", "AR", "CR", "CGR", "AHI", "TMLL",
        ],
    ),
    (
        "storage-to-storage",
        // MVCLE/CLCLE stop after a CPU-determined amount (qemu: at page ends, CC 3): they
        // are unit-tested instead. TR: qemu 7.2 marks the CC static after TR although TR
        // leaves it unchanged, so a lazily computed CC of an earlier instruction comes out
        // stale (unit-tested here).
        &[
            "MVC", "NC", "OC", "XC", "MVN", "MVZ", "CLC", "TRT", "MVCL", "CLCL", "CLST", "SRST",
            "MVST",
        ],
    ),
    (
        "floating-point moves",
        &[
            "LDR", "LER", "LD", "LDY", "LE", "LEY", "STD", "STDY", "STE", "STEY", "LZDR", "LZER",
            "LDGR", "LGDR", "LPDFR", "LNDFR", "LCDFR", "CPSDR",
        ],
    ),
    (
        "misc",
        &[
            "EX", "EXRL", "CS", "CSY", "CSG", "CDS", "CDSY", "CDSG", "IPM", "PFD", "LOCR", "LOCGR",
            "LOC", "LOCG", "STOC", "STOCG", "AR", "CR",
        ],
    ),
    (
        "binary floating point",
        &[
            "AEBR", "ADBR", "SEBR", "SDBR", "MEEBR", "MDBR", "DEBR", "DDBR", "AEB", "ADB", "SEB",
            "SDB", "MEEB", "MDB", "DEB", "DDB", "CEBR", "CDBR", "KEBR", "KDBR", "CEB", "CDB",
            "KEB", "KDB", "LCEBR", "LCDBR", "LNEBR", "LNDBR", "LPEBR", "LPDBR", "SQEBR", "SQDBR",
            "SQEB", "SQDB", "LDEBR", "LDEB", "LEDBR", "CEFBR", "CDFBR", "CEGBR", "CDGBR", "CFEBR",
            "CFDBR", "CGEBR", "CGDBR", "EFPC", "STFPC", "SRNM", "SFPC", "LFPC",
        ],
    ),
    (
        // In the problem state every one is a privileged-operation exception before any
        // operand is touched.
        "privileged",
        &[
            "LPSW", "LPSWE", "SSM", "STNSM", "STOSM", "LCTL", "LCTLG", "STCTL", "STCTG", "SPX",
            "STPX", "STAP", "STIDP", "SCK", "SCKPF", "SCKC", "SPT", "STCKC", "STPT", "LRA", "LRAY",
            "LRAG", "TPROT", "PTLB", "IPTE", "IDTE", "CSP", "CSPG", "SSKE", "ISKE", "RRBE", "PFMF",
            "TB", "STFL", "SIGP", "DIAG", "STSI", "SERVC", "ESSA", "SIE", "CSCH", "HSCH", "MSCH",
            "SSCH", "STSCH", "TSCH", "TPI", "SAL", "RSCH", "STCRW", "STCPS", "RCHP", "SCHM",
            "CHSC", "SIGA", "XSCH", "AR",
        ],
    ),
    // Function code and store characteristic in R0 (mostly valid), the parameter list in
    // the window through R1; R3 mostly set to the first operand so the swap happens.
    // Function code 0 (invalid ones aside) and store characteristic 0 are unit-tested.
    ("compare and swap and store", &["CSST"]),
];

const EX_TARGETS: &[&str] = &[
    "MVC", "XC", "CLC", "OC", "NC", "AR", "LR", "CR", "EX", "EXRL", "LHI",
];

fn gen_case(rng: &mut Rng, class: &'static str, mnems: &[&str]) -> Case {
    let mut regs = [0u64; 16];
    for r in &mut regs {
        *r = rng.value();
    }
    regs[11] = WIN_ADDR + 8 * rng.below(32);
    regs[12] = WIN_ADDR + 0x100 + 8 * rng.below(32);
    let mut win: Vec<u8> = (0..WIN)
        .map(|_| if rng.chance(15) { 0 } else { rng.next() as u8 })
        .collect();
    // Registers that address the window (strings, long moves) for that class.
    if class == "storage-to-storage" {
        for p in PAIRS {
            let p = usize::from(p);
            regs[p] = WIN_ADDR + 0x200 + rng.below(0x200);
            regs[p + 1] = if rng.chance(50) {
                rng.below(64)
            } else {
                rng.value() & 0xff
            };
            if rng.chance(50) {
                regs[p + 1] |= rng.below(256) << 24; // MVCL pad / CLCL pad
            }
        }
        // The string terminator: 0, dense in the window, so strings end inside it.
        // (qemu 7.2 checks R0's reserved bits after the operand accesses; the unit tests
        // check our specification exception.)
        regs[0] = 0;
        if rng.chance(70) {
            // SRST: end in R1 after the start in R2.
            let (a, b) = (rng.pick(&PAIRS[1..]), rng.pick(&PAIRS[1..]));
            regs[usize::from(b)] = WIN_ADDR + 0x200 + rng.below(0x100);
            regs[usize::from(a)] = regs[usize::from(b)] + rng.below(0x100);
        }
    }
    if class == "compare and swap and store" {
        // Function code 0 and store characteristic 0 are unit-tested only: qemu 7.2 compares
        // R3's bits 32-63 but loads an unequal first operand into bits 0-31, and aborts (an
        // assertion in its alignment check) on a 1-byte store, and on a function code above
        // 29 or a store characteristic above 31. Invalid values stay below those.
        let (fc, sc) = if rng.chance(90) {
            (1 + rng.below(2), 1 + rng.below(4))
        } else if rng.chance(50) {
            (3 + rng.below(27), 1 + rng.below(4))
        } else {
            (1 + rng.below(2), 5 + rng.below(27))
        };
        regs[0] = rng.value() & !0xffff | sc << 8 | fc;
        for b in BASES {
            if rng.chance(97) {
                regs[usize::from(b)] &= !15;
            }
        }
        regs[1] = WIN_ADDR + 0x500 + rng.below(0x100);
    }
    let cc = rng.below(4) as u8;
    // Program mask without the fixed-point-overflow bit: qemu's TCG never raises the
    // fixed-point-overflow interruption (the unit tests cover ours).
    let pm = if rng.chance(40) {
        rng.below(8) as u8
    } else {
        0
    };
    let mut fprs = [0u64; 16];
    for f in &mut fprs {
        *f = rng.value();
    }
    let mut fpc = 0;
    if class == "binary floating point" {
        for f in &mut fprs {
            *f = bfp_value(rng);
        }
        // Rounding mode, flags, and the invalid and divide-by-zero masks (the overflow,
        // underflow and inexact traps deliver scaled results we do not produce yet).
        fpc = rng.below(4) as u32
            | (rng.next() as u32 & 0x00f8_0000)
            | (rng.pick(&[0u32, 0, 0x80, 0x40, 0xc0]) << 24);
        for w in win.chunks_mut(8) {
            if rng.chance(50) {
                w.copy_from_slice(&bfp_value(rng).to_be_bytes());
            }
        }
        // SFPC operands: rounding mode 7 needs the floating-point-extension facility, which
        // qemu's CPU has and our z196 model does not (unit-tested).
        for r in &mut regs {
            if *r & 7 == 7 {
                *r &= !4;
            }
        }
    }
    let n = 1 + rng.below(6) as usize;
    let pro = prologue();
    let epi = epilogue();
    // Pass 1: choose instructions and lay them out.
    let mut insns = Vec::new();
    let mut addr = CODE + pro.len() as u64;
    let mut pos = Vec::new();
    for _ in 0..n {
        let d = def(rng.pick(mnems));
        let mut g = Gen { rng };
        let i = g.insn(d, addr);
        pos.push(addr);
        addr += u64::from(i.len);
        insns.push(i);
    }
    // CSST: R3 (and R3 + 1) equal to the first operand in most cases, so that the swap and
    // the store happen (random registers would never compare equal).
    for i in &insns {
        if i.def.mnemonic == "CSST" && rng.chance(70) {
            let a1 = regs[usize::from(i.b1)].wrapping_add(i.d1 as u64);
            let off = a1.wrapping_sub(WIN_ADDR) as usize;
            let r3 = usize::from(i.r3);
            if off + 16 <= WIN {
                let word = |o: usize| u64::from_be_bytes(win[o..o + 8].try_into().unwrap());
                match regs[0] & 0xff {
                    0 => regs[r3] = regs[r3] & !0xffff_ffff | word(off) >> 32,
                    1 => regs[r3] = word(off),
                    _ if r3 < 15 => (regs[r3], regs[r3 + 1]) = (word(off), word(off + 8)),
                    _ => {}
                }
            }
        }
    }
    let end = addr;
    let island = end + epi.len() as u64;
    let mut island_bytes = Vec::new();
    let mut window_ex = Vec::new();
    // Pass 2: relative branches go forward to an instruction boundary or the end; execute
    // targets go to the island (EXRL) or into the window (EX).
    for k in 0..insns.len() {
        let i = &mut insns[k];
        if is_rel_branch(i) {
            let j = k + 1 + rng.below((n - k) as u64) as usize;
            let t = if j >= n { end } else { pos[j] };
            i.ri = (t as i64 - pos[k] as i64) / 2;
        }
        if matches!(i.def.mnemonic, "EX" | "EXRL") {
            let td = def(rng.pick(EX_TARGETS));
            let mut g = Gen { rng };
            let mut t = g.insn(td, 0);
            if matches!(td.mnemonic, "EXRL") {
                t.ri = 0;
            }
            let bytes = encode(&t);
            let tb = &bytes[..usize::from(t.len)];
            let ss = td.format == Format::SSa;
            i.r1 = if ss && rng.chance(70) {
                rng.pick(&W)
            } else {
                0
            };
            if i.def.mnemonic == "EXRL" {
                let at = island + island_bytes.len() as u64;
                i.ri = (at as i64 - pos[k] as i64) / 2;
                island_bytes.extend_from_slice(tb);
                if island_bytes.len() % 2 != 0 {
                    island_bytes.push(0);
                }
            } else {
                // Even: qemu 7.2 does not check the target's alignment (unit-tested here).
                let off = 0x600 + 8 * rng.below(16) as usize;
                win[off..off + tb.len()].copy_from_slice(tb);
                i.x2 = 0;
                i.b2 = 13;
                i.d2 = 0;
                regs[13] = WIN_ADDR + off as u64;
                window_ex.push(k);
            }
        }
    }
    // Every EX runs the last target placed (they share R13): with R1's byte ORed into a
    // target chosen for another EX, register fields could name R13 or make the next target
    // address odd (an alignment order qemu departs in). More than one: no OR.
    if window_ex.len() > 1 {
        for &k in &window_ex {
            insns[k].r1 = 0;
        }
    }
    let mut code = pro;
    for i in &insns {
        code.extend_from_slice(&encode(i)[..usize::from(i.len)]);
    }
    code.extend_from_slice(&epi);
    code.extend_from_slice(&island_bytes);
    Case {
        class,
        code,
        end,
        regs,
        fprs,
        cc,
        pm,
        fpc,
        win,
    }
}

/// A floating-point register value for the BFP class: a long or two short values (the
/// short format is the high word), special values and random finite ones of every range.
fn bfp_value(rng: &mut Rng) -> u64 {
    let short = |rng: &mut Rng| -> u64 {
        let specials = [
            0u32,
            0x8000_0000,
            0x7f80_0000,
            0xff80_0000,
            0x7fc0_0000,
            0x7fa0_0001,
            0x0000_0001,
            0x0080_0000,
            0x7f7f_ffff,
            0x3f80_0000,
            0xbf80_0000,
            0x4040_0000,
        ];
        u64::from(if rng.chance(25) {
            rng.pick(&specials)
        } else if rng.chance(50) {
            // Moderate exponents, where results are mostly normal.
            (rng.next() as u32 & 0x807f_ffff) | ((0x60 + rng.below(0x40) as u32) << 23)
        } else {
            rng.next() as u32
        })
    };
    if rng.chance(40) {
        return short(rng) << 32 | short(rng);
    }
    let specials = [
        0u64,
        1 << 63,
        0x7ff0_0000_0000_0000,
        0xfff0_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0x7ff4_0000_0000_0001,
        1,
        0x0010_0000_0000_0000,
        0x7fef_ffff_ffff_ffff,
        0x3ff0_0000_0000_0000,
        0xc000_0000_0000_0000,
        0x4008_0000_0000_0000,
        0x41e0_0000_0000_0000,
        0xc3e0_0000_0000_0000,
    ];
    if rng.chance(25) {
        rng.pick(&specials)
    } else if rng.chance(50) {
        (rng.next() & 0x800f_ffff_ffff_ffff) | ((0x3c0 + rng.below(0x80)) << 52)
    } else {
        rng.next()
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    status: u32,
    addr: u64,
    regs: [u64; 16],
    fprs: [u64; 16],
    ccpm: u32,
    fpc: u32,
    win: Vec<u8>,
}

static TRACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The runner's mapped areas (0x60000-0x7ffff); anything else is unmapped under qemu-user.
struct Mapped(VecStorage);

impl Mapped {
    fn check(a: u64, n: usize) -> Result<(), Pgm> {
        if a >= CODE && a.checked_add(n as u64).is_some_and(|e| e <= 0x80000) {
            Ok(())
        } else {
            Err(Pgm::Addressing)
        }
    }
}

impl Storage for Mapped {
    fn read(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        Self::check(a, b.len())?;
        self.0.read(a, b)
    }
    fn write(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
        Self::check(a, b.len())?;
        self.0.write(a, b)
    }
    fn cas(&mut self, a: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        Self::check(a, new.len())?;
        self.0.cas(a, old, new)
    }
    fn fetch_absolute(&mut self, a: u64) -> Result<u64, Pgm> {
        Self::check(a, 2)?;
        self.0.fetch_absolute(a)
    }
    fn read_absolute(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.0.read_absolute(a, b)
    }
    fn page_generation(&self, a: u64) -> u64 {
        self.0.page_generation(a)
    }
}

fn run_shim(c: &Case) -> Outcome {
    let mut mem = VecStorage::new(0x80000);
    mem.store(CODE, &c.code).unwrap();
    mem.store(WIN_ADDR, &c.win).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.gr = c.regs;
    cpu.fpr = c.fprs;
    cpu.set_cc(c.cc);
    cpu.set_program_mask(c.pm);
    cpu.fpc = c.fpc;
    cpu.psw_addr = CODE + prologue().len() as u64;
    let mut mem = Mapped(mem);
    let mut status = 0;
    let mut addr = 0;
    for _ in 0..100_000 {
        if cpu.psw_addr == c.end {
            break;
        }
        let at = cpu.psw_addr;
        let r = cpu.step(&mut mem);
        if TRACE.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!("  {at:#x} -> {r:?} cc {} regs {:x?}", cpu.cc(), cpu.gr);
        }
        if let Err(p) = r {
            status = match p {
                Pgm::Operation | Pgm::PrivilegedOperation => 4 << 16 | 1,
                Pgm::Specification | Pgm::Execute => 4 << 16 | 2,
                // Linux (and qemu-user) deliver a DXC that is not an IEEE code as SIGFPE with
                // si_code 0.
                // IEEE exceptions as Linux and qemu-user map the DXC to si_code.
                Pgm::Data { dxc } => {
                    8 << 16
                        | match dxc {
                            0x80 => 7,
                            0x40 => 3,
                            0x20 | 0x28 | 0x2c => 4,
                            0x10 | 0x18 | 0x1c => 5,
                            0x08 | 0x0c => 6,
                            _ => 0,
                        }
                }
                Pgm::FixedPointOverflow => 8 << 16 | 2,
                Pgm::FixedPointDivide => 8 << 16 | 1,
                // SIGSEGV points at the instruction (qemu-user reports a page fault).
                Pgm::Addressing => {
                    cpu.psw_addr = at;
                    11 << 16 | 1
                }
                other => 0xdead_0000 | u32::from(other.code()),
            };
            addr = cpu.psw_addr;
            break;
        }
    }
    let ccpm = (u32::from(cpu.cc()) << 28) | (u32::from(cpu.program_mask()) << 24);
    Outcome {
        status,
        addr,
        regs: cpu.gr,
        fprs: cpu.fpr,
        ccpm,
        fpc: cpu.fpc,
        win: mem.0.mem[WIN_ADDR as usize..WIN_ADDR as usize + WIN].to_vec(),
    }
}

fn run_qemu(t: &Tools, runner: &PathBuf, cases: &[Case]) -> Vec<Outcome> {
    let mut input = Vec::new();
    for c in cases {
        input.extend_from_slice(&(c.code.len() as u32).to_be_bytes());
        input.extend_from_slice(&c.code);
        for r in c.regs.iter().chain(&c.fprs) {
            input.extend_from_slice(&r.to_be_bytes());
        }
        let spm = (u32::from(c.cc) << 28) | (u32::from(c.pm) << 24);
        input.extend_from_slice(&spm.to_be_bytes());
        input.extend_from_slice(&c.fpc.to_be_bytes());
        input.extend_from_slice(&c.win);
    }
    input.extend_from_slice(&0u32.to_be_bytes());
    let mut child = Command::new(&t.qemu)
        .arg(runner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    writer.join().unwrap().unwrap();
    assert!(child.wait().unwrap().success(), "runner failed");
    let sz = 4 + 8 + 128 + 128 + 4 + 4 + WIN;
    assert_eq!(out.len(), sz * cases.len(), "runner output truncated");
    out.chunks(sz)
        .map(|o| {
            let u64at = |k: usize| u64::from_be_bytes(o[k..k + 8].try_into().unwrap());
            let regs: [u64; 16] = std::array::from_fn(|r| u64at(12 + 8 * r));
            let fprs: [u64; 16] = std::array::from_fn(|r| u64at(140 + 8 * r));
            Outcome {
                status: u32::from_be_bytes(o[0..4].try_into().unwrap()),
                addr: u64at(4),
                regs,
                fprs,
                ccpm: u32::from_be_bytes(o[268..272].try_into().unwrap()) & 0x3f00_0000,
                fpc: u32::from_be_bytes(o[272..276].try_into().unwrap()),
                win: o[276..].to_vec(),
            }
        })
        .collect()
}

fn describe(c: &Case) -> String {
    let mut s = String::new();
    let mut a = CODE + prologue().len() as u64;
    let mut k = prologue().len();
    while a < c.end {
        let b: [u8; 6] = std::array::from_fn(|j| *c.code.get(k + j).unwrap_or(&0));
        let raw = b.iter().fold(0u64, |x, &y| x << 8 | u64::from(y));
        match decode(raw) {
            Some(i) => {
                s += &format!(
                    "  {a:#x}: {:<7} {:02x?}\n",
                    i.def.mnemonic,
                    &b[..usize::from(i.len)]
                );
                k += usize::from(i.len);
                a += u64::from(i.len);
            }
            None => break,
        }
    }
    s
}

#[test]
fn differential_against_qemu() {
    let Some(t) = tools() else { return };
    let runner = build_runner(&t);
    let per_class: usize = std::env::var("CPU_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500);
    let seed: u64 = std::env::var("CPU_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_c0de);
    let mut rng = Rng(seed | 1);
    let mut cases = Vec::new();
    for (class, mnems) in CLASSES {
        for _ in 0..per_class {
            cases.push(gen_case(&mut rng, class, mnems));
        }
    }
    // CPU_DIFF_ONLY=k: run case k alone (after generating the same stream), with a trace.
    let only: Option<usize> = std::env::var("CPU_DIFF_ONLY")
        .ok()
        .and_then(|v| v.parse().ok());
    if let Some(k) = only {
        cases = cases.split_off(k);
        cases.truncate(1);
        TRACE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    let want = run_qemu(&t, &runner, &cases);
    let mut bad = 0;
    let mut exceptions = 0;
    for (k, (c, q)) in cases.iter().zip(&want).enumerate() {
        let s = run_shim(c);
        exceptions += usize::from(q.status != 0);
        if s != *q {
            bad += 1;
            if bad
                <= std::env::var("CPU_DIFF_SHOW")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(8)
            {
                eprintln!(
                    "MISMATCH case {k} ({}) seed {seed:#x}:\n{}",
                    c.class,
                    describe(c)
                );
                eprintln!("  init regs {:x?} cc {} pm {}", c.regs, c.cc, c.pm);
                if c.class == "binary floating point" {
                    eprintln!("  init fprs {:x?}", c.fprs);
                }
                if s.status != q.status || s.addr != q.addr {
                    eprintln!(
                        "  status shim {:#x}@{:#x} qemu {:#x}@{:#x}",
                        s.status, s.addr, q.status, q.addr
                    );
                }
                for r in 0..16 {
                    if s.regs[r] != q.regs[r] {
                        eprintln!("  r{r}: shim {:#x} qemu {:#x}", s.regs[r], q.regs[r]);
                    }
                    if s.fprs[r] != q.fprs[r] {
                        eprintln!("  f{r}: shim {:#x} qemu {:#x}", s.fprs[r], q.fprs[r]);
                    }
                }
                if s.fpc != q.fpc {
                    eprintln!(
                        "  fpc: shim {:#x} qemu {:#x} init {:#x}",
                        s.fpc, q.fpc, c.fpc
                    );
                }
                if s.ccpm != q.ccpm {
                    eprintln!("  cc/pm: shim {:#x} qemu {:#x}", s.ccpm, q.ccpm);
                }
                if let Some(o) = (0..WIN).find(|&o| s.win[o] != q.win[o]) {
                    let e = (o + 16).min(WIN);
                    eprintln!(
                        "  window differs from {:#x}: shim {:02x?} qemu {:02x?} init {:02x?}",
                        WIN_ADDR + o as u64,
                        &s.win[o..e],
                        &q.win[o..e],
                        &c.win[o..e]
                    );
                }
            }
        }
    }
    eprintln!(
        "cpu-diff: {} cases ({} classes x {per_class}), {exceptions} ending in a program \
         interruption, {bad} mismatches",
        cases.len(),
        CLASSES.len()
    );
    assert_eq!(bad, 0);
}

#[test]
fn every_row_is_in_a_differential_class_or_listed() {
    // Rows the random generator cannot place (targets in base registers near the code), and
    // STMH, which qemu 7.2 gets wrong (op_stmh shifts the register left instead of right and
    // stores zeros; covered by the unit tests).
    // EAR/SAR: qemu-user's access registers hold whatever the runtime left there.
    // SPM: a random register can enable fixed-point overflow, which qemu never raises; the
    // runner sets CC and program mask through SPM in every case anyway.
    let skipped = [
        "STFLE", "TR", "SPM", "EAR", "SAR", "STMH", "MVCLE", "CLCLE", "BC", "BAS", "BAL", "BCT",
        "BCTG", "BXH", "BXLE", "BXHG", "BXLEG", "CRB", "CGRB", "CLRB", "CLGRB", "CIB", "CGIB",
        "CLIB", "CLGIB", "PFDRL",
    ];
    // Supervisor instructions that do not raise a privileged-operation exception in every
    // problem-state case (semiprivileged, or problem-state instructions reading the
    // machine's clock): unit-tested in src/cpu/tests.rs. The moves between address spaces
    // and keys (qemu 7.2 refuses MVCOS in the problem state with an addressing exception):
    // unit-tested, MVCOS and MVCP also through KVM_RUN in ffi-tests/test_mvcos.c.
    // LTEBR/LTDBR: qemu 7.2 copies a signalling NaN without the invalid-operation
    // exception the Principles of Operation require (unit-tested).
    let supervisor = [
        "LTEBR", "LTDBR", "SVC", "SPKA", "IPK", "SAC", "SACF", "EPSW", "STCK", "STCKF", "STCKE",
        "IVSK", "MVCOS", "MVCP", "MVCS", "MVCK", "MVCSK", "MVCDK",
    ];
    for d in INSNS {
        let listed = CLASSES.iter().any(|(_, m)| m.contains(&d.mnemonic))
            || supervisor.contains(&d.mnemonic);
        assert!(
            listed || skipped.contains(&d.mnemonic),
            "{} in no class",
            d.mnemonic
        );
    }
}

#[test]
fn table_matches_binutils() {
    let Some(t) = tools() else { return };
    let mut rng = Rng(7);
    let mut bytes = Vec::new();
    let mut expect = Vec::new();
    for d in INSNS {
        let mut g = Gen { rng: &mut rng };
        let mut i = g.insn(d, 0);
        i.m3 = 0xe; // avoid extended mnemonics for masks 0/15 where binutils has them
        if d.format == Format::RXE {
            i.m3 = 0; // bits 32-35 of the BFP RXE forms are unused (binutils: zero)
        }
        let b = encode(&i);
        bytes.extend_from_slice(&b[..usize::from(i.len)]);
        expect.push(d.mnemonic.to_ascii_lowercase());
        let back = decode(b.iter().fold(0u64, |x, &y| x << 8 | u64::from(y))).unwrap();
        assert_eq!(back.def.mnemonic, d.mnemonic);
        let _ = Src::Nil;
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cpu-diff");
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("table.bin");
    std::fs::write(&f, &bytes).unwrap();
    let out = Command::new(&t.objdump)
        .args(["-D", "-b", "binary", "-m", "s390:64-bit"])
        .arg(&f)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut parts = l.split('\t');
            let addr = parts.next()?;
            if !addr.trim_end().ends_with(':') {
                return None;
            }
            parts
                .nth(1)
                .map(|m| m.split_whitespace().next().unwrap_or("").to_string())
        })
        .collect();
    assert_eq!(
        got.len(),
        expect.len(),
        "objdump listed a different number of instructions"
    );
    let mut bad = Vec::new();
    for (g, e) in got.iter().zip(&expect) {
        // binutils folds the mask into the mnemonic for the conditional forms (brc -> jne,
        // crj -> crjh, locr -> locrnh ...): accept the table's name as a prefix, or the
        // branch aliases.
        let ok = g == e
            || g.starts_with(e.as_str())
            || (e == "brc" && g.starts_with('j'))
            || (e == "brcl" && g.starts_with("jg"))
            || (e == "bcr" && g.starts_with('b'))
            || (e == "brct" && g == "jct")
            || (e == "brctg" && g == "jctg")
            || (e == "bras" && g == "jas")
            || (e == "brasl" && g == "jasl")
            || (e == "brxh" && g == "jxh")
            || (e == "brxle" && g == "jxle")
            || (e == "brxhg" && g == "jxhg")
            || (e == "brxlg" && g == "jxleg")
            || (e.starts_with("c") && e.ends_with('t') && g.starts_with(&e[..e.len() - 1]))
            || (e.starts_with("c")
                && (e.ends_with('j') || e.ends_with('b'))
                && g.starts_with(&e[..e.len() - 1]))
            || (e.starts_with("loc") && g.starts_with("loc"))
            || (e.starts_with("stoc") && g.starts_with("stoc"))
            || (e == "bc" && g.starts_with('b'))
            // binutils 2.40 has no opcode-table rows for these (IBM documents SERVC and
            // CHSC outside the Principles of Operation; ESSA is missing).
            || (matches!(e.as_str(), "servc" | "chsc" | "essa") && g == ".long");
        if !ok {
            bad.push(format!("{e} disassembles as {g}"));
        }
    }
    assert!(
        bad.is_empty(),
        "table rows differ from binutils:\n{}",
        bad.join("\n")
    );
}
