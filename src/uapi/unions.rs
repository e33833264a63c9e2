//! Field reads of the uapi unions, in one place.
//!
//! Reading a union member is `unsafe` in Rust because the bytes might not form a valid value
//! of that member's type or might be uninitialised. Every member of these unions is plain
//! integers (any bit pattern is valid), and every union value the shim handles has all its
//! bytes initialised: it was copied in whole from the caller, or built from a zeroed
//! `reserved` member (`irq::zero_irq`, `irq::irq_from_bytes`) before a member was written. So
//! each read below is sound, and the rest of the crate reads unions only through these.
#![allow(unsafe_code)]

use super::flic::{kvm_irq_routing_entry, kvm_irq_routing_s390_adapter};
use super::kvm::*;

impl kvm_s390_mem_op {
    /// The `ext` member of `u` (access register, key, cmpxchg old-value pointer).
    pub fn ext(&self) -> kvm_s390_mem_op_ext {
        // SAFETY: integer-only union, fully initialised (module docs).
        unsafe { self.u.ext }
    }

    /// The `sida_offset` member of `u`.
    pub fn sida_offset(&self) -> u32 {
        // SAFETY: as above.
        unsafe { self.u.sida_offset }
    }
}

impl kvm_s390_cmma_log {
    /// The `mask` member of the anonymous union (SET_CMMA_BITS).
    pub fn mask(&self) -> u64 {
        // SAFETY: as above.
        unsafe { self.u.mask }
    }
}

impl kvm_irq_routing_entry {
    /// The s390 adapter member of `u`.
    pub fn adapter(&self) -> kvm_irq_routing_s390_adapter {
        // SAFETY: as above.
        unsafe { self.u.adapter }
    }
}

impl kvm_s390_irq {
    /// The 64 payload bytes of `u`.
    pub fn payload(&self) -> [u8; 64] {
        // SAFETY: as above; `reserved` spans the whole union.
        unsafe { self.u.reserved }
    }
    /// `u.io`.
    pub fn io(&self) -> kvm_s390_io_info {
        // SAFETY: as above.
        unsafe { self.u.io }
    }
    /// `u.ext`.
    pub fn ext(&self) -> kvm_s390_ext_info {
        // SAFETY: as above.
        unsafe { self.u.ext }
    }
    /// `u.pgm`.
    pub fn pgm(&self) -> kvm_s390_pgm_info {
        // SAFETY: as above.
        unsafe { self.u.pgm }
    }
    /// `u.emerg`.
    pub fn emerg(&self) -> kvm_s390_emerg_info {
        // SAFETY: as above.
        unsafe { self.u.emerg }
    }
    /// `u.extcall`.
    pub fn extcall(&self) -> kvm_s390_extcall_info {
        // SAFETY: as above.
        unsafe { self.u.extcall }
    }
    /// `u.prefix`.
    pub fn prefix(&self) -> kvm_s390_prefix_info {
        // SAFETY: as above.
        unsafe { self.u.prefix }
    }
    /// `u.stop`.
    pub fn stop(&self) -> kvm_s390_stop_info {
        // SAFETY: as above.
        unsafe { self.u.stop }
    }
    /// `u.mchk`.
    pub fn mchk(&self) -> kvm_s390_mchk_info {
        // SAFETY: as above.
        unsafe { self.u.mchk }
    }
}

// SAFETY: both members of `kvm_s390_cmma_log_u` are `u64`s that fill the whole union (asserted
// in kvm.rs), so every value has all its bytes initialised, whichever member it was built
// from: it may be copied out as bytes. (Unions cannot derive `NoUninit`; a union with a smaller
// member must not implement it.)
unsafe impl bytemuck::NoUninit for kvm_s390_cmma_log_u {}
