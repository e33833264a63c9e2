//! STORE SYSTEM INFORMATION (0xb27d) as KVM handles its intercept (`handle_stsi` in
//! `arch/s390/kvm/priv.c`).
//!
//! * Privileged-operation exception in the problem state; condition code 3 for a function
//!   code other than 0-3 (and 15, see below) or a selector combination the configuration
//!   does not provide; specification exception for reserved bits in GR0 (bits 36-55) or
//!   GR1 (bits 32-47) and for a second operand that is not on a 4K boundary.
//! * Function code 0: GR0 = the current configuration level, 3 (a virtual machine).
//! * Function codes 1 and 2: the kernel passes the host's own STSI result through; here the
//!   host is the modelled machine of [`crate::host`], an LPAR, and its SYSIBs 1.1.1, 1.2.1,
//!   1.2.2, 2.2.1 and 2.2.2 are made from that model ([`host_sysib`]).
//! * Function code 3, selectors 2.2: SYSIB 3.2.2 with one level-3 entry, the KVM guest
//!   (`handle_stsi_3_2_2`): the VM's vCPU count, the name "KVMguest" and the
//!   control-program identifier "KVM/Linux" in EBCDIC, capability-adjustment factor 1000.
//!   (The host LPAR has no level-3 description of its own, so there is no entry to shift.)
//! * The 4K block is stored through the vCPU's logical-access path (DAT, prefixing, low-
//!   address and key-controlled protection with the PSW key, access-register mode with the
//!   base register's access register); an access exception is presented as the kernel's
//!   `kvm_s390_inject_prog_cond` does, a host failure ends `KVM_RUN` with its errno.
//!   On success GR0 = 0 and condition code 0.
//! * With `KVM_CAP_S390_USER_STSI` the stored block is then handed to userspace with
//!   `KVM_EXIT_S390_STSI` (`insert_stsi_usr_data`: `kvm_run.s390_stsi` = address, access
//!   register, fc, sel1, sel2) so that the VMM can amend it. Function code 15 (SYSIB 15.1.x,
//!   the CPU topology) is recognised only with facility 11 in the CPU model and USER_STSI;
//!   it stores nothing here and always exits to userspace.
//!
//! The layouts are those of SA22-7832 ("STORE SYSTEM INFORMATION") as
//! `arch/s390/include/asm/sysinfo.h` spells them; all text fields are EBCDIC, left-justified
//! and blank-padded.

use parking_lot::MutexGuard;

use super::cpu_run::Next;
use super::gaccess::{self, Fail, Mode};
use super::guest::Exit;
use super::run_page::off;
use super::{Vcpu, VcpuState};
use crate::addr::LogicalAddr;
use crate::cpu::Cpu;
use crate::error::Result;
use crate::host::HostConfig;
use crate::stats;
use crate::uapi::*;
use crate::vm::Vm;

/// The size of a SYSIB (one 4K block; the kernel stores the whole page).
pub(crate) const SYSIB_SIZE: usize = 4096;

/// The program-interruption codes STSI raises itself.
const PGM_PRIVILEGED_OP: u16 = 0x02;
const PGM_SPECIFICATION: u16 = 0x06;

/// The PSW problem-state bit.
const PSW_MASK_PSTATE: u64 = 1 << 48;

/// A SYSIB under construction.
type Sysib = [u8; SYSIB_SIZE];

/// The EBCDIC (code page 500, the kernel's `ASCEBC`) byte of an ASCII character, for the
/// characters SYSIB text fields use (letters, digits, blank, `/`, `.`, `-`); anything else
/// becomes `?`. Hand-written: the dozen ranges below are all the shim needs.
const fn ebcdic(c: u8) -> u8 {
    match c {
        b'A'..=b'I' => 0xc1 + (c - b'A'),
        b'J'..=b'R' => 0xd1 + (c - b'J'),
        b'S'..=b'Z' => 0xe2 + (c - b'S'),
        b'a'..=b'i' => 0x81 + (c - b'a'),
        b'j'..=b'r' => 0x91 + (c - b'j'),
        b's'..=b'z' => 0xa2 + (c - b's'),
        b'0'..=b'9' => 0xf0 + (c - b'0'),
        b' ' => 0x40,
        b'.' => 0x4b,
        b'-' => 0x60,
        b'/' => 0x61,
        _ => 0x6f,
    }
}

/// Stores `text` at `at`, `len` bytes, EBCDIC, left-justified and blank-padded.
fn put_text(b: &mut Sysib, at: usize, len: usize, text: &str) {
    let field = &mut b[at..at + len];
    field.fill(ebcdic(b' '));
    for (d, s) in field.iter_mut().zip(text.bytes()) {
        *d = ebcdic(s);
    }
}

fn put16(b: &mut Sysib, at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut Sysib, at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// The modelled machine's identity, per machine type. The model names are the machines'
/// first models; the nominal CPU capabilities (smaller is faster) are plausible values for
/// the three generations, not measurements.
struct Identity {
    model: &'static str,
    capability: u32,
}

fn identity(host: &HostConfig) -> Identity {
    match host.profile.cpu_type {
        0x3906 => Identity {
            model: "M01",
            capability: 300,
        },
        0x8561 => Identity {
            model: "T01",
            capability: 270,
        },
        _ => Identity {
            model: "A01",
            capability: 240,
        },
    }
}

/// The machine's (and the LPAR's) CPU count: the host's online CPUs, at least one and at most
/// the 248 an extended SCA addresses.
fn host_cpus(host: &HostConfig) -> u16 {
    host.online_cpus.clamp(1, 248) as u16
}

/// The model-capacity identifier of a full-capacity machine with `n` CPUs: "7" and the
/// count, two digits below 100, a letter for the tens above ("7A0" is 100).
fn capacity_id(n: u16) -> String {
    if n < 100 {
        format!("7{n:02}")
    } else {
        let letter = char::from(b'A' + ((n / 10 - 10) as u8).min(25));
        format!("7{letter}{}", n % 10)
    }
}

/// The multiprocessing CPU-capability adjustment factors of SYSIB 1.2.2, for the 2-way to the
/// `n`-way configuration: the share of one CPU's capability each CPU keeps, in 1/65536, 96%
/// of the previous step's.
fn adjustments(n: u16) -> impl Iterator<Item = u16> {
    (2..=n).scan(65536u32, |f, _| {
        *f = *f * 96 / 100;
        Some(*f as u16)
    })
}

/// The serial number in the SYSIBs' sequence code: the CPU-identification digits of the
/// model's CPU id (what STIDP stores), zero-filled to 16 characters.
fn sequence(host: &HostConfig) -> String {
    format!("{:016X}", (host.profile.cpuid >> 32) & 0xff_ffff)
}

/// The plant of manufacture.
const PLANT: &str = "02";

/// The LPAR the host runs in.
const LPAR_NUMBER: u16 = 1;
const LPAR_NAME: &str = "LP01";

/// The modelled host's SYSIB for function code `fc` (1 or 2) and selectors `sel1`, `sel2`,
/// as seen by the host CPU that vCPU `vcpu_id` runs on; `None` (condition code 3) for a
/// selector combination the machine does not provide.
///
/// The model: an LPAR (number 1, "LP01") with all of the machine's CPUs dedicated to it, as
/// many as the host's online CPUs; the vCPU thread runs on host CPU `vcpu_id` modulo that
/// count, whose physical and logical CPU addresses are that number.
pub(crate) fn host_sysib(
    host: &HostConfig,
    vcpu_id: u32,
    fc: u8,
    sel1: u8,
    sel2: u16,
) -> Option<Sysib> {
    let mut b = [0u8; SYSIB_SIZE];
    let id = identity(host);
    let cpus = host_cpus(host);
    let cpu_addr = (vcpu_id % u32::from(cpus)) as u16;
    let seq = sequence(host);
    match (fc, sel1, sel2) {
        // Basic machine configuration.
        (1, 1, 1) => {
            put_text(&mut b, 32, 16, "IBM");
            put_text(&mut b, 48, 4, &format!("{:04X}", host.profile.cpu_type));
            let cap = capacity_id(cpus);
            put_text(&mut b, 64, 16, &cap);
            put_text(&mut b, 80, 16, &seq);
            put_text(&mut b, 96, 4, PLANT);
            put_text(&mut b, 100, 16, id.model);
            // Permanent and temporary capacity: no capacity on demand.
            put_text(&mut b, 116, 16, &cap);
            put_text(&mut b, 132, 16, &cap);
        }
        // Basic-machine CPU.
        (1, 2, 1) => {
            put_text(&mut b, 80, 16, &seq);
            put_text(&mut b, 96, 4, PLANT);
            put16(&mut b, 102, cpu_addr);
        }
        // Basic-machine CPUs: format 1 with the alternate-capability extension.
        (1, 2, 2) => {
            let adj: Vec<u16> = adjustments(cpus).collect();
            let ext = (44 + 2 * adj.len() + 3) & !3;
            b[0] = 1;
            put16(&mut b, 2, ext as u16);
            put32(&mut b, 32, id.capability);
            put16(&mut b, 36, cpus);
            put16(&mut b, 38, cpus);
            for (i, a) in adj.iter().enumerate() {
                put16(&mut b, 44 + 2 * i, *a);
                put16(&mut b, ext + 4 + 2 * i, *a);
            }
            put32(&mut b, ext, id.capability);
        }
        // Logical CPU.
        (2, 2, 1) => {
            put_text(&mut b, 80, 16, &seq);
            put_text(&mut b, 96, 4, PLANT);
            put16(&mut b, 100, cpu_addr);
            put16(&mut b, 102, cpu_addr);
        }
        // Logical CPUs: the LPAR, dedicated CPUs, full capability.
        (2, 2, 2) => {
            put16(&mut b, 32, LPAR_NUMBER);
            b[35] = 0x80;
            put16(&mut b, 36, cpus);
            put16(&mut b, 38, cpus);
            put_text(&mut b, 44, 8, LPAR_NAME);
            put32(&mut b, 52, 1000);
            put16(&mut b, 72, cpus);
        }
        _ => return None,
    }
    Some(b)
}

/// SYSIB 3.2.2 of a KVM guest with `cpus` vCPUs (`handle_stsi_3_2_2` on an LPAR host).
pub(crate) fn sysib_3_2_2(cpus: u16) -> Sysib {
    let mut b = [0u8; SYSIB_SIZE];
    // One virtual-machine description (the count, bits 4-7 of byte 31).
    b[31] = 1;
    let vm = 32;
    put16(&mut b, vm + 4, cpus);
    put16(&mut b, vm + 6, cpus);
    put_text(&mut b, vm + 12, 8, "KVMguest");
    put32(&mut b, vm + 20, 1000);
    put_text(&mut b, vm + 24, 16, "KVM/Linux");
    b
}

impl Vcpu {
    /// STSI intercepted (the PSW points after it): `handle_stsi`.
    pub(super) fn stsi(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        ipb: u32,
    ) -> Result<Next> {
        self.stats.inc(stats::vcpu::INSTRUCTION_STSI);
        let (gr0, gr1) = (cpu.r64(0), cpu.r64(1));
        let fc = ((gr0 >> 28) & 0xf) as u8;
        let sel1 = gr0 as u8;
        let sel2 = gr1 as u16;
        log::debug!("vCPU {}: STSI fc {fc} sel1 {sel1} sel2 {sel2}", self.id);
        if cpu.psw_mask & PSW_MASK_PSTATE != 0 {
            return self.inject_code(vm, st, cpu, PGM_PRIVILEGED_OP);
        }
        let user_stsi = vm.state().user_stsi;
        // Function codes 4-14 are not provided; 15 only with the configuration-topology
        // facility and a VMM that answers it.
        if (fc > 3 && fc != 15) || (fc == 15 && !(vm.has_facility(11) && user_stsi)) {
            cpu.set_cc(3);
            return Ok(Next::Continue);
        }
        if gr0 & 0x0fff_ff00 != 0 || gr1 & 0xffff_0000 != 0 {
            return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
        }
        if fc == 0 {
            cpu.set_r64(0, 3 << 28);
            cpu.set_cc(0);
            return Ok(Next::Continue);
        }
        // kvm_s390_get_base_disp_s: the S-format address, wrapped to the addressing mode.
        let (addr, b2) = super::cpu_run::base_disp(cpu, ipb);
        let addr = cpu.wrap(addr);
        if addr & 0xfff != 0 {
            return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
        }
        let exit = Exit::Stsi {
            addr,
            ar: b2,
            fc,
            sel1,
            sel2,
        };
        let mut block = match fc {
            // Entirely the VMM's: nothing stored, condition code and GR0 unchanged.
            15 => return Ok(Next::Exit(exit)),
            1 | 2 => host_sysib(&vm.host, self.id, fc, sel1, sel2),
            _ => (sel1 == 2 && sel2 == 2)
                .then(|| sysib_3_2_2(vm.created_vcpus().min(u32::from(u16::MAX)) as u16)),
        };
        let Some(block) = block.as_mut() else {
            cpu.set_cc(3);
            return Ok(Next::Continue);
        };
        match self.store_logical(vm, st, cpu, addr, b2, block) {
            Ok(()) => {}
            Err(Fail::Pgm(info)) => return self.inject_access(vm, st, cpu, info),
            Err(Fail::Errno(e)) => return Err(e),
        }
        cpu.set_cc(0);
        cpu.set_r64(0, 0);
        Ok(if user_stsi {
            Next::Exit(exit)
        } else {
            Next::Continue
        })
    }

    /// Stores `data` at logical address `addr` as the guest program would (`write_guest`):
    /// the PSW key, access register `ar` in access-register mode, all or nothing.
    pub(super) fn store_logical(
        &self,
        vm: &Vm,
        st: &VcpuState,
        cpu: &Cpu,
        addr: u64,
        ar: u8,
        data: &mut [u8],
    ) -> std::result::Result<(), Fail> {
        self.access_logical(vm, st, cpu, addr, ar, data, Mode::Store)
    }

    /// Fetches `data` from logical address `addr` as the guest program would (`read_guest`).
    pub(super) fn fetch_logical(
        &self,
        vm: &Vm,
        st: &VcpuState,
        cpu: &Cpu,
        addr: u64,
        ar: u8,
        data: &mut [u8],
    ) -> std::result::Result<(), Fail> {
        self.access_logical(vm, st, cpu, addr, ar, data, Mode::Fetch)
    }

    #[allow(clippy::too_many_arguments)]
    fn access_logical(
        &self,
        vm: &Vm,
        st: &VcpuState,
        cpu: &Cpu,
        addr: u64,
        ar: u8,
        data: &mut [u8],
        mode: Mode,
    ) -> std::result::Result<(), Fail> {
        // The access path reads the access registers from kvm_run, where the run loop
        // stores them only at exits: make them current.
        for (i, a) in cpu.ar.iter().enumerate() {
            self.run.set(off::ACRS + 4 * i, *a);
        }
        let key = ((st.psw.0 >> 52) & 0xf) as u8;
        gaccess::guest_access(vm, self, st, LogicalAddr(addr), ar & 0xf, data, mode, key)
    }

    /// The access exception of a handler's guest access, presented as
    /// `kvm_s390_inject_prog_cond` does (the exception information of the access, the ILC of
    /// the intercepted instruction).
    pub(super) fn inject_access(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        mut info: kvm_s390_pgm_info,
    ) -> Result<Next> {
        info.flags = (cpu.ilc * 2) | KVM_S390_PGM_FLAGS_ILC_VALID;
        self.present(vm, st, cpu, info)?;
        Ok(Next::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::profiles;

    fn text(b: &Sysib, at: usize, len: usize) -> Vec<u8> {
        b[at..at + len].to_vec()
    }

    fn ebc(s: &str, len: usize) -> Vec<u8> {
        let mut v: Vec<u8> = s.bytes().map(ebcdic).collect();
        v.resize(len, 0x40);
        v
    }

    #[test]
    fn ebcdic_of_the_kernel_strings() {
        // "KVM/Linux" and "IBM" as the kernel's ASCEBC makes them.
        assert_eq!(
            ebc("KVM/Linux", 9),
            [0xd2, 0xe5, 0xd4, 0x61, 0xd3, 0x89, 0x95, 0xa4, 0xa7]
        );
        assert_eq!(ebc("IBM", 3), [0xc9, 0xc2, 0xd4]);
        assert_eq!(
            ebc("KVMguest", 8),
            [0xd2, 0xe5, 0xd4, 0x87, 0xa4, 0x85, 0xa2, 0xa3]
        );
    }

    #[test]
    fn sysib_1_1_1_names_the_machine_type() {
        for (p, ty, model) in [
            (profiles::Z14, "3906", "M01"),
            (profiles::Z15, "8561", "T01"),
            (profiles::Z16, "3931", "A01"),
        ] {
            let h = HostConfig::from_profile(&p);
            let b = host_sysib(&h, 0, 1, 1, 1).unwrap();
            assert_eq!(text(&b, 32, 16), ebc("IBM", 16));
            assert_eq!(text(&b, 48, 4), ebc(ty, 4));
            assert_eq!(text(&b, 64, 16), ebc("708", 16));
            assert_eq!(text(&b, 80, 16), ebc("0000000000012345", 16));
            assert_eq!(text(&b, 100, 16), ebc(model, 16));
        }
    }

    #[test]
    fn cpu_counts_agree_across_the_sysibs() {
        let mut h = HostConfig::z16();
        h.online_cpus = 12;
        let b122 = host_sysib(&h, 13, 1, 2, 2).unwrap();
        let b222 = host_sysib(&h, 13, 2, 2, 2).unwrap();
        let b221 = host_sysib(&h, 13, 2, 2, 1).unwrap();
        let b121 = host_sysib(&h, 13, 1, 2, 1).unwrap();
        assert_eq!(&b122[36..40], &[0, 12, 0, 12]);
        assert_eq!(&b222[36..40], &[0, 12, 0, 12]);
        assert_eq!(&b222[72..74], &[0, 12]);
        // vCPU 13 on host CPU 1.
        assert_eq!(&b221[100..104], &[0, 1, 0, 1]);
        assert_eq!(&b121[102..104], &[0, 1]);
        // Eleven adjustment factors, decreasing, and the extension after them.
        let ext = usize::from(u16::from_be_bytes([b122[2], b122[3]]));
        assert_eq!(ext, 68);
        assert_eq!(&b122[ext..ext + 4], &b122[32..36]);
        let f: Vec<u16> = (0..11)
            .map(|i| u16::from_be_bytes([b122[44 + 2 * i], b122[45 + 2 * i]]))
            .collect();
        assert!(f.windows(2).all(|w| w[0] > w[1]) && f[0] == 62914);
        assert_eq!(&b122[ext + 4..ext + 26], &b122[44..66]);
        let h = HostConfig::z16();
        assert_eq!(capacity_id(100), "7A0");
        assert_eq!(capacity_id(123), "7C3");
        assert!(host_sysib(&h, 0, 1, 1, 2).is_none());
        assert!(host_sysib(&h, 0, 2, 1, 1).is_none());
        assert!(host_sysib(&h, 0, 1, 3, 1).is_none());
    }

    #[test]
    fn sysib_3_2_2_is_the_kvm_guest() {
        let b = sysib_3_2_2(3);
        assert_eq!(b[31], 1);
        assert_eq!(&b[36..40], &[0, 3, 0, 3]);
        assert_eq!(text(&b, 44, 8), ebc("KVMguest", 8));
        assert_eq!(&b[52..56], &1000u32.to_be_bytes());
        assert_eq!(text(&b, 56, 16), ebc("KVM/Linux", 16));
        assert!(b[72..].iter().all(|&x| x == 0));
    }
}
