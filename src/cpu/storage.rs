//! Operand and instruction storage as the executor sees it.
//!
//! Every access goes through [`Storage`] with a logical address already wrapped to the
//! addressing mode; the implementation translates (DAT, prefixing), checks protection and
//! copies. The vCPU binding will implement it over `vcpu::gaccess` (its translation path and
//! fault-recovering host copies); [`VecStorage`] implements it over a flat byte vector
//! (logical = absolute) for the unit and differential tests.

use super::Pgm;

/// How MVCOS and the key-controlled moves access one operand: in address space `space` (the
/// PSW's address-space-control encoding: 0 primary, 1 access-register mode, 2 secondary,
/// 3 home) with access key `key`; in access-register mode through access register `ar`,
/// whose current contents are `alet` (the executor's, which the machine's copy may not have
/// caught up with inside a run).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OperandAccess {
    pub space: u8,
    pub ar: u8,
    pub alet: u32,
    pub key: u8,
}

/// The executor's view of guest storage.
pub trait Storage {
    /// Copy `buf.len()` bytes at logical `addr` into `buf` (operand fetch).
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Pgm>;

    /// Copy `buf` to logical `addr` (operand store). All-or-nothing with respect to access
    /// exceptions: nothing is stored when any byte would fault.
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm>;

    /// Interlocked compare-and-swap of 4, 8 or 16 bytes at a naturally aligned logical
    /// address (the caller checked the alignment). On a match `new` is stored and the result
    /// is `true`; otherwise `old` receives the current contents and the result is `false`.
    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm>;

    /// The access exception a store of `len` (1..=16) bytes at logical `addr` would take,
    /// without storing (CSST checks its store operand before the compare and swap). The
    /// bytes lie in one page. Default: the exceptions of a fetch, for a storage without
    /// store protection.
    fn probe_write(&mut self, addr: u64, len: usize) -> Result<(), Pgm> {
        let mut b = [0u8; 16];
        self.read(addr, &mut b[..len.min(16)])
    }

    /// MVCOS's operand fetch: `buf.len()` bytes at logical `addr` as `how` says (address
    /// space, access register and its contents, key) instead of the PSW's space and key.
    /// DAT is on (the caller checked). Default: [`Storage::read`], for a storage with one
    /// address space and no keys.
    fn read_in(&mut self, how: OperandAccess, addr: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        let _ = how;
        self.read(addr, buf)
    }

    /// MVCOS's operand store, as [`Storage::read_in`] and all-or-nothing like
    /// [`Storage::write`]. Default: [`Storage::write`].
    fn write_in(&mut self, how: OperandAccess, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        let _ = how;
        self.write(addr, buf)
    }

    /// Translate the logical address of an instruction fetch to its absolute address (the
    /// key of the instruction cache).
    fn fetch_absolute(&mut self, addr: u64) -> Result<u64, Pgm>;

    /// Read bytes at an absolute address: instruction bytes at an address `fetch_absolute`
    /// returned, and (supervisor instructions) any absolute address, e.g. SPX probing the
    /// new prefix area or IPTE reading a table entry. `Err(Pgm::Addressing)` outside the
    /// configuration; no protection applies. The instruction cache's hit path goes through
    /// [`Storage::fetch_code`] instead.
    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> Result<(), Pgm>;

    /// An instruction fetch for the instruction cache's hit path: the absolute address of
    /// logical `addr` (as [`Storage::fetch_absolute`]) and the eight bytes there as one
    /// big-endian word (byte 0 in bits 0-7); bytes beyond the end of the 4 KiB page are
    /// unspecified (the cache never compares them). One call instead of two, and no
    /// variable-length copy. Default: [`Storage::fetch_absolute`] and
    /// [`Storage::read_absolute`] of the bytes up to the page end (at most eight).
    #[inline]
    fn fetch_code(&mut self, addr: u64) -> Result<(u64, u64), Pgm> {
        let abs = self.fetch_absolute(addr)?;
        let n = (0x1000 - (abs & 0xfff) as usize).min(8);
        let mut b = [0u8; 8];
        self.read_absolute(abs, &mut b[..n])?;
        Ok((abs, u64::from_be_bytes(b)))
    }

    /// Read `n` (1..=8) bytes at logical `addr` as a big-endian number (the common
    /// operand fetch). Default: [`Storage::read`].
    #[inline]
    fn read_be(&mut self, addr: u64, n: usize) -> Result<u64, Pgm> {
        let mut b = [0u8; 8];
        let n = n.clamp(1, 8);
        self.read(addr, &mut b[8 - n..])?;
        Ok(u64::from_be_bytes(b))
    }

    /// Store the low `n` (1..=8) bytes of `v` big-endian at logical `addr` (the common
    /// operand store), all or nothing as [`Storage::write`]. Default: [`Storage::write`].
    #[inline]
    fn write_be(&mut self, addr: u64, n: usize, v: u64) -> Result<(), Pgm> {
        let b = v.to_be_bytes();
        self.write(addr, &b[8 - n.clamp(1, 8)..])
    }

    /// A write generation of the absolute page `abs >> 12`. The instruction cache does not
    /// use it (it compares the instruction's bytes on every hit, see `icache`: that also
    /// sees the VMM's plain stores, which no counter does); kept for implementations that
    /// track one. Default: 0.
    fn page_generation(&self, abs: u64) -> u64 {
        let _ = abs;
        0
    }

    // ---- The machine behind the storage: what the supervisor instructions need beyond
    // logical operand accesses. Every method has a default so an implementation compiles
    // without it. A default of `Err(Pgm::Intercept { ipa: 0, ipb: 0 })` means "this machine
    // does not do it here": the executor turns it into an intercept of the instruction that
    // asked (its `ipa`/`ipb`, the PSW left at it), exactly as if SIE had intercepted it, so
    // the binding can hand it to its intercept handlers. No method is called in the problem
    // state for a privileged instruction (the executor checks that first), and none is
    // called before the instruction's operand specification and alignment checks passed.

    /// Store `buf` at absolute `abs` (the executor applied prefixing to a real address
    /// itself). No key-controlled or low-address protection (the executor checks the latter
    /// where the instruction says). Bumps the page generations like [`Storage::write`];
    /// `Err(Pgm::Addressing)` outside the configuration. Used by STFL (lowcore), TB and PFMF
    /// (frame clearing), IPTE/IDTE (DAT-table entries) and CSP/CSPG.
    /// Default: intercept.
    fn write_absolute(&mut self, abs: u64, buf: &[u8]) -> Result<(), Pgm> {
        let _ = (abs, buf);
        Err(INTERCEPT)
    }

    /// Interlocked compare-and-swap of 4 or 8 naturally aligned bytes at absolute `abs`, as
    /// [`Storage::cas`] for a logical address (CSP/CSPG, IPTE/IDTE setting invalid bits
    /// while other CPUs walk the tables). Default: [`Storage::read_absolute`] and
    /// [`Storage::write_absolute`] (not interlocked; right for a single-CPU test machine).
    fn cas_absolute(&mut self, abs: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        let mut cur = [0u8; 16];
        let cur = &mut cur[..old.len()];
        self.read_absolute(abs, cur)?;
        if cur == old {
            self.write_absolute(abs, new)?;
            Ok(true)
        } else {
            old.copy_from_slice(cur);
            Ok(false)
        }
    }

    /// The CPU's translation context changed: a new PSW mask (DAT, address-space control,
    /// key, addressing mode: LPSW(E), SSM, STNSM, STOSM, SAC(F), SPKA), control registers
    /// (LCTL(G): ASCEs in CR1/7/13, CR0 controls) or prefix (SPX). Called after the change,
    /// before the next access. Subsequent [`Storage::read`]/[`Storage::write`]/
    /// [`Storage::fetch_absolute`] must translate with the new context; a TLB keyed by the
    /// ASCE may stay (the architecture purges only on PTLB/IPTE/IDTE/CSP, see
    /// [`Storage::purge_tlb`]). Default: nothing (no DAT).
    fn control_changed(&mut self, cpu: &super::Cpu) {
        let _ = cpu;
    }

    /// Purge translation-lookaside buffers: this CPU's (`all_cpus == false`: PTLB, IPTE/IDTE
    /// with the local-clearing control) or every CPU's in the configuration (IPTE/IDTE
    /// without it, CSP/CSPG with the purge bit). Called after the table entries were
    /// changed. Default: nothing (no TLB).
    fn purge_tlb(&mut self, all_cpus: bool) {
        let _ = all_cpus;
    }

    /// Translate logical `addr` (already wrapped to the addressing mode) in the current
    /// address space to an absolute address without accessing it (IVSK). Translation
    /// exceptions as `Pgm::Other` with their TEID, `Pgm::Addressing` beyond the
    /// configuration. Default: [`Storage::fetch_absolute`] (which translates the same way,
    /// without the instruction-fetch-only checks an implementation may add there).
    fn translate(&mut self, addr: u64) -> Result<u64, Pgm> {
        self.fetch_absolute(addr)
    }

    /// LOAD REAL ADDRESS: walk the DAT tables for logical `addr` in the address space the
    /// PSW selects (access-register mode: `alet` is the access register's contents), with
    /// DAT on regardless of PSW bit 5. The result decides the condition code (see
    /// [`LraResult`]). An addressing exception while fetching a table entry is a program
    /// interruption (`Err`). Default: intercept.
    fn lra(&mut self, addr: u64, alet: u32) -> Result<LraResult, Pgm> {
        let _ = (addr, alet);
        Err(INTERCEPT)
    }

    /// TEST PROTECTION of logical `addr` with access `key` (0-15): the condition code.
    /// 0 fetch and store permitted; 1 fetch permitted, store not (key mismatch on a
    /// non-fetch-protected frame, or DAT protection); 2 neither; 3 translation not available
    /// (a translation exception during the walk). Addressing (the frame or a table entry
    /// outside the configuration) is `Err(Pgm::Addressing)`, a translation-specification
    /// exception `Err(Pgm::Other { code: 0x12, .. })` (the kernel's `handle_tprot`).
    /// Default: intercept.
    fn test_protection(&mut self, addr: u64, key: u8) -> Result<u8, Pgm> {
        let _ = (addr, key);
        Err(INTERCEPT)
    }

    /// The storage key of the 4 KiB frame holding absolute `abs`: access-control bits 0-3,
    /// fetch protection, reference, change (bits 4-6 of the returned byte as ISKE returns
    /// it: `acc << 4 | f << 3 | r << 2 | c << 1`, bit 7 zero). A machine whose keys are not
    /// yet in use enables them first (KVM's `kvm_s390_skey_check_enable`).
    /// `Err(Pgm::Addressing)` outside the configuration. Default: intercept (SIE intercepts
    /// the key instructions while keys are off).
    fn storage_key(&mut self, abs: u64) -> Result<u8, Pgm> {
        let _ = abs;
        Err(INTERCEPT)
    }

    /// Set the storage key of the frame holding absolute `abs` to `key` (same layout as
    /// [`Storage::storage_key`]; bit 7 ignored). `nq`: the non-quiescing option (only a
    /// performance hint). Default: intercept.
    fn set_storage_key(&mut self, abs: u64, key: u8, nq: bool) -> Result<(), Pgm> {
        let _ = (abs, key, nq);
        Err(INTERCEPT)
    }

    /// RESET REFERENCE BIT EXTENDED on the frame holding absolute `abs`: clear the reference
    /// bit atomically with respect to other CPUs, return the key before. Default:
    /// [`Storage::storage_key`] then [`Storage::set_storage_key`].
    fn reset_reference_bit(&mut self, abs: u64) -> Result<u8, Pgm> {
        let k = self.storage_key(abs)?;
        self.set_storage_key(abs, k & !0x04, false)?;
        Ok(k)
    }

    /// The guest TOD clock as STCK/STCKE/STCKF read it: (epoch index, bits 0-63), i.e. the
    /// host clock plus the VM's epoch (with the multiple-epoch extension's carry into the
    /// index). Successive calls on one CPU return increasing values (STCK's uniqueness).
    /// Default: intercept.
    fn tod_clock(&mut self) -> Result<(u8, u64), Pgm> {
        Err(INTERCEPT)
    }

    /// SET CLOCK: make the guest TOD clock read `tod` (KVM adjusts the VM's epoch for every
    /// CPU, `kvm_s390_set_tod_clock`). Default: intercept.
    fn set_tod_clock(&mut self, tod: u64) -> Result<(), Pgm> {
        let _ = tod;
        Err(INTERCEPT)
    }

    /// The CPU timer's current value (it decrements while the CPU runs). Default: intercept.
    fn cpu_timer(&mut self) -> Result<u64, Pgm> {
        Err(INTERCEPT)
    }

    /// SET CPU TIMER. The machine re-evaluates the CPU-timer interruption condition (value
    /// negative) before the next instruction. Default: intercept.
    fn set_cpu_timer(&mut self, v: u64) -> Result<(), Pgm> {
        let _ = v;
        Err(INTERCEPT)
    }

    /// The clock comparator. Default: intercept.
    fn clock_comparator(&mut self) -> Result<u64, Pgm> {
        Err(INTERCEPT)
    }

    /// SET CLOCK COMPARATOR. The machine re-evaluates the clock-comparator interruption
    /// condition (TOD > comparator) before the next instruction. Default: intercept.
    fn set_clock_comparator(&mut self, v: u64) -> Result<(), Pgm> {
        let _ = v;
        Err(INTERCEPT)
    }

    /// The VM's facility list as STFLE and STFL store it (the CPU model's list, word 0 bit 0
    /// = facility 0), or `None` to use the executor's own ([`super::Cpu::facilities`]).
    /// Default: `None`.
    fn facility_list(&self) -> Option<&[u64]> {
        None
    }
}

/// The "not here" answer of a machine method (see [`Storage`]): an intercept with zero
/// `ipa` (no instruction has opcode 0x00), which the executor completes with the bytes of
/// the instruction that asked.
pub(crate) const INTERCEPT: Pgm = Pgm::Intercept { ipa: 0, ipb: 0 };

/// What LOAD REAL ADDRESS found (SA22-7832 "Load Real Address").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LraResult {
    /// CC 0: the real address of the byte.
    Real(u64),
    /// CC 1: the segment-table entry (or, with EDAT, the region-third-table entry of a
    /// 2 GiB frame) has the invalid bit on: the real address of that entry.
    InvalidSegment(u64),
    /// CC 2: the page-table entry has the invalid bit on: its real address.
    InvalidPage(u64),
    /// CC 3: an ASCE-type, region-first/second/third-translation or segment-translation
    /// exception (invalid region entry, table length exceeded, wrong table type): the
    /// program-interruption code (0x38, 0x39, 0x3a, 0x3b, 0x10).
    Exception(u16),
}

/// Storage over a flat byte vector: logical address = absolute address (no DAT, no
/// prefixing of logical accesses), no protection on operand accesses; beyond the end is an
/// addressing exception. Tracks one write generation per page.
///
/// It is also a complete test machine for the supervisor instructions: a storage key per
/// 4 KiB frame (TPROT checks them), a TOD clock that advances by one microsecond per read,
/// a CPU timer and clock comparator held as values, LRA translating every address to
/// itself, and a count of TLB purges.
#[derive(Debug, Clone)]
pub struct VecStorage {
    /// The bytes.
    pub mem: Vec<u8>,
    gens: Vec<u64>,
    /// Storage keys, one per 4 KiB frame (ISKE layout).
    pub keys: Vec<u8>,
    /// The TOD clock (bits 0-63) the next read returns; each read advances it by 1 us.
    pub tod: u64,
    /// The TOD epoch index STCKE stores.
    pub tod_epoch_idx: u8,
    /// The CPU timer.
    pub cpu_timer: u64,
    /// The clock comparator.
    pub clock_comparator: u64,
    /// TLB purges requested: (local, all CPUs).
    pub purges: (u32, u32),
}

impl VecStorage {
    /// `size` bytes of zeros.
    pub fn new(size: usize) -> Self {
        VecStorage {
            mem: vec![0; size],
            gens: vec![0; size.div_ceil(4096)],
            keys: vec![0; size.div_ceil(4096)],
            tod: 0,
            tod_epoch_idx: 0,
            cpu_timer: 0,
            clock_comparator: 0,
            purges: (0, 0),
        }
    }

    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Pgm> {
        let start = usize::try_from(addr).map_err(|_| Pgm::Addressing)?;
        let end = start.checked_add(len).ok_or(Pgm::Addressing)?;
        if end > self.mem.len() {
            return Err(Pgm::Addressing);
        }
        Ok(start..end)
    }

    /// The eight bytes at `addr` as a big-endian word, when all of them are inside.
    #[inline]
    fn word(&self, addr: u64) -> Option<u64> {
        let a = usize::try_from(addr).ok()?;
        let b: [u8; 8] = self.mem.get(a..a.checked_add(8)?)?.try_into().ok()?;
        Some(u64::from_be_bytes(b))
    }

    /// Store from outside the CPU (a VMM or memop write): bumps the page generations.
    pub fn store(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        self.write(addr, buf)
    }

    fn bump(&mut self, r: &std::ops::Range<usize>) {
        if r.is_empty() {
            return;
        }
        for p in r.start / 4096..=(r.end - 1) / 4096 {
            self.gens[p] = self.gens[p].wrapping_add(1);
        }
    }
}

impl Storage for VecStorage {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        let r = self.range(addr, buf.len())?;
        self.mem[r.clone()].copy_from_slice(buf);
        self.bump(&r);
        Ok(())
    }

    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        let r = self.range(addr, new.len())?;
        if self.mem[r.clone()] == *old {
            self.mem[r.clone()].copy_from_slice(new);
            self.bump(&r);
            Ok(true)
        } else {
            old.copy_from_slice(&self.mem[r]);
            Ok(false)
        }
    }

    fn fetch_absolute(&mut self, addr: u64) -> Result<u64, Pgm> {
        self.range(addr, 2)?;
        Ok(addr)
    }

    #[inline]
    fn fetch_code(&mut self, addr: u64) -> Result<(u64, u64), Pgm> {
        if let Some(w) = self.word(addr) {
            return Ok((addr, w));
        }
        let abs = self.fetch_absolute(addr)?;
        let n = (0x1000 - (abs & 0xfff) as usize).min(8);
        let mut b = [0u8; 8];
        self.read_absolute(abs, &mut b[..n])?;
        Ok((abs, u64::from_be_bytes(b)))
    }

    #[inline]
    fn read_be(&mut self, addr: u64, n: usize) -> Result<u64, Pgm> {
        let n = n.clamp(1, 8);
        match self.word(addr) {
            Some(w) => Ok(w >> (64 - 8 * n)),
            None => {
                let mut b = [0u8; 8];
                self.read(addr, &mut b[8 - n..])?;
                Ok(u64::from_be_bytes(b))
            }
        }
    }

    #[inline]
    fn write_be(&mut self, addr: u64, n: usize, v: u64) -> Result<(), Pgm> {
        let n = n.clamp(1, 8);
        let b = v.to_be_bytes();
        let r = self.range(addr, n)?;
        self.mem[r.clone()].copy_from_slice(&b[8 - n..]);
        self.bump(&r);
        Ok(())
    }

    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        self.read(abs, buf)
    }

    fn page_generation(&self, abs: u64) -> u64 {
        usize::try_from(abs >> 12)
            .ok()
            .and_then(|p| self.gens.get(p))
            .copied()
            .unwrap_or(0)
    }

    fn write_absolute(&mut self, abs: u64, buf: &[u8]) -> Result<(), Pgm> {
        self.write(abs, buf)
    }

    fn cas_absolute(&mut self, abs: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        self.cas(abs, old, new)
    }

    fn purge_tlb(&mut self, all_cpus: bool) {
        if all_cpus {
            self.purges.1 += 1;
        } else {
            self.purges.0 += 1;
        }
    }

    fn translate(&mut self, addr: u64) -> Result<u64, Pgm> {
        self.range(addr, 1)?;
        Ok(addr)
    }

    fn lra(&mut self, addr: u64, _alet: u32) -> Result<LraResult, Pgm> {
        Ok(LraResult::Real(addr))
    }

    fn test_protection(&mut self, addr: u64, key: u8) -> Result<u8, Pgm> {
        let sk = self.storage_key(addr)?;
        Ok(if key == 0 || key == sk >> 4 {
            0
        } else if sk & 0x08 == 0 {
            1
        } else {
            2
        })
    }

    fn storage_key(&mut self, abs: u64) -> Result<u8, Pgm> {
        self.range(abs, 1)?;
        Ok(self.keys[(abs >> 12) as usize])
    }

    fn set_storage_key(&mut self, abs: u64, key: u8, _nq: bool) -> Result<(), Pgm> {
        self.range(abs, 1)?;
        self.keys[(abs >> 12) as usize] = key & 0xfe;
        Ok(())
    }

    fn tod_clock(&mut self) -> Result<(u8, u64), Pgm> {
        let t = self.tod;
        self.tod = self.tod.wrapping_add(1 << 12);
        Ok((self.tod_epoch_idx, t))
    }

    fn set_tod_clock(&mut self, tod: u64) -> Result<(), Pgm> {
        self.tod = tod;
        Ok(())
    }

    fn cpu_timer(&mut self) -> Result<u64, Pgm> {
        Ok(self.cpu_timer)
    }

    fn set_cpu_timer(&mut self, v: u64) -> Result<(), Pgm> {
        self.cpu_timer = v;
        Ok(())
    }

    fn clock_comparator(&mut self) -> Result<u64, Pgm> {
        Ok(self.clock_comparator)
    }

    fn set_clock_comparator(&mut self, v: u64) -> Result<(), Pgm> {
        self.clock_comparator = v;
        Ok(())
    }
}
