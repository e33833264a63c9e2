//! `KVM_S390_KEYOP` (Linux 7.0, `latest` profile): ISKE, RRBE and SSKE on one guest absolute
//! address from userspace.

use super::Vm;
use crate::error::{Error, Result};
use crate::uapi::*;

impl Vm {
    /// `KVM_S390_KEYOP`: performs `k.operation` on the frame of `k.guest_addr` and puts the
    /// old key (ISKE, SSKE) or its R and C bits (RRBE) in `k.key`. An address outside guest
    /// memory is EFAULT; an unknown operation EINVAL.
    pub fn keyop(&self, k: &mut kvm_s390_keyop) -> Result<i32> {
        let gpa = k.guest_addr;
        let old = match k.operation {
            KVM_S390_KEYOP_ISKE => self.storage_key_abs(gpa),
            // The RRBE condition code (2 R + C) shifted into the key's R and C positions.
            KVM_S390_KEYOP_RRBE => self.reset_reference_bit_abs(gpa).map(|cc| cc << 1),
            KVM_S390_KEYOP_SSKE => self.swap_storage_key_abs(gpa, k.key),
            _ => return Err(Error::KeyOp),
        };
        k.key = old.map_err(|_| Error::Fault)?;
        Ok(0)
    }
}
