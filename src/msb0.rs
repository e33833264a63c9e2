//! Bitmaps that s390 numbers MSB-0, kept as the s390 memory image.
//!
//! Facility lists (`fac_mask`, `fac_list`), the CPU-feature arrays (`feat[]`) and the
//! subfunction query blocks number their bits from the most significant bit of the first
//! byte: bit `n` is `0x80 >> (n % 8)` of byte `n / 8`. That is the order of bytes in s390
//! storage, so it is also what s390 KVM leaves in a caller's buffer, whatever C type the uapi
//! header gives the array (`__u64 fac_list[256]` is read by QEMU as bytes). The shim keeps
//! these bitmaps as that byte image on every host: on s390x the bytes are the words the
//! kernel's `test_bit_inv` works on, on a little-endian host they are the bytes an s390
//! client would see. Word-wise arithmetic (the kernel's masks of 64 facilities) goes through
//! [`Msb0Bitmap::word`] and [`Msb0Bitmap::set_word`], which read a doubleword with its s390
//! (big-endian) value.

use bytemuck::{AnyBitPattern, NoUninit};

/// An MSB-0 bitmap of `N` bytes as the s390 memory image.
#[repr(transparent)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, AnyBitPattern, NoUninit)]
pub struct Msb0Bitmap<const N: usize>(pub [u8; N]);

impl<const N: usize> Default for Msb0Bitmap<N> {
    fn default() -> Self {
        Msb0Bitmap([0; N])
    }
}

impl<const N: usize> Msb0Bitmap<N> {
    /// Bits in the map.
    pub const BITS: usize = N * 8;

    /// An empty map.
    pub const fn new() -> Self {
        Msb0Bitmap([0; N])
    }

    /// The map with the given bits set (bits past the end are ignored).
    pub fn from_bits(bits: &[u16]) -> Self {
        let mut m = Self::new();
        for &b in bits {
            m.set(u32::from(b));
        }
        m
    }

    /// The byte holding bit `nr` and the bit's mask in it, or `None` past the end.
    fn locate(nr: u32) -> Option<(usize, u8)> {
        let byte = (nr / 8) as usize;
        (byte < N).then(|| (byte, 0x80u8 >> (nr % 8)))
    }

    /// Whether bit `nr` is set (`false` past the end).
    pub fn test(&self, nr: u32) -> bool {
        Self::locate(nr).is_some_and(|(i, m)| self.0[i] & m != 0)
    }

    /// Sets bit `nr` (no effect past the end).
    pub fn set(&mut self, nr: u32) {
        if let Some((i, m)) = Self::locate(nr) {
            self.0[i] |= m;
        }
    }

    /// Clears bit `nr` (no effect past the end).
    pub fn clear(&mut self, nr: u32) {
        if let Some((i, m)) = Self::locate(nr) {
            self.0[i] &= !m;
        }
    }

    /// Doubleword `i` with its s390 value (bit `64 * i` is the most significant bit); 0 past
    /// the end.
    pub fn word(&self, i: usize) -> u64 {
        match self.0.get(i * 8..i * 8 + 8) {
            Some(b) => u64::from_be_bytes(b.try_into().unwrap_or([0; 8])),
            None => 0,
        }
    }

    /// Stores the s390 value `v` as doubleword `i` (no effect past the end).
    pub fn set_word(&mut self, i: usize, v: u64) {
        if let Some(b) = self.0.get_mut(i * 8..i * 8 + 8) {
            b.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Whether every bit set here is set in `other` as well.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }

    /// The image in `u64` array elements of the uapi structs (`__u64 fac_list[256]`), whose
    /// bytes in memory are the image.
    pub fn to_u64_array<const W: usize>(&self) -> [u64; W] {
        const { assert!(W * 8 == N) };
        let mut out = [0u64; W];
        bytemuck::cast_slice_mut::<u64, u8>(&mut out).copy_from_slice(&self.0);
        out
    }

    /// The image held in the bytes of a uapi `u64` array.
    pub fn from_u64_array<const W: usize>(words: &[u64; W]) -> Self {
        const { assert!(W * 8 == N) };
        let mut m = Self::new();
        m.0.copy_from_slice(bytemuck::cast_slice::<u64, u8>(words));
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_n_is_0x80_shifted_right_by_n_mod_8_in_byte_n_div_8() {
        let mut m = Msb0Bitmap::<16>::new();
        m.set(0);
        m.set(76);
        m.set(127);
        assert_eq!(m.0[0], 0x80);
        assert_eq!(m.0[9], 0x08);
        assert_eq!(m.0[15], 0x01);
        assert!(m.test(76) && !m.test(77) && !m.test(128));
        m.clear(76);
        assert!(!m.test(76));
        m.set(128); // past the end
        assert_eq!(m, Msb0Bitmap::from_bits(&[0, 127]));
    }

    #[test]
    fn words_read_with_their_s390_value() {
        let m = Msb0Bitmap::<16>::from_bits(&[0, 65, 127]);
        assert_eq!(m.word(0), 1 << 63);
        assert_eq!(m.word(1), (1 << 62) | 1);
        assert_eq!(m.word(2), 0);
        let mut n = Msb0Bitmap::<16>::new();
        n.set_word(1, (1 << 62) | 1);
        n.set_word(0, 1 << 63);
        n.set_word(2, u64::MAX);
        assert_eq!(n, m);
    }

    #[test]
    fn u64_arrays_carry_the_image_bytes() {
        let m = Msb0Bitmap::<16>::from_bits(&[0, 76]);
        let w: [u64; 2] = m.to_u64_array();
        // The first byte in memory is 0x80, on every host.
        assert_eq!(bytemuck::bytes_of(&w)[0], 0x80);
        assert_eq!(w[0], u64::from_ne_bytes([0x80, 0, 0, 0, 0, 0, 0, 0]));
        assert_eq!(Msb0Bitmap::<16>::from_u64_array(&w), m);
    }

    #[test]
    fn subsets() {
        let a = Msb0Bitmap::<16>::from_bits(&[1, 2]);
        let b = Msb0Bitmap::<16>::from_bits(&[1, 2, 9]);
        assert!(a.is_subset_of(&b) && !b.is_subset_of(&a));
    }
}
