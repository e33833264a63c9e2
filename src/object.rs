//! The KVM objects reachable through fds, and the process-wide fd table that holds them.
//!
//! [`crate::fd`] is a generic table; this module names what it stores and installs new
//! objects under fresh placeholders ([`crate::os`]), so neither `fd` nor the object modules
//! depend on each other.

use std::os::fd::RawFd;
use std::sync::Arc;

use crate::device::Device;
use crate::error::Result;
use crate::fd::FdTable;
use crate::os;
use crate::system::System;
use crate::vcpu::Vcpu;
use crate::vm::Vm;

/// A KVM object reachable through an fd.
#[derive(Clone)]
pub enum Object {
    /// The /dev/kvm fd.
    System(Arc<System>),
    /// A VM fd.
    Vm(Arc<Vm>),
    /// A vCPU fd: it keeps its VM alive.
    Vcpu(Arc<Vm>, Arc<Vcpu>),
    /// A device fd (`KVM_CREATE_DEVICE`): it keeps its VM alive.
    Device(Arc<Vm>, Arc<Device>),
}

/// The process-wide fd → object table.
pub static TABLE: FdTable<Object> = FdTable::new();

/// Registers a freshly created placeholder, closing it if registration fails.
pub fn install(fd: RawFd, obj: Object) -> Result<RawFd> {
    match TABLE.insert(fd, obj) {
        Ok(()) => Ok(fd),
        Err(e) => {
            os::close_placeholder(fd);
            Err(e)
        }
    }
}

/// Installs `obj` under a new anon-inode-like placeholder (`O_CLOEXEC` if `cloexec`).
pub fn install_new(obj: Object, cloexec: bool) -> Result<RawFd> {
    install(os::new_placeholder(cloexec)?, obj)
}

/// `open("/dev/kvm")`: a new /dev/kvm object under a new placeholder.
pub fn open_system(cloexec: bool) -> Result<RawFd> {
    install_new(Object::System(Arc::new(System::new())), cloexec)
}
