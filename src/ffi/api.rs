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

/// Selects the modelled host machine: "z14", "z15" or "z16" (the default; the environment
/// variable `KVM_S390_SHIM_MACHINE` sets the initial choice).
///
/// Must be called before the first VM is created; the host is fixed from then on.
/// Returns 0, or -1 with errno EINVAL (NULL or unknown name) or EBUSY (a VM exists).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_set_machine(name: *const c_char) -> c_int {
    ffi_boundary!(-1, {
        let Some(bytes) = super::path::read_path(name) else {
            super::set_errno(libc::EINVAL);
            return -1;
        };
        match std::str::from_utf8(&bytes).map(crate::host::select_machine) {
            Ok(Ok(())) => 0,
            Ok(Err(crate::host::SelectError::HostInUse)) => {
                super::set_errno(libc::EBUSY);
                -1
            }
            _ => {
                super::set_errno(libc::EINVAL);
                -1
            }
        }
    })
}

/// Selects the kernel version whose KVM/s390 behaviour the shim follows: "6.1", "6.6",
/// "6.12" (the default) or "latest" (the environment variable `KVM_S390_SHIM_KERNEL` sets the
/// initial choice; README, "Kernel-version profiles").
///
/// Must be called before the first KVM ioctl; the profile is fixed from then on.
/// Returns 0 (also when `name` is the profile already in use), or -1 with errno EINVAL
/// (NULL or unknown name) or EBUSY (another profile is in use).
///
/// # Safety
/// `name` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn kvm_s390_shim_set_kernel(name: *const c_char) -> c_int {
    ffi_boundary!(-1, {
        let Some(bytes) = super::path::read_path(name) else {
            super::set_errno(libc::EINVAL);
            return -1;
        };
        match std::str::from_utf8(&bytes).map(crate::host::kernel::select) {
            Ok(Ok(())) => 0,
            Ok(Err(crate::host::kernel::SelectKernelError::InUse)) => {
                super::set_errno(libc::EBUSY);
                -1
            }
            _ => {
                super::set_errno(libc::EINVAL);
                -1
            }
        }
    })
}

/// The name of the modelled host machine ("z16", ...), a static string.
#[no_mangle]
pub extern "C" fn kvm_s390_shim_machine() -> *const c_char {
    ffi_boundary!(std::ptr::null(), {
        match crate::host::host().profile.name {
            "z14" => c"z14".as_ptr(),
            "z15" => c"z15".as_ptr(),
            _ => c"z16".as_ptr(),
        }
    })
}

/// Freezes the host TOD clock at `tod` with epoch index `epoch_idx`: every VM's TOD then
/// stands still until [`kvm_s390_shim_tod_advance`] moves it. For deterministic tests; the
/// environment variable `KVM_S390_SHIM_TOD=frozen:<hex tod>` does the same at start-up.
/// Always returns 0.
#[no_mangle]
pub extern "C" fn kvm_s390_shim_tod_freeze(epoch_idx: u8, tod: u64) -> c_int {
    ffi_boundary!(-1, {
        crate::host::clock::set_clock(crate::host::clock::HostTod { epoch_idx, tod });
        0
    })
}

/// Advances the frozen host TOD clock by `delta` TOD units (4096 per microsecond), carrying
/// into the epoch index. Returns 0, or -1 with errno EINVAL if the clock is not frozen.
#[no_mangle]
pub extern "C" fn kvm_s390_shim_tod_advance(delta: u64) -> c_int {
    ffi_boundary!(-1, {
        if crate::host::clock::advance_clock(delta) {
            0
        } else {
            super::set_errno(libc::EINVAL);
            -1
        }
    })
}

/// Returns the host TOD clock to real time (the default). Always returns 0.
#[no_mangle]
pub extern "C" fn kvm_s390_shim_tod_realtime() -> c_int {
    ffi_boundary!(-1, {
        crate::host::clock::set_source(crate::host::clock::ClockSource::RealTime);
        0
    })
}
