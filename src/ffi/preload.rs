//! LD_PRELOAD interposers for the libc entry points a VMM uses on KVM fds.
//!
//! Each interposer serves KVM paths and fds in-process and passes everything else to the real
//! libc function unchanged (same arguments, same return value, same errno). They are also in
//! effect when a program links the shared library directly, because ELF symbol resolution
//! then finds them before libc's.
//!
//! C-variadic functions cannot be defined on stable Rust; `open`, `openat`, `fcntl` and `ioctl`
//! are defined with their optional argument as a fixed parameter, which is ABI-compatible on
//! the x86_64, aarch64 and s390x Linux calling conventions (the optional argument travels in
//! the same register). `mode` is only passed on when `O_CREAT` or `O_TMPFILE` is set.
//!
//! These symbols are not declared in the header (they are libc's).

use libc::{c_char, c_int, c_uint, c_ulong, c_void, mode_t};

use super::path::{names_dev_kvm, read_path, symlink_to_dev_kvm};
use super::real::{self, OpenKind};
use super::{errno, set_errno, to_c};
use crate::fd::TABLE;
use crate::ioctl;
use crate::system::System;

/// The device number of the host's own /dev/kvm, if it has one (looked up once).
fn host_kvm_rdev() -> Option<libc::dev_t> {
    static RDEV: std::sync::OnceLock<Option<libc::dev_t>> = std::sync::OnceLock::new();
    *RDEV.get_or_init(|| {
        // SAFETY: stat with a NUL-terminated path and a zeroed out-buffer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        let r = unsafe { libc::stat(c"/dev/kvm".as_ptr(), &mut st) };
        (r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR).then_some(st.st_rdev)
    })
}

/// Whether `fd` is the host's own /dev/kvm (only checked on hosts that have one).
fn is_host_kvm_device(fd: c_int) -> bool {
    let Some(rdev) = host_kvm_rdev() else {
        return false;
    };
    // SAFETY: fstat into a zeroed buffer; the fd was just returned by open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let r = unsafe { libc::fstat(fd, &mut st) };
    r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == rdev
}

/// Opens a new /dev/kvm fd honouring the open flags the kernel would check.
pub(crate) fn kvm_open(flags: c_int) -> c_int {
    if flags & libc::O_DIRECTORY != 0 {
        set_errno(libc::ENOTDIR);
        return -1;
    }
    if flags & (libc::O_CREAT | libc::O_EXCL) == (libc::O_CREAT | libc::O_EXCL) {
        set_errno(libc::EEXIST);
        return -1;
    }
    to_c(System::open(flags & libc::O_CLOEXEC != 0))
}

fn open_common(
    kind: OpenKind,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    let mode = if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
        mode
    } else {
        0
    };
    let bytes = read_path(path);
    if flags & libc::O_PATH == 0 {
        if let Some(p) = &bytes {
            if names_dev_kvm(dirfd, p) {
                return kvm_open(flags);
            }
        }
    }
    let fd = real::open(kind, dirfd, path, flags, mode);
    if fd >= 0 {
        // A number the kernel just handed out cannot be a live KVM fd: drop a stale entry
        // left by a close the shim did not see (e.g. a raw syscall).
        if TABLE.contains(fd) {
            TABLE.remove(fd);
        }
        // On a host with a real /dev/kvm, a path that reached it through a symlink opened
        // the host's device: replace it with the shim's.
        if flags & libc::O_PATH == 0 && is_host_kvm_device(fd) {
            real::close(fd);
            return kvm_open(flags);
        }
        return fd;
    }
    if errno() == libc::ENOENT && flags & libc::O_PATH == 0 {
        if let Some(p) = &bytes {
            if symlink_to_dev_kvm(dirfd, p) {
                return kvm_open(flags);
            }
        }
    }
    fd
}

/// `ioctl` for both the interposer and the C API.
pub(crate) fn shim_ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    match ioctl::dispatch(fd, request, arg as u64) {
        None => real::ioctl(fd, request, arg),
        Some(r) => to_c(r),
    }
}

/// `close` for both the interposer and the C API.
pub(crate) fn shim_close(fd: c_int) -> c_int {
    TABLE.remove(fd);
    real::close(fd)
}

fn after_dup(old: c_int, new: c_int) -> c_int {
    if new >= 0 {
        TABLE.alias(old, new);
    }
    new
}

/// # Safety
/// `path` must be NULL or point to a C string, as for libc `open`.
#[no_mangle]
pub unsafe extern "C" fn open(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    ffi_boundary!(
        -1,
        open_common(OpenKind::Open, libc::AT_FDCWD, path, flags, mode)
    )
}

/// # Safety
/// As for [`open`].
#[no_mangle]
pub unsafe extern "C" fn open64(path: *const c_char, flags: c_int, mode: mode_t) -> c_int {
    ffi_boundary!(
        -1,
        open_common(OpenKind::Open64, libc::AT_FDCWD, path, flags, mode)
    )
}

/// # Safety
/// As for libc `openat`.
#[no_mangle]
pub unsafe extern "C" fn openat(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    ffi_boundary!(-1, open_common(OpenKind::OpenAt, dirfd, path, flags, mode))
}

/// # Safety
/// As for libc `openat64`.
#[no_mangle]
pub unsafe extern "C" fn openat64(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    ffi_boundary!(
        -1,
        open_common(OpenKind::OpenAt64, dirfd, path, flags, mode)
    )
}

/// # Safety
/// As for glibc `__open_2` (the fortified two-argument open).
#[no_mangle]
pub unsafe extern "C" fn __open_2(path: *const c_char, flags: c_int) -> c_int {
    ffi_boundary!(
        -1,
        open_common(OpenKind::Open2, libc::AT_FDCWD, path, flags, 0)
    )
}

/// # Safety
/// As for glibc `__open64_2`.
#[no_mangle]
pub unsafe extern "C" fn __open64_2(path: *const c_char, flags: c_int) -> c_int {
    ffi_boundary!(
        -1,
        open_common(OpenKind::Open64_2, libc::AT_FDCWD, path, flags, 0)
    )
}

/// # Safety
/// As for glibc `__openat_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    ffi_boundary!(-1, open_common(OpenKind::OpenAt2, dirfd, path, flags, 0))
}

/// # Safety
/// As for glibc `__openat64_2`.
#[no_mangle]
pub unsafe extern "C" fn __openat64_2(dirfd: c_int, path: *const c_char, flags: c_int) -> c_int {
    ffi_boundary!(-1, open_common(OpenKind::OpenAt64_2, dirfd, path, flags, 0))
}

/// # Safety
/// As for libc `ioctl`; for KVM fds invalid argument pointers give EFAULT.
#[no_mangle]
pub unsafe extern "C" fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    ffi_boundary!(-1, shim_ioctl(fd, request, arg))
}

/// # Safety
/// As for libc `close`.
#[no_mangle]
pub unsafe extern "C" fn close(fd: c_int) -> c_int {
    ffi_boundary!(-1, shim_close(fd))
}

/// # Safety
/// As for libc `dup`.
#[no_mangle]
pub unsafe extern "C" fn dup(fd: c_int) -> c_int {
    ffi_boundary!(-1, after_dup(fd, real::dup(fd)))
}

/// # Safety
/// As for libc `dup2`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    ffi_boundary!(-1, {
        let r = real::dup2(old, new);
        if r >= 0 && old != new {
            after_dup(old, r)
        } else {
            r
        }
    })
}

/// # Safety
/// As for libc `dup3`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    ffi_boundary!(-1, after_dup(old, real::dup3(old, new, flags)))
}

fn fcntl_common(fd: c_int, cmd: c_int, arg: c_ulong, wide: bool) -> c_int {
    let r = real::fcntl(fd, cmd, arg, wide);
    if cmd == libc::F_DUPFD || cmd == libc::F_DUPFD_CLOEXEC {
        after_dup(fd, r)
    } else {
        r
    }
}

/// # Safety
/// As for libc `fcntl`.
#[no_mangle]
pub unsafe extern "C" fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    ffi_boundary!(-1, fcntl_common(fd, cmd, arg, false))
}

/// # Safety
/// As for libc `fcntl64`.
#[no_mangle]
pub unsafe extern "C" fn fcntl64(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
    ffi_boundary!(-1, fcntl_common(fd, cmd, arg, true))
}

/// # Safety
/// As for libc `close_range`.
#[no_mangle]
pub unsafe extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    ffi_boundary!(-1, {
        let r = real::close_range(first, last, flags);
        if r == 0 && flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0 {
            TABLE.remove_range(first, last);
        }
        r
    })
}
