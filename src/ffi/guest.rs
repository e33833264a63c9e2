//! The guest-program C API: registering a guest function for a vCPU, and the operations it
//! performs as that CPU. Declared in `include/kvm_s390_shim.h`.
//!
//! A guest function runs inside `KVM_RUN` on the calling thread, with the vCPU locked: it must
//! not issue ioctls on its own vCPU (use the operations below), but may use other vCPUs, the
//! VM and guest memory. The `kvm_s390_shim_guest` handle is valid only until it returns.
//! Operations that access storage return 0 or, if the access raised a program exception, its
//! code, after presenting the exception to the guest as the hardware would: the program
//! interrupt is delivered through the lowcore (old PSW stored, new PSW loaded).

use std::ffi::c_void;

use libc::c_int;

use super::set_errno;
use crate::object::{Object, TABLE};
use crate::vcpu::guest::{kvm_s390_shim_guest, kvm_s390_shim_guest_fn, GuestCpu, GuestProgram};
use crate::vm::memop::with_bounce;

/// Runs `f` on the CPU of a guest function; -1/EINVAL for a handle that is not that of a
/// guest function running on this thread (NULL, stale, or another thread's).
///
/// # Safety
/// `g` must be the handle of a running guest function.
unsafe fn with_cpu(
    g: *mut kvm_s390_shim_guest,
    f: impl FnOnce(&mut GuestCpu) -> crate::error::Result<c_int>,
) -> c_int {
    // SAFETY: forwarded contract.
    match unsafe { GuestCpu::from_handle(g) } {
        Some(mut cpu) => super::to_c(f(&mut cpu)),
        None => {
            set_errno(libc::EINVAL);
            -1
        }
    }
}

/// The largest single guest read or write (the memop limit, `MEM_OP_MAX_SIZE`).
const MAX_ACCESS: usize = 65536;

/// Checks the arguments every storage operation shares: an access register number and a
/// length.
fn check_access(ar: u8, len: usize) -> crate::error::Result<()> {
    if ar >= 16 {
        return Err(crate::error::Error::GuestMisuse);
    }
    if len > MAX_ACCESS {
        return Err(crate::error::Error::MemOpTooBig);
    }
    Ok(())
}

/// The C result of an instruction that yields a value or presents a program exception:
/// the value, or 0x100 | the exception code.
fn value_or_code(r: std::result::Result<u8, u16>) -> c_int {
    match r {
        Ok(v) => c_int::from(v),
        Err(code) => 0x100 | c_int::from(code),
    }
}

/// Registers `fn` as the guest program of the vCPU `vcpu_fd` (NULL removes it). `KVM_RUN`
/// then calls `fn(cpu, opaque)` after syncing registers in and delivering pending interrupts,
/// and completes with the exit it returns (`KVM_S390_SHIM_EXIT_SIEIC` → `KVM_EXIT_S390_SIEIC`
/// with the given icptcode/ipa/ipb and `KVM_RUN` returning 0; `KVM_S390_SHIM_EXIT_STOP` → the
/// CPU stops, SIEIC with icptcode 0x28; `KVM_S390_SHIM_EXIT_INTR` → -1/EINTR,
/// `KVM_EXIT_INTR`; any other kind → -1/EINVAL). The guest function must not issue ioctls on
/// its own vCPU (they fail with EDEADLK: the vCPU is held by its `KVM_RUN`). Returns 0, or -1
/// with errno EBADF (not a KVM fd), EINVAL (not a vCPU) or EDEADLK (from that vCPU's own guest
/// function).
///
/// # Safety
/// `fn` must be a valid function for as long as it is registered; `opaque` is passed through.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_set_guest(
    vcpu_fd: c_int,
    r#fn: kvm_s390_shim_guest_fn,
    opaque: *mut c_void,
) -> c_int {
    ffi_boundary!(-1, {
        // Outside a read-side section: setting the program takes the vCPU mutex.
        let entry = TABLE.entry(vcpu_fd);
        let r = entry.as_ref().map(|e| match e.object() {
            Object::Vcpu(_, v) if crate::vcpu::guest::is_running_here(v) => {
                set_errno(libc::EDEADLK);
                -1
            }
            Object::Vcpu(_, v) => {
                v.set_guest_program(r#fn.map(|func| GuestProgram {
                    func,
                    opaque: opaque as usize,
                }));
                0
            }
            _ => {
                set_errno(libc::EINVAL);
                -1
            }
        });
        r.unwrap_or_else(|| {
            set_errno(libc::EBADF);
            -1
        })
    })
}

/// Fetches `len` bytes at logical address `ga` (access register `ar` in AR mode) into `buf`
/// with the CPU's translation, PSW key and protection. Returns 0, or the program-exception
/// code presented to the guest; -1 with errno on misuse: EFAULT for a bad `buf` (found after
/// the access, which has then happened), E2BIG for `len` over 65536, EINVAL for `ar` over 15
/// or a handle that is not a running guest function's on this thread.
///
/// # Safety
/// `g` must be the running guest function's handle; `buf` must hold `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_read(
    g: *mut kvm_s390_shim_guest,
    ga: u64,
    buf: *mut c_void,
    len: usize,
    ar: u8,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| {
            check_access(ar, len)?;
            with_bounce(len, |data| {
                let r = cpu.access(ga, ar, data, false)?;
                if r == 0 {
                    crate::uaccess::copy_to_user(buf as u64, data)?;
                }
                Ok(c_int::from(r))
            })
        })
    })
}

/// Stores `len` bytes from `buf` at logical address `ga`; as [`kvm_s390_shim_guest_read`].
///
/// # Safety
/// As for [`kvm_s390_shim_guest_read`].
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_write(
    g: *mut kvm_s390_shim_guest,
    ga: u64,
    buf: *const c_void,
    len: usize,
    ar: u8,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| {
            check_access(ar, len)?;
            with_bounce(len, |data| {
                crate::uaccess::copy_from_user(data, buf as u64)?;
                Ok(c_int::from(cpu.access(ga, ar, data, true)?))
            })
        })
    })
}

/// COMPARE AND SWAP of `size` bytes (4: CS, 8: CSG, 16: CDSG) at logical address `ga`.
/// `old` and `new` hold the operands as they are in storage (big-endian guest values).
/// Returns the condition code 0 (swapped) or 1 (not equal: `old` receives the current value),
/// or 0x100 | code when a program exception was presented. Atomic with respect to
/// `KVM_S390_MEM_OP` cmpxchg and native atomics on the same memory.
///
/// # Safety
/// `g` as above; `old` and `new` must hold `size` bytes.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_cs(
    g: *mut kvm_s390_shim_guest,
    ga: u64,
    size: usize,
    old: *mut c_void,
    new: *const c_void,
    ar: u8,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| {
            check_access(ar, 0)?;
            let n = size.min(16);
            let (mut o, mut nv) = ([0u8; 16], [0u8; 16]);
            crate::uaccess::copy_from_user(&mut o[..n], old as u64)?;
            crate::uaccess::copy_from_user(&mut nv[..n], new as u64)?;
            let r = cpu.compare_and_swap(ga, ar, size, &mut o, &nv)?;
            if r == 1 {
                crate::uaccess::copy_to_user(old as u64, &o[..n])?;
            }
            Ok(c_int::from(r))
        })
    })
}

/// SET STORAGE KEY EXTENDED for the frame at real address `ra` (made effective by the
/// addressing mode, then prefixed); bits 0-6 of `key` are stored (no M3 options). The first
/// storage-key instruction enables storage keys for the VM. Returns 0 or the presented
/// exception code (0x02 in the problem state, 0x05 outside memory).
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_sske(
    g: *mut kvm_s390_shim_guest,
    ra: u64,
    key: u8,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| Ok(c_int::from(cpu.sske(ra, key)?)))
    })
}

/// INSERT STORAGE KEY EXTENDED: the key of the frame at real address `ra` (0..255), or
/// 0x100 | code for a presented exception.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_iske(g: *mut kvm_s390_shim_guest, ra: u64) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| Ok(value_or_code(cpu.iske(ra)?)))
    })
}

/// RESET REFERENCE BIT EXTENDED: the condition code (reference and change bit before), or
/// 0x100 | code for a presented exception.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_rrbe(g: *mut kvm_s390_shim_guest, ra: u64) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| Ok(value_or_code(cpu.rrbe(ra)?)))
    })
}

/// EXTRACT AND SET STORAGE ATTRIBUTES for the frame at absolute address `gpa` with operation
/// request code `orc` (0 extract, 1 stable, 2 unused, 3 volatile, 4 potentially volatile,
/// 5/6 stable, 7 stable + NODAT with facility 147): the value ESSA puts in R1 (previous
/// usage state × 4, plus 0x20 if NODAT was set), or 0x100 | code for a presented exception
/// (0x01 without CMMA, 0x02 in the problem state, 0x06 for a bad code, 0x05 outside memory).
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_essa(
    g: *mut kvm_s390_shim_guest,
    gpa: u64,
    orc: u8,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| Ok(value_or_code(cpu.essa(gpa, orc)?)))
    })
}

/// Translates logical address `ga` like LOAD REAL ADDRESS (no exception is presented):
/// stores the absolute address in `*abs` and returns 0, or returns the program-exception code
/// the translation raises.
///
/// # Safety
/// `g` as above; `abs` must be writable.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_translate(
    g: *mut kvm_s390_shim_guest,
    ga: u64,
    ar: u8,
    abs: *mut u64,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| {
            match check_access(ar, 0).and_then(|()| cpu.translate(ga, ar, false))? {
                Ok(a) => {
                    crate::uaccess::write_user(abs as u64, &a)?;
                    Ok(0)
                }
                Err(code) => Ok(c_int::from(code)),
            }
        })
    })
}

/// Reads register `n` of `kind` ('g' general, 'c' control, 'a' access: n 0..15; 'p' PSW:
/// n 0 mask, n 1 address; 'x' prefix). Unknown kinds or numbers, or a bad handle, read 0.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_get_reg(
    g: *mut kvm_s390_shim_guest,
    kind: u8,
    n: u32,
) -> u64 {
    // SAFETY: forwarded contract.
    ffi_boundary!(0, unsafe {
        match GuestCpu::from_handle(g) {
            Some(cpu) => match (kind, n) {
                (b'g', 0..=15) => cpu.gpr(n as usize),
                (b'c', 0..=15) => cpu.cr(n as usize),
                (b'a', 0..=15) => u64::from(cpu.ar(n as usize)),
                (b'p', 0) => cpu.psw().0,
                (b'p', 1) => cpu.psw().1,
                (b'x', _) => cpu.prefix(),
                _ => 0,
            },
            None => 0,
        }
    })
}

/// Writes register `n` of `kind` (as for [`kvm_s390_shim_guest_get_reg`]; the prefix is
/// read-only here). Returns 0, or -1/EINVAL for an unknown kind or number or a bad handle.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_set_reg(
    g: *mut kvm_s390_shim_guest,
    kind: u8,
    n: u32,
    value: u64,
) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe {
        with_cpu(g, |cpu| {
            match (kind, n) {
                (b'g', 0..=15) => cpu.set_gpr(n as usize, value),
                (b'c', 0..=15) => cpu.set_cr(n as usize, value),
                (b'a', 0..=15) => cpu.set_ar(n as usize, value as u32),
                (b'p', 0) => {
                    let (_, a) = cpu.psw();
                    cpu.set_psw(value, a)
                }
                (b'p', 1) => {
                    let (m, _) = cpu.psw();
                    cpu.set_psw(m, value)
                }
                _ => return Err(crate::error::Error::GuestMisuse),
            }
            Ok(0)
        })
    })
}

/// Puts the CPU in the wait state with its current PSW, as a guest that loads an enabled-wait
/// PSW: returns `KVM_S390_SHIM_WAIT_INTERRUPT` (1) once an interrupt was delivered (old PSW
/// stored, new PSW loaded), `KVM_S390_SHIM_WAIT_SIGNAL` (2) when a signal unblocked during
/// `KVM_RUN` (the `KVM_SET_SIGNAL_MASK` mask, else the thread's own) arrived (its handler has
/// run: return `KVM_S390_SHIM_EXIT_INTR` to leave `KVM_RUN` as the kernel would), or
/// `KVM_S390_SHIM_WAIT_DISABLED` (3) at once when nothing is deliverable and the PSW enables
/// no I/O, external or machine-check interruption (KVM exits with the wait-state intercept,
/// icptcode 0x1c). While it sleeps the vCPU's state is released: other threads inject
/// interrupts into it (which wake it); the thread sleeps in the kernel, using no CPU. -1 with
/// errno EINVAL for a bad handle.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_wait(g: *mut kvm_s390_shim_guest) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe { with_cpu(g, |cpu| cpu.wait()) })
}

/// Executes DIAGNOSE 0x500 as KVM does (a virtio-ccw notify when general register 1 holds 3:
/// subchannel id in the low word of gpr 2, virtqueue index in gpr 3, cookie in gpr 4).
/// Returns `KVM_S390_SHIM_DIAG500_HANDLED` (0) when an ioeventfd registered with
/// `KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY` for that subchannel (and queue, with datamatch)
/// was signalled: gpr 2 then holds the new cookie and the guest continues without an exit.
/// Returns `KVM_S390_SHIM_DIAG500_EXIT` (1) when the kernel would leave the DIAGNOSE to
/// userspace (another subcode, CSS support not enabled, or no matching ioeventfd; gpr 2 is
/// unchanged): return `{KVM_S390_SHIM_EXIT_SIEIC, 4, 0x8324, 0x05000000}` (`diag 2,4,0x500`).
/// In the problem state a privileged-operation exception is presented: 0x102. -1 with errno
/// EINVAL for a bad handle.
///
/// # Safety
/// `g` as above.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_guest_diag500(g: *mut kvm_s390_shim_guest) -> c_int {
    // SAFETY: forwarded contract.
    ffi_boundary!(-1, unsafe { with_cpu(g, |cpu| cpu.diag500()) })
}
