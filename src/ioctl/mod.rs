//! The ioctl dispatcher: routes a request on a KVM fd to its handler, copying argument
//! structs in and out through [`crate::uaccess`].
//!
//! One table per fd kind lists every request that has a handler; [`implemented`] reads the
//! same tables, so capability answers (crate::caps) can never advertise a missing handler.

use std::os::fd::RawFd;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::fd::{Object, TABLE};
use crate::system::System;
use crate::uaccess::{read_user, Pod};
use crate::uapi::*;
use crate::vcpu::Vcpu;
use crate::vm::Vm;

/// The kinds of KVM fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// /dev/kvm.
    System,
    /// A VM fd.
    Vm,
    /// A vCPU fd.
    Vcpu,
}

type SystemHandler = fn(&System, u64) -> Result<i32>;
type VmHandler = fn(&Arc<Vm>, u64) -> Result<i32>;

/// Requests served on /dev/kvm.
pub static SYSTEM_IOCTLS: &[(u32, SystemHandler)] = &[
    (KVM_GET_API_VERSION, |s, arg| s.api_version(arg)),
    (KVM_CREATE_VM, |s, arg| s.create_vm(arg)),
    (KVM_CHECK_EXTENSION, |s, arg| s.check_extension(arg)),
    (KVM_GET_VCPU_MMAP_SIZE, |s, arg| s.vcpu_mmap_size(arg)),
    (KVM_S390_ENABLE_SIE, |s, arg| s.enable_sie(arg)),
];

/// Requests served on a VM fd.
pub static VM_IOCTLS: &[(u32, VmHandler)] = &[
    (KVM_CHECK_EXTENSION, |vm, arg| {
        Ok(crate::caps::answer(&vm.host, Some(vm), arg))
    }),
    (KVM_SET_USER_MEMORY_REGION, |vm, arg| {
        let r: kvm_userspace_memory_region = copy_in(arg)?;
        let r2 = kvm_userspace_memory_region2 {
            slot: r.slot,
            flags: r.flags,
            guest_phys_addr: r.guest_phys_addr,
            memory_size: r.memory_size,
            userspace_addr: r.userspace_addr,
            ..Default::default()
        };
        vm.set_user_memory_region(&r2, false)
    }),
    (KVM_SET_USER_MEMORY_REGION2, |vm, arg| {
        vm.set_user_memory_region(&copy_in(arg)?, true)
    }),
    (KVM_GET_DIRTY_LOG, |vm, arg| {
        vm.get_dirty_log(&copy_in(arg)?)
    }),
    (KVM_ENABLE_CAP, |vm, arg| vm.enable_cap(&copy_in(arg)?)),
    (KVM_S390_MEM_OP, |vm, arg| {
        Ok(vm.mem_op(&copy_in(arg)?)?.ret())
    }),
    (KVM_S390_GET_SKEYS, |vm, arg| vm.get_skeys(&copy_in(arg)?)),
    (KVM_S390_SET_SKEYS, |vm, arg| vm.set_skeys(&copy_in(arg)?)),
    (KVM_SET_DEVICE_ATTR, |vm, arg| vm.set_attr(&copy_in(arg)?)),
    (KVM_GET_DEVICE_ATTR, |vm, arg| vm.get_attr(&copy_in(arg)?)),
    (KVM_HAS_DEVICE_ATTR, |vm, arg| vm.has_attr(&copy_in(arg)?)),
    (KVM_S390_GET_CMMA_BITS, |vm, arg| {
        let mut log: kvm_s390_cmma_log = copy_in(arg)?;
        let r = vm.get_cmma_bits(&mut log)?;
        crate::uaccess::write_user(arg, &log)?;
        Ok(r)
    }),
    (KVM_S390_SET_CMMA_BITS, |vm, arg| {
        vm.set_cmma_bits(&copy_in(arg)?)
    }),
    (KVM_CREATE_VCPU, |vm, arg| {
        let (vcpu, fd) = vm.create_vcpu(arg)?;
        crate::fd::install(fd, Object::Vcpu(vm.clone(), vcpu))
    }),
];

type VcpuHandler = fn(&Vm, &Vcpu, u64) -> Result<i32>;

/// Requests served on a vCPU fd.
pub static VCPU_IOCTLS: &[(u32, VcpuHandler)] = &[
    (KVM_RUN, |vm, v, arg| v.run(vm, arg)),
    (KVM_GET_REGS, |_, v, arg| v.get_regs(arg)),
    (KVM_SET_REGS, |_, v, arg| v.set_regs(arg)),
    (KVM_GET_SREGS, |_, v, arg| v.get_sregs(arg)),
    (KVM_SET_SREGS, |_, v, arg| v.set_sregs(arg)),
    (KVM_GET_FPU, |_, v, arg| v.get_fpu(arg)),
    (KVM_SET_FPU, |_, v, arg| v.set_fpu(arg)),
    (KVM_S390_SET_INITIAL_PSW, |_, v, arg| v.set_initial_psw(arg)),
    (KVM_S390_NORMAL_RESET, |vm, v, _| {
        v.reset(vm, KVM_S390_NORMAL_RESET)
    }),
    (KVM_S390_INITIAL_RESET, |vm, v, _| {
        v.reset(vm, KVM_S390_INITIAL_RESET)
    }),
    (KVM_S390_CLEAR_RESET, |vm, v, _| {
        v.reset(vm, KVM_S390_CLEAR_RESET)
    }),
    (KVM_GET_MP_STATE, |_, v, arg| v.get_mp_state(arg)),
    (KVM_SET_MP_STATE, |vm, v, arg| v.set_mp_state(vm, arg)),
    (KVM_GET_ONE_REG, |_, v, arg| v.one_reg(arg, false)),
    (KVM_SET_ONE_REG, |_, v, arg| v.one_reg(arg, true)),
    (KVM_ENABLE_CAP, |vm, v, arg| v.enable_cap(vm, arg)),
    (KVM_S390_MEM_OP, |vm, v, arg| {
        Ok(v.mem_op(vm, &copy_in(arg)?)?.ret())
    }),
    (KVM_S390_GET_IRQ_STATE, |_, v, arg| v.get_irq_state(arg)),
    (KVM_S390_STORE_STATUS, |vm, v, arg| v.store_status(vm, arg)),
];

/// Whether `request` has a handler on fds of `kind`.
pub fn implemented(kind: FdKind, request: u32) -> bool {
    match kind {
        FdKind::System => SYSTEM_IOCTLS.iter().any(|(r, _)| *r == request),
        FdKind::Vm => VM_IOCTLS.iter().any(|(r, _)| *r == request),
        FdKind::Vcpu => VCPU_IOCTLS.iter().any(|(r, _)| *r == request),
    }
}

/// Copies an argument struct in from the caller.
fn copy_in<T: Pod>(arg: u64) -> Result<T> {
    Ok(read_user::<T>(arg)?)
}

/// Requests the VFS answers for every file before the file's own ioctl (`do_vfs_ioctl`):
/// they go to the placeholder fd, which behaves like a KVM anon-inode fd for them.
const VFS_IOCTLS: [libc::c_ulong; 4] =
    [libc::FIOCLEX, libc::FIONCLEX, libc::FIONBIO, libc::FIOASYNC];

/// Serves `ioctl(fd, request, arg)` if `fd` is a KVM fd; `None` means "not ours, pass it on".
///
/// The object is borrowed from the fd table without taking a reference count, so concurrent
/// ioctls on one VM write no shared cache line here.
pub fn dispatch(fd: RawFd, request: libc::c_ulong, arg: u64) -> Option<Result<i32>> {
    if VFS_IOCTLS.contains(&(request & 0xffff_ffff)) {
        return None;
    }
    // The syscall passes the request as a 32-bit unsigned int.
    let req = request as u32;
    TABLE.with(fd, |obj| match obj {
        Object::System(sys) => match SYSTEM_IOCTLS.iter().find(|(r, _)| *r == req) {
            Some((_, h)) => h(sys, arg),
            None => Err(Error::UnknownSystemIoctl),
        },
        Object::Vm(vm) => {
            vm.check_process()
                .and_then(|()| match VM_IOCTLS.iter().find(|(r, _)| *r == req) {
                    Some((_, h)) => h(vm, arg),
                    None => Err(Error::UnknownIoctl),
                })
        }
        Object::Vcpu(vm, vcpu) => vm.check_process().and_then(|()| {
            // kvm_vcpu_ioctl: a request of another ioctl type is EINVAL, unknown KVM ones ENOTTY.
            if (req >> 8) & 0xff != KVMIO {
                return Err(Error::NotKvmIoctl);
            }
            if crate::vcpu::guest::is_running_here(vcpu) {
                return Err(Error::GuestReentry);
            }
            match VCPU_IOCTLS.iter().find(|(r, _)| *r == req) {
                Some((_, h)) => h(vm, vcpu, arg),
                None => Err(Error::UnknownIoctl),
            }
        }),
    })
}
