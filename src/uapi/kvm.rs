//! Generic structs and constants of `include/uapi/linux/kvm.h`, as seen with the s390
//! architecture header (`__KVM_S390` defined).

use bytemuck::{AnyBitPattern, NoUninit};

use super::s390::kvm_sync_regs;

/// `KVM_GET_API_VERSION` answer.
pub const KVM_API_VERSION: u32 = 12;
/// The ioctl type byte of every KVM request.
pub const KVMIO: u32 = 0xAE;

// Memory-slot flags (`kvm_userspace_memory_region.flags`).
pub const KVM_MEM_LOG_DIRTY_PAGES: u32 = 1 << 0;
pub const KVM_MEM_READONLY: u32 = 1 << 1;
/// Linux 6.8+.
pub const KVM_MEM_GUEST_MEMFD: u32 = 1 << 2;

/// `KVM_CREATE_VM` type for a user-controlled (ucontrol) s390 VM.
pub const KVM_VM_S390_UCONTROL: u32 = 1;
/// Page offset of the SIE control block in a ucontrol vCPU mapping.
pub const KVM_S390_SIE_PAGE_OFFSET: u32 = 1;

// Storage keys.
pub const KVM_S390_GET_SKEYS_NONE: u32 = 1;
pub const KVM_S390_SKEYS_MAX: u32 = 1048576;

// CMMA.
pub const KVM_S390_CMMA_PEEK: u32 = 1 << 0;

// KVM_S390_MEM_OP operations.
pub const KVM_S390_MEMOP_LOGICAL_READ: u32 = 0;
pub const KVM_S390_MEMOP_LOGICAL_WRITE: u32 = 1;
pub const KVM_S390_MEMOP_SIDA_READ: u32 = 2;
pub const KVM_S390_MEMOP_SIDA_WRITE: u32 = 3;
pub const KVM_S390_MEMOP_ABSOLUTE_READ: u32 = 4;
pub const KVM_S390_MEMOP_ABSOLUTE_WRITE: u32 = 5;
/// Linux 6.3+.
pub const KVM_S390_MEMOP_ABSOLUTE_CMPXCHG: u32 = 6;
// KVM_S390_MEM_OP flags.
pub const KVM_S390_MEMOP_F_CHECK_ONLY: u64 = 1 << 0;
pub const KVM_S390_MEMOP_F_INJECT_EXCEPTION: u64 = 1 << 1;
pub const KVM_S390_MEMOP_F_SKEY_PROTECTION: u64 = 1 << 2;
// KVM_CAP_S390_MEM_OP_EXTENSION bits (Linux 6.3+).
pub const KVM_S390_MEMOP_EXTENSION_CAP_BASE: u32 = 1 << 0;
pub const KVM_S390_MEMOP_EXTENSION_CAP_CMPXCHG: u32 = 1 << 1;

// Multiprocessing states.
pub const KVM_MP_STATE_RUNNABLE: u32 = 0;
pub const KVM_MP_STATE_UNINITIALIZED: u32 = 1;
pub const KVM_MP_STATE_INIT_RECEIVED: u32 = 2;
pub const KVM_MP_STATE_HALTED: u32 = 3;
pub const KVM_MP_STATE_SIPI_RECEIVED: u32 = 4;
pub const KVM_MP_STATE_STOPPED: u32 = 5;
pub const KVM_MP_STATE_CHECK_STOP: u32 = 6;
pub const KVM_MP_STATE_OPERATING: u32 = 7;
pub const KVM_MP_STATE_LOAD: u32 = 8;

// Reset flags of KVM_EXIT_S390_RESET.
pub const KVM_S390_RESET_POR: u64 = 1;
pub const KVM_S390_RESET_CLEAR: u64 = 2;
pub const KVM_S390_RESET_SUBSYSTEM: u64 = 4;
pub const KVM_S390_RESET_CPU_INIT: u64 = 8;
pub const KVM_S390_RESET_IPL: u64 = 16;

// Interrupt types (`kvm_s390_interrupt.type`, `kvm_s390_irq.type`).
pub const KVM_S390_SIGP_STOP: u32 = 0xfffe0000;
pub const KVM_S390_PROGRAM_INT: u32 = 0xfffe0001;
pub const KVM_S390_SIGP_SET_PREFIX: u32 = 0xfffe0002;
pub const KVM_S390_RESTART: u32 = 0xfffe0003;
pub const KVM_S390_INT_PFAULT_INIT: u32 = 0xfffe0004;
pub const KVM_S390_INT_PFAULT_DONE: u32 = 0xfffe0005;
pub const KVM_S390_MCHK: u32 = 0xfffe1000;
pub const KVM_S390_INT_CLOCK_COMP: u32 = 0xffff1004;
pub const KVM_S390_INT_CPU_TIMER: u32 = 0xffff1005;
pub const KVM_S390_INT_VIRTIO: u32 = 0xffff2603;
pub const KVM_S390_INT_SERVICE: u32 = 0xffff2401;
pub const KVM_S390_INT_EMERGENCY: u32 = 0xffff1201;
pub const KVM_S390_INT_EXTERNAL_CALL: u32 = 0xffff1202;
pub const KVM_S390_INT_IO_MIN: u32 = 0x00000000;
pub const KVM_S390_INT_IO_MAX: u32 = 0xfffdffff;
pub const KVM_S390_INT_IO_AI_MASK: u32 = 0x04000000;
// Program-interrupt flags (`kvm_s390_pgm_info.flags`).
pub const KVM_S390_PGM_FLAGS_ILC_VALID: u8 = 0x01;
pub const KVM_S390_PGM_FLAGS_ILC_0: u8 = 0x02;
pub const KVM_S390_PGM_FLAGS_ILC_1: u8 = 0x04;
pub const KVM_S390_PGM_FLAGS_ILC_MASK: u8 = 0x06;
pub const KVM_S390_PGM_FLAGS_NO_REWIND: u8 = 0x08;
pub const KVM_S390_STOP_FLAG_STORE_STATUS: u32 = 0x01;

// KVM_S390_STORE_STATUS special addresses.
pub const KVM_S390_STORE_STATUS_NOADDR: u64 = u64::MAX;
pub const KVM_S390_STORE_STATUS_PREFIXED: u64 = u64::MAX - 1;

// Guest debug.
pub const KVM_GUESTDBG_ENABLE: u32 = 0x00000001;
pub const KVM_GUESTDBG_SINGLESTEP: u32 = 0x00000002;

// ONE_REG encoding.
pub const KVM_REG_ARCH_MASK: u64 = 0xff00000000000000;
pub const KVM_REG_S390: u64 = 0x5000000000000000;
pub const KVM_REG_SIZE_SHIFT: u32 = 52;
pub const KVM_REG_SIZE_MASK: u64 = 0x00f0000000000000;
pub const KVM_REG_SIZE_U8: u64 = 0x0000000000000000;
pub const KVM_REG_SIZE_U16: u64 = 0x0010000000000000;
pub const KVM_REG_SIZE_U32: u64 = 0x0020000000000000;
pub const KVM_REG_SIZE_U64: u64 = 0x0030000000000000;
pub const KVM_REG_SIZE_U128: u64 = 0x0040000000000000;

// Internal-error sub-reasons.
pub const KVM_INTERNAL_ERROR_EMULATION: u32 = 1;
pub const KVM_INTERNAL_ERROR_SIMUL_EX: u32 = 2;
pub const KVM_INTERNAL_ERROR_DELIVERY_EV: u32 = 3;
pub const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: u32 = 4;

/// Argument of `KVM_SET_USER_MEMORY_REGION`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_userspace_memory_region {
    pub slot: u32,
    pub flags: u32,
    pub guest_phys_addr: u64,
    pub memory_size: u64,
    pub userspace_addr: u64,
}
assert_layout!(kvm_userspace_memory_region, size = 32, align = 8,
    slot @ 0, flags @ 4, guest_phys_addr @ 8, memory_size @ 16, userspace_addr @ 24);

/// Argument of `KVM_SET_USER_MEMORY_REGION2` (Linux 6.8+).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_userspace_memory_region2 {
    pub slot: u32,
    pub flags: u32,
    pub guest_phys_addr: u64,
    pub memory_size: u64,
    pub userspace_addr: u64,
    pub guest_memfd_offset: u64,
    pub guest_memfd: u32,
    pub pad1: u32,
    pub pad2: [u64; 14],
}
assert_layout!(kvm_userspace_memory_region2, size = 160, align = 8,
    slot @ 0, flags @ 4, guest_phys_addr @ 8, memory_size @ 16, userspace_addr @ 24,
    guest_memfd_offset @ 32, guest_memfd @ 40, pad1 @ 44, pad2 @ 48);

/// Argument of `KVM_GET_DIRTY_LOG`. `dirty_bitmap` is a user pointer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_dirty_log {
    pub slot: u32,
    pub padding1: u32,
    pub dirty_bitmap: u64,
}
assert_layout!(kvm_dirty_log, size = 16, align = 8, slot @ 0, padding1 @ 4, dirty_bitmap @ 8);

/// Argument of `KVM_ENABLE_CAP` (VM and vCPU).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_enable_cap {
    pub cap: u32,
    pub flags: u32,
    pub args: [u64; 4],
    pub pad: [u8; 64],
}
impl Default for kvm_enable_cap {
    fn default() -> Self {
        Self {
            cap: 0,
            flags: 0,
            args: [0; 4],
            pad: [0; 64],
        }
    }
}
assert_layout!(kvm_enable_cap, size = 104, align = 8, cap @ 0, flags @ 4, args @ 8, pad @ 40);

/// Argument of `KVM_GET_ONE_REG` / `KVM_SET_ONE_REG`. `addr` is a user pointer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_one_reg {
    pub id: u64,
    pub addr: u64,
}
assert_layout!(kvm_one_reg, size = 16, align = 8, id @ 0, addr @ 8);

/// Argument of `KVM_GET_MP_STATE` / `KVM_SET_MP_STATE`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_mp_state {
    pub mp_state: u32,
}
assert_layout!(kvm_mp_state, size = 4, align = 4, mp_state @ 0);

/// A PSW as passed to `KVM_S390_SET_INITIAL_PSW`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_psw {
    pub mask: u64,
    pub addr: u64,
}
assert_layout!(kvm_s390_psw, size = 16, align = 8, mask @ 0, addr @ 8);

/// Argument of `KVM_SET/GET/HAS_DEVICE_ATTR`. `addr` is a user pointer to the payload.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_device_attr {
    pub flags: u32,
    pub group: u32,
    pub attr: u64,
    pub addr: u64,
}
assert_layout!(kvm_device_attr, size = 24, align = 8, flags @ 0, group @ 4, attr @ 8, addr @ 16);

/// Argument of `KVM_CREATE_DEVICE`.
/// cbindgen:field-names=[type, fd, flags]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_create_device {
    pub type_: u32,
    pub fd: u32,
    pub flags: u32,
}
assert_layout!(kvm_create_device, size = 12, align = 4, type_ @ 0, fd @ 4, flags @ 8);

/// `kvm_create_device::flags`: only test whether the type can be created.
pub const KVM_CREATE_DEVICE_TEST: u32 = 1;
/// `kvm_create_device::type`: the s390 floating interrupt controller.
pub const KVM_DEV_TYPE_FLIC: u32 = 6;

// `kvm_s390_keyop.operation` (Linux 7.0+).
pub const KVM_S390_KEYOP_ISKE: u8 = 0x01;
pub const KVM_S390_KEYOP_RRBE: u8 = 0x02;
pub const KVM_S390_KEYOP_SSKE: u8 = 0x03;

/// Argument of `KVM_S390_KEYOP` (Linux 7.0+): one storage-key operation on a guest absolute
/// address; the old key (or its R and C bits) comes back in `key`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_keyop {
    pub guest_addr: u64,
    pub key: u8,
    pub operation: u8,
    pub pad: [u8; 6],
}
assert_layout!(kvm_s390_keyop, size = 16, align = 8, guest_addr @ 0, key @ 8, operation @ 9, pad @ 10);

/// Argument of `KVM_S390_GET_SKEYS` / `KVM_S390_SET_SKEYS`. `skeydata_addr` is a user pointer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_skeys {
    pub start_gfn: u64,
    pub count: u64,
    pub skeydata_addr: u64,
    pub flags: u32,
    pub reserved: [u32; 9],
}
assert_layout!(kvm_s390_skeys, size = 64, align = 8,
    start_gfn @ 0, count @ 8, skeydata_addr @ 16, flags @ 24, reserved @ 28);

/// The anonymous `remaining`/`mask` union of [`kvm_s390_cmma_log`].
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_s390_cmma_log_u {
    /// GET output: CMMA-dirty pages still to be harvested.
    pub remaining: u64,
    /// SET input: which value bits to write, in PGSTE bit positions.
    pub mask: u64,
}
assert_union_layout!(kvm_s390_cmma_log_u, size = 8, align = 8, remaining, mask);
static_assertions::const_assert_eq!(
    core::mem::size_of::<u64>(),
    core::mem::size_of::<kvm_s390_cmma_log_u>()
);

/// Argument of `KVM_S390_GET_CMMA_BITS` / `KVM_S390_SET_CMMA_BITS`. `values` is a user pointer.
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern, NoUninit)]
pub struct kvm_s390_cmma_log {
    pub start_gfn: u64,
    pub count: u32,
    pub flags: u32,
    pub u: kvm_s390_cmma_log_u,
    pub values: u64,
}
assert_layout!(kvm_s390_cmma_log, size = 32, align = 8,
    start_gfn @ 0, count @ 8, flags @ 12, u @ 16, values @ 24);

/// The `ar`/`key`/`old_addr` member of the [`kvm_s390_mem_op`] union.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_mem_op_ext {
    /// Access register number (logical ops).
    pub ar: u8,
    /// Access key, used only with `KVM_S390_MEMOP_F_SKEY_PROTECTION`.
    pub key: u8,
    pub pad1: [u8; 6],
    /// User pointer to the expected/old value (absolute cmpxchg, Linux 6.3+).
    pub old_addr: u64,
}
assert_layout!(kvm_s390_mem_op_ext, size = 16, align = 8, ar @ 0, key @ 1, pad1 @ 2, old_addr @ 8);

/// The anonymous union at offset 32 of [`kvm_s390_mem_op`].
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_s390_mem_op_u {
    pub ext: kvm_s390_mem_op_ext,
    pub sida_offset: u32,
    pub reserved: [u8; 32],
}
assert_union_layout!(
    kvm_s390_mem_op_u,
    size = 32,
    align = 8,
    ext,
    sida_offset,
    reserved
);

/// Argument of `KVM_S390_MEM_OP` (Linux 6.3+ layout, with `old_addr`). `buf` is a user pointer.
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub struct kvm_s390_mem_op {
    pub gaddr: u64,
    pub flags: u64,
    pub size: u32,
    pub op: u32,
    pub buf: u64,
    pub u: kvm_s390_mem_op_u,
}
assert_layout!(kvm_s390_mem_op, size = 64, align = 8,
    gaddr @ 0, flags @ 8, size @ 16, op @ 20, buf @ 24, u @ 32);

/// Argument of `KVM_S390_INTERRUPT` (VM and vCPU).
/// cbindgen:field-names=[type, parm, parm64]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_interrupt {
    pub type_: u32,
    pub parm: u32,
    pub parm64: u64,
}
assert_layout!(kvm_s390_interrupt, size = 16, align = 8, type_ @ 0, parm @ 4, parm64 @ 8);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_io_info {
    pub subchannel_id: u16,
    pub subchannel_nr: u16,
    pub io_int_parm: u32,
    pub io_int_word: u32,
}
assert_layout!(kvm_s390_io_info, size = 12, align = 4,
    subchannel_id @ 0, subchannel_nr @ 2, io_int_parm @ 4, io_int_word @ 8);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_ext_info {
    pub ext_params: u32,
    pub pad: u32,
    pub ext_params2: u64,
}
assert_layout!(kvm_s390_ext_info, size = 16, align = 8, ext_params @ 0, pad @ 4, ext_params2 @ 8);

/// Program-interrupt information (`KVM_S390_PROGRAM_INT` payload).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_pgm_info {
    pub trans_exc_code: u64,
    pub mon_code: u64,
    pub per_address: u64,
    pub data_exc_code: u32,
    pub code: u16,
    pub mon_class_nr: u16,
    pub per_code: u8,
    pub per_atmid: u8,
    pub exc_access_id: u8,
    pub per_access_id: u8,
    pub op_access_id: u8,
    pub flags: u8,
    pub pad: [u8; 2],
}
assert_layout!(kvm_s390_pgm_info, size = 40, align = 8,
    trans_exc_code @ 0, mon_code @ 8, per_address @ 16, data_exc_code @ 24, code @ 28,
    mon_class_nr @ 30, per_code @ 32, per_atmid @ 33, exc_access_id @ 34, per_access_id @ 35,
    op_access_id @ 36, flags @ 37, pad @ 38);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_prefix_info {
    pub address: u32,
}
assert_layout!(kvm_s390_prefix_info, size = 4, align = 4, address @ 0);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_extcall_info {
    pub code: u16,
}
assert_layout!(kvm_s390_extcall_info, size = 2, align = 2, code @ 0);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_emerg_info {
    pub code: u16,
}
assert_layout!(kvm_s390_emerg_info, size = 2, align = 2, code @ 0);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_stop_info {
    pub flags: u32,
}
assert_layout!(kvm_s390_stop_info, size = 4, align = 4, flags @ 0);

#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_mchk_info {
    pub cr14: u64,
    pub mcic: u64,
    pub failing_storage_address: u64,
    pub ext_damage_code: u32,
    pub pad: u32,
    pub fixed_logout: [u8; 16],
}
assert_layout!(kvm_s390_mchk_info, size = 48, align = 8,
    cr14 @ 0, mcic @ 8, failing_storage_address @ 16, ext_damage_code @ 24, pad @ 28,
    fixed_logout @ 32);

/// The payload union of [`kvm_s390_irq`] (named `u` in the kernel header too).
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_s390_irq_u {
    pub io: kvm_s390_io_info,
    pub ext: kvm_s390_ext_info,
    pub pgm: kvm_s390_pgm_info,
    pub emerg: kvm_s390_emerg_info,
    pub extcall: kvm_s390_extcall_info,
    pub prefix: kvm_s390_prefix_info,
    pub stop: kvm_s390_stop_info,
    pub mchk: kvm_s390_mchk_info,
    pub reserved: [u8; 64],
}
assert_union_layout!(
    kvm_s390_irq_u,
    size = 64,
    align = 8,
    io,
    ext,
    pgm,
    emerg,
    extcall,
    prefix,
    stop,
    mchk,
    reserved
);

/// Argument of `KVM_S390_IRQ`, and the element of the `KVM_S390_GET/SET_IRQ_STATE` buffer.
/// cbindgen:field-names=[type, u]
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub struct kvm_s390_irq {
    pub type_: u64,
    pub u: kvm_s390_irq_u,
}
assert_layout!(kvm_s390_irq, size = 72, align = 8, type_ @ 0, u @ 8);

/// Argument of `KVM_S390_GET_IRQ_STATE` / `KVM_S390_SET_IRQ_STATE`. `buf` is a user pointer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_irq_state {
    pub buf: u64,
    pub flags: u32,
    pub len: u32,
    pub reserved: [u32; 4],
}
assert_layout!(kvm_s390_irq_state, size = 32, align = 8, buf @ 0, flags @ 8, len @ 12, reserved @ 16);

/// Argument of `KVM_S390_UCAS_MAP` / `KVM_S390_UCAS_UNMAP` (ucontrol VMs).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_ucas_mapping {
    pub user_addr: u64,
    pub vcpu_addr: u64,
    pub length: u64,
}
assert_layout!(kvm_s390_ucas_mapping, size = 24, align = 8, user_addr @ 0, vcpu_addr @ 8, length @ 16);

/// Argument of `KVM_S390_PV_COMMAND`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_pv_cmd {
    pub cmd: u32,
    pub rc: u16,
    pub rrc: u16,
    pub data: u64,
    pub flags: u32,
    pub reserved: [u32; 3],
}
assert_layout!(kvm_pv_cmd, size = 32, align = 8, cmd @ 0, rc @ 4, rrc @ 6, data @ 8, flags @ 16, reserved @ 20);

/// The s390 `KVM_EXIT_S390_SIEIC` exit information.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern)]
pub struct kvm_run_s390_sieic {
    pub icptcode: u8,
    pub ipa: u16,
    pub ipb: u32,
}
assert_layout!(kvm_run_s390_sieic, size = 8, align = 4, icptcode @ 0, ipa @ 2, ipb @ 4);

/// The s390 `KVM_EXIT_S390_UCONTROL` exit information.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern)]
pub struct kvm_run_s390_ucontrol {
    pub trans_exc_code: u64,
    pub pgm_code: u32,
}
assert_layout!(kvm_run_s390_ucontrol, size = 16, align = 8, trans_exc_code @ 0, pgm_code @ 8);

/// The s390 `KVM_EXIT_S390_TSCH` exit information.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern)]
pub struct kvm_run_s390_tsch {
    pub subchannel_id: u16,
    pub subchannel_nr: u16,
    pub io_int_parm: u32,
    pub io_int_word: u32,
    pub ipb: u32,
    pub dequeued: u8,
}
assert_layout!(kvm_run_s390_tsch, size = 20, align = 4,
    subchannel_id @ 0, subchannel_nr @ 2, io_int_parm @ 4, io_int_word @ 8, ipb @ 12, dequeued @ 16);

/// The s390 `KVM_EXIT_S390_STSI` exit information.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern)]
pub struct kvm_run_s390_stsi {
    pub addr: u64,
    pub ar: u8,
    pub reserved: u8,
    pub fc: u8,
    pub sel1: u8,
    pub sel2: u16,
}
assert_layout!(kvm_run_s390_stsi, size = 16, align = 8, addr @ 0, ar @ 8, reserved @ 9, fc @ 10, sel1 @ 11, sel2 @ 12);

/// `KVM_EXIT_INTERNAL_ERROR` information.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_run_internal {
    pub suberror: u32,
    pub ndata: u32,
    pub data: [u64; 16],
}
assert_layout!(kvm_run_internal, size = 136, align = 8, suberror @ 0, ndata @ 4, data @ 8);

/// The exit-information union of [`kvm_run`] (anonymous in the kernel header), with the
/// members an s390 VMM uses.
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_run_exit {
    pub s390_sieic: kvm_run_s390_sieic,
    pub s390_reset_flags: u64,
    pub s390_ucontrol: kvm_run_s390_ucontrol,
    pub s390_tsch: kvm_run_s390_tsch,
    pub s390_stsi: kvm_run_s390_stsi,
    pub internal: kvm_run_internal,
    pub padding: [u8; 256],
}
assert_union_layout!(
    kvm_run_exit,
    size = 256,
    align = 8,
    s390_sieic,
    s390_reset_flags,
    s390_ucontrol,
    s390_tsch,
    s390_stsi,
    internal,
    padding
);

/// The `s` union of [`kvm_run`]: the s390 sync registers padded to 2048 bytes.
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_run_s {
    pub regs: kvm_sync_regs,
    pub padding: [u8; 2048],
}
assert_union_layout!(kvm_run_s, size = 2048, align = 8, regs, padding);

/// The vCPU's shared `kvm_run` page as laid out with the s390 headers (2368 bytes).
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub struct kvm_run {
    pub request_interrupt_window: u8,
    pub immediate_exit: u8,
    pub padding1: [u8; 6],
    pub exit_reason: u32,
    pub ready_for_interrupt_injection: u8,
    pub if_flag: u8,
    pub flags: u16,
    pub cr8: u64,
    pub apic_base: u64,
    /// PSW mask (upper half), s390 only.
    pub psw_mask: u64,
    /// PSW address (lower half), s390 only.
    pub psw_addr: u64,
    pub exit: kvm_run_exit,
    pub kvm_valid_regs: u64,
    pub kvm_dirty_regs: u64,
    pub s: kvm_run_s,
}
assert_layout!(kvm_run, size = 2368, align = 8,
    request_interrupt_window @ 0, immediate_exit @ 1, padding1 @ 2, exit_reason @ 8,
    ready_for_interrupt_injection @ 12, if_flag @ 13, flags @ 14, cr8 @ 16, apic_base @ 24,
    psw_mask @ 32, psw_addr @ 40, exit @ 48, kvm_valid_regs @ 304, kvm_dirty_regs @ 312, s @ 320);

/// Argument of `KVM_IRQFD`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_irqfd {
    pub fd: u32,
    pub gsi: u32,
    pub flags: u32,
    pub resamplefd: u32,
    pub pad: [u8; 16],
}
assert_layout!(kvm_irqfd, size = 32, align = 4, fd @ 0, gsi @ 4, flags @ 8, resamplefd @ 12, pad @ 16);

/// `KVM_IOEVENTFD` flags.
pub const KVM_IOEVENTFD_FLAG_DATAMATCH: u32 = 1 << 0;
pub const KVM_IOEVENTFD_FLAG_PIO: u32 = 1 << 1;
pub const KVM_IOEVENTFD_FLAG_DEASSIGN: u32 = 1 << 2;
pub const KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY: u32 = 1 << 3;
/// Every flag bit the kernel accepts: the four above and the internal fast-MMIO bit (bit 4).
pub const KVM_IOEVENTFD_VALID_FLAG_MASK: u32 = (1 << 5) - 1;

/// Argument of `KVM_SET_SIGNAL_MASK`: `len` followed by `len` bytes of kernel `sigset_t`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_signal_mask {
    pub len: u32,
    pub sigset: [u8; 0],
}
assert_layout!(kvm_signal_mask, size = 4, align = 4, len @ 0, sigset @ 4);

/// Argument of `KVM_IOEVENTFD`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_ioeventfd {
    pub datamatch: u64,
    pub addr: u64,
    pub len: u32,
    pub fd: i32,
    pub flags: u32,
    pub pad: [u8; 36],
}
assert_layout!(kvm_ioeventfd, size = 64, align = 8, datamatch @ 0, addr @ 8, len @ 16, fd @ 20, flags @ 24, pad @ 28);

/// Header of the argument of `KVM_SET_GSI_ROUTING`, followed by `nr` 48-byte routing entries
/// (the kernel's flexible array member, whose u64 fields make the struct 8-byte aligned).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_irq_routing {
    pub nr: u32,
    pub flags: u32,
    pub entries: [u64; 0],
}
assert_layout!(kvm_irq_routing, size = 8, align = 8, nr @ 0, flags @ 4, entries @ 8);

pub const KVM_STATS_TYPE_SHIFT: u32 = 0;
pub const KVM_STATS_TYPE_MASK: u32 = 0xF << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_CUMULATIVE: u32 = 0x0 << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_INSTANT: u32 = 0x1 << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_PEAK: u32 = 0x2 << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_LINEAR_HIST: u32 = 0x3 << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_LOG_HIST: u32 = 0x4 << KVM_STATS_TYPE_SHIFT;
pub const KVM_STATS_TYPE_MAX: u32 = KVM_STATS_TYPE_LOG_HIST;
pub const KVM_STATS_UNIT_SHIFT: u32 = 4;
pub const KVM_STATS_UNIT_MASK: u32 = 0xF << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_NONE: u32 = 0x0 << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_BYTES: u32 = 0x1 << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_SECONDS: u32 = 0x2 << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_CYCLES: u32 = 0x3 << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_BOOLEAN: u32 = 0x4 << KVM_STATS_UNIT_SHIFT;
pub const KVM_STATS_UNIT_MAX: u32 = KVM_STATS_UNIT_BOOLEAN;
pub const KVM_STATS_BASE_SHIFT: u32 = 8;
pub const KVM_STATS_BASE_MASK: u32 = 0xF << KVM_STATS_BASE_SHIFT;
pub const KVM_STATS_BASE_POW10: u32 = 0x0 << KVM_STATS_BASE_SHIFT;
pub const KVM_STATS_BASE_POW2: u32 = 0x1 << KVM_STATS_BASE_SHIFT;
pub const KVM_STATS_BASE_MAX: u32 = KVM_STATS_BASE_POW2;

/// The header at offset 0 of a binary stats file (`KVM_GET_STATS_FD`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_stats_header {
    pub flags: u32,
    pub name_size: u32,
    pub num_desc: u32,
    pub id_offset: u32,
    pub desc_offset: u32,
    pub data_offset: u32,
}
assert_layout!(kvm_stats_header, size = 24, align = 4, flags @ 0, name_size @ 4, num_desc @ 8,
    id_offset @ 12, desc_offset @ 16, data_offset @ 20);

/// A stats descriptor without its name: in the file each is followed by `name_size` bytes of
/// NUL-terminated name (the uapi's flexible `name[]`).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_stats_desc {
    pub flags: u32,
    pub exponent: i16,
    pub size: u16,
    pub offset: u32,
    pub bucket_size: u32,
}
assert_layout!(kvm_stats_desc, size = 16, align = 4, flags @ 0, exponent @ 4, size @ 6,
    offset @ 8, bucket_size @ 12);
