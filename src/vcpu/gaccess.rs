//! Guest logical accesses of the vCPU memop (spec memop.md 3–5): logical → effective
//! addressing, ASCE selection (including access-register mode), DAT over big-endian tables in
//! guest memory, prefixing, low-address / DAT / key-controlled protection with the fetch- and
//! storage-protection overrides, and the exception information (TEID) a guest would see.

use super::{Vcpu, VcpuState};
use crate::addr::{AbsAddr, LogicalAddr, RealAddr};
use crate::error::{Error, MemOpRule, Result};
use crate::ioctl::user::UserBuf;
use crate::uapi::*;
use crate::vm::memop::{
    validate_common, with_bounce, MemOpFlags, MemOpOutcome, PGM_ADDRESSING, PGM_PROTECTION,
};
use crate::vm::memslot::{MemSlots, PAGE_SIZE};
use crate::vm::skeys::{SKEY_ACC, SKEY_F};
use crate::vm::Vm;

// Program-interruption codes.
pub(crate) const PGM_SEGMENT_TRANSLATION: u16 = 0x10;
pub(crate) const PGM_PAGE_TRANSLATION: u16 = 0x11;
pub(crate) const PGM_TRANSLATION_SPEC: u16 = 0x12;
pub(crate) const PGM_ALET_SPECIFICATION: u16 = 0x28;
pub(crate) const PGM_ALEN_TRANSLATION: u16 = 0x29;
pub(crate) const PGM_ALE_SEQUENCE: u16 = 0x2a;
pub(crate) const PGM_ASTE_VALIDITY: u16 = 0x2b;
pub(crate) const PGM_ASTE_SEQUENCE: u16 = 0x2c;
pub(crate) const PGM_EXTENDED_AUTHORITY: u16 = 0x2d;
pub(crate) const PGM_ASCE_TYPE: u16 = 0x38;
pub(crate) const PGM_REGION_FIRST_TRANS: u16 = 0x39;
pub(crate) const PGM_REGION_SECOND_TRANS: u16 = 0x3a;
pub(crate) const PGM_REGION_THIRD_TRANS: u16 = 0x3b;

/// The storage-protection-override access key.
const PAGE_SPO_ACC: u8 = 9;

// PSW and control-register bits (host masks of the MSB-0 architecture bits).
const PSW_DAT: u64 = 1 << 58;
const CR0_LAP: u64 = 1 << 28;
const CR0_FETCH_PROT_OVERRIDE: u64 = 1 << 25;
const CR0_STORAGE_PROT_OVERRIDE: u64 = 1 << 24;
const CR0_EDAT: u64 = 1 << 23;

/// Kind of access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Fetch,
    Store,
}

/// Protection type recorded in the TEID of a protection exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prot {
    None,
    LowAddress,
    KeyControlled,
    AccessList,
    Dat,
}

/// Why an access did not complete: a program exception (with the information the kernel
/// records for injection), or an errno.
#[derive(Debug, Clone, Copy)]
pub enum Fail {
    Pgm(kvm_s390_pgm_info),
    Errno(Error),
}

/// An address-space-control element.
#[derive(Debug, Clone, Copy)]
struct Asce(u64);

impl Asce {
    fn origin(self) -> u64 {
        self.0 & !0xfff
    }
    fn private(self) -> bool {
        self.0 & 0x100 != 0
    }
    fn real(self) -> bool {
        self.0 & 0x20 != 0
    }
    fn dt(self) -> u64 {
        (self.0 >> 2) & 3
    }
    fn tl(self) -> u64 {
        self.0 & 3
    }
}

/// The register state an access runs with.
pub(crate) struct Ctx<'a> {
    vm: &'a Vm,
    slots: &'a MemSlots,
    psw: u64,
    crs: [u64; 16],
    acrs: [u32; 16],
    prefix: u64,
    facilities: (bool, bool),
}

/// Builds the exception information the kernel records (`trans_exc_ending`).
fn exc(
    ctx: &Ctx,
    code: u16,
    ga: LogicalAddr,
    ar: u8,
    mode: Mode,
    prot: Prot,
    terminate: bool,
) -> Fail {
    let mut pgm = kvm_s390_pgm_info {
        code,
        ..Default::default()
    };
    let mut teid = 0u64;
    let with_address = matches!(code, 0x04 | 0x38 | 0x11 | 0x39 | 0x3a | 0x3b | 0x10);
    if code == PGM_PROTECTION {
        teid |= match prot {
            Prot::None => 0,
            Prot::LowAddress => 0x80,
            Prot::KeyControlled => 0x8,
            Prot::AccessList => 0x8 | 0x4,
            Prot::Dat => 0x4,
        };
        if terminate {
            teid &= !(0x80 | 0x8 | 0x4);
        }
    }
    if with_address {
        teid |= ga.raw() & !0xfff;
        teid |= if mode == Mode::Store { 0x400 } else { 0x800 };
        teid |= (ctx.psw >> 46) & 3;
    }
    if with_address || matches!(code, 0x29..=0x2d) {
        pgm.exc_access_id = ar;
    }
    pgm.trans_exc_code = teid;
    Fail::Pgm(pgm)
}

fn read_abs_u64(ctx: &Ctx, gpa: AbsAddr) -> std::result::Result<u64, Fail> {
    let mut b = [0u8; 8];
    match ctx.vm.read_abs(ctx.slots, gpa.raw(), &mut b) {
        Ok(()) => Ok(u64::from_be_bytes(b)),
        Err(code) if code == PGM_ADDRESSING => Err(Fail::Pgm(kvm_s390_pgm_info {
            code,
            ..Default::default()
        })),
        Err(_) => Err(Fail::Errno(Error::Fault)),
    }
}

/// Reads guest real memory for access-register translation; failures are errors (-EFAULT).
fn read_real(ctx: &Ctx, ra: RealAddr, buf: &mut [u8]) -> std::result::Result<(), Fail> {
    ctx.vm
        .read_abs(ctx.slots, ra.to_abs(ctx.prefix).raw(), buf)
        .map_err(|_| Fail::Errno(Error::Fault))
}

/// A translation failure before the exception information is attached.
enum Trans {
    Pgm(u16, Prot),
    Errno(Error),
}

/// Access-register translation (`ar_translation`): the ASCE for access register `ar`.
fn ar_translation(ctx: &Ctx, ar: u8, mode: Mode) -> std::result::Result<Asce, Trans> {
    let alet = ctx.acrs[usize::from(ar)];
    if ar == 0 || alet == 0 {
        return Ok(Asce(ctx.crs[1]));
    }
    if alet == 1 {
        return Ok(Asce(ctx.crs[7]));
    }
    if alet >> 25 != 0 {
        return Err(Trans::Pgm(PGM_ALET_SPECIFICATION, Prot::None));
    }
    let ald_addr = (if (alet >> 24) & 1 != 0 {
        ctx.crs[5]
    } else {
        ctx.crs[2]
    }) & 0x7fff_ffc0;
    let mut b4 = [0u8; 4];
    read_real(ctx, RealAddr(ald_addr + 16), &mut b4).map_err(|_| Trans::Errno(Error::Fault))?;
    let ald = u32::from_be_bytes(b4);
    let (alo, all) = (u64::from((ald >> 7) & 0xff_ffff), ald & 0x7f);
    let (alesn, alen) = ((alet >> 16) & 0xff, u64::from(alet & 0xffff));
    if alen / 8 > u64::from(all) {
        return Err(Trans::Pgm(PGM_ALEN_TRANSLATION, Prot::None));
    }
    if 0x7fff_ffff - alo * 128 < alen * 16 {
        return Err(Trans::Pgm(PGM_ADDRESSING, Prot::None));
    }
    let mut ale = [0u8; 16];
    read_real(ctx, RealAddr(alo * 128 + alen * 16), &mut ale)
        .map_err(|_| Trans::Errno(Error::Fault))?;
    if ale[0] & 0x80 != 0 {
        return Err(Trans::Pgm(PGM_ALEN_TRANSLATION, Prot::None));
    }
    if u32::from(ale[1]) != alesn {
        return Err(Trans::Pgm(PGM_ALE_SEQUENCE, Prot::None));
    }
    let w2 = u32::from_be_bytes([ale[8], ale[9], ale[10], ale[11]]);
    let asteo = u64::from((w2 >> 6) & 0x1ff_ffff);
    let ale_astesn = u32::from_be_bytes([ale[12], ale[13], ale[14], ale[15]]);
    let mut aste = [0u8; 24];
    read_real(ctx, RealAddr(asteo * 64), &mut aste).map_err(|_| Trans::Errno(Error::Fault))?;
    let w0 = u32::from_be_bytes([aste[0], aste[1], aste[2], aste[3]]);
    if w0 & 0x8000_0000 != 0 {
        return Err(Trans::Pgm(PGM_ASTE_VALIDITY, Prot::None));
    }
    if u32::from_be_bytes([aste[20], aste[21], aste[22], aste[23]]) != ale_astesn {
        return Err(Trans::Pgm(PGM_ASTE_SEQUENCE, Prot::None));
    }
    if ale[0] & 0x01 != 0 {
        let eax = (ctx.crs[8] >> 16) & 0xffff;
        let aleax = u64::from(u16::from_be_bytes([ale[2], ale[3]]));
        if aleax != eax {
            let atl = u64::from(u16::from_be_bytes([aste[6], aste[7]]) >> 4);
            if eax / 16 > atl {
                return Err(Trans::Pgm(PGM_EXTENDED_AUTHORITY, Prot::None));
            }
            let ato = u64::from((w0 >> 2) & 0x1fff_ffff);
            let mut at = [0u8; 1];
            read_real(ctx, RealAddr(ato * 4 + eax / 4), &mut at)
                .map_err(|_| Trans::Errno(Error::Fault))?;
            if at[0] & (0x40 >> ((eax & 3) * 2)) == 0 {
                return Err(Trans::Pgm(PGM_EXTENDED_AUTHORITY, Prot::None));
            }
        }
    }
    if ale[0] & 0x02 != 0 && mode == Mode::Store {
        return Err(Trans::Pgm(PGM_PROTECTION, Prot::AccessList));
    }
    Ok(Asce(u64::from_be_bytes(
        aste[8..16].try_into().unwrap_or([0; 8]),
    )))
}

/// The ASCE for an access (`get_vcpu_asce`); DAT off gives a real-space designation.
fn get_asce(ctx: &Ctx, ga: LogicalAddr, ar: u8, mode: Mode) -> std::result::Result<Asce, Fail> {
    if ctx.psw & PSW_DAT == 0 {
        return Ok(Asce(0x20));
    }
    match (ctx.psw >> 46) & 3 {
        0 => Ok(Asce(ctx.crs[1])),
        2 => Ok(Asce(ctx.crs[7])),
        3 => Ok(Asce(ctx.crs[13])),
        _ => ar_translation(ctx, ar, mode).map_err(|t| match t {
            Trans::Pgm(code, prot) => exc(ctx, code, ga, ar, mode, prot, false),
            Trans::Errno(e) => Fail::Errno(e),
        }),
    }
}

/// The DAT walk (`guest_translate`): the absolute address of `gva`, or the exception.
fn translate(
    ctx: &Ctx,
    gva: LogicalAddr,
    asce: Asce,
    mode: Mode,
) -> std::result::Result<AbsAddr, Trans> {
    let gva = gva.raw();
    let (edat1, edat2) = ctx.facilities;
    // Table entries are read as big-endian absolute memory.
    let table = |ptr: u64| -> std::result::Result<u64, Trans> {
        read_abs_u64(ctx, AbsAddr(ptr)).map_err(|f| match f {
            Fail::Pgm(p) => Trans::Pgm(p.code, Prot::None),
            Fail::Errno(e) => Trans::Errno(e),
        })
    };
    let pgm = |code| Err(Trans::Pgm(code, Prot::None));
    // Per table level (0 segment, 1 region-third, 2 region-second, 3 region-first): the
    // index of `gva` into that table, its two leftmost bits (checked against table offset
    // and length), and the exception an invalid or out-of-range entry of that level raises.
    let idx = [
        (gva >> 20) & 0x7ff,
        (gva >> 31) & 0x7ff,
        (gva >> 42) & 0x7ff,
        gva >> 53,
    ];
    let idx2 = [(gva >> 29) & 3, (gva >> 40) & 3, (gva >> 51) & 3, gva >> 62];
    let trans = [
        PGM_SEGMENT_TRANSLATION,
        PGM_REGION_THIRD_TRANS,
        PGM_REGION_SECOND_TRANS,
        PGM_REGION_FIRST_TRANS,
    ];
    let px = (gva >> 12) & 0xff;
    let mut dat_prot = false;
    let real;
    if asce.real() {
        real = gva;
    } else {
        let dt = asce.dt() as usize;
        // Index bits above the top table must be zero; the top index must fit its length.
        if idx[dt + 1..].iter().any(|&i| i != 0) {
            return pgm(PGM_ASCE_TYPE);
        }
        if idx2[dt] > asce.tl() {
            return pgm(trans[dt]);
        }
        let mut level = Some(dt);
        let mut ptr = asce.origin() + idx[dt] * 8;
        loop {
            let e = table(ptr)?;
            let (origin, inval, tt, tf, tl, p) = (
                e & !0xfff,
                e & 0x20 != 0,
                ((e >> 2) & 3) as usize,
                (e >> 6) & 3,
                e & 3,
                e & 0x200 != 0,
            );
            let Some(l) = level else {
                // Page-table entry.
                if e & 0x400 != 0 {
                    return pgm(PGM_PAGE_TRANSLATION);
                }
                if e & 0x800 != 0 {
                    return pgm(PGM_TRANSLATION_SPEC);
                }
                dat_prot |= p;
                real = origin | (gva & 0xfff);
                break;
            };
            if inval {
                return pgm(trans[l]);
            }
            if tt != l {
                return pgm(PGM_TRANSLATION_SPEC);
            }
            // The private-space bit must be zero in segment entries, and in region-third
            // entries under EDAT-2.
            if e & 0x10 != 0 && asce.private() && (l == 0 || (l == 1 && edat2)) {
                return pgm(PGM_TRANSLATION_SPEC);
            }
            if l == 0 {
                dat_prot |= p;
                if e & 0x400 != 0 && edat1 {
                    // 1 MiB frame: an absolute address (no prefixing).
                    let abs = AbsAddr((e & !0xf_ffff) | (gva & 0xf_ffff));
                    return finish(ctx, abs, dat_prot, mode);
                }
                ptr = (e & !0x7ff) + px * 8;
                level = None;
                continue;
            }
            if l == 1 && e & 0x400 != 0 && edat2 {
                // 2 GiB frame: an absolute address (no prefixing).
                dat_prot |= p;
                let abs = AbsAddr((e & !0x7fff_ffff) | (gva & 0x7fff_ffff));
                return finish(ctx, abs, dat_prot, mode);
            }
            if idx2[l - 1] < tf || idx2[l - 1] > tl {
                return pgm(trans[l - 1]);
            }
            dat_prot |= edat1 && p;
            ptr = origin + idx[l - 1] * 8;
            level = Some(l - 1);
        }
    }
    finish(ctx, RealAddr(real).to_abs(ctx.prefix), dat_prot, mode)
}

fn finish(
    ctx: &Ctx,
    abs: AbsAddr,
    dat_prot: bool,
    mode: Mode,
) -> std::result::Result<AbsAddr, Trans> {
    if mode == Mode::Store && dat_prot {
        return Err(Trans::Pgm(PGM_PROTECTION, Prot::Dat));
    }
    if ctx.slots.by_gfn(abs.gfn().raw()).is_none() {
        return Err(Trans::Pgm(PGM_ADDRESSING, Prot::None));
    }
    Ok(abs)
}

fn lap_enabled(ctx: &Ctx, asce: Asce) -> bool {
    ctx.crs[0] & CR0_LAP != 0 && !(ctx.psw & PSW_DAT != 0 && asce.private())
}

fn fetch_prot_override_applicable(ctx: &Ctx, mode: Mode, asce: Asce) -> bool {
    mode == Mode::Fetch
        && ctx.crs[0] & CR0_FETCH_PROT_OVERRIDE != 0
        && !(ctx.psw & PSW_DAT != 0 && asce.private())
}

fn fetch_prot_override_applies(ga: LogicalAddr, len: usize) -> bool {
    ga.raw() < 2048 && ga.raw() + len as u64 <= 2048
}

/// The software key check of the CHECK_ONLY path (`vcpu_check_access_key_gpa`).
fn check_key(
    ctx: &Ctx,
    key: u8,
    mode: Mode,
    asce: Asce,
    gpa: AbsAddr,
    ga: LogicalAddr,
    len: usize,
) -> std::result::Result<(), u16> {
    if key == 0 {
        return Ok(());
    }
    let Some(skey) = ctx.vm.storage_key_in(ctx.slots, gpa.gfn().raw()) else {
        return Err(PGM_ADDRESSING);
    };
    let acc = (skey & SKEY_ACC) >> 4;
    if acc == key {
        return Ok(());
    }
    if mode == Mode::Fetch
        && (skey & SKEY_F == 0
            || (fetch_prot_override_applicable(ctx, mode, asce)
                && fetch_prot_override_applies(ga, len)))
    {
        return Ok(());
    }
    if ctx.crs[0] & CR0_STORAGE_PROT_OVERRIDE != 0 && acc == PAGE_SPO_ACC {
        return Ok(());
    }
    Err(PGM_PROTECTION)
}

/// Translates every page fragment of [ga, ga+len) (`guest_range_to_gpas`), checking keys when
/// `key` is given (CHECK_ONLY). The first failure is recorded for its fragment.
fn range_to_gpas(
    ctx: &Ctx,
    ga: LogicalAddr,
    ar: u8,
    len: usize,
    asce: Asce,
    mode: Mode,
    key: Option<u8>,
) -> std::result::Result<Vec<AbsAddr>, Fail> {
    let lap = lap_enabled(ctx, asce);
    let mut gpas = Vec::with_capacity(len / PAGE_SIZE as usize + 2);
    let (mut ga, mut left, mut offset) = (ga, len, ga.page_offset() as usize);
    while left > 0 {
        let n = left.min(PAGE_SIZE as usize - offset);
        ga = ga.effective(ctx.psw);
        if mode == Mode::Store && lap && ga.raw() & !0x11ff == 0 {
            return Err(exc(
                ctx,
                PGM_PROTECTION,
                ga,
                ar,
                mode,
                Prot::LowAddress,
                false,
            ));
        }
        let gpa = if ctx.psw & PSW_DAT != 0 {
            match translate(ctx, ga, asce, mode) {
                Ok(g) => g,
                Err(Trans::Pgm(code, prot)) => {
                    return Err(exc(ctx, code, ga, ar, mode, prot, false))
                }
                Err(Trans::Errno(e)) => return Err(Fail::Errno(e)),
            }
        } else {
            // Without DAT a logical address is a real address.
            let g = RealAddr(ga.raw()).to_abs(ctx.prefix);
            if ctx.slots.by_gfn(g.gfn().raw()).is_none() {
                return Err(exc(ctx, PGM_ADDRESSING, ga, ar, mode, Prot::None, false));
            }
            g
        };
        if let Some(key) = key {
            if let Err(code) = check_key(ctx, key, mode, asce, gpa, ga, n) {
                return Err(exc(ctx, code, ga, ar, mode, Prot::KeyControlled, false));
            }
        }
        gpas.push(gpa);
        offset = 0;
        ga = ga.wrapping_add(n as u64);
        left -= n;
    }
    Ok(gpas)
}

/// The data access (`access_guest_with_key`): translate everything first, then copy page
/// fragment by fragment with the key check, the fetch-protection override and the
/// storage-protection-override retry.
fn access_with_key(
    ctx: &Ctx,
    ga: LogicalAddr,
    ar: u8,
    data: &mut [u8],
    mode: Mode,
    key: u8,
) -> std::result::Result<(), Fail> {
    let ga = ga.effective(ctx.psw);
    let asce = get_asce(ctx, ga, ar, mode)?;
    let gpas = range_to_gpas(ctx, ga, ar, data.len(), asce, mode, None)?;
    let fpo = fetch_prot_override_applicable(ctx, mode, asce);
    let spo = ctx.crs[0] & CR0_STORAGE_PROT_OVERRIDE != 0;
    let store = mode == Mode::Store;
    let (mut ga, mut off) = (ga, 0usize);
    for (idx, &gpa) in gpas.iter().enumerate() {
        let n = gpa.to_page_end().min((data.len() - off) as u64) as usize;
        let chunk = &mut data[off..off + n];
        let k = if fpo && fetch_prot_override_applies(ga, n) {
            0
        } else {
            key
        };
        let mut r = ctx.vm.access_abs(ctx.slots, gpa.raw(), chunk, store, k);
        if r == MemOpOutcome::Exception(PGM_PROTECTION) && spo {
            r = ctx
                .vm
                .access_abs(ctx.slots, gpa.raw(), chunk, store, PAGE_SPO_ACC);
        }
        if let MemOpOutcome::Exception(code) = r {
            let prot = if code == PGM_PROTECTION {
                Prot::KeyControlled
            } else {
                Prot::None
            };
            return Err(exc(ctx, code, ga, ar, mode, prot, store && idx > 0));
        }
        off += n;
        ga = ga.wrapping_add(n as u64).effective(ctx.psw);
    }
    Ok(())
}

/// CHECK_ONLY (`check_gva_range`).
fn check_range(
    ctx: &Ctx,
    ga: LogicalAddr,
    ar: u8,
    len: usize,
    mode: Mode,
    key: u8,
) -> std::result::Result<(), Fail> {
    let ga = ga.effective(ctx.psw);
    let asce = get_asce(ctx, ga, ar, mode)?;
    range_to_gpas(ctx, ga, ar, len, asce, mode, Some(key)).map(|_| ())
}

/// A guest-program access at logical address `ga` with access key `key` (the PSW key).
#[allow(clippy::too_many_arguments)]
pub(crate) fn guest_access(
    vm: &Vm,
    vcpu: &Vcpu,
    st: &VcpuState,
    ga: LogicalAddr,
    ar: u8,
    data: &mut [u8],
    mode: Mode,
    key: u8,
) -> std::result::Result<(), Fail> {
    let slots = vm.memslots();
    let ctx = vcpu.ctx(vm, &slots, st);
    let _keys = (key != 0).then(|| vm.keys_read_lock());
    access_with_key(&ctx, ga, ar, data, mode, key)
}

/// Translates `len` bytes at `ga` (one page at most) with the key check; the absolute address.
#[allow(clippy::too_many_arguments)]
pub(crate) fn guest_translate_checked(
    vm: &Vm,
    vcpu: &Vcpu,
    st: &VcpuState,
    ga: LogicalAddr,
    ar: u8,
    len: usize,
    mode: Mode,
    key: u8,
) -> std::result::Result<AbsAddr, Fail> {
    let slots = vm.memslots();
    let ctx = vcpu.ctx(vm, &slots, st);
    let ga = ga.effective(ctx.psw);
    let asce = get_asce(&ctx, ga, ar, mode)?;
    let gpas = range_to_gpas(&ctx, ga, ar, len, asce, mode, Some(key))?;
    gpas.first().copied().ok_or(Fail::Errno(Error::Fault))
}

impl Vcpu {
    /// `KVM_S390_MEM_OP` on the vCPU fd.
    pub fn mem_op(&self, vm: &Vm, mop: &kvm_s390_mem_op) -> Result<MemOpOutcome> {
        match mop.op {
            KVM_S390_MEMOP_LOGICAL_READ | KVM_S390_MEMOP_LOGICAL_WRITE => {
                self.mem_op_logical(vm, mop)
            }
            KVM_S390_MEMOP_SIDA_READ | KVM_S390_MEMOP_SIDA_WRITE => {
                let offset = mop.sida_offset();
                if mop.flags != 0 || mop.size == 0 {
                    return Err(Error::MemOp(MemOpRule::FlagsOrSize));
                }
                let Some(end) = mop.size.checked_add(offset) else {
                    return Err(Error::MemOp(MemOpRule::FlagsOrSize));
                };
                // A non-protected vCPU has a one-page SIDA: the size check comes first.
                if end > 4096 {
                    return Err(Error::MemOpTooBig);
                }
                Err(Error::MemOp(MemOpRule::Protected))
            }
            _ => Err(Error::MemOp(MemOpRule::Op)),
        }
    }

    pub(crate) fn ctx<'a>(&self, vm: &'a Vm, slots: &'a MemSlots, st: &VcpuState) -> Ctx<'a> {
        let mut acrs = [0u32; 16];
        for (i, a) in acrs.iter_mut().enumerate() {
            *a = self.run.get(super::run_page::off::ACRS + 4 * i);
        }
        let edat1 = st.crs[0] & CR0_EDAT != 0 && vm.has_facility(8);
        let edat2 = edat1 && vm.has_facility(78);
        Ctx {
            vm,
            slots,
            psw: st.psw.0,
            crs: st.crs,
            acrs,
            prefix: st.prefix,
            facilities: (edat1, edat2),
        }
    }

    fn mem_op_logical(&self, vm: &Vm, mop: &kvm_s390_mem_op) -> Result<MemOpOutcome> {
        let key = validate_common(
            mop,
            MemOpFlags::CHECK_ONLY | MemOpFlags::INJECT_EXCEPTION | MemOpFlags::SKEY_PROTECTION,
        )?;
        let ar = mop.ext().ar;
        if ar >= 16 {
            return Err(Error::MemOp(MemOpRule::AccessRegister));
        }
        let mode = if mop.op == KVM_S390_MEMOP_LOGICAL_WRITE {
            Mode::Store
        } else {
            Mode::Fetch
        };
        let size = mop.size as usize;
        let mut st = self.lock();
        let slots = vm.memslots();
        let ctx = self.ctx(vm, &slots, &st);
        let _keys = (key != 0).then(|| vm.keys_read_lock());
        let flags = MemOpFlags::of(mop);
        let result = if flags.contains(MemOpFlags::CHECK_ONLY) {
            check_range(&ctx, LogicalAddr(mop.gaddr), ar, size, mode, key)
        } else {
            with_bounce(size, |data| {
                if mode == Mode::Store {
                    UserBuf::new(mop.buf, data.len()).read_into(data)?;
                }
                let r = access_with_key(&ctx, LogicalAddr(mop.gaddr), ar, data, mode, key);
                if r.is_ok() && mode == Mode::Fetch {
                    UserBuf::new(mop.buf, data.len()).write_from(data)?;
                }
                Ok(r)
            })?
        };
        match result {
            Ok(()) => Ok(MemOpOutcome::Done),
            Err(Fail::Errno(e)) => Err(e),
            Err(Fail::Pgm(pgm)) => {
                if flags.contains(MemOpFlags::INJECT_EXCEPTION) {
                    self.queue_pgm(&mut st, pgm);
                }
                Ok(MemOpOutcome::Exception(pgm.code))
            }
        }
    }
}
