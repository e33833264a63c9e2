//! VM device attributes: `KVM_SET/GET/HAS_DEVICE_ATTR` on the VM fd (spec vm.md A.4–A.10).

use super::Vm;
use crate::error::{AttrRule, Error, Result};
use crate::host::clock::{host_tod, HostTod};
use crate::ioctl::user::UserPtr;
use crate::uaccess::{FromBytes, IntoBytes};
use crate::uapi::*;

/// The CMMA usage-state bits of a CMMA value (NODAT, 0x40, is kept by CLR_CMMA).
const CMMA_USAGE_STATE: u8 = 0x03;

fn err<T>(rule: AttrRule) -> Result<T> {
    Err(Error::Attr(rule))
}

/// Random bytes for wrapping-key masks (from the kernel's random source).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    crate::os::random_bytes()
}

/// Reads the attribute value at `addr` (the attribute's `addr` field).
fn read<T: FromBytes>(addr: u64) -> Result<T> {
    UserPtr::new(addr).read()
}

/// Writes the attribute value to `addr`; the ioctl then returns 0.
fn write<T: IntoBytes>(addr: u64, v: &T) -> Result<i32> {
    UserPtr::new(addr).write(v)?;
    Ok(0)
}

impl Vm {
    /// `KVM_SET_DEVICE_ATTR`.
    pub fn set_attr(&self, a: &kvm_device_attr) -> Result<i32> {
        match a.group {
            KVM_S390_VM_MEM_CTRL => self.mem_ctrl_set(a),
            KVM_S390_VM_TOD => self.tod_set(a),
            KVM_S390_VM_CPU_MODEL => self.cpu_model_set(a),
            KVM_S390_VM_CRYPTO => self.crypto_set(a),
            KVM_S390_VM_MIGRATION => self.migration_set(a),
            KVM_S390_VM_CPU_TOPOLOGY => self.topology_set(a),
            _ => err(AttrRule::Unknown),
        }
    }

    /// `KVM_GET_DEVICE_ATTR`.
    pub fn get_attr(&self, a: &kvm_device_attr) -> Result<i32> {
        match a.group {
            KVM_S390_VM_MEM_CTRL => match a.attr {
                KVM_S390_VM_MEM_LIMIT_SIZE => write(a.addr, &self.mem_limit),
                _ => err(AttrRule::Unknown),
            },
            KVM_S390_VM_TOD => self.tod_get(a),
            KVM_S390_VM_CPU_MODEL => self.cpu_model_get(a),
            KVM_S390_VM_MIGRATION => match a.attr {
                KVM_S390_VM_MIGRATION_STATUS => {
                    write(a.addr, &u64::from(self.state().migration_mode))
                }
                _ => err(AttrRule::Unknown),
            },
            KVM_S390_VM_CPU_TOPOLOGY => {
                let st = self.state();
                if !st.has_facility(11) {
                    return err(AttrRule::Unknown);
                }
                let mtcr = u8::from(st.mtcr);
                drop(st);
                write(a.addr, &mtcr)
            }
            // CRYPTO has no GET.
            _ => err(AttrRule::Unknown),
        }
    }

    /// `KVM_HAS_DEVICE_ATTR`: never reads `addr` or checks `flags`.
    pub fn has_attr(&self, a: &kvm_device_attr) -> Result<i32> {
        let present = match a.group {
            KVM_S390_VM_MEM_CTRL => match a.attr {
                KVM_S390_VM_MEM_ENABLE_CMMA | KVM_S390_VM_MEM_CLR_CMMA => self.host.has_cmma,
                KVM_S390_VM_MEM_LIMIT_SIZE => true,
                _ => false,
            },
            // Quirk: TOD_EXT works for GET and SET but HAS reports it absent.
            KVM_S390_VM_TOD => matches!(a.attr, KVM_S390_VM_TOD_LOW | KVM_S390_VM_TOD_HIGH),
            KVM_S390_VM_CPU_MODEL => a.attr <= KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST,
            KVM_S390_VM_CRYPTO => match a.attr {
                KVM_S390_VM_CRYPTO_ENABLE_AES_KW..=KVM_S390_VM_CRYPTO_DISABLE_DEA_KW => true,
                KVM_S390_VM_CRYPTO_ENABLE_APIE | KVM_S390_VM_CRYPTO_DISABLE_APIE => {
                    self.host.has_ap
                }
                _ => false,
            },
            // Quirk: any attribute of the group is reported present.
            KVM_S390_VM_MIGRATION => true,
            KVM_S390_VM_CPU_TOPOLOGY => self.state().has_facility(11),
            _ => false,
        };
        if present {
            Ok(0)
        } else {
            err(AttrRule::Unknown)
        }
    }

    fn mem_ctrl_set(&self, a: &kvm_device_attr) -> Result<i32> {
        match a.attr {
            KVM_S390_VM_MEM_ENABLE_CMMA => {
                if !self.host.has_cmma {
                    return err(AttrRule::NoHostSupport);
                }
                let mut st = self.state();
                if self.created_vcpus() > 0 {
                    return err(AttrRule::Busy);
                }
                if st.hpage_1m {
                    return err(AttrRule::Invalid);
                }
                st.use_cmma = true;
                Ok(0)
            }
            KVM_S390_VM_MEM_CLR_CMMA => {
                if !self.host.has_cmma {
                    return err(AttrRule::NoHostSupport);
                }
                if !self.state().use_cmma {
                    return err(AttrRule::WrongState);
                }
                // Only allocated chunks can hold usage-state bits.
                for slot in self.memslots().iter() {
                    slot.cmma.clear_all(CMMA_USAGE_STATE);
                }
                Ok(0)
            }
            KVM_S390_VM_MEM_LIMIT_SIZE => {
                if self.ucontrol {
                    return err(AttrRule::WrongState);
                }
                let new: u64 = read(a.addr)?;
                if self.mem_limit != KVM_S390_NO_MEM_LIMIT && new > self.mem_limit {
                    return err(AttrRule::LimitTooBig);
                }
                if new == 0 {
                    return err(AttrRule::WrongState);
                }
                let last = if new == KVM_S390_NO_MEM_LIMIT {
                    new
                } else {
                    new - 1
                };
                let mut st = self.state();
                if self.created_vcpus() > 0 {
                    return err(AttrRule::Busy);
                }
                // A new guest address space whose size is rounded up by page-table depth.
                // Quirk: `mem_limit` itself (GET, and the memslot check) keeps its creation
                // value.
                st.asce_limit = match last {
                    l if l < 1 << 31 => 1 << 31,
                    l if l < 1 << 42 => 1 << 42,
                    l if l < 1 << 53 => 1 << 53,
                    _ => u64::MAX,
                };
                Ok(0)
            }
            _ => err(AttrRule::Unknown),
        }
    }

    fn tod_set(&self, a: &kvm_device_attr) -> Result<i32> {
        if a.flags != 0 {
            return err(AttrRule::Flags);
        }
        match a.attr {
            KVM_S390_VM_TOD_EXT => {
                let t: kvm_s390_vm_tod_clock = read(a.addr)?;
                if !self.state().has_facility(139) && t.epoch_idx != 0 {
                    return err(AttrRule::Invalid);
                }
                self.set_tod(HostTod {
                    epoch_idx: t.epoch_idx,
                    tod: t.tod,
                });
                Ok(0)
            }
            KVM_S390_VM_TOD_HIGH => {
                let high: u8 = read(a.addr)?;
                if high != 0 {
                    return err(AttrRule::Invalid);
                }
                Ok(0)
            }
            KVM_S390_VM_TOD_LOW => {
                let tod: u64 = read(a.addr)?;
                self.set_tod(HostTod { epoch_idx: 0, tod });
                Ok(0)
            }
            _ => err(AttrRule::Unknown),
        }
    }

    /// Sets the guest TOD: the epoch (and, with facility 139, the epoch index) relative to a
    /// fresh host sample.
    pub(crate) fn set_tod(&self, guest: HostTod) {
        let host = host_tod();
        let (epoch, epdx) = {
            let mut st = self.state();
            st.epoch = guest.tod.wrapping_sub(host.tod);
            st.epdx = if st.has_facility(139) {
                let borrow = u8::from(st.epoch > guest.tod);
                guest
                    .epoch_idx
                    .wrapping_sub(host.epoch_idx)
                    .wrapping_sub(borrow)
            } else {
                0
            };
            (st.epoch, st.epdx)
        };
        // Every vCPU takes the new epoch (the VM state lock is not held meanwhile; a vCPU's
        // epoch has its own lock, so running guest functions do not block this).
        self.for_each_vcpu(|v| v.set_epoch(epoch, epdx));
    }

    /// The guest TOD now (epoch index 0 without facility 139).
    pub fn guest_tod(&self) -> HostTod {
        let host = host_tod();
        let st = self.state();
        let tod = host.tod.wrapping_add(st.epoch);
        let epoch_idx = if st.has_facility(139) {
            host.epoch_idx
                .wrapping_add(st.epdx)
                .wrapping_add(u8::from(tod < host.tod))
        } else {
            0
        };
        HostTod { epoch_idx, tod }
    }

    fn tod_get(&self, a: &kvm_device_attr) -> Result<i32> {
        if a.flags != 0 {
            return err(AttrRule::Flags);
        }
        match a.attr {
            KVM_S390_VM_TOD_EXT => {
                let t = self.guest_tod();
                write(
                    a.addr,
                    &kvm_s390_vm_tod_clock {
                        epoch_idx: t.epoch_idx,
                        pad: [0; 7],
                        tod: t.tod,
                    },
                )
            }
            KVM_S390_VM_TOD_HIGH => write(a.addr, &0u8),
            KVM_S390_VM_TOD_LOW => {
                let host = host_tod();
                let tod = host.tod.wrapping_add(self.state().epoch);
                write(a.addr, &tod)
            }
            _ => err(AttrRule::Unknown),
        }
    }

    fn crypto_set(&self, a: &kvm_device_attr) -> Result<i32> {
        let mut st = self.state();
        let msa3 = st.has_facility(76);
        match a.attr {
            KVM_S390_VM_CRYPTO_ENABLE_AES_KW..=KVM_S390_VM_CRYPTO_DISABLE_DEA_KW if !msa3 => {
                err(AttrRule::MissingFacility)
            }
            KVM_S390_VM_CRYPTO_ENABLE_AES_KW => {
                st.aes_wrapping_key_mask = random_bytes();
                st.aes_kw = true;
                Ok(0)
            }
            KVM_S390_VM_CRYPTO_ENABLE_DEA_KW => {
                st.dea_wrapping_key_mask = random_bytes();
                st.dea_kw = true;
                Ok(0)
            }
            KVM_S390_VM_CRYPTO_DISABLE_AES_KW => {
                st.aes_wrapping_key_mask = [0; 32];
                st.aes_kw = false;
                Ok(0)
            }
            KVM_S390_VM_CRYPTO_DISABLE_DEA_KW => {
                st.dea_wrapping_key_mask = [0; 24];
                st.dea_kw = false;
                Ok(0)
            }
            KVM_S390_VM_CRYPTO_ENABLE_APIE | KVM_S390_VM_CRYPTO_DISABLE_APIE => {
                if !self.host.has_ap {
                    return err(AttrRule::NotSupported);
                }
                st.apie = a.attr == KVM_S390_VM_CRYPTO_ENABLE_APIE;
                Ok(0)
            }
            _ => err(AttrRule::Unknown),
        }
    }

    fn migration_set(&self, a: &kvm_device_attr) -> Result<i32> {
        let _slots_lock = self.slots_lock.lock().unwrap_or_else(|e| e.into_inner());
        match a.attr {
            KVM_S390_VM_MIGRATION_START => {
                let slots = self.memslots();
                let mut st = self.state();
                if st.migration_mode {
                    return Ok(0);
                }
                if slots.is_empty() {
                    return err(AttrRule::MigrationSlots);
                }
                if !st.use_cmma {
                    st.migration_mode = true;
                    return Ok(0);
                }
                // Every slot needs dirty logging; slots visited before a failure keep the
                // CMMA-dirty bits set (as in the kernel; harmless).
                let mut pages = 0;
                for slot in slots.iter() {
                    let Some(d) = &slot.dirty else {
                        return err(AttrRule::MigrationSlots);
                    };
                    d.cmma.set_all();
                    pages += slot.npages;
                }
                st.cmma_dirty_pages = pages;
                st.migration_mode = true;
                Ok(0)
            }
            KVM_S390_VM_MIGRATION_STOP => {
                // CMMA-dirty bits and the count are kept.
                self.state().migration_mode = false;
                Ok(0)
            }
            _ => err(AttrRule::Unknown),
        }
    }

    fn topology_set(&self, a: &kvm_device_attr) -> Result<i32> {
        let mut st = self.state();
        if !st.has_facility(11) {
            return err(AttrRule::Unknown);
        }
        st.mtcr = a.attr != 0;
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::error::{AttrRule, EnableCapRule};
    use crate::host::HostConfig;

    fn vm_on(host: HostConfig) -> Arc<Vm> {
        Vm::create(Arc::new(host), 0).unwrap()
    }

    fn attr(group: u32, attr: u64, addr: u64) -> kvm_device_attr {
        kvm_device_attr {
            flags: 0,
            group,
            attr,
            addr,
        }
    }

    fn addr<T>(v: &T) -> u64 {
        v as *const T as u64
    }

    /// The address of an output buffer the shim will write.
    fn out<T>(v: &mut T) -> u64 {
        v as *mut T as u64
    }

    #[test]
    fn busy_once_a_vcpu_exists() {
        let vm = vm_on(HostConfig::z16());
        let limit = 1u64 << 32;
        let mut proc_ = kvm_s390_vm_cpu_processor {
            cpuid: 0,
            ibc: 0,
            pad: [0; 6],
            fac_list: [0; 256],
        };
        vm.get_attr(&attr(
            KVM_S390_VM_CPU_MODEL,
            KVM_S390_VM_CPU_PROCESSOR,
            out(&mut proc_),
        ))
        .unwrap();
        let feat = kvm_s390_vm_cpu_feat::default();
        let subfunc = crate::vm::cpu_model::machine_subfuncs(&vm.host);
        let uv = 0u64;
        vm.created_vcpus.store(1, Ordering::Release);
        let busy = Err(Error::Attr(AttrRule::Busy));
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0)),
            busy
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_MEM_CTRL,
                KVM_S390_VM_MEM_LIMIT_SIZE,
                addr(&limit)
            )),
            busy
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CPU_MODEL,
                KVM_S390_VM_CPU_PROCESSOR,
                addr(&proc_)
            )),
            busy
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CPU_MODEL,
                KVM_S390_VM_CPU_PROCESSOR_FEAT,
                addr(&feat)
            )),
            busy
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CPU_MODEL,
                KVM_S390_VM_CPU_PROCESSOR_SUBFUNC,
                addr(&subfunc)
            )),
            busy
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CPU_MODEL,
                KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST,
                addr(&uv)
            )),
            busy
        );
        // A FEAT outside the machine's is EINVAL before the vCPU check.
        let bad = kvm_s390_vm_cpu_feat {
            feat: [u64::MAX; 16],
        };
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CPU_MODEL,
                KVM_S390_VM_CPU_PROCESSOR_FEAT,
                addr(&bad)
            )),
            Err(Error::Attr(AttrRule::Invalid))
        );
        // LIMIT_SIZE: E2BIG and EINVAL come before EBUSY.
        let zero = 0u64;
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_MEM_CTRL,
                KVM_S390_VM_MEM_LIMIT_SIZE,
                addr(&zero)
            )),
            Err(Error::Attr(AttrRule::WrongState))
        );
        // Not restricted: CLR_CMMA, TOD, CRYPTO, MIGRATION, GETs.
        vm.state().use_cmma = true;
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, 0)),
            Ok(0)
        );
        assert_eq!(
            vm.set_attr(&attr(
                KVM_S390_VM_CRYPTO,
                KVM_S390_VM_CRYPTO_ENABLE_AES_KW,
                0
            )),
            Ok(0)
        );
        let tod = 5u64;
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, addr(&tod))),
            Ok(0)
        );
        // The capabilities that must come before vCPUs.
        let cap = |c| kvm_enable_cap {
            cap: c,
            ..Default::default()
        };
        assert_eq!(
            vm.enable_cap(&cap(KVM_CAP_S390_VECTOR_REGISTERS)),
            Err(Error::EnableCap(EnableCapRule::Busy))
        );
        assert_eq!(
            vm.enable_cap(&cap(KVM_CAP_S390_CPU_TOPOLOGY)),
            Err(Error::EnableCap(EnableCapRule::Busy))
        );
    }

    #[test]
    fn hosts_without_cmma_or_ap() {
        let mut h = HostConfig::z16();
        h.has_cmma = false;
        h.has_ap = false;
        let vm = vm_on(h);
        let nx = Err(Error::Attr(AttrRule::NoHostSupport));
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0)),
            nx
        );
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, 0)),
            nx
        );
        assert_eq!(
            vm.has_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0)),
            Err(Error::Attr(AttrRule::Unknown))
        );
        assert_eq!(
            vm.has_attr(&attr(KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_APIE, 0)),
            Err(Error::Attr(AttrRule::Unknown))
        );
        assert_eq!(
            vm.set_attr(&attr(KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_APIE, 0)),
            Err(Error::Attr(AttrRule::NotSupported))
        );
        assert_eq!(
            Error::Attr(AttrRule::NotSupported).errno(),
            libc::EOPNOTSUPP
        );
        // HAS for the key-wrapping attributes does not depend on MSA3 or AP.
        assert_eq!(
            vm.has_attr(&attr(
                KVM_S390_VM_CRYPTO,
                KVM_S390_VM_CRYPTO_ENABLE_AES_KW,
                0
            )),
            Ok(0)
        );
    }

    #[test]
    fn cmma_and_huge_pages_exclude_each_other() {
        let mut h = HostConfig::z16();
        h.hpage = true;
        let cap = kvm_enable_cap {
            cap: KVM_CAP_S390_HPAGE_1M,
            ..Default::default()
        };
        let a = vm_on(h.clone());
        assert_eq!(a.enable_cap(&cap), Ok(0));
        assert_eq!(
            a.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0)),
            Err(Error::Attr(AttrRule::Invalid))
        );
        let b = vm_on(h);
        assert_eq!(
            b.set_attr(&attr(KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0)),
            Ok(0)
        );
        assert_eq!(
            b.enable_cap(&cap),
            Err(Error::EnableCap(EnableCapRule::Unavailable))
        );
    }

    #[test]
    fn limit_size_rounding_and_ucontrol() {
        let vm = vm_on(HostConfig::z16());
        for (set, rounded) in [
            (1u64 << 31, 1u64 << 31),
            ((1 << 31) + 1, 1 << 42),
            (1 << 42, 1 << 42),
            (1 << 53, 1 << 53),
            ((1 << 53) + 1, u64::MAX),
        ] {
            vm.set_attr(&attr(
                KVM_S390_VM_MEM_CTRL,
                KVM_S390_VM_MEM_LIMIT_SIZE,
                addr(&set),
            ))
            .unwrap();
            assert_eq!(vm.state().asce_limit, rounded, "limit {set:#x}");
        }
        let mut h = HostConfig::z16();
        h.ucontrol = true;
        let uc = Vm::create(Arc::new(h), u64::from(KVM_VM_S390_UCONTROL)).unwrap();
        let mut got = 0u64;
        uc.get_attr(&attr(
            KVM_S390_VM_MEM_CTRL,
            KVM_S390_VM_MEM_LIMIT_SIZE,
            out(&mut got),
        ))
        .unwrap();
        assert_eq!(got, u64::MAX);
        assert_eq!(
            uc.set_attr(&attr(
                KVM_S390_VM_MEM_CTRL,
                KVM_S390_VM_MEM_LIMIT_SIZE,
                addr(&got)
            )),
            Err(Error::Attr(AttrRule::WrongState))
        );
    }

    #[test]
    fn crypto_defaults_and_fresh_masks() {
        let vm = vm_on(HostConfig::z16());
        let first = {
            let st = vm.state();
            assert!(st.aes_kw && st.dea_kw && !st.apie);
            assert_ne!(st.aes_wrapping_key_mask, [0; 32]);
            st.aes_wrapping_key_mask
        };
        vm.set_attr(&attr(
            KVM_S390_VM_CRYPTO,
            KVM_S390_VM_CRYPTO_ENABLE_AES_KW,
            0,
        ))
        .unwrap();
        assert_ne!(vm.state().aes_wrapping_key_mask, first);
        vm.set_attr(&attr(
            KVM_S390_VM_CRYPTO,
            KVM_S390_VM_CRYPTO_DISABLE_DEA_KW,
            0,
        ))
        .unwrap();
        let st = vm.state();
        assert!(!st.dea_kw && st.dea_wrapping_key_mask == [0; 24]);
    }
}
