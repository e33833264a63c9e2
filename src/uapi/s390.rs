//! Structs and constants of the s390 architecture header `arch/s390/include/uapi/asm/kvm.h`.

use bytemuck::{AnyBitPattern, NoUninit};

use super::kvm::{KVM_REG_S390, KVM_REG_SIZE_U32, KVM_REG_SIZE_U64};

// VM attribute groups (KVM_SET/GET/HAS_DEVICE_ATTR on the VM fd).
pub const KVM_S390_VM_MEM_CTRL: u32 = 0;
pub const KVM_S390_VM_TOD: u32 = 1;
pub const KVM_S390_VM_CRYPTO: u32 = 2;
pub const KVM_S390_VM_CPU_MODEL: u32 = 3;
pub const KVM_S390_VM_MIGRATION: u32 = 4;
pub const KVM_S390_VM_CPU_TOPOLOGY: u32 = 5;

// MEM_CTRL attributes.
pub const KVM_S390_VM_MEM_ENABLE_CMMA: u64 = 0;
pub const KVM_S390_VM_MEM_CLR_CMMA: u64 = 1;
pub const KVM_S390_VM_MEM_LIMIT_SIZE: u64 = 2;
pub const KVM_S390_NO_MEM_LIMIT: u64 = u64::MAX;

// TOD attributes.
pub const KVM_S390_VM_TOD_LOW: u64 = 0;
pub const KVM_S390_VM_TOD_HIGH: u64 = 1;
pub const KVM_S390_VM_TOD_EXT: u64 = 2;

// CPU_MODEL attributes.
pub const KVM_S390_VM_CPU_PROCESSOR: u64 = 0;
pub const KVM_S390_VM_CPU_MACHINE: u64 = 1;
pub const KVM_S390_VM_CPU_PROCESSOR_FEAT: u64 = 2;
pub const KVM_S390_VM_CPU_MACHINE_FEAT: u64 = 3;
pub const KVM_S390_VM_CPU_PROCESSOR_SUBFUNC: u64 = 4;
pub const KVM_S390_VM_CPU_MACHINE_SUBFUNC: u64 = 5;
/// Linux 6.7+.
pub const KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST: u64 = 6;
/// Linux 6.7+.
pub const KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST: u64 = 7;

// CPU features: bit numbers in kvm_s390_vm_cpu_feat, MSB-0 over the s390 memory image
// (feature n is 0x80 >> (n % 8) of byte n / 8; see crate::msb0).
pub const KVM_S390_VM_CPU_FEAT_NR_BITS: u32 = 1024;
pub const KVM_S390_VM_CPU_FEAT_ESOP: u32 = 0;
pub const KVM_S390_VM_CPU_FEAT_SIEF2: u32 = 1;
pub const KVM_S390_VM_CPU_FEAT_64BSCAO: u32 = 2;
pub const KVM_S390_VM_CPU_FEAT_SIIF: u32 = 3;
pub const KVM_S390_VM_CPU_FEAT_GPERE: u32 = 4;
pub const KVM_S390_VM_CPU_FEAT_GSLS: u32 = 5;
pub const KVM_S390_VM_CPU_FEAT_IB: u32 = 6;
pub const KVM_S390_VM_CPU_FEAT_CEI: u32 = 7;
pub const KVM_S390_VM_CPU_FEAT_IBS: u32 = 8;
pub const KVM_S390_VM_CPU_FEAT_SKEY: u32 = 9;
pub const KVM_S390_VM_CPU_FEAT_CMMA: u32 = 10;
pub const KVM_S390_VM_CPU_FEAT_PFMFI: u32 = 11;
pub const KVM_S390_VM_CPU_FEAT_SIGPIF: u32 = 12;
pub const KVM_S390_VM_CPU_FEAT_KSS: u32 = 13;
/// Linux 6.7+: number of bits of the UV feature word.
pub const KVM_S390_VM_CPU_UV_FEAT_NR_BITS: u32 = 64;

// CRYPTO attributes.
pub const KVM_S390_VM_CRYPTO_ENABLE_AES_KW: u64 = 0;
pub const KVM_S390_VM_CRYPTO_ENABLE_DEA_KW: u64 = 1;
pub const KVM_S390_VM_CRYPTO_DISABLE_AES_KW: u64 = 2;
pub const KVM_S390_VM_CRYPTO_DISABLE_DEA_KW: u64 = 3;
pub const KVM_S390_VM_CRYPTO_ENABLE_APIE: u64 = 4;
pub const KVM_S390_VM_CRYPTO_DISABLE_APIE: u64 = 5;

// MIGRATION attributes.
pub const KVM_S390_VM_MIGRATION_STOP: u64 = 0;
pub const KVM_S390_VM_MIGRATION_START: u64 = 1;
pub const KVM_S390_VM_MIGRATION_STATUS: u64 = 2;

// Sync-register classes (kvm_run.kvm_valid_regs / kvm_dirty_regs).
pub const KVM_SYNC_PREFIX: u64 = 1 << 0;
pub const KVM_SYNC_GPRS: u64 = 1 << 1;
pub const KVM_SYNC_ACRS: u64 = 1 << 2;
pub const KVM_SYNC_CRS: u64 = 1 << 3;
pub const KVM_SYNC_ARCH0: u64 = 1 << 4;
pub const KVM_SYNC_PFAULT: u64 = 1 << 5;
pub const KVM_SYNC_VRS: u64 = 1 << 6;
pub const KVM_SYNC_RICCB: u64 = 1 << 7;
pub const KVM_SYNC_FPRS: u64 = 1 << 8;
pub const KVM_SYNC_GSCB: u64 = 1 << 9;
pub const KVM_SYNC_BPBC: u64 = 1 << 10;
pub const KVM_SYNC_ETOKEN: u64 = 1 << 11;
pub const KVM_SYNC_DIAG318: u64 = 1 << 12;
pub const KVM_SYNC_S390_VALID_FIELDS: u64 = 0x1FFF;

/// Invalid pfault token (`KVM_SYNC_PFAULT`, `KVM_REG_S390_PFTOKEN`).
pub const KVM_S390_PFAULT_TOKEN_INVALID: u64 = 0xffffffffffffffff;

// Guest debug (s390).
pub const KVM_GUESTDBG_USE_HW_BP: u32 = 0x00010000;
pub const KVM_HW_BP: u32 = 1;
pub const KVM_HW_WP_WRITE: u32 = 2;
pub const KVM_SINGLESTEP: u32 = 4;

// Length and alignment (as a power of two) of the state-description annex.
pub const SDNXC: u32 = 8;
pub const SDNXL: u32 = 1 << SDNXC;

// ONE_REG ids.
pub const KVM_REG_S390_TODPR: u64 = KVM_REG_S390 | KVM_REG_SIZE_U32 | 0x1;
pub const KVM_REG_S390_EPOCHDIFF: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x2;
pub const KVM_REG_S390_CPU_TIMER: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x3;
pub const KVM_REG_S390_CLOCK_COMP: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x4;
pub const KVM_REG_S390_PFTOKEN: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x5;
pub const KVM_REG_S390_PFCOMPARE: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x6;
pub const KVM_REG_S390_PFSELECT: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x7;
pub const KVM_REG_S390_PP: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x8;
pub const KVM_REG_S390_GBEA: u64 = KVM_REG_S390 | KVM_REG_SIZE_U64 | 0x9;

/// Payload of the TOD_EXT attribute. The C struct has 7 bytes of implicit padding after
/// `epoch_idx` (KVM zeroes them on GET); the mirror names them so that every byte is
/// initialised when it is copied out. The C definition is in `anon_unions.h`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_tod_clock {
    pub epoch_idx: u8,
    pub pad: [u8; 7],
    pub tod: u64,
}
assert_layout!(kvm_s390_vm_tod_clock, size = 16, align = 8, epoch_idx @ 0, pad @ 1, tod @ 8);

/// Payload of the CPU_MODEL PROCESSOR attribute. `fac_list` holds the s390 memory image of
/// the facility list (facility n is `0x80 >> (n % 8)` of byte `n / 8` on every host): read
/// and write it as bytes, not as 64-bit numbers.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_cpu_processor {
    pub cpuid: u64,
    pub ibc: u16,
    pub pad: [u8; 6],
    pub fac_list: [u64; 256],
}
assert_layout!(kvm_s390_vm_cpu_processor, size = 2064, align = 8, cpuid @ 0, ibc @ 8, pad @ 10, fac_list @ 16);

/// Payload of the CPU_MODEL MACHINE attribute. `fac_mask` and `fac_list` hold s390 memory
/// images, as in `kvm_s390_vm_cpu_processor`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_cpu_machine {
    pub cpuid: u64,
    pub ibc: u32,
    pub pad: [u8; 4],
    pub fac_mask: [u64; 256],
    pub fac_list: [u64; 256],
}
assert_layout!(kvm_s390_vm_cpu_machine, size = 4112, align = 8,
    cpuid @ 0, ibc @ 8, pad @ 12, fac_mask @ 16, fac_list @ 2064);

/// Payload of the CPU_MODEL PROCESSOR_FEAT / MACHINE_FEAT attributes: the s390 memory image
/// of an MSB-0 bitmap (ESOP, feature 0, is `0x80` of byte 0 on every host).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_cpu_feat {
    pub feat: [u64; 16],
}
assert_layout!(kvm_s390_vm_cpu_feat, size = 128, align = 8, feat @ 0);

/// Payload of the CPU_MODEL PROCESSOR_SUBFUNC / MACHINE_SUBFUNC attributes (current layout,
/// with `pfcr`; older headers have `reserved[1728]` at offset 320).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_cpu_subfunc {
    pub plo: [u8; 32],
    pub ptff: [u8; 16],
    pub kmac: [u8; 16],
    pub kmc: [u8; 16],
    pub km: [u8; 16],
    pub kimd: [u8; 16],
    pub klmd: [u8; 16],
    pub pckmo: [u8; 16],
    pub kmctr: [u8; 16],
    pub kmf: [u8; 16],
    pub kmo: [u8; 16],
    pub pcc: [u8; 16],
    pub ppno: [u8; 16],
    pub kma: [u8; 16],
    pub kdsa: [u8; 16],
    pub sortl: [u8; 32],
    pub dfltcc: [u8; 32],
    pub pfcr: [u8; 16],
    pub reserved: [u8; 1712],
}
assert_layout!(kvm_s390_vm_cpu_subfunc, size = 2048, align = 1,
    plo @ 0, ptff @ 32, kmac @ 48, kmc @ 64, km @ 80, kimd @ 96, klmd @ 112, pckmo @ 128,
    kmctr @ 144, kmf @ 160, kmo @ 176, pcc @ 192, ppno @ 208, kma @ 224, kdsa @ 240,
    sortl @ 256, dfltcc @ 288, pfcr @ 320, reserved @ 336);

/// Payload of the CPU_MODEL *_UV_FEAT_GUEST attributes (Linux 6.7+). In C it is a union of
/// `feat` with the bit-fields `ap` (bit 4) and `ap_intr` (bit 5); the shim works on the `feat`
/// word in the layout those bit-fields have when the header is compiled for this host (on
/// s390x `ap` is 1 << 59, on a little-endian host 1 << 4), so `.ap` reads its s390 value.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_vm_cpu_uv_feat {
    pub feat: u64,
}
assert_layout!(kvm_s390_vm_cpu_uv_feat, size = 8, align = 8, feat @ 0);

/// `KVM_GET_REGS` / `KVM_SET_REGS`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_regs {
    pub gprs: [u64; 16],
}
assert_layout!(kvm_regs, size = 128, align = 8, gprs @ 0);

/// `KVM_GET_SREGS` / `KVM_SET_SREGS`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_sregs {
    pub acrs: [u32; 16],
    pub crs: [u64; 16],
}
assert_layout!(kvm_sregs, size = 192, align = 8, acrs @ 0, crs @ 64);

/// `KVM_GET_FPU` / `KVM_SET_FPU`. The C struct has 4 bytes of implicit padding after `fpc`
/// (KVM returns them as zeros); the mirror names them so that every byte it copies out is
/// initialised. The C definition is in `anon_unions.h`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_fpu {
    pub fpc: u32,
    pub pad: u32,
    pub fprs: [u64; 16],
}
assert_layout!(kvm_fpu, size = 136, align = 8, fpc @ 0, pad @ 4, fprs @ 8);

/// cbindgen:field-names=[addr, type, pad]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_debug_exit_arch {
    pub addr: u64,
    pub type_: u8,
    pub pad: [u8; 7],
}
assert_layout!(kvm_debug_exit_arch, size = 16, align = 8, addr @ 0, type_ @ 8, pad @ 9);

/// cbindgen:field-names=[addr, phys_addr, len, type, pad]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_hw_breakpoint {
    pub addr: u64,
    pub phys_addr: u64,
    pub len: u64,
    pub type_: u8,
    pub pad: [u8; 7],
}
assert_layout!(kvm_hw_breakpoint, size = 32, align = 8, addr @ 0, phys_addr @ 8, len @ 16, type_ @ 24, pad @ 25);

/// The s390 part of `struct kvm_guest_debug`. `hw_bp` is a user pointer.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_guest_debug_arch {
    pub nr_hw_bp: u32,
    pub pad: u32,
    pub hw_bp: u64,
}
assert_layout!(kvm_guest_debug_arch, size = 16, align = 8, nr_hw_bp @ 0, pad @ 4, hw_bp @ 8);

/// Argument of `KVM_SET_GUEST_DEBUG`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_guest_debug {
    pub control: u32,
    pub pad: u32,
    pub arch: kvm_guest_debug_arch,
}
assert_layout!(kvm_guest_debug, size = 24, align = 8, control @ 0, pad @ 4, arch @ 8);

/// The vector/floating-point union of [`kvm_sync_regs`].
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_sync_regs_vr {
    /// Vector registers (`KVM_SYNC_VRS`); FPR n is the high half `vrs[n][0]`.
    pub vrs: [[u64; 2]; 32],
    /// Floating-point registers (`KVM_SYNC_FPRS`).
    pub fprs: [u64; 16],
}
assert_union_layout!(kvm_sync_regs_vr, size = 512, align = 8, vrs, fprs);

/// The guarded-storage/etoken part of the state-description annex.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_sync_regs_sdnx_s {
    pub reserved1: [u64; 2],
    pub gscb: [u64; 4],
    pub etoken: u64,
    pub etoken_extension: u64,
}
assert_layout!(kvm_sync_regs_sdnx_s, size = 64, align = 8, reserved1 @ 0, gscb @ 16, etoken @ 48, etoken_extension @ 56);

/// The state-description-annex union of [`kvm_sync_regs`].
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_sync_regs_sdnx {
    pub sdnx: [u8; 256],
    pub s: kvm_sync_regs_sdnx_s,
}
assert_union_layout!(kvm_sync_regs_sdnx, size = 256, align = 8, sdnx, s);

/// s390 registers shared through `kvm_run.s.regs` (1984 bytes).
///
/// `bpbc_reserved2` holds the C bit-fields `bpbc:1` and `reserved2:7`: with a little-endian C
/// compiler `bpbc` is the `0x01` bit of that byte, with a big-endian one the `0x80` bit.
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub struct kvm_sync_regs {
    pub prefix: u64,
    pub gprs: [u64; 16],
    pub acrs: [u32; 16],
    pub crs: [u64; 16],
    pub todpr: u64,
    pub cputm: u64,
    pub ckc: u64,
    pub pp: u64,
    pub gbea: u64,
    pub pft: u64,
    pub pfs: u64,
    pub pfc: u64,
    pub vr: kvm_sync_regs_vr,
    pub reserved: [u8; 512],
    pub fpc: u32,
    pub bpbc_reserved2: u8,
    pub padding1: [u8; 51],
    pub riccb: [u8; 64],
    pub diag318: u64,
    pub padding2: [u8; 184],
    pub sdnx: kvm_sync_regs_sdnx,
}
assert_layout!(kvm_sync_regs, size = 1984, align = 8,
    prefix @ 0, gprs @ 8, acrs @ 136, crs @ 200, todpr @ 328, cputm @ 336, ckc @ 344, pp @ 352,
    gbea @ 360, pft @ 368, pfs @ 376, pfc @ 384, vr @ 392, reserved @ 904, fpc @ 1416,
    bpbc_reserved2 @ 1420, padding1 @ 1421, riccb @ 1472, diag318 @ 1536, padding2 @ 1544,
    sdnx @ 1728);
