//! `#[repr(C)]` mirrors of the Linux KVM uapi for s390 (`include/uapi/linux/kvm.h` and
//! `arch/s390/include/uapi/asm/kvm.h`), their constants, and the one table of ioctl numbers.
//!
//! Rules for this module: kernel names are kept exactly; there is no logic here; every
//! struct has a compile-time check of its size, alignment and every field offset. The
//! layout test in `ffi-tests/layout.c` checks the generated C header against the real
//! s390x headers as an independent source of truth.
//!
//! Byte views: every mirror derives bytemuck's `AnyBitPattern` (it may be filled from caller
//! bytes); every struct without padding also derives `NoUninit` (it may be copied out as bytes),
//! whose derive fails to compile if the struct has padding. Where the kernel's struct has
//! implicit padding, the mirror names it (`pad`) so that it qualifies, and the C definition
//! that keeps the kernel's layout is written in `anon_unions.h`.
//!
//! ABI convention on non-s390 hosts: every integer field of an argument struct is a host-endian
//! integer holding the numeric value it would hold on s390. Guest memory, by contrast, is an s390
//! big-endian byte image.
#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case)]

/// Asserts at compile time the size, alignment and field offsets of a uapi mirror.
macro_rules! assert_layout {
    ($ty:ty, size = $size:expr, align = $align:expr $(, $field:ident @ $off:expr)* $(,)?) => {
        static_assertions::const_assert_eq!(core::mem::size_of::<$ty>(), $size);
        static_assertions::const_assert_eq!(core::mem::align_of::<$ty>(), $align);
        $( static_assertions::const_assert_eq!(memoffset::offset_of!($ty, $field), $off); )*
    };
}

/// Like [`assert_layout`] for unions: every member starts at offset 0.
macro_rules! assert_union_layout {
    ($ty:ty, size = $size:expr, align = $align:expr $(, $field:ident)* $(,)?) => {
        static_assertions::const_assert_eq!(core::mem::size_of::<$ty>(), $size);
        static_assertions::const_assert_eq!(core::mem::align_of::<$ty>(), $align);
        $( static_assertions::const_assert_eq!(memoffset::offset_of_union!($ty, $field), 0); )*
    };
}

pub mod caps;
pub mod flic;
pub mod ioctls;
pub mod kvm;
pub mod s390;
pub mod unions;

pub use caps::*;
pub use flic::*;
pub use ioctls::*;
pub use kvm::*;
pub use s390::*;
