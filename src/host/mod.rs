//! The modelled host: the IBM Z machine and KVM configuration the shim pretends to run on.
//!
//! Where the kernel's behaviour depends on hardware or module parameters (facilities, SCA
//! mode, huge pages, protected virtualisation, the memory limit), it reads them from here.
//! Machine profiles (z14/z15/z16 identities, subfunctions, CPU features) are filled in by
//! the CPU-model work; this is the part the VM plumbing needs.

use std::sync::{Arc, OnceLock};

/// Facilities (STFLE bit numbers) of the default host, an IBM z16.
const Z16_FACILITIES: &[u16] = &[
    0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
    30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 47, 48, 49, 50, 51, 52, 53, 54, 57,
    58, 59, 60, 61, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81, 82, 129,
    130, 131, 133, 134, 135, 138, 139, 146, 148, 149, 150, 151, 152, 155, 156, 165, 169, 170, 192,
    193, 194, 196, 197,
];

/// The host machine and KVM module configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// Host STFLE facility list, 16 words, MSB-0 (facility n = bit 63-(n%64) of word n/64).
    pub facilities: [u64; 16],
    /// Enhanced suppression on protection (KVM_CAP_S390_COW).
    pub has_esop: bool,
    /// Extended SCA plus 64-bit SCA origin: 248 vCPUs instead of 64.
    pub has_esca: bool,
    /// The `hpage=1` module parameter (KVM_CAP_S390_HPAGE_1M).
    pub hpage: bool,
    /// Protected-virtualisation host (`prot_virt=1`).
    pub prot_virt: bool,
    /// Kernel built with CONFIG_KVM_S390_UCONTROL (KVM_VM_S390_UCONTROL accepted).
    pub ucontrol: bool,
    /// `sclp.hamax`: the highest host absolute address (U64_MAX for "no limit").
    pub hamax: u64,
    /// Online host CPUs (KVM_CAP_NR_VCPUS is capped by it).
    pub online_cpus: u32,
}

/// `KVM_MAX_VCPUS` on s390 (Linux 6.12).
pub const KVM_MAX_VCPUS: u32 = 255;
/// vCPUs addressable with the basic SCA.
pub const KVM_S390_BSCA_CPU_SLOTS: u32 = 64;
/// vCPUs addressable with the extended SCA.
pub const KVM_S390_ESCA_CPU_SLOTS: u32 = 248;
/// `TASK_SIZE_MAX` on s390: `-PAGE_SIZE`.
pub const TASK_SIZE_MAX: u64 = 0u64.wrapping_sub(4096);

impl HostConfig {
    /// The default host: an IBM z16 LPAR with ESCA, no huge pages, no PV, no ucontrol.
    pub fn z16() -> Self {
        let mut facilities = [0u64; 16];
        for &f in profiles::Z16.facilities {
            facilities[usize::from(f / 64)] |= 1u64 << (63 - (f % 64));
        }
        HostConfig {
            facilities,
            has_esop: true,
            has_esca: true,
            hpage: false,
            prot_virt: false,
            ucontrol: false,
            hamax: u64::MAX,
            online_cpus: 8,
        }
    }

    /// Whether the host has facility `nr`.
    pub fn has_facility(&self, nr: u32) -> bool {
        let word = (nr / 64) as usize;
        word < self.facilities.len() && self.facilities[word] & (1u64 << (63 - nr % 64)) != 0
    }

    /// KVM_CAP_MAX_VCPUS: 248 with ESCA and 64-bit SCAO, else 64.
    pub fn max_vcpus(&self) -> u32 {
        if self.has_esca {
            KVM_S390_ESCA_CPU_SLOTS
        } else {
            KVM_S390_BSCA_CPU_SLOTS
        }
    }

    /// The initial `mem_limit` of a non-ucontrol VM (kvm_arch_init_vm).
    pub fn initial_mem_limit(&self) -> u64 {
        if self.hamax == u64::MAX {
            TASK_SIZE_MAX
        } else {
            TASK_SIZE_MAX.min(self.hamax.saturating_add(1))
        }
    }
}

static HOST: OnceLock<Arc<HostConfig>> = OnceLock::new();

/// The process-wide host, fixed on first use.
pub fn host() -> Arc<HostConfig> {
    HOST.get_or_init(|| Arc::new(HostConfig::z16())).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_bits_are_msb0() {
        let h = HostConfig::z16();
        assert!(h.has_facility(0));
        assert_eq!(h.facilities[0] >> 63, 1);
        assert!(h.has_facility(129));
        assert_eq!(h.facilities[2] & (1 << 62), 1 << 62);
        assert!(!h.has_facility(5));
        assert!(!h.has_facility(5000));
    }

    #[test]
    fn mem_limit_follows_hamax() {
        let mut h = HostConfig::z16();
        assert_eq!(h.initial_mem_limit(), 0xFFFF_FFFF_FFFF_F000);
        h.hamax = (1 << 44) - 1;
        assert_eq!(h.initial_mem_limit(), 1 << 44);
    }
}
