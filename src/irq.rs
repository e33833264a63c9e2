//! The interrupt model (`arch/s390/kvm/interrupt.c`): floating interrupts per VM, local
//! interrupts per vCPU, their injection rules, the interrupt state ioctls and delivery into the
//! lowcore.
//!
//! Pending interrupts are kept as the kernel keeps them: a bitmap of `IRQ_PEND_*` types
//! (ascending priority), with per-type payloads. Floating I/O, virtio and pfault-done
//! interrupts queue in lists (I/O by ISC), service signals and floating machine checks merge
//! into one pending condition. Delivery picks the highest-priority deliverable type, writes
//! the interruption code and parameters into the lowcore at the prefix, stores the old PSW and
//! loads the new PSW, and repeats while anything is deliverable.
//!
//! Locks: a VM's floating state and a vCPU's local state each sit behind their own mutex (the
//! kernel's `fi->lock` and `li->lock`), taken after the vCPU state mutex and in the order
//! floating → local; neither is held while guest memory is written.

use std::collections::VecDeque;

use crate::addr::RealAddr;
use crate::error::{Error, Result};
use crate::stats;
use crate::uapi::*;
use crate::vcpu::{Vcpu, VcpuState};
use crate::vm::Vm;

// Pending-interrupt types, in ascending order of priority (`enum irq_types`).
pub(crate) const IRQ_PEND_SET_PREFIX: u32 = 0;
pub(crate) const IRQ_PEND_RESTART: u32 = 1;
pub(crate) const IRQ_PEND_SIGP_STOP: u32 = 2;
pub(crate) const IRQ_PEND_IO_ISC_7: u32 = 3;
pub(crate) const IRQ_PEND_IO_ISC_0: u32 = 10;
pub(crate) const IRQ_PEND_VIRTIO: u32 = 11;
pub(crate) const IRQ_PEND_PFAULT_DONE: u32 = 12;
pub(crate) const IRQ_PEND_PFAULT_INIT: u32 = 13;
pub(crate) const IRQ_PEND_EXT_HOST: u32 = 14;
pub(crate) const IRQ_PEND_EXT_SERVICE: u32 = 15;
pub(crate) const IRQ_PEND_EXT_SERVICE_EV: u32 = 16;
pub(crate) const IRQ_PEND_EXT_TIMING: u32 = 17;
pub(crate) const IRQ_PEND_EXT_CPU_TIMER: u32 = 18;
pub(crate) const IRQ_PEND_EXT_CLOCK_COMP: u32 = 19;
pub(crate) const IRQ_PEND_EXT_EXTERNAL: u32 = 20;
pub(crate) const IRQ_PEND_EXT_EMERGENCY: u32 = 21;
pub(crate) const IRQ_PEND_EXT_MALFUNC: u32 = 22;
pub(crate) const IRQ_PEND_EXT_IRQ_KEY: u32 = 23;
pub(crate) const IRQ_PEND_MCHK_REP: u32 = 24;
pub(crate) const IRQ_PEND_PROG: u32 = 25;
pub(crate) const IRQ_PEND_MCHK_EX: u32 = 27;
pub(crate) const IRQ_PEND_COUNT: u32 = 28;

const fn bit(t: u32) -> u64 {
    1 << t
}

/// Every I/O type (ISC 7 .. ISC 0).
pub(crate) const IRQ_PEND_IO_MASK: u64 = 0xff << IRQ_PEND_IO_ISC_7;
/// Every external-interrupt type.
pub(crate) const IRQ_PEND_EXT_MASK: u64 = bit(IRQ_PEND_EXT_IRQ_KEY)
    | bit(IRQ_PEND_EXT_CLOCK_COMP)
    | bit(IRQ_PEND_EXT_CPU_TIMER)
    | bit(IRQ_PEND_EXT_MALFUNC)
    | bit(IRQ_PEND_EXT_EMERGENCY)
    | bit(IRQ_PEND_EXT_EXTERNAL)
    | bit(IRQ_PEND_EXT_TIMING)
    | bit(IRQ_PEND_EXT_HOST)
    | bit(IRQ_PEND_EXT_SERVICE)
    | bit(IRQ_PEND_EXT_SERVICE_EV)
    | bit(IRQ_PEND_VIRTIO)
    | bit(IRQ_PEND_PFAULT_INIT)
    | bit(IRQ_PEND_PFAULT_DONE);
/// Both machine-check types.
pub(crate) const IRQ_PEND_MCHK_MASK: u64 = bit(IRQ_PEND_MCHK_REP) | bit(IRQ_PEND_MCHK_EX);

/// The highest interruption subclass.
pub(crate) const MAX_ISC: u32 = 7;
/// Floating I/O interrupts a VM may have queued (`KVM_S390_MAX_FLOAT_IRQS`).
pub(crate) const KVM_S390_MAX_FLOAT_IRQS: usize = 266_250;
/// Virtio interrupts a VM may have queued.
pub(crate) const KVM_S390_MAX_VIRTIO_IRQS: usize = 87_381;
/// Pfault-done interrupts a VM may have queued (`ASYNC_PF_PER_VCPU * KVM_MAX_VCPUS`).
pub(crate) const MAX_PFAULT_DONE: usize = 64 * 255;
/// The largest SET_IRQ_STATE buffer (`VCPU_IRQS_MAX_BUF`: KVM_MAX_VCPUS + LOCAL_IRQS records).
pub(crate) const VCPU_IRQS_MAX_BUF: u32 = (std::mem::size_of::<kvm_s390_irq>() * (255 + 32)) as u32;
/// Source CPU addresses an emergency signal can carry (`KVM_MAX_VCPUS`, rounded to words).
const EMERG_WORDS: usize = 4;

// Machine-check interruption-code bits (`MCHK_*_BIT`, LSB-0).
const MCHK_EX_MASK: u64 = (1 << 63) | (1 << 62);
const MCHK_REP_MASK: u64 = (1 << 56) | (1 << 58) | (1 << 55);
/// CR14 channel-report-pending subclass (`CR_PENDING_SUBCLASS`).
const CR14_PENDING_SUBCLASS: u64 = 1 << 28;

// PSW and CR0 bits (host masks of the MSB-0 architecture bits).
pub(crate) const PSW_MASK_EXT: u64 = 0x0100_0000_0000_0000;
pub(crate) const PSW_MASK_IO: u64 = 0x0200_0000_0000_0000;
pub(crate) const PSW_MASK_MCHECK: u64 = 0x0004_0000_0000_0000;
const CR0_CLOCK_COMPARATOR_SIGN: u64 = 1 << (63 - 10);
const CR0_EMERGENCY_SIGNAL_SUBMASK: u64 = 1 << (63 - 49);
const CR0_EXTERNAL_CALL_SUBMASK: u64 = 1 << (63 - 50);
const CR0_CLOCK_COMPARATOR_SUBMASK: u64 = 1 << (63 - 52);
const CR0_CPU_TIMER_SUBMASK: u64 = 1 << (63 - 53);
const CR0_SERVICE_SIGNAL_SUBMASK: u64 = 1 << (63 - 54);

// External-interruption codes.
const EXT_IRQ_EMERGENCY_SIG: u16 = 0x1201;
const EXT_IRQ_EXTERNAL_CALL: u16 = 0x1202;
const EXT_IRQ_CLK_COMP: u16 = 0x1004;
const EXT_IRQ_CPU_TIMER: u16 = 0x1005;
const EXT_IRQ_SERVICE_SIG: u16 = 0x2401;
const EXT_IRQ_CP_SERVICE: u16 = 0x2603;
const PFAULT_INIT: u16 = 0x0600;
const PFAULT_DONE: u16 = 0x0680;
const VIRTIO_PARAM: u16 = 0x0d00;
const SCCB_MASK: u32 = 0xffff_fff8;
const SCCB_EVENT_PENDING: u32 = 0x3;

/// Lowcore offsets (real addresses) written by delivery.
pub(crate) mod lc {
    pub(crate) const EXT_PARAMS: u64 = 0x80;
    pub(crate) const EXT_CPU_ADDR: u64 = 0x84;
    pub(crate) const EXT_INT_CODE: u64 = 0x86;
    pub(crate) const PGM_ILC: u64 = 0x8c;
    pub(crate) const PGM_INT_CODE: u64 = 0x8e;
    pub(crate) const DATA_EXC_CODE: u64 = 0x90;
    pub(crate) const MON_CLASS_NR: u64 = 0x94;
    pub(crate) const PER_CODE: u64 = 0x96;
    pub(crate) const PER_ATMID: u64 = 0x97;
    pub(crate) const PER_ADDRESS: u64 = 0x98;
    pub(crate) const EXC_ACCESS_ID: u64 = 0xa0;
    pub(crate) const PER_ACCESS_ID: u64 = 0xa1;
    pub(crate) const OP_ACCESS_ID: u64 = 0xa2;
    pub(crate) const AR_MODE_ID: u64 = 0xa3;
    pub(crate) const TRANS_EXC_CODE: u64 = 0xa8;
    pub(crate) const MON_CODE: u64 = 0xb0;
    pub(crate) const SUBCHANNEL_ID: u64 = 0xb8;
    pub(crate) const SUBCHANNEL_NR: u64 = 0xba;
    pub(crate) const IO_INT_PARM: u64 = 0xbc;
    pub(crate) const IO_INT_WORD: u64 = 0xc0;
    pub(crate) const MCCK_CODE: u64 = 0xe8;
    pub(crate) const EXT_DAMAGE_CODE: u64 = 0xf4;
    pub(crate) const MCCK_FAIL_STOR_ADDR: u64 = 0xf8;
    pub(crate) const PGM_LAST_BREAK: u64 = 0x110;
    pub(crate) const RESTART_OLD_PSW: u64 = 0x120;
    pub(crate) const EXT_OLD_PSW: u64 = 0x130;
    pub(crate) const PGM_OLD_PSW: u64 = 0x150;
    pub(crate) const MCK_OLD_PSW: u64 = 0x160;
    pub(crate) const IO_OLD_PSW: u64 = 0x170;
    pub(crate) const RESTART_PSW: u64 = 0x1a0;
    pub(crate) const EXT_NEW_PSW: u64 = 0x1b0;
    pub(crate) const PGM_NEW_PSW: u64 = 0x1d0;
    pub(crate) const MCK_NEW_PSW: u64 = 0x1e0;
    pub(crate) const IO_NEW_PSW: u64 = 0x1f0;
    pub(crate) const EXT_PARAMS2: u64 = 0x11b8;
    pub(crate) const FPREGS_SAVE_AREA: u64 = 0x1200;
    pub(crate) const GPREGS_SAVE_AREA: u64 = 0x1280;
    pub(crate) const PSW_SAVE_AREA: u64 = 0x1300;
    pub(crate) const FP_CREG_SAVE_AREA: u64 = 0x131c;
    pub(crate) const TOD_PROGREG_SAVE_AREA: u64 = 0x1324;
    pub(crate) const CPU_TIMER_SAVE_AREA: u64 = 0x1328;
    pub(crate) const CLOCK_COMP_SAVE_AREA: u64 = 0x1330;
    pub(crate) const AREGS_SAVE_AREA: u64 = 0x1340;
    pub(crate) const CREGS_SAVE_AREA: u64 = 0x1380;
}

// Program-interruption codes whose delivery stores extra information or nullifies.
const PGM_SPACE_SWITCH: u16 = 0x1c;
const PGM_AFX_TRANSLATION: u16 = 0x20;
const PGM_ASX_TRANSLATION: u16 = 0x21;
const PGM_LX_TRANSLATION: u16 = 0x22;
const PGM_EX_TRANSLATION: u16 = 0x23;
const PGM_PRIMARY_AUTHORITY: u16 = 0x24;
const PGM_SECONDARY_AUTHORITY: u16 = 0x25;
const PGM_LFX_TRANSLATION: u16 = 0x26;
const PGM_LSX_TRANSLATION: u16 = 0x27;
const PGM_ALEN_TRANSLATION: u16 = 0x29;
const PGM_ALE_SEQUENCE: u16 = 0x2a;
const PGM_ASTE_VALIDITY: u16 = 0x2b;
const PGM_ASTE_SEQUENCE: u16 = 0x2c;
const PGM_EXTENDED_AUTHORITY: u16 = 0x2d;
const PGM_LSTE_SEQUENCE: u16 = 0x2e;
const PGM_ASTE_INSTANCE: u16 = 0x2f;
const PGM_STACK_FULL: u16 = 0x30;
const PGM_STACK_EMPTY: u16 = 0x31;
const PGM_STACK_SPECIFICATION: u16 = 0x32;
const PGM_STACK_TYPE: u16 = 0x33;
const PGM_STACK_OPERATION: u16 = 0x34;
const PGM_ASCE_TYPE: u16 = 0x38;
const PGM_REGION_FIRST_TRANS: u16 = 0x39;
const PGM_REGION_SECOND_TRANS: u16 = 0x3a;
const PGM_REGION_THIRD_TRANS: u16 = 0x3b;
const PGM_SEGMENT_TRANSLATION: u16 = 0x10;
const PGM_PAGE_TRANSLATION: u16 = 0x11;
const PGM_MONITOR: u16 = 0x40;
const PGM_PER: u16 = 0x80;
const PGM_TRACE_TABLE: u16 = 0x16;
const PGM_CRYPTO_OPERATION: u16 = 0x119;
const PGM_VECTOR_PROCESSING: u16 = 0x1b;
const PGM_DATA: u16 = 0x07;
const PGM_PROTECTION: u16 = 0x04;

/// One queued floating interrupt (`struct kvm_s390_interrupt_info`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Inti {
    /// Its `KVM_S390_*` type.
    pub type_: u32,
    pub io: kvm_s390_io_info,
    pub ext: kvm_s390_ext_info,
    pub mchk: kvm_s390_mchk_info,
}

// Floating lists: I/O ISC 0..7, pfault done, virtio (`FIRQ_LIST_*`).
const FIRQ_LIST_PFAULT: usize = 8;
const FIRQ_LIST_VIRTIO: usize = 9;
const FIRQ_LIST_COUNT: usize = 10;

/// A VM's floating interrupts (`struct kvm_s390_float_interrupt`).
#[derive(Debug, Default)]
pub struct FloatIrqs {
    pub pending: u64,
    pub masked: u64,
    lists: [VecDeque<Inti>; FIRQ_LIST_COUNT],
    counter_io: usize,
    pub srv_signal: kvm_s390_ext_info,
    pub mchk: kvm_s390_mchk_info,
    next_rr_cpu: usize,
}

/// Adapter-interruption suppression state (`simm`/`nimm`, under the kernel's `ais_lock`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ais {
    pub simm: u8,
    pub nimm: u8,
}

/// `AIS_MODE_MASK(isc)`.
pub(crate) const fn ais_mode_mask(isc: u8) -> u8 {
    0x80 >> isc
}

/// A registered I/O adapter (`struct s390_io_adapter`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Adapter {
    pub id: u32,
    pub isc: u8,
    pub maskable: bool,
    pub masked: bool,
    pub swap: bool,
    pub suppressible: bool,
}

/// Adapters a VM can register (`MAX_S390_IO_ADAPTERS`).
pub(crate) const MAX_S390_IO_ADAPTERS: usize = ((MAX_ISC + 1) * 8) as usize;

/// A vCPU's local interrupts (`struct kvm_s390_local_interrupt`).
#[derive(Debug, Default, Clone)]
pub struct LocalIrqs {
    pub pending: u64,
    pub emerg: [u64; EMERG_WORDS],
    pub pgm: kvm_s390_pgm_info,
    pub ext: kvm_s390_ext_info,
    pub extcall: kvm_s390_extcall_info,
    pub prefix: kvm_s390_prefix_info,
    pub stop: kvm_s390_stop_info,
    pub mchk: kvm_s390_mchk_info,
}

/// `isc_to_isc_bits`: the CR6 bit of an ISC.
fn isc_to_isc_bits(isc: u32) -> u64 {
    (0x80u64 >> isc) << 24
}

/// `isc_to_int_word`.
pub fn isc_to_int_word(isc: u8) -> u32 {
    (u32::from(isc) << 27) | 0x8000_0000
}

fn int_word_to_isc(word: u32) -> usize {
    ((word & 0x3800_0000) >> 27) as usize
}

fn isc_to_irq_type(isc: usize) -> u32 {
    IRQ_PEND_IO_ISC_0 - isc as u32
}

fn is_io(type_: u32) -> bool {
    type_ <= KVM_S390_INT_IO_MAX
}

/// The instruction length of an instruction with first byte `op` (`insn_length`).
fn insn_length(op: u8) -> u8 {
    (((op as u32 + 64) >> 7) + 1) as u8 * 2
}

impl FloatIrqs {
    /// `__inject_vm` minus the kick: queues `inti`, or refuses it.
    pub fn inject(&mut self, inti: Inti) -> Result<()> {
        match inti.type_ {
            KVM_S390_MCHK => {
                self.mchk.cr14 |= inti.mchk.cr14 & CR14_PENDING_SUBCLASS;
                self.mchk.mcic |= inti.mchk.mcic;
                self.pending |= bit(IRQ_PEND_MCHK_REP);
            }
            KVM_S390_INT_VIRTIO => {
                if self.lists[FIRQ_LIST_VIRTIO].len() >= KVM_S390_MAX_VIRTIO_IRQS {
                    return Err(Error::IrqBusy);
                }
                self.lists[FIRQ_LIST_VIRTIO].push_back(inti);
                self.pending |= bit(IRQ_PEND_VIRTIO);
            }
            KVM_S390_INT_SERVICE => {
                self.srv_signal.ext_params |= inti.ext.ext_params & SCCB_EVENT_PENDING;
                if self.srv_signal.ext_params & SCCB_EVENT_PENDING != 0 {
                    self.pending |= bit(IRQ_PEND_EXT_SERVICE_EV);
                }
                // A second SCCB while one is pending is silently dropped, as in the kernel.
                if self.srv_signal.ext_params & SCCB_MASK == 0 {
                    self.srv_signal.ext_params |= inti.ext.ext_params & SCCB_MASK;
                    self.pending |= bit(IRQ_PEND_EXT_SERVICE);
                }
            }
            KVM_S390_INT_PFAULT_DONE => {
                if self.lists[FIRQ_LIST_PFAULT].len() >= MAX_PFAULT_DONE {
                    return Err(Error::IrqBusy);
                }
                self.lists[FIRQ_LIST_PFAULT].push_back(inti);
                self.pending |= bit(IRQ_PEND_PFAULT_DONE);
            }
            t if is_io(t) => {
                if self.counter_io >= KVM_S390_MAX_FLOAT_IRQS {
                    return Err(Error::IrqBusy);
                }
                self.counter_io += 1;
                let isc = int_word_to_isc(inti.io.io_int_word);
                self.lists[isc].push_back(inti);
                self.pending |= bit(isc_to_irq_type(isc));
            }
            _ => return Err(Error::IrqType),
        }
        Ok(())
    }

    /// `kvm_s390_clear_float_irqs`.
    pub fn clear(&mut self) {
        self.masked = 0;
        self.pending = 0;
        self.srv_signal = Default::default();
        self.mchk = Default::default();
        for l in &mut self.lists {
            l.clear();
        }
        self.counter_io = 0;
    }

    /// `get_all_floating_irqs`: the queued interrupts in list order, then the service
    /// signal, then the floating machine check; None when more than `max` would be needed.
    pub fn all(&self, max: usize) -> Option<Vec<kvm_s390_irq>> {
        let mut out = Vec::new();
        for list in &self.lists {
            for inti in list {
                if out.len() == max {
                    return None;
                }
                let mut irq = zero_irq(u64::from(inti.type_));
                match inti.type_ {
                    KVM_S390_INT_PFAULT_INIT | KVM_S390_INT_PFAULT_DONE | KVM_S390_INT_VIRTIO => {
                        irq.u.ext = inti.ext
                    }
                    t if is_io(t) => irq.u.io = inti.io,
                    _ => {}
                }
                out.push(irq);
            }
        }
        if self.pending & (bit(IRQ_PEND_EXT_SERVICE) | bit(IRQ_PEND_EXT_SERVICE_EV)) != 0 {
            if out.len() == max {
                return None;
            }
            let mut irq = zero_irq(u64::from(KVM_S390_INT_SERVICE));
            irq.u.ext = self.srv_signal;
            out.push(irq);
        }
        if self.pending & bit(IRQ_PEND_MCHK_REP) != 0 {
            if out.len() == max {
                return None;
            }
            let mut irq = zero_irq(u64::from(KVM_S390_MCHK));
            irq.u.mchk = self.mchk;
            out.push(irq);
        }
        Some(out)
    }

    /// `get_io_int` over every ISC in `isc_mask` (CR6 format), matching `schid` when non-zero:
    /// removes and returns the first match.
    pub fn take_io(&mut self, isc_mask: u64, schid: u32) -> Option<Inti> {
        let (id, nr) = ((schid >> 16) as u16, schid as u16);
        for isc in 0..=MAX_ISC as usize {
            if isc_mask & isc_to_isc_bits(isc as u32) == 0 {
                continue;
            }
            let list = &mut self.lists[isc];
            let pos = list
                .iter()
                .position(|i| schid == 0 || (i.io.subchannel_id == id && i.io.subchannel_nr == nr));
            if let Some(p) = pos {
                let inti = list.remove(p);
                self.counter_io -= 1;
                if self.lists[isc].is_empty() {
                    self.pending &= !bit(isc_to_irq_type(isc));
                }
                return inti;
            }
        }
        None
    }
}

/// A `kvm_s390_irq` of `type_` with a zero payload.
pub fn zero_irq(type_: u64) -> kvm_s390_irq {
    kvm_s390_irq {
        type_,
        u: kvm_s390_irq_u { reserved: [0; 64] },
    }
}

/// A `kvm_s390_irq` from its 72-byte record (native-endian type, then the payload bytes).
pub fn irq_from_bytes(b: &[u8]) -> kvm_s390_irq {
    let mut t = [0u8; 8];
    t.copy_from_slice(&b[..8]);
    let mut payload = [0u8; 64];
    payload.copy_from_slice(&b[8..72]);
    kvm_s390_irq {
        type_: u64::from_ne_bytes(t),
        u: kvm_s390_irq_u { reserved: payload },
    }
}

/// `kvm_s390_inject_vm`'s conversion of the legacy `kvm_s390_interrupt` to a floating
/// interrupt.
pub fn inti_from_interrupt(s: &kvm_s390_interrupt) -> Result<Inti> {
    let mut inti = Inti {
        type_: s.type_,
        ..Default::default()
    };
    match s.type_ {
        KVM_S390_INT_VIRTIO => {
            inti.ext.ext_params = s.parm;
            inti.ext.ext_params2 = s.parm64;
        }
        KVM_S390_INT_SERVICE => inti.ext.ext_params = s.parm,
        KVM_S390_INT_PFAULT_DONE => inti.ext.ext_params2 = s.parm64,
        KVM_S390_MCHK => {
            inti.mchk.cr14 = u64::from(s.parm);
            inti.mchk.mcic = s.parm64;
        }
        t if is_io(t) => {
            inti.io.subchannel_id = (s.parm >> 16) as u16;
            inti.io.subchannel_nr = s.parm as u16;
            inti.io.io_int_parm = (s.parm64 >> 32) as u32;
            inti.io.io_int_word = s.parm64 as u32;
        }
        _ => return Err(Error::IrqType),
    }
    Ok(inti)
}

/// FLIC ENQUEUE's `copy_irq_from_user`: a floating interrupt from a `kvm_s390_irq` record.
pub fn inti_from_irq(irq: &kvm_s390_irq) -> Result<Inti> {
    // The kernel reads the 64-bit type into the 64-bit inti->type... then switches on it:
    // values above u32 range match no case.
    let type_ = u32::try_from(irq.type_).map_err(|_| Error::IrqType)?;
    let mut inti = Inti {
        type_,
        ..Default::default()
    };
    match type_ {
        KVM_S390_INT_PFAULT_INIT
        | KVM_S390_INT_PFAULT_DONE
        | KVM_S390_INT_VIRTIO
        | KVM_S390_INT_SERVICE => inti.ext = irq.ext(),
        KVM_S390_MCHK => inti.mchk = irq.mchk(),
        t if is_io(t) => inti.io = irq.io(),
        _ => return Err(Error::IrqType),
    }
    Ok(inti)
}

/// `s390int_to_s390irq`: the legacy vCPU `KVM_S390_INTERRUPT` argument as a `kvm_s390_irq`.
pub fn irq_from_interrupt(s: &kvm_s390_interrupt) -> Result<kvm_s390_irq> {
    let mut irq = zero_irq(u64::from(s.type_));
    match s.type_ {
        KVM_S390_PROGRAM_INT => {
            if s.parm & 0xffff_0000 != 0 {
                return Err(Error::IrqType);
            }
            irq.u.pgm = kvm_s390_pgm_info {
                code: s.parm as u16,
                ..Default::default()
            };
        }
        KVM_S390_SIGP_SET_PREFIX => irq.u.prefix = kvm_s390_prefix_info { address: s.parm },
        KVM_S390_SIGP_STOP => irq.u.stop = kvm_s390_stop_info { flags: s.parm },
        KVM_S390_INT_EXTERNAL_CALL => {
            if s.parm & 0xffff_0000 != 0 {
                return Err(Error::IrqType);
            }
            irq.u.extcall = kvm_s390_extcall_info {
                code: s.parm as u16,
            };
        }
        KVM_S390_INT_EMERGENCY => {
            if s.parm & 0xffff_0000 != 0 {
                return Err(Error::IrqType);
            }
            irq.u.emerg = kvm_s390_emerg_info {
                code: s.parm as u16,
            };
        }
        KVM_S390_MCHK => {
            irq.u.mchk = kvm_s390_mchk_info {
                mcic: s.parm64,
                ..Default::default()
            }
        }
        KVM_S390_INT_PFAULT_INIT => {
            irq.u.ext = kvm_s390_ext_info {
                ext_params: s.parm,
                pad: 0,
                ext_params2: s.parm64,
            }
        }
        KVM_S390_RESTART | KVM_S390_INT_CLOCK_COMP | KVM_S390_INT_CPU_TIMER => {}
        _ => return Err(Error::IrqType),
    }
    Ok(irq)
}

impl LocalIrqs {
    /// `kvm_s390_clear_local_irqs`.
    pub fn clear(&mut self) {
        *self = LocalIrqs::default();
    }

    /// `do_inject_vcpu`: adds `irq` to the pending local interrupts. `stopped` is the vCPU's
    /// run state, `ilen` the length of the instruction that last intercepted (for a program
    /// interrupt without a valid ILC), `vcpu_exists` tells whether a source CPU id is valid.
    pub fn inject(
        &mut self,
        irq: &kvm_s390_irq,
        stopped: bool,
        ilen: u8,
        vcpu_exists: &dyn Fn(u16) -> bool,
    ) -> Result<Inject> {
        let Ok(type_) = u32::try_from(irq.type_) else {
            return Err(Error::IrqType);
        };
        match type_ {
            KVM_S390_PROGRAM_INT => {
                let mut pgm = irq.pgm();
                if pgm.flags & KVM_S390_PGM_FLAGS_ILC_VALID == 0 {
                    pgm.flags &= !KVM_S390_PGM_FLAGS_ILC_MASK;
                    pgm.flags |= ilen | KVM_S390_PGM_FLAGS_ILC_VALID;
                }
                if pgm.code == PGM_PER {
                    self.pgm.code |= PGM_PER;
                    self.pgm.flags = pgm.flags;
                    self.pgm.per_address = pgm.per_address;
                    self.pgm.per_code = pgm.per_code;
                    self.pgm.per_atmid = pgm.per_atmid;
                    self.pgm.per_access_id = pgm.per_access_id;
                } else if pgm.code & PGM_PER == 0 {
                    self.pgm.code = (self.pgm.code & PGM_PER) | pgm.code;
                    self.pgm.flags = pgm.flags;
                    self.pgm.trans_exc_code = pgm.trans_exc_code;
                    self.pgm.mon_code = pgm.mon_code;
                    self.pgm.data_exc_code = pgm.data_exc_code;
                    self.pgm.mon_class_nr = pgm.mon_class_nr;
                    self.pgm.exc_access_id = pgm.exc_access_id;
                    self.pgm.op_access_id = pgm.op_access_id;
                } else {
                    self.pgm = pgm;
                }
                self.pending |= bit(IRQ_PEND_PROG);
            }
            KVM_S390_SIGP_SET_PREFIX => {
                if !stopped {
                    return Err(Error::IrqBusy);
                }
                self.prefix = irq.prefix();
                self.pending |= bit(IRQ_PEND_SET_PREFIX);
            }
            KVM_S390_SIGP_STOP => {
                let stop = irq.stop();
                if stop.flags & !KVM_S390_STOP_FLAG_STORE_STATUS != 0 {
                    return Err(Error::IrqType);
                }
                if stopped {
                    return Ok(if stop.flags & KVM_S390_STOP_FLAG_STORE_STATUS != 0 {
                        Inject::StoreStatus
                    } else {
                        Inject::Done
                    });
                }
                if self.pending & bit(IRQ_PEND_SIGP_STOP) != 0 {
                    return Err(Error::IrqBusy);
                }
                self.pending |= bit(IRQ_PEND_SIGP_STOP);
                self.stop = stop;
            }
            KVM_S390_RESTART => self.pending |= bit(IRQ_PEND_RESTART),
            KVM_S390_INT_CLOCK_COMP => self.pending |= bit(IRQ_PEND_EXT_CLOCK_COMP),
            KVM_S390_INT_CPU_TIMER => self.pending |= bit(IRQ_PEND_EXT_CPU_TIMER),
            KVM_S390_INT_EXTERNAL_CALL => {
                let extcall = irq.extcall();
                if !vcpu_exists(extcall.code) {
                    return Err(Error::IrqType);
                }
                if self.pending & bit(IRQ_PEND_EXT_EXTERNAL) != 0 {
                    return Err(Error::IrqBusy);
                }
                self.pending |= bit(IRQ_PEND_EXT_EXTERNAL);
                self.extcall = extcall;
            }
            KVM_S390_INT_EMERGENCY => {
                let code = irq.emerg().code;
                if !vcpu_exists(code) {
                    return Err(Error::IrqType);
                }
                let c = usize::from(code);
                if c >= EMERG_WORDS * 64 {
                    return Err(Error::IrqType);
                }
                self.emerg[c / 64] |= 1 << (c % 64);
                self.pending |= bit(IRQ_PEND_EXT_EMERGENCY);
            }
            KVM_S390_MCHK => {
                let m = irq.mchk();
                self.mchk.cr14 |= m.cr14;
                self.mchk.mcic |= m.mcic;
                self.mchk.ext_damage_code |= m.ext_damage_code;
                self.mchk.failing_storage_address = m.failing_storage_address;
                self.mchk.fixed_logout = m.fixed_logout;
                if self.mchk.mcic & MCHK_EX_MASK != 0 {
                    self.pending |= bit(IRQ_PEND_MCHK_EX);
                } else if self.mchk.mcic & MCHK_REP_MASK != 0 {
                    self.pending |= bit(IRQ_PEND_MCHK_REP);
                }
            }
            KVM_S390_INT_PFAULT_INIT => {
                self.ext = irq.ext();
                self.pending |= bit(IRQ_PEND_PFAULT_INIT);
            }
            _ => return Err(Error::IrqType),
        }
        Ok(Inject::Done)
    }

    /// `kvm_s390_get_irq_state`'s records: the pending types in ascending order (emergency
    /// signals left out), then one emergency signal per source CPU.
    pub fn records(&self) -> Vec<kvm_s390_irq> {
        let mut out = Vec::new();
        for t in 0..IRQ_PEND_COUNT {
            if self.pending & bit(t) == 0 || t == IRQ_PEND_EXT_EMERGENCY {
                continue;
            }
            let rec = match t {
                IRQ_PEND_MCHK_EX | IRQ_PEND_MCHK_REP => {
                    let mut r = zero_irq(u64::from(KVM_S390_MCHK));
                    r.u.mchk = self.mchk;
                    r
                }
                IRQ_PEND_PROG => {
                    let mut r = zero_irq(u64::from(KVM_S390_PROGRAM_INT));
                    r.u.pgm = self.pgm;
                    r
                }
                IRQ_PEND_PFAULT_INIT => {
                    let mut r = zero_irq(u64::from(KVM_S390_INT_PFAULT_INIT));
                    r.u.ext = self.ext;
                    r
                }
                IRQ_PEND_EXT_EXTERNAL => {
                    let mut r = zero_irq(u64::from(KVM_S390_INT_EXTERNAL_CALL));
                    r.u.extcall = self.extcall;
                    r
                }
                IRQ_PEND_EXT_CLOCK_COMP => zero_irq(u64::from(KVM_S390_INT_CLOCK_COMP)),
                IRQ_PEND_EXT_CPU_TIMER => zero_irq(u64::from(KVM_S390_INT_CPU_TIMER)),
                IRQ_PEND_SIGP_STOP => {
                    let mut r = zero_irq(u64::from(KVM_S390_SIGP_STOP));
                    r.u.stop = self.stop;
                    r
                }
                IRQ_PEND_RESTART => zero_irq(u64::from(KVM_S390_RESTART)),
                IRQ_PEND_SET_PREFIX => {
                    let mut r = zero_irq(u64::from(KVM_S390_SIGP_SET_PREFIX));
                    r.u.prefix = self.prefix;
                    r
                }
                // Types only the kernel itself raises: a record of type 0.
                _ => zero_irq(0),
            };
            out.push(rec);
        }
        if self.pending & bit(IRQ_PEND_EXT_EMERGENCY) != 0 {
            for c in 0..EMERG_WORDS * 64 {
                if self.emerg[c / 64] & (1 << (c % 64)) != 0 {
                    let mut r = zero_irq(u64::from(KVM_S390_INT_EMERGENCY));
                    r.u.emerg = kvm_s390_emerg_info { code: c as u16 };
                    out.push(r);
                }
            }
        }
        out
    }

    /// Whether a SIGP STOP is pending.
    pub fn stop_pending(&self) -> bool {
        self.pending & bit(IRQ_PEND_SIGP_STOP) != 0
    }

    /// Whether a RESTART is pending (`kvm_s390_is_restart_irq_pending`).
    pub fn restart_pending(&self) -> bool {
        self.pending & bit(IRQ_PEND_RESTART) != 0
    }

    /// Whether an external call is pending (`kvm_s390_ext_call_pending` without the SIGP
    /// interpretation facility).
    pub fn ext_call_pending(&self) -> bool {
        self.pending & bit(IRQ_PEND_EXT_EXTERNAL) != 0
    }
}

/// What an injection asks of the caller beyond queueing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inject {
    /// Queued (or nothing to do).
    Done,
    /// A SIGP STOP with STORE_STATUS on a stopped vCPU: store status at absolute 0 now.
    StoreStatus,
}

/// `deliverable_irqs` for a vCPU with `psw` and `crs`, given the pending bits.
pub fn deliverable(pending: u64, psw: u64, crs: &[u64; 16], mchk_cr14: u64) -> u64 {
    let mut active = pending;
    if active == 0 {
        return 0;
    }
    if psw & PSW_MASK_EXT == 0 {
        active &= !IRQ_PEND_EXT_MASK;
    }
    if psw & PSW_MASK_IO == 0 {
        active &= !IRQ_PEND_IO_MASK;
    } else {
        for isc in 0..=MAX_ISC {
            if crs[6] & isc_to_isc_bits(isc) == 0 {
                active &= !bit(isc_to_irq_type(isc as usize));
            }
        }
    }
    let cr0 = crs[0];
    if cr0 & CR0_EXTERNAL_CALL_SUBMASK == 0 {
        active &= !bit(IRQ_PEND_EXT_EXTERNAL);
    }
    if cr0 & CR0_EMERGENCY_SIGNAL_SUBMASK == 0 {
        active &= !bit(IRQ_PEND_EXT_EMERGENCY);
    }
    if cr0 & CR0_CLOCK_COMPARATOR_SUBMASK == 0 {
        active &= !bit(IRQ_PEND_EXT_CLOCK_COMP);
    }
    if cr0 & CR0_CPU_TIMER_SUBMASK == 0 {
        active &= !bit(IRQ_PEND_EXT_CPU_TIMER);
    }
    if cr0 & CR0_SERVICE_SIGNAL_SUBMASK == 0 {
        active &= !(bit(IRQ_PEND_EXT_SERVICE) | bit(IRQ_PEND_EXT_SERVICE_EV));
    }
    if psw & PSW_MASK_MCHECK == 0 {
        active &= !IRQ_PEND_MCHK_MASK;
    }
    if crs[14] & mchk_cr14 == 0 {
        active &= !bit(IRQ_PEND_MCHK_REP);
    }
    // STOP is never delivered: it becomes a stop intercept.
    active & !bit(IRQ_PEND_SIGP_STOP)
}

/// Whether the clock-comparator condition holds (`ckc_irq_pending` without the enablement).
pub fn ckc_expired(ckc: u64, now: u64, cr0: u64) -> bool {
    if cr0 & CR0_CLOCK_COMPARATOR_SIGN != 0 {
        (ckc as i64) < (now as i64)
    } else {
        ckc < now
    }
}

/// How long an enabled wait may sleep before the clock comparator fires
/// (`__calculate_sltime` for the comparator; the CPU timer does not run): None when the
/// comparator interrupt is not enabled or has already expired (then it is delivered, not
/// waited for).
pub(crate) fn ckc_sleep_time(
    st: &VcpuState,
    now: impl FnOnce() -> u64,
) -> Option<std::time::Duration> {
    if st.psw.0 & PSW_MASK_EXT == 0 || st.crs[0] & CR0_CLOCK_COMPARATOR_SUBMASK == 0 {
        return None;
    }
    let now = now();
    let delta = if st.crs[0] & CR0_CLOCK_COMPARATOR_SIGN != 0 {
        ((st.ckc as i64) > (now as i64)).then(|| (st.ckc as i64).wrapping_sub(now as i64) as u64)
    } else {
        (st.ckc > now).then(|| st.ckc - now)
    }?;
    // tod_to_ns: TOD bit 51 is one microsecond (4096 units per µs).
    let ns = ((u128::from(delta) * 125) >> 9).min(u128::from(u64::MAX)) as u64;
    Some(std::time::Duration::from_nanos(ns.max(1)))
}

/// Writes to the lowcore of a vCPU with prefix `prefix` and reads new PSWs from it.
struct Lowcore<'a> {
    vm: &'a Vm,
    prefix: u64,
    ok: bool,
}

impl Lowcore<'_> {
    fn put(&mut self, off: u64, bytes: &[u8]) {
        let abs = RealAddr(off).to_abs(self.prefix);
        let slots = self.vm.memslots();
        self.ok &= self.vm.write_abs(&slots, abs.raw(), bytes).is_ok();
    }
    fn put16(&mut self, off: u64, v: u16) {
        self.put(off, &v.to_be_bytes());
    }
    fn put32(&mut self, off: u64, v: u32) {
        self.put(off, &v.to_be_bytes());
    }
    fn put64(&mut self, off: u64, v: u64) {
        self.put(off, &v.to_be_bytes());
    }
    /// Stores `psw` as the old PSW at `old` and returns the new PSW at `new` (unchanged PSW if
    /// the new PSW cannot be read).
    fn swap_psw(&mut self, old: u64, new: u64, psw: (u64, u64)) -> (u64, u64) {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&psw.0.to_be_bytes());
        b[8..].copy_from_slice(&psw.1.to_be_bytes());
        self.put(old, &b);
        let abs = RealAddr(new).to_abs(self.prefix);
        let slots = self.vm.memslots();
        let mut n = [0u8; 16];
        if self.vm.read_abs(&slots, abs.raw(), &mut n).is_ok() {
            let mut m = [0u8; 8];
            let mut a = [0u8; 8];
            m.copy_from_slice(&n[..8]);
            a.copy_from_slice(&n[8..]);
            (u64::from_be_bytes(m), u64::from_be_bytes(a))
        } else {
            self.ok = false;
            psw
        }
    }
}

/// The PSW address `ilen` bytes back, wrapped by the addressing mode (`__rewind_psw`).
fn rewind(psw: (u64, u64), ilen: u8) -> u64 {
    let addr = psw.1.wrapping_sub(u64::from(ilen));
    match (psw.0 >> 31) & 3 {
        0 => addr & 0x00ff_ffff,
        1 => addr & 0x7fff_ffff,
        _ => addr,
    }
}

impl Vcpu {
    /// The length of the instruction that last intercepted, for an injected program
    /// interrupt without a valid ILC (`kvm_s390_get_ilen`): 0 when none did.
    pub(crate) fn intercepted_ilen(st: &VcpuState) -> u8 {
        match st.icpt {
            Some((0x04 | 0x08 | 0x10 | 0x14 | 0x40, ipa)) => insn_length((ipa >> 8) as u8),
            _ => 0,
        }
    }

    /// `kvm_s390_inject_vcpu` (and `KVM_S390_SET_IRQ_STATE` records): injects `irq`.
    pub fn inject(&self, vm: &Vm, irq: &kvm_s390_irq) -> Result<()> {
        // The vCPU's run state and last intercept are read without the vCPU mutex (injection
        // is an async ioctl): a snapshot kept beside the local interrupts.
        let (stopped, ilen) = self.irq_context();
        let exists = |id: u16| vm.vcpu_by_id(u32::from(id)).is_some();
        self.count_inject(irq.type_);
        let what = self.irqs().inject(irq, stopped, ilen, &exists)?;
        if what == Inject::StoreStatus {
            self.store_status(vm, KVM_S390_STORE_STATUS_NOADDR)?;
        }
        self.kick();
        Ok(())
    }

    /// `KVM_S390_SET_IRQ_STATE`: EBUSY if anything is pending, else every record injected in
    /// order until one fails.
    pub fn set_irq_state(&self, vm: &Vm, records: &[kvm_s390_irq]) -> Result<i32> {
        let _st = self.lock();
        let (stopped, ilen) = self.irq_context();
        let exists = |id: u16| vm.vcpu_by_id(u32::from(id)).is_some();
        let mut li = self.irqs();
        if li.pending != 0 {
            return Err(Error::IrqBusy);
        }
        for r in records {
            self.count_inject(r.type_);
            li.inject(r, stopped, ilen, &exists)?;
        }
        Ok(0)
    }

    /// The kernel's `__inject_*` count every attempt of a known type on entry, before their
    /// checks (`vcpu->stat.inject_*`).
    fn count_inject(&self, type_: u64) {
        let Ok(t) = u32::try_from(type_) else {
            return;
        };
        let c = match t {
            KVM_S390_PROGRAM_INT => stats::vcpu::INJECT_PROGRAM,
            KVM_S390_SIGP_SET_PREFIX => stats::vcpu::INJECT_SET_PREFIX,
            KVM_S390_SIGP_STOP => stats::vcpu::INJECT_STOP_SIGNAL,
            KVM_S390_RESTART => stats::vcpu::INJECT_RESTART,
            KVM_S390_INT_CLOCK_COMP => stats::vcpu::INJECT_CKC,
            KVM_S390_INT_CPU_TIMER => stats::vcpu::INJECT_CPUTM,
            KVM_S390_INT_EXTERNAL_CALL => stats::vcpu::INJECT_EXTERNAL_CALL,
            KVM_S390_INT_EMERGENCY => stats::vcpu::INJECT_EMERGENCY_SIGNAL,
            KVM_S390_MCHK => stats::vcpu::INJECT_MCHK,
            KVM_S390_INT_PFAULT_INIT => stats::vcpu::INJECT_PFAULT_INIT,
            _ => return,
        };
        self.stats.inc(c);
    }

    /// `kvm_s390_deliver_pending_interrupts`: delivers every deliverable interrupt, highest
    /// priority first. Errors (a lowcore outside guest memory) end delivery with EFAULT.
    pub(crate) fn deliver_pending(&self, vm: &Vm, st: &mut VcpuState) -> Result<()> {
        // The clock is read only when the comparator is enabled (a KVM_RUN round trip would
        // otherwise pay for a clock read it does not need).
        let ckc_due = st.psw.0 & PSW_MASK_EXT != 0
            && st.crs[0] & CR0_CLOCK_COMPARATOR_SUBMASK != 0
            && ckc_expired(st.ckc, vm.guest_tod().tod, st.crs[0]);
        {
            let mut li = self.irqs();
            li.pending &= !bit(IRQ_PEND_EXT_CLOCK_COMP);
            if ckc_due {
                li.pending |= bit(IRQ_PEND_EXT_CLOCK_COMP);
            }
            li.pending &= !bit(IRQ_PEND_EXT_CPU_TIMER);
            if st.psw.0 & PSW_MASK_EXT != 0
                && st.crs[0] & CR0_CPU_TIMER_SUBMASK != 0
                && st.cputm >> 63 != 0
            {
                li.pending |= bit(IRQ_PEND_EXT_CPU_TIMER);
            }
        }
        loop {
            let active = {
                let fi = vm.float_irqs();
                let li = self.irqs();
                let pending = (fi.pending | li.pending) & !fi.masked;
                deliverable(pending, st.psw.0, &st.crs, fi.mchk.cr14 | li.mchk.cr14)
            };
            if active == 0 {
                return Ok(());
            }
            let t = 63 - active.leading_zeros();
            let mut lc = Lowcore {
                vm,
                prefix: st.prefix,
                ok: true,
            };
            self.deliver_one(vm, st, t, &mut lc);
            if !lc.ok {
                return Err(Error::Fault);
            }
        }
    }

    /// Delivers pending type `t` (`__deliver_*`).
    fn deliver_one(&self, vm: &Vm, st: &mut VcpuState, t: u32, lc: &mut Lowcore) {
        let ext = |lc: &mut Lowcore, st: &mut VcpuState, code: u16, cpu: u16| {
            lc.put16(lc::EXT_INT_CODE, code);
            lc.put16(lc::EXT_CPU_ADDR, cpu);
            st.psw = lc.swap_psw(lc::EXT_OLD_PSW, lc::EXT_NEW_PSW, st.psw);
        };
        // The kernel's __deliver_* count on entry; I/O, machine checks and virtio only when
        // something was there to deliver (below).
        let counter = match t {
            IRQ_PEND_EXT_EMERGENCY => Some(stats::vcpu::DELIVER_EMERGENCY_SIGNAL),
            IRQ_PEND_EXT_EXTERNAL => Some(stats::vcpu::DELIVER_EXTERNAL_CALL),
            IRQ_PEND_EXT_CLOCK_COMP => Some(stats::vcpu::DELIVER_CKC),
            IRQ_PEND_EXT_CPU_TIMER => Some(stats::vcpu::DELIVER_CPUTM),
            IRQ_PEND_RESTART => Some(stats::vcpu::DELIVER_RESTART_SIGNAL),
            IRQ_PEND_SET_PREFIX => Some(stats::vcpu::DELIVER_PREFIX_SIGNAL),
            IRQ_PEND_EXT_SERVICE | IRQ_PEND_EXT_SERVICE_EV => {
                Some(stats::vcpu::DELIVER_SERVICE_SIGNAL)
            }
            IRQ_PEND_PROG => Some(stats::vcpu::DELIVER_PROGRAM),
            _ => None,
        };
        if let Some(c) = counter {
            self.stats.inc(c);
        }
        match t {
            IRQ_PEND_IO_ISC_7..=IRQ_PEND_IO_ISC_0 => {
                let isc = (IRQ_PEND_IO_ISC_0 - t) as usize;
                let inti = {
                    let mut fi = vm.float_irqs();
                    let inti = fi.lists[isc].pop_front();
                    if inti.is_some() {
                        fi.counter_io -= 1;
                    }
                    if fi.lists[isc].is_empty() {
                        fi.pending &= !bit(t);
                    }
                    inti
                };
                if let Some(i) = inti {
                    self.stats.inc(stats::vcpu::DELIVER_IO);
                    lc.put16(lc::SUBCHANNEL_ID, i.io.subchannel_id);
                    lc.put16(lc::SUBCHANNEL_NR, i.io.subchannel_nr);
                    lc.put32(lc::IO_INT_PARM, i.io.io_int_parm);
                    lc.put32(lc::IO_INT_WORD, i.io.io_int_word);
                    st.psw = lc.swap_psw(lc::IO_OLD_PSW, lc::IO_NEW_PSW, st.psw);
                }
            }
            IRQ_PEND_MCHK_EX | IRQ_PEND_MCHK_REP => {
                let mut mchk = kvm_s390_mchk_info::default();
                let mut deliver = false;
                {
                    let mut fi = vm.float_irqs();
                    let mut li = self.irqs();
                    if li.pending & IRQ_PEND_MCHK_MASK != 0 {
                        mchk = li.mchk;
                        li.pending &= !IRQ_PEND_MCHK_MASK;
                        li.mchk = Default::default();
                        deliver = true;
                    }
                    if fi.pending & bit(IRQ_PEND_MCHK_REP) != 0 {
                        fi.pending &= !bit(IRQ_PEND_MCHK_REP);
                        mchk.mcic |= fi.mchk.mcic;
                        mchk.cr14 |= fi.mchk.cr14;
                        fi.mchk = Default::default();
                        deliver = true;
                    }
                }
                if deliver {
                    self.stats.inc(stats::vcpu::DELIVER_MACHINE_CHECK);
                    self.write_machine_check(st, &mchk, lc);
                }
            }
            IRQ_PEND_PROG => {
                let pgm = {
                    let mut li = self.irqs();
                    li.pending &= !bit(IRQ_PEND_PROG);
                    std::mem::take(&mut li.pgm)
                };
                self.deliver_prog(st, &pgm, lc);
            }
            IRQ_PEND_EXT_EMERGENCY => {
                let cpu = {
                    let mut li = self.irqs();
                    let c = (0..EMERG_WORDS * 64)
                        .find(|c| li.emerg[c / 64] & (1 << (c % 64)) != 0)
                        .unwrap_or(0);
                    li.emerg[c / 64] &= !(1 << (c % 64));
                    if li.emerg.iter().all(|w| *w == 0) {
                        li.pending &= !bit(IRQ_PEND_EXT_EMERGENCY);
                    }
                    c as u16
                };
                ext(lc, st, EXT_IRQ_EMERGENCY_SIG, cpu);
            }
            IRQ_PEND_EXT_EXTERNAL => {
                let code = {
                    let mut li = self.irqs();
                    li.pending &= !bit(IRQ_PEND_EXT_EXTERNAL);
                    std::mem::take(&mut li.extcall).code
                };
                ext(lc, st, EXT_IRQ_EXTERNAL_CALL, code);
            }
            IRQ_PEND_EXT_CLOCK_COMP => {
                self.irqs().pending &= !bit(IRQ_PEND_EXT_CLOCK_COMP);
                ext(lc, st, EXT_IRQ_CLK_COMP, 0);
            }
            IRQ_PEND_EXT_CPU_TIMER => {
                self.irqs().pending &= !bit(IRQ_PEND_EXT_CPU_TIMER);
                ext(lc, st, EXT_IRQ_CPU_TIMER, 0);
            }
            IRQ_PEND_RESTART => {
                self.irqs().pending &= !bit(IRQ_PEND_RESTART);
                st.psw = lc.swap_psw(lc::RESTART_OLD_PSW, lc::RESTART_PSW, st.psw);
            }
            IRQ_PEND_SET_PREFIX => {
                let prefix = {
                    let mut li = self.irqs();
                    li.pending &= !bit(IRQ_PEND_SET_PREFIX);
                    std::mem::take(&mut li.prefix).address
                };
                st.prefix = u64::from(prefix) & 0x7fff_e000;
            }
            IRQ_PEND_PFAULT_INIT => {
                let e = {
                    let mut li = self.irqs();
                    li.pending &= !bit(IRQ_PEND_PFAULT_INIT);
                    let e = li.ext;
                    li.ext.ext_params2 = 0;
                    e
                };
                ext(lc, st, EXT_IRQ_CP_SERVICE, PFAULT_INIT);
                lc.put64(lc::EXT_PARAMS2, e.ext_params2);
            }
            IRQ_PEND_EXT_SERVICE => {
                let parm = {
                    let mut fi = vm.float_irqs();
                    if fi.masked & bit(IRQ_PEND_EXT_SERVICE) != 0
                        || fi.pending & bit(IRQ_PEND_EXT_SERVICE) == 0
                    {
                        return;
                    }
                    let e = std::mem::take(&mut fi.srv_signal);
                    fi.pending &= !(bit(IRQ_PEND_EXT_SERVICE) | bit(IRQ_PEND_EXT_SERVICE_EV));
                    e.ext_params
                };
                ext(lc, st, EXT_IRQ_SERVICE_SIG, 0);
                lc.put32(lc::EXT_PARAMS, parm);
            }
            IRQ_PEND_EXT_SERVICE_EV => {
                {
                    let mut fi = vm.float_irqs();
                    if fi.pending & bit(IRQ_PEND_EXT_SERVICE_EV) == 0 {
                        return;
                    }
                    fi.srv_signal.ext_params &= !SCCB_EVENT_PENDING;
                    fi.pending &= !bit(IRQ_PEND_EXT_SERVICE_EV);
                }
                ext(lc, st, EXT_IRQ_SERVICE_SIG, 0);
                lc.put32(lc::EXT_PARAMS, SCCB_EVENT_PENDING);
            }
            IRQ_PEND_PFAULT_DONE | IRQ_PEND_VIRTIO => {
                let (list, cpu) = if t == IRQ_PEND_VIRTIO {
                    (FIRQ_LIST_VIRTIO, VIRTIO_PARAM)
                } else {
                    (FIRQ_LIST_PFAULT, PFAULT_DONE)
                };
                let inti = {
                    let mut fi = vm.float_irqs();
                    let i = fi.lists[list].pop_front();
                    if fi.lists[list].is_empty() {
                        fi.pending &= !bit(t);
                    }
                    i
                };
                if let Some(i) = inti {
                    if t == IRQ_PEND_VIRTIO {
                        self.stats.inc(stats::vcpu::DELIVER_VIRTIO);
                    }
                    ext(lc, st, EXT_IRQ_CP_SERVICE, cpu);
                    if t == IRQ_PEND_VIRTIO {
                        lc.put32(lc::EXT_PARAMS, i.ext.ext_params);
                    }
                    lc.put64(lc::EXT_PARAMS2, i.ext.ext_params2);
                }
            }
            _ => {
                // A type only the kernel itself raises: drop it, as the kernel does.
                self.irqs().pending &= !bit(t);
            }
        }
    }

    /// `__deliver_prog`.
    fn deliver_prog(&self, st: &mut VcpuState, pgm: &kvm_s390_pgm_info, lc: &mut Lowcore) {
        let ilen = pgm.flags & KVM_S390_PGM_FLAGS_ILC_MASK;
        let code = pgm.code & !PGM_PER;
        let mut nullifying = false;
        match code {
            PGM_AFX_TRANSLATION
            | PGM_ASX_TRANSLATION
            | PGM_EX_TRANSLATION
            | PGM_LFX_TRANSLATION
            | PGM_LSTE_SEQUENCE
            | PGM_LSX_TRANSLATION
            | PGM_LX_TRANSLATION
            | PGM_PRIMARY_AUTHORITY
            | PGM_SECONDARY_AUTHORITY => {
                nullifying = true;
                lc.put64(lc::TRANS_EXC_CODE, pgm.trans_exc_code);
            }
            PGM_SPACE_SWITCH => lc.put64(lc::TRANS_EXC_CODE, pgm.trans_exc_code),
            PGM_ALEN_TRANSLATION
            | PGM_ALE_SEQUENCE
            | PGM_ASTE_INSTANCE
            | PGM_ASTE_SEQUENCE
            | PGM_ASTE_VALIDITY
            | PGM_EXTENDED_AUTHORITY => {
                lc.put(lc::EXC_ACCESS_ID, &[pgm.exc_access_id]);
                nullifying = true;
            }
            PGM_ASCE_TYPE
            | PGM_PAGE_TRANSLATION
            | PGM_REGION_FIRST_TRANS
            | PGM_REGION_SECOND_TRANS
            | PGM_REGION_THIRD_TRANS
            | PGM_SEGMENT_TRANSLATION => {
                lc.put64(lc::TRANS_EXC_CODE, pgm.trans_exc_code);
                lc.put(lc::EXC_ACCESS_ID, &[pgm.exc_access_id]);
                lc.put(lc::OP_ACCESS_ID, &[pgm.op_access_id]);
                nullifying = true;
            }
            PGM_MONITOR => {
                lc.put16(lc::MON_CLASS_NR, pgm.mon_class_nr);
                lc.put64(lc::MON_CODE, pgm.mon_code);
            }
            PGM_VECTOR_PROCESSING | PGM_DATA => lc.put32(lc::DATA_EXC_CODE, pgm.data_exc_code),
            PGM_PROTECTION => {
                lc.put64(lc::TRANS_EXC_CODE, pgm.trans_exc_code);
                lc.put(lc::EXC_ACCESS_ID, &[pgm.exc_access_id]);
            }
            PGM_STACK_FULL
            | PGM_STACK_EMPTY
            | PGM_STACK_SPECIFICATION
            | PGM_STACK_TYPE
            | PGM_STACK_OPERATION
            | PGM_TRACE_TABLE
            | PGM_CRYPTO_OPERATION => nullifying = true,
            _ => {}
        }
        if pgm.code & PGM_PER != 0 {
            lc.put(lc::PER_CODE, &[pgm.per_code]);
            lc.put(lc::PER_ATMID, &[pgm.per_atmid]);
            lc.put64(lc::PER_ADDRESS, pgm.per_address);
            lc.put(lc::PER_ACCESS_ID, &[pgm.per_access_id]);
        }
        if nullifying && pgm.flags & KVM_S390_PGM_FLAGS_NO_REWIND == 0 {
            st.psw.1 = rewind(st.psw, ilen);
        }
        lc.put16(lc::PGM_ILC, u16::from(ilen));
        lc.put64(lc::PGM_LAST_BREAK, st.gbea);
        lc.put16(lc::PGM_INT_CODE, pgm.code);
        st.psw = lc.swap_psw(lc::PGM_OLD_PSW, lc::PGM_NEW_PSW, st.psw);
    }

    /// `__write_machine_check` for a non-protected guest without the extended save area.
    fn write_machine_check(&self, st: &mut VcpuState, mchk: &kvm_s390_mchk_info, lc: &mut Lowcore) {
        // The vector-register and guarded-storage validity bits (mci.vr, mci.gs) are
        // cleared: no extended save area is written.
        let mcic = mchk.mcic & !((1 << (63 - 46)) | (1 << (63 - 36)));
        lc.put(lc::AR_MODE_ID, &[1]);
        st.psw = lc.swap_psw(lc::MCK_OLD_PSW, lc::MCK_NEW_PSW, st.psw);
        lc.put64(lc::MCCK_CODE, mcic);
        let r = &self.run;
        let fprs: Vec<u8> = (0..16)
            .flat_map(|i| {
                r.get_u64(crate::vcpu::run_page::off::VRS, 2 * i)
                    .to_be_bytes()
            })
            .collect();
        lc.put(lc::FPREGS_SAVE_AREA, &fprs);
        let gprs: Vec<u8> = (0..16)
            .flat_map(|i| r.get_u64(crate::vcpu::run_page::off::GPRS, i).to_be_bytes())
            .collect();
        lc.put(lc::GPREGS_SAVE_AREA, &gprs);
        lc.put32(
            lc::FP_CREG_SAVE_AREA,
            r.get::<u32>(crate::vcpu::run_page::off::FPC),
        );
        lc.put32(lc::TOD_PROGREG_SAVE_AREA, st.todpr as u32);
        lc.put64(lc::CPU_TIMER_SAVE_AREA, st.cputm);
        lc.put64(lc::CLOCK_COMP_SAVE_AREA, st.ckc >> 8);
        let acrs: Vec<u8> = (0..16)
            .flat_map(|i| {
                r.get::<u32>(crate::vcpu::run_page::off::ACRS + 4 * i)
                    .to_be_bytes()
            })
            .collect();
        lc.put(lc::AREGS_SAVE_AREA, &acrs);
        let crs: Vec<u8> = st.crs.iter().flat_map(|c| c.to_be_bytes()).collect();
        lc.put(lc::CREGS_SAVE_AREA, &crs);
        lc.put32(lc::EXT_DAMAGE_CODE, mchk.ext_damage_code);
        lc.put64(lc::MCCK_FAIL_STOR_ADDR, mchk.failing_storage_address);
        lc.put(lc::PSW_SAVE_AREA, &mchk.fixed_logout);
    }
}

impl Vm {
    /// `kvm_s390_inject_vm` / `__inject_vm`: queues a floating interrupt and kicks a vCPU.
    pub fn inject_floating(&self, inti: Inti) -> Result<()> {
        // The kernel's __inject_* count every attempt of a known type on entry.
        let counter = match inti.type_ {
            KVM_S390_MCHK => Some(stats::vm::INJECT_FLOAT_MCHK),
            KVM_S390_INT_VIRTIO => Some(stats::vm::INJECT_VIRTIO),
            KVM_S390_INT_SERVICE => Some(stats::vm::INJECT_SERVICE_SIGNAL),
            KVM_S390_INT_PFAULT_DONE => Some(stats::vm::INJECT_PFAULT_DONE),
            t if is_io(t) => Some(stats::vm::INJECT_IO),
            _ => None,
        };
        if let Some(c) = counter {
            self.stats.inc(c);
        }
        let target = {
            let mut fi = self.float_irqs();
            fi.inject(inti)?;
            let n = self.created_vcpus() as usize;
            if n == 0 {
                None
            } else {
                fi.next_rr_cpu = (fi.next_rr_cpu + 1) % n;
                Some(fi.next_rr_cpu)
            }
        };
        // Every waiting vCPU may take it; kicking all is the simple equivalent of the
        // kernel's idle-first round robin.
        if target.is_some() {
            self.for_each_vcpu(|v| v.kick());
        }
        Ok(())
    }

    /// `kvm_s390_inject_airq`: an adapter interrupt, subject to adapter-interruption
    /// suppression when facility 72 is on and the adapter is suppressible.
    pub fn inject_airq(&self, adapter: &Adapter) -> Result<()> {
        let inti = Inti {
            type_: KVM_S390_INT_IO_AI_MASK,
            io: kvm_s390_io_info {
                io_int_word: isc_to_int_word(adapter.isc),
                ..Default::default()
            },
            ..Default::default()
        };
        if !self.state().has_facility(72) || !adapter.suppressible {
            return self.inject_floating(inti);
        }
        let mut ais = self.ais();
        if ais.nimm & ais_mode_mask(adapter.isc) != 0 {
            return Ok(());
        }
        self.inject_floating(inti)?;
        if ais.simm & ais_mode_mask(adapter.isc) != 0 {
            ais.nimm |= ais_mode_mask(adapter.isc);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_lengths() {
        assert_eq!(insn_length(0x00), 2);
        assert_eq!(insn_length(0x3f), 2);
        assert_eq!(insn_length(0x40), 4);
        assert_eq!(insn_length(0xb2), 4);
        assert_eq!(insn_length(0xc0), 6);
        assert_eq!(insn_length(0xeb), 6);
    }

    #[test]
    fn isc_to_type_mapping() {
        assert_eq!(isc_to_irq_type(0), IRQ_PEND_IO_ISC_0);
        assert_eq!(isc_to_irq_type(7), IRQ_PEND_IO_ISC_7);
    }

    #[test]
    fn masks_gate_delivery() {
        let mut crs = [0u64; 16];
        let all = bit(IRQ_PEND_EXT_EMERGENCY) | bit(isc_to_irq_type(3)) | bit(IRQ_PEND_RESTART);
        // Restart ignores every mask.
        assert_eq!(deliverable(all, 0, &crs, 0), bit(IRQ_PEND_RESTART));
        crs[0] = CR0_EMERGENCY_SIGNAL_SUBMASK;
        assert_eq!(
            deliverable(all, PSW_MASK_EXT, &crs, 0),
            bit(IRQ_PEND_EXT_EMERGENCY) | bit(IRQ_PEND_RESTART)
        );
        // I/O needs the PSW bit and the ISC's CR6 bit.
        assert_eq!(deliverable(all, PSW_MASK_IO, &crs, 0) & IRQ_PEND_IO_MASK, 0);
        crs[6] = isc_to_isc_bits(3);
        assert_eq!(
            deliverable(all, PSW_MASK_IO, &crs, 0) & IRQ_PEND_IO_MASK,
            bit(isc_to_irq_type(3))
        );
        // STOP is never delivered.
        assert_eq!(deliverable(bit(IRQ_PEND_SIGP_STOP), !0, &[!0; 16], !0), 0);
    }

    #[test]
    fn floating_queue_limits_and_order() {
        let mut fi = FloatIrqs::default();
        let io = |schid: u16, isc: u8| Inti {
            type_: u32::from(schid),
            io: kvm_s390_io_info {
                subchannel_id: 0,
                subchannel_nr: schid,
                io_int_parm: 0,
                io_int_word: isc_to_int_word(isc),
            },
            ..Default::default()
        };
        fi.inject(io(1, 3)).unwrap();
        fi.inject(io(2, 3)).unwrap();
        fi.inject(io(3, 1)).unwrap();
        let all = fi.all(16).unwrap();
        // List order: ISC 1 before ISC 3, FIFO within an ISC.
        let nrs: Vec<u16> = all.iter().map(|r| r.io().subchannel_nr).collect();
        assert_eq!(nrs, [3, 1, 2]);
        assert!(fi.all(2).is_none());
        assert_eq!(
            fi.take_io(0xff << 24, 2).map(|i| i.io.subchannel_nr),
            Some(2)
        );
        assert_eq!(fi.counter_io, 2);
        fi.clear();
        assert_eq!(fi.pending, 0);
        assert_eq!(
            fi.inject(Inti {
                type_: 0xfffe_1234,
                ..Default::default()
            }),
            Err(Error::IrqType)
        );
    }
}
