//! The `kvm_run` page a vCPU shares with userspace.
//!
//! It is one page of a memfd: the vCPU fd itself, so that `mmap(vcpu_fd)` in the caller maps
//! the same physical page the shim maps here. The caller may change it at any time (as with
//! the kernel's page), so the shim never forms Rust references into it: fields are read and
//! written as plain values at their byte offsets.
// The kvm_run page: a shared mapping read and written at byte offsets.
#![allow(unsafe_code)]

use std::os::fd::RawFd;
use std::ptr::NonNull;

use memoffset::offset_of;

use crate::error::{Error, Result};
use crate::uaccess::{FromBytes, IntoBytes};
use crate::uapi::*;

/// Size of the page (`KVM_GET_VCPU_MMAP_SIZE`).
pub(crate) const RUN_PAGE_SIZE: usize = 4096;

/// Byte offsets of the fields the shim uses.
pub(crate) mod off {
    use super::*;

    const S: usize = offset_of!(kvm_run, s);
    pub const IMMEDIATE_EXIT: usize = offset_of!(kvm_run, immediate_exit);
    pub const EXIT_REASON: usize = offset_of!(kvm_run, exit_reason);
    pub const PSW_MASK: usize = offset_of!(kvm_run, psw_mask);
    pub const PSW_ADDR: usize = offset_of!(kvm_run, psw_addr);
    pub const EXIT: usize = offset_of!(kvm_run, exit);
    pub const VALID_REGS: usize = offset_of!(kvm_run, kvm_valid_regs);
    pub const DIRTY_REGS: usize = offset_of!(kvm_run, kvm_dirty_regs);
    pub const PREFIX: usize = S + offset_of!(kvm_sync_regs, prefix);
    pub const GPRS: usize = S + offset_of!(kvm_sync_regs, gprs);
    pub const ACRS: usize = S + offset_of!(kvm_sync_regs, acrs);
    pub const CRS: usize = S + offset_of!(kvm_sync_regs, crs);
    pub const TODPR: usize = S + offset_of!(kvm_sync_regs, todpr);
    pub const CPUTM: usize = S + offset_of!(kvm_sync_regs, cputm);
    pub const CKC: usize = S + offset_of!(kvm_sync_regs, ckc);
    pub const PP: usize = S + offset_of!(kvm_sync_regs, pp);
    pub const GBEA: usize = S + offset_of!(kvm_sync_regs, gbea);
    pub const PFT: usize = S + offset_of!(kvm_sync_regs, pft);
    pub const PFS: usize = S + offset_of!(kvm_sync_regs, pfs);
    pub const PFC: usize = S + offset_of!(kvm_sync_regs, pfc);
    pub const VRS: usize = S + offset_of!(kvm_sync_regs, vr);
    pub const FPC: usize = S + offset_of!(kvm_sync_regs, fpc);
    pub const BPBC: usize = S + offset_of!(kvm_sync_regs, bpbc_reserved2);
    pub const RICCB: usize = S + offset_of!(kvm_sync_regs, riccb);
    pub const DIAG318: usize = S + offset_of!(kvm_sync_regs, diag318);
    pub const SDNX: usize = S + offset_of!(kvm_sync_regs, sdnx);
    pub const GSCB: usize = SDNX + offset_of!(kvm_sync_regs_sdnx_s, gscb);
    pub const ETOKEN: usize = SDNX + offset_of!(kvm_sync_regs_sdnx_s, etoken);
    pub const ETOKEN_EXT: usize = SDNX + offset_of!(kvm_sync_regs_sdnx_s, etoken_extension);
}

/// The C bit-field `bpbc:1` of `kvm_sync_regs`: the first bit the host's C compiler allocates.
#[cfg(target_endian = "little")]
pub(crate) const BPBC_BIT: u8 = 0x01;
#[cfg(target_endian = "big")]
pub(crate) const BPBC_BIT: u8 = 0x80;

/// The shim's own mapping of a vCPU's run page.
#[derive(Debug)]
pub struct RunPage {
    base: NonNull<u8>,
    id: crate::os::FileId,
}

// SAFETY: the page is plain shared memory; all accesses are by value through raw pointers
// (like the kernel, the shim tolerates the caller changing it concurrently).
unsafe impl Send for RunPage {}
// SAFETY: as above.
unsafe impl Sync for RunPage {}

impl RunPage {
    /// Creates the memfd of a new vCPU (its fd) and maps it. Returns the page and the fd.
    pub fn create(id: u32) -> Result<(RunPage, RawFd)> {
        let name =
            std::ffi::CString::new(format!("kvm-vcpu:{id}")).map_err(|_| Error::OutOfMemory)?;
        let len = std::num::NonZeroUsize::new(RUN_PAGE_SIZE).ok_or(Error::OutOfMemory)?;
        let page = crate::os::memfd_page(&name, len)?;
        Ok((
            RunPage {
                base: page.base,
                id: page.id,
            },
            page.fd,
        ))
    }

    /// The identity of the memfd behind the page (to recognise the vCPU's fd).
    pub fn file_id(&self) -> crate::os::FileId {
        self.id
    }

    fn at<T>(&self, off: usize) -> *mut T {
        assert!(
            off + std::mem::size_of::<T>() <= RUN_PAGE_SIZE && off % std::mem::align_of::<T>() == 0
        );
        // SAFETY: in bounds of the mapped page (checked above).
        unsafe { self.base.as_ptr().add(off).cast::<T>() }
    }

    /// Reads a value at byte offset `off`: any bytes the caller left there are a valid `T`.
    pub fn get<T: FromBytes>(&self, off: usize) -> T {
        // SAFETY: `at` yields an aligned in-bounds pointer into our live mapping, whose bytes
        // are all initialised (shared memory); every bit pattern is a valid T.
        unsafe { self.at::<T>(off).read_volatile() }
    }

    /// Writes a value at byte offset `off`: its bytes, none of them padding (the caller reads
    /// every byte of the page).
    pub fn set<T: IntoBytes>(&self, off: usize, v: T) {
        // SAFETY: as for `get`; T has no padding, so no uninitialised byte reaches the page.
        unsafe { self.at::<T>(off).write_volatile(v) }
    }

    /// Reads the `i`-th u64 of an array at `off`.
    pub fn get_u64(&self, off: usize, i: usize) -> u64 {
        self.get(off + 8 * i)
    }

    /// Writes the `i`-th u64 of an array at `off`.
    pub fn set_u64(&self, off: usize, i: usize, v: u64) {
        self.set(off + 8 * i, v)
    }

    /// Zeroes `len` bytes at `off`.
    pub fn zero(&self, off: usize, len: usize) {
        for i in 0..len {
            self.set::<u8>(off + i, 0);
        }
    }
}

impl Drop for RunPage {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `create`, unmapped once; no references into it exist.
        unsafe { crate::os::unmap(self.base, RUN_PAGE_SIZE) };
    }
}
