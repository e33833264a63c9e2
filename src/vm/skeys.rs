//! Storage keys: `KVM_S390_GET_SKEYS` / `KVM_S390_SET_SKEYS` and the key rules memops use.

use std::sync::atomic::Ordering;

use super::Vm;
use crate::error::{Error, Result, SkeysRule};
use crate::ioctl::user::UserBuf;
use crate::uapi::*;

/// Access-control bits of a storage key.
pub(crate) const SKEY_ACC: u8 = 0xF0;
/// Fetch-protection bit.
pub(crate) const SKEY_F: u8 = 0x08;
/// Reference bit.
pub(crate) const SKEY_R: u8 = 0x04;
/// Change bit.
pub(crate) const SKEY_C: u8 = 0x02;
/// Reserved bit (must be 0 in SET_SKEYS).
pub(crate) const SKEY_RESERVED: u8 = 0x01;

/// Key-controlled protection (no overrides): may an access with `access_key` (0..15) to a page
/// with storage key `skey` proceed? Key 0 always may; a matching ACC may; a fetch from a page
/// without fetch protection may.
pub fn key_permits(access_key: u8, skey: u8, store: bool) -> bool {
    access_key == 0 || (skey & SKEY_ACC) >> 4 == access_key || (!store && skey & SKEY_F == 0)
}

impl Vm {
    /// Whether the guest uses storage keys.
    pub fn uses_skeys(&self) -> bool {
        self.uses_skeys.load(Ordering::Acquire)
    }

    /// The storage key of `gfn`, or None if it is in no slot.
    pub fn storage_key(&self, gfn: u64) -> Option<u8> {
        let slots = self.memslots();
        slots.by_gfn(gfn).map(|s| s.keys.get(gfn - s.base_gfn))
    }

    /// The storage key of `gfn` in a given slot snapshot.
    pub fn storage_key_in(&self, slots: &super::memslot::MemSlots, gfn: u64) -> Option<u8> {
        slots.by_gfn(gfn).map(|s| s.keys.get(gfn - s.base_gfn))
    }

    /// SSKE from a guest program: sets the key of the frame at absolute `gpa` (R and C as
    /// given) and enables storage keys for the VM. Err: the program-interruption code.
    pub fn set_storage_key_abs(&self, gpa: u64, key: u8) -> std::result::Result<(), u16> {
        self.uses_skeys.store(true, Ordering::Release);
        let _exclusive = self.keys_lock.write().unwrap_or_else(|e| e.into_inner());
        let slots = self.memslots();
        let slot = slots.by_gfn(gpa / 4096).ok_or(0x05u16)?;
        if slot
            .keys
            .set(gpa / 4096 - slot.base_gfn, key & !SKEY_RESERVED)
            .is_err()
        {
            // A guest instruction has no ENOMEM; like a lost R/C update, the key is dropped.
            log::warn!("SSKE {gpa:#x}: no memory for the storage key");
        }
        Ok(())
    }

    /// SSKE that returns the previous key, in one step with respect to other key changes
    /// (`KVM_S390_KEYOP_SSKE`). Err: the program-interruption code.
    pub fn swap_storage_key_abs(&self, gpa: u64, key: u8) -> std::result::Result<u8, u16> {
        self.uses_skeys.store(true, Ordering::Release);
        let _exclusive = self.keys_lock.write().unwrap_or_else(|e| e.into_inner());
        let slots = self.memslots();
        let slot = slots.by_gfn(gpa / 4096).ok_or(0x05u16)?;
        let idx = gpa / 4096 - slot.base_gfn;
        let old = slot.keys.get(idx);
        if slot.keys.set(idx, key & !SKEY_RESERVED).is_err() {
            log::warn!("KEYOP SSKE {gpa:#x}: no memory for the storage key");
        }
        Ok(old)
    }

    /// ISKE from a guest program (enables storage keys).
    pub fn storage_key_abs(&self, gpa: u64) -> std::result::Result<u8, u16> {
        self.uses_skeys.store(true, Ordering::Release);
        self.storage_key(gpa / 4096).ok_or(0x05)
    }

    /// RRBE from a guest program: resets the reference bit and returns the condition code
    /// (2 × R + C before). Enables storage keys.
    pub fn reset_reference_bit_abs(&self, gpa: u64) -> std::result::Result<u8, u16> {
        self.uses_skeys.store(true, Ordering::Release);
        let slots = self.memslots();
        let slot = slots.by_gfn(gpa / 4096).ok_or(0x05u16)?;
        let idx = gpa / 4096 - slot.base_gfn;
        // One atomic step: R or C bits set meanwhile by other CPUs are not lost.
        let old = slot.keys.fetch_and_not(idx, SKEY_R).unwrap_or(0);
        Ok(((old & SKEY_R) >> 1) | ((old & SKEY_C) >> 1))
    }

    /// `KVM_S390_GET_SKEYS`.
    pub fn get_skeys(&self, args: &kvm_s390_skeys) -> Result<i32> {
        if args.flags != 0 {
            return Err(Error::Skeys(SkeysRule::Flags));
        }
        if !self.uses_skeys() {
            return Ok(KVM_S390_GET_SKEYS_NONE as i32);
        }
        if args.count < 1 || args.count > u64::from(KVM_S390_SKEYS_MAX) {
            return Err(Error::Skeys(SkeysRule::Count));
        }
        let slots = self.memslots();
        let mut keys = Vec::new();
        keys.try_reserve_exact(args.count as usize)
            .map_err(|_| Error::OutOfMemory)?;
        for i in 0..args.count {
            let gfn = args.start_gfn.wrapping_add(i);
            let slot = slots.by_gfn(gfn).ok_or(Error::SkeysNoMemory)?;
            keys.push(slot.keys.get(gfn - slot.base_gfn));
        }
        UserBuf::new(args.skeydata_addr, keys.len()).write_from(&keys)?;
        Ok(0)
    }

    /// `KVM_S390_SET_SKEYS`: enables storage keys, then applies keys in order; a failure on
    /// one key leaves the earlier ones applied (the kernel's behaviour).
    pub fn set_skeys(&self, args: &kvm_s390_skeys) -> Result<i32> {
        if args.flags != 0 {
            return Err(Error::Skeys(SkeysRule::Flags));
        }
        if args.count < 1 || args.count > u64::from(KVM_S390_SKEYS_MAX) {
            return Err(Error::Skeys(SkeysRule::Count));
        }
        let mut keys = Vec::new();
        keys.try_reserve_exact(args.count as usize)
            .map_err(|_| Error::OutOfMemory)?;
        keys.resize(args.count as usize, 0);
        UserBuf::new(args.skeydata_addr, keys.len()).read_into(&mut keys)?;
        self.uses_skeys.store(true, Ordering::Release);
        let _exclusive = self.keys_lock.write().unwrap_or_else(|e| e.into_inner());
        let slots = self.memslots();
        for (i, &key) in keys.iter().enumerate() {
            let gfn = args.start_gfn.wrapping_add(i as u64);
            let slot = slots.by_gfn(gfn).ok_or(Error::SkeysNoMemory)?;
            if key & SKEY_RESERVED != 0 {
                return Err(Error::Skeys(SkeysRule::ReservedBit));
            }
            slot.keys.set(gfn - slot.base_gfn, key)?;
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert!(key_permits(0, 0x18, true));
        assert!(key_permits(1, 0x18, true));
        assert!(!key_permits(2, 0x18, false));
        assert!(key_permits(2, 0x10, false));
        assert!(!key_permits(2, 0x10, true));
        assert!(key_permits(9, 0x98, true));
        assert!(!key_permits(9, 0x08, false));
    }
}
