//! `KVM_S390_MEM_OP` on the VM fd: absolute read, write and compare-and-swap of guest memory,
//! with storage-key protection.

use super::memslot::{MemSlot, MemSlots, PAGE_SIZE};
use super::skeys::{key_permits, SKEY_C, SKEY_R};
use super::Vm;
use crate::error::{Error, MemOpRule, Result};
use crate::host::kernel::kernel;
use crate::ioctl::user::UserBuf;
use crate::rcu::Section;
use crate::uaccess;
use crate::uapi::*;

/// Writes up to this size inside one page are staged on the stack rather than probed.
const STAGE_MAX: usize = 64;

/// `MEM_OP_MAX_SIZE`: the largest `size` of a memop.
pub(crate) const MEM_OP_MAX_SIZE: u32 = 65536;
/// Program-interruption code: protection exception.
pub(crate) const PGM_PROTECTION: u16 = 0x04;
/// Program-interruption code: addressing exception.
pub(crate) const PGM_ADDRESSING: u16 = 0x05;

/// A memop that did not fail with an errno: it completed, or the access would cause (or, with
/// CHECK_ONLY, would have caused) a program exception, whose code the ioctl returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemOpOutcome {
    /// The access completed (for cmpxchg: whether it exchanged is told through `old_addr`).
    Done,
    /// The access raised this program-interruption code.
    Exception(u16),
}

impl MemOpOutcome {
    /// The ioctl return value: 0, or the positive program-interruption code.
    pub fn ret(self) -> i32 {
        match self {
            MemOpOutcome::Done => 0,
            MemOpOutcome::Exception(pic) => i32::from(pic),
        }
    }
}

bitflags::bitflags! {
    /// `kvm_s390_mem_op::flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct MemOpFlags: u64 {
        /// Check the access only; move no data.
        const CHECK_ONLY = KVM_S390_MEMOP_F_CHECK_ONLY;
        /// Queue the program exception an access raises (vCPU logical memops).
        const INJECT_EXCEPTION = KVM_S390_MEMOP_F_INJECT_EXCEPTION;
        /// Check the access against `key`.
        const SKEY_PROTECTION = KVM_S390_MEMOP_F_SKEY_PROTECTION;
    }
}

impl MemOpFlags {
    /// The flags of `mop` (unknown bits kept, so validation sees them).
    pub fn of(mop: &kvm_s390_mem_op) -> Self {
        Self::from_bits_retain(mop.flags)
    }
}

/// `mem_op_validate_common`: flags, size and key; returns the effective access key (0 when
/// key protection is not requested, whatever the `key` field holds).
pub fn validate_common(mop: &kvm_s390_mem_op, supported: MemOpFlags) -> Result<u8> {
    let flags = MemOpFlags::of(mop);
    if !supported.contains(flags) || mop.size == 0 {
        return Err(Error::MemOp(MemOpRule::FlagsOrSize));
    }
    if mop.size > MEM_OP_MAX_SIZE {
        return Err(Error::MemOpTooBig);
    }
    if !flags.contains(MemOpFlags::SKEY_PROTECTION) {
        return Ok(0);
    }
    let key = mop.ext().key;
    if key > 15 {
        return Err(Error::MemOp(MemOpRule::Key));
    }
    Ok(key)
}

/// Runs `f` with a bounce buffer of `size` (at most [`MEM_OP_MAX_SIZE`]) bytes: a per-thread
/// buffer allocated once, so a memop neither allocates nor zeroes memory (the kernel allocates
/// one per call). Falls back to a fresh allocation if the thread's buffer is in use.
pub(crate) fn with_bounce<R>(size: usize, f: impl FnOnce(&mut [u8]) -> Result<R>) -> Result<R> {
    thread_local! {
        static BOUNCE: std::cell::RefCell<Box<[u8]>> =
            std::cell::RefCell::new(vec![0u8; MEM_OP_MAX_SIZE as usize].into_boxed_slice());
    }
    let mut f = Some(f);
    let reused = BOUNCE.try_with(|b| {
        let mut buf = b.try_borrow_mut().ok()?;
        let f = f.take()?;
        Some(f(&mut buf[..size]))
    });
    if let Ok(Some(r)) = reused {
        return r;
    }
    // `f` is only taken when the per-thread buffer was available.
    let f = f.ok_or(Error::OutOfMemory)?;
    let mut v = Vec::new();
    v.try_reserve_exact(size).map_err(|_| Error::OutOfMemory)?;
    v.resize(size, 0);
    f(&mut v)
}

/// A one-copy access of `len` bytes between guest memory at `hva` and the caller's buffer
/// at `buf` faulted: which side? A read whose guest memory is still readable faulted on the
/// caller's buffer (EFAULT, as the kernel's `copy_to_user`); a write whose source is still
/// readable (it was probed before) faulted on guest memory. A guest-side fault is the
/// kernel's protection exception (it cannot tell a key fault from a host fault).
fn which_side_faulted(store: bool, hva: u64, buf: u64, len: usize) -> Result<MemOpOutcome> {
    let caller_side = if store {
        uaccess::probe_read(buf, len).is_err()
    } else {
        uaccess::probe_read(hva, len).is_ok()
    };
    if caller_side {
        Err(Error::Fault)
    } else {
        Ok(MemOpOutcome::Exception(PGM_PROTECTION))
    }
}

/// Page fragments of [ga, ga+len): (address, length) pairs split at 4 KiB boundaries. Guest
/// absolute addresses wrap at 2^64.
fn fragments(ga: u64, len: usize) -> impl Iterator<Item = (u64, usize)> {
    let mut ga = ga;
    let mut left = len;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let n = left.min((PAGE_SIZE - ga % PAGE_SIZE) as usize);
        let frag = (ga, n);
        ga = ga.wrapping_add(n as u64);
        left -= n;
        Some(frag)
    })
}

impl Vm {
    /// `KVM_S390_MEM_OP` on the VM fd: the ioctl's return value. Runs inside `section` (the
    /// dispatcher's, as the kernel's runs inside `kvm->srcu`).
    #[inline(always)]
    pub fn mem_op(&self, mop: &kvm_s390_mem_op, section: &Section) -> Result<i32> {
        // The common cmpxchg first: no flags and a size up to 16 pass every check of
        // `mem_op_validate_common` and the op's size limit, and the key is 0.
        if mop.op == KVM_S390_MEMOP_ABSOLUTE_CMPXCHG
            && mop.flags == 0
            && mop.size.wrapping_sub(1) < 16
            && kernel().has_memop_cmpxchg()
        {
            if let Some(done) = self.cmpxchg_one_pass(mop, mop.size as usize, section) {
                return done;
            }
        }
        match mop.op {
            KVM_S390_MEMOP_ABSOLUTE_READ | KVM_S390_MEMOP_ABSOLUTE_WRITE => self.mem_op_abs(mop),
            // Linux 6.3 added the op; older kernels reject it like any unknown op.
            KVM_S390_MEMOP_ABSOLUTE_CMPXCHG if kernel().has_memop_cmpxchg() => {
                self.mem_op_cmpxchg(mop)
            }
            _ => Err(Error::MemOp(MemOpRule::Op)),
        }
        .map(MemOpOutcome::ret)
    }

    #[inline(never)]
    fn mem_op_abs(&self, mop: &kvm_s390_mem_op) -> Result<MemOpOutcome> {
        let key = validate_common(mop, MemOpFlags::CHECK_ONLY | MemOpFlags::SKEY_PROTECTION)?;
        let store = mop.op == KVM_S390_MEMOP_ABSOLUTE_WRITE;
        let size = mop.size as usize;
        let check_only = MemOpFlags::of(mop).contains(MemOpFlags::CHECK_ONLY);
        let slots = self.memslots();
        let gfn = mop.gaddr / PAGE_SIZE;
        let first = slots.by_gfn(gfn);
        // [6.x] an explicit addressing check of the first byte; [newest] (the gmap rewrite)
        // dropped it: the same 5 then comes from the page walk, after the buffer copy-in.
        if first.is_none() && !kernel().newest_memop() {
            return Ok(MemOpOutcome::Exception(PGM_ADDRESSING));
        }
        // Key check and access are one step with respect to SET_SKEYS.
        let _keys = (key != 0).then(|| self.keys_lock.read().unwrap_or_else(|e| e.into_inner()));
        if check_only {
            return Ok(self.check_abs_range(&slots, mop.gaddr, size, store, key));
        }
        if !uaccess::direct_copies() {
            // Copies go through the kernel or with the fault signals unblocked: stage once.
            return with_bounce(size, |bounce| {
                if store {
                    UserBuf::new(mop.buf, bounce.len()).read_into(bounce)?;
                }
                let r = self.access_abs(&slots, mop.gaddr, bounce, store, key);
                if r == MemOpOutcome::Done && !store {
                    UserBuf::new(mop.buf, bounce.len()).write_from(bounce)?;
                }
                Ok(r)
            });
        }
        match first {
            Some(slot) if mop.gaddr % PAGE_SIZE + size as u64 <= PAGE_SIZE => {
                self.access_page_direct(slot, gfn, mop.gaddr, mop.buf, size, store, key)
            }
            _ => self.access_abs_direct(&slots, mop.gaddr, mop.buf, size, store, key),
        }
    }

    /// The one-copy access of a range inside one guest page (the common small memop): one
    /// lookup, one key check, one copy. The guest side of the copy lies in one host page (slot
    /// memory is page aligned), so it faults at its first byte or not at all: a read whose
    /// guest page faults has written no caller byte, and a write whose source was probed
    /// readable writes either all of it or, if the guest page faults, none of it.
    #[allow(clippy::too_many_arguments)]
    fn access_page_direct(
        &self,
        slot: &MemSlot,
        gfn: u64,
        ga: u64,
        buf: u64,
        len: usize,
        store: bool,
        key: u8,
    ) -> Result<MemOpOutcome> {
        let idx = gfn - slot.base_gfn;
        let hva = slot.hva(gfn) + ga % PAGE_SIZE;
        if store && len <= STAGE_MAX {
            // A small write is staged (one copy in, as the kernel's bounce buffer).
            let mut stage = [0u8; STAGE_MAX];
            UserBuf::new(buf, len).read_into(&mut stage[..len])?;
            if key != 0 && !key_permits(key, slot.keys.get(idx), store) {
                return Ok(MemOpOutcome::Exception(PGM_PROTECTION));
            }
            if uaccess::copy_to_user(hva, &stage[..len]).is_err() {
                return Ok(MemOpOutcome::Exception(PGM_PROTECTION));
            }
            self.record_access(slot, idx, idx, store);
            return Ok(MemOpOutcome::Done);
        }
        if store {
            // A larger write has its source probed instead.
            uaccess::probe_read(buf, len).map_err(|_| Error::Fault)?;
        }
        if key != 0 && !key_permits(key, slot.keys.get(idx), store) {
            return Ok(MemOpOutcome::Exception(PGM_PROTECTION));
        }
        let (dst, src) = if store { (hva, buf) } else { (buf, hva) };
        if uaccess::copy_user_to_user(dst, src, len).is_err() {
            return which_side_faulted(store, hva, buf, len);
        }
        self.record_access(slot, idx, idx, store);
        Ok(MemOpOutcome::Done)
    }

    /// Sets R (and C on stores) in the storage keys of the slot's pages `first..=last` once
    /// the VM uses storage keys (test before the locked update), and marks stored pages dirty.
    #[inline]
    fn record_access(&self, slot: &MemSlot, first: u64, last: u64, store: bool) {
        if self.uses_skeys() {
            let bits = if store { SKEY_R | SKEY_C } else { SKEY_R };
            for idx in first..=last {
                slot.keys.or(idx, bits);
            }
        }
        if store {
            if let Some(d) = &slot.dirty {
                for idx in first..=last {
                    d.mark(idx);
                }
            }
        }
    }

    /// The one-copy absolute access: caller buffer and guest memory are copied into each other
    /// directly, one fault-recovering copy per run of pages inside one slot, keeping what the
    /// kernel's bounce buffer makes observable:
    /// * a write reads its whole source first in the kernel, so a source that faults writes
    ///   no guest byte: every source page is probed before the first guest byte is written
    ///   (EFAULT), and the write then proceeds run by run, stopping at the first page in no
    ///   slot (5) or whose key forbids the store (4), earlier pages stored, as in the kernel;
    /// * a read copies to the caller only once the whole guest range was read, so a read
    ///   that raises an exception leaves the caller's buffer untouched: every page is looked
    ///   up, key-checked and probed before the first caller byte is written;
    /// * key checks come before the copy of their page; R and C are set and stores mark
    ///   pages dirty as in [`Vm::access_abs`].
    ///
    /// A fault during the copy itself is told apart by [`which_side_faulted`].
    fn access_abs_direct(
        &self,
        slots: &MemSlots,
        ga: u64,
        buf: u64,
        len: usize,
        store: bool,
        key: u8,
    ) -> Result<MemOpOutcome> {
        if store {
            uaccess::probe_read(buf, len).map_err(|_| Error::Fault)?;
        } else {
            // Pass 1: the whole guest range must be readable before the caller sees a byte.
            let mut unreadable = false;
            let r = self.for_each_run(slots, ga, len, store, key, |_, hva, _, n| {
                unreadable = uaccess::probe_read(hva, n).is_err();
                !unreadable
            });
            if unreadable {
                // The kernel cannot tell a key fault from a host fault and assumes protection.
                return Ok(MemOpOutcome::Exception(PGM_PROTECTION));
            }
            if r != MemOpOutcome::Done {
                return Ok(r);
            }
        }
        let mut failed = None;
        let outcome = self.for_each_run(slots, ga, len, store, key, |slot, hva, off, n| {
            let user = buf.wrapping_add(off as u64);
            let (dst, src) = if store { (hva, user) } else { (user, hva) };
            if uaccess::copy_user_to_user(dst, src, n).is_err() {
                failed = Some(which_side_faulted(store, hva, user, n));
                return false;
            }
            let first = (hva - slot.userspace_addr) / PAGE_SIZE;
            let last = (hva + n as u64 - 1 - slot.userspace_addr) / PAGE_SIZE;
            self.record_access(slot, first, last, store);
            true
        });
        failed.unwrap_or(Ok(outcome))
    }

    /// Walks `[ga, ga + len)` in runs of pages that lie in one slot and that the access key
    /// permits, calling `f(slot, hva, offset, bytes)` for each; stops at the first page in no
    /// slot (5) or that the key forbids (4), after the runs before it, or when `f` returns
    /// false (the outcome is then `Done`; `f` records why). Guest absolute addresses wrap at
    /// 2^64.
    fn for_each_run(
        &self,
        slots: &MemSlots,
        ga: u64,
        len: usize,
        store: bool,
        key: u8,
        mut f: impl FnMut(&MemSlot, u64, usize, usize) -> bool,
    ) -> MemOpOutcome {
        let mut ga = ga;
        let mut off = 0usize;
        while off < len {
            let gfn = ga / PAGE_SIZE;
            let Some(slot) = slots.by_gfn(gfn) else {
                return MemOpOutcome::Exception(PGM_ADDRESSING);
            };
            let in_slot = (slot.end_gfn() - gfn) * PAGE_SIZE - ga % PAGE_SIZE;
            let mut n = (len - off).min(usize::try_from(in_slot).unwrap_or(usize::MAX));
            let mut denied = false;
            if key != 0 {
                // Cut the run at the first page the key forbids.
                let pages = (ga % PAGE_SIZE + n as u64).div_ceil(PAGE_SIZE);
                if let Some(p) = (0..pages)
                    .find(|&p| !key_permits(key, slot.keys.get(gfn - slot.base_gfn + p), store))
                {
                    denied = true;
                    n = n.min((p * PAGE_SIZE - ga % PAGE_SIZE) as usize);
                    if p == 0 {
                        n = 0;
                    }
                }
            }
            if n > 0 && !f(slot, slot.hva(gfn) + ga % PAGE_SIZE, off, n) {
                return MemOpOutcome::Done;
            }
            if denied {
                return MemOpOutcome::Exception(PGM_PROTECTION);
            }
            off += n;
            ga = ga.wrapping_add(n as u64);
        }
        MemOpOutcome::Done
    }

    /// `check_gpa_range`: each page must be in a slot (5) and permit the access (4). [6.x]
    /// with access key 0 every page passes unchecked; [newest] key 0 pages are still looked
    /// up, so an unbacked page is 5.
    fn check_abs_range(
        &self,
        slots: &MemSlots,
        ga: u64,
        len: usize,
        store: bool,
        key: u8,
    ) -> MemOpOutcome {
        if key == 0 && !kernel().newest_memop() {
            return MemOpOutcome::Done;
        }
        for (a, _) in fragments(ga, len) {
            let gfn = a / PAGE_SIZE;
            let Some(slot) = slots.by_gfn(gfn) else {
                return MemOpOutcome::Exception(PGM_ADDRESSING);
            };
            if key != 0 && !key_permits(key, slot.keys.get(gfn - slot.base_gfn), store) {
                return MemOpOutcome::Exception(PGM_PROTECTION);
            }
        }
        MemOpOutcome::Done
    }

    /// `access_guest_abs_with_key`: copies page fragment by page fragment between `data` and
    /// guest absolute memory; the first failing page stops the access (earlier stored pages
    /// stay stored). Sets R (and C on stores) in the storage keys and marks stored pages dirty.
    pub(crate) fn access_abs(
        &self,
        slots: &MemSlots,
        ga: u64,
        data: &mut [u8],
        store: bool,
        key: u8,
    ) -> MemOpOutcome {
        let uses_skeys = self.uses_skeys();
        let mut off = 0usize;
        for (a, n) in fragments(ga, data.len()) {
            let gfn = a / PAGE_SIZE;
            let Some(slot) = slots.by_gfn(gfn) else {
                return MemOpOutcome::Exception(PGM_ADDRESSING);
            };
            let idx = gfn - slot.base_gfn;
            if key != 0 && !key_permits(key, slot.keys.get(idx), store) {
                return MemOpOutcome::Exception(PGM_PROTECTION);
            }
            let hva = slot.hva(gfn) + a % PAGE_SIZE;
            let chunk = &mut data[off..off + n];
            let copied = if store {
                uaccess::copy_to_user(hva, chunk)
            } else {
                uaccess::copy_from_user(chunk, hva)
            };
            if copied.is_err() {
                // The kernel cannot tell a key fault from a host fault here and assumes protection.
                return MemOpOutcome::Exception(PGM_PROTECTION);
            }
            if uses_skeys {
                slot.keys
                    .or(idx, if store { SKEY_R | SKEY_C } else { SKEY_R });
            }
            if store {
                if let Some(d) = &slot.dirty {
                    d.mark(idx);
                }
            }
            off += n;
        }
        MemOpOutcome::Done
    }

    /// The cmpxchg step by step, in the kernel's order: validate, read both values from the
    /// caller, look up the slot, check alignment, size and key, exchange, store the value
    /// found.
    #[inline(never)]
    fn mem_op_cmpxchg(&self, mop: &kvm_s390_mem_op) -> Result<MemOpOutcome> {
        let key = validate_common(mop, MemOpFlags::SKEY_PROTECTION)?;
        let size = mop.size as usize;
        if size > 16 {
            return Err(Error::MemOp(MemOpRule::CmpxchgSize));
        }
        let old_addr = mop.ext().old_addr;
        let mut new = [0u8; 16];
        let mut old = [0u8; 16];
        UserBuf::new(mop.buf, size).read_into(&mut new[..size])?;
        UserBuf::new(old_addr, size).read_into(&mut old[..size])?;
        let slots = self.memslots();
        let gfn = mop.gaddr / PAGE_SIZE;
        let misaligned = mop.gaddr & (size as u64 - 1) != 0;
        // [newest] the alignment check comes before the addressing check.
        if misaligned && kernel().newest_memop() {
            return Err(Error::MemOp(MemOpRule::CmpxchgAlignment));
        }
        let Some(slot) = slots.by_gfn(gfn) else {
            return Ok(MemOpOutcome::Exception(PGM_ADDRESSING));
        };
        // cmpxchg_guest_abs_with_key: alignment (mask size-1), then the operand size.
        if misaligned {
            return Err(Error::MemOp(MemOpRule::CmpxchgAlignment));
        }
        if !size.is_power_of_two() {
            return Err(Error::MemOp(MemOpRule::CmpxchgSize));
        }
        let idx = gfn - slot.base_gfn;
        let hva = slot.hva(gfn) + mop.gaddr % PAGE_SIZE;
        let swapped = {
            let _keys =
                (key != 0).then(|| self.keys_lock.read().unwrap_or_else(|e| e.into_inner()));
            // A store access: with a non-zero key the storage key's ACC must match.
            if key == 0 || key_permits(key, slot.keys.get(idx), true) {
                uaccess::compare_exchange(hva, size, &mut old, &new)
            } else {
                Err(uaccess::Fault)
            }
        };
        self.after_cmpxchg(slot, idx, swapped.ok());
        let outcome = match swapped {
            Ok(exchanged) => (MemOpOutcome::Done, exchanged),
            // On a fault the kernel reports protection and the "observed" value is zero.
            Err(uaccess::Fault) => {
                old = [0; 16];
                (MemOpOutcome::Exception(PGM_PROTECTION), false)
            }
        };
        if !outcome.1 {
            UserBuf::new(old_addr, size).write_from(&old[..size])?;
        }
        Ok(outcome.0)
    }

    /// What `cmpxchg_guest_abs_with_key` does after the instruction on frame `idx` of `slot`:
    /// once the VM uses storage keys, the reference bit, and the change bit too if it
    /// exchanged (`exchanged` is `None` when the operand faulted: neither), then the dirty
    /// page in any case.
    #[inline(always)]
    fn after_cmpxchg(&self, slot: &MemSlot, idx: u64, exchanged: Option<bool>) {
        if let Some(x) = exchanged {
            if self.uses_skeys() {
                slot.keys.or(idx, if x { SKEY_R | SKEY_C } else { SKEY_R });
            }
        }
        if let Some(d) = &slot.dirty {
            d.mark(idx);
        }
    }

    /// The common cmpxchg (no key, a valid operand in a slot, the caller's buffers reachable
    /// in one pass, see [`uaccess::cmpxchg_user`]) with one routine for all its accesses.
    /// Everything the kernel checks between reading the caller's values and the exchange is
    /// checked first here; as none of it has an effect, the order is unobservable, except
    /// that a failing check must not hide an EFAULT on the caller's buffers — those cases
    /// return `None` and take the step-by-step path, which reads the buffers first.
    #[inline(always)]
    fn cmpxchg_one_pass(
        &self,
        mop: &kvm_s390_mem_op,
        size: usize,
        section: &Section,
    ) -> Option<Result<i32>> {
        use uaccess::CmpxchgUser::*;
        let old_addr = mop.ext().old_addr;
        // 1..=16 bytes (checked by the caller): a power of two, and aligned to it.
        if size & (size - 1) != 0 || mop.gaddr & (size as u64 - 1) != 0 {
            return None;
        }
        let slots = self.slots.load(section);
        let gfn = mop.gaddr / PAGE_SIZE;
        let slot = slots.by_gfn(gfn)?;
        let idx = gfn - slot.base_gfn;
        let hva = slot.hva(gfn) + mop.gaddr % PAGE_SIZE;
        let done = uaccess::cmpxchg_user(hva, size, mop.buf, old_addr)?;
        if done == Exchanged {
            // The common case first, as straight-line code.
            self.after_cmpxchg(slot, idx, Some(true));
            return Some(Ok(0));
        }
        if done == LoadFault {
            return Some(Err(Error::Fault));
        }
        // Not exchanged: the bookkeeping, then the caller's copy of the value found.
        self.after_cmpxchg(slot, idx, (done != GuestFault).then_some(false));
        Some(match done {
            // (Exchanged returned above.)
            Exchanged | Mismatch => Ok(0),
            // On a fault the kernel reports protection and the "observed" value is zero.
            GuestFault => UserBuf::new(old_addr, size)
                .write_from(&[0u8; 16][..size])
                .map(|()| i32::from(PGM_PROTECTION)),
            StoreFault | LoadFault => Err(Error::Fault),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments_split_at_pages_and_wrap() {
        let f: Vec<_> = fragments(4000, 200).collect();
        assert_eq!(f, vec![(4000, 96), (4096, 104)]);
        let f: Vec<_> = fragments(u64::MAX - 4095, 8192).collect();
        assert_eq!(f, vec![(u64::MAX - 4095, 4096), (0, 4096)]);
        assert_eq!(fragments(0, 0).count(), 0);
    }

    #[test]
    fn outcome_return_values() {
        assert_eq!(MemOpOutcome::Done.ret(), 0);
        assert_eq!(MemOpOutcome::Exception(PGM_PROTECTION).ret(), 4);
    }
}
