//! Supervisor (control) instructions: PSW, control registers, prefix, clocks, timers, DAT,
//! storage keys, and the instructions SIE intercepts to KVM or userspace.
//!
//! Each handler does what SIE + KVM would: CPU-local state (PSW, CRs, prefix, CPU address)
//! is changed here; what belongs to the machine (storage keys, the TOD clock, the CPU timer
//! and clock comparator, DAT walks, TLBs, the CPU model's facility list) goes through the
//! machine methods of [`Storage`](super::Storage); what KVM's `priv.c`/`diag.c`/`sigp.c`
//! handle or hand to userspace (SIGP, DIAG, STSI, SERVC, ESSA, the I/O instructions, SIE)
//! comes back as [`Pgm::Intercept`] after the privileged-operation check. Privileged
//! instructions in the problem state raise a privileged-operation exception (0x02) before
//! any operand is accessed; semiprivileged ones check their authority control.

use super::exec::Ctx;
use super::{psw, AddressingMode, Cpu, LraResult, OperandAccess, Pgm};

/// Special-operation exception.
const SPECIAL_OPERATION: Pgm = Pgm::Other {
    code: 0x13,
    teid: 0,
};

fn privileged(c: &Ctx) -> Result<(), Pgm> {
    if c.cpu.psw_mask & psw::PROBLEM != 0 {
        Err(Pgm::PrivilegedOperation)
    } else {
        Ok(())
    }
}

fn aligned(a: u64, n: u64) -> Result<(), Pgm> {
    if a & (n - 1) != 0 {
        Err(Pgm::Specification)
    } else {
        Ok(())
    }
}

/// The absolute address of real address `real` under the CPU's prefix (SA22-7832
/// "Prefixing": real 0-8191 and the prefix area swap).
pub fn real_to_absolute(cpu: &Cpu, real: u64) -> u64 {
    let p = u64::from(cpu.prefix);
    if real < 0x2000 {
        real + p
    } else if real >= p && real < p + 0x2000 {
        real - p
    } else {
        real
    }
}

/// Low-address protection of a real or absolute frame start (TB, PFMF clear frame).
fn low_address_protected(cpu: &Cpu, a: u64) -> bool {
    cpu.cr[0] & psw::CR0_LAP != 0 && (a < 512 || (0x1000..0x1200).contains(&a))
}

/// Replace the PSW, tell the machine, and recognise an invalid PSW as the early
/// specification exception (the new PSW is the old PSW of the interruption), as the
/// kernel's `is_valid_psw` decides for LPSW(E).
fn load_psw(c: &mut Ctx, mask: u64, addr: u64) -> Result<(), Pgm> {
    c.cpu.psw_mask = mask;
    c.cpu.psw_addr = addr;
    c.mem.control_changed(c.cpu);
    let amode = mask & (psw::EA | psw::BA);
    let valid = mask & psw::UNASSIGNED == 0
        && amode != psw::EA
        && !(amode == psw::BA && addr > 0x7fff_ffff)
        && !(amode == 0 && addr > 0x00ff_ffff)
        && addr & 1 == 0;
    if valid {
        Ok(())
    } else {
        Err(Pgm::Specification)
    }
}

// ---------------------------------------------------------------- PSW

/// LOAD PSW: the short (ESA/390-format) PSW at a doubleword; bit 12 must be one.
pub fn lpsw(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let v = c.read(a, 8)?;
    if v & (1 << 51) == 0 {
        return Err(Pgm::Specification);
    }
    let mask = (v & 0xfff7_ffff_0000_0000) | (v & 0x8000_0000);
    load_psw(c, mask, v & 0x7fff_ffff)
}

/// LOAD PSW EXTENDED: the 16-byte PSW at a doubleword.
pub fn lpswe(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let mask = c.read(a, 8)?;
    let addr = c.read(c.cpu.wrap(a.wrapping_add(8)), 8)?;
    load_psw(c, mask, addr)
}

/// SET SYSTEM MASK: PSW bits 0-7 from the byte at the operand.
pub fn ssm(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    if c.cpu.cr[0] & psw::CR0_SSM_SUPPRESS != 0 {
        return Err(SPECIAL_OPERATION);
    }
    let b = c.read(c.ea2(), 1)?;
    let mask = (c.cpu.psw_mask & !(0xff << 56)) | (b << 56);
    let addr = c.cpu.psw_addr;
    load_psw(c, mask, addr)
}

/// STORE THEN AND (aux 0) / OR (aux 1) SYSTEM MASK.
pub fn stxsm(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let old = c.cpu.psw_mask >> 56;
    let a = c.ea1();
    c.write(a, 1, old)?;
    let i2 = u64::from(c.i.i2 & 0xff);
    let b = if c.i.def.aux == 0 { old & i2 } else { old | i2 };
    let mask = (c.cpu.psw_mask & !(0xff << 56)) | (b << 56);
    let addr = c.cpu.psw_addr;
    load_psw(c, mask, addr)
}

/// SET PSW KEY FROM ADDRESS: in the problem state only keys the PSW-key mask (CR3 bits
/// 32-47) allows.
pub fn spka(c: &mut Ctx) -> Result<(), Pgm> {
    let key = (c.ea2() >> 4) & 0xf;
    if c.cpu.psw_mask & psw::PROBLEM != 0 && (c.cpu.cr[3] >> 16) & (0x8000 >> key) == 0 {
        return Err(Pgm::PrivilegedOperation);
    }
    c.cpu.psw_mask = (c.cpu.psw_mask & !(0xf << psw::KEY_SHIFT)) | (key << psw::KEY_SHIFT);
    c.mem.control_changed(c.cpu);
    Ok(())
}

/// INSERT PSW KEY into GR2 bits 56-59 (bits 60-63 zero); the problem state needs the
/// extraction-authority control.
pub fn ipk(c: &mut Ctx) -> Result<(), Pgm> {
    if c.cpu.psw_mask & psw::PROBLEM != 0 && c.cpu.cr[0] & psw::CR0_EXTRACT == 0 {
        return Err(Pgm::PrivilegedOperation);
    }
    let key = (c.cpu.psw_mask >> psw::KEY_SHIFT) & 0xf;
    let g = c.cpu.r64(2);
    c.cpu.set_r64(2, (g & !0xff) | key << 4);
    Ok(())
}

/// SET ADDRESS SPACE CONTROL (aux 0) / FAST (aux 1): mode from operand bits 52-55
/// (0 primary, 1 secondary, 2 access register, 3 home).
pub fn sac(c: &mut Ctx) -> Result<(), Pgm> {
    let mode = (c.ea2() >> 8) & 0xf;
    if mode > 3 {
        return Err(Pgm::Specification);
    }
    if c.cpu.psw_mask & psw::PROBLEM != 0 && mode == 3 {
        return Err(Pgm::PrivilegedOperation);
    }
    if c.cpu.psw_mask & psw::DAT == 0 || (mode == 1 && c.cpu.cr[0] & psw::CR0_SECONDARY == 0) {
        return Err(SPECIAL_OPERATION);
    }
    c.cpu.psw_mask = (c.cpu.psw_mask & !(3 << psw::AS_SHIFT)) | (mode << psw::AS_SHIFT);
    c.mem.control_changed(c.cpu);
    Ok(())
}

/// MOVE WITH OPTIONAL SPECIFICATIONS (facility 27): up to 4096 bytes from the second
/// operand to the first, each accessed with the key and address space its operand-access
/// control in GR0 names (OAC1 bits 32-47, OAC2 bits 48-63: key in bits 0-3, address-space
/// control in bits 8-9, their validity bits K 14 and A 15; an invalid one means the PSW's).
/// The true length is R3 (64 or 32 bits by the addressing mode): more than 4096 moves 4096
/// with CC 3, else all with CC 0. Special-operation exception with DAT off, for a home-space
/// first operand in the problem state, and for a secondary space without CR0's
/// secondary-space control; privileged-operation exception in the problem state for a key
/// the PSW-key mask does not permit. The second operand is fetched whole before the first
/// is stored, and the store is all-or-nothing, so an access exception moves nothing.
pub fn mvcos(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.cpu.psw_mask;
    if m & psw::DAT == 0 {
        return Err(SPECIAL_OPERATION);
    }
    let r0 = c.cpu.r64(0);
    let (psw_key, psw_as) = ((m >> psw::KEY_SHIFT) & 0xf, (m >> psw::AS_SHIFT) & 3);
    // (key, address space, whether the space was specified) of an operand-access control.
    let oac = |h: u64| {
        let key = if h & 2 != 0 { (h >> 12) & 0xf } else { psw_key };
        let space = if h & 1 != 0 { (h >> 6) & 3 } else { psw_as };
        (key as u8, space as u8, h & 1 != 0)
    };
    let (key1, as1, a1) = oac((r0 >> 16) & 0xffff);
    let (key2, as2, _) = oac(r0 & 0xffff);
    let problem = m & psw::PROBLEM != 0;
    if a1 && as1 == 3 && problem {
        return Err(SPECIAL_OPERATION);
    }
    if c.cpu.cr[0] & psw::CR0_SECONDARY == 0 && (as1 == 2 || as2 == 2) {
        return Err(SPECIAL_OPERATION);
    }
    if !(key_permitted(c, key1) && key_permitted(c, key2)) {
        return Err(Pgm::PrivilegedOperation);
    }
    let len = match c.cpu.amode() {
        AddressingMode::A64 => c.cpu.r64(c.i.r3),
        _ => u64::from(c.cpu.r32(c.i.r3)),
    };
    let (len, cc) = if len > 4096 {
        (4096, 3)
    } else {
        (len as usize, 0)
    };
    move_keyed(c, len, (as1, key1), (as2, key2))?;
    c.cpu.set_cc(cc);
    Ok(())
}

/// Whether the PSW-key mask (CR3 bits 32-47) permits `key` in the problem state.
fn key_permitted(c: &Ctx, key: u8) -> bool {
    c.cpu.psw_mask & psw::PROBLEM == 0 || (c.cpu.cr[3] >> 16) & (0x8000 >> key) != 0
}

/// Moves `len` (0..=4096) bytes from the second operand, fetched in address space `from.0`
/// with key `from.1`, to the first, stored in space `to.0` with key `to.1` (each through its
/// operand's base register in access-register mode): the source whole, then the target
/// all-or-nothing.
fn move_keyed(c: &mut Ctx, len: usize, to: (u8, u8), from: (u8, u8)) -> Result<(), Pgm> {
    if len == 0 {
        return Ok(());
    }
    let how = |c: &Ctx, (space, key): (u8, u8), b: u8| OperandAccess {
        space,
        ar: b,
        alet: if b == 0 { 0 } else { c.cpu.ar[usize::from(b)] },
        key,
    };
    let (src, dst) = (how(c, from, c.i.b2), how(c, to, c.i.b1));
    let mut buf = [0u8; 4096];
    let (a1, a2) = (c.ea1(), c.ea2());
    c.mem.read_in(src, a2, &mut buf[..len])?;
    c.mem.write_in(dst, a1, &buf[..len])
}

/// The true length of MVCP/MVCS/MVCK in R1 (64 or 32 bits by the addressing mode): the
/// bytes to move (at most 256) and the condition code (3 when more were asked for).
fn true_length(c: &Ctx) -> (usize, u8) {
    let l = match c.cpu.amode() {
        AddressingMode::A64 => c.cpu.r64(c.i.r1),
        _ => u64::from(c.cpu.r32(c.i.r1)),
    };
    if l > 256 {
        (256, 3)
    } else {
        (l as usize, 0)
    }
}

/// MOVE TO PRIMARY (aux 0) / MOVE TO SECONDARY (aux 1): from the secondary space to the
/// primary one or back, the secondary operand with the key in R3 bits 56-59, the primary one
/// with the PSW key; the true length in R1. Special-operation exception without CR0's
/// secondary-space control, with DAT off, or in access-register or home-space mode;
/// privileged-operation exception in the problem state for a key the PSW-key mask does not
/// permit.
pub fn mvcp(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.cpu.psw_mask;
    if c.cpu.cr[0] & psw::CR0_SECONDARY == 0 || m & psw::DAT == 0 || (m >> psw::AS_SHIFT) & 1 != 0 {
        return Err(SPECIAL_OPERATION);
    }
    let (len, cc) = true_length(c);
    let key = ((c.cpu.r64(c.i.r3) >> 4) & 0xf) as u8;
    if !key_permitted(c, key) {
        return Err(Pgm::PrivilegedOperation);
    }
    let psw_key = ((m >> psw::KEY_SHIFT) & 0xf) as u8;
    if c.i.def.aux == 0 {
        move_keyed(c, len, (0, psw_key), (2, key))?;
    } else {
        move_keyed(c, len, (2, key), (0, psw_key))?;
    }
    c.cpu.set_cc(cc);
    Ok(())
}

/// MOVE WITH KEY: the second operand fetched with the key in R3 bits 56-59, the first stored
/// with the PSW key, both in the current address space; the true length in R1.
pub fn mvck(c: &mut Ctx) -> Result<(), Pgm> {
    let (len, cc) = true_length(c);
    let key = ((c.cpu.r64(c.i.r3) >> 4) & 0xf) as u8;
    if !key_permitted(c, key) {
        return Err(Pgm::PrivilegedOperation);
    }
    let m = c.cpu.psw_mask;
    let (space, psw_key) = (
        ((m >> psw::AS_SHIFT) & 3) as u8,
        ((m >> psw::KEY_SHIFT) & 0xf) as u8,
    );
    move_keyed(c, len, (space, psw_key), (space, key))?;
    c.cpu.set_cc(cc);
    Ok(())
}

/// MOVE WITH SOURCE KEY (aux 0) / DESTINATION KEY (aux 1): GR0 bits 56-63 + 1 bytes, the
/// source (or destination) accessed with the key in GR1 bits 56-59, the other operand with
/// the PSW key, in the current address space; the condition code is unchanged.
pub fn mvcsk(c: &mut Ctx) -> Result<(), Pgm> {
    let len = (c.cpu.r64(0) & 0xff) as usize + 1;
    let key = ((c.cpu.r64(1) >> 4) & 0xf) as u8;
    if !key_permitted(c, key) {
        return Err(Pgm::PrivilegedOperation);
    }
    let m = c.cpu.psw_mask;
    let (space, psw_key) = (
        ((m >> psw::AS_SHIFT) & 3) as u8,
        ((m >> psw::KEY_SHIFT) & 0xf) as u8,
    );
    if c.i.def.aux == 0 {
        move_keyed(c, len, (space, psw_key), (space, key))
    } else {
        move_keyed(c, len, (space, key), (space, psw_key))
    }
}

/// EXTRACT PSW: mask bits 0-31 into R1 bits 32-63, bits 32-63 into R2's (R2 0: none).
pub fn epsw(c: &mut Ctx) -> Result<(), Pgm> {
    let m = c.cpu.psw_mask;
    c.cpu.set_r32(c.i.r1, (m >> 32) as u32);
    if c.i.r2 != 0 {
        c.cpu.set_r32(c.i.r2, m as u32);
    }
    Ok(())
}

/// SUPERVISOR CALL: the interruption with the I field as its code.
pub fn svc(c: &mut Ctx) -> Result<(), Pgm> {
    Err(Pgm::SupervisorCall {
        number: c.i.i2 as u8,
    })
}

// ---------------------------------------------------------------- control registers, prefix

fn reg_range(c: &Ctx) -> impl Iterator<Item = (usize, u8)> {
    let (r1, r3) = (c.i.r1, c.i.r3);
    let n = usize::from(r3.wrapping_sub(r1) & 15) + 1;
    (0..n).map(move |k| (k, (r1 + k as u8) & 15))
}

/// LOAD CONTROL (aux 4: bits 32-63) / LOAD CONTROL G (aux 8).
pub fn lctl(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let n = usize::from(c.i.def.aux);
    let a = c.ea2();
    aligned(a, n as u64)?;
    let mut vals = [0u64; 16];
    let count = reg_range(c).count();
    for (k, v) in vals.iter_mut().enumerate().take(count) {
        let ak = c.cpu.wrap(a.wrapping_add((k * n) as u64));
        *v = c.read(ak, n)?;
    }
    for (k, r) in reg_range(c) {
        let cr = &mut c.cpu.cr[usize::from(r)];
        *cr = if n == 8 {
            vals[k]
        } else {
            (*cr & 0xffff_ffff_0000_0000) | vals[k]
        };
    }
    c.mem.control_changed(c.cpu);
    Ok(())
}

/// STORE CONTROL (aux 4) / STORE CONTROL G (aux 8).
pub fn stctl(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let n = usize::from(c.i.def.aux);
    let a = c.ea2();
    aligned(a, n as u64)?;
    let mut buf = [0u8; 128];
    let mut len = 0;
    for (k, r) in reg_range(c) {
        let v = c.cpu.cr[usize::from(r)];
        buf[k * n..(k + 1) * n].copy_from_slice(&v.to_be_bytes()[8 - n..]);
        len = (k + 1) * n;
    }
    c.mem.write(a, &buf[..len])
}

/// SET PREFIX: bits 1-18 of the word; the 8 KiB area must exist (addressing exception).
pub fn spx(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 4)?;
    let p = c.read(a, 4)? & 0x7fff_e000;
    let mut b = [0u8; 1];
    c.mem.read_absolute(p, &mut b)?;
    c.mem.read_absolute(p + 0x1fff, &mut b)?;
    c.cpu.prefix = p as u32;
    c.mem.control_changed(c.cpu);
    Ok(())
}

/// STORE PREFIX.
pub fn stpx(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 4)?;
    let p = u64::from(c.cpu.prefix);
    c.write(a, 4, p)
}

/// STORE CPU ADDRESS.
pub fn stap(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 2)?;
    let v = u64::from(c.cpu.cpu_addr);
    c.write(a, 2, v)
}

/// STORE CPU ID.
pub fn stidp(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let v = c.cpu.cpuid;
    c.write(a, 8, v)
}

// ---------------------------------------------------------------- clocks and timers

/// STORE CLOCK (aux 0) / STORE CLOCK FAST (aux 1): TOD bits 0-63, CC 0.
pub fn stck(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    let (_, t) = c.mem.tod_clock()?;
    c.write(a, 8, t)?;
    c.cpu.set_cc(0);
    Ok(())
}

/// STORE CLOCK EXTENDED: epoch index, TOD bits 0-63, zeros with a nonzero uniqueness
/// bit, and the TOD programmable field; CC 0.
pub fn stcke(c: &mut Ctx) -> Result<(), Pgm> {
    let a = c.ea2();
    let (idx, t) = c.mem.tod_clock()?;
    let mut b = [0u8; 16];
    b[0] = idx;
    b[1..9].copy_from_slice(&t.to_be_bytes());
    b[13] = 1;
    b[14..16].copy_from_slice(&c.cpu.todpr.to_be_bytes());
    c.mem.write(a, &b)?;
    c.cpu.set_cc(0);
    Ok(())
}

/// SET CLOCK: CC 0.
pub fn sck(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let v = c.read(a, 8)?;
    c.mem.set_tod_clock(v)?;
    c.cpu.set_cc(0);
    Ok(())
}

/// SET CLOCK PROGRAMMABLE FIELD from GR0 bits 48-63 (bits 32-47 must be zero).
pub fn sckpf(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let g = c.cpu.r32(0);
    if g & 0xffff_0000 != 0 {
        return Err(Pgm::Specification);
    }
    c.cpu.todpr = g as u16;
    Ok(())
}

/// SET CLOCK COMPARATOR (aux 0), SET CPU TIMER (aux 1).
pub fn set_timer(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let v = c.read(a, 8)?;
    if c.i.def.aux == 0 {
        c.mem.set_clock_comparator(v)
    } else {
        c.mem.set_cpu_timer(v)
    }
}

/// STORE CLOCK COMPARATOR (aux 0), STORE CPU TIMER (aux 1).
pub fn store_timer(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    aligned(a, 8)?;
    let v = if c.i.def.aux == 0 {
        c.mem.clock_comparator()?
    } else {
        c.mem.cpu_timer()?
    };
    c.write(a, 8, v)
}

// ---------------------------------------------------------------- DAT and TLB

/// PURGE TLB.
pub fn ptlb(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    c.mem.purge_tlb(false);
    Ok(())
}

/// Place an address result of LRA: whole register for LRAG (aux 1); bits 32-63 for
/// LRA/LRAY, where a 64-bit-mode address above 2 GiB is a special-operation exception.
fn lra_result(c: &mut Ctx, v: u64) -> Result<(), Pgm> {
    if c.i.def.aux == 1 {
        c.cpu.set_r64(c.i.r1, v);
    } else {
        if v > 0x7fff_ffff {
            return Err(SPECIAL_OPERATION);
        }
        c.cpu.set_r32(c.i.r1, v as u32);
    }
    Ok(())
}

/// LOAD REAL ADDRESS (aux 0: LRA, LRAY; 1: LRAG).
pub fn lra(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a = c.ea2();
    if c.i.def.aux == 0 && c.cpu.amode() == AddressingMode::A64 && a > 0x7fff_ffff {
        // LRA/LRAY cannot return a 64-bit address (SA22-7832: special operation).
        return Err(SPECIAL_OPERATION);
    }
    let ar_mode = (c.cpu.psw_mask >> psw::AS_SHIFT) & 3 == 1;
    let alet = if ar_mode && c.i.b2 != 0 {
        c.cpu.ar[usize::from(c.i.b2)]
    } else {
        0
    };
    let cc = match c.mem.lra(a, alet)? {
        LraResult::Real(r) => {
            lra_result(c, r)?;
            0
        }
        LraResult::InvalidSegment(e) => {
            lra_result(c, e)?;
            1
        }
        LraResult::InvalidPage(e) => {
            lra_result(c, e)?;
            2
        }
        LraResult::Exception(code) => {
            c.cpu.set_r32(c.i.r1, 0x8000_0000 | u32::from(code));
            3
        }
    };
    c.cpu.set_cc(cc);
    Ok(())
}

/// TEST PROTECTION: the first operand's address with the key in bits 56-59 of the second.
pub fn tprot(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let a1 = c.ea1();
    let key = ((c.ea2() >> 4) & 0xf) as u8;
    let cc = c.mem.test_protection(a1, key)?;
    c.cpu.set_cc(cc);
    Ok(())
}

/// Set `bits` in the 8-byte table entry at real address `real`, interlocked.
fn set_entry_bits(c: &mut Ctx, real: u64, bits: u64) -> Result<(), Pgm> {
    let abs = real_to_absolute(c.cpu, real);
    let mut cur = [0u8; 8];
    c.mem.read_absolute(abs, &mut cur)?;
    loop {
        let new = (u64::from_be_bytes(cur) | bits).to_be_bytes();
        let mut old = cur;
        if c.mem.cas_absolute(abs, &mut old, &new)? {
            return Ok(());
        }
        cur = old;
    }
}

/// INVALIDATE PAGE TABLE ENTRY: the I bit of the entry R1 (table origin) + R2 bits 44-51
/// (page index) designate, then the TLBs (this CPU's with M4 bit 3, the local-clearing
/// control; every CPU's otherwise).
pub fn ipte(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let pto = c.cpu.r64(c.i.r1) & !0x7ff;
    let px = (c.cpu.r64(c.i.r2) >> 12) & 0xff;
    set_entry_bits(c, pto.wrapping_add(px * 8), 0x400)?;
    c.mem.purge_tlb(c.i.m4 & 1 == 0);
    Ok(())
}

/// INVALIDATE DAT TABLE ENTRY: with R2 bit 52 zero, the I bit of R2 bits 53-63 + 1
/// region- or segment-table entries from the index R2 selects at the level R1's
/// designation type says; then the TLBs (R3 or bit 52 one: clearing by ASCE, which our
/// machines do by purging).
pub fn idte(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let r1 = c.cpu.r64(c.i.r1);
    let r2 = c.cpu.r64(c.i.r2);
    if r2 & 0xff000 != 0 {
        return Err(Pgm::Specification);
    }
    if r2 & 0x800 == 0 {
        let dt = (r1 >> 2) & 3;
        // Region-first index bits 0-10, second 11-21, third 22-32, segment 33-43.
        let shift = [20, 31, 42, 53][dt as usize];
        let mut index = (r2 >> shift) & 0x7ff;
        let table = r1 & !0xfff;
        for _ in 0..=(r2 & 0x7ff) {
            set_entry_bits(c, table.wrapping_add(index * 8), 0x20)?;
            index = (index + 1) & 0x7ff;
        }
    }
    c.mem.purge_tlb(c.i.m4 & 1 == 0);
    Ok(())
}

/// COMPARE AND SWAP AND PURGE (aux 4) / G (aux 8): R1 compare value, R1 + 1 replacement,
/// R2 the real address (low bits ignored) and in bit 63 the purge request.
pub fn csp(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    if c.i.r1 & 1 != 0 {
        return Err(Pgm::Specification);
    }
    let n = usize::from(c.i.def.aux);
    let r2 = c.cpu.r64(c.i.r2);
    let real = c.cpu.wrap(r2) & !(n as u64 - 1);
    let abs = real_to_absolute(c.cpu, real);
    let cmp = c.cpu.r64(c.i.r1).to_be_bytes();
    let new = c.cpu.r64(c.i.r1 + 1).to_be_bytes();
    let mut old = [0u8; 8];
    old[8 - n..].copy_from_slice(&cmp[8 - n..]);
    let ok = c.mem.cas_absolute(abs, &mut old[8 - n..], &new[8 - n..])?;
    if ok {
        if r2 & 1 != 0 {
            c.mem.purge_tlb(true);
        }
    } else {
        let v = u64::from_be_bytes(old);
        if n == 8 {
            c.cpu.set_r64(c.i.r1, v);
        } else {
            c.cpu.set_r32(c.i.r1, v as u32);
        }
    }
    c.cpu.set_cc(u8::from(!ok));
    Ok(())
}

// ---------------------------------------------------------------- storage keys

/// The 4 KiB frame R2 designates as a real address, made absolute.
fn key_frame(c: &Ctx) -> u64 {
    let real = c.cpu.wrap(c.cpu.r64(c.i.r2)) & !0xfff;
    real_to_absolute(c.cpu, real)
}

/// Conditional key setting (the kernel's `cond_set_guest_storage_key`): with MR or MC
/// the key is set only if the bits they do not exempt differ. Returns (set?, old key).
fn cond_set_key(
    c: &mut Ctx,
    abs: u64,
    key: u8,
    mr: bool,
    mc: bool,
    nq: bool,
) -> Result<(bool, u8), Pgm> {
    let mut old = 0;
    if mr || mc {
        old = c.mem.storage_key(abs)?;
        let mut mask = 0xf8;
        if !mr {
            mask |= 0x04;
        }
        if !mc {
            mask |= 0x02;
        }
        if (old ^ key) & mask == 0 {
            return Ok((false, old));
        }
    }
    c.mem.set_storage_key(abs, key, nq)?;
    Ok((true, old))
}

/// SET STORAGE KEY EXTENDED (M3: 8 NQ, 4 MR, 2 MC, 1 MB, each only with its facility).
pub fn sske(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let f = c.cpu.facilities;
    let mut m3 = c.i.m3;
    if !f.has_bit(8) {
        m3 &= !1;
    }
    if !f.has_bit(10) {
        m3 &= !6;
    }
    if !f.has_bit(14) {
        m3 &= !8;
    }
    let (nq, mr, mc, mb) = (m3 & 8 != 0, m3 & 4 != 0, m3 & 2 != 0, m3 & 1 != 0);
    let key = c.cpu.r64(c.i.r1) as u8 & 0xfe;
    let r2 = c.cpu.r64(c.i.r2);
    let start = c.cpu.wrap(r2) & !0xfff;
    let (mut abs, end) = if mb {
        // Multiple-block: R2 is an absolute address; up to the end of its 1 MiB block.
        (start, (start + 0x10_0000) & !0xf_ffff)
    } else {
        let s = real_to_absolute(c.cpu, start);
        (s, s + 0x1000)
    };
    let mut set = false;
    let mut old = 0;
    while abs != end {
        (set, old) = cond_set_key(c, abs, key, mr, mc, nq)?;
        abs += 0x1000;
    }
    if mr || mc {
        if mb {
            c.cpu.set_cc(3);
        } else {
            c.cpu.set_cc(u8::from(set));
            let g = c.cpu.r64(c.i.r1);
            c.cpu.set_r64(c.i.r1, (g & !0xff00) | u64::from(old) << 8);
        }
    }
    if mb {
        let v = if c.cpu.amode() == AddressingMode::A64 {
            (r2 & 0xfff) | end
        } else {
            (r2 & !0xffff_f000) | c.cpu.wrap(end)
        };
        c.cpu.set_r64(c.i.r2, v);
    }
    Ok(())
}

/// INSERT STORAGE KEY EXTENDED into R1 bits 56-63.
pub fn iske(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let abs = key_frame(c);
    let k = c.mem.storage_key(abs)?;
    let g = c.cpu.r64(c.i.r1);
    c.cpu.set_r64(c.i.r1, (g & !0xff) | u64::from(k));
    Ok(())
}

/// RESET REFERENCE BIT EXTENDED: CC from the old reference and change bits.
pub fn rrbe(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let abs = key_frame(c);
    let old = c.mem.reset_reference_bit(abs)?;
    c.cpu.set_cc((old >> 1) & 3);
    Ok(())
}

/// INSERT VIRTUAL STORAGE KEY: access-control and fetch-protection bits of the frame of
/// R2's logical address into R1 bits 56-60 (61-63 zero). Problem state needs the
/// extraction-authority control; DAT off is a special-operation exception.
pub fn ivsk(c: &mut Ctx) -> Result<(), Pgm> {
    if c.cpu.psw_mask & psw::PROBLEM != 0 && c.cpu.cr[0] & psw::CR0_EXTRACT == 0 {
        return Err(Pgm::PrivilegedOperation);
    }
    if c.cpu.psw_mask & psw::DAT == 0 {
        return Err(SPECIAL_OPERATION);
    }
    let a = c.cpu.wrap(c.cpu.r64(c.i.r2));
    let abs = c.mem.translate(a)?;
    let k = c.mem.storage_key(abs)? & 0xf8;
    let g = c.cpu.r64(c.i.r1);
    c.cpu.set_r64(c.i.r1, (g & !0xff) | u64::from(k));
    Ok(())
}

/// PERFORM FRAME MANAGEMENT FUNCTION (EDAT-1): clear frames and/or set their keys for a
/// 4 KiB (real address), 1 MiB or 2 GiB (absolute) frame, R2 advanced for the large ones;
/// the checks of the kernel's `handle_pfmf`.
pub fn pfmf(c: &mut Ctx) -> Result<(), Pgm> {
    const RESERVED: u64 = 0xfffc_0101;
    const SK: u64 = 0x2_0000;
    const CF: u64 = 0x1_0000;
    const FSC: u64 = 0x7000;
    const NQ: u64 = 0x800;
    const MR: u64 = 0x200;
    const MC: u64 = 0x100;
    let f = c.cpu.facilities;
    if !f.has_bit(8) {
        return Err(Pgm::Operation);
    }
    privileged(c)?;
    let r1 = c.cpu.r64(c.i.r1);
    if r1 & RESERVED != 0 || (r1 & NQ != 0 && !f.has_bit(14)) {
        return Err(Pgm::Specification);
    }
    let cond = r1 & SK != 0 && f.has_bit(10);
    let (mr, mc) = (cond && r1 & MR != 0, cond && r1 & MC != 0);
    let key = r1 as u8 & 0xfe;
    let start = c.cpu.wrap(c.cpu.r64(c.i.r2)) & !0xfff;
    if r1 & CF != 0 && low_address_protected(c.cpu, start) {
        return Err(Pgm::Protection);
    }
    let (mut abs, end) = match r1 & FSC {
        0 => {
            let s = real_to_absolute(c.cpu, start);
            (s, s + 0x1000)
        }
        0x1000 => (start, (start + 0x10_0000) & !0xf_ffff),
        0x2000 if f.has_bit(78) && c.cpu.amode() != AddressingMode::A24 => {
            (start, (start + 0x8000_0000) & !0x7fff_ffff)
        }
        _ => return Err(Pgm::Specification),
    };
    const ZERO: [u8; 4096] = [0; 4096];
    while abs != end {
        if r1 & CF != 0 {
            c.mem.write_absolute(abs, &ZERO)?;
        }
        if r1 & SK != 0 {
            cond_set_key(c, abs, key, mr, mc, r1 & NQ != 0)?;
        }
        abs += 0x1000;
    }
    if r1 & FSC != 0 {
        let r2 = c.cpu.r64(c.i.r2);
        let v = if c.cpu.amode() == AddressingMode::A64 {
            end
        } else {
            (r2 & !0xffff_ffff) | c.cpu.wrap(end)
        };
        c.cpu.set_r64(c.i.r2, v);
    }
    Ok(())
}

/// TEST BLOCK: clear the 4 KiB frame at R2's real address, CC 0 (usable), GR0 zero (the
/// kernel's `handle_test_block`).
pub fn tb(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let real = c.cpu.wrap(c.cpu.r64(c.i.r2)) & !0xfff;
    if low_address_protected(c.cpu, real) {
        return Err(Pgm::Protection);
    }
    let abs = real_to_absolute(c.cpu, real);
    c.mem.write_absolute(abs, &[0u8; 4096])?;
    c.cpu.set_cc(0);
    c.cpu.set_r64(0, 0);
    Ok(())
}

// ---------------------------------------------------------------- facilities, intercepts

/// The facility list as the machine's CPU model has it, or the executor's.
pub(crate) fn facility_words(c: &Ctx, out: &mut [u64; 32]) -> usize {
    match c.mem.facility_list() {
        Some(l) => {
            let n = l.len().min(32);
            out[..n].copy_from_slice(&l[..n]);
            n
        }
        None => {
            out[..4].copy_from_slice(c.cpu.facilities.words());
            4
        }
    }
}

/// STORE FACILITY LIST: facilities 0-31 into the word at real address 200 (the lowcore).
pub fn stfl(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    let mut w = [0u64; 32];
    facility_words(c, &mut w);
    let abs = real_to_absolute(c.cpu, 200);
    c.mem
        .write_absolute(abs, &((w[0] >> 32) as u32).to_be_bytes())
}

/// A privileged instruction SIE intercepts and KVM or userspace handles: SIGP, DIAGNOSE,
/// STSI, SERVC, ESSA, SIE and the channel-subsystem instructions.
pub fn intercept(c: &mut Ctx) -> Result<(), Pgm> {
    privileged(c)?;
    Err(super::storage::INTERCEPT)
}

/// The intercept of the instruction `c` runs (what a machine method's
/// [`super::storage::INTERCEPT`] becomes).
pub(crate) fn intercept_of(c: &Ctx) -> Pgm {
    let raw = c.i.raw;
    Pgm::Intercept {
        ipa: (raw >> 32) as u16,
        ipb: raw as u32,
    }
}
