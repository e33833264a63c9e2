//! `KVM_S390_GET_CMMA_BITS` / `KVM_S390_SET_CMMA_BITS` (spec vm.md C.2, C.3).

use super::memslot::{MemSlot, MemSlots};
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
    ///
    /// The kernel decides page by page; its stop conditions can only change where the next
    /// dirty frame (`next`) is reached or searched for. So each frame where a condition could
    /// fire takes the kernel's step, and the run of frames up to `next` (within the slot
    /// and the buffer) is taken in one go: its dirty bits cleared a word at a time and its
    /// values appended as a block.
    fn harvest_cmma(
        slots: &MemSlots,
        dirty_pages: &mut u64,
        log: &mut kvm_s390_cmma_log,
        values: &mut Vec<u8>,
        bufsize: usize,
    ) {
        log.count = 0;
        if slots.is_empty() {
            // Migration mode with every slot deleted: report nothing.
            return;
        }
        let start = next_dirty(slots, log.start_gfn);
        log.start_gfn = start;
        let Some(mut slot) = slots.by_gfn(start) else {
            return;
        };
        let mut cur = start;
        let mut next = next_dirty(slots, cur + 1);
        let mem_end = slots.end_gfn();
        let bufsize64 = bufsize as u64;
        // Reports the `n` frames from `gfn` (all in `slot`).
        let mut emit = |slot: &MemSlot, gfn: u64, n: u64, values: &mut Vec<u8>| {
            let idx = gfn - slot.base_gfn;
            if let Some(d) = &slot.dirty {
                *dirty_pages = dirty_pages.saturating_sub(d.cmma.clear_range(idx, idx + n));
            }
            slot.cmma.extend_masked(idx, n, CMMA_VALUE_MASK, values);
        };
        loop {
            // Here `slot` holds `cur` and the buffer has room.
            let too_far = next > cur + KVM_S390_MAX_BIT_DISTANCE;
            let at_end = next >= mem_end || next.wrapping_sub(start) >= bufsize64;
            if !too_far && !at_end && cur != next {
                // No condition can fire before `next`: none depends on `cur` but through
                // `next`, which only changes there.
                let limit = if next > cur { next } else { u64::MAX };
                let room = bufsize64 - values.len() as u64;
                let run_end = limit.min(slot.end_gfn()).min(cur + room);
                emit(slot, cur, run_end - cur, values);
                cur = run_end;
            } else if cur == next && values.len() + 1 < bufsize {
                // A run of dirty frames: for each but the last, the kernel finds the next
                // dirty frame right after it, and no condition fires before the buffer is
                // full (the block is contiguous from `start`, so `next - start` is the count).
                let idx = cur - slot.base_gfn;
                let dirty_end = slot
                    .dirty
                    .as_ref()
                    .map_or(idx + 1, |d| d.cmma.next_clear(idx));
                let room = bufsize64 - values.len() as u64;
                let n = (dirty_end - idx).saturating_sub(1).min(room - 1);
                if n == 0 {
                    // The run is this frame alone: the kernel's step.
                    emit(slot, cur, 1, values);
                    next = next_dirty(slots, cur + 1);
                    if next >= mem_end || next.wrapping_sub(start) >= bufsize64 {
                        break;
                    }
                    cur += 1;
                } else {
                    emit(slot, cur, n, values);
                    cur += n;
                    next = cur;
                }
            } else {
                // The kernel's step for one frame.
                emit(slot, cur, 1, values);
                if too_far {
                    break;
                }
                if cur == next {
                    next = next_dirty(slots, cur + 1);
                }
                if next >= mem_end || next.wrapping_sub(start) >= bufsize64 {
                    break;
                }
                cur += 1;
            }
            if values.len() >= bufsize {
                break;
            }
            if cur >= slot.end_gfn() {
                match slots.by_gfn(cur) {
                    Some(s) => slot = s,
                    None => break,
                }
            }
        }
        log.count = values.len() as u32;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm::memslot::{DirtyBitmap, PageBytes};
    use std::sync::Arc;

    /// The kernel's loop, frame by frame (the implementation before the word-wise one).
    fn harvest_per_frame(
        slots: &MemSlots,
        dirty_pages: &mut u64,
        log: &mut kvm_s390_cmma_log,
        values: &mut Vec<u8>,
        bufsize: usize,
    ) {
        if slots.is_empty() {
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

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Two copies of one random layout: slots (some adjacent, some with gaps, some without
    /// dirty logging), values, and CMMA-dirty bits of a random density.
    fn layouts(rng: &mut Rng) -> (MemSlots, MemSlots) {
        let (mut a, mut b) = (MemSlots::default(), MemSlots::default());
        let mut base = rng.below(3) * 50;
        let density = 1 + rng.below(40);
        for id in 0..1 + rng.below(4) as u16 {
            let npages = 1 + rng.below(300);
            let logged = rng.below(8) != 0;
            let mk = || crate::vm::memslot::MemSlot {
                id,
                base_gfn: base,
                npages,
                userspace_addr: 0x1000_0000,
                flags: 0,
                dirty: logged.then(|| Arc::new(DirtyBitmap::new(npages).unwrap())),
                keys: Arc::new(PageBytes::new(npages).unwrap()),
                cmma: Arc::new(PageBytes::new(npages).unwrap()),
                segment_mapped: true,
            };
            let (sa, sb) = (mk(), mk());
            for i in 0..npages {
                let v = rng.next() as u8;
                sa.cmma.set(i, v).unwrap();
                sb.cmma.set(i, v).unwrap();
                if rng.below(density) == 0 {
                    if let (Some(da), Some(db)) = (&sa.dirty, &sb.dirty) {
                        da.cmma.set(i);
                        db.cmma.set(i);
                    }
                }
            }
            a = a.with(sa);
            b = b.with(sb);
            base += npages + if rng.below(2) == 0 { 0 } else { rng.below(40) };
        }
        (a, b)
    }

    #[test]
    fn word_wise_harvest_matches_the_kernels_frame_by_frame_loop() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..3000 {
            let (a, b) = layouts(&mut rng);
            let (mut pa, mut pb) = (1_000_000u64, 1_000_000u64);
            // Harvest until nothing is left, comparing every call.
            for _ in 0..400 {
                let start = if rng.below(3) == 0 {
                    rng.below(a.end_gfn() + 20)
                } else {
                    0
                };
                let cap = if rng.below(2) == 0 { 40 } else { 2000 };
                let bufsize = 1 + rng.below(cap) as usize;
                let zero = kvm_s390_cmma_log {
                    start_gfn: start,
                    count: 0,
                    flags: 0,
                    u: kvm_s390_cmma_log_u { remaining: 0 },
                    values: 0,
                };
                let (mut la, mut lb) = (zero, zero);
                let (mut va, mut vb) = (Vec::new(), Vec::new());
                Vm::harvest_cmma(&a, &mut pa, &mut la, &mut va, bufsize);
                harvest_per_frame(&b, &mut pb, &mut lb, &mut vb, bufsize);
                assert_eq!((la.start_gfn, la.count, pa), (lb.start_gfn, lb.count, pb));
                assert_eq!(va, vb);
                if la.count == 0 {
                    break;
                }
            }
            for (sa, sb) in a.iter().zip(b.iter()) {
                if let (Some(da), Some(db)) = (&sa.dirty, &sb.dirty) {
                    for i in 0..sa.npages {
                        assert_eq!(da.cmma.test_and_clear(i), db.cmma.test_and_clear(i));
                    }
                }
            }
        }
    }

    #[test]
    fn bit_ranges_clear_word_wise() {
        let b = crate::vm::memslot::BitSet::new(200).unwrap();
        for i in [0, 5, 63, 64, 65, 127, 128, 199] {
            b.set(i);
        }
        assert_eq!(b.clear_range(5, 65), 3);
        assert_eq!(b.next_set(0), 0);
        assert_eq!(b.next_set(1), 65);
        assert_eq!(b.clear_range(0, 1000), 5);
        assert_eq!(b.next_set(0), 200);
        assert_eq!(b.clear_range(0, 200), 0);
    }
}
