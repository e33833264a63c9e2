//! Memory slots: guest-physical ranges backed by the caller's memory, and their dirty bitmaps.
//!
//! The slot table is an immutable, sorted snapshot published through an [`crate::rcu::Rcu`]:
//! guest memory accesses load it inside a read-side section with plain loads, never block on,
//! or see half of, a `KVM_SET_USER_MEMORY_REGION`, and the update returns only after every
//! section that could still see the old snapshot (and so touch a deleted or moved slot's old
//! memory) has ended. Writers are serialised by the VM's slots lock. Backing memory is only
//! ever accessed through [`crate::uaccess`], never through Rust references.

use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use crate::uaccess;
use crate::uapi::{KVM_MEM_GUEST_MEMFD, KVM_MEM_LOG_DIRTY_PAGES, KVM_MEM_READONLY};

bitflags::bitflags! {
    /// `kvm_userspace_memory_region(2)::flags`.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct SlotFlags: u32 {
        /// Keep a dirty bitmap for the slot.
        const LOG_DIRTY_PAGES = KVM_MEM_LOG_DIRTY_PAGES;
        /// Read-only slot (not on s390).
        const READONLY = KVM_MEM_READONLY;
        /// Backed by guest_memfd (not on s390).
        const GUEST_MEMFD = KVM_MEM_GUEST_MEMFD;
    }
}

/// `KVM_USER_MEM_SLOTS` on s390 (Linux 6.12).
pub const KVM_USER_MEM_SLOTS: u32 = 32767;
/// `KVM_MEM_MAX_NR_PAGES`.
pub const KVM_MEM_MAX_NR_PAGES: u64 = (1 << 31) - 1;
/// Guest page size.
pub const PAGE_SIZE: u64 = 4096;
/// Segment (1 MiB) size: s390 maps memory slots into the guest in segments.
pub const SEGMENT_SIZE: u64 = 1 << 20;

/// Words per block of the dirty-log copy's second pass (4 KiB, staged on the stack).
const DIRTY_BLOCK: usize = 512;

/// One bit per page of a slot: set when the guest (or a memop) stores to the page. Like the
/// kernel's bitmap it has a second half, the CMMA-dirty bits used by migration mode.
#[derive(Debug)]
pub struct DirtyBitmap {
    words: Box<[AtomicU64]>,
    /// CMMA-dirty bits (the kernel's "second dirty bitmap").
    pub cmma: BitSet,
}

/// A fixed-size set of page bits.
#[derive(Debug)]
pub struct BitSet {
    words: Box<[AtomicU64]>,
    len: u64,
}

impl BitSet {
    /// `len` clear bits.
    pub fn new(len: u64) -> Result<Self, NoMemory> {
        Ok(BitSet {
            words: zeroed(len.div_ceil(64), || AtomicU64::new(0))?,
            len,
        })
    }

    /// Sets every bit; returns how many were newly set.
    pub fn set_all(&self) -> u64 {
        let mut newly = 0;
        for (i, w) in self.words.iter().enumerate() {
            let bits = (self.len - 64 * i as u64).min(64);
            let full = if bits == 64 {
                u64::MAX
            } else {
                (1u64 << bits) - 1
            };
            newly += u64::from((full & !w.fetch_or(full, Ordering::AcqRel)).count_ones());
        }
        newly
    }

    /// Sets bit `i`; returns whether it was clear.
    pub fn set(&self, i: u64) -> bool {
        let m = 1u64 << (i % 64);
        i < self.len && self.words[(i / 64) as usize].fetch_or(m, Ordering::AcqRel) & m == 0
    }

    /// Clears bit `i`; returns whether it was set.
    pub fn test_and_clear(&self, i: u64) -> bool {
        let m = 1u64 << (i % 64);
        i < self.len && self.words[(i / 64) as usize].fetch_and(!m, Ordering::AcqRel) & m != 0
    }

    /// Clears the bits [from, to) a word at a time (a word with none of them set is only
    /// read); returns how many were set.
    pub fn clear_range(&self, from: u64, to: u64) -> u64 {
        let to = to.min(self.len);
        let mut cleared = 0;
        let mut i = from;
        while i < to {
            let w = i / 64;
            let hi = (to - w * 64).min(64);
            let mask = (u64::MAX >> (64 - (hi - i % 64))) << (i % 64);
            let word = &self.words[w as usize];
            if word.load(Ordering::Relaxed) & mask != 0 {
                cleared += u64::from((word.fetch_and(!mask, Ordering::AcqRel) & mask).count_ones());
            }
            i = w * 64 + hi;
        }
        cleared
    }

    /// The first clear bit at or after `from`, or `len` if there is none.
    pub fn next_clear(&self, from: u64) -> u64 {
        let mut i = from;
        while i < self.len {
            let w = !self.words[(i / 64) as usize].load(Ordering::Acquire) >> (i % 64);
            if w != 0 {
                return (i + u64::from(w.trailing_zeros())).min(self.len);
            }
            i = (i / 64 + 1) * 64;
        }
        self.len
    }

    /// The first set bit at or after `from`, or `len` if there is none.
    pub fn next_set(&self, from: u64) -> u64 {
        let mut i = from;
        while i < self.len {
            let w = self.words[(i / 64) as usize].load(Ordering::Acquire) >> (i % 64);
            if w != 0 {
                return (i + u64::from(w.trailing_zeros())).min(self.len);
            }
            i = (i / 64 + 1) * 64;
        }
        self.len
    }
}

impl DirtyBitmap {
    /// An all-clean bitmap for `npages` pages (allocated fallibly, like the kernel's).
    pub fn new(npages: u64) -> Result<Self, NoMemory> {
        Ok(DirtyBitmap {
            words: zeroed(npages.div_ceil(64), || AtomicU64::new(0))?,
            cmma: BitSet::new(npages)?,
        })
    }

    /// Marks page `index` (relative to the slot base) dirty, after the store to it. The bit
    /// is tested before the locked update, so a page stored to again while still dirty writes
    /// no shared cache line. That is safe because [`DirtyBitmap::copy_to_user_and_clear`] ends with a barrier
    /// on every thread: a store whose test still saw the bit set before the clear is visible
    /// once the clear returns, and a test after the clear sees it clear and sets it.
    #[inline]
    pub fn mark(&self, index: u64) {
        if let Some(w) = self.words.get((index / 64) as usize) {
            let m = 1 << (index % 64);
            if w.load(Ordering::Relaxed) & m == 0 {
                w.fetch_or(m, Ordering::Relaxed);
            }
        }
    }

    /// `KVM_GET_DIRTY_LOG`'s copy: writes the bitmap to caller address `dst` in the kernel's
    /// user layout (bit i is bit i%8 of byte i/8, `ALIGN(npages, 64) / 8` bytes: the
    /// little-endian bitmap) and clears exactly the bits written, so that pages dirtied
    /// meanwhile stay dirty. If `dst` cannot be written the bitmap is left as it was (the
    /// kernel clears only after a successful `copy_to_user`) and what could be copied was.
    ///
    /// Two passes, neither with a temporary: the bitmap goes to the caller as it is (on a
    /// little-endian host one fault-recovering copy straight from the words, which also finds
    /// a destination fault before anything is cleared); then each 4 KiB block with a bit set
    /// is taken word by word (a swap per non-zero word, staged on the stack) and written
    /// again. A clean block costs one read in the second pass. Only a concurrent unmap of
    /// `dst` can fault in the second pass; then the block that faulted gets its bits back and
    /// the blocks before it are marked wholly dirty (a page may be reported twice, never lost).
    pub fn copy_to_user_and_clear(&self, dst: u64) -> Result<(), uaccess::Fault> {
        if self.words.is_empty() {
            return Ok(());
        }
        self.copy_as_is(dst)?;
        let mut block = [0u64; DIRTY_BLOCK];
        // Whether any bit was cleared: then a barrier on every thread before returning (see
        // [`DirtyBitmap::mark`]), so a store whose mark saw the bit still set is visible to
        // the caller that reads the page after this call.
        let mut cleared = false;
        for (b, words) in self.words.chunks(DIRTY_BLOCK).enumerate() {
            if words
                .iter()
                .fold(0, |acc, w| acc | w.load(Ordering::Relaxed))
                == 0
            {
                continue;
            }
            for (slot, w) in block.iter_mut().zip(words) {
                let mut v = w.load(Ordering::Relaxed);
                if v != 0 {
                    v = w.swap(0, Ordering::AcqRel);
                    cleared |= v != 0;
                }
                *slot = v.to_le();
            }
            let bytes = bytemuck::cast_slice::<u64, u8>(&block[..words.len()]);
            let to = dst + (b * DIRTY_BLOCK * 8) as u64;
            if uaccess::copy_to_user(to, bytes).is_err() {
                for (w, v) in words.iter().zip(&block) {
                    if *v != 0 {
                        w.fetch_or(u64::from_le(*v), Ordering::AcqRel);
                    }
                }
                for w in &self.words[..b * DIRTY_BLOCK] {
                    w.fetch_or(u64::MAX, Ordering::AcqRel);
                }
                self.trim_last_word();
                return Err(uaccess::Fault);
            }
        }
        if cleared {
            crate::rcu::barrier_all_threads();
        }
        Ok(())
    }

    /// The bitmap as it is to `dst` in the user layout, until `dst` faults.
    fn copy_as_is(&self, dst: u64) -> Result<(), uaccess::Fault> {
        let len = self.words.len() * 8;
        if cfg!(target_endian = "little") {
            // The words' memory is the user layout. It is shim memory that other threads
            // change with atomic operations; the fault-recovering copy reads it with plain
            // loads, as the kernel's copy_to_user reads its bitmap while set_bit runs.
            return uaccess::copy_user_to_user(dst, self.words.as_ptr() as u64, len);
        }
        let mut block = [0u64; DIRTY_BLOCK];
        for (b, words) in self.words.chunks(DIRTY_BLOCK).enumerate() {
            for (slot, w) in block.iter_mut().zip(words) {
                *slot = w.load(Ordering::Relaxed).to_le();
            }
            let bytes = bytemuck::cast_slice::<u64, u8>(&block[..words.len()]);
            uaccess::copy_to_user(dst + (b * DIRTY_BLOCK * 8) as u64, bytes)?;
        }
        Ok(())
    }

    /// Clears the bits past the last page (set by the wholesale re-marking of a failed copy).
    fn trim_last_word(&self) {
        let bits = self.cmma.len % 64;
        if let (Some(last), true) = (self.words.last(), bits != 0) {
            last.fetch_and((1u64 << bits) - 1, Ordering::AcqRel);
        }
    }

    /// The bits as they are (tests).
    #[cfg(test)]
    pub fn words(&self) -> Vec<u64> {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect()
    }
}

/// Allocating per-slot metadata (dirty bitmap, storage keys, CMMA values) failed: the
/// request fails with ENOMEM instead of aborting the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoMemory;

impl From<NoMemory> for crate::error::Error {
    fn from(_: NoMemory) -> Self {
        crate::error::Error::OutOfMemory
    }
}

/// `n` atomics from `zero`, or [`NoMemory`].
fn zeroed<T>(n: u64, zero: impl Fn() -> T) -> Result<Box<[T]>, NoMemory> {
    let n = usize::try_from(n).map_err(|_| NoMemory)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| NoMemory)?;
    v.resize_with(n, zero);
    Ok(v.into_boxed_slice())
}

/// log2 of the pages per [`PageBytes`] chunk: 64 KiB of bytes cover 256 MiB of guest memory.
const CHUNK_SHIFT: u32 = 16;
const CHUNK_PAGES: u64 = 1 << CHUNK_SHIFT;

/// One byte per page of a slot, allocated lazily in 64 KiB chunks: the storage keys (ACC 0xF0,
/// F 0x08, R 0x04, C 0x02) and the CMMA values (PGSTE usage state 0x03, NODAT 0x40).
///
/// A page whose chunk was never written reads as 0, which is both the initial storage key and
/// the stable CMMA state, so a sparse slot costs 24 bytes per 256 MiB until its keys or
/// values are used (the kernel keeps them in page-table extensions that exist only for
/// mapped pages). A write that needs a chunk allocates it fallibly.
///
/// The bytes belong to the backing memory, so they follow a slot through moves and flag
/// changes, like the kernel's keys in the host page tables.
#[derive(Debug)]
pub struct PageBytes {
    chunks: Box<[OnceLock<Box<[AtomicU8]>>]>,
    npages: u64,
}

impl PageBytes {
    /// All-zero bytes for `npages` pages (only the chunk table is allocated).
    pub fn new(npages: u64) -> Result<Self, NoMemory> {
        Ok(PageBytes {
            chunks: zeroed(npages.div_ceil(CHUNK_PAGES), OnceLock::new)?,
            npages,
        })
    }

    /// The byte of page `index`, if its chunk exists.
    fn byte(&self, index: u64) -> Option<&AtomicU8> {
        if index >= self.npages {
            return None;
        }
        let chunk = self.chunks[(index >> CHUNK_SHIFT) as usize].get()?;
        chunk.get((index & (CHUNK_PAGES - 1)) as usize)
    }

    /// The byte of page `index`, allocating its chunk; `Ok(None)` outside the slot.
    fn byte_or_alloc(&self, index: u64) -> Result<Option<&AtomicU8>, NoMemory> {
        if index >= self.npages {
            return Ok(None);
        }
        let cell = &self.chunks[(index >> CHUNK_SHIFT) as usize];
        let chunk = match cell.get() {
            Some(c) => c,
            None => {
                let first = index & !(CHUNK_PAGES - 1);
                let len = (self.npages - first).min(CHUNK_PAGES);
                // A racing writer may install its chunk first; then this one is dropped.
                let _ = cell.set(zeroed(len, || AtomicU8::new(0))?);
                cell.get().ok_or(NoMemory)?
            }
        };
        Ok(chunk.get((index & (CHUNK_PAGES - 1)) as usize))
    }

    /// The byte of page `index` (0 outside the slot).
    pub fn get(&self, index: u64) -> u8 {
        self.byte(index).map_or(0, |b| b.load(Ordering::Acquire))
    }

    /// Sets the byte of page `index`.
    pub fn set(&self, index: u64, value: u8) -> Result<(), NoMemory> {
        let b = if value == 0 {
            self.byte(index)
        } else {
            self.byte_or_alloc(index)?
        };
        if let Some(b) = b {
            b.store(value, Ordering::Release);
        }
        Ok(())
    }

    /// Clears `bits` in the byte of page `index` atomically; the byte before (None outside
    /// the slot).
    pub fn fetch_and_not(&self, index: u64, bits: u8) -> Option<u8> {
        if index >= self.npages {
            return None;
        }
        Some(
            self.byte(index)
                .map_or(0, |b| b.fetch_and(!bits, Ordering::AcqRel)),
        )
    }

    /// Sets `bits` (R, C) in the byte of page `index`. Test before the locked operation: an
    /// access to a page whose bits are already set writes nothing. If the chunk cannot be
    /// allocated the bits are lost (logged): a guest access never fails for it.
    pub fn or(&self, index: u64, bits: u8) {
        match self.byte(index) {
            Some(b) => {
                if b.load(Ordering::Relaxed) & bits != bits {
                    b.fetch_or(bits, Ordering::AcqRel);
                }
            }
            None => match self.byte_or_alloc(index) {
                Ok(Some(b)) => {
                    b.fetch_or(bits, Ordering::AcqRel);
                }
                Ok(None) => {}
                Err(NoMemory) => log::warn!("page {index}: no memory to record bits {bits:#x}"),
            },
        }
    }

    /// Replaces the bits `mask` of page `index` with those of `value`; the byte before.
    pub fn try_update(&self, index: u64, mask: u8, value: u8) -> Result<u8, NoMemory> {
        let b = if value & mask == 0 {
            self.byte(index)
        } else {
            self.byte_or_alloc(index)?
        };
        Ok(b.map_or(0, |b| {
            b.fetch_update(Ordering::AcqRel, Ordering::Acquire, |old| {
                Some((old & !mask) | (value & mask))
            })
            .unwrap_or(0)
        }))
    }

    /// [`PageBytes::try_update`] for callers that cannot fail: without memory for the chunk
    /// the update is lost (logged).
    pub fn update(&self, index: u64, mask: u8, value: u8) {
        if self.try_update(index, mask, value).is_err() {
            log::warn!("page {index}: no memory to record value {value:#x}");
        }
    }

    /// Clears `bits` in every page's byte; pages never written are skipped (already 0), so
    /// the cost follows the pages in use, not the slot size (for `CLR_CMMA`).
    pub fn clear_all(&self, bits: u8) {
        for chunk in self.chunks.iter().filter_map(|c| c.get()) {
            for b in chunk.iter() {
                if b.load(Ordering::Relaxed) & bits != 0 {
                    b.fetch_and(!bits, Ordering::AcqRel);
                }
            }
        }
    }

    /// Appends the bytes of pages [from, from+n) masked with `mask` to `out` (zeros for pages
    /// whose chunk was never written); `from + n` must not pass the end.
    pub fn extend_masked(&self, from: u64, n: u64, mask: u8, out: &mut Vec<u8>) {
        let end = (from + n).min(self.npages);
        let mut i = from;
        while i < end {
            let c = i >> CHUNK_SHIFT;
            let stop = ((c + 1) << CHUNK_SHIFT).min(end);
            let (a, b) = (
                (i & (CHUNK_PAGES - 1)) as usize,
                (stop - (c << CHUNK_SHIFT)) as usize,
            );
            match self.chunks[c as usize].get() {
                Some(chunk) => {
                    out.extend(chunk[a..b].iter().map(|v| v.load(Ordering::Relaxed) & mask))
                }
                None => out.resize(out.len() + (b - a), 0),
            }
            i = stop;
        }
    }

    /// Bytes of memory allocated for chunks (for tests and diagnostics).
    pub fn allocated_bytes(&self) -> usize {
        self.chunks
            .iter()
            .filter_map(|c| c.get())
            .map(|c| c.len())
            .sum()
    }
}

/// One memory slot.
#[derive(Debug)]
pub struct MemSlot {
    /// Slot id (`(u16)kvm_userspace_memory_region.slot`).
    pub id: u16,
    /// First guest frame number.
    pub base_gfn: u64,
    /// Number of 4 KiB pages.
    pub npages: u64,
    /// Caller address of the backing memory.
    pub userspace_addr: u64,
    /// `KVM_MEM_*` flags.
    pub flags: u32,
    /// Present while `KVM_MEM_LOG_DIRTY_PAGES` is set; kept across moves and flag changes
    /// that keep dirty logging on.
    pub dirty: Option<Arc<DirtyBitmap>>,
    /// The storage keys of the slot's pages.
    pub keys: Arc<PageBytes>,
    /// The CMMA values of the slot's pages.
    pub cmma: Arc<PageBytes>,
    /// Whether the slot is mapped into the guest's address space. s390 maps slots in 1 MiB
    /// segments; with a guest address that is not 1 MiB aligned the mapping fails silently
    /// and the slot exists without being visible to the running guest.
    pub segment_mapped: bool,
}

impl MemSlot {
    /// One past the last guest frame number.
    pub fn end_gfn(&self) -> u64 {
        self.base_gfn + self.npages
    }

    /// Whether `gfn` lies in this slot.
    pub fn contains(&self, gfn: u64) -> bool {
        gfn >= self.base_gfn && gfn < self.end_gfn()
    }

    /// The caller address backing `gfn` (which must be in the slot).
    pub fn hva(&self, gfn: u64) -> u64 {
        self.userspace_addr + (gfn - self.base_gfn) * PAGE_SIZE
    }
}

/// An immutable snapshot of all slots, sorted by `base_gfn`.
///
/// Lookups by guest frame are plain loads: a last-hit index (the kernel's `last_used_slot`,
/// written only when a lookup lands in another slot than the last one) and, on a miss, a
/// binary search over a flat array of `[base, end)` frame ranges, so a search touches one
/// contiguous array instead of following a pointer per step.
#[derive(Debug, Default)]
pub struct MemSlots {
    slots: Vec<Arc<MemSlot>>,
    /// `[base_gfn, end_gfn)` of each slot, in the same order.
    ranges: Box<[(u64, u64)]>,
    /// The index of the slot the last lookup found.
    last: AtomicUsize,
    /// Unique per snapshot made from slots (0 for an empty default): the CPU's TLBs tag
    /// the host addresses they keep with it (`vcpu::cpu_run`).
    id: u64,
}

impl MemSlots {
    /// The snapshot of `slots`, which are sorted by `base_gfn`.
    fn from_sorted(slots: Vec<Arc<MemSlot>>) -> MemSlots {
        let ranges = slots.iter().map(|s| (s.base_gfn, s.end_gfn())).collect();
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        MemSlots {
            slots,
            ranges,
            last: AtomicUsize::new(0),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// This snapshot's identity: two snapshots that exist at the same time have different
    /// ids unless both are empty defaults.
    #[inline]
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The slots in guest-address order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<MemSlot>> {
        self.slots.iter()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The slot with this id.
    pub fn by_id(&self, id: u16) -> Option<&Arc<MemSlot>> {
        self.slots.iter().find(|s| s.id == id)
    }

    /// The slot containing `gfn`: the last slot found if it holds `gfn`, else a binary search.
    #[inline(always)]
    pub fn by_gfn(&self, gfn: u64) -> Option<&Arc<MemSlot>> {
        let last = self.last.load(Ordering::Relaxed);
        if let Some(&(base, end)) = self.ranges.get(last) {
            if gfn >= base && gfn < end {
                return self.slots.get(last);
            }
        }
        self.search(gfn)
    }

    #[inline(never)]
    fn search(&self, gfn: u64) -> Option<&Arc<MemSlot>> {
        let i = self.ranges.partition_point(|&(_, end)| end <= gfn);
        let &(base, _) = self.ranges.get(i)?;
        if gfn < base {
            return None;
        }
        self.last.store(i, Ordering::Relaxed);
        self.slots.get(i)
    }

    /// Whether [base, base+npages) overlaps any slot other than `except`.
    pub fn overlaps(&self, base: u64, npages: u64, except: Option<u16>) -> bool {
        let end = base + npages;
        self.slots
            .iter()
            .any(|s| Some(s.id) != except && s.base_gfn < end && base < s.end_gfn())
    }

    /// Total pages over all slots.
    pub fn total_pages(&self) -> u64 {
        self.slots.iter().map(|s| s.npages).sum()
    }

    /// A new snapshot with `slot` replacing the slot of the same id (or added): the other
    /// slots are shared, and the new one is inserted at its place (no sort).
    pub fn with(&self, slot: MemSlot) -> MemSlots {
        let mut slots = Vec::with_capacity(self.slots.len() + 1);
        slots.extend(self.slots.iter().filter(|s| s.id != slot.id).cloned());
        let at = slots.partition_point(|s| s.base_gfn < slot.base_gfn);
        slots.insert(at, Arc::new(slot));
        MemSlots::from_sorted(slots)
    }

    /// The slot containing `gfn`, else the first slot above it, else (above every slot) the
    /// lowest slot: where the kernel's CMMA-dirty search starts.
    pub fn at_or_after_wrapping(&self, gfn: u64) -> Option<&Arc<MemSlot>> {
        let i = self.slots.partition_point(|s| s.end_gfn() <= gfn);
        self.slots.get(i).or_else(|| self.slots.first())
    }

    /// The slots after `slot` in guest-address order.
    pub fn after<'a>(&'a self, slot: &'a Arc<MemSlot>) -> impl Iterator<Item = &'a Arc<MemSlot>> {
        let i = self.slots.partition_point(|s| s.base_gfn <= slot.base_gfn);
        self.slots[i..].iter()
    }

    /// One past the last frame of the highest slot.
    pub fn end_gfn(&self) -> u64 {
        self.slots.last().map_or(0, |s| s.end_gfn())
    }

    /// A new snapshot without the slot `id`.
    pub fn without(&self, id: u16) -> MemSlots {
        MemSlots::from_sorted(self.slots.iter().filter(|s| s.id != id).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(id: u16, base: u64, npages: u64) -> MemSlot {
        MemSlot {
            id,
            base_gfn: base,
            npages,
            userspace_addr: 0x1000_0000,
            flags: 0,
            dirty: None,
            keys: Arc::new(PageBytes::new(npages).unwrap()),
            cmma: Arc::new(PageBytes::new(npages).unwrap()),
            segment_mapped: true,
        }
    }

    #[test]
    fn lookup_and_overlap() {
        let s = MemSlots::default()
            .with(slot(1, 256, 256))
            .with(slot(0, 0, 256))
            .with(slot(7, 1024, 16));
        assert_eq!(s.by_gfn(0).unwrap().id, 0);
        assert_eq!(s.by_gfn(511).unwrap().id, 1);
        assert!(s.by_gfn(512).is_none());
        assert_eq!(s.by_gfn(1039).unwrap().id, 7);
        assert!(s.by_gfn(1040).is_none());
        assert!(s.overlaps(500, 100, None));
        assert!(!s.overlaps(500, 100, Some(1)));
        assert!(!s.overlaps(512, 512, None));
        assert_eq!(s.total_pages(), 528);
        assert!(s.without(1).by_gfn(300).is_none());
    }

    #[test]
    fn dirty_bitmap_get_and_clear_keeps_new_bits() {
        let b = DirtyBitmap::new(130).unwrap();
        b.mark(0);
        b.mark(129);
        b.mark(500); // out of range: ignored
        let mut out = [0xffu8; 24];
        b.copy_to_user_and_clear(out.as_mut_ptr() as u64).unwrap();
        let mut want = [0u8; 24];
        want[0] = 1;
        want[16] = 2;
        assert_eq!(out, want);
        assert_eq!(b.words(), vec![0, 0, 0]);
        b.mark(64);
        b.copy_to_user_and_clear(out.as_mut_ptr() as u64).unwrap();
        assert_eq!(out[8], 1);
        assert_eq!(out[0], 0);
        assert_eq!(b.words(), vec![0, 0, 0]);
    }

    #[test]
    #[allow(unsafe_code)]
    fn dirty_bitmap_copy_fault_clears_nothing() {
        // 16 KiB of bitmap (4 blocks); the destination's last page is unmapped.
        let npages = 16 * 1024 * 8;
        let b = DirtyBitmap::new(npages).unwrap();
        for i in (0..npages).step_by(1000) {
            b.mark(i);
        }
        let before = b.words();
        // SAFETY: a fresh anonymous mapping; the test owns it and unmaps it below.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                16384,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as u64;
        assert_ne!(base as *mut libc::c_void, libc::MAP_FAILED);
        // SAFETY: the last page of the mapping made above.
        unsafe { libc::munmap((base + 12288) as *mut libc::c_void, 4096) };
        assert_eq!(b.copy_to_user_and_clear(base), Err(uaccess::Fault));
        assert_eq!(b.words(), before);
        // What could be copied was (the kernel's partial copy_to_user).
        let mut first = [0u8; 8];
        uaccess::copy_from_user(&mut first, base).unwrap();
        assert_eq!(u64::from_le_bytes(first), before[0]);
        // SAFETY: the first three pages of the mapping made above.
        unsafe { libc::munmap(base as *mut libc::c_void, 12288) };
        // A wholly invalid destination.
        assert_eq!(b.copy_to_user_and_clear(8), Err(uaccess::Fault));
        assert_eq!(b.words(), before);
    }

    #[test]
    fn dirty_bitmap_concurrent_marks_are_never_lost() {
        let b = Arc::new(DirtyBitmap::new(4096).unwrap());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let marker = {
            let (b, stop) = (b.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    b.mark(n % 4096);
                    n += 1;
                }
                n.min(4096)
            })
        };
        let mut seen = vec![false; 4096];
        let mut out = vec![0u64; 64];
        for _ in 0..200 {
            b.copy_to_user_and_clear(out.as_mut_ptr() as u64).unwrap();
            for (i, w) in out.iter().enumerate() {
                for bit in 0..64 {
                    if w >> bit & 1 != 0 {
                        seen[i * 64 + bit] = true;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let marked = marker.join().unwrap();
        b.copy_to_user_and_clear(out.as_mut_ptr() as u64).unwrap();
        for (i, w) in out.iter().enumerate() {
            for bit in 0..64 {
                if w >> bit & 1 != 0 {
                    seen[i * 64 + bit] = true;
                }
            }
        }
        assert!(seen[..marked as usize].iter().all(|&s| s));
    }

    #[test]
    fn bitset_search_and_counts() {
        let b = BitSet::new(130).unwrap();
        assert_eq!(b.next_set(0), 130);
        assert!(b.set(3));
        assert!(!b.set(3));
        assert!(b.set(129));
        assert_eq!(b.next_set(0), 3);
        assert_eq!(b.next_set(4), 129);
        assert!(b.test_and_clear(3));
        assert!(!b.test_and_clear(3));
        assert_eq!(b.set_all(), 129);
        assert_eq!(b.set_all(), 0);
        assert_eq!(b.next_set(129), 129);
    }

    #[test]
    fn page_bytes_are_lazy_and_shared_by_keys_and_cmma() {
        let b = PageBytes::new(3 * CHUNK_PAGES + 5).unwrap();
        assert_eq!(b.allocated_bytes(), 0);
        assert_eq!(b.get(7), 0);
        // Zero writes and clears allocate nothing.
        b.set(7, 0).unwrap();
        b.update(8, 0x03, 0);
        assert_eq!(b.fetch_and_not(9, 0x04), Some(0));
        assert_eq!(b.allocated_bytes(), 0);
        b.set(7, 0x16).unwrap();
        assert_eq!(b.allocated_bytes(), CHUNK_PAGES as usize);
        assert_eq!(b.get(7), 0x16);
        assert_eq!(b.fetch_and_not(7, 0x04), Some(0x16));
        b.or(7, 0x06);
        assert_eq!(b.get(7), 0x16);
        assert_eq!(b.try_update(7, 0x03, 0x01), Ok(0x16));
        assert_eq!(b.get(7), 0x15);
        b.clear_all(0x03);
        assert_eq!(b.get(7), 0x14);
        assert_eq!(b.allocated_bytes(), CHUNK_PAGES as usize);
        // The last chunk is short; indexes past the end are ignored.
        b.or(3 * CHUNK_PAGES + 4, 0x04);
        assert_eq!(b.get(3 * CHUNK_PAGES + 4), 0x04);
        assert_eq!(b.allocated_bytes(), CHUNK_PAGES as usize + 5);
        b.or(3 * CHUNK_PAGES + 5, 0x04);
        assert_eq!(b.set(3 * CHUNK_PAGES + 5, 1), Ok(()));
        assert_eq!(b.get(3 * CHUNK_PAGES + 5), 0);
        assert_eq!(b.fetch_and_not(3 * CHUNK_PAGES + 5, 1), None);
    }

    #[test]
    fn a_maximum_size_slot_allocates_only_its_chunk_table() {
        let b = PageBytes::new(KVM_MEM_MAX_NR_PAGES).unwrap();
        assert_eq!(b.allocated_bytes(), 0);
        assert!(b.chunks.len() * std::mem::size_of::<OnceLock<Box<[AtomicU8]>>>() <= 1 << 20);
    }

    #[test]
    fn allocation_failure_is_an_error() {
        assert_eq!(DirtyBitmap::new(u64::MAX).err(), Some(NoMemory));
        assert_eq!(PageBytes::new(u64::MAX).err(), Some(NoMemory));
    }
}
