//! Memory slots: guest-physical ranges backed by the caller's memory, and their dirty bitmaps.
//!
//! The slot table is an immutable, sorted snapshot swapped atomically (`ArcSwap`), so guest
//! memory accesses never block on, or see half of, a `KVM_SET_USER_MEMORY_REGION`. Writers
//! are serialised by the VM's slots lock. Backing memory is only ever accessed through
//! [`crate::uaccess`], never through Rust references.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

/// `KVM_USER_MEM_SLOTS` on s390 (Linux 6.12).
pub const KVM_USER_MEM_SLOTS: u32 = 32767;
/// `KVM_MEM_MAX_NR_PAGES`.
pub const KVM_MEM_MAX_NR_PAGES: u64 = (1 << 31) - 1;
/// Guest page size.
pub const PAGE_SIZE: u64 = 4096;
/// Segment (1 MiB) size: s390 maps memory slots into the guest in segments.
pub const SEGMENT_SIZE: u64 = 1 << 20;

/// One bit per page of a slot: set when the guest (or a memop) stores to the page.
#[derive(Debug)]
pub struct DirtyBitmap {
    words: Box<[AtomicU64]>,
}

impl DirtyBitmap {
    /// An all-clean bitmap for `npages` pages.
    pub fn new(npages: u64) -> Self {
        let words = npages.div_ceil(64) as usize;
        DirtyBitmap {
            words: (0..words).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Marks page `index` (relative to the slot base) dirty.
    pub fn mark(&self, index: u64) {
        if let Some(w) = self.words.get((index / 64) as usize) {
            w.fetch_or(1 << (index % 64), Ordering::Relaxed);
        }
    }

    /// A copy of the bitmap in the kernel's user layout: bit i is bit i%8 of byte i/8,
    /// `ALIGN(npages, 64) / 8` bytes.
    pub fn snapshot(&self) -> Vec<u64> {
        self.words
            .iter()
            .map(|w| w.load(Ordering::Relaxed))
            .collect()
    }

    /// Clears exactly the bits of `reported` (pages dirtied since stay dirty).
    pub fn clear(&self, reported: &[u64]) {
        for (w, r) in self.words.iter().zip(reported) {
            if *r != 0 {
                w.fetch_and(!r, Ordering::Relaxed);
            }
        }
    }
}

/// One storage-key byte per page of a slot (ACC 0xF0, F 0x08, R 0x04, C 0x02).
///
/// Keys belong to the backing memory, so they follow a slot through moves and flag changes,
/// like the kernel's keys in the host page tables.
#[derive(Debug)]
pub struct StorageKeys {
    keys: Box<[AtomicU8]>,
}

impl StorageKeys {
    /// Keys for `npages` pages, all 0.
    pub fn new(npages: u64) -> Self {
        StorageKeys {
            keys: (0..npages).map(|_| AtomicU8::new(0)).collect(),
        }
    }

    /// The key of page `index`.
    pub fn get(&self, index: u64) -> u8 {
        self.keys
            .get(index as usize)
            .map_or(0, |k| k.load(Ordering::Acquire))
    }

    /// Sets the key of page `index`.
    pub fn set(&self, index: u64, key: u8) {
        if let Some(k) = self.keys.get(index as usize) {
            k.store(key, Ordering::Release);
        }
    }

    /// Sets bits (R, C) in the key of page `index`.
    pub fn or(&self, index: u64, bits: u8) {
        if let Some(k) = self.keys.get(index as usize) {
            k.fetch_or(bits, Ordering::AcqRel);
        }
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
    pub keys: Arc<StorageKeys>,
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
#[derive(Debug, Default)]
pub struct MemSlots {
    slots: Vec<Arc<MemSlot>>,
}

impl MemSlots {
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

    /// The slot containing `gfn`.
    pub fn by_gfn(&self, gfn: u64) -> Option<&Arc<MemSlot>> {
        let i = self.slots.partition_point(|s| s.end_gfn() <= gfn);
        self.slots.get(i).filter(|s| s.contains(gfn))
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

    /// A new snapshot with `slot` replacing the slot of the same id (or added).
    pub fn with(&self, slot: MemSlot) -> MemSlots {
        let mut slots: Vec<_> = self
            .slots
            .iter()
            .filter(|s| s.id != slot.id)
            .cloned()
            .collect();
        slots.push(Arc::new(slot));
        slots.sort_by_key(|s| s.base_gfn);
        MemSlots { slots }
    }

    /// A new snapshot without the slot `id`.
    pub fn without(&self, id: u16) -> MemSlots {
        MemSlots {
            slots: self.slots.iter().filter(|s| s.id != id).cloned().collect(),
        }
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
            keys: Arc::new(StorageKeys::new(npages)),
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
        let b = DirtyBitmap::new(130);
        assert_eq!(b.snapshot().len(), 3);
        b.mark(0);
        b.mark(129);
        b.mark(500); // out of range: ignored
        let snap = b.snapshot();
        assert_eq!(snap, vec![1, 0, 2]);
        b.mark(64);
        b.clear(&snap);
        assert_eq!(b.snapshot(), vec![0, 1, 0]);
    }
}
