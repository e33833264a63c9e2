//! Table tests of the supervisor instructions against the Principles of Operation
//! (SA22-7832) and the kernel's handlers (arch/s390/kvm/priv.c): privileged-operation in
//! the problem state, the operand checks, and the effect on CRs, PSW, prefix, keys, clocks
//! and CC, on [`VecStorage`] as the test machine.

use super::insn::{by_mnemonic, encode, Insn};
use super::storage::INTERCEPT;
use super::*;

const CODE: u64 = 0x3000;
const DATA: u64 = 0x5000;

fn asm(mnemonic: &str, f: impl FnOnce(&mut Insn)) -> Vec<u8> {
    let d = by_mnemonic(mnemonic).unwrap();
    let mut i = Insn::blank(d);
    f(&mut i);
    encode(&i)[..usize::from(i.len)].to_vec()
}

/// A storage operand at `b2` + `d2`.
fn at(m: &str, b2: u8, d2: i32) -> Vec<u8> {
    asm(m, |i| {
        i.b2 = b2;
        i.d2 = d2;
    })
}

fn rre(m: &str, r1: u8, r2: u8) -> Vec<u8> {
    asm(m, |i| {
        i.r1 = r1;
        i.r2 = r2;
    })
}

struct T {
    cpu: Cpu,
    mem: VecStorage,
}

impl T {
    /// Supervisor state, 64-bit mode, code at CODE, GR5 = DATA.
    fn new(code: &[Vec<u8>]) -> T {
        let mut mem = VecStorage::new(0x40000);
        mem.store(CODE, &code.concat()).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        cpu.psw_mask &= !psw::PROBLEM;
        cpu.psw_addr = CODE;
        cpu.gr[5] = DATA;
        T { cpu, mem }
    }
    fn step(&mut self) -> Result<(), Pgm> {
        self.cpu.step(&mut self.mem)
    }
    fn u64at(&self, a: u64) -> u64 {
        u64::from_be_bytes(self.mem.mem[a as usize..a as usize + 8].try_into().unwrap())
    }
    fn put(&mut self, a: u64, v: &[u8]) {
        self.mem.store(a, v).unwrap();
    }
}

/// Every instruction that is privileged in every case, in the problem state: 0x02, the PSW
/// after the instruction, nothing changed.
#[test]
fn privileged_instructions_in_the_problem_state() {
    let privileged = [
        "LPSW", "LPSWE", "SSM", "STNSM", "STOSM", "LCTL", "LCTLG", "STCTL", "STCTG", "SPX", "STPX",
        "STAP", "STIDP", "SCK", "SCKPF", "SCKC", "SPT", "STCKC", "STPT", "LRA", "LRAY", "LRAG",
        "TPROT", "PTLB", "IPTE", "IDTE", "CSP", "CSPG", "SSKE", "ISKE", "RRBE", "PFMF", "TB",
        "STFL", "SIGP", "DIAG", "STSI", "SERVC", "ESSA", "SIE", "CSCH", "HSCH", "MSCH", "SSCH",
        "STSCH", "TSCH", "TPI", "SAL", "RSCH", "STCRW", "STCPS", "RCHP", "SCHM", "CHSC", "SIGA",
        "XSCH",
    ];
    for m in privileged {
        let code = asm(m, |i| {
            i.b1 = 5;
            i.b2 = 5;
            i.r1 = 2;
            i.r2 = 4;
        });
        let len = code.len() as u64;
        let mut t = T::new(&[code]);
        t.cpu.psw_mask |= psw::PROBLEM;
        let before = (t.cpu.gr, t.cpu.cr, t.cpu.prefix, t.mem.mem.clone());
        assert_eq!(t.step(), Err(Pgm::PrivilegedOperation), "{m}");
        assert_eq!(t.cpu.psw_addr, CODE + len, "{m}");
        assert_eq!(u64::from(t.cpu.ilc) * 2, len, "{m}");
        assert!(
            before == (t.cpu.gr, t.cpu.cr, t.cpu.prefix, t.mem.mem.clone()),
            "{m}"
        );
    }
}

#[test]
fn load_psw_short_and_extended() {
    // LPSW: the short PSW needs bit 12; BA moves from bit 32 to mask bit 32.
    let mut t = T::new(&[at("LPSW", 5, 0)]);
    t.put(DATA, &0x0708_1000_8000_4000u64.to_be_bytes());
    t.step().unwrap();
    assert_eq!(
        (t.cpu.psw_mask, t.cpu.psw_addr),
        (0x0700_1000_8000_0000, 0x4000)
    );
    assert_eq!(t.cpu.cc(), 1);
    // Bit 12 zero: specification, PSW unchanged.
    let mut t = T::new(&[at("LPSW", 5, 0)]);
    t.put(DATA, &0x0700_0000_8000_4000u64.to_be_bytes());
    let mask = t.cpu.psw_mask;
    assert_eq!(t.step(), Err(Pgm::Specification));
    assert_eq!((t.cpu.psw_mask, t.cpu.psw_addr), (mask, CODE + 4));
    // Not a doubleword: specification.
    let mut t = T::new(&[at("LPSW", 5, 4)]);
    assert_eq!(t.step(), Err(Pgm::Specification));
    // LPSWE: the 16-byte PSW is loaded as is.
    let mut t = T::new(&[at("LPSWE", 5, 0)]);
    t.put(DATA, &0x0400_0001_8000_0000u64.to_be_bytes());
    t.put(DATA + 8, &0x1_2345_6780u64.to_be_bytes());
    t.step().unwrap();
    assert_eq!(
        (t.cpu.psw_mask, t.cpu.psw_addr),
        (0x0400_0001_8000_0000, 0x1_2345_6780)
    );
    // An invalid PSW (EA without BA, an odd address, a 31-bit address too large, an
    // unassigned bit) is loaded and then recognised: the early specification exception.
    for (mask, addr) in [
        (0x0000_0001_0000_0000u64, 0x1000u64),
        (0x0000_0001_8000_0000, 0x1001),
        (0x0000_0000_8000_0000, 0x8000_0000),
        (0x0000_0000_0000_0000, 0x0100_0000),
        (0x8000_0001_8000_0000, 0x1000),
        (0x0008_0001_8000_0000, 0x1000),
    ] {
        let mut t = T::new(&[at("LPSWE", 5, 0)]);
        t.put(DATA, &mask.to_be_bytes());
        t.put(DATA + 8, &addr.to_be_bytes());
        assert_eq!(t.step(), Err(Pgm::Specification), "{mask:#x} {addr:#x}");
        assert_eq!((t.cpu.psw_mask, t.cpu.psw_addr), (mask, addr));
    }
}

#[test]
fn system_mask_instructions() {
    let stnsm = asm("STNSM", |i| {
        i.b1 = 5;
        i.i2 = 0xfb;
    });
    let stosm = asm("STOSM", |i| {
        i.b1 = 5;
        i.d1 = 1;
        i.i2 = 0x03;
    });
    let mut t = T::new(&[at("SSM", 5, 2), stnsm, stosm]);
    t.put(DATA + 2, &[0x07]);
    t.step().unwrap();
    assert_eq!(t.cpu.psw_mask >> 56, 0x07);
    t.step().unwrap();
    assert_eq!(
        (t.mem.mem[DATA as usize], t.cpu.psw_mask >> 56),
        (0x07, 0x03)
    );
    t.step().unwrap();
    assert_eq!(
        (t.mem.mem[DATA as usize + 1], t.cpu.psw_mask >> 56),
        (0x03, 0x03)
    );
    assert_eq!(t.cpu.psw_addr, CODE + 12);
    // SSM suppression (CR0 bit 33): special-operation exception.
    let mut t = T::new(&[at("SSM", 5, 0)]);
    t.cpu.cr[0] |= 1 << 30;
    assert_eq!(t.step().unwrap_err().code(), 0x13);
    // An unassigned system-mask bit (bit 0): the early specification exception.
    let mut t = T::new(&[at("SSM", 5, 0)]);
    t.put(DATA, &[0x80]);
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn control_registers_wrap_and_need_alignment() {
    let lctlg = asm("LCTLG", |i| {
        i.r1 = 14;
        i.r3 = 1;
        i.b2 = 5;
    });
    let stctg = asm("STCTG", |i| {
        i.r1 = 14;
        i.r3 = 1;
        i.b2 = 5;
        i.d2 = 0x100;
    });
    let lctl = asm("LCTL", |i| {
        i.r1 = 3;
        i.r3 = 3;
        i.b2 = 5;
        i.d2 = 0x200;
    });
    let stctl = asm("STCTL", |i| {
        i.r1 = 3;
        i.r3 = 4;
        i.b2 = 5;
        i.d2 = 0x300;
    });
    let mut t = T::new(&[lctlg, stctg, lctl, stctl]);
    for k in 0..4u64 {
        t.put(
            DATA + 8 * k,
            &(0x1111_0000_0000_0000 * (k + 1) + k).to_be_bytes(),
        );
    }
    t.put(DATA + 0x200, &0xdead_beefu32.to_be_bytes());
    t.cpu.cr[3] = 0xaaaa_bbbb_0000_0000;
    t.cpu.cr[4] = 0x1234_5678_9abc_def0;
    t.step().unwrap();
    assert_eq!(t.cpu.cr[14], 0x1111_0000_0000_0000);
    assert_eq!(t.cpu.cr[15], 0x2222_0000_0000_0001);
    assert_eq!(t.cpu.cr[0], 0x3333_0000_0000_0002);
    assert_eq!(t.cpu.cr[1], 0x4444_0000_0000_0003);
    t.step().unwrap();
    assert_eq!(t.u64at(DATA + 0x118), 0x4444_0000_0000_0003);
    t.step().unwrap();
    assert_eq!(t.cpu.cr[3], 0xaaaa_bbbb_dead_beef);
    t.step().unwrap();
    assert_eq!(t.u64at(DATA + 0x300), 0xdead_beef_9abc_def0);
    for (m, d) in [("LCTL", 2), ("LCTLG", 4), ("STCTL", 2), ("STCTG", 4)] {
        let mut t = T::new(&[asm(m, |i| {
            i.b2 = 5;
            i.d2 = d;
        })]);
        assert_eq!(t.step(), Err(Pgm::Specification), "{m}");
    }
}

#[test]
fn prefix_cpu_address_and_id() {
    let mut t = T::new(&[
        at("SPX", 5, 0),
        at("STPX", 5, 4),
        at("STFL", 0, 0),
        at("STAP", 5, 8),
        at("STIDP", 5, 16),
    ]);
    // Bits 0 and 19-31 are ignored.
    t.put(DATA, &0x8002_3fffu32.to_be_bytes());
    t.cpu.cpu_addr = 3;
    t.step().unwrap();
    assert_eq!(t.cpu.prefix, 0x2_2000);
    t.step().unwrap();
    assert_eq!(
        &t.mem.mem[DATA as usize + 4..DATA as usize + 8],
        &[0, 2, 0x20, 0]
    );
    // STFL stores into the lowcore: real 200 = absolute prefix + 200.
    t.step().unwrap();
    let w = u32::from_be_bytes(t.mem.mem[0x2_20c8..0x2_20cc].try_into().unwrap());
    assert_eq!(w, (t.cpu.facilities.words()[0] >> 32) as u32);
    assert_eq!(&t.mem.mem[200..204], &[0; 4]);
    t.step().unwrap();
    assert_eq!(&t.mem.mem[DATA as usize + 8..DATA as usize + 10], &[0, 3]);
    t.step().unwrap();
    assert_eq!(t.u64at(DATA + 16), t.cpu.cpuid);
    // A prefix area beyond storage: addressing; misaligned operands: specification.
    let mut t = T::new(&[at("SPX", 5, 0)]);
    t.put(DATA, &0x4_0000u32.to_be_bytes());
    assert_eq!(t.step(), Err(Pgm::Addressing));
    assert_eq!(t.cpu.prefix, 0);
    for (m, d) in [("SPX", 2), ("STPX", 1), ("STAP", 1), ("STIDP", 4)] {
        let mut t = T::new(&[at(m, 5, d)]);
        assert_eq!(t.step(), Err(Pgm::Specification), "{m}");
    }
}

#[test]
fn clocks_and_timers() {
    let mut t = T::new(&[
        at("SCK", 5, 0),
        at("STCK", 5, 8),
        at("STCKF", 5, 16),
        at("STCKE", 5, 32),
        at("SPT", 5, 0x40),
        at("STPT", 5, 0x48),
        at("SCKC", 5, 0x50),
        at("STCKC", 5, 0x58),
        vec![0x01, 0x07], // sckpf
    ]);
    t.put(DATA, &0x1234_5678_0000_0000u64.to_be_bytes());
    t.put(DATA + 0x40, &0x5555u64.to_be_bytes());
    t.put(DATA + 0x50, &0x6666u64.to_be_bytes());
    t.cpu.set_cc(3);
    t.step().unwrap();
    assert_eq!((t.mem.tod, t.cpu.cc()), (0x1234_5678_0000_0000, 0));
    t.cpu.set_cc(3);
    t.step().unwrap();
    assert_eq!((t.u64at(DATA + 8), t.cpu.cc()), (0x1234_5678_0000_0000, 0));
    t.step().unwrap();
    // Unique and increasing.
    assert!(t.u64at(DATA + 16) > t.u64at(DATA + 8));
    t.cpu.todpr = 0xbeef;
    t.mem.tod_epoch_idx = 2;
    t.step().unwrap();
    let e = &t.mem.mem[DATA as usize + 32..DATA as usize + 48];
    assert_eq!(e[0], 2);
    assert_eq!(
        u64::from_be_bytes(e[1..9].try_into().unwrap()),
        0x1234_5678_0000_2000
    );
    assert_eq!(&e[14..16], &[0xbe, 0xef]);
    assert_ne!(e[9..14], [0; 5]);
    t.step().unwrap();
    assert_eq!(t.mem.cpu_timer, 0x5555);
    t.mem.cpu_timer = 0x5000;
    t.step().unwrap();
    assert_eq!(t.u64at(DATA + 0x48), 0x5000);
    t.step().unwrap();
    t.step().unwrap();
    assert_eq!(
        (t.mem.clock_comparator, t.u64at(DATA + 0x58)),
        (0x6666, 0x6666)
    );
    // SCKPF: GR0 bits 48-63; bits 32-47 must be zero.
    t.cpu.gr[0] = 0xffff_ffff_0000_1234;
    t.step().unwrap();
    assert_eq!(t.cpu.todpr, 0x1234);
    let mut t = T::new(&[vec![0x01, 0x07]]);
    t.cpu.gr[0] = 0x1_0000;
    assert_eq!(t.step(), Err(Pgm::Specification));
    for m in ["SCK", "SPT", "STPT", "SCKC", "STCKC"] {
        let mut t = T::new(&[at(m, 5, 4)]);
        assert_eq!(t.step(), Err(Pgm::Specification), "{m}");
    }
    // STCK in the problem state is allowed.
    let mut t = T::new(&[at("STCK", 5, 0)]);
    t.cpu.psw_mask |= psw::PROBLEM;
    t.step().unwrap();
}

#[test]
fn storage_keys_set_insert_reset() {
    let sske = |m3: u8| {
        asm("SSKE", |i| {
            i.r1 = 1;
            i.r2 = 2;
            i.m3 = m3;
        })
    };
    let mut t = T::new(&[
        sske(0),
        rre("ISKE", 3, 2),
        rre("RRBE", 0, 2),
        rre("RRBE", 0, 2),
        sske(6),
        sske(6),
    ]);
    t.cpu.gr[1] = 0xff00_0000_0000_00f7; // key 0xf, F, R, C (bit 63 ignored)
    t.cpu.gr[2] = 0x8abc; // frame 0x8000
    t.cpu.gr[3] = u64::MAX;
    t.step().unwrap();
    assert_eq!(t.mem.keys[8], 0xf6);
    t.step().unwrap();
    assert_eq!(t.cpu.gr[3], 0xffff_ffff_ffff_fff6);
    // RRBE: CC = R, C of the old key; the reference bit goes.
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.mem.keys[8]), (3, 0xf2));
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.mem.keys[8]), (1, 0xf2));
    // Conditional SSKE (MR, MC): ACC and F equal -> not set, CC 0; old key in bits 48-55.
    t.cpu.gr[1] = 0xf0;
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.mem.keys[8]), (0, 0xf2));
    assert_eq!(t.cpu.gr[1], 0xf2f0);
    // ACC differs -> set, CC 1.
    t.cpu.gr[1] = 0x30;
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.mem.keys[8]), (1, 0x30));
    // Prefixing applies to the real address in R2.
    let mut t = T::new(&[sske(0)]);
    t.cpu.prefix = 0x2_0000;
    (t.cpu.gr[1], t.cpu.gr[2]) = (0x10, 0x1000);
    t.step().unwrap();
    assert_eq!((t.mem.keys[1], t.mem.keys[0x21]), (0, 0x10));
    // Multiple-block: to the end of the 1 MiB block, R2 advanced, CC 3 with MR/MC.
    let mut mem = VecStorage::new(0x20_0000);
    mem.store(CODE, &sske(7)).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.psw_mask &= !psw::PROBLEM;
    cpu.psw_addr = CODE;
    (cpu.gr[1], cpu.gr[2]) = (0x50, 0xf_e123);
    cpu.step(&mut mem).unwrap();
    assert_eq!(&mem.keys[0xfd..0x101], &[0, 0x50, 0x50, 0]);
    assert_eq!((cpu.gr[2], cpu.cc()), (0x10_0123, 3));
    // Beyond storage: addressing.
    let mut t = T::new(&[rre("ISKE", 1, 2)]);
    t.cpu.gr[2] = 0x10_0000;
    assert_eq!(t.step(), Err(Pgm::Addressing));
}

#[test]
fn insert_virtual_storage_key_and_psw_key() {
    let mut t = T::new(&[rre("IVSK", 1, 2)]);
    t.cpu.gr[2] = 0x8123;
    t.mem.keys[8] = 0x5e;
    // DAT off: special operation.
    assert_eq!(t.step().unwrap_err().code(), 0x13);
    t.cpu.psw_addr = CODE;
    t.cpu.psw_mask |= psw::DAT;
    t.step().unwrap();
    assert_eq!(t.cpu.gr[1] & 0xff, 0x58);
    // Problem state without the extraction-authority control: privileged operation.
    t.cpu.psw_addr = CODE;
    t.cpu.psw_mask |= psw::PROBLEM;
    assert_eq!(t.step(), Err(Pgm::PrivilegedOperation));
    t.cpu.psw_addr = CODE;
    t.cpu.cr[0] |= psw::CR0_EXTRACT;
    t.step().unwrap();
    // SPKA / IPK: the PSW key; the problem state needs the key's PSW-key-mask bit.
    let mut t = T::new(&[at("SPKA", 0, 0x90), at("IPK", 0, 0), at("SPKA", 0, 0x30)]);
    t.cpu.gr[2] = 0xffff;
    t.step().unwrap();
    assert_eq!((t.cpu.psw_mask >> 52) & 0xf, 9);
    t.step().unwrap();
    assert_eq!(t.cpu.gr[2], 0xff90);
    t.cpu.psw_mask |= psw::PROBLEM;
    t.cpu.cr[3] = 0x8000 << 16; // key 0 only
    assert_eq!(t.step(), Err(Pgm::PrivilegedOperation));
    t.cpu.psw_addr = CODE + 8;
    t.cpu.cr[3] = 0x1000 << 16; // key 3
    t.step().unwrap();
    assert_eq!((t.cpu.psw_mask >> 52) & 0xf, 3);
}

#[test]
fn address_space_control_and_extract_psw() {
    let mut t = T::new(&[at("SAC", 0, 0x200), rre("EPSW", 1, 2), at("SAC", 0, 0x100)]);
    assert_eq!(t.step().unwrap_err().code(), 0x13); // DAT off
    t.cpu.psw_addr = CODE;
    t.cpu.psw_mask |= psw::DAT;
    t.step().unwrap();
    assert_eq!((t.cpu.psw_mask >> 46) & 3, 2);
    t.step().unwrap();
    assert_eq!(t.cpu.gr[1] as u32, (t.cpu.psw_mask >> 32) as u32);
    assert_eq!(t.cpu.gr[2] as u32, t.cpu.psw_mask as u32);
    // Secondary mode needs the secondary-space control.
    assert_eq!(t.step().unwrap_err().code(), 0x13);
    let mut t = T::new(&[at("SAC", 0, 0x400)]);
    t.cpu.psw_mask |= psw::DAT;
    assert_eq!(t.step(), Err(Pgm::Specification));
    let mut t = T::new(&[at("SACF", 0, 0x300)]);
    t.cpu.psw_mask |= psw::DAT | psw::PROBLEM;
    assert_eq!(t.step(), Err(Pgm::PrivilegedOperation));
}

#[test]
fn frame_management_and_test_block() {
    let pfmf = rre("PFMF", 1, 2);
    let mut t = T::new(&[pfmf.clone(), rre("TB", 0, 2)]);
    t.put(0x9000, &[0xaa; 0x1000]);
    t.put(0xa000, &[0xbb; 0x10]);
    // Clear frame and set key 0x60 for the 4 KiB frame at real 0x9000.
    t.cpu.gr[1] = 0x3_0060;
    t.cpu.gr[2] = 0x9010;
    t.step().unwrap();
    assert!(t.mem.mem[0x9000..0xa000].iter().all(|&b| b == 0));
    assert_eq!((t.mem.keys[9], t.mem.mem[0xa000]), (0x60, 0xbb));
    assert_eq!(t.cpu.gr[2], 0x9010);
    // TB: clears, CC 0, GR0 zero.
    t.cpu.gr[2] = 0xa000;
    t.cpu.gr[0] = 7;
    t.cpu.set_cc(2);
    t.step().unwrap();
    assert_eq!((t.mem.mem[0xa000], t.cpu.cc(), t.cpu.gr[0]), (0, 0, 0));
    // 1 MiB frame: keys to the end of the block, R2 = the next block.
    let mut mem = VecStorage::new(0x20_0000);
    mem.store(CODE, &pfmf).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.psw_mask &= !psw::PROBLEM;
    cpu.psw_addr = CODE;
    (cpu.gr[1], cpu.gr[2]) = (0x2_1070, 0x10_0000);
    cpu.step(&mut mem).unwrap();
    assert!(mem.keys[0x100..0x200].iter().all(|&k| k == 0x70));
    assert_eq!(cpu.gr[2], 0x20_0000);
    // Reserved bits, an unknown frame size, 2 GiB without EDAT-2: specification.
    for r1 in [0x1_0001u64, 0x3000, 0x2000] {
        let mut t = T::new(std::slice::from_ref(&pfmf));
        t.cpu.gr[1] = r1;
        assert_eq!(t.step(), Err(Pgm::Specification), "{r1:#x}");
    }
    // Low-address protection for clearing frame 0 (PFMF) and TB.
    let mut t = T::new(&[pfmf, rre("TB", 0, 2)]);
    t.cpu.cr[0] |= psw::CR0_LAP;
    (t.cpu.gr[1], t.cpu.gr[2]) = (0x1_0000, 0);
    assert_eq!(t.step(), Err(Pgm::Protection));
    t.cpu.gr[2] = 0x1000;
    assert_eq!(t.step(), Err(Pgm::Protection));
    // PFMF without EDAT-1 is an operation exception.
    let mut t = T::new(&[rre("PFMF", 1, 2)]);
    t.cpu.facilities = Facilities([1 << 63, 0, 0, 0]);
    assert_eq!(t.step(), Err(Pgm::Operation));
}

#[test]
fn dat_table_invalidation_and_purges() {
    let ipte = |m4: u8| {
        asm("IPTE", |i| {
            i.r1 = 1;
            i.r2 = 2;
            i.m4 = m4;
        })
    };
    let idte = asm("IDTE", |i| {
        i.r1 = 3;
        i.r2 = 4;
    });
    let mut t = T::new(&[ipte(0), ipte(1), idte, at("PTLB", 0, 0)]);
    // Page table at 0x8000 (the low bits of R1 are ignored), page index 5.
    (t.cpu.gr[1], t.cpu.gr[2]) = (0x8123, 0x7ff0_5abc);
    t.step().unwrap();
    assert_eq!(t.u64at(0x8000 + 5 * 8), 0x400);
    assert_eq!(t.mem.purges, (0, 1));
    t.step().unwrap();
    assert_eq!(t.mem.purges, (1, 1));
    // IDTE: segment table (designation type 0) at 0x9000, index from bits 33-43, two
    // entries (R2 bits 53-63 = 1).
    t.cpu.gr[3] = 0x9000;
    t.cpu.gr[4] = (3 << 20) | 1;
    t.put(0x9000 + 3 * 8, &0x1_2000u64.to_be_bytes());
    t.step().unwrap();
    assert_eq!(t.u64at(0x9000 + 3 * 8), 0x1_2020);
    assert_eq!(t.u64at(0x9000 + 4 * 8), 0x20);
    assert_eq!(t.u64at(0x9000 + 5 * 8), 0);
    assert_eq!(t.mem.purges, (1, 2));
    t.step().unwrap();
    assert_eq!(t.mem.purges, (2, 2));
    // IDTE R2 bits 44-51 must be zero.
    let mut t = T::new(&[asm("IDTE", |i| i.r2 = 4)]);
    t.cpu.gr[4] = 0x1000;
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn compare_and_swap_and_purge() {
    let mut t = T::new(&[rre("CSP", 2, 4), rre("CSP", 2, 4), rre("CSPG", 2, 4)]);
    t.put(0x8000, &0x1111_2222u32.to_be_bytes());
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (0x1111_2222, 0x3333_4444, 0x8003);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 0);
    assert_eq!(&t.mem.mem[0x8000..0x8004], &0x3333_4444u32.to_be_bytes());
    assert_eq!(t.mem.purges, (0, 1));
    // Unequal: R1 gets the current value, no purge.
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.cpu.gr[2] as u32), (1, 0x3333_4444));
    assert_eq!(t.mem.purges, (0, 1));
    t.put(0x8008, &7u64.to_be_bytes());
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (7, 9, 0x800e);
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.u64at(0x8008)), (0, 9));
    assert_eq!(t.mem.purges, (0, 1));
    let mut t = T::new(&[rre("CSP", 3, 4)]);
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn load_real_address_and_test_protection() {
    let lra = asm("LRA", |i| {
        i.r1 = 1;
        i.b2 = 5;
        i.d2 = 0x10;
    });
    let lrag = asm("LRAG", |i| {
        i.r1 = 2;
        i.b2 = 5;
    });
    let tprot = |key: i32| {
        asm("TPROT", |i| {
            i.b1 = 5;
            i.d2 = key << 4;
        })
    };
    let mut t = T::new(&[lra, lrag, tprot(0), tprot(3), tprot(4), tprot(4)]);
    t.cpu.gr[1] = u64::MAX;
    t.step().unwrap();
    assert_eq!((t.cpu.gr[1], t.cpu.cc()), (0xffff_ffff_0000_5010, 0));
    t.step().unwrap();
    assert_eq!((t.cpu.gr[2], t.cpu.cc()), (DATA, 0));
    t.mem.keys[5] = 0x30;
    for cc in [0, 0, 1] {
        t.step().unwrap();
        assert_eq!(t.cpu.cc(), cc);
    }
    t.mem.keys[5] = 0x38; // fetch-protected
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 2);
    // LRA in 64-bit mode with an address above 2 GiB: special operation.
    let mut t = T::new(&[asm("LRA", |i| i.b2 = 5)]);
    t.cpu.gr[5] = 1 << 31;
    assert_eq!(t.step().unwrap_err().code(), 0x13);
}

/// A machine with the DAT outcomes LRA reports as CC 1-3.
struct Dat(VecStorage, LraResult);

impl Storage for Dat {
    fn read(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.0.read(a, b)
    }
    fn write(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
        self.0.write(a, b)
    }
    fn cas(&mut self, a: u64, o: &mut [u8], n: &[u8]) -> Result<bool, Pgm> {
        self.0.cas(a, o, n)
    }
    fn fetch_absolute(&mut self, a: u64) -> Result<u64, Pgm> {
        self.0.fetch_absolute(a)
    }
    fn read_absolute(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.0.read_absolute(a, b)
    }
    fn page_generation(&self, a: u64) -> u64 {
        self.0.page_generation(a)
    }
    fn lra(&mut self, _: u64, _: u32) -> Result<LraResult, Pgm> {
        Ok(self.1)
    }
}

#[test]
fn load_real_address_condition_codes() {
    for (r, cc, want) in [
        (
            LraResult::InvalidSegment(0x7000),
            1,
            0xffff_ffff_0000_7000u64,
        ),
        (LraResult::InvalidPage(0x7800), 2, 0xffff_ffff_0000_7800),
        (LraResult::Exception(0x3b), 3, 0xffff_ffff_8000_003b),
    ] {
        let mut mem = Dat(VecStorage::new(0x10000), r);
        mem.0.store(CODE, &asm("LRA", |i| i.r1 = 1)).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        cpu.psw_mask &= !psw::PROBLEM;
        cpu.psw_addr = CODE;
        cpu.gr[1] = u64::MAX;
        cpu.step(&mut mem).unwrap();
        assert_eq!((cpu.cc(), cpu.gr[1]), (cc, want));
    }
}

#[test]
fn intercepted_instructions_leave_the_psw_at_the_instruction() {
    let sigp = asm("SIGP", |i| {
        i.r1 = 1;
        i.r3 = 2;
        i.d2 = 5;
    });
    let diag = asm("DIAG", |i| i.d2 = 0x501);
    for (code, ipa, ipb) in [
        (sigp, 0xae12u16, 0x0005_0000u32),
        (diag.clone(), 0x8300, 0x0501_0000),
        (at("STSI", 5, 0), 0xb27d, 0x5000_0000),
        (rre("SERVC", 1, 2), 0xb220, 0x0012_0000),
        (at("SSCH", 1, 0), 0xb233, 0x1000_0000),
    ] {
        let mut t = T::new(&[code]);
        assert_eq!(t.step(), Err(Pgm::Intercept { ipa, ipb }));
        assert_eq!(t.cpu.psw_addr, CODE);
        assert_eq!(t.cpu.ilc, 2);
    }
    // Under EXECUTE: the target's bytes (R1's byte ORed in), the PSW at the EX, its ILC.
    let ex = asm("EX", |i| {
        i.r1 = 1;
        i.b2 = 5;
    });
    let mut t = T::new(&[ex]);
    t.put(DATA, &asm("DIAG", |i| i.d2 = 0x501));
    t.cpu.gr[1] = 0x23;
    assert_eq!(
        t.step(),
        Err(Pgm::Intercept {
            ipa: 0x8323,
            ipb: 0x0501_0000
        })
    );
    assert_eq!((t.cpu.psw_addr, t.cpu.ilc), (CODE, 2));
    assert_eq!(Pgm::Intercept { ipa: 1, ipb: 0 }.code(), 0);
    let _ = diag;
}

#[test]
fn supervisor_call() {
    let mut t = T::new(&[vec![0x0a, 0x2a]]);
    t.cpu.psw_mask |= psw::PROBLEM;
    assert_eq!(t.step(), Err(Pgm::SupervisorCall { number: 42 }));
    assert_eq!((t.cpu.psw_addr, t.cpu.ilc), (CODE + 2, 1));
    assert!(Pgm::SupervisorCall { number: 0 }.completes());
    // Under EXECUTE the number is ORed with R1's byte.
    let mut t = T::new(&[asm("EX", |i| {
        i.r1 = 1;
        i.b2 = 5;
    })]);
    t.put(DATA, &[0x0a, 0x01]);
    t.cpu.gr[1] = 0x10;
    assert_eq!(t.step(), Err(Pgm::SupervisorCall { number: 0x11 }));
    assert_eq!((t.cpu.psw_addr, t.cpu.ilc), (CODE + 4, 2));
}

/// Only the required methods: every machine method takes its default.
struct Bare(VecStorage);

impl Storage for Bare {
    fn read(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.0.read(a, b)
    }
    fn write(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
        self.0.write(a, b)
    }
    fn cas(&mut self, a: u64, o: &mut [u8], n: &[u8]) -> Result<bool, Pgm> {
        self.0.cas(a, o, n)
    }
    fn fetch_absolute(&mut self, a: u64) -> Result<u64, Pgm> {
        self.0.fetch_absolute(a)
    }
    fn read_absolute(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.0.read_absolute(a, b)
    }
    fn page_generation(&self, a: u64) -> u64 {
        self.0.page_generation(a)
    }
}

#[test]
fn a_machine_without_the_methods_intercepts() {
    for code in [
        at("STCK", 5, 0),
        at("SPT", 5, 0),
        rre("ISKE", 1, 2),
        rre("TB", 0, 2),
        at("STFL", 0, 0),
        asm("TPROT", |i| i.b1 = 5),
    ] {
        let mut mem = Bare(VecStorage::new(0x10000));
        mem.0.store(CODE, &code).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        cpu.psw_mask &= !psw::PROBLEM;
        cpu.psw_addr = CODE;
        cpu.gr[5] = DATA;
        let want = Pgm::Intercept {
            ipa: u16::from_be_bytes([code[0], code[1]]),
            ipb: u32::from_be_bytes([code[2], code[3], 0, 0])
                | code.get(4).map_or(0, |&b| u32::from(b) << 8)
                | code.get(5).map_or(0, |&b| u32::from(b)),
        };
        assert_eq!(cpu.step(&mut mem), Err(want), "{code:02x?}");
        assert_eq!(cpu.psw_addr, CODE);
    }
    // Storage the machine does not track is untouched, and the plain default answers.
    let mut bare = Bare(VecStorage::new(0x1000));
    assert_eq!(bare.write_absolute(0, &[1]), Err(INTERCEPT));
    assert_eq!(bare.facility_list(), None);
    bare.purge_tlb(true);
}

#[test]
fn stfle_answers_the_machines_facility_list() {
    struct Model(VecStorage, [u64; 3]);
    impl Storage for Model {
        fn read(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
            self.0.read(a, b)
        }
        fn write(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
            self.0.write(a, b)
        }
        fn cas(&mut self, a: u64, o: &mut [u8], n: &[u8]) -> Result<bool, Pgm> {
            self.0.cas(a, o, n)
        }
        fn fetch_absolute(&mut self, a: u64) -> Result<u64, Pgm> {
            self.0.fetch_absolute(a)
        }
        fn read_absolute(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
            self.0.read_absolute(a, b)
        }
        fn page_generation(&self, a: u64) -> u64 {
            self.0.page_generation(a)
        }
        fn write_absolute(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
            self.0.write(a, b)
        }
        fn facility_list(&self) -> Option<&[u64]> {
            Some(&self.1)
        }
    }
    let mut mem = Model(
        VecStorage::new(0x10000),
        [0xf000_0001_0000_0000, 0, 1 << 60],
    );
    mem.0
        .store(CODE, &[at("STFLE", 5, 0), at("STFL", 0, 0)].concat())
        .unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.psw_mask &= !psw::PROBLEM;
    cpu.psw_addr = CODE;
    cpu.gr[5] = DATA;
    cpu.gr[0] = 0;
    cpu.step(&mut mem).unwrap();
    // Three doublewords needed, one allowed: CC 3, R0 = 2.
    assert_eq!((cpu.cc(), cpu.gr[0]), (3, 2));
    assert_eq!(
        &mem.0.mem[DATA as usize..DATA as usize + 8],
        &0xf000_0001_0000_0000u64.to_be_bytes()
    );
    cpu.step(&mut mem).unwrap();
    assert_eq!(&mem.0.mem[200..204], &[0xf0, 0, 0, 1]);
}

/// A machine that records MVCOS's operand accesses: (store, space, access register, key,
/// address, length), and the access register's contents each was given.
struct Spaces {
    mem: VecStorage,
    calls: Vec<(bool, u8, u8, u8, u64, usize)>,
    alets: Vec<u32>,
}

impl Storage for Spaces {
    fn read(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.mem.read(a, b)
    }
    fn write(&mut self, a: u64, b: &[u8]) -> Result<(), Pgm> {
        self.mem.write(a, b)
    }
    fn cas(&mut self, a: u64, o: &mut [u8], n: &[u8]) -> Result<bool, Pgm> {
        self.mem.cas(a, o, n)
    }
    fn fetch_absolute(&mut self, a: u64) -> Result<u64, Pgm> {
        self.mem.fetch_absolute(a)
    }
    fn read_absolute(&mut self, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.mem.read_absolute(a, b)
    }
    fn read_in(&mut self, how: OperandAccess, a: u64, b: &mut [u8]) -> Result<(), Pgm> {
        self.calls
            .push((false, how.space, how.ar, how.key, a, b.len()));
        self.alets.push(how.alet);
        self.mem.read(a, b)
    }
    fn write_in(&mut self, how: OperandAccess, a: u64, b: &[u8]) -> Result<(), Pgm> {
        self.calls
            .push((true, how.space, how.ar, how.key, a, b.len()));
        self.alets.push(how.alet);
        self.mem.write(a, b)
    }
}

/// MVCOS 0(R4),0(R5),R6 with GR0 = `r0`, GR6 = `len`, under `mask` (DAT on unless cleared)
/// with CR0's secondary-space control and CR3's PSW-key mask for keys 0-7.
fn mvcos(r0: u64, len: u64, mask: u64) -> (Result<(), Pgm>, Cpu, Spaces) {
    let code = asm("MVCOS", |i| {
        i.b1 = 4;
        i.b2 = 5;
        i.r3 = 6;
    });
    let mut mem = Spaces {
        mem: VecStorage::new(0x10000),
        calls: Vec::new(),
        alets: Vec::new(),
    };
    mem.mem.store(CODE, &code).unwrap();
    mem.mem.store(DATA, &[0x5a; 0x1800]).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.psw_mask = mask;
    cpu.psw_addr = CODE;
    cpu.cr[0] |= psw::CR0_SECONDARY;
    cpu.cr[3] = 0xff00 << 16;
    (cpu.gr[0], cpu.gr[4], cpu.gr[5], cpu.gr[6]) = (r0, 0x8000, DATA, len);
    (cpu.ar[4], cpu.ar[5]) = (0x44, 0x55);
    let r = cpu.step(&mut mem);
    (r, cpu, mem)
}

#[test]
fn move_with_optional_specifications() {
    let sup = (psw::EA | psw::BA | psw::DAT) | 2 << psw::KEY_SHIFT | 2 << psw::AS_SHIFT;
    // OAC1: key 3 (K), home space (A); OAC2: key 9 without K (the PSW's key 2), primary
    // with A. The source is fetched whole before the target is stored.
    let (r, cpu, mem) = mvcos(0x30c3 << 16 | 0x9001, 0x123, sup);
    assert_eq!(r, Ok(()));
    assert_eq!(cpu.cc(), 0);
    assert_eq!(
        mem.calls,
        [
            (false, 0, 5, 2, DATA, 0x123),
            (true, 3, 4, 3, 0x8000, 0x123)
        ]
    );
    assert_eq!(mem.mem.mem[0x8000..0x8123], [0x5a; 0x123]);
    assert_eq!(mem.mem.mem[0x8123], 0);
    // No validity bits: the PSW's key and space for both; more than 4096: 4096 and CC 3.
    let (r, cpu, mem) = mvcos(0xf0c0_f0c0, 0x1001, sup);
    assert_eq!((r, cpu.cc()), (Ok(()), 3));
    assert_eq!(
        mem.calls,
        [(false, 2, 5, 2, DATA, 4096), (true, 2, 4, 2, 0x8000, 4096)]
    );
    // Access-register mode names the operand's base register and passes its current
    // contents (CPU ARs 4 and 5 are 0x44 and 0x55 here); zero length moves nothing.
    let (r, _, mem) = mvcos(0x0041 << 16 | 0x0041, 8, sup);
    assert_eq!(r, Ok(()));
    assert_eq!(
        mem.calls,
        [(false, 1, 5, 2, DATA, 8), (true, 1, 4, 2, 0x8000, 8)]
    );
    assert_eq!(mem.alets, [0x55, 0x44]);
    let (r, cpu, mem) = mvcos(0x0041 << 16 | 0x0041, 0, sup);
    assert_eq!((r, cpu.cc(), mem.calls.len()), (Ok(()), 0, 0));
    // In 31-bit mode the length is R3's bits 32-63.
    let (r, cpu, mem) = mvcos(0, 0xffff_ffff_0000_0010, sup & !psw::EA);
    assert_eq!((r, cpu.cc(), mem.calls[0].5), (Ok(()), 0, 0x10));
    // DAT off: special operation.
    let special = Pgm::Other {
        code: 0x13,
        teid: 0,
    };
    assert_eq!(mvcos(0, 8, sup & !psw::DAT).0, Err(special));
    // Home space for the first operand in the problem state: special operation; for the
    // second operand it is allowed.
    let prob = sup | psw::PROBLEM;
    assert_eq!(mvcos(0x00c1 << 16, 8, prob).0, Err(special));
    assert_eq!(mvcos(0x00c1, 8, prob).0, Ok(()));
    // A secondary space (named or the PSW's) without CR0's secondary-space control.
    for (r0, mask) in [(0x0081u64, sup & !(3 << psw::AS_SHIFT)), (0, sup)] {
        let code = asm("MVCOS", |i| i.r3 = 6);
        let mut mem = VecStorage::new(0x10000);
        mem.store(CODE, &code).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        (cpu.psw_mask, cpu.psw_addr, cpu.gr[0], cpu.gr[6]) = (mask, CODE, r0, 8);
        assert_eq!(cpu.step(&mut mem), Err(special), "{r0:#x}");
    }
    // The problem state: a key the PSW-key mask does not permit (8, or the PSW's 9) is a
    // privileged-operation exception; permitted keys move.
    assert_eq!(
        mvcos(0x8002 << 16, 8, prob).0,
        Err(Pgm::PrivilegedOperation)
    );
    assert_eq!(
        mvcos(0, 8, prob | 9 << psw::KEY_SHIFT).0,
        Err(Pgm::PrivilegedOperation)
    );
    assert_eq!(mvcos(0x7002 << 16 | 0x1002, 8, prob).0, Ok(()));
}

/// `code` with GR0/1 = r01, R4 = 0x8000 (target), R5 = DATA (source), R6 = length, R7 = key
/// register, under `mask`, on the recording machine (CR0 secondary-space control on, CR3's
/// PSW-key mask for keys 0-7).
fn keyed_move(
    code: Vec<u8>,
    r01: (u64, u64),
    len: u64,
    key: u64,
    mask: u64,
) -> (Result<(), Pgm>, Cpu, Spaces) {
    let mut mem = Spaces {
        mem: VecStorage::new(0x10000),
        calls: Vec::new(),
        alets: Vec::new(),
    };
    mem.mem.store(CODE, &code).unwrap();
    mem.mem.store(DATA, &[0x5a; 0x200]).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    (cpu.psw_mask, cpu.psw_addr) = (mask, CODE);
    cpu.cr[0] |= psw::CR0_SECONDARY;
    cpu.cr[3] = 0xff00 << 16;
    (cpu.gr[0], cpu.gr[1]) = r01;
    (cpu.gr[4], cpu.gr[5], cpu.gr[6], cpu.gr[7]) = (0x8000, DATA, len, key);
    let r = cpu.step(&mut mem);
    (r, cpu, mem)
}

#[test]
fn moves_with_keys_and_between_spaces() {
    let ssd = |m: &str| {
        asm(m, |i| {
            (i.r1, i.r3, i.b1, i.b2) = (6, 7, 4, 5);
        })
    };
    let sse = |m: &str| {
        asm(m, |i| {
            (i.b1, i.b2) = (4, 5);
        })
    };
    let sup = (psw::EA | psw::BA | psw::DAT) | 2 << psw::KEY_SHIFT;
    let prob = sup | psw::PROBLEM;
    // MVCP: secondary source with R3's key, primary target with the PSW key; CC 0.
    let (r, cpu, mem) = keyed_move(ssd("MVCP"), (0, 0), 0x40, 0x30, sup);
    assert_eq!((r, cpu.cc()), (Ok(()), 0));
    assert_eq!(
        mem.calls,
        [(false, 2, 5, 3, DATA, 0x40), (true, 0, 4, 2, 0x8000, 0x40)]
    );
    assert_eq!(
        mem.mem.mem[0x8000..0x8041],
        [[0x5a; 0x40].as_slice(), &[0]].concat()
    );
    // MVCS: the other way round; more than 256 moves 256 with CC 3.
    let (r, cpu, mem) = keyed_move(ssd("MVCS"), (0, 0), 0x101, 0x30, sup);
    assert_eq!((r, cpu.cc()), (Ok(()), 3));
    assert_eq!(
        mem.calls,
        [(false, 0, 5, 2, DATA, 256), (true, 2, 4, 3, 0x8000, 256)]
    );
    // Special operation: DAT off, access-register or home-space mode, no secondary control.
    let special = Pgm::Other {
        code: 0x13,
        teid: 0,
    };
    for mask in [
        sup & !psw::DAT,
        sup | 1 << psw::AS_SHIFT,
        sup | 3 << psw::AS_SHIFT,
    ] {
        assert_eq!(keyed_move(ssd("MVCP"), (0, 0), 8, 0, mask).0, Err(special));
    }
    let code = ssd("MVCS");
    let mut mem = VecStorage::new(0x10000);
    mem.store(CODE, &code).unwrap();
    let mut cpu = Cpu::new(Facilities::z196());
    (cpu.psw_mask, cpu.psw_addr) = (sup, CODE);
    assert_eq!(cpu.step(&mut mem), Err(special));
    // The problem state: R3's key 8 is not in the PSW-key mask.
    assert_eq!(
        keyed_move(ssd("MVCP"), (0, 0), 8, 0x80, prob).0,
        Err(Pgm::PrivilegedOperation)
    );
    assert_eq!(keyed_move(ssd("MVCP"), (0, 0), 8, 0x70, prob).0, Ok(()));
    // MVCK: the source with R3's key, both in the PSW's space (secondary here); length 0
    // moves nothing.
    let sec = sup | 2 << psw::AS_SHIFT;
    let (r, cpu, mem) = keyed_move(ssd("MVCK"), (0, 0), 0x10, 0x60, sec);
    assert_eq!((r, cpu.cc()), (Ok(()), 0));
    assert_eq!(
        mem.calls,
        [(false, 2, 5, 6, DATA, 0x10), (true, 2, 4, 2, 0x8000, 0x10)]
    );
    let (r, _, mem) = keyed_move(ssd("MVCK"), (0, 0), 0, 0x60, sec);
    assert_eq!((r, mem.calls.len()), (Ok(()), 0));
    assert_eq!(
        keyed_move(ssd("MVCK"), (0, 0), 8, 0x90, prob).0,
        Err(Pgm::PrivilegedOperation)
    );
    // MVCSK / MVCDK: GR0 bits 56-63 + 1 bytes, GR1's key for the source / the target; the
    // condition code stays.
    let (r, cpu, mem) = keyed_move(sse("MVCSK"), (0x1_0000_0007, 0x50), 0, 0, sup | 1 << 44);
    assert_eq!((r, cpu.cc()), (Ok(()), 1));
    assert_eq!(
        mem.calls,
        [(false, 0, 5, 5, DATA, 8), (true, 0, 4, 2, 0x8000, 8)]
    );
    let (r, _, mem) = keyed_move(sse("MVCDK"), (0xff, 0x50), 0, 0, sup);
    assert_eq!(r, Ok(()));
    assert_eq!(
        mem.calls,
        [(false, 0, 5, 2, DATA, 256), (true, 0, 4, 5, 0x8000, 256)]
    );
    assert_eq!(
        keyed_move(sse("MVCDK"), (0, 0xf0), 0, 0, prob).0,
        Err(Pgm::PrivilegedOperation)
    );
}
