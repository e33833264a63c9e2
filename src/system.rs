//! The /dev/kvm object and its ioctls (`kvm_dev_ioctl`).

use std::sync::Arc;

use crate::caps;
use crate::error::{Error, Result};
use crate::host::{host, host_for_new_vm};
use crate::uapi::*;
use crate::vm::Vm;

/// The object behind an fd returned by `open("/dev/kvm")`.
#[derive(Debug, Default)]
pub struct System {}

impl System {
    /// A new /dev/kvm object.
    pub fn new() -> Self {
        System {}
    }

    /// `KVM_GET_API_VERSION`: 12; EINVAL for a non-zero argument.
    pub fn api_version(&self, arg: u64) -> Result<i32> {
        if arg != 0 {
            return Err(Error::NonZeroArgument);
        }
        Ok(KVM_API_VERSION as i32)
    }

    /// `KVM_CREATE_VM`: a new VM (the dispatcher gives it an O_RDWR|O_CLOEXEC fd, like the
    /// kernel's).
    pub fn create_vm(&self, vm_type: u64) -> Result<Arc<Vm>> {
        Vm::create(host_for_new_vm(), vm_type)
    }

    /// `KVM_CHECK_EXTENSION` on /dev/kvm (no VM).
    pub fn check_extension(&self, cap: u64) -> Result<i32> {
        Ok(caps::answer(&host(), None, cap))
    }

    /// `KVM_GET_VCPU_MMAP_SIZE`: one page; EINVAL for a non-zero argument.
    pub fn vcpu_mmap_size(&self, arg: u64) -> Result<i32> {
        if arg != 0 {
            return Err(Error::NonZeroArgument);
        }
        Ok(4096)
    }

    /// `KVM_S390_ENABLE_SIE`: always succeeds (the shim's address space is always SIE-capable).
    pub fn enable_sie(&self) -> Result<i32> {
        Ok(0)
    }
}
