//! Access to caller memory: the userspace equivalent of the kernel's `copy_from_user` /
//! `copy_to_user`.
//!
//! Every read or write of memory whose address came from the caller (ioctl argument structs,
//! the buffers they point to, and memory-slot backing memory) goes through this module. A
//! NULL, unmapped or wrongly protected address yields [`Fault`] (EFAULT at the ioctl), never a
//! crash. No Rust reference into caller memory is ever created: data is copied into or out of
//! shim-owned buffers.
//!
//! Two interchangeable methods sit behind the same functions (see DESIGN.md):
//! * [`Method::FaultHandler`] (default): a copy routine written in assembly whose faulting
//!   instructions are known; a SIGSEGV/SIGBUS handler recognises a fault at those
//!   instructions, resumes at a recovery point that reports the fault, and chains every other
//!   fault to the handler that was installed before. This costs what a `memcpy` costs.
//! * [`Method::Syscall`]: `process_vm_readv` / `process_vm_writev` on the own process, which the
//!   kernel checks. Selected with `KVM_S390_SHIM_UACCESS=syscall`; about a syscall per copy.
//!
//! A thread that blocks SIGSEGV or SIGBUS cannot recover a fault (the kernel kills the process
//! instead of delivering a blocked fault signal), so in the default method such a thread copies
//! with the system calls too ([`sigmask`] keeps that knowledge per thread without a system call
//! per access). Compare-and-swap has no system-call form: see [`compare_exchange`].
// Caller memory: the fault-recovering copy and compare-and-swap routines and their handler.
#![allow(unsafe_code)]

mod fault;
pub use fault::CmpxchgUser;
mod sigmask;

pub(crate) use sigmask::mask_may_have_changed;

use std::sync::atomic::{AtomicU8, Ordering};

/// The caller's memory could not be accessed (EFAULT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fault;

/// How caller memory is accessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Assembly copy routine plus a chaining SIGSEGV/SIGBUS handler (the default).
    FaultHandler,
    /// `process_vm_readv` / `process_vm_writev`.
    Syscall,
}

const METHOD_UNSET: u8 = 0;
const METHOD_FAULT: u8 = 1;
const METHOD_SYSCALL: u8 = 2;
static METHOD: AtomicU8 = AtomicU8::new(METHOD_UNSET);

/// The method in use, chosen on first use from `KVM_S390_SHIM_UACCESS` (`fault` or `syscall`).
/// The fault handler is installed before [`Method::FaultHandler`] is first reported, so the
/// copy fast path need not check for it.
#[inline]
pub fn method() -> Method {
    match METHOD.load(Ordering::Relaxed) {
        METHOD_FAULT => Method::FaultHandler,
        METHOD_SYSCALL => Method::Syscall,
        _ => choose_method(),
    }
}

#[cold]
fn choose_method() -> Method {
    let chosen = match std::env::var_os("KVM_S390_SHIM_UACCESS") {
        Some(v) if v == "syscall" => METHOD_SYSCALL,
        _ => METHOD_FAULT,
    };
    if chosen == METHOD_FAULT {
        fault::install();
    }
    // First writer wins, so concurrent first calls agree.
    let _ = METHOD.compare_exchange(METHOD_UNSET, chosen, Ordering::Relaxed, Ordering::Relaxed);
    method()
}

/// Selects the method explicitly (tests and benchmarks).
pub fn set_method(m: Method) {
    let v = match m {
        Method::FaultHandler => {
            fault::install();
            METHOD_FAULT
        }
        Method::Syscall => METHOD_SYSCALL,
    };
    METHOD.store(v, Ordering::Relaxed);
}

/// The common case, decided with two loads: the default method (so the handler is installed)
/// on a thread known to have the fault signals deliverable.
#[inline(always)]
fn fast_path() -> bool {
    METHOD.load(Ordering::Relaxed) == METHOD_FAULT && sigmask::known_deliverable()
}

/// Lowest address treated as possibly valid: the kernel never maps page 0 for users.
const MIN_USER_ADDR: u64 = 4096;
/// One past the highest user address on 64-bit Linux (x86_64 with 5-level paging, aarch64
/// with 52-bit VA); anything above is never user memory.
#[cfg(not(target_arch = "s390x"))]
const USER_ADDR_END: u64 = 1 << 57;
/// s390x user space is a separate address space that reaches up to the kernel's
/// `TASK_SIZE_MAX`, `-PAGE_SIZE`: only the last page is never user memory.
#[cfg(target_arch = "s390x")]
const USER_ADDR_END: u64 = 0u64.wrapping_sub(4096);

/// The kernel's `access_ok`: the range lies in the user half and does not wrap.
#[inline(always)]
pub fn is_user_range(addr: u64, len: u64) -> bool {
    // addr >= MIN and addr + len <= END (no wrap) as one unsigned compare: an address below
    // MIN wraps to above any bound here.
    const SPAN: u64 = USER_ADDR_END - MIN_USER_ADDR;
    len == 0 || (len <= SPAN && addr.wrapping_sub(MIN_USER_ADDR) <= SPAN - len)
}

/// How the calling thread accesses caller memory now.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// The fault-recovering routines.
    Fault,
    /// The default method on a thread that blocks SIGSEGV or SIGBUS.
    Blocked,
    /// [`Method::Syscall`].
    Syscall,
}

fn path() -> Path {
    match method() {
        Method::Syscall => Path::Syscall,
        Method::FaultHandler if sigmask::faults_deliverable() => Path::Fault,
        Method::FaultHandler => Path::Blocked,
    }
}

/// Copies `dst.len()` bytes from caller address `src` into `dst`.
#[inline]
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), Fault> {
    if !is_user_range(src, dst.len() as u64) {
        return Err(Fault);
    }
    if fast_path() {
        return fault::copy_installed(dst.as_mut_ptr() as u64, src, dst.len());
    }
    copy_in_slow(dst.as_mut_ptr() as u64, src, dst.len())
}

/// A copy of `len` bytes from caller address `src` to the shim's memory at `dst` off the fast
/// path.
#[inline(never)]
fn copy_in_slow(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    match path() {
        Path::Fault => fault::copy(dst, src, len),
        Path::Blocked => blocked_copy(dst, src, len, false),
        Path::Syscall => syscall_copy(dst, src, len, false),
    }
}

/// Copies `src` to caller address `dst`.
#[inline]
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), Fault> {
    if !is_user_range(dst, src.len() as u64) {
        return Err(Fault);
    }
    if fast_path() {
        return fault::copy_installed(dst, src.as_ptr() as u64, src.len());
    }
    copy_to_user_slow(dst, src)
}

#[inline(never)]
fn copy_to_user_slow(dst: u64, src: &[u8]) -> Result<(), Fault> {
    if src.is_empty() {
        return Ok(());
    }
    match path() {
        Path::Fault => fault::copy(dst, src.as_ptr() as u64, src.len()),
        Path::Blocked => blocked_copy(dst, src.as_ptr() as u64, src.len(), true),
        Path::Syscall => syscall_copy(dst, src.as_ptr() as u64, src.len(), true),
    }
}

/// Whether [`copy_user_to_user`] is one fault-recovering copy on the calling thread (the
/// default method with the fault signals deliverable), so that copying caller memory straight
/// to guest memory costs one pass; otherwise it goes through a bounce buffer and callers do
/// better to stage themselves.
#[inline]
pub fn direct_copies() -> bool {
    fast_path() || path() == Path::Fault
}

/// Whether every page of `[addr, addr + len)` can be read now: one byte of each page is read
/// through the fault-recovering copy (a source probe before a copy that must not start if it
/// cannot finish). Only meaningful where [`direct_copies`] holds.
pub fn probe_read(addr: u64, len: usize) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    if !is_user_range(addr, len as u64) {
        return Err(Fault);
    }
    let end = addr + len as u64;
    let mut at = addr;
    let mut byte = 0u8;
    let fast = fast_path();
    while at < end {
        if fast {
            // The range was checked as a whole above.
            fault::copy_installed(std::ptr::addr_of_mut!(byte) as u64, at, 1)?;
        } else {
            copy_from_user(std::slice::from_mut(&mut byte), at)?;
        }
        at = (at | 4095) + 1;
    }
    Ok(())
}

/// Copies `len` bytes between two caller addresses (both may fault), e.g. from a memory slot
/// to another. Goes through a bounce buffer when the system calls are used.
#[inline]
pub fn copy_user_to_user(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
    if !is_user_range(src, len as u64) || !is_user_range(dst, len as u64) {
        return Err(Fault);
    }
    if fast_path() {
        return fault::copy_installed(dst, src, len);
    }
    if len == 0 {
        return Ok(());
    }
    match path() {
        Path::Fault => fault::copy(dst, src, len),
        Path::Blocked | Path::Syscall => {
            let mut bounce = vec![0u8; len];
            copy_from_user(&mut bounce, src)?;
            copy_to_user(dst, &bounce)
        }
    }
}

/// Atomically compares `size` (1, 2, 4, 8 or 16) bytes at caller address `addr` with
/// `old[..size]` and, if equal, replaces them with `new[..size]` — a real compare-and-swap
/// instruction on that memory, atomic against any other CPU's atomics on it. `addr` must be
/// aligned to `size`. On return `old[..size]` holds the bytes found. Returns whether the
/// exchange happened; `Fault` if `addr` is not mapped writable.
///
/// An atomic operation cannot go through a bounce buffer, so the instruction always runs in
/// the shim, and what differs is how a fault is kept from killing the process:
/// * default method, fault signals deliverable: the fault handler recovers it;
/// * default method, a thread that blocks SIGSEGV/SIGBUS: they are unblocked for the
///   duration of the instruction (two system calls; the handler then recovers the fault);
/// * [`Method::Syscall`] (no handler installed): the kernel first checks that the page is
///   writable with an atomic add of 0 (`FUTEX_WAKE_OP`), which fails with EFAULT where the
///   instruction would fault. A page made inaccessible by another thread between the check
///   and the instruction still faults (DESIGN.md).
#[inline(always)]
pub fn compare_exchange(
    addr: u64,
    size: usize,
    old: &mut [u8; 16],
    new: &[u8; 16],
) -> Result<bool, Fault> {
    if !matches!(size, 1 | 2 | 4 | 8 | 16) || addr & (size as u64 - 1) != 0 {
        return Err(Fault);
    }
    if !is_user_range(addr, size as u64) {
        return Err(Fault);
    }
    if fast_path() {
        return fault::cas_unprotected(addr, size, old, new);
    }
    compare_exchange_slow(addr, size, old, new)
}

/// The accesses of the memop cmpxchg in one pass, where the calling thread can take them
/// that way (the default method, fault signals deliverable): reads `size` (1, 2, 4, 8 or 16)
/// bytes each from caller addresses `new` and `old`, compare-and-swaps them at caller address
/// `addr` (aligned to `size`) and, on a mismatch, stores the value found to `old` — the
/// kernel's `copy_from_user`, `copy_from_user`, `cmpxchg_user_key`, `copy_to_user`, with each
/// fault told apart. `addr` must lie in the user range (as a memory slot's host addresses
/// do: they are checked when the slot is made). `None` where it cannot be taken in one pass
/// (or `new` or `old` is outside the user range): the caller then takes the steps one by one.
#[inline(always)]
pub fn cmpxchg_user(addr: u64, size: usize, new: u64, old: u64) -> Option<CmpxchgUser> {
    debug_assert!(is_user_range(addr, size as u64));
    if !matches!(size, 1 | 2 | 4 | 8 | 16)
        || addr & (size as u64 - 1) != 0
        || !is_user_range(new, size as u64)
        || !is_user_range(old, size as u64)
        || !fast_path()
    {
        return None;
    }
    Some(fault::cmpxchg_user_installed(addr, size, new, old))
}

/// [`compare_exchange`] off the fast path.
#[inline(never)]
fn compare_exchange_slow(
    addr: u64,
    size: usize,
    old: &mut [u8; 16],
    new: &[u8; 16],
) -> Result<bool, Fault> {
    match path() {
        Path::Fault => fault::cas(addr, size, old, new),
        Path::Blocked => sigmask::with_fault_signals_unblocked(|| fault::cas(addr, size, old, new)),
        Path::Syscall => {
            if !probe_writable(addr) {
                return Err(Fault);
            }
            fault::cas_unprotected(addr, size, old, new)
        }
    }
}

/// Whether the page holding `addr` can be written, asked of the kernel without changing
/// memory: `FUTEX_WAKE_OP` adds 0 atomically to the aligned 32-bit word at `addr` and
/// fails with EFAULT if that word cannot be written. It wakes no one: the first futex is a
/// shim-private word nobody waits on, and the second is woken only if its old value equals
/// an arbitrary constant (a spurious wake-up, which futex users tolerate, at worst).
fn probe_writable(addr: u64) -> bool {
    static NOBODY_WAITS_HERE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    // FUTEX_OP(FUTEX_OP_ADD, 0, FUTEX_OP_CMP_EQ, 0x5a5).
    let op: u32 = (libc::FUTEX_OP_ADD as u32) << 28 | (libc::FUTEX_OP_CMP_EQ as u32) << 24 | 0x5a5;
    // SAFETY: FUTEX_WAKE_OP reads no memory through the first address beyond its key (a
    // private futex) and accesses the second with the kernel's fault checks; `nr_wake` 0 and
    // `nr_wake2` 0 (passed in the timeout slot) wake no waiter of the private word.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            NOBODY_WAITS_HERE.as_ptr(),
            libc::FUTEX_WAKE_OP | libc::FUTEX_PRIVATE_FLAG,
            0,
            0usize,
            (addr & !3) as *mut u32,
            op,
        )
    };
    r >= 0
}

/// Types that may be filled from caller bytes: every bit pattern is a valid value
/// (`bytemuck::AnyBitPattern`, derived on the uapi mirrors, unions included). Filling never
/// reads the value's bytes, so padding is harmless here.
pub use bytemuck::AnyBitPattern as FromBytes;

/// Types that may be viewed as bytes and copied out: no padding, no uninitialised byte
/// (`bytemuck::NoUninit`, whose derive rejects a struct with padding at compile time; the uapi
/// mirrors name the kernel's implicit padding, e.g. `kvm_fpu::pad`, so that they qualify).
pub use bytemuck::NoUninit as IntoBytes;

/// Reads a `T` from caller address `addr`.
#[inline]
pub fn read_user<T: FromBytes>(addr: u64) -> Result<T, Fault> {
    let mut val = std::mem::MaybeUninit::uninit();
    read_user_uninit(addr, &mut val).map(|v| *v)
}

/// Fills `dst` from caller address `addr` in place and returns it (no zeroing before and no
/// move afterwards: an argument struct read this way is used where the copy stored it, so
/// its field loads are forwarded from the copy's stores).
#[inline]
pub fn read_user_uninit<T: FromBytes>(
    addr: u64,
    dst: &mut std::mem::MaybeUninit<T>,
) -> Result<&mut T, Fault> {
    let len = std::mem::size_of::<T>();
    if !is_user_range(addr, len as u64) {
        return Err(Fault);
    }
    // The copy routines write `dst`'s storage through this address only, never through a
    // byte slice.
    let to = dst.as_mut_ptr() as u64;
    if fast_path() {
        fault::copy_installed(to, addr, len)?;
    } else {
        copy_in_slow(to, addr, len)?;
    }
    // SAFETY: the copy wrote all `len` bytes of `dst` (padding included), and any bit
    // pattern is a `T` (`AnyBitPattern`).
    Ok(unsafe { dst.assume_init_mut() })
}

/// Writes `val` to caller address `addr`: exactly its bytes, none of them padding.
pub fn write_user<T: IntoBytes>(addr: u64, val: &T) -> Result<(), Fault> {
    copy_to_user(addr, bytemuck::bytes_of(val))
}

/// Set once `process_vm_readv`/`writev` answered ENOSYS (qemu-user 7.2 has neither).
static NO_PROCESS_VM: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A copy on a thread that blocks SIGSEGV/SIGBUS: `process_vm_readv`/`writev`, or where the
/// system has none (qemu-user), the fault-recovering copy with the two signals unblocked
/// around it (as the blocked-thread compare-and-swap always does).
fn blocked_copy(dst: u64, src: u64, len: usize, to_user: bool) -> Result<(), Fault> {
    if !NO_PROCESS_VM.load(Ordering::Relaxed) {
        match syscall_copy(dst, src, len, to_user) {
            Err(Fault) if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) => {
                NO_PROCESS_VM.store(true, Ordering::Relaxed);
            }
            r => return r,
        }
    }
    sigmask::with_fault_signals_unblocked(|| fault::copy(dst, src, len))
}

/// [`Method::Syscall`]: one `process_vm_readv`/`process_vm_writev` on the own process.
fn syscall_copy(dst: u64, src: u64, len: usize, to_user: bool) -> Result<(), Fault> {
    let local = libc::iovec {
        iov_base: (if to_user { src } else { dst }) as *mut libc::c_void,
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: (if to_user { dst } else { src }) as *mut libc::c_void,
        iov_len: len,
    };
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    // SAFETY: the kernel validates the remote range and reports failure instead of faulting;
    // the local iovec describes a shim-owned buffer of `len` bytes.
    let n = unsafe {
        if to_user {
            libc::process_vm_writev(pid, &local, 1, &remote, 1, 0)
        } else {
            libc::process_vm_readv(pid, &local, 1, &remote, 1, 0)
        }
    };
    if n == len as isize {
        Ok(())
    } else {
        Err(Fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// qemu-user allowance: qemu-user 7.2 implements no `process_vm_readv`/`writev` (ENOSYS),
    /// so under it (`KVM_S390_SHIM_QEMU_USER` set, as scripts/s390x/run.sh does) the syscall
    /// method cannot work and is left out. Everywhere else both methods are tested.
    fn methods() -> &'static [Method] {
        if std::env::var_os("KVM_S390_SHIM_QEMU_USER").is_some() {
            &[Method::FaultHandler]
        } else {
            &[Method::FaultHandler, Method::Syscall]
        }
    }

    fn both_methods(f: impl Fn()) {
        // The method is process-global; tests that switch it run under this lock.
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        for &m in methods() {
            set_method(m);
            f();
        }
        set_method(Method::FaultHandler);
    }

    fn map(prot: libc::c_int) -> u64 {
        // SAFETY: anonymous private mapping of one page; checked for failure.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        p as u64
    }

    fn unmap(addr: u64) {
        // SAFETY: unmapping a page this test mapped.
        assert_eq!(unsafe { libc::munmap(addr as *mut libc::c_void, 4096) }, 0);
    }

    #[test]
    fn copies_valid_memory() {
        both_methods(|| {
            let src: Vec<u8> = (0..=255u8).cycle().take(10000).collect();
            let mut dst = vec![0u8; 10000];
            copy_from_user(&mut dst, src.as_ptr() as u64).unwrap();
            assert_eq!(dst, src);
            let mut out = vec![0u8; 10000];
            copy_to_user(out.as_mut_ptr() as u64, &src).unwrap();
            assert_eq!(out, src);
            let v: u64 = read_user(&0x1122334455667788u64 as *const u64 as u64).unwrap();
            assert_eq!(v, 0x1122334455667788);
        });
    }

    #[test]
    fn null_unmapped_and_readonly_fault() {
        both_methods(|| {
            let mut buf = [0u8; 16];
            assert_eq!(copy_from_user(&mut buf, 0), Err(Fault));
            assert_eq!(copy_to_user(8, &buf), Err(Fault));
            // Inaccessible memory is reserved PROT_NONE rather than unmapped: tests run in
            // parallel and another thread's mmap could reuse an unmapped range.
            let gone = map(libc::PROT_NONE);
            assert_eq!(copy_from_user(&mut buf, gone), Err(Fault));
            assert_eq!(copy_to_user(gone, &buf), Err(Fault));
            unmap(gone);
            let ro = map(libc::PROT_READ);
            assert_eq!(copy_from_user(&mut buf, ro), Ok(()));
            assert_eq!(copy_to_user(ro, &buf), Err(Fault));
            unmap(ro);
            let none = map(libc::PROT_NONE);
            assert_eq!(copy_from_user(&mut buf, none), Err(Fault));
            unmap(none);
            assert_eq!(copy_from_user(&mut buf, u64::MAX - 4), Err(Fault));
            assert_eq!(copy_from_user(&mut buf, 0xffff_8000_0000_0000), Err(Fault));
        });
    }

    #[test]
    fn compare_exchange_all_sizes() {
        let mut mem = [0u8; 32];
        for (i, b) in mem.iter_mut().enumerate() {
            *b = i as u8;
        }
        let base = mem.as_mut_ptr() as u64;
        let base = (base + 15) & !15;
        for size in [1usize, 2, 4, 8, 16] {
            let addr = base;
            let mut before = [0u8; 16];
            copy_from_user(&mut before[..size], addr).unwrap();
            // Mismatch: nothing stored, current value returned.
            let mut old = [0xEEu8; 16];
            let new = [0x5Au8; 16];
            assert_eq!(compare_exchange(addr, size, &mut old, &new), Ok(false));
            assert_eq!(old[..size], before[..size]);
            // Match: exchanged.
            assert_eq!(compare_exchange(addr, size, &mut old, &new), Ok(true));
            let mut after = [0u8; 16];
            copy_from_user(&mut after[..size], addr).unwrap();
            assert_eq!(after[..size], new[..size]);
            copy_to_user(addr, &before[..size]).unwrap();
        }
        // Misaligned or odd sizes are refused.
        assert_eq!(
            compare_exchange(base + 1, 2, &mut [0; 16], &[0; 16]),
            Err(Fault)
        );
        assert_eq!(
            compare_exchange(base, 3, &mut [0; 16], &[0; 16]),
            Err(Fault)
        );
    }

    #[test]
    fn compare_exchange_faults_are_recovered() {
        let ro = map(libc::PROT_READ);
        for size in [1usize, 2, 4, 8, 16] {
            assert_eq!(
                compare_exchange(ro, size, &mut [0; 16], &[1; 16]),
                Err(Fault)
            );
        }
        // Inaccessible (PROT_NONE rather than unmapped: a parallel test could map a writable
        // page at a freed address).
        // SAFETY: `ro` is the page mapped above, owned by this test.
        let r = unsafe { libc::mprotect(ro as *mut _, 4096, libc::PROT_NONE) };
        assert_eq!(r, 0);
        for size in [1usize, 2, 4, 8, 16] {
            assert_eq!(
                compare_exchange(ro, size, &mut [0; 16], &[1; 16]),
                Err(Fault)
            );
        }
        unmap(ro);
        assert_eq!(compare_exchange(0, 8, &mut [0; 16], &[1; 16]), Err(Fault));
    }

    #[test]
    fn compare_exchange_is_atomic_against_other_threads() {
        // Two threads increment a u128 through 16-byte CAS; no update may be lost.
        let cell = Box::new(std::sync::atomic::AtomicU64::new(0));
        let mut buf = vec![0u8; 64];
        let addr = (buf.as_mut_ptr() as u64 + 15) & !15;
        let _keep = cell;
        let per_thread = 20000u64;
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    for _ in 0..per_thread {
                        let mut old = [0u8; 16];
                        copy_from_user(&mut old, addr).unwrap();
                        loop {
                            let v = u128::from_ne_bytes(old) + 1;
                            if compare_exchange(addr, 16, &mut old, &v.to_ne_bytes()).unwrap() {
                                break;
                            }
                        }
                    }
                });
            }
        });
        let mut fin = [0u8; 16];
        copy_from_user(&mut fin, addr).unwrap();
        assert_eq!(u128::from_ne_bytes(fin), 2 * per_thread as u128);
        drop(buf);
    }

    #[test]
    fn user_range_is_access_ok() {
        // The one-compare form against the definition, at and around every bound.
        let reference = |addr: u64, len: u64| match addr.checked_add(len) {
            Some(end) => len == 0 || (addr >= MIN_USER_ADDR && end <= USER_ADDR_END),
            None => false,
        };
        let near = |v: u64| [v.wrapping_sub(2), v.wrapping_sub(1), v, v.wrapping_add(1)];
        let mut points = vec![0u64, 1, 16, 64, 4095, 65536, u64::MAX / 2, u64::MAX];
        for b in [
            MIN_USER_ADDR,
            USER_ADDR_END,
            USER_ADDR_END - MIN_USER_ADDR,
            1 << 47,
        ] {
            points.extend(near(b));
            points.extend(near(b.wrapping_sub(16)));
            points.extend(near(b.wrapping_sub(65536)));
        }
        for &addr in &points {
            for &len in &points {
                assert_eq!(
                    is_user_range(addr, len),
                    reference(addr, len),
                    "{addr:#x} {len:#x}"
                );
            }
        }
    }

    #[test]
    fn cmpxchg_user_tells_every_outcome_apart() {
        both_methods(|| {
            let mut mem = [0u8; 48];
            let guest = (mem.as_mut_ptr() as u64 + 15) & !15;
            let mut new_buf = [0x5Au8; 16];
            let mut old_buf = [0u8; 16];
            let new = new_buf.as_mut_ptr() as u64;
            let old = old_buf.as_mut_ptr() as u64;
            let ro = map(libc::PROT_READ);
            let none = map(libc::PROT_NONE);
            // A first access teaches the thread its signal mask (the one-pass path needs it).
            let mut byte = [0u8; 1];
            copy_from_user(&mut byte, new).unwrap();
            let pattern: Vec<u8> = (0x10..0x30).collect();
            let read = |addr: u64, n: usize| {
                let mut v = vec![0u8; n];
                copy_from_user(&mut v, addr).unwrap();
                v
            };
            for size in [1usize, 2, 4, 8, 16] {
                copy_to_user(guest, &pattern).unwrap();
                copy_to_user(old, &[0xEE; 16]).unwrap();
                let r = cmpxchg_user(guest, size, new, old);
                if method() == Method::Syscall {
                    assert_eq!(r, None, "no one-pass path with the system calls");
                    continue;
                }
                // Guest memory holds another value: it is stored to `old`, nothing else.
                assert_eq!(r, Some(CmpxchgUser::Mismatch), "size {size}");
                assert_eq!(read(old, 16)[..size], pattern[..size]);
                assert_eq!(read(old, 16)[size..], [0xEE; 16][size..]);
                assert_eq!(read(guest, 32), pattern);
                // Now it matches: exchanged, `old` not written, the bytes beyond untouched.
                copy_to_user(old + size as u64, &[0xEE; 16][size..]).unwrap();
                assert_eq!(
                    cmpxchg_user(guest, size, new, old),
                    Some(CmpxchgUser::Exchanged)
                );
                let g = read(guest, 32);
                assert_eq!(g[..size], [0x5A; 16][..size]);
                assert_eq!(g[size..], pattern[size..]);
                assert_eq!(read(old, 16)[..size], pattern[..size]);
                // Unreadable new or expected value: nothing else happens.
                copy_to_user(guest, &pattern).unwrap();
                for (n, o) in [(none, old), (new, none)] {
                    assert_eq!(
                        cmpxchg_user(guest, size, n, o),
                        Some(CmpxchgUser::LoadFault)
                    );
                    assert_eq!(read(guest, 32), pattern);
                }
                // The guest operand read-only or inaccessible: `old` is not written.
                for g in [ro, none] {
                    copy_to_user(old, &[0xEE; 16]).unwrap();
                    assert_eq!(
                        cmpxchg_user(g, size, new, old),
                        Some(CmpxchgUser::GuestFault)
                    );
                    assert_eq!(read(old, 16), [0xEE; 16]);
                }
                // A read-only `old`: fine when it matches (nothing to store), a fault when
                // the value found must be stored, guest memory unchanged either way.
                copy_to_user(guest, &[0u8; 16]).unwrap();
                assert_eq!(
                    cmpxchg_user(guest, size, new, ro),
                    Some(CmpxchgUser::Exchanged)
                );
                assert_eq!(read(guest, 16)[..size], [0x5A; 16][..size]);
                copy_to_user(guest, &pattern).unwrap();
                assert_eq!(
                    cmpxchg_user(guest, size, new, ro),
                    Some(CmpxchgUser::StoreFault)
                );
                assert_eq!(read(guest, 32), pattern);
            }
            // Not one of the five sizes, misaligned, or outside the user range: not taken.
            assert_eq!(cmpxchg_user(guest, 3, new, old), None);
            assert_eq!(cmpxchg_user(guest + 1, 2, new, old), None);
            assert_eq!(cmpxchg_user(guest, 8, 0, old), None);
            assert_eq!(cmpxchg_user(guest, 8, new, u64::MAX - 4), None);
            unmap(ro);
            unmap(none);
        });
    }

    #[test]
    fn cmpxchg_user_is_atomic_against_other_threads() {
        both_methods(|| {
            if method() == Method::Syscall {
                return;
            }
            let mut buf = vec![0u8; 64];
            let addr = (buf.as_mut_ptr() as u64 + 15) & !15;
            let per_thread = 20000u128;
            std::thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        let mut old = [0u8; 16];
                        copy_from_user(&mut old, addr).unwrap();
                        for _ in 0..per_thread {
                            let new = loop {
                                let new = (u128::from_ne_bytes(old) + 1).to_ne_bytes();
                                let r = cmpxchg_user(
                                    addr,
                                    16,
                                    new.as_ptr() as u64,
                                    old.as_mut_ptr() as u64,
                                );
                                match r {
                                    Some(CmpxchgUser::Exchanged) => break new,
                                    Some(CmpxchgUser::Mismatch) => {}
                                    other => panic!("{other:?}"),
                                }
                            };
                            old = new;
                        }
                    });
                }
            });
            let mut fin = [0u8; 16];
            copy_from_user(&mut fin, addr).unwrap();
            assert_eq!(u128::from_ne_bytes(fin), 2 * per_thread);
            drop(buf);
        });
    }

    /// Two pages, the second PROT_NONE; returns the base (PROT_NONE rather than munmap, so no
    /// parallel test can map something there).
    fn map_then_hole() -> u64 {
        // SAFETY: fresh anonymous mapping of two pages, checked for failure.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                8192,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        let base = p as u64;
        // SAFETY: revoking access to the second page of our own mapping.
        let r =
            unsafe { libc::mprotect((base + 4096) as *mut libc::c_void, 4096, libc::PROT_NONE) };
        assert_eq!(r, 0);
        base
    }

    fn unmap_two(base: u64) {
        // SAFETY: unmapping both pages of our own mapping.
        assert_eq!(unsafe { libc::munmap(base as *mut libc::c_void, 8192) }, 0);
    }

    #[test]
    fn partial_fault_across_a_page_boundary() {
        both_methods(|| {
            // A copy straddling into an inaccessible page faults; the accessible part is
            // copied byte-exactly up to the boundary and nothing after it (like the kernel's
            // copy_to_user; the shim's buffers are its own, so a read's tail is left as is).
            let base = map_then_hole();
            let at = base + 4096 - 32;
            let src: Vec<u8> = (0..64u8).map(|i| 0x80 | i).collect();
            // Write: exactly the 32 bytes before the boundary land, the page's start is intact.
            copy_to_user(base, &[0x11; 4064]).unwrap();
            assert_eq!(copy_to_user(at, &src), Err(Fault));
            let mut page = vec![0u8; 4096];
            copy_from_user(&mut page, base).unwrap();
            assert!(page[..4064].iter().all(|&b| b == 0x11));
            assert_eq!(page[4064..], src[..32]);
            // Read: the 32 readable bytes arrive, the rest of the buffer is untouched.
            let mut buf = [0x55u8; 64];
            assert_eq!(copy_from_user(&mut buf, at), Err(Fault));
            assert_eq!(buf[..32], src[..32]);
            assert!(buf[32..].iter().all(|&b| b == 0x55));
            unmap_two(base);
        });
    }

    #[test]
    fn small_copies_stop_at_the_exact_faulting_byte() {
        // The small-copy path moves 8, 16 or 32 bytes at a time, overlapping at the end; a
        // wide move that straddles into the hole must still deliver every byte before it (its
        // fault resumes byte by byte).
        both_methods(|| {
            let base = map_then_hole();
            let src: Vec<u8> = (0..=255u8).collect();
            for len in 1..160usize {
                for before in [1usize, 7, 8, 9, 15, 16, 17, 31, 32, 33, 48, 63, 64, 65, 100] {
                    if before >= len {
                        continue;
                    }
                    let at = base + 4096 - before as u64;
                    copy_to_user(base + 4096 - 256, &[0u8; 256]).unwrap();
                    assert_eq!(copy_to_user(at, &src[..len]), Err(Fault));
                    let mut got = vec![0u8; before];
                    copy_from_user(&mut got, at).unwrap();
                    assert_eq!(got, src[..before], "write len {len} before {before}");
                    let mut buf = vec![0xEEu8; len];
                    assert_eq!(copy_from_user(&mut buf, at), Err(Fault));
                    assert_eq!(
                        buf[..before],
                        src[..before],
                        "read len {len} before {before}"
                    );
                    assert!(buf[before..].iter().all(|&b| b == 0xEE));
                }
            }
            unmap_two(base);
        });
    }

    #[test]
    fn compare_exchange_faults_without_a_handler_in_syscall_mode() {
        both_methods(|| {
            let ro = map(libc::PROT_READ);
            let none = map(libc::PROT_NONE);
            for size in [1usize, 2, 4, 8, 16] {
                for addr in [ro, none, ro + 16, none + 4096 - 16] {
                    let mut old = [0u8; 16];
                    assert_eq!(compare_exchange(addr, size, &mut old, &[1; 16]), Err(Fault));
                }
            }
            unmap(ro);
            unmap(none);
            // Writable memory still exchanges.
            let rw = map(libc::PROT_READ | libc::PROT_WRITE);
            let mut old = [0u8; 16];
            assert_eq!(compare_exchange(rw + 8, 8, &mut old, &[7; 16]), Ok(true));
            assert_eq!(compare_exchange(rw + 8, 8, &mut old, &[9; 16]), Ok(false));
            assert_eq!(old[..8], [7; 8]);
            unmap(rw);
        });
    }

    #[test]
    fn a_thread_that_blocks_fault_signals_gets_faults_not_signals() {
        both_methods(|| {
            let m = method();
            std::thread::spawn(move || {
                set_method(m);
                // SAFETY: an all-zero sigset_t is a valid (empty) set.
                let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
                // SAFETY: filling and installing a valid signal set on this thread only; the
                // libc call is the shim's interposer when linked into the test binary, and the
                // cache is reset explicitly anyway.
                unsafe {
                    libc::sigfillset(&mut all);
                    libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
                }
                mask_may_have_changed();
                let ro = map(libc::PROT_READ);
                let none = map(libc::PROT_NONE);
                let mut buf = [0u8; 16];
                assert_eq!(copy_from_user(&mut buf, none), Err(Fault));
                assert_eq!(copy_to_user(ro, &buf), Err(Fault));
                assert_eq!(copy_user_to_user(ro, none, 16), Err(Fault));
                assert_eq!(compare_exchange(ro, 8, &mut [0; 16], &[1; 16]), Err(Fault));
                assert_eq!(
                    compare_exchange(none, 16, &mut [0; 16], &[1; 16]),
                    Err(Fault)
                );
                unmap(ro);
                unmap(none);
                let base = map_then_hole();
                assert_eq!(copy_to_user(base + 4096 - 8, &[0xAB; 16]), Err(Fault));
                let mut got = [0u8; 8];
                copy_from_user(&mut got, base + 4096 - 8).unwrap();
                assert_eq!(got, [0xAB; 8]);
                unmap_two(base);
            })
            .join()
            .unwrap();
        });
    }

    #[test]
    fn narrow_compare_exchange_touches_only_its_operand() {
        // 1- and 2-byte operands at every offset of a word (s390x emulates them with a CS on
        // the containing word, where a wrong shift would hit a neighbour).
        let mut mem = [0u8; 16];
        let base = (mem.as_mut_ptr() as u64 + 7) & !7;
        for (size, offsets) in [
            (1usize, &[0u64, 1, 2, 3, 4, 5, 6, 7][..]),
            (2, &[0, 2, 4, 6]),
        ] {
            for &off in offsets {
                let fill: Vec<u8> = (0x10..0x18).collect();
                copy_to_user(base, &fill).unwrap();
                let mut old = [0u8; 16];
                old[..size].copy_from_slice(&fill[off as usize..off as usize + size]);
                let new = [0xA5u8; 16];
                let mut wrong = [0u8; 16];
                assert_eq!(
                    compare_exchange(base + off, size, &mut wrong, &new),
                    Ok(false)
                );
                assert_eq!(wrong[..size], old[..size], "size {size} offset {off}");
                assert_eq!(compare_exchange(base + off, size, &mut old, &new), Ok(true));
                let mut after = [0u8; 8];
                copy_from_user(&mut after, base).unwrap();
                let mut want = fill.clone();
                want[off as usize..off as usize + size].fill(0xA5);
                assert_eq!(after[..], want[..], "size {size} offset {off}");
            }
        }
    }

    #[test]
    fn narrow_compare_exchange_is_atomic_against_its_neighbours() {
        // Four threads each count in their own byte of one word through 1-byte CAS. Nobody
        // else writes a thread's byte, so each of its exchanges must succeed (changes to the
        // neighbouring bytes are no reason to fail), and none may disturb the others' bytes.
        let mut buf = [0u8; 8];
        let addr = (buf.as_mut_ptr() as u64 + 3) & !3;
        let rounds = 50_000u32;
        let start = std::sync::Barrier::new(4);
        std::thread::scope(|s| {
            for i in 0..4u64 {
                let start = &start;
                s.spawn(move || {
                    start.wait();
                    let mut old = [0u8; 16];
                    for _ in 0..rounds {
                        let new = [old[0].wrapping_add(1); 16];
                        assert_eq!(compare_exchange(addr + i, 1, &mut old, &new), Ok(true));
                        old[0] = new[0];
                    }
                });
            }
        });
        let mut fin = [0u8; 4];
        copy_from_user(&mut fin, addr).unwrap();
        assert_eq!(fin, [(rounds % 256) as u8; 4]);
    }
}
