//! `KVM_IOEVENTFD`: eventfds signalled by guest notifications instead of an exit
//! (`virt/kvm/eventfd.c`), and the I/O buses they sit on (`kvm_io_bus_*` in `kvm_main.c`).
//!
//! On s390 only the virtio-ccw notify bus is ever written: DIAGNOSE 0x500 subcode 3
//! ([`IoEventFds::virtio_ccw_notify`]). MMIO and PIO registrations are accepted and checked
//! exactly as the kernel does (an s390 guest has no instruction that reaches them).
//!
//! Each bus keeps its devices in the kernel's order (the insertion rule of
//! `kvm_io_bus_register_dev`, the search of `kvm_io_bus_get_first_dev`), so the cookie a
//! notify returns (the device's index on the bus) is the kernel's.
//!
//! An eventfd is held through a close-on-exec duplicate of the caller's fd (the kernel holds
//! an `eventfd_ctx` reference): closing the caller's fd does not disarm it, and deassign
//! recognises the same eventfd through any fd that refers to it.
// Raw system calls on the held duplicates (F_DUPFD_CLOEXEC past the fcntl interposer, kcmp,
// poll/write/close on numbers that may have been closed behind the shim's back).
#![allow(unsafe_code)]

use std::cmp::Ordering as CmpOrdering;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};

use crate::error::{Error, IoeventfdRule, Result};
use crate::uapi::*;

/// The buses an ioeventfd can sit on (`ioeventfd_bus_from_flags`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bus {
    Mmio = 0,
    Pio = 1,
    VirtioCcwNotify = 2,
}

impl Bus {
    fn from_flags(flags: u32) -> Bus {
        if flags & KVM_IOEVENTFD_FLAG_PIO != 0 {
            Bus::Pio
        } else if flags & KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY != 0 {
            Bus::VirtioCcwNotify
        } else {
            Bus::Mmio
        }
    }
}

/// A held eventfd: a close-on-exec duplicate of the caller's fd, as a raw number (the
/// application may close it behind the shim's back), with its identity at registration: the
/// anon-inode (device, inode) and the kernel's `eventfd-id`.
#[derive(Debug)]
struct EventFd {
    fd: RawFd,
    id: Option<(u64, u64)>,
    eventfd_id: Option<u64>,
}

impl Drop for EventFd {
    fn drop(&mut self) {
        if self.still_ours() {
            // SAFETY: closes the shim's own duplicate (checked above) with the raw system
            // call, not the close interposer. No memory is involved.
            unsafe { libc::syscall(libc::SYS_close, self.fd) };
        }
    }
}

impl EventFd {
    /// `eventfd_ctx_fdget`: EBADF unless `fd` is open, EINVAL unless it is an eventfd.
    fn get(fd: i32) -> Result<EventFd> {
        if fd < 0 {
            return Err(Error::BadFd);
        }
        // Duplicate first, then inspect the duplicate: a concurrent close of `fd` cannot
        // make the check and the hold refer to different files. The raw system call, not
        // libc's fcntl, which the LD_PRELOAD library interposes.
        let fd = match crate::os::dup_cloexec(fd) {
            Ok(dup) => dup,
            Err(e) => {
                return Err(match e.raw_os_error() {
                    Some(libc::EMFILE) | Some(libc::ENFILE) => Error::TooManyFds,
                    _ => Error::BadFd,
                })
            }
        };
        let mut held = EventFd {
            fd,
            id: crate::vcpu::wait::file_identity(fd),
            eventfd_id: None,
        };
        if !held.is_eventfd() {
            return Err(Error::NotEventfd);
        }
        held.eventfd_id = held.read_eventfd_id();
        Ok(held)
    }

    /// Whether the file is an eventfd (its `/proc` link names the eventfd anon inode).
    fn is_eventfd(&self) -> bool {
        match std::fs::read_link(format!("/proc/self/fd/{}", self.fd)) {
            Ok(target) => target.as_os_str() == "anon_inode:[eventfd]",
            // Without /proc the file cannot be told apart: accept it, as a write to a
            // non-eventfd only fails.
            Err(_) => true,
        }
    }

    /// Whether the number still holds the eventfd it held at registration.
    fn still_ours(&self) -> bool {
        if crate::vcpu::wait::file_identity(self.fd) != self.id {
            return false;
        }
        match self.eventfd_id {
            Some(id) => self.read_eventfd_id() == Some(id),
            None => true,
        }
    }

    /// Whether both refer to the same eventfd (the kernel compares `eventfd_ctx` pointers,
    /// one per open eventfd file): `kcmp(KCMP_FILE)`, or the fdinfo `eventfd-id` where
    /// kcmp is not permitted.
    fn same(&self, other: &EventFd) -> bool {
        const KCMP_FILE: libc::c_int = 0;
        // SAFETY: getpid takes nothing; kcmp takes integers only.
        let r = unsafe {
            let pid = libc::getpid();
            libc::syscall(
                libc::SYS_kcmp,
                pid,
                pid,
                KCMP_FILE,
                self.fd as libc::c_ulong,
                other.fd as libc::c_ulong,
            )
        };
        if r >= 0 {
            return r == 0;
        }
        match (self.eventfd_id, other.eventfd_id) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    fn read_eventfd_id(&self) -> Option<u64> {
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", self.fd)).ok()?;
        info.lines()
            .find_map(|l| l.strip_prefix("eventfd-id:"))
            .and_then(|v| v.trim().parse().ok())
    }

    /// `eventfd_signal`: adds 1 to the counter. The kernel saturates a full counter instead
    /// of blocking; a write would block, so a full counter is left as it is. Nothing is
    /// written if the number no longer holds an anon-inode file (the application closed it
    /// behind the shim's back and the number was reused).
    fn signal(&self) {
        if crate::vcpu::wait::file_identity(self.fd) != self.id {
            log::warn!("an ioeventfd's eventfd was closed behind the shim's back");
            return;
        }
        let mut pfd = libc::pollfd {
            fd: self.fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one live pollfd, zero timeout.
        let writable =
            unsafe { libc::poll(&mut pfd, 1, 0) } == 1 && pfd.revents & libc::POLLOUT != 0;
        if writable {
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live local to the held eventfd.
            let _ = unsafe {
                libc::write(
                    self.fd,
                    (&one as *const u64).cast(),
                    std::mem::size_of::<u64>(),
                )
            };
        }
    }
}

/// One registered ioeventfd (`struct _ioeventfd`).
#[derive(Debug)]
struct IoEventFd {
    bus: Bus,
    addr: u64,
    len: u32,
    datamatch: u64,
    wildcard: bool,
    eventfd: EventFd,
}

impl IoEventFd {
    /// `ioeventfd_in_range`: whether a write of `len` bytes of `val` at `addr` hits.
    fn in_range(&self, addr: u64, len: u32, val: u64) -> bool {
        if addr != self.addr {
            return false;
        }
        if self.len == 0 {
            return true;
        }
        if len != self.len {
            return false;
        }
        if self.wildcard {
            return true;
        }
        let v = match len {
            1 => val & 0xff,
            2 => val & 0xffff,
            4 => val & 0xffff_ffff,
            8 => val,
            _ => return false,
        };
        v == self.datamatch
    }
}

/// `kvm_io_bus_cmp(r1, r2)`: r2's length 0 matches its exact address; otherwise ranges
/// compare by their ends.
fn bus_cmp(r1: (u64, u32), r2: (u64, u32)) -> CmpOrdering {
    let (mut a1, mut a2) = (r1.0, r2.0);
    if a1 < a2 {
        return CmpOrdering::Less;
    }
    if r2.1 != 0 {
        a1 = a1.wrapping_add(u64::from(r1.1));
        a2 = a2.wrapping_add(u64::from(r2.1));
    }
    if a1 > a2 {
        CmpOrdering::Greater
    } else {
        CmpOrdering::Equal
    }
}

/// One I/O bus: its devices in the kernel's order.
#[derive(Debug, Default)]
struct IoBus {
    devs: Vec<Arc<IoEventFd>>,
}

impl IoBus {
    fn range(d: &IoEventFd) -> (u64, u32) {
        (d.addr, d.len)
    }

    /// `kvm_io_bus_register_dev`: before the first device that compares greater.
    fn register(&mut self, dev: Arc<IoEventFd>) {
        let new = Self::range(&dev);
        let i = self
            .devs
            .iter()
            .position(|d| bus_cmp(Self::range(d), new) == CmpOrdering::Greater)
            .unwrap_or(self.devs.len());
        self.devs.insert(i, dev);
    }

    /// `kvm_io_bus_get_first_dev`: the kernel's binary search (`lib/bsearch.c`), then back
    /// to the first device that compares equal.
    fn first_dev(&self, key: (u64, u32)) -> Option<usize> {
        let (mut base, mut num) = (0usize, self.devs.len());
        let mut found = None;
        while num > 0 {
            let pivot = base + (num >> 1);
            match bus_cmp(key, Self::range(&self.devs[pivot])) {
                CmpOrdering::Equal => {
                    found = Some(pivot);
                    break;
                }
                CmpOrdering::Greater => {
                    base = pivot + 1;
                    num -= 1;
                }
                CmpOrdering::Less => {}
            }
            num >>= 1;
        }
        let mut off = found?;
        while off > 0 && bus_cmp(key, Self::range(&self.devs[off - 1])) == CmpOrdering::Equal {
            off -= 1;
        }
        Some(off)
    }

    /// `kvm_io_bus_write_cookie`: the device at `cookie` first, then a search; the index of
    /// the device that took the write, or `None` (-EOPNOTSUPP).
    fn write_cookie(&self, addr: u64, len: u32, val: u64, cookie: i64) -> Option<usize> {
        let key = (addr, len);
        if let Ok(c) = usize::try_from(cookie) {
            if let Some(d) = self.devs.get(c) {
                if bus_cmp(key, Self::range(d)) == CmpOrdering::Equal && d.in_range(addr, len, val)
                {
                    d.eventfd.signal();
                    return Some(c);
                }
            }
        }
        let mut idx = self.first_dev(key)?;
        while let Some(d) = self.devs.get(idx) {
            if bus_cmp(key, Self::range(d)) != CmpOrdering::Equal {
                break;
            }
            if d.in_range(addr, len, val) {
                d.eventfd.signal();
                return Some(idx);
            }
            idx += 1;
        }
        None
    }
}

/// A VM's ioeventfds (`kvm->ioeventfds` and the buses), under one lock (`kvm->slots_lock`).
#[derive(Debug, Default)]
pub struct IoEventFds {
    buses: Mutex<[IoBus; 3]>,
}

impl IoEventFds {
    /// `KVM_IOEVENTFD` (`kvm_ioeventfd`): assign, or with `KVM_IOEVENTFD_FLAG_DEASSIGN`
    /// deassign.
    pub fn ioctl(&self, args: &kvm_ioeventfd) -> Result<i32> {
        if args.flags & KVM_IOEVENTFD_FLAG_DEASSIGN != 0 {
            self.deassign(args)
        } else {
            self.assign(args)
        }
    }

    /// `kvm_assign_ioeventfd`, in the kernel's order of checks.
    fn assign(&self, args: &kvm_ioeventfd) -> Result<i32> {
        let bus = Bus::from_flags(args.flags);
        if !matches!(args.len, 0 | 1 | 2 | 4 | 8) {
            return Err(Error::Ioeventfd(IoeventfdRule::Length));
        }
        if args.addr.checked_add(u64::from(args.len)).is_none() {
            return Err(Error::Ioeventfd(IoeventfdRule::Overflow));
        }
        if args.flags & !KVM_IOEVENTFD_VALID_FLAG_MASK != 0 {
            return Err(Error::Ioeventfd(IoeventfdRule::Flags));
        }
        if args.len == 0
            && args.flags & (KVM_IOEVENTFD_FLAG_PIO | KVM_IOEVENTFD_FLAG_DATAMATCH) != 0
        {
            return Err(Error::Ioeventfd(IoeventfdRule::NoLengthMatch));
        }
        let eventfd = EventFd::get(args.fd)?;
        let wildcard = args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH == 0;
        let p = IoEventFd {
            bus,
            addr: args.addr,
            len: args.len,
            datamatch: if wildcard { 0 } else { args.datamatch },
            wildcard,
            eventfd,
        };
        let mut buses = self.buses.lock().unwrap_or_else(|e| e.into_inner());
        let on_bus = &mut buses[bus as usize];
        // ioeventfd_check_collision.
        let collides = on_bus.devs.iter().any(|q| {
            q.addr == p.addr
                && (q.len == 0
                    || p.len == 0
                    || (q.len == p.len && (q.wildcard || p.wildcard || q.datamatch == p.datamatch)))
        });
        if collides {
            return Err(Error::IoeventfdExists);
        }
        on_bus.register(Arc::new(p));
        Ok(0)
    }

    /// `kvm_deassign_ioeventfd`: the registration with the same bus, eventfd, address,
    /// length and (for a datamatch one) value.
    fn deassign(&self, args: &kvm_ioeventfd) -> Result<i32> {
        let bus = Bus::from_flags(args.flags);
        let eventfd = EventFd::get(args.fd)?;
        let wildcard = args.flags & KVM_IOEVENTFD_FLAG_DATAMATCH == 0;
        let mut buses = self.buses.lock().unwrap_or_else(|e| e.into_inner());
        let on_bus = &mut buses[bus as usize];
        let found = on_bus.devs.iter().position(|p| {
            p.bus == bus
                && p.addr == args.addr
                && p.len == args.len
                && p.wildcard == wildcard
                && (p.wildcard || p.datamatch == args.datamatch)
                && p.eventfd.same(&eventfd)
        });
        match found {
            Some(i) => {
                on_bus.devs.remove(i);
                Ok(0)
            }
            None => Err(Error::IoeventfdMissing),
        }
    }

    /// A virtio-ccw notify for subchannel `schid`, virtqueue `queue`, with the guest's
    /// `cookie` (`kvm_io_bus_write_cookie` on the notify bus, an 8-byte write of the queue
    /// index): the new cookie (the index of the eventfd signalled) or `None` when no
    /// ioeventfd matches and userspace must handle the notify.
    pub fn virtio_ccw_notify(&self, schid: u32, queue: u64, cookie: i64) -> Option<usize> {
        let buses = self.buses.lock().unwrap_or_else(|e| e.into_inner());
        buses[Bus::VirtioCcwNotify as usize].write_cookie(u64::from(schid), 8, queue, cookie)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn eventfd() -> OwnedFd {
        // SAFETY: eventfd takes no pointers; the new fd is owned here.
        unsafe { OwnedFd::from_raw_fd(libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)) }
    }

    fn count(fd: &OwnedFd) -> u64 {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into a live local.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&mut v as *mut u64).cast(), 8) };
        if n == 8 {
            v
        } else {
            0
        }
    }

    fn ccw(fd: &OwnedFd, schid: u64, queue: Option<u64>) -> kvm_ioeventfd {
        kvm_ioeventfd {
            datamatch: queue.unwrap_or(0),
            addr: schid,
            len: 8,
            fd: fd.as_raw_fd(),
            flags: KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY
                | if queue.is_some() {
                    KVM_IOEVENTFD_FLAG_DATAMATCH
                } else {
                    0
                },
            pad: [0; 36],
        }
    }

    #[test]
    fn cookies_are_bus_indices_in_kernel_order() {
        let io = IoEventFds::default();
        let fds: Vec<OwnedFd> = (0..3).map(|_| eventfd()).collect();
        // Registered out of order: the bus sorts by address.
        io.ioctl(&ccw(&fds[0], 0x30, Some(0))).unwrap();
        io.ioctl(&ccw(&fds[1], 0x10, Some(0))).unwrap();
        io.ioctl(&ccw(&fds[2], 0x20, Some(1))).unwrap();
        assert_eq!(io.virtio_ccw_notify(0x10, 0, -1), Some(0));
        assert_eq!(io.virtio_ccw_notify(0x20, 1, 0), Some(1));
        assert_eq!(io.virtio_ccw_notify(0x30, 0, 2), Some(2));
        assert_eq!(io.virtio_ccw_notify(0x20, 0, 1), None);
        assert_eq!(io.virtio_ccw_notify(0x40, 0, 0), None);
        assert_eq!(fds.iter().map(count).collect::<Vec<_>>(), vec![1, 1, 1]);
    }

    #[test]
    fn collisions_and_deassign() {
        let io = IoEventFds::default();
        let a = eventfd();
        io.ioctl(&ccw(&a, 1, Some(0))).unwrap();
        assert_eq!(io.ioctl(&ccw(&a, 1, Some(0))), Err(Error::IoeventfdExists));
        assert_eq!(io.ioctl(&ccw(&a, 1, None)), Err(Error::IoeventfdExists));
        io.ioctl(&ccw(&a, 1, Some(1))).unwrap();
        // Deassign through a duplicate of the fd: the same eventfd.
        // SAFETY: dup of an owned fd.
        let dup = unsafe { OwnedFd::from_raw_fd(libc::dup(a.as_raw_fd())) };
        let mut d = ccw(&dup, 1, Some(1));
        d.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        assert_eq!(io.ioctl(&d), Ok(0));
        assert_eq!(io.ioctl(&d), Err(Error::IoeventfdMissing));
        // Another eventfd does not deassign this one.
        let b = eventfd();
        let mut d = ccw(&b, 1, Some(0));
        d.flags |= KVM_IOEVENTFD_FLAG_DEASSIGN;
        assert_eq!(io.ioctl(&d), Err(Error::IoeventfdMissing));
    }

    #[test]
    fn bus_cmp_matches_the_kernel() {
        assert_eq!(bus_cmp((8, 8), (16, 8)), CmpOrdering::Less);
        assert_eq!(bus_cmp((16, 8), (16, 8)), CmpOrdering::Equal);
        assert_eq!(bus_cmp((16, 8), (16, 4)), CmpOrdering::Greater);
        assert_eq!(bus_cmp((16, 8), (16, 0)), CmpOrdering::Equal);
        assert_eq!(bus_cmp((17, 4), (16, 8)), CmpOrdering::Equal);
    }
}
