//! kvm-s390-shim: a userspace implementation of the Linux KVM ioctl interface for s390x
//! guests, served in-process to C VMMs and test harnesses on a Linux x86_64, aarch64 or s390x
//! host.
//!
//! Module map:
//! * [`uapi`]: `#[repr(C)]` mirrors of the kernel's KVM/s390 uapi, constants, ioctl numbers.
//! * [`uaccess`]: every access to caller memory (EFAULT instead of crashes).
//! * [`rcu`]: read-side sections (userspace SRCU): lookups as plain loads, safe deletes.
//! * [`os`]: placeholder fds, the vCPU memfds, fork detection.
//! * [`fd`]: the generic fd → object table; [`object`]: the objects it holds.
//! * [`system`], [`vm`], [`vcpu`], [`device`]: the KVM objects and their behaviour.
//! * [`irq`], [`irqfd`]: the interrupt model, the FLIC's state, adapter routes and irqfds.
//! * [`addr`]: the address types (logical, real, absolute, host, frame numbers).
//! * [`cpu`]: the z/Architecture CPU (decoder, executor, instruction cache; not yet behind
//!   `KVM_RUN`).
//! * [`host`]: the modelled IBM Z host.
//! * [`msb0`]: MSB-0 bitmaps (facility lists, CPU features) as the s390 memory image.
//! * [`caps`]: `KVM_CHECK_EXTENSION` answers.
//! * [`stats`]: the binary statistics files (`KVM_GET_STATS_FD`).
//! * [`ioctl`]: the request dispatcher.
//! * [`ffi`]: the exported C API and the LD_PRELOAD interposers.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(unsafe_code)]

pub mod addr;
pub mod caps;
pub mod cpu;
pub mod device;
pub mod error;
pub mod fd;
pub mod ffi;
pub mod host;
pub mod ioctl;
pub mod irq;
pub mod irqfd;
pub mod msb0;
pub mod object;
pub mod os;
pub mod rcu;
pub mod stats;
pub mod system;
pub mod uaccess;
pub mod uapi;
pub mod vcpu;
pub mod vm;
