//! Unit tests per instruction class: condition codes, program interruptions, edge values,
//! and the places where qemu-s390x 7.2 (the differential reference) departs from the
//! Principles of Operation.

use super::insn::{by_mnemonic, decode, encode, insn_len, Insn, INSNS};
use super::*;

const CODE: u64 = 0x1000;
const DATA: u64 = 0x2000;

/// Assemble one instruction of `mnemonic` with fields set by `f`.
fn asm(mnemonic: &str, f: impl FnOnce(&mut Insn)) -> Vec<u8> {
    let d = by_mnemonic(mnemonic).unwrap();
    let mut i = Insn::blank(d);
    f(&mut i);
    encode(&i)[..usize::from(i.len)].to_vec()
}

struct T {
    cpu: Cpu,
    mem: VecStorage,
}

impl T {
    fn new(code: &[Vec<u8>]) -> T {
        let mut mem = VecStorage::new(0x10000);
        let bytes: Vec<u8> = code.concat();
        mem.store(CODE, &bytes).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        cpu.psw_addr = CODE;
        T { cpu, mem }
    }
    fn step(&mut self) -> Result<(), Pgm> {
        self.cpu.step(&mut self.mem)
    }
    fn run(&mut self, n: usize) -> Result<(), Pgm> {
        for _ in 0..n {
            self.step()?;
        }
        Ok(())
    }
}

fn rr(m: &str, r1: u8, r2: u8) -> Vec<u8> {
    asm(m, |i| {
        i.r1 = r1;
        i.r2 = r2;
    })
}

#[test]
fn length_from_the_first_two_bits_and_every_row_round_trips() {
    assert_eq!(
        (
            insn_len(0x18),
            insn_len(0x58),
            insn_len(0xa7),
            insn_len(0xe3)
        ),
        (2, 4, 4, 6)
    );
    for d in INSNS {
        let i = Insn::blank(d);
        let b = encode(&i);
        let raw = b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
        let back = decode(raw).unwrap();
        assert_eq!(back.def.mnemonic, d.mnemonic);
        assert_eq!(back.len, i.len);
    }
    // A long displacement is 20-bit signed.
    let b = asm("LG", |i| {
        i.r1 = 1;
        i.b2 = 2;
        i.d2 = -8;
    });
    let raw = b.iter().fold(0u64, |a, &x| a << 8 | u64::from(x));
    assert_eq!(decode(raw).unwrap().d2, -8);
}

#[test]
fn unassigned_opcode_and_missing_facility_are_operation_exceptions() {
    let mut t = T::new(&[vec![0x00, 0x00, 0, 0]]);
    assert_eq!(t.step(), Err(Pgm::Operation));
    assert_eq!((t.cpu.ilc, t.cpu.psw_addr), (1, CODE + 2));
    // ARK (z196) on a z10.
    let mut t = T::new(&[asm("ARK", |i| i.r1 = 1)]);
    t.cpu.facilities = Facilities::z10();
    assert_eq!(t.step(), Err(Pgm::Operation));
    assert_eq!((t.cpu.ilc, t.cpu.psw_addr), (2, CODE + 4));
}

#[test]
fn add_condition_codes_and_fixed_point_overflow() {
    let mut t = T::new(&[rr("AR", 1, 2), rr("AR", 1, 2)]);
    t.cpu.gr[1] = 0x1234_5678_7fff_fffe;
    t.cpu.gr[2] = 1;
    t.step().unwrap();
    assert_eq!((t.cpu.gr[1], t.cpu.cc()), (0x1234_5678_7fff_ffff, 2));
    // Overflow: result stored, CC 3, interruption only with the mask bit.
    t.cpu.set_program_mask(8);
    assert_eq!(t.step(), Err(Pgm::FixedPointOverflow));
    assert_eq!(
        (t.cpu.gr[1], t.cpu.cc(), t.cpu.psw_addr),
        (0x1234_5678_8000_0000, 3, CODE + 4)
    );
    assert!(Pgm::FixedPointOverflow.completes());
    let mut t = T::new(&[rr("AGR", 1, 2)]);
    t.cpu.gr[1] = i64::MAX as u64;
    t.cpu.gr[2] = 1;
    t.step().unwrap();
    assert_eq!((t.cpu.gr[1], t.cpu.cc()), (1 << 63, 3));
}

#[test]
fn logical_add_subtract_carry_chain() {
    // ALGR then ALCGR: 128-bit add of (1, MAX) + (0, 1).
    let mut t = T::new(&[rr("ALGR", 3, 5), rr("ALCGR", 2, 4)]);
    t.cpu.gr[2] = 1;
    t.cpu.gr[3] = u64::MAX;
    t.cpu.gr[4] = 0;
    t.cpu.gr[5] = 1;
    t.step().unwrap();
    assert_eq!((t.cpu.gr[3], t.cpu.cc()), (0, 2)); // zero, carry
    t.step().unwrap();
    assert_eq!((t.cpu.gr[2], t.cpu.cc()), (2, 1)); // nonzero, no carry
                                                   // SLR: equal operands give 2 (zero, no borrow); smaller minus larger gives 1.
    let mut t = T::new(&[rr("SLR", 1, 2), rr("SLR", 3, 4)]);
    (t.cpu.gr[1], t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (5, 5, 1, 2);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 2);
    t.step().unwrap();
    assert_eq!((t.cpu.r32(3), t.cpu.cc()), (u32::MAX, 1));
}

#[test]
fn divide_exceptions_leave_the_operands() {
    let mut t = T::new(&[rr("DR", 2, 4)]);
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (0, 7, 0);
    assert_eq!(t.step(), Err(Pgm::FixedPointDivide));
    assert_eq!((t.cpu.gr[2], t.cpu.gr[3]), (0, 7));
    // Quotient too large for 32 bits.
    let mut t = T::new(&[rr("DR", 2, 4)]);
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (1, 0, 1);
    assert_eq!(t.step(), Err(Pgm::FixedPointDivide));
    // Odd R1.
    let mut t = T::new(&[rr("DR", 3, 4)]);
    assert_eq!(t.step(), Err(Pgm::Specification));
    // DSGR MIN / -1.
    let mut t = T::new(&[rr("DSGR", 2, 4)]);
    (t.cpu.gr[3], t.cpu.gr[4]) = (i64::MIN as u64, u64::MAX);
    assert_eq!(t.step(), Err(Pgm::FixedPointDivide));
    // DLGR: remainder in R1, quotient in R1+1.
    let mut t = T::new(&[rr("DLGR", 2, 4)]);
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (1, 5, 2);
    t.step().unwrap();
    assert_eq!((t.cpu.gr[2], t.cpu.gr[3]), (1, (1u64 << 63) + 2));
}

#[test]
fn compare_and_trap_is_a_data_exception_with_dxc_ff() {
    let mut t = T::new(&[asm("CIT", |i| {
        i.r1 = 1;
        i.i2 = 5;
        i.m3 = 8;
    })]);
    t.cpu.gr[1] = 5;
    assert_eq!(t.step(), Err(Pgm::Data { dxc: 0xff }));
    assert_eq!((t.cpu.fpc >> 8) & 0xff, 0xff);
    let mut t = T::new(&[asm("CGIJ", |i| {
        i.r1 = 1;
        i.m3 = 4; // low
        i.i2 = 0;
        i.ri = 10;
    })]);
    t.cpu.gr[1] = u64::MAX;
    t.step().unwrap();
    assert_eq!(t.cpu.psw_addr, CODE + 20);
}

#[test]
fn execute_modifies_length_and_refuses_execute_targets() {
    // EX 1,0(3) with target MVC 0(1,4),0(5) at DATA: length from R1 = 7 -> 8 bytes.
    let mvc = asm("MVC", |i| {
        i.b1 = 4;
        i.b2 = 5;
    });
    let mut t = T::new(&[asm("EX", |i| {
        i.r1 = 1;
        i.b2 = 3;
    })]);
    t.mem.store(DATA, &mvc).unwrap();
    t.mem.store(DATA + 0x100, &[9; 16]).unwrap();
    (t.cpu.gr[1], t.cpu.gr[3], t.cpu.gr[4], t.cpu.gr[5]) = (7, DATA, DATA + 0x200, DATA + 0x100);
    t.step().unwrap();
    let mut b = [0u8; 9];
    t.mem.read(DATA + 0x200, &mut b).unwrap();
    assert_eq!(b, [9, 9, 9, 9, 9, 9, 9, 9, 0]);
    assert_eq!(t.cpu.psw_addr, CODE + 4);
    // EX of EX.
    let ex = asm("EX", |_| {});
    let mut t = T::new(&[asm("EX", |i| i.b2 = 3)]);
    t.mem.store(DATA, &ex).unwrap();
    t.cpu.gr[3] = DATA;
    assert_eq!(t.step(), Err(Pgm::Execute));
    // Odd target (qemu 7.2 does not check this).
    t.cpu.psw_addr = CODE;
    t.cpu.gr[3] = DATA + 1;
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn relative_long_operands_must_be_aligned() {
    // LGRL to an address that is 4 but not 8 aligned (qemu 7.2 does not check).
    let mut t = T::new(&[asm("LGRL", |i| {
        i.r1 = 1;
        i.ri = 0x802;
    })]);
    assert_eq!(t.step(), Err(Pgm::Specification));
    let mut t = T::new(&[asm("LGRL", |i| {
        i.r1 = 1;
        i.ri = 0x800;
    })]);
    t.mem
        .store(DATA, &0x1122_3344_5566_7788u64.to_be_bytes())
        .unwrap();
    t.step().unwrap();
    assert_eq!(t.cpu.gr[1], 0x1122_3344_5566_7788);
}

#[test]
fn store_multiple_high_stores_bits_0_to_31() {
    // qemu 7.2 stores zeros here (op_stmh shifts left).
    let mut t = T::new(&[asm("STMH", |i| {
        i.r1 = 1;
        i.r3 = 2;
        i.b2 = 3;
    })]);
    (t.cpu.gr[1], t.cpu.gr[2], t.cpu.gr[3]) = (0xaabb_ccdd_0000_0001, 0x1122_3344_ffff_ffff, DATA);
    t.step().unwrap();
    let mut b = [0u8; 8];
    t.mem.read(DATA, &mut b).unwrap();
    assert_eq!(b, [0xaa, 0xbb, 0xcc, 0xdd, 0x11, 0x22, 0x33, 0x44]);
}

#[test]
fn rotate_then_select_bits() {
    // RISBG 1,2,40,63+Z,8: r1 = (r2 rotl 8) bits 40-63, rest zero.
    let mut t = T::new(&[asm("RISBG", |i| {
        i.r1 = 1;
        i.r2 = 2;
        i.i3 = 40;
        i.i4 = 0x80 | 63;
        i.i5 = 8;
    })]);
    (t.cpu.gr[1], t.cpu.gr[2]) = (u64::MAX, 0x0011_2233_4455_6677);
    t.step().unwrap();
    assert_eq!((t.cpu.gr[1], t.cpu.cc()), (0x66_7700, 2));
    // RNSBG with the test bit: R1 unchanged, CC from the selected bits (qemu 7.2 gets the
    // CC wrong here).
    let mut t = T::new(&[asm("RNSBG", |i| {
        i.r1 = 1;
        i.r2 = 2;
        i.i3 = 0x80 | 56;
        i.i4 = 63;
    })]);
    (t.cpu.gr[1], t.cpu.gr[2]) = (0xff, 0x01);
    t.step().unwrap();
    assert_eq!((t.cpu.gr[1], t.cpu.cc()), (0xff, 1));
}

#[test]
fn shifts_arithmetic_overflow_and_pairs() {
    let mut t = T::new(&[asm("SLA", |i| {
        i.r1 = 1;
        i.d2 = 1;
    })]);
    t.cpu.gr[1] = 0x4000_0000;
    t.step().unwrap();
    assert_eq!((t.cpu.r32(1), t.cpu.cc()), (0, 3)); // sign kept, overflow
    let mut t = T::new(&[asm("SRDA", |i| {
        i.r1 = 2;
        i.d2 = 36;
    })]);
    (t.cpu.gr[2], t.cpu.gr[3]) = (0x8000_0000, 0);
    t.step().unwrap();
    assert_eq!(
        (t.cpu.r32(2), t.cpu.r32(3), t.cpu.cc()),
        (u32::MAX, 0xf800_0000, 1)
    );
    let mut t = T::new(&[asm("SLDL", |i| i.r1 = 1)]);
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn compare_and_swap_and_its_alignment() {
    let mut t = T::new(&[asm("CS", |i| {
        i.r1 = 1;
        i.r3 = 2;
        i.b2 = 4;
    })]);
    t.mem.store(DATA, &5u32.to_be_bytes()).unwrap();
    (t.cpu.gr[1], t.cpu.gr[2], t.cpu.gr[4]) = (5, 9, DATA);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 0);
    t.cpu.psw_addr = CODE;
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.cpu.r32(1)), (1, 9));
    t.cpu.psw_addr = CODE;
    t.cpu.gr[4] = DATA + 2;
    assert_eq!(t.step(), Err(Pgm::Specification));
    // CDSG with an odd R1 (qemu 7.2 accepts it).
    let mut t = T::new(&[asm("CDSG", |i| {
        i.r1 = 3;
        i.r3 = 4;
        i.b2 = 5;
    })]);
    t.cpu.gr[5] = DATA;
    assert_eq!(t.step(), Err(Pgm::Specification));
}

/// CSST at CODE: first operand 0(R4), second operand 0(R5), R3 = 6.
fn csst_case(fc: u64, sc: u64) -> T {
    let mut t = T::new(&[asm("CSST", |i| {
        i.r3 = 6;
        i.b1 = 4;
        i.b2 = 5;
    })]);
    // The parameter list at DATA + 0x100 (GR1's rightmost four bits are ignored).
    let mut pl = [0u8; 32];
    for (k, b) in pl.iter_mut().enumerate() {
        *b = 0xa0 + k as u8;
    }
    t.mem.store(DATA + 0x100, &pl).unwrap();
    t.mem.store(DATA, &[0x11; 16]).unwrap();
    t.mem.store(DATA + 0x40, &[0x22; 16]).unwrap();
    t.cpu.gr[0] = 0xffff_ffff_ffff_0000 | sc << 8 | fc;
    (t.cpu.gr[1], t.cpu.gr[4], t.cpu.gr[5]) = (DATA + 0x10f, DATA, DATA + 0x40);
    (t.cpu.gr[6], t.cpu.gr[7]) = (0x1111_1111_1111_1111, 0x1111_1111_1111_1111);
    t
}

fn bytes(t: &mut T, a: u64, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    t.mem.read(a, &mut b).unwrap();
    b
}

#[test]
fn compare_and_swap_and_store() {
    // Equal, 8-byte swap and 4-byte store: the swap value from the list's bytes 0-7, the
    // store value from bytes 16-19; CC 0.
    let mut t = csst_case(1, 2);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 0);
    let pl: Vec<u8> = (0..32).map(|k| 0xa0 + k).collect();
    assert_eq!(bytes(&mut t, DATA, 16)[..8], pl[..8]);
    assert_eq!(bytes(&mut t, DATA, 16)[8..], [0x11; 8]);
    assert_eq!(bytes(&mut t, DATA + 0x40, 8)[..4], pl[16..20]);
    assert_eq!(bytes(&mut t, DATA + 0x40, 8)[4..], [0x22; 4]);
    // Unequal: R3 gets the first operand, nothing is stored, CC 1.
    let mut t = csst_case(0, 0);
    t.cpu.gr[6] = 0x5555_5555_1111_1112;
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.cpu.gr[6]), (1, 0x5555_5555_1111_1111));
    assert_eq!(bytes(&mut t, DATA, 4), [0x11; 4]);
    assert_eq!(bytes(&mut t, DATA + 0x40, 1), [0x22]);
    // 16-byte swap and 16-byte store (facility 33): R3 and R3 + 1 compared.
    let mut t = csst_case(2, 4);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 0);
    assert_eq!(bytes(&mut t, DATA, 16), pl[..16]);
    assert_eq!(bytes(&mut t, DATA + 0x40, 16), pl[16..]);
    let mut t = csst_case(2, 3);
    t.cpu.gr[7] = 0;
    t.step().unwrap();
    assert_eq!(
        (t.cpu.cc(), t.cpu.gr[6], t.cpu.gr[7]),
        (1, 0x1111_1111_1111_1111, 0x1111_1111_1111_1111)
    );
    // Specification: function code 3, store characteristic 5, an odd R3 for the 16-byte
    // swap, a misaligned first or second operand; nothing changes.
    for (fc, sc, r4, r5) in [
        (3, 0, DATA, DATA + 0x40),
        (0, 5, DATA, DATA + 0x40),
        (1, 0, DATA + 4, DATA + 0x40),
        (0, 3, DATA, DATA + 0x44),
        (2, 0, DATA + 8, DATA + 0x40),
    ] {
        let mut t = csst_case(fc, sc);
        (t.cpu.gr[4], t.cpu.gr[5]) = (r4, r5);
        assert_eq!(t.step(), Err(Pgm::Specification), "fc {fc} sc {sc}");
        assert_eq!(bytes(&mut t, DATA, 16), [0x11; 16]);
    }
    let mut t = T::new(&[asm("CSST", |i| {
        i.r3 = 7;
        i.b1 = 4;
        i.b2 = 5;
    })]);
    (t.cpu.gr[0], t.cpu.gr[4], t.cpu.gr[5]) = (2, DATA, DATA + 0x40);
    assert_eq!(t.step(), Err(Pgm::Specification));
    // Without facility 33 function code 2 and store characteristic 4 are reserved.
    for (fc, sc) in [(2, 0), (0, 4)] {
        let mut t = csst_case(fc, sc);
        t.cpu.facilities.0[0] &= !(1u64 << (63 - 33));
        assert_eq!(t.step(), Err(Pgm::Specification));
    }
    // A store operand outside storage: addressing, and the first operand unchanged.
    let mut t = csst_case(1, 3);
    t.cpu.gr[5] = 0x10_0000;
    assert_eq!(t.step(), Err(Pgm::Addressing));
    assert_eq!(bytes(&mut t, DATA, 8), [0x11; 8]);
}

#[test]
fn strings_and_long_moves() {
    // CLST with reserved bits of R0 set.
    let mut t = T::new(&[rr("CLST", 2, 4)]);
    t.cpu.gr[0] = 0x100;
    assert_eq!(t.step(), Err(Pgm::Specification));
    // MVST stops at a page end with CC 3 and resumes.
    let mut t = T::new(&[rr("MVST", 2, 4), rr("MVST", 2, 4)]);
    t.mem.store(DATA + 0xffe, b"abcd\0").unwrap();
    (t.cpu.gr[2], t.cpu.gr[4]) = (0x4000, DATA + 0xffe);
    t.step().unwrap();
    assert_eq!(
        (t.cpu.cc(), t.cpu.gr[2], t.cpu.gr[4]),
        (3, 0x4002, DATA + 0x1000)
    );
    t.step().unwrap();
    assert_eq!((t.cpu.cc(), t.cpu.gr[2]), (1, 0x4004));
    // MVCLE with padding.
    let mut t = T::new(&[asm("MVCLE", |i| {
        i.r1 = 2;
        i.r3 = 4;
        i.d2 = 0x5a;
    })]);
    t.mem.store(DATA, b"xy").unwrap();
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4], t.cpu.gr[5]) = (0x4000, 4, DATA, 2);
    t.step().unwrap();
    let mut b = [0u8; 4];
    t.mem.read(0x4000, &mut b).unwrap();
    assert_eq!(
        (&b, t.cpu.cc(), t.cpu.gr[3], t.cpu.gr[5]),
        (b"xyZZ", 2, 0, 0)
    );
    // CLCLE against the pad.
    let mut t = T::new(&[asm("CLCLE", |i| {
        i.r1 = 2;
        i.r3 = 4;
        i.d2 = 0x20;
    })]);
    t.mem.store(DATA, b"ab  ").unwrap();
    t.mem.store(0x4000, b"ab").unwrap();
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4], t.cpu.gr[5]) = (DATA, 4, 0x4000, 2);
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 0);
}

#[test]
fn addresses_follow_the_addressing_mode() {
    // LARL at or above 2 GiB stays positive in 64-bit mode (qemu 7.2 sign-extends).
    let mut t = T::new(&[asm("LARL", |i| {
        i.r1 = 1;
        i.ri = 0x4000_0000;
    })]);
    t.step().unwrap();
    assert_eq!(t.cpu.gr[1], CODE + 0x8000_0000);
    // 31-bit: LA keeps bits 0-31, BASR sets bit 32 of the link.
    let mut t = T::new(&[
        asm("LA", |i| {
            i.r1 = 1;
            i.b2 = 2;
            i.d2 = 1;
        }),
        rr("BASR", 3, 0),
    ]);
    t.cpu.psw_mask &= !psw::EA;
    (t.cpu.gr[1], t.cpu.gr[2], t.cpu.gr[3]) = (0xdead_0000_0000_0000, 0x7fff_ffff, 0);
    t.run(2).unwrap();
    assert_eq!(t.cpu.gr[1], 0xdead_0000_0000_0000);
    assert_eq!(t.cpu.gr[3], 0x8000_0000 | (CODE + 6));
}

#[test]
fn insert_and_test_under_mask() {
    let mut t = T::new(&[asm("ICM", |i| {
        i.r1 = 1;
        i.m3 = 0b1010;
        i.b2 = 2;
    })]);
    t.mem.store(DATA, &[0x80, 0x01]).unwrap();
    (t.cpu.gr[1], t.cpu.gr[2]) = (0xffff_ffff, DATA);
    t.step().unwrap();
    assert_eq!((t.cpu.r32(1), t.cpu.cc()), (0x80ff_01ff, 1));
    let mut t = T::new(&[asm("TMLL", |i| {
        i.r1 = 1;
        i.i2 = 0x8001;
    })]);
    t.cpu.gr[1] = 0x8000;
    t.step().unwrap();
    assert_eq!(t.cpu.cc(), 2); // mixed, leftmost selected bit one
}

#[test]
fn translate_leaves_the_condition_code() {
    // qemu 7.2 reports a stale CC after TR.
    let mut t = T::new(&[asm("TR", |i| {
        i.l1 = 1;
        i.b1 = 2;
        i.b2 = 3;
    })]);
    t.mem.store(DATA, &[1, 2]).unwrap();
    t.mem.store(0x4000, &[0xa0, 0xa1, 0xa2]).unwrap();
    (t.cpu.gr[2], t.cpu.gr[3]) = (DATA, 0x4000);
    t.cpu.set_cc(1);
    t.step().unwrap();
    let mut b = [0u8; 2];
    t.mem.read(DATA, &mut b).unwrap();
    assert_eq!((b, t.cpu.cc()), ([0xa1, 0xa2], 1));
}

#[test]
fn floating_point_moves_and_the_afp_control() {
    let mut t = T::new(&[
        rr("LDGR", 8, 1),
        rr("LER", 9, 8),
        asm("CPSDR", |i| {
            i.r1 = 10;
            i.r2 = 8;
            i.r3 = 11;
        }),
        rr("LGDR", 2, 10),
    ]);
    t.cpu.gr[1] = 0x4000_0000_1234_5678;
    t.cpu.fpr[9] = 0x1111_1111_2222_2222;
    t.cpu.fpr[11] = 1 << 63;
    t.run(4).unwrap();
    assert_eq!(t.cpu.fpr[8], 0x4000_0000_1234_5678);
    assert_eq!(t.cpu.fpr[9], 0x4000_0000_2222_2222); // short format: bits 0-31 only
    assert_eq!(t.cpu.gr[2], 0xc000_0000_1234_5678);
    // Without the AFP-register control only FPRs 0, 2, 4, 6 exist.
    let mut t = T::new(&[rr("LDGR", 8, 1), rr("LDGR", 6, 1)]);
    t.cpu.cr[0] = 0;
    assert_eq!(t.step(), Err(Pgm::Data { dxc: 1 }));
    assert_eq!((t.cpu.fpc >> 8) & 0xff, 1);
    t.step().unwrap();
}

#[test]
fn branches_through_base_registers() {
    // BC 8,0(5): taken on CC 0; BAS 14,0(5) links; BCT 1,0(5) decrements to zero, not taken;
    // BXH 2,4,0(5) with increment R4 and limit R5.
    let tgt = |m: &str, r1: u8| {
        asm(m, |i| {
            i.r1 = r1;
            i.b2 = 5;
        })
    };
    let mut t = T::new(&[tgt("BC", 8)]);
    t.cpu.gr[5] = 0x3000;
    t.cpu.set_cc(0);
    t.step().unwrap();
    assert_eq!(t.cpu.psw_addr, 0x3000);
    let mut t = T::new(&[tgt("BAS", 14)]);
    t.cpu.gr[5] = 0x3000;
    t.step().unwrap();
    assert_eq!((t.cpu.psw_addr, t.cpu.gr[14]), (0x3000, CODE + 4));
    let mut t = T::new(&[tgt("BCT", 1)]);
    (t.cpu.gr[1], t.cpu.gr[5]) = (0xffff_ffff_0000_0001, 0x3000);
    t.step().unwrap();
    assert_eq!(
        (t.cpu.psw_addr, t.cpu.gr[1]),
        (CODE + 4, 0xffff_ffff_0000_0000)
    );
    let mut t = T::new(&[asm("BXH", |i| {
        i.r1 = 2;
        i.r3 = 4;
        i.b2 = 6;
    })]);
    (t.cpu.gr[2], t.cpu.gr[4], t.cpu.gr[5], t.cpu.gr[6]) = (10, 1, 10, 0x3000);
    t.step().unwrap();
    assert_eq!((t.cpu.psw_addr, t.cpu.r32(2)), (0x3000, 11));
    // CRB: compare and branch to B4+D4; CGIB not taken.
    let mut t = T::new(&[asm("CRB", |i| {
        i.r1 = 1;
        i.r2 = 2;
        i.m3 = 4; // low
        i.b4 = 5;
        i.d4 = 0x10;
    })]);
    (t.cpu.gr[1], t.cpu.gr[2], t.cpu.gr[5]) = (0xffff_ffff, 1, 0x3000);
    t.step().unwrap();
    assert_eq!(t.cpu.psw_addr, 0x3010);
    let mut t = T::new(&[asm("CGIB", |i| {
        i.r1 = 1;
        i.m3 = 2; // high
        i.i2 = 0xff; // -1
        i.b4 = 5;
    })]);
    (t.cpu.gr[1], t.cpu.gr[5]) = (u64::MAX, 0x3000);
    t.step().unwrap();
    assert_eq!(t.cpu.psw_addr, CODE + 6);
}

#[test]
fn store_facility_list_extended() {
    let mut t = T::new(&[asm("STFLE", |i| i.b2 = 5), asm("STFLE", |i| i.b2 = 5)]);
    t.cpu.gr[5] = DATA;
    t.step().unwrap();
    // Facilities 0-63 fit in one doubleword: CC 0, R0 bits 56-63 = 0.
    let mut b = [0u8; 8];
    t.mem.read(DATA, &mut b).unwrap();
    let w = u64::from_be_bytes(b);
    assert_eq!((t.cpu.cc(), t.cpu.gr[0] & 0xff), (0, 0));
    for bit in [0u32, 18, 21, 34, 42, 45] {
        assert_ne!(w & (1 << (63 - bit)), 0, "facility {bit}");
    }
    t.cpu.gr[5] = DATA + 4;
    assert_eq!(t.step(), Err(Pgm::Specification));
}

#[test]
fn translate_and_test_finds_the_first_nonzero_function_byte() {
    let mut t = T::new(&[asm("TRT", |i| {
        i.l1 = 3;
        i.b1 = 3;
        i.b2 = 4;
    })]);
    t.mem.store(DATA, b"ab,c").unwrap();
    t.mem.store(0x4000 + u64::from(b','), &[7]).unwrap();
    (t.cpu.gr[2], t.cpu.gr[3], t.cpu.gr[4]) = (0xffff, DATA, 0x4000);
    t.step().unwrap();
    assert_eq!(
        (t.cpu.gr[1], t.cpu.gr[2], t.cpu.cc()),
        (DATA + 2, 0xff07, 1)
    );
}

#[test]
fn twenty_four_bit_mode_wraps_and_bal_links_ilc_cc_and_mask() {
    let mut t = T::new(&[
        asm("LA", |i| {
            i.r1 = 1;
            i.b2 = 2;
            i.d2 = 0x10;
        }),
        rr("BALR", 3, 0),
    ]);
    t.cpu.psw_mask &= !(psw::EA | psw::BA);
    (t.cpu.gr[1], t.cpu.gr[2]) = (0xaaaa_aaaa_aaaa_aaaa, 0xffff_fff8);
    t.cpu.set_cc(2);
    t.cpu.set_program_mask(5);
    t.run(2).unwrap();
    assert_eq!(t.cpu.gr[1], 0xaaaa_aaaa_0000_0008);
    // ILC 1 (BALR), CC 2, program mask 5, then the 24-bit address.
    assert_eq!(
        t.cpu.r32(3),
        0x4000_0000 | 0x2000_0000 | 0x0500_0000 | (CODE as u32 + 6)
    );
}

/// Storage whose logical page 1 is absolute page 3 (and page 3 unmapped): an instruction that
/// crosses from page 0 into page 1 must take its tail from absolute page 3.
struct Remapped(VecStorage);

impl Remapped {
    fn abs(addr: u64) -> Result<u64, Pgm> {
        match addr >> 12 {
            1 => Ok(addr + 0x2000),
            3 => Err(Pgm::Other {
                code: 0x11,
                teid: addr & !0xfff,
            }),
            _ => Ok(addr),
        }
    }
}

impl Storage for Remapped {
    fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        let a = Self::abs(addr)?;
        self.0.read(a, buf)
    }
    fn write(&mut self, addr: u64, buf: &[u8]) -> Result<(), Pgm> {
        let a = Self::abs(addr)?;
        self.0.write(a, buf)
    }
    fn cas(&mut self, addr: u64, old: &mut [u8], new: &[u8]) -> Result<bool, Pgm> {
        let a = Self::abs(addr)?;
        self.0.cas(a, old, new)
    }
    fn fetch_absolute(&mut self, addr: u64) -> Result<u64, Pgm> {
        Self::abs(addr)
    }
    fn read_absolute(&mut self, abs: u64, buf: &mut [u8]) -> Result<(), Pgm> {
        self.0.read_absolute(abs, buf)
    }
}

#[test]
fn a_fetch_across_a_page_boundary_translates_each_page() {
    // LGFI %r1,0x11223344 (6 bytes) at 0xffc: c0 11 | 11 22 33 44, the last four bytes on
    // logical page 1 = absolute page 3; absolute page 1 holds other bytes.
    let insn = asm("LGFI", |i| {
        i.r1 = 1;
        i.i2 = 0x1122_3344;
    });
    assert_eq!(insn.len(), 6);
    let mut mem = VecStorage::new(0x10000);
    mem.store(0xffc, &insn[..4]).unwrap();
    mem.store(0x3000, &insn[4..]).unwrap();
    mem.store(0x1000, &[0xff, 0xff]).unwrap();
    let mut st = Remapped(mem);
    let mut cpu = Cpu::new(Facilities::z196());
    cpu.psw_addr = 0xffa;
    // Pad the first two bytes with a NOPR so the LGFI starts at 0xffc.
    st.0.store(0xffa, &[0x07, 0x07]).unwrap();
    cpu.step(&mut st).unwrap();
    cpu.step(&mut st).unwrap();
    assert_eq!(cpu.gr[1], 0x1122_3344);
    assert_eq!(cpu.psw_addr, 0x1002);
}

/// Random bytes as code, random registers, supervisor or problem state, every addressing
/// mode: whatever a guest executes ends in a result or a program interruption, never a
/// panic (overflow checks are on in this build) or a hang (each step is bounded).
#[test]
fn random_code_never_panics() {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut steps = 0u64;
    let mut interruptions = 0u64;
    for round in 0..1200 {
        let mut mem = VecStorage::new(0x10000);
        let mut bytes: Vec<u8> = (0..0x10000).map(|_| next() as u8).collect();
        if round % 2 == 1 {
            // Instructions of the table with random fields, back to back.
            let mut at = 0;
            while at + 6 <= bytes.len() {
                let d = &INSNS[(next() % INSNS.len() as u64) as usize];
                let mut i = Insn::blank(d);
                let mut f = || next();
                (i.r1, i.r2, i.r3) = (f() as u8 & 15, f() as u8 & 15, f() as u8 & 15);
                (i.m3, i.m4, i.x2) = (f() as u8 & 15, f() as u8 & 15, f() as u8 & 15);
                (i.b1, i.b2, i.b4) = (f() as u8 & 15, f() as u8 & 15, f() as u8 & 15);
                (i.d1, i.d2, i.d4) = (f() as i32 & 0xfff, f() as i32 & 0xfff, f() as i32 & 0xfff);
                (i.i2, i.i3, i.i4, i.i5) = (f() as u32, f() as u8, f() as u8, f() as u8 & 63);
                (i.l1, i.l2) = (f() as u8, f() as u8 & 15);
                i.ri = (f() as i16 / 8) as i64;
                let e = encode(&i);
                bytes[at..at + usize::from(i.len)].copy_from_slice(&e[..usize::from(i.len)]);
                at += usize::from(i.len);
            }
        }
        mem.store(0, &bytes).unwrap();
        let mut cpu = Cpu::new(Facilities::z196());
        for r in 0..16 {
            // Mostly addresses inside the storage, so that operands are found.
            cpu.gr[r] = if next() % 4 == 0 {
                next()
            } else {
                next() % 0x10000
            };
            cpu.fpr[r] = next();
            cpu.cr[r] = next();
        }
        cpu.fpc = next() as u32 & 0xf8f8_ff07;
        let amode = [psw::EA | psw::BA, psw::BA, 0][(next() % 3) as usize];
        cpu.psw_mask = amode | (next() & (psw::PROBLEM | 0xf << psw::KEY_SHIFT | 0xff << 40));
        for _ in 0..64 {
            cpu.psw_addr = (next() % 0xfff0) & !1;
            for _ in 0..32 {
                steps += 1;
                if cpu.step(&mut mem).is_err() {
                    interruptions += 1;
                    break;
                }
            }
            // Keep the state sane for the next start: DAT off (no tables here), a valid mode.
            cpu.psw_mask &= !(psw::DAT | psw::UNASSIGNED);
            if cpu.psw_mask & psw::EA != 0 {
                cpu.psw_mask |= psw::BA;
            }
        }
    }
    assert!(
        steps > 100_000 && interruptions > 1000,
        "{steps} steps, {interruptions} interruptions"
    );
}
