//! The fault-recovering copy routine ([`super::Method::FaultHandler`]).
//!
//! `kvm_s390_shim_uaccess_copy(dst, src, len)` returns the number of bytes not copied (0 on
//! success). It is written in assembly so that the instructions that may fault are known.
//! A process-wide SIGSEGV/SIGBUS handler, installed on first use, checks whether the faulting
//! program counter lies inside the routine; if so it redirects execution to the routine's
//! recovery point, which returns the remaining count. Any other fault is passed on to the
//! handler that was installed before (or to the default action), so the application's own
//! handlers and crash behaviour are unchanged.

use std::sync::OnceLock;

use super::Fault;

#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_copy",
    ".hidden kvm_s390_shim_uaccess_copy",
    ".type kvm_s390_shim_uaccess_copy,@function",
    "kvm_s390_shim_uaccess_copy:",
    "    mov rcx, rdx",
    "    rep movsb",
    "    xor eax, eax",
    "    ret",
    ".globl kvm_s390_shim_uaccess_fixup",
    ".hidden kvm_s390_shim_uaccess_fixup",
    "kvm_s390_shim_uaccess_fixup:",
    // rep movsb leaves the remaining count in rcx when it faults.
    "    mov rax, rcx",
    "    ret",
    ".size kvm_s390_shim_uaccess_copy, . - kvm_s390_shim_uaccess_copy",
    ".popsection",
);

#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_copy",
    ".hidden kvm_s390_shim_uaccess_copy",
    ".type kvm_s390_shim_uaccess_copy,%function",
    "kvm_s390_shim_uaccess_copy:",
    "    cmp x2, #8",
    "    b.lo 2f",
    "1:  ldr x3, [x1]",
    "    str x3, [x0]",
    "    add x0, x0, #8",
    "    add x1, x1, #8",
    "    sub x2, x2, #8",
    "    cmp x2, #8",
    "    b.hs 1b",
    "2:  cbz x2, 4f",
    "3:  ldrb w3, [x1]",
    "    strb w3, [x0]",
    "    add x0, x0, #1",
    "    add x1, x1, #1",
    "    sub x2, x2, #1",
    "    cbnz x2, 3b",
    "4:  mov x0, #0",
    "    ret",
    ".globl kvm_s390_shim_uaccess_fixup",
    ".hidden kvm_s390_shim_uaccess_fixup",
    "kvm_s390_shim_uaccess_fixup:",
    // x2 holds the bytes not yet copied (at most the current chunk was half done).
    "    mov x0, x2",
    "    ret",
    ".size kvm_s390_shim_uaccess_copy, . - kvm_s390_shim_uaccess_copy",
    ".popsection",
);

extern "C" {
    fn kvm_s390_shim_uaccess_copy(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kvm_s390_shim_uaccess_fixup();
}

/// The address range of the instructions that may fault, and the recovery point.
fn routine_range() -> (usize, usize) {
    let start = kvm_s390_shim_uaccess_copy as *const () as usize;
    let fixup = kvm_s390_shim_uaccess_fixup as *const () as usize;
    (start, fixup)
}

/// Copies `len` bytes from `src` to `dst`, either of which may be a caller address.
pub(super) fn copy(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
    install();
    // SAFETY: the routine touches only [src, src+len) and [dst, dst+len); a fault on caller
    // memory is turned into a non-zero return by the handler installed above. Shim-owned
    // buffers passed here are valid for `len` bytes by construction of the callers.
    let left = unsafe { kvm_s390_shim_uaccess_copy(dst as *mut u8, src as *const u8, len) };
    if left == 0 {
        Ok(())
    } else {
        Err(Fault)
    }
}

/// The actions that were installed for SIGSEGV and SIGBUS before ours.
struct Previous {
    segv: libc::sigaction,
    bus: libc::sigaction,
}

static PREVIOUS: OnceLock<Previous> = OnceLock::new();

/// Installs the handler once per process (idempotent and thread-safe).
pub(crate) fn install() {
    PREVIOUS.get_or_init(|| {
        // SAFETY: sigaction with a null new action only reads the current one into `old`.
        let query = |sig| unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, std::ptr::null(), &mut old);
            old
        };
        let prev = Previous {
            segv: query(libc::SIGSEGV),
            bus: query(libc::SIGBUS),
        };
        // SAFETY: a zeroed sigaction is a valid starting point; we fill handler, flags and an
        // empty mask before installing it.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_fault as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
        // SAFETY: sa_mask is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: installing a valid action for a catchable signal.
            unsafe { libc::sigaction(sig, &act, std::ptr::null_mut()) };
        }
        prev
    });
}

#[cfg(target_arch = "x86_64")]
fn pc_slot(uc: *mut libc::ucontext_t) -> *mut u64 {
    // SAFETY: `uc` is the kernel-provided context; we only form a raw pointer to the saved
    // RIP inside it, without reading or creating a reference.
    unsafe { std::ptr::addr_of_mut!((*uc).uc_mcontext.gregs[libc::REG_RIP as usize]).cast::<u64>() }
}

#[cfg(target_arch = "aarch64")]
fn pc_slot(uc: *mut libc::ucontext_t) -> *mut u64 {
    // SAFETY: `uc` is the kernel-provided context; we only form a raw pointer to the saved PC
    // inside it, without reading or creating a reference.
    unsafe { std::ptr::addr_of_mut!((*uc).uc_mcontext.pc) }
}

extern "C" fn on_fault(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let (start, fixup) = routine_range();
    if !ctx.is_null() {
        let pc = pc_slot(ctx.cast());
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let at = unsafe { pc.read() } as usize;
        if at >= start && at < fixup {
            // SAFETY: as above; resuming at the recovery point of the same routine, whose
            // registers are exactly those at the fault.
            unsafe { pc.write(fixup as u64) };
            return;
        }
    }
    chain(sig, info, ctx);
}

/// Passes a fault that is not ours to the previously installed action.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let Some(prev) = PREVIOUS.get() else {
        return reset_default(sig);
    };
    let old = if sig == libc::SIGBUS {
        &prev.bus
    } else {
        &prev.segv
    };
    let handler = old.sa_sigaction;
    if handler == libc::SIG_DFL || handler == libc::SIG_IGN {
        // A synchronous fault cannot be ignored: restore the default action and return, so the
        // faulting instruction runs again and the kernel applies it (core dump, exit status).
        return reset_default(sig);
    }
    if old.sa_flags & libc::SA_SIGINFO != 0 {
        type Action = extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void);
        // SAFETY: the previous action was installed with SA_SIGINFO, so its handler has the
        // three-argument signature.
        let f: Action = unsafe { std::mem::transmute::<usize, Action>(handler) };
        f(sig, info, ctx);
    } else {
        type Handler = extern "C" fn(libc::c_int);
        // SAFETY: without SA_SIGINFO the previous handler has the one-argument signature.
        let f: Handler = unsafe { std::mem::transmute::<usize, Handler>(handler) };
        f(sig);
    }
}

fn reset_default(sig: libc::c_int) {
    // SAFETY: restoring SIG_DFL for a signal is always valid and async-signal-safe.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}
