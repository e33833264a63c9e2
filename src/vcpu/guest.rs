// Guest programs: calls into the registered C guest function and its handle.
#![allow(unsafe_code)]
#![allow(non_camel_case_types)]
//! Guest programs behind `KVM_RUN`.
//!
//! The shim does not execute s390 instructions. Instead a test harness registers, per vCPU, a
//! C function that `KVM_RUN` calls after syncing registers in and delivering pending
//! interrupts. The function acts as that CPU through guest operations (see `ffi/guest.rs`):
//! storage accesses at logical addresses with the CPU's translation, PSW key and protection;
//! the storage-key instructions; interlocked compare-and-swap; ESSA; translation; register
//! access. When it returns, the shim syncs registers out and completes `KVM_RUN` with the exit
//! it chose.

use std::ffi::c_void;

use parking_lot::MutexGuard;

use super::gaccess::{self, Fail, Mode};
use super::{Vcpu, VcpuState};
use crate::addr::{LogicalAddr, RealAddr};
use crate::error::Result;
use crate::uaccess;
use crate::uapi::*;
use crate::vm::memslot::PAGE_SIZE;
use crate::vm::Vm;

/// `kvm_s390_shim_exit.kind`: an instruction intercept (`KVM_EXIT_S390_SIEIC`).
pub const KVM_S390_SHIM_EXIT_SIEIC: u32 = 1;
/// `kvm_s390_shim_exit.kind`: the CPU stopped (`KVM_EXIT_S390_SIEIC`, stop intercept 0x28).
pub const KVM_S390_SHIM_EXIT_STOP: u32 = 2;
/// `kvm_s390_shim_exit.kind`: return to userspace with EINTR (`KVM_EXIT_INTR`).
pub const KVM_S390_SHIM_EXIT_INTR: u32 = 3;

/// How a guest function ends `KVM_RUN`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_s390_shim_exit {
    /// `KVM_S390_SHIM_EXIT_SIEIC`, `KVM_S390_SHIM_EXIT_STOP` or `KVM_S390_SHIM_EXIT_INTR`.
    pub kind: u32,
    /// For SIEIC: the interception code (4 = instruction).
    pub icptcode: u8,
    /// For SIEIC: the first two instruction bytes (e.g. 0x8300 for DIAGNOSE).
    pub ipa: u16,
    /// For SIEIC: instruction bytes 2..5 (e.g. 0x05010000 for DIAG 0x501).
    pub ipb: u32,
}

/// The locked state of the vCPU a guest function runs on. The lifetime is erased in the
/// handle; the guard lives in `KVM_RUN`'s frame for the whole call.
pub(crate) type StateGuard = MutexGuard<'static, VcpuState>;

/// The CPU a guest function acts as. Valid only during the call that received it.
pub struct kvm_s390_shim_guest {
    pub(crate) vm: *const Vm,
    pub(crate) vcpu: *const Vcpu,
    pub(crate) st: *mut StateGuard,
}

/// A guest function: called by `KVM_RUN` with the CPU and the registered opaque pointer.
pub type kvm_s390_shim_guest_fn =
    Option<unsafe extern "C" fn(*mut kvm_s390_shim_guest, *mut c_void) -> kvm_s390_shim_exit>;

/// A registered guest program.
#[derive(Debug, Clone, Copy)]
pub struct GuestProgram {
    pub(crate) func:
        unsafe extern "C" fn(*mut kvm_s390_shim_guest, *mut c_void) -> kvm_s390_shim_exit,
    pub(crate) opaque: usize,
}

/// How `KVM_RUN` ends.
pub enum Exit {
    Intercept {
        icptcode: u8,
        ipa: u16,
        ipb: u32,
    },
    Interrupted,
    /// The guest function returned an unknown exit kind: KVM_RUN fails with EINVAL.
    Invalid,
    /// `KVM_EXIT_S390_RESET` with its `s390_reset_flags` (DIAGNOSE 0x308 load).
    Reset {
        flags: u64,
    },
    /// `KVM_EXIT_DEBUG`: the address and the type (`KVM_SINGLESTEP`, `KVM_HW_BP`,
    /// `KVM_HW_WP_WRITE`) of `kvm_run.debug.arch`.
    Debug {
        addr: u64,
        kind: u8,
    },
    /// `KVM_EXIT_S390_STSI` (`KVM_CAP_S390_USER_STSI`): the STSI's second-operand address,
    /// its access register, function code and selectors (`kvm_run.s390_stsi`).
    Stsi {
        addr: u64,
        ar: u8,
        fc: u8,
        sel1: u8,
        sel2: u16,
    },
}

/// A guest function running on this thread: its vCPU and handle.
#[derive(Clone, Copy)]
struct Running {
    vcpu: usize,
    handle: usize,
}

thread_local! {
    /// The guest functions this thread is inside, innermost last (a guest function may run
    /// another vCPU's `KVM_RUN`).
    static RUNNING: std::cell::RefCell<Vec<Running>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether the calling thread is inside the guest function of `vcpu` (at any nesting
/// depth): an ioctl on that vCPU would wait for the `KVM_RUN` that is calling it.
pub fn is_running_here(vcpu: &Vcpu) -> bool {
    let key = vcpu as *const Vcpu as usize;
    RUNNING.with(|r| r.borrow().iter().any(|e| e.vcpu == key))
}

/// Whether `h` is the handle of a guest function running on this thread.
fn is_live_handle(h: *mut kvm_s390_shim_guest) -> bool {
    let key = h as usize;
    RUNNING.with(|r| r.borrow().iter().any(|e| e.handle == key))
}

/// Registers a running guest function until dropped.
struct RunningMark;

impl RunningMark {
    fn enter(entry: Running) -> Self {
        RUNNING.with(|r| r.borrow_mut().push(entry));
        RunningMark
    }
}

impl Drop for RunningMark {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            r.borrow_mut().pop();
        });
    }
}

/// PSW bit 15: problem state.
const PSW_MASK_PSTATE: u64 = 1 << 48;
/// PSW bit 6: I/O interruptions enabled.
const PSW_MASK_IO: u64 = 1 << 57;
/// PSW bit 7: external interruptions enabled.
const PSW_MASK_EXT: u64 = 1 << 56;
/// PSW bit 13: machine-check interruptions enabled.
const PSW_MASK_MCHECK: u64 = 1 << 50;

/// `kvm_s390_shim_guest_wait`: an interrupt was delivered (the PSW is its new PSW).
pub const KVM_S390_SHIM_WAIT_INTERRUPT: i32 = 1;
/// `kvm_s390_shim_guest_wait`: a signal unblocked during `KVM_RUN` arrived; the guest
/// function should return `KVM_S390_SHIM_EXIT_INTR`, as the kernel leaves `KVM_RUN`.
pub const KVM_S390_SHIM_WAIT_SIGNAL: i32 = 2;
/// `kvm_s390_shim_guest_wait`: the PSW enables no interruption class (a disabled wait): the
/// kernel exits to userspace with the wait-state intercept (icptcode 0x1c).
pub const KVM_S390_SHIM_WAIT_DISABLED: i32 = 3;

/// `kvm_s390_shim_guest_diag500`: the notify was handled in the kernel (an ioeventfd was
/// signalled; general register 2 holds the new cookie). The guest continues.
pub const KVM_S390_SHIM_DIAG500_HANDLED: i32 = 0;
/// `kvm_s390_shim_guest_diag500`: the kernel would exit to userspace with the DIAGNOSE
/// instruction intercept (icptcode 4, ipa 0x83xx, ipb 0x05000000).
pub const KVM_S390_SHIM_DIAG500_EXIT: i32 = 1;

/// `KVM_S390_VIRTIO_CCW_NOTIFY` (`asm/virtio-ccw.h`): the DIAGNOSE 0x500 subcode in gpr 1.
const KVM_S390_VIRTIO_CCW_NOTIFY: u64 = 3;

/// Interception code of a stop request.
pub(crate) const ICPT_STOP: u8 = 0x28;

/// Calls the guest program of a vCPU (inside KVM_RUN, with the vCPU locked).
pub fn run_program(
    vm: &Vm,
    vcpu: &Vcpu,
    st: &mut MutexGuard<'_, VcpuState>,
    program: GuestProgram,
) -> Exit {
    // A guest function may update memory slots, which waits for every read-side section: none
    // may be held by this thread while it runs (guest operations take their own).
    debug_assert!(
        !crate::rcu::in_section(),
        "guest function called inside a read-side section"
    );
    let mut handle = kvm_s390_shim_guest {
        vm,
        vcpu,
        st: st as *mut MutexGuard<'_, VcpuState> as *mut StateGuard,
    };
    let mark = RunningMark::enter(Running {
        vcpu: vcpu as *const Vcpu as usize,
        handle: &mut handle as *mut kvm_s390_shim_guest as usize,
    });
    // SAFETY: the function was registered by the caller as a guest function; the handle and
    // everything it points to stay valid for the duration of the call.
    let exit = unsafe { (program.func)(&mut handle, program.opaque as *mut c_void) };
    drop(mark);
    match exit.kind {
        KVM_S390_SHIM_EXIT_SIEIC => Exit::Intercept {
            icptcode: exit.icptcode,
            ipa: exit.ipa,
            ipb: exit.ipb,
        },
        KVM_S390_SHIM_EXIT_STOP => {
            // handle_stop: the kernel stops the CPU itself unless userspace controls the CPU
            // states, in which case userspace acts on the intercept.
            if !vm.user_cpu_state_ctrl() {
                vcpu.set_stopped(true);
            }
            Exit::Intercept {
                icptcode: ICPT_STOP,
                ipa: 0,
                ipb: 0,
            }
        }
        KVM_S390_SHIM_EXIT_INTR => Exit::Interrupted,
        _ => Exit::Invalid,
    }
}

/// The guest operations, on the CPU of a guest function.
pub struct GuestCpu<'a> {
    vm: &'a Vm,
    vcpu: &'a Vcpu,
    st: &'a mut StateGuard,
}

impl<'a> GuestCpu<'a> {
    /// The CPU behind a handle.
    ///
    /// `None` unless `h` is the handle of a guest function running on this thread (a stale
    /// handle, or one used from another thread, is refused rather than dereferenced).
    ///
    /// # Safety
    /// The returned value must not outlive the guest operation that asked for it.
    pub unsafe fn from_handle(h: *mut kvm_s390_shim_guest) -> Option<GuestCpu<'a>> {
        if h.is_null() || !is_live_handle(h) {
            return None;
        }
        // SAFETY: per the contract, the handle and its pointers are live and exclusively ours.
        unsafe {
            let h = &*h;
            Some(GuestCpu {
                vm: &*h.vm,
                vcpu: &*h.vcpu,
                st: &mut *h.st,
            })
        }
    }

    /// The PSW key (PSW bits 8-11).
    pub fn psw_key(&self) -> u8 {
        ((self.st.psw.0 >> 52) & 0xf) as u8
    }

    /// Presents a program exception to the guest as the hardware would (a program interrupt
    /// through the lowcore) and returns its code.
    fn present(&mut self, f: Fail) -> Result<u16> {
        match f {
            Fail::Pgm(pgm) => {
                self.vcpu.queue_pgm(self.st, pgm);
                self.vcpu.deliver_interrupts(self.vm, self.st)?;
                Ok(pgm.code)
            }
            Fail::Errno(e) => Err(e),
        }
    }

    fn simple(&mut self, code: u16) -> Result<u16> {
        self.present(Fail::Pgm(kvm_s390_pgm_info {
            code,
            ..Default::default()
        }))
    }

    /// Fetches (or stores) `data` at logical address `ga` with the PSW key; 0 or the code of
    /// the program exception presented to the guest.
    pub fn access(&mut self, ga: u64, ar: u8, data: &mut [u8], store: bool) -> Result<u16> {
        let key = self.psw_key();
        let mode = if store { Mode::Store } else { Mode::Fetch };
        match gaccess::guest_access(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(ga),
            ar,
            data,
            mode,
            key,
        ) {
            Ok(()) => Ok(0),
            Err(f) => self.present(f),
        }
    }

    /// Interlocked compare-and-swap of `size` (4, 8 or 16: CS, CSG, CDSG) bytes at `ga`,
    /// atomic with respect to memop cmpxchg and native atomics on the same memory. Returns the
    /// condition code (0 swapped, 1 not equal: `old` receives the current value) or, as
    /// `Err`-less `Ok(0x100 | code)`, a presented program exception.
    pub fn compare_and_swap(
        &mut self,
        ga: u64,
        ar: u8,
        size: usize,
        old: &mut [u8; 16],
        new: &[u8; 16],
    ) -> Result<u16> {
        if !matches!(size, 4 | 8 | 16) || ga % size as u64 != 0 {
            return self.simple(0x06).map(|c| 0x100 | c);
        }
        let key = self.psw_key();
        // The key check and the swap are one step with respect to key changes (SSKE,
        // SET_SKEYS), as for memop cmpxchg.
        let _keys = (key != 0).then(|| self.vm.keys_read_lock());
        let gpa = match gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(ga),
            ar,
            size,
            Mode::Store,
            key,
        ) {
            Ok(g) => g.raw(),
            Err(f) => return self.present(f).map(|c| 0x100 | c),
        };
        let slots = self.vm.memslots();
        let Some(slot) = slots.by_gfn(gpa / PAGE_SIZE) else {
            return self.simple(5).map(|c| 0x100 | c);
        };
        let idx = gpa / PAGE_SIZE - slot.base_gfn;
        match uaccess::compare_exchange(slot.hva(gpa / PAGE_SIZE) + gpa % PAGE_SIZE, size, old, new)
        {
            Ok(swapped) => {
                if self.vm.uses_skeys() {
                    slot.keys.or(idx, if swapped { 0x06 } else { 0x04 });
                }
                if swapped {
                    if let Some(d) = &slot.dirty {
                        d.mark(idx);
                    }
                }
                Ok(u16::from(!swapped))
            }
            Err(_) => self.simple(4).map(|c| 0x100 | c),
        }
    }

    /// Whether the CPU is in the problem state (PSW bit 15): privileged instructions then
    /// raise a privileged-operation exception.
    fn problem_state(&self) -> bool {
        self.st.psw.0 & PSW_MASK_PSTATE != 0
    }

    /// The absolute address of a storage-key instruction's operand: the register's address
    /// made effective by the addressing mode, then prefixed (real → absolute).
    fn key_operand(&self, ra: u64) -> u64 {
        let ea = LogicalAddr(ra).effective(self.st.psw.0);
        RealAddr(ea.raw()).to_abs(self.st.prefix).raw()
    }

    /// SSKE: sets the storage key of the frame at real address `ra` (enables storage keys).
    pub fn sske(&mut self, ra: u64, key: u8) -> Result<u16> {
        if self.problem_state() {
            return self.simple(0x02);
        }
        let abs = self.key_operand(ra);
        match self.vm.set_storage_key_abs(abs, key & 0xfe) {
            Ok(()) => Ok(0),
            Err(code) => self.simple(code),
        }
    }

    /// ISKE: the storage key of the frame at real address `ra` (enables storage keys).
    pub fn iske(&mut self, ra: u64) -> Result<std::result::Result<u8, u16>> {
        if self.problem_state() {
            return self.simple(0x02).map(Err);
        }
        let abs = self.key_operand(ra);
        match self.vm.storage_key_abs(abs) {
            Ok(k) => Ok(Ok(k)),
            Err(code) => self.simple(code).map(Err),
        }
    }

    /// RRBE: resets the reference bit; returns the condition code (R and C before).
    pub fn rrbe(&mut self, ra: u64) -> Result<std::result::Result<u8, u16>> {
        if self.problem_state() {
            return self.simple(0x02).map(Err);
        }
        let abs = self.key_operand(ra);
        match self.vm.reset_reference_bit_abs(abs) {
            Ok(cc) => Ok(Ok(cc)),
            Err(code) => self.simple(code).map(Err),
        }
    }

    /// ESSA on the frame at absolute address `gpa` with operation request code `orc`;
    /// returns the previous usage state.
    pub fn essa(&mut self, gpa: u64, orc: u8) -> Result<std::result::Result<u8, u16>> {
        match self.vm.essa(gpa, orc, self.problem_state()) {
            Ok(state) => Ok(Ok(state)),
            Err(code) => self.simple(code).map(Err),
        }
    }

    /// Translates a logical address (no exception is presented): the absolute address, or
    /// the program-interruption code translation would raise.
    pub fn translate(
        &mut self,
        ga: u64,
        ar: u8,
        store: bool,
    ) -> Result<std::result::Result<u64, u16>> {
        let mode = if store { Mode::Store } else { Mode::Fetch };
        match gaccess::guest_translate_checked(
            self.vm,
            self.vcpu,
            self.st,
            LogicalAddr(ga),
            ar,
            1,
            mode,
            0,
        ) {
            Ok(g) => Ok(Ok(g.raw())),
            Err(Fail::Pgm(p)) => Ok(Err(p.code)),
            Err(Fail::Errno(e)) => Err(e),
        }
    }

    /// General register `n`.
    pub fn gpr(&self, n: usize) -> u64 {
        self.vcpu.run.get_u64(super::run_page::off::GPRS, n & 15)
    }

    /// Sets general register `n`.
    pub fn set_gpr(&mut self, n: usize, v: u64) {
        self.vcpu.run.set_u64(super::run_page::off::GPRS, n & 15, v)
    }

    /// Access register `n`.
    pub fn ar(&self, n: usize) -> u32 {
        self.vcpu.run.get(super::run_page::off::ACRS + 4 * (n & 15))
    }

    /// Sets access register `n`.
    pub fn set_ar(&mut self, n: usize, v: u32) {
        self.vcpu
            .run
            .set(super::run_page::off::ACRS + 4 * (n & 15), v)
    }

    /// Control register `n`.
    pub fn cr(&self, n: usize) -> u64 {
        self.st.crs[n & 15]
    }

    /// Sets control register `n`.
    pub fn set_cr(&mut self, n: usize, v: u64) {
        self.st.crs[n & 15] = v;
    }

    /// The PSW (mask, address).
    pub fn psw(&self) -> (u64, u64) {
        self.st.psw
    }

    /// Loads a PSW.
    pub fn set_psw(&mut self, mask: u64, addr: u64) {
        self.st.psw = (mask, addr);
    }

    /// The prefix register.
    pub fn prefix(&self) -> u64 {
        self.st.prefix
    }

    /// The CPU in the wait state with its current PSW (`kvm_s390_handle_wait`): delivers a
    /// deliverable interrupt at once; with none, and no interruption class enabled, it is a
    /// disabled wait; otherwise it sleeps, with the vCPU state released, until a kick or a
    /// signal unblocked during `KVM_RUN`, delivering after each kick. One of the
    /// `KVM_S390_SHIM_WAIT_*` values.
    pub fn wait(&mut self) -> Result<i32> {
        loop {
            self.vcpu.wait.reset();
            let before = self.st.psw;
            let deliverable = self.vcpu.has_deliverable(self.vm, self.st);
            self.vcpu.deliver_interrupts(self.vm, self.st)?;
            // The clock-comparator and CPU-timer conditions are evaluated by the delivery
            // itself: a changed PSW shows one of those was delivered.
            if deliverable || self.st.psw != before {
                return Ok(KVM_S390_SHIM_WAIT_INTERRUPT);
            }
            if self.st.psw.0 & (PSW_MASK_IO | PSW_MASK_EXT | PSW_MASK_MCHECK) == 0 {
                return Ok(KVM_S390_SHIM_WAIT_DISABLED);
            }
            let waiter = &self.vcpu.wait;
            let run_mask = self.st.run_mask;
            self.vcpu.set_running(false);
            let woke = MutexGuard::unlocked(self.st, || waiter.sleep(None, Some(run_mask)));
            self.vcpu.set_running(true);
            match woke? {
                super::wait::Wake::Kicked => {}
                super::wait::Wake::Signal => return Ok(KVM_S390_SHIM_WAIT_SIGNAL),
            }
        }
    }

    /// DIAGNOSE 0x500 as KVM executes it (`kvm_s390_handle_diag`, `__diag_virtio_hypercall`):
    /// a privileged-operation exception in the problem state; with CSS support enabled and
    /// subcode 3 (virtio-ccw notify) in gpr 1, a write of the queue index (gpr 3) to the
    /// subchannel id (low word of gpr 2) on the notify bus with the cookie in gpr 4; a
    /// matching ioeventfd is signalled and gpr 2 receives the new cookie. Returns one of the
    /// `KVM_S390_SHIM_DIAG500_*` values, or 0x100 | code for a presented exception.
    pub fn diag500(&mut self) -> Result<i32> {
        if self.problem_state() {
            return self.simple(0x02).map(|c| 0x100 | i32::from(c));
        }
        let css = self.vm.state().css_support;
        if !css || self.gpr(1) != KVM_S390_VIRTIO_CCW_NOTIFY {
            return Ok(KVM_S390_SHIM_DIAG500_EXIT);
        }
        let schid = (self.gpr(2) & 0xffff_ffff) as u32;
        match self
            .vm
            .ioeventfds
            .virtio_ccw_notify(schid, self.gpr(3), self.gpr(4) as i64)
        {
            Some(cookie) => {
                self.set_gpr(2, cookie as u64);
                Ok(KVM_S390_SHIM_DIAG500_HANDLED)
            }
            None => Ok(KVM_S390_SHIM_DIAG500_EXIT),
        }
    }
}

impl Vcpu {
    /// Registers (or with `None` removes) the guest program of this vCPU.
    pub fn set_guest_program(&self, program: Option<GuestProgram>) {
        self.lock().guest = program;
    }
}
