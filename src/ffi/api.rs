//! The shim's own C API, declared in `include/kvm_s390_shim.h`.
//!
//! These functions work whether or not the library is preloaded. Each behaves exactly like the
//! libc call it mirrors: -1 with errno on failure, the call's value otherwise. They are
//! thread-safe; any number of threads may call them on the same fds at once.

use std::ffi::CStr;

use libc::{c_char, c_int, c_ulong, c_void};

use super::preload::{kvm_open, shim_close, shim_ioctl};

/// Opens the shim's /dev/kvm, like `open("/dev/kvm", flags)`.
///
/// `flags` are open(2) flags; `O_CLOEXEC` is honoured. Returns a new fd, or -1 with errno
/// (ENOTDIR for O_DIRECTORY, EEXIST for O_CREAT|O_EXCL, EMFILE/ENFILE when out of fds).
#[no_mangle]
pub extern "C" fn kvm_s390_shim_open(flags: c_int) -> c_int {
    ffi_boundary!(-1, kvm_open(flags))
}

/// Performs `ioctl(fd, request, arg)`: served by the shim for KVM fds, passed to libc otherwise.
///
/// Returns the ioctl's value (which may be positive, e.g. a program-interruption code), or -1
/// with the kernel's errno. Invalid `arg` pointers give EFAULT, never a crash.
///
/// # Safety
/// For non-KVM fds, the requirements of the underlying ioctl apply to `arg`.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_ioctl(
    fd: c_int,
    request: c_ulong,
    arg: *mut c_void,
) -> c_int {
    ffi_boundary!(-1, shim_ioctl(fd, request, arg))
}

/// Closes `fd` like `close(fd)`, releasing the KVM object reference it held.
///
/// A VM lives on while other fds (dups, vCPU fds) still refer to it.
#[no_mangle]
pub extern "C" fn kvm_s390_shim_close(fd: c_int) -> c_int {
    ffi_boundary!(-1, shim_close(fd))
}

static VERSION: &CStr = c"0.1.0";

/// The shim's version as a static NUL-terminated string (never freed).
#[no_mangle]
pub extern "C" fn kvm_s390_shim_version() -> *const c_char {
    VERSION.as_ptr()
}
