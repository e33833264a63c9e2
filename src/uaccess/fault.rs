//! The fault-recovering copy routine ([`super::Method::FaultHandler`]).
//!
//! `kvm_s390_shim_uaccess_copy(dst, src, len)` returns the number of bytes not copied (0 on
//! success). It is written in assembly so that the instructions that may fault are known.
//! A process-wide SIGSEGV/SIGBUS handler, installed on first use, checks whether the faulting
//! program counter lies inside the routine; if so it redirects execution to the routine's
//! recovery point, which returns the remaining count. Any other fault is passed on to the
//! handler that was installed before (or to the default action), so the application's own
//! handlers and crash behaviour are unchanged.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Once;

use super::Fault;

// The s390x routines and context access live in their own file.
#[cfg(target_arch = "s390x")]
#[path = "fault_s390x.rs"]
mod s390x;
#[cfg(target_arch = "s390x")]
use s390x::pc_slot;

// Below 128 bytes: from 8 to 64 bytes two or four overlapping moves (the first and last 8, 16
// or 32 bytes: all loads before any store), above that a loop of 16-byte moves, below 8 bytes
// single-byte moves — a fixed cost of a few instructions; from 128 bytes: `rep movsb`
// (fast-string moves, whose start-up cost the small path avoids). A fault in any wide move
// resumes at the byte loop with the pointers and count of the last completed step (the
// overlapping moves change neither, so the byte loop starts over, rewriting any bytes already
// stored with the same values), so a faulting copy stops at the exact faulting byte as
// `rep movsb` does; a fault in the byte loop or in `rep movsb` returns the count left (in rcx).
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_copy",
    ".hidden kvm_s390_shim_uaccess_copy",
    ".type kvm_s390_shim_uaccess_copy,@function",
    "kvm_s390_shim_uaccess_copy:",
    "    mov rcx, rdx",
    "    cmp rdx, 16",
    "    jb .Lkvm_s390_shim_copy_lt16",
    "    cmp rdx, 32",
    "    ja .Lkvm_s390_shim_copy_gt32",
    // 16..=32 bytes.
    "    movdqu xmm0, xmmword ptr [rsi]",
    "    movdqu xmm1, xmmword ptr [rsi + rdx - 16]",
    "    movdqu xmmword ptr [rdi], xmm0",
    "    movdqu xmmword ptr [rdi + rdx - 16], xmm1",
    "    xor eax, eax",
    "    ret",
    ".Lkvm_s390_shim_copy_gt32:",
    "    cmp rdx, 64",
    "    ja .Lkvm_s390_shim_copy_gt64",
    // 33..=64 bytes.
    "    movdqu xmm0, xmmword ptr [rsi]",
    "    movdqu xmm1, xmmword ptr [rsi + 16]",
    "    movdqu xmm2, xmmword ptr [rsi + rdx - 32]",
    "    movdqu xmm3, xmmword ptr [rsi + rdx - 16]",
    "    movdqu xmmword ptr [rdi], xmm0",
    "    movdqu xmmword ptr [rdi + 16], xmm1",
    "    movdqu xmmword ptr [rdi + rdx - 32], xmm2",
    "    movdqu xmmword ptr [rdi + rdx - 16], xmm3",
    "    xor eax, eax",
    "    ret",
    ".Lkvm_s390_shim_copy_gt64:",
    "    cmp rdx, 128",
    "    jae 5f",
    // 65..=127 bytes: 16-byte steps, then the last 16 bytes (overlapping).
    "1:  movdqu xmm0, xmmword ptr [rsi]",
    "    movdqu xmmword ptr [rdi], xmm0",
    "    add rsi, 16",
    "    add rdi, 16",
    "    sub rcx, 16",
    "    cmp rcx, 16",
    "    ja 1b",
    "    movdqu xmm0, xmmword ptr [rsi + rcx - 16]",
    "    movdqu xmmword ptr [rdi + rcx - 16], xmm0",
    "    xor eax, eax",
    "    ret",
    ".Lkvm_s390_shim_copy_lt16:",
    "    cmp rdx, 8",
    "    jb 3f",
    // 8..=15 bytes.
    "    mov rax, qword ptr [rsi]",
    "    mov r8, qword ptr [rsi + rdx - 8]",
    "    mov qword ptr [rdi], rax",
    "    mov qword ptr [rdi + rdx - 8], r8",
    "    xor eax, eax",
    "    ret",
    ".globl kvm_s390_shim_uaccess_bytes",
    ".hidden kvm_s390_shim_uaccess_bytes",
    "kvm_s390_shim_uaccess_bytes:",
    "3:  test rcx, rcx",
    "    jz 4f",
    "6:  mov al, byte ptr [rsi]",
    "    mov byte ptr [rdi], al",
    "    inc rsi",
    "    inc rdi",
    "    dec rcx",
    "    jnz 6b",
    "4:  xor eax, eax",
    "    ret",
    "5:  rep movsb",
    "    xor eax, eax",
    "    ret",
    ".globl kvm_s390_shim_uaccess_fixup",
    ".hidden kvm_s390_shim_uaccess_fixup",
    "kvm_s390_shim_uaccess_fixup:",
    // The byte loop and rep movsb leave the remaining count in rcx when they fault.
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
    // No small-copy path here: every fault returns the count left.
    ".globl kvm_s390_shim_uaccess_bytes",
    ".hidden kvm_s390_shim_uaccess_bytes",
    "kvm_s390_shim_uaccess_bytes:",
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

// Compare-and-swap of 1, 2, 4, 8 or 16 naturally aligned bytes at `addr`:
// kvm_s390_shim_uaccess_cas(addr, old: *mut [u8; 16], new: *const [u8; 16], size) -> 0, or 1
// if accessing `addr` faulted. `old` holds the expected value on entry and the value found at
// `addr` on return. The operands are the first `size` bytes of the buffers, compared and
// stored as raw bytes. rbx (callee-saved, needed by cmpxchg16b) is kept in r11 so that the
// recovery point can restore it.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_cas",
    ".hidden kvm_s390_shim_uaccess_cas",
    ".type kvm_s390_shim_uaccess_cas,@function",
    "kvm_s390_shim_uaccess_cas:",
    "    mov r11, rbx",
    "    cmp rcx, 16",
    "    je .Lkvm_s390_shim_cas16",
    "    cmp rcx, 8",
    "    je .Lkvm_s390_shim_cas8",
    "    cmp rcx, 4",
    "    je .Lkvm_s390_shim_cas4",
    "    cmp rcx, 2",
    "    je .Lkvm_s390_shim_cas2",
    "    mov al, byte ptr [rsi]",
    "    mov r8b, byte ptr [rdx]",
    "    lock cmpxchg byte ptr [rdi], r8b",
    "    mov byte ptr [rsi], al",
    "    jmp .Lkvm_s390_shim_cas_done",
    ".Lkvm_s390_shim_cas2:",
    "    mov ax, word ptr [rsi]",
    "    mov r8w, word ptr [rdx]",
    "    lock cmpxchg word ptr [rdi], r8w",
    "    mov word ptr [rsi], ax",
    "    jmp .Lkvm_s390_shim_cas_done",
    ".Lkvm_s390_shim_cas4:",
    "    mov eax, dword ptr [rsi]",
    "    mov r8d, dword ptr [rdx]",
    "    lock cmpxchg dword ptr [rdi], r8d",
    "    mov dword ptr [rsi], eax",
    "    jmp .Lkvm_s390_shim_cas_done",
    ".Lkvm_s390_shim_cas8:",
    "    mov rax, qword ptr [rsi]",
    "    mov r8, qword ptr [rdx]",
    "    lock cmpxchg qword ptr [rdi], r8",
    "    mov qword ptr [rsi], rax",
    "    jmp .Lkvm_s390_shim_cas_done",
    ".Lkvm_s390_shim_cas16:",
    "    mov r9, rdx",
    "    mov r10, rdi",
    "    mov rax, qword ptr [rsi]",
    "    mov rdx, qword ptr [rsi + 8]",
    "    mov rbx, qword ptr [r9]",
    "    mov rcx, qword ptr [r9 + 8]",
    "    lock cmpxchg16b xmmword ptr [r10]",
    "    mov qword ptr [rsi], rax",
    "    mov qword ptr [rsi + 8], rdx",
    ".Lkvm_s390_shim_cas_done:",
    "    mov rbx, r11",
    "    xor eax, eax",
    "    ret",
    ".globl kvm_s390_shim_uaccess_cas_fixup",
    ".hidden kvm_s390_shim_uaccess_cas_fixup",
    "kvm_s390_shim_uaccess_cas_fixup:",
    "    mov rbx, r11",
    "    mov eax, 1",
    "    ret",
    ".size kvm_s390_shim_uaccess_cas, . - kvm_s390_shim_uaccess_cas",
    ".popsection",
);

// The memop cmpxchg in one pass over caller and guest memory:
// kvm_s390_shim_uaccess_cmpxchg(addr, new, old, size) with `new` and `old` caller addresses
// of `size` (1, 2, 4, 8 or 16) bytes and `addr` naturally aligned. Loads the new and the
// expected value from the caller, compare-and-swaps at `addr`, and on a mismatch stores the
// value found to `old`. Returns 0 (exchanged), 1 (not exchanged, `old` updated), 2 (a load
// from the caller faulted: nothing else was done), 3 (`addr` faulted: nothing was exchanged
// and `old` was not written) or 4 (not exchanged and the store to `old` faulted). Each kind
// of access lies in its own range of the routine, so the fault handler resumes at the
// matching recovery point. rbx (needed by cmpxchg16b) is kept in r11.
#[cfg(target_arch = "x86_64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_cmpxchg",
    ".hidden kvm_s390_shim_uaccess_cmpxchg",
    ".type kvm_s390_shim_uaccess_cmpxchg,@function",
    "kvm_s390_shim_uaccess_cmpxchg:",
    // The caller's loads.
    "    mov r11, rbx",
    "    mov r9, rdx",
    "    cmp rcx, 16",
    "    jne .Lkvm_s390_shim_cx_ld8",
    "    mov rbx, qword ptr [rsi]",
    "    mov rcx, qword ptr [rsi + 8]",
    "    mov rax, qword ptr [r9]",
    "    mov rdx, qword ptr [r9 + 8]",
    "    jmp .Lkvm_s390_shim_cx_16",
    ".Lkvm_s390_shim_cx_ld8:",
    "    cmp rcx, 8",
    "    jne .Lkvm_s390_shim_cx_ld4",
    "    mov rcx, qword ptr [rsi]",
    "    mov rax, qword ptr [r9]",
    "    jmp .Lkvm_s390_shim_cx_8",
    ".Lkvm_s390_shim_cx_ld4:",
    "    cmp rcx, 4",
    "    jne .Lkvm_s390_shim_cx_ld2",
    "    mov ecx, dword ptr [rsi]",
    "    mov eax, dword ptr [r9]",
    "    jmp .Lkvm_s390_shim_cx_4",
    ".Lkvm_s390_shim_cx_ld2:",
    "    cmp rcx, 2",
    "    jne .Lkvm_s390_shim_cx_ld1",
    "    movzx ecx, word ptr [rsi]",
    "    movzx eax, word ptr [r9]",
    "    jmp .Lkvm_s390_shim_cx_2",
    ".Lkvm_s390_shim_cx_ld1:",
    "    movzx ecx, byte ptr [rsi]",
    "    movzx eax, byte ptr [r9]",
    "    jmp .Lkvm_s390_shim_cx_1",
    // The guest operand.
    ".globl kvm_s390_shim_uaccess_cmpxchg_guest",
    ".hidden kvm_s390_shim_uaccess_cmpxchg_guest",
    "kvm_s390_shim_uaccess_cmpxchg_guest:",
    ".Lkvm_s390_shim_cx_16:",
    "    lock cmpxchg16b xmmword ptr [rdi]",
    "    jne .Lkvm_s390_shim_cx_st16",
    ".Lkvm_s390_shim_cx_ok:",
    "    mov rbx, r11",
    "    xor eax, eax",
    "    ret",
    ".Lkvm_s390_shim_cx_8:",
    "    lock cmpxchg qword ptr [rdi], rcx",
    "    je .Lkvm_s390_shim_cx_ok",
    "    jmp .Lkvm_s390_shim_cx_st8",
    ".Lkvm_s390_shim_cx_4:",
    "    lock cmpxchg dword ptr [rdi], ecx",
    "    je .Lkvm_s390_shim_cx_ok",
    "    jmp .Lkvm_s390_shim_cx_st4",
    ".Lkvm_s390_shim_cx_2:",
    "    lock cmpxchg word ptr [rdi], cx",
    "    je .Lkvm_s390_shim_cx_ok",
    "    jmp .Lkvm_s390_shim_cx_st2",
    ".Lkvm_s390_shim_cx_1:",
    "    lock cmpxchg byte ptr [rdi], cl",
    "    je .Lkvm_s390_shim_cx_ok",
    "    jmp .Lkvm_s390_shim_cx_st1",
    // The store of the value found to the caller.
    ".globl kvm_s390_shim_uaccess_cmpxchg_store",
    ".hidden kvm_s390_shim_uaccess_cmpxchg_store",
    "kvm_s390_shim_uaccess_cmpxchg_store:",
    ".Lkvm_s390_shim_cx_st16:",
    "    mov qword ptr [r9], rax",
    "    mov qword ptr [r9 + 8], rdx",
    "    jmp .Lkvm_s390_shim_cx_ne",
    ".Lkvm_s390_shim_cx_st8:",
    "    mov qword ptr [r9], rax",
    "    jmp .Lkvm_s390_shim_cx_ne",
    ".Lkvm_s390_shim_cx_st4:",
    "    mov dword ptr [r9], eax",
    "    jmp .Lkvm_s390_shim_cx_ne",
    ".Lkvm_s390_shim_cx_st2:",
    "    mov word ptr [r9], ax",
    "    jmp .Lkvm_s390_shim_cx_ne",
    ".Lkvm_s390_shim_cx_st1:",
    "    mov byte ptr [r9], al",
    ".Lkvm_s390_shim_cx_ne:",
    "    mov rbx, r11",
    "    mov eax, 1",
    "    ret",
    // The recovery points, in the order of the ranges above.
    ".globl kvm_s390_shim_uaccess_cmpxchg_fixups",
    ".hidden kvm_s390_shim_uaccess_cmpxchg_fixups",
    "kvm_s390_shim_uaccess_cmpxchg_fixups:",
    "    mov rbx, r11",
    "    mov eax, 2",
    "    ret",
    ".globl kvm_s390_shim_uaccess_cmpxchg_fixup_guest",
    ".hidden kvm_s390_shim_uaccess_cmpxchg_fixup_guest",
    "kvm_s390_shim_uaccess_cmpxchg_fixup_guest:",
    "    mov rbx, r11",
    "    mov eax, 3",
    "    ret",
    ".globl kvm_s390_shim_uaccess_cmpxchg_fixup_store",
    ".hidden kvm_s390_shim_uaccess_cmpxchg_fixup_store",
    "kvm_s390_shim_uaccess_cmpxchg_fixup_store:",
    "    mov rbx, r11",
    "    mov eax, 4",
    "    ret",
    ".size kvm_s390_shim_uaccess_cmpxchg, . - kvm_s390_shim_uaccess_cmpxchg",
    ".popsection",
);

// aarch64: load-acquire/store-release exclusive loops (no LSE requirement). For 16 bytes a
// mismatching ldaxp is made single-copy atomic by storing the observed value back.
#[cfg(target_arch = "aarch64")]
core::arch::global_asm!(
    ".pushsection .text.kvm_s390_shim_uaccess,\"ax\",@progbits",
    ".p2align 4",
    ".globl kvm_s390_shim_uaccess_cas",
    ".hidden kvm_s390_shim_uaccess_cas",
    ".type kvm_s390_shim_uaccess_cas,%function",
    "kvm_s390_shim_uaccess_cas:",
    "    cmp x3, #16",
    "    b.eq 16f",
    "    cmp x3, #8",
    "    b.eq 8f",
    "    cmp x3, #4",
    "    b.eq 4f",
    "    cmp x3, #2",
    "    b.eq 2f",
    "    ldrb w4, [x1]",
    "    ldrb w5, [x2]",
    "11: ldaxrb w6, [x0]",
    "    cmp w6, w4",
    "    b.ne 12f",
    "    stlxrb w7, w5, [x0]",
    "    cbnz w7, 11b",
    "12: clrex",
    "    strb w6, [x1]",
    "    b 99f",
    "2:  ldrh w4, [x1]",
    "    ldrh w5, [x2]",
    "21: ldaxrh w6, [x0]",
    "    cmp w6, w4",
    "    b.ne 22f",
    "    stlxrh w7, w5, [x0]",
    "    cbnz w7, 21b",
    "22: clrex",
    "    strh w6, [x1]",
    "    b 99f",
    "4:  ldr w4, [x1]",
    "    ldr w5, [x2]",
    "41: ldaxr w6, [x0]",
    "    cmp w6, w4",
    "    b.ne 42f",
    "    stlxr w7, w5, [x0]",
    "    cbnz w7, 41b",
    "42: clrex",
    "    str w6, [x1]",
    "    b 99f",
    "8:  ldr x4, [x1]",
    "    ldr x5, [x2]",
    "81: ldaxr x6, [x0]",
    "    cmp x6, x4",
    "    b.ne 82f",
    "    stlxr w7, x5, [x0]",
    "    cbnz w7, 81b",
    "82: clrex",
    "    str x6, [x1]",
    "    b 99f",
    "16: ldp x4, x5, [x1]",
    "    ldp x8, x9, [x2]",
    "161: ldaxp x6, x7, [x0]",
    "    cmp x6, x4",
    "    ccmp x7, x5, #0, eq",
    "    b.ne 162f",
    "    stlxp w10, x8, x9, [x0]",
    "    cbnz w10, 161b",
    "    b 163f",
    "162: stlxp w10, x6, x7, [x0]",
    "    cbnz w10, 161b",
    "163: stp x6, x7, [x1]",
    "99: mov w0, #0",
    "    ret",
    ".globl kvm_s390_shim_uaccess_cas_fixup",
    ".hidden kvm_s390_shim_uaccess_cas_fixup",
    "kvm_s390_shim_uaccess_cas_fixup:",
    "    mov w0, #1",
    "    ret",
    ".size kvm_s390_shim_uaccess_cas, . - kvm_s390_shim_uaccess_cas",
    ".popsection",
);

extern "C" {
    fn kvm_s390_shim_uaccess_copy(dst: *mut u8, src: *const u8, len: usize) -> usize;
    fn kvm_s390_shim_uaccess_bytes();
    fn kvm_s390_shim_uaccess_fixup();
    fn kvm_s390_shim_uaccess_cas(addr: *mut u8, old: *mut u8, new: *const u8, size: usize) -> u32;
    fn kvm_s390_shim_uaccess_cas_fixup();
}

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn kvm_s390_shim_uaccess_cmpxchg(
        addr: *mut u8,
        new: *const u8,
        old: *mut u8,
        size: usize,
    ) -> u32;
    fn kvm_s390_shim_uaccess_cmpxchg_guest();
    fn kvm_s390_shim_uaccess_cmpxchg_store();
    fn kvm_s390_shim_uaccess_cmpxchg_fixups();
    fn kvm_s390_shim_uaccess_cmpxchg_fixup_guest();
    fn kvm_s390_shim_uaccess_cmpxchg_fixup_store();
}

/// The routines' faulting ranges `[start, end)` and the recovery point of each.
fn fixup_ranges() -> impl Iterator<Item = (usize, usize, usize)> {
    let at = |f: unsafe extern "C" fn()| f as usize;
    let copy = kvm_s390_shim_uaccess_copy as *const () as usize;
    let cas = kvm_s390_shim_uaccess_cas as *const () as usize;
    let (bytes, copy_fixup) = (
        at(kvm_s390_shim_uaccess_bytes),
        at(kvm_s390_shim_uaccess_fixup),
    );
    let cas_fixup = at(kvm_s390_shim_uaccess_cas_fixup);
    [
        // A wide move of the small-copy path: finish byte by byte from where it stopped.
        (copy, bytes, bytes),
        (bytes, copy_fixup, copy_fixup),
        (cas, cas_fixup, cas_fixup),
    ]
    .into_iter()
    .chain(cmpxchg_fixup_ranges())
}

/// The one-pass cmpxchg routine's ranges: the caller loads, the guest operand, the caller
/// store.
#[cfg(target_arch = "x86_64")]
fn cmpxchg_fixup_ranges() -> [(usize, usize, usize); 3] {
    let at = |f: unsafe extern "C" fn()| f as usize;
    let start = kvm_s390_shim_uaccess_cmpxchg as *const () as usize;
    let guest = at(kvm_s390_shim_uaccess_cmpxchg_guest);
    let store = at(kvm_s390_shim_uaccess_cmpxchg_store);
    let fixups = at(kvm_s390_shim_uaccess_cmpxchg_fixups);
    [
        (start, guest, fixups),
        (guest, store, at(kvm_s390_shim_uaccess_cmpxchg_fixup_guest)),
        (store, fixups, at(kvm_s390_shim_uaccess_cmpxchg_fixup_store)),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn cmpxchg_fixup_ranges() -> [(usize, usize, usize); 0] {
    []
}

/// The recovery point for a fault at `pc`, if `pc` lies in one of the routines.
fn fixup_for(pc: usize) -> Option<usize> {
    fixup_ranges()
        .find(|&(start, end, _)| (start..end).contains(&pc))
        .map(|(_, _, fixup)| fixup)
}

/// Atomic compare-and-swap of `size` (1, 2, 4, 8 or 16) bytes at caller address `addr`,
/// which must be aligned to `size`. `old` holds the expected bytes and receives the bytes
/// found; returns whether the exchange happened.
pub(super) fn cas(
    addr: u64,
    size: usize,
    old: &mut [u8; 16],
    new: &[u8; 16],
) -> Result<bool, Fault> {
    install();
    cas_unprotected(addr, size, old, new)
}

/// [`cas`] without installing the fault handler: for [`super::Method::Syscall`], whose
/// caller has checked with the kernel that `addr` is writable, and for the default method's
/// fast path, which runs only once the handler is installed.
#[inline(always)]
pub(super) fn cas_unprotected(
    addr: u64,
    size: usize,
    old: &mut [u8; 16],
    new: &[u8; 16],
) -> Result<bool, Fault> {
    debug_assert!(matches!(size, 1 | 2 | 4 | 8 | 16) && addr % size as u64 == 0);
    let expected = *old;
    // SAFETY: `old` and `new` are 16-byte shim buffers; `addr` is naturally aligned for
    // `size` (so a 16-byte operand meets cmpxchg16b's alignment); a fault on it is turned
    // into a return value of 1 by the handler, where installed (see the callers).
    let r =
        unsafe { kvm_s390_shim_uaccess_cas(addr as *mut u8, old.as_mut_ptr(), new.as_ptr(), size) };
    if r != 0 {
        return Err(Fault);
    }
    // The first `size` bytes, compared as one integer (no byte-wise compare).
    let mask = if size >= 16 {
        u128::MAX
    } else {
        (1u128 << (size * 8)) - 1
    };
    Ok((u128::from_le_bytes(*old) ^ u128::from_le_bytes(expected)) & mask == 0)
}

/// What the memop cmpxchg's accesses did ([`super::cmpxchg_user`]); the values are the
/// assembly routine's return codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CmpxchgUser {
    /// The values were read and the new one stored.
    Exchanged = 0,
    /// The values were read, guest memory held another value, which was stored to `old`.
    Mismatch = 1,
    /// Reading the new or the expected value from the caller faulted; nothing else was done.
    LoadFault = 2,
    /// The guest operand faulted: nothing was exchanged and `old` was not written.
    GuestFault = 3,
    /// Guest memory held another value, and storing it to `old` faulted.
    StoreFault = 4,
}

/// The memop cmpxchg's accesses once the handler is installed: `size` (1, 2, 4, 8 or 16)
/// bytes at caller addresses `new` and `old` (ranges checked by the caller) and at `addr`
/// (aligned to `size`). On x86_64 one routine does all of it; elsewhere the copy and
/// compare-and-swap routines in turn.
#[inline(always)]
pub(super) fn cmpxchg_user_installed(addr: u64, size: usize, new: u64, old: u64) -> CmpxchgUser {
    debug_assert!(matches!(size, 1 | 2 | 4 | 8 | 16) && addr % size as u64 == 0);
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: the routine reads `size` bytes at `new` and `old`, compare-and-swaps `size`
        // naturally aligned bytes at `addr` and may store `size` bytes at `old`; a fault on
        // any of them is turned into its return code by the installed handler.
        let r = unsafe {
            kvm_s390_shim_uaccess_cmpxchg(addr as *mut u8, new as *const u8, old as *mut u8, size)
        };
        match r {
            0 => CmpxchgUser::Exchanged,
            1 => CmpxchgUser::Mismatch,
            2 => CmpxchgUser::LoadFault,
            3 => CmpxchgUser::GuestFault,
            _ => CmpxchgUser::StoreFault,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut n = [0u8; 16];
        let mut o = [0u8; 16];
        if copy_installed(n.as_mut_ptr() as u64, new, size).is_err()
            || copy_installed(o.as_mut_ptr() as u64, old, size).is_err()
        {
            return CmpxchgUser::LoadFault;
        }
        match cas_unprotected(addr, size, &mut o, &n) {
            Err(Fault) => CmpxchgUser::GuestFault,
            Ok(true) => CmpxchgUser::Exchanged,
            Ok(false) => match copy_installed(old, o.as_ptr() as u64, size) {
                Ok(()) => CmpxchgUser::Mismatch,
                Err(Fault) => CmpxchgUser::StoreFault,
            },
        }
    }
}

/// Copies `len` bytes from `src` to `dst`, either of which may be a caller address.
pub(super) fn copy(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
    install();
    copy_installed(dst, src, len)
}

/// [`copy`] once the handler is installed (the caller knows: see `super::fast_path`).
#[inline(always)]
pub(super) fn copy_installed(dst: u64, src: u64, len: usize) -> Result<(), Fault> {
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

/// The action that was installed for SIGSEGV (index 0) and SIGBUS (index 1) before ours,
/// published before ours is installed, so that the handler always finds where to pass a
/// fault that is not the shim's. Null until then (and for a signal we never took over).
static PREVIOUS: [AtomicPtr<libc::sigaction>; 2] = [
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
];

fn previous_slot(sig: libc::c_int) -> &'static AtomicPtr<libc::sigaction> {
    &PREVIOUS[usize::from(sig == libc::SIGBUS)]
}

/// Records `act` as the action to chain to for `sig`. The record is leaked: the handler may
/// be reading the one it replaces (this happens only if the application changes the action
/// concurrently with the installation).
fn publish_previous(sig: libc::c_int, act: libc::sigaction) {
    let p = Box::into_raw(Box::new(act));
    previous_slot(sig).store(p, Ordering::Release);
}

static INSTALL: Once = Once::new();

/// Installs the handler once per process (idempotent and thread-safe).
///
/// For each signal: record the current action, then install ours, which returns the action
/// it replaced; if that differs from the record (the application changed it in between), the
/// record is updated. A fault on another thread at any point of this sequence finds either no
/// shim handler (the application's runs directly) or a record to chain to.
pub(crate) fn install() {
    INSTALL.call_once(|| {
        // SAFETY: a zeroed sigaction is a valid starting point; we fill handler, flags and an
        // empty mask before installing it.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = on_fault as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER | libc::SA_RESTART;
        // SAFETY: sa_mask is a valid sigset_t to initialise.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        for sig in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: sigaction with a null new action only reads the current one.
            let mut before: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: as above; `before` is a writable sigaction.
            unsafe { libc::sigaction(sig, std::ptr::null(), &mut before) };
            publish_previous(sig, before);
            // SAFETY: installing a valid action for a catchable signal; `replaced` receives
            // the action it replaces.
            let mut replaced: libc::sigaction = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            unsafe { libc::sigaction(sig, &act, &mut replaced) };
            if replaced.sa_sigaction != before.sa_sigaction || replaced.sa_flags != before.sa_flags
            {
                publish_previous(sig, replaced);
            }
        }
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
    if !ctx.is_null() {
        let pc = pc_slot(ctx.cast());
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let at = unsafe { pc.read() } as usize;
        if let Some(fixup) = fixup_for(at) {
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
    // The application's handler may leave the thread elsewhere (siglongjmp) with another mask.
    super::sigmask::mask_may_have_changed();
    let prev = previous_slot(sig).load(Ordering::Acquire);
    if prev.is_null() {
        return reset_default(sig);
    }
    // SAFETY: a published record is never freed or changed (see `publish_previous`).
    let old = unsafe { &*prev };
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
