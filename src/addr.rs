//! Address newtypes: every kind of address the shim handles is its own type, so a guest
//! absolute address cannot be passed where a real or logical one (or a host pointer) is
//! meant. Arithmetic is explicit: `checked_add` where overflow is an error, `wrapping_add`
//! only where the architecture wraps (addressing-mode arithmetic).

/// The size of a guest page (and of a host page backing it).
pub const PAGE_SIZE: u64 = 4096;

macro_rules! address {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        #[repr(transparent)]
        pub struct $name(pub u64);

        impl $name {
            /// The address as a number.
            pub const fn raw(self) -> u64 {
                self.0
            }
            /// `self + n`, or None on overflow.
            pub fn checked_add(self, n: u64) -> Option<Self> {
                self.0.checked_add(n).map(Self)
            }
            /// `self + n` modulo 2^64 (the caller applies the addressing mode).
            pub fn wrapping_add(self, n: u64) -> Self {
                Self(self.0.wrapping_add(n))
            }
            /// The offset within its 4 KiB page.
            pub const fn page_offset(self) -> u64 {
                self.0 % PAGE_SIZE
            }
            /// The bytes from here to the end of the page.
            pub const fn to_page_end(self) -> u64 {
                PAGE_SIZE - self.page_offset()
            }
        }

        impl std::fmt::LowerHex for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::LowerHex::fmt(&self.0, f)
            }
        }
    };
}

address!(
    /// A guest logical address (an instruction's or memop's operand address, before or
    /// after the addressing mode is applied).
    LogicalAddr
);
address!(
    /// A guest real address (after DAT, before prefixing).
    RealAddr
);
address!(
    /// A guest absolute address (after prefixing): what memory slots map.
    AbsAddr
);
address!(
    /// An address in the calling process (a memory slot's backing memory, a caller buffer).
    HostAddr
);

/// A guest frame number: an absolute address divided by [`PAGE_SIZE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Gfn(pub u64);

impl Gfn {
    /// The frame number as a number.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// The absolute address of the frame's first byte, or None if it does not fit.
    pub fn addr(self) -> Option<AbsAddr> {
        self.0.checked_mul(PAGE_SIZE).map(AbsAddr)
    }
    /// The frame `n` frames on, or None on overflow.
    pub fn checked_add(self, n: u64) -> Option<Gfn> {
        self.0.checked_add(n).map(Gfn)
    }
}

impl AbsAddr {
    /// The frame holding this address.
    pub const fn gfn(self) -> Gfn {
        Gfn(self.0 / PAGE_SIZE)
    }
}

impl RealAddr {
    /// Real → absolute with prefix register `prefix`: the first 8 KiB and the 8 KiB at the
    /// prefix swap places.
    pub fn to_abs(self, prefix: u64) -> AbsAddr {
        let ra = self.0;
        AbsAddr(if ra < 2 * PAGE_SIZE {
            ra + prefix
        } else if ra >= prefix && ra < prefix + 2 * PAGE_SIZE {
            ra - prefix
        } else {
            ra
        })
    }
}

impl LogicalAddr {
    /// Applies the PSW addressing mode (24, 31 or 64 bit) of `psw_mask`.
    pub fn effective(self, psw_mask: u64) -> LogicalAddr {
        LogicalAddr(match (psw_mask >> 31) & 3 {
            0 => self.0 & 0x00ff_ffff,
            1 => self.0 & 0x7fff_ffff,
            _ => self.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_is_checked_or_explicitly_wrapping() {
        assert_eq!(AbsAddr(u64::MAX).checked_add(1), None);
        assert_eq!(AbsAddr(u64::MAX).wrapping_add(2), AbsAddr(1));
        assert_eq!(AbsAddr(0x12345).gfn(), Gfn(0x12));
        assert_eq!(Gfn(0x12).addr(), Some(AbsAddr(0x12000)));
        assert_eq!(Gfn(u64::MAX).addr(), None);
        assert_eq!(AbsAddr(0x12345).to_page_end(), 0xcbb);
        assert_eq!(HostAddr(0x1fff).page_offset(), 0xfff);
    }

    #[test]
    fn addressing_modes_and_prefixing() {
        let ga = LogicalAddr(0x1234_5678_9abc);
        assert_eq!(ga.effective(0), LogicalAddr(0x78_9abc));
        assert_eq!(ga.effective(1 << 31), LogicalAddr(0x5678_9abc));
        assert_eq!(ga.effective(3 << 31), ga);
        let prefix = 0x10000;
        assert_eq!(RealAddr(0x100).to_abs(prefix), AbsAddr(0x10100));
        assert_eq!(RealAddr(0x1fff).to_abs(prefix), AbsAddr(0x11fff));
        assert_eq!(RealAddr(0x10100).to_abs(prefix), AbsAddr(0x100));
        assert_eq!(RealAddr(0x12000).to_abs(prefix), AbsAddr(0x12000));
        assert_eq!(RealAddr(0x100).to_abs(0), AbsAddr(0x100));
    }
}
