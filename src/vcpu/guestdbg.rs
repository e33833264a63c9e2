//! `KVM_SET_GUEST_DEBUG` on s390 (`kvm_arch_vcpu_ioctl_set_guest_debug` and
//! `arch/s390/kvm/guestdbg.c`): the control flags, the hardware breakpoints and write
//! watchpoints, and the debug exits they cause.
//!
//! The kernel programs the guest's PER registers for the run (CR9 events, CR10/CR11 range)
//! and decides on every PER event whether `KVM_RUN` ends with `KVM_EXIT_DEBUG`. The executor
//! has no PER hardware, so [`PerSetup`] computes the same patched registers once per batch of
//! instructions and [`PerSetup::event`] derives the events an instruction would have raised:
//!
//! * instruction fetch: the instruction's address is in the range;
//! * successful branching: the instruction completed with a PSW address other than the next
//!   sequential one and changed no PSW state (LOAD PSW and the like set that state and are
//!   not branches), with the target in the range unless the guest asked for all branches;
//! * storage alteration: a logical store (the vCPU storage's `watch`, [`store_touches`])
//!   touched the range.
//!
//! [`GuestDbg::exit_required`] then follows `debug_exit_required`: a watchpoint whose bytes
//! differ from the snapshot taken at `KVM_SET_GUEST_DEBUG` ends the run (the snapshot is never
//! refreshed, so every later store event in the range ends it again while the bytes differ);
//! a breakpoint at the new PSW address ends the run before that instruction executes, unless
//! the PSW did not move (a branch to itself); a breakpoint at the instruction just executed
//! that was not the last one reported ("missed": reached by an interruption or a LOAD PSW,
//! or the PSW the run started at) ends it after the instruction. Continuing from a reported
//! breakpoint executes it (the next event sees it as `last_bp`).
//!
//! Nothing here runs while no hardware breakpoint or watchpoint is set: the run loop tests
//! one flag per batch of instructions and takes the per-instruction path only when armed.

use super::{Vcpu, VcpuState};
use crate::error::{Error, Result};
use crate::ioctl::user::UserBuf;
use crate::uapi::kvm::{KVM_GUESTDBG_ENABLE, KVM_GUESTDBG_SINGLESTEP};
use crate::uapi::s390::{
    kvm_guest_debug, kvm_hw_breakpoint, KVM_GUESTDBG_USE_HW_BP, KVM_HW_BP, KVM_HW_WP_WRITE,
};
use crate::vm::Vm;

/// `VALID_GUESTDBG_FLAGS` of `kvm-s390.c`. `KVM_GUESTDBG_EXIT_PENDING` (0x10000000) is
/// kernel-internal: `KVM_CAP_SET_GUEST_DEBUG2` reports it, `KVM_SET_GUEST_DEBUG` refuses it.
pub(crate) const VALID_GUESTDBG_FLAGS: u32 =
    KVM_GUESTDBG_SINGLESTEP | KVM_GUESTDBG_USE_HW_BP | KVM_GUESTDBG_ENABLE;
/// `MAX_BP_COUNT`: the most entries `nr_hw_bp` may name.
pub(crate) const MAX_BP_COUNT: u32 = 50;
/// `MAX_WP_SIZE`: the longest watchpoint, in bytes.
pub(crate) const MAX_WP_SIZE: i32 = 100;
/// `MAX_INST_SIZE`: a breakpoint's fetch range starts this many bytes early, so the
/// instruction in front of it raises the event.
const MAX_INST_SIZE: u64 = 6;
/// The largest `kmalloc` (`KMALLOC_MAX_SIZE` with 4 KiB pages and `MAX_PAGE_ORDER` 10): a
/// watchpoint whose 64-bit `len` passes the `int` check but exceeds this is ENOMEM.
const KMALLOC_MAX_SIZE: u64 = 4 << 20;

/// CR9 event masks and controls (`asm/ptrace.h`).
const PER_EVENT_BRANCH: u64 = 0x8000_0000;
const PER_EVENT_IFETCH: u64 = 0x4000_0000;
const PER_EVENT_STORE: u64 = 0x2000_0000;
const PER_CONTROL_BRANCH_ADDRESS: u64 = 0x0080_0000;
const PER_CONTROL_ALTERATION: u64 = 0x0020_0000;

/// PER event codes as `debug_exit_required` sees them (the CR9 bits shifted down by 24).
pub(crate) const PER_CODE_BRANCH: u8 = 0x80;
pub(crate) const PER_CODE_IFETCH: u8 = 0x40;
pub(crate) const PER_CODE_STORE: u8 = 0x20;

/// A hardware breakpoint (`struct kvm_hw_bp_info_arch`: the length is the caller's 64-bit
/// `len` truncated to `int`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct HwBp {
    addr: u64,
    len: i32,
}

/// A write watchpoint (`struct kvm_hw_wp_info_arch`) with the bytes at `phys_addr` when it
/// was set.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HwWp {
    addr: u64,
    phys_addr: u64,
    len: i32,
    old: Vec<u8>,
}

/// The vCPU's guest-debug state beyond the control flags (`vcpu->arch.guestdbg`).
#[derive(Debug, Clone, Default)]
pub struct GuestDbg {
    bps: Vec<HwBp>,
    wps: Vec<HwWp>,
    /// The breakpoint address last reported before its instruction ran.
    last_bp: u64,
    /// `KVM_GUESTDBG_EXIT_PENDING`: a debug exit (address, type) decided while `KVM_RUN`
    /// left for another reason (an instruction handed to userspace); the next `KVM_RUN`
    /// returns it at once.
    pub pending: Option<(u64, u8)>,
}

/// The kernel's `in_addr_range`, including its reading of an "overflowing" interval
/// (`a > b` matches `b..=a`), used for the breakpoint lookup.
fn in_addr_range(addr: u64, a: u64, b: u64) -> bool {
    if a <= b {
        addr >= a && addr <= b
    } else {
        addr <= a && addr >= b
    }
}

/// The PER range check of the hardware: `cr10..=cr11`, wrapping when `cr10 > cr11`.
fn in_per_range(addr: u64, lo: u64, hi: u64) -> bool {
    if lo <= hi {
        addr >= lo && addr <= hi
    } else {
        addr >= lo || addr <= hi
    }
}

/// `extend_address_range`: grows `start..=stop` (0-0 is "not set") to cover `len` bytes at
/// `estart`, keeping an overflowing interval as small as it can.
fn extend_address_range(start: &mut u64, stop: &mut u64, estart: u64, len: i32) {
    let len = if len > 0 { len - 1 } else { 0 };
    let estop = estart.wrapping_add(len as u64);
    if *start == 0 && *stop == 0 {
        *start = estart;
        *stop = estop;
    } else if *start <= *stop {
        if estart < *start {
            *start = estart;
        }
        if estop > *stop {
            *stop = estop;
        }
    } else if estart <= *stop {
        if estop > *stop {
            *stop = estop;
        }
    } else if estop > *start {
        if estart < *start {
            *start = estart;
        }
    } else if estop.wrapping_sub(*stop) < start.wrapping_sub(estart) {
        *stop = estop;
    } else {
        *start = estart;
    }
}

impl GuestDbg {
    /// Whether any breakpoint or watchpoint is set (`nr_hw_bp`, `nr_hw_wp`).
    pub fn armed(&self) -> bool {
        !self.bps.is_empty() || !self.wps.is_empty()
    }

    /// `find_hw_bp`: a breakpoint starting at `addr` or, with a positive length, covering it.
    fn find_bp(&self, addr: u64) -> bool {
        self.bps.iter().any(|bp| {
            addr == bp.addr
                || (bp.len > 0
                    && in_addr_range(
                        addr,
                        bp.addr,
                        bp.addr.wrapping_add(bp.len as u64).wrapping_sub(1),
                    ))
        })
    }

    /// `any_wp_changed`: the first watchpoint whose guest bytes differ from its snapshot (a
    /// watchpoint whose bytes cannot be read now is skipped).
    fn changed_wp(&self, vm: &Vm) -> Option<u64> {
        let slots = vm.memslots();
        let mut cur = [0u8; MAX_WP_SIZE as usize];
        self.wps.iter().find_map(|wp| {
            let n = wp.old.len();
            if n == 0 {
                return None;
            }
            let changed =
                vm.read_abs(&slots, wp.phys_addr, &mut cur[..n]).is_ok() && cur[..n] != wp.old[..];
            changed.then_some(wp.addr)
        })
    }

    /// `debug_exit_required` for the events `perc` of the instruction at `peraddr` that left
    /// the PSW at `addr`: the debug exit (address, type) if one is due.
    pub fn exit_required(
        &mut self,
        vm: &Vm,
        guest_debug: u32,
        perc: u8,
        peraddr: u64,
        addr: u64,
    ) -> Option<(u64, u8)> {
        if guest_debug & KVM_GUESTDBG_USE_HW_BP != 0 {
            if perc & PER_CODE_STORE != 0 && !self.wps.is_empty() {
                if let Some(wp) = self.changed_wp(vm) {
                    return Some((wp, KVM_HW_WP_WRITE as u8));
                }
            }
            return self.bp_exit(perc, peraddr, addr);
        }
        None
    }

    /// The breakpoint half of `debug_exit_required`.
    fn bp_exit(&mut self, perc: u8, peraddr: u64, addr: u64) -> Option<(u64, u8)> {
        if perc & (PER_CODE_IFETCH | PER_CODE_BRANCH) == 0 || self.bps.is_empty() {
            return None;
        }
        if self.find_bp(addr) && addr != peraddr {
            self.last_bp = addr;
            return Some((addr, KVM_HW_BP as u8));
        }
        if self.find_bp(peraddr) && self.last_bp != peraddr {
            return Some((peraddr, KVM_HW_BP as u8));
        }
        None
    }
}

/// The PER registers the kernel runs the guest with while breakpoints or watchpoints are set
/// (`kvm_s390_patch_guest_per_regs`), from the guest's own CR9-CR11.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerSetup {
    cr9: u64,
    lo: u64,
    hi: u64,
}

impl PerSetup {
    /// The patched registers for `dbg` under the guest's control registers `crs`, with
    /// single-stepping (`KVM_GUESTDBG_SINGLESTEP`) or not.
    pub fn new(dbg: &GuestDbg, crs: &[u64; 16], stepping: bool) -> Self {
        let (mut cr9, mut lo, mut hi) = (crs[9], crs[10], crs[11]);
        if stepping {
            cr9 |= PER_EVENT_IFETCH;
            lo = 0;
            hi = u64::MAX;
        }
        if !dbg.bps.is_empty() {
            if cr9 & PER_EVENT_BRANCH == 0 {
                cr9 |= PER_CONTROL_BRANCH_ADDRESS;
            }
            cr9 |= PER_EVENT_IFETCH | PER_EVENT_BRANCH;
            for bp in &dbg.bps {
                // The kernel widens the int length to unsigned long and passes it back
                // as an int.
                let mut len = i64::from(bp.len) as u64;
                let start = if bp.addr < MAX_INST_SIZE {
                    len = len.wrapping_add(bp.addr);
                    0
                } else {
                    len = len.wrapping_add(MAX_INST_SIZE);
                    bp.addr - MAX_INST_SIZE
                };
                extend_address_range(&mut lo, &mut hi, start, len as i32);
            }
        }
        if !dbg.wps.is_empty() {
            if cr9 & PER_EVENT_STORE != 0 && cr9 & PER_CONTROL_ALTERATION != 0 {
                cr9 &= !PER_CONTROL_ALTERATION;
                lo = 0;
                hi = u64::MAX;
            } else {
                cr9 &= !PER_CONTROL_ALTERATION;
                cr9 |= PER_EVENT_STORE;
                for wp in &dbg.wps {
                    extend_address_range(&mut lo, &mut hi, wp.addr, wp.len);
                }
            }
        }
        PerSetup { cr9, lo, hi }
    }

    /// The debug exit due after the instruction at `prev` that left the PSW at `next`
    /// (`branched`: a successful branch; `stored`: a store into the range).
    pub fn debug_exit(
        &self,
        vm: &Vm,
        st: &mut VcpuState,
        prev: u64,
        next: u64,
        branched: bool,
        stored: bool,
    ) -> Option<(u64, u8)> {
        let perc = self.event(prev, next, branched, stored);
        if perc == 0 {
            return None;
        }
        let flags = st.guest_debug;
        st.guestdbg.exit_required(vm, flags, perc, prev, next)
    }

    /// The range stores are watched in (`cr10..=cr11`), while storage-alteration events
    /// are on.
    pub fn store_range(&self) -> Option<(u64, u64)> {
        (self.cr9 & PER_EVENT_STORE != 0).then_some((self.lo, self.hi))
    }

    /// The PER event code of an instruction at `prev` that left the PSW at `next`:
    /// `branched` for a successful branch, `stored` for a store into the range.
    pub fn event(&self, prev: u64, next: u64, branched: bool, stored: bool) -> u8 {
        let mut perc = 0;
        if self.cr9 & PER_EVENT_IFETCH != 0 && in_per_range(prev, self.lo, self.hi) {
            perc |= PER_CODE_IFETCH;
        }
        if self.cr9 & PER_EVENT_BRANCH != 0
            && branched
            && (self.cr9 & PER_CONTROL_BRANCH_ADDRESS == 0 || in_per_range(next, self.lo, self.hi))
        {
            perc |= PER_CODE_BRANCH;
        }
        if self.cr9 & PER_EVENT_STORE != 0 && stored {
            perc |= PER_CODE_STORE;
        }
        perc
    }
}

/// Whether a logical store of `len` bytes at `addr` touches the PER range `lo..=hi`
/// (wrapping when `lo > hi`): a storage-alteration event.
pub fn store_touches(lo: u64, hi: u64, addr: u64, len: usize) -> bool {
    if len == 0 {
        return false;
    }
    let last = addr.saturating_add(len as u64 - 1);
    if lo <= hi {
        addr <= hi && last >= lo
    } else {
        last >= lo || addr <= hi
    }
}

/// `kvm_s390_import_bp_data`: the breakpoints and watchpoints `d.arch` points to. No list
/// (`nr_hw_bp` 0 or a null pointer) sets none; more than [`MAX_BP_COUNT`] is EINVAL; an
/// unreadable list is EFAULT; entries of an unknown type are ignored; a watchpoint longer
/// than [`MAX_WP_SIZE`] (its length taken as an `int`) is EINVAL, one whose 64-bit length
/// cannot be allocated ENOMEM, one whose bytes are outside guest memory EFAULT (the
/// kernel's `read_guest_abs`, taken as the snapshot here).
fn import_bp_data(vm: &Vm, d: &kvm_guest_debug) -> Result<GuestDbg> {
    let mut dbg = GuestDbg::default();
    let (nr, list) = (d.arch.nr_hw_bp, d.arch.hw_bp);
    if nr == 0 || list == 0 {
        return Ok(dbg);
    }
    if nr > MAX_BP_COUNT {
        return Err(Error::GuestDebug);
    }
    let size = std::mem::size_of::<kvm_hw_breakpoint>();
    let mut bytes = vec![0u8; size * nr as usize];
    UserBuf::new(list, bytes.len()).read_into(&mut bytes)?;
    let slots = vm.memslots();
    for rec in bytes.chunks_exact(size) {
        let bp: kvm_hw_breakpoint = bytemuck::pod_read_unaligned(rec);
        match u32::from(bp.type_) {
            KVM_HW_WP_WRITE => {
                let len = bp.len as i32;
                if !(0..=MAX_WP_SIZE).contains(&len) {
                    return Err(Error::GuestDebug);
                }
                if bp.len > KMALLOC_MAX_SIZE {
                    return Err(Error::OutOfMemory);
                }
                let mut old = vec![0u8; len as usize];
                vm.read_abs(&slots, bp.phys_addr, &mut old)
                    .map_err(|_| Error::Fault)?;
                dbg.wps.push(HwWp {
                    addr: bp.addr,
                    phys_addr: bp.phys_addr,
                    len,
                    old,
                });
            }
            KVM_HW_BP => dbg.bps.push(HwBp {
                addr: bp.addr,
                len: bp.len as i32,
            }),
            _ => {}
        }
    }
    Ok(dbg)
}

impl Vcpu {
    /// `KVM_SET_GUEST_DEBUG` (`kvm_arch_vcpu_ioctl_set_guest_debug`): debugging is off and
    /// the breakpoints are gone first; EINVAL for flags outside `VALID_GUESTDBG_FLAGS`; with
    /// `KVM_GUESTDBG_ENABLE` the flags are taken and, with `KVM_GUESTDBG_USE_HW_BP`, the
    /// breakpoint list is imported ([`import_bp_data`]); a failed import leaves debugging
    /// off. Without `KVM_GUESTDBG_ENABLE` debugging is off and the last reported breakpoint
    /// is forgotten.
    pub fn set_guest_debug(&self, vm: &Vm, d: &kvm_guest_debug) -> Result<i32> {
        let mut st = self.lock();
        clear(&mut st);
        if d.control & !VALID_GUESTDBG_FLAGS != 0 {
            return Err(Error::GuestDebug);
        }
        if d.control & KVM_GUESTDBG_ENABLE == 0 {
            st.guestdbg.last_bp = 0;
            return Ok(0);
        }
        let last_bp = st.guestdbg.last_bp;
        if d.control & KVM_GUESTDBG_USE_HW_BP != 0 {
            let dbg = import_bp_data(vm, d)?;
            st.guestdbg = GuestDbg { last_bp, ..dbg };
        }
        st.guest_debug = d.control;
        Ok(0)
    }
}

/// Debugging off, breakpoints and watchpoints gone (`kvm_s390_clear_bp_data`), no exit
/// pending; the last reported breakpoint stays, as in the kernel.
fn clear(st: &mut VcpuState) {
    st.guest_debug = 0;
    st.sstep_user = false;
    let last_bp = st.guestdbg.last_bp;
    st.guestdbg = GuestDbg {
        last_bp,
        ..GuestDbg::default()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extend_covers_and_keeps_the_smaller_overflowing_interval() {
        let (mut a, mut b) = (0, 0);
        extend_address_range(&mut a, &mut b, 0x1000, 4);
        assert_eq!((a, b), (0x1000, 0x1003));
        extend_address_range(&mut a, &mut b, 0x800, 0);
        assert_eq!((a, b), (0x800, 0x1003));
        extend_address_range(&mut a, &mut b, 0x2000, 0x10);
        assert_eq!((a, b), (0x800, 0x200f));
        // An overflowing interval grows on the nearer side.
        let (mut a, mut b) = (0xffff_0000, 0x100);
        extend_address_range(&mut a, &mut b, 0x200, 1);
        assert_eq!((a, b), (0xffff_0000, 0x200));
    }

    #[test]
    fn kernel_range_reading_of_an_overflowing_interval() {
        assert!(in_addr_range(5, 0, 10) && !in_addr_range(11, 0, 10));
        // a > b: the kernel matches b..=a, the hardware the wrap-around.
        assert!(in_addr_range(0x50, 0x100, 0x10));
        assert!(!in_per_range(0x50, 0x100, 0x10));
        assert!(in_per_range(0x5, 0x100, 0x10) && in_per_range(0x200, 0x100, 0x10));
    }

    #[test]
    fn breakpoint_fetch_range_starts_one_instruction_early() {
        let dbg = GuestDbg {
            bps: vec![HwBp {
                addr: 0x1010,
                len: 0,
            }],
            ..GuestDbg::default()
        };
        let p = PerSetup::new(&dbg, &[0; 16], false);
        assert_eq!((p.lo, p.hi), (0x100a, 0x100f));
        assert_eq!(p.event(0x100c, 0x1010, false, false), PER_CODE_IFETCH);
        assert_eq!(p.event(0x1010, 0x1014, false, false), 0);
        // Branches count only into the range (the guest asked for none itself).
        assert_eq!(p.event(0x2000, 0x100c, true, false), PER_CODE_BRANCH);
        assert_eq!(p.event(0x2000, 0x3000, true, false), 0);
        // A breakpoint near 0 starts at 0.
        let dbg = GuestDbg {
            bps: vec![HwBp { addr: 2, len: 4 }],
            ..GuestDbg::default()
        };
        let p = PerSetup::new(&dbg, &[0; 16], false);
        assert_eq!((p.lo, p.hi), (0, 5));
    }

    #[test]
    fn breakpoint_exits_before_and_continues_after() {
        let mut d = GuestDbg {
            bps: vec![HwBp {
                addr: 0x1010,
                len: 0,
            }],
            ..GuestDbg::default()
        };
        assert_eq!(
            d.bp_exit(PER_CODE_IFETCH, 0x100c, 0x1010),
            Some((0x1010, KVM_HW_BP as u8))
        );
        // The breakpoint's own fetch event after continuing: no exit.
        assert_eq!(d.bp_exit(PER_CODE_IFETCH, 0x1010, 0x1014), None);
        // A branch to itself does not report the target.
        assert_eq!(d.bp_exit(PER_CODE_BRANCH, 0x1010, 0x1010), None);
        // Reached without an event (a new PSW), then executed: reported after.
        d.last_bp = 0;
        assert_eq!(
            d.bp_exit(PER_CODE_IFETCH, 0x1010, 0x1014),
            Some((0x1010, KVM_HW_BP as u8))
        );
        // A store event alone does not look at breakpoints.
        assert_eq!(d.bp_exit(PER_CODE_STORE, 0x100c, 0x1010), None);
    }

    #[test]
    fn stores_touching_the_watched_range() {
        let dbg = GuestDbg {
            wps: vec![HwWp {
                addr: 0x2000,
                phys_addr: 0x2000,
                len: 4,
                old: vec![0; 4],
            }],
            ..GuestDbg::default()
        };
        let p = PerSetup::new(&dbg, &[0; 16], false);
        let (lo, hi) = p.store_range().unwrap();
        assert_eq!((lo, hi), (0x2000, 0x2003));
        assert!(!store_touches(lo, hi, 0x1ff0, 16));
        assert!(store_touches(lo, hi, 0x1ff0, 17));
        assert!(store_touches(lo, hi, 0x2003, 1));
        assert!(!store_touches(lo, hi, 0x2004, 8));
        assert!(!store_touches(lo, hi, 0x2000, 0));
        // A wrapping range.
        assert!(store_touches(0xffff_0000, 0x10, 0x8, 2));
        assert!(!store_touches(0xffff_0000, 0x10, 0x20, 2));
        // No watchpoint, no store events (breakpoints only).
        let bp = GuestDbg {
            bps: vec![HwBp {
                addr: 0x1000,
                len: 1,
            }],
            ..GuestDbg::default()
        };
        assert_eq!(PerSetup::new(&bp, &[0; 16], false).store_range(), None);
    }
}
