//! Guest logical accesses of the vCPU memop (spec memop.md 3–5): logical → effective
//! addressing, ASCE selection (including access-register mode), DAT over big-endian tables in
//! guest memory, prefixing, low-address / DAT / key-controlled protection with the fetch- and
//! storage-protection overrides, and the exception information (TEID) a guest would see.

use super::{Vcpu, VcpuState};
use crate::addr::{AbsAddr, LogicalAddr, RealAddr};
use crate::error::{Error, MemOpRule, Result};
use crate::ioctl::user::UserBuf;
use crate::uaccess;
use crate::uapi::*;
use crate::vm::memop::{
    validate_common, with_bounce, MemOpFlags, MemOpOutcome, MEM_OP_MAX_SIZE, PGM_ADDRESSING,
    PGM_PROTECTION,
};
use crate::vm::memslot::{MemSlot, MemSlots, PAGE_SIZE};
use crate::vm::skeys::{key_permits, SKEY_ACC, SKEY_C, SKEY_F, SKEY_R};
use crate::vm::Vm;
use smallvec::SmallVec;

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
    uses_skeys: bool,
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

/// Reads the 8-byte big-endian DAT-table entry at absolute `gpa` (8-byte aligned, so in one
/// page), as the kernel's `deref_table` (`kvm_read_guest`).
fn read_table_entry<'a>(
    ctx: &Ctx<'a>,
    last: &mut Option<&'a MemSlot>,
    gpa: u64,
) -> std::result::Result<u64, Trans> {
    let mut e = [0u64; 1];
    read_table_entries(ctx, last, gpa, &mut e)?;
    Ok(e[0])
}

/// Reads `out.len()` consecutive table entries from absolute `gpa` (all in one table, so in
/// one page): the slot (the walk's last one if it holds `gpa`), then one fault-recovering
/// copy. Outside memory is an addressing exception, a host fault -EFAULT; the read sets the
/// page's reference bit once the guest uses storage keys, as any read of guest memory does.
fn read_table_entries<'a>(
    ctx: &Ctx<'a>,
    last: &mut Option<&'a MemSlot>,
    gpa: u64,
    out: &mut [u64],
) -> std::result::Result<(), Trans> {
    let gfn = gpa / PAGE_SIZE;
    let slot = match *last {
        Some(s) if s.contains(gfn) => s,
        _ => {
            let s = ctx
                .slots
                .by_gfn(gfn)
                .ok_or(Trans::Pgm(PGM_ADDRESSING, Prot::None))?;
            *last = Some(s);
            s
        }
    };
    uaccess::copy_from_user(
        bytemuck::cast_slice_mut(out),
        slot.hva(gfn) + gpa % PAGE_SIZE,
    )
    .map_err(|_| Trans::Errno(Error::Fault))?;
    for e in out.iter_mut() {
        *e = u64::from_be(*e);
    }
    if ctx.uses_skeys {
        slot.keys.or(gfn - slot.base_gfn, SKEY_R);
    }
    Ok(())
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

/// What a walk leaves for the next page of the same access: the tables above the page table
/// depend on the address only through its bits from the segment index up, so while those
/// stay the same (`key`) the walk resumes at the page table, or reuses the large frame. The
/// cache lives for one access (one memop), as the kernel's walks inside one access would
/// read the same entries; it holds only what a walk completed without an exception.
#[derive(Default)]
struct WalkCache<'a> {
    /// The address bits the cached state is valid for (`gva >> shift`), with its kind.
    hit: Option<(u64, Cached)>,
    /// The slot of the last table entry read.
    slot: Option<&'a MemSlot>,
    /// Pages of the access from the one being translated on (set by the caller): the page
    /// table entries of those in the same page table are read in one copy.
    ahead: u64,
    /// Page-table entries read ahead: the table's origin, the first index, the count.
    block: Option<(u64, u64, usize)>,
    ptes: [u64; PTE_BLOCK],
}

/// Page-table entries read at once: those of a maximum-size memop.
const PTE_BLOCK: usize = INLINE_FRAGMENTS;

#[derive(Clone, Copy)]
enum Cached {
    /// The page-table origin (key: `gva >> 20`) and the DAT protection of the levels above.
    PageTable { pto: u64, prot: bool },
    /// A 1 MiB frame (EDAT-1; key: `gva >> 20`) or 2 GiB frame (EDAT-2; key: `gva >> 31`):
    /// its absolute origin, its mask and the DAT protection.
    Frame { origin: u64, mask: u64, prot: bool },
}

impl Cached {
    fn shift(self) -> u32 {
        match self {
            Cached::Frame {
                mask: 0x7fff_ffff, ..
            } => 31,
            _ => 20,
        }
    }
}

/// The DAT walk (`guest_translate`): the absolute address of `gva` (and its slot), or the
/// exception. Resumes from `cache` where the walk of a previous page of the access allows.
fn translate<'a>(
    ctx: &Ctx<'a>,
    cache: &mut WalkCache<'a>,
    gva: LogicalAddr,
    asce: Asce,
    mode: Mode,
) -> std::result::Result<(AbsAddr, &'a MemSlot), Trans> {
    let gva = gva.raw();
    if asce.real() {
        return finish(ctx, RealAddr(gva).to_abs(ctx.prefix), false, mode);
    }
    if let Some((key, c)) = cache.hit {
        if gva >> c.shift() == key {
            return match c {
                Cached::PageTable { pto, prot } => page_step(ctx, cache, pto, gva, prot, mode),
                Cached::Frame { origin, mask, prot } => {
                    finish(ctx, AbsAddr(origin | (gva & mask)), prot, mode)
                }
            };
        }
    }
    let (edat1, edat2) = ctx.facilities;
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
    let mut dat_prot = false;
    let dt = asce.dt() as usize;
    // Index bits above the top table must be zero; the top index must fit its length.
    if idx[dt + 1..].iter().any(|&i| i != 0) {
        return pgm(PGM_ASCE_TYPE);
    }
    if idx2[dt] > asce.tl() {
        return pgm(trans[dt]);
    }
    let mut l = dt;
    let mut ptr = asce.origin() + idx[dt] * 8;
    loop {
        let e = read_table_entry(ctx, &mut cache.slot, ptr)?;
        let (origin, inval, tt, tf, tl, p) = (
            e & !0xfff,
            e & 0x20 != 0,
            ((e >> 2) & 3) as usize,
            (e >> 6) & 3,
            e & 3,
            e & 0x200 != 0,
        );
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
                let c = Cached::Frame {
                    origin: e & !0xf_ffff,
                    mask: 0xf_ffff,
                    prot: dat_prot,
                };
                cache.hit = Some((gva >> 20, c));
                return finish(
                    ctx,
                    AbsAddr((e & !0xf_ffff) | (gva & 0xf_ffff)),
                    dat_prot,
                    mode,
                );
            }
            let pto = e & !0x7ff;
            cache.hit = Some((
                gva >> 20,
                Cached::PageTable {
                    pto,
                    prot: dat_prot,
                },
            ));
            return page_step(ctx, cache, pto, gva, dat_prot, mode);
        }
        if l == 1 && e & 0x400 != 0 && edat2 {
            // 2 GiB frame: an absolute address (no prefixing).
            dat_prot |= p;
            let c = Cached::Frame {
                origin: e & !0x7fff_ffff,
                mask: 0x7fff_ffff,
                prot: dat_prot,
            };
            cache.hit = Some((gva >> 31, c));
            return finish(
                ctx,
                AbsAddr((e & !0x7fff_ffff) | (gva & 0x7fff_ffff)),
                dat_prot,
                mode,
            );
        }
        if idx2[l - 1] < tf || idx2[l - 1] > tl {
            return pgm(trans[l - 1]);
        }
        dat_prot |= edat1 && p;
        ptr = origin + idx[l - 1] * 8;
        l -= 1;
    }
}

/// The page-table step of the walk: the entry for `gva` in the page table at `pto`. The
/// entries of the access's following pages in the same table are read with it and used by
/// their steps (the kernel reads each at its page's walk; reading them together adds no
/// access to another page and no exception: a page table lies in one page).
fn page_step<'a>(
    ctx: &Ctx<'a>,
    cache: &mut WalkCache<'a>,
    pto: u64,
    gva: u64,
    prot: bool,
    mode: Mode,
) -> std::result::Result<(AbsAddr, &'a MemSlot), Trans> {
    let px = (gva >> 12) & 0xff;
    let e = match cache.block {
        Some((origin, first, n)) if origin == pto && px >= first && px < first + n as u64 => {
            cache.ptes[(px - first) as usize]
        }
        _ => {
            let n = cache.ahead.clamp(1, 256 - px).min(PTE_BLOCK as u64) as usize;
            let mut ptes = [0u64; PTE_BLOCK];
            read_table_entries(ctx, &mut cache.slot, pto + px * 8, &mut ptes[..n])?;
            cache.ptes = ptes;
            cache.block = Some((pto, px, n));
            ptes[0]
        }
    };
    if e & 0x400 != 0 {
        return Err(Trans::Pgm(PGM_PAGE_TRANSLATION, Prot::None));
    }
    if e & 0x800 != 0 {
        return Err(Trans::Pgm(PGM_TRANSLATION_SPEC, Prot::None));
    }
    let real = (e & !0xfff) | (gva & 0xfff);
    finish(
        ctx,
        RealAddr(real).to_abs(ctx.prefix),
        prot || e & 0x200 != 0,
        mode,
    )
}

fn finish<'a>(
    ctx: &Ctx<'a>,
    abs: AbsAddr,
    dat_prot: bool,
    mode: Mode,
) -> std::result::Result<(AbsAddr, &'a MemSlot), Trans> {
    if mode == Mode::Store && dat_prot {
        return Err(Trans::Pgm(PGM_PROTECTION, Prot::Dat));
    }
    match ctx.slots.by_gfn(abs.gfn().raw()) {
        Some(slot) => Ok((abs, slot)),
        None => Err(Trans::Pgm(PGM_ADDRESSING, Prot::None)),
    }
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

/// Page fragments an access of up to [`MEM_OP_MAX_SIZE`] bytes holds without allocating.
const INLINE_FRAGMENTS: usize = (MEM_OP_MAX_SIZE as usize) / PAGE_SIZE as usize + 1;

/// The absolute address of each page fragment of an access, with its slot.
type Fragments<'a> = SmallVec<[(AbsAddr, &'a MemSlot); INLINE_FRAGMENTS]>;

/// Translates every page fragment of [ga, ga+len) (`guest_range_to_gpas`), checking keys when
/// `key` is given (CHECK_ONLY). The first failure is recorded for its fragment. One full walk,
/// then per-page lookups while the walk's tables can be reused ([`WalkCache`]).
fn range_to_gpas<'a>(
    ctx: &Ctx<'a>,
    ga: LogicalAddr,
    ar: u8,
    len: usize,
    asce: Asce,
    mode: Mode,
    key: Option<u8>,
) -> std::result::Result<Fragments<'a>, Fail> {
    let lap = lap_enabled(ctx, asce);
    let mut gpas = Fragments::new();
    let mut cache = WalkCache::default();
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
        let frag = if ctx.psw & PSW_DAT != 0 {
            cache.ahead = (offset + left).div_ceil(PAGE_SIZE as usize) as u64;
            match translate(ctx, &mut cache, ga, asce, mode) {
                Ok(g) => g,
                Err(Trans::Pgm(code, prot)) => {
                    return Err(exc(ctx, code, ga, ar, mode, prot, false))
                }
                Err(Trans::Errno(e)) => return Err(Fail::Errno(e)),
            }
        } else {
            // Without DAT a logical address is a real address.
            let g = RealAddr(ga.raw()).to_abs(ctx.prefix);
            match ctx.slots.by_gfn(g.gfn().raw()) {
                Some(slot) => (g, &**slot),
                None => return Err(exc(ctx, PGM_ADDRESSING, ga, ar, mode, Prot::None, false)),
            }
        };
        if let Some(key) = key {
            if let Err(code) = check_key(ctx, key, mode, asce, frag.0, ga, n) {
                return Err(exc(ctx, code, ga, ar, mode, Prot::KeyControlled, false));
            }
        }
        gpas.push(frag);
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
    for (idx, &(gpa, _)) in gpas.iter().enumerate() {
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

/// The vCPU memop's data access without a staging buffer: one fault-recovering copy per
/// page fragment between the caller's buffer at `buf` and guest memory. It keeps what the
/// kernel's staged access (`copy_from_user`, `access_guest_with_key`, `copy_to_user`) shows:
/// * a store reads the caller's buffer before anything else: each of its pages is probed
///   first, so a bad buffer is -EFAULT with no guest byte written and before any exception;
///   a store then writes fragment by fragment, each after its key check, so a key or host
///   fault stops it after the fragments before, as the kernel's loop does;
/// * a fetch translates and key-checks every fragment and probes every guest page before
///   the first byte reaches the caller, so an exception leaves the caller's buffer untouched;
///   a fault after that is the caller's (-EFAULT, the guest pages still referenced);
/// * a caller buffer that overlaps the guest memory accessed would see the copy's order: it
///   takes the staged path.
///
/// `Ok(None)`: take the staged path (nothing was accessed); `Err`: the caller's buffer
/// faulted.
#[allow(clippy::too_many_arguments)]
fn access_direct(
    ctx: &Ctx,
    ga: LogicalAddr,
    ar: u8,
    buf: u64,
    len: usize,
    mode: Mode,
    key: u8,
) -> Result<Option<std::result::Result<(), Fail>>> {
    let store = mode == Mode::Store;
    if !uaccess::is_user_range(buf, len as u64) {
        // A store fails at its copy-in; a fetch only after the guest access (whose exception
        // comes first): the staged path has that order.
        return if store { Err(Error::Fault) } else { Ok(None) };
    }
    if store {
        // Every page of the caller's buffer, before anything else.
        let mut probe = [0u8; 1];
        let mut at = buf;
        while at < buf + len as u64 {
            uaccess::copy_from_user(&mut probe, at)?;
            at = (at & !(PAGE_SIZE - 1)) + PAGE_SIZE;
        }
    }
    let ga = ga.effective(ctx.psw);
    let asce = match get_asce(ctx, ga, ar, mode) {
        Ok(a) => a,
        Err(f) => return Ok(Some(Err(f))),
    };
    let gpas = match range_to_gpas(ctx, ga, ar, len, asce, mode, None) {
        Ok(g) => g,
        Err(f) => return Ok(Some(Err(f))),
    };
    let fpo = fetch_prot_override_applicable(ctx, mode, asce);
    let spo = ctx.crs[0] & CR0_STORAGE_PROT_OVERRIDE != 0;
    // Per fragment: its guest address in the caller's address space, length, logical
    // address and whether the key permits the access.
    let mut plan: SmallVec<[Planned; INLINE_FRAGMENTS]> = SmallVec::new();
    let (mut fga, mut off) = (ga, 0usize);
    for &(gpa, slot) in &gpas {
        let n = gpa.to_page_end().min((len - off) as u64) as usize;
        let gfn = gpa.gfn().raw();
        let hva = slot.hva(gfn) + gpa.page_offset();
        if hva < buf + len as u64 && buf < hva + n as u64 {
            return Ok(None);
        }
        let permitted = key == 0 || {
            let k = if fpo && fetch_prot_override_applies(fga, n) {
                0
            } else {
                key
            };
            let skey = slot.keys.get(gfn - slot.base_gfn);
            key_permits(k, skey, store) || (spo && key_permits(PAGE_SPO_ACC, skey, store))
        };
        if !store && !permitted {
            return Ok(None);
        }
        plan.push(Planned {
            hva,
            off,
            n,
            ga: fga,
            permitted,
        });
        off += n;
        fga = fga.wrapping_add(n as u64).effective(ctx.psw);
    }
    if !store {
        let mut probe = [0u8; 1];
        if plan
            .iter()
            .any(|p| uaccess::copy_from_user(&mut probe, p.hva).is_err())
        {
            return Ok(None);
        }
    }
    let copy = |hva: u64, off: usize, n: usize| {
        if store {
            uaccess::copy_user_to_user(hva, buf + off as u64, n)
        } else {
            uaccess::copy_user_to_user(buf + off as u64, hva, n)
        }
    };
    let bits = if store { SKEY_R | SKEY_C } else { SKEY_R };
    let accessed = |range: std::ops::Range<usize>| {
        for &(gpa, slot) in &gpas[range] {
            let idx = gpa.gfn().raw() - slot.base_gfn;
            if ctx.uses_skeys {
                slot.keys.or(idx, bits);
            }
            if store {
                if let Some(d) = &slot.dirty {
                    d.mark(idx);
                }
            }
        }
    };
    // Runs of fragments contiguous in the caller's address space go in one copy; a run that
    // faults is redone fragment by fragment to find the fragment (stores are idempotent).
    let mut caller_fault = false;
    let mut i = 0;
    while i < plan.len() {
        let mut j = i;
        while j < plan.len()
            && plan[j].permitted
            && (j == i || plan[j].hva == plan[j - 1].hva + plan[j - 1].n as u64)
        {
            j += 1;
        }
        let run = plan[i..j].iter().map(|p| p.n).sum();
        if j > i && (caller_fault || copy(plan[i].hva, plan[i].off, run).is_err()) {
            if store {
                for k in i..j {
                    if copy(plan[k].hva, plan[k].off, plan[k].n).is_err() {
                        // An unmapped guest page (the caller's buffer was probed).
                        accessed(i..k);
                        return Ok(Some(Err(store_refused(ctx, &plan[k], ar, k))));
                    }
                }
            } else {
                // The caller's buffer: the guest read goes on, the ioctl fails.
                caller_fault = true;
            }
        }
        accessed(i..j);
        if j < plan.len() && !plan[j].permitted {
            return Ok(Some(Err(store_refused(ctx, &plan[j], ar, j))));
        }
        i = j;
    }
    if caller_fault {
        return Err(Error::Fault);
    }
    Ok(Some(Ok(())))
}

/// One page fragment of a direct access.
struct Planned {
    hva: u64,
    off: usize,
    n: usize,
    ga: LogicalAddr,
    permitted: bool,
}

/// The exception of a store refused at fragment `idx` (key-controlled protection; the
/// kernel reports a host fault the same way), terminating once a fragment was stored.
fn store_refused(ctx: &Ctx, p: &Planned, ar: u8, idx: usize) -> Fail {
    exc(
        ctx,
        PGM_PROTECTION,
        p.ga,
        ar,
        Mode::Store,
        Prot::KeyControlled,
        idx > 0,
    )
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
    gpas.first().map(|f| f.0).ok_or(Fail::Errno(Error::Fault))
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
            uses_skeys: vm.uses_skeys(),
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
        } else if let Some(r) =
            access_direct(&ctx, LogicalAddr(mop.gaddr), ar, mop.buf, size, mode, key)?
        {
            r
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
