//! Name tables for the trace and `kvm-s390-shim decode`: the kernel's constants back to
//! their names. Every entry names a constant of [`crate::uapi`], so a table cannot drift
//! from the numbers the shim serves.

use crate::uapi::*;

/// A table of `(value, name)` pairs built from constant names.
macro_rules! names {
    ($($c:ident),* $(,)?) => {
        &[$(($c as u64, stringify!($c))),*]
    };
}

/// One name table.
pub type Names = &'static [(u64, &'static str)];

/// The first name of `v` in `table`.
pub fn name_of(table: Names, v: u64) -> Option<&'static str> {
    table.iter().find(|(n, _)| *n == v).map(|(_, s)| *s)
}

/// The value named `name` in `table`, matched case-insensitively, with or without the
/// table's common prefix (`LOGICAL_READ` finds `KVM_S390_MEMOP_LOGICAL_READ`).
pub fn value_of(table: Names, name: &str) -> Option<u64> {
    table
        .iter()
        .find(|(_, s)| s.eq_ignore_ascii_case(name) || suffix_eq(s, name))
        .map(|(v, _)| *v)
}

fn suffix_eq(full: &str, short: &str) -> bool {
    full.len() > short.len()
        && full.as_bytes()[full.len() - short.len() - 1] == b'_'
        && full[full.len() - short.len()..].eq_ignore_ascii_case(short)
}

/// `name`, or `v` in hex when the table has no name for it.
pub fn or_hex(table: Names, v: u64) -> String {
    match name_of(table, v) {
        Some(s) => s.to_string(),
        None => format!("{v:#x}"),
    }
}

/// `KVM_S390_MEM_OP` operations.
pub const MEMOP_OPS: Names = names!(
    KVM_S390_MEMOP_LOGICAL_READ,
    KVM_S390_MEMOP_LOGICAL_WRITE,
    KVM_S390_MEMOP_SIDA_READ,
    KVM_S390_MEMOP_SIDA_WRITE,
    KVM_S390_MEMOP_ABSOLUTE_READ,
    KVM_S390_MEMOP_ABSOLUTE_WRITE,
    KVM_S390_MEMOP_ABSOLUTE_CMPXCHG,
);

/// `KVM_S390_KEYOP` operations.
pub const KEYOP_OPS: Names = names!(
    KVM_S390_KEYOP_ISKE,
    KVM_S390_KEYOP_RRBE,
    KVM_S390_KEYOP_SSKE
);

/// `KVM_S390_MEM_OP` flag bits.
pub const MEMOP_FLAGS: Names = names!(
    KVM_S390_MEMOP_F_CHECK_ONLY,
    KVM_S390_MEMOP_F_INJECT_EXCEPTION,
    KVM_S390_MEMOP_F_SKEY_PROTECTION,
);

/// Interrupt types of `kvm_s390_interrupt` and `kvm_s390_irq` (I/O types are a range).
pub const IRQ_TYPES: Names = names!(
    KVM_S390_SIGP_STOP,
    KVM_S390_PROGRAM_INT,
    KVM_S390_SIGP_SET_PREFIX,
    KVM_S390_RESTART,
    KVM_S390_INT_PFAULT_INIT,
    KVM_S390_INT_PFAULT_DONE,
    KVM_S390_MCHK,
    KVM_S390_INT_CLOCK_COMP,
    KVM_S390_INT_CPU_TIMER,
    KVM_S390_INT_VIRTIO,
    KVM_S390_INT_SERVICE,
    KVM_S390_INT_EMERGENCY,
    KVM_S390_INT_EXTERNAL_CALL,
);

/// The name of interrupt type `t`, with the I/O range (`KVM_S390_INT_IO(ai,cssid,ssid,schid)`).
pub fn irq_type(t: u64) -> String {
    if let Some(s) = name_of(IRQ_TYPES, t) {
        return s.to_string();
    }
    let t32 = t as u32;
    if t >> 32 == 0 && t32 <= KVM_S390_INT_IO_MAX {
        let ai = (t32 & KVM_S390_INT_IO_AI_MASK) != 0;
        let cssid = (t32 >> 18) & 0xff;
        let ssid = (t32 >> 16) & 0x3;
        let schid = t32 & 0xffff;
        return format!(
            "KVM_S390_INT_IO({},{cssid:#x},{ssid},{schid:#x})",
            u8::from(ai)
        );
    }
    format!("{t:#x}")
}

/// VM attribute groups (`KVM_{SET,GET,HAS}_DEVICE_ATTR` on a VM fd).
pub const VM_ATTR_GROUPS: Names = names!(
    KVM_S390_VM_MEM_CTRL,
    KVM_S390_VM_TOD,
    KVM_S390_VM_CRYPTO,
    KVM_S390_VM_CPU_MODEL,
    KVM_S390_VM_MIGRATION,
    KVM_S390_VM_CPU_TOPOLOGY,
);

/// The attributes of VM group `group`.
pub fn vm_attrs(group: u64) -> Names {
    match group as u32 {
        KVM_S390_VM_MEM_CTRL => names!(
            KVM_S390_VM_MEM_ENABLE_CMMA,
            KVM_S390_VM_MEM_CLR_CMMA,
            KVM_S390_VM_MEM_LIMIT_SIZE,
        ),
        KVM_S390_VM_TOD => names!(
            KVM_S390_VM_TOD_LOW,
            KVM_S390_VM_TOD_HIGH,
            KVM_S390_VM_TOD_EXT
        ),
        KVM_S390_VM_CRYPTO => names!(
            KVM_S390_VM_CRYPTO_ENABLE_AES_KW,
            KVM_S390_VM_CRYPTO_ENABLE_DEA_KW,
            KVM_S390_VM_CRYPTO_DISABLE_AES_KW,
            KVM_S390_VM_CRYPTO_DISABLE_DEA_KW,
            KVM_S390_VM_CRYPTO_ENABLE_APIE,
            KVM_S390_VM_CRYPTO_DISABLE_APIE,
        ),
        KVM_S390_VM_CPU_MODEL => names!(
            KVM_S390_VM_CPU_PROCESSOR,
            KVM_S390_VM_CPU_MACHINE,
            KVM_S390_VM_CPU_PROCESSOR_FEAT,
            KVM_S390_VM_CPU_MACHINE_FEAT,
            KVM_S390_VM_CPU_PROCESSOR_SUBFUNC,
            KVM_S390_VM_CPU_MACHINE_SUBFUNC,
            KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST,
            KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST,
        ),
        KVM_S390_VM_MIGRATION => names!(
            KVM_S390_VM_MIGRATION_STOP,
            KVM_S390_VM_MIGRATION_START,
            KVM_S390_VM_MIGRATION_STATUS,
        ),
        _ => &[],
    }
}

/// FLIC attribute groups (`KVM_{SET,GET,HAS}_DEVICE_ATTR` on a FLIC fd).
pub const FLIC_GROUPS: Names = names!(
    KVM_DEV_FLIC_GET_ALL_IRQS,
    KVM_DEV_FLIC_ENQUEUE,
    KVM_DEV_FLIC_CLEAR_IRQS,
    KVM_DEV_FLIC_APF_ENABLE,
    KVM_DEV_FLIC_APF_DISABLE_WAIT,
    KVM_DEV_FLIC_ADAPTER_REGISTER,
    KVM_DEV_FLIC_ADAPTER_MODIFY,
    KVM_DEV_FLIC_CLEAR_IO_IRQ,
    KVM_DEV_FLIC_AISM,
    KVM_DEV_FLIC_AIRQ_INJECT,
    KVM_DEV_FLIC_AISM_ALL,
);

/// Device types of `KVM_CREATE_DEVICE`.
pub const DEVICE_TYPES: Names = names!(KVM_DEV_TYPE_FLIC);

/// vCPU run states of `kvm_mp_state`.
pub const MP_STATES: Names = names!(
    KVM_MP_STATE_RUNNABLE,
    KVM_MP_STATE_UNINITIALIZED,
    KVM_MP_STATE_INIT_RECEIVED,
    KVM_MP_STATE_HALTED,
    KVM_MP_STATE_SIPI_RECEIVED,
    KVM_MP_STATE_STOPPED,
    KVM_MP_STATE_CHECK_STOP,
    KVM_MP_STATE_OPERATING,
    KVM_MP_STATE_LOAD,
);

/// Capability numbers (`KVM_CHECK_EXTENSION`, `KVM_ENABLE_CAP`).
pub const CAPS: Names = names!(
    KVM_CAP_IRQCHIP,
    KVM_CAP_HLT,
    KVM_CAP_MMU_SHADOW_CACHE_CONTROL,
    KVM_CAP_USER_MEMORY,
    KVM_CAP_SET_TSS_ADDR,
    KVM_CAP_VAPIC,
    KVM_CAP_EXT_CPUID,
    KVM_CAP_CLOCKSOURCE,
    KVM_CAP_NR_VCPUS,
    KVM_CAP_NR_MEMSLOTS,
    KVM_CAP_PIT,
    KVM_CAP_NOP_IO_DELAY,
    KVM_CAP_PV_MMU,
    KVM_CAP_MP_STATE,
    KVM_CAP_COALESCED_MMIO,
    KVM_CAP_SYNC_MMU,
    KVM_CAP_IOMMU,
    KVM_CAP_DESTROY_MEMORY_REGION_WORKS,
    KVM_CAP_USER_NMI,
    KVM_CAP_SET_GUEST_DEBUG,
    KVM_CAP_IRQ_ROUTING,
    KVM_CAP_IRQ_INJECT_STATUS,
    KVM_CAP_ASSIGN_DEV_IRQ,
    KVM_CAP_JOIN_MEMORY_REGIONS_WORKS,
    KVM_CAP_IRQFD,
    KVM_CAP_SET_BOOT_CPU_ID,
    KVM_CAP_IOEVENTFD,
    KVM_CAP_SET_IDENTITY_MAP_ADDR,
    KVM_CAP_ADJUST_CLOCK,
    KVM_CAP_INTERNAL_ERROR_DATA,
    KVM_CAP_S390_PSW,
    KVM_CAP_PPC_SEGSTATE,
    KVM_CAP_HYPERV,
    KVM_CAP_HYPERV_VAPIC,
    KVM_CAP_HYPERV_SPIN,
    KVM_CAP_PCI_SEGMENT,
    KVM_CAP_PPC_PAIRED_SINGLES,
    KVM_CAP_INTR_SHADOW,
    KVM_CAP_X86_ROBUST_SINGLESTEP,
    KVM_CAP_PPC_OSI,
    KVM_CAP_PPC_UNSET_IRQ,
    KVM_CAP_ENABLE_CAP,
    KVM_CAP_PPC_GET_PVINFO,
    KVM_CAP_PPC_IRQ_LEVEL,
    KVM_CAP_ASYNC_PF,
    KVM_CAP_TSC_CONTROL,
    KVM_CAP_GET_TSC_KHZ,
    KVM_CAP_PPC_BOOKE_SREGS,
    KVM_CAP_SPAPR_TCE,
    KVM_CAP_PPC_SMT,
    KVM_CAP_PPC_RMA,
    KVM_CAP_MAX_VCPUS,
    KVM_CAP_PPC_HIOR,
    KVM_CAP_PPC_PAPR,
    KVM_CAP_SW_TLB,
    KVM_CAP_ONE_REG,
    KVM_CAP_S390_GMAP,
    KVM_CAP_TSC_DEADLINE_TIMER,
    KVM_CAP_S390_UCONTROL,
    KVM_CAP_SYNC_REGS,
    KVM_CAP_PCI_2_3,
    KVM_CAP_KVMCLOCK_CTRL,
    KVM_CAP_SIGNAL_MSI,
    KVM_CAP_PPC_GET_SMMU_INFO,
    KVM_CAP_S390_COW,
    KVM_CAP_PPC_ALLOC_HTAB,
    KVM_CAP_READONLY_MEM,
    KVM_CAP_IRQFD_RESAMPLE,
    KVM_CAP_PPC_BOOKE_WATCHDOG,
    KVM_CAP_PPC_HTAB_FD,
    KVM_CAP_S390_CSS_SUPPORT,
    KVM_CAP_PPC_EPR,
    KVM_CAP_ARM_PSCI,
    KVM_CAP_ARM_SET_DEVICE_ADDR,
    KVM_CAP_DEVICE_CTRL,
    KVM_CAP_IRQ_MPIC,
    KVM_CAP_PPC_RTAS,
    KVM_CAP_IRQ_XICS,
    KVM_CAP_ARM_EL1_32BIT,
    KVM_CAP_SPAPR_MULTITCE,
    KVM_CAP_EXT_EMUL_CPUID,
    KVM_CAP_HYPERV_TIME,
    KVM_CAP_IOAPIC_POLARITY_IGNORED,
    KVM_CAP_ENABLE_CAP_VM,
    KVM_CAP_S390_IRQCHIP,
    KVM_CAP_IOEVENTFD_NO_LENGTH,
    KVM_CAP_VM_ATTRIBUTES,
    KVM_CAP_ARM_PSCI_0_2,
    KVM_CAP_PPC_FIXUP_HCALL,
    KVM_CAP_PPC_ENABLE_HCALL,
    KVM_CAP_CHECK_EXTENSION_VM,
    KVM_CAP_S390_USER_SIGP,
    KVM_CAP_S390_VECTOR_REGISTERS,
    KVM_CAP_S390_MEM_OP,
    KVM_CAP_S390_USER_STSI,
    KVM_CAP_S390_SKEYS,
    KVM_CAP_MIPS_FPU,
    KVM_CAP_MIPS_MSA,
    KVM_CAP_S390_INJECT_IRQ,
    KVM_CAP_S390_IRQ_STATE,
    KVM_CAP_PPC_HWRNG,
    KVM_CAP_DISABLE_QUIRKS,
    KVM_CAP_X86_SMM,
    KVM_CAP_MULTI_ADDRESS_SPACE,
    KVM_CAP_GUEST_DEBUG_HW_BPS,
    KVM_CAP_GUEST_DEBUG_HW_WPS,
    KVM_CAP_SPLIT_IRQCHIP,
    KVM_CAP_IOEVENTFD_ANY_LENGTH,
    KVM_CAP_HYPERV_SYNIC,
    KVM_CAP_S390_RI,
    KVM_CAP_SPAPR_TCE_64,
    KVM_CAP_ARM_PMU_V3,
    KVM_CAP_VCPU_ATTRIBUTES,
    KVM_CAP_MAX_VCPU_ID,
    KVM_CAP_X2APIC_API,
    KVM_CAP_S390_USER_INSTR0,
    KVM_CAP_MSI_DEVID,
    KVM_CAP_PPC_HTM,
    KVM_CAP_SPAPR_RESIZE_HPT,
    KVM_CAP_PPC_MMU_RADIX,
    KVM_CAP_PPC_MMU_HASH_V3,
    KVM_CAP_IMMEDIATE_EXIT,
    KVM_CAP_MIPS_VZ,
    KVM_CAP_MIPS_TE,
    KVM_CAP_MIPS_64BIT,
    KVM_CAP_S390_GS,
    KVM_CAP_S390_AIS,
    KVM_CAP_SPAPR_TCE_VFIO,
    KVM_CAP_X86_DISABLE_EXITS,
    KVM_CAP_ARM_USER_IRQ,
    KVM_CAP_S390_CMMA_MIGRATION,
    KVM_CAP_PPC_FWNMI,
    KVM_CAP_PPC_SMT_POSSIBLE,
    KVM_CAP_HYPERV_SYNIC2,
    KVM_CAP_HYPERV_VP_INDEX,
    KVM_CAP_S390_AIS_MIGRATION,
    KVM_CAP_PPC_GET_CPU_CHAR,
    KVM_CAP_S390_BPB,
    KVM_CAP_GET_MSR_FEATURES,
    KVM_CAP_HYPERV_EVENTFD,
    KVM_CAP_HYPERV_TLBFLUSH,
    KVM_CAP_S390_HPAGE_1M,
    KVM_CAP_NESTED_STATE,
    KVM_CAP_ARM_INJECT_SERROR_ESR,
    KVM_CAP_MSR_PLATFORM_INFO,
    KVM_CAP_PPC_NESTED_HV,
    KVM_CAP_HYPERV_SEND_IPI,
    KVM_CAP_COALESCED_PIO,
    KVM_CAP_HYPERV_ENLIGHTENED_VMCS,
    KVM_CAP_EXCEPTION_PAYLOAD,
    KVM_CAP_ARM_VM_IPA_SIZE,
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT,
    KVM_CAP_HYPERV_CPUID,
    KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
    KVM_CAP_PPC_IRQ_XIVE,
    KVM_CAP_ARM_SVE,
    KVM_CAP_ARM_PTRAUTH_ADDRESS,
    KVM_CAP_ARM_PTRAUTH_GENERIC,
    KVM_CAP_PMU_EVENT_FILTER,
    KVM_CAP_ARM_IRQ_LINE_LAYOUT_2,
    KVM_CAP_HYPERV_DIRECT_TLBFLUSH,
    KVM_CAP_PPC_GUEST_DEBUG_SSTEP,
    KVM_CAP_ARM_NISV_TO_USER,
    KVM_CAP_ARM_INJECT_EXT_DABT,
    KVM_CAP_S390_VCPU_RESETS,
    KVM_CAP_S390_PROTECTED,
    KVM_CAP_PPC_SECURE_GUEST,
    KVM_CAP_HALT_POLL,
    KVM_CAP_ASYNC_PF_INT,
    KVM_CAP_LAST_CPU,
    KVM_CAP_SMALLER_MAXPHYADDR,
    KVM_CAP_S390_DIAG318,
    KVM_CAP_STEAL_TIME,
    KVM_CAP_X86_USER_SPACE_MSR,
    KVM_CAP_X86_MSR_FILTER,
    KVM_CAP_ENFORCE_PV_FEATURE_CPUID,
    KVM_CAP_SYS_HYPERV_CPUID,
    KVM_CAP_DIRTY_LOG_RING,
    KVM_CAP_X86_BUS_LOCK_EXIT,
    KVM_CAP_PPC_DAWR1,
    KVM_CAP_SET_GUEST_DEBUG2,
    KVM_CAP_SGX_ATTRIBUTE,
    KVM_CAP_VM_COPY_ENC_CONTEXT_FROM,
    KVM_CAP_PTP_KVM,
    KVM_CAP_HYPERV_ENFORCE_CPUID,
    KVM_CAP_SREGS2,
    KVM_CAP_EXIT_HYPERCALL,
    KVM_CAP_PPC_RPT_INVALIDATE,
    KVM_CAP_BINARY_STATS_FD,
    KVM_CAP_EXIT_ON_EMULATION_FAILURE,
    KVM_CAP_ARM_MTE,
    KVM_CAP_VM_MOVE_ENC_CONTEXT_FROM,
    KVM_CAP_VM_GPA_BITS,
    KVM_CAP_XSAVE2,
    KVM_CAP_SYS_ATTRIBUTES,
    KVM_CAP_PPC_AIL_MODE_3,
    KVM_CAP_S390_MEM_OP_EXTENSION,
    KVM_CAP_PMU_CAPABILITY,
    KVM_CAP_DISABLE_QUIRKS2,
    KVM_CAP_VM_TSC_CONTROL,
    KVM_CAP_SYSTEM_EVENT_DATA,
    KVM_CAP_ARM_SYSTEM_SUSPEND,
    KVM_CAP_S390_PROTECTED_DUMP,
    KVM_CAP_X86_TRIPLE_FAULT_EVENT,
    KVM_CAP_X86_NOTIFY_VMEXIT,
    KVM_CAP_VM_DISABLE_NX_HUGE_PAGES,
    KVM_CAP_S390_ZPCI_OP,
    KVM_CAP_S390_CPU_TOPOLOGY,
    KVM_CAP_DIRTY_LOG_RING_ACQ_REL,
    KVM_CAP_S390_PROTECTED_ASYNC_DISABLE,
    KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP,
    KVM_CAP_PMU_EVENT_MASKED_EVENTS,
    KVM_CAP_COUNTER_OFFSET,
    KVM_CAP_ARM_EAGER_SPLIT_CHUNK_SIZE,
    KVM_CAP_ARM_SUPPORTED_BLOCK_SIZES,
    KVM_CAP_USER_MEMORY2,
    KVM_CAP_MEMORY_FAULT_INFO,
    KVM_CAP_MEMORY_ATTRIBUTES,
    KVM_CAP_GUEST_MEMFD,
    KVM_CAP_VM_TYPES,
);

/// The name of request `request` from the table of every known KVM ioctl.
pub fn request_name(request: u32) -> Option<&'static str> {
    IOCTLS.iter().find(|d| d.request == request).map(|d| d.name)
}

/// The request named `name` (with or without `KVM_`, any case), or a number (`0x...` or
/// decimal).
pub fn request_by_name(name: &str) -> Option<u32> {
    if let Some(n) = parse_number(name) {
        return u32::try_from(n).ok();
    }
    IOCTLS
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case(name) || suffix_eq(d.name, name))
        .map(|d| d.request)
}

/// A decimal or `0x` hexadecimal number.
pub fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The symbolic name of errno `e` (`EINVAL`), or its number.
pub fn errno_name(e: i32) -> String {
    let s = format!("{:?}", nix::errno::Errno::from_raw(e));
    if s == "UnknownErrno" {
        e.to_string()
    } else {
        s
    }
}

/// The errno named `name` (`EINVAL`, `einval`) or numbered `name`.
pub fn errno_by_name(name: &str) -> Option<i32> {
    if let Some(n) = parse_number(name) {
        return i32::try_from(n).ok().filter(|n| (1..4096).contains(n));
    }
    (1..200).find(|&e| errno_name(e).eq_ignore_ascii_case(name))
}

/// The names of the bits set in `v`, joined with `|`; unnamed bits in hex; `0` when none.
pub fn flags(table: Names, v: u64) -> String {
    if v == 0 {
        return "0".to_string();
    }
    let mut parts: Vec<String> = Vec::new();
    let mut rest = v;
    for (bit, name) in table {
        if *bit != 0 && rest & bit == *bit {
            parts.push((*name).to_string());
            rest &= !bit;
        }
    }
    if rest != 0 {
        parts.push(format!("{rest:#x}"));
    }
    parts.join("|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(name_of(MEMOP_OPS, 0), Some("KVM_S390_MEMOP_LOGICAL_READ"));
        assert_eq!(value_of(MEMOP_OPS, "absolute_cmpxchg"), Some(6));
        assert_eq!(request_by_name("CREATE_VCPU"), Some(KVM_CREATE_VCPU));
        assert_eq!(request_by_name("kvm_create_vcpu"), Some(KVM_CREATE_VCPU));
        assert_eq!(request_name(KVM_S390_MEM_OP), Some("KVM_S390_MEM_OP"));
        assert_eq!(errno_name(libc::ENOMEM), "ENOMEM");
        assert_eq!(errno_by_name("enomem"), Some(libc::ENOMEM));
        assert_eq!(errno_by_name("12"), Some(12));
        assert_eq!(errno_by_name("EWHATEVER"), None);
        assert_eq!(
            name_of(CAPS, u64::from(KVM_CAP_S390_MEM_OP)),
            Some("KVM_CAP_S390_MEM_OP")
        );
        assert_eq!(flags(MEMOP_FLAGS, 0), "0");
        assert_eq!(
            flags(MEMOP_FLAGS, 3),
            "KVM_S390_MEMOP_F_CHECK_ONLY|KVM_S390_MEMOP_F_INJECT_EXCEPTION"
        );
        assert_eq!(flags(MEMOP_FLAGS, 0x100), "0x100");
        assert_eq!(
            irq_type(u64::from(KVM_S390_INT_SERVICE)),
            "KVM_S390_INT_SERVICE"
        );
        assert_eq!(irq_type(0x0001_0002), "KVM_S390_INT_IO(0,0x0,1,0x2)");
    }
}
