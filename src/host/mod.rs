//! The modelled host: the IBM Z machine and KVM configuration the shim pretends to run on.
//!
//! Where the kernel's behaviour depends on hardware or module parameters (facilities, SCA
//! mode, huge pages, protected virtualisation, the memory limit), it reads them from here.
//! Machine profiles (z14/z15/z16 identities, subfunctions, CPU features) are filled in by
//! the CPU-model work; this is the part the VM plumbing needs.

pub mod clock;
pub mod kernel;
pub mod profiles;

use std::sync::{Arc, Mutex};

use crate::msb0::Msb0Bitmap;

/// An IBM Z machine generation the shim can pretend to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineProfile {
    /// Short name used to select it: "z14", "z15", "z16".
    pub name: &'static str,
    /// Human-readable identity, e.g. "IBM z16 A01 (machine type 3931), GA1".
    pub description: &'static str,
    /// The CPU type (machine type) in the CPU id, e.g. 0x3931.
    pub cpu_type: u16,
    /// The full host CPU id (version, CPU identification, type, format bits), as
    /// `KVM_S390_VM_CPU_MACHINE.cpuid` reports it.
    pub cpuid: u64,
    /// `sclp.ibc`: bits 16..27 the lowest, bits 0..11 the unblocked IBC level.
    pub ibc: u32,
    /// STFLE facility numbers the machine has.
    pub facilities: &'static [u16],
    /// Subfunction query blocks (MACHINE_SUBFUNC).
    /// The query blocks of the instructions with subfunctions, as each instruction's query
    /// function returns them, in the MACHINE_SUBFUNC layout (`reserved` zero). For PLO
    /// ("test bit") function code n is byte n/8, mask 0x80 >> (n%8).
    pub subfunctions: crate::uapi::kvm_s390_vm_cpu_subfunc,
}

/// The host machine and KVM module configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The machine generation.
    pub profile: MachineProfile,
    /// Host STFLE facility list, 16 doublewords as the s390 memory image (facility n is
    /// `0x80 >> (n % 8)` of byte `n / 8`).
    pub facilities: Msb0Bitmap<128>,
    /// Enhanced suppression on protection (KVM_CAP_S390_COW, CPU feature ESOP).
    pub has_esop: bool,
    /// Extended SCA plus 64-bit SCA origin: 248 vCPUs instead of 64.
    pub has_esca: bool,
    /// `sclp.has_cmma`: the host supports CMMA (MEM_CTRL ENABLE_CMMA / CLR_CMMA).
    pub has_cmma: bool,
    /// AP instructions are available (CRYPTO ENABLE_APIE / DISABLE_APIE).
    pub has_ap: bool,
    /// Adapter-interruption virtualisation (facility 65 in the VM's mask).
    pub has_aiv: bool,
    /// Host ultravisor feature indications (0 without an ultravisor), in the layout the C
    /// bit-fields of `struct kvm_s390_vm_cpu_uv_feat` have on this host.
    pub uv_features: u64,
    /// `sclp.hmfai`: which facilities the hypervisor manages (2 bits per facility word);
    /// facilities it does not manage pass through to guests.
    pub hmfai: u32,
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
    /// An LPAR of the given machine: ESCA, CMMA, AP, no huge pages, no PV, no ucontrol.
    pub fn from_profile(profile: &MachineProfile) -> Self {
        HostConfig {
            profile: *profile,
            facilities: Msb0Bitmap::from_bits(profile.facilities),
            has_esop: true,
            has_esca: true,
            has_cmma: true,
            has_ap: true,
            has_aiv: true,
            uv_features: 0,
            // The value QEMU's CPU definitions give z14, z15 and z16.
            hmfai: 0x0800_0000,
            hpage: false,
            prot_virt: false,
            ucontrol: false,
            hamax: u64::MAX,
            online_cpus: 8,
        }
    }

    /// The default host, an IBM z16.
    pub fn z16() -> Self {
        Self::from_profile(&profiles::Z16)
    }

    /// Whether the host has facility `nr`.
    pub fn has_facility(&self, nr: u32) -> bool {
        self.facilities.test(nr)
    }

    /// The kernel's `nonhyp_mask(i)`: the bits of facility doubleword `i` (its s390 value,
    /// see [`Msb0Bitmap::word`]) that are not managed by the hypervisor, and so pass through
    /// to guests when the host has them.
    pub fn nonhyp_mask(&self, i: usize) -> u64 {
        let shifted = if i < 16 {
            self.hmfai.wrapping_shl(2 * i as u32)
        } else {
            0
        };
        let fai = shifted >> 30;
        0x0000_ffff_ffff_ffff_u64 >> (fai << 4)
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

/// The machine profile called `name` ("z14", "z15", "z16"; case-insensitive).
pub fn profile_by_name(name: &str) -> Option<&'static MachineProfile> {
    profiles::PROFILES
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Why the host could not be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectError {
    /// No profile of that name.
    UnknownMachine,
    /// A VM exists already: the host is fixed.
    HostInUse,
}

struct HostState {
    config: Option<Arc<HostConfig>>,
    in_use: bool,
}

static HOST: Mutex<HostState> = Mutex::new(HostState {
    config: None,
    in_use: false,
});

fn lock_host() -> std::sync::MutexGuard<'static, HostState> {
    HOST.lock().unwrap_or_else(|e| e.into_inner())
}

fn initial_config() -> HostConfig {
    let from_env = std::env::var("KVM_S390_SHIM_MACHINE")
        .ok()
        .and_then(|n| profile_by_name(&n));
    match from_env {
        Some(p) => HostConfig::from_profile(p),
        None => HostConfig::z16(),
    }
}

/// The process-wide host (chosen by `KVM_S390_SHIM_MACHINE`, default z16).
pub fn host() -> Arc<HostConfig> {
    let mut st = lock_host();
    st.config
        .get_or_insert_with(|| Arc::new(initial_config()))
        .clone()
}

/// The host for a new VM: fixes the host for the rest of the process.
pub fn host_for_new_vm() -> Arc<HostConfig> {
    let mut st = lock_host();
    st.in_use = true;
    st.config
        .get_or_insert_with(|| Arc::new(initial_config()))
        .clone()
}

/// Selects the machine profile `name` as the host; only before the first VM is created.
pub fn select_machine(name: &str) -> Result<(), SelectError> {
    let p = profile_by_name(name).ok_or(SelectError::UnknownMachine)?;
    let mut st = lock_host();
    if st.in_use {
        return Err(SelectError::HostInUse);
    }
    st.config = Some(Arc::new(HostConfig::from_profile(p)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facility_bits_are_the_s390_image() {
        let h = HostConfig::z16();
        assert!(h.has_facility(0));
        assert_eq!(h.facilities.0[0] & 0x80, 0x80);
        assert_eq!(h.facilities.word(0) >> 63, 1);
        assert!(h.has_facility(129));
        assert_eq!(h.facilities.0[16] & 0x40, 0x40);
        assert_eq!(h.facilities.word(2) & (1 << 62), 1 << 62);
        assert!(!h.has_facility(5000));
    }

    #[test]
    fn mem_limit_follows_hamax() {
        let mut h = HostConfig::z16();
        assert_eq!(h.initial_mem_limit(), 0xFFFF_FFFF_FFFF_F000);
        h.hamax = (1 << 44) - 1;
        assert_eq!(h.initial_mem_limit(), 1 << 44);
    }

    #[test]
    fn non_hypervisor_managed_facilities() {
        let h = HostConfig::z16();
        assert_eq!(h.nonhyp_mask(0), 0x0000_ffff_ffff_ffff);
        assert_eq!(h.nonhyp_mask(1), 0x0000_ffff_ffff_ffff);
        assert_eq!(h.nonhyp_mask(2), 0x0000_0000_0000_ffff);
        assert_eq!(h.nonhyp_mask(3), 0x0000_ffff_ffff_ffff);
    }

    #[test]
    fn profiles_by_name() {
        assert_eq!(profile_by_name("Z16").map(|p| p.cpu_type), Some(0x3931));
        assert!(profile_by_name("z99").is_none());
    }
}
