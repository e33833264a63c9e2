//! The instruction table and the decoder generated from it.
//!
//! One row per instruction: opcode, format, mnemonic, facility, handler, and two handler
//! parameters (the width/extension of the second operand, an auxiliary constant). Handlers
//! are shared across formats where the semantics match: `A`, `AR`, `AY`, `AHI`, `AFI`, `AH`,
//! `ARK`, `AHIK` all run `exec::add32`; the format says where the operands come from.
//!
//! The opcode is written as the decoder keys it: the first byte alone for one-byte opcodes,
//! `first << 8 | second` where the second part is a byte (01, B2, B3, B9, E5 at bits 8-15;
//! E3, EB, EC, ED at bits 40-47) or a nibble (A5, A7, C0, C2, C4, C6, C8, CC at bits 12-15).

use std::sync::OnceLock;

use super::exec::{self, Handler};
use super::Facility;

/// Instruction formats (SA22-7832 chapter 5), named as the Principles of Operation name them.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    E,
    I,
    RR,
    RRE,
    RRFa,
    RRFb,
    RRFc,
    RRFd,
    RRFe,
    RRD,
    RXa,
    RXb,
    RXE,
    RXF,
    RXYa,
    RXYb,
    RSa,
    RSb,
    RSYa,
    RSYb,
    RSI,
    RIEa,
    RIEb,
    RIEc,
    RIEd,
    RIEe,
    RIEf,
    RIEg,
    RILa,
    RILb,
    RILc,
    RIa,
    RIb,
    RIc,
    RIS,
    RRS,
    SI,
    SIY,
    SIL,
    S,
    SSa,
    SSb,
    SSc,
    SSd,
    SSe,
    SSf,
    SSE,
    SSF,
}

/// How a handler extends its second operand (register, storage or immediate) to 64 bits.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    S8,
    U8,
    S16,
    U16,
    S32,
    U32,
    U64,
    /// Bits 33-63 (LLGT).
    U31,
    /// The handler reads its operands itself.
    Nil,
}

impl Src {
    /// Operand width in bytes (for storage operands).
    pub fn bytes(self) -> usize {
        match self {
            Src::S8 | Src::U8 => 1,
            Src::S16 | Src::U16 => 2,
            Src::S32 | Src::U32 | Src::U31 => 4,
            Src::U64 | Src::Nil => 8,
        }
    }

    /// Extend a raw value of this width to 64 bits.
    pub fn extend(self, v: u64) -> u64 {
        match self {
            Src::S8 => v as u8 as i8 as i64 as u64,
            Src::U8 => v & 0xff,
            Src::S16 => v as u16 as i16 as i64 as u64,
            Src::U16 => v & 0xffff,
            Src::S32 => v as u32 as i32 as i64 as u64,
            Src::U32 => v & 0xffff_ffff,
            Src::U31 => v & 0x7fff_ffff,
            Src::U64 | Src::Nil => v,
        }
    }
}

/// One row of the instruction table.
#[derive(Debug)]
pub struct InsnDef {
    /// Decoder key (see the module documentation).
    pub opcode: u16,
    /// Format.
    pub format: Format,
    /// Assembler mnemonic.
    pub mnemonic: &'static str,
    /// Facility that installs it.
    pub facility: Facility,
    /// The operation.
    pub handler: Handler,
    /// Second-operand width and extension.
    pub src: Src,
    /// Handler-specific constant (a shift, a width, a variant).
    pub aux: u8,
}

/// A decoded instruction: the table row and every field its format defines (fields the
/// format lacks are zero).
#[derive(Debug, Clone, Copy)]
pub struct Insn {
    /// The table row.
    pub def: &'static InsnDef,
    /// The instruction bytes, left-aligned in the low 48 bits.
    pub raw: u64,
    /// Length in bytes (2, 4, 6).
    pub len: u8,
    #[allow(missing_docs)]
    pub r1: u8,
    #[allow(missing_docs)]
    pub r2: u8,
    #[allow(missing_docs)]
    pub r3: u8,
    #[allow(missing_docs)]
    pub m3: u8,
    #[allow(missing_docs)]
    pub m4: u8,
    #[allow(missing_docs)]
    pub x2: u8,
    #[allow(missing_docs)]
    pub b1: u8,
    #[allow(missing_docs)]
    pub b2: u8,
    #[allow(missing_docs)]
    pub b4: u8,
    /// Displacements, already combined and sign-extended for the long forms.
    pub d1: i32,
    #[allow(missing_docs)]
    pub d2: i32,
    #[allow(missing_docs)]
    pub d4: i32,
    /// Immediate of operand 2 (or the RI/RIL immediate), raw and unextended.
    pub i2: u32,
    #[allow(missing_docs)]
    pub i3: u8,
    #[allow(missing_docs)]
    pub i4: u8,
    #[allow(missing_docs)]
    pub i5: u8,
    /// Relative offset in halfwords (RI-b/c, RIL-b/c, RSI, RIE-b/c/e), sign-extended.
    pub ri: i64,
    /// SS lengths (as encoded, i.e. length - 1).
    pub l1: u8,
    #[allow(missing_docs)]
    pub l2: u8,
}

/// Instruction length from the first two bits of the first byte.
pub fn insn_len(op1: u8) -> u8 {
    match op1 >> 6 {
        0 => 2,
        1 | 2 => 4,
        _ => 6,
    }
}

/// Where the second part of the opcode lives, by first byte.
fn key(raw: u64) -> u16 {
    let f = |start: u32, len: u32| ((raw >> (48 - start - len)) & ((1 << len) - 1)) as u16;
    let op1 = f(0, 8);
    match op1 {
        0x01 | 0xb2 | 0xb3 | 0xb9 | 0xe5 => op1 << 8 | f(8, 8),
        0xa5 | 0xa7 | 0xc0 | 0xc2 | 0xc4 | 0xc6 | 0xc8 | 0xcc => op1 << 8 | f(12, 4),
        0xe3 | 0xe7 | 0xeb | 0xec | 0xed => op1 << 8 | f(40, 8),
        _ => op1,
    }
}

fn index() -> &'static [u16] {
    static INDEX: OnceLock<Vec<u16>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut v = vec![0u16; 65536];
        for (i, d) in INSNS.iter().enumerate() {
            debug_assert_eq!(
                v[usize::from(d.opcode)],
                0,
                "duplicate opcode {}",
                d.mnemonic
            );
            v[usize::from(d.opcode)] = (i + 1) as u16;
        }
        v
    })
}

/// Look an instruction up by mnemonic (tests, tools).
pub fn by_mnemonic(m: &str) -> Option<&'static InsnDef> {
    INSNS.iter().find(|d| d.mnemonic.eq_ignore_ascii_case(m))
}

fn sext(v: u64, bits: u32) -> i64 {
    ((v << (64 - bits)) as i64) >> (64 - bits)
}

/// Decode the instruction whose bytes are left-aligned in the low 48 bits of `raw` (the
/// bytes beyond its length are ignored). `None` for an unassigned opcode.
pub fn decode(raw: u64) -> Option<Insn> {
    let len = insn_len((raw >> 40) as u8);
    let raw = match len {
        2 => raw & 0xffff_0000_0000,
        4 => raw & 0xffff_ffff_0000,
        _ => raw & 0xffff_ffff_ffff,
    };
    let idx = index()[usize::from(key(raw))];
    if idx == 0 {
        return None;
    }
    let def = &INSNS[usize::from(idx - 1)];
    let f = |start: u32, len: u32| (raw >> (48 - start - len)) & ((1u64 << len) - 1);
    let r = |start: u32| f(start, 4) as u8;
    let dl = |start: u32| {
        // 20-bit signed displacement: DL at start (12 bits), DH at start + 12 (8 bits).
        sext(f(start + 12, 8) << 12 | f(start, 12), 20) as i32
    };
    let mut i = Insn {
        def,
        raw,
        len,
        r1: 0,
        r2: 0,
        r3: 0,
        m3: 0,
        m4: 0,
        x2: 0,
        b1: 0,
        b2: 0,
        b4: 0,
        d1: 0,
        d2: 0,
        d4: 0,
        i2: 0,
        i3: 0,
        i4: 0,
        i5: 0,
        ri: 0,
        l1: 0,
        l2: 0,
    };
    use Format::*;
    match def.format {
        E => {}
        I => i.i2 = f(8, 8) as u32,
        RR => (i.r1, i.r2) = (r(8), r(12)),
        RRE => (i.r1, i.r2) = (r(24), r(28)),
        RRFa | RRFb => (i.r3, i.m4, i.r1, i.r2) = (r(16), r(20), r(24), r(28)),
        RRFc => (i.m3, i.r1, i.r2) = (r(16), r(24), r(28)),
        RRFd => (i.m4, i.r1, i.r2) = (r(20), r(24), r(28)),
        RRFe => (i.m3, i.m4, i.r1, i.r2) = (r(16), r(20), r(24), r(28)),
        RRD => (i.r1, i.r3, i.r2) = (r(16), r(24), r(28)),
        RXa | RXb => (i.r1, i.x2, i.b2, i.d2) = (r(8), r(12), r(16), f(20, 12) as i32),
        RXE => (i.r1, i.x2, i.b2, i.d2, i.m3) = (r(8), r(12), r(16), f(20, 12) as i32, r(32)),
        RXF => (i.r3, i.x2, i.b2, i.d2, i.r1) = (r(8), r(12), r(16), f(20, 12) as i32, r(32)),
        RXYa | RXYb => (i.r1, i.x2, i.b2, i.d2) = (r(8), r(12), r(16), dl(20)),
        RSa => (i.r1, i.r3, i.b2, i.d2) = (r(8), r(12), r(16), f(20, 12) as i32),
        RSb => (i.r1, i.m3, i.b2, i.d2) = (r(8), r(12), r(16), f(20, 12) as i32),
        RSYa => (i.r1, i.r3, i.b2, i.d2) = (r(8), r(12), r(16), dl(20)),
        RSYb => (i.r1, i.m3, i.b2, i.d2) = (r(8), r(12), r(16), dl(20)),
        RSI | RIEe => (i.r1, i.r3, i.ri) = (r(8), r(12), sext(f(16, 16), 16)),
        RIEa => (i.r1, i.i2, i.m3) = (r(8), f(16, 16) as u32, r(32)),
        RIEb => (i.r1, i.r2, i.ri, i.m3) = (r(8), r(12), sext(f(16, 16), 16), r(32)),
        RIEc => (i.r1, i.m3, i.ri, i.i2) = (r(8), r(12), sext(f(16, 16), 16), f(32, 8) as u32),
        RIEd => (i.r1, i.r3, i.i2) = (r(8), r(12), f(16, 16) as u32),
        RIEf => {
            (i.r1, i.r2) = (r(8), r(12));
            (i.i3, i.i4, i.i5) = (f(16, 8) as u8, f(24, 8) as u8, f(32, 8) as u8);
        }
        RIEg => (i.r1, i.m3, i.i2) = (r(8), r(12), f(16, 16) as u32),
        RILa => (i.r1, i.i2) = (r(8), f(16, 32) as u32),
        RILb | RILc => (i.r1, i.ri) = (r(8), sext(f(16, 32), 32)),
        RIa => (i.r1, i.i2) = (r(8), f(16, 16) as u32),
        RIb | RIc => (i.r1, i.ri) = (r(8), sext(f(16, 16), 16)),
        RIS => {
            (i.r1, i.m3, i.b4, i.d4) = (r(8), r(12), r(16), f(20, 12) as i32);
            i.i2 = f(32, 8) as u32;
        }
        RRS => (i.r1, i.r2, i.b4, i.d4, i.m3) = (r(8), r(12), r(16), f(20, 12) as i32, r(32)),
        SI => (i.i2, i.b1, i.d1) = (f(8, 8) as u32, r(16), f(20, 12) as i32),
        SIY => (i.i2, i.b1, i.d1) = (f(8, 8) as u32, r(16), dl(20)),
        SIL => (i.b1, i.d1, i.i2) = (r(16), f(20, 12) as i32, f(32, 16) as u32),
        S => (i.b2, i.d2) = (r(16), f(20, 12) as i32),
        SSa => {
            (i.l1, i.b1, i.d1) = (f(8, 8) as u8, r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
        }
        SSb | SSc => {
            (i.l1, i.l2, i.b1, i.d1) = (r(8), r(12), r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
            i.i3 = i.l2;
        }
        SSd => {
            (i.r1, i.r3, i.b1, i.d1) = (r(8), r(12), r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
        }
        SSe => {
            (i.r1, i.r3, i.b2, i.d2) = (r(8), r(12), r(16), f(20, 12) as i32);
            (i.b4, i.d4) = (r(32), f(36, 12) as i32);
        }
        SSf => {
            (i.l2, i.b1, i.d1) = (f(8, 8) as u8, r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
        }
        SSE => {
            (i.b1, i.d1) = (r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
        }
        SSF => {
            (i.r3, i.b1, i.d1) = (r(8), r(16), f(20, 12) as i32);
            (i.b2, i.d2) = (r(32), f(36, 12) as i32);
        }
    }
    Some(i)
}

macro_rules! table {
    ($( $op:literal $fmt:ident $mn:literal $fac:ident $h:ident $src:ident $aux:literal ;)*) => {
        /// The instruction table.
        pub static INSNS: &[InsnDef] = &[ $( InsnDef {
            opcode: $op,
            format: Format::$fmt,
            mnemonic: $mn,
            facility: Facility::$fac,
            handler: exec::$h,
            src: Src::$src,
            aux: $aux,
        } ),* ];
    };
}

// Facilities: Base, LongDisplacement (LD), ExtendedImmediate, GeneralInstructionsExtension
// (z10), Z196 (distinct operands, load/store on condition, population count).
table! {
    // ---- loads
    0x18   RR   "LR"     Base ld32  U32 0;
    0xb904 RRE  "LGR"    Base ld64  U64 0;
    0xb914 RRE  "LGFR"   Base ld64  S32 0;
    0xb916 RRE  "LLGFR"  Base ld64  U32 0;
    0xb917 RRE  "LLGTR"  Base ld64  U31 0;
    0xb926 RRE  "LBR"    ExtendedImmediate ld32 S8 0;
    0xb906 RRE  "LGBR"   ExtendedImmediate ld64 S8 0;
    0xb927 RRE  "LHR"    ExtendedImmediate ld32 S16 0;
    0xb907 RRE  "LGHR"   ExtendedImmediate ld64 S16 0;
    0xb994 RRE  "LLCR"   ExtendedImmediate ld32 U8 0;
    0xb984 RRE  "LLGCR"  ExtendedImmediate ld64 U8 0;
    0xb995 RRE  "LLHR"   ExtendedImmediate ld32 U16 0;
    0xb985 RRE  "LLGHR"  ExtendedImmediate ld64 U16 0;
    0x58   RXa  "L"      Base ld32  U32 0;
    0xe358 RXYa "LY"     LongDisplacement ld32 U32 0;
    0xe304 RXYa "LG"     Base ld64  U64 0;
    0xe314 RXYa "LGF"    Base ld64  S32 0;
    0xe316 RXYa "LLGF"   Base ld64  U32 0;
    0xe317 RXYa "LLGT"   Base ld64  U31 0;
    0x48   RXa  "LH"     Base ld32  S16 0;
    0xe378 RXYa "LHY"    LongDisplacement ld32 S16 0;
    0xe315 RXYa "LGH"    Base ld64  S16 0;
    0xe376 RXYa "LB"     LongDisplacement ld32 S8 0;
    0xe377 RXYa "LGB"    LongDisplacement ld64 S8 0;
    0xe394 RXYa "LLC"    ExtendedImmediate ld32 U8 0;
    0xe390 RXYa "LLGC"   Base ld64  U8 0;
    0xe395 RXYa "LLH"    ExtendedImmediate ld32 U16 0;
    0xe391 RXYa "LLGH"   Base ld64  U16 0;
    0xa708 RIa  "LHI"    Base ld32  S16 0;
    0xa709 RIa  "LGHI"   Base ld64  S16 0;
    0xc001 RILa "LGFI"   ExtendedImmediate ld64 S32 0;
    0xc00f RILa "LLILF"  ExtendedImmediate ld64 U32 0;
    0xc00e RILa "LLIHF"  ExtendedImmediate li_part U32 32;
    0xa50c RIa  "LLIHH"  Base li_part U16 48;
    0xa50d RIa  "LLIHL"  Base li_part U16 32;
    0xa50e RIa  "LLILH"  Base li_part U16 16;
    0xa50f RIa  "LLILL"  Base li_part U16 0;
    0xc008 RILa "IIHF"   ExtendedImmediate ii_part U32 32;
    0xc009 RILa "IILF"   ExtendedImmediate ii_part U32 0;
    0xa500 RIa  "IIHH"   Base ii_part U16 48;
    0xa501 RIa  "IIHL"   Base ii_part U16 32;
    0xa502 RIa  "IILH"   Base ii_part U16 16;
    0xa503 RIa  "IILL"   Base ii_part U16 0;
    0xc40d RILb "LRL"    GeneralInstructionsExtension ld32 U32 0;
    0xc408 RILb "LGRL"   GeneralInstructionsExtension ld64 U64 0;
    0xc40c RILb "LGFRL"  GeneralInstructionsExtension ld64 S32 0;
    0xc40e RILb "LLGFRL" GeneralInstructionsExtension ld64 U32 0;
    0xc405 RILb "LHRL"   GeneralInstructionsExtension ld32 S16 0;
    0xc404 RILb "LGHRL"  GeneralInstructionsExtension ld64 S16 0;
    0xc402 RILb "LLHRL"  GeneralInstructionsExtension ld32 U16 0;
    0xc406 RILb "LLGHRL" GeneralInstructionsExtension ld64 U16 0;
    0x12   RR   "LTR"    Base lt32  U32 0;
    0xb902 RRE  "LTGR"   Base lt64  U64 0;
    0xb912 RRE  "LTGFR"  Base lt64  S32 0;
    0xe312 RXYa "LT"     ExtendedImmediate lt32 U32 0;
    0xe302 RXYa "LTG"    ExtendedImmediate lt64 U64 0;
    0xe332 RXYa "LTGF"   GeneralInstructionsExtension lt64 S32 0;
    0x13   RR   "LCR"    Base lcomp32 U32 0;
    0xb903 RRE  "LCGR"   Base lcomp64 U64 0;
    0xb913 RRE  "LCGFR"  Base lcomp64 S32 0;
    0x11   RR   "LNR"    Base lneg32 U32 0;
    0xb901 RRE  "LNGR"   Base lneg64 U64 0;
    0xb911 RRE  "LNGFR"  Base lneg64 S32 0;
    0x10   RR   "LPR"    Base lpos32 U32 0;
    0xb900 RRE  "LPGR"   Base lpos64 U64 0;
    0xb910 RRE  "LPGFR"  Base lpos64 S32 0;
    0xb91f RRE  "LRVR"   Base lrv   U32 32;
    0xb90f RRE  "LRVGR"  Base lrv   U64 64;
    0xe31e RXYa "LRV"    Base lrv   U32 32;
    0xe30f RXYa "LRVG"   Base lrv   U64 64;
    0xe31f RXYa "LRVH"   Base lrv   U16 16;
    0x41   RXa  "LA"     Base la    Nil 0;
    0xe371 RXYa "LAY"    LongDisplacement la Nil 0;
    0xc000 RILb "LARL"   Base larl  Nil 0;
    0x43   RXa  "IC"     Base ic    Nil 0;
    0xe373 RXYa "ICY"    LongDisplacement ic Nil 0;
    0xbf   RSb  "ICM"    Base icm   Nil 0;
    0xeb81 RSYb "ICMY"   LongDisplacement icm Nil 0;
    0xeb80 RSYb "ICMH"   Base icm   Nil 32;
    0x98   RSa  "LM"     Base lm    Nil 0;
    0xeb98 RSYa "LMY"    LongDisplacement lm Nil 0;
    0xeb04 RSYa "LMG"    Base lm    Nil 64;
    0xeb96 RSYa "LMH"    Base lm    Nil 32;
    // ---- stores
    0x50   RXa  "ST"     Base st    Nil 4;
    0xe350 RXYa "STY"    LongDisplacement st Nil 4;
    0xe324 RXYa "STG"    Base st    Nil 8;
    0x40   RXa  "STH"    Base st    Nil 2;
    0xe370 RXYa "STHY"   LongDisplacement st Nil 2;
    0x42   RXa  "STC"    Base st    Nil 1;
    0xe372 RXYa "STCY"   LongDisplacement st Nil 1;
    0xc40f RILb "STRL"   GeneralInstructionsExtension st Nil 4;
    0xc40b RILb "STGRL"  GeneralInstructionsExtension st Nil 8;
    0xc407 RILb "STHRL"  GeneralInstructionsExtension st Nil 2;
    0xe33e RXYa "STRV"   Base strv  Nil 4;
    0xe32f RXYa "STRVG"  Base strv  Nil 8;
    0xe33f RXYa "STRVH"  Base strv  Nil 2;
    0xbe   RSb  "STCM"   Base stcm  Nil 0;
    0xeb2d RSYb "STCMY"  LongDisplacement stcm Nil 0;
    0xeb2c RSYb "STCMH"  Base stcm  Nil 32;
    0x90   RSa  "STM"    Base stm   Nil 0;
    0xeb90 RSYa "STMY"   LongDisplacement stm Nil 0;
    0xeb24 RSYa "STMG"   Base stm   Nil 64;
    0xeb26 RSYa "STMH"   Base stm   Nil 32;
    0xe544 SIL  "MVHHI"  GeneralInstructionsExtension mvhi Nil 2;
    0xe54c SIL  "MVHI"   GeneralInstructionsExtension mvhi Nil 4;
    0xe548 SIL  "MVGHI"  GeneralInstructionsExtension mvhi Nil 8;
    // ---- add / subtract
    0x1a   RR   "AR"     Base add32 U32 0;
    0xb9f8 RRFa "ARK"    Z196 add32 U32 0;
    0xb908 RRE  "AGR"    Base add64 U64 0;
    0xb9e8 RRFa "AGRK"   Z196 add64 U64 0;
    0xb918 RRE  "AGFR"   Base add64 S32 0;
    0x5a   RXa  "A"      Base add32 U32 0;
    0xe35a RXYa "AY"     LongDisplacement add32 U32 0;
    0xe308 RXYa "AG"     Base add64 U64 0;
    0xe318 RXYa "AGF"    Base add64 S32 0;
    0x4a   RXa  "AH"     Base add32 S16 0;
    0xe37a RXYa "AHY"    LongDisplacement add32 S16 0;
    0xa70a RIa  "AHI"    Base add32 S16 0;
    0xa70b RIa  "AGHI"   Base add64 S16 0;
    0xecd8 RIEd "AHIK"   Z196 add32 S16 0;
    0xecd9 RIEd "AGHIK"  Z196 add64 S16 0;
    0xc209 RILa "AFI"    ExtendedImmediate add32 S32 0;
    0xc208 RILa "AGFI"   ExtendedImmediate add64 S32 0;
    0xeb6a SIY  "ASI"    GeneralInstructionsExtension asi S8 0;
    0xeb7a SIY  "AGSI"   GeneralInstructionsExtension asi S8 1;
    0xeb6e SIY  "ALSI"   GeneralInstructionsExtension asi S8 2;
    0xeb7e SIY  "ALGSI"  GeneralInstructionsExtension asi S8 3;
    0x1e   RR   "ALR"    Base addl32 U32 0;
    0xb9fa RRFa "ALRK"   Z196 addl32 U32 0;
    0xb90a RRE  "ALGR"   Base addl64 U64 0;
    0xb9ea RRFa "ALGRK"  Z196 addl64 U64 0;
    0xb91a RRE  "ALGFR"  Base addl64 U32 0;
    0x5e   RXa  "AL"     Base addl32 U32 0;
    0xe35e RXYa "ALY"    LongDisplacement addl32 U32 0;
    0xe30a RXYa "ALG"    Base addl64 U64 0;
    0xe31a RXYa "ALGF"   Base addl64 U32 0;
    0xc20b RILa "ALFI"   ExtendedImmediate addl32 U32 0;
    0xc20a RILa "ALGFI"  ExtendedImmediate addl64 U32 0;
    0xecda RIEd "ALHSIK" Z196 addl32 S16 0;
    0xecdb RIEd "ALGHSIK" Z196 addl64 S16 0;
    0xb998 RRE  "ALCR"   Base alc32 U32 0;
    0xb988 RRE  "ALCGR"  Base alc64 U64 0;
    0xe398 RXYa "ALC"    Base alc32 U32 0;
    0xe388 RXYa "ALCG"   Base alc64 U64 0;
    0x1b   RR   "SR"     Base sub32 U32 0;
    0xb9f9 RRFa "SRK"    Z196 sub32 U32 0;
    0xb909 RRE  "SGR"    Base sub64 U64 0;
    0xb9e9 RRFa "SGRK"   Z196 sub64 U64 0;
    0xb919 RRE  "SGFR"   Base sub64 S32 0;
    0x5b   RXa  "S"      Base sub32 U32 0;
    0xe35b RXYa "SY"     LongDisplacement sub32 U32 0;
    0xe309 RXYa "SG"     Base sub64 U64 0;
    0xe319 RXYa "SGF"    Base sub64 S32 0;
    0x4b   RXa  "SH"     Base sub32 S16 0;
    0xe37b RXYa "SHY"    LongDisplacement sub32 S16 0;
    0x1f   RR   "SLR"    Base subl32 U32 0;
    0xb9fb RRFa "SLRK"   Z196 subl32 U32 0;
    0xb90b RRE  "SLGR"   Base subl64 U64 0;
    0xb9eb RRFa "SLGRK"  Z196 subl64 U64 0;
    0xb91b RRE  "SLGFR"  Base subl64 U32 0;
    0x5f   RXa  "SL"     Base subl32 U32 0;
    0xe35f RXYa "SLY"    LongDisplacement subl32 U32 0;
    0xe30b RXYa "SLG"    Base subl64 U64 0;
    0xe31b RXYa "SLGF"   Base subl64 U32 0;
    0xc205 RILa "SLFI"   ExtendedImmediate subl32 U32 0;
    0xc204 RILa "SLGFI"  ExtendedImmediate subl64 U32 0;
    0xb999 RRE  "SLBR"   Base slb32 U32 0;
    0xb989 RRE  "SLBGR"  Base slb64 U64 0;
    0xe399 RXYa "SLB"    Base slb32 U32 0;
    0xe389 RXYa "SLBG"   Base slb64 U64 0;
    // ---- multiply / divide
    0xb252 RRE  "MSR"    Base mul32 U32 0;
    0xb90c RRE  "MSGR"   Base mul64 U64 0;
    0xb91c RRE  "MSGFR"  Base mul64 S32 0;
    0x71   RXa  "MS"     Base mul32 U32 0;
    0xe351 RXYa "MSY"    LongDisplacement mul32 U32 0;
    0xe30c RXYa "MSG"    Base mul64 U64 0;
    0xe31c RXYa "MSGF"   Base mul64 S32 0;
    0x4c   RXa  "MH"     Base mul32 S16 0;
    0xe37c RXYa "MHY"    GeneralInstructionsExtension mul32 S16 0;
    0xa70c RIa  "MHI"    Base mul32 S16 0;
    0xa70d RIa  "MGHI"   Base mul64 S16 0;
    0xc201 RILa "MSFI"   GeneralInstructionsExtension mul32 S32 0;
    0xc200 RILa "MSGFI"  GeneralInstructionsExtension mul64 S32 0;
    0x1c   RR   "MR"     Base mul_pair32 S32 0;
    0x5c   RXa  "M"      Base mul_pair32 S32 0;
    0xe35c RXYa "MFY"    GeneralInstructionsExtension mul_pair32 S32 0;
    0xb996 RRE  "MLR"    Base mul_pair32 U32 1;
    0xe396 RXYa "ML"     Base mul_pair32 U32 1;
    0xb986 RRE  "MLGR"   Base mlg   U64 0;
    0xe386 RXYa "MLG"    Base mlg   U64 0;
    0x1d   RR   "DR"     Base div32 S32 0;
    0x5d   RXa  "D"      Base div32 S32 0;
    0xb997 RRE  "DLR"    Base div32 U32 1;
    0xe397 RXYa "DL"     Base div32 U32 1;
    0xb987 RRE  "DLGR"   Base dlg   U64 0;
    0xe387 RXYa "DLG"    Base dlg   U64 0;
    0xb90d RRE  "DSGR"   Base dsg   U64 0;
    0xb91d RRE  "DSGFR"  Base dsg   S32 0;
    0xe30d RXYa "DSG"    Base dsg   U64 0;
    0xe31d RXYa "DSGF"   Base dsg   S32 0;
    // ---- logical
    0x14   RR   "NR"     Base and32 U32 0;
    0xb9f4 RRFa "NRK"    Z196 and32 U32 0;
    0xb980 RRE  "NGR"    Base and64 U64 0;
    0xb9e4 RRFa "NGRK"   Z196 and64 U64 0;
    0x54   RXa  "N"      Base and32 U32 0;
    0xe354 RXYa "NY"     LongDisplacement and32 U32 0;
    0xe380 RXYa "NG"     Base and64 U64 0;
    0x16   RR   "OR"     Base or32  U32 0;
    0xb9f6 RRFa "ORK"    Z196 or32  U32 0;
    0xb981 RRE  "OGR"    Base or64  U64 0;
    0xb9e6 RRFa "OGRK"   Z196 or64  U64 0;
    0x56   RXa  "O"      Base or32  U32 0;
    0xe356 RXYa "OY"     LongDisplacement or32 U32 0;
    0xe381 RXYa "OG"     Base or64  U64 0;
    0x17   RR   "XR"     Base xor32 U32 0;
    0xb9f7 RRFa "XRK"    Z196 xor32 U32 0;
    0xb982 RRE  "XGR"    Base xor64 U64 0;
    0xb9e7 RRFa "XGRK"   Z196 xor64 U64 0;
    0x57   RXa  "X"      Base xor32 U32 0;
    0xe357 RXYa "XY"     LongDisplacement xor32 U32 0;
    0xe382 RXYa "XG"     Base xor64 U64 0;
    0xc00a RILa "NIHF"   ExtendedImmediate logic_part U32 32;
    0xc00b RILa "NILF"   ExtendedImmediate logic_part U32 0;
    0xa504 RIa  "NIHH"   Base logic_part U16 48;
    0xa505 RIa  "NIHL"   Base logic_part U16 32;
    0xa506 RIa  "NILH"   Base logic_part U16 16;
    0xa507 RIa  "NILL"   Base logic_part U16 0;
    0xc00c RILa "OIHF"   ExtendedImmediate logic_part U32 0x60;
    0xc00d RILa "OILF"   ExtendedImmediate logic_part U32 0x40;
    0xa508 RIa  "OIHH"   Base logic_part U16 0x70;
    0xa509 RIa  "OIHL"   Base logic_part U16 0x60;
    0xa50a RIa  "OILH"   Base logic_part U16 0x50;
    0xa50b RIa  "OILL"   Base logic_part U16 0x40;
    0xc006 RILa "XIHF"   ExtendedImmediate logic_part U32 0xa0;
    0xc007 RILa "XILF"   ExtendedImmediate logic_part U32 0x80;
    0xa700 RIa  "TMLH"   Base tm_part U16 16;
    0xa701 RIa  "TMLL"   Base tm_part U16 0;
    0xa702 RIa  "TMHH"   Base tm_part U16 48;
    0xa703 RIa  "TMHL"   Base tm_part U16 32;
    0x94   SI   "NI"     Base si_logic Nil 0;
    0xeb54 SIY  "NIY"    LongDisplacement si_logic Nil 0;
    0x96   SI   "OI"     Base si_logic Nil 1;
    0xeb56 SIY  "OIY"    LongDisplacement si_logic Nil 1;
    0x97   SI   "XI"     Base si_logic Nil 2;
    0xeb57 SIY  "XIY"    LongDisplacement si_logic Nil 2;
    0x92   SI   "MVI"    Base si_logic Nil 3;
    0xeb52 SIY  "MVIY"   LongDisplacement si_logic Nil 3;
    0x95   SI   "CLI"    Base cli   Nil 0;
    0xeb55 SIY  "CLIY"   LongDisplacement cli Nil 0;
    0x91   SI   "TM"     Base tm    Nil 0;
    0xeb51 SIY  "TMY"    LongDisplacement tm Nil 0;
    // ---- compare
    0x19   RR   "CR"     Base cmp32 U32 0;
    0xb920 RRE  "CGR"    Base cmp64 U64 0;
    0xb930 RRE  "CGFR"   Base cmp64 S32 0;
    0x59   RXa  "C"      Base cmp32 U32 0;
    0xe359 RXYa "CY"     LongDisplacement cmp32 U32 0;
    0xe320 RXYa "CG"     Base cmp64 U64 0;
    0xe330 RXYa "CGF"    Base cmp64 S32 0;
    0x49   RXa  "CH"     Base cmp32 S16 0;
    0xe379 RXYa "CHY"    LongDisplacement cmp32 S16 0;
    0xe334 RXYa "CGH"    GeneralInstructionsExtension cmp64 S16 0;
    0xa70e RIa  "CHI"    Base cmp32 S16 0;
    0xa70f RIa  "CGHI"   Base cmp64 S16 0;
    0xc20d RILa "CFI"    ExtendedImmediate cmp32 S32 0;
    0xc20c RILa "CGFI"   ExtendedImmediate cmp64 S32 0;
    0xc60d RILb "CRL"    GeneralInstructionsExtension cmp32 U32 0;
    0xc608 RILb "CGRL"   GeneralInstructionsExtension cmp64 U64 0;
    0xc60c RILb "CGFRL"  GeneralInstructionsExtension cmp64 S32 0;
    0xc605 RILb "CHRL"   GeneralInstructionsExtension cmp32 S16 0;
    0xc604 RILb "CGHRL"  GeneralInstructionsExtension cmp64 S16 0;
    0x15   RR   "CLR"    Base cmpl32 U32 0;
    0xb921 RRE  "CLGR"   Base cmpl64 U64 0;
    0xb931 RRE  "CLGFR"  Base cmpl64 U32 0;
    0x55   RXa  "CL"     Base cmpl32 U32 0;
    0xe355 RXYa "CLY"    LongDisplacement cmpl32 U32 0;
    0xe321 RXYa "CLG"    Base cmpl64 U64 0;
    0xe331 RXYa "CLGF"   Base cmpl64 U32 0;
    0xc20f RILa "CLFI"   ExtendedImmediate cmpl32 U32 0;
    0xc20e RILa "CLGFI"  ExtendedImmediate cmpl64 U32 0;
    0xc60f RILb "CLRL"   GeneralInstructionsExtension cmpl32 U32 0;
    0xc60a RILb "CLGRL"  GeneralInstructionsExtension cmpl64 U64 0;
    0xc60e RILb "CLGFRL" GeneralInstructionsExtension cmpl64 U32 0;
    0xc607 RILb "CLHRL"  GeneralInstructionsExtension cmpl32 U16 0;
    0xc606 RILb "CLGHRL" GeneralInstructionsExtension cmpl64 U16 0;
    0xe554 SIL  "CHHSI"  GeneralInstructionsExtension chsi Nil 2;
    0xe55c SIL  "CHSI"   GeneralInstructionsExtension chsi Nil 4;
    0xe558 SIL  "CGHSI"  GeneralInstructionsExtension chsi Nil 8;
    0xe555 SIL  "CLHHSI" GeneralInstructionsExtension chsi Nil 0x82;
    0xe55d SIL  "CLFHSI" GeneralInstructionsExtension chsi Nil 0x84;
    0xe559 SIL  "CLGHSI" GeneralInstructionsExtension chsi Nil 0x88;
    0xbd   RSb  "CLM"    Base clm   Nil 0;
    0xeb21 RSYb "CLMY"   LongDisplacement clm Nil 0;
    0xeb20 RSYb "CLMH"   Base clm   Nil 32;
    // compare and branch / trap: aux bit 0 = 64-bit, bit 1 = logical
    0xec76 RIEb "CRJ"    GeneralInstructionsExtension cmp_jump S32 0;
    0xec64 RIEb "CGRJ"   GeneralInstructionsExtension cmp_jump U64 1;
    0xec77 RIEb "CLRJ"   GeneralInstructionsExtension cmp_jump U32 2;
    0xec65 RIEb "CLGRJ"  GeneralInstructionsExtension cmp_jump U64 3;
    0xec7e RIEc "CIJ"    GeneralInstructionsExtension cmp_jump S8 0;
    0xec7c RIEc "CGIJ"   GeneralInstructionsExtension cmp_jump S8 1;
    0xec7f RIEc "CLIJ"   GeneralInstructionsExtension cmp_jump U8 2;
    0xec7d RIEc "CLGIJ"  GeneralInstructionsExtension cmp_jump U8 3;
    0xecf6 RRS  "CRB"    GeneralInstructionsExtension cmp_jump S32 0;
    0xece4 RRS  "CGRB"   GeneralInstructionsExtension cmp_jump U64 1;
    0xecf7 RRS  "CLRB"   GeneralInstructionsExtension cmp_jump U32 2;
    0xece5 RRS  "CLGRB"  GeneralInstructionsExtension cmp_jump U64 3;
    0xecfe RIS  "CIB"    GeneralInstructionsExtension cmp_jump S8 0;
    0xecfc RIS  "CGIB"   GeneralInstructionsExtension cmp_jump S8 1;
    0xecff RIS  "CLIB"   GeneralInstructionsExtension cmp_jump U8 2;
    0xecfd RIS  "CLGIB"  GeneralInstructionsExtension cmp_jump U8 3;
    0xb972 RRFc "CRT"    GeneralInstructionsExtension cmp_jump S32 0;
    0xb960 RRFc "CGRT"   GeneralInstructionsExtension cmp_jump U64 1;
    0xb973 RRFc "CLRT"   GeneralInstructionsExtension cmp_jump U32 2;
    0xb961 RRFc "CLGRT"  GeneralInstructionsExtension cmp_jump U64 3;
    0xec72 RIEa "CIT"    GeneralInstructionsExtension cmp_jump S16 0;
    0xec70 RIEa "CGIT"   GeneralInstructionsExtension cmp_jump S16 1;
    0xec73 RIEa "CLFIT"  GeneralInstructionsExtension cmp_jump U16 2;
    0xec71 RIEa "CLGIT"  GeneralInstructionsExtension cmp_jump U16 3;
    // ---- shifts and rotates
    0x89   RSa  "SLL"    Base shift Nil 0x00;
    0x88   RSa  "SRL"    Base shift Nil 0x01;
    0x8b   RSa  "SLA"    Base shift Nil 0x02;
    0x8a   RSa  "SRA"    Base shift Nil 0x03;
    0xebdf RSYa "SLLK"   Z196 shift Nil 0x00;
    0xebde RSYa "SRLK"   Z196 shift Nil 0x01;
    0xebdd RSYa "SLAK"   Z196 shift Nil 0x02;
    0xebdc RSYa "SRAK"   Z196 shift Nil 0x03;
    0xeb0d RSYa "SLLG"   Base shift Nil 0x10;
    0xeb0c RSYa "SRLG"   Base shift Nil 0x11;
    0xeb0b RSYa "SLAG"   Base shift Nil 0x12;
    0xeb0a RSYa "SRAG"   Base shift Nil 0x13;
    0xeb1d RSYa "RLL"    Base shift Nil 0x04;
    0xeb1c RSYa "RLLG"   Base shift Nil 0x14;
    0x8d   RSa  "SLDL"   Base shift Nil 0x20;
    0x8c   RSa  "SRDL"   Base shift Nil 0x21;
    0x8f   RSa  "SLDA"   Base shift Nil 0x22;
    0x8e   RSa  "SRDA"   Base shift Nil 0x23;
    0xec55 RIEf "RISBG"  GeneralInstructionsExtension rsbg Nil 0;
    0xec54 RIEf "RNSBG"  GeneralInstructionsExtension rsbg Nil 1;
    0xec56 RIEf "ROSBG"  GeneralInstructionsExtension rsbg Nil 2;
    0xec57 RIEf "RXSBG"  GeneralInstructionsExtension rsbg Nil 3;
    // ---- branches
    0x07   RR   "BCR"    Base bc    Nil 0;
    0x47   RXb  "BC"     Base bc    Nil 0;
    0xa704 RIc  "BRC"    Base bc    Nil 0;
    0xc004 RILc "BRCL"   Base bc    Nil 0;
    0x0d   RR   "BASR"   Base bas   Nil 0;
    0x4d   RXa  "BAS"    Base bas   Nil 0;
    0x05   RR   "BALR"   Base bas   Nil 1;
    0x45   RXa  "BAL"    Base bas   Nil 1;
    0xa705 RIb  "BRAS"   Base bas   Nil 0;
    0xc005 RILb "BRASL"  Base bas   Nil 0;
    0x06   RR   "BCTR"   Base bct   Nil 0;
    0x46   RXa  "BCT"    Base bct   Nil 0;
    0xa706 RIb  "BRCT"   Base bct   Nil 0;
    0xb946 RRE  "BCTGR"  Base bct   Nil 1;
    0xe346 RXYa "BCTG"   Base bct   Nil 1;
    0xa707 RIb  "BRCTG"  Base bct   Nil 1;
    0x86   RSa  "BXH"    Base bx    Nil 0;
    0x87   RSa  "BXLE"   Base bx    Nil 1;
    0xeb44 RSYa "BXHG"   Base bx    Nil 2;
    0xeb45 RSYa "BXLEG"  Base bx    Nil 3;
    0x84   RSI  "BRXH"   Base bx    Nil 0;
    0x85   RSI  "BRXLE"  Base bx    Nil 1;
    0xec44 RIEe "BRXHG"  Base bx    Nil 2;
    0xec45 RIEe "BRXLG"  Base bx    Nil 3;
    // ---- storage-to-storage and strings
    0xd2   SSa  "MVC"    Base ss    Nil 0;
    0xd4   SSa  "NC"     Base ss    Nil 1;
    0xd6   SSa  "OC"     Base ss    Nil 2;
    0xd7   SSa  "XC"     Base ss    Nil 3;
    0xd1   SSa  "MVN"    Base ss    Nil 4;
    0xd3   SSa  "MVZ"    Base ss    Nil 5;
    0xd5   SSa  "CLC"    Base clc   Nil 0;
    0xdd   SSa  "TRT"    Base trt   Nil 0;
    0xdc   SSa  "TR"     Base tr    Nil 0;
    0x0e   RR   "MVCL"   Base mvcl  Nil 0;
    0xa8   RSa  "MVCLE"  Base mvcl  Nil 1;
    0x0f   RR   "CLCL"   Base clcl  Nil 0;
    0xa9   RSa  "CLCLE"  Base clcl  Nil 1;
    0xb25d RRE  "CLST"   Base clst  Nil 0;
    0xb25e RRE  "SRST"   Base srst  Nil 0;
    0xb255 RRE  "MVST"   Base mvst  Nil 0;
    // ---- execute, interlocked, miscellaneous
    0x44   RXa  "EX"     Base ex    Nil 0;
    0xc600 RILb "EXRL"   GeneralInstructionsExtension ex Nil 1;
    0xba   RSa  "CS"     Base cs    Nil 4;
    0xeb14 RSYa "CSY"    LongDisplacement cs Nil 4;
    0xeb30 RSYa "CSG"    Base cs    Nil 8;
    0xbb   RSa  "CDS"    Base cds   Nil 4;
    0xeb31 RSYa "CDSY"   LongDisplacement cds Nil 4;
    0xeb3e RSYa "CDSG"   Base cds   Nil 8;
    0xc802 SSF  "CSST"   CompareAndSwapAndStore csst Nil 0;
    0xc800 SSF  "MVCOS"  MoveWithOptionalSpecifications mvcos Nil 0;
    0xda   SSd  "MVCP"   Base mvcp  Nil 0;
    0xdb   SSd  "MVCS"   Base mvcp  Nil 1;
    0xd9   SSd  "MVCK"   Base mvck  Nil 0;
    0xe50e SSE  "MVCSK"  Base mvcsk Nil 0;
    0xe50f SSE  "MVCDK"  Base mvcsk Nil 1;
    0xb222 RRE  "IPM"    Base ipm   Nil 0;
    0xb2b0 S    "STFLE"  Base stfle Nil 0;
    0x04   RR   "SPM"    Base spm   Nil 0;
    0xb983 RRE  "FLOGR"  ExtendedImmediate flogr Nil 0;
    0xb9e1 RRFc "POPCNT" Z196 popcnt Nil 0;
    0xb24f RRE  "EAR"    Base ear   Nil 0;
    0xb24e RRE  "SAR"    Base sar   Nil 0;
    0xe336 RXYb "PFD"    GeneralInstructionsExtension nop Nil 0;
    0xc602 RILc "PFDRL"  GeneralInstructionsExtension nop Nil 0;
    0xb9f2 RRFc "LOCR"   Z196 loc   U32 0;
    0xb9e2 RRFc "LOCGR"  Z196 loc   U64 0;
    0xebf2 RSYb "LOC"    Z196 loc   U32 0;
    0xebe2 RSYb "LOCG"   Z196 loc   U64 0;
    0xebf3 RSYb "STOC"   Z196 stoc  Nil 4;
    0xebe3 RSYb "STOCG"  Z196 stoc  Nil 8;
    // ---- floating-point data movement (aux: 0 long, 1 short; the short format lives in
    // bits 0-31 of the FPR)
    0x28   RR   "LDR"    Base fp_move Nil 0;
    0x38   RR   "LER"    Base fp_move Nil 1;
    0x68   RXa  "LD"     Base fp_load Nil 0;
    0xed65 RXYa "LDY"    LongDisplacement fp_load Nil 0;
    0x78   RXa  "LE"     Base fp_load Nil 1;
    0xed64 RXYa "LEY"    LongDisplacement fp_load Nil 1;
    0x60   RXa  "STD"    Base fp_store Nil 0;
    0xed67 RXYa "STDY"   LongDisplacement fp_store Nil 0;
    0x70   RXa  "STE"    Base fp_store Nil 1;
    0xed66 RXYa "STEY"   LongDisplacement fp_store Nil 1;
    0xb375 RRE  "LZDR"   Base fp_zero Nil 0;
    0xb374 RRE  "LZER"   Base fp_zero Nil 1;
    0xb3c1 RRE  "LDGR"   FpSupportSign fp_gr Nil 0;
    0xb3cd RRE  "LGDR"   FpSupportSign fp_gr Nil 1;
    0xb370 RRE  "LPDFR"  FpSupportSign fp_sign Nil 0;
    0xb371 RRE  "LNDFR"  FpSupportSign fp_sign Nil 1;
    0xb373 RRE  "LCDFR"  FpSupportSign fp_sign Nil 2;
    0xb372 RRFb "CPSDR"  FpSupportSign fp_sign Nil 3;
    // ---- binary floating point (src/cpu/bfp.rs; aux bit 0: short format)
    0xb30a RRE  "AEBR"   Base bfp_arith Nil 1;
    0xb31a RRE  "ADBR"   Base bfp_arith Nil 0;
    0xb30b RRE  "SEBR"   Base bfp_arith Nil 3;
    0xb31b RRE  "SDBR"   Base bfp_arith Nil 2;
    0xb317 RRE  "MEEBR"  Base bfp_arith Nil 5;
    0xb31c RRE  "MDBR"   Base bfp_arith Nil 4;
    0xb30d RRE  "DEBR"   Base bfp_arith Nil 7;
    0xb31d RRE  "DDBR"   Base bfp_arith Nil 6;
    0xed0a RXE  "AEB"    Base bfp_arith Nil 1;
    0xed1a RXE  "ADB"    Base bfp_arith Nil 0;
    0xed0b RXE  "SEB"    Base bfp_arith Nil 3;
    0xed1b RXE  "SDB"    Base bfp_arith Nil 2;
    0xed17 RXE  "MEEB"   Base bfp_arith Nil 5;
    0xed1c RXE  "MDB"    Base bfp_arith Nil 4;
    0xed0d RXE  "DEB"    Base bfp_arith Nil 7;
    0xed1d RXE  "DDB"    Base bfp_arith Nil 6;
    0xb309 RRE  "CEBR"   Base bfp_cmp Nil 1;
    0xb319 RRE  "CDBR"   Base bfp_cmp Nil 0;
    0xb308 RRE  "KEBR"   Base bfp_cmp Nil 3;
    0xb318 RRE  "KDBR"   Base bfp_cmp Nil 2;
    0xed09 RXE  "CEB"    Base bfp_cmp Nil 1;
    0xed19 RXE  "CDB"    Base bfp_cmp Nil 0;
    0xed08 RXE  "KEB"    Base bfp_cmp Nil 3;
    0xed18 RXE  "KDB"    Base bfp_cmp Nil 2;
    0xb302 RRE  "LTEBR"  Base bfp_lt Nil 1;
    0xb312 RRE  "LTDBR"  Base bfp_lt Nil 0;
    0xb303 RRE  "LCEBR"  Base bfp_sign Nil 1;
    0xb313 RRE  "LCDBR"  Base bfp_sign Nil 0;
    0xb301 RRE  "LNEBR"  Base bfp_sign Nil 3;
    0xb311 RRE  "LNDBR"  Base bfp_sign Nil 2;
    0xb300 RRE  "LPEBR"  Base bfp_sign Nil 5;
    0xb310 RRE  "LPDBR"  Base bfp_sign Nil 4;
    0xb314 RRE  "SQEBR"  Base bfp_sqrt Nil 1;
    0xb315 RRE  "SQDBR"  Base bfp_sqrt Nil 0;
    0xed14 RXE  "SQEB"   Base bfp_sqrt Nil 1;
    0xed15 RXE  "SQDB"   Base bfp_sqrt Nil 0;
    0xb304 RRE  "LDEBR"  Base bfp_convert Nil 0;
    0xed04 RXE  "LDEB"   Base bfp_convert Nil 0;
    0xb344 RRE  "LEDBR"  Base bfp_convert Nil 1;
    0xb394 RRE  "CEFBR"  Base bfp_from_fixed Nil 1;
    0xb395 RRE  "CDFBR"  Base bfp_from_fixed Nil 0;
    0xb3a4 RRE  "CEGBR"  Base bfp_from_fixed Nil 3;
    0xb3a5 RRE  "CDGBR"  Base bfp_from_fixed Nil 2;
    0xb398 RRFe "CFEBR"  Base bfp_to_fixed Nil 1;
    0xb399 RRFe "CFDBR"  Base bfp_to_fixed Nil 0;
    0xb3a8 RRFe "CGEBR"  Base bfp_to_fixed Nil 3;
    0xb3a9 RRFe "CGDBR"  Base bfp_to_fixed Nil 2;
    0xb384 RRE  "SFPC"   Base sfpc  Nil 0;
    0xb38c RRE  "EFPC"   Base efpc  Nil 0;
    0xb29d S    "LFPC"   Base lfpc  Nil 0;
    0xb29c S    "STFPC"  Base stfpc Nil 0;
    0xb299 S    "SRNM"   Base srnm  Nil 0;
    // ---- supervisor (src/cpu/supervisor.rs): PSW, control registers, prefix
    0x0a   I    "SVC"    Base svc   Nil 0;
    0x82   S    "LPSW"   Base lpsw  Nil 0;
    0xb2b2 S    "LPSWE"  Base lpswe Nil 0;
    0x80   S    "SSM"    Base ssm   Nil 0;
    0xac   SI   "STNSM"  Base stxsm Nil 0;
    0xad   SI   "STOSM"  Base stxsm Nil 1;
    0xb20a S    "SPKA"   Base spka  Nil 0;
    0xb20b S    "IPK"    Base ipk   Nil 0;
    0xb219 S    "SAC"    Base sac   Nil 0;
    0xb279 S    "SACF"   Base sac   Nil 1;
    0xb98d RRE  "EPSW"   Base epsw  Nil 0;
    0xb7   RSa  "LCTL"   Base lctl  Nil 4;
    0xeb2f RSYa "LCTLG"  Base lctl  Nil 8;
    0xb6   RSa  "STCTL"  Base stctl Nil 4;
    0xeb25 RSYa "STCTG"  Base stctl Nil 8;
    0xb210 S    "SPX"    Base spx   Nil 0;
    0xb211 S    "STPX"   Base stpx  Nil 0;
    0xb212 S    "STAP"   Base stap  Nil 0;
    0xb202 S    "STIDP"  Base stidp Nil 0;
    // clocks and timers (the machine's)
    0xb205 S    "STCK"   Base stck  Nil 0;
    0xb27c S    "STCKF"  Base stck  Nil 1;
    0xb278 S    "STCKE"  Base stcke Nil 0;
    0xb204 S    "SCK"    Base sck   Nil 0;
    0x0107 E    "SCKPF"  Base sckpf Nil 0;
    0xb206 S    "SCKC"   Base set_timer Nil 0;
    0xb208 S    "SPT"    Base set_timer Nil 1;
    0xb207 S    "STCKC"  Base store_timer Nil 0;
    0xb209 S    "STPT"   Base store_timer Nil 1;
    // DAT and TLB (walks through the machine, table entries at absolute addresses)
    0xb1   RXa  "LRA"    Base lra   Nil 0;
    0xe313 RXYa "LRAY"   LongDisplacement lra Nil 0;
    0xe303 RXYa "LRAG"   Base lra   Nil 1;
    0xe501 SSE  "TPROT"  Base tprot Nil 0;
    0xb20d S    "PTLB"   Base ptlb  Nil 0;
    0xb221 RRFa "IPTE"   Base ipte  Nil 0;
    0xb98e RRFb "IDTE"   Base idte  Nil 0;
    0xb250 RRE  "CSP"    Base csp   Nil 4;
    0xb98a RRE  "CSPG"   Base csp   Nil 8;
    // storage keys (the machine's) and frames
    0xb22b RRFc "SSKE"   Base sske  Nil 0;
    0xb229 RRE  "ISKE"   Base iske  Nil 0;
    0xb22a RRE  "RRBE"   Base rrbe  Nil 0;
    0xb223 RRE  "IVSK"   Base ivsk  Nil 0;
    0xb9af RRE  "PFMF"   Base pfmf  Nil 0;
    0xb22c RRE  "TB"     Base tb    Nil 0;
    0xb2b1 S    "STFL"   Base stfl  Nil 0;
    // intercepted to KVM or userspace
    0xae   RSa  "SIGP"   Base intercept Nil 0;
    0x83   RSa  "DIAG"   Base intercept Nil 0;
    0xb27d S    "STSI"   Base intercept Nil 0;
    0xb220 RRE  "SERVC"  Base intercept Nil 0;
    0xb9ab RRFc "ESSA"   Base intercept Nil 0;
    0xb214 S    "SIE"    Base intercept Nil 0;
    0xb230 S    "CSCH"   Base intercept Nil 0;
    0xb231 S    "HSCH"   Base intercept Nil 0;
    0xb232 S    "MSCH"   Base intercept Nil 0;
    0xb233 S    "SSCH"   Base intercept Nil 0;
    0xb234 S    "STSCH"  Base intercept Nil 0;
    0xb235 S    "TSCH"   Base intercept Nil 0;
    0xb236 S    "TPI"    Base intercept Nil 0;
    0xb237 S    "SAL"    Base intercept Nil 0;
    0xb238 S    "RSCH"   Base intercept Nil 0;
    0xb239 S    "STCRW"  Base intercept Nil 0;
    0xb23a S    "STCPS"  Base intercept Nil 0;
    0xb23b S    "RCHP"   Base intercept Nil 0;
    0xb23c S    "SCHM"   Base intercept Nil 0;
    0xb25f RRE  "CHSC"   Base intercept Nil 0;
    0xb274 S    "SIGA"   Base intercept Nil 0;
    0xb276 S    "XSCH"   Base intercept Nil 0;
}

/// Encode the fields of `i` with the opcode of `i.def` (the inverse of [`decode`]): the
/// instruction bytes, of which the first `i.def`'s length are meaningful.
pub fn encode(i: &Insn) -> [u8; 6] {
    let d = i.def;
    let op = d.opcode;
    let mut raw: u64 = 0;
    let mut put = |start: u32, len: u32, v: u64| {
        let m = (1u64 << len) - 1;
        raw |= (v & m) << (48 - start - len);
    };
    let (op1, op2) = if op > 0xff {
        ((op >> 8) as u64, (op & 0xff) as u64)
    } else {
        (op as u64, 0)
    };
    put(0, 8, op1);
    match op1 {
        0x01 | 0xb2 | 0xb3 | 0xb9 | 0xe5 => put(8, 8, op2),
        0xa5 | 0xa7 | 0xc0 | 0xc2 | 0xc4 | 0xc6 | 0xc8 | 0xcc => put(12, 4, op2),
        0xe3 | 0xe7 | 0xeb | 0xec | 0xed => put(40, 8, op2),
        _ => {}
    }
    let r = |x: u8| u64::from(x);
    let dl = |x: i32| (x as u64 & 0xfff, (x as u64 >> 12) & 0xff);
    use Format::*;
    match d.format {
        E => {}
        I => put(8, 8, u64::from(i.i2)),
        RR => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.r2));
        }
        RRE => {
            put(24, 4, r(i.r1));
            put(28, 4, r(i.r2));
        }
        RRFa | RRFb | RRFc | RRFd | RRFe => {
            let f16 = if matches!(d.format, RRFa | RRFb) {
                i.r3
            } else {
                i.m3
            };
            put(16, 4, r(f16));
            put(20, 4, r(i.m4));
            put(24, 4, r(i.r1));
            put(28, 4, r(i.r2));
        }
        RRD => {
            put(16, 4, r(i.r1));
            put(24, 4, r(i.r3));
            put(28, 4, r(i.r2));
        }
        RXa | RXb | RXE | RXF | RXYa | RXYb => {
            put(8, 4, r(if d.format == RXF { i.r3 } else { i.r1 }));
            put(12, 4, r(i.x2));
            put(16, 4, r(i.b2));
            if matches!(d.format, RXYa | RXYb) {
                let (lo, hi) = dl(i.d2);
                put(20, 12, lo);
                put(32, 8, hi);
            } else {
                put(20, 12, i.d2 as u64);
            }
            if d.format == RXE {
                put(32, 4, r(i.m3));
            }
            if d.format == RXF {
                put(32, 4, r(i.r1));
            }
        }
        RSa | RSb | RSYa | RSYb => {
            put(8, 4, r(i.r1));
            put(
                12,
                4,
                r(if matches!(d.format, RSb | RSYb) {
                    i.m3
                } else {
                    i.r3
                }),
            );
            put(16, 4, r(i.b2));
            if matches!(d.format, RSYa | RSYb) {
                let (lo, hi) = dl(i.d2);
                put(20, 12, lo);
                put(32, 8, hi);
            } else {
                put(20, 12, i.d2 as u64);
            }
        }
        RSI | RIEe => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.r3));
            put(16, 16, i.ri as u64);
        }
        RIEa => {
            put(8, 4, r(i.r1));
            put(16, 16, u64::from(i.i2));
            put(32, 4, r(i.m3));
        }
        RIEb => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.r2));
            put(16, 16, i.ri as u64);
            put(32, 4, r(i.m3));
        }
        RIEc => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.m3));
            put(16, 16, i.ri as u64);
            put(32, 8, u64::from(i.i2));
        }
        RIEd | RIEg => {
            put(8, 4, r(i.r1));
            put(12, 4, r(if d.format == RIEd { i.r3 } else { i.m3 }));
            put(16, 16, u64::from(i.i2));
        }
        RIEf => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.r2));
            put(16, 8, u64::from(i.i3));
            put(24, 8, u64::from(i.i4));
            put(32, 8, u64::from(i.i5));
        }
        RILa => {
            put(8, 4, r(i.r1));
            put(16, 32, u64::from(i.i2));
        }
        RILb | RILc => {
            put(8, 4, r(i.r1));
            put(16, 32, i.ri as u64);
        }
        RIa => {
            put(8, 4, r(i.r1));
            put(16, 16, u64::from(i.i2));
        }
        RIb | RIc => {
            put(8, 4, r(i.r1));
            put(16, 16, i.ri as u64);
        }
        RIS => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.m3));
            put(16, 4, r(i.b4));
            put(20, 12, i.d4 as u64);
            put(32, 8, u64::from(i.i2));
        }
        RRS => {
            put(8, 4, r(i.r1));
            put(12, 4, r(i.r2));
            put(16, 4, r(i.b4));
            put(20, 12, i.d4 as u64);
            put(32, 4, r(i.m3));
        }
        SI | SIY => {
            put(8, 8, u64::from(i.i2));
            put(16, 4, r(i.b1));
            if d.format == SIY {
                let (lo, hi) = dl(i.d1);
                put(20, 12, lo);
                put(32, 8, hi);
            } else {
                put(20, 12, i.d1 as u64);
            }
        }
        SIL => {
            put(16, 4, r(i.b1));
            put(20, 12, i.d1 as u64);
            put(32, 16, u64::from(i.i2));
        }
        S => {
            put(16, 4, r(i.b2));
            put(20, 12, i.d2 as u64);
        }
        SSa | SSb | SSc | SSd | SSe | SSf | SSE | SSF => {
            match d.format {
                SSa => put(8, 8, u64::from(i.l1)),
                SSb => {
                    put(8, 4, u64::from(i.l1));
                    put(12, 4, u64::from(i.l2));
                }
                SSc => {
                    put(8, 4, u64::from(i.l1));
                    put(12, 4, u64::from(i.i3));
                }
                SSd | SSe => {
                    put(8, 4, r(i.r1));
                    put(12, 4, r(i.r3));
                }
                SSf => put(8, 8, u64::from(i.l2)),
                SSF => put(8, 4, r(i.r3)),
                _ => {}
            }
            if d.format == SSe {
                put(16, 4, r(i.b2));
                put(20, 12, i.d2 as u64);
                put(32, 4, r(i.b4));
                put(36, 12, i.d4 as u64);
            } else {
                put(16, 4, r(i.b1));
                put(20, 12, i.d1 as u64);
                put(32, 4, r(i.b2));
                put(36, 12, i.d2 as u64);
            }
        }
    }
    let b = raw.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl Insn {
    /// An instruction of row `def` with every field zero (fill the fields, then [`encode`]).
    pub fn blank(def: &'static InsnDef) -> Insn {
        Insn {
            def,
            raw: 0,
            len: insn_len(
                (if def.opcode > 0xff {
                    def.opcode >> 8
                } else {
                    def.opcode
                }) as u8,
            ),
            r1: 0,
            r2: 0,
            r3: 0,
            m3: 0,
            m4: 0,
            x2: 0,
            b1: 0,
            b2: 0,
            b4: 0,
            d1: 0,
            d2: 0,
            d4: 0,
            i2: 0,
            i3: 0,
            i4: 0,
            i5: 0,
            ri: 0,
            l1: 0,
            l2: 0,
        }
    }
}
