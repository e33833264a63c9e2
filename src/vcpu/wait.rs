//! How a vCPU with nothing to run waits: the kick pipe, the `KVM_SET_SIGNAL_MASK` mask,
//! and the sleep itself.
//!
//! A vCPU in an enabled wait (its guest code loaded a wait PSW, or its guest function called
//! the wait operation) delivers what is deliverable and then sleeps in `ppoll` on the read
//! end of the vCPU's kick pipe. `KVM_RUN` holds every asynchronous signal off from its entry
//! ([`sig::Held`]), and the sleep applies the run mask (`KVM_SET_SIGNAL_MASK`'s, else the
//! thread's own) atomically, as the kernel's `kvm_sigset_activate` applies it for the run, so
//! a signal that arrives after the `immediate_exit` check is never handled and then slept
//! through:
//! * a signal unblocked by that mask interrupts `ppoll` (its handler runs inside the call) and
//!   `KVM_RUN` returns -1/EINTR with `KVM_EXIT_INTR`;
//! * [`Waiter::kick`] (an interrupt injected for this vCPU) makes the pipe readable:
//!   `KVM_RUN` drains it, delivers, and sleeps again.
//!
//! The pipe is drained before each delivery, so a kick that lands between the delivery and
//! the next `ppoll` leaves it readable and is never lost. Nothing polls: without a kick or a
//! signal the thread stays asleep in the kernel.
//!
//! A pipe rather than an eventfd: its ends have their own inode, so the shim can tell whether
//! a number is still its own after the application closed fds behind its back (an eventfd
//! shares the anonymous inode with every anon-inode file). The ends are raw numbers, closed
//! with the raw system call only while they still name the shim's pipe.
// The raw ppoll, rt_sigprocmask and rt_sigpending (kernel-sized sigset: the libc wrappers
// take glibc's), pipe2/read/write/fstat/close on numbers the shim owns only while their
// identity matches: system calls nix wraps with ownership the shim lacks.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// `sizeof(sigset_t)` of the kernel (`_NSIG / 8` on every 64-bit architecture): the only
/// `len` `KVM_SET_SIGNAL_MASK` accepts, and the size `ppoll` takes.
pub(crate) const KERNEL_SIGSET_SIZE: u32 = 8;

/// Bit of a signal in a kernel `sigset_t` word (`sigmask(sig)`).
const fn sigbit(sig: i32) -> u64 {
    1 << (sig - 1)
}

/// No `KVM_SET_SIGNAL_MASK` mask is set (`vcpu->sigset_active == 0`): the bits of a real mask
/// never include SIGKILL and SIGSTOP, so this value cannot be one.
const NO_MASK: u64 = u64::MAX;

/// The (device, inode) of the file behind `fd`, or `None` if `fd` is not open. Eventfds share
/// one anonymous inode, so this tells an eventfd from whatever file a reused fd number names
/// now (after a close behind the shim's back), not one eventfd from another.
pub(crate) fn file_identity(fd: RawFd) -> Option<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
    // SAFETY: fstat writes one struct stat into our local.
    if unsafe { libc::fstat(fd, st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: fstat succeeded and filled it (it was zeroed before in any case).
    let st = unsafe { st.assume_init() };
    // The field types vary by target (u64 on x86_64 and s390x).
    #[allow(clippy::unnecessary_cast)]
    Some((st.st_dev as u64, st.st_ino as u64))
}

/// Why a sleep ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// The vCPU was kicked (or the deadline passed): deliver and decide again.
    Kicked,
    /// A signal unblocked during the run arrived; its handler has run.
    Signal,
}

/// One end of the kick pipe: its number and the identity of the file it held.
#[derive(Debug)]
struct End {
    fd: RawFd,
    id: Option<(u64, u64)>,
}

impl End {
    /// Whether the number still names the shim's pipe end.
    fn is_ours(&self) -> bool {
        self.id.is_some() && file_identity(self.fd) == self.id
    }
}

impl Drop for End {
    fn drop(&mut self) {
        if self.is_ours() {
            // SAFETY: closes a number that still names the shim's own pipe end; the raw
            // system call, not the close interposer. No memory is involved.
            unsafe { libc::syscall(libc::SYS_close, self.fd) };
        }
    }
}

/// A vCPU's wait state: its kick pipe and its run signal mask.
#[derive(Debug)]
pub struct Waiter {
    /// The end `ppoll` watches.
    rx: End,
    /// The end a kick writes.
    tx: End,
    /// The `KVM_SET_SIGNAL_MASK` mask as a kernel sigset word, or [`NO_MASK`].
    sigmask: AtomicU64,
    /// A kick arrived since the last [`Waiter::reset`].
    kicked: AtomicBool,
    /// A sleep is (about to be) in `ppoll`: only then does a kick write the pipe, so
    /// `KVM_RUN`s and injections that find nobody sleeping make no system call.
    armed: AtomicBool,
}

impl Waiter {
    /// A waiter with a fresh close-on-exec, non-blocking pipe and no run signal mask.
    pub fn new() -> Result<Waiter> {
        let mut fds = [0 as libc::c_int; 2];
        // SAFETY: pipe2 writes two fds into our local array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => Error::TooManyFds,
                Some(e) => Error::Os(e),
                None => Error::OutOfMemory,
            });
        }
        Ok(Waiter {
            rx: End {
                fd: fds[0],
                id: file_identity(fds[0]),
            },
            tx: End {
                fd: fds[1],
                id: file_identity(fds[1]),
            },
            sigmask: AtomicU64::new(NO_MASK),
            kicked: AtomicBool::new(false),
            armed: AtomicBool::new(false),
        })
    }

    /// Wakes a sleeping `KVM_RUN` (or makes the next sleep return at once). Async-signal-safe
    /// and callable from any thread, with or without any lock held.
    pub fn kick(&self) {
        // Dekker-style with `sleep`: either the sleeper sees `kicked` before it polls, or
        // this sees `armed` and writes the pipe its poll watches.
        self.kicked.store(true, Ordering::SeqCst);
        if !self.armed.load(Ordering::SeqCst) || !self.tx.is_ours() {
            return;
        }
        let one = 1u8;
        // SAFETY: writes one byte from a live local to our own non-blocking pipe. A full pipe
        // (EAGAIN) is readable already, which is all a kick needs.
        let _ = unsafe { libc::write(self.tx.fd, (&one as *const u8).cast(), 1) };
    }

    /// `kvm_vcpu_ioctl_set_sigmask`: `Some(mask)` (a kernel sigset word) is applied during
    /// every later `KVM_RUN`, with SIGKILL and SIGSTOP removed; `None` returns to the thread's
    /// own mask.
    pub fn set_sigmask(&self, mask: Option<u64>) {
        let v = match mask {
            Some(m) => m & !(sigbit(libc::SIGKILL) | sigbit(libc::SIGSTOP)),
            None => NO_MASK,
        };
        self.sigmask.store(v, Ordering::Relaxed);
    }

    /// The run signal mask, if one is set.
    pub fn sigmask(&self) -> Option<u64> {
        match self.sigmask.load(Ordering::Relaxed) {
            NO_MASK => None,
            m => Some(m),
        }
    }

    /// Consumes pending kicks.
    fn drain(&self) {
        if !self.rx.is_ours() {
            return;
        }
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into a live local buffer from our own non-blocking pipe.
            let n = unsafe { libc::read(self.rx.fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n < buf.len() as isize {
                break;
            }
        }
    }

    /// Forgets kicks that arrived before now: call before delivering, so that a kick after
    /// the delivery wakes the next [`Waiter::sleep`].
    pub fn reset(&self) {
        self.kicked.store(false, Ordering::SeqCst);
    }

    /// Sleeps until a kick, a signal that `mask` (a kernel sigset word: the set blocked
    /// during the sleep, applied atomically with it; `None`: the thread's own) does not
    /// block, or `timeout`. Holds no lock: the caller must have released the vCPU state and
    /// any read-side section before calling.
    pub fn sleep(&self, timeout: Option<Duration>, mask: Option<u64>) -> Result<Wake> {
        self.armed.store(true, Ordering::SeqCst);
        let r = self.poll(timeout, mask);
        self.armed.store(false, Ordering::SeqCst);
        r
    }

    fn poll(&self, timeout: Option<Duration>, mask: Option<u64>) -> Result<Wake> {
        if self.kicked.swap(false, Ordering::SeqCst) {
            return Ok(Wake::Kicked);
        }
        let mut pfd = libc::pollfd {
            fd: self.rx.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut ts = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        });
        // ppoll writes the time left back into the timespec.
        let ts_ptr = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        let mask_ptr = mask.as_ref().map_or(std::ptr::null(), |m| m as *const u64);
        // If the application closed the kick pipe behind the shim's back (close_range, a
        // raw close), polling that number would spin or watch a stranger's file: sleep on no
        // fd instead, so only a signal (or the deadline) ends the sleep.
        let mut nfds: libc::nfds_t = 1;
        if !self.rx.is_ours() {
            log::warn!("the kick pipe was closed: KVM_RUN wakes only on signals");
            nfds = 0;
        }
        loop {
            // SAFETY: the raw ppoll system call (not the libc wrapper, whose sigset_t is
            // glibc's 128-byte one): `pfd` is one live pollfd, `ts_ptr` NULL or a live,
            // writable timespec, `mask_ptr` NULL or a live 8-byte kernel sigset, and the size passed
            // is that sigset's.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_ppoll,
                    &mut pfd as *mut libc::pollfd,
                    nfds,
                    ts_ptr,
                    mask_ptr,
                    KERNEL_SIGSET_SIZE as libc::size_t,
                )
            };
            if r > 0 && pfd.revents & libc::POLLNVAL != 0 {
                nfds = 0;
                continue;
            }
            if r >= 0 {
                self.drain();
                self.kicked.store(false, Ordering::SeqCst);
                return Ok(Wake::Kicked);
            }
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINTR) => return Ok(Wake::Signal),
                // A transient kernel allocation failure: try again.
                Some(libc::ENOMEM) | Some(libc::EAGAIN) => continue,
                Some(e) => return Err(Error::Os(e)),
                None => return Err(Error::OutOfMemory),
            }
        }
    }
}

/// The kernel's 8-byte signal sets, and how `KVM_RUN` holds signals off.
pub(crate) mod sig {
    /// Signals left open while guest code runs: the synchronous ones (the fault-recovering
    /// copies rely on SIGSEGV/SIGBUS) and those that cannot be blocked.
    pub(crate) const OPEN: u64 = bit(libc::SIGSEGV)
        | bit(libc::SIGBUS)
        | bit(libc::SIGILL)
        | bit(libc::SIGFPE)
        | bit(libc::SIGTRAP)
        | bit(libc::SIGSYS)
        | bit(libc::SIGKILL)
        | bit(libc::SIGSTOP);

    const fn bit(s: i32) -> u64 {
        1 << (s - 1)
    }

    /// Every asynchronous signal blocked on this thread for as long as it lives, as the
    /// kernel holds them off for a whole `KVM_RUN`: they are taken only where the run looks
    /// for them (its checks, its sleep, both under the run mask), and otherwise their
    /// handlers run when the guard restores the thread's mask on the way out, as on the
    /// return to userspace. Without this, a signal between the `immediate_exit` check and
    /// the sleep would run its handler (QEMU's sets `immediate_exit`) and then sleep on.
    pub(crate) struct Held {
        thread_mask: u64,
        /// Inside another hold on this thread (a guest function running `KVM_RUN` on another
        /// vCPU): that one restores the mask.
        nested: bool,
    }

    std::thread_local! {
        /// The thread's mask before its outermost hold, while one is in force.
        static OUTER: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
    }

    impl Held {
        pub(crate) fn hold() -> Held {
            if let Some(m) = OUTER.with(|o| o.get()) {
                return Held {
                    thread_mask: m,
                    nested: true,
                };
            }
            let thread_mask = procmask(libc::SIG_BLOCK, !OPEN);
            OUTER.with(|o| o.set(Some(thread_mask)));
            Held {
                thread_mask,
                nested: false,
            }
        }

        /// The thread's own mask (before its outermost hold).
        pub(crate) fn thread_mask(&self) -> u64 {
            self.thread_mask
        }
    }

    impl Drop for Held {
        fn drop(&mut self) {
            if !self.nested {
                OUTER.with(|o| o.set(None));
                procmask(libc::SIG_SETMASK, self.thread_mask);
            }
        }
    }

    /// `rt_sigprocmask(how, set)`: the previous mask.
    pub(crate) fn procmask(how: i32, set: u64) -> u64 {
        let mut old = 0u64;
        // SAFETY: raw rt_sigprocmask with two live 8-byte sets and the kernel's sigset size.
        unsafe {
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                how,
                &set as *const u64,
                &mut old as *mut u64,
                8usize,
            )
        };
        old
    }

    /// The signals pending for the thread or the process.
    pub(crate) fn pending() -> u64 {
        let mut set = 0u64;
        // SAFETY: raw rt_sigpending into a live 8-byte set.
        unsafe { libc::syscall(libc::SYS_rt_sigpending, &mut set as *mut u64, 8usize) };
        set
    }

    /// Lets the pending signals that `mask` does not block in: their handlers run inside a
    /// one-nanosecond ppoll on no fd. True if one did (EINTR).
    pub(crate) fn take(mask: u64) -> bool {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1,
        };
        // SAFETY: raw ppoll on zero fds (NULL array), a live timespec and a live 8-byte set.
        let r = unsafe {
            libc::syscall(
                libc::SYS_ppoll,
                std::ptr::null_mut::<libc::pollfd>(),
                0 as libc::nfds_t,
                &mut ts as *mut libc::timespec,
                &mask as *const u64,
                8usize,
            )
        };
        r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_kick_before_the_sleep_is_not_lost() {
        let w = Waiter::new().unwrap();
        w.kick();
        assert_eq!(w.sleep(None, None).unwrap(), Wake::Kicked);
        // Drained: the next sleep waits for the timeout.
        let t = Instant::now();
        assert_eq!(
            w.sleep(Some(Duration::from_millis(30)), None).unwrap(),
            Wake::Kicked
        );
        assert!(t.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn a_kick_fd_replaced_behind_our_back_is_not_polled() {
        let w = Waiter::new().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: replaces the pipe's read end with /dev/null (always readable), as an
        // application closing the number and reusing it would. The waiter then leaves that
        // number alone; this test closes it.
        assert!(unsafe { libc::dup2(null.as_raw_fd(), w.rx.fd) } >= 0);
        let t = Instant::now();
        assert_eq!(
            w.sleep(Some(Duration::from_millis(40)), None).unwrap(),
            Wake::Kicked
        );
        assert!(
            t.elapsed() >= Duration::from_millis(35),
            "{:?}",
            t.elapsed()
        );
    }

    #[test]
    fn reset_forgets_earlier_kicks() {
        let w = Waiter::new().unwrap();
        w.kick();
        w.kick();
        w.reset();
        let t = Instant::now();
        w.sleep(Some(Duration::from_millis(20)), None).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn a_kick_from_another_thread_wakes_the_sleeper() {
        let w = Arc::new(Waiter::new().unwrap());
        let w2 = w.clone();
        let h = std::thread::spawn(move || w2.sleep(None, None).unwrap());
        std::thread::sleep(Duration::from_millis(20));
        w.kick();
        assert_eq!(h.join().unwrap(), Wake::Kicked);
    }

    extern "C" fn ignore(_: libc::c_int) {}

    /// The design the injection path relies on: a sleeping `KVM_RUN` holds the vCPU ioctl
    /// mutex but not the state lock; another thread queues an interrupt under the state lock
    /// and kicks; the run delivers it and keeps sleeping; a signal unblocked by the run mask
    /// ends it with EINTR / KVM_EXIT_INTR.
    #[test]
    fn a_sleeping_run_releases_the_state_and_delivers_after_a_kick() {
        use crate::error::Error;
        use crate::host::HostConfig;
        use crate::uapi::{kvm_s390_pgm_info, KVM_EXIT_INTR};
        use crate::vcpu::run_page::off;
        use crate::vm::Vm;

        // SAFETY: installs a handler that does nothing, for SIGUSR2, which nothing else in
        // this test binary uses; the sigaction struct is a live, zeroed local.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = ignore as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
        }
        let vm = Vm::create(Arc::new(HostConfig::z16()), 0).unwrap();
        // One MiB of guest memory at a 1 MiB-aligned host address (the lowcore is written).
        const MB: usize = 1 << 20;
        // SAFETY: a fresh private anonymous mapping, unmapped at the end.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * MB,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(map, libc::MAP_FAILED);
        let ua = (map as u64 + MB as u64 - 1) & !(MB as u64 - 1);
        let region = crate::uapi::kvm_userspace_memory_region2 {
            memory_size: MB as u64,
            userspace_addr: ua,
            ..Default::default()
        };
        vm.set_user_memory_region(&region, true).unwrap();
        let (vcpu, fd) = vm.create_vcpu(0).unwrap();
        vcpu.wait.set_sigmask(Some(0));
        let (tx, rx) = std::sync::mpsc::channel();
        let runner = {
            let (vm, vcpu) = (vm.clone(), vcpu.clone());
            std::thread::spawn(move || {
                // SAFETY: pthread_self has no preconditions.
                tx.send(unsafe { libc::pthread_self() }).unwrap();
                let _serial = vcpu.serialize();
                vcpu.run(&vm, 0)
            })
        };
        let thread = rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            vcpu.ioctl_mutex.try_lock().is_none(),
            "the run holds the ioctl mutex"
        );
        {
            let mut st = vcpu
                .state
                .try_lock_for(Duration::from_secs(2))
                .expect("the sleeping run released the state lock");
            let pgm = kvm_s390_pgm_info {
                code: 1,
                ..Default::default()
            };
            vcpu.queue_pgm(&mut st, pgm);
        }
        vcpu.kick();
        let t = Instant::now();
        while vcpu.irqs().pending != 0 {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "not delivered after a kick"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(!runner.is_finished(), "a kick does not end the run");
        // SAFETY: `thread` is the live runner thread (it has not been joined).
        assert_eq!(unsafe { libc::pthread_kill(thread, libc::SIGUSR2) }, 0);
        assert_eq!(runner.join().unwrap(), Err(Error::Interrupted));
        assert_eq!(vcpu.run.get::<u32>(off::EXIT_REASON), KVM_EXIT_INTR);
        // SAFETY: the vCPU fd is ours and closed once. The guest-memory mapping is left in
        // place, as the VM's slot still names it.
        unsafe { libc::close(fd) };
    }

    #[test]
    fn the_mask_never_holds_sigkill_or_sigstop() {
        let w = Waiter::new().unwrap();
        assert_eq!(w.sigmask(), None);
        w.set_sigmask(Some(u64::MAX));
        assert_eq!(
            w.sigmask(),
            Some(!(sigbit(libc::SIGKILL) | sigbit(libc::SIGSTOP)))
        );
        w.set_sigmask(Some(0));
        assert_eq!(w.sigmask(), Some(0));
        w.set_sigmask(None);
        assert_eq!(w.sigmask(), None);
    }
}
