//! KVM devices (`KVM_CREATE_DEVICE`, `virt/kvm/kvm_main.c`): objects reached through a device
//! fd, the fourth fd kind, whose ioctls are the device-attribute calls.
//!
//! A device type is a row of [`TYPES`]: its `kvm_device_type` number and a constructor. The
//! device fd answers `KVM_SET/GET/HAS_DEVICE_ATTR` through the type's [`DeviceOps`]; an
//! accessor a type does not provide gives EPERM and any other request ENOTTY, as
//! `kvm_device_ioctl` does. A type is listed only once its behaviour is complete (today the
//! FLIC); `KVM_CAP_DEVICE_CTRL` answers 1 while the table is not empty.

pub mod flic;

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::uapi::*;
use crate::vm::Vm;

/// What a device type does with its attributes (the kernel's `kvm_device_ops`).
pub trait DeviceOps: Send + Sync {
    /// The anon-inode name (`ops->name`).
    fn name(&self) -> &'static str;
    /// `KVM_SET_DEVICE_ATTR`; the default is the kernel's answer for a missing accessor.
    fn set_attr(&self, _vm: &Vm, _attr: &kvm_device_attr) -> Result<i32> {
        Err(Error::DeviceAttrUnsupported)
    }
    /// `KVM_GET_DEVICE_ATTR`.
    fn get_attr(&self, _vm: &Vm, _attr: &kvm_device_attr) -> Result<i32> {
        Err(Error::DeviceAttrUnsupported)
    }
    /// `KVM_HAS_DEVICE_ATTR`.
    fn has_attr(&self, _vm: &Vm, _attr: &kvm_device_attr) -> Result<i32> {
        Err(Error::DeviceAttrUnsupported)
    }
}

/// A created device.
pub struct Device {
    /// Its `kvm_device_type`.
    pub kind: u32,
    /// Its behaviour.
    pub ops: Box<dyn DeviceOps>,
}

/// A device type that `KVM_CREATE_DEVICE` can create.
pub struct DeviceType {
    /// The `kvm_device_type` number.
    pub kind: u32,
    /// Creates a device of this type for a VM (`ops->create`), or refuses with the type's
    /// errno (e.g. a second FLIC).
    pub create: fn(&Arc<Vm>) -> Result<Box<dyn DeviceOps>>,
}

/// The FLIC.
const FLIC: DeviceType = DeviceType {
    kind: KVM_DEV_TYPE_FLIC,
    create: flic::create,
};

/// The device types the shim serves.
#[cfg(not(test))]
pub static TYPES: &[DeviceType] = &[FLIC];

/// Under unit tests, a test device type also exercises the device-fd path.
#[cfg(test)]
pub static TYPES: &[DeviceType] = &[FLIC, tests::TEST_TYPE];

/// `kvm_ioctl_create_device`: ENODEV for an unknown type, 0 without creating anything under
/// `KVM_CREATE_DEVICE_TEST` (other flag bits are ignored, as in the kernel), else the new
/// device (the caller gives it an fd).
pub fn create(vm: &Arc<Vm>, cd: &kvm_create_device) -> Result<Option<Arc<Device>>> {
    let ty = TYPES
        .iter()
        .find(|t| t.kind == cd.type_)
        .ok_or(Error::DeviceType)?;
    if cd.flags & KVM_CREATE_DEVICE_TEST != 0 {
        return Ok(None);
    }
    let ops = (ty.create)(vm)?;
    Ok(Some(Arc::new(Device { kind: ty.kind, ops })))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A device type number no kernel uses.
    pub const TEST_KIND: u32 = 0x7fff_0001;

    pub const TEST_TYPE: DeviceType = DeviceType {
        kind: TEST_KIND,
        create: |_| Ok(Box::new(Register(AtomicU64::new(0)))),
    };

    /// A device with one 64-bit register in group 1, attribute 0; no HAS accessor.
    struct Register(AtomicU64);

    impl DeviceOps for Register {
        fn name(&self) -> &'static str {
            "test-register"
        }
        fn set_attr(&self, _vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
            if a.group != 1 || a.attr != 0 {
                return Err(Error::DeviceAttrUnsupported);
            }
            self.0.store(
                crate::ioctl::user::UserPtr::<u64>::new(a.addr).read()?,
                Ordering::Relaxed,
            );
            Ok(0)
        }
        fn get_attr(&self, _vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
            crate::ioctl::user::UserPtr::<u64>::new(a.addr)
                .write(&self.0.load(Ordering::Relaxed))?;
            Ok(0)
        }
    }

    fn ioctl<T>(fd: i32, req: u32, arg: &mut T) -> Result<i32> {
        crate::ioctl::dispatch(fd, req.into(), arg as *mut T as u64).expect("a KVM fd")
    }

    #[test]
    fn device_fd_serves_its_attributes() {
        let sys = crate::object::open_system(true).unwrap();
        let vm = crate::ioctl::dispatch(sys, KVM_CREATE_VM.into(), 0)
            .unwrap()
            .unwrap();
        // Unknown types, with or without TEST, are ENODEV.
        let mut cd = kvm_create_device {
            type_: 4, // VFIO
            fd: 0,
            flags: 0,
        };
        assert_eq!(
            ioctl(vm, KVM_CREATE_DEVICE, &mut cd).unwrap_err().errno(),
            libc::ENODEV
        );
        cd.flags = KVM_CREATE_DEVICE_TEST;
        assert_eq!(
            ioctl(vm, KVM_CREATE_DEVICE, &mut cd).unwrap_err().errno(),
            libc::ENODEV
        );
        // TEST on a known type: 0, nothing created, fd untouched.
        cd = kvm_create_device {
            type_: TEST_KIND,
            fd: 0xdead,
            flags: KVM_CREATE_DEVICE_TEST | 0x10,
        };
        assert_eq!(ioctl(vm, KVM_CREATE_DEVICE, &mut cd), Ok(0));
        assert_eq!(cd.fd, 0xdead);
        // A real creation returns the fd in the struct.
        cd.flags = 0;
        assert_eq!(ioctl(vm, KVM_CREATE_DEVICE, &mut cd), Ok(0));
        let dev = cd.fd as i32;
        assert!(dev >= 0 && dev != 0xdead);
        let mut value = 0x1122_3344_5566_7788u64;
        let mut a = kvm_device_attr {
            flags: 0,
            group: 1,
            attr: 0,
            addr: &mut value as *mut u64 as u64,
        };
        assert_eq!(ioctl(dev, KVM_SET_DEVICE_ATTR, &mut a), Ok(0));
        value = 0;
        assert_eq!(ioctl(dev, KVM_GET_DEVICE_ATTR, &mut a), Ok(0));
        assert_eq!(value, 0x1122_3344_5566_7788);
        // A missing accessor is EPERM; another request ENOTTY; a bad argument EFAULT.
        assert_eq!(
            ioctl(dev, KVM_HAS_DEVICE_ATTR, &mut a).unwrap_err().errno(),
            libc::EPERM
        );
        assert_eq!(
            ioctl(dev, KVM_CHECK_EXTENSION, &mut a).unwrap_err().errno(),
            libc::ENOTTY
        );
        assert_eq!(
            crate::ioctl::dispatch(dev, KVM_SET_DEVICE_ATTR.into(), 8)
                .unwrap()
                .unwrap_err()
                .errno(),
            libc::EFAULT
        );
        for fd in [dev, vm, sys] {
            crate::object::TABLE.remove(fd);
            crate::os::close_placeholder(fd);
        }
    }
}
