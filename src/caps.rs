//! `KVM_CHECK_EXTENSION`: the s390 capability answers.
//!
//! Each capability names the ioctls that serve it; the answer is 0 unless every one of them
//! has a handler in the dispatcher, so a capability is never advertised without its handler.

use crate::host::HostConfig;
use crate::ioctl::{implemented, FdKind};
use crate::uapi::*;
use crate::vm::memop::MEM_OP_MAX_SIZE;
use crate::vm::memslot::KVM_USER_MEM_SLOTS;
use crate::vm::Vm;

use FdKind::{Vcpu, Vm as VmFd};

/// `KVM_GUESTDBG_VALID_MASK` on s390: ENABLE | SINGLESTEP | USE_HW_BP | EXIT_PENDING.
pub const KVM_GUESTDBG_VALID_MASK: i32 = 0x1001_0003;

/// One capability: its number, the ioctls it advertises, and its value when they exist.
pub struct CapDef {
    /// `KVM_CAP_*`.
    pub cap: u32,
    /// The (fd kind, request) pairs that must have handlers.
    pub needs: &'static [(FdKind, u32)],
    /// The answer when the handlers exist.
    pub value: fn(&HostConfig, Option<&Vm>) -> i32,
}

const fn one(_: &HostConfig, _: Option<&Vm>) -> i32 {
    1
}

fn facility(h: &HostConfig, nr: u32) -> i32 {
    i32::from(h.has_facility(nr))
}

/// The capability table (Linux 6.12, s390).
pub static CAPS: &[CapDef] = CAP_DEFS;

const CAP_DEFS: &[CapDef] = &[
    CapDef {
        cap: KVM_CAP_USER_MEMORY,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_USER_MEMORY2,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION2)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_NR_MEMSLOTS,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: |_, _| KVM_USER_MEM_SLOTS as i32,
    },
    CapDef {
        cap: KVM_CAP_S390_GMAP,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_SYNC_MMU,
        needs: &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_CHECK_EXTENSION_VM,
        needs: &[(VmFd, KVM_CHECK_EXTENSION)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_ENABLE_CAP_VM,
        needs: &[(VmFd, KVM_ENABLE_CAP)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_HALT_POLL,
        needs: &[(VmFd, KVM_ENABLE_CAP)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_USER_SIGP,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_USER_STSI,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_USER_INSTR0,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_IRQCHIP,
        needs: &[(VmFd, KVM_ENABLE_CAP), (VmFd, KVM_CREATE_IRQCHIP)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_VECTOR_REGISTERS,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: |h, _| facility(h, 129),
    },
    CapDef {
        cap: KVM_CAP_S390_RI,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: |h, _| facility(h, 64),
    },
    CapDef {
        cap: KVM_CAP_S390_GS,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: |h, _| facility(h, 133),
    },
    CapDef {
        cap: KVM_CAP_S390_CPU_TOPOLOGY,
        needs: &[(VmFd, KVM_ENABLE_CAP), (VmFd, KVM_SET_DEVICE_ATTR)],
        value: |h, _| facility(h, 11),
    },
    CapDef {
        cap: KVM_CAP_S390_AIS,
        needs: &[(VmFd, KVM_ENABLE_CAP), (VmFd, KVM_CREATE_DEVICE)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_AIS_MIGRATION,
        needs: &[(VmFd, KVM_CREATE_DEVICE)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_HPAGE_1M,
        needs: &[(VmFd, KVM_ENABLE_CAP)],
        value: |h, vm| i32::from(h.hpage && !vm.is_some_and(|v| v.ucontrol)),
    },
    CapDef {
        cap: KVM_CAP_S390_COW,
        needs: &[],
        value: |h, _| i32::from(h.has_esop),
    },
    CapDef {
        cap: KVM_CAP_S390_UCONTROL,
        needs: &[(Vcpu, KVM_S390_UCAS_MAP), (Vcpu, KVM_S390_UCAS_UNMAP)],
        value: |h, _| i32::from(h.ucontrol),
    },
    CapDef {
        cap: KVM_CAP_NR_VCPUS,
        needs: &[(VmFd, KVM_CREATE_VCPU)],
        value: |h, _| h.online_cpus.min(h.max_vcpus()) as i32,
    },
    CapDef {
        cap: KVM_CAP_MAX_VCPUS,
        needs: &[(VmFd, KVM_CREATE_VCPU)],
        value: |h, _| h.max_vcpus() as i32,
    },
    CapDef {
        cap: KVM_CAP_MAX_VCPU_ID,
        needs: &[(VmFd, KVM_CREATE_VCPU)],
        value: |h, _| h.max_vcpus() as i32,
    },
    CapDef {
        cap: KVM_CAP_MP_STATE,
        needs: &[(Vcpu, KVM_GET_MP_STATE), (Vcpu, KVM_SET_MP_STATE)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_ONE_REG,
        needs: &[(Vcpu, KVM_GET_ONE_REG), (Vcpu, KVM_SET_ONE_REG)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_ENABLE_CAP,
        needs: &[(Vcpu, KVM_ENABLE_CAP)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_CSS_SUPPORT,
        needs: &[(Vcpu, KVM_ENABLE_CAP)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_SYNC_REGS,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_PSW,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_ASYNC_PF,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_IMMEDIATE_EXIT,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_INTERNAL_ERROR_DATA,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_SYSTEM_EVENT_DATA,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_DIAG318,
        needs: &[(Vcpu, KVM_RUN)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_BPB,
        needs: &[(Vcpu, KVM_RUN)],
        value: |h, _| facility(h, 82),
    },
    CapDef {
        cap: KVM_CAP_SET_GUEST_DEBUG,
        needs: &[(Vcpu, KVM_SET_GUEST_DEBUG)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_SET_GUEST_DEBUG2,
        needs: &[(Vcpu, KVM_SET_GUEST_DEBUG)],
        value: |_, _| KVM_GUESTDBG_VALID_MASK,
    },
    CapDef {
        cap: KVM_CAP_S390_VCPU_RESETS,
        needs: &[(Vcpu, KVM_S390_NORMAL_RESET), (Vcpu, KVM_S390_CLEAR_RESET)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_INJECT_IRQ,
        needs: &[(Vcpu, KVM_S390_IRQ)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_IRQ_STATE,
        needs: &[
            (Vcpu, KVM_S390_GET_IRQ_STATE),
            (Vcpu, KVM_S390_SET_IRQ_STATE),
        ],
        value: one,
    },
    // The maximum transfer size, which bounds the VM-fd memop as well as the vCPU one.
    CapDef {
        cap: KVM_CAP_S390_MEM_OP,
        needs: &[(VmFd, KVM_S390_MEM_OP)],
        value: |_, _| MEM_OP_MAX_SIZE as i32,
    },
    CapDef {
        cap: KVM_CAP_S390_MEM_OP_EXTENSION,
        needs: &[(VmFd, KVM_S390_MEM_OP)],
        // Linux 6.3 added the cmpxchg op and turned the answer into flag bits.
        value: |_, _| {
            if crate::host::kernel::kernel().has_memop_cmpxchg() {
                (KVM_S390_MEMOP_EXTENSION_CAP_BASE | KVM_S390_MEMOP_EXTENSION_CAP_CMPXCHG) as i32
            } else {
                KVM_S390_MEMOP_EXTENSION_CAP_BASE as i32
            }
        },
    },
    CapDef {
        cap: KVM_CAP_S390_SKEYS,
        needs: &[(VmFd, KVM_S390_GET_SKEYS), (VmFd, KVM_S390_SET_SKEYS)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_CMMA_MIGRATION,
        needs: &[
            (VmFd, KVM_S390_GET_CMMA_BITS),
            (VmFd, KVM_S390_SET_CMMA_BITS),
            (VmFd, KVM_SET_DEVICE_ATTR),
        ],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_VM_ATTRIBUTES,
        needs: &[
            (VmFd, KVM_SET_DEVICE_ATTR),
            (VmFd, KVM_GET_DEVICE_ATTR),
            (VmFd, KVM_HAS_DEVICE_ATTR),
        ],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_DEVICE_CTRL,
        needs: &[(VmFd, KVM_CREATE_DEVICE)],
        // Advertised once a device type exists (crate::device::TYPES).
        value: |_, _| i32::from(!crate::device::TYPES.is_empty()),
    },
    CapDef {
        cap: KVM_CAP_IRQFD,
        needs: &[(VmFd, KVM_IRQFD)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_IRQFD_RESAMPLE,
        needs: &[(VmFd, KVM_IRQFD)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_IOEVENTFD,
        needs: &[(VmFd, KVM_IOEVENTFD)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_IOEVENTFD_ANY_LENGTH,
        needs: &[(VmFd, KVM_IOEVENTFD)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_IRQ_ROUTING,
        needs: &[(VmFd, KVM_SET_GSI_ROUTING)],
        value: |_, _| 4096,
    },
    CapDef {
        cap: KVM_CAP_BINARY_STATS_FD,
        needs: &[(VmFd, KVM_GET_STATS_FD), (Vcpu, KVM_GET_STATS_FD)],
        value: one,
    },
    CapDef {
        cap: KVM_CAP_S390_PROTECTED,
        needs: &[(VmFd, KVM_S390_PV_COMMAND)],
        value: |h, _| i32::from(h.prot_virt),
    },
    CapDef {
        cap: KVM_CAP_S390_USER_OPEREXEC,
        needs: &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        value: |_, _| i32::from(crate::host::kernel::kernel().has_user_operexec()),
    },
    CapDef {
        cap: KVM_CAP_S390_KEYOP,
        needs: &[(VmFd, KVM_S390_KEYOP)],
        value: one,
    },
];

/// One past the highest capability number in [`CAPS`]: the length of the answer tables.
const CAP_LIMIT: usize = {
    let mut max = 0;
    let mut i = 0;
    while i < CAP_DEFS.len() {
        if CAP_DEFS[i].cap as usize > max {
            max = CAP_DEFS[i].cap as usize;
        }
        i += 1;
    }
    max + 1
};

/// `CAP_POS[cap]`: 1 + the position of `cap` in [`CAPS`], or 0 (computed at compile time,
/// which also rejects a capability listed twice).
static CAP_POS: [u8; CAP_LIMIT] = {
    let mut pos = [0u8; CAP_LIMIT];
    let mut i = 0;
    assert!(
        CAP_DEFS.len() < 256,
        "capability table too long for a u8 index"
    );
    while i < CAP_DEFS.len() {
        let c = CAP_DEFS[i].cap as usize;
        assert!(pos[c] == 0, "a capability listed twice");
        pos[c] = (i + 1) as u8;
        i += 1;
    }
    pos
};

/// The answer to `KVM_CHECK_EXTENSION(cap)`, on /dev/kvm (`vm` None) or a VM fd: found by
/// capability number, 0 unless every request the capability names has a handler.
pub fn answer(host: &HostConfig, vm: Option<&Vm>, cap: u64) -> i32 {
    let Some(&pos) = usize::try_from(cap).ok().and_then(|c| CAP_POS.get(c)) else {
        return 0;
    };
    match CAPS.get(usize::from(pos).wrapping_sub(1)) {
        Some(d) if d.needs.iter().all(|&(kind, req)| implemented(kind, req)) => (d.value)(host, vm),
        _ => 0,
    }
}

/// A VM's capability answers, indexed by capability number, computed on the VM's first
/// `KVM_CHECK_EXTENSION`: every input of an answer is fixed for a VM's life (its host, its
/// creation flags, the kernel profile, which is fixed once in use, and the handler tables),
/// so a later check is one indexed load (the table lies inside the VM: no pointer to follow).
#[derive(Debug, Default)]
pub struct CapAnswers(std::sync::OnceLock<[i32; CAP_LIMIT]>);

impl CapAnswers {
    /// No answers yet.
    pub const fn new() -> Self {
        CapAnswers(std::sync::OnceLock::new())
    }

    /// The answer to `KVM_CHECK_EXTENSION(cap)` on the VM fd of `vm` (which owns `self`).
    #[inline]
    pub fn answer(&self, vm: &Vm, cap: u64) -> i32 {
        match self.0.get() {
            Some(table) => Self::lookup(table, cap),
            None => self.fill_and_answer(vm, cap),
        }
    }

    #[inline(always)]
    fn lookup(table: &[i32; CAP_LIMIT], cap: u64) -> i32 {
        usize::try_from(cap)
            .ok()
            .and_then(|c| table.get(c))
            .copied()
            .unwrap_or(0)
    }

    /// Computes the table on the VM's first check (out of line and in tail position, so the
    /// lookup above stays a function that saves no registers).
    #[cold]
    #[inline(never)]
    fn fill_and_answer(&self, vm: &Vm, cap: u64) -> i32 {
        let table = self.0.get_or_init(|| {
            let mut t = [0i32; CAP_LIMIT];
            for (c, a) in t.iter_mut().enumerate() {
                *a = answer(&vm.host, Some(vm), c as u64);
            }
            t
        });
        Self::lookup(table, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-VM answer table gives, for every capability number and beyond the table, what
    /// the table walk gives (a VM with ucontrol too, whose HPAGE answer differs).
    #[test]
    fn cached_answers_match_the_table() {
        use crate::host::HostConfig;
        for ucontrol in [false, true] {
            let mut host = HostConfig::z16();
            host.ucontrol = ucontrol;
            host.hpage = true;
            let Ok(vm) = Vm::create(std::sync::Arc::new(host), u64::from(ucontrol)) else {
                continue;
            };
            for cap in (0..CAP_LIMIT as u64 + 3).chain([u64::from(u32::MAX), u64::MAX]) {
                assert_eq!(
                    vm.caps.answer(&vm, cap),
                    answer(&vm.host, Some(&vm), cap),
                    "cap {cap}"
                );
            }
            assert_eq!(vm.caps.answer(&vm, KVM_CAP_USER_MEMORY.into()), 1);
        }
    }

    #[test]
    fn caps_are_unique() {
        for (i, a) in CAPS.iter().enumerate() {
            assert!(
                CAPS[i + 1..].iter().all(|b| b.cap != a.cap),
                "cap {} twice",
                a.cap
            );
        }
    }

    type Needs = &'static [(FdKind, u32)];

    /// In a `Needs` list: a FLIC device type (`KVM_CREATE_DEVICE` of `KVM_DEV_TYPE_FLIC`).
    const FLIC: (FdKind, u32) = (VmFd, u32::MAX);

    fn served(&(kind, req): &(FdKind, u32)) -> bool {
        if (kind, req) == FLIC {
            implemented(VmFd, KVM_CREATE_DEVICE)
                && crate::device::TYPES
                    .iter()
                    .any(|t| t.kind == KVM_DEV_TYPE_FLIC)
        } else {
            implemented(kind, req)
        }
    }

    /// Every capability the s390 kernel answers with non-zero on the modelled z16 host, written
    /// out from Linux 6.12 (`kvm_vm_ioctl_check_extension` in arch/s390/kvm/kvm-s390.c and
    /// `kvm_vm_ioctl_check_extension_generic` in virt/kvm/kvm_main.c; spec vm.md D.2), with
    /// literal values and independently of [`CAPS`]: (capability, the kernel's answer, the
    /// requests without which the shim answers 0 instead). Every capability not listed answers
    /// 0 on this host: READONLY_MEM, COALESCED_MMIO, MULTI_ADDRESS_SPACE, S390_UCONTROL (no
    /// ucontrol support), S390_HPAGE_1M (`hpage=0`), S390_PROTECTED, S390_PROTECTED_DUMP and
    /// S390_PROTECTED_ASYNC_DISABLE (no PV host), S390_ZPCI_OP (no zPCI interpretation), and
    /// every x86/arm/ppc capability.
    const KERNEL_Z16: &[(u32, i32, Needs)] = &[
        // Generic (kvm_main.c).
        (
            KVM_CAP_USER_MEMORY,
            1,
            &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        ),
        (
            KVM_CAP_USER_MEMORY2,
            1,
            &[(VmFd, KVM_SET_USER_MEMORY_REGION2)],
        ),
        (
            KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
            1,
            &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        ),
        (
            KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
            1,
            &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        ),
        (
            KVM_CAP_NR_MEMSLOTS,
            32767,
            &[(VmFd, KVM_SET_USER_MEMORY_REGION)],
        ),
        (KVM_CAP_INTERNAL_ERROR_DATA, 1, &[(Vcpu, KVM_RUN)]),
        (KVM_CAP_SYSTEM_EVENT_DATA, 1, &[(Vcpu, KVM_RUN)]),
        (KVM_CAP_IRQFD, 1, &[(VmFd, KVM_IRQFD)]),
        (KVM_CAP_IRQFD_RESAMPLE, 1, &[(VmFd, KVM_IRQFD)]),
        (KVM_CAP_IOEVENTFD_ANY_LENGTH, 1, &[(VmFd, KVM_IOEVENTFD)]),
        (
            KVM_CAP_CHECK_EXTENSION_VM,
            1,
            &[(VmFd, KVM_CHECK_EXTENSION)],
        ),
        (KVM_CAP_ENABLE_CAP_VM, 1, &[(VmFd, KVM_ENABLE_CAP)]),
        (KVM_CAP_HALT_POLL, 1, &[(VmFd, KVM_ENABLE_CAP)]),
        (KVM_CAP_IRQ_ROUTING, 4096, &[(VmFd, KVM_SET_GSI_ROUTING)]),
        (
            KVM_CAP_BINARY_STATS_FD,
            1,
            &[(VmFd, KVM_GET_STATS_FD), (Vcpu, KVM_GET_STATS_FD)],
        ),
        // Any device type; on s390 the FLIC is the one.
        (KVM_CAP_DEVICE_CTRL, 1, &[FLIC]),
        // s390 (kvm-s390.c), the constant ones.
        (KVM_CAP_S390_PSW, 1, &[(Vcpu, KVM_RUN)]),
        (KVM_CAP_S390_GMAP, 1, &[(VmFd, KVM_SET_USER_MEMORY_REGION)]),
        (KVM_CAP_SYNC_MMU, 1, &[(VmFd, KVM_SET_USER_MEMORY_REGION)]),
        (KVM_CAP_ASYNC_PF, 1, &[(Vcpu, KVM_RUN)]),
        (KVM_CAP_SYNC_REGS, 1, &[(Vcpu, KVM_RUN)]),
        (
            KVM_CAP_ONE_REG,
            1,
            &[(Vcpu, KVM_GET_ONE_REG), (Vcpu, KVM_SET_ONE_REG)],
        ),
        (KVM_CAP_ENABLE_CAP, 1, &[(Vcpu, KVM_ENABLE_CAP)]),
        (KVM_CAP_S390_CSS_SUPPORT, 1, &[(Vcpu, KVM_ENABLE_CAP)]),
        (KVM_CAP_IOEVENTFD, 1, &[(VmFd, KVM_IOEVENTFD)]),
        (
            KVM_CAP_S390_IRQCHIP,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (VmFd, KVM_CREATE_IRQCHIP)],
        ),
        (
            KVM_CAP_VM_ATTRIBUTES,
            1,
            &[
                (VmFd, KVM_SET_DEVICE_ATTR),
                (VmFd, KVM_GET_DEVICE_ATTR),
                (VmFd, KVM_HAS_DEVICE_ATTR),
            ],
        ),
        (
            KVM_CAP_MP_STATE,
            1,
            &[(Vcpu, KVM_GET_MP_STATE), (Vcpu, KVM_SET_MP_STATE)],
        ),
        (KVM_CAP_IMMEDIATE_EXIT, 1, &[(Vcpu, KVM_RUN)]),
        (KVM_CAP_S390_INJECT_IRQ, 1, &[(Vcpu, KVM_S390_IRQ)]),
        (
            KVM_CAP_S390_USER_SIGP,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (
            KVM_CAP_S390_USER_STSI,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (
            KVM_CAP_S390_SKEYS,
            1,
            &[(VmFd, KVM_S390_GET_SKEYS), (VmFd, KVM_S390_SET_SKEYS)],
        ),
        (
            KVM_CAP_S390_IRQ_STATE,
            1,
            &[
                (Vcpu, KVM_S390_GET_IRQ_STATE),
                (Vcpu, KVM_S390_SET_IRQ_STATE),
            ],
        ),
        (
            KVM_CAP_S390_USER_INSTR0,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (
            KVM_CAP_S390_CMMA_MIGRATION,
            1,
            &[
                (VmFd, KVM_S390_GET_CMMA_BITS),
                (VmFd, KVM_S390_SET_CMMA_BITS),
                (VmFd, KVM_SET_DEVICE_ATTR),
            ],
        ),
        (KVM_CAP_S390_AIS, 1, &[(VmFd, KVM_ENABLE_CAP), FLIC]),
        (KVM_CAP_S390_AIS_MIGRATION, 1, &[FLIC]),
        (
            KVM_CAP_S390_VCPU_RESETS,
            1,
            &[(Vcpu, KVM_S390_NORMAL_RESET), (Vcpu, KVM_S390_CLEAR_RESET)],
        ),
        (KVM_CAP_SET_GUEST_DEBUG, 1, &[(Vcpu, KVM_SET_GUEST_DEBUG)]),
        (KVM_CAP_S390_DIAG318, 1, &[(Vcpu, KVM_RUN)]),
        // ENABLE | SINGLESTEP | USE_HW_BP | EXIT_PENDING.
        (
            KVM_CAP_SET_GUEST_DEBUG2,
            0x1001_0003,
            &[(Vcpu, KVM_SET_GUEST_DEBUG)],
        ),
        (
            KVM_CAP_S390_MEM_OP,
            65536,
            &[(VmFd, KVM_S390_MEM_OP), (Vcpu, KVM_S390_MEM_OP)],
        ),
        // BASE | CMPXCHG (Linux 6.3+).
        (KVM_CAP_S390_MEM_OP_EXTENSION, 3, &[(VmFd, KVM_S390_MEM_OP)]),
        // z16: ESCA and 64-bit SCAO (248 slots), 8 online CPUs in the model.
        (KVM_CAP_NR_VCPUS, 8, &[(VmFd, KVM_CREATE_VCPU)]),
        (KVM_CAP_MAX_VCPUS, 248, &[(VmFd, KVM_CREATE_VCPU)]),
        (KVM_CAP_MAX_VCPU_ID, 248, &[(VmFd, KVM_CREATE_VCPU)]),
        // The host-dependent ones, on z16: ESOP, facilities 129, 64, 133, 82 and 11.
        (KVM_CAP_S390_COW, 1, &[]),
        (
            KVM_CAP_S390_VECTOR_REGISTERS,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (
            KVM_CAP_S390_RI,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (
            KVM_CAP_S390_GS,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (Vcpu, KVM_RUN)],
        ),
        (KVM_CAP_S390_BPB, 1, &[(Vcpu, KVM_RUN)]),
        (
            KVM_CAP_S390_CPU_TOPOLOGY,
            1,
            &[(VmFd, KVM_ENABLE_CAP), (VmFd, KVM_SET_DEVICE_ATTR)],
        ),
    ];

    /// What the shim must answer for `cap` on the z16 model: the kernel's answer once the
    /// requests it needs are served, 0 before.
    fn expected_z16(cap: u32) -> i32 {
        match KERNEL_Z16.iter().find(|(c, _, _)| *c == cap) {
            Some(&(_, kernel, needs)) if needs.iter().all(served) => kernel,
            _ => 0,
        }
    }

    #[test]
    fn every_answer_is_the_kernels_once_served() {
        let h = HostConfig::z16();
        // Every number up to well past the last capability, and a few out of range.
        let numbers = (0..400u64).chain([1 << 31, 1 << 32, 1 << 40, u64::MAX]);
        for cap in numbers {
            let want = u32::try_from(cap).map_or(0, expected_z16);
            assert_eq!(answer(&h, None, cap), want, "KVM_CHECK_EXTENSION({cap})");
        }
    }

    #[test]
    fn answers_today() {
        // Literal answers of this version, so that a capability is neither dropped nor
        // advertised without anyone noticing (update with the handler that changes it).
        let h = HostConfig::z16();
        let want: &[(u32, i32)] = &[
            (KVM_CAP_USER_MEMORY, 1),
            (KVM_CAP_NR_MEMSLOTS, 32767),
            (KVM_CAP_S390_MEM_OP, 65536),
            (KVM_CAP_S390_MEM_OP_EXTENSION, 3),
            (KVM_CAP_S390_SKEYS, 1),
            (KVM_CAP_S390_CMMA_MIGRATION, 1),
            (KVM_CAP_VM_ATTRIBUTES, 1),
            (KVM_CAP_S390_VCPU_RESETS, 1),
            (KVM_CAP_ONE_REG, 1),
            (KVM_CAP_MP_STATE, 1),
            (KVM_CAP_MAX_VCPUS, 248),
            (KVM_CAP_NR_VCPUS, 8),
            (KVM_CAP_S390_COW, 1),
            (KVM_CAP_S390_CPU_TOPOLOGY, 1),
            (KVM_CAP_S390_INJECT_IRQ, 1),
            (KVM_CAP_S390_IRQ_STATE, 1),
            (KVM_CAP_DEVICE_CTRL, 1),
            (KVM_CAP_S390_AIS, 1),
            (KVM_CAP_READONLY_MEM, 0),
            (KVM_CAP_S390_HPAGE_1M, 0),
            (KVM_CAP_S390_UCONTROL, 0),
            (KVM_CAP_S390_PROTECTED, 0),
        ];
        for &(cap, v) in want {
            assert_eq!(answer(&h, None, u64::from(cap)), v, "cap {cap}");
        }
    }
}
