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

use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, Weak};

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};

use crate::error::{Error, Result};
use crate::os;
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
        let a = ue.adapter();
        // The bits must lie in the page of their address (upstream since 2026). Kept under
        // every kernel profile: before the check, the kernel set bits beyond the mapped page
        // (memory corruption), which the shim will not reproduce on the caller's memory.
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
            let fd = os::eventfd_dup(args.fd as RawFd)?;
            // Deassigning an irqfd that is not assigned is not an error (kvm_irqfd_deassign).
            self.irqfds.with_items(|items| {
                items.retain(|i| {
                    let same = i.gsi == args.gsi && os::same_file(i.fd.as_fd(), fd.as_fd());
                    if same {
                        self.irqfds.unwatch(&i.fd);
                    }
                    !same
                })
            });
            return Ok(0);
        }
        let fd = os::eventfd_dup(args.fd as RawFd)?;
        let resample = if args.flags & KVM_IRQFD_FLAG_RESAMPLE != 0 {
            Some(os::eventfd_dup(args.resamplefd as RawFd)?)
        } else {
            None
        };
        self.irqfds.start(self)?;
        self.irqfds
            .with_items(|items| {
                if items
                    .iter()
                    .any(|i| os::same_file(i.fd.as_fd(), fd.as_fd()))
                {
                    return Err(Error::IrqfdBusy);
                }
                // A count already pending when the irqfd is assigned is delivered at once, as
                // the kernel's poll at assignment does: epoll reports it immediately.
                self.irqfds.watch(&fd)?;
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

/// An assigned irqfd.
struct Irqfd {
    fd: OwnedFd,
    gsi: u32,
    _resample: Option<OwnedFd>,
}

struct Shared {
    epoll: Epoll,
    /// Written when the VM goes away, to end the thread.
    stop: EventFd,
    items: Mutex<Vec<Irqfd>>,
}

/// The epoll data of the stop eventfd (irqfd events carry their fd number).
const STOP: u64 = u64::MAX;

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
        let os_err = |e: nix::errno::Errno| Error::Os(e as i32);
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(os_err)?;
        let stop = EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)
            .map_err(os_err)?;
        epoll
            .add(&stop, EpollEvent::new(EpollFlags::EPOLLIN, STOP))
            .map_err(os_err)?;
        let shared = Arc::new(Shared {
            epoll,
            stop,
            items: Mutex::new(Vec::new()),
        });
        let weak: Weak<Vm> = Arc::downgrade(vm);
        let thread_shared = shared.clone();
        std::thread::Builder::new()
            .name("kvm-s390-irqfd".into())
            .spawn(move || serve(thread_shared, weak))
            .map_err(|_| Error::Os(libc::EAGAIN))?;
        *s = Some(shared);
        Ok(())
    }

    fn watch(&self, fd: &OwnedFd) -> Result<()> {
        let s = self.shared().ok_or(Error::Os(libc::EBADF))?;
        s.epoll
            .add(
                fd,
                EpollEvent::new(EpollFlags::EPOLLIN, fd.as_raw_fd() as u64),
            )
            .map_err(|e| Error::Os(e as i32))
    }

    fn unwatch(&self, fd: &OwnedFd) {
        if let Some(s) = self.shared() {
            let _ = s.epoll.delete(fd);
        }
    }
}

impl Drop for IrqfdSet {
    fn drop(&mut self) {
        if let Some(s) = self.shared() {
            let _ = s.stop.write(1);
        }
    }
}

/// The irqfd thread: consumes eventfd counts and raises their GSIs until the VM is gone.
fn serve(shared: Arc<Shared>, vm: Weak<Vm>) {
    let mut events = [EpollEvent::empty(); 32];
    loop {
        let Ok(n) = shared.epoll.wait(&mut events, EpollTimeout::NONE) else {
            continue;
        };
        let Some(vm) = vm.upgrade() else {
            return;
        };
        for ev in &events[..n] {
            if ev.data() == STOP {
                continue;
            }
            let items = shared.items.lock().unwrap_or_else(|e| e.into_inner());
            let Some(item) = items.iter().find(|i| i.fd.as_raw_fd() as u64 == ev.data()) else {
                continue;
            };
            // A count consumed by another reader meanwhile is not waited for.
            if os::eventfd_read_nowait(item.fd.as_fd()).is_some() {
                vm.raise_gsi(item.gsi);
            }
        }
    }
}
