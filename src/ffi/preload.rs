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
use crate::fd::FdEntry;
use crate::object::{Object, TABLE};

use crate::ioctl;
use crate::os;
use crate::uapi::KVMIO;

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
    to_c(crate::object::open_system(flags & libc::O_CLOEXEC != 0))
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

/// Whether the file now at `fd` is still the placeholder of `obj` (one `fstat` or
/// `epoll_ctl`; never on the KVM-request path).
fn placeholder_matches(fd: c_int, obj: &Object) -> bool {
    match obj {
        Object::Vcpu(_, vcpu) => os::file_id(fd) == Some(vcpu.run.file_id()),
        Object::System(_) | Object::Vm(_) | Object::Device(..) => os::holds_anchor(fd),
    }
}

/// The object behind `fd` if `fd` is a KVM fd. A number closed behind the shim's back (a raw
/// `close`) and reused by a call the shim does not see (`pipe`, `socket`, `eventfd`, ...)
/// still has its old entry: it is recognised here and dropped.
fn live_object(fd: c_int) -> Option<FdEntry<Object>> {
    let e = TABLE.entry(fd)?;
    if placeholder_matches(fd, e.object()) {
        Some(e)
    } else {
        TABLE.remove_if(fd, &e);
        None
    }
}

/// The numbers of the live `/dev/kvm` and VM placeholders (for [`os::protect_anchor`]).
fn live_placeholders() -> Vec<c_int> {
    TABLE
        .entries(0, u32::MAX)
        .into_iter()
        .filter(|(fd, e)| !matches!(e.object(), Object::Vcpu(..)) && os::holds_anchor(*fd))
        .map(|(fd, _)| fd)
        .collect()
}

/// `ioctl` for both the interposer and the C API.
///
/// KVM requests (ioctl type `KVMIO`) go straight to the dispatcher: no system call before the
/// handler. Other requests on a KVM number first check that the number still holds the
/// placeholder, so a stale entry never answers for a pipe or a socket.
#[inline(always)]
pub(crate) fn shim_ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    // The syscall passes the request as a 32-bit unsigned int.
    if (request as u32 >> 8) & 0xff == KVMIO {
        return ioctl::dispatch_kvmio_then(fd, request, arg as u64, to_c, || {
            real::ioctl(fd, request, arg)
        });
    }
    let served = if stale_kvm_number(fd) {
        None
    } else {
        ioctl::dispatch(fd, request, arg as u64)
    };
    match served {
        None => real::ioctl(fd, request, arg),
        Some(r) => to_c(r),
    }
}

/// Whether `fd` has a table entry whose placeholder it no longer holds (out of line: only
/// requests of other ioctl types ask).
#[inline(never)]
fn stale_kvm_number(fd: c_int) -> bool {
    TABLE.contains(fd) && live_object(fd).is_none()
}

/// `close` for both the interposer and the C API.
///
/// The entry goes only after the real close: until then a racing `dup` can still duplicate
/// the file, and must find its object. It goes only if it still holds the object seen before,
/// so a number reused in between (by another thread's open or dup) keeps its new entry.
pub(crate) fn shim_close(fd: c_int) -> c_int {
    os::protect_anchor(fd, fd, live_placeholders);
    let seen = TABLE.entry(fd);
    let r = real::close(fd);
    if let Some(e) = seen {
        TABLE.remove_if(fd, &e);
    }
    r
}

/// Runs a dup-family call on `old` and registers its result.
///
/// The object is taken *before* the real dup, so a `close(old)` racing on another thread
/// cannot leave the new number unregistered: if the dup succeeds it duplicated the
/// placeholder of that object (checked on the new number, which also catches a stale `old`).
fn dup_with(old: c_int, dup: impl FnOnce() -> c_int) -> c_int {
    let seen = TABLE.entry(old);
    let new = dup();
    if new < 0 {
        return new;
    }
    match seen {
        Some(e) if placeholder_matches(new, e.object()) => {
            // A table overflow leaves the duplicate as a plain fd: the kernel gave us the
            // number, so there is nothing to undo.
            let _ = TABLE.insert(new, e.object().clone());
        }
        Some(e) => {
            // `old` was stale: the kernel duplicated some other file.
            TABLE.remove_if(old, &e);
            TABLE.remove(new);
        }
        // Not a KVM fd: a dup2/dup3 over a KVM number closed that one.
        None => {
            TABLE.remove(new);
        }
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
    ffi_boundary!(-1, dup_with(fd, || real::dup(fd)))
}

/// # Safety
/// As for libc `dup2`.
#[no_mangle]
pub unsafe extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    ffi_boundary!(-1, {
        if old == new {
            real::dup2(old, new)
        } else {
            os::protect_anchor(new, new, live_placeholders);
            dup_with(old, || real::dup2(old, new))
        }
    })
}

/// # Safety
/// As for libc `dup3`.
#[no_mangle]
pub unsafe extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    ffi_boundary!(-1, {
        if old != new {
            os::protect_anchor(new, new, live_placeholders);
        }
        dup_with(old, || real::dup3(old, new, flags))
    })
}

fn fcntl_common(fd: c_int, cmd: c_int, arg: c_ulong, wide: bool) -> c_int {
    match cmd {
        libc::F_DUPFD | libc::F_DUPFD_CLOEXEC => dup_with(fd, || real::fcntl(fd, cmd, arg, wide)),
        // memfd_fcntl: seals exist only on shmem files; a vCPU fd is an anon-inode file.
        libc::F_ADD_SEALS | libc::F_GET_SEALS
            if TABLE.contains(fd) && live_object(fd).is_some() =>
        {
            set_errno(libc::EINVAL);
            -1
        }
        _ => real::fcntl(fd, cmd, arg, wide),
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
        // As for close: take the entries before, remove those still unchanged after.
        let closing = flags & libc::CLOSE_RANGE_CLOEXEC as c_int == 0;
        if closing && first <= last {
            let clamp = |n: c_uint| c_int::try_from(n).unwrap_or(c_int::MAX);
            os::protect_anchor(clamp(first), clamp(last), live_placeholders);
        }
        let entries = if closing {
            TABLE.entries(first, last)
        } else {
            Vec::new()
        };
        let r = real::close_range(first, last, flags);
        if r == 0 {
            for (fd, e) in &entries {
                TABLE.remove_if(*fd, e);
            }
        }
        r
    })
}

/// `ftruncate` on a KVM fd: `do_sys_ftruncate` gives EINVAL for a negative length and then
/// `do_ftruncate` for any file that is not a regular file (KVM fds are anon-inode files).
/// The vCPU memfd is also sealed, so a raw `ftruncate` syscall gets EPERM and the page stays.
fn ftruncate_common(fd: c_int, len: libc::off_t, wide: bool) -> c_int {
    if TABLE.contains(fd) && live_object(fd).is_some() {
        set_errno(libc::EINVAL);
        return -1;
    }
    real::ftruncate(fd, len, wide)
}

/// # Safety
/// As for libc `ftruncate`.
#[no_mangle]
pub unsafe extern "C" fn ftruncate(fd: c_int, len: libc::off_t) -> c_int {
    ffi_boundary!(-1, ftruncate_common(fd, len, false))
}

/// # Safety
/// As for libc `ftruncate64`.
#[no_mangle]
pub unsafe extern "C" fn ftruncate64(fd: c_int, len: libc::off_t) -> c_int {
    ffi_boundary!(-1, ftruncate_common(fd, len, true))
}

// ---------------------------------------------------------------------------------------------
// Signal-mask changes. A thread that blocks SIGSEGV/SIGBUS must not fault on caller memory, so
// `uaccess` caches per thread whether they are blocked; each function below can change the
// calling thread's mask (or leave it running under another saved mask) and makes the thread
// ask again on its next access. They are otherwise libc's, with libc's results and errno.
// ---------------------------------------------------------------------------------------------

/// # Safety
/// As for libc `sigprocmask`.
#[no_mangle]
pub unsafe extern "C" fn sigprocmask(
    how: c_int,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> c_int {
    ffi_boundary!(-1, {
        let r = super::real_signal::sigprocmask(how, set, old);
        crate::uaccess::mask_may_have_changed();
        r
    })
}

/// # Safety
/// As for libc `pthread_sigmask`.
#[no_mangle]
pub unsafe extern "C" fn pthread_sigmask(
    how: c_int,
    set: *const libc::sigset_t,
    old: *mut libc::sigset_t,
) -> c_int {
    ffi_boundary!(libc::EIO, {
        let r = super::real_signal::pthread_sigmask(how, set, old);
        crate::uaccess::mask_may_have_changed();
        r
    })
}

// The jump functions restore the mask saved by `sigsetjmp` (or leave a signal handler's mask in
// place); the thread forgets its cached answer before jumping. They do not return, so they are
// not wrapped in `ffi_boundary!`: nothing in them can panic (a thread-local store and a call).

/// # Safety
/// As for libc `longjmp`.
#[no_mangle]
pub unsafe extern "C" fn longjmp(env: *mut c_void, val: c_int) -> ! {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: forwarded unchanged; the caller vouches for `env`.
    unsafe { super::real_signal::jump(super::real_signal::JumpKind::Longjmp, env, val) }
}

/// # Safety
/// As for libc `_longjmp`.
#[no_mangle]
pub unsafe extern "C" fn _longjmp(env: *mut c_void, val: c_int) -> ! {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: as for `longjmp`.
    unsafe { super::real_signal::jump(super::real_signal::JumpKind::UnderscoreLongjmp, env, val) }
}

/// # Safety
/// As for libc `siglongjmp`.
#[no_mangle]
pub unsafe extern "C" fn siglongjmp(env: *mut c_void, val: c_int) -> ! {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: as for `longjmp`.
    unsafe { super::real_signal::jump(super::real_signal::JumpKind::Siglongjmp, env, val) }
}

/// # Safety
/// As for glibc `__longjmp_chk` (the fortified `longjmp`).
#[no_mangle]
pub unsafe extern "C" fn __longjmp_chk(env: *mut c_void, val: c_int) -> ! {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: as for `longjmp`.
    unsafe { super::real_signal::jump(super::real_signal::JumpKind::LongjmpChk, env, val) }
}

/// # Safety
/// As for libc `setcontext` (which returns only on error).
#[no_mangle]
pub unsafe extern "C" fn setcontext(ucp: *const libc::ucontext_t) -> c_int {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: forwarded unchanged; the caller vouches for `ucp`.
    unsafe { super::real_signal::setcontext(ucp) }
}

/// # Safety
/// As for libc `swapcontext`. It returns when another context switches back to `oucp`, with
/// that context's mask: the thread forgets its answer on both sides of the switch.
#[no_mangle]
pub unsafe extern "C" fn swapcontext(
    oucp: *mut libc::ucontext_t,
    ucp: *const libc::ucontext_t,
) -> c_int {
    crate::uaccess::mask_may_have_changed();
    // SAFETY: forwarded unchanged; the caller vouches for both contexts.
    let r = unsafe { super::real_signal::swapcontext(oucp, ucp) };
    crate::uaccess::mask_may_have_changed();
    r
}
