//! The s390x fault-recovering routines, for a big-endian s390x host (see `fault.rs` for the
//! contract they share with the x86_64 and aarch64 versions).
//!
//! ELF s390x calling convention: arguments in r2..r6, the result in r2, r0..r5 and r14 free to
//! use, r6..r13 preserved (saved in the caller's register save area at 48(r15) onwards),
//! return with `br %r14`. Every instruction that may fault on caller memory lies between a
//! routine's entry and its recovery point, and the recovery point finds the registers exactly
//! as they were at the faulting instruction, so it can report the fault and return.

// kvm_s390_shim_uaccess_copy(dst = r2, src = r3, len = r4) -> bytes not copied.
// Whole 256-byte blocks with one MVC each, then the rest (1 to 255 bytes) with one MVC whose
// length comes from r1 through EXRL (the small-copy path: a copy below 256 bytes is one
// instruction). r4 counts the bytes not yet copied. A fault in the rest's MVC (reported at
// the EXRL or at its template, both before `kvm_s390_shim_uaccess_bytes`) resumes in the byte
// loop, which copies up to the exact faulting byte (an MVC that faults copies nothing here,
// so r2, r3 and r4 are still those of the rest); a fault in a block or in the byte loop
// returns r4, never 0 after a fault.
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_copy",
    ".hidden kvm_s390_shim_uaccess_copy",
    ".type kvm_s390_shim_uaccess_copy,@function",
    "kvm_s390_shim_uaccess_copy:",
    "    clgfi %r4, 256",
    "    jhe 7f",
    "2:  cgije %r4, 0, 4f",
    "    lgr %r1, %r4",
    "    aghi %r1, -1",
    "    exrl %r1, 5f",
    "4:  lghi %r2, 0",
    "    br %r14",
    "5:  mvc 0(1,%r2), 0(%r3)",
    ".globl kvm_s390_shim_uaccess_bytes",
    ".hidden kvm_s390_shim_uaccess_bytes",
    "kvm_s390_shim_uaccess_bytes:",
    "3:  cgije %r4, 0, 4b",
    "    mvc 0(1,%r2), 0(%r3)",
    "    la %r2, 1(%r2)",
    "    la %r3, 1(%r3)",
    "    aghi %r4, -1",
    "    j 3b",
    "7:  mvc 0(256,%r2), 0(%r3)",
    "    la %r2, 256(%r2)",
    "    la %r3, 256(%r3)",
    "    aghi %r4, -256",
    "    clgfi %r4, 256",
    "    jhe 7b",
    "    j 2b",
    ".globl kvm_s390_shim_uaccess_fixup",
    ".hidden kvm_s390_shim_uaccess_fixup",
    "kvm_s390_shim_uaccess_fixup:",
    "    lgr %r2, %r4",
    "    br %r14",
    ".size kvm_s390_shim_uaccess_copy, . - kvm_s390_shim_uaccess_copy",
    ".popsection",
);

// kvm_s390_shim_uaccess_cas(addr = r2, old = r3, new = r4, size = r5) -> 0, or 1 on a fault.
//
// 16, 8 and 4 bytes: CDSG, CSG and CS, which load the value found into the first operand when
// it differs (and leave the expected value, which then equals the value found, when it does
// not); that operand is stored back to `old` in both cases.
//
// 1 and 2 bytes: a CS loop on the aligned 4-byte word that contains the operand (s390 has no
// narrower compare-and-swap; the kernel's __cmpxchg_user_key does the same). Big-endian, so the
// operand at byte offset k of the word (k = addr & 3) sits (4 - size - k) * 8 bits above the
// word's least significant bit. The word's other bytes are taken from the last value seen; if
// only they changed under us, the CS is retried with the fresh value, so the result depends on
// the operand alone. Registers: r2 word address, r3 `old`, r5 size, r7 shift, r8 operand mask,
// r0/r1 expected/new operand in place, r9 last word seen, r4/r6 scratch. r6..r9 are callee-
// saved: they are stored in the caller's save area on entry and restored on both exits.
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_cas",
    ".hidden kvm_s390_shim_uaccess_cas",
    ".type kvm_s390_shim_uaccess_cas,@function",
    "kvm_s390_shim_uaccess_cas:",
    "    stmg %r6, %r9, 48(%r15)",
    "    cgije %r5, 16, 16f",
    "    cgije %r5, 8, 8f",
    "    cgije %r5, 4, 4f",
    // 1 or 2 bytes: word address, shift, mask, expected and new operand in place.
    "    lghi %r6, 3",
    "    ngr %r6, %r2",
    "    nill %r2, 0xfffc",
    "    lghi %r7, 4",
    "    sgr %r7, %r5",
    "    sgr %r7, %r6",
    "    sllg %r7, %r7, 3",
    "    cgije %r5, 2, 20f",
    "    llgc %r0, 0(%r3)",
    "    llgc %r1, 0(%r4)",
    "    lghi %r8, 0xff",
    "    j 21f",
    "20: llgh %r0, 0(%r3)",
    "    llgh %r1, 0(%r4)",
    "    llill %r8, 0xffff",
    "21: sllg %r0, %r0, 0(%r7)",
    "    sllg %r1, %r1, 0(%r7)",
    "    sllg %r8, %r8, 0(%r7)",
    "    l %r9, 0(%r2)",
    "22: lr %r4, %r9",
    "    nr %r4, %r8",
    "    xr %r4, %r9",
    "    lr %r6, %r4",
    "    or %r4, %r0",
    "    or %r6, %r1",
    "    cs %r4, %r6, 0(%r2)",
    "    je 23f",
    // Not equal: r4 holds the word found. Retry if the operand itself matched.
    "    lr %r9, %r4",
    "    nr %r4, %r8",
    "    cr %r4, %r0",
    "    je 22b",
    "    j 24f",
    "23: lr %r4, %r0",
    "24: srl %r4, 0(%r7)",
    "    cgije %r5, 2, 25f",
    "    stc %r4, 0(%r3)",
    "    j 99f",
    "25: sth %r4, 0(%r3)",
    "    j 99f",
    "4:  l %r0, 0(%r3)",
    "    l %r1, 0(%r4)",
    "    cs %r0, %r1, 0(%r2)",
    "    st %r0, 0(%r3)",
    "    j 99f",
    "8:  lg %r0, 0(%r3)",
    "    lg %r1, 0(%r4)",
    "    csg %r0, %r1, 0(%r2)",
    "    stg %r0, 0(%r3)",
    "    j 99f",
    // CDSG takes even/odd register pairs: expected in r0:r1, new in r4:r5.
    "16: lg %r0, 0(%r3)",
    "    lg %r1, 8(%r3)",
    "    lg %r5, 8(%r4)",
    "    lg %r4, 0(%r4)",
    "    cdsg %r0, %r4, 0(%r2)",
    "    stg %r0, 0(%r3)",
    "    stg %r1, 8(%r3)",
    "99: lmg %r6, %r9, 48(%r15)",
    "    lghi %r2, 0",
    "    br %r14",
    ".globl kvm_s390_shim_uaccess_cas_fixup",
    ".hidden kvm_s390_shim_uaccess_cas_fixup",
    "kvm_s390_shim_uaccess_cas_fixup:",
    "    lmg %r6, %r9, 48(%r15)",
    "    lghi %r2, 1",
    "    br %r14",
    ".size kvm_s390_shim_uaccess_cas, . - kvm_s390_shim_uaccess_cas",
    ".popsection",
);

/// The saved instruction address of the interrupted context.
pub(super) fn pc_slot(uc: *mut libc::ucontext_t) -> *mut u64 {
    // SAFETY: `uc` is the kernel-provided context; we only form a raw pointer to the saved
    // PSW address inside it, without reading or creating a reference.
    unsafe { std::ptr::addr_of_mut!((*uc).uc_mcontext.psw.addr) }
}
