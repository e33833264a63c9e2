//! The fd model: every KVM object is reachable through a real kernel fd (a placeholder), and
//! a lock-free table maps fd numbers to objects.
//!
//! * Placeholders: the /dev/kvm and VM fds are epoll instances (like KVM's anon-inode fds
//!   they reject `read`/`write` with EINVAL and `mmap` with ENODEV); vCPU fds are memfds
//!   holding the `kvm_run` page so that a plain `mmap` of them works. The kernel therefore
//!   hands out unique fd numbers and applies `O_CLOEXEC`, `fork` and `exec` rules itself.
//! * The table: 1024 lazily allocated chunks of 1024 `ArcSwapOption` slots, indexed by fd.
//!   A lookup is two atomic loads and never blocks; a missing chunk means "not a KVM fd".
//! * Aliases: `dup`-style calls store the same object under the new number; an object lives
//!   while any table entry or another object (a vCPU keeps its VM) holds it, as in the kernel.
//! * fork: objects remember the fork epoch of the process that created them; the epoch is
//!   bumped in the child by a `pthread_atfork` handler, so a VM or vCPU fd used in a child
//!   gets EIO like the kernel's `kvm->mm != current->mm` check.

use std::os::fd::RawFd;
use std::ptr;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Once};

use arc_swap::ArcSwapOption;

use crate::device::Device;
use crate::error::{Error, Result};
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
    /// stale entry at `new` when `old` is not a KVM fd.
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

static FORK_EPOCH: AtomicU64 = AtomicU64::new(0);
static ATFORK: Once = Once::new();

extern "C" fn after_fork_in_child() {
    FORK_EPOCH.fetch_add(1, Ordering::Relaxed);
}

/// The current fork epoch, registering the atfork handler on first use.
pub fn fork_epoch() -> u64 {
    ATFORK.call_once(|| {
        // SAFETY: registering a child handler that only does an atomic increment.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
    FORK_EPOCH.load(Ordering::Relaxed)
}

/// Whether an object created in `epoch` may be used by the calling process.
pub fn same_process(epoch: u64) -> bool {
    FORK_EPOCH.load(Ordering::Relaxed) == epoch
}

/// Creates a placeholder fd for the /dev/kvm or a VM object.
pub fn new_placeholder(cloexec: bool) -> Result<RawFd> {
    let flags = if cloexec { libc::EPOLL_CLOEXEC } else { 0 };
    // SAFETY: epoll_create1 has no memory preconditions.
    let fd = unsafe { libc::epoll_create1(flags) };
    if fd < 0 {
        Err(Error::Os(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EMFILE),
        ))
    } else {
        Ok(fd)
    }
}

/// Closes a placeholder without going through an interposed `close`.
pub fn close_placeholder(fd: RawFd) {
    // SAFETY: closing an fd the shim created and still owns.
    unsafe { libc::syscall(libc::SYS_close, fd) };
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
}
