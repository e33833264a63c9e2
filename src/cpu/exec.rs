//! The handlers: one per operation, shared across formats (the format says where the first
//! and second operands come from; the table row's `src` how the second is extended).

use super::insn::{decode, Format, Insn, Src};
use super::{Cpu, Pgm, Storage};

pub use super::bfp::*;
pub use super::supervisor::*;

/// A handler runs one decoded instruction. The PSW address already points to the next
/// sequential instruction; branches replace it.
pub type Handler = fn(&mut Ctx) -> Result<(), Pgm>;

/// What a handler works on.
pub struct Ctx<'a> {
    /// The CPU.
    pub cpu: &'a mut Cpu,
    /// Guest storage.
    pub mem: &'a mut dyn Storage,
    /// The instruction.
    pub i: &'a Insn,
    /// Its address (the target's address under EXECUTE: relative operands use it).
    pub addr: u64,
}

/// Fetch and decode the instruction at `addr`.
pub fn fetch_decode(cpu: &mut Cpu, mem: &mut dyn Storage, addr: u64) -> Result<Insn, Pgm> {
    if addr & 1 != 0 {
        cpu.ilc = 0;
        return Err(Pgm::Specification);
    }
    let abs = mem.fetch_absolute(addr)?;
    let mut b = [0u8; 6];
    mem.read_absolute(abs, &mut b[..2])?;
    let len = super::insn::insn_len(b[0]);
    // The rest may lie on the next page (in another frame): each piece is fetched through
    // its own translation, split at page boundaries.
    let (len, mut off) = (usize::from(len), 2usize);
    while off < len {
        let a = cpu.wrap(addr.wrapping_add(off as u64));
        let n = (len - off).min(4096 - (a & 0xfff) as usize);
        let abs2 = mem.fetch_absolute(a)?;
        mem.read_absolute(abs2, &mut b[off..off + n])?;
        off += n;
    }
    decode_checked(cpu, raw_of(&b))
}

/// The instruction bytes as the decoder wants them.
pub fn raw_of(b: &[u8; 6]) -> u64 {
    b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))
}

/// Decode and check the facility; an unassigned or uninstalled opcode is an operation
/// exception (ILC from the first two bits).
pub fn decode_checked(cpu: &mut Cpu, raw: u64) -> Result<Insn, Pgm> {
    match decode(raw) {
        Some(i) if cpu.facilities.has(i.def.facility) => Ok(i),
        _ => {
            cpu.ilc = super::insn::insn_len((raw >> 40) as u8) / 2;
            cpu.psw_addr = cpu.wrap(cpu.psw_addr.wrapping_add(u64::from(cpu.ilc) * 2));
            Err(Pgm::Operation)
        }
    }
}

/// Execute a decoded instruction found at `addr`.
#[inline(always)]
pub fn execute(cpu: &mut Cpu, mem: &mut dyn Storage, i: &Insn, addr: u64) -> Result<(), Pgm> {
    cpu.ilc = i.len / 2;
    cpu.psw_addr = cpu.wrap(addr.wrapping_add(u64::from(i.len)));
    let mut ctx = Ctx { cpu, mem, i, addr };
    match (i.def.handler)(&mut ctx) {
        // Not executed: the PSW stays at the instruction (EX's under EXECUTE, whose
        // handler already named the target).
        Err(Pgm::Intercept { ipa: 0, .. }) => {
            let p = super::supervisor::intercept_of(&ctx);
            ctx.cpu.psw_addr = addr;
            Err(p)
        }
        Err(p @ Pgm::Intercept { .. }) => {
            ctx.cpu.psw_addr = addr;
            Err(p)
        }
        r => r,
    }
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x))
}

impl Ctx<'_> {
    /// base + index + displacement, wrapped to the addressing mode.
    pub fn ea(&self, b: u8, x: u8, d: i32) -> u64 {
        let mut a = d as i64 as u64;
        if x != 0 {
            a = a.wrapping_add(self.cpu.r64(x));
        }
        if b != 0 {
            a = a.wrapping_add(self.cpu.r64(b));
        }
        self.cpu.wrap(a)
    }

    /// Relative target: instruction address + 2 * offset.
    pub fn rel(&self) -> u64 {
        self.cpu
            .wrap(self.addr.wrapping_add((self.i.ri as u64).wrapping_mul(2)))
    }

    /// Address of the first storage operand.
    pub fn ea1(&self) -> u64 {
        self.ea(self.i.b1, 0, self.i.d1)
    }

    /// Address of the second storage operand (RX/RXY/RS/RSY/S/SS, or relative for RIL-b/c).
    pub fn ea2(&self) -> u64 {
        match self.i.def.format {
            Format::RILb | Format::RILc | Format::RIb | Format::RIc => self.rel(),
            _ => self.ea(self.i.b2, self.i.x2, self.i.d2),
        }
    }

    /// Read `n` (1..=8) bytes big-endian.
    #[inline]
    pub fn read(&mut self, a: u64, n: usize) -> Result<u64, Pgm> {
        self.mem.read_be(a, n)
    }

    /// Write the low `n` (1..=8) bytes of `v` big-endian.
    #[inline]
    pub fn write(&mut self, a: u64, n: usize, v: u64) -> Result<(), Pgm> {
        self.mem.write_be(a, n, v)
    }

    fn is_reg_format(&self) -> bool {
        use Format::*;
        matches!(
            self.i.def.format,
            RR | RRE | RRFa | RRFb | RRFc | RRFd | RRFe | RRD
        )
    }

    /// The register holding the first source operand (R2 for the distinct-operands RRF-a
    /// forms, R3 for RIE-d, R1 otherwise).
    pub fn op1_reg(&self) -> u8 {
        match self.i.def.format {
            Format::RRFa => self.i.r2,
            Format::RIEd => self.i.r3,
            _ => self.i.r1,
        }
    }

    /// The second operand, extended to 64 bits as the row's `src` says.
    pub fn src(&mut self) -> Result<u64, Pgm> {
        let s = self.i.def.src;
        use Format::*;
        let raw = match self.i.def.format {
            RRFa => self.cpu.r64(self.i.r3),
            _ if self.is_reg_format() => self.cpu.r64(self.i.r2),
            RIa | RILa | RIEd | SIY | SIL | RIEa | RIEc | RIS => u64::from(self.i.i2),
            RILb => {
                let a = self.ea2();
                let n = s.bytes();
                if a & (n as u64 - 1) != 0 {
                    return Err(Pgm::Specification);
                }
                self.read(a, n)?
            }
            _ => {
                let a = self.ea2();
                self.read(a, s.bytes())?
            }
        };
        Ok(s.extend(raw))
    }

    fn overflow(&mut self) -> Result<(), Pgm> {
        self.cpu.set_cc(3);
        if self.cpu.psw_mask & super::psw::FIXED_OVERFLOW != 0 {
            Err(Pgm::FixedPointOverflow)
        } else {
            Ok(())
        }
    }

    fn even_pair(&self, r: u8) -> Result<(), Pgm> {
        if r & 1 != 0 {
            Err(Pgm::Specification)
        } else {
            Ok(())
        }
    }
}

fn cc_signed(v: i64) -> u8 {
    match v {
        0 => 0,
        v if v < 0 => 1,
        _ => 2,
    }
}

fn cc_cmp<T: Ord>(a: T, b: T) -> u8 {
    match a.cmp(&b) {
        std::cmp::Ordering::Equal => 0,
        std::cmp::Ordering::Less => 1,
        std::cmp::Ordering::Greater => 2,
    }
}

// ---------------------------------------------------------------- loads and stores

/// Load into bits 32-63.
pub fn ld32(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()?;
    c.cpu.set_r32(c.i.r1, v as u32);
    Ok(())
}

/// Load into bits 0-63.
pub fn ld64(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()?;
    c.cpu.set_r64(c.i.r1, v);
    Ok(())
}

/// Load and test, 32 bits.
pub fn lt32(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as u32;
    c.cpu.set_r32(c.i.r1, v);
    c.cpu.set_cc(cc_signed(i64::from(v as i32)));
    Ok(())
}

/// Load and test, 64 bits.
pub fn lt64(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()?;
    c.cpu.set_r64(c.i.r1, v);
    c.cpu.set_cc(cc_signed(v as i64));
    Ok(())
}

/// Load complement, 32 bits.
pub fn lcomp32(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as u32 as i32;
    let (r, o) = v.overflowing_neg();
    c.cpu.set_r32(c.i.r1, r as u32);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(i64::from(r)));
    Ok(())
}

/// Load complement, 64 bits.
pub fn lcomp64(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as i64;
    let (r, o) = v.overflowing_neg();
    c.cpu.set_r64(c.i.r1, r as u64);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(r));
    Ok(())
}

/// Load negative, 32 bits.
pub fn lneg32(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as u32 as i32;
    let r = if v > 0 { v.wrapping_neg() } else { v };
    c.cpu.set_r32(c.i.r1, r as u32);
    c.cpu.set_cc(cc_signed(i64::from(r)));
    Ok(())
}

/// Load negative, 64 bits.
pub fn lneg64(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as i64;
    let r = if v > 0 { v.wrapping_neg() } else { v };
    c.cpu.set_r64(c.i.r1, r as u64);
    c.cpu.set_cc(cc_signed(r));
    Ok(())
}

/// Load positive, 32 bits.
pub fn lpos32(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as u32 as i32;
    let (r, o) = v.overflowing_abs();
    c.cpu.set_r32(c.i.r1, r as u32);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(i64::from(r)));
    Ok(())
}

/// Load positive, 64 bits.
pub fn lpos64(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? as i64;
    let (r, o) = v.overflowing_abs();
    c.cpu.set_r64(c.i.r1, r as u64);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(r));
    Ok(())
}

/// Load reversed (aux: width in bits); LRVH replaces bits 48-63 only.
pub fn lrv(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()?;
    let r1 = c.i.r1;
    match c.i.def.aux {
        16 => {
            let old = c.cpu.r64(r1);
            c.cpu
                .set_r64(r1, (old & !0xffff) | u64::from((v as u16).swap_bytes()));
        }
        32 => c.cpu.set_r32(r1, (v as u32).swap_bytes()),
        _ => c.cpu.set_r64(r1, v.swap_bytes()),
    }
    Ok(())
}

/// Load address.
pub fn la(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    c.cpu.set_address(c.i.r1, a);
    Ok(())
}

/// Load address relative long.
pub fn larl(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.rel();
    c.cpu.set_address(c.i.r1, a);
    Ok(())
}

/// Load immediate into one part, zeroing the rest (aux: bit position).
pub fn li_part(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.src()? << c.i.def.aux;
    c.cpu.set_r64(c.i.r1, v);
    Ok(())
}

/// Insert immediate into one part (aux: bit position).
pub fn ii_part(c: &mut Ctx) -> Result<(), Pgm> {
    let s = c.i.def.aux;
    let w = c.i.def.src.bytes() * 8;
    let mask = ((1u64 << w) - 1) << s;
    let v = c.src()? << s;
    let old = c.cpu.r64(c.i.r1);
    c.cpu.set_r64(c.i.r1, (old & !mask) | v);
    Ok(())
}

/// Insert character.
pub fn ic(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    let v = c.read(a, 1)?;
    let old = c.cpu.r64(c.i.r1);
    c.cpu.set_r64(c.i.r1, (old & !0xff) | v);
    Ok(())
}

/// Insert characters under mask (aux: 0 low word, 32 high word).
pub fn icm(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.i.m3;
    let n = m.count_ones() as usize;
    let a = c.ea2();
    let mut b = [0u8; 4];
    c.mem.read(a, &mut b[..n])?;
    let mut r = c.cpu.r64(c.i.r1);
    let mut k = 0;
    let mut first = None;
    let mut all_zero = true;
    for bit in 0..4 {
        if m & (8 >> bit) != 0 {
            let sh = u32::from(c.i.def.aux) + 24 - 8 * bit;
            r = (r & !(0xff << sh)) | (u64::from(b[k]) << sh);
            first.get_or_insert(b[k]);
            all_zero &= b[k] == 0;
            k += 1;
        }
    }
    c.cpu.set_r64(c.i.r1, r);
    let cc = match first {
        None => 0,
        Some(_) if all_zero => 0,
        Some(f) if f & 0x80 != 0 => 1,
        Some(_) => 2,
    };
    c.cpu.set_cc(cc);
    Ok(())
}

/// Store characters under mask (aux: 0 low word, 32 high word).
pub fn stcm(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.i.m3;
    let r = c.cpu.r64(c.i.r1);
    let mut b = [0u8; 4];
    let mut k = 0;
    for bit in 0..4 {
        if m & (8 >> bit) != 0 {
            b[k] = (r >> (u32::from(c.i.def.aux) + 24 - 8 * bit)) as u8;
            k += 1;
        }
    }
    let a = c.ea2();
    c.mem.write(a, &b[..k])
}

/// Load multiple (aux: 0 low words, 64 whole registers, 32 high words).
pub fn lm(c: &mut Ctx) -> Result<(), Pgm> {
    let n = if c.i.def.aux == 64 { 8 } else { 4 };
    let count = usize::from((c.i.r3.wrapping_sub(c.i.r1)) & 15) + 1;
    let a = c.ea2();
    let mut buf = [0u8; 128];
    // Wrap between registers as the address space wraps.
    for k in 0..count {
        let ak = c.cpu.wrap(a.wrapping_add((k * n) as u64));
        c.mem.read(ak, &mut buf[k * n..(k + 1) * n])?;
    }
    for k in 0..count {
        let r = (c.i.r1 + k as u8) & 15;
        let v = be(&buf[k * n..(k + 1) * n]);
        match c.i.def.aux {
            64 => c.cpu.set_r64(r, v),
            32 => {
                let old = c.cpu.r64(r);
                c.cpu.set_r64(r, (old & 0xffff_ffff) | (v << 32));
            }
            _ => c.cpu.set_r32(r, v as u32),
        }
    }
    Ok(())
}

/// Store multiple (aux as for [`lm`]).
pub fn stm(c: &mut Ctx) -> Result<(), Pgm> {
    let n = if c.i.def.aux == 64 { 8 } else { 4 };
    let count = usize::from((c.i.r3.wrapping_sub(c.i.r1)) & 15) + 1;
    let a = c.ea2();
    let mut buf = [0u8; 128];
    for k in 0..count {
        let r = c.cpu.r64((c.i.r1 + k as u8) & 15);
        let v = match c.i.def.aux {
            64 => r,
            32 => r >> 32,
            _ => r & 0xffff_ffff,
        };
        buf[k * n..(k + 1) * n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
    }
    c.mem.write(a, &buf[..count * n])
}

/// Store the low `aux` bytes of R1 (relative-long forms need natural alignment).
pub fn st(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.def.aux);
    let a = c.ea2();
    if c.i.def.format == Format::RILb && a & (n as u64 - 1) != 0 {
        return Err(Pgm::Specification);
    }
    let v = c.cpu.r64(c.i.r1);
    c.write(a, n, v)
}

/// Store reversed.
pub fn strv(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.def.aux);
    let a = c.ea2();
    let v = c.cpu.r64(c.i.r1);
    let b = v.to_be_bytes();
    let mut r = [0u8; 8];
    for k in 0..n {
        r[k] = b[7 - k];
    }
    c.mem.write(a, &r[..n])
}

/// Move halfword/word/doubleword from halfword immediate (sign-extended).
pub fn mvhi(c: &mut Ctx) -> Result<(), Pgm> {
    let v = Src::S16.extend(u64::from(c.i.i2));
    let a = c.ea1();
    c.write(a, usize::from(c.i.def.aux), v)
}

// ---------------------------------------------------------------- arithmetic

/// Add, 32 bits.
pub fn add32(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.op1_reg()) as i32;
    let b = c.src()? as i32;
    let (r, o) = a.overflowing_add(b);
    c.cpu.set_r32(c.i.r1, r as u32);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(i64::from(r)));
    Ok(())
}

/// Add, 64 bits.
pub fn add64(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.op1_reg()) as i64;
    let b = c.src()? as i64;
    let (r, o) = a.overflowing_add(b);
    c.cpu.set_r64(c.i.r1, r as u64);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(r));
    Ok(())
}

/// Subtract, 32 bits.
pub fn sub32(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.op1_reg()) as i32;
    let b = c.src()? as i32;
    let (r, o) = a.overflowing_sub(b);
    c.cpu.set_r32(c.i.r1, r as u32);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(i64::from(r)));
    Ok(())
}

/// Subtract, 64 bits.
pub fn sub64(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.op1_reg()) as i64;
    let b = c.src()? as i64;
    let (r, o) = a.overflowing_sub(b);
    c.cpu.set_r64(c.i.r1, r as u64);
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc_signed(r));
    Ok(())
}

/// Logical-arithmetic condition code: bit 1 carry, bit 0 result nonzero.
fn cc_logical(carry: bool, nonzero: bool) -> u8 {
    (u8::from(carry) << 1) | u8::from(nonzero)
}

fn addc32(c: &mut Ctx, b: u32, carry_in: bool) {
    let a = c.cpu.r32(c.op1_reg());
    let s = u64::from(a) + u64::from(b) + u64::from(carry_in);
    c.cpu.set_r32(c.i.r1, s as u32);
    c.cpu.set_cc(cc_logical(s >> 32 != 0, s as u32 != 0));
}

fn addc64(c: &mut Ctx, b: u64, carry_in: bool) {
    let a = c.cpu.r64(c.op1_reg());
    let s = u128::from(a) + u128::from(b) + u128::from(carry_in);
    c.cpu.set_r64(c.i.r1, s as u64);
    c.cpu.set_cc(cc_logical(s >> 64 != 0, s as u64 != 0));
}

/// Add logical, 32 bits.
pub fn addl32(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()? as u32;
    addc32(c, b, false);
    Ok(())
}

/// Add logical, 64 bits.
pub fn addl64(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()?;
    addc64(c, b, false);
    Ok(())
}

/// Subtract logical, 32 bits: a + ~b + 1.
pub fn subl32(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()? as u32;
    addc32(c, !b, true);
    Ok(())
}

/// Subtract logical, 64 bits.
pub fn subl64(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()?;
    addc64(c, !b, true);
    Ok(())
}

/// Add logical with carry, 32 bits.
pub fn alc32(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()? as u32;
    let carry = c.cpu.cc() & 2 != 0;
    addc32(c, b, carry);
    Ok(())
}

/// Add logical with carry, 64 bits.
pub fn alc64(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()?;
    let carry = c.cpu.cc() & 2 != 0;
    addc64(c, b, carry);
    Ok(())
}

/// Subtract logical with borrow, 32 bits.
pub fn slb32(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()? as u32;
    let carry = c.cpu.cc() & 2 != 0;
    addc32(c, !b, carry);
    Ok(())
}

/// Subtract logical with borrow, 64 bits.
pub fn slb64(c: &mut Ctx) -> Result<(), Pgm> {
    let b = c.src()?;
    let carry = c.cpu.cc() & 2 != 0;
    addc64(c, !b, carry);
    Ok(())
}

/// Add (logical) immediate to storage (aux bit 0: 64-bit, bit 1: logical).
pub fn asi(c: &mut Ctx) -> Result<(), Pgm> {
    let n = if c.i.def.aux & 1 != 0 { 8 } else { 4 };
    let imm = Src::S8.extend(u64::from(c.i.i2));
    let a = c.ea1();
    let v = c.read(a, n)?;
    if c.i.def.aux & 2 != 0 {
        let (r, carry, nz) = if n == 8 {
            let s = u128::from(v) + u128::from(imm);
            (s as u64, s >> 64 != 0, s as u64 != 0)
        } else {
            let s = v + (imm & 0xffff_ffff);
            (s & 0xffff_ffff, s >> 32 != 0, s as u32 != 0)
        };
        c.write(a, n, r)?;
        c.cpu.set_cc(cc_logical(carry, nz));
        return Ok(());
    }
    let (r, o, cc) = if n == 8 {
        let (r, o) = (v as i64).overflowing_add(imm as i64);
        (r as u64, o, cc_signed(r))
    } else {
        let (r, o) = (v as i32).overflowing_add(imm as i32);
        (u64::from(r as u32), o, cc_signed(i64::from(r)))
    };
    c.write(a, n, r)?;
    if o {
        return c.overflow();
    }
    c.cpu.set_cc(cc);
    Ok(())
}

/// Multiply single, 32 bits (no condition code, no overflow).
pub fn mul32(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.i.r1) as i32;
    let b = c.src()? as i32;
    c.cpu.set_r32(c.i.r1, a.wrapping_mul(b) as u32);
    Ok(())
}

/// Multiply single, 64 bits.
pub fn mul64(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.i.r1) as i64;
    let b = c.src()? as i64;
    c.cpu.set_r64(c.i.r1, a.wrapping_mul(b) as u64);
    Ok(())
}

/// Multiply into an even/odd pair, 32 x 32 -> 64 (aux 1: logical).
pub fn mul_pair32(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let b = c.src()?;
    let a = c.cpu.r32(c.i.r1 + 1);
    let p = if c.i.def.aux == 1 {
        u64::from(a) * (b & 0xffff_ffff)
    } else {
        (i64::from(a as i32) * (b as i32 as i64)) as u64
    };
    c.cpu.set_r32(c.i.r1, (p >> 32) as u32);
    c.cpu.set_r32(c.i.r1 + 1, p as u32);
    Ok(())
}

/// Multiply logical, 64 x 64 -> 128 into an even/odd pair.
pub fn mlg(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let b = c.src()?;
    let p = u128::from(c.cpu.r64(c.i.r1 + 1)) * u128::from(b);
    c.cpu.set_r64(c.i.r1, (p >> 64) as u64);
    c.cpu.set_r64(c.i.r1 + 1, p as u64);
    Ok(())
}

/// Divide a 64-bit pair (bits 32-63 of R1, R1+1) by 32 bits (aux 1: logical).
pub fn div32(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let d = c.src()?;
    let n = (u64::from(c.cpu.r32(c.i.r1)) << 32) | u64::from(c.cpu.r32(c.i.r1 + 1));
    let (q, r) = if c.i.def.aux == 1 {
        let d = d & 0xffff_ffff;
        if d == 0 || n / d > u64::from(u32::MAX) {
            return Err(Pgm::FixedPointDivide);
        }
        ((n / d) as u32, (n % d) as u32)
    } else {
        let (n, d) = (n as i64, i64::from(d as i32));
        if d == 0 {
            return Err(Pgm::FixedPointDivide);
        }
        let q = n.wrapping_div(d);
        if (n == i64::MIN && d == -1) || q != i64::from(q as i32) {
            return Err(Pgm::FixedPointDivide);
        }
        (q as u32, n.wrapping_rem(d) as u32)
    };
    c.cpu.set_r32(c.i.r1, r);
    c.cpu.set_r32(c.i.r1 + 1, q);
    Ok(())
}

/// Divide logical 128 / 64.
pub fn dlg(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let d = u128::from(c.src()?);
    let n = (u128::from(c.cpu.r64(c.i.r1)) << 64) | u128::from(c.cpu.r64(c.i.r1 + 1));
    if d == 0 || n / d > u128::from(u64::MAX) {
        return Err(Pgm::FixedPointDivide);
    }
    c.cpu.set_r64(c.i.r1, (n % d) as u64);
    c.cpu.set_r64(c.i.r1 + 1, (n / d) as u64);
    Ok(())
}

/// Divide single 64 / 64 (R1+1 by the operand).
pub fn dsg(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let d = c.src()? as i64;
    let n = c.cpu.r64(c.i.r1 + 1) as i64;
    if d == 0 || (n == i64::MIN && d == -1) {
        return Err(Pgm::FixedPointDivide);
    }
    c.cpu.set_r64(c.i.r1, (n % d) as u64);
    c.cpu.set_r64(c.i.r1 + 1, (n / d) as u64);
    Ok(())
}

// ---------------------------------------------------------------- logical

fn logic32(c: &mut Ctx, f: fn(u32, u32) -> u32) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.op1_reg());
    let b = c.src()? as u32;
    let r = f(a, b);
    c.cpu.set_r32(c.i.r1, r);
    c.cpu.set_cc(u8::from(r != 0));
    Ok(())
}

fn logic64(c: &mut Ctx, f: fn(u64, u64) -> u64) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.op1_reg());
    let b = c.src()?;
    let r = f(a, b);
    c.cpu.set_r64(c.i.r1, r);
    c.cpu.set_cc(u8::from(r != 0));
    Ok(())
}

/// AND, 32 bits.
pub fn and32(c: &mut Ctx) -> Result<(), Pgm> {
    logic32(c, |a, b| a & b)
}
/// AND, 64 bits.
pub fn and64(c: &mut Ctx) -> Result<(), Pgm> {
    logic64(c, |a, b| a & b)
}
/// OR, 32 bits.
pub fn or32(c: &mut Ctx) -> Result<(), Pgm> {
    logic32(c, |a, b| a | b)
}
/// OR, 64 bits.
pub fn or64(c: &mut Ctx) -> Result<(), Pgm> {
    logic64(c, |a, b| a | b)
}
/// XOR, 32 bits.
pub fn xor32(c: &mut Ctx) -> Result<(), Pgm> {
    logic32(c, |a, b| a ^ b)
}
/// XOR, 64 bits.
pub fn xor64(c: &mut Ctx) -> Result<(), Pgm> {
    logic64(c, |a, b| a ^ b)
}

/// AND/OR/XOR immediate into one part (aux: bits 0-5 position, bits 6-7 0 AND, 1 OR, 2 XOR);
/// the condition code reflects the part only.
pub fn logic_part(c: &mut Ctx) -> Result<(), Pgm> {
    let s = c.i.def.aux & 0x3f;
    let w = c.i.def.src.bytes() * 8;
    let mask = ((1u64 << w) - 1) << s;
    let imm = c.src()? << s;
    let old = c.cpu.r64(c.i.r1);
    let part = match c.i.def.aux >> 6 {
        0 => old & (imm | !mask),
        1 => old | imm,
        _ => old ^ imm,
    } & mask;
    c.cpu.set_r64(c.i.r1, (old & !mask) | part);
    c.cpu.set_cc(u8::from(part != 0));
    Ok(())
}

/// Test under mask condition code for selected bits `sel` (of `mask`) where `lead` is the
/// leftmost mask bit: RI forms distinguish mixed-with-leftmost-one (2).
fn tm_cc(v: u64, mask: u64, ri_form: bool) -> u8 {
    let sel = v & mask;
    if mask == 0 || sel == 0 {
        0
    } else if sel == mask {
        3
    } else if ri_form {
        let lead = 63 - mask.leading_zeros();
        if v & (1 << lead) != 0 {
            2
        } else {
            1
        }
    } else {
        1
    }
}

/// Test under mask of a halfword part (aux: position).
pub fn tm_part(c: &mut Ctx) -> Result<(), Pgm> {
    let v = (c.cpu.r64(c.i.r1) >> c.i.def.aux) & 0xffff;
    let cc = tm_cc(v, u64::from(c.i.i2), true);
    c.cpu.set_cc(cc);
    Ok(())
}

/// Test under mask of a storage byte.
pub fn tm(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea1();
    let v = c.read(a, 1)?;
    let cc = tm_cc(v, u64::from(c.i.i2), false);
    c.cpu.set_cc(cc);
    Ok(())
}

/// NI/OI/XI/MVI on a storage byte (aux: 0 AND, 1 OR, 2 XOR, 3 move).
pub fn si_logic(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea1();
    let imm = c.i.i2 as u8;
    if c.i.def.aux == 3 {
        return c.mem.write(a, &[imm]);
    }
    let v = c.read(a, 1)? as u8;
    let r = match c.i.def.aux {
        0 => v & imm,
        1 => v | imm,
        _ => v ^ imm,
    };
    c.mem.write(a, &[r])?;
    c.cpu.set_cc(u8::from(r != 0));
    Ok(())
}

/// Compare logical immediate with a storage byte.
pub fn cli(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea1();
    let v = c.read(a, 1)? as u8;
    c.cpu.set_cc(cc_cmp(v, c.i.i2 as u8));
    Ok(())
}

// ---------------------------------------------------------------- compare

/// Compare, 32 bits.
pub fn cmp32(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.i.r1) as i32;
    let b = c.src()? as i32;
    c.cpu.set_cc(cc_cmp(a, b));
    Ok(())
}

/// Compare, 64 bits.
pub fn cmp64(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.i.r1) as i64;
    let b = c.src()? as i64;
    c.cpu.set_cc(cc_cmp(a, b));
    Ok(())
}

/// Compare logical, 32 bits.
pub fn cmpl32(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r32(c.i.r1);
    let b = c.src()? as u32;
    c.cpu.set_cc(cc_cmp(a, b));
    Ok(())
}

/// Compare logical, 64 bits.
pub fn cmpl64(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.cpu.r64(c.i.r1);
    let b = c.src()?;
    c.cpu.set_cc(cc_cmp(a, b));
    Ok(())
}

/// Compare storage with halfword immediate (aux: width in bytes, 0x80 logical).
pub fn chsi(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.def.aux & 0xf);
    let a = c.ea1();
    let v = c.read(a, n)?;
    let cc = if c.i.def.aux & 0x80 != 0 {
        cc_cmp(v, u64::from(c.i.i2 as u16))
    } else {
        let v = match n {
            2 => Src::S16.extend(v),
            4 => Src::S32.extend(v),
            _ => v,
        };
        cc_cmp(v as i64, Src::S16.extend(u64::from(c.i.i2)) as i64)
    };
    c.cpu.set_cc(cc);
    Ok(())
}

/// Compare logical characters under mask (aux: 0 low word, 32 high word).
pub fn clm(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.i.m3;
    let n = m.count_ones() as usize;
    let a = c.ea2();
    let mut b = [0u8; 4];
    c.mem.read(a, &mut b[..n])?;
    let r = c.cpu.r64(c.i.r1);
    let mut k = 0;
    let mut cc = 0;
    for bit in 0..4 {
        if m & (8 >> bit) != 0 {
            let x = (r >> (u32::from(c.i.def.aux) + 24 - 8 * bit)) as u8;
            if cc == 0 {
                cc = cc_cmp(x, b[k]);
            }
            k += 1;
        }
    }
    c.cpu.set_cc(cc);
    Ok(())
}

/// Compare and branch / jump / trap (aux bit 0: 64-bit, bit 1: logical). The mask selects
/// on 8 equal, 4 low, 2 high.
pub fn cmp_jump(c: &mut Ctx) -> Result<(), Pgm> {
    use Format::*;
    let wide = c.i.def.aux & 1 != 0;
    let logical = c.i.def.aux & 2 != 0;
    let a = c.cpu.r64(c.i.r1);
    let b = match c.i.def.format {
        RIEb | RRS | RRFc => c.cpu.r64(c.i.r2),
        _ => c.i.def.src.extend(u64::from(c.i.i2)),
    };
    let rel = match (wide, logical) {
        (false, false) => cc_cmp(a as i32, b as i32),
        (true, false) => cc_cmp(a as i64, b as i64),
        (false, true) => cc_cmp(a as u32, b as u32),
        (true, true) => cc_cmp(a, b),
    };
    if c.i.m3 & (8 >> rel) == 0 {
        return Ok(());
    }
    match c.i.def.format {
        RIEb | RIEc => c.cpu.psw_addr = c.rel(),
        RRS | RIS => c.cpu.psw_addr = c.ea(c.i.b4, 0, c.i.d4),
        _ => {
            c.cpu.fpc = (c.cpu.fpc & !0xff00) | 0xff00;
            return Err(Pgm::Data { dxc: 0xff });
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- shifts

/// Shifts (aux: bits 0-1 0 SLL, 1 SRL, 2 SLA, 3 SRA; bit 2 rotate; 0x10 64-bit; 0x20 pair).
pub fn shift(c: &mut Ctx) -> Result<(), Pgm> {
    let aux = c.i.def.aux;
    let n = (c.ea(c.i.b2, 0, c.i.d2) & 63) as u32;
    let src = if c.i.def.format == Format::RSa {
        c.i.r1
    } else {
        c.i.r3
    };
    let kind = aux & 3;
    if aux & 0x20 != 0 {
        c.even_pair(c.i.r1)?;
        let v = (u64::from(c.cpu.r32(c.i.r1)) << 32) | u64::from(c.cpu.r32(c.i.r1 + 1));
        let (r, cc) = shift_val(v, n, kind, 64);
        c.cpu.set_r32(c.i.r1, (r >> 32) as u32);
        c.cpu.set_r32(c.i.r1 + 1, r as u32);
        return finish_shift(c, kind, cc);
    }
    if aux & 4 != 0 {
        if aux & 0x10 != 0 {
            let v = c.cpu.r64(src).rotate_left(n);
            c.cpu.set_r64(c.i.r1, v);
        } else {
            let v = c.cpu.r32(src).rotate_left(n);
            c.cpu.set_r32(c.i.r1, v);
        }
        return Ok(());
    }
    if aux & 0x10 != 0 {
        let (r, cc) = shift_val(c.cpu.r64(src), n, kind, 64);
        c.cpu.set_r64(c.i.r1, r);
        finish_shift(c, kind, cc)
    } else {
        let (r, cc) = shift_val(u64::from(c.cpu.r32(src)), n, kind, 32);
        c.cpu.set_r32(c.i.r1, r as u32);
        finish_shift(c, kind, cc)
    }
}

fn finish_shift(c: &mut Ctx, kind: u8, cc: u8) -> Result<(), Pgm> {
    if kind < 2 {
        return Ok(());
    }
    if cc == 3 {
        return c.overflow();
    }
    c.cpu.set_cc(cc);
    Ok(())
}

/// Shift a `w`-bit value (in the low bits of `v`) by `n`; returns the result and, for the
/// arithmetic kinds, the condition code (3 when SLA loses a bit unlike the sign).
fn shift_val(v: u64, n: u32, kind: u8, w: u32) -> (u64, u8) {
    let mask = if w == 64 { u64::MAX } else { (1u64 << w) - 1 };
    let sign = 1u64 << (w - 1);
    let sx = |x: u64| -> i64 { ((x << (64 - w)) as i64) >> (64 - w) };
    match kind {
        0 => (if n >= w { 0 } else { (v << n) & mask }, 0),
        1 => (if n >= w { 0 } else { v >> n }, 0),
        2 => {
            let s = v & sign;
            let mut r = v;
            let mut ovf = false;
            for _ in 0..n {
                r = (r << 1) & mask;
                if (r & sign) != s {
                    ovf = true;
                }
            }
            let r = (r & !sign) | s;
            let cc = if ovf { 3 } else { cc_signed(sx(r)) };
            (r & mask, cc)
        }
        _ => {
            let r = (sx(v) >> n.min(63)) as u64 & mask;
            (r, cc_signed(sx(r)))
        }
    }
}

/// Rotate then insert/AND/OR/XOR selected bits (aux: 0 RISBG, 1 RNSBG, 2 ROSBG, 3 RXSBG).
pub fn rsbg(c: &mut Ctx) -> Result<(), Pgm> {
    let start = u32::from(c.i.i3 & 63);
    let end = u32::from(c.i.i4 & 63);
    let rot = c.cpu.r64(c.i.r2).rotate_left(u32::from(c.i.i5 & 63));
    let bits = |s: u32, e: u32| -> u64 { (u64::MAX >> s) & (u64::MAX << (63 - e)) };
    let mask = if start <= end {
        bits(start, end)
    } else {
        bits(start, 63) | bits(0, end)
    };
    let old = c.cpu.r64(c.i.r1);
    if c.i.def.aux == 0 {
        let keep = if c.i.i4 & 0x80 != 0 { 0 } else { old & !mask };
        let r = keep | (rot & mask);
        c.cpu.set_r64(c.i.r1, r);
        c.cpu.set_cc(cc_signed(r as i64));
        return Ok(());
    }
    let sel = match c.i.def.aux {
        1 => old & rot,
        2 => old | rot,
        _ => old ^ rot,
    } & mask;
    if c.i.i3 & 0x80 == 0 {
        c.cpu.set_r64(c.i.r1, (old & !mask) | sel);
    }
    c.cpu.set_cc(u8::from(sel != 0));
    Ok(())
}

// ---------------------------------------------------------------- branches

fn target(c: &Ctx) -> Option<u64> {
    use Format::*;
    match c.i.def.format {
        RR => (c.i.r2 != 0).then(|| c.cpu.wrap(c.cpu.r64(c.i.r2))),
        RRE => (c.i.r2 != 0).then(|| c.cpu.wrap(c.cpu.r64(c.i.r2))),
        RIb | RIc | RILb | RILc => Some(c.rel()),
        _ => Some(c.ea2()),
    }
}

/// Branch on condition (mask in R1).
pub fn bc(c: &mut Ctx) -> Result<(), Pgm> {
    if c.i.r1 & (8 >> c.cpu.cc()) != 0 {
        if let Some(t) = target(c) {
            c.cpu.psw_addr = t;
        }
    }
    Ok(())
}

/// Branch and save (aux 1: branch and link, whose 24-bit link carries ILC, CC and program mask).
pub fn bas(c: &mut Ctx) -> Result<(), Pgm> {
    let t = target(c);
    let next = c.cpu.psw_addr;
    match c.cpu.amode() {
        super::AddressingMode::A64 => c.cpu.set_r64(c.i.r1, next),
        super::AddressingMode::A31 => c.cpu.set_r32(c.i.r1, 0x8000_0000 | next as u32),
        super::AddressingMode::A24 => {
            let link = if c.i.def.aux == 1 {
                (u32::from(c.cpu.ilc) << 30)
                    | (u32::from(c.cpu.cc()) << 28)
                    | (u32::from(c.cpu.program_mask()) << 24)
                    | (next as u32 & 0xff_ffff)
            } else {
                next as u32 & 0xff_ffff
            };
            c.cpu.set_r32(c.i.r1, link);
        }
    }
    if let Some(t) = t {
        c.cpu.psw_addr = t;
    }
    Ok(())
}

/// Branch on count (aux 1: 64-bit).
pub fn bct(c: &mut Ctx) -> Result<(), Pgm> {
    let t = target(c);
    let nz = if c.i.def.aux == 1 {
        let v = c.cpu.r64(c.i.r1).wrapping_sub(1);
        c.cpu.set_r64(c.i.r1, v);
        v != 0
    } else {
        let v = c.cpu.r32(c.i.r1).wrapping_sub(1);
        c.cpu.set_r32(c.i.r1, v);
        v != 0
    };
    if nz {
        if let Some(t) = t {
            c.cpu.psw_addr = t;
        }
    }
    Ok(())
}

/// Branch on index high / low or equal (aux: bit 0 low-or-equal, bit 1 64-bit).
pub fn bx(c: &mut Ctx) -> Result<(), Pgm> {
    use Format::*;
    let t = match c.i.def.format {
        RSI | RIEe => c.rel(),
        _ => c.ea2(),
    };
    let r3 = c.i.r3;
    let cmp_reg = r3 | 1;
    let le = c.i.def.aux & 1 != 0;
    let taken = if c.i.def.aux & 2 != 0 {
        let inc = c.cpu.r64(r3) as i64;
        let limit = c.cpu.r64(cmp_reg) as i64;
        let s = (c.cpu.r64(c.i.r1) as i64).wrapping_add(inc);
        c.cpu.set_r64(c.i.r1, s as u64);
        if le {
            s <= limit
        } else {
            s > limit
        }
    } else {
        let inc = c.cpu.r32(r3) as i32;
        let limit = c.cpu.r32(cmp_reg) as i32;
        let s = (c.cpu.r32(c.i.r1) as i32).wrapping_add(inc);
        c.cpu.set_r32(c.i.r1, s as u32);
        if le {
            s <= limit
        } else {
            s > limit
        }
    };
    if taken {
        c.cpu.psw_addr = t;
    }
    Ok(())
}

// ---------------------------------------------------------------- storage to storage

/// MVC/NC/OC/XC/MVN/MVZ (aux 0..5), byte by byte left to right (overlap semantics
/// included).
pub fn ss(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.l1) + 1;
    let a1 = c.ea1();
    let a2 = c.ea(c.i.b2, 0, c.i.d2);
    let mut d = [0u8; 256];
    let mut s = [0u8; 256];
    // Access exceptions first (all-or-nothing), then the byte-wise operation.
    read_wrapped(c, a1, &mut d[..n])?;
    read_wrapped(c, a2, &mut s[..n])?;
    let overlap_fwd = c.i.def.aux == 0 || a1 != a2;
    let mut nz = false;
    for k in 0..n {
        // Bytes of operand 2 already stored by this instruction are refetched.
        let src = if overlap_fwd {
            let sa = c.cpu.wrap(a2.wrapping_add(k as u64));
            let off = sa.wrapping_sub(a1);
            if off < k as u64 {
                d[off as usize]
            } else {
                s[k]
            }
        } else {
            s[k]
        };
        d[k] = match c.i.def.aux {
            0 => src,
            1 => d[k] & src,
            2 => d[k] | src,
            3 => d[k] ^ src,
            4 => (d[k] & 0xf0) | (src & 0x0f),
            _ => (d[k] & 0x0f) | (src & 0xf0),
        };
        nz |= d[k] != 0;
    }
    write_wrapped(c, a1, &d[..n])?;
    if matches!(c.i.def.aux, 1..=3) {
        c.cpu.set_cc(u8::from(nz));
    }
    Ok(())
}

fn read_wrapped(c: &mut Ctx, a: u64, buf: &mut [u8]) -> Result<(), Pgm> {
    let end = c.cpu.wrap(a.wrapping_add(buf.len() as u64 - 1));
    if end >= a {
        return c.mem.read(a, buf);
    }
    for (k, b) in buf.iter_mut().enumerate() {
        let mut x = [0u8];
        c.mem.read(c.cpu.wrap(a.wrapping_add(k as u64)), &mut x)?;
        *b = x[0];
    }
    Ok(())
}

fn write_wrapped(c: &mut Ctx, a: u64, buf: &[u8]) -> Result<(), Pgm> {
    let end = c.cpu.wrap(a.wrapping_add(buf.len() as u64 - 1));
    if end >= a {
        return c.mem.write(a, buf);
    }
    for (k, b) in buf.iter().enumerate() {
        c.mem.write(c.cpu.wrap(a.wrapping_add(k as u64)), &[*b])?;
    }
    Ok(())
}

/// Compare logical characters.
pub fn clc(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.l1) + 1;
    let a1 = c.ea1();
    let a2 = c.ea(c.i.b2, 0, c.i.d2);
    let mut x = [0u8; 256];
    let mut y = [0u8; 256];
    read_wrapped(c, a1, &mut x[..n])?;
    read_wrapped(c, a2, &mut y[..n])?;
    c.cpu.set_cc(cc_cmp(&x[..n], &y[..n]));
    Ok(())
}

/// Translate: each first-operand byte replaced by the table byte it indexes.
pub fn tr(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.l1) + 1;
    let a1 = c.ea1();
    let a2 = c.ea(c.i.b2, 0, c.i.d2);
    let mut d = [0u8; 256];
    read_wrapped(c, a1, &mut d[..n])?;
    for k in 0..n {
        let mut b = [0u8];
        c.mem
            .read(c.cpu.wrap(a2.wrapping_add(u64::from(d[k]))), &mut b)?;
        d[k] = b[0];
        // A table byte inside the first operand sees earlier results.
        write_wrapped(c, c.cpu.wrap(a1.wrapping_add(k as u64)), &d[k..=k])?;
    }
    Ok(())
}

/// Translate and test: the first nonzero function byte stops the scan; R1 gets the
/// argument byte's address, bits 56-63 of R2 the function byte.
pub fn trt(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.l1) + 1;
    let a1 = c.ea1();
    let a2 = c.ea(c.i.b2, 0, c.i.d2);
    let mut d = [0u8; 256];
    read_wrapped(c, a1, &mut d[..n])?;
    for (k, &arg) in d[..n].iter().enumerate() {
        let f = c.read(c.cpu.wrap(a2.wrapping_add(u64::from(arg))), 1)?;
        if f != 0 {
            let at = c.cpu.wrap(a1.wrapping_add(k as u64));
            c.cpu.set_address(1, at);
            let r2 = c.cpu.r64(2);
            c.cpu.set_r64(2, (r2 & !0xff) | f);
            c.cpu.set_cc(if k + 1 == n { 2 } else { 1 });
            return Ok(());
        }
    }
    c.cpu.set_cc(0);
    Ok(())
}

fn len_mask(c: &Ctx) -> u64 {
    if c.cpu.amode() == super::AddressingMode::A64 {
        u64::MAX
    } else {
        0xffff_ffff
    }
}

fn set_len_addr(c: &mut Ctx, r: u8, addr: u64, len: u64, extended: bool) {
    c.cpu.set_address(r, addr);
    if extended && c.cpu.amode() == super::AddressingMode::A64 {
        c.cpu.set_r64(r + 1, len);
    } else if extended {
        c.cpu.set_r32(r + 1, len as u32);
    } else {
        let old = c.cpu.r32(r + 1);
        c.cpu
            .set_r32(r + 1, (old & 0xff00_0000) | (len as u32 & 0xff_ffff));
    }
}

/// Move long (aux 0: MVCL, 24-bit lengths, pad in R2+1; aux 1: MVCLE, pad in the address).
/// Completes in one execution (the CPU-determined amount is everything).
pub fn mvcl(c: &mut Ctx) -> Result<(), Pgm> {
    let ext = c.i.def.aux == 1;
    let r2 = if ext { c.i.r3 } else { c.i.r2 };
    c.even_pair(c.i.r1)?;
    c.even_pair(r2)?;
    let (mut d, mut s) = (c.cpu.wrap(c.cpu.r64(c.i.r1)), c.cpu.wrap(c.cpu.r64(r2)));
    let (mut l1, mut l2, pad) = if ext {
        let m = len_mask(c);
        (
            c.cpu.r64(c.i.r1 + 1) & m,
            c.cpu.r64(r2 + 1) & m,
            c.ea2() as u8,
        )
    } else {
        let x = c.cpu.r32(r2 + 1);
        (
            u64::from(c.cpu.r32(c.i.r1 + 1) & 0xff_ffff),
            u64::from(x & 0xff_ffff),
            (x >> 24) as u8,
        )
    };
    let cc = cc_cmp(l1, l2);
    if !ext && l1 > 0 && l2 > 0 {
        // Destructive overlap: the destination starts inside the source after its first byte.
        let moved = l1.min(l2);
        let off = c.cpu.wrap(d.wrapping_sub(s));
        if off > 0 && off < moved {
            c.cpu.set_cc(3);
            return Ok(());
        }
    }
    while l1 > 0 {
        let b = if l2 > 0 {
            let mut x = [0u8];
            c.mem.read(s, &mut x)?;
            s = c.cpu.wrap(s.wrapping_add(1));
            l2 -= 1;
            x[0]
        } else {
            pad
        };
        c.mem.write(d, &[b])?;
        d = c.cpu.wrap(d.wrapping_add(1));
        l1 -= 1;
        set_len_addr(c, c.i.r1, d, l1, ext);
        set_len_addr(c, r2, s, l2, ext);
    }
    set_len_addr(c, c.i.r1, d, l1, ext);
    set_len_addr(c, r2, s, l2, ext);
    c.cpu.set_cc(cc);
    Ok(())
}

/// Compare logical long (aux 0: CLCL, aux 1: CLCLE).
pub fn clcl(c: &mut Ctx) -> Result<(), Pgm> {
    let ext = c.i.def.aux == 1;
    let r2 = if ext { c.i.r3 } else { c.i.r2 };
    c.even_pair(c.i.r1)?;
    c.even_pair(r2)?;
    let (mut a1, mut a2) = (c.cpu.wrap(c.cpu.r64(c.i.r1)), c.cpu.wrap(c.cpu.r64(r2)));
    let (mut l1, mut l2, pad) = if ext {
        let m = len_mask(c);
        (
            c.cpu.r64(c.i.r1 + 1) & m,
            c.cpu.r64(r2 + 1) & m,
            c.ea2() as u8,
        )
    } else {
        let x = c.cpu.r32(r2 + 1);
        (
            u64::from(c.cpu.r32(c.i.r1 + 1) & 0xff_ffff),
            u64::from(x & 0xff_ffff),
            (x >> 24) as u8,
        )
    };
    let mut cc = 0;
    while l1 > 0 || l2 > 0 {
        let mut x = [pad];
        let mut y = [pad];
        if l1 > 0 {
            c.mem.read(a1, &mut x)?;
        }
        if l2 > 0 {
            c.mem.read(a2, &mut y)?;
        }
        if x[0] != y[0] {
            cc = cc_cmp(x[0], y[0]);
            break;
        }
        if l1 > 0 {
            a1 = c.cpu.wrap(a1.wrapping_add(1));
            l1 -= 1;
        }
        if l2 > 0 {
            a2 = c.cpu.wrap(a2.wrapping_add(1));
            l2 -= 1;
        }
    }
    set_len_addr(c, c.i.r1, a1, l1, ext);
    set_len_addr(c, r2, a2, l2, ext);
    c.cpu.set_cc(cc);
    Ok(())
}

fn string_char(c: &Ctx) -> Result<u8, Pgm> {
    let r0 = c.cpu.r64(0);
    if r0 & 0xffff_ff00 != 0 {
        return Err(Pgm::Specification);
    }
    Ok(r0 as u8)
}

/// Compare logical string (terminator in R0).
pub fn clst(c: &mut Ctx) -> Result<(), Pgm> {
    let t = string_char(c)?;
    let (mut a1, mut a2) = (c.cpu.wrap(c.cpu.r64(c.i.r1)), c.cpu.wrap(c.cpu.r64(c.i.r2)));
    loop {
        let x = c.read(a1, 1)? as u8;
        let y = c.read(a2, 1)? as u8;
        if x == t && y == t {
            c.cpu.set_cc(0);
            return Ok(());
        }
        if x == t || (y != t && x < y) {
            c.cpu.set_address(c.i.r1, a1);
            c.cpu.set_address(c.i.r2, a2);
            c.cpu.set_cc(1);
            return Ok(());
        }
        if y == t || x > y {
            c.cpu.set_address(c.i.r1, a1);
            c.cpu.set_address(c.i.r2, a2);
            c.cpu.set_cc(2);
            return Ok(());
        }
        a1 = c.cpu.wrap(a1.wrapping_add(1));
        a2 = c.cpu.wrap(a2.wrapping_add(1));
    }
}

/// Search string: R2 start, R1 end, character in R0.
pub fn srst(c: &mut Ctx) -> Result<(), Pgm> {
    let t = string_char(c)?;
    let end = c.cpu.wrap(c.cpu.r64(c.i.r1));
    let mut a = c.cpu.wrap(c.cpu.r64(c.i.r2));
    while a != end {
        if c.read(a, 1)? as u8 == t {
            c.cpu.set_address(c.i.r1, a);
            c.cpu.set_cc(1);
            return Ok(());
        }
        a = c.cpu.wrap(a.wrapping_add(1));
    }
    c.cpu.set_cc(2);
    Ok(())
}

/// Move string: copy from R2 to R1 up to and including the terminator in R0. One execution
/// stops at the first page end of either operand with CC 3 (a CPU-determined amount), so
/// access exceptions are never reported beyond the bytes actually moved.
pub fn mvst(c: &mut Ctx) -> Result<(), Pgm> {
    let t = string_char(c)?;
    let (mut d, mut s) = (c.cpu.wrap(c.cpu.r64(c.i.r1)), c.cpu.wrap(c.cpu.r64(c.i.r2)));
    let limit = (0x1000 - (d & 0xfff)).min(0x1000 - (s & 0xfff));
    for _ in 0..limit {
        let x = c.read(s, 1)?;
        c.write(d, 1, x)?;
        if x as u8 == t {
            c.cpu.set_address(c.i.r1, d);
            c.cpu.set_cc(1);
            return Ok(());
        }
        d = c.cpu.wrap(d.wrapping_add(1));
        s = c.cpu.wrap(s.wrapping_add(1));
    }
    c.cpu.set_address(c.i.r1, d);
    c.cpu.set_address(c.i.r2, s);
    c.cpu.set_cc(3);
    Ok(())
}

// ---------------------------------------------------------------- execute, interlocked, misc

/// EXECUTE / EXECUTE RELATIVE LONG (aux 1): run the target with bits 8-15 ORed with R1's
/// bits 56-63.
pub fn ex(c: &mut Ctx) -> Result<(), Pgm> {
    let t = if c.i.def.aux == 1 { c.rel() } else { c.ea2() };
    if t & 1 != 0 {
        return Err(Pgm::Specification);
    }
    let mut b = [0u8; 6];
    c.mem.read(t, &mut b[..2])?;
    let len = usize::from(super::insn::insn_len(b[0]));
    if len > 2 {
        c.mem.read(c.cpu.wrap(t.wrapping_add(2)), &mut b[2..len])?;
    }
    if c.i.r1 != 0 {
        b[1] |= c.cpu.r64(c.i.r1) as u8;
    }
    let raw = raw_of(&b);
    let ti = match decode(raw) {
        Some(ti) if c.cpu.facilities.has(ti.def.facility) => ti,
        _ => return Err(Pgm::Operation),
    };
    if matches!(ti.def.opcode, 0x44 | 0xc600) {
        return Err(Pgm::Execute);
    }
    let mut tc = Ctx {
        cpu: c.cpu,
        mem: c.mem,
        i: &ti,
        addr: t,
    };
    match (ti.def.handler)(&mut tc) {
        Err(Pgm::Intercept { ipa: 0, .. }) => Err(super::supervisor::intercept_of(&tc)),
        r => r,
    }
}

/// Compare and swap (aux: operand size).
pub fn cs(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.def.aux);
    let a = c.ea2();
    if a & (n as u64 - 1) != 0 {
        return Err(Pgm::Specification);
    }
    let r1 = c.cpu.r64(c.i.r1);
    let r3 = c.cpu.r64(c.i.r3);
    let mut old = r1.to_be_bytes();
    let new = r3.to_be_bytes();
    let ok = c.mem.cas(a, &mut old[8 - n..], &new[8 - n..])?;
    if !ok {
        let v = be(&old[8 - n..]);
        if n == 8 {
            c.cpu.set_r64(c.i.r1, v);
        } else {
            c.cpu.set_r32(c.i.r1, v as u32);
        }
    }
    c.cpu.set_cc(u8::from(!ok));
    Ok(())
}

/// Compare double and swap (aux: size of each half).
pub fn cds(c: &mut Ctx) -> Result<(), Pgm> {
    let n = usize::from(c.i.def.aux);
    c.even_pair(c.i.r1)?;
    c.even_pair(c.i.r3)?;
    let a = c.ea2();
    if a & (2 * n as u64 - 1) != 0 {
        return Err(Pgm::Specification);
    }
    let part = |cpu: &Cpu, r: u8| -> [u8; 8] { cpu.r64(r).to_be_bytes() };
    let mut old = [0u8; 16];
    let mut new = [0u8; 16];
    old[..n].copy_from_slice(&part(c.cpu, c.i.r1)[8 - n..]);
    old[n..2 * n].copy_from_slice(&part(c.cpu, c.i.r1 + 1)[8 - n..]);
    new[..n].copy_from_slice(&part(c.cpu, c.i.r3)[8 - n..]);
    new[n..2 * n].copy_from_slice(&part(c.cpu, c.i.r3 + 1)[8 - n..]);
    let ok = c.mem.cas(a, &mut old[..2 * n], &new[..2 * n])?;
    if !ok {
        let (h, l) = (be(&old[..n]), be(&old[n..2 * n]));
        if n == 8 {
            c.cpu.set_r64(c.i.r1, h);
            c.cpu.set_r64(c.i.r1 + 1, l);
        } else {
            c.cpu.set_r32(c.i.r1, h as u32);
            c.cpu.set_r32(c.i.r1 + 1, l as u32);
        }
    }
    c.cpu.set_cc(u8::from(!ok));
    Ok(())
}

/// Compare and swap and store. GR0 bits 56-63: the function code (0: 4-byte, 1: 8-byte,
/// 2: 16-byte compare and swap, the last with facility 33), bits 48-55: the store
/// characteristic (the store operand is 2^SC bytes, 16 with facility 33); GR1: the
/// parameter list (its rightmost four bits ignored), the swap value left-aligned in bytes
/// 0-15 and the store value in bytes 16-31. The first operand, aligned to its size, is
/// compared with R3 (bits 32-63, the 64 bits, or the even/odd pair): equal, the swap value
/// replaces it, the store value is stored at the second operand (aligned to its size) and
/// CC 0; unequal, R3 receives the first operand and CC 1. Both operands are checked for a
/// store before the compare and swap, so an exception leaves both unchanged.
pub fn csst(c: &mut Ctx) -> Result<(), Pgm> {
    let r0 = c.cpu.r64(0);
    let (fc, sc) = ((r0 & 0xff) as u32, ((r0 >> 8) & 0xff) as u32);
    let level2 = c.cpu.facilities.has_bit(33);
    if fc > 2 || sc > 4 || ((fc == 2 || sc == 4) && !level2) || (fc == 2 && c.i.r3 & 1 != 0) {
        return Err(Pgm::Specification);
    }
    let (a1, a2) = (c.ea1(), c.ea2());
    let (n1, n2) = (4usize << fc, 1usize << sc);
    if a1 & (n1 as u64 - 1) != 0 || a2 & (n2 as u64 - 1) != 0 {
        return Err(Pgm::Specification);
    }
    // Access exceptions in the order of the operands: the first (for a store), the second,
    // the parameter list.
    c.mem.probe_write(a1, n1)?;
    c.mem.probe_write(a2, n2)?;
    let pl = c.cpu.wrap(c.cpu.r64(1) & !15);
    let mut store = [0u8; 16];
    c.mem
        .read(c.cpu.wrap(pl.wrapping_add(16)), &mut store[..n2])?;
    let mut swap = [0u8; 16];
    c.mem.read(pl, &mut swap[..n1])?;
    let r3 = c.i.r3;
    let mut old = [0u8; 16];
    match fc {
        0 => old[..4].copy_from_slice(&c.cpu.r32(r3).to_be_bytes()),
        1 => old[..8].copy_from_slice(&c.cpu.r64(r3).to_be_bytes()),
        _ => {
            old[..8].copy_from_slice(&c.cpu.r64(r3).to_be_bytes());
            old[8..].copy_from_slice(&c.cpu.r64(r3 + 1).to_be_bytes());
        }
    }
    let equal = c.mem.cas(a1, &mut old[..n1], &swap[..n1])?;
    if equal {
        c.mem.write(a2, &store[..n2])?;
    } else {
        match fc {
            0 => c.cpu.set_r32(r3, be(&old[..4]) as u32),
            1 => c.cpu.set_r64(r3, be(&old[..8])),
            _ => {
                c.cpu.set_r64(r3, be(&old[..8]));
                c.cpu.set_r64(r3 + 1, be(&old[8..]));
            }
        }
    }
    c.cpu.set_cc(u8::from(!equal));
    Ok(())
}

/// Store facility list extended: as many doublewords of the machine's facility list (the
/// CPU model's, or the installed facilities) as R0's bits 56-63 + 1 allow; CC 3 and the needed count - 1 in R0 when that is too few.
pub fn stfle(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    if a & 7 != 0 {
        return Err(Pgm::Specification);
    }
    let mut list = [0u64; 32];
    let len = facility_words(c, &mut list);
    let needed = list[..len]
        .iter()
        .rposition(|&w| w != 0)
        .map_or(1, |p| p + 1);
    let room = usize::from(c.cpu.r64(0) as u8) + 1;
    let n = needed.min(room);
    let mut b = [0u8; 256];
    for (k, w) in list[..n].iter().enumerate() {
        b[8 * k..8 * k + 8].copy_from_slice(&w.to_be_bytes());
    }
    c.mem.write(a, &b[..8 * n])?;
    let r0 = c.cpu.r64(0);
    c.cpu.set_r64(0, (r0 & !0xff) | (needed as u64 - 1));
    c.cpu.set_cc(if room >= needed { 0 } else { 3 });
    Ok(())
}

/// Insert program mask: CC and program mask into bits 34-39, bits 32-33 zero.
pub fn ipm(c: &mut Ctx) -> Result<(), Pgm> {
    let v = (u32::from(c.cpu.cc()) << 28) | (u32::from(c.cpu.program_mask()) << 24);
    let old = c.cpu.r32(c.i.r1);
    c.cpu.set_r32(c.i.r1, (old & 0x00ff_ffff) | v);
    Ok(())
}

/// Set program mask from bits 34-39 of R1.
pub fn spm(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.cpu.r32(c.i.r1);
    c.cpu.set_cc(((v >> 28) & 3) as u8);
    c.cpu.set_program_mask(((v >> 24) & 0xf) as u8);
    Ok(())
}

/// Find leftmost one.
pub fn flogr(c: &mut Ctx) -> Result<(), Pgm> {
    c.even_pair(c.i.r1)?;
    let v = c.cpu.r64(c.i.r2);
    let n = v.leading_zeros();
    c.cpu.set_r64(c.i.r1, u64::from(n));
    c.cpu.set_r64(
        c.i.r1 + 1,
        if n == 64 { 0 } else { v & !(1u64 << (63 - n)) },
    );
    c.cpu.set_cc(if v == 0 { 0 } else { 2 });
    Ok(())
}

/// Population count per byte.
pub fn popcnt(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c
        .cpu
        .r64(c.i.r2)
        .to_be_bytes()
        .map(|b| b.count_ones() as u8);
    let r = u64::from_be_bytes(v);
    c.cpu.set_r64(c.i.r1, r);
    c.cpu.set_cc(u8::from(r != 0));
    Ok(())
}

/// Extract access register.
pub fn ear(c: &mut Ctx) -> Result<(), Pgm> {
    let v = c.cpu.ar[usize::from(c.i.r2)];
    c.cpu.set_r32(c.i.r1, v);
    Ok(())
}

/// Set access register.
pub fn sar(c: &mut Ctx) -> Result<(), Pgm> {
    c.cpu.ar[usize::from(c.i.r1)] = c.cpu.r32(c.i.r2);
    Ok(())
}

/// No operation (prefetch data).
pub fn nop(_: &mut Ctx) -> Result<(), Pgm> {
    Ok(())
}

/// Load on condition (M3 as BC's mask).
pub fn loc(c: &mut Ctx) -> Result<(), Pgm> {
    if c.i.m3 & (8 >> c.cpu.cc()) == 0 {
        return Ok(());
    }
    let v = c.src()?;
    if c.i.def.src == Src::U64 {
        c.cpu.set_r64(c.i.r1, v);
    } else {
        c.cpu.set_r32(c.i.r1, v as u32);
    }
    Ok(())
}

/// Store on condition (aux: size).
pub fn stoc(c: &mut Ctx) -> Result<(), Pgm> {
    if c.i.m3 & (8 >> c.cpu.cc()) == 0 {
        return Ok(());
    }
    let a = c.ea2();
    let v = c.cpu.r64(c.i.r1);
    c.write(a, usize::from(c.i.def.aux), v)
}

// ---------------------------------------------------------------- floating-point moves

/// An FPR operand: registers other than 0, 2, 4, 6 need the AFP-register control (data
/// exception, DXC 1, otherwise).
fn fpr(c: &mut Ctx, r: u8) -> Result<usize, Pgm> {
    if c.cpu.cr[0] & super::psw::CR0_AFP == 0 && !matches!(r, 0 | 2 | 4 | 6) {
        c.cpu.fpc = (c.cpu.fpc & !0xff00) | 0x0100;
        return Err(Pgm::Data { dxc: 1 });
    }
    Ok(usize::from(r & 15))
}

const SHORT: u64 = 0xffff_ffff_0000_0000;

fn set_fp(c: &mut Ctx, r: usize, v: u64, short: bool) {
    c.cpu.fpr[r] = if short {
        (c.cpu.fpr[r] & !SHORT) | (v << 32)
    } else {
        v
    };
}

/// LDR/LER.
pub fn fp_move(c: &mut Ctx) -> Result<(), Pgm> {
    let (r1, r2) = (fpr(c, c.i.r1)?, fpr(c, c.i.r2)?);
    let short = c.i.def.aux == 1;
    let v = if short {
        c.cpu.fpr[r2] >> 32
    } else {
        c.cpu.fpr[r2]
    };
    set_fp(c, r1, v, short);
    Ok(())
}

/// LD/LDY/LE/LEY.
pub fn fp_load(c: &mut Ctx) -> Result<(), Pgm> {
    let r1 = fpr(c, c.i.r1)?;
    let short = c.i.def.aux == 1;
    let a = c.ea2();
    let v = c.read(a, if short { 4 } else { 8 })?;
    set_fp(c, r1, v, short);
    Ok(())
}

/// STD/STDY/STE/STEY.
pub fn fp_store(c: &mut Ctx) -> Result<(), Pgm> {
    let r1 = fpr(c, c.i.r1)?;
    let a = c.ea2();
    let v = c.cpu.fpr[r1];
    if c.i.def.aux == 1 {
        c.write(a, 4, v >> 32)
    } else {
        c.write(a, 8, v)
    }
}

/// LZDR/LZER.
pub fn fp_zero(c: &mut Ctx) -> Result<(), Pgm> {
    let r1 = fpr(c, c.i.r1)?;
    set_fp(c, r1, 0, c.i.def.aux == 1);
    Ok(())
}

/// LDGR (aux 0) / LGDR (aux 1).
pub fn fp_gr(c: &mut Ctx) -> Result<(), Pgm> {
    if c.i.def.aux == 0 {
        let r1 = fpr(c, c.i.r1)?;
        c.cpu.fpr[r1] = c.cpu.r64(c.i.r2);
    } else {
        let r2 = fpr(c, c.i.r2)?;
        let v = c.cpu.fpr[r2];
        c.cpu.set_r64(c.i.r1, v);
    }
    Ok(())
}

/// LPDFR (0), LNDFR (1), LCDFR (2), CPSDR (3): the sign bit only, no condition code, no
/// IEEE exceptions.
pub fn fp_sign(c: &mut Ctx) -> Result<(), Pgm> {
    const SIGN: u64 = 1 << 63;
    let (r1, r2) = (fpr(c, c.i.r1)?, fpr(c, c.i.r2)?);
    let v = c.cpu.fpr[r2];
    c.cpu.fpr[r1] = match c.i.def.aux {
        0 => v & !SIGN,
        1 => v | SIGN,
        2 => v ^ SIGN,
        _ => {
            let r3 = fpr(c, c.i.r3)?;
            (v & !SIGN) | (c.cpu.fpr[r3] & SIGN)
        }
    };
    Ok(())
}
