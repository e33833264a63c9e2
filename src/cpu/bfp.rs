//! Binary floating point (IEEE 754 short and long) and the floating-point-control register.
//!
//! The arithmetic is done in software on unpacked numbers (a sign, a significand in a
//! `u128` with its leading one at bit 63, a binary exponent) and rounded once, in the mode
//! the FPC (or an M3 field) selects, by [`round_pack`]; so every result and every IEEE flag
//! is exact and independent of the host's floating-point unit. Tininess is detected after
//! rounding; underflow is signalled (masked) only when the result is also inexact.
//!
//! IEEE exceptions follow the FPC: a masked exception sets its flag in byte 1; an unmasked
//! one is a data exception with its DXC (invalid 0x80 and divide-by-zero 0x40 suppress the
//! result; overflow 0x20, underflow 0x10 and inexact 0x08 complete it, with 0x08 the
//! inexact and 0x04 the incremented bit). Not yet: the scaled results the overflow and
//! underflow traps deliver (the default result is stored), and rounding mode 7 (prepare
//! for shorter precision, floating-point-extension facility).

use super::exec::Ctx;
use super::{psw, Pgm};

/// FPC mask and flag bits (byte 0 masks, byte 1 flags).
const INVALID: u32 = 0x80;
const DIVIDE: u32 = 0x40;
const OVERFLOW: u32 = 0x20;
const UNDERFLOW: u32 = 0x10;
const INEXACT: u32 = 0x08;
/// Not an FPC bit: the rounded result was incremented in magnitude (DXC bit 0x04).
const INCREMENTED: u32 = 0x04;

/// A format: significand bits (without the implicit one), exponent bits.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Fmt {
    mbits: u32,
    ebits: u32,
}

const SHORT: Fmt = Fmt {
    mbits: 23,
    ebits: 8,
};
const LONG: Fmt = Fmt {
    mbits: 52,
    ebits: 11,
};

impl Fmt {
    fn bias(self) -> i32 {
        (1 << (self.ebits - 1)) - 1
    }
    fn emax(self) -> u64 {
        (1 << self.ebits) - 1
    }
    fn sign_bit(self) -> u64 {
        1 << (self.mbits + self.ebits)
    }
    fn quiet_bit(self) -> u64 {
        1 << (self.mbits - 1)
    }
    fn inf(self, neg: bool) -> u64 {
        (self.emax() << self.mbits) | if neg { self.sign_bit() } else { 0 }
    }
    fn max_finite(self, neg: bool) -> u64 {
        self.inf(neg) - 1
    }
    fn default_nan(self) -> u64 {
        self.inf(false) | self.quiet_bit()
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Zero,
    Finite,
    Inf,
    /// `true` for a signalling NaN.
    NaN(bool),
}

/// value = sig * 2^exp; for finite numbers sig has its leading one at bit 63.
#[derive(Clone, Copy, Debug)]
struct Num {
    neg: bool,
    kind: Kind,
    exp: i32,
    sig: u128,
    bits: u64,
}

fn unpack(bits: u64, f: Fmt) -> Num {
    let neg = bits & f.sign_bit() != 0;
    let e = (bits >> f.mbits) & f.emax();
    let m = bits & ((1 << f.mbits) - 1);
    let mut n = Num {
        neg,
        kind: Kind::Finite,
        exp: 0,
        sig: 0,
        bits,
    };
    if e == f.emax() {
        n.kind = if m == 0 {
            Kind::Inf
        } else {
            Kind::NaN(m & f.quiet_bit() == 0)
        };
    } else if e == 0 && m == 0 {
        n.kind = Kind::Zero;
    } else {
        let (sig, ex) = if e == 0 {
            (u128::from(m), 1 - f.bias() - f.mbits as i32)
        } else {
            (
                u128::from(m | 1 << f.mbits),
                e as i32 - f.bias() - f.mbits as i32,
            )
        };
        let sh = sig.leading_zeros() as i32 - 64;
        n.sig = sig << sh;
        n.exp = ex - sh;
    }
    n
}

/// Rounding modes: 0 nearest even, 1 toward zero, 2 toward +inf, 3 toward -inf, and
/// 8 nearest with ties away from zero (M3 = 1 of the conversions).
fn round_up(neg: bool, lsb: bool, rest: u128, half: u128, mode: u8) -> bool {
    if rest == 0 {
        return false;
    }
    match mode {
        0 => rest > half || (rest == half && lsb),
        1 => false,
        2 => !neg,
        3 => neg,
        _ => rest >= half,
    }
}

fn shift_right_jam(v: u128, n: u32) -> u128 {
    if n == 0 {
        v
    } else if n >= 128 {
        u128::from(v != 0)
    } else {
        (v >> n) | u128::from(v & ((1u128 << n) - 1) != 0)
    }
}

/// Round `sig * 2^exp` (sig nonzero; its lowest bit may be a sticky bit standing for
/// anything below) to format `f` in `mode`: the bits and the IEEE flags raised.
fn round_pack(neg: bool, exp: i32, sig: u128, f: Fmt, mode: u8) -> (u64, u32) {
    // Normalise to the leading one at bit 127 (sticky preserved).
    let lz = sig.leading_zeros();
    let sig = sig << lz;
    let exp = exp - lz as i32;
    // value = 1.xxx * 2^(exp + 127); biased exponent:
    let be = exp + 127 + f.bias();
    let drop = 127 - f.mbits; // bits below the kept significand
    let sign = if neg { f.sign_bit() } else { 0 };
    let mut flags = 0;
    let round_at = |sig: u128, drop: u32| -> (u128, bool, bool) {
        let kept = sig >> drop;
        let rest = sig & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        let up = round_up(neg, kept & 1 != 0, rest, half, mode);
        (kept + u128::from(up), rest != 0, up)
    };
    if be >= 1 {
        let (mut kept, inexact, up) = round_at(sig, drop);
        let mut be = be;
        if kept >> (f.mbits + 1) != 0 {
            kept >>= 1;
            be += 1;
        }
        if inexact {
            flags |= INEXACT;
        }
        if up {
            flags |= INCREMENTED;
        }
        if be as u64 >= f.emax() {
            flags |= OVERFLOW | INEXACT;
            let to_inf = match mode {
                1 => false,
                2 => !neg,
                3 => neg,
                _ => true,
            };
            let bits = if to_inf {
                flags |= INCREMENTED;
                f.inf(neg)
            } else {
                flags &= !INCREMENTED;
                f.max_finite(neg)
            };
            return (bits, flags);
        }
        let bits = sign | (be as u64) << f.mbits | (kept as u64 & ((1 << f.mbits) - 1));
        return (bits, flags);
    }
    // Tiny before rounding; after rounding (unbounded exponent) it may reach 2^emin.
    let (kept_unb, _, _) = round_at(sig, drop);
    let tiny = !(be == 0 && kept_unb >> (f.mbits + 1) != 0);
    // Denormalise: shift right by 1 - be more, then round.
    let extra = (1 - be) as u32;
    let s = if extra >= 127 {
        u128::from(sig != 0)
    } else {
        shift_right_jam(sig, extra)
    };
    let (kept, inexact, up) = round_at(s, drop);
    if inexact {
        flags |= INEXACT;
        if tiny {
            flags |= UNDERFLOW;
        }
    }
    if up {
        flags |= INCREMENTED;
    }
    // kept may have carried into the implicit bit: that is the smallest normal, encoded
    // by the same bit pattern.
    (sign | kept as u64, flags)
}

/// The NaN result of an operation with NaN operands: the first signalling one quieted,
/// else the first quiet one (s390: operand 1 before operand 2).
fn nan_result(ops: &[Num], f: Fmt) -> Option<(u64, u32)> {
    if let Some(n) = ops.iter().find(|n| n.kind == Kind::NaN(true)) {
        return Some((n.bits | f.quiet_bit(), INVALID));
    }
    ops.iter()
        .find(|n| n.kind == Kind::NaN(false))
        .map(|n| (n.bits, 0))
}

fn add(a: Num, b: Num, f: Fmt, mode: u8) -> (u64, u32) {
    if let Some(r) = nan_result(&[a, b], f) {
        return r;
    }
    match (a.kind, b.kind) {
        (Kind::Inf, Kind::Inf) if a.neg != b.neg => return (f.default_nan(), INVALID),
        (Kind::Inf, _) => return (f.inf(a.neg), 0),
        (_, Kind::Inf) => return (f.inf(b.neg), 0),
        (Kind::Zero, Kind::Zero) => {
            let neg = if a.neg == b.neg { a.neg } else { mode == 3 };
            return (if neg { f.sign_bit() } else { 0 }, 0);
        }
        (Kind::Zero, _) => return (b.bits, 0),
        (_, Kind::Zero) => return (a.bits, 0),
        _ => {}
    }
    let (x, y) = if a.exp >= b.exp { (a, b) } else { (b, a) };
    let d = (x.exp - y.exp) as u32;
    let k = d.min(62);
    let xs = x.sig << k;
    let ys = shift_right_jam(y.sig, d - k);
    let exp = x.exp - k as i32;
    if x.neg == y.neg {
        return round_pack(x.neg, exp, xs + ys, f, mode);
    }
    let (neg, s) = match xs.cmp(&ys) {
        std::cmp::Ordering::Equal => return (if mode == 3 { f.sign_bit() } else { 0 }, 0),
        std::cmp::Ordering::Greater => (x.neg, xs - ys),
        std::cmp::Ordering::Less => (y.neg, ys - xs),
    };
    round_pack(neg, exp, s, f, mode)
}

fn mul(a: Num, b: Num, f: Fmt, mode: u8) -> (u64, u32) {
    if let Some(r) = nan_result(&[a, b], f) {
        return r;
    }
    let neg = a.neg != b.neg;
    match (a.kind, b.kind) {
        (Kind::Inf, Kind::Zero) | (Kind::Zero, Kind::Inf) => (f.default_nan(), INVALID),
        (Kind::Inf, _) | (_, Kind::Inf) => (f.inf(neg), 0),
        (Kind::Zero, _) | (_, Kind::Zero) => (if neg { f.sign_bit() } else { 0 }, 0),
        _ => round_pack(neg, a.exp + b.exp, a.sig * b.sig, f, mode),
    }
}

fn div(a: Num, b: Num, f: Fmt, mode: u8) -> (u64, u32) {
    if let Some(r) = nan_result(&[a, b], f) {
        return r;
    }
    let neg = a.neg != b.neg;
    match (a.kind, b.kind) {
        (Kind::Inf, Kind::Inf) | (Kind::Zero, Kind::Zero) => (f.default_nan(), INVALID),
        (Kind::Inf, _) => (f.inf(neg), 0),
        (_, Kind::Inf) | (Kind::Zero, _) => (if neg { f.sign_bit() } else { 0 }, 0),
        (_, Kind::Zero) => (f.inf(neg), DIVIDE),
        _ => {
            let n = a.sig << 64;
            let q = n / b.sig;
            let r = n % b.sig;
            round_pack(neg, a.exp - 64 - b.exp, q | u128::from(r != 0), f, mode)
        }
    }
}

fn isqrt(v: u128) -> (u128, bool) {
    let mut lo: u128 = 0;
    let mut hi: u128 = 1 << 64;
    while hi - lo > 1 {
        let m = (lo + hi) / 2;
        if m * m <= v {
            lo = m;
        } else {
            hi = m;
        }
    }
    (lo, lo * lo != v)
}

fn sqrt(a: Num, f: Fmt, mode: u8) -> (u64, u32) {
    if let Some(r) = nan_result(&[a], f) {
        return r;
    }
    match a.kind {
        Kind::Zero => (a.bits, 0),
        _ if a.neg => (f.default_nan(), INVALID),
        Kind::Inf => (a.bits, 0),
        _ => {
            let (mut sig, mut exp) = (a.sig, a.exp);
            if exp & 1 != 0 {
                sig <<= 1;
                exp -= 1;
            }
            let (r, inexact) = isqrt(sig << 62);
            round_pack(
                false,
                (exp - 62) / 2 - 1,
                r << 1 | u128::from(inexact),
                f,
                mode,
            )
        }
    }
}

/// Convert between the formats (LDEBR exact, LEDBR rounded).
fn convert(a: Num, to: Fmt, from: Fmt, mode: u8) -> (u64, u32) {
    match a.kind {
        Kind::NaN(snan) => {
            let payload = (a.bits & ((1 << from.mbits) - 1)) | from.quiet_bit();
            let p = if to.mbits > from.mbits {
                payload << (to.mbits - from.mbits)
            } else {
                payload >> (from.mbits - to.mbits)
            };
            let sign = if a.neg { to.sign_bit() } else { 0 };
            (sign | to.inf(false) | p, if snan { INVALID } else { 0 })
        }
        Kind::Inf => (to.inf(a.neg), 0),
        Kind::Zero => (if a.neg { to.sign_bit() } else { 0 }, 0),
        Kind::Finite => round_pack(a.neg, a.exp, a.sig, to, mode),
    }
}

/// Round to an integer of `bits` (32/64) signed bits: the value, flags; invalid for NaN,
/// invalid and inexact for infinities and values out of range (the result then the most
/// negative number for NaN and negative values, the most positive for positive ones).
fn to_int(a: Num, bits: u32, mode: u8) -> (i64, u32) {
    let min = -(1i128 << (bits - 1));
    let max = (1i128 << (bits - 1)) - 1;
    let invalid = |neg: bool| (if neg { min as i64 } else { max as i64 }, INVALID | INEXACT);
    match a.kind {
        Kind::NaN(_) => return (min as i64, INVALID),
        Kind::Inf => return invalid(a.neg),
        Kind::Zero => return (0, 0),
        Kind::Finite => {}
    }
    let (mag, flags) = if a.exp >= 0 {
        if a.exp > 64 {
            return invalid(a.neg);
        }
        (a.sig << a.exp, 0)
    } else {
        let sh = (-a.exp) as u32;
        if sh >= 127 {
            let up = round_up(a.neg, false, 1, 2, mode);
            (u128::from(up), INEXACT)
        } else {
            let kept = a.sig >> sh;
            let rest = a.sig & ((1u128 << sh) - 1);
            let up = round_up(a.neg, kept & 1 != 0, rest, 1u128 << (sh - 1), mode);
            (kept + u128::from(up), if rest != 0 { INEXACT } else { 0 })
        }
    };
    if mag >> 100 != 0 {
        return invalid(a.neg);
    }
    let v = if a.neg { -(mag as i128) } else { mag as i128 };
    if v < min || v > max {
        return invalid(a.neg);
    }
    (v as i64, flags)
}

fn from_int(v: i64, f: Fmt, mode: u8) -> (u64, u32) {
    if v == 0 {
        return (0, 0);
    }
    round_pack(v < 0, 0, u128::from(v.unsigned_abs()), f, mode)
}

// ---------------------------------------------------------------- the instructions

fn fmt_of(c: &Ctx) -> Fmt {
    if c.i.def.aux & 1 == 1 {
        SHORT
    } else {
        LONG
    }
}

fn fpr(c: &mut Ctx, r: u8) -> Result<usize, Pgm> {
    if c.cpu.cr[0] & psw::CR0_AFP == 0 && !matches!(r, 0 | 2 | 4 | 6) {
        c.cpu.fpc = (c.cpu.fpc & !0xff00) | 0x0100;
        return Err(Pgm::Data { dxc: 1 });
    }
    Ok(usize::from(r & 15))
}

fn get(c: &Ctx, r: usize, f: Fmt) -> u64 {
    if f == SHORT {
        c.cpu.fpr[r] >> 32
    } else {
        c.cpu.fpr[r]
    }
}

fn put(c: &mut Ctx, r: usize, f: Fmt, v: u64) {
    c.cpu.fpr[r] = if f == SHORT {
        (c.cpu.fpr[r] & 0xffff_ffff) | v << 32
    } else {
        v
    };
}

/// The second operand: FPR R2 (RRE) or storage (RXE).
fn op2(c: &mut Ctx, f: Fmt) -> Result<u64, Pgm> {
    if c.i.def.format == super::insn::Format::RXE {
        let a = c.ea2();
        c.read(a, if f == SHORT { 4 } else { 8 })
    } else {
        let r2 = fpr(c, c.i.r2)?;
        Ok(get(c, r2, f))
    }
}

fn fpc_mode(c: &Ctx) -> u8 {
    (c.cpu.fpc & 3) as u8
}

/// Apply the IEEE `flags` under the FPC masks: `Ok(true)` to store the result, `Ok(false)`
/// never (a suppressing trap is an `Err`), a completing trap stores first (`store` is
/// called) then returns the data exception.
fn ieee(c: &mut Ctx, flags: u32, store: impl FnOnce(&mut Ctx)) -> Result<(), Pgm> {
    let masks = c.cpu.fpc >> 24;
    let trap = |c: &mut Ctx, dxc: u8| -> Pgm {
        c.cpu.fpc = (c.cpu.fpc & !0xff00) | u32::from(dxc) << 8;
        Pgm::Data { dxc }
    };
    // Invalid and divide-by-zero suppress when enabled; a conversion to fixed point
    // reports inexact along with invalid (DXC 0x88), as qemu does.
    for e in [INVALID, DIVIDE] {
        if flags & e != 0 {
            if masks & e != 0 {
                return Err(trap(c, (flags & (e | INEXACT)) as u8));
            }
            c.cpu.fpc |= e << 16;
        }
    }
    store(c);
    let inc = flags & INCREMENTED;
    for e in [OVERFLOW, UNDERFLOW] {
        if flags & e != 0 {
            if masks & e != 0 {
                return Err(trap(c, (e | (flags & INEXACT) | inc) as u8));
            }
            c.cpu.fpc |= e << 16;
        }
    }
    if flags & INEXACT != 0 {
        if masks & INEXACT != 0 {
            return Err(trap(c, (INEXACT | inc) as u8));
        }
        c.cpu.fpc |= INEXACT << 16;
    }
    Ok(())
}

fn cc_of(bits: u64, f: Fmt) -> u8 {
    let n = unpack(bits, f);
    match n.kind {
        Kind::NaN(_) => 3,
        Kind::Zero => 0,
        _ if n.neg => 1,
        _ => 2,
    }
}

/// Add, subtract, multiply, divide (aux bit 0: short; bits 1-2: 0 add, 1 subtract,
/// 2 multiply, 3 divide). Add and subtract set the CC.
pub fn bfp_arith(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let b = op2(c, f)?;
    let a = get(c, r1, f);
    let mode = fpc_mode(c);
    let op = (c.i.def.aux >> 1) & 3;
    let (ua, mut ub) = (unpack(a, f), unpack(b, f));
    let (v, flags) = match op {
        0 => add(ua, ub, f, mode),
        1 => {
            if !matches!(ub.kind, Kind::NaN(_)) {
                ub.neg = !ub.neg;
                ub.bits ^= f.sign_bit();
            }
            add(ua, ub, f, mode)
        }
        2 => mul(ua, ub, f, mode),
        _ => div(ua, ub, f, mode),
    };
    ieee(c, flags, |c| {
        put(c, r1, f, v);
        if op < 2 {
            c.cpu.set_cc(cc_of(v, f));
        }
    })
}

/// Square root (aux bit 0: short).
pub fn bfp_sqrt(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let b = op2(c, f)?;
    let (v, flags) = sqrt(unpack(b, f), f, fpc_mode(c));
    ieee(c, flags, |c| put(c, r1, f, v))
}

/// Compare (aux bit 0: short; bit 1: signalling compare KxBR, invalid for any NaN).
pub fn bfp_cmp(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let b = op2(c, f)?;
    let (ua, ub) = (unpack(get(c, r1, f), f), unpack(b, f));
    let signalling = c.i.def.aux & 2 != 0;
    let nan = |n: &Num| match n.kind {
        Kind::NaN(s) => Some(s),
        _ => None,
    };
    let (cc, flags) = match (nan(&ua), nan(&ub)) {
        (None, None) => {
            let key = |n: &Num| -> (i8, i32, u128) {
                match n.kind {
                    Kind::Zero => (0, 0, 0),
                    Kind::Inf => (if n.neg { -2 } else { 2 }, 0, 0),
                    _ => (if n.neg { -1 } else { 1 }, n.exp, n.sig),
                }
            };
            let (ka, kb) = (key(&ua), key(&ub));
            let ord = if ka.0 != kb.0 || ka.0.abs() != 1 {
                ka.0.cmp(&kb.0)
            } else {
                let mag = (ka.1 + 64 - ka.2.leading_zeros() as i32, ka.2)
                    .cmp(&(kb.1 + 64 - kb.2.leading_zeros() as i32, kb.2));
                if ka.0 < 0 {
                    mag.reverse()
                } else {
                    mag
                }
            };
            let cc = match ord {
                std::cmp::Ordering::Equal => 0,
                std::cmp::Ordering::Less => 1,
                std::cmp::Ordering::Greater => 2,
            };
            (cc, 0)
        }
        (a, b) => {
            let snan = a == Some(true) || b == Some(true);
            (3, if snan || signalling { INVALID } else { 0 })
        }
    };
    ieee(c, flags, |c| c.cpu.set_cc(cc))
}

/// Load and test (aux bit 0: short): CC; a signalling NaN is invalid (quieted result).
pub fn bfp_lt(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let r2 = fpr(c, c.i.r2)?;
    let v = get(c, r2, f);
    let (v, flags) = match unpack(v, f).kind {
        Kind::NaN(true) => (v | f.quiet_bit(), INVALID),
        _ => (v, 0),
    };
    ieee(c, flags, |c| {
        put(c, r1, f, v);
        c.cpu.set_cc(cc_of(v, f));
    })
}

/// Load complement (aux bits 1-2 = 0), negative (1), positive (2): sign only, CC, no
/// exceptions.
pub fn bfp_sign(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let r2 = fpr(c, c.i.r2)?;
    let v = get(c, r2, f);
    let v = match (c.i.def.aux >> 1) & 3 {
        0 => v ^ f.sign_bit(),
        1 => v | f.sign_bit(),
        _ => v & !f.sign_bit(),
    };
    put(c, r1, f, v);
    c.cpu.set_cc(cc_of(v, f));
    Ok(())
}

/// LDEBR/LDEB (aux 0: short to long, exact) and LEDBR (aux 1: long to short, rounded in
/// the FPC mode).
pub fn bfp_convert(c: &mut Ctx) -> Result<(), Pgm> {
    let r1 = fpr(c, c.i.r1)?;
    let (from, to) = if c.i.def.aux == 0 {
        (SHORT, LONG)
    } else {
        (LONG, SHORT)
    };
    let v = op2(c, from)?;
    let (r, flags) = convert(unpack(v, from), to, from, fpc_mode(c));
    ieee(c, flags, |c| put(c, r1, to, r))
}

/// The rounding mode of an M3 field of a conversion, or the FPC's for 0.
fn m3_mode(c: &Ctx) -> Result<u8, Pgm> {
    Ok(match c.i.m3 {
        0 => fpc_mode(c),
        1 => 8,
        4 => 0,
        5 => 1,
        6 => 2,
        7 => 3,
        _ => return Err(Pgm::Specification),
    })
}

/// CFEBR/CFDBR/CGEBR/CGDBR (aux bit 0: short source, bit 1: 64-bit result): to fixed
/// point with the M3 rounding; CC 0 zero, 1 negative, 2 positive, 3 NaN or out of range.
pub fn bfp_to_fixed(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let mode = m3_mode(c)?;
    let r2 = fpr(c, c.i.r2)?;
    let n = unpack(get(c, r2, f), f);
    let wide = c.i.def.aux & 2 != 0;
    let (v, flags) = to_int(n, if wide { 64 } else { 32 }, mode);
    let cc = if flags & INVALID != 0 {
        3
    } else {
        match n.kind {
            Kind::Zero => 0,
            _ if n.neg => 1,
            _ => 2,
        }
    };
    let r1 = c.i.r1;
    ieee(c, flags, |c| {
        if wide {
            c.cpu.set_r64(r1, v as u64);
        } else {
            c.cpu.set_r32(r1, v as u32);
        }
        c.cpu.set_cc(cc);
    })
}

/// CEFBR/CDFBR/CEGBR/CDGBR (aux bit 0: short result, bit 1: 64-bit source), rounded in
/// the FPC mode.
pub fn bfp_from_fixed(c: &mut Ctx) -> Result<(), Pgm> {
    let f = fmt_of(c);
    let r1 = fpr(c, c.i.r1)?;
    let g = c.cpu.r64(c.i.r2);
    let v = if c.i.def.aux & 2 != 0 {
        g as i64
    } else {
        i64::from(g as u32 as i32)
    };
    let (r, flags) = from_int(v, f, fpc_mode(c));
    ieee(c, flags, |c| put(c, r1, f, r))
}

/// A valid FPC value for SFPC/LFPC: no reserved bits, a BFP rounding mode 0-3.
fn check_fpc(v: u32) -> Result<(), Pgm> {
    if v & 0x0303_008c != 0 {
        Err(Pgm::Specification)
    } else {
        Ok(())
    }
}

/// SET FPC from R1 bits 32-63.
pub fn sfpc(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.cpu.r32(c.i.r1);
    check_fpc(v)?;
    c.cpu.fpc = v;
    Ok(())
}

/// EXTRACT FPC into R1 bits 32-63.
pub fn efpc(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.cpu.fpc;
    c.cpu.set_r32(c.i.r1, v);
    Ok(())
}

/// LOAD FPC from the word at the operand.
pub fn lfpc(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    let v = c.read(a, 4)? as u32;
    check_fpc(v)?;
    c.cpu.fpc = v;
    Ok(())
}

/// STORE FPC.
pub fn stfpc(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    let v = u64::from(c.cpu.fpc);
    c.write(a, 4, v)
}

/// SET BFP ROUNDING MODE from bits 62-63 of the operand address.
pub fn srnm(c: &mut Ctx) -> Result<(), Pgm> {
    let m = (c.ea2() & 3) as u32;
    c.cpu.fpc = (c.cpu.fpc & !7) | m;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Cpu, Facilities, Storage, VecStorage};
    use super::*;

    /// Run the RRE instruction `op` (two opcode bytes) with R1, R2 on a CPU with `fpc`.
    fn rre(op: u16, r1: u8, r2: u8, cpu: &mut Cpu) -> Result<(), Pgm> {
        let mut mem = VecStorage::new(0x2000);
        let [a, b] = op.to_be_bytes();
        mem.write(0x1000, &[a, b, 0, r1 << 4 | r2]).unwrap();
        cpu.psw_addr = 0x1000;
        cpu.step(&mut mem)
    }

    #[test]
    fn instructions_follow_the_fpc() {
        let mut cpu = Cpu::new(Facilities::z196());
        // ADBR 1/3 + 1 in round-toward-zero: inexact flag, CC 2.
        cpu.fpr[1] = d(1.0 / 3.0);
        cpu.fpr[2] = d(1.0);
        cpu.fpc = 1;
        rre(0xb31a, 1, 2, &mut cpu).unwrap();
        assert_eq!(
            (cpu.fpr[1], cpu.cc(), cpu.fpc),
            (d(4.0 / 3.0), 2, 0x0008_0001)
        );
        // DDBR by zero with the divide mask: suppressed, DXC 0x40, result unchanged.
        cpu.fpr[3] = 0;
        cpu.fpc = 0x4000_0000;
        assert_eq!(rre(0xb31d, 1, 3, &mut cpu), Err(Pgm::Data { dxc: 0x40 }));
        assert_eq!((cpu.fpr[1], cpu.fpc), (d(4.0 / 3.0), 0x4000_4000));
        // Masked: infinity, flag set.
        cpu.fpc = 0;
        rre(0xb31d, 1, 3, &mut cpu).unwrap();
        assert_eq!((cpu.fpr[1], cpu.fpc), (d(f64::INFINITY), 0x0040_0000));
        // LTDBR of a signalling NaN: invalid, the quiet NaN, CC 3 (qemu 7.2 copies the
        // signalling NaN silently; the Principles of Operation signal it).
        cpu.fpr[4] = 0x7ff4_0000_0000_0001;
        cpu.fpc = 0;
        rre(0xb312, 5, 4, &mut cpu).unwrap();
        assert_eq!(
            (cpu.fpr[5], cpu.cc(), cpu.fpc),
            (0x7ffc_0000_0000_0001, 3, 0x0080_0000)
        );
        cpu.fpc = 0x8000_0000;
        assert_eq!(rre(0xb312, 5, 4, &mut cpu), Err(Pgm::Data { dxc: 0x80 }));
        // A short operation leaves the low word of the register alone.
        cpu.fpc = 0;
        cpu.fpr[6] = u64::from(1.5f32.to_bits()) << 32 | 0xdead_beef;
        cpu.fpr[7] = u64::from(2.0f32.to_bits()) << 32;
        rre(0xb317, 6, 7, &mut cpu).unwrap();
        assert_eq!(cpu.fpr[6], u64::from(3.0f32.to_bits()) << 32 | 0xdead_beef);
        // Without the AFP-register control, FPR 1: data exception DXC 1.
        cpu.cr[0] = 0;
        assert_eq!(rre(0xb31a, 1, 2, &mut cpu), Err(Pgm::Data { dxc: 1 }));
        assert_eq!(cpu.fpc & 0xff00, 0x100);
    }

    #[test]
    fn fpc_instructions_check_reserved_bits_and_rounding_modes() {
        let mut cpu = Cpu::new(Facilities::z196());
        for (v, ok) in [
            (0xf8f8_0073u32, true),
            (0x0000_0003, true),
            (0x0000_0007, false), // mode 7: floating-point-extension facility
            (0x0000_0004, false),
            (0x0100_0000, false),
            (0x0000_0080, false),
        ] {
            cpu.gr[1] = u64::from(v) | 0xffff_ffff_0000_0000;
            cpu.fpc = 0x11;
            let r = rre(0xb384, 1, 0, &mut cpu);
            assert_eq!(r.is_ok(), ok, "{v:#x}");
            assert_eq!(cpu.fpc, if ok { v } else { 0x11 });
        }
        // EFPC into bits 32-63.
        cpu.gr[2] = 0xaaaa_aaaa_0000_0000;
        rre(0xb38c, 2, 0, &mut cpu).unwrap();
        assert_eq!(cpu.gr[2], 0xaaaa_aaaa_0000_0000 | u64::from(cpu.fpc));
    }

    fn d(v: f64) -> u64 {
        v.to_bits()
    }

    #[test]
    fn round_to_nearest_matches_the_host() {
        let vals = [
            1.0,
            -2.5,
            3.0e300,
            1.0e-310,
            f64::MIN_POSITIVE,
            0.1,
            -7.0e-5,
            f64::MAX,
            123456.789,
        ];
        for &a in &vals {
            for &b in &vals {
                let (ua, ub) = (unpack(d(a), LONG), unpack(d(b), LONG));
                assert_eq!(add(ua, ub, LONG, 0).0, d(a + b), "{a} + {b}");
                assert_eq!(mul(ua, ub, LONG, 0).0, d(a * b), "{a} * {b}");
                assert_eq!(div(ua, ub, LONG, 0).0, d(a / b), "{a} / {b}");
                let (fa, fb) = (a as f32, b as f32);
                if (fa * fb).is_nan() {
                    // s390's default NaN is positive, x86's negative.
                    continue;
                }
                let (sa, sb) = (
                    unpack(u64::from(fa.to_bits()), SHORT),
                    unpack(u64::from(fb.to_bits()), SHORT),
                );
                assert_eq!(
                    add(sa, sb, SHORT, 0).0,
                    u64::from((fa + fb).to_bits()),
                    "{fa} + {fb}"
                );
                assert_eq!(
                    mul(sa, sb, SHORT, 0).0,
                    u64::from((fa * fb).to_bits()),
                    "{fa} * {fb}"
                );
            }
            if a >= 0.0 {
                assert_eq!(sqrt(unpack(d(a), LONG), LONG, 0).0, d(a.sqrt()), "sqrt {a}");
            }
            assert_eq!(
                convert(unpack(d(a), LONG), SHORT, LONG, 0).0,
                u64::from((a as f32).to_bits()),
                "(f32) {a}"
            );
        }
    }

    #[test]
    fn directed_rounding_and_flags() {
        let (one, three) = (unpack(d(1.0), LONG), unpack(d(3.0), LONG));
        let (rn, fl) = div(one, three, LONG, 0);
        assert_eq!((rn, fl & INEXACT), (d(1.0 / 3.0), INEXACT));
        assert_eq!(div(one, three, LONG, 1).0, d(1.0 / 3.0));
        assert_eq!(div(one, three, LONG, 2).0, d(1.0 / 3.0) + 1);
        assert_eq!(div(one, three, LONG, 3).0, d(1.0 / 3.0));
        let big = unpack(d(f64::MAX), LONG);
        assert_eq!(
            add(big, big, LONG, 0),
            (d(f64::INFINITY), OVERFLOW | INEXACT | INCREMENTED)
        );
        assert_eq!(add(big, big, LONG, 1).0, d(f64::MAX));
        let tiny = unpack(d(f64::MIN_POSITIVE), LONG);
        let (v, fl) = mul(tiny, unpack(d(0.5), LONG), LONG, 0);
        assert_eq!((v, fl), (d(f64::MIN_POSITIVE / 2.0), 0));
        let (_, fl) = mul(tiny, unpack(d(1.0 / 3.0), LONG), LONG, 0);
        assert_eq!(fl & (UNDERFLOW | INEXACT), UNDERFLOW | INEXACT);
        assert_eq!(
            div(one, unpack(0, LONG), LONG, 0),
            (d(f64::INFINITY), DIVIDE)
        );
        assert_eq!(
            add(
                unpack(d(f64::INFINITY), LONG),
                unpack(d(f64::NEG_INFINITY), LONG),
                LONG,
                0
            ),
            (LONG.default_nan(), INVALID)
        );
        // x - x is +0, or -0 when rounding toward -inf.
        let mut m = one;
        m.neg = true;
        m.bits ^= LONG.sign_bit();
        assert_eq!(add(one, m, LONG, 0).0, 0);
        assert_eq!(add(one, m, LONG, 3).0, LONG.sign_bit());
        // To fixed: ties away vs even, overflow.
        let h = unpack(d(2.5), LONG);
        assert_eq!(to_int(h, 32, 0), (2, INEXACT));
        assert_eq!(to_int(h, 32, 8), (3, INEXACT));
        assert_eq!(to_int(unpack(d(-2.5), LONG), 32, 2), (-2, INEXACT));
        assert_eq!(
            to_int(unpack(d(3.0e9), LONG), 32, 0),
            (i32::MAX as i64, INVALID | INEXACT)
        );
        assert_eq!(
            to_int(unpack(d(f64::NAN), LONG), 32, 0),
            (i32::MIN as i64, INVALID)
        );
        assert_eq!(from_int(i64::MAX, LONG, 1).0, d(9223372036854774784.0));
        assert_eq!(from_int(-5, SHORT, 0).0, u64::from((-5.0f32).to_bits()));
    }
}
