//! The fd → object table: every KVM object is reachable through a real kernel fd (a
//! placeholder made by [`crate::os`]), and a lock-free table maps fd numbers to objects. The
//! table is generic: it knows nothing of the objects it stores (they are listed in
//! [`crate::object`]).
//!
//! * The table: 1024 lazily allocated chunks of 1024 read-side-section slots
//!   ([`crate::rcu::RcuOption`]), indexed by fd. A lookup enters a section and does plain
//!   loads; a missing chunk means "not a KVM fd".
//! * Aliases: `dup`-style calls store the same object under the new number; an object lives
//!   while any table entry or another object (a vCPU keeps its VM) holds it, as in the kernel.
//! * Races: an entry is removed only after the real `close` and only if it still holds the
//!   object seen before it ([`FdTable::remove_if`]), so a `dup` racing a `close` finds the
//!   object for as long as the kernel can still duplicate the file, and a number reused in
//!   between keeps its new entry.
//! * Stale entries (a number closed behind the shim's back) are recognised by the caller, which
//!   knows how to identify each object's placeholder, and dropped with `remove_if`.
// The fd table: chunks published once through raw pointers.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::rcu::{self, RcuOption};

/// A table entry as seen at one moment: its object, and the identity of the entry (every
/// insert makes a new one, so a number closed and reused by an alias of the same object is a
/// different entry). Holding it keeps that identity from being reused.
pub struct FdEntry<T>(Arc<T>);

impl<T> Clone for FdEntry<T> {
    fn clone(&self) -> Self {
        FdEntry(self.0.clone())
    }
}

impl<T> FdEntry<T> {
    /// The object.
    pub fn object(&self) -> &T {
        &self.0
    }
}

const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;

struct Chunk<T> {
    slots: [RcuOption<Arc<T>>; CHUNK],
}

/// An fd → object table.
///
/// Slots are read-side-section published pointers ([`crate::rcu`]): a lookup is an
/// uncontended section entry plus plain loads; a removed entry is retired and dropped after a
/// grace period, so a thread still inside a section that loaded it keeps using it safely.
pub struct FdTable<T> {
    chunks: [AtomicPtr<Chunk<T>>; CHUNKS],
}

/// Waits for the readers that may still see a removed entry and drops it, so the object's
/// resources (a VM's memory, a vCPU's kick pipe) go when its last fd is closed; inside a
/// section of the calling thread it is retired instead (dropped after a later grace period).
fn drop_after_grace_period<T: Send + 'static>(stale: rcu::Stale<T>) {
    let _ = stale.wait();
}

#[inline(always)]
fn split(fd: RawFd) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    let (c, s) = (fd / CHUNK, fd % CHUNK);
    (c < CHUNKS).then_some((c, s))
}

impl<T: Clone + Send + Sync + 'static> Default for FdTable<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + Sync + 'static> FdTable<T> {
    /// An empty table (chunks are allocated on first insert).
    pub const fn new() -> Self {
        FdTable {
            chunks: [const { AtomicPtr::new(ptr::null_mut()) }; CHUNKS],
        }
    }

    #[inline(always)]
    fn chunk(&self, c: usize) -> Option<&Chunk<T>> {
        let p = self.chunks[c].load(Ordering::Acquire);
        // SAFETY: chunks are allocated once, published with Release, and never freed.
        (!p.is_null()).then(|| unsafe { &*p })
    }

    fn chunk_or_alloc(&self, c: usize) -> &Chunk<T> {
        if let Some(ch) = self.chunk(c) {
            return ch;
        }
        let fresh = Box::into_raw(Box::new(Chunk {
            slots: std::array::from_fn(|_| RcuOption::empty()),
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

    #[inline(always)]
    fn slot(&self, fd: RawFd) -> Option<&RcuOption<Arc<T>>> {
        let (c, s) = split(fd)?;
        Some(&self.chunk(c)?.slots[s])
    }

    /// The object behind `fd`, if it is a KVM fd (a clone: usable outside any section).
    pub fn get(&self, fd: RawFd) -> Option<T> {
        let slot = self.slot(fd)?;
        let section = rcu::enter();
        slot.load(&section).map(|o| T::clone(o))
    }

    /// Runs `f` on the object behind `fd` inside a read-side section, without taking a
    /// reference count. `f` must not sleep or wait for a grace period (use [`FdTable::get`]).
    #[inline(always)]
    pub fn with<R>(&self, fd: RawFd, f: impl FnOnce(&T) -> R) -> Option<R> {
        let slot = self.slot(fd)?;
        let section = rcu::enter();
        slot.load(&section).map(|o| f(o))
    }

    /// The object behind `fd`, borrowed for as long as `section` lasts (the same rules as
    /// [`FdTable::with`]).
    #[inline(always)]
    pub fn load<'a>(&'a self, fd: RawFd, section: &'a rcu::Section) -> Option<&'a T> {
        self.slot(fd)?.load(section).map(|o| &**o)
    }

    /// Whether `fd` is a KVM fd.
    pub fn contains(&self, fd: RawFd) -> bool {
        self.slot(fd).is_some_and(RcuOption::is_some)
    }

    /// Registers `obj` under `fd`, replacing a stale entry (retired after a grace period).
    pub fn insert(&self, fd: RawFd, obj: T) -> Result<()> {
        let (c, s) = split(fd).ok_or(Error::TooManyFds)?;
        drop(self.chunk_or_alloc(c).slots[s].publish(Some(Arc::new(obj))));
        Ok(())
    }

    /// Removes the entry of `fd`; whether there was one.
    /// The entry is dropped once no section can still see it: at once, after a grace
    /// period (as the kernel releases a file at its last close), or later when called inside
    /// a section.
    pub fn remove(&self, fd: RawFd) -> bool {
        self.slot(fd)
            .and_then(|slot| slot.publish(None))
            .map(drop_after_grace_period)
            .is_some()
    }

    /// The entry of `fd`, if it is a KVM fd.
    pub fn entry(&self, fd: RawFd) -> Option<FdEntry<T>> {
        let slot = self.slot(fd)?;
        let section = rcu::enter();
        slot.load(&section).map(|a| FdEntry(a.clone()))
    }

    /// Removes the entry of `fd` if it is still `seen` (taken before the real `close`): an
    /// entry installed meanwhile for a reused number stays. Returns whether it removed it.
    pub fn remove_if(&self, fd: RawFd, seen: &FdEntry<T>) -> bool {
        self.slot(fd)
            .and_then(|slot| slot.take_if(|cur| Arc::ptr_eq(cur, &seen.0)))
            .map(drop_after_grace_period)
            .is_some()
    }

    /// The entries in `first..=last` (taken before a `close_range`, removed with
    /// [`FdTable::remove_if`] after it).
    pub fn entries(&self, first: u32, last: u32) -> Vec<(RawFd, FdEntry<T>)> {
        let last = (last as usize).min(CHUNK * CHUNKS - 1);
        let mut fd = first as usize;
        let mut out = Vec::new();
        let section = rcu::enter();
        while fd <= last {
            let (c, s) = (fd / CHUNK, fd % CHUNK);
            match self.chunk(c) {
                Some(ch) => {
                    if let Some(e) = ch.slots[s].load(&section) {
                        // fd < CHUNK * CHUNKS = 2^20 fits in RawFd.
                        out.push((fd as RawFd, FdEntry(e.clone())));
                    }
                    fd += 1;
                }
                None => fd = (c + 1) * CHUNK,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static T: FdTable<Arc<String>> = FdTable::new();

    #[test]
    fn insert_get_alias_remove() {
        let obj = Arc::new(String::from("vm"));
        let (fd, dup) = (100, 101);
        assert!(T.get(fd).is_none());
        T.insert(fd, obj.clone()).unwrap();
        assert_eq!(T.get(fd).as_deref().map(String::as_str), Some("vm"));
        T.insert(dup, T.get(fd).unwrap()).unwrap();
        assert!(T.contains(dup));
        assert_eq!(Arc::strong_count(&obj), 3);
        assert!(T.remove(fd));
        assert!(T.contains(dup));
        assert!(T.remove(dup));
        assert!(!T.remove(dup));
        // Removed entries are dropped after a grace period.
        crate::rcu::synchronize().unwrap();
        assert_eq!(Arc::strong_count(&obj), 1);
        assert!(T.get(-1).is_none());
        assert!(T.get(i32::MAX).is_none());
        assert_eq!(T.insert(i32::MAX, obj).unwrap_err(), Error::TooManyFds);
    }

    #[test]
    fn remove_if_keeps_a_newer_entry_of_the_same_object() {
        let obj = Arc::new(String::from("sys"));
        let fd = 200;
        T.insert(fd, obj.clone()).unwrap();
        let seen = T.entry(fd).unwrap();
        // The number is closed and reused by an alias of the same object.
        T.insert(fd, obj.clone()).unwrap();
        assert!(!T.remove_if(fd, &seen));
        assert!(T.contains(fd));
        let now = T.entry(fd).unwrap();
        assert!(T.remove_if(fd, &now));
        assert!(!T.contains(fd));
        assert!(T.entries(0, u32::MAX).iter().all(|(n, _)| *n != fd));
    }
}
