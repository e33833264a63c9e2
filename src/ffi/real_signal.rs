//! The real libc functions behind the signal-mask interposers of [`super::preload`] (kept
//! apart from [`super::real`], which serves the fd interposers).
//!
//! Each is looked up with `dlsym(RTLD_NEXT, name)`, eagerly from a library constructor. The
//! mask functions fall back to the raw system call while a lookup is in progress (so they
//! never recurse into themselves); the non-returning ones have no system-call equivalent and
//! look themselves up on the spot if the constructor has not run yet.

use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use libc::{c_int, c_void, sigset_t};

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

    fn lookup(&self) -> Option<usize> {
        // SAFETY: dlsym with RTLD_NEXT and a NUL-terminated name has no other preconditions.
        let p = unsafe { libc::dlsym(libc::RTLD_NEXT, self.name.as_ptr()) } as usize;
        if p == 0 {
            return None;
        }
        self.addr.store(p, Ordering::Release);
        Some(p)
    }

    /// The real function, or None while another lookup is in progress (use the syscall).
    fn get(&self) -> Option<usize> {
        let a = self.addr.load(Ordering::Acquire);
        if a != 0 {
            return Some(a);
        }
        if RESOLVING.swap(true, Ordering::AcqRel) {
            return None;
        }
        let r = self.lookup();
        RESOLVING.store(false, Ordering::Release);
        r
    }

    /// The real function, looked up now if need be; aborts if libc lacks it (a function the
    /// program called and the dynamic linker bound to the shim must exist further on).
    fn require(&self) -> usize {
        match self.addr.load(Ordering::Acquire) {
            0 => self.lookup().unwrap_or_else(|| std::process::abort()),
            a => a,
        }
    }
}

static SIGPROCMASK: Sym = Sym::new(c"sigprocmask");
static PTHREAD_SIGMASK: Sym = Sym::new(c"pthread_sigmask");
static LONGJMP: Sym = Sym::new(c"longjmp");
static _LONGJMP: Sym = Sym::new(c"_longjmp");
static SIGLONGJMP: Sym = Sym::new(c"siglongjmp");
static LONGJMP_CHK: Sym = Sym::new(c"__longjmp_chk");
static SETCONTEXT: Sym = Sym::new(c"setcontext");
static SWAPCONTEXT: Sym = Sym::new(c"swapcontext");

extern "C" fn resolve_all() {
    for s in [
        &SIGPROCMASK,
        &PTHREAD_SIGMASK,
        &LONGJMP,
        &_LONGJMP,
        &SIGLONGJMP,
        &LONGJMP_CHK,
        &SETCONTEXT,
        &SWAPCONTEXT,
    ] {
        s.get();
    }
}

/// Resolves every real function when the library is loaded (before `main`).
#[used]
#[link_section = ".init_array"]
static RESOLVE_AT_LOAD: extern "C" fn() = resolve_all;

/// `rt_sigprocmask` with the kernel's sigset size; returns 0 or the errno.
fn raw_sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    // SAFETY: the kernel validates `how` and both pointers (EFAULT, never a fault).
    let r = unsafe { libc::syscall(libc::SYS_rt_sigprocmask, how, set, old, 8usize) };
    if r == 0 {
        0
    } else {
        super::errno()
    }
}

/// The real `sigprocmask`.
pub fn sigprocmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    type F = unsafe extern "C" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
    match SIGPROCMASK.get() {
        // SAFETY: libc's sigprocmask with its documented signature.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(how, set, old) },
        None => match raw_sigprocmask(how, set, old) {
            0 => 0,
            _ => -1,
        },
    }
}

/// The real `pthread_sigmask` (returns the error number, as libc's does).
pub fn pthread_sigmask(how: c_int, set: *const sigset_t, old: *mut sigset_t) -> c_int {
    type F = unsafe extern "C" fn(c_int, *const sigset_t, *mut sigset_t) -> c_int;
    match PTHREAD_SIGMASK.get() {
        // SAFETY: libc's pthread_sigmask with its documented signature.
        Some(f) => unsafe { std::mem::transmute::<usize, F>(f)(how, set, old) },
        None => raw_sigprocmask(how, set, old),
    }
}

/// Which non-returning jump function to forward to.
#[derive(Debug, Clone, Copy)]
pub enum JumpKind {
    Longjmp,
    UnderscoreLongjmp,
    Siglongjmp,
    LongjmpChk,
}

/// The real jump function `kind`.
///
/// # Safety
/// `env` must be a buffer filled by the matching `setjmp`/`sigsetjmp` whose frame is live.
pub unsafe fn jump(kind: JumpKind, env: *mut c_void, val: c_int) -> ! {
    type F = unsafe extern "C" fn(*mut c_void, c_int) -> !;
    let sym = match kind {
        JumpKind::Longjmp => &LONGJMP,
        JumpKind::UnderscoreLongjmp => &_LONGJMP,
        JumpKind::Siglongjmp => &SIGLONGJMP,
        JumpKind::LongjmpChk => &LONGJMP_CHK,
    };
    // SAFETY: libc's function of that name and signature; the caller vouches for `env`.
    unsafe { std::mem::transmute::<usize, F>(sym.require())(env, val) }
}

/// The real `setcontext`.
///
/// # Safety
/// As for libc `setcontext`.
pub unsafe fn setcontext(ucp: *const libc::ucontext_t) -> c_int {
    type F = unsafe extern "C" fn(*const libc::ucontext_t) -> c_int;
    // SAFETY: libc's setcontext; the caller vouches for `ucp`.
    unsafe { std::mem::transmute::<usize, F>(SETCONTEXT.require())(ucp) }
}

/// The real `swapcontext`.
///
/// # Safety
/// As for libc `swapcontext`.
pub unsafe fn swapcontext(oucp: *mut libc::ucontext_t, ucp: *const libc::ucontext_t) -> c_int {
    type F = unsafe extern "C" fn(*mut libc::ucontext_t, *const libc::ucontext_t) -> c_int;
    // SAFETY: libc's swapcontext; the caller vouches for both contexts.
    unsafe { std::mem::transmute::<usize, F>(SWAPCONTEXT.require())(oucp, ucp) }
}
