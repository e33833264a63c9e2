//! vCPUs: the `kvm_run` page, register state, resets, `KVM_RUN`, pending program interrupts
//! and the logical memop (spec vm.md D.5–D.7, memop.md 3–5).

pub mod cpu_run;
mod diag;
pub mod gaccess;
pub mod guest;
pub mod guestdbg;
pub mod run_page;
pub mod sigp;
mod stsi;
pub mod wait;

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};
use crate::ioctl::user::{UserBuf, UserPtr};
use crate::irq::LocalIrqs;
use crate::stats;
use crate::uapi::*;
use crate::vm::Vm;
use run_page::{off, RunPage, BPBC_BIT};

/// CR0 after an initial reset.
pub(crate) const CR0_INITIAL_MASK: u64 = 0xE0;
/// CR14 after an initial reset.
pub(crate) const CR14_INITIAL_MASK: u64 = 0xC200_0000;
/// The PSW runtime-instrumentation bit, cleared by a normal reset.
pub(crate) const PSW_MASK_RI: u64 = 0x0000_0080_0000_0000;

/// Lowcore offsets (real addresses) used when delivering a program interrupt and storing status.
pub(crate) mod lowcore {
    /// The architectural-mode id STORE STATUS sets (absolute 163 or real 163).
    pub(crate) const AR_MODE_ID: u64 = 163;
    /// The store-status save area.
    pub(crate) const FPREGS_SAVE: u64 = 0x1200;
    pub(crate) const GPREGS_SAVE: u64 = 0x1280;
    pub(crate) const PSW_SAVE: u64 = 0x1300;
    pub(crate) const PREFIX_SAVE: u64 = 0x1318;
    pub(crate) const FP_CREG_SAVE: u64 = 0x131c;
    pub(crate) const TOD_PROGREG_SAVE: u64 = 0x1324;
    pub(crate) const CPU_TIMER_SAVE: u64 = 0x1328;
    pub(crate) const CLOCK_COMP_SAVE: u64 = 0x1330;
    pub(crate) const AREGS_SAVE: u64 = 0x1340;
    pub(crate) const CREGS_SAVE: u64 = 0x1380;
}

/// vCPU state the kernel keeps outside `kvm_run` (the SIE control block and `vcpu->arch`).
#[derive(Debug, Clone)]
pub struct VcpuState {
    /// The architected PSW (mask, address), synced from `kvm_run` at KVM_RUN entry.
    pub psw: (u64, u64),
    /// Control registers.
    pub crs: [u64; 16],
    /// Prefix register (8 KiB aligned, below 2 GiB).
    pub prefix: u64,
    pub todpr: u64,
    pub cputm: u64,
    pub ckc: u64,
    pub pp: u64,
    pub gbea: u64,
    pub pfault_token: u64,
    pub pfault_select: u64,
    pub pfault_compare: u64,
    pub diag318: u64,
    /// Branch-prediction blocking control.
    pub bpbc: bool,
    /// The intercept code and IPA of the last SIEIC exit, until the guest runs again (an
    /// injected program interrupt without a valid ILC takes its instruction length).
    pub icpt: Option<(u8, u16)>,
    /// The guest program run by KVM_RUN, if one is registered.
    pub guest: Option<guest::GuestProgram>,
    /// The instruction executor that runs guest code when no guest program is registered.
    pub engine: cpu_run::EngineSlot,
    /// `KVM_SET_GUEST_DEBUG` control flags (`vcpu->guest_debug`).
    pub guest_debug: u32,
    /// Single-stepping left `KVM_RUN` for userspace to emulate an instruction: the next
    /// `KVM_RUN` completes the step (after delivering what userspace injected) with
    /// `KVM_EXIT_DEBUG`, as the kernel's "single-stepping userspace-emulated instructions".
    pub sstep_user: bool,
    /// Hardware breakpoints and watchpoints (`KVM_GUESTDBG_USE_HW_BP`).
    pub guestdbg: guestdbg::GuestDbg,
    /// The signals blocked while this `KVM_RUN` looks for signals (a kernel sigset word):
    /// the `KVM_SET_SIGNAL_MASK` mask, else the thread's mask at entry.
    pub run_mask: u64,
}

/// A virtual CPU.
pub struct Vcpu {
    /// The vCPU id.
    pub id: u32,
    /// The shared `kvm_run` page.
    pub run: RunPage,
    /// The kernel's `vcpu->mutex`: held by the dispatcher for every vCPU ioctl except the
    /// asynchronous ones (interrupt injection, `kvm_arch_vcpu_async_ioctl`), for the whole
    /// call, `KVM_RUN` included, so vCPU ioctls wait for a running `KVM_RUN` as in the kernel.
    ioctl_mutex: parking_lot::Mutex<()>,
    /// The vCPU's state. Taken by every ioctl that reads or changes it; a sleeping `KVM_RUN`
    /// releases it (keeping `ioctl_mutex`), so injection and VM-wide operations reach the
    /// state of a waiting vCPU.
    state: parking_lot::Mutex<VcpuState>,
    /// Where a vCPU with nothing to run sleeps, and what wakes it.
    pub(crate) wait: wait::Waiter,
    /// The TOD epoch difference and epoch index (the SIE block's `epoch`/`epdx`), apart from
    /// the vCPU mutex so that setting the VM's TOD never waits for a running vCPU.
    epoch: Mutex<(u64, u8)>,
    /// Stopped (as opposed to operating): the kernel's atomic CPUSTAT_STOPPED flag, written
    /// under the vCPU mutex and read without it by interrupt injection.
    stopped: AtomicBool,
    /// Running (the kernel's CPUSTAT_RUNNING, set while the vCPU is loaded on a host CPU):
    /// inside `KVM_RUN` and not asleep in a wait. Read by SIGP SENSE RUNNING STATUS.
    running: AtomicBool,
    /// The instruction length of the last intercept while it is current (see
    /// [`VcpuState::icpt`]), for injection without the vCPU mutex.
    icpt_ilen: AtomicU8,
    /// Pending local interrupts (the kernel's `li->lock` domain).
    irqs: Mutex<LocalIrqs>,
    /// The vCPU's counters and stats file (`KVM_GET_STATS_FD`).
    pub stats: crate::stats::Stats,
}

/// The counter the kernel's intercept handler bumps for `icptcode` (`kvm_handle_sie_intercept`).
fn intercept_counter(icptcode: u8) -> Option<usize> {
    use stats::vcpu::*;
    Some(match icptcode {
        0x04 => EXIT_INSTRUCTION,
        0x08 => EXIT_PROGRAM_INTERRUPTION,
        0x0c => EXIT_INSTR_AND_PROGRAM,
        0x14 => EXIT_EXTERNAL_INTERRUPT,
        0x1c => EXIT_WAIT_STATE,
        0x20 => EXIT_VALIDITY,
        0x28 => EXIT_STOP_REQUEST,
        0x2c => EXIT_OPERATION_EXCEPTION,
        0x38 => EXIT_PEI,
        _ => return None,
    })
}

impl Vcpu {
    /// A new vCPU of `vm` (kvm_arch_vcpu_create): stopped, with the initial valid-register
    /// mask, an invalid pfault token and the VM's TOD epoch. Returns it with its fd.
    pub fn new(vm: &Vm, id: u32) -> Result<(Vcpu, std::os::fd::RawFd)> {
        let waiter = wait::Waiter::new()?;
        let (run, fd) = RunPage::create(id)?;
        let st = vm.state();
        let mut valid = KVM_SYNC_PREFIX
            | KVM_SYNC_GPRS
            | KVM_SYNC_ACRS
            | KVM_SYNC_CRS
            | KVM_SYNC_ARCH0
            | KVM_SYNC_PFAULT
            | KVM_SYNC_DIAG318;
        for (fac, bit) in [
            (64, KVM_SYNC_RICCB),
            (82, KVM_SYNC_BPBC),
            (133, KVM_SYNC_GSCB),
            (156, KVM_SYNC_ETOKEN),
        ] {
            if st.has_facility(fac) {
                valid |= bit;
            }
        }
        // Floating-point registers travel in the vector registers when the host has them.
        valid |= if vm.host.has_facility(129) {
            KVM_SYNC_VRS
        } else {
            KVM_SYNC_FPRS
        };
        run.set(off::VALID_REGS, valid);
        let state = VcpuState {
            psw: (0, 0),
            crs: [0; 16],
            prefix: 0,
            todpr: 0,
            cputm: 0,
            ckc: 0,
            pp: 0,
            gbea: 0,
            pfault_token: KVM_S390_PFAULT_TOKEN_INVALID,
            pfault_select: 0,
            pfault_compare: 0,
            diag318: 0,
            bpbc: false,
            icpt: None,
            guest: None,
            engine: Default::default(),
            guest_debug: 0,
            sstep_user: false,
            guestdbg: Default::default(),
            run_mask: 0,
        };
        let epoch = (st.epoch, st.epdx);
        drop(st);
        Ok((
            Vcpu {
                id,
                run,
                ioctl_mutex: parking_lot::Mutex::new(()),
                state: parking_lot::Mutex::new(state),
                wait: waiter,
                epoch: Mutex::new(epoch),
                stopped: AtomicBool::new(true),
                running: AtomicBool::new(false),
                icpt_ilen: AtomicU8::new(0),
                irqs: Mutex::new(LocalIrqs::default()),
                stats: crate::stats::Stats::for_vcpu(id),
            },
            fd,
        ))
    }

    /// The pending local interrupts.
    pub(crate) fn irqs(&self) -> MutexGuard<'_, LocalIrqs> {
        self.irqs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the vCPU is stopped.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Whether the vCPU is running: in `KVM_RUN` and not asleep (`CPUSTAT_RUNNING`).
    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    /// Marks the vCPU loaded (`kvm_arch_vcpu_load`) or put (`kvm_arch_vcpu_put`, as a
    /// sleeping vCPU thread is scheduled out).
    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Release);
    }

    /// `kvm_s390_vcpu_start` / `kvm_s390_vcpu_stop` (stopping also drops a pending SIGP
    /// STOP). Called with the vCPU mutex held.
    pub(crate) fn set_stopped(&self, stopped: bool) {
        if stopped {
            let mut li = self.irqs();
            li.pending &= !(1 << crate::irq::IRQ_PEND_SIGP_STOP);
            li.stop = Default::default();
        }
        self.stopped.store(stopped, Ordering::Release);
    }

    /// What injection needs to know without the vCPU mutex: stopped, and the length of the
    /// instruction whose intercept is current.
    pub(crate) fn irq_context(&self) -> (bool, u8) {
        (self.is_stopped(), self.icpt_ilen.load(Ordering::Acquire))
    }

    /// Records the intercept KVM_RUN exits with (None once the guest runs again).
    pub(crate) fn set_icpt(&self, st: &mut VcpuState, icpt: Option<(u8, u16)>) {
        st.icpt = icpt;
        self.icpt_ilen
            .store(Self::intercepted_ilen(st), Ordering::Release);
    }

    /// Locks the vCPU's state.
    pub fn lock(&self) -> parking_lot::MutexGuard<'_, VcpuState> {
        self.state.lock()
    }

    /// Takes the vCPU ioctl mutex (the kernel's `vcpu->mutex`) for one ioctl.
    pub fn serialize(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.ioctl_mutex.lock()
    }

    /// Wakes this vCPU if its `KVM_RUN` (or a guest function's wait) sleeps, so that it
    /// delivers what became pending; otherwise the next sleep returns at once. Callable from
    /// any thread, holding any lock; injection calls it after queueing an interrupt for this
    /// vCPU (for a floating interrupt: on every vCPU).
    pub fn kick(&self) {
        self.wait.kick();
    }

    /// `KVM_SET_SIGNAL_MASK` (`kvm_vcpu_ioctl` + `kvm_vcpu_ioctl_set_sigmask`): a NULL
    /// argument clears the mask; otherwise `len` must be the kernel's `sizeof(sigset_t)` (8),
    /// else EINVAL, and the mask that follows is applied during every later `KVM_RUN`.
    /// EFAULT if either part is unreadable.
    pub fn set_signal_mask(&self, arg: u64) -> Result<i32> {
        if arg == 0 {
            self.wait.set_sigmask(None);
            return Ok(0);
        }
        // kvm_signal_mask::len.
        let len = UserPtr::<u32>::new(arg).read()?;
        if len != wait::KERNEL_SIGSET_SIZE {
            return Err(Error::SignalMaskLength);
        }
        let set_addr = arg
            .checked_add(std::mem::size_of::<kvm_signal_mask>() as u64)
            .ok_or(Error::Fault)?;
        let mut set = [0u8; 8];
        UserBuf::new(set_addr, set.len()).read_into(&mut set)?;
        self.wait.set_sigmask(Some(u64::from_ne_bytes(set)));
        Ok(0)
    }

    /// `KVM_GET_REGS`: the general registers live in `kvm_run`.
    pub fn get_regs(&self) -> kvm_regs {
        let _l = self.lock();
        let mut r = kvm_regs::default();
        for (i, g) in r.gprs.iter_mut().enumerate() {
            *g = self.run.get_u64(off::GPRS, i);
        }
        r
    }

    /// `KVM_SET_REGS`.
    pub fn set_regs(&self, r: &kvm_regs) -> Result<i32> {
        let _l = self.lock();
        for (i, g) in r.gprs.iter().enumerate() {
            self.run.set_u64(off::GPRS, i, *g);
        }
        Ok(0)
    }

    /// `KVM_GET_SREGS`: access registers from `kvm_run`, control registers internal.
    pub fn get_sregs(&self) -> kvm_sregs {
        let st = self.lock();
        let mut s = kvm_sregs {
            crs: st.crs,
            ..Default::default()
        };
        for (i, a) in s.acrs.iter_mut().enumerate() {
            *a = self.run.get(off::ACRS + 4 * i);
        }
        drop(st);
        s
    }

    /// `KVM_SET_SREGS`: the `kvm_run` copy of the control registers stays stale until the next
    /// KVM_RUN exit.
    pub fn set_sregs(&self, s: &kvm_sregs) -> Result<i32> {
        let mut st = self.lock();
        for (i, a) in s.acrs.iter().enumerate() {
            self.run.set(off::ACRS + 4 * i, *a);
        }
        st.crs = s.crs;
        Ok(0)
    }

    /// `KVM_GET_FPU`: FPRs are the high halves of the vector registers.
    pub fn get_fpu(&self) -> kvm_fpu {
        let _l = self.lock();
        let mut f = kvm_fpu {
            fpc: self.run.get(off::FPC),
            ..Default::default()
        };
        for (i, r) in f.fprs.iter_mut().enumerate() {
            *r = self.run.get_u64(off::VRS, 2 * i);
        }
        f
    }

    /// `KVM_SET_FPU` (no validation, as in the kernel).
    pub fn set_fpu(&self, f: &kvm_fpu) -> Result<i32> {
        let _l = self.lock();
        self.run.set(off::FPC, f.fpc);
        for (i, r) in f.fprs.iter().enumerate() {
            self.run.set_u64(off::VRS, 2 * i, *r);
        }
        Ok(0)
    }

    /// `KVM_S390_SET_INITIAL_PSW`: writes the `kvm_run` PSW of a stopped vCPU.
    pub fn set_initial_psw(&self, psw: &kvm_s390_psw) -> Result<i32> {
        let _st = self.lock();
        if !self.is_stopped() {
            return Err(Error::VcpuNotStopped);
        }
        self.run.set(off::PSW_MASK, psw.mask);
        self.run.set(off::PSW_ADDR, psw.addr);
        Ok(0)
    }

    fn normal_reset(&self, vm: &Vm, st: &mut VcpuState) {
        st.psw.0 &= !PSW_MASK_RI;
        st.pfault_token = KVM_S390_PFAULT_TOKEN_INVALID;
        self.run.zero(off::RICCB, 64);
        if !vm.user_cpu_state_ctrl() {
            self.set_stopped(true);
        }
        self.irqs().clear();
    }

    fn initial_reset(&self, vm: &Vm, st: &mut VcpuState) {
        self.normal_reset(vm, st);
        st.psw = (0, 0);
        st.prefix = 0;
        st.cputm = 0;
        st.ckc = 0;
        st.crs = [0; 16];
        st.crs[0] = CR0_INITIAL_MASK;
        st.crs[14] = CR14_INITIAL_MASK;
        for (i, cr) in st.crs.iter().enumerate() {
            self.run.set_u64(off::CRS, i, *cr);
        }
        self.run.set(off::PSW_MASK, 0u64);
        self.run.set(off::PSW_ADDR, 0u64);
        for o in [off::TODPR, off::CPUTM, off::CKC, off::PP] {
            self.run.set(o, 0u64);
        }
        self.run.set(off::GBEA, 1u64);
        self.run.set(off::FPC, 0u32);
        st.gbea = 1;
        st.pp = 0;
        st.bpbc = false;
        st.todpr = 0;
    }

    /// `KVM_S390_NORMAL_RESET`, `KVM_S390_INITIAL_RESET` and `KVM_S390_CLEAR_RESET`.
    pub fn reset(&self, vm: &Vm, request: u32) -> Result<i32> {
        let mut st = self.lock();
        match request {
            KVM_S390_NORMAL_RESET => self.normal_reset(vm, &mut st),
            KVM_S390_INITIAL_RESET => self.initial_reset(vm, &mut st),
            _ => {
                self.initial_reset(vm, &mut st);
                self.run.zero(off::GPRS, 128);
                self.run.zero(off::VRS, 512);
                self.run.zero(off::ACRS, 64);
                self.run.zero(off::GSCB, 32);
                self.run.set(off::ETOKEN, 0u64);
                self.run.set(off::ETOKEN_EXT, 0u64);
            }
        }
        Ok(0)
    }

    /// `KVM_GET_MP_STATE`.
    pub fn get_mp_state(&self) -> kvm_mp_state {
        let _st = self.lock();
        let stopped = self.is_stopped();
        let mp_state = if stopped {
            KVM_MP_STATE_STOPPED
        } else {
            KVM_MP_STATE_OPERATING
        };
        kvm_mp_state { mp_state }
    }

    /// `KVM_SET_MP_STATE`: any call hands CPU-state control to userspace for good.
    pub fn set_mp_state(&self, vm: &Vm, s: &kvm_mp_state) -> Result<i32> {
        vm.set_user_cpu_state_ctrl();
        let _st = self.lock();
        match s.mp_state {
            KVM_MP_STATE_STOPPED => self.set_stopped(true),
            KVM_MP_STATE_OPERATING => self.set_stopped(false),
            // LOAD only for protected vCPUs; CHECK_STOP is not supported.
            _ => return Err(Error::MpState),
        }
        Ok(0)
    }

    /// The 64-bit register behind a ONE_REG id other than TODPR and EPOCHDIFF.
    fn one_reg_slot(st: &mut VcpuState, id: u64) -> Result<&mut u64> {
        Ok(match id {
            KVM_REG_S390_CPU_TIMER => &mut st.cputm,
            KVM_REG_S390_CLOCK_COMP => &mut st.ckc,
            KVM_REG_S390_PFTOKEN => &mut st.pfault_token,
            KVM_REG_S390_PFCOMPARE => &mut st.pfault_compare,
            KVM_REG_S390_PFSELECT => &mut st.pfault_select,
            KVM_REG_S390_PP => &mut st.pp,
            KVM_REG_S390_GBEA => &mut st.gbea,
            _ => return Err(Error::OneRegId),
        })
    }

    /// `KVM_GET_ONE_REG`: the value is written to `reg.addr` (TODPR as 32 bits).
    pub fn get_one_reg(&self, reg: &kvm_one_reg) -> Result<i32> {
        let mut st = self.lock();
        match reg.id {
            KVM_REG_S390_TODPR => UserPtr::<u32>::new(reg.addr).write(&(st.todpr as u32))?,
            KVM_REG_S390_EPOCHDIFF => UserPtr::<u64>::new(reg.addr).write(&self.epoch().0)?,
            id => {
                let v = *Self::one_reg_slot(&mut st, id)?;
                UserPtr::<u64>::new(reg.addr).write(&v)?
            }
        }
        Ok(0)
    }

    /// `KVM_SET_ONE_REG`: the value is read from `reg.addr` (TODPR as 32 bits).
    pub fn set_one_reg(&self, reg: &kvm_one_reg) -> Result<i32> {
        let mut st = self.lock();
        match reg.id {
            KVM_REG_S390_TODPR => st.todpr = u64::from(UserPtr::<u32>::new(reg.addr).read()?),
            KVM_REG_S390_EPOCHDIFF => {
                let epoch = UserPtr::<u64>::new(reg.addr).read()?;
                let (_, epdx) = self.epoch();
                self.set_epoch(epoch, epdx);
            }
            id => {
                let slot = Self::one_reg_slot(&mut st, id)?;
                *slot = UserPtr::<u64>::new(reg.addr).read()?;
            }
        }
        Ok(0)
    }

    /// This vCPU's TOD epoch difference and epoch index.
    pub fn epoch(&self) -> (u64, u8) {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets this vCPU's TOD epoch difference and epoch index. It takes only the epoch's own
    /// lock (never the vCPU mutex), so a TOD change reaches every vCPU even while their
    /// guest functions run, as the kernel's `kvm_s390_set_tod_clock` updates every SIE block.
    pub fn set_epoch(&self, epoch: u64, epdx: u8) {
        *self.epoch.lock().unwrap_or_else(|e| e.into_inner()) = (epoch, epdx);
    }

    /// `KVM_ENABLE_CAP` on the vCPU: only KVM_CAP_S390_CSS_SUPPORT.
    pub fn enable_cap(&self, vm: &Vm, cap: &kvm_enable_cap) -> Result<i32> {
        if cap.flags != 0 || cap.cap != KVM_CAP_S390_CSS_SUPPORT {
            return Err(Error::VcpuCap);
        }
        vm.state().css_support = true;
        Ok(0)
    }

    /// `KVM_RUN`: syncs registers in, delivers pending interrupts, then runs the guest: its
    /// guest function if one is registered, else its guest code on the instruction executor
    /// (`cpu_run`; a vCPU in an enabled wait sleeps there until an interrupt or a signal). Syncs the registers out on the way back. `immediate_exit` returns -1/EINTR
    /// before anything else, as `kvm_arch_vcpu_ioctl_run` does without `wants_to_run`.
    pub fn run(&self, vm: &Vm, arg: u64) -> Result<i32> {
        if arg != 0 {
            return Err(Error::RunInvalid);
        }
        // From here to the return no signal handler runs except where the run takes its
        // signals (under the run mask): one that arrives after the immediate_exit check ends
        // the run instead of being handled and slept through.
        let held = wait::sig::Held::hold();
        let run_mask = self.wait.sigmask().unwrap_or(held.thread_mask()) & !wait::sig::OPEN;
        self.set_running(true);
        let r = self.run_held(vm, run_mask);
        self.set_running(false);
        drop(held);
        r
    }

    fn run_held(&self, vm: &Vm, run_mask: u64) -> Result<i32> {
        let mut st = self.lock();
        if self.run.get::<u8>(off::IMMEDIATE_EXIT) != 0 {
            return Err(Error::Interrupted);
        }
        st.run_mask = run_mask;
        let valid: u64 = self.run.get(off::VALID_REGS);
        let dirty: u64 = self.run.get(off::DIRTY_REGS);
        if (valid | dirty) & !KVM_SYNC_S390_VALID_FIELDS != 0 {
            return Err(Error::RunInvalid);
        }
        if !vm.user_cpu_state_ctrl() {
            self.set_stopped(false);
        } else if self.is_stopped() {
            return Err(Error::RunInvalid);
        }
        self.sync_regs_in(vm, &mut st, dirty);
        self.wait.reset();
        // From here every return counts as an exit to userspace (`exit_userspace`, counted by
        // the kernel after __vcpu_run whatever its result).
        if let Err(e) = self.deliver_interrupts(vm, &mut st) {
            self.sync_regs_out(&st);
            self.stats.inc(stats::vcpu::EXIT_USERSPACE);
            return Err(e);
        }
        let exit = if let Some(stop) = self.stop_intercept(vm, &mut st) {
            stop
        } else {
            self.set_icpt(&mut st, None);
            match st.guest {
                Some(program) => guest::run_program(vm, self, &mut st, program),
                None => match self.run_cpu(vm, &mut st) {
                    Ok(exit) => exit,
                    Err(e) => {
                        self.sync_regs_out(&st);
                        self.stats.inc(stats::vcpu::EXIT_USERSPACE);
                        return Err(e);
                    }
                },
            }
        };
        let result = match exit {
            guest::Exit::Intercept { icptcode, ipa, ipb } => {
                if let Some(c) = intercept_counter(icptcode) {
                    self.stats.inc(c);
                }
                self.set_icpt(&mut st, Some((icptcode, ipa)));
                self.run.set(off::EXIT_REASON, KVM_EXIT_S390_SIEIC);
                self.run.set(off::EXIT, icptcode);
                self.run.set(off::EXIT + 2, ipa);
                self.run.set(off::EXIT + 4, ipb);
                Ok(0)
            }
            guest::Exit::Interrupted => {
                self.run.set(off::EXIT_REASON, KVM_EXIT_INTR);
                Err(Error::Interrupted)
            }
            guest::Exit::Invalid => {
                self.run.set(off::EXIT_REASON, KVM_EXIT_UNKNOWN);
                Err(Error::GuestMisuse)
            }
            guest::Exit::Reset { flags } => {
                self.run.set(off::EXIT_REASON, KVM_EXIT_S390_RESET);
                self.run.set(off::EXIT, flags);
                Ok(0)
            }
            guest::Exit::Stsi {
                addr,
                ar,
                fc,
                sel1,
                sel2,
            } => {
                // An instruction intercept handled by KVM, then handed on
                // (`insert_stsi_usr_data`); the reserved byte is left as it was.
                self.stats.inc(stats::vcpu::EXIT_INSTRUCTION);
                self.set_icpt(&mut st, Some((0x04, 0xb27d)));
                self.run.set(off::EXIT_REASON, KVM_EXIT_S390_STSI);
                self.run.set(off::EXIT, addr);
                self.run.set(off::EXIT + 8, ar);
                self.run.set(off::EXIT + 10, fc);
                self.run.set(off::EXIT + 11, sel1);
                self.run.set(off::EXIT + 12, sel2);
                Ok(0)
            }
            guest::Exit::Debug { addr, kind } => {
                // kvm_run.debug.arch: the PER address and the event type.
                self.run.set(off::EXIT_REASON, KVM_EXIT_DEBUG);
                self.run.set(off::EXIT, addr);
                self.run.set(off::EXIT + 8, kind);
                Ok(0)
            }
        };
        self.sync_regs_out(&st);
        self.stats.inc(stats::vcpu::EXIT_USERSPACE);
        result
    }

    /// Whether an interrupt is deliverable now (pending and enabled by the PSW and CRs).
    pub(crate) fn has_deliverable(&self, vm: &Vm, st: &VcpuState) -> bool {
        let fi = vm.float_irqs();
        let li = self.irqs();
        let pending = (fi.pending | li.pending) & !fi.masked;
        crate::irq::deliverable(pending, st.psw.0, &st.crs, fi.mchk.cr14 | li.mchk.cr14) != 0
    }

    fn sync_regs_in(&self, vm: &Vm, st: &mut VcpuState, dirty: u64) {
        let r = &self.run;
        if dirty & KVM_SYNC_PREFIX != 0 {
            st.prefix = r.get::<u64>(off::PREFIX) & 0x7fff_e000;
        }
        if dirty & KVM_SYNC_CRS != 0 {
            for (i, cr) in st.crs.iter_mut().enumerate() {
                *cr = r.get_u64(off::CRS, i);
            }
        }
        if dirty & KVM_SYNC_ARCH0 != 0 {
            st.cputm = r.get(off::CPUTM);
            st.ckc = r.get(off::CKC);
            st.todpr = r.get(off::TODPR);
            st.pp = r.get(off::PP);
            st.gbea = r.get(off::GBEA);
        }
        st.psw = (r.get(off::PSW_MASK), r.get(off::PSW_ADDR));
        if dirty & KVM_SYNC_PFAULT != 0 {
            st.pfault_token = r.get(off::PFT);
            st.pfault_select = r.get(off::PFS);
            st.pfault_compare = r.get(off::PFC);
        }
        if dirty & KVM_SYNC_DIAG318 != 0 {
            st.diag318 = r.get(off::DIAG318);
        }
        if dirty & KVM_SYNC_BPBC != 0 && vm.state().has_facility(82) {
            st.bpbc = r.get::<u8>(off::BPBC) & BPBC_BIT != 0;
        }
        r.set(off::DIRTY_REGS, 0u64);
    }

    fn sync_regs_out(&self, st: &VcpuState) {
        let r = &self.run;
        r.set(off::PSW_MASK, st.psw.0);
        r.set(off::PSW_ADDR, st.psw.1);
        r.set(off::PREFIX, st.prefix);
        for (i, cr) in st.crs.iter().enumerate() {
            r.set_u64(off::CRS, i, *cr);
        }
        r.set(off::CPUTM, st.cputm);
        r.set(off::CKC, st.ckc);
        r.set(off::PFT, st.pfault_token);
        r.set(off::PFS, st.pfault_select);
        r.set(off::PFC, st.pfault_compare);
        r.set(off::TODPR, st.todpr);
        r.set(off::PP, st.pp);
        r.set(off::GBEA, st.gbea);
        let b: u8 = r.get(off::BPBC);
        r.set(
            off::BPBC,
            if st.bpbc { b | BPBC_BIT } else { b & !BPBC_BIT },
        );
        r.set(off::DIAG318, st.diag318);
    }

    /// Queues a program interrupt as `kvm_s390_inject_prog_irq` does (merged with a pending
    /// one by the kernel's PER rules; the ILC from the current intercept when not valid).
    pub fn queue_pgm(&self, st: &mut VcpuState, pgm: kvm_s390_pgm_info) {
        let mut irq = crate::irq::zero_irq(u64::from(KVM_S390_PROGRAM_INT));
        irq.u.pgm = pgm;
        let ilen = Self::intercepted_ilen(st);
        // A program interrupt is always accepted.
        let _ = self.irqs().inject(&irq, self.is_stopped(), ilen, &|_| true);
    }

    /// `handle_stop`: with a SIGP STOP pending and no other interrupt pending for this vCPU,
    /// KVM_RUN exits with the stop intercept (0x28) after storing status if asked; the kernel
    /// stops the CPU itself unless userspace controls the CPU states.
    fn stop_intercept(&self, vm: &Vm, st: &mut VcpuState) -> Option<guest::Exit> {
        if !self.irqs().stop_pending() {
            return None;
        }
        let (stop, flags, others) = {
            let fi = vm.float_irqs();
            let li = self.irqs();
            let pending = (fi.pending | li.pending) & !fi.masked;
            let others =
                crate::irq::deliverable(pending, st.psw.0, &st.crs, fi.mchk.cr14 | li.mchk.cr14);
            (li.stop_pending(), li.stop.flags, others != 0)
        };
        if !stop || others {
            return None;
        }
        if flags & KVM_S390_STOP_FLAG_STORE_STATUS != 0 {
            drop_guard_store_status(self, vm, st);
        }
        if !vm.user_cpu_state_ctrl() {
            self.set_stopped(true);
        }
        Some(guest::Exit::Intercept {
            icptcode: guest::ICPT_STOP,
            ipa: 0,
            ipb: 0,
        })
    }

    /// Delivers every deliverable pending interrupt (crate::irq); EFAULT when the lowcore
    /// lies outside guest memory.
    pub(crate) fn deliver_interrupts(&self, vm: &Vm, st: &mut VcpuState) -> Result<()> {
        self.deliver_pending(vm, st)
    }

    /// `KVM_S390_STORE_STATUS` (`kvm_s390_store_status_unloaded`): stores the CPU's status
    /// into guest absolute storage. `KVM_S390_STORE_STATUS_NOADDR` stores the save area at
    /// 0x1200 and the architectural-mode id at 163; `_PREFIXED` the same relative to the
    /// prefix; any other value is the address of the save area itself (no mode id). Every
    /// field is attempted; EFAULT if any lies outside guest memory.
    pub fn store_status(&self, vm: &Vm, addr: u64) -> Result<i32> {
        let st = self.lock();
        self.store_status_locked(vm, &st, addr)
    }

    /// [`Vcpu::store_status`] with the vCPU mutex held.
    pub(crate) fn store_status_locked(&self, vm: &Vm, st: &VcpuState, addr: u64) -> Result<i32> {
        let slots = vm.memslots();
        let base = match addr {
            KVM_S390_STORE_STATUS_NOADDR => {
                vm.write_abs(&slots, lowcore::AR_MODE_ID, &[1])
                    .map_err(|_| Error::Fault)?;
                0
            }
            KVM_S390_STORE_STATUS_PREFIXED => {
                vm.write_abs(&slots, st.prefix + lowcore::AR_MODE_ID, &[1])
                    .map_err(|_| Error::Fault)?;
                st.prefix
            }
            a => a.wrapping_sub(lowcore::FPREGS_SAVE),
        };
        let r = &self.run;
        let u64s = |f: &dyn Fn(usize) -> u64| -> Vec<u8> {
            (0..16).flat_map(|i| f(i).to_be_bytes()).collect()
        };
        let fields: [(u64, Vec<u8>); 10] = [
            (lowcore::FPREGS_SAVE, u64s(&|i| r.get_u64(off::VRS, 2 * i))),
            (lowcore::GPREGS_SAVE, u64s(&|i| r.get_u64(off::GPRS, i))),
            (lowcore::PSW_SAVE, {
                let mut v = st.psw.0.to_be_bytes().to_vec();
                v.extend_from_slice(&st.psw.1.to_be_bytes());
                v
            }),
            (
                lowcore::PREFIX_SAVE,
                (st.prefix as u32).to_be_bytes().to_vec(),
            ),
            (
                lowcore::FP_CREG_SAVE,
                r.get::<u32>(off::FPC).to_be_bytes().to_vec(),
            ),
            (
                lowcore::TOD_PROGREG_SAVE,
                (st.todpr as u32).to_be_bytes().to_vec(),
            ),
            (lowcore::CPU_TIMER_SAVE, st.cputm.to_be_bytes().to_vec()),
            (
                lowcore::CLOCK_COMP_SAVE,
                (st.ckc >> 8).to_be_bytes().to_vec(),
            ),
            (
                lowcore::AREGS_SAVE,
                (0..16)
                    .flat_map(|i| r.get::<u32>(off::ACRS + 4 * i).to_be_bytes())
                    .collect(),
            ),
            (
                lowcore::CREGS_SAVE,
                st.crs.iter().flat_map(|c| c.to_be_bytes()).collect(),
            ),
        ];
        let mut ok = true;
        for (offset, bytes) in &fields {
            ok &= vm
                .write_abs(&slots, base.wrapping_add(*offset), bytes)
                .is_ok();
        }
        if ok {
            Ok(0)
        } else {
            Err(Error::Fault)
        }
    }

    /// `KVM_S390_GET_IRQ_STATE`: the pending local interrupts as `kvm_s390_irq` records (in
    /// the kernel's order); returns the number of bytes written, ENOBUFS when the buffer is too
    /// small (the records that fitted are written).
    pub fn get_irq_state(&self, s: &kvm_s390_irq_state) -> Result<i32> {
        if s.len == 0 {
            return Err(Error::IrqState);
        }
        let _st = self.lock();
        let records = self.irqs().records();
        let size = std::mem::size_of::<kvm_s390_irq>();
        let mut n = 0usize;
        for r in &records {
            if n + size > s.len as usize {
                return Err(Error::IrqBufferTooSmall);
            }
            UserBuf::new(s.buf.wrapping_add(n as u64), size).write_from(&irq_bytes(r))?;
            n += size;
        }
        Ok(n as i32)
    }
}

/// The 72 bytes of a `kvm_s390_irq` record: the type, then the payload union.
pub(crate) fn irq_bytes(r: &kvm_s390_irq) -> [u8; 72] {
    let mut b = [0u8; 72];
    b[..8].copy_from_slice(&r.type_.to_ne_bytes());
    b[8..].copy_from_slice(&r.payload());
    b
}

/// STORE STATUS at absolute 0 on behalf of a stop intercept (`kvm_s390_vcpu_store_status`
/// with NOADDR), with the vCPU mutex already held by KVM_RUN.
fn drop_guard_store_status(v: &Vcpu, vm: &Vm, st: &VcpuState) {
    let _ = v.store_status_locked(vm, st, KVM_S390_STORE_STATUS_NOADDR);
}
