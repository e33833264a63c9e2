//! The FLIC device's attribute groups and payloads (`arch/s390/include/uapi/asm/kvm.h`) and
//! the s390 adapter routing entry (`include/uapi/linux/kvm.h`).

use bytemuck::{AnyBitPattern, NoUninit};

// FLIC attribute groups.
pub const KVM_DEV_FLIC_GET_ALL_IRQS: u32 = 1;
pub const KVM_DEV_FLIC_ENQUEUE: u32 = 2;
pub const KVM_DEV_FLIC_CLEAR_IRQS: u32 = 3;
pub const KVM_DEV_FLIC_APF_ENABLE: u32 = 4;
pub const KVM_DEV_FLIC_APF_DISABLE_WAIT: u32 = 5;
pub const KVM_DEV_FLIC_ADAPTER_REGISTER: u32 = 6;
pub const KVM_DEV_FLIC_ADAPTER_MODIFY: u32 = 7;
pub const KVM_DEV_FLIC_CLEAR_IO_IRQ: u32 = 8;
pub const KVM_DEV_FLIC_AISM: u32 = 9;
pub const KVM_DEV_FLIC_AIRQ_INJECT: u32 = 10;
pub const KVM_DEV_FLIC_AISM_ALL: u32 = 11;
/// The largest GET_ALL_IRQS / ENQUEUE buffer.
pub const KVM_S390_FLIC_MAX_BUFFER: u32 = 0x200_0000;

/// Payload of `KVM_DEV_FLIC_ADAPTER_REGISTER`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_io_adapter {
    pub id: u32,
    pub isc: u8,
    pub maskable: u8,
    pub swap: u8,
    pub flags: u8,
}
assert_layout!(kvm_s390_io_adapter, size = 8, align = 4, id @ 0, isc @ 4, maskable @ 5, swap @ 6, flags @ 7);

/// `kvm_s390_io_adapter::flags`: the adapter's interrupts are subject to AIS.
pub const KVM_S390_ADAPTER_SUPPRESSIBLE: u8 = 0x01;

/// Payload of `KVM_DEV_FLIC_AISM`. `pad` is the byte the C compiler inserts before `mode`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_ais_req {
    pub isc: u8,
    pub pad: u8,
    pub mode: u16,
}
assert_layout!(kvm_s390_ais_req, size = 4, align = 2, isc @ 0, mode @ 2);

/// Payload of `KVM_DEV_FLIC_AISM_ALL`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_ais_all {
    pub simm: u8,
    pub nimm: u8,
}
assert_layout!(kvm_s390_ais_all, size = 2, align = 1, simm @ 0, nimm @ 1);

// `kvm_s390_io_adapter_req::type`.
pub const KVM_S390_IO_ADAPTER_MASK: u8 = 1;
pub const KVM_S390_IO_ADAPTER_MAP: u8 = 2;
pub const KVM_S390_IO_ADAPTER_UNMAP: u8 = 3;

/// Payload of `KVM_DEV_FLIC_ADAPTER_MODIFY`.
/// cbindgen:field-names=[id, type, mask, pad0, addr]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_s390_io_adapter_req {
    pub id: u32,
    pub type_: u8,
    pub mask: u8,
    pub pad0: u16,
    pub addr: u64,
}
assert_layout!(kvm_s390_io_adapter_req, size = 16, align = 8, id @ 0, type_ @ 4, mask @ 5, pad0 @ 6, addr @ 8);

/// `kvm_irq_routing_entry::type` of an s390 adapter route.
pub const KVM_IRQ_ROUTING_S390_ADAPTER: u32 = 3;

/// The payload of an adapter routing entry: guest addresses of the indicator and summary
/// bytes and the bit offsets from them.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct kvm_irq_routing_s390_adapter {
    pub ind_addr: u64,
    pub summary_addr: u64,
    pub ind_offset: u64,
    pub summary_offset: u32,
    pub adapter_id: u32,
}
assert_layout!(kvm_irq_routing_s390_adapter, size = 32, align = 8,
    ind_addr @ 0, summary_addr @ 8, ind_offset @ 16, summary_offset @ 24, adapter_id @ 28);

/// The payload union of [`kvm_irq_routing_entry`] (the s390 adapter member and the padding
/// that fixes its size; the other architectures' members are not mirrored).
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub union kvm_irq_routing_entry_u {
    pub adapter: kvm_irq_routing_s390_adapter,
    pub pad: [u32; 8],
}
assert_union_layout!(kvm_irq_routing_entry_u, size = 32, align = 8, adapter, pad);

/// One entry of the `KVM_SET_GSI_ROUTING` array.
/// cbindgen:field-names=[gsi, type, flags, pad, u]
#[repr(C)]
#[derive(Clone, Copy, AnyBitPattern)]
pub struct kvm_irq_routing_entry {
    pub gsi: u32,
    pub type_: u32,
    pub flags: u32,
    pub pad: u32,
    pub u: kvm_irq_routing_entry_u,
}
assert_layout!(kvm_irq_routing_entry, size = 48, align = 8, gsi @ 0, type_ @ 4, flags @ 8, pad @ 12, u @ 16);

/// `kvm_irqfd::flags`: remove the irqfd instead of adding it.
pub const KVM_IRQFD_FLAG_DEASSIGN: u32 = 1;
/// `kvm_irqfd::flags`: a level-triggered irqfd with a resample eventfd.
pub const KVM_IRQFD_FLAG_RESAMPLE: u32 = 2;
