//! How a vCPU with nothing to run waits: the kick eventfd, the `KVM_SET_SIGNAL_MASK` mask,
//! and the sleep itself.
//!
//! A vCPU without a guest function behaves like a guest that runs without exiting (on real
//! KVM: a guest looping or in an enabled wait). `KVM_RUN` delivers what is deliverable and
//! then sleeps in `ppoll` on the vCPU's kick eventfd, with the run signal mask applied for
//! the duration of the call, as the kernel's `kvm_sigset_activate` applies it for the run:
//! * a signal unblocked by that mask interrupts `ppoll` (its handler runs inside the call) and
//!   `KVM_RUN` returns -1/EINTR with `KVM_EXIT_INTR`;
//! * [`Waiter::kick`] (an interrupt injected for this vCPU) makes the eventfd readable:
//!   `KVM_RUN` drains it, delivers, and sleeps again.
//!
//! The eventfd is drained before each delivery, so a kick that lands between the delivery and
//! the next `ppoll` leaves the eventfd readable and is never lost. Nothing polls: without a
//! kick or a signal the thread stays asleep in the kernel.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// A vCPU's wait state: its kick eventfd and its run signal mask.
#[derive(Debug)]
pub struct Waiter {
    kick: OwnedFd,
    /// The kick eventfd's identity, to notice it was closed behind the shim's back.
    kick_id: Option<(u64, u64)>,
    /// The `KVM_SET_SIGNAL_MASK` mask as a kernel sigset word, or [`NO_MASK`].
    sigmask: AtomicU64,
}

impl Waiter {
    /// A waiter with a fresh close-on-exec, non-blocking eventfd and no run signal mask.
    pub fn new() -> Result<Waiter> {
        // SAFETY: eventfd takes no pointers.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => Error::TooManyFds,
                Some(e) => Error::Os(e),
                None => Error::OutOfMemory,
            });
        }
        Ok(Waiter {
            kick_id: file_identity(fd),
            // SAFETY: `fd` was just created and is owned by nothing else.
            kick: unsafe { OwnedFd::from_raw_fd(fd) },
            sigmask: AtomicU64::new(NO_MASK),
        })
    }

    /// Wakes a sleeping `KVM_RUN` (or makes the next sleep return at once). Async-signal-safe
    /// and callable from any thread, with or without any lock held.
    pub fn kick(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live local to our own eventfd. A full counter
        // (EAGAIN) means the eventfd is readable already, which is all a kick needs.
        let _ = unsafe {
            libc::write(
                self.kick.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
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
        let mut v: u64 = 0;
        // SAFETY: reads 8 bytes into a live local from our own non-blocking eventfd.
        let _ = unsafe {
            libc::read(
                self.kick.as_raw_fd(),
                (&mut v as *mut u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    /// Forgets kicks that arrived before now: call before delivering, so that a kick after
    /// the delivery wakes the next [`Waiter::sleep`].
    pub fn reset(&self) {
        self.drain();
    }

    /// Sleeps until a kick, a signal unblocked by the run mask (the thread's own mask when
    /// none is set), or `timeout`. Holds no lock: the caller must have released the vCPU
    /// state and any read-side section before calling.
    pub fn sleep(&self, timeout: Option<Duration>) -> Result<Wake> {
        let mut pfd = libc::pollfd {
            fd: self.kick.as_raw_fd(),
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
        let mask = self.sigmask();
        let mask_ptr = mask.as_ref().map_or(std::ptr::null(), |m| m as *const u64);
        // If the application closed the kick eventfd behind the shim's back (close_range, a
        // raw close), polling that number would spin or watch a stranger's file: sleep on no
        // fd instead, so only a signal (or the deadline) ends the sleep.
        let mut nfds: libc::nfds_t = 1;
        if file_identity(self.kick.as_raw_fd()) != self.kick_id {
            log::warn!("the kick eventfd was closed: KVM_RUN wakes only on signals");
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_kick_before_the_sleep_is_not_lost() {
        let w = Waiter::new().unwrap();
        w.kick();
        assert_eq!(w.sleep(None).unwrap(), Wake::Kicked);
        // Drained: the next sleep waits for the timeout.
        let t = Instant::now();
        assert_eq!(
            w.sleep(Some(Duration::from_millis(30))).unwrap(),
            Wake::Kicked
        );
        assert!(t.elapsed() >= Duration::from_millis(25));
    }

    #[test]
    fn a_kick_fd_replaced_behind_our_back_is_not_polled() {
        let w = Waiter::new().unwrap();
        let null = std::fs::File::open("/dev/null").unwrap();
        // SAFETY: replaces the kick fd's file with /dev/null (always readable), as an
        // application closing the number and reusing it would; the OwnedFd closes it later.
        assert!(unsafe { libc::dup2(null.as_raw_fd(), w.kick.as_raw_fd()) } >= 0);
        let t = Instant::now();
        assert_eq!(
            w.sleep(Some(Duration::from_millis(40))).unwrap(),
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
        w.sleep(Some(Duration::from_millis(20))).unwrap();
        assert!(t.elapsed() >= Duration::from_millis(15));
    }

    #[test]
    fn a_kick_from_another_thread_wakes_the_sleeper() {
        let w = Arc::new(Waiter::new().unwrap());
        let w2 = w.clone();
        let h = std::thread::spawn(move || w2.sleep(None).unwrap());
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
        while vcpu.lock().pending_pgm.is_some() {
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
        // SAFETY: the vCPU fd is ours and closed once.
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
