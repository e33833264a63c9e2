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

mod fault;

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
pub fn method() -> Method {
    match METHOD.load(Ordering::Relaxed) {
        METHOD_FAULT => Method::FaultHandler,
        METHOD_SYSCALL => Method::Syscall,
        _ => {
            let chosen = match std::env::var_os("KVM_S390_SHIM_UACCESS") {
                Some(v) if v == "syscall" => METHOD_SYSCALL,
                _ => METHOD_FAULT,
            };
            // First writer wins, so concurrent first calls agree.
            let _ =
                METHOD.compare_exchange(METHOD_UNSET, chosen, Ordering::Relaxed, Ordering::Relaxed);
            method()
        }
    }
}

/// Selects the method explicitly (tests and benchmarks).
pub fn set_method(m: Method) {
    let v = match m {
        Method::FaultHandler => METHOD_FAULT,
        Method::Syscall => METHOD_SYSCALL,
    };
    METHOD.store(v, Ordering::Relaxed);
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
pub fn is_user_range(addr: u64, len: u64) -> bool {
    match addr.checked_add(len) {
        Some(end) => len == 0 || (addr >= MIN_USER_ADDR && end <= USER_ADDR_END),
        None => false,
    }
}

/// Copies `dst.len()` bytes from caller address `src` into `dst`.
pub fn copy_from_user(dst: &mut [u8], src: u64) -> Result<(), Fault> {
    if dst.is_empty() {
        return Ok(());
    }
    if !is_user_range(src, dst.len() as u64) {
        return Err(Fault);
    }
    match method() {
        Method::FaultHandler => fault::copy(dst.as_mut_ptr() as u64, src, dst.len()),
        Method::Syscall => syscall_copy(dst.as_mut_ptr() as u64, src, dst.len(), false),
    }
}

/// Copies `src` to caller address `dst`.
pub fn copy_to_user(dst: u64, src: &[u8]) -> Result<(), Fault> {
    if src.is_empty() {
        return Ok(());
    }
    if !is_user_range(dst, src.len() as u64) {
        return Err(Fault);
    }
    match method() {
        Method::FaultHandler => fault::copy(dst, src.as_ptr() as u64, src.len()),
        Method::Syscall => syscall_copy(dst, src.as_ptr() as u64, src.len(), true),
    }
}

/// Copies `len` bytes between two caller addresses (both may fault), e.g. from a memory slot
/// to another. Goes through a bounce buffer in [`Method::Syscall`] mode.
pub fn copy_user_to_user(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
    if len == 0 {
        return Ok(());
    }
    if !is_user_range(src, len as u64) || !is_user_range(dst, len as u64) {
        return Err(Fault);
    }
    match method() {
        Method::FaultHandler => fault::copy(dst, src, len),
        Method::Syscall => {
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
/// Always uses the fault-handler method: an atomic operation cannot go through a bounce
/// buffer.
pub fn compare_exchange(
    addr: u64,
    size: usize,
    old: &mut [u8; 16],
    new: &[u8; 16],
) -> Result<bool, Fault> {
    if !matches!(size, 1 | 2 | 4 | 8 | 16) || addr % size as u64 != 0 {
        return Err(Fault);
    }
    if !is_user_range(addr, size as u64) {
        return Err(Fault);
    }
    fault::cas(addr, size, old, new)
}

/// Types for which every bit pattern is a valid value, so they may be filled from caller bytes.
///
/// # Safety
/// Implementors must be `#[repr(C)]` (or primitive) plain-old-data types without padding
/// invariants, pointers or references: any byte pattern must be a valid value.
pub unsafe trait Pod: Copy + 'static {}

// SAFETY: primitive integers accept every bit pattern.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u16 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: arrays of Pod are Pod.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

macro_rules! impl_pod {
    ($($t:ident),* $(,)?) => {
        // SAFETY: the uapi mirrors are #[repr(C)] structs/unions of integers and integer
        // arrays only, for which every bit pattern is valid.
        $( unsafe impl Pod for crate::uapi::$t {} )*
    };
}
impl_pod!(
    kvm_userspace_memory_region,
    kvm_userspace_memory_region2,
    kvm_dirty_log,
    kvm_enable_cap,
    kvm_one_reg,
    kvm_mp_state,
    kvm_s390_psw,
    kvm_device_attr,
    kvm_create_device,
    kvm_s390_skeys,
    kvm_s390_cmma_log,
    kvm_s390_mem_op,
    kvm_s390_interrupt,
    kvm_s390_irq,
    kvm_s390_irq_state,
    kvm_s390_ucas_mapping,
    kvm_pv_cmd,
    kvm_s390_vm_tod_clock,
    kvm_s390_vm_cpu_processor,
    kvm_s390_vm_cpu_machine,
    kvm_s390_vm_cpu_feat,
    kvm_s390_vm_cpu_subfunc,
    kvm_s390_vm_cpu_uv_feat,
    kvm_regs,
    kvm_sregs,
    kvm_fpu,
    kvm_guest_debug,
    kvm_run,
    kvm_sync_regs,
);

/// Reads a `T` from caller address `addr`.
pub fn read_user<T: Pod>(addr: u64) -> Result<T, Fault> {
    let mut val = std::mem::MaybeUninit::<T>::zeroed();
    // A byte view of our own local; nothing else aliases it.
    let bytes = as_bytes_mut(&mut val);
    copy_from_user(bytes, addr)?;
    // SAFETY: every byte was written by the copy (or zeroed), and T is Pod.
    Ok(unsafe { val.assume_init() })
}

/// Writes `val` to caller address `addr`.
pub fn write_user<T: Pod>(addr: u64, val: &T) -> Result<(), Fault> {
    // SAFETY: T is Pod, so viewing it as initialised bytes is valid; the slice lives as long
    // as `val`.
    let bytes = unsafe {
        std::slice::from_raw_parts((val as *const T).cast::<u8>(), std::mem::size_of::<T>())
    };
    copy_to_user(addr, bytes)
}

fn as_bytes_mut<T: Pod>(val: &mut std::mem::MaybeUninit<T>) -> &mut [u8] {
    // SAFETY: MaybeUninit<T> is zero-initialised by the caller (read_user), so all bytes are
    // initialised u8; the slice borrows `val` exclusively.
    unsafe {
        std::slice::from_raw_parts_mut(val.as_mut_ptr().cast::<u8>(), std::mem::size_of::<T>())
    }
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
        unmap(ro);
        for size in [1usize, 2, 4, 8, 16] {
            assert_eq!(
                compare_exchange(ro, size, &mut [0; 16], &[1; 16]),
                Err(Fault)
            );
        }
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
    fn partial_fault_across_a_page_boundary() {
        both_methods(|| {
            // Two pages, the second unmapped: a copy straddling them faults, and the mapped
            // part of a write is done byte-exactly up to the boundary (like copy_to_user).
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
            // SAFETY: revoking access to the second page of our own mapping (PROT_NONE rather
            // than munmap, so no parallel test can map something there).
            let r = unsafe {
                libc::mprotect((base + 4096) as *mut libc::c_void, 4096, libc::PROT_NONE)
            };
            assert_eq!(r, 0);
            let mut buf = [0u8; 64];
            assert_eq!(copy_from_user(&mut buf, base + 4096 - 32), Err(Fault));
            assert_eq!(copy_to_user(base + 4096 - 32, &[0xAA; 64]), Err(Fault));
            // SAFETY: unmapping both pages of our own mapping.
            assert_eq!(unsafe { libc::munmap(base as *mut libc::c_void, 8192) }, 0);
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
