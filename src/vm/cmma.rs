//! `KVM_S390_GET_CMMA_BITS` / `KVM_S390_SET_CMMA_BITS` (spec vm.md C.2, C.3).

use super::memslot::MemSlots;
use super::Vm;
use crate::error::{CmmaRule, Error, Result};
use crate::ioctl::user::UserBuf;
use crate::uapi::*;

/// `KVM_S390_CMMA_SIZE_MAX`: the most values one call moves.
pub(crate) const KVM_S390_CMMA_SIZE_MAX: u32 = 1 << 20;
/// `KVM_S390_MAX_BIT_DISTANCE`: clean gaps up to this long are sent instead of ending a block.
pub(crate) const KVM_S390_MAX_BIT_DISTANCE: u64 = 16;
/// The value bits userspace sees: usage state (0x03) and NODAT (0x40).
pub(crate) const CMMA_VALUE_MASK: u8 = 0x43;

/// The first CMMA-dirty frame at or after `gfn` (the kernel's `kvm_s390_next_dirty_cmma`):
/// the search starts in the slot holding `gfn` (or the next one up, wrapping to the lowest
/// slot above the highest), continues upwards without wrapping, and ends at the end of the
/// last slot searched if nothing is dirty.
fn next_dirty(slots: &MemSlots, gfn: u64) -> u64 {
    let Some(first) = slots.at_or_after_wrapping(gfn) else {
        return 0;
    };
    let from = if first.contains(gfn) {
        gfn - first.base_gfn
    } else {
        0
    };
    let mut last = first;
    let mut ofs = first
        .dirty
        .as_ref()
        .map_or(first.npages, |d| d.cmma.next_set(from));
    if ofs < first.npages {
        return first.base_gfn + ofs;
    }
    for slot in slots.after(first) {
        last = slot;
        ofs = slot
            .dirty
            .as_ref()
            .map_or(slot.npages, |d| d.cmma.next_set(0));
        if ofs < slot.npages {
            return slot.base_gfn + ofs;
        }
    }
    last.base_gfn + ofs
}

impl Vm {
    /// `KVM_S390_GET_CMMA_BITS`. On success the caller copies `log` back to userspace.
    pub fn get_cmma_bits(&self, log: &mut kvm_s390_cmma_log) -> Result<i32> {
        let _slots_lock = self.slots_lock.lock().unwrap_or_else(|e| e.into_inner());
        let slots = self.memslots();
        let mut st = self.state();
        if !st.use_cmma {
            return Err(Error::Cmma(CmmaRule::NotEnabled));
        }
        if log.flags & !KVM_S390_CMMA_PEEK != 0 {
            return Err(Error::Cmma(CmmaRule::Flags));
        }
        let peek = log.flags & KVM_S390_CMMA_PEEK != 0;
        if !peek && !st.migration_mode {
            return Err(Error::Cmma(CmmaRule::NoMigrationMode));
        }
        let bufsize = log.count.min(KVM_S390_CMMA_SIZE_MAX) as usize;
        let zero = kvm_s390_cmma_log {
            start_gfn: 0,
            count: 0,
            flags: 0,
            u: kvm_s390_cmma_log_u { remaining: 0 },
            values: 0,
        };
        if bufsize == 0 || !st.uses_cmm || (!peek && st.cmma_dirty_pages == 0) {
            // The kernel zeroes the whole struct, `values` included.
            *log = zero;
            return Ok(0);
        }
        let mut values = Vec::new();
        values
            .try_reserve_exact(bufsize)
            .map_err(|_| Error::OutOfMemory)?;
        let result = if peek {
            Self::peek_cmma(&slots, log, &mut values, bufsize)
        } else {
            Self::harvest_cmma(&slots, &mut st.cmma_dirty_pages, log, &mut values, bufsize);
            Ok(0)
        };
        log.u.remaining = if st.migration_mode {
            st.cmma_dirty_pages
        } else {
            0
        };
        drop(st);
        UserBuf::new(log.values, log.count as usize).write_from(&values[..log.count as usize])?;
        result
    }

    fn peek_cmma(
        slots: &MemSlots,
        log: &mut kvm_s390_cmma_log,
        values: &mut Vec<u8>,
        bufsize: usize,
    ) -> Result<i32> {
        log.count = 0;
        let mut gfn = log.start_gfn;
        while values.len() < bufsize {
            let Some(slot) = slots.by_gfn(gfn) else {
                return if values.is_empty() {
                    Err(Error::Cmma(CmmaRule::NoMemory))
                } else {
                    Ok(0)
                };
            };
            values.push(slot.cmma.get(gfn - slot.base_gfn) & CMMA_VALUE_MASK);
            log.count += 1;
            gfn = gfn.wrapping_add(1);
        }
        Ok(0)
    }

    /// Migration-mode harvesting (the kernel's `kvm_s390_get_cmma`): from the first
    /// CMMA-dirty frame at or after `start_gfn`, report values and clear their dirty bits,
    /// sending clean gaps of up to 16 frames, until a longer gap, the end of memory, or the
    /// buffer ends the block.
    fn harvest_cmma(
        slots: &MemSlots,
        dirty_pages: &mut u64,
        log: &mut kvm_s390_cmma_log,
        values: &mut Vec<u8>,
        bufsize: usize,
    ) {
        if slots.is_empty() {
            // Migration mode with every slot deleted: report nothing.
            log.count = 0;
            return;
        }
        let mut cur = next_dirty(slots, log.start_gfn);
        log.count = 0;
        log.start_gfn = cur;
        let Some(mut slot) = slots.by_gfn(cur) else {
            return;
        };
        let mut next = next_dirty(slots, cur + 1);
        let mem_end = slots.end_gfn();
        while values.len() < bufsize {
            if !slot.contains(cur) {
                return;
            }
            let idx = cur - slot.base_gfn;
            if slot
                .dirty
                .as_ref()
                .is_some_and(|d| d.cmma.test_and_clear(idx))
            {
                *dirty_pages = dirty_pages.saturating_sub(1);
            }
            values.push(slot.cmma.get(idx) & CMMA_VALUE_MASK);
            log.count += 1;
            if next > cur + KVM_S390_MAX_BIT_DISTANCE {
                return;
            }
            if cur == next {
                next = next_dirty(slots, cur + 1);
            }
            if next >= mem_end || next.wrapping_sub(log.start_gfn) >= bufsize as u64 {
                return;
            }
            cur += 1;
            if cur - slot.base_gfn >= slot.npages {
                match slots.by_gfn(cur) {
                    Some(s) => slot = s,
                    None => return,
                }
            }
        }
    }

    /// ESSA from a guest program on the frame at absolute `gpa` with operation request code
    /// `orc`, as `handle_essa`/`__do_essa`/`pgste_perform_essa` do for a resident page:
    /// 0 extract, 1 stable (clears NODAT), 2 unused, 3 volatile, 4 potentially volatile,
    /// 5/6 stable, 7 stable with NODAT (only with facility 147). Returns the value the
    /// instruction puts in R1: the previous usage state × 4, plus 0x20 if NODAT was set. The
    /// first ESSA makes the VM use CMMA; a state change (any code but 0) in migration mode
    /// marks the page CMMA-dirty. Program exceptions in the kernel's order: operation (no
    /// CMMA), privileged operation (problem state), specification (code), addressing.
    pub fn essa(&self, gpa: u64, orc: u8, problem_state: bool) -> std::result::Result<u8, u16> {
        let mut st = self.state();
        if !st.use_cmma {
            return Err(0x01);
        }
        if problem_state {
            return Err(0x02);
        }
        let max = if st.has_facility(147) { 7 } else { 6 };
        if orc > max {
            return Err(0x06);
        }
        // (bits replaced, their new value) in the CMMA byte: usage 0x03, NODAT 0x40.
        let (mask, value) = match orc {
            0 => (0, 0),
            1 => (0x43, 0),
            2 => (0x03, 1),
            3 => (0x03, 3),
            4 => (0x03, 2),
            5 | 6 => (0x03, 0),
            _ => (0x43, 0x40),
        };
        let slots = self.memslots();
        let slot = slots.by_gfn(gpa / 4096).ok_or(0x05u16)?;
        let idx = gpa / 4096 - slot.base_gfn;
        st.uses_cmm = true;
        let old = slot.cmma.get(idx);
        if orc != 0 {
            slot.cmma.update(idx, mask, value);
            if st.migration_mode {
                if let Some(d) = &slot.dirty {
                    if d.cmma.set(idx) {
                        st.cmma_dirty_pages += 1;
                    }
                }
            }
        }
        Ok(((old & 0x03) << 2) | if old & 0x40 != 0 { 0x20 } else { 0 })
    }

    /// `KVM_S390_SET_CMMA_BITS`: `mask` selects value bits in PGSTE positions (bits 24..31).
    pub fn set_cmma_bits(&self, log: &kvm_s390_cmma_log) -> Result<i32> {
        let _slots_lock = self.slots_lock.lock().unwrap_or_else(|e| e.into_inner());
        if !self.state().use_cmma {
            return Err(Error::Cmma(CmmaRule::NotEnabled));
        }
        if log.flags != 0 {
            return Err(Error::Cmma(CmmaRule::Flags));
        }
        if log.count > KVM_S390_CMMA_SIZE_MAX {
            return Err(Error::Cmma(CmmaRule::Count));
        }
        if log.count == 0 {
            return Ok(0);
        }
        let mut bits = Vec::new();
        bits.try_reserve_exact(log.count as usize)
            .map_err(|_| Error::OutOfMemory)?;
        bits.resize(log.count as usize, 0);
        UserBuf::new(log.values, bits.len()).read_into(&mut bits)?;
        let mask = ((log.mask() & 0x4300_0000) >> 24) as u8;
        let slots = self.memslots();
        let mut result = Ok(0);
        for (i, &b) in bits.iter().enumerate() {
            let gfn = log.start_gfn.wrapping_add(i as u64);
            let Some(slot) = slots.by_gfn(gfn) else {
                result = Err(Error::Cmma(CmmaRule::NoMemory));
                break;
            };
            if let Err(e) = slot.cmma.try_update(gfn - slot.base_gfn, mask, b) {
                result = Err(e.into());
                break;
            }
        }
        // Set even when a frame was missing.
        self.state().uses_cmm = true;
        result
    }
}
