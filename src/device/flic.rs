//! The s390 floating interrupt controller (`KVM_DEV_TYPE_FLIC`, `kvm_flic_ops` in
//! `arch/s390/kvm/interrupt.c`, `Documentation/virt/kvm/devices/s390_flic.rst`): one per VM,
//! an attribute interface to the VM's floating interrupts, I/O adapters and adapter-
//! interruption suppression.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::DeviceOps;
use crate::error::{Error, Result};
use crate::ioctl::user::{UserBuf, UserPtr};
use crate::irq::{self, ais_mode_mask, Adapter, MAX_ISC, MAX_S390_IO_ADAPTERS};
use crate::uapi::*;
use crate::vm::Vm;

/// `KVM_S390_AIS_MODE_ALL` / `_SINGLE` (kernel-internal values of `kvm_s390_ais_req::mode`).
const AIS_MODE_ALL: u16 = 0;
const AIS_MODE_SINGLE: u16 = 1;

/// The FLIC of one VM (its state lives in the VM: the floating interrupts, adapters, AIS).
pub struct Flic;

/// `flic_create`: EINVAL when the VM already has one. As in the kernel, a FLIC is destroyed
/// only with its VM (`kvm_flic_ops` has no `release`): closing its fd does not allow another.
pub fn create(vm: &Arc<Vm>) -> Result<Box<dyn DeviceOps>> {
    if vm.has_flic.swap(true, Ordering::AcqRel) {
        return Err(Error::FlicExists);
    }
    Ok(Box::new(Flic))
}

const IRQ_SIZE: usize = std::mem::size_of::<kvm_s390_irq>();

impl DeviceOps for Flic {
    fn name(&self) -> &'static str {
        "kvm-flic"
    }

    fn get_attr(&self, vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
        match a.group {
            KVM_DEV_FLIC_GET_ALL_IRQS => get_all_irqs(vm, a),
            KVM_DEV_FLIC_AISM_ALL => {
                if a.attr < std::mem::size_of::<kvm_s390_ais_all>() as u64 {
                    return Err(Error::Flic);
                }
                if !vm.state().has_facility(72) {
                    return Err(Error::FlicNoAis);
                }
                let ais = *vm.ais();
                UserPtr::new(a.addr).write(&kvm_s390_ais_all {
                    simm: ais.simm,
                    nimm: ais.nimm,
                })?;
                Ok(0)
            }
            _ => Err(Error::Flic),
        }
    }

    fn set_attr(&self, vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
        match a.group {
            KVM_DEV_FLIC_ENQUEUE => enqueue(vm, a),
            KVM_DEV_FLIC_CLEAR_IRQS => {
                vm.float_irqs().clear();
                Ok(0)
            }
            // Async page faults are a host paging feature; the shim's guest memory never
            // faults asynchronously, so enabling and disabling only flip the switch.
            KVM_DEV_FLIC_APF_ENABLE => {
                vm.state().pfault_enabled = true;
                Ok(0)
            }
            KVM_DEV_FLIC_APF_DISABLE_WAIT => {
                vm.state().pfault_enabled = false;
                Ok(0)
            }
            KVM_DEV_FLIC_ADAPTER_REGISTER => {
                let info: kvm_s390_io_adapter = UserPtr::new(a.addr).read()?;
                let id = info.id as usize;
                if id >= MAX_S390_IO_ADAPTERS {
                    return Err(Error::Flic);
                }
                let mut adapters = vm.adapters.lock().unwrap_or_else(|e| e.into_inner());
                if adapters[id].is_some() {
                    return Err(Error::Flic);
                }
                adapters[id] = Some(Adapter {
                    id: info.id,
                    isc: info.isc,
                    maskable: info.maskable != 0,
                    masked: false,
                    swap: info.swap != 0,
                    suppressible: info.flags & KVM_S390_ADAPTER_SUPPRESSIBLE != 0,
                });
                Ok(0)
            }
            KVM_DEV_FLIC_ADAPTER_MODIFY => {
                let req: kvm_s390_io_adapter_req = UserPtr::new(a.addr).read()?;
                let mut adapters = vm.adapters.lock().unwrap_or_else(|e| e.into_inner());
                let Some(adapter) = adapters.get_mut(req.id as usize).and_then(|a| a.as_mut())
                else {
                    return Err(Error::Flic);
                };
                match req.type_ {
                    KVM_S390_IO_ADAPTER_MASK => {
                        if !adapter.maskable {
                            return Err(Error::Flic);
                        }
                        adapter.masked = req.mask != 0;
                        Ok(0)
                    }
                    // No longer needed by the kernel either: the routes carry the addresses.
                    KVM_S390_IO_ADAPTER_MAP | KVM_S390_IO_ADAPTER_UNMAP => Ok(0),
                    _ => Err(Error::Flic),
                }
            }
            KVM_DEV_FLIC_CLEAR_IO_IRQ => {
                if a.flags != 0 || a.attr != 4 {
                    return Err(Error::Flic);
                }
                let schid: u32 = UserPtr::new(a.addr).read()?;
                if schid == 0 {
                    return Err(Error::Flic);
                }
                vm.float_irqs().take_io(0xff << 24, schid);
                Ok(0)
            }
            KVM_DEV_FLIC_AISM => {
                if !vm.state().has_facility(72) {
                    return Err(Error::FlicNoAis);
                }
                let req: kvm_s390_ais_req = UserPtr::new(a.addr).read()?;
                if u32::from(req.isc) > MAX_ISC {
                    return Err(Error::Flic);
                }
                let mut ais = vm.ais();
                let m = ais_mode_mask(req.isc);
                match req.mode {
                    AIS_MODE_ALL => {
                        ais.simm &= !m;
                        ais.nimm &= !m;
                    }
                    AIS_MODE_SINGLE => {
                        ais.simm |= m;
                        ais.nimm &= !m;
                    }
                    _ => return Err(Error::Flic),
                }
                Ok(0)
            }
            KVM_DEV_FLIC_AIRQ_INJECT => {
                let adapter = usize::try_from(a.attr)
                    .ok()
                    .and_then(|id| {
                        vm.adapters
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get(id)
                            .copied()
                            .flatten()
                    })
                    .ok_or(Error::Flic)?;
                vm.inject_airq(&adapter)?;
                Ok(0)
            }
            KVM_DEV_FLIC_AISM_ALL => {
                if !vm.state().has_facility(72) {
                    return Err(Error::FlicNoAis);
                }
                let all: kvm_s390_ais_all = UserPtr::new(a.addr).read()?;
                let mut ais = vm.ais();
                ais.simm = all.simm;
                ais.nimm = all.nimm;
                Ok(0)
            }
            _ => Err(Error::Flic),
        }
    }

    fn has_attr(&self, _vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
        match a.group {
            KVM_DEV_FLIC_GET_ALL_IRQS..=KVM_DEV_FLIC_AISM_ALL => Ok(0),
            _ => Err(Error::FlicNoAttr),
        }
    }
}

/// `get_all_floating_irqs`: `attr` is the buffer length; the records written, EINVAL for a
/// length of 0 or above the maximum, ENOMEM when they do not fit (nothing is written then).
fn get_all_irqs(vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
    if a.attr > u64::from(KVM_S390_FLIC_MAX_BUFFER) || a.attr == 0 {
        return Err(Error::Flic);
    }
    let max = a.attr as usize / IRQ_SIZE;
    let records = vm.float_irqs().all(max).ok_or(Error::FlicBufferTooSmall)?;
    let bytes: Vec<u8> = records.iter().flat_map(crate::vcpu::irq_bytes).collect();
    if !bytes.is_empty() {
        UserBuf::new(a.addr, bytes.len()).write_from(&bytes)?;
    }
    Ok(records.len() as i32)
}

/// `enqueue_floating_irq`: `attr` bytes of `kvm_s390_irq` records at `addr`, injected one by
/// one until one fails.
fn enqueue(vm: &Vm, a: &kvm_device_attr) -> Result<i32> {
    let len = a.attr as u32 as i32; // the kernel takes `int len = attr->attr`
    if len % IRQ_SIZE as i32 != 0 || len > KVM_S390_FLIC_MAX_BUFFER as i32 {
        return Err(Error::Flic);
    }
    let mut addr = a.addr;
    let mut left = len;
    while left >= IRQ_SIZE as i32 {
        // copy_irq_from_user reads the type first, then only the member it selects.
        let type_: u64 = UserPtr::new(addr).read()?;
        let mut rec = irq::zero_irq(type_);
        let member = match u32::try_from(type_) {
            Ok(
                KVM_S390_INT_PFAULT_INIT
                | KVM_S390_INT_PFAULT_DONE
                | KVM_S390_INT_VIRTIO
                | KVM_S390_INT_SERVICE,
            ) => std::mem::size_of::<kvm_s390_ext_info>(),
            Ok(KVM_S390_MCHK) => std::mem::size_of::<kvm_s390_mchk_info>(),
            Ok(t) if t <= KVM_S390_INT_IO_MAX => std::mem::size_of::<kvm_s390_io_info>(),
            _ => return Err(Error::IrqType),
        };
        let mut payload = [0u8; 64];
        UserBuf::new(addr + 8, member).read_into(&mut payload[..member])?;
        rec.u.reserved = payload;
        vm.inject_floating(irq::inti_from_irq(&rec)?)?;
        left -= IRQ_SIZE as i32;
        addr = addr.wrapping_add(IRQ_SIZE as u64);
    }
    Ok(0)
}
