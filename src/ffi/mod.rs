//! The exported C ABI: the `kvm_s390_shim_*` API ([`api`]) and the LD_PRELOAD interposers
//! ([`preload`]). Every exported function runs its body inside [`ffi_boundary!`], so a panic
//! never unwinds into C: it is logged and the call fails with EIO.
// The C ABI: exported functions, interposers, raw pointers from C.
#![allow(unsafe_code)]

use libc::c_int;

/// Runs `$body`; if it panics, sets errno to EIO and evaluates to `$fail`.
macro_rules! ffi_boundary {
    ($fail:expr, $body:expr) => {{
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| $body)) {
            Ok(v) => v,
            Err(_) => {
                log::error!("kvm-s390-shim: internal panic caught at the C boundary");
                $crate::ffi::set_errno(libc::EIO);
                $fail
            }
        }
    }};
}

pub mod api;
pub mod guest;
mod path;
pub mod preload;
pub(crate) mod real;
mod real_signal;

/// Reads the logging and fault-injection environment (`KVM_S390_SHIM_LOG`,
/// `KVM_S390_SHIM_LOG_FILE`, `KVM_S390_SHIM_FAIL`) when the library is loaded.
extern "C" fn init_hooks_at_load() {
    let _ = std::panic::catch_unwind(crate::ioctl::hook::init_from_env);
}

#[used]
#[link_section = ".init_array"]
static INIT_HOOKS_AT_LOAD: extern "C" fn() = init_hooks_at_load;

/// Sets the calling thread's errno.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the valid, thread-local errno slot.
    unsafe { *libc::__errno_location() = e };
}

/// Reads the calling thread's errno.
pub(crate) fn errno() -> c_int {
    // SAFETY: as above.
    unsafe { *libc::__errno_location() }
}

/// Converts a shim result into the ioctl(2) convention: the value, or -1 with errno.
#[inline(always)]
pub(crate) fn to_c(r: crate::error::Result<c_int>) -> c_int {
    match r {
        Ok(v) => v,
        Err(e) => fail_with(e),
    }
}

/// Sets errno for `e`; returns -1.
#[cold]
#[inline(never)]
fn fail_with(e: crate::error::Error) -> c_int {
    set_errno(e.errno());
    -1
}
