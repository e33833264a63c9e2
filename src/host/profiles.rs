//! Machine profiles: IBM z14, z15 and z16 as hosts. (Data being filled in from public sources.)

use super::{MachineProfile, Subfunctions};

const EMPTY: Subfunctions = Subfunctions {
    plo: [0; 32],
    ptff: [0; 16],
    kmac: [0; 16],
    kmc: [0; 16],
    km: [0; 16],
    kimd: [0; 16],
    klmd: [0; 16],
    pckmo: [0; 16],
    kmctr: [0; 16],
    kmf: [0; 16],
    kmo: [0; 16],
    pcc: [0; 16],
    ppno: [0; 16],
    kma: [0; 16],
    kdsa: [0; 16],
    sortl: [0; 32],
    dfltcc: [0; 32],
    pfcr: [0; 16],
};

/// IBM z16.
pub const Z16: MachineProfile = MachineProfile {
    name: "z16",
    description: "IBM z16 A01 (machine type 3931), GA1",
    cpu_type: 0x3931,
    cpuid: 0x0000_0000_3931_8000,
    ibc: 0x0041_0061,
    facilities: &[
        0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 13, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,
        28, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 47, 48, 49, 50, 51, 52, 53,
        54, 57, 58, 59, 60, 61, 64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81,
        82, 129, 130, 131, 133, 134, 135, 138, 139, 146, 148, 149, 150, 151, 152, 155, 156, 165,
        169, 170, 192, 193, 194, 196, 197,
    ],
    subfunctions: EMPTY,
};
