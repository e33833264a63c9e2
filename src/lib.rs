//! kvm-s390-shim: a userspace implementation of the Linux KVM ioctl interface for s390x
//! guests, served in-process to C VMMs and test harnesses on a Linux x86_64, aarch64 or s390x
//! host.
//!
//! Module map:
//! * [`uapi`]: `#[repr(C)]` mirrors of the kernel's KVM/s390 uapi, constants, ioctl numbers.
//! * [`uaccess`]: every access to caller memory (EFAULT instead of crashes).
//! * [`fd`]: placeholder fds and the fd → object table.
//! * [`system`], [`vm`]: the KVM objects and their behaviour.
//! * [`caps`]: `KVM_CHECK_EXTENSION` answers.
//! * [`ioctl`]: the request dispatcher.
//! * [`ffi`]: the exported C API and the LD_PRELOAD interposers.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod caps;
pub mod error;
pub mod fd;
pub mod ffi;
pub mod host;
pub mod ioctl;
pub mod system;
pub mod uaccess;
pub mod uapi;
pub mod vcpu;
pub mod vm;
