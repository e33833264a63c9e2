//! Operand and instruction storage as the executor sees it.
//!
//! Every access goes through [`Storage`] with a logical address already wrapped to the
//! addressing mode; the implementation translates (DAT, prefixing), checks protection and
//! copies. The vCPU binding (`vcpu::cpu_run::VcpuStorage`) implements it over `vcpu::gaccess`
//! (the vCPU's DAT, prefixing, key and low-address protection, storage-key R/C bits and the
//! fault-recovering host copies; a host fault ends `KVM_RUN` with EFAULT as in the kernel);
//! [`VecStorage`] implements it over a flat byte vector (logical = absolute) for the unit and
//! differential tests.

use super::Pgm;

/// The executor's view of guest storage.
pub trait Storage {
    /// Copy `buf.len()` bytes at logical `addr` into `buf` (operand fetch).
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Pgm>;

    /// Copy `buf` to logical `addr` (operand store). All-or-nothing with respect to access
    /// exceptions: nothing is stored when any byte would fault.
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm>;

    /// Interlocked compare-and-swap of 4, 8 or 16 bytes at a naturally aligned logical
    /// address (the caller checked the alignment). On a match `new` is stored and the result
    /// is `true`; otherwise `old` receives the current contents and the result is `false`.
    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm>;

    /// Translate the logical address of an instruction fetch to its absolute address (the
    /// key of the instruction cache).
    fn fetch_absolute(&mut self, addr: u64) -> Result<u64, Pgm>;

    /// Read instruction bytes at an absolute address returned by `fetch_absolute`. The
    /// instruction cache calls it on every hit to compare the cached instruction's bytes
    /// with memory, so it must be cheap (one copy, no translation).
    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> Result<(), Pgm>;

    /// A write generation of the absolute page `abs >> 12`. The instruction cache no longer
    /// uses it (it compares instruction bytes, see `icache`); kept so that existing
    /// implementations forwarding it still build. Always 0 unless overridden.
    fn page_generation(&self, _abs: u64) -> u64 {
        0
    }
}

/// Storage over a flat byte vector: logical address = absolute address, no protection;
/// beyond the end is an addressing exception.
#[derive(Debug, Clone)]
pub struct VecStorage {
    /// The bytes.
    pub mem: Vec<u8>,
}

impl VecStorage {
    /// `size` bytes of zeros.
    pub fn new(size: usize) -> Self {
        VecStorage { mem: vec![0; size] }
    }

    fn range(&self, addr: u64, len: usize) -> Result<std::ops::Range<usize>, Pgm> {
        let start = usize::try_from(addr).map_err(|_| Pgm::Addressing)?;
        let end = start.checked_add(len).ok_or(Pgm::Addressing)?;
        if end > self.mem.len() {
            return Err(Pgm::Addressing);
        }
        Ok(start..end)
    }

    /// Store from outside the CPU (a VMM or memop write).
    pub fn store(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        self.write(addr, buf)
    }
}

impl Storage for VecStorage {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        let r = self.range(addr, buf.len())?;
        buf.copy_from_slice(&self.mem[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        let r = self.range(addr, buf.len())?;
        self.mem[r].copy_from_slice(buf);
        Ok(())
    }

    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        let r = self.range(addr, new.len())?;
        if self.mem[r.clone()] == *old {
            self.mem[r].copy_from_slice(new);
            Ok(true)
        } else {
            old.copy_from_slice(&self.mem[r]);
            Ok(false)
        }
    }

    fn fetch_absolute(&mut self, addr: u64) -> Result<u64, Pgm> {
        self.range(addr, 2)?;
        Ok(addr)
    }

    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        self.read(abs, buf)
    }
}
