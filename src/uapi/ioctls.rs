//! The one table of KVM ioctl request numbers, each computed from its argument type's size
//! with the asm-generic `_IOC` encoding (identical on x86_64, aarch64 and s390x).

use super::kvm::*;
use super::s390::*;

/// `_IOC` direction: no data.
pub const IOC_NONE: u32 = 0;
/// `_IOC` direction: userspace writes (the kernel reads the argument).
pub const IOC_WRITE: u32 = 1;
/// `_IOC` direction: userspace reads (the kernel writes the argument).
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, KVMIO, nr, size)`.
pub const fn kvm_ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (KVMIO << 8) | nr
}

/// One row of [`IOCTLS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoctlDef {
    /// The kernel's macro name.
    pub name: &'static str,
    /// The request number.
    pub request: u32,
    /// The C spelling of the `_IOx` definition, for the generated header.
    pub definition: &'static str,
}

macro_rules! kvm_ioctls {
    ($( $(#[$m:meta])* $name:ident = $dir:ident($nr:literal $(, $ty:ty)?); )*) => {
        $( $(#[$m])* pub const $name: u32 = kvm_ioctls!(@num $dir, $nr $(, $ty)?); )*
        /// Every ioctl the shim knows by number, in the order of this table.
        pub const IOCTLS: &[IoctlDef] = &[
            $( IoctlDef {
                name: stringify!($name),
                request: $name,
                definition: kvm_ioctls!(@def $dir, $nr $(, $ty)?),
            }, )*
        ];
    };
    (@num IO, $nr:literal) => { kvm_ioc(IOC_NONE, $nr, 0) };
    (@num IOW, $nr:literal, $ty:ty) => { kvm_ioc(IOC_WRITE, $nr, core::mem::size_of::<$ty>()) };
    (@num IOR, $nr:literal, $ty:ty) => { kvm_ioc(IOC_READ, $nr, core::mem::size_of::<$ty>()) };
    (@num IOWR, $nr:literal, $ty:ty) => {
        kvm_ioc(IOC_READ | IOC_WRITE, $nr, core::mem::size_of::<$ty>())
    };
    (@def IO, $nr:literal) => { concat!("_IO(KVMIO, ", stringify!($nr), ")") };
    (@def $dir:ident, $nr:literal, $ty:ty) => {
        concat!("_", stringify!($dir), "(KVMIO, ", stringify!($nr), ", ", stringify!($ty), ")")
    };
}

/// The C `unsigned long` argument of KVM_S390_STORE_STATUS and KVM_S390_VCPU_FAULT (LP64).
pub type unsigned_long = u64;

kvm_ioctls! {
    // System ioctls (/dev/kvm).
    KVM_GET_API_VERSION = IO(0x00);
    KVM_CREATE_VM = IO(0x01);
    /// Also on the VM fd (KVM_CAP_CHECK_EXTENSION_VM).
    KVM_CHECK_EXTENSION = IO(0x03);
    KVM_GET_VCPU_MMAP_SIZE = IO(0x04);
    KVM_S390_ENABLE_SIE = IO(0x06);

    // VM ioctls.
    KVM_CREATE_VCPU = IO(0x41);
    KVM_GET_DIRTY_LOG = IOW(0x42, kvm_dirty_log);
    KVM_SET_USER_MEMORY_REGION = IOW(0x46, kvm_userspace_memory_region);
    /// Available with KVM_CAP_USER_MEMORY2 (Linux 6.8+).
    KVM_SET_USER_MEMORY_REGION2 = IOW(0x49, kvm_userspace_memory_region2);
    KVM_CREATE_IRQCHIP = IO(0x60);
    /// Available with KVM_CAP_IRQ_ROUTING.
    KVM_SET_GSI_ROUTING = IOW(0x6a, kvm_irq_routing);
    /// Available with KVM_CAP_IRQFD.
    KVM_IRQFD = IOW(0x76, kvm_irqfd);
    /// Available with KVM_CAP_IOEVENTFD.
    KVM_IOEVENTFD = IOW(0x79, kvm_ioeventfd);
    /// Available with KVM_CAP_S390_PROTECTED.
    KVM_S390_PV_COMMAND = IOWR(0xc5, kvm_pv_cmd);
    /// Available with KVM_CAP_BINARY_STATS_FD (VM and vCPU).
    KVM_GET_STATS_FD = IO(0xce);
    /// Available with KVM_CAP_DEVICE_CTRL.
    KVM_CREATE_DEVICE = IOWR(0xe0, kvm_create_device);
    /// Available with KVM_CAP_VM_ATTRIBUTES on the VM fd.
    KVM_SET_DEVICE_ATTR = IOW(0xe1, kvm_device_attr);
    KVM_GET_DEVICE_ATTR = IOW(0xe2, kvm_device_attr);
    KVM_HAS_DEVICE_ATTR = IOW(0xe3, kvm_device_attr);
    /// Available with KVM_CAP_ENABLE_CAP_VM (VM) and KVM_CAP_ENABLE_CAP (vCPU).
    KVM_ENABLE_CAP = IOW(0xa3, kvm_enable_cap);
    /// Available with KVM_CAP_S390_MEM_OP (vCPU) and KVM_CAP_S390_MEM_OP_EXTENSION (VM).
    KVM_S390_MEM_OP = IOW(0xb1, kvm_s390_mem_op);
    /// Available with KVM_CAP_S390_SKEYS.
    KVM_S390_GET_SKEYS = IOW(0xb2, kvm_s390_skeys);
    KVM_S390_SET_SKEYS = IOW(0xb3, kvm_s390_skeys);
    /// Available with KVM_CAP_S390_CMMA_MIGRATION.
    KVM_S390_GET_CMMA_BITS = IOWR(0xb8, kvm_s390_cmma_log);
    KVM_S390_SET_CMMA_BITS = IOW(0xb9, kvm_s390_cmma_log);
    /// VM and vCPU (floating and local interrupts).
    KVM_S390_INTERRUPT = IOW(0x94, kvm_s390_interrupt);

    // vCPU ioctls.
    KVM_RUN = IO(0x80);
    KVM_GET_REGS = IOR(0x81, kvm_regs);
    KVM_SET_REGS = IOW(0x82, kvm_regs);
    KVM_GET_SREGS = IOR(0x83, kvm_sregs);
    KVM_SET_SREGS = IOW(0x84, kvm_sregs);
    KVM_SET_SIGNAL_MASK = IOW(0x8b, kvm_signal_mask);
    KVM_GET_FPU = IOR(0x8c, kvm_fpu);
    KVM_SET_FPU = IOW(0x8d, kvm_fpu);
    KVM_S390_STORE_STATUS = IOW(0x95, unsigned_long);
    KVM_S390_SET_INITIAL_PSW = IOW(0x96, kvm_s390_psw);
    KVM_S390_INITIAL_RESET = IO(0x97);
    /// Available with KVM_CAP_MP_STATE.
    KVM_GET_MP_STATE = IOR(0x98, kvm_mp_state);
    KVM_SET_MP_STATE = IOW(0x99, kvm_mp_state);
    /// Available with KVM_CAP_SET_GUEST_DEBUG.
    KVM_SET_GUEST_DEBUG = IOW(0x9b, kvm_guest_debug);
    /// Available with KVM_CAP_ONE_REG.
    KVM_GET_ONE_REG = IOW(0xab, kvm_one_reg);
    KVM_SET_ONE_REG = IOW(0xac, kvm_one_reg);
    /// Available with KVM_CAP_S390_INJECT_IRQ.
    KVM_S390_IRQ = IOW(0xb4, kvm_s390_irq);
    /// Available with KVM_CAP_S390_IRQ_STATE.
    KVM_S390_SET_IRQ_STATE = IOW(0xb5, kvm_s390_irq_state);
    KVM_S390_GET_IRQ_STATE = IOW(0xb6, kvm_s390_irq_state);
    /// Available with KVM_CAP_S390_VCPU_RESETS.
    KVM_S390_NORMAL_RESET = IO(0xc3);
    KVM_S390_CLEAR_RESET = IO(0xc4);
    /// Available with KVM_CAP_S390_UCONTROL.
    KVM_S390_UCAS_MAP = IOW(0x50, kvm_s390_ucas_mapping);
    KVM_S390_UCAS_UNMAP = IOW(0x51, kvm_s390_ucas_mapping);
    KVM_S390_VCPU_FAULT = IOW(0x52, unsigned_long);
    /// Available with KVM_CAP_S390_KEYOP (Linux 7.0+).
    KVM_S390_KEYOP = IOWR(0x53, kvm_s390_keyop);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values from the kernel's own encoding, as listed in the specification.
    #[test]
    fn request_numbers_match_the_kernel() {
        let expect: &[(u32, u32)] = &[
            (KVM_GET_API_VERSION, 0x0000AE00),
            (KVM_CREATE_VM, 0x0000AE01),
            (KVM_CHECK_EXTENSION, 0x0000AE03),
            (KVM_GET_VCPU_MMAP_SIZE, 0x0000AE04),
            (KVM_S390_ENABLE_SIE, 0x0000AE06),
            (KVM_CREATE_VCPU, 0x0000AE41),
            (KVM_GET_DIRTY_LOG, 0x4010AE42),
            (KVM_SET_USER_MEMORY_REGION, 0x4020AE46),
            (KVM_SET_USER_MEMORY_REGION2, 0x40A0AE49),
            (KVM_S390_MEM_OP, 0x4040AEB1),
            (KVM_S390_GET_SKEYS, 0x4040AEB2),
            (KVM_S390_SET_SKEYS, 0x4040AEB3),
            (KVM_S390_IRQ, 0x4048AEB4),
            (KVM_S390_SET_IRQ_STATE, 0x4020AEB5),
            (KVM_S390_GET_IRQ_STATE, 0x4020AEB6),
            (KVM_S390_GET_CMMA_BITS, 0xC020AEB8),
            (KVM_S390_SET_CMMA_BITS, 0x4020AEB9),
            (KVM_SET_DEVICE_ATTR, 0x4018AEE1),
            (KVM_GET_DEVICE_ATTR, 0x4018AEE2),
            (KVM_HAS_DEVICE_ATTR, 0x4018AEE3),
            (KVM_ENABLE_CAP, 0x4068AEA3),
            (KVM_RUN, 0x0000AE80),
            (KVM_GET_REGS, 0x8080AE81),
            (KVM_SET_REGS, 0x4080AE82),
            (KVM_GET_SREGS, 0x80C0AE83),
            (KVM_SET_SREGS, 0x40C0AE84),
            (KVM_SET_SIGNAL_MASK, 0x4004AE8B),
            (KVM_GET_FPU, 0x8088AE8C),
            (KVM_SET_FPU, 0x4088AE8D),
            (KVM_S390_INTERRUPT, 0x4010AE94),
            (KVM_S390_STORE_STATUS, 0x4008AE95),
            (KVM_S390_SET_INITIAL_PSW, 0x4010AE96),
            (KVM_S390_INITIAL_RESET, 0x0000AE97),
            (KVM_GET_MP_STATE, 0x8004AE98),
            (KVM_SET_MP_STATE, 0x4004AE99),
            (KVM_SET_GUEST_DEBUG, 0x4018AE9B),
            (KVM_GET_ONE_REG, 0x4010AEAB),
            (KVM_SET_ONE_REG, 0x4010AEAC),
            (KVM_S390_NORMAL_RESET, 0x0000AEC3),
            (KVM_S390_CLEAR_RESET, 0x0000AEC4),
            (KVM_S390_PV_COMMAND, 0xC020AEC5),
            (KVM_GET_STATS_FD, 0x0000AECE),
            (KVM_CREATE_DEVICE, 0xC00CAEE0),
            (KVM_S390_UCAS_MAP, 0x4018AE50),
            (KVM_S390_UCAS_UNMAP, 0x4018AE51),
            (KVM_S390_VCPU_FAULT, 0x4008AE52),
            (KVM_S390_KEYOP, 0xC010AE53),
            (KVM_CREATE_IRQCHIP, 0x0000AE60),
            (KVM_SET_GSI_ROUTING, 0x4008AE6A),
            (KVM_IRQFD, 0x4020AE76),
            (KVM_IOEVENTFD, 0x4040AE79),
        ];
        for (got, want) in expect {
            assert_eq!(got, want, "{got:#x} != {want:#x}");
        }
        assert_eq!(
            expect.len(),
            IOCTLS.len(),
            "every table row has an expected value"
        );
    }

    #[test]
    fn table_names_are_unique() {
        for (i, a) in IOCTLS.iter().enumerate() {
            for b in &IOCTLS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.request, b.request, "{} and {}", a.name, b.name);
            }
        }
    }
}
