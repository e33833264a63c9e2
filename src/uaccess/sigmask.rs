//! Whether a fault on caller memory can be recovered on the calling thread.
//!
//! The fault-handler method relies on the shim's SIGSEGV/SIGBUS handler running. When the
//! faulting thread has the signal blocked, the kernel does not queue it: it unblocks it,
//! resets its action to the default and kills the process. Such threads (QEMU blocks most
//! signals in its threads) must not fault at all, so they take the kernel-checked path.
//!
//! Querying the mask costs a system call, too much for every access. So each thread caches
//! the answer: learnt with one `rt_sigprocmask` query on its first access, and forgotten (so
//! the next access asks again) by every interposed libc function that can change the mask
//! (`sigprocmask`, `pthread_sigmask`, the `longjmp` family, `setcontext`, `swapcontext`, see
//! `ffi::preload`) and when the shim's fault handler passes a fault on to the application.
//! Mask changes the shim cannot see (raw system calls, glibc-internal calls, the temporary
//! mask of a signal handler) are listed in DESIGN.md.

const UNKNOWN: u8 = 0;
const DELIVERABLE: u8 = 1;
const BLOCKED: u8 = 2;

/// The calling thread's answer (`UNKNOWN` when it starts).
///
/// On x86_64 it is one byte of static TLS read with the initial-exec model (`fs`-relative,
/// one load): `thread_local!` in a shared library goes through `__tls_get_addr`, a call that
/// measurably slowed every access (~3 ns each, three per memop). Static TLS is what libraries
/// loaded at startup (LD_PRELOAD, linked) get anyway; a `dlopen`ed shim takes one byte of the
/// surplus glibc reserves for this. Elsewhere it is a `thread_local!`.
#[cfg(target_arch = "x86_64")]
mod state {
    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".globl kvm_s390_shim_fault_signals",
        ".hidden kvm_s390_shim_fault_signals",
        ".type kvm_s390_shim_fault_signals,@object",
        ".size kvm_s390_shim_fault_signals, 1",
        "kvm_s390_shim_fault_signals:",
        ".zero 1",
        ".popsection",
    );

    /// The calling thread's byte.
    #[inline(always)]
    fn slot() -> *mut u8 {
        let p: *mut u8;
        // SAFETY: reads the thread pointer (`fs:0` holds the TCB's own address in the x86_64
        // TLS ABI) and adds the variable's offset from the GOT, filled by the dynamic linker
        // (initial-exec model); touches no other state.
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr fs:0",
                "add {p}, qword ptr [rip + kvm_s390_shim_fault_signals@GOTTPOFF]",
                p = out(reg) p,
                options(nostack, readonly),
            );
        }
        p
    }

    #[inline(always)]
    pub(super) fn get() -> u8 {
        // SAFETY: the byte is this thread's own, live while the thread runs; volatile because
        // the shim's signal handler on this thread writes it too.
        unsafe { slot().read_volatile() }
    }

    pub(super) fn set(v: u8) {
        // SAFETY: as for `get`.
        unsafe { slot().write_volatile(v) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod state {
    use std::cell::Cell;

    thread_local! {
        static STATE: Cell<u8> = const { Cell::new(super::UNKNOWN) };
    }

    /// The calling thread's byte (`UNKNOWN` once thread-local storage is gone at thread exit).
    pub(super) fn get() -> u8 {
        STATE.try_with(Cell::get).unwrap_or(super::UNKNOWN)
    }

    pub(super) fn set(v: u8) {
        let _ = STATE.try_with(|s| s.set(v));
    }
}

/// The kernel's `sigset_t` (64 signals on x86_64 and aarch64).
type KernelSigset = u64;

const fn bit(sig: libc::c_int) -> KernelSigset {
    1 << (sig - 1)
}

/// SIGSEGV and SIGBUS, the signals a fault on caller memory raises.
const FAULT_SIGNALS: KernelSigset = bit(libc::SIGSEGV) | bit(libc::SIGBUS);

/// `rt_sigprocmask(how, set, old)` as a raw system call: the libc functions are interposed by
/// the shim itself. Returns the previous mask.
fn rt_sigprocmask(how: libc::c_int, set: Option<KernelSigset>) -> KernelSigset {
    let mut old: KernelSigset = 0;
    let new = set
        .as_ref()
        .map_or(std::ptr::null(), |s| s as *const KernelSigset);
    // SAFETY: `new` is null or points to a live 8-byte set, `old` to a writable one; the size
    // argument is the kernel's sigset size on this architecture. The call cannot fail with
    // these arguments (valid `how`, valid pointers).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            how,
            new,
            &mut old as *mut KernelSigset,
            std::mem::size_of::<KernelSigset>(),
        )
    };
    old
}

/// Whether the calling thread is known to have SIGSEGV and SIGBUS deliverable (one
/// thread-local load; false also when not known yet).
#[inline(always)]
pub(super) fn known_deliverable() -> bool {
    state::get() == DELIVERABLE
}

/// Whether a SIGSEGV or SIGBUS raised on this thread would reach the shim's handler (neither
/// is blocked). Plain thread-local load after the thread's first call.
#[inline]
pub(super) fn faults_deliverable() -> bool {
    match state::get() {
        DELIVERABLE => true,
        BLOCKED => false,
        _ => learn(),
    }
}

#[cold]
fn learn() -> bool {
    let d = query();
    state::set(if d { DELIVERABLE } else { BLOCKED });
    d
}

fn query() -> bool {
    rt_sigprocmask(libc::SIG_BLOCK, None) & FAULT_SIGNALS == 0
}

/// Forgets the calling thread's cached answer: its signal mask may have changed. Only a
/// thread-local store, so it is async-signal-safe.
pub fn mask_may_have_changed() {
    state::set(UNKNOWN);
}

/// Runs `f` with SIGSEGV and SIGBUS unblocked on the calling thread, then restores the mask.
/// For the accesses that have no system-call equivalent (compare-and-swap) on a thread that
/// blocks them.
pub(super) fn with_fault_signals_unblocked<R>(f: impl FnOnce() -> R) -> R {
    let old = rt_sigprocmask(libc::SIG_UNBLOCK, Some(FAULT_SIGNALS));
    let r = f();
    rt_sigprocmask(libc::SIG_SETMASK, Some(old));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_mask_after_each_change() {
        std::thread::spawn(|| {
            assert!(faults_deliverable());
            let old = rt_sigprocmask(libc::SIG_BLOCK, Some(bit(libc::SIGBUS)));
            // Unseen change: the cached answer stays until it is forgotten.
            assert!(faults_deliverable());
            mask_may_have_changed();
            assert!(!faults_deliverable());
            let seen = with_fault_signals_unblocked(query);
            assert!(seen);
            assert!(!query(), "the mask is restored");
            rt_sigprocmask(libc::SIG_SETMASK, Some(old));
            mask_may_have_changed();
            assert!(faults_deliverable());
        })
        .join()
        .unwrap();
    }
}
