//! Adapter interrupt routes and irqfds (`virt/kvm/irqchip.c`, `virt/kvm/eventfd.c`,
//! `kvm_set_routing_entry` and `set_adapter_int` in `arch/s390/kvm/interrupt.c`).
//!
//! `KVM_SET_GSI_ROUTING` installs s390 adapter routes: a GSI names an adapter and the guest
//! addresses of an indicator bit and a summary bit. Raising the GSI (an irqfd's eventfd being
//! written) sets both bits in guest memory and, when the summary bit was clear, makes the
//! adapter's I/O interrupt pending. As in the kernel, a route stores the host addresses
//! behind the guest addresses when it is set up.
//!
//! The kernel runs the injection in the eventfd's wake-up callback. In userspace one thread per
//! VM (started with the first irqfd) waits in `epoll_wait` on every assigned eventfd, consumes
//! the count and raises the GSI; it holds the irqfd list lock while injecting, so after
//! `KVM_IRQFD` deassign returns no injection for that irqfd can still happen.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Weak};

use crate::error::{Error, Result};
use crate::uapi::*;
use crate::vm::Vm;

/// `KVM_MAX_IRQ_ROUTES`.
pub(crate) const KVM_MAX_IRQ_ROUTES: u32 = 4096;
const PAGE: u64 = 4096;

/// An installed adapter route (`struct kvm_s390_adapter_int` plus its GSI).
#[derive(Debug, Clone, Copy)]
pub struct AdapterRoute {
    pub gsi: u32,
    pub ind_addr: u64,
    pub ind_gaddr: u64,
    pub summary_addr: u64,
    pub summary_gaddr: u64,
    pub ind_offset: u64,
    pub summary_offset: u32,
    pub adapter_id: u32,
}

/// `get_ind_bit`: the bit number (in `set_bit` order from the start of the page) of `bit_nr`
/// bits after `addr`, swapped within its 64-bit word for MSB-0 adapters.
fn ind_bit(addr: u64, bit_nr: u64, swap: bool) -> u64 {
    let bit = bit_nr.wrapping_add((addr % PAGE) * 8);
    if swap {
        bit ^ 63
    } else {
        bit
    }
}

/// The byte and mask `set_bit(bit, page)` touches on s390 (big-endian 64-bit words).
fn bit_byte(bit: u64) -> (u64, u8) {
    let word = bit / 64;
    let b = bit % 64;
    (word * 8 + (7 - b / 8), 1 << (b % 8))
}

/// Atomically ORs `mask` into the caller byte at `hva`; whether it was already set.
fn test_and_set(hva: u64, mask: u8) -> Result<bool> {
    let mut old = [0u8; 16];
    loop {
        let mut cur = old;
        let mut new = [0u8; 16];
        new[0] = old[0] | mask;
        if crate::uaccess::compare_exchange(hva, 1, &mut cur, &new)? {
            return Ok(old[0] & mask != 0);
        }
        old[0] = cur[0];
    }
}

impl Vm {
    /// `kvm_set_routing_entry` for an s390 adapter route.
    fn adapter_route(&self, ue: &kvm_irq_routing_entry) -> Result<AdapterRoute> {
        if self.ucontrol {
            return Err(Error::Routing);
        }
        // SAFETY: every member of the union is plain integers.
        let a = unsafe { ue.u.adapter };
        // The bits must lie in the page of their address (upstream since 2026).
        if ind_bit(a.summary_addr, u64::from(a.summary_offset), false) >= PAGE * 8
            || ind_bit(a.ind_addr, a.ind_offset, false) >= PAGE * 8
        {
            return Err(Error::Routing);
        }
        let slots = self.memslots();
        let hva = |gpa: u64| {
            slots
                .by_gfn(gpa / PAGE)
                .map(|s| s.hva(gpa / PAGE) + gpa % PAGE)
                .ok_or(Error::Fault)
        };
        Ok(AdapterRoute {
            gsi: ue.gsi,
            summary_addr: hva(a.summary_addr)?,
            summary_gaddr: a.summary_addr,
            ind_addr: hva(a.ind_addr)?,
            ind_gaddr: a.ind_addr,
            ind_offset: a.ind_offset,
            summary_offset: a.summary_offset,
            adapter_id: a.adapter_id,
        })
    }

    /// `KVM_SET_GSI_ROUTING` (`kvm_set_irq_routing`): replaces the routing table.
    pub fn set_gsi_routing(
        &self,
        routing: &kvm_irq_routing,
        entries: &[kvm_irq_routing_entry],
    ) -> Result<i32> {
        if routing.nr > KVM_MAX_IRQ_ROUTES || routing.flags != 0 {
            return Err(Error::Routing);
        }
        if entries.iter().any(|e| e.gsi >= KVM_MAX_IRQ_ROUTES) {
            return Err(Error::Routing);
        }
        let mut table: Vec<AdapterRoute> = Vec::with_capacity(entries.len());
        for ue in entries {
            if ue.flags != 0 {
                return Err(Error::Routing);
            }
            // One non-irqchip route per GSI.
            if table.iter().any(|r| r.gsi == ue.gsi) {
                return Err(Error::Routing);
            }
            match ue.type_ {
                KVM_IRQ_ROUTING_S390_ADAPTER => table.push(self.adapter_route(ue)?),
                _ => return Err(Error::Routing),
            }
        }
        *self.routes.lock().unwrap_or_else(|e| e.into_inner()) = table;
        Ok(0)
    }

    /// `KVM_CREATE_IRQCHIP`: an empty routing table once `KVM_CAP_S390_IRQCHIP` is enabled.
    pub fn create_irqchip(&self) -> Result<i32> {
        if !self.state().irqchip {
            return Err(Error::Routing);
        }
        self.routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        Ok(0)
    }

    /// `kvm_set_irq(gsi, 1)`: raises every route of `gsi` (`set_adapter_int`).
    pub fn raise_gsi(&self, gsi: u32) {
        let routes: Vec<AdapterRoute> = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|r| r.gsi == gsi)
            .copied()
            .collect();
        for r in routes {
            let _ = self.set_adapter_int(&r);
        }
    }

    /// `set_adapter_int`: sets the indicator and summary bits; if the summary bit was clear and
    /// the adapter is not masked, the adapter interrupt is injected. `Ok(false)` when coalesced.
    fn set_adapter_int(&self, r: &AdapterRoute) -> Result<bool> {
        let adapter = self
            .adapters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(r.adapter_id as usize)
            .copied()
            .flatten()
            .ok_or(Error::Routing)?;
        let bit = ind_bit(r.ind_addr, r.ind_offset, adapter.swap);
        let (off, mask) = bit_byte(bit);
        test_and_set((r.ind_addr & !(PAGE - 1)) + off, mask)?;
        self.mark_dirty(r.ind_gaddr / PAGE);
        let bit = ind_bit(r.summary_addr, u64::from(r.summary_offset), adapter.swap);
        let (off, mask) = bit_byte(bit);
        let was_set = test_and_set((r.summary_addr & !(PAGE - 1)) + off, mask)?;
        self.mark_dirty(r.summary_gaddr / PAGE);
        if was_set {
            return Ok(false);
        }
        if !adapter.masked {
            self.inject_airq(&adapter)?;
        }
        Ok(true)
    }

    /// `KVM_IRQFD` (`kvm_irqfd`).
    pub fn irqfd(self: &Arc<Self>, args: &kvm_irqfd) -> Result<i32> {
        if args.flags & !(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE) != 0 {
            return Err(Error::Routing);
        }
        if args.flags & KVM_IRQFD_FLAG_DEASSIGN != 0 {
            let fd = eventfd_of(args.fd as RawFd)?;
            // Deassigning an irqfd that is not assigned is not an error (kvm_irqfd_deassign).
            self.irqfds.with_items(|items| {
                items.retain(|i| {
                    let same = i.gsi == args.gsi && same_file(i.fd.as_raw_fd(), fd.as_raw_fd());
                    if same {
                        self.irqfds.unwatch(i.fd.as_raw_fd());
                    }
                    !same
                })
            });
            return Ok(0);
        }
        let fd = eventfd_of(args.fd as RawFd)?;
        let resample = if args.flags & KVM_IRQFD_FLAG_RESAMPLE != 0 {
            Some(eventfd_of(args.resamplefd as RawFd)?)
        } else {
            None
        };
        self.irqfds.start(self)?;
        self.irqfds
            .with_items(|items| {
                if items
                    .iter()
                    .any(|i| same_file(i.fd.as_raw_fd(), fd.as_raw_fd()))
                {
                    return Err(Error::IrqfdBusy);
                }
                // A count already pending when the irqfd is assigned is delivered at once, as
                // the kernel's poll at assignment does: epoll reports it immediately.
                self.irqfds.watch(fd.as_raw_fd())?;
                items.push(Irqfd {
                    fd,
                    gsi: args.gsi,
                    _resample: resample,
                });
                Ok(0)
            })
            .unwrap_or(Err(Error::Os(libc::EBADF)))
    }
}

/// A duplicate of `fd` if it is an eventfd: EBADF for a closed number, EINVAL for another file.
fn eventfd_of(fd: RawFd) -> Result<OwnedFd> {
    let link =
        std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|_| Error::Os(libc::EBADF))?;
    if link.as_os_str() != "anon_inode:[eventfd]" {
        return Err(Error::Routing);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a number that was just seen open; failure is reported.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if dup < 0 {
        return Err(Error::Os(libc::EBADF));
    }
    // SAFETY: `dup` is a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(dup) })
}

/// Whether two descriptors refer to the same open file (the same eventfd).
fn same_file(a: RawFd, b: RawFd) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp only compares kernel objects of this process.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::getpid() as libc::c_long,
            libc::getpid() as libc::c_long,
            KCMP_FILE,
            a as libc::c_long,
            b as libc::c_long,
        )
    };
    r == 0
}

/// An assigned irqfd.
struct Irqfd {
    fd: OwnedFd,
    gsi: u32,
    _resample: Option<OwnedFd>,
}

struct Shared {
    epoll: OwnedFd,
    /// Written when the VM goes away, to end the thread.
    stop: OwnedFd,
    items: Mutex<Vec<Irqfd>>,
}

/// A VM's irqfds and the thread that serves them.
#[derive(Default)]
pub struct IrqfdSet {
    shared: Mutex<Option<Arc<Shared>>>,
}

impl IrqfdSet {
    fn shared(&self) -> Option<Arc<Shared>> {
        self.shared
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Runs `f` on the irqfd list with its lock held (None before the thread exists).
    fn with_items<R>(&self, f: impl FnOnce(&mut Vec<Irqfd>) -> R) -> Option<R> {
        let s = self.shared()?;
        let mut items = s.items.lock().unwrap_or_else(|e| e.into_inner());
        Some(f(&mut items))
    }

    /// Starts the thread on first use.
    fn start(&self, vm: &Arc<Vm>) -> Result<()> {
        let mut s = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        if s.is_some() {
            return Ok(());
        }
        // SAFETY: plain fd-creating calls; results are checked.
        let (ep, stop) = unsafe {
            (
                libc::epoll_create1(libc::EPOLL_CLOEXEC),
                libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK),
            )
        };
        if ep < 0 || stop < 0 {
            return Err(Error::Os(libc::EMFILE));
        }
        // SAFETY: both are fresh descriptors we own.
        let shared = Arc::new(unsafe {
            Shared {
                epoll: OwnedFd::from_raw_fd(ep),
                stop: OwnedFd::from_raw_fd(stop),
                items: Mutex::new(Vec::new()),
            }
        });
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: u64::MAX,
        };
        // SAFETY: registering our own eventfd with our own epoll instance.
        unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, stop, &mut ev) };
        let weak: Weak<Vm> = Arc::downgrade(vm);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("kvm-s390-irqfd".into())
            .spawn(move || serve(thread_shared, weak))
            .map_err(|_| Error::Os(libc::EAGAIN))?;
        *s = Some(shared);
        Ok(())
    }

    fn watch(&self, fd: RawFd) -> Result<()> {
        let Some(s) = self.shared() else {
            return Err(Error::Os(libc::EBADF));
        };
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: fd as u64,
        };
        // SAFETY: registering a descriptor we own with our epoll instance.
        if unsafe { libc::epoll_ctl(s.epoll.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(Error::Os(libc::ENOMEM));
        }
        Ok(())
    }

    fn unwatch(&self, fd: RawFd) {
        if let Some(s) = self.shared() {
            // SAFETY: removing a descriptor we own from our epoll instance.
            unsafe {
                libc::epoll_ctl(
                    s.epoll.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    fd,
                    std::ptr::null_mut(),
                )
            };
        }
    }
}

impl Drop for IrqfdSet {
    fn drop(&mut self) {
        if let Some(s) = self.shared() {
            let one = 1u64;
            // SAFETY: an 8-byte write to our own eventfd.
            unsafe { libc::write(s.stop.as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }
}

/// The irqfd thread: consumes eventfd counts and raises their GSIs until the VM is gone.
fn serve(shared: Arc<Shared>, vm: Weak<Vm>) {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 32];
    loop {
        // SAFETY: waiting on our own epoll instance into a local buffer.
        let n = unsafe {
            libc::epoll_wait(
                shared.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                events.len() as i32,
                -1,
            )
        };
        if n < 0 {
            continue;
        }
        let Some(vm) = vm.upgrade() else {
            return;
        };
        for ev in &events[..n as usize] {
            let key = ev.u64;
            if key == u64::MAX {
                continue;
            }
            let items = shared.items.lock().unwrap_or_else(|e| e.into_inner());
            let Some(item) = items.iter().find(|i| i.fd.as_raw_fd() as u64 == key) else {
                continue;
            };
            let mut count = 0u64;
            let iov = libc::iovec {
                iov_base: (&mut count as *mut u64).cast(),
                iov_len: 8,
            };
            // SAFETY: an 8-byte read from an eventfd we own into a local; RWF_NOWAIT so a
            // count consumed by another reader meanwhile gives EAGAIN instead of blocking.
            let r = unsafe { libc::preadv2(item.fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
            if r == 8 {
                vm.raise_gsi(item.gsi);
            }
        }
    }
}
