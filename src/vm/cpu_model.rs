//! The VM's CPU model and the `KVM_S390_VM_CPU_MODEL` attribute group (spec vm.md A.7).

use crate::error::{AttrRule, Error, Result};
use crate::host::{profiles, HostConfig};
use crate::ioctl::user::{UserBuf, UserPtr};
use crate::msb0::Msb0Bitmap;
use crate::uaccess::FromBytes;
use crate::uapi::*;

/// Bytes of a facility list as the kernel keeps it (256 doublewords).
pub(crate) const FAC_LIST_BYTES: usize = 2048;
/// Bytes of a CPU-feature array (`KVM_S390_VM_CPU_FEAT_NR_BITS`).
pub(crate) const CPU_FEAT_BYTES: usize = KVM_S390_VM_CPU_FEAT_NR_BITS as usize / 8;

/// A facility list (`fac_mask`, `fac_list`) as the s390 memory image.
pub type FacilityList = Msb0Bitmap<FAC_LIST_BYTES>;
/// A CPU-feature array (`feat[]`) as the s390 memory image.
pub type CpuFeatures = Msb0Bitmap<CPU_FEAT_BYTES>;

/// The ultravisor feature bits a guest may be given (`ap` and `ap_intr`), in the layout the C
/// bit-fields of `struct kvm_s390_vm_cpu_uv_feat` have on this host: a client that sets
/// `.ap = 1` sends this value, and reads `.ap` back from it.
#[cfg(target_endian = "little")]
pub(crate) const UV_FEAT_GUEST_MASK: u64 = 0x10 | 0x20;
#[cfg(target_endian = "big")]
pub(crate) const UV_FEAT_GUEST_MASK: u64 = 0x0800_0000_0000_0000 | 0x0400_0000_0000_0000;

/// The VM's CPU model. The bitmaps are s390 memory images ([`crate::msb0`]).
#[derive(Clone)]
pub struct CpuModel {
    /// CPU id given to the guest.
    pub cpuid: u64,
    /// Instruction-blocking control level.
    pub ibc: u16,
    /// Facilities KVM may offer the guest.
    pub fac_mask: Box<FacilityList>,
    /// Facilities the guest sees.
    pub fac_list: Box<FacilityList>,
    /// Processor CPU features (`KVM_S390_VM_CPU_FEAT_*`).
    pub cpu_feat: CpuFeatures,
    /// Processor subfunction query blocks.
    pub subfuncs: kvm_s390_vm_cpu_subfunc,
    /// Ultravisor features given to the guest (host bit-field layout).
    pub uv_feat_guest: u64,
}

/// The host's subfunction block (MACHINE_SUBFUNC).
pub fn machine_subfuncs(host: &HostConfig) -> kvm_s390_vm_cpu_subfunc {
    host.profile.subfunctions
}

/// The CPU features KVM offers (MACHINE_FEAT): ESOP when the host has it. The features that
/// need the `nested=1` module parameter (SIEF2 … KSS) are not offered.
pub fn machine_feat(host: &HostConfig) -> CpuFeatures {
    let mut f = CpuFeatures::new();
    if host.has_esop {
        f.set(KVM_S390_VM_CPU_FEAT_ESOP);
    }
    f
}

impl CpuModel {
    /// The model of a new VM (`kvm_arch_init_vm`).
    pub fn initial(host: &HostConfig) -> Self {
        let kvm = Msb0Bitmap::<128>::from_bits(profiles::FACILITIES_KVM);
        let cpumodel = Msb0Bitmap::<128>::from_bits(profiles::FACILITIES_KVM_CPUMODEL);
        let mut m = CpuModel {
            cpuid: host.profile.cpuid | (0xFF << 56),
            ibc: (host.profile.ibc & 0xFFF) as u16,
            fac_mask: Box::new(FacilityList::new()),
            fac_list: Box::new(FacilityList::new()),
            cpu_feat: CpuFeatures::new(),
            subfuncs: machine_subfuncs(host),
            uv_feat_guest: 0,
        };
        for i in 0..16 {
            // kvm_s390_fac_base: FACILITIES_KVM plus the facilities the hypervisor does not
            // manage (kvm_s390_init); kvm_s390_fac_ext: FACILITIES_KVM_CPUMODEL. The kernel
            // works on doublewords; so does this, with their s390 values.
            let hw = host.facilities.word(i);
            let base = kvm.word(i) | (hw & host.nonhyp_mask(i));
            m.fac_mask.set_word(i, hw & (base | cpumodel.word(i)));
            m.fac_list.set_word(i, hw & base);
        }
        // Facilities KVM provides itself (kvm_arch_init_vm): 74 (store-hypervisor-information)
        // and 138 (configuration-z/Architecture-architectural-mode); 65 (interlocked access to
        // adapter interruptions) in the mask when the host virtualises adapter interruptions.
        m.set_facility(74);
        m.set_facility(138);
        // 147 (the ESSA no-DAT extension) when the host has guest-TLB clearing, i.e. the
        // facility itself (MACHINE_HAS_TLB_GUEST).
        if host.has_facility(147) {
            m.set_facility(147);
        }
        if host.has_aiv {
            m.fac_mask.set(65);
        }
        m
    }

    /// The kernel's `test_kvm_facility`: in both the mask and the list.
    pub fn has_facility(&self, nr: u32) -> bool {
        self.fac_mask.test(nr) && self.fac_list.test(nr)
    }

    /// Sets facility `nr` in both the mask and the list.
    pub fn set_facility(&mut self, nr: u32) {
        self.fac_mask.set(nr);
        self.fac_list.set(nr);
    }
}

/// Reads the attribute payload `T` at `addr`.
fn payload<T: FromBytes>(addr: u64) -> Result<T> {
    UserPtr::new(addr).read()
}

impl super::Vm {
    /// SET of a CPU_MODEL attribute.
    pub(crate) fn cpu_model_set(&self, attr: &kvm_device_attr) -> Result<i32> {
        let busy = || self.created_vcpus() > 0;
        match attr.attr {
            KVM_S390_VM_CPU_PROCESSOR => {
                if busy() {
                    return Err(Error::Attr(AttrRule::Busy));
                }
                let p: kvm_s390_vm_cpu_processor = payload(attr.addr)?;
                let mut st = self.state();
                let m = &mut st.cpu_model;
                m.cpuid = p.cpuid;
                // IBC is clamped into the host's [lowest, unblocked] range when both the host
                // and the request have one; otherwise the stored value stays.
                let lowest = ((self.host.profile.ibc >> 16) & 0xFFF) as u16;
                let unblocked = (self.host.profile.ibc & 0xFFF) as u16;
                if lowest != 0 && p.ibc != 0 {
                    m.ibc = p.ibc.clamp(lowest, unblocked.max(lowest));
                }
                // Stored verbatim: the bytes are the s390 image of the list.
                *m.fac_list = FacilityList::from_u64_array(&p.fac_list);
                Ok(0)
            }
            KVM_S390_VM_CPU_PROCESSOR_FEAT => {
                let f: kvm_s390_vm_cpu_feat = payload(attr.addr)?;
                let f = CpuFeatures::from_u64_array(&f.feat);
                if !f.is_subset_of(&machine_feat(&self.host)) {
                    return Err(Error::Attr(AttrRule::Invalid));
                }
                if busy() {
                    return Err(Error::Attr(AttrRule::Busy));
                }
                self.state().cpu_model.cpu_feat = f;
                Ok(0)
            }
            KVM_S390_VM_CPU_PROCESSOR_SUBFUNC => {
                if busy() {
                    return Err(Error::Attr(AttrRule::Busy));
                }
                // The kernel copies straight into the model: a fault may leave it partially
                // written. Copying page by page reproduces that.
                let mut st = self.state();
                let mut bytes = bytemuck::bytes_of(&st.cpu_model.subfuncs).to_vec();
                let mut off = 0;
                let mut result = Ok(0);
                while off < bytes.len() {
                    let src = attr.addr.wrapping_add(off as u64);
                    let n = (4096 - (src % 4096) as usize).min(bytes.len() - off);
                    if let Err(e) = UserBuf::new(src, n).read_into(&mut bytes[off..off + n]) {
                        result = Err(e);
                        break;
                    }
                    off += n;
                }
                // Whatever was copied before a fault stays in the model.
                st.cpu_model.subfuncs = bytemuck::pod_read_unaligned(&bytes);
                result
            }
            KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST => {
                let f: u64 = payload(attr.addr)?;
                let allowed = self.host.uv_features & UV_FEAT_GUEST_MASK;
                if f & !allowed != 0 {
                    return Err(Error::Attr(AttrRule::Invalid));
                }
                if busy() {
                    return Err(Error::Attr(AttrRule::Busy));
                }
                self.state().cpu_model.uv_feat_guest = f;
                Ok(0)
            }
            _ => Err(Error::Attr(AttrRule::Unknown)),
        }
    }

    /// GET of a CPU_MODEL attribute.
    pub(crate) fn cpu_model_get(&self, attr: &kvm_device_attr) -> Result<i32> {
        let m = self.state().cpu_model.clone();
        match attr.attr {
            KVM_S390_VM_CPU_PROCESSOR => {
                let p = kvm_s390_vm_cpu_processor {
                    cpuid: m.cpuid,
                    ibc: m.ibc,
                    pad: [0; 6],
                    fac_list: m.fac_list.to_u64_array(),
                };
                UserPtr::new(attr.addr).write(&p)?;
            }
            KVM_S390_VM_CPU_MACHINE => {
                // The host list fills the first 16 doublewords (S390_ARCH_FAC_LIST_SIZE_U64
                // of STFLE), the rest stays zero.
                let mut fac_list = FacilityList::new();
                fac_list.0[..self.host.facilities.0.len()].copy_from_slice(&self.host.facilities.0);
                let p = kvm_s390_vm_cpu_machine {
                    cpuid: self.host.profile.cpuid,
                    ibc: self.host.profile.ibc,
                    pad: [0; 4],
                    fac_mask: m.fac_mask.to_u64_array(),
                    fac_list: fac_list.to_u64_array(),
                };
                UserPtr::new(attr.addr).write(&p)?;
            }
            KVM_S390_VM_CPU_PROCESSOR_FEAT => {
                let feat = m.cpu_feat.to_u64_array();
                UserPtr::new(attr.addr).write(&kvm_s390_vm_cpu_feat { feat })?;
            }
            KVM_S390_VM_CPU_MACHINE_FEAT => {
                let feat = machine_feat(&self.host).to_u64_array();
                UserPtr::new(attr.addr).write(&kvm_s390_vm_cpu_feat { feat })?
            }
            KVM_S390_VM_CPU_PROCESSOR_SUBFUNC => UserPtr::new(attr.addr).write(&m.subfuncs)?,
            KVM_S390_VM_CPU_MACHINE_SUBFUNC => {
                UserPtr::new(attr.addr).write(&machine_subfuncs(&self.host))?
            }
            KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST => {
                UserPtr::new(attr.addr).write(&m.uv_feat_guest)?
            }
            KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST => {
                UserPtr::new(attr.addr).write(&(self.host.uv_features & UV_FEAT_GUEST_MASK))?
            }
            _ => return Err(Error::Attr(AttrRule::Unknown)),
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_model_of_a_z16() {
        let h = HostConfig::z16();
        let m = CpuModel::initial(&h);
        // Passed through as non-hypervisor-managed, or listed in FACILITIES_KVM.
        for f in [17, 76, 139, 74, 138, 147] {
            assert!(m.has_facility(f), "facility {f}");
        }
        // Vector (129) sits in the hypervisor-managed part of word 2: only
        // KVM_CAP_S390_VECTOR_REGISTERS turns it on.
        assert!(!m.has_facility(129));
        // Facility 65 is in the mask only: byte 8, 0x40.
        assert_eq!(m.fac_mask.0[8] & 0x40, 0x40);
        assert!(!m.has_facility(65));
        assert_eq!(m.cpuid >> 56, 0xFF);
        assert_eq!(
            m.cpuid & 0x00FF_FFFF_FFFF_FFFF,
            h.profile.cpuid & 0x00FF_FFFF_FFFF_FFFF
        );
        assert_eq!(u32::from(m.ibc), h.profile.ibc & 0xFFF);
    }
}
