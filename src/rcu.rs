//! Read-side sections: the shim's userspace SRCU (the memb flavour of liburcu).
//!
//! A reader enters a [`Section`], loads published pointers with plain loads, uses what they
//! point to, and leaves. A writer publishes a replacement, calls [`synchronize`], which
//! returns once every section that began before the publication has ended, and only then
//! frees (or lets the caller reuse) what the old value referred to.
//!
//! Costs: entering and leaving a section are a load and a store of the calling thread's own
//! counter (plus one thread-local lookup to find it); no shared cache line is written and no
//! locked instruction is executed. The ordering a reader would otherwise need between its
//! counter store and its pointer loads is supplied by the writer with
//! `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)`, which runs a full barrier on every CPU that
//! is running a thread of the process. Where the kernel does not offer it, readers fall back
//! to a `SeqCst` fence (still no shared write).
//!
//! Each thread's counter holds the number of its current outermost section and the nesting
//! depth. The writer samples every counter after the barrier and waits, for each thread inside
//! a section, until that section number changes or the depth drops to zero: a section that
//! started later needs no waiting for, and nested entries do not reset the wait.
//!
//! Rules:
//! * A thread must not call [`synchronize`] (or [`Rcu::replace`]) inside its own section: the
//!   call returns [`InsideSection`] instead of waiting forever (the kernel treats this as a
//!   bug). Code that runs foreign callbacks (a guest function in `KVM_RUN`) or sleeps must do
//!   so outside sections; [`in_section`] tells.
//! * Threads register on their first section; their record is released at thread exit and
//!   reused by later threads (records are never freed, so a writer may always read them).
//! * After `fork`, the child has only the forking thread: a `pthread_atfork` child handler
//!   releases every other record. A child made by a raw `fork` system call (no handlers) is
//!   detected by `synchronize` through `getpid` and handled the same way.

// Raw pointers to published values and the membarrier system call.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ops::Deref;
use std::ptr;
use std::sync::atomic::{
    compiler_fence, fence, AtomicBool, AtomicI32, AtomicPtr, AtomicU8, AtomicUsize, Ordering,
};
use std::sync::Once;

/// Bits of a reader counter that hold the nesting depth.
const DEPTH_BITS: u32 = 16;
const DEPTH_MASK: usize = (1 << DEPTH_BITS) - 1;
/// Adding this starts the next section number.
const NEXT_SECTION: usize = 1 << DEPTH_BITS;

/// Retired values pending at which [`retire`] starts a grace period itself.
const RETIRE_BATCH: usize = 64;

/// One thread's reader record, on its own cache lines.
#[repr(align(128))]
struct Reader {
    /// `section number << DEPTH_BITS | depth`; written only by the owning thread.
    state: AtomicUsize,
    /// Owned by a live thread.
    claimed: AtomicBool,
    /// The process the owner registered in (raw-fork detection).
    pid: AtomicI32,
    /// The next record in the registry; set before the record is published, then constant.
    next: *const Reader,
}

// SAFETY: `next` is written only before the record is published (release CAS) and is read-only
// afterwards; the other fields are atomics.
unsafe impl Sync for Reader {}

/// Every reader record ever created (a list that only grows at its head).
static READERS: AtomicPtr<Reader> = AtomicPtr::new(ptr::null_mut());

/// How writers make the readers' entries visible (set once, before the first reader exists).
static MODE: AtomicU8 = AtomicU8::new(MODE_UNSET);
const MODE_UNSET: u8 = 0;
/// `membarrier(PRIVATE_EXPEDITED)`; readers only need a compiler barrier.
const MODE_MEMBARRIER: u8 = 1;
/// No usable membarrier: readers fence.
const MODE_FENCE: u8 = 2;

/// The process whose threads own the claimed records.
static OWNER_PID: AtomicI32 = AtomicI32::new(0);

static INIT: Once = Once::new();

thread_local! {
    /// Releases the record at thread exit (first touched at registration).
    static RELEASE: ReleaseOnExit = const { ReleaseOnExit };
}

/// The calling thread's record, once registered.
///
/// On x86_64 a pointer in static TLS read with the initial-exec model (one `fs`-relative
/// load, as `uaccess`'s fault-signal byte): `thread_local!` in a shared library goes through
/// a `__tls_get_addr` call, about a tenth of a whole ioctl. Elsewhere a `thread_local!`.
#[cfg(target_arch = "x86_64")]
mod current {
    use super::Reader;

    core::arch::global_asm!(
        ".pushsection .tbss,\"awT\",@nobits",
        ".p2align 3",
        ".globl kvm_s390_shim_rcu_reader",
        ".hidden kvm_s390_shim_rcu_reader",
        ".type kvm_s390_shim_rcu_reader,@object",
        ".size kvm_s390_shim_rcu_reader, 8",
        "kvm_s390_shim_rcu_reader:",
        ".zero 8",
        ".popsection",
    );

    #[inline(always)]
    fn slot() -> *mut *const Reader {
        let p: *mut *const Reader;
        // SAFETY: reads the thread pointer (`fs:0` holds the TCB's own address in the x86_64
        // TLS ABI) and adds the variable's offset from the GOT, filled by the dynamic linker
        // (initial-exec model); touches no other state.
        unsafe {
            core::arch::asm!(
                "mov {p}, qword ptr fs:0",
                "add {p}, qword ptr [rip + kvm_s390_shim_rcu_reader@GOTTPOFF]",
                p = out(reg) p,
                options(nostack, readonly, preserves_flags),
            );
        }
        p
    }

    #[inline(always)]
    pub(super) fn get() -> Option<&'static Reader> {
        // SAFETY: the slot is this thread's own, 8-byte aligned and live while the thread
        // runs; it holds null or a leaked (never freed) record.
        unsafe { slot().read().as_ref() }
    }

    pub(super) fn set(r: Option<&'static Reader>) {
        // SAFETY: as for `get`.
        unsafe { slot().write(r.map_or(std::ptr::null(), |r| r as *const Reader)) }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod current {
    use super::Reader;
    use std::cell::Cell;

    thread_local! {
        static READER: Cell<Option<&'static Reader>> = const { Cell::new(None) };
    }

    #[inline(always)]
    pub(super) fn get() -> Option<&'static Reader> {
        READER.try_with(Cell::get).ok().flatten()
    }

    pub(super) fn set(r: Option<&'static Reader>) {
        let _ = READER.try_with(|c| c.set(r));
    }
}

struct ReleaseOnExit;

impl Drop for ReleaseOnExit {
    fn drop(&mut self) {
        if let Some(r) = current::get() {
            current::set(None);
            // The thread can no longer be inside a section; keep the section number so a
            // writer's sample of this record never matches a later owner's section.
            r.state.store(
                r.state.load(Ordering::Relaxed) & !DEPTH_MASK,
                Ordering::Release,
            );
            r.claimed.store(false, Ordering::Release);
        }
    }
}

fn readers() -> impl Iterator<Item = &'static Reader> {
    let mut p = READERS.load(Ordering::Acquire) as *const Reader;
    std::iter::from_fn(move || {
        // SAFETY: records are leaked boxes, never freed; `next` is constant once published.
        let r = unsafe { p.as_ref() }?;
        p = r.next;
        Some(r)
    })
}

fn getpid() -> i32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() }
}

fn membarrier(cmd: libc::c_int) -> bool {
    // SAFETY: membarrier takes no pointers.
    unsafe { libc::syscall(libc::SYS_membarrier, cmd, 0, 0) == 0 }
}

/// Chooses the barrier mode and installs the fork handler (once per process).
fn init() {
    INIT.call_once(|| {
        let mode = if membarrier(libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as libc::c_int) {
            MODE_MEMBARRIER
        } else {
            log::warn!("membarrier(PRIVATE_EXPEDITED) unavailable: read-side sections fence");
            MODE_FENCE
        };
        MODE.store(mode, Ordering::SeqCst);
        OWNER_PID.store(getpid(), Ordering::SeqCst);
        // SAFETY: the handler only touches atomics and this thread's thread-local record.
        unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    });
}

extern "C" fn after_fork_in_child() {
    release_foreign_records(None);
}

/// After a fork: only the calling thread (and threads registered since in this process,
/// when `pid` is given) own records; release the rest.
fn release_foreign_records(pid: Option<i32>) {
    let mine = current::get().map_or(ptr::null(), |r| r as *const Reader);
    let now = getpid();
    for r in readers() {
        if ptr::eq(r, mine) || pid.is_some_and(|p| r.pid.load(Ordering::Relaxed) == p) {
            continue;
        }
        r.state.store(
            r.state.load(Ordering::Relaxed) & !DEPTH_MASK,
            Ordering::Release,
        );
        r.claimed.store(false, Ordering::Release);
    }
    if let Some(r) = current::get() {
        r.pid.store(now, Ordering::Relaxed);
    }
    OWNER_PID.store(now, Ordering::SeqCst);
}

#[cold]
#[inline(never)]
fn register() -> &'static Reader {
    init();
    let pid = getpid();
    let reused = readers().find(|r| {
        !r.claimed.load(Ordering::Relaxed)
            && r.claimed
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    });
    let r: &'static Reader = match reused {
        Some(r) => r,
        None => {
            let r: &'static mut Reader = Box::leak(Box::new(Reader {
                state: AtomicUsize::new(0),
                claimed: AtomicBool::new(true),
                pid: AtomicI32::new(pid),
                next: ptr::null(),
            }));
            let mut head = READERS.load(Ordering::Relaxed);
            loop {
                r.next = head;
                match READERS.compare_exchange_weak(
                    head,
                    r as *mut Reader,
                    Ordering::Release,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => break,
                    Err(h) => head = h,
                }
            }
            r
        }
    };
    r.pid.store(pid, Ordering::Relaxed);
    current::set(Some(r));
    // Arms the exit hook. During thread teardown this fails and the record stays claimed
    // (depth 0, so writers never wait for it).
    let _ = RELEASE.try_with(|_| ());
    r
}

/// The reader side's barrier between its counter store and its loads.
#[inline(always)]
fn light_barrier() {
    if MODE.load(Ordering::Relaxed) == MODE_FENCE {
        fence(Ordering::SeqCst);
    } else {
        compiler_fence(Ordering::SeqCst);
    }
}

/// A full memory barrier on every running thread of the process (the writer side's barrier,
/// also for other test-before-update schemes such as the dirty bitmap's): every store a
/// thread made before the barrier is visible to the caller when this returns.
pub fn barrier_all_threads() {
    init();
    heavy_barrier();
}

/// The writer side's barrier: a full barrier on every thread of the process.
fn heavy_barrier() {
    if MODE.load(Ordering::Relaxed) == MODE_MEMBARRIER {
        let expedited = libc::MEMBARRIER_CMD_PRIVATE_EXPEDITED as libc::c_int;
        if membarrier(expedited) {
            return;
        }
        // A forked child may need to register again.
        if membarrier(libc::MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED as libc::c_int)
            && membarrier(expedited)
        {
            return;
        }
        if membarrier(libc::MEMBARRIER_CMD_GLOBAL as libc::c_int) {
            return;
        }
        log::error!("membarrier failed: a reader's entry may be seen late");
    }
    fence(Ordering::SeqCst);
}

/// A read-side section of the calling thread; nestable, ended by drop. Not `Send`: a section
/// belongs to the thread that entered it.
#[must_use = "a section ends when dropped"]
pub struct Section {
    reader: &'static Reader,
    _not_send: PhantomData<*const ()>,
}

/// Enters a read-side section.
#[inline]
pub fn enter() -> Section {
    let reader = match current::get() {
        Some(r) => r,
        None => register(),
    };
    let s = reader.state.load(Ordering::Relaxed);
    let next = if s & DEPTH_MASK == 0 {
        s.wrapping_add(NEXT_SECTION + 1)
    } else {
        // Nesting is bounded by the code's structure (a handful); overflowing the depth
        // would corrupt the section number.
        assert!(
            s & DEPTH_MASK != DEPTH_MASK,
            "read-side sections nested too deeply"
        );
        s + 1
    };
    reader.state.store(next, Ordering::Relaxed);
    light_barrier();
    Section {
        reader,
        _not_send: PhantomData,
    }
}

impl Drop for Section {
    #[inline]
    fn drop(&mut self) {
        let s = self.reader.state.load(Ordering::Relaxed);
        // Release: every access made inside the section happens before a writer that sees
        // this store frees anything.
        self.reader.state.store(s - 1, Ordering::Release);
    }
}

/// Whether the calling thread is inside a read-side section.
pub fn in_section() -> bool {
    current::get().is_some_and(|r| r.state.load(Ordering::Relaxed) & DEPTH_MASK != 0)
}

/// [`synchronize`] was called inside a read-side section of the calling thread, where
/// waiting would never end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InsideSection;

/// Waits until every read-side section that began before the call has ended; then frees the
/// values [`retire`]d before the call.
pub fn synchronize() -> Result<(), InsideSection> {
    if in_section() {
        return Err(InsideSection);
    }
    init();
    let now = getpid();
    if OWNER_PID.load(Ordering::SeqCst) != now {
        // A child of a fork that ran no atfork handlers.
        release_foreign_records(Some(now));
    }
    let retired = RETIRED.swap(ptr::null_mut(), Ordering::AcqRel);
    RETIRED_COUNT.store(0, Ordering::Relaxed);
    heavy_barrier();
    for r in readers() {
        let s = r.state.load(Ordering::Acquire);
        if s & DEPTH_MASK == 0 {
            continue;
        }
        let mut spins = 0u32;
        loop {
            let cur = r.state.load(Ordering::Acquire);
            if cur & DEPTH_MASK == 0 || cur >> DEPTH_BITS != s >> DEPTH_BITS {
                break;
            }
            spins += 1;
            if spins < 64 {
                std::hint::spin_loop();
            } else if spins < 128 {
                std::thread::yield_now();
            } else {
                let us = 1u64 << (spins - 128).min(10);
                std::thread::sleep(std::time::Duration::from_micros(us));
            }
        }
    }
    fence(Ordering::SeqCst);
    free_retired(retired);
    Ok(())
}

/// A value waiting for a grace period before it is dropped.
struct Retired {
    next: *mut Retired,
    _value: Box<dyn Send>,
}

static RETIRED: AtomicPtr<Retired> = AtomicPtr::new(ptr::null_mut());
static RETIRED_COUNT: AtomicUsize = AtomicUsize::new(0);

fn free_retired(mut p: *mut Retired) {
    while !p.is_null() {
        // SAFETY: `p` came from `Box::into_raw` in `retire` and was taken off the shared list
        // by the swap in `synchronize`, so this thread owns it.
        let node = unsafe { Box::from_raw(p) };
        p = node.next;
    }
}

/// Drops `value` after a grace period: after the next [`synchronize`] (by any thread) ends.
/// Without blocking the caller, unless [`RETIRE_BATCH`] values are pending and the caller is
/// outside any section, in which case it runs that grace period itself.
pub fn retire<T: Send + 'static>(value: T) {
    let node = Box::into_raw(Box::new(Retired {
        next: ptr::null_mut(),
        _value: Box::new(value),
    }));
    let mut head = RETIRED.load(Ordering::Relaxed);
    loop {
        // SAFETY: `node` is ours until the CAS below publishes it.
        unsafe { (*node).next = head };
        match RETIRED.compare_exchange_weak(head, node, Ordering::Release, Ordering::Relaxed) {
            Ok(_) => break,
            Err(h) => head = h,
        }
    }
    if RETIRED_COUNT.fetch_add(1, Ordering::Relaxed) + 1 >= RETIRE_BATCH && !in_section() {
        let _ = synchronize();
    }
}

/// A published value: readers load it inside a section with plain loads; a writer replaces
/// it and gets the old value back once no reader can still see it.
pub struct Rcu<T> {
    ptr: AtomicPtr<T>,
    _owns: PhantomData<T>,
}

// SAFETY: readers on any thread get `&T` (T: Sync); the value is dropped or handed back on the
// writer's thread (T: Send).
unsafe impl<T: Send + Sync> Sync for Rcu<T> {}

impl<T> Rcu<T> {
    /// Publishes `value`.
    pub fn new(value: T) -> Self {
        Rcu {
            ptr: AtomicPtr::new(Box::into_raw(Box::new(value))),
            _owns: PhantomData,
        }
    }

    /// The current value, valid for as long as `section` (and `self`) lives.
    #[inline]
    pub fn load<'a>(&'a self, _section: &'a Section) -> &'a T {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: `p` is a live box: a replaced value is dropped only after `synchronize`,
        // which waits for `_section`, inside which this load happened; the value cannot
        // outlive `self` either.
        unsafe { &*p }
    }

    /// Enters a section and loads the current value; both end when the result is dropped.
    #[inline]
    pub fn read(&self) -> RcuRef<'_, T> {
        let section = enter();
        let ptr = self.ptr.load(Ordering::Acquire);
        RcuRef {
            _section: section,
            ptr,
            _life: PhantomData,
        }
    }

    /// Publishes `value`, waits until no section can still see the old value, and returns
    /// it. Refused (nothing published) inside a section of the calling thread.
    pub fn replace(&self, value: T) -> Result<T, InsideSection>
    where
        T: Send + 'static,
    {
        if in_section() {
            return Err(InsideSection);
        }
        self.publish(value).wait().map_err(|_| InsideSection)
    }

    /// Publishes `value`; the old value comes back from [`Stale::wait`] once no section can
    /// still see it. Splitting the two lets a writer release its own locks before waiting.
    pub fn publish(&self, value: T) -> Stale<T>
    where
        T: Send + 'static,
    {
        Stale {
            ptr: self
                .ptr
                .swap(Box::into_raw(Box::new(value)), Ordering::AcqRel),
        }
    }
}

/// A published value that may be absent (an fd-table slot): as [`Rcu`], with `None` as the
/// null pointer. `const`-constructible empty, so tables of them need no initialisation code.
pub struct RcuOption<T> {
    ptr: AtomicPtr<T>,
    _owns: PhantomData<T>,
}

// SAFETY: as for `Rcu`.
unsafe impl<T: Send + Sync> Sync for RcuOption<T> {}

impl<T> RcuOption<T> {
    /// An empty slot.
    pub const fn empty() -> Self {
        RcuOption {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// The current value, if any, valid for as long as `section` (and `self`) lives.
    #[inline]
    pub fn load<'a>(&'a self, _section: &'a Section) -> Option<&'a T> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: as in `Rcu::load`; null is `None`.
        unsafe { p.as_ref() }
    }

    /// Whether a value is published (a snapshot; no section needed since nothing is read
    /// through the pointer).
    pub fn is_some(&self) -> bool {
        !self.ptr.load(Ordering::Acquire).is_null()
    }

    /// Publishes `value` (or empties the slot); the old value, if any, comes back through
    /// [`Stale::wait`] once no section can still see it.
    pub fn publish(&self, value: Option<T>) -> Option<Stale<T>>
    where
        T: Send + 'static,
    {
        let new = value.map_or(ptr::null_mut(), |v| Box::into_raw(Box::new(v)));
        let old = self.ptr.swap(new, Ordering::AcqRel);
        if old.is_null() {
            None
        } else {
            Some(Stale { ptr: old })
        }
    }

    /// Empties the slot if its current value satisfies `pred` (checked and swapped in one
    /// compare-and-swap on the published pointer, so a value published meanwhile stays); the
    /// old value comes back through [`Stale::wait`] once no section can still see it.
    pub fn take_if(&self, pred: impl Fn(&T) -> bool) -> Option<Stale<T>>
    where
        T: Send + 'static,
    {
        let section = enter();
        loop {
            let p = self.ptr.load(Ordering::Acquire);
            // SAFETY: loaded inside `section`: a published value stays alive until every
            // section that could load it has ended (see `Rcu::load`).
            let cur = unsafe { p.as_ref() }?;
            if !pred(cur) {
                return None;
            }
            if self
                .ptr
                .compare_exchange(p, ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
            {
                drop(section);
                return Some(Stale { ptr: p });
            }
        }
    }

    /// Publishes `value` only if the slot is empty (one atomic step); gives it back if not.
    pub fn try_install(&self, value: T) -> Result<(), T> {
        let new = Box::into_raw(Box::new(value));
        match self
            .ptr
            .compare_exchange(ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Ok(()),
            // SAFETY: `new` was never published; this thread still owns the box.
            Err(_) => Err(*unsafe { Box::from_raw(new) }),
        }
    }
}

impl<T> Default for RcuOption<T> {
    fn default() -> Self {
        Self::empty()
    }
}

impl<T> Drop for RcuOption<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: as in `Rcu::drop`.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

/// A value replaced in an [`Rcu`] or [`RcuOption`] that readers may still see. Dropped without
/// [`Stale::wait`], it is [`retire`]d.
#[must_use = "wait for the readers, or the value is retired"]
pub struct Stale<T: Send + 'static> {
    ptr: *mut T,
}

// SAFETY: a `Stale` owns its value exclusively (no `&T` to it is handed out by `Stale`).
unsafe impl<T: Send + 'static> Send for Stale<T> {}

impl<T: Send + 'static> Stale<T> {
    /// Waits until no section can still see the value, and returns it; inside a section of
    /// the calling thread, gives the value back unchanged instead of waiting forever.
    pub fn wait(self) -> Result<T, Self> {
        if synchronize().is_err() {
            return Err(self);
        }
        let ptr = self.ptr;
        std::mem::forget(self);
        // SAFETY: `ptr` was swapped out of the `Rcu` (so no later load returns it) and was a
        // leaked box; `synchronize` waited for every section that loaded it earlier.
        Ok(*unsafe { Box::from_raw(ptr) })
    }
}

impl<T: Send + 'static> Drop for Stale<T> {
    fn drop(&mut self) {
        // SAFETY: as in `wait`, minus the grace period, which `retire` waits for instead.
        retire(unsafe { Box::from_raw(self.ptr) });
    }
}

impl<T> Drop for Rcu<T> {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader holds a reference derived from `self` (each borrows
        // `self`), and the pointer is a leaked box owned by `self`.
        drop(unsafe { Box::from_raw(*self.ptr.get_mut()) });
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Rcu<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Rcu").field(&*self.read()).finish()
    }
}

/// A value loaded from an [`Rcu`] together with the section that keeps it alive.
pub struct RcuRef<'a, T> {
    _section: Section,
    ptr: *const T,
    _life: PhantomData<&'a T>,
}

impl<T> Deref for RcuRef<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: loaded inside `_section`, which lives as long as `self`; see `Rcu::load`.
        unsafe { &*self.ptr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn nesting_and_in_section() {
        assert!(!in_section());
        let a = enter();
        let b = enter();
        assert!(in_section());
        drop(b);
        assert!(in_section());
        assert_eq!(synchronize(), Err(InsideSection));
        drop(a);
        assert!(!in_section());
        assert_eq!(synchronize(), Ok(()));
    }

    #[test]
    fn replace_inside_section_is_refused_and_publishes_nothing() {
        let c = Rcu::new(1);
        let s = enter();
        assert_eq!(c.replace(2), Err(InsideSection));
        assert_eq!(*c.load(&s), 1);
        drop(s);
        assert_eq!(c.replace(3), Ok(1));
        assert_eq!(*c.read(), 3);
    }

    /// A value a reader holds is never freed under it: the writer's `replace` returns (and
    /// the old value is poisoned) only after the reader's section ended.
    #[test]
    fn writer_waits_for_readers_that_started_before() {
        struct Val {
            alive: AtomicBool,
        }
        let cell = Arc::new(Rcu::new(Val {
            alive: AtomicBool::new(true),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (cell, stop, started) = (cell.clone(), stop.clone(), started.clone());
                std::thread::spawn(move || {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let v = cell.read();
                        if n == 0 {
                            started.fetch_add(1, Ordering::Relaxed);
                        }
                        for _ in 0..50 {
                            assert!(
                                v.alive.load(Ordering::Relaxed),
                                "value retired under reader"
                            );
                        }
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        // Replace until both readers have read (a loaded machine may start them late), and at
        // least 500 times.
        let t0 = std::time::Instant::now();
        let mut i = 0;
        while i < 500 || (started.load(Ordering::Relaxed) < 2 && t0.elapsed().as_secs() < 30) {
            i += 1;
            let old = cell
                .replace(Val {
                    alive: AtomicBool::new(true),
                })
                .unwrap();
            old.alive.store(false, Ordering::Relaxed);
            // Keep the poisoned value's memory alive a little so a late reader would see it.
            retire(old);
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            assert!(r.join().unwrap() > 0);
        }
    }

    #[test]
    fn optional_slots_install_publish_and_take() {
        let slot: RcuOption<String> = RcuOption::empty();
        assert!(!slot.is_some());
        assert!(slot.load(&enter()).is_none());
        assert_eq!(slot.try_install("a".into()), Ok(()));
        assert_eq!(slot.try_install("b".into()), Err("b".to_string()));
        {
            let s = enter();
            assert_eq!(slot.load(&s).map(String::as_str), Some("a"));
        }
        let old = slot.publish(Some("c".into())).unwrap();
        assert_eq!(old.wait().ok().as_deref(), Some("a"));
        let old = slot.publish(None).unwrap();
        assert!(!slot.is_some());
        assert_eq!(old.wait().ok().as_deref(), Some("c"));
        assert!(slot.publish(None).is_none());
    }

    #[test]
    fn exited_threads_do_not_block_and_records_are_reused() {
        for _ in 0..50 {
            std::thread::spawn(|| {
                let _s = enter();
            })
            .join()
            .unwrap();
        }
        let count = readers().count();
        for _ in 0..50 {
            std::thread::spawn(|| drop(enter())).join().unwrap();
        }
        // Other tests run threads meanwhile, but not fifty of them.
        assert!(readers().count() < count + 25);
        assert_eq!(synchronize(), Ok(()));
    }

    #[test]
    fn retired_values_are_dropped_after_a_grace_period() {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        retire(Flag(dropped.clone()));
        // Another test's `synchronize` may have taken the value; it drops it when it ends.
        for _ in 0..1000 {
            synchronize().unwrap();
            if dropped.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        panic!("retired value never dropped");
    }
}
