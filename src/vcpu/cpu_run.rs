//! `KVM_RUN` on the instruction executor (`crate::cpu`): a vCPU without a guest function runs
//! its guest code here.
//!
//! * [`VcpuStorage`]: the executor's [`Storage`] over the vCPU's logical-access path
//!   (`gaccess`: DAT with the CPU's control registers and PSW address space, prefixing,
//!   low-address and key-controlled protection, R/C bits, fault-recovering host copies).
//!   Interlocked updates (CS, CSG, CDSG, ...) translate with a store check and then use the
//!   same native compare-and-exchange as memop cmpxchg, so guest CS, host cmpxchg and other
//!   vCPUs are atomic with respect to each other.
//! * [`Engine`]: the CPU state between two syncs, the instruction cache and a one-entry
//!   instruction TLB, kept per vCPU across `KVM_RUN` calls.
//! * The run loop: loads the CPU from the vCPU's registers (sync regs and the SIE-block
//!   state), executes until an exit, stores everything back (so `KVM_GET_*` and the sync regs
//!   are current at every exit). Program interruptions go through the interrupt model as the
//!   kernel injects them (`__deliver_prog`); every 512 instructions, and at once after a PSW
//!   or control-register change, it delivers pending interrupts, advances the CPU timer,
//!   checks a pending stop, and looks for a signal. Intercepted instructions
//!   ([`Pgm::Intercept`]) are handled as the kernel's intercept handlers do or leave
//!   `KVM_RUN` with the kernel's exit. Under `KVM_SET_GUEST_DEBUG` single-stepping, and
//!   while hardware breakpoints or watchpoints are set (`super::guestdbg` derives each
//!   instruction's PER events), a batch is one instruction.
//!
//! Signals: `Vcpu::run` holds every asynchronous signal off for the whole call
//! (`wait::sig::Held`; the synchronous ones stay open for the fault-recovering copies); at
//! each check a signal pending and unblocked by the run mask (`KVM_SET_SIGNAL_MASK`, else the
//! thread's mask) is let in by a one-nanosecond `ppoll` with that mask, its handler runs, and
//! `KVM_RUN` returns EINTR with `KVM_EXIT_INTR`, as the kernel does when a signal interrupts
//! SIE. The enabled-wait sleep applies the same mask atomically.

use std::time::{Duration, Instant};

use parking_lot::MutexGuard;

use super::gaccess::{self, Fail, Mode};
use super::guest::Exit;
use super::guestdbg::PerSetup;
use super::run_page::off;
use super::{Vcpu, VcpuState};
use crate::addr::LogicalAddr;
use crate::cpu::icache::InsnCache;
use crate::cpu::{Cpu, Facilities, LraResult, OperandAccess, Pgm, Storage};
use crate::error::{Error, Result};
use crate::stats;
use crate::uapi::*;
use crate::vm::memslot::{MemSlots, PAGE_SIZE};
use crate::vm::Vm;

/// PSW bits (host masks of the MSB-0 architecture bits).
const PSW_MASK_IO: u64 = 1 << 57;
const PSW_MASK_EXT: u64 = 1 << 56;
const PSW_MASK_KEY: u64 = 0xf << 52;
const PSW_MASK_MCHECK: u64 = 1 << 50;
const PSW_MASK_WAIT: u64 = 1 << 49;
const PSW_MASK_PSTATE: u64 = 1 << 48;

/// Interception codes.
pub(super) const ICPT_INST: u8 = 0x04;

/// The second-operand address of an intercepted RS- or S-format instruction from its IPB
/// (`kvm_s390_get_base_disp_rs`): base register B2's contents (none for B2 = 0) plus D2, not
/// wrapped to the addressing mode; and B2, the access register of the operand.
pub(super) fn base_disp(cpu: &Cpu, ipb: u32) -> (u64, u8) {
    let b2 = (ipb >> 28) as u8;
    let d2 = u64::from((ipb >> 16) & 0xfff);
    let base = if b2 != 0 { cpu.r64(b2) } else { 0 };
    (base.wrapping_add(d2), b2)
}
const ICPT_WAIT: u8 = 0x1c;
const ICPT_OPEREXC: u8 = 0x2c;

/// Instructions between two checks for interrupts, stops and signals.
const CHECK_INTERVAL: u32 = 512;

/// The per-vCPU executor state kept across `KVM_RUN` calls.
pub struct Engine {
    cpu: Cpu,
    icache: InsnCache,
    itlb: Itlb,
    facs: Facilities,
    /// The PER registers of guest debugging for this batch, while hardware breakpoints or
    /// watchpoints are set.
    per: Option<PerSetup>,
}

/// The `VcpuState` slot of the engine (created at the first `KVM_RUN` without a guest
/// function). Cloning a state does not clone its engine.
#[derive(Default)]
pub struct EngineSlot(Option<Box<Engine>>);

impl std::fmt::Debug for EngineSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "Engine" } else { "None" })
    }
}

impl Clone for EngineSlot {
    fn clone(&self) -> Self {
        EngineSlot(None)
    }
}

/// A one-entry instruction TLB: the logical page of the last fetch and its absolute page,
/// valid for the PSW bits it was made with. Flushed at every `KVM_RUN` entry, interruption,
/// intercept, and change of the control registers, prefix or PSW state bits (the
/// architecture lets a TLB entry live until a purge; the flushes are a superset of those).
#[derive(Clone, Copy)]
struct Itlb {
    /// (logical page, absolute page, [`TLB_EPOCH`] when made).
    entry: Option<(u64, u64, u64)>,
    /// The absolute page of `entry` and its host address: instruction bytes are read from
    /// there without a memory-slot lookup (the reference bit was set when it was made).
    code: Option<(u64, u64)>,
    /// The data TLB: direct-mapped by logical page, one array per access kind (a store
    /// entry means DAT protection allowed the store). Key-controlled protection is checked
    /// on every access; entries for logical pages 0 and 1 are never made (low-address
    /// protection depends on the offset).
    data: [[Option<DataEntry>; DTLB_ENTRIES]; 2],
    /// `entry` and `code` together for the instruction cache's hit path (one compare of
    /// the page and the epoch); `page` is odd (never a page address) while empty.
    hit: CodeHit,
    /// The [`MemSlots::id`] of the snapshot the host addresses above come from: they are
    /// used only inside a read-side section on that same snapshot (the run loop's batch),
    /// so a deleted slot's memory is never read after the delete returned.
    slots_id: u64,
}

/// The instruction-fetch hit: logical page, absolute page, epoch, host address.
#[derive(Clone, Copy)]
struct CodeHit {
    page: u64,
    abs: u64,
    epoch: u64,
    hva: u64,
}

/// A data-TLB entry.
#[derive(Clone, Copy)]
struct DataEntry {
    /// The logical page.
    page: u64,
    /// Its absolute page.
    abs: u64,
    /// [`TLB_EPOCH`] when made.
    epoch: u64,
    /// The host address of the absolute page, 0 if it is in no slot.
    hva: u64,
    /// The slot logs dirty pages (a store then takes the path that marks them).
    dirty_log: bool,
}

const DTLB_ENTRIES: usize = 64;

impl Default for Itlb {
    fn default() -> Self {
        Itlb {
            entry: None,
            code: None,
            data: [[None; DTLB_ENTRIES]; 2],
            slots_id: 0,
            hit: CodeHit {
                page: 1,
                abs: 0,
                epoch: 0,
                hva: 0,
            },
        }
    }
}

/// Bumped by every purge of all CPUs' TLBs (IPTE/IDTE/CSP broadcast, storage-key changes):
/// an instruction-TLB entry made before is not used again by any vCPU.
static TLB_EPOCH: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn tlb_epoch() -> u64 {
    TLB_EPOCH.load(std::sync::atomic::Ordering::Acquire)
}

fn purge_all_tlbs() {
    TLB_EPOCH.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// The executor's storage: the vCPU's logical-access path.
pub struct VcpuStorage<'a> {
    vm: &'a Vm,
    /// The memory slots, read inside the run loop's section for this batch of
    /// instructions; the TLB's host addresses belong to this snapshot.
    slots: &'a MemSlots,
    vcpu: &'a Vcpu,
    st: &'a mut VcpuState,
    itlb: &'a mut Itlb,
    /// The CPU model's facility list (STFL, STFLE).
    facs: &'a Facilities,
    /// A host-side failure (a guest page whose host mapping faults outside the copy, an
    /// errno of the translation path): `KVM_RUN` ends with it.
    errno: Option<Error>,
    /// The executor reported a PSW, control-register or prefix change
    /// ([`Storage::control_changed`]).
    changed: bool,
    /// The PER range of guest-debug watchpoints, while they are set: a logical store
    /// touching it sets `stored` (the storage-alteration event).
    watch: Option<(u64, u64)>,
    stored: bool,
}

impl VcpuStorage<'_> {
    fn key(&self) -> u8 {
        ((self.st.psw.0 & PSW_MASK_KEY) >> 52) as u8
    }

    fn fail(&mut self, f: Fail) -> Pgm {
        match f {
            Fail::Pgm(p) => Pgm::Other {
                code: p.code,
                teid: p.trans_exc_code,
            },
            Fail::Errno(e) => {
                self.errno = Some(e);
                Pgm::Addressing
            }
        }
    }

    /// The data-TLB path: an access inside one page whose translation is cached, or made
    /// now; `false` when the slow path must run (which reproduces any exception exactly).
    fn access_fast(&mut self, addr: u64, data: &mut [u8], mode: Mode) -> bool {
        let page = addr & !(PAGE_SIZE - 1);
        if (addr & (PAGE_SIZE - 1)) + data.len() as u64 > PAGE_SIZE || page < 2 * PAGE_SIZE {
            return false;
        }
        let kind = usize::from(mode == Mode::Store);
        let idx = ((page >> 12) as usize) & (DTLB_ENTRIES - 1);
        let epoch = tlb_epoch();
        let entry = match self.itlb.data[kind][idx] {
            Some(e) if e.page == page && e.epoch == epoch => e,
            _ => {
                let Ok(abs) = gaccess::guest_translate_checked(
                    self.vm,
                    self.vcpu,
                    self.st,
                    LogicalAddr(addr),
                    0,
                    1,
                    mode,
                    0,
                ) else {
                    return false;
                };
                let ap = abs.raw() & !(PAGE_SIZE - 1);
                let slot = self.slots.by_gfn(ap / PAGE_SIZE);
                let e = DataEntry {
                    page,
                    abs: ap,
                    epoch,
                    hva: slot.map_or(0, |s| s.hva(ap / PAGE_SIZE)),
                    dirty_log: slot.is_some_and(|s| s.dirty.is_some()),
                };
                self.itlb.data[kind][idx] = Some(e);
                e
            }
        };
        let off = addr & (PAGE_SIZE - 1);
        let abs = entry.abs | off;
        let key = self.key();
        let store = mode == Mode::Store;
        // Key 0 without storage keys in use and no dirty log to mark: what `access_abs`
        // does is the copy alone, straight to the host page (a host fault takes the
        // general path, which reports it).
        if key == 0 && entry.hva != 0 && !(store && entry.dirty_log) && !self.vm.uses_skeys() {
            let h = entry.hva + off;
            let r = if store {
                crate::uaccess::copy_to_user(h, data)
            } else {
                crate::uaccess::copy_from_user(data, h)
            };
            if r.is_ok() {
                return true;
            }
        }
        let cr0 = self.st.crs[0];
        // The fetch-protection override (CR0 bit 38) below 2048 takes the slow path.
        if mode == Mode::Fetch && cr0 & (1 << 25) != 0 && addr < 2048 {
            return false;
        }
        let slots = self.slots;
        let _keys = (key != 0).then(|| self.vm.keys_read_lock());
        let mut r = self.vm.access_abs(slots, abs, data, store, key);
        // The storage-protection override (CR0 bit 39): key 9 frames.
        if r == crate::vm::memop::MemOpOutcome::Exception(0x04) && cr0 & (1 << 24) != 0 {
            r = self.vm.access_abs(slots, abs, data, store, 9);
        }
        r == crate::vm::memop::MemOpOutcome::Done
    }

    #[cold]
    #[inline(never)]
    fn fetch_code_slow(&mut self, addr: u64) -> std::result::Result<(u64, u64), Pgm> {
        let abs = self.fetch_absolute(addr)?;
        if let (Some((lp, ap, epoch)), Some((cp, hva))) = (self.itlb.entry, self.itlb.code) {
            if cp == ap {
                self.itlb.hit = CodeHit {
                    page: lp,
                    abs: ap,
                    epoch,
                    hva,
                };
            }
        }
        let n = (PAGE_SIZE - (abs & (PAGE_SIZE - 1))).min(8) as usize;
        let mut b = [0u8; 8];
        self.read_absolute(abs, &mut b[..n])?;
        Ok((abs, u64::from_be_bytes(b)))
    }

    fn access(&mut self, addr: u64, data: &mut [u8], mode: Mode) -> std::result::Result<(), Pgm> {
        if self.access_fast(addr, data, mode) {
            return Ok(());
        }
        let key = self.key();
        gaccess::guest_access(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(addr),
            0,
            data,
            mode,
            key,
        )
        .map_err(|f| self.fail(f))
    }

    /// The access exceptions of a store of `len` bytes at `addr` (access register `ar`, access
    /// key `key`), page by page, without storing: a store is all or nothing.
    fn check_store(
        &mut self,
        addr: u64,
        len: usize,
        ar: u8,
        key: u8,
    ) -> std::result::Result<(), Fail> {
        let mut a = addr;
        let end = addr.wrapping_add(len as u64);
        while a != end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end.wrapping_sub(a));
            gaccess::guest_translate_checked(
                self.vm,
                self.vcpu,
                self.st,
                LogicalAddr(a),
                ar,
                n as usize,
                Mode::Store,
                key,
            )?;
            a = a.wrapping_add(n);
        }
        Ok(())
    }

    /// An access as `how` says (MVCOS and the key-controlled moves): the PSW's address-space
    /// control is replaced for the access, past the TLB, so translation, protection and the
    /// exception's TEID are those of that space; in access-register mode the access register
    /// gets the executor's current contents first (the translation reads it from kvm_run,
    /// which the run loop otherwise updates only at exits). A store checks every page
    /// before it stores.
    fn access_in(
        &mut self,
        how: OperandAccess,
        addr: u64,
        data: &mut [u8],
        mode: Mode,
    ) -> std::result::Result<(), Pgm> {
        if how.ar != 0 {
            self.vcpu.run.set(
                super::run_page::off::ACRS + 4 * usize::from(how.ar & 15),
                how.alet,
            );
        }
        let saved = self.st.psw.0;
        self.st.psw.0 = (saved & !(3 << 46)) | u64::from(how.space & 3) << 46;
        let mut r = Ok(());
        if mode == Mode::Store {
            r = self.check_store(addr, data.len(), how.ar, how.key);
        }
        if r.is_ok() {
            r = gaccess::guest_access(
                self.vm,
                self.vcpu,
                self.st,
                LogicalAddr(addr),
                how.ar,
                data,
                mode,
                how.key,
            );
        }
        self.st.psw.0 = saved;
        r.map_err(|f| self.fail(f))?;
        if mode == Mode::Store {
            self.watch_store(addr, data.len());
        }
        Ok(())
    }

    /// A logical store of `len` bytes at `addr` happened: note it for the watchpoints.
    #[inline]
    fn watch_store(&mut self, addr: u64, len: usize) {
        if let Some((lo, hi)) = self.watch {
            self.stored |= super::guestdbg::store_touches(lo, hi, addr, len);
        }
    }
}

impl Storage for VcpuStorage<'_> {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> std::result::Result<(), Pgm> {
        self.access(addr, buf, Mode::Fetch)
    }

    fn read_in(
        &mut self,
        how: OperandAccess,
        addr: u64,
        buf: &mut [u8],
    ) -> std::result::Result<(), Pgm> {
        self.access_in(how, addr, buf, Mode::Fetch)
    }

    fn write_in(
        &mut self,
        how: OperandAccess,
        addr: u64,
        buf: &[u8],
    ) -> std::result::Result<(), Pgm> {
        let mut data = buf.to_vec();
        self.access_in(how, addr, &mut data, Mode::Store)
    }

    fn probe_write(&mut self, addr: u64, len: usize) -> std::result::Result<(), Pgm> {
        let key = self.key();
        self.check_store(addr, len, 0, key)
            .map_err(|f| self.fail(f))
    }

    fn write(&mut self, addr: u64, buf: &[u8]) -> std::result::Result<(), Pgm> {
        // All or nothing: an operand crossing a page is checked on every page first.
        let crosses = (addr & (PAGE_SIZE - 1)) + buf.len() as u64 > PAGE_SIZE;
        if crosses {
            let key = self.key();
            self.check_store(addr, buf.len(), 0, key)
                .map_err(|f| self.fail(f))?;
        }
        let mut small = [0u8; 256];
        let mut big;
        let data: &mut [u8] = if buf.len() <= small.len() {
            &mut small[..buf.len()]
        } else {
            big = vec![0u8; buf.len()];
            &mut big
        };
        data.copy_from_slice(buf);
        self.access(addr, data, Mode::Store)?;
        self.watch_store(addr, buf.len());
        Ok(())
    }

    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> std::result::Result<bool, Pgm> {
        let size = new.len();
        let key = self.key();
        // The key check and the swap are one step with respect to key changes (SSKE,
        // KVM_S390_SET_SKEYS), as for memop cmpxchg.
        let _keys = (key != 0).then(|| self.vm.keys_read_lock());
        let gpa = gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(addr),
            0,
            size,
            Mode::Store,
            key,
        )
        .map_err(|f| self.fail(f))?
        .raw();
        let slots = self.vm.memslots();
        let Some(slot) = slots.by_gfn(gpa / PAGE_SIZE) else {
            return Err(Pgm::Addressing);
        };
        let idx = gpa / PAGE_SIZE - slot.base_gfn;
        let mut o = [0u8; 16];
        let mut n = [0u8; 16];
        o[..size].copy_from_slice(old);
        n[..size].copy_from_slice(new);
        let hva = slot.hva(gpa / PAGE_SIZE) + gpa % PAGE_SIZE;
        match crate::uaccess::compare_exchange(hva, size, &mut o, &n) {
            Ok(swapped) => {
                if self.vm.uses_skeys() {
                    slot.keys.or(idx, if swapped { 0x06 } else { 0x04 });
                }
                if swapped {
                    if let Some(d) = &slot.dirty {
                        d.mark(idx);
                    }
                    self.watch_store(addr, size);
                } else {
                    old.copy_from_slice(&o[..size]);
                }
                Ok(swapped)
            }
            Err(_) => {
                self.errno = Some(Error::Fault);
                Err(Pgm::Addressing)
            }
        }
    }

    fn fetch_absolute(&mut self, addr: u64) -> std::result::Result<u64, Pgm> {
        let page = addr & !(PAGE_SIZE - 1);
        if let Some((lp, ap, epoch)) = self.itlb.entry {
            if lp == page && epoch == tlb_epoch() {
                return Ok(ap | (addr & (PAGE_SIZE - 1)));
            }
        }
        let epoch = tlb_epoch();
        let key = self.key();
        let abs = gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(addr),
            0,
            2,
            Mode::Fetch,
            key,
        )
        .map_err(|f| self.fail(f))?
        .raw();
        let ap = abs & !(PAGE_SIZE - 1);
        self.itlb.entry = Some((page, ap, epoch));
        self.itlb.code = None;
        if let Some(slot) = self.slots.by_gfn(ap / PAGE_SIZE) {
            let idx = ap / PAGE_SIZE - slot.base_gfn;
            if self.vm.uses_skeys() {
                slot.keys.or(idx, crate::vm::skeys::SKEY_R);
            }
            self.itlb.code = Some((ap, slot.hva(ap / PAGE_SIZE)));
        }
        Ok(abs)
    }

    #[inline]
    fn fetch_code(&mut self, addr: u64) -> std::result::Result<(u64, u64), Pgm> {
        // The hit path: the instruction TLB's page and its code page's host address.
        let page = addr & !(PAGE_SIZE - 1);
        let off = addr & (PAGE_SIZE - 1);
        let h = &self.itlb.hit;
        if h.page == page && h.epoch == tlb_epoch() && off <= PAGE_SIZE - 8 {
            let mut b = [0u8; 8];
            if crate::uaccess::copy_from_user(&mut b, h.hva + off).is_ok() {
                return Ok((h.abs | off, u64::from_be_bytes(b)));
            }
        }
        self.fetch_code_slow(addr)
    }

    #[inline]
    fn read_be(&mut self, addr: u64, n: usize) -> std::result::Result<u64, Pgm> {
        let mut b = [0u8; 8];
        let n = n.clamp(1, 8);
        self.access(addr, &mut b[8 - n..], Mode::Fetch)?;
        Ok(u64::from_be_bytes(b))
    }

    #[inline]
    fn write_be(&mut self, addr: u64, n: usize, v: u64) -> std::result::Result<(), Pgm> {
        let n = n.clamp(1, 8);
        let mut b = v.to_be_bytes();
        if (addr & (PAGE_SIZE - 1)) + n as u64 > PAGE_SIZE {
            // Across a page: the all-or-nothing path.
            return self.write(addr, &b[8 - n..]);
        }
        self.access(addr, &mut b[8 - n..], Mode::Store)?;
        self.watch_store(addr, n);
        Ok(())
    }

    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> std::result::Result<(), Pgm> {
        if let Some((ap, hva)) = self.itlb.code {
            let off = abs.wrapping_sub(ap);
            if off + (buf.len() as u64) <= PAGE_SIZE
                && crate::uaccess::copy_from_user(buf, hva + off).is_ok()
            {
                return Ok(());
            }
        }
        let slots = self.vm.memslots();
        self.vm.read_abs(&slots, abs, buf).map_err(pgm_of_code)
    }

    fn write_absolute(&mut self, abs: u64, buf: &[u8]) -> std::result::Result<(), Pgm> {
        let slots = self.vm.memslots();
        self.vm.write_abs(&slots, abs, buf).map_err(pgm_of_code)
    }

    fn cas_absolute(
        &mut self,
        abs: u64,
        old: &mut [u8],
        new: &[u8],
    ) -> std::result::Result<bool, Pgm> {
        let size = new.len();
        let slots = self.vm.memslots();
        let Some(slot) = slots.by_gfn(abs / PAGE_SIZE) else {
            return Err(Pgm::Addressing);
        };
        let mut o = [0u8; 16];
        let mut n = [0u8; 16];
        o[..size].copy_from_slice(old);
        n[..size].copy_from_slice(new);
        let hva = slot.hva(abs / PAGE_SIZE) + abs % PAGE_SIZE;
        match crate::uaccess::compare_exchange(hva, size, &mut o, &n) {
            Ok(swapped) => {
                if !swapped {
                    old.copy_from_slice(&o[..size]);
                }
                Ok(swapped)
            }
            Err(_) => {
                self.errno = Some(Error::Fault);
                Err(Pgm::Addressing)
            }
        }
    }

    fn control_changed(&mut self, cpu: &Cpu) {
        self.changed = true;
        self.st.psw = (cpu.psw_mask, cpu.psw_addr);
        self.st.crs = cpu.cr;
        self.st.prefix = u64::from(cpu.prefix);
        *self.itlb = Itlb {
            slots_id: self.itlb.slots_id,
            ..Itlb::default()
        };
    }

    fn purge_tlb(&mut self, all_cpus: bool) {
        *self.itlb = Itlb {
            slots_id: self.itlb.slots_id,
            ..Itlb::default()
        };
        if all_cpus {
            purge_all_tlbs();
        }
    }

    fn translate(&mut self, addr: u64) -> std::result::Result<u64, Pgm> {
        gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(addr),
            0,
            1,
            Mode::Fetch,
            0,
        )
        .map(|a| a.raw())
        .map_err(|f| self.fail(f))
    }

    fn lra(&mut self, addr: u64, _alet: u32) -> std::result::Result<LraResult, Pgm> {
        // DAT on regardless of the PSW; the address space the PSW selects.
        let mut st = self.st.clone();
        st.psw.0 |= 1 << 58;
        match gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            &st,
            LogicalAddr(addr),
            0,
            1,
            Mode::Fetch,
            0,
        ) {
            Ok(abs) => Ok(LraResult::Real(absolute_to_real(abs.raw(), st.prefix))),
            // The walk does not report the invalid entry's address.
            Err(Fail::Pgm(p)) if p.code == gaccess::PGM_PAGE_TRANSLATION => {
                Ok(LraResult::InvalidPage(0))
            }
            Err(Fail::Pgm(p)) if p.code == 0x05 || p.code == gaccess::PGM_TRANSLATION_SPEC => {
                Err(pgm_of_code(p.code))
            }
            Err(Fail::Pgm(p)) => Ok(LraResult::Exception(p.code)),
            Err(f) => Err(self.fail(f)),
        }
    }

    fn test_protection(&mut self, addr: u64, key: u8) -> std::result::Result<u8, Pgm> {
        let _keys = (key != 0).then(|| self.vm.keys_read_lock());
        let check = |this: &mut Self, mode| {
            gaccess::guest_translate_checked(
                this.vm,
                this.vcpu,
                this.st,
                LogicalAddr(addr),
                0,
                1,
                mode,
                key,
            )
        };
        // handle_tprot: a store check, on protection a fetch check; translation exceptions
        // are "not available" (cc 3), addressing and translation specification interrupt.
        let r = match check(self, Mode::Store) {
            Err(Fail::Pgm(p)) if p.code == 0x04 => match check(self, Mode::Fetch) {
                Ok(_) => return Ok(1),
                Err(Fail::Pgm(p)) if p.code == 0x04 => return Ok(2),
                r => r,
            },
            r => r,
        };
        match r {
            Ok(_) => Ok(0),
            Err(Fail::Pgm(p)) if p.code == 0x05 || p.code == gaccess::PGM_TRANSLATION_SPEC => {
                Err(pgm_of_code(p.code))
            }
            Err(Fail::Pgm(_)) => Ok(3),
            Err(f) => Err(self.fail(f)),
        }
    }

    fn storage_key(&mut self, abs: u64) -> std::result::Result<u8, Pgm> {
        self.vm.storage_key_abs(abs).map_err(pgm_of_code)
    }

    fn set_storage_key(&mut self, abs: u64, key: u8, _nq: bool) -> std::result::Result<(), Pgm> {
        self.vm
            .set_storage_key_abs(abs, key & 0xfe)
            .map_err(pgm_of_code)?;
        // Fetch-protection decisions cached in any vCPU's instruction TLB are stale.
        purge_all_tlbs();
        Ok(())
    }

    fn tod_clock(&mut self) -> std::result::Result<(u8, u64), Pgm> {
        let host = crate::host::clock::host_tod();
        let (epoch, epdx) = self.vcpu.epoch();
        let tod = host.tod.wrapping_add(epoch);
        let idx = if self.facs.has_bit(139) {
            host.epoch_idx
                .wrapping_add(epdx)
                .wrapping_add(u8::from(tod < host.tod))
        } else {
            0
        };
        Ok((idx, tod))
    }

    fn set_tod_clock(&mut self, tod: u64) -> std::result::Result<(), Pgm> {
        self.vm
            .set_tod(crate::host::clock::HostTod { epoch_idx: 0, tod });
        Ok(())
    }

    fn cpu_timer(&mut self) -> std::result::Result<u64, Pgm> {
        Ok(self.st.cputm)
    }

    fn set_cpu_timer(&mut self, v: u64) -> std::result::Result<(), Pgm> {
        self.st.cputm = v;
        Ok(())
    }

    fn clock_comparator(&mut self) -> std::result::Result<u64, Pgm> {
        Ok(self.st.ckc)
    }

    fn set_clock_comparator(&mut self, v: u64) -> std::result::Result<(), Pgm> {
        self.st.ckc = v;
        Ok(())
    }

    fn facility_list(&self) -> Option<&[u64]> {
        Some(&self.facs.0)
    }
}

/// A program-interruption code from the absolute-access helpers as the executor's [`Pgm`].
fn pgm_of_code(code: u16) -> Pgm {
    match code {
        0x01 => Pgm::Operation,
        0x02 => Pgm::PrivilegedOperation,
        0x04 => Pgm::Protection,
        0x05 => Pgm::Addressing,
        0x06 => Pgm::Specification,
        code => Pgm::Other { code, teid: 0 },
    }
}

/// The real address of absolute `abs` under `prefix` (prefixing is its own inverse).
fn absolute_to_real(abs: u64, prefix: u64) -> u64 {
    if abs < 0x2000 {
        abs + prefix
    } else if abs >= prefix && abs < prefix + 0x2000 {
        abs - prefix
    } else {
        abs
    }
}

/// What the run loop does after an intercepted instruction.
pub(super) enum Next {
    Continue,
    Exit(Exit),
}

/// The facilities the executor may decode for this VM: the CPU model's list.
fn facilities_of(vm: &Vm) -> Facilities {
    let model = vm.state();
    let mut f = Facilities::z10();
    for b in 0..=255u8 {
        if model.has_facility(u32::from(b)) {
            f.set(b);
        }
    }
    f
}

impl Vcpu {
    /// Loads the executor's CPU from the vCPU's registers.
    fn load_cpu(&self, st: &VcpuState, cpu: &mut Cpu) {
        let r = &self.run;
        for (i, g) in cpu.gr.iter_mut().enumerate() {
            *g = r.get_u64(off::GPRS, i);
        }
        for (i, a) in cpu.ar.iter_mut().enumerate() {
            *a = r.get(off::ACRS + 4 * i);
        }
        for (i, f) in cpu.fpr.iter_mut().enumerate() {
            *f = r.get_u64(off::VRS, 2 * i);
        }
        cpu.fpc = r.get(off::FPC);
        cpu.cr = st.crs;
        cpu.prefix = st.prefix as u32;
        cpu.psw_mask = st.psw.0;
        cpu.psw_addr = st.psw.1;
    }

    /// Stores the executor's CPU into the vCPU's registers.
    fn store_cpu(&self, st: &mut VcpuState, cpu: &Cpu) {
        let r = &self.run;
        for (i, g) in cpu.gr.iter().enumerate() {
            r.set_u64(off::GPRS, i, *g);
        }
        for (i, a) in cpu.ar.iter().enumerate() {
            r.set(off::ACRS + 4 * i, *a);
        }
        for (i, f) in cpu.fpr.iter().enumerate() {
            r.set_u64(off::VRS, 2 * i, *f);
        }
        r.set(off::FPC, cpu.fpc);
        Self::sync_state(st, cpu);
    }

    /// The state the access path and delivery read: PSW, control registers, prefix.
    fn sync_state(st: &mut VcpuState, cpu: &Cpu) {
        st.psw = (cpu.psw_mask, cpu.psw_addr);
        st.crs = cpu.cr;
        st.prefix = u64::from(cpu.prefix);
    }

    /// Runs guest code on the executor until an exit (the `KVM_RUN` of a vCPU without a guest
    /// function). Registers are loaded at entry and stored at every return.
    pub(crate) fn run_cpu(&self, vm: &Vm, st: &mut MutexGuard<'_, VcpuState>) -> Result<Exit> {
        let mut engine = match st.engine.0.take() {
            Some(e) => e,
            None => Box::new(Engine {
                cpu: Cpu::new(Facilities::z10()),
                icache: InsnCache::new(),
                itlb: Itlb::default(),
                facs: Facilities::z10(),
                per: None,
            }),
        };
        engine.facs = facilities_of(vm);
        engine.cpu.facilities = engine.facs;
        engine.itlb = Itlb::default();
        self.load_cpu(st, &mut engine.cpu);
        let r = self.run_loop(vm, st, &mut engine);
        self.store_cpu(st, &engine.cpu);
        st.engine.0 = Some(engine);
        r
    }

    fn run_loop(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        e: &mut Engine,
    ) -> Result<Exit> {
        // Signals are held off by `Vcpu::run`; the checks take those the run mask lets in.
        let run_mask = st.run_mask;
        let stepping = st.guest_debug & (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP)
            == KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
        if st.guest_debug & KVM_GUESTDBG_ENABLE != 0 {
            if let Some((addr, kind)) = st.guestdbg.pending.take() {
                // A breakpoint decided while the last run left for userspace.
                st.sstep_user = false;
                return Ok(Exit::Debug { addr, kind });
            }
        }
        if stepping && std::mem::take(&mut st.sstep_user) {
            // The instruction userspace emulated completes the step (its interrupt, if
            // userspace injected one, was delivered on entry).
            return Ok(Exit::Debug {
                addr: e.cpu.psw_addr,
                kind: KVM_SINGLESTEP as u8,
            });
        }
        // Hardware breakpoints and watchpoints: the PER registers the kernel would run
        // with, decided per batch; while set, instructions run one at a time.
        let hw_debug = st.guest_debug & KVM_GUESTDBG_USE_HW_BP != 0 && st.guestdbg.armed();
        e.per = None;
        let mut countdown = 0u32;
        let mut last_tick = Instant::now();
        let mut ran = false;
        // The memory slots for a batch of instructions, read in one read-side section
        // that ends at every check, intercept and interruption (never held across a
        // wait, a state-lock release or an exit).
        let mut batch = None;
        loop {
            if countdown == 0 {
                batch = None;
                countdown = CHECK_INTERVAL;
                Self::sync_state(st, &e.cpu);
                // The CPU timer runs while the CPU executes (TOD units: 4096 per
                // microsecond), from its first instruction in this run.
                let now = Instant::now();
                if ran {
                    let units = now.duration_since(last_tick).as_nanos() * 4096 / 1000;
                    st.cputm = st.cputm.wrapping_sub(units as u64);
                }
                last_tick = now;
                ran = true;
                if super::wait::sig::pending() & !run_mask != 0 && super::wait::sig::take(run_mask)
                {
                    return Ok(Exit::Interrupted);
                }
                // Let a thread waiting for the state in (an ioctl that reaches a running
                // vCPU's state, as a sleeping run releases it), then take its changes.
                MutexGuard::bump(st);
                e.cpu.cr = st.crs;
                e.cpu.prefix = st.prefix as u32;
                self.load_cpu_psw(st, &mut e.cpu);
                if hw_debug {
                    e.per = Some(PerSetup::new(&st.guestdbg, &e.cpu.cr, stepping));
                }
                self.wait.reset();
                let before = st.psw;
                if self.has_deliverable(vm, st) {
                    // A machine check stores the registers in the lowcore save areas: the
                    // CPU's now, not those the run started with.
                    self.store_cpu(st, &e.cpu);
                }
                self.deliver_interrupts(vm, st)?;
                if st.psw != before {
                    e.itlb = Itlb::default();
                    self.load_cpu_psw(st, &mut e.cpu);
                }
                if self.irqs().stop_pending() {
                    // The registers a stop-and-store-status stores are the CPU's now.
                    self.store_cpu(st, &e.cpu);
                    if let Some(stop) = self.stop_intercept(vm, st) {
                        return Ok(stop);
                    }
                }
                if e.cpu.psw_mask & PSW_MASK_WAIT != 0 {
                    // A stop that comes during the sleep stores these registers.
                    self.store_cpu(st, &e.cpu);
                    match self.cpu_wait(vm, st)? {
                        Some(exit) => return Ok(exit),
                        None => {
                            e.itlb = Itlb::default();
                            self.load_cpu_psw(st, &mut e.cpu);
                            last_tick = Instant::now();
                            // The new PSW may wait again: decide before executing.
                            countdown = 0;
                            continue;
                        }
                    }
                }
            }
            let slots: &MemSlots = batch.get_or_insert_with(|| vm.memslots());
            if e.itlb.slots_id != slots.id() {
                // Another snapshot: its host addresses are not the TLB's.
                e.itlb = Itlb::default();
                e.itlb.slots_id = slots.id();
            }
            let mut mem = VcpuStorage {
                vm,
                slots,
                vcpu: self,
                st,
                itlb: &mut e.itlb,
                facs: &e.facs,
                errno: None,
                changed: false,
                watch: e.per.as_ref().and_then(PerSetup::store_range),
                stored: false,
            };
            // Straight-line execution up to the next check: one storage binding for the
            // whole run of instructions that neither fault, intercept nor change the PSW
            // state. Under guest debugging (single-step, hardware breakpoints) a batch is
            // one instruction, its stores watched while watchpoints are set.
            let single = stepping || e.per.is_some();
            let (r, addr) = loop {
                let addr = e.cpu.psw_addr;
                let r = e.cpu.step_cached(&mut mem, &mut e.icache);
                countdown -= 1;
                if r.is_err() || mem.errno.is_some() || mem.changed || countdown == 0 || single {
                    break (r, addr);
                }
                mem.st.psw.1 = e.cpu.psw_addr;
            };
            let stored = mem.stored;
            let (errno, changed) = (mem.errno.take(), mem.changed);
            // A successful branch: completed at a non-sequential address without a PSW
            // state change (LOAD PSW is none).
            let branched = e.per.is_some()
                && r.is_ok()
                && !changed
                && e.cpu.psw_addr != e.cpu.wrap(addr.wrapping_add(u64::from(e.cpu.ilc) * 2));
            if let Some(err) = errno {
                return Err(err);
            }
            if changed {
                // New address space, key, interrupt masks or wait: translate afresh and look
                // at interrupts before the next instruction.
                e.itlb = Itlb::default();
                Self::sync_state(st, &e.cpu);
                countdown = 0;
            } else {
                st.psw.1 = e.cpu.psw_addr;
            }
            match r {
                Ok(()) => {}
                Err(Pgm::Intercept { ipa, ipb }) => {
                    // Past the instruction that was intercepted: under EXECUTE the EX
                    // (its length is the ILC), not the target that `ipa` names.
                    let ilen = u64::from(e.cpu.ilc) * 2;
                    e.cpu.psw_addr = e.cpu.wrap(addr.wrapping_add(ilen));
                    e.itlb = Itlb::default();
                    countdown = 0;
                    batch = None;
                    Self::sync_state(st, &e.cpu);
                    match self.intercept(vm, st, &mut e.cpu, ipa, ipb)? {
                        Next::Continue => {}
                        Next::Exit(x) => {
                            st.sstep_user = stepping;
                            if let Some(p) = &e.per {
                                // Reported by the next KVM_RUN (KVM_GUESTDBG_EXIT_PENDING).
                                let next = e.cpu.psw_addr;
                                st.guestdbg.pending =
                                    p.debug_exit(vm, st, addr, next, false, false);
                            }
                            return Ok(x);
                        }
                    }
                }
                Err(pgm) => {
                    batch = None;
                    if let Some(x) = self.program_exception(vm, st, e, addr, pgm)? {
                        st.sstep_user = stepping;
                        if let Some(p) = &e.per {
                            let next = e.cpu.psw_addr;
                            st.guestdbg.pending = p.debug_exit(vm, st, addr, next, false, false);
                        }
                        return Ok(x);
                    }
                    countdown = 0;
                }
            }
            if let Some(p) = &e.per {
                let next = e.cpu.psw_addr;
                if let Some((addr, kind)) = p.debug_exit(vm, st, addr, next, branched, stored) {
                    Self::sync_state(st, &e.cpu);
                    return Ok(Exit::Debug { addr, kind });
                }
            }
            if stepping {
                // One instruction (with the interruption it caused) per step: the PER
                // instruction-fetch event of the next one ends the run.
                Self::sync_state(st, &e.cpu);
                return Ok(Exit::Debug {
                    addr: e.cpu.psw_addr,
                    kind: KVM_SINGLESTEP as u8,
                });
            }
        }
    }

    /// Reloads the PSW (after a delivery changed it).
    fn load_cpu_psw(&self, st: &VcpuState, cpu: &mut Cpu) {
        cpu.psw_mask = st.psw.0;
        cpu.psw_addr = st.psw.1;
    }

    /// A program exception recognised by the executor: presented to the guest through the
    /// lowcore as the kernel's `__deliver_prog` does (the PSW points after the instruction;
    /// nullifying codes are rewound by the instruction length), or, for an operation
    /// exception userspace asked for (`KVM_CAP_S390_USER_INSTR0`, `USER_OPEREXEC`), the
    /// operation-exception intercept.
    fn program_exception(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        e: &mut Engine,
        addr: u64,
        pgm: Pgm,
    ) -> Result<Option<Exit>> {
        let cpu = &mut e.cpu;
        e.itlb = Itlb::default();
        if let Pgm::SupervisorCall { number } = pgm {
            self.supervisor_call(vm, st, cpu, number)?;
            return Ok(None);
        }
        log::debug!(
            "vCPU {}: program interruption {:#x} at {:#x} ({:?})",
            self.id,
            pgm.code(),
            addr,
            pgm
        );
        // An instruction-fetch exception leaves the PSW at the instruction: nothing to rewind.
        let fetch = cpu.psw_addr == addr && pgm != Pgm::Specification;
        if pgm == Pgm::Operation {
            let mut b = [0u8; 6];
            let ilen = usize::from(cpu.ilc) * 2;
            let slots = vm.memslots();
            if e.itlb.slots_id != slots.id() {
                e.itlb = Itlb::default();
                e.itlb.slots_id = slots.id();
            }
            let mut mem = VcpuStorage {
                vm,
                slots: &slots,
                vcpu: self,
                st,
                itlb: &mut e.itlb,
                facs: &e.facs,
                errno: None,
                changed: false,
                watch: None,
                stored: false,
            };
            let fetched = mem
                .fetch_absolute(addr)
                .and_then(|abs| mem.read_absolute(abs, &mut b[..ilen.clamp(2, 6)]));
            if fetched.is_ok() {
                let ipa = u16::from_be_bytes([b[0], b[1]]);
                let ipb = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
                let (instr0, operexec) = {
                    let s = vm.state();
                    (s.user_instr0, s.user_operexec)
                };
                if operexec || (instr0 && ipa == 0) {
                    Self::sync_state(st, cpu);
                    return Ok(Some(Exit::Intercept {
                        icptcode: ICPT_OPEREXC,
                        ipa,
                        ipb,
                    }));
                }
                // The DIAGNOSE instruction, before the executor knows it: SIE intercepts it.
                if b[0] == 0x83 {
                    cpu.psw_addr = cpu.wrap(addr.wrapping_add(4));
                    Self::sync_state(st, cpu);
                    return match self.intercept(vm, st, cpu, ipa, ipb)? {
                        Next::Continue => Ok(None),
                        Next::Exit(x) => Ok(Some(x)),
                    };
                }
            }
        }
        if let Pgm::Data { dxc } = pgm {
            if cpu.cr[0] & crate::cpu::psw::CR0_AFP != 0 {
                cpu.fpc = (cpu.fpc & !0xff00) | (u32::from(dxc) << 8);
            }
        }
        let ilen = if fetch { 2 } else { cpu.ilc * 2 };
        let mut flags = ilen | KVM_S390_PGM_FLAGS_ILC_VALID;
        if fetch {
            flags |= KVM_S390_PGM_FLAGS_NO_REWIND;
        }
        let mut info = kvm_s390_pgm_info {
            code: pgm.code(),
            flags,
            ..Default::default()
        };
        match pgm {
            Pgm::Other { teid, .. } => info.trans_exc_code = teid,
            Pgm::Data { dxc } => info.data_exc_code = u32::from(dxc),
            _ => {}
        }
        self.present(vm, st, cpu, info)?;
        Ok(None)
    }

    /// The supervisor-call interruption (SIE delivers it to the guest without KVM): the
    /// interruption code and ILC at 0x8a/0x88, the old PSW (after the SVC) at 0x140, the
    /// new PSW from 0x1c0. EFAULT when the lowcore lies outside guest memory.
    fn supervisor_call(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        number: u8,
    ) -> Result<()> {
        let slots = vm.memslots();
        let p = u64::from(cpu.prefix);
        let mut old = [0u8; 16];
        old[..8].copy_from_slice(&cpu.psw_mask.to_be_bytes());
        old[8..].copy_from_slice(&cpu.psw_addr.to_be_bytes());
        let mut new = [0u8; 16];
        let ok = vm
            .write_abs(&slots, p + 0x88, &u16::from(cpu.ilc * 2).to_be_bytes())
            .and_then(|()| vm.write_abs(&slots, p + 0x8a, &u16::from(number).to_be_bytes()))
            .and_then(|()| vm.write_abs(&slots, p + 0x140, &old))
            .and_then(|()| vm.read_abs(&slots, p + 0x1c0, &mut new));
        if ok.is_err() {
            return Err(Error::Fault);
        }
        cpu.psw_mask = u64::from_be_bytes(new[..8].try_into().unwrap_or([0; 8]));
        cpu.psw_addr = u64::from_be_bytes(new[8..].try_into().unwrap_or([0; 8]));
        Self::sync_state(st, cpu);
        Ok(())
    }

    /// Injects and delivers a program interruption with the CPU's current PSW.
    pub(super) fn present(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        info: kvm_s390_pgm_info,
    ) -> Result<()> {
        Self::sync_state(st, cpu);
        self.queue_pgm(st, info);
        self.deliver_interrupts(vm, st)?;
        self.load_cpu_psw(st, cpu);
        Ok(())
    }

    /// A program interruption with code `code` for the instruction just intercepted (the
    /// PSW points after it), as `kvm_s390_inject_program_int` from an intercept handler.
    pub(super) fn inject_code(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        code: u16,
    ) -> Result<Next> {
        // The ILC of the instruction intercepted (the EX's under EXECUTE).
        let ilen = cpu.ilc * 2;
        let info = kvm_s390_pgm_info {
            code,
            flags: ilen | KVM_S390_PGM_FLAGS_ILC_VALID,
            ..Default::default()
        };
        self.present(vm, st, cpu, info)?;
        Ok(Next::Continue)
    }

    /// The wait state (`kvm_s390_handle_wait`): a disabled wait exits with the wait
    /// intercept; an enabled one sleeps with the state released until an interrupt is
    /// delivered (a kick, the clock comparator or the CPU timer), a stop, or a signal.
    /// `None` once an interrupt has been delivered (the PSW is its new PSW).
    fn cpu_wait(&self, vm: &Vm, st: &mut MutexGuard<'_, VcpuState>) -> Result<Option<Exit>> {
        if st.psw.0 & (PSW_MASK_IO | PSW_MASK_EXT | PSW_MASK_MCHECK) == 0 {
            return Ok(Some(Exit::Intercept {
                icptcode: ICPT_WAIT,
                ipa: 0,
                ipb: 0,
            }));
        }
        loop {
            self.wait.reset();
            let before = st.psw;
            self.deliver_interrupts(vm, st)?;
            if st.psw != before {
                return Ok(None);
            }
            if let Some(stop) = self.stop_intercept(vm, st) {
                return Ok(Some(stop));
            }
            let mut deadline = crate::irq::ckc_sleep_time(st, || vm.guest_tod().tod);
            // An enabled CPU timer bounds the sleep too (`__calculate_sltime`).
            if st.psw.0 & PSW_MASK_EXT != 0 && st.crs[0] & (1 << 10) != 0 {
                let left = Duration::from_nanos(if st.cputm >> 63 != 0 {
                    0
                } else {
                    st.cputm * 1000 / 4096
                });
                deadline = Some(deadline.map_or(left, |d| d.min(left)));
            }
            // kvm_s390_handle_wait, then kvm_vcpu_halt: the wait and halt counters.
            self.stats.inc(stats::vcpu::EXIT_WAIT_STATE);
            self.stats.set(stats::vcpu::BLOCKING, 1);
            let t0 = Instant::now();
            // The sleep lets in what the run mask does not block, atomically with going to
            // sleep: a signal that came after the last check ends it at once.
            let run_mask = st.run_mask;
            self.set_running(false);
            let woke = MutexGuard::unlocked(st, || self.wait.sleep(deadline, Some(run_mask)));
            self.set_running(true);
            let waited = t0.elapsed().as_nanos();
            self.stats.set(stats::vcpu::BLOCKING, 0);
            let waited_ns = u64::try_from(waited).unwrap_or(u64::MAX);
            self.stats.add(stats::vcpu::HALT_WAIT_NS, waited_ns);
            self.stats.log_hist(stats::vcpu::HALT_WAIT_HIST, waited_ns);
            let us = waited * 4096 / 1000;
            st.cputm = st.cputm.wrapping_sub(us as u64);
            match woke {
                Ok(super::wait::Wake::Kicked) => self.stats.inc(stats::vcpu::HALT_WAKEUP),
                Ok(super::wait::Wake::Signal) => return Ok(Some(Exit::Interrupted)),
                Err(e) => {
                    log::warn!("vCPU {}: KVM_RUN cannot sleep: {e}", self.id);
                    return Ok(Some(Exit::Interrupted));
                }
            }
        }
    }

    /// An intercepted instruction (the PSW points after it): handled as the kernel's
    /// intercept handlers do (`intercept.c`, `priv.c`, `diag.c`), or an exit to userspace
    /// with the kernel's `kvm_run` contents.
    fn intercept(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        ipa: u16,
        ipb: u32,
    ) -> Result<Next> {
        // ESSA with CMMA in use is interpreted by SIE outside migration mode (after the
        // first intercept has set ECB2_CMMA, and but for a full CBRL): no intercept to count.
        let interpreted = ipa == 0xb9ab && {
            let s = vm.state();
            s.use_cmma && !s.migration_mode
        };
        let next = self.handle_instruction(vm, st, cpu, ipa, ipb)?;
        // handle_instruction counts every instruction intercept, a program exception it
        // injects included; those that leave KVM_RUN with the intercept or STSI exit are
        // counted on the way out.
        if !interpreted && !matches!(next, Next::Exit(Exit::Intercept { .. } | Exit::Stsi { .. })) {
            self.stats.inc(crate::stats::vcpu::EXIT_INSTRUCTION);
        }
        Ok(next)
    }

    /// The handler for the intercepted instruction (`instruction_handlers`).
    fn handle_instruction(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        ipa: u16,
        ipb: u32,
    ) -> Result<Next> {
        let to_user = Next::Exit(Exit::Intercept {
            icptcode: ICPT_INST,
            ipa,
            ipb,
        });
        let problem = cpu.psw_mask & PSW_MASK_PSTATE != 0;
        let op = (ipa >> 8) as u8;
        match op {
            // DIAGNOSE (kvm_s390_handle_diag): vcpu/diag.rs.
            0x83 => self.diag(vm, st, cpu, ipa, ipb),
            0xb2 => {
                let op2 = ipa as u8;
                match op2 {
                    // STORE SYSTEM INFORMATION (handle_stsi): vcpu/stsi.rs.
                    0x7d => self.stsi(vm, st, cpu, ipb),
                    // Channel-subsystem instructions (handle_io_inst): userspace with CSS
                    // support, condition code 3 without.
                    0x30..=0x3c | 0x76 => {
                        if problem {
                            return self.inject_code(vm, st, cpu, 0x02);
                        }
                        if vm.state().css_support {
                            Ok(to_user)
                        } else {
                            cpu.set_cc(3);
                            Ok(Next::Continue)
                        }
                    }
                    _ => Ok(to_user),
                }
            }
            // SIGNAL PROCESSOR (kvm_s390_handle_sigp).
            0xae => {
                if problem {
                    return self.inject_code(vm, st, cpu, 0x02);
                }
                match self.sigp(vm, st, cpu, ipa, ipb)? {
                    super::sigp::Sigp::Done => Ok(Next::Continue),
                    super::sigp::Sigp::Userspace => Ok(to_user),
                }
            }
            // ESSA (handle_essa).
            0xb9 if ipa as u8 == 0xab => {
                let m3 = ((ipb >> 28) & 0xf) as u8;
                let r1 = ((ipb >> 20) & 0xf) as u8;
                let r2 = ((ipb >> 16) & 0xf) as u8;
                let gpa = cpu.r64(r2) & !(PAGE_SIZE - 1);
                match vm.essa(gpa, m3, problem) {
                    Ok(v) => {
                        // Only the low byte of R1 receives the result.
                        cpu.set_r64(r1, (cpu.r64(r1) & !0xff) | u64::from(v));
                        Ok(Next::Continue)
                    }
                    Err(code) => self.inject_code(vm, st, cpu, code),
                }
            }
            _ => Ok(to_user),
        }
    }
}
