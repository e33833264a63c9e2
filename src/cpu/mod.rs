//! A z/Architecture CPU: decoder, executor and pre-decoded instruction cache.
//!
//! * [`insn`]: the instruction table (opcode, format, mnemonic, facility, handler) and the
//!   decoder generated from it; [`Format`] field extraction.
//! * [`exec`]: one handler per operation, shared across formats where the semantics match.
//! * [`storage`]: the [`Storage`] trait every operand access goes through, and
//!   [`storage::VecStorage`], a flat byte vector for tests.
//! * [`icache`]: the pre-decoded instruction cache and its per-page generation counters.
//! * [`supervisor`]: the control instructions, and which of them the executor runs, asks
//!   the machine (the [`Storage`] machine methods) about, or returns as intercepts.
//!
//! The CPU state ([`Cpu`]) is independent of the vCPU model for now; binding it to `KVM_RUN`
//! (the vCPU's translation path, interrupts, intercepts) is later work (issue 14).

pub mod bfp;
pub mod exec;
pub mod icache;
pub mod insn;
pub mod storage;
pub mod supervisor;

pub use insn::{decode, Format, Insn, InsnDef, INSNS};
pub use storage::{LraResult, OperandAccess, Storage, VecStorage};

/// A program interruption recognised while executing an instruction.
///
/// The interruption code is [`Pgm::code`]; `Data` carries the data-exception code that the
/// CPU also stores in the FPC (byte 2) when the AFP-register control allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pgm {
    /// 0x01: the opcode is unassigned or its facility is not installed.
    Operation,
    /// 0x02: a privileged instruction in the problem state.
    PrivilegedOperation,
    /// 0x03: the target of EXECUTE is itself an execute-type instruction.
    Execute,
    /// 0x04: a store into protected storage.
    Protection,
    /// 0x05: an absolute address outside the configuration.
    Addressing,
    /// 0x06: an odd register where a pair is required, a misaligned operand, a bad field.
    Specification,
    /// 0x07: a data exception with its DXC (0xff for compare-and-trap).
    Data {
        /// The data-exception code.
        dxc: u8,
    },
    /// 0x08: a signed result that does not fit (only when the PSW program mask enables it).
    FixedPointOverflow,
    /// 0x09: a divisor of zero or a quotient that does not fit.
    FixedPointDivide,
    /// Any other interruption code (translation exceptions from the storage binding), with
    /// its translation-exception identification.
    Other {
        /// The program-interruption code.
        code: u16,
        /// The TEID stored with it (0 when the code has none).
        teid: u64,
    },
    /// Not a program interruption: the instruction was not executed (the PSW still points at
    /// it) because SIE would intercept it (instruction intercept, code 0x04) and KVM or
    /// userspace handles it: DIAG, SIGP, SERVC, I/O instructions, STSI, storage-key
    /// instructions before keys are enabled, ... `ipa` and `ipb` are the first two and next
    /// four bytes of the instruction as the SIE block stores them.
    ///
    /// `Cpu::ilc` holds the length (in halfwords) of the instruction at the PSW: under
    /// EXECUTE that is the EX/EXRL instruction while `ipa`/`ipb` are the target's bytes
    /// (with R1's byte ORed in), as SIE presents an executed instruction.
    Intercept {
        /// Instruction bytes 0-1.
        ipa: u16,
        /// Instruction bytes 2-5 (zero-padded for shorter instructions).
        ipb: u32,
    },
    /// Not a program interruption: SUPERVISOR CALL, a supervisor-call interruption with
    /// interruption code `number` (the I field, or R1's byte under EXECUTE). The PSW points
    /// after the SVC (the old PSW), `Cpu::ilc` is its length code (1, or 2-3 under EXECUTE
    /// per the EX/EXRL length).
    SupervisorCall {
        /// The SVC number.
        number: u8,
    },
}

impl Pgm {
    /// The program-interruption code.
    pub fn code(&self) -> u16 {
        match self {
            Pgm::Operation => 0x01,
            Pgm::PrivilegedOperation => 0x02,
            Pgm::Execute => 0x03,
            Pgm::Protection => 0x04,
            Pgm::Addressing => 0x05,
            Pgm::Specification => 0x06,
            Pgm::Data { .. } => 0x07,
            Pgm::FixedPointOverflow => 0x08,
            Pgm::FixedPointDivide => 0x09,
            Pgm::Other { code, .. } => *code,
            Pgm::Intercept { .. } => 0,
            Pgm::SupervisorCall { number } => u16::from(*number),
        }
    }

    /// Whether the instruction completes (its results stay) before the interruption:
    /// fixed-point overflow is the completing case among ours (and SVC, which is not a
    /// program interruption).
    pub fn completes(&self) -> bool {
        matches!(self, Pgm::FixedPointOverflow | Pgm::SupervisorCall { .. })
    }
}

/// The facilities the executor knows, by STFLE bit number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Facility {
    /// Always installed in z/Architecture mode.
    Base = 0,
    /// 18: long displacement (RXY/RSY/SIY with 20-bit signed displacements).
    LongDisplacement = 18,
    /// 21: extended immediate.
    ExtendedImmediate = 21,
    /// 27: move with optional specifications (MVCOS).
    MoveWithOptionalSpecifications = 27,
    /// 32: compare and swap and store (CSST, function codes 0-1, store sizes 1-8).
    CompareAndSwapAndStore = 32,
    /// 34: general-instructions extension (z10).
    GeneralInstructionsExtension = 34,
    /// 42: floating-point-support sign handling (z10: LDGR, LGDR, CPSDR, LPDFR ...).
    FpSupportSign = 42,
    /// 45: distinct operands, load/store on condition, population count (z196).
    Z196 = 45,
}

/// The installed facilities, as a 256-bit STFLE list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facilities(pub(crate) [u64; 4]);

impl Facilities {
    /// The facilities of a z10 for the instructions this executor implements.
    pub fn z10() -> Self {
        let mut f = Facilities([0; 4]);
        // 8: EDAT-1 (PFMF, SSKE multiple-block), 10: conditional SSKE, 14: non-quiescing
        // key setting.
        // 27: MVCOS; 32, 33: compare and swap and store, and its second level (CSST's
        // 128-bit compare and swap and 16-byte store).
        for b in [0u8, 8, 10, 14, 18, 21, 27, 32, 33, 34, 42] {
            f.set(b);
        }
        f
    }

    /// z10 plus the z196 additions (distinct operands, load/store on condition, POPCNT).
    pub fn z196() -> Self {
        let mut f = Self::z10();
        f.set(45);
        f
    }

    /// Install facility `bit` (STFLE numbering).
    pub fn set(&mut self, bit: u8) {
        self.0[usize::from(bit / 64)] |= 1u64 << (63 - bit % 64);
    }

    /// Whether facility `f` is installed.
    pub fn has(&self, f: Facility) -> bool {
        self.has_bit(f as u8)
    }

    /// Whether facility `bit` (STFLE numbering) is installed.
    pub fn has_bit(&self, bit: u8) -> bool {
        self.0[usize::from(bit / 64)] & (1u64 << (63 - bit % 64)) != 0
    }

    /// The list as STFLE stores it.
    pub fn words(&self) -> &[u64; 4] {
        &self.0
    }
}

/// PSW mask bits (bit 0 is the most significant bit of the 64-bit mask).
pub(crate) mod psw {
    /// Bit 15: problem state.
    pub(crate) const PROBLEM: u64 = 1 << 48;
    /// Bits 18-19: condition code.
    pub(crate) const CC_SHIFT: u32 = 44;
    /// Bits 20-23: program mask.
    pub(crate) const PM_SHIFT: u32 = 40;
    /// Bit 20: fixed-point-overflow mask.
    pub(crate) const FIXED_OVERFLOW: u64 = 1 << 43;
    /// Bit 31: extended addressing.
    pub(crate) const EA: u64 = 1 << 32;
    /// Bit 32: basic addressing.
    pub(crate) const BA: u64 = 1 << 31;
    /// CR0 bit 45: AFP-register control (FPRs other than 0, 2, 4, 6 usable).
    pub(crate) const CR0_AFP: u64 = 1 << 18;
    /// Bit 5: DAT mode.
    pub(crate) const DAT: u64 = 1 << 58;
    /// Bits 8-11: PSW key.
    pub(crate) const KEY_SHIFT: u32 = 52;
    /// Bits 16-17: address-space control.
    pub(crate) const AS_SHIFT: u32 = 46;
    /// Bits that must be zero in a valid PSW (bits 0, 2-4, 12, 24-30, 33-63 of the mask;
    /// the kernel's `PSW_MASK_UNASSIGNED`).
    pub(crate) const UNASSIGNED: u64 = 0xb808_00fe_7fff_ffff;
    /// CR0 bit 33: SSM suppression.
    pub(crate) const CR0_SSM_SUPPRESS: u64 = 1 << 30;
    /// CR0 bit 35: low-address protection.
    pub(crate) const CR0_LAP: u64 = 1 << 28;
    /// CR0 bit 36: extraction authority (IPK, IVSK in the problem state).
    pub(crate) const CR0_EXTRACT: u64 = 1 << 27;
    /// CR0 bit 37: secondary-space control.
    pub(crate) const CR0_SECONDARY: u64 = 1 << 26;
}

/// Addressing mode from PSW bits 31-32.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingMode {
    /// 24-bit.
    A24,
    /// 31-bit.
    A31,
    /// 64-bit.
    A64,
}

/// The architectural state the executor works on.
#[derive(Debug, Clone)]
pub struct Cpu {
    /// General registers.
    pub gr: [u64; 16],
    /// Access registers.
    pub ar: [u32; 16],
    /// Floating-point registers (not yet used by the executor).
    pub fpr: [u64; 16],
    /// Floating-point control register; its DXC byte is set by data exceptions.
    pub fpc: u32,
    /// Control registers.
    pub cr: [u64; 16],
    /// Prefix register.
    pub prefix: u32,
    /// PSW mask (condition code in bits 18-19).
    pub psw_mask: u64,
    /// PSW instruction address.
    pub psw_addr: u64,
    /// Installed facilities.
    pub facilities: Facilities,
    /// Instruction-length code of the last instruction executed (for the interruption).
    pub ilc: u8,
    /// CPU address (STAP; the vCPU id).
    pub cpu_addr: u16,
    /// CPU identification (STIDP; the VM's CPU model `cpuid`).
    pub cpuid: u64,
    /// TOD programmable register (bits 16-31 stored by STCKE; set by SCKPF).
    pub todpr: u16,
}

impl Cpu {
    /// A CPU in 64-bit problem state at address 0 with all registers zero except the
    /// AFP-register control in CR0.
    pub fn new(facilities: Facilities) -> Self {
        Cpu {
            gr: [0; 16],
            ar: [0; 16],
            fpr: [0; 16],
            fpc: 0,
            // Linux runs user space with the AFP-register control on.
            cr: [psw::CR0_AFP, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            prefix: 0,
            psw_mask: psw::PROBLEM | psw::EA | psw::BA,
            psw_addr: 0,
            facilities,
            ilc: 0,
            cpu_addr: 0,
            // Version 0xff (a virtual CPU), a z196's machine type, format 0 (KVM's default
            // model reports the host's type with version 0xff).
            cpuid: 0xff00_0000_2817_0000,
            todpr: 0,
        }
    }

    /// The condition code.
    pub fn cc(&self) -> u8 {
        ((self.psw_mask >> psw::CC_SHIFT) & 3) as u8
    }

    /// Set the condition code.
    pub fn set_cc(&mut self, cc: u8) {
        self.psw_mask =
            (self.psw_mask & !(3 << psw::CC_SHIFT)) | (u64::from(cc & 3) << psw::CC_SHIFT);
    }

    /// The program mask (PSW bits 20-23).
    pub fn program_mask(&self) -> u8 {
        ((self.psw_mask >> psw::PM_SHIFT) & 0xf) as u8
    }

    /// Set the program mask.
    pub fn set_program_mask(&mut self, pm: u8) {
        self.psw_mask =
            (self.psw_mask & !(0xf << psw::PM_SHIFT)) | (u64::from(pm & 0xf) << psw::PM_SHIFT);
    }

    /// The addressing mode.
    pub fn amode(&self) -> AddressingMode {
        match (self.psw_mask & psw::EA != 0, self.psw_mask & psw::BA != 0) {
            (true, _) => AddressingMode::A64,
            (false, true) => AddressingMode::A31,
            (false, false) => AddressingMode::A24,
        }
    }

    /// Wrap an address to the current addressing mode.
    pub fn wrap(&self, a: u64) -> u64 {
        match self.amode() {
            AddressingMode::A64 => a,
            AddressingMode::A31 => a & 0x7fff_ffff,
            AddressingMode::A24 => a & 0x00ff_ffff,
        }
    }

    /// Bits 32-63 of a general register.
    pub fn r32(&self, r: u8) -> u32 {
        self.gr[usize::from(r & 15)] as u32
    }

    /// Set bits 32-63 of a general register, leaving bits 0-31.
    pub fn set_r32(&mut self, r: u8, v: u32) {
        let g = &mut self.gr[usize::from(r & 15)];
        *g = (*g & 0xffff_ffff_0000_0000) | u64::from(v);
    }

    /// A whole general register.
    pub fn r64(&self, r: u8) -> u64 {
        self.gr[usize::from(r & 15)]
    }

    /// Set a whole general register.
    pub fn set_r64(&mut self, r: u8, v: u64) {
        self.gr[usize::from(r & 15)] = v;
    }

    /// Place an address into a register as LA and BAS do in the current addressing mode.
    pub fn set_address(&mut self, r: u8, a: u64) {
        match self.amode() {
            AddressingMode::A64 => self.set_r64(r, a),
            AddressingMode::A31 => self.set_r32(r, (a & 0x7fff_ffff) as u32),
            AddressingMode::A24 => self.set_r32(r, (a & 0x00ff_ffff) as u32),
        }
    }

    /// Execute one instruction at the PSW address. On a program interruption the PSW address
    /// points after the instruction for suppressing, terminating and completing exceptions
    /// (the old PSW of the interruption) and at it for nullifying ones; `ilc` holds the
    /// instruction-length code.
    pub fn step(&mut self, mem: &mut dyn Storage) -> Result<(), Pgm> {
        let addr = self.psw_addr;
        let insn = exec::fetch_decode(self, mem, addr)?;
        exec::execute(self, mem, &insn, addr)
    }

    /// Execute one instruction through a pre-decoded instruction cache.
    pub fn step_cached(
        &mut self,
        mem: &mut dyn Storage,
        cache: &mut icache::InsnCache,
    ) -> Result<(), Pgm> {
        let addr = self.psw_addr;
        let insn = cache.lookup(self, mem, addr)?;
        exec::execute(self, mem, insn, addr)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_supervisor;
