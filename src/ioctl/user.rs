//! Typed access to caller memory for the ioctl layer and the pointers inside argument structs.
//!
//! The dispatcher copies every argument struct in and out itself. Handlers whose argument
//! holds a pointer to more caller memory (the memop buffer, storage-key and CMMA arrays, an
//! attribute's `addr`, ONE_REG's `addr`, the IRQ-state buffer, the dirty bitmap) follow it
//! through [`UserPtr`] (one typed value) or [`UserBuf`] (a byte range), never through
//! `uaccess` directly. Both only carry an address; nothing is read until asked, and every
//! access is EFAULT-checked by [`crate::uaccess`].

use std::marker::PhantomData;

use crate::error::Result;
use crate::uaccess::{self, FromBytes, IntoBytes};

/// A caller address holding a `T` (e.g. `kvm_one_reg::addr`, `kvm_device_attr::addr`).
pub struct UserPtr<T> {
    addr: u64,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}

impl<T> std::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserPtr({:#x})", self.addr)
    }
}

impl<T> UserPtr<T> {
    /// The pointer at caller address `addr`.
    pub fn new(addr: u64) -> Self {
        UserPtr {
            addr,
            _type: PhantomData,
        }
    }

    /// The caller address.
    pub fn addr(self) -> u64 {
        self.addr
    }
}

impl<T: FromBytes> UserPtr<T> {
    /// Copies the value in (`copy_from_user`).
    pub fn read(self) -> Result<T> {
        Ok(uaccess::read_user(self.addr)?)
    }
}

impl<T: IntoBytes> UserPtr<T> {
    /// Copies `v` out (`copy_to_user`): only for types without padding bytes.
    pub fn write(self, v: &T) -> Result<()> {
        Ok(uaccess::write_user(self.addr, v)?)
    }
}

/// A caller byte range `[addr, addr + len)` (a buffer an argument struct points to).
#[derive(Debug, Clone, Copy)]
pub struct UserBuf {
    addr: u64,
    len: usize,
}

impl UserBuf {
    /// The `len` bytes at caller address `addr`.
    pub fn new(addr: u64, len: usize) -> Self {
        UserBuf { addr, len }
    }

    /// The caller address.
    pub fn addr(self) -> u64 {
        self.addr
    }

    /// The length in bytes.
    pub fn len(self) -> usize {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    /// The range starting `offset` bytes in, `len` long (clamped to this range).
    pub fn sub(self, offset: usize, len: usize) -> UserBuf {
        let offset = offset.min(self.len);
        UserBuf {
            addr: self.addr.wrapping_add(offset as u64),
            len: len.min(self.len - offset),
        }
    }

    /// Copies the first `dst.len()` bytes of the range into `dst` (at most the range).
    #[inline]
    pub fn read_into(self, dst: &mut [u8]) -> Result<()> {
        let n = dst.len().min(self.len);
        Ok(uaccess::copy_from_user(&mut dst[..n], self.addr)?)
    }

    /// Copies `src` to the start of the range (at most the range).
    #[inline]
    pub fn write_from(self, src: &[u8]) -> Result<()> {
        let n = src.len().min(self.len);
        Ok(uaccess::copy_to_user(self.addr, &src[..n])?)
    }
}

/// Copies an argument struct in.
pub(crate) fn copy_in<T: FromBytes>(arg: u64) -> Result<T> {
    UserPtr::new(arg).read()
}

/// Copies an argument struct in, into `storage` where it stays.
#[inline]
pub(crate) fn copy_in_place<T: FromBytes>(
    arg: u64,
    storage: &mut std::mem::MaybeUninit<T>,
) -> Result<&mut T> {
    Ok(uaccess::read_user_uninit(arg, storage)?)
}

/// Copies an argument struct out.
pub(crate) fn copy_out<T: IntoBytes>(arg: u64, v: &T) -> Result<()> {
    UserPtr::new(arg).write(v)
}
