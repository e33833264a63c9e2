//! The operating-system resources behind the KVM objects: placeholder fds, the memfd of a
//! vCPU's `kvm_run` page, and fork detection. A leaf module: it knows neither the fd table nor
//! the objects, so `fd` and the object modules call it and it calls nothing back.
//!
//! * Placeholders for `/dev/kvm` and VM fds are epoll instances (like KVM's anon-inode files
//!   they reject `read`/`write` with EINVAL and `mmap` with ENODEV). All anon-inode files share
//!   one inode, so `fstat` cannot tell a placeholder from an eventfd; instead every placeholder
//!   holds one registration of the *anchor*, a shim-owned empty epoll, and
//!   [`holds_anchor`] asks the kernel whether the file now at a number is such a placeholder
//!   (`EPOLL_CTL_MOD` of the anchor succeeds only on an epoll that has it). The anchor never
//!   becomes ready, so neither does a placeholder.
//! * vCPU fds are sealed memfds of one page ([`MemfdPage`]): unique inodes, so [`file_id`]
//!   identifies them exactly.
//! * Fork: [`process_token`] reads a non-zero token from a page marked `MADV_WIPEONFORK`. The
//!   kernel zeroes that page in the child of every fork (libc `fork`, a raw `clone` or
//!   `SYS_fork`, no atfork handler needed) but not for `vfork`/`CLONE_VM` children, which share
//!   the memory and the `mm`. A zero token makes the caller claim a fresh one, so objects
//!   stamped with the parent's token no longer match (the kernel's `kvm->mm != current->mm`).
//!   Reading it is two plain loads.
//!
//! The anchor moves to another number if the application closes or replaces its number through
//! an interposed call ([`protect_anchor`]); if it is closed behind the shim's back, placeholders
//! are recognised by their anon inode only (an eventfd could then pass for one).
//!
//! nix wraps the calls where it has them. It has no `MADV_WIPEONFORK` (0.29), and `epoll_ctl`
//! on numbers that may be closed, foreign or moving uses `libc` directly: nix's owned-fd types
//! would assert an ownership the shim does not have there.
// System calls nix does not wrap (or wraps with ownership the shim does not have).
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::num::NonZeroUsize;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicPtr, AtomicU64, Ordering};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::epoll::{Epoll, EpollCreateFlags};
use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
use nix::sys::mman::{mmap, mmap_anonymous, munmap, MapFlags, ProtFlags};

use crate::error::{Error, Result};

fn os_err(e: Errno) -> Error {
    Error::Os(e as i32)
}

/// The identity of an open file: `fstat`'s device and inode numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
}

/// The identity of the file now at `fd`, or None if `fd` is not open.
pub fn file_id(fd: RawFd) -> Option<FileId> {
    nix::sys::stat::fstat(fd).ok().map(|st| FileId {
        dev: st.st_dev,
        ino: st.st_ino,
    })
}

/// Closes a shim-owned fd with the raw system call (not through the `close` interposer).
pub fn close_placeholder(fd: RawFd) {
    // SAFETY: closing a number the shim created; no memory is involved.
    unsafe { libc::syscall(libc::SYS_close, fd) };
}

/// The anchor's fd, or -1 before the first placeholder.
static ANCHOR: AtomicI32 = AtomicI32::new(-1);
/// Set once the anchor is known to be gone (closed over a range it could not leave, or
/// closed behind the shim's back): placeholders are then recognised only as anon-inode files.
static ANCHOR_LOST: AtomicBool = AtomicBool::new(false);
/// The identity every anon-inode file shares (the anchor's own, recorded at creation).
static ANON_DEV: AtomicU64 = AtomicU64::new(0);
static ANON_INO: AtomicU64 = AtomicU64::new(0);

fn anon_id() -> FileId {
    FileId {
        dev: ANON_DEV.load(Ordering::Relaxed),
        ino: ANON_INO.load(Ordering::Relaxed),
    }
}

/// The anchor epoll, created on first use (close-on-exec; inherited by forked children, which
/// keeps the placeholders they inherit recognisable).
fn anchor() -> Result<RawFd> {
    let a = ANCHOR.load(Ordering::Acquire);
    if a >= 0 {
        return Ok(a);
    }
    let fresh = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .map_err(os_err)?
        .0
        .into_raw_fd();
    let id = file_id(fresh).ok_or(Error::Os(libc::EBADF))?;
    ANON_DEV.store(id.dev, Ordering::Relaxed);
    ANON_INO.store(id.ino, Ordering::Relaxed);
    match ANCHOR.compare_exchange(-1, fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(fresh),
        Err(won) => {
            close_placeholder(fresh);
            Ok(won)
        }
    }
}

/// Registers the anchor `a` in the epoll `fd` (with the kernel's errno on failure).
fn add_anchor(fd: RawFd, a: RawFd) -> std::result::Result<(), Errno> {
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: `ev` is a valid event buffer; the kernel validates both fds.
    Errno::result(unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, a, &mut ev) }).map(drop)
}

/// Creates a placeholder fd for a `/dev/kvm` or VM object: an epoll instance holding the anchor.
pub fn new_placeholder(cloexec: bool) -> Result<RawFd> {
    let flags = if cloexec {
        EpollCreateFlags::EPOLL_CLOEXEC
    } else {
        EpollCreateFlags::empty()
    };
    let ep = Epoll::new(flags).map_err(os_err)?;
    let fd = ep.0.as_raw_fd();
    // The anchor may move meanwhile ([`protect_anchor`]): register until the one registered
    // is the current one.
    let mut a = anchor()?;
    while !ANCHOR_LOST.load(Ordering::Relaxed) {
        let r = add_anchor(fd, a);
        let now = ANCHOR.load(Ordering::Acquire);
        match r {
            Ok(()) | Err(Errno::EEXIST) if now == a => break,
            Err(_) if now == a && file_id(a) != Some(anon_id()) => {
                // Closed behind the shim's back: recognise placeholders by their inode.
                ANCHOR_LOST.store(true, Ordering::Relaxed);
            }
            Err(e) if now == a => return Err(os_err(e)),
            _ => a = now,
        }
    }
    Ok(ep.0.into_raw_fd())
}

/// Whether the file now at `fd` is a placeholder made by [`new_placeholder`] (in this process
/// or an ancestor). One `epoll_ctl` (it re-sets the same empty event mask: no side effect).
pub fn holds_anchor(fd: RawFd) -> bool {
    let a = ANCHOR.load(Ordering::Acquire);
    if a < 0 {
        return false;
    }
    let mut a = a;
    while !ANCHOR_LOST.load(Ordering::Relaxed) {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: `ev` is a valid event buffer; the kernel validates both fds (`fd` may be
        // closed or any kind of file: then it fails with EBADF, EINVAL or ENOENT).
        if unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_MOD, a, &mut ev) } == 0 {
            return true;
        }
        let now = ANCHOR.load(Ordering::Acquire);
        if now != a {
            // The anchor moved meanwhile: ask again with the new one.
            a = now;
            continue;
        }
        // A failure is the answer while the anchor is still an anon-inode file.
        if file_id(a) == Some(anon_id()) {
            return false;
        }
        ANCHOR_LOST.store(true, Ordering::Relaxed);
        log::warn!("kvm-s390-shim: fd {a} (the shim's anchor) was closed behind its back");
    }
    file_id(fd) == Some(anon_id())
}

/// To be called before the application closes or replaces the numbers `first..=last` (a
/// `close`, a `dup2`/`dup3` onto one, a `close_range`): if the anchor is among them, it moves
/// to a free number outside the range and is registered again in the placeholders `live()`
/// returns (registrations are per anchor number). If no number outside is free, the anchor
/// is let go and placeholders are recognised as anon-inode files from then on.
pub fn protect_anchor(first: RawFd, last: RawFd, live: impl FnOnce() -> Vec<RawFd>) {
    let a = ANCHOR.load(Ordering::Acquire);
    if a < 0 || a < first || a > last || ANCHOR_LOST.load(Ordering::Relaxed) {
        return;
    }
    let dup_from = |min: RawFd| {
        // SAFETY: F_DUPFD_CLOEXEC of our own fd; no memory is involved.
        unsafe { libc::syscall(libc::SYS_fcntl, a, libc::F_DUPFD_CLOEXEC, min) as RawFd }
    };
    let mut moved = last.checked_add(1).map_or(-1, dup_from);
    if moved < 0 {
        moved = dup_from(0);
    }
    if moved < 0 || (first..=last).contains(&moved) {
        if moved >= 0 {
            close_placeholder(moved);
        }
        ANCHOR_LOST.store(true, Ordering::Relaxed);
        return;
    }
    for fd in live() {
        let _ = add_anchor(fd, moved);
    }
    ANCHOR.store(moved, Ordering::Release);
}

/// A one-page memfd mapped shared into the shim: a vCPU's fd and its `kvm_run` page.
///
/// The memfd is sealed at its size (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`), so no
/// `ftruncate`, raw or not, can take the page away under the shim's mapping (it gets EPERM).
/// Writes stay allowed: the caller writes the page, as it does the kernel's.
#[derive(Debug)]
pub struct MemfdPage {
    /// The shim's mapping.
    pub base: NonNull<u8>,
    /// The memfd (handed to the caller as the vCPU fd).
    pub fd: RawFd,
    /// The memfd's identity.
    pub id: FileId,
}

/// Creates a close-on-exec, sealable memfd of `len` bytes and maps it shared and writable
/// into the shim: the fd, the mapping and the file's identity.
fn memfd_mapped(name: &CStr, len: NonZeroUsize) -> Result<(OwnedFd, NonNull<u8>, FileId)> {
    let fd = memfd_create(
        name,
        MemFdCreateFlag::MFD_CLOEXEC | MemFdCreateFlag::MFD_ALLOW_SEALING,
    )
    .map_err(os_err)?;
    let size = libc::off_t::try_from(len.get()).map_err(|_| Error::OutOfMemory)?;
    nix::unistd::ftruncate(&fd, size).map_err(os_err)?;
    let id = file_id(fd.as_raw_fd()).ok_or(Error::Os(libc::EBADF))?;
    // SAFETY: a fresh shared mapping of our own memfd, at an address the kernel chooses.
    let base = unsafe {
        mmap(
            None,
            len,
            ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
            MapFlags::MAP_SHARED,
            &fd,
            0,
        )
    }
    .map_err(os_err)?;
    Ok((fd, base.cast(), id))
}

/// Creates, sizes, seals and maps a memfd of `len` bytes (close-on-exec).
pub fn memfd_page(name: &CStr, len: NonZeroUsize) -> Result<MemfdPage> {
    let (fd, base, id) = memfd_mapped(name, len)?;
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(
            SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL,
        ),
    )
    .map_err(os_err)?;
    Ok(MemfdPage {
        base,
        fd: fd.into_raw_fd(),
        id,
    })
}

/// Creates a memfd holding `bytes`, maps it shared and writable into the shim, then seals it
/// at its size and against writes through any other fd or mapping (`F_SEAL_FUTURE_WRITE`, where
/// the kernel has it): a binary-statistics file whose values the shim updates in place.
pub fn memfd_with(name: &CStr, bytes: &[u8]) -> Result<MemfdPage> {
    let len = NonZeroUsize::new(bytes.len()).ok_or(Error::Os(libc::EINVAL))?;
    let (fd, base, id) = memfd_mapped(name, len)?;
    // SAFETY: the mapping is `len` bytes long and nothing else refers to it yet.
    unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), base.as_ptr(), len.get()) };
    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW;
    // F_SEAL_FUTURE_WRITE (Linux 5.1) leaves this writable mapping usable; without it the
    // callers' fds are read-only anyway.
    let _ = fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(seals | SealFlag::F_SEAL_FUTURE_WRITE),
    );
    fcntl(
        fd.as_raw_fd(),
        FcntlArg::F_ADD_SEALS(seals | SealFlag::F_SEAL_SEAL),
    )
    .map_err(os_err)?;
    Ok(MemfdPage {
        base,
        fd: fd.into_raw_fd(),
        id,
    })
}

/// A new read-only open file description of the file at `fd` (close-on-exec), through
/// `/proc/self/fd` with the raw system call: its own file position, and `write` fails with
/// EBADF, as on the kernel's anon-inode files.
pub fn reopen_read_only(fd: RawFd) -> Result<RawFd> {
    let path = std::ffi::CString::new(format!("/proc/self/fd/{fd}"))
        .map_err(|_| Error::Os(libc::EINVAL))?;
    // SAFETY: openat with a NUL-terminated path; the raw syscall bypasses the interposers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            path.as_ptr(),
            libc::O_RDONLY | libc::O_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(Error::Os(Errno::last() as i32));
    }
    RawFd::try_from(r).map_err(|_| Error::Os(libc::EMFILE))
}

/// Unmaps a mapping made by [`memfd_page`].
///
/// # Safety
/// `base` and `len` must be a mapping returned by [`memfd_page`], not yet unmapped, with no
/// pointer into it used afterwards.
pub unsafe fn unmap(base: NonNull<u8>, len: usize) {
    // SAFETY: guaranteed by the caller.
    let _ = unsafe { munmap(base.cast(), len) };
}

/// Drops the process's pages in `[addr, addr + len)` as the kernel's `zap_page_range_single`
/// does for DIAGNOSE 0x10 (`MADV_DONTNEED`): private anonymous memory reads as zeros
/// afterwards, shared and file-backed memory as its file. A range the call refuses (not
/// mapped, locked pages) stays as it was, as the kernel skips what it cannot zap.
pub fn discard(addr: u64, len: u64) {
    let (Ok(addr), Ok(len)) = (usize::try_from(addr), usize::try_from(len)) else {
        return;
    };
    // SAFETY: the range is caller memory backing a memory slot, which the shim reaches only
    // through raw, fault-recovering copies and never by reference, so no Rust object's
    // bytes change; an unmapped or unsuitable range fails with an errno that is ignored.
    let _ = unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_DONTNEED) };
}

/// The token page (wiped in forked children), or the fallback cell.
static TOKEN: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());
/// The last token handed out in this address space (copied into children, so a child's fresh
/// token is larger than every token its parent used before the fork).
static LAST_TOKEN: AtomicU64 = AtomicU64::new(0);
/// Used when the kernel lacks `MADV_WIPEONFORK` (before 4.14): a `pthread_atfork` child
/// handler zeroes it instead (libc forks only).
static FALLBACK_TOKEN: AtomicU64 = AtomicU64::new(0);

extern "C" fn zero_fallback_token() {
    FALLBACK_TOKEN.store(0, Ordering::Relaxed);
}

/// The atfork child handler for the token page (redundant where the kernel wipes it).
extern "C" fn zero_token_page() {
    let p = TOKEN.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: TOKEN holds the never-unmapped token page (or the static cell).
        unsafe { (*p).store(0, Ordering::Relaxed) };
    }
}

/// The token cell: one load once it is set up.
#[inline(always)]
fn token_cell() -> &'static AtomicU64 {
    let p = TOKEN.load(Ordering::Acquire);
    if !p.is_null() {
        // SAFETY: TOKEN only ever holds the never-unmapped token page or &FALLBACK_TOKEN.
        return unsafe { &*p };
    }
    map_token_cell()
}

/// Maps the token page, or falls back to the atfork-zeroed cell.
#[cold]
#[inline(never)]
fn map_token_cell() -> &'static AtomicU64 {
    let page = NonZeroUsize::new(4096).and_then(|len| {
        // SAFETY: a fresh private anonymous page at an address the kernel chooses.
        let p = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }
        .ok()?;
        // SAFETY: advising our own fresh mapping.
        if unsafe { libc::madvise(p.as_ptr(), len.get(), libc::MADV_WIPEONFORK) } == 0 {
            // Also zeroed by libc's fork: an emulator that accepts the hint without honouring
            // it (qemu-user ignores madvise hints) still detects libc forks.
            // SAFETY: registering a child handler that only does atomic stores.
            unsafe { libc::pthread_atfork(None, None, Some(zero_token_page)) };
            Some(p.cast::<AtomicU64>())
        } else {
            // SAFETY: unmapping the page mapped above; nothing points into it.
            let _ = unsafe { munmap(p, len.get()) };
            None
        }
    });
    let cell = match page {
        Some(p) => p.as_ptr(),
        None => {
            // SAFETY: registering a child handler that only does an atomic store.
            unsafe { libc::pthread_atfork(None, None, Some(zero_fallback_token)) };
            ptr::from_ref(&FALLBACK_TOKEN).cast_mut()
        }
    };
    match TOKEN.compare_exchange(ptr::null_mut(), cell, Ordering::AcqRel, Ordering::Acquire) {
        // SAFETY: `cell` is the page mapped above (never unmapped) or the static cell.
        Ok(_) => unsafe { &*cell },
        Err(won) => {
            if let Some(p) = page {
                // SAFETY: our page lost the race and was never published.
                let _ = unsafe { munmap(p.cast(), 4096) };
            }
            // SAFETY: as for the fast path.
            unsafe { &*won }
        }
    }
}

/// The calling process's token: non-zero, equal for every thread and every `CLONE_VM` child,
/// different in a forked child from every token of its ancestors. Two plain loads once set.
#[inline(always)]
pub fn process_token() -> u64 {
    let t = token_cell().load(Ordering::Relaxed);
    if t != 0 {
        t
    } else {
        claim_token()
    }
}

#[cold]
fn claim_token() -> u64 {
    let fresh = LAST_TOKEN.fetch_add(1, Ordering::Relaxed) + 1;
    match token_cell().compare_exchange(0, fresh, Ordering::Relaxed, Ordering::Relaxed) {
        Ok(_) => fresh,
        Err(other) => other,
    }
}

/// Whether an object stamped with `token` belongs to the calling process.
#[inline(always)]
pub fn same_process(token: u64) -> bool {
    // A VM's token is never 0, so a match needs no check that this process has one yet.
    let p = TOKEN.load(Ordering::Acquire);
    // SAFETY: TOKEN only ever holds the never-unmapped token page or &FALLBACK_TOKEN.
    if !p.is_null() && unsafe { (*p).load(Ordering::Relaxed) } == token {
        return true;
    }
    process_token() == token
}

/// A close-on-exec duplicate of `fd` through the raw `dup` system call (not libc's, which the
/// preload library interposes), then `FD_CLOEXEC`. Not `F_DUPFD_CLOEXEC`: under qemu-user the
/// emulator translates an eventfd's 8-byte values between guest and host byte order only for
/// numbers made by `eventfd` or `dup`, so a duplicate made by `fcntl` would count in the wrong
/// byte order there. (The window in which the duplicate lacks `FD_CLOEXEC` is two system
/// calls long.)
pub fn dup_cloexec(fd: RawFd) -> std::io::Result<RawFd> {
    // SAFETY: dup and fcntl(F_SETFD) take integers only.
    let dup = unsafe { libc::syscall(libc::SYS_dup, fd) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_fcntl, dup, libc::F_SETFD, libc::FD_CLOEXEC) };
    Ok(dup as RawFd)
}

/// A close-on-exec duplicate of `fd` if it is an eventfd (`eventfd_ctx_fileget`): EBADF for
/// a number that is not open, EINVAL for another kind of file.
pub fn eventfd_dup(fd: RawFd) -> Result<std::os::fd::OwnedFd> {
    let link =
        std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|_| Error::Os(libc::EBADF))?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return Err(Error::Os(libc::EINVAL));
    }
    let dup = dup_cloexec(fd).map_err(|e| Error::Os(e.raw_os_error().unwrap_or(libc::EBADF)))?;
    // SAFETY: `dup` is a fresh descriptor that nothing else owns.
    Ok(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(dup) })
}

/// Whether two descriptors refer to the same open file (`kcmp(KCMP_FILE)`; nix has no kcmp).
pub fn same_file(a: std::os::fd::BorrowedFd, b: std::os::fd::BorrowedFd) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    let pid = libc::c_long::from(std::process::id() as i32);
    // SAFETY: kcmp compares kernel objects of this process; it reads no user memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            pid,
            pid,
            KCMP_FILE,
            libc::c_long::from(a.as_raw_fd()),
            libc::c_long::from(b.as_raw_fd()),
        )
    };
    r == 0
}

/// Reads an eventfd's count without blocking (`RWF_NOWAIT`, even on a blocking eventfd, so a
/// count consumed by another reader gives None instead of waiting); nix has no `preadv2`.
pub fn eventfd_read_nowait(fd: std::os::fd::BorrowedFd) -> Option<u64> {
    let mut count = 0u64;
    let iov = libc::iovec {
        iov_base: (&mut count as *mut u64).cast(),
        iov_len: 8,
    };
    // SAFETY: one 8-byte read into a local through a one-element iovec.
    let r = unsafe { libc::preadv2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
    if r == 8 {
        return Some(count);
    }
    if std::io::Error::last_os_error().raw_os_error() == Some(libc::EAGAIN) {
        return None;
    }
    // No RWF_NOWAIT here (qemu-user): read only if the count is there now. Another reader
    // emptying it between the two calls would make a blocking eventfd wait; the shim's
    // eventfds have no other reader in the programs it serves.
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live pollfd, zero timeout.
    if unsafe { libc::poll(&mut pfd, 1, 0) } != 1 {
        return None;
    }
    // SAFETY: an 8-byte read into a local.
    let r = unsafe { libc::read(fd.as_raw_fd(), (&mut count as *mut u64).cast(), 8) };
    (r == 8).then_some(count)
}

/// `n` random bytes from the kernel (`getrandom`; nix has none).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: getrandom writes at most N - filled bytes into the rest of our buffer.
        let r = unsafe { libc::getrandom(b[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if r <= 0 {
            break;
        }
        filled += r as usize;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_hold_the_anchor() {
        let p = new_placeholder(true).unwrap();
        assert!(holds_anchor(p));
        // SAFETY: plain fd calls on numbers this test owns.
        let (e, d) = unsafe { (libc::epoll_create1(libc::EPOLL_CLOEXEC), libc::dup(p)) };
        assert!(!holds_anchor(e), "an unrelated epoll");
        assert!(holds_anchor(d), "a dup of a placeholder is the same file");
        for fd in [p, e, d] {
            close_placeholder(fd);
        }
        assert!(!holds_anchor(p), "a closed number");
    }

    #[test]
    fn memfd_page_is_sealed() {
        let page = memfd_page(c"test", NonZeroUsize::new(4096).unwrap()).unwrap();
        assert_eq!(file_id(page.fd), Some(page.id));
        // SAFETY: a raw truncate of our own memfd: refused by the seal.
        let r = unsafe { libc::syscall(libc::SYS_ftruncate, page.fd, 0) };
        assert_eq!((r, Errno::last()), (-1, Errno::EPERM));
        // SAFETY: the page is mapped and not yet unmapped.
        unsafe {
            page.base.as_ptr().write_volatile(7);
            assert_eq!(page.base.as_ptr().read_volatile(), 7);
            unmap(page.base, 4096);
        }
        close_placeholder(page.fd);
    }

    #[test]
    fn token_is_stable_and_nonzero() {
        let t = process_token();
        assert_ne!(t, 0);
        assert!(same_process(t));
        assert!(!same_process(t + 1));
    }
}
