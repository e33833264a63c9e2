//! Kernel-version profiles: `KVM_S390_SHIM_KERNEL=6.1|6.6|6.12|latest` selects the behaviour
//! of that upstream kernel where KVM/s390's user-visible interface changed. Read once, at
//! first use; the default is 6.12.
//!
//! | difference | 6.1 | 6.6 | 6.12 | latest |
//! |---|---|---|---|---|
//! | `KVM_CAP_S390_MEM_OP_EXTENSION` (6.3) | 1 | 3 | 3 | 3 |
//! | memop `ABSOLUTE_CMPXCHG` (6.3) | EINVAL | yes | yes | yes |
//! | `KVM_SET_USER_MEMORY_REGION2`, `KVM_CAP_USER_MEMORY2` (6.8) | ENOTTY, 0 | ENOTTY, 0 | yes | yes |
//! | memop quirks (spec/memop.md) | 6.x | 6.x | 6.x | newest |
//!
//! The adapter-route check that indicator bits lie inside their page (upstream 2026) applies
//! under every profile: older kernels set such bits beyond the mapped page, corrupting memory,
//! which the shim does not reproduce.
//! | `KVM_S390_KEYOP`, `KVM_CAP_S390_KEYOP` (7.0) | ENOTTY, 0 | ENOTTY, 0 | ENOTTY, 0 | yes |
//! | `KVM_CAP_S390_USER_OPEREXEC` (7.0) | 0, EINVAL | 0, EINVAL | 0, EINVAL | 1, enables |

use std::sync::OnceLock;

use crate::uapi::*;

/// A kernel whose KVM/s390 behaviour the shim can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    /// Linux 6.1 (LTS).
    V6_1,
    /// Linux 6.6 (LTS).
    V6_6,
    /// Linux 6.12 (LTS), the default.
    V6_12,
    /// Current upstream (the 2025–2026 gmap rewrite and additions).
    Latest,
}

impl Kernel {
    /// Every profile, oldest first.
    pub const ALL: [Kernel; 4] = [Kernel::V6_1, Kernel::V6_6, Kernel::V6_12, Kernel::Latest];

    /// The profile called `name` (`6.1`, `6.6`, `6.12`, `latest`).
    pub fn by_name(name: &str) -> Option<Kernel> {
        Kernel::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(name.trim()))
    }

    /// The profile's name.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::V6_1 => "6.1",
            Kernel::V6_6 => "6.6",
            Kernel::V6_12 => "6.12",
            Kernel::Latest => "latest",
        }
    }

    /// Linux 6.3 added the memop cmpxchg (and the extension capability's flag bits).
    pub fn has_memop_cmpxchg(self) -> bool {
        self >= Kernel::V6_6
    }

    /// The memop follows the quirks marked [newest] in the spec, not [6.x].
    pub fn newest_memop(self) -> bool {
        self == Kernel::Latest
    }

    /// `KVM_CAP_S390_USER_OPEREXEC` (Linux 7.0).
    pub fn has_user_operexec(self) -> bool {
        self == Kernel::Latest
    }

    /// Whether some profile lacks `request` (the requests [`Kernel::has_request`] gates):
    /// the dispatcher asks the profile only for these.
    pub const fn gated(request: u32) -> bool {
        matches!(request, KVM_SET_USER_MEMORY_REGION2 | KVM_S390_KEYOP)
    }

    /// Whether `request` exists in this kernel.
    pub fn has_request(self, request: u32) -> bool {
        match request {
            // Linux 6.8.
            KVM_SET_USER_MEMORY_REGION2 => self >= Kernel::V6_12,
            // Linux 7.0.
            KVM_S390_KEYOP => self == Kernel::Latest,
            _ => true,
        }
    }
}

static KERNEL: OnceLock<Kernel> = OnceLock::new();

/// The process-wide kernel profile (`KVM_S390_SHIM_KERNEL`, default 6.12; an unknown name is
/// logged and ignored).
pub fn kernel() -> Kernel {
    *KERNEL.get_or_init(|| match std::env::var("KVM_S390_SHIM_KERNEL") {
        Ok(n) => Kernel::by_name(&n).unwrap_or_else(|| {
            log::error!("KVM_S390_SHIM_KERNEL={n} is not 6.1, 6.6, 6.12 or latest; using 6.12");
            Kernel::V6_12
        }),
        Err(_) => Kernel::V6_12,
    })
}

/// Why the kernel profile could not be chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectKernelError {
    /// Not 6.1, 6.6, 6.12 or latest.
    Unknown,
    /// Another profile is already in use (it is fixed at the first KVM call).
    InUse,
}

/// Chooses the kernel profile `name`; only before the shim first consults the profile (in
/// practice: before the first KVM ioctl), or to the profile already in use.
pub fn select(name: &str) -> Result<(), SelectKernelError> {
    let k = Kernel::by_name(name).ok_or(SelectKernelError::Unknown)?;
    match KERNEL.set(k) {
        Ok(()) => Ok(()),
        Err(_) if kernel() == k => Ok(()),
        Err(_) => Err(SelectKernelError::InUse),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_by_name_and_features() {
        assert_eq!(Kernel::by_name("6.1"), Some(Kernel::V6_1));
        assert_eq!(Kernel::by_name("LATEST"), Some(Kernel::Latest));
        assert_eq!(Kernel::by_name("6.2"), None);
        assert!(!Kernel::V6_1.has_memop_cmpxchg());
        assert!(Kernel::V6_6.has_memop_cmpxchg());
        assert!(!Kernel::V6_6.has_request(KVM_SET_USER_MEMORY_REGION2));
        assert!(Kernel::V6_12.has_request(KVM_SET_USER_MEMORY_REGION2));
        assert!(!Kernel::V6_12.has_request(KVM_S390_KEYOP));
        assert!(Kernel::Latest.has_request(KVM_S390_KEYOP));
    }
}
