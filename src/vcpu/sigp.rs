//! SIGNAL PROCESSOR as KVM handles it (`arch/s390/kvm/sigp.c`): the orders the kernel
//! executes itself, on the target vCPU's state and through the interrupt model, and the
//! ones it leaves to userspace (`-EOPNOTSUPP` there, the SIGP instruction intercept here).
//!
//! * The order code is the low byte of the second-operand address, the parameter the low
//!   word of R1 (odd R1) or R1+1 (even R1), the CPU address the low halfword of R3.
//! * With `KVM_CAP_S390_USER_SIGP` only SENSE, EXTERNAL CALL, EMERGENCY SIGNAL, CONDITIONAL
//!   EMERGENCY SIGNAL and SENSE RUNNING STATUS stay here; every other order is counted and
//!   goes to userspace without looking at the CPU address.
//! * SET ARCHITECTURE is refused with "invalid parameter" (always z/Architecture). Every
//!   other order needs an existing target (condition code 3 otherwise), and is busy
//!   (condition code 2) while the target has a SIGP STOP or a RESTART pending, CPU resets
//!   excepted. START, RESTART, the CPU resets and unknown orders then go to userspace.
//! * Status for condition code 1 replaces bits 32-63 of R1; bits 0-31 stay.
//!
//! Locking: the sender holds its own state (its `KVM_RUN`), and the kernel's orders reach
//! the target without the target's `vcpu->mutex`: through its local-interrupt lock and its
//! atomic flags (stopped, running), as `KVM_S390_IRQ` injection does, with the kick that
//! wakes a sleeping target. The two orders that read a stopped target's registers (STOP AND
//! STORE STATUS on a stopped CPU, STORE STATUS AT ADDRESS) release the sender's state first,
//! so no thread ever holds two vCPU states.

use parking_lot::MutexGuard;

use super::{Vcpu, VcpuState};
use crate::cpu::Cpu;
use crate::error::{Error, Result};
use crate::irq::zero_irq;
use crate::stats::vcpu as counter;
use crate::uapi::*;
use crate::vm::memslot::PAGE_SIZE;
use crate::vm::Vm;

/// Order codes (`asm/sigp.h`).
pub(crate) mod order {
    pub(crate) const SENSE: u8 = 0x01;
    pub(crate) const EXTERNAL_CALL: u8 = 0x02;
    pub(crate) const EMERGENCY_SIGNAL: u8 = 0x03;
    pub(crate) const START: u8 = 0x04;
    pub(crate) const STOP: u8 = 0x05;
    pub(crate) const RESTART: u8 = 0x06;
    pub(crate) const STOP_AND_STORE_STATUS: u8 = 0x09;
    pub(crate) const INITIAL_CPU_RESET: u8 = 0x0b;
    pub(crate) const CPU_RESET: u8 = 0x0c;
    pub(crate) const SET_PREFIX: u8 = 0x0d;
    pub(crate) const STORE_STATUS_AT_ADDRESS: u8 = 0x0e;
    pub(crate) const SET_ARCHITECTURE: u8 = 0x12;
    pub(crate) const COND_EMERGENCY_SIGNAL: u8 = 0x13;
    pub(crate) const SENSE_RUNNING: u8 = 0x15;
    pub(crate) const STORE_ADDITIONAL_STATUS: u8 = 0x17;
}

/// Status bits stored into R1 with condition code 1 (`SIGP_STATUS_*`).
pub(crate) mod status {
    pub(crate) const INVALID_ORDER: u32 = 0x0000_0002;
    pub(crate) const STOPPED: u32 = 0x0000_0040;
    pub(crate) const EXT_CALL_PENDING: u32 = 0x0000_0080;
    pub(crate) const INVALID_PARAMETER: u32 = 0x0000_0100;
    pub(crate) const INCORRECT_STATE: u32 = 0x0000_0200;
    pub(crate) const NOT_RUNNING: u32 = 0x0000_0400;
}

/// Condition codes (`SIGP_CC_*`).
const CC_ORDER_CODE_ACCEPTED: u8 = 0;
const CC_BUSY: u8 = 2;
const CC_NOT_OPERATIONAL: u8 = 3;

/// What an order came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Condition code 0, 2 or 3.
    Cc(u8),
    /// Condition code 1 with these status bits.
    Status(u32),
    /// Handled by userspace (the kernel's `-EOPNOTSUPP`).
    Userspace,
}

/// Where a SIGP went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sigp {
    /// Executed: condition code (and status) set, the guest continues.
    Done,
    /// `KVM_RUN` leaves with the instruction intercept.
    Userspace,
}

/// The orders KVM executes even with `KVM_CAP_S390_USER_SIGP`.
fn fast_order(code: u8) -> bool {
    matches!(
        code,
        order::SENSE
            | order::EXTERNAL_CALL
            | order::EMERGENCY_SIGNAL
            | order::COND_EMERGENCY_SIGNAL
            | order::SENSE_RUNNING
    )
}

/// The counter KVM bumps for an order it passes to userspace under `USER_SIGP`
/// (`handle_sigp_order_in_user_space`).
fn user_order_counter(code: u8) -> usize {
    match code {
        order::STOP => counter::INSTRUCTION_SIGP_STOP,
        order::STOP_AND_STORE_STATUS => counter::INSTRUCTION_SIGP_STOP_STORE_STATUS,
        order::STORE_STATUS_AT_ADDRESS => counter::INSTRUCTION_SIGP_STORE_STATUS,
        order::STORE_ADDITIONAL_STATUS => counter::INSTRUCTION_SIGP_STORE_ADTL_STATUS,
        order::SET_PREFIX => counter::INSTRUCTION_SIGP_PREFIX,
        order::START => counter::INSTRUCTION_SIGP_START,
        order::RESTART => counter::INSTRUCTION_SIGP_RESTART,
        order::INITIAL_CPU_RESET => counter::INSTRUCTION_SIGP_INIT_CPU_RESET,
        order::CPU_RESET => counter::INSTRUCTION_SIGP_CPU_RESET,
        _ => counter::INSTRUCTION_SIGP_UNKNOWN,
    }
}

/// A local interrupt of `type_` with `set` filling its payload.
fn irq(type_: u32, set: impl FnOnce(&mut kvm_s390_irq)) -> kvm_s390_irq {
    let mut i = zero_irq(u64::from(type_));
    set(&mut i);
    i
}

impl Vcpu {
    /// SIGNAL PROCESSOR intercepted in the supervisor state (`kvm_s390_handle_sigp`; the
    /// caller has done the privileged-operation check). `cpu` holds the sender's registers
    /// and PSW, which receive the status and the condition code.
    pub(crate) fn sigp(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        ipa: u16,
        ipb: u32,
    ) -> Result<Sigp> {
        let r1 = ((ipa >> 4) & 0xf) as u8;
        let r3 = (ipa & 0xf) as u8;
        let cpu_addr = cpu.r64(r3) as u16;
        // kvm_s390_get_base_disp_rs, truncated to the order's byte.
        let code = super::cpu_run::base_disp(cpu, ipb).0 as u8;
        if !fast_order(code) && vm.state().user_sigp {
            self.stats.inc(user_order_counter(code));
            log::debug!(
                "vCPU {}: SIGP order {code:#x} for CPU {cpu_addr} handled in userspace",
                self.id
            );
            return Ok(Sigp::Userspace);
        }
        let parameter = if r1 % 2 == 1 {
            cpu.r64(r1)
        } else {
            cpu.r64(r1 + 1)
        } as u32;
        let outcome = if code == order::SET_ARCHITECTURE {
            // Always in z/Architecture mode (czam): the order is refused.
            self.stats.inc(counter::INSTRUCTION_SIGP_ARCH);
            Outcome::Status(status::INVALID_PARAMETER)
        } else {
            self.sigp_dst(vm, st, code, cpu_addr, parameter)?
        };
        log::debug!(
            "vCPU {}: SIGP order {code:#x} to CPU {cpu_addr} (parameter {parameter:#x}): {outcome:?}",
            self.id
        );
        match outcome {
            Outcome::Cc(cc) => cpu.set_cc(cc),
            Outcome::Status(bits) => {
                cpu.set_r32(r1, bits);
                cpu.set_cc(1);
            }
            Outcome::Userspace => return Ok(Sigp::Userspace),
        }
        Ok(Sigp::Done)
    }

    /// `handle_sigp_dst`: an order for the CPU at `cpu_addr`.
    fn sigp_dst(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        code: u8,
        cpu_addr: u16,
        parameter: u32,
    ) -> Result<Outcome> {
        let Some(dst) = vm.vcpu_by_id(u32::from(cpu_addr)) else {
            return Ok(Outcome::Cc(CC_NOT_OPERATIONAL));
        };
        // SIGP STOP (AND STORE STATUS) and RESTART complete asynchronously on the target:
        // until it has taken them, every order but the CPU resets finds it busy.
        if code != order::INITIAL_CPU_RESET && code != order::CPU_RESET {
            let li = dst.irqs();
            if li.stop_pending() || li.restart_pending() {
                return Ok(Outcome::Cc(CC_BUSY));
            }
        }
        let stats = &self.stats;
        Ok(match code {
            order::SENSE => {
                stats.inc(counter::INSTRUCTION_SIGP_SENSE);
                let stopped = dst.is_stopped();
                // kvm_s390_ext_call_pending without the SIGP interpretation facility.
                let ext_call = dst.irqs().ext_call_pending();
                if !stopped && !ext_call {
                    Outcome::Cc(CC_ORDER_CODE_ACCEPTED)
                } else {
                    let mut bits = 0;
                    if ext_call {
                        bits |= status::EXT_CALL_PENDING;
                    }
                    if stopped {
                        bits |= status::STOPPED;
                    }
                    Outcome::Status(bits)
                }
            }
            order::EXTERNAL_CALL => {
                stats.inc(counter::INSTRUCTION_SIGP_EXTERNAL_CALL);
                let i = irq(KVM_S390_INT_EXTERNAL_CALL, |i| {
                    i.u.extcall = kvm_s390_extcall_info {
                        code: self.id as u16,
                    }
                });
                match dst.inject(vm, &i) {
                    Ok(()) => Outcome::Cc(CC_ORDER_CODE_ACCEPTED),
                    Err(Error::IrqBusy) => Outcome::Status(status::EXT_CALL_PENDING),
                    Err(e) => return Err(e),
                }
            }
            order::EMERGENCY_SIGNAL => {
                stats.inc(counter::INSTRUCTION_SIGP_EMERGENCY);
                self.emergency_signal(vm, &dst)?
            }
            order::STOP | order::STOP_AND_STORE_STATUS => {
                let flags = if code == order::STOP {
                    stats.inc(counter::INSTRUCTION_SIGP_STOP);
                    0
                } else {
                    stats.inc(counter::INSTRUCTION_SIGP_STOP_STORE_STATUS);
                    KVM_S390_STOP_FLAG_STORE_STATUS
                };
                let i = irq(KVM_S390_SIGP_STOP, |i| {
                    i.u.stop = kvm_s390_stop_info { flags }
                });
                // A stopped target has its status stored at once (its state is taken).
                match MutexGuard::unlocked(st, || dst.inject(vm, &i)) {
                    Ok(()) => Outcome::Cc(CC_ORDER_CODE_ACCEPTED),
                    Err(Error::IrqBusy) => Outcome::Cc(CC_BUSY),
                    Err(e) => return Err(e),
                }
            }
            order::STORE_STATUS_AT_ADDRESS => {
                stats.inc(counter::INSTRUCTION_SIGP_STORE_STATUS);
                if !dst.is_stopped() {
                    return Ok(Outcome::Status(status::INCORRECT_STATE));
                }
                let addr = u64::from(parameter & 0x7fff_fe00);
                match MutexGuard::unlocked(st, || dst.store_status(vm, addr)) {
                    Ok(_) => Outcome::Cc(CC_ORDER_CODE_ACCEPTED),
                    Err(Error::Fault) => Outcome::Status(status::INVALID_PARAMETER),
                    Err(e) => return Err(e),
                }
            }
            order::SET_PREFIX => {
                stats.inc(counter::INSTRUCTION_SIGP_PREFIX);
                let address = parameter & 0x7fff_e000;
                // The first page is enough: slots are at least 1 MiB, 1 MiB aligned.
                if vm
                    .memslots()
                    .by_gfn(u64::from(address) / PAGE_SIZE)
                    .is_none()
                {
                    return Ok(Outcome::Status(status::INVALID_PARAMETER));
                }
                let i = irq(KVM_S390_SIGP_SET_PREFIX, |i| {
                    i.u.prefix = kvm_s390_prefix_info { address }
                });
                // Only a stopped CPU takes a new prefix.
                match dst.inject(vm, &i) {
                    Ok(()) => Outcome::Cc(CC_ORDER_CODE_ACCEPTED),
                    Err(Error::IrqBusy) => Outcome::Status(status::INCORRECT_STATE),
                    Err(e) => return Err(e),
                }
            }
            order::COND_EMERGENCY_SIGNAL => {
                stats.inc(counter::INSTRUCTION_SIGP_COND_EMERGENCY);
                self.cond_emergency_signal(vm, st, &dst, parameter as u16)?
            }
            order::SENSE_RUNNING => {
                stats.inc(counter::INSTRUCTION_SIGP_SENSE_RUNNING);
                if !vm.has_facility(9) {
                    Outcome::Status(status::INVALID_ORDER)
                } else if dst.is_running() {
                    Outcome::Cc(CC_ORDER_CODE_ACCEPTED)
                } else {
                    Outcome::Status(status::NOT_RUNNING)
                }
            }
            order::START | order::RESTART => {
                stats.inc(if code == order::START {
                    counter::INSTRUCTION_SIGP_START
                } else {
                    counter::INSTRUCTION_SIGP_RESTART
                });
                // __prepare_sigp_re_start: userspace starts the CPU, unless a stop is
                // (now) pending.
                if dst.irqs().stop_pending() {
                    Outcome::Cc(CC_BUSY)
                } else {
                    Outcome::Userspace
                }
            }
            order::INITIAL_CPU_RESET => {
                stats.inc(counter::INSTRUCTION_SIGP_INIT_CPU_RESET);
                Outcome::Userspace
            }
            order::CPU_RESET => {
                stats.inc(counter::INSTRUCTION_SIGP_CPU_RESET);
                Outcome::Userspace
            }
            _ => {
                stats.inc(counter::INSTRUCTION_SIGP_UNKNOWN);
                Outcome::Userspace
            }
        })
    }

    /// `__inject_sigp_emergency`: an emergency signal from this CPU made pending on `dst`.
    fn emergency_signal(&self, vm: &Vm, dst: &Vcpu) -> Result<Outcome> {
        let i = irq(KVM_S390_INT_EMERGENCY, |i| {
            i.u.emerg = kvm_s390_emerg_info {
                code: self.id as u16,
            }
        });
        dst.inject(vm, &i)?;
        Ok(Outcome::Cc(CC_ORDER_CODE_ACCEPTED))
    }

    /// `__sigp_conditional_emergency`. The kernel asks whether the *sending* vCPU is
    /// stopped or idle (`vcpu`, not `dst_vcpu`); the sender is executing this SIGP, so it
    /// is neither and the signal is always sent. The target's PSW and ASNs are read only
    /// in the other case, with the sender's state released.
    fn cond_emergency_signal(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        dst: &Vcpu,
        asn: u16,
    ) -> Result<Outcome> {
        const PSW_INT_MASK: u64 = crate::irq::PSW_MASK_IO | crate::irq::PSW_MASK_EXT;
        let idle = false;
        let send = !self.is_stopped() || {
            let (psw, cr3, cr4) = MutexGuard::unlocked(st, || {
                let d = dst.lock();
                (d.psw, d.crs[3], d.crs[4])
            });
            let (p_asn, s_asn) = (cr4 as u16, cr3 as u16);
            psw.0 & PSW_INT_MASK != PSW_INT_MASK
                || (idle && psw.1 != 0)
                || (!idle && (asn == p_asn || asn == s_asn))
        };
        if send {
            self.emergency_signal(vm, dst)
        } else {
            Ok(Outcome::Status(status::INCORRECT_STATE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_sigp_keeps_exactly_the_fast_orders() {
        let fast: Vec<u8> = (0..=255u8).filter(|c| fast_order(*c)).collect();
        assert_eq!(fast, [0x01, 0x02, 0x03, 0x13, 0x15]);
        assert_eq!(
            user_order_counter(order::STOP),
            counter::INSTRUCTION_SIGP_STOP
        );
        assert_eq!(
            user_order_counter(order::STORE_ADDITIONAL_STATUS),
            counter::INSTRUCTION_SIGP_STORE_ADTL_STATUS
        );
        assert_eq!(user_order_counter(0x16), counter::INSTRUCTION_SIGP_UNKNOWN);
    }
}
