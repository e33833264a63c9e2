//! Pre-decoded instruction cache.
//!
//! Direct-mapped, keyed by the absolute address of the instruction (so two logical views of
//! one page share entries and a prefix or ASCE change needs no flush). Each entry keeps the
//! instruction's bytes; a hit reads the eight bytes at that absolute address again
//! ([`Storage::fetch_code`]: one call, no translation) and compares the instruction's
//! 2, 4 or 6 of them with the entry. A store into cached
//! code by anyone — this CPU, another vCPU, a memop, the VMM's own plain stores into guest
//! memory, a device thread — is therefore seen at the next fetch, without any write-side
//! bookkeeping (a generation counter misses the VMM's plain stores; write-protecting code
//! pages would need signals on the VMM's own accesses). What the cache saves is the decode
//! and the table lookup, not the fetch. The translation of the fetch address is the storage's
//! business (an instruction TLB in the vCPU binding); the cache never holds translations.

use super::exec::{decode_checked, raw_of};
use super::insn::{insn_len, Insn, INSNS};
use super::{Cpu, Pgm, Storage};

const ENTRIES: usize = 4096;

#[derive(Clone, Copy)]
struct Entry {
    abs: u64,
    /// The instruction's bytes left-aligned in a word, as the storage's 8-byte fetch
    /// window holds them, and the mask of its length.
    bytes: u64,
    mask: u64,
    /// The highest page offset at which the instruction still ends inside its page.
    last_off: u64,
    insn: Insn,
}

/// No absolute address is odd: the tag of an empty slot.
const EMPTY: u64 = 1;

/// The cache of one CPU (not shared: lookups take no lock).
pub struct InsnCache {
    slots: Box<[Entry; ENTRIES]>,
    /// Hits and misses since creation (for the benchmark and tests).
    pub hits: u64,
    /// Decodes.
    pub misses: u64,
}

impl Default for InsnCache {
    fn default() -> Self {
        Self::new()
    }
}

impl InsnCache {
    /// An empty cache.
    pub fn new() -> Self {
        let empty = Entry {
            abs: EMPTY,
            bytes: 0,
            mask: 0,
            last_off: 0,
            insn: Insn::blank(&INSNS[0]),
        };
        InsnCache {
            // Built on the heap (a 4096-entry array is too big for some threads' stacks).
            slots: vec![empty; ENTRIES]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("ENTRIES entries")),
            hits: 0,
            misses: 0,
        }
    }

    /// Drop every entry.
    pub fn flush(&mut self) {
        self.slots.iter_mut().for_each(|s| s.abs = EMPTY);
    }

    /// The decoded instruction at logical `addr`: from the cache when the bytes in memory
    /// still equal the cached ones, otherwise fetched and decoded. Returned by reference:
    /// the hot path copies nothing but the instruction bytes it compares.
    #[inline(always)]
    pub fn lookup(
        &mut self,
        cpu: &mut Cpu,
        mem: &mut dyn Storage,
        addr: u64,
    ) -> Result<&Insn, Pgm> {
        if addr & 1 != 0 {
            cpu.ilc = 0;
            return Err(Pgm::Specification);
        }
        let (abs, window) = mem.fetch_code(addr)?;
        let slot = (abs as usize >> 1) & (ENTRIES - 1);
        let e = &self.slots[slot];
        // An instruction crossing into the next page takes the slow path: its second part
        // may translate elsewhere now. Otherwise its bytes are the first 2, 4 or 6 of the
        // window.
        if e.abs == abs && (abs & 0xfff) <= e.last_off && window & e.mask == e.bytes {
            self.hits += 1;
            return Ok(&self.slots[slot].insn);
        }
        self.misses += 1;
        let mut b = [0u8; 6];
        mem.read_absolute(abs, &mut b[..2])?;
        let len = usize::from(insn_len(b[0]));
        // The bytes left in the first page (the address is even, so at least two).
        let first = 0x1000 - (abs & 0xfff) as usize;
        if len <= first {
            mem.read_absolute(abs + 2, &mut b[2..len])?;
        } else {
            mem.read_absolute(abs + 2, &mut b[2..first])?;
            let abs2 = mem.fetch_absolute(cpu.wrap(addr.wrapping_add(first as u64)))?;
            mem.read_absolute(abs2, &mut b[first..len])?;
        }
        let raw = raw_of(&b);
        let insn = decode_checked(cpu, raw)?;
        let len = u64::from(insn.len);
        let mask = !0u64 << (64 - 8 * len);
        self.slots[slot] = Entry {
            abs,
            bytes: (raw << 16) & mask,
            mask,
            last_off: 0x1000 - len,
            insn,
        };
        Ok(&self.slots[slot].insn)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Facilities, VecStorage};
    use super::*;

    #[test]
    fn store_into_cached_code_is_seen() {
        let mut mem = VecStorage::new(0x3000);
        // lhi %r1,1 ; lhi %r1,2
        mem.store(0x1000, &[0xa7, 0x18, 0x00, 0x01]).unwrap();
        let mut cpu = Cpu::new(Facilities::z10());
        let mut cache = InsnCache::new();
        cpu.psw_addr = 0x1000;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[1], 1);
        cpu.psw_addr = 0x1000;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!((cache.hits, cache.misses), (1, 1));
        // A VMM/memop store into the page: the next lookup decodes again.
        mem.store(0x1002, &[0x00, 0x02]).unwrap();
        cpu.psw_addr = 0x1000;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[1], 2);
        assert_eq!(cache.misses, 2);
    }

    #[test]
    fn the_window_compares_only_the_instructions_bytes() {
        let mut mem = VecStorage::new(0x2000);
        // lhi %r1,7 at 0x1000, then other bytes inside the eight-byte window; and
        // lhi %r2,9 in the last four bytes of storage (no full window there).
        mem.store(0x1000, &[0xa7, 0x18, 0x00, 0x07, 0x11, 0x22, 0x33, 0x44])
            .unwrap();
        mem.store(0x1ffc, &[0xa7, 0x28, 0x00, 0x09]).unwrap();
        let mut cpu = Cpu::new(Facilities::z10());
        let mut cache = InsnCache::new();
        for _ in 0..2 {
            cpu.psw_addr = 0x1000;
            cpu.step_cached(&mut mem, &mut cache).unwrap();
            cpu.psw_addr = 0x1ffc;
            cpu.step_cached(&mut mem, &mut cache).unwrap();
        }
        assert_eq!((cpu.gr[1], cpu.gr[2]), (7, 9));
        assert_eq!((cache.hits, cache.misses), (2, 2));
        // A store after the instruction but inside the window: still a hit.
        mem.store(0x1004, &[0x55]).unwrap();
        cpu.psw_addr = 0x1000;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!((cache.hits, cache.misses), (3, 2));
        // Its last byte: decoded again.
        mem.store(0x1003, &[0x08]).unwrap();
        mem.store(0x1ffe, &[0x00, 0x0a]).unwrap();
        cpu.psw_addr = 0x1000;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        cpu.psw_addr = 0x1ffc;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!((cpu.gr[1], cpu.gr[2]), (8, 10));
        assert_eq!((cache.hits, cache.misses), (3, 4));
    }

    #[test]
    fn self_modifying_code_through_the_cpu() {
        let mut mem = VecStorage::new(0x3000);
        // 0x800: mvi 0x807,0x05 (base 0) ; 0x804: lhi %r1,0
        mem.store(0x800, &[0x92, 0x05, 0x08, 0x07, 0xa7, 0x18, 0x00, 0x00])
            .unwrap();
        let mut cpu = Cpu::new(Facilities::z10());
        let mut cache = InsnCache::new();
        // Warm the cache with the original LHI.
        cpu.psw_addr = 0x804;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[1], 0);
        cpu.psw_addr = 0x800;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[1], 5);
    }

    #[test]
    fn instruction_crossing_a_page_checks_both_pages() {
        let mut mem = VecStorage::new(0x3000);
        // lgfi %r2,0x11223344 at 0x1ffe (6 bytes: c0 21 11 22 33 44)
        mem.store(0x1ffe, &[0xc0, 0x21, 0x11, 0x22, 0x33, 0x44])
            .unwrap();
        let mut cpu = Cpu::new(Facilities::z10());
        let mut cache = InsnCache::new();
        cpu.psw_addr = 0x1ffe;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[2], 0x1122_3344);
        mem.store(0x2003, &[0x55]).unwrap();
        cpu.psw_addr = 0x1ffe;
        cpu.step_cached(&mut mem, &mut cache).unwrap();
        assert_eq!(cpu.gr[2], 0x1122_3355);
    }
}
