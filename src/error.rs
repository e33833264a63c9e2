//! The shim's error type and its single errno decision point.

use libc::c_int;

/// Why a memory-slot request was refused with EINVAL (kept for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemslotRule {
    /// Flags outside LOG_DIRTY_PAGES|READONLY (v1 ioctl), or not valid on s390.
    Flags,
    /// `(u16)slot >= KVM_USER_MEM_SLOTS`.
    SlotId,
    /// Address space (`slot >> 16`) other than 0.
    AddressSpace,
    /// `memory_size` not a multiple of 4 KiB.
    SizeAlignment,
    /// `guest_phys_addr` not 4 KiB aligned.
    GuestAddressAlignment,
    /// `userspace_addr` not 4 KiB aligned or not a user range.
    UserAddress,
    /// `guest_phys_addr + memory_size` wraps.
    Overflow,
    /// More than 2^31-1 pages.
    TooManyPages,
    /// Deleting a slot that does not exist.
    DeleteMissing,
    /// Changing `userspace_addr`, the size, or READONLY of an existing slot.
    Immutable,
    /// The VM is a ucontrol VM (s390 prepare hook).
    Ucontrol,
    /// `userspace_addr` or the size not 1 MiB aligned (s390 prepare hook).
    SegmentAlignment,
    /// `guest_phys_addr + memory_size` above the VM's memory limit (s390 prepare hook).
    MemoryLimit,
}

/// Why `KVM_ENABLE_CAP` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnableCapRule {
    /// `flags != 0`, or an argument out of range.
    Arguments,
    /// The capability cannot be enabled (unknown, or not on this fd).
    Unknown,
    /// The host lacks the facility or the module parameter.
    Unavailable,
    /// A vCPU already exists.
    Busy,
}

/// Why a `KVM_S390_MEM_OP` was refused with EINVAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemOpRule {
    /// Flags outside those the operation supports, or `size == 0`.
    FlagsOrSize,
    /// `key > 15` with `KVM_S390_MEMOP_F_SKEY_PROTECTION`.
    Key,
    /// An operation the fd does not support.
    Op,
    /// `ar >= 16`.
    AccessRegister,
    /// cmpxchg: `size` above 16 or not a power of two.
    CmpxchgSize,
    /// cmpxchg: `gaddr` not aligned to `size`.
    CmpxchgAlignment,
    /// The VM is protected.
    Protected,
}

/// Why a `KVM_S390_GET_SKEYS` / `KVM_S390_SET_SKEYS` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkeysRule {
    /// `flags != 0`.
    Flags,
    /// `count` is 0 or above `KVM_S390_SKEYS_MAX`.
    Count,
    /// A key with the reserved low bit set.
    ReservedBit,
}

/// Why a `KVM_SET/GET/HAS_DEVICE_ATTR` on the VM fd was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrRule {
    /// Unknown group or attribute, or not available in this direction (HAS: absent).
    Unknown,
    /// The host lacks the feature the attribute controls (e.g. CMMA).
    NoHostSupport,
    /// A vCPU exists already.
    Busy,
    /// A value outside what the host or VM supports (subset checks, non-zero TOD_HIGH, ...).
    Invalid,
    /// `flags != 0` where it must be 0 (TOD).
    Flags,
    /// The operation needs a facility the VM lacks (crypto key wrapping without MSA3).
    MissingFacility,
    /// The operation is not supported here (APIE without AP instructions, TOD of a PV guest).
    NotSupported,
    /// LIMIT_SIZE above the VM's memory limit.
    LimitTooBig,
    /// CMMA is not enabled (CLR_CMMA) or the VM is ucontrol (LIMIT_SIZE).
    WrongState,
    /// MIGRATION START without memory slots, or with a slot lacking dirty logging.
    MigrationSlots,
}

/// Why a `KVM_S390_GET_CMMA_BITS` / `KVM_S390_SET_CMMA_BITS` was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmmaRule {
    /// CMMA is not enabled for the VM.
    NotEnabled,
    /// Unknown flags.
    Flags,
    /// GET without PEEK outside migration mode.
    NoMigrationMode,
    /// SET with `count` above `KVM_S390_CMMA_SIZE_MAX`.
    Count,
    /// A guest frame outside every memory slot.
    NoMemory,
}

/// Why a `KVM_IOEVENTFD` assignment was refused with EINVAL (`kvm_assign_ioeventfd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoeventfdRule {
    /// `len` other than 0, 1, 2, 4 or 8.
    Length,
    /// `addr + len` wraps.
    Overflow,
    /// A flag outside `KVM_IOEVENTFD_VALID_FLAG_MASK`.
    Flags,
    /// `len == 0` together with `KVM_IOEVENTFD_FLAG_PIO` or `KVM_IOEVENTFD_FLAG_DATAMATCH`.
    NoLengthMatch,
}

/// Every way an ioctl can fail. [`Error::errno`] maps each to the kernel's errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Copying from or to caller memory failed.
    Fault,
    /// A VM or vCPU fd used from a process other than its creator.
    ForeignProcess,
    /// An unknown request on the /dev/kvm fd.
    UnknownSystemIoctl,
    /// An unknown request on a VM or vCPU fd.
    UnknownIoctl,
    /// A request whose type byte is not KVMIO on a vCPU fd.
    NotKvmIoctl,
    /// A non-zero argument where the kernel requires 0.
    NonZeroArgument,
    /// An unsupported `KVM_CREATE_VM` type.
    VmType,
    /// A `KVM_SET_USER_MEMORY_REGION` rule was broken.
    Memslot(MemslotRule),
    /// A new or moved slot overlaps another slot.
    MemslotOverlap,
    /// A memory-slot update from inside a read-side section of the same thread, where waiting
    /// for the readers would never end (a misuse the kernel would report as a lockdep bug).
    InsideSection,
    /// `KVM_GET_DIRTY_LOG` with a slot id out of range, or on a ucontrol VM.
    DirtyLogSlot,
    /// `KVM_GET_DIRTY_LOG` on a missing slot or one without dirty logging.
    DirtyLogNotEnabled,
    /// `KVM_ENABLE_CAP` refused.
    EnableCap(EnableCapRule),
    /// `KVM_S390_MEM_OP` argument rule broken.
    MemOp(MemOpRule),
    /// `KVM_S390_MEM_OP` with `size` above 65536.
    MemOpTooBig,
    /// Storage-key ioctl argument rule broken.
    Skeys(SkeysRule),
    /// A storage-key ioctl touched a guest frame outside every memory slot.
    SkeysNoMemory,
    /// A VM attribute request was refused.
    Attr(AttrRule),
    /// A CMMA-bits request was refused.
    Cmma(CmmaRule),
    /// `KVM_CREATE_VCPU` with an id out of range, or too many vCPUs.
    VcpuId,
    /// `KVM_CREATE_VCPU` with an id already in use.
    VcpuExists,
    /// An operation that needs a stopped vCPU (SET_INITIAL_PSW).
    VcpuNotStopped,
    /// `KVM_SET_MP_STATE` with a state the vCPU cannot enter.
    MpState,
    /// `KVM_GET/SET_ONE_REG` with an unknown register id.
    OneRegId,
    /// `KVM_RUN` refused: argument, sync-register bits, or a stopped vCPU under user control.
    RunInvalid,
    /// `KVM_RUN` returned to userspace without running the guest (KVM_EXIT_INTR).
    Interrupted,
    /// A guest function returned an unknown exit kind, or named an unknown register kind.
    GuestMisuse,
    /// `KVM_SET_GUEST_DEBUG` with a control flag outside `VALID_GUESTDBG_FLAGS`, more than
    /// `MAX_BP_COUNT` hardware breakpoints, or a watchpoint longer than `MAX_WP_SIZE`.
    GuestDebug,
    /// An ioctl on a vCPU from inside that vCPU's own guest function (it would wait for
    /// itself: the vCPU is held by the running `KVM_RUN`).
    GuestReentry,
    /// `KVM_S390_KEYOP`: unknown operation.
    KeyOp,
    /// A failure injected by a `KVM_S390_SHIM_FAIL` rule, with the rule's errno.
    Injected(c_int),
    /// `KVM_S390_GET_IRQ_STATE` / `SET_IRQ_STATE`: bad length or interrupt type.
    IrqState,
    /// `KVM_S390_GET_IRQ_STATE`: the buffer is too small for the pending interrupts.
    IrqBufferTooSmall,
    /// `KVM_ENABLE_CAP` on a vCPU with an unknown capability or flags.
    VcpuCap,
    /// An interrupt of an unknown or invalid type, or with an invalid parameter (a source
    /// CPU that does not exist, STOP flags, ...).
    IrqType,
    /// An interrupt that cannot be queued now: a second external call or SIGP STOP, SET
    /// PREFIX on an operating CPU, a full floating queue, SET_IRQ_STATE with pending ones.
    IrqBusy,
    /// `KVM_SET_GSI_ROUTING` / `KVM_CREATE_IRQCHIP` / `KVM_IRQFD` refused (bad flags, GSI,
    /// route type, bit offset outside its page, a file that is not an eventfd, ...).
    Routing,
    /// `KVM_IRQFD`: the eventfd is already assigned.
    IrqfdBusy,
    /// A FLIC attribute request was refused (bad group, length, adapter id, mode).
    Flic,
    /// A second FLIC for one VM.
    FlicExists,
    /// An AIS request on a VM without facility 72.
    FlicNoAis,
    /// `KVM_HAS_DEVICE_ATTR` on the FLIC with an unknown group.
    FlicNoAttr,
    /// FLIC GET_ALL_IRQS: the buffer cannot hold every pending interrupt.
    FlicBufferTooSmall,
    /// `KVM_CREATE_DEVICE` with a device type the VM does not offer.
    DeviceType,
    /// A device-attribute call the device type has no accessor for.
    DeviceAttrUnsupported,
    /// `KVM_SET_SIGNAL_MASK` with a `len` other than the kernel's `sizeof(sigset_t)` (8).
    SignalMaskLength,
    /// A `KVM_IOEVENTFD` assignment rule was broken.
    Ioeventfd(IoeventfdRule),
    /// `KVM_IOEVENTFD`: an ioeventfd that collides with the new one exists.
    IoeventfdExists,
    /// `KVM_IOEVENTFD` deassign: no ioeventfd matches.
    IoeventfdMissing,
    /// An fd argument is not an open file.
    BadFd,
    /// An fd argument is open but not an eventfd.
    NotEventfd,
    /// An allocation failed.
    OutOfMemory,
    /// Too many open files for a new KVM fd.
    TooManyFds,
    /// An operating-system call made on the caller's behalf failed with this errno.
    Os(c_int),
}

impl Error {
    /// The errno the kernel returns in this case.
    pub fn errno(&self) -> c_int {
        match self {
            // copy_from_user/copy_to_user failure (api.rst: EFAULT for bad user addresses).
            Error::Fault => libc::EFAULT,
            // kvm_vm_ioctl/kvm_vcpu_ioctl: kvm->mm != current->mm.
            Error::ForeignProcess => libc::EIO,
            // s390 kvm_arch_dev_ioctl default.
            Error::UnknownSystemIoctl => libc::EINVAL,
            // s390 kvm_arch_vm_ioctl / kvm_arch_vcpu_ioctl default.
            Error::UnknownIoctl => libc::ENOTTY,
            // do_inject_vcpu / __inject_vm / s390int_to_s390irq: -EINVAL.
            Error::IrqType => libc::EINVAL,
            // __inject_extcall, __inject_sigp_stop, __inject_set_prefix, __inject_io: -EBUSY.
            Error::IrqBusy => libc::EBUSY,
            // kvm_set_irq_routing / kvm_set_routing_entry / kvm_irqfd: -EINVAL.
            Error::Routing => libc::EINVAL,
            // kvm_irqfd_assign: the eventfd already has an irqfd.
            Error::IrqfdBusy => libc::EBUSY,
            // flic_set_attr / flic_get_attr and their helpers: -EINVAL.
            Error::Flic => libc::EINVAL,
            // flic_create: kvm->arch.flic already set.
            Error::FlicExists => libc::EINVAL,
            // modify_ais_mode, flic_ais_mode_{get,set}_all without facility 72.
            Error::FlicNoAis => libc::EOPNOTSUPP,
            // flic_has_attr: unknown group.
            Error::FlicNoAttr => libc::ENXIO,
            // get_all_floating_irqs: "userspace may retry with a bigger buffer".
            Error::FlicBufferTooSmall => libc::ENOMEM,
            // kvm_ioctl_create_device: type out of range or without ops.
            Error::DeviceType => libc::ENODEV,
            // kvm_device_ioctl_attr: the device has no accessor for this call.
            Error::DeviceAttrUnsupported => libc::EPERM,
            // kvm_vcpu_ioctl: _IOC_TYPE(ioctl) != KVMIO.
            Error::NotKvmIoctl => libc::EINVAL,
            // KVM_GET_API_VERSION / KVM_GET_VCPU_MMAP_SIZE with arg != 0.
            Error::NonZeroArgument => libc::EINVAL,
            // kvm_arch_init_vm: unsupported type.
            Error::VmType => libc::EINVAL,
            // __kvm_set_memory_region and kvm_arch_prepare_memory_region.
            Error::Memslot(_) => libc::EINVAL,
            // __kvm_set_memory_region: overlapping gfn range.
            Error::MemslotOverlap => libc::EEXIST,
            // synchronize_srcu inside the same srcu read-side section would deadlock; the shim
            // refuses the update instead.
            Error::InsideSection => libc::EDEADLK,
            // kvm_vm_ioctl_get_dirty_log: slot >= KVM_USER_MEM_SLOTS, or ucontrol.
            Error::DirtyLogSlot => libc::EINVAL,
            // kvm_get_dirty_log: no memslot or no dirty bitmap.
            Error::DirtyLogNotEnabled => libc::ENOENT,
            // kvm_vm_ioctl_enable_cap: EINVAL for bad/unknown/unavailable caps.
            Error::EnableCap(EnableCapRule::Arguments) => libc::EINVAL,
            Error::EnableCap(EnableCapRule::Unknown) => libc::EINVAL,
            Error::EnableCap(EnableCapRule::Unavailable) => libc::EINVAL,
            // kvm_vm_ioctl_enable_cap: EBUSY once vCPUs exist.
            Error::EnableCap(EnableCapRule::Busy) => libc::EBUSY,
            // mem_op_validate_common / kvm_s390_vm_mem_op / cmpxchg_guest_abs_with_key.
            Error::MemOp(_) => libc::EINVAL,
            // mem_op_validate_common: size > MEM_OP_MAX_SIZE.
            Error::MemOpTooBig => libc::E2BIG,
            // kvm_s390_get_skeys / kvm_s390_set_skeys argument checks.
            Error::Skeys(_) => libc::EINVAL,
            // kvm_s390_get/set_skeys: gfn_to_hva error.
            Error::SkeysNoMemory => libc::EFAULT,
            // kvm_s390_vm_{set,get,has}_attr: unknown group/attribute.
            Error::Attr(AttrRule::Unknown) => libc::ENXIO,
            // MEM_CTRL ENABLE/CLR_CMMA without sclp.has_cmma.
            Error::Attr(AttrRule::NoHostSupport) => libc::ENXIO,
            // Attributes that must be set before the first vCPU.
            Error::Attr(AttrRule::Busy) => libc::EBUSY,
            // Subset checks, TOD_HIGH != 0, epoch index without facility 139.
            Error::Attr(AttrRule::Invalid) => libc::EINVAL,
            // TOD attr->flags != 0.
            Error::Attr(AttrRule::Flags) => libc::EINVAL,
            // CRYPTO key wrapping without facility 76.
            Error::Attr(AttrRule::MissingFacility) => libc::EINVAL,
            // CRYPTO APIE without AP instructions; TOD SET on a protected VM.
            Error::Attr(AttrRule::NotSupported) => libc::EOPNOTSUPP,
            // LIMIT_SIZE above mem_limit.
            Error::Attr(AttrRule::LimitTooBig) => libc::E2BIG,
            // CLR_CMMA without CMMA; LIMIT_SIZE on ucontrol; LIMIT_SIZE of 0.
            Error::Attr(AttrRule::WrongState) => libc::EINVAL,
            // MIGRATION START: no memslots, or dirty logging missing with CMMA on.
            Error::Attr(AttrRule::MigrationSlots) => libc::EINVAL,
            // kvm_s390_get/set_cmma_bits: use_cmma == 0.
            Error::Cmma(CmmaRule::NotEnabled) => libc::ENXIO,
            Error::Cmma(CmmaRule::Flags) => libc::EINVAL,
            Error::Cmma(CmmaRule::NoMigrationMode) => libc::EINVAL,
            Error::Cmma(CmmaRule::Count) => libc::EINVAL,
            // gfn_to_hva error while peeking/setting.
            Error::Cmma(CmmaRule::NoMemory) => libc::EFAULT,
            // kvm_vm_ioctl_create_vcpu / kvm_arch_vcpu_precreate: id or count limits.
            Error::VcpuId => libc::EINVAL,
            // kvm_vm_ioctl_create_vcpu: kvm_get_vcpu_by_id found one.
            Error::VcpuExists => libc::EEXIST,
            // KVM_S390_SET_INITIAL_PSW: !is_vcpu_stopped.
            Error::VcpuNotStopped => libc::EBUSY,
            // kvm_arch_vcpu_ioctl_set_mpstate: LOAD (non-PV), CHECK_STOP, unknown.
            Error::MpState => libc::ENXIO,
            // kvm_arch_vcpu_ioctl_{get,set}_one_reg: default case.
            Error::OneRegId => libc::EINVAL,
            // kvm_arch_vcpu_ioctl_run / kvm_vcpu_ioctl argument checks.
            Error::RunInvalid => libc::EINVAL,
            // KVM_RUN with immediate_exit, or leaving with KVM_EXIT_INTR.
            Error::Interrupted => libc::EINTR,
            Error::GuestMisuse => libc::EINVAL,
            // kvm_arch_vcpu_ioctl_set_guest_debug: unknown control flags;
            // kvm_s390_import_bp_data: nr_hw_bp > MAX_BP_COUNT, watchpoint len out of 0..=100.
            Error::GuestDebug => libc::EINVAL,
            Error::GuestReentry => libc::EDEADLK,
            // kvm_s390_keyop: an operation other than ISKE, RRBE, SSKE.
            Error::KeyOp => libc::EINVAL,
            // Not a kernel rule: the errno the user asked for (crate::ioctl::hook).
            Error::Injected(e) => *e,
            // KVM_S390_{GET,SET}_IRQ_STATE: len 0, misaligned, or invalid irq.
            Error::IrqState => libc::EINVAL,
            // kvm_s390_get_irq_state: buffer too small.
            Error::IrqBufferTooSmall => libc::ENOBUFS,
            // kvm_vcpu_ioctl_enable_cap: flags or unknown cap.
            Error::VcpuCap => libc::EINVAL,
            // kvm_vcpu_ioctl KVM_SET_SIGNAL_MASK: kvm_sigmask.len != sizeof(sigset_t).
            Error::SignalMaskLength => libc::EINVAL,
            // kvm_assign_ioeventfd: len, range overflow, unknown flags, len 0 with PIO/DATAMATCH.
            Error::Ioeventfd(IoeventfdRule::Length) => libc::EINVAL,
            Error::Ioeventfd(IoeventfdRule::Overflow) => libc::EINVAL,
            Error::Ioeventfd(IoeventfdRule::Flags) => libc::EINVAL,
            Error::Ioeventfd(IoeventfdRule::NoLengthMatch) => libc::EINVAL,
            // kvm_assign_ioeventfd: ioeventfd_check_collision.
            Error::IoeventfdExists => libc::EEXIST,
            // kvm_deassign_ioeventfd: nothing matched.
            Error::IoeventfdMissing => libc::ENOENT,
            // eventfd_ctx_fdget: fdget failed.
            Error::BadFd => libc::EBADF,
            // eventfd_ctx_fileget: the file is not an eventfd.
            Error::NotEventfd => libc::EINVAL,
            // allocation failure (also kmalloc of a watchpoint's 64-bit length).
            Error::OutOfMemory => libc::ENOMEM,
            // get_unused_fd_flags failure.
            Error::TooManyFds => libc::EMFILE,
            Error::Os(e) => *e,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?} (errno {})", self.errno())
    }
}

impl std::error::Error for Error {}

impl From<crate::uaccess::Fault> for Error {
    fn from(_: crate::uaccess::Fault) -> Self {
        Error::Fault
    }
}

/// The result of a KVM operation: the ioctl's non-negative return value, or an error.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_the_kernels_errno() {
        let table = [
            (Error::Fault, libc::EFAULT),
            (Error::ForeignProcess, libc::EIO),
            (Error::UnknownSystemIoctl, libc::EINVAL),
            (Error::UnknownIoctl, libc::ENOTTY),
            (Error::DeviceType, libc::ENODEV),
            (Error::Routing, libc::EINVAL),
            (Error::IrqfdBusy, libc::EBUSY),
            (Error::Flic, libc::EINVAL),
            (Error::FlicExists, libc::EINVAL),
            (Error::FlicNoAis, libc::EOPNOTSUPP),
            (Error::FlicNoAttr, libc::ENXIO),
            (Error::FlicBufferTooSmall, libc::ENOMEM),
            (Error::IrqType, libc::EINVAL),
            (Error::IrqBusy, libc::EBUSY),
            (Error::DeviceAttrUnsupported, libc::EPERM),
            (Error::NotKvmIoctl, libc::EINVAL),
            (Error::NonZeroArgument, libc::EINVAL),
            (Error::VmType, libc::EINVAL),
            (Error::Memslot(MemslotRule::Flags), libc::EINVAL),
            (Error::Memslot(MemslotRule::MemoryLimit), libc::EINVAL),
            (Error::MemslotOverlap, libc::EEXIST),
            (Error::InsideSection, libc::EDEADLK),
            (Error::DirtyLogSlot, libc::EINVAL),
            (Error::DirtyLogNotEnabled, libc::ENOENT),
            (Error::EnableCap(EnableCapRule::Arguments), libc::EINVAL),
            (Error::EnableCap(EnableCapRule::Unknown), libc::EINVAL),
            (Error::EnableCap(EnableCapRule::Unavailable), libc::EINVAL),
            (Error::EnableCap(EnableCapRule::Busy), libc::EBUSY),
            (Error::MemOp(MemOpRule::FlagsOrSize), libc::EINVAL),
            (Error::MemOp(MemOpRule::Key), libc::EINVAL),
            (Error::MemOp(MemOpRule::Op), libc::EINVAL),
            (Error::MemOp(MemOpRule::AccessRegister), libc::EINVAL),
            (Error::MemOp(MemOpRule::CmpxchgSize), libc::EINVAL),
            (Error::MemOp(MemOpRule::CmpxchgAlignment), libc::EINVAL),
            (Error::MemOp(MemOpRule::Protected), libc::EINVAL),
            (Error::MemOpTooBig, libc::E2BIG),
            (Error::Skeys(SkeysRule::Flags), libc::EINVAL),
            (Error::Skeys(SkeysRule::Count), libc::EINVAL),
            (Error::Skeys(SkeysRule::ReservedBit), libc::EINVAL),
            (Error::SkeysNoMemory, libc::EFAULT),
            (Error::Attr(AttrRule::Unknown), libc::ENXIO),
            (Error::Attr(AttrRule::NoHostSupport), libc::ENXIO),
            (Error::Attr(AttrRule::Busy), libc::EBUSY),
            (Error::Attr(AttrRule::Invalid), libc::EINVAL),
            (Error::Attr(AttrRule::Flags), libc::EINVAL),
            (Error::Attr(AttrRule::MissingFacility), libc::EINVAL),
            (Error::Attr(AttrRule::NotSupported), libc::EOPNOTSUPP),
            (Error::Attr(AttrRule::LimitTooBig), libc::E2BIG),
            (Error::Attr(AttrRule::WrongState), libc::EINVAL),
            (Error::Attr(AttrRule::MigrationSlots), libc::EINVAL),
            (Error::Cmma(CmmaRule::NotEnabled), libc::ENXIO),
            (Error::Cmma(CmmaRule::Flags), libc::EINVAL),
            (Error::Cmma(CmmaRule::NoMigrationMode), libc::EINVAL),
            (Error::Cmma(CmmaRule::Count), libc::EINVAL),
            (Error::Cmma(CmmaRule::NoMemory), libc::EFAULT),
            (Error::VcpuId, libc::EINVAL),
            (Error::VcpuExists, libc::EEXIST),
            (Error::VcpuNotStopped, libc::EBUSY),
            (Error::MpState, libc::ENXIO),
            (Error::OneRegId, libc::EINVAL),
            (Error::RunInvalid, libc::EINVAL),
            (Error::Interrupted, libc::EINTR),
            (Error::GuestMisuse, libc::EINVAL),
            (Error::GuestDebug, libc::EINVAL),
            (Error::GuestReentry, libc::EDEADLK),
            (Error::Injected(libc::ENOMEM), libc::ENOMEM),
            (Error::KeyOp, libc::EINVAL),
            (Error::IrqState, libc::EINVAL),
            (Error::IrqBufferTooSmall, libc::ENOBUFS),
            (Error::VcpuCap, libc::EINVAL),
            (Error::SignalMaskLength, libc::EINVAL),
            (Error::Ioeventfd(IoeventfdRule::Length), libc::EINVAL),
            (Error::Ioeventfd(IoeventfdRule::Overflow), libc::EINVAL),
            (Error::Ioeventfd(IoeventfdRule::Flags), libc::EINVAL),
            (Error::Ioeventfd(IoeventfdRule::NoLengthMatch), libc::EINVAL),
            (Error::IoeventfdExists, libc::EEXIST),
            (Error::IoeventfdMissing, libc::ENOENT),
            (Error::BadFd, libc::EBADF),
            (Error::NotEventfd, libc::EINVAL),
            (Error::OutOfMemory, libc::ENOMEM),
            (Error::TooManyFds, libc::EMFILE),
            (Error::Os(libc::ENFILE), libc::ENFILE),
        ];
        for (e, errno) in table {
            assert_eq!(e.errno(), errno, "{e:?}");
        }
    }
}
