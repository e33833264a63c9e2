//! The real libc functions behind the interposed symbols.
//!
//! Each is looked up once with `dlsym(RTLD_NEXT, name)` (eagerly from a library constructor,
//! lazily otherwise). While a lookup is in progress, or if it fails, the wrapper issues the
//! raw system call instead, so an interposer never recurses into itself, even when called
//! from inside `dlsym` or before `main`.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libc::{c_char, c_int, c_uint, c_ulong, c_void, mode_t};

static RESOLVING: AtomicBool = AtomicBool::new(false);

struct Sym {
    name: &'static CStr,
    addr: AtomicUsize,
}

impl Sym {
    const fn new(name: &'static CStr) -> Self {
        Sym {
            name,
            addr: AtomicUsize::new(0),
        }
    }

    /// The real function's address, or None (use the raw syscall).
    fn get(&self) -> Option<usize> {
        let a = self.addr.load(Ordering::Acquire);
        if a != 0 {
            return Some(a);
        }
        if RESOLVING.swap(true, Ordering::AcqRel) {
            return None;
        }
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other preconditions.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        RESOLVING.store(false, Ordering::Release);
        if p == 0 {
            return None;
        }
        self.addr.store(p, Ordering::Release);
        Some(p)
    }
}

static OPEN: Sym = Sym::new(c"open");
static OPEN64: Sym = Sym::new(c"open64");
static OPENAT: Sym = Sym::new(c"openat");
static OPENAT64: Sym = Sym::new(c"openat64");
static OPEN_2: Sym = Sym::new(c"__open_2");
static OPEN64_2: Sym = Sym::new(c"__open64_2");
static OPENAT_2: Sym = Sym::new(c"__openat_2");
static OPENAT64_2: Sym = Sym::new(c"__openat64_2");
static IOCTL: Sym = Sym::new(c"ioctl");
static CLOSE: Sym = Sym::new(c"close");
static DUP: Sym = Sym::new(c"dup");
static DUP2: Sym = Sym::new(c"dup2");
static DUP3: Sym = Sym::new(c"dup3");
static FCNTL: Sym = Sym::new(c"fcntl");
static FCNTL64: Sym = Sym::new(c"fcntl64");
static CLOSE_RANGE: Sym = Sym::new(c"close_range");
static FTRUNCATE: Sym = Sym::new(c"ftruncate");
static FTRUNCATE64: Sym = Sym::new(c"ftruncate64");

static ALL: [&Sym; 18] = [
    &OPEN,
    &OPEN64,
    &OPENAT,
    &OPENAT64,
    &OPEN_2,
    &OPEN64_2,
    &OPENAT_2,
    &OPENAT64_2,
    &IOCTL,
    &CLOSE,
    &DUP,
    &DUP2,
    &DUP3,
    &FCNTL,
    &FCNTL64,
    &CLOSE_RANGE,
    &FTRUNCATE,
    &FTRUNCATE64,
];

extern "C" fn resolve_all() {
    for s in ALL {
        s.get();
    }
}

/// Resolves every real function when the library is loaded (before `main`).
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_LOAD: extern "C" fn() = resolve_all;

fn ret(r: libc::c_long) -> c_int {
    r as c_int
}

/// Which open-family entry point to forward to.
#[derive(Debug, Clone, Copy)]
pub enum OpenKind {
    Open,
    Open64,
    OpenAt,
    OpenAt64,
    Open2,
    Open64_2,
    OpenAt2,
    OpenAt64_2,
}

/// Calls the real open-family function `kind` (dirfd is ignored by the non-at forms).
pub fn open(
    kind: OpenKind,
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mode: mode_t,
) -> c_int {
    type Open = unsafe extern "C" fn(*const c_char, c_int, ...) -> c_int;
    type OpenAt = unsafe extern "C" fn(c_int, *const c_char, c_int, ...) -> c_int;
    type Open2 = unsafe extern "C" fn(*const c_char, c_int) -> c_int;
    type OpenAt2 = unsafe extern "C" fn(c_int, *const c_char, c_int) -> c_int;
    let sym = match kind {
        OpenKind::Open => &OPEN,
        OpenKind::Open64 => &OPEN64,
        OpenKind::OpenAt => &OPENAT,
        OpenKind::OpenAt64 => &OPENAT64,
        OpenKind::Open2 => &OPEN_2,
        OpenKind::Open64_2 => &OPEN64_2,
        OpenKind::OpenAt2 => &OPENAT_2,
        OpenKind::OpenAt64_2 => &OPENAT64_2,
    };
    let Some(f) = sym.get() else {
        let dirfd = match kind {
            OpenKind::OpenAt | OpenKind::OpenAt64 | OpenKind::OpenAt2 | OpenKind::OpenAt64_2 => {
                dirfd
            }
            _ => libc::AT_FDCWD,
        };
        // SAFETY: the kernel validates every argument of openat.
        return ret(unsafe { libc::syscall(libc::SYS_openat, dirfd, path, flags, mode) });
    };
    // SAFETY: `f` is the libc function of that name, called with its documented signature;
    // mode is passed as the variadic argument only where libc reads it.
    unsafe {
        match kind {
            OpenKind::Open | OpenKind::Open64 => {
                std::mem::transmute::<usize, Open>(f)(path, flags, mode as c_uint)
            }
            OpenKind::OpenAt | OpenKind::OpenAt64 => {
                std::mem::transmute::<usize, OpenAt>(f)(dirfd, path, flags, mode as c_uint)
            }
            OpenKind::Open2 | OpenKind::Open64_2 => {
                std::mem::transmute::<usize, Open2>(f)(path, flags)
            }
            OpenKind::OpenAt2 | OpenKind::OpenAt64_2 => {
                std::mem::transmute::<usize, OpenAt2>(f)(dirfd, path, flags)
            }
        }
    }
}

/// The real `ioctl`.
pub fn ioctl(fd: c_int, request: c_ulong, arg: *mut c_void) -> c_int {
    type F = unsafe extern "C" fn(c_int, c_ulong, ...) -> c_int;
    match IOCTL.get() {
        // SAFETY: libc's ioctl with its documented signature.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(fd, request, arg) },
        // SAFETY: the kernel validates the arguments.
        None => ret(unsafe { libc::syscall(libc::SYS_ioctl, fd, request, arg) }),
    }
}

/// The real `close`.
pub fn close(fd: c_int) -> c_int {
    type F = unsafe extern "C" fn(c_int) -> c_int;
    match CLOSE.get() {
        // SAFETY: libc's close.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(fd) },
        // SAFETY: the kernel validates the fd.
        None => ret(unsafe { libc::syscall(libc::SYS_close, fd) }),
    }
}

/// The real `dup`.
pub fn dup(fd: c_int) -> c_int {
    type F = unsafe extern "C" fn(c_int) -> c_int;
    match DUP.get() {
        // SAFETY: libc's dup.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(fd) },
        // SAFETY: the kernel validates the fd.
        None => ret(unsafe { libc::syscall(libc::SYS_dup, fd) }),
    }
}

/// The real `dup2`.
pub fn dup2(old: c_int, new: c_int) -> c_int {
    type F = unsafe extern "C" fn(c_int, c_int) -> c_int;
    match DUP2.get() {
        // SAFETY: libc's dup2.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(old, new) },
        None if old == new => {
            // dup2 with equal fds only validates the fd.
            // SAFETY: F_GETFD has no memory arguments.
            let r = ret(unsafe { libc::syscall(libc::SYS_fcntl, old, libc::F_GETFD) });
            if r < 0 {
                r
            } else {
                new
            }
        }
        // SAFETY: the kernel validates the fds.
        None => ret(unsafe { libc::syscall(libc::SYS_dup3, old, new, 0) }),
    }
}

/// The real `dup3`.
pub fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    type F = unsafe extern "C" fn(c_int, c_int, c_int) -> c_int;
    match DUP3.get() {
        // SAFETY: libc's dup3.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(old, new, flags) },
        // SAFETY: the kernel validates the arguments.
        None => ret(unsafe { libc::syscall(libc::SYS_dup3, old, new, flags) }),
    }
}

/// The real `fcntl` (`wide` selects `fcntl64`).
pub fn fcntl(fd: c_int, cmd: c_int, arg: c_ulong, wide: bool) -> c_int {
    type F = unsafe extern "C" fn(c_int, c_int, ...) -> c_int;
    match (if wide { &FCNTL64 } else { &FCNTL }).get() {
        // SAFETY: libc's fcntl, with the single argument every command takes passed through.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(fd, cmd, arg) },
        // SAFETY: the kernel validates the arguments.
        None => ret(unsafe { libc::syscall(libc::SYS_fcntl, fd, cmd, arg) }),
    }
}

/// The real `close_range`.
pub fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    type F = unsafe extern "C" fn(c_uint, c_uint, c_int) -> c_int;
    match CLOSE_RANGE.get() {
        // SAFETY: libc's close_range.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(first, last, flags) },
        // SAFETY: the kernel validates the arguments.
        None => ret(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }),
    }
}

/// The real `ftruncate` (`wide` selects `ftruncate64`; on the 64-bit targets the shim builds
/// for, `off_t` and `off64_t` are the same type).
pub fn ftruncate(fd: c_int, len: libc::off_t, wide: bool) -> c_int {
    type F = unsafe extern "C" fn(c_int, libc::off_t) -> c_int;
    match (if wide { &FTRUNCATE64 } else { &FTRUNCATE }).get() {
        // SAFETY: libc's ftruncate or ftruncate64, with its documented signature.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(fd, len) },
        // SAFETY: the kernel validates the arguments.
        None => ret(unsafe { libc::syscall(libc::SYS_ftruncate, fd, len) }),
    }
}
