//! The fd → object table: every KVM object is reachable through a real kernel fd (a
//! placeholder made by [`crate::os`]), and a lock-free table maps fd numbers to objects.
//!
//! * The table: 1024 lazily allocated chunks of 1024 `ArcSwapOption` slots, indexed by fd.
//!   A lookup is two atomic loads and never blocks; a missing chunk means "not a KVM fd".
//! * Aliases: `dup`-style calls store the same object under the new number; an object lives
//!   while any table entry or another object (a vCPU keeps its VM) holds it, as in the kernel.
//! * Races: an entry is removed only after the real `close` and only if it still holds the
//!   object seen before it ([`FdTable::remove_if`]), so a `dup` racing a `close` finds the
//!   object for as long as the kernel can still duplicate the file, and a number reused in
//!   between keeps its new entry.
//! * Stale entries (a number closed behind the shim's back) are recognised by the caller, which
//!   knows how to identify each object's placeholder, and dropped with `remove_if`.

use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::device::Device;
use crate::error::{Error, Result};
pub use crate::os::{close_placeholder, new_placeholder};
use crate::system::System;
use crate::vcpu::Vcpu;
use crate::vm::Vm;

/// A KVM object reachable through an fd.
#[derive(Clone)]
pub enum Object {
    /// The /dev/kvm fd.
    System(Arc<System>),
    /// A VM fd.
    Vm(Arc<Vm>),
    /// A vCPU fd: it keeps its VM alive.
    Vcpu(Arc<Vm>, Arc<Vcpu>),
    /// A device fd (`KVM_CREATE_DEVICE`): it keeps its VM alive.
    Device(Arc<Vm>, Arc<Device>),
}

/// A table entry as seen at one moment: its object, and the identity of the entry (every
/// insert makes a new one, so a number closed and reused by an alias of the same object is a
/// different entry). Holding it keeps that identity from being reused.
#[derive(Clone)]
pub struct Entry(Arc<Object>);

impl Entry {
    /// The object.
    pub fn object(&self) -> &Object {
        &self.0
    }
}

const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;

struct Chunk {
    slots: [ArcSwapOption<Object>; CHUNK],
}

/// The fd → object table.
pub struct FdTable {
    chunks: [AtomicPtr<Chunk>; CHUNKS],
}

/// The process-wide table.
pub static TABLE: FdTable = FdTable {
    chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
};

fn split(fd: RawFd) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    let (c, s) = (fd / CHUNK, fd % CHUNK);
    (c < CHUNKS).then_some((c, s))
}

impl FdTable {
    fn chunk(&self, c: usize) -> Option<&Chunk> {
        let p = self.chunks[c].load(Ordering::Acquire);
        // SAFETY: chunks are allocated once, published with Release, and never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    fn chunk_or_alloc(&self, c: usize) -> &Chunk {
        if let Some(ch) = self.chunk(c) {
            return ch;
        }
        let fresh = Box::into_raw(Box::new(Chunk {
            slots: std::array::from_fn(|_| ArcSwapOption::empty()),
        }));
        match self.chunks[c].compare_exchange(
            ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: we just published `fresh`; it is never freed.
            Ok(_) => unsafe { &*fresh },
            Err(existing) => {
                // SAFETY: `fresh` was never published; we still own it.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: `existing` was published by another thread and is never freed.
                unsafe { &*existing }
            }
        }
    }

    /// The object behind `fd`, if it is a KVM fd.
    pub fn get(&self, fd: RawFd) -> Option<Object> {
        let (c, s) = split(fd)?;
        let guard = self.chunk(c)?.slots[s].load();
        guard.as_ref().map(|o| Object::clone(o))
    }

    /// Runs `f` on the object behind `fd` without taking a reference count (the hot path of
    /// every KVM ioctl: no shared cache line is written).
    pub fn with<R>(&self, fd: RawFd, f: impl FnOnce(&Object) -> R) -> Option<R> {
        let (c, s) = split(fd)?;
        let guard = self.chunk(c)?.slots[s].load();
        guard.as_ref().map(|o| f(o))
    }

    /// Whether `fd` is a KVM fd (cheaper than [`FdTable::get`]).
    pub fn contains(&self, fd: RawFd) -> bool {
        split(fd)
            .and_then(|(c, s)| self.chunk(c).map(|ch| ch.slots[s].load().is_some()))
            .unwrap_or(false)
    }

    /// Registers `obj` under `fd`, replacing (and dropping) a stale entry.
    pub fn insert(&self, fd: RawFd, obj: Object) -> Result<()> {
        let (c, s) = split(fd).ok_or(Error::TooManyFds)?;
        self.chunk_or_alloc(c).slots[s].store(Some(Arc::new(obj)));
        Ok(())
    }

    /// Removes the entry of `fd`, returning the object it held.
    pub fn remove(&self, fd: RawFd) -> Option<Object> {
        let (c, s) = split(fd)?;
        let old = self.chunk(c)?.slots[s].swap(None)?;
        Some(Object::clone(&old))
    }

    /// The entry of `fd`, if it is a KVM fd.
    pub fn entry(&self, fd: RawFd) -> Option<Entry> {
        let (c, s) = split(fd)?;
        self.chunk(c)?.slots[s].load_full().map(Entry)
    }

    /// Removes the entry of `fd` if it is still `seen` (taken before the real `close`): an
    /// entry installed meanwhile for a reused number stays. Returns whether it removed it.
    pub fn remove_if(&self, fd: RawFd, seen: &Entry) -> bool {
        let Some(slot) = split(fd).and_then(|(c, s)| self.chunk(c).map(|ch| &ch.slots[s])) else {
            return false;
        };
        let prev = slot.compare_and_swap(&Some(seen.0.clone()), None);
        matches!(prev.as_ref(), Some(p) if Arc::ptr_eq(p, &seen.0))
    }

    /// The entries in `first..=last` (taken before a `close_range`, removed with
    /// [`FdTable::remove_if`] after it).
    pub fn entries(&self, first: u32, last: u32) -> Vec<(RawFd, Entry)> {
        let last = (last as usize).min(CHUNK * CHUNKS - 1);
        let mut fd = first as usize;
        let mut out = Vec::new();
        while fd <= last {
            let (c, s) = (fd / CHUNK, fd % CHUNK);
            match self.chunk(c) {
                Some(ch) => {
                    if let Some(e) = ch.slots[s].load_full() {
                        // fd < CHUNK * CHUNKS = 2^20 fits in RawFd.
                        out.push((fd as RawFd, Entry(e)));
                    }
                    fd += 1;
                }
                None => fd = (c + 1) * CHUNK,
            }
        }
        out
    }

    /// Removes every entry in `first..=last` (after a successful `close_range`).
    pub fn remove_range(&self, first: u32, last: u32) {
        let last = (last as usize).min(CHUNK * CHUNKS - 1);
        let mut fd = first as usize;
        while fd <= last {
            let (c, s) = (fd / CHUNK, fd % CHUNK);
            match self.chunk(c) {
                Some(ch) => {
                    ch.slots[s].store(None);
                    fd += 1;
                }
                None => fd = (c + 1) * CHUNK,
            }
        }
    }

    /// Makes `new` an alias of `old` (after a successful dup of the placeholder), or clears a
    /// stale entry at `new` when `old` is not a KVM fd. Looking `old` up after the dup races a
    /// concurrent `close(old)`: the interposers take the object before the real dup and
    /// [`FdTable::insert`] it instead.
    pub fn alias(&self, old: RawFd, new: RawFd) {
        match self.get(old) {
            Some(obj) => {
                // A table overflow leaves the duplicate as a plain fd: the kernel gave us
                // the number, so there is nothing to undo.
                let _ = self.insert(new, obj);
            }
            None => {
                self.remove(new);
            }
        }
    }
}

/// Registers a freshly created placeholder, closing it if registration fails.
pub fn install(fd: RawFd, obj: Object) -> Result<RawFd> {
    match TABLE.insert(fd, obj) {
        Ok(()) => Ok(fd),
        Err(e) => {
            close_placeholder(fd);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_alias_remove() {
        let sys = Arc::new(System::new());
        let fd = new_placeholder(true).unwrap();
        assert!(TABLE.get(fd).is_none());
        install(fd, Object::System(sys.clone())).unwrap();
        assert!(matches!(TABLE.get(fd), Some(Object::System(_))));
        // SAFETY: dup of an fd we own.
        let dup = unsafe { libc::dup(fd) };
        TABLE.alias(fd, dup);
        assert!(TABLE.contains(dup));
        assert_eq!(Arc::strong_count(&sys), 3);
        assert!(TABLE.remove(fd).is_some());
        close_placeholder(fd);
        assert!(TABLE.contains(dup));
        assert!(TABLE.remove(dup).is_some());
        close_placeholder(dup);
        assert_eq!(Arc::strong_count(&sys), 1);
        assert!(TABLE.get(-1).is_none());
        assert!(TABLE.get(i32::MAX).is_none());
        assert_eq!(
            TABLE.insert(i32::MAX, Object::System(sys)).unwrap_err(),
            Error::TooManyFds
        );
    }

    #[test]
    fn remove_if_keeps_a_newer_entry_of_the_same_object() {
        let sys = Arc::new(System::new());
        let fd = new_placeholder(true).unwrap();
        install(fd, Object::System(sys.clone())).unwrap();
        let seen = TABLE.entry(fd).unwrap();
        // The number is closed and reused by an alias of the same object.
        TABLE.insert(fd, Object::System(sys.clone())).unwrap();
        assert!(!TABLE.remove_if(fd, &seen));
        assert!(TABLE.contains(fd));
        let now = TABLE.entry(fd).unwrap();
        assert!(TABLE.remove_if(fd, &now));
        assert!(!TABLE.contains(fd));
        assert!(TABLE.entries(0, u32::MAX).iter().all(|(n, _)| *n != fd));
        close_placeholder(fd);
    }
}
