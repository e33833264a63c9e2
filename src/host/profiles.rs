//! Machine profiles: IBM z14, z15 and z16 as KVM hosts, plus the kernel's KVM facility lists.
//!
//! Every number here was taken from public sources; nothing is measured on real hardware.
//!
//! * QEMU (`qemu/qemu`), read from the `pbo-linaro/qemu-ci` mirror of QEMU master
//!   (cross-checked against `qemu/qemu` `target/s390x/gen-features.c` @ 58deb358c661, whose
//!   GEN14..GEN16 lists are the same):
//!   - `target/s390x/gen-features.c` @ 467ec9f12584: the per-generation base and full feature
//!     lists. A machine's feature set is the union of all `base_GEN*` and `full_GEN*` lists
//!     up to and including its own generation (GA1).
//!   - `target/s390x/cpu_features_def.h.inc` @ 89ec4c4acf89: the type of each feature
//!     (STFL facility bit, or bit in the query block of PLO, PTFF, KMAC, KMC, KM, KIMD, KLMD,
//!     PCKMO, KMCTR, KMF, KMO, PCC, PPNO, KMA, KDSA, SORTL, DFLTCC, PFCR).
//!   - `target/s390x/cpu_features.c` @ 94c822b26307 (`s390_fill_feat_block`): when QEMU
//!     encodes a model, the STFL block always gets facilities 2 (z/Architecture active) and
//!     138 (CZAM) next to `zarch`, and every query block except PLO gets bit 0 (the query
//!     function itself), which has no feature of its own. PLO bit 0 is the `plo-cl` feature.
//!   - `target/s390x/cpu_models.c` @ 18a978849f3d: the CPU definitions (type, generation,
//!     GA) and `s390_find_cpu_def`.
//!   - `target/s390x/kvm/kvm.c` @ 090d12182b04 (`kvm_s390_get_host_cpu_model`) and
//!     `target/s390x/cpu_models.h` (`cpuid_type`, `cpuid_format`, `lowest_ibc`,
//!     `unblocked_ibc`, `ibc_gen`, `ibc_ec_ga`, `S390_GEN_Z10` = 0xa).
//! * Linux (`torvalds/linux`) `arch/s390/tools/gen_facilities.c`: see [`FACILITIES_KVM`].
//!
//! The IBC "lowest" levels are not from a source; see the note on [`Z14`].

use super::MachineProfile;
use crate::uapi::kvm_s390_vm_cpu_subfunc;

/// A query block with the bits of the given function codes set: function code `n` is
/// byte `n / 8`, mask `0x80 >> (n % 8)` (bit 0 is the most significant bit of byte 0).
const fn block<const N: usize>(codes: &[u16]) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < codes.len() {
        let n = codes[i] as usize;
        out[n / 8] |= 0x80 >> (n % 8);
        i += 1;
    }
    out
}

// Query blocks. Bit 0 is the query function (set by QEMU for every block except PLO, where
// bit 0 is compare-and-load). Blocks of instructions the machine lacks stay all zero, as the
// kernel only runs a query when the facility is installed.

/// PLO: function codes 0..=23 (the original 24 PLO functions; all generations here).
const PLO_BASE: [u8; 32] = block(&[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
]);
/// PTFF (facility 28): query, QTO, QSI, QPT, STO; QUI, QTOU, STOU (z13); QSIE, QTOUE,
/// STOE, STOUE (multiple-epoch, z14).
const PTFF_Z14: [u8; 16] = block(&[0, 1, 2, 3, 4, 5, 10, 13, 65, 69, 73, 77]);
/// KMAC: query, DEA/TDEA (MSA), encrypted DEA/TDEA (MSA3), AES and encrypted AES (MSA4).
const KMAC_Z14: [u8; 16] = block(&[0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28]);
/// KMC: as KMAC, AES from MSA1/2, plus PRNG (67, MSA2).
const KMC_Z14: [u8; 16] = block(&[0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28, 67]);
/// KM: as KMC without PRNG, plus XTS-AES and encrypted XTS-AES (MSA4).
const KM_Z14: [u8; 16] = block(&[
    0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28, 50, 52, 58, 60,
]);
/// KIMD: query, SHA-1/256/512, SHA3 and SHAKE (MSA6), GHASH (65, MSA4).
const KIMD_Z14: [u8; 16] = block(&[0, 1, 2, 3, 32, 33, 34, 35, 36, 37, 65]);
/// KLMD: query, SHA-1/256/512, SHA3 and SHAKE (MSA6).
const KLMD_Z14: [u8; 16] = block(&[0, 1, 2, 3, 32, 33, 34, 35, 36, 37]);
/// PCKMO (MSA3, facility 76): query, encrypted DEA/TDEA keys, AES keys.
const PCKMO_Z14: [u8; 16] = block(&[0, 1, 2, 3, 18, 19, 20]);
/// PCKMO on z15 and later: adds the ECC key functions of MSA9 (32..34, 40, 41).
const PCKMO_Z15: [u8; 16] = block(&[0, 1, 2, 3, 18, 19, 20, 32, 33, 34, 40, 41]);
/// KMCTR, KMF and KMO (MSA4, facility 77) have the same twelve cipher functions.
const MSA4_CIPHERS: [u8; 16] = block(&[0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28]);
/// PCC (MSA4): query, CMAC with (encrypted) DEA/TDEA/AES, XTS parameter (encrypted) AES.
const PCC_Z14: [u8; 16] = block(&[
    0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28, 50, 52, 58, 60,
]);
/// PCC on z15 and later: adds the MSA9 scalar multiplications (64..66, 72, 73, 80, 81).
const PCC_Z15: [u8; 16] = block(&[
    0, 1, 2, 3, 9, 10, 11, 18, 19, 20, 26, 27, 28, 50, 52, 58, 60, 64, 65, 66, 72, 73, 80, 81,
]);
/// PPNO/PRNO (MSA5, facility 57): query, SHA-512-DRNG, TRNG-QRTCR and TRNG (MSA7).
const PPNO_Z14: [u8; 16] = block(&[0, 3, 112, 114]);
/// KMA (MSA8, facility 146): query, GCM with AES and encrypted AES.
const KMA_Z14: [u8; 16] = block(&[0, 18, 19, 20, 26, 27, 28]);
/// KDSA (MSA9, facility 155, z15): query, ECDSA verify/sign, encrypted ECDSA sign, EdDSA.
const KDSA_Z15: [u8; 16] = block(&[0, 1, 2, 3, 9, 10, 11, 17, 18, 19, 32, 36, 40, 44, 48, 52]);
/// SORTL (enhanced sort, facility 150, z15): query, SFLR, SVLR, 32 and 128 input lists,
/// format-0 parameter block.
const SORTL_Z15: [u8; 32] = block(&[0, 1, 2, 130, 132, 192]);
/// DFLTCC (deflate conversion, facility 151, z15): query, GDHT, CMPR, XPND, format 0.
const DFLTCC_Z15: [u8; 32] = block(&[0, 1, 2, 4, 192]);

/// IBM z14 (machine type 3906), GA1: QEMU CPU definition "z14" (type 0x3906, gen 14, GA 1).
///
/// IBC: the unblocked level is `((14 - 10) << 4) | 1` = 0x41, which QEMU's `ibc_gen` /
/// `ibc_ec_ga` decode as generation 14, GA1; with the known type 0x3906 that makes
/// `s390_find_cpu_def` return exactly the "z14" definition. No public source was found for
/// the lowest level a z14 can be blocked down to, so it is assumed to be two generations
/// back at GA1: zEC12 GA1 = 0x21. The same rule gives z15 and z16 their lowest levels.
pub const Z14: MachineProfile = MachineProfile {
    name: "z14",
    description: "IBM z14 M0x (machine type 3906), GA1",
    cpu_type: 0x3906,
    // Version 0x00 (LPAR), CPU identification 0x012345, machine type 3906, format bit.
    cpuid: 0x0001_2345_3906_8000,
    ibc: 0x0021_0041,
    facilities: &[
        0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 47, 48, 49, 50, 51,
        52, 53, 54, 57, 58, 59, 60, 64, 65, 69, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81, 82, 129,
        130, 131, 133, 134, 135, 138, 139, 140, 144, 145, 146, 147, 156,
    ],
    subfunctions: kvm_s390_vm_cpu_subfunc {
        plo: PLO_BASE,
        ptff: PTFF_Z14,
        kmac: KMAC_Z14,
        kmc: KMC_Z14,
        km: KM_Z14,
        kimd: KIMD_Z14,
        klmd: KLMD_Z14,
        pckmo: PCKMO_Z14,
        kmctr: MSA4_CIPHERS,
        kmf: MSA4_CIPHERS,
        kmo: MSA4_CIPHERS,
        pcc: PCC_Z14,
        ppno: PPNO_Z14,
        kma: KMA_Z14,
        kdsa: [0; 16],
        sortl: [0; 32],
        dfltcc: [0; 32],
        pfcr: [0; 16],
        reserved: [0; 1712],
    },
};

/// IBM z15 T01 (machine type 8561), GA1: QEMU CPU definition "gen15a" (type 0x8561,
/// gen 15, GA 1). Unblocked IBC 0x51 (generation 15, GA1); lowest assumed z13 GA1 = 0x31
/// (no source, see [`Z14`]).
///
/// Adds over z14: 61 (misc-instruction-extensions 3), 148 (vector enhancements 2), 150
/// (enhanced sort), 151 (deflate conversion), 152 (vector packed decimal enhancement),
/// 155 (MSA9), 161 (unpack, i.e. protected virtualisation). QEMU deprecates CSSKE (10) and
/// BPB (82) from gen15 on only in the base and default models; the full model keeps them.
pub const Z15: MachineProfile = MachineProfile {
    name: "z15",
    description: "IBM z15 T01 (machine type 8561), GA1",
    cpu_type: 0x8561,
    cpuid: 0x0001_2345_8561_8000,
    ibc: 0x0031_0051,
    facilities: &[
        0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 47, 48, 49, 50, 51,
        52, 53, 54, 57, 58, 59, 60, 61, 64, 65, 69, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81, 82,
        129, 130, 131, 133, 134, 135, 138, 139, 140, 144, 145, 146, 147, 148, 150, 151, 152, 155,
        156, 161,
    ],
    subfunctions: kvm_s390_vm_cpu_subfunc {
        plo: PLO_BASE,
        ptff: PTFF_Z14,
        kmac: KMAC_Z14,
        kmc: KMC_Z14,
        km: KM_Z14,
        kimd: KIMD_Z14,
        klmd: KLMD_Z14,
        pckmo: PCKMO_Z15,
        kmctr: MSA4_CIPHERS,
        kmf: MSA4_CIPHERS,
        kmo: MSA4_CIPHERS,
        pcc: PCC_Z15,
        ppno: PPNO_Z14,
        kma: KMA_Z14,
        kdsa: KDSA_Z15,
        sortl: SORTL_Z15,
        dfltcc: DFLTCC_Z15,
        pfcr: [0; 16],
        reserved: [0; 1712],
    },
};

/// IBM z16 A01 (machine type 3931), GA1: QEMU CPU definition "gen16a" (type 0x3931,
/// gen 16, GA 1). Unblocked IBC 0x61 (generation 16, GA1); lowest assumed z14 GA1 = 0x41
/// (no source, see [`Z14`]).
///
/// Adds over z15: 165 (NNPA), 192 (vector packed decimal enhancement 2), 193 (BEAR
/// enhancement), 194 (reset DAT protection), 196 and 197 (processor activity
/// instrumentation and its extension 1). QEMU adds no subfunctions for gen16, so the
/// query blocks equal z15's.
pub const Z16: MachineProfile = MachineProfile {
    name: "z16",
    description: "IBM z16 A01 (machine type 3931), GA1",
    cpu_type: 0x3931,
    cpuid: 0x0001_2345_3931_8000,
    ibc: 0x0041_0061,
    facilities: &[
        0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25,
        26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 38, 40, 41, 42, 43, 44, 45, 47, 48, 49, 50, 51,
        52, 53, 54, 57, 58, 59, 60, 61, 64, 65, 69, 71, 72, 73, 74, 75, 76, 77, 78, 80, 81, 82,
        129, 130, 131, 133, 134, 135, 138, 139, 140, 144, 145, 146, 147, 148, 150, 151, 152, 155,
        156, 161, 165, 192, 193, 194, 196, 197,
    ],
    subfunctions: kvm_s390_vm_cpu_subfunc {
        plo: PLO_BASE,
        ptff: PTFF_Z14,
        kmac: KMAC_Z14,
        kmc: KMC_Z14,
        km: KM_Z14,
        kimd: KIMD_Z14,
        klmd: KLMD_Z14,
        pckmo: PCKMO_Z15,
        kmctr: MSA4_CIPHERS,
        kmf: MSA4_CIPHERS,
        kmo: MSA4_CIPHERS,
        pcc: PCC_Z15,
        ppno: PPNO_Z14,
        kma: KMA_Z14,
        kdsa: KDSA_Z15,
        sortl: SORTL_Z15,
        dfltcc: DFLTCC_Z15,
        pfcr: [0; 16],
        reserved: [0; 1712],
    },
};

/// All profiles, oldest first.
pub const PROFILES: &[MachineProfile] = &[Z14, Z15, Z16];

/// Facilities KVM hands to every guest when the host has them (`FACILITIES_KVM`).
/// From Linux `arch/s390/tools/gen_facilities.c` blob 2d28a569f793 (mainline after v6.15,
/// the version an April 2026 kvm/s390 RFC patches), read via the `Kingxukai/linux` mirror
/// @ 9b44fff655e2.
pub const FACILITIES_KVM: &[u16] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 73, 75, 76, 77, 78, 130, 131, 139, 146, 150, 151, 155,
];

/// Facilities userspace may switch on through the CPU model (`FACILITIES_KVM_CPUMODEL`),
/// from the same `gen_facilities.c` version as [`FACILITIES_KVM`].
pub const FACILITIES_KVM_CPUMODEL: &[u16] = &[12, 15, 156, 165, 170, 193, 194, 196, 197, 201];

#[cfg(test)]
mod tests {
    use super::*;

    fn has(p: &MachineProfile, fac: u16) -> bool {
        p.facilities.contains(&fac)
    }

    fn bit_set(block: &[u8], n: usize) -> bool {
        block[n / 8] & (0x80 >> (n % 8)) != 0
    }

    fn strictly_ascending(list: &[u16]) -> bool {
        list.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn facility_lists_sorted_and_unique() {
        for p in PROFILES {
            assert!(strictly_ascending(p.facilities), "{}", p.name);
        }
        assert!(strictly_ascending(FACILITIES_KVM));
        assert!(strictly_ascending(FACILITIES_KVM_CPUMODEL));
        assert!(FACILITIES_KVM
            .iter()
            .all(|f| !FACILITIES_KVM_CPUMODEL.contains(f)));
    }

    #[test]
    fn later_generations_are_supersets() {
        for pair in PROFILES.windows(2) {
            let (old, new) = (&pair[0], &pair[1]);
            for f in old.facilities {
                assert!(
                    has(new, *f),
                    "{} lacks facility {} of {}",
                    new.name,
                    f,
                    old.name
                );
            }
        }
    }

    #[test]
    fn z16_key_facilities() {
        for f in [129, 64, 133, 82, 11, 76, 139, 2, 138] {
            assert!(has(&Z16, f), "z16 lacks {f}");
        }
    }

    #[test]
    fn z14_and_z15_differences() {
        for f in [155, 150, 151] {
            assert!(!has(&Z14, f), "z14 has {f}");
        }
        assert!(has(&Z15, 150));
        assert!(has(&Z15, 151));
        assert!(has(&Z15, 155));
    }

    #[test]
    fn ibc_decodes_to_generation_and_ga() {
        for (p, gen) in [(&Z14, 14), (&Z15, 15), (&Z16, 16)] {
            let unblocked = p.ibc & 0xfff;
            let lowest = (p.ibc >> 16) & 0xfff;
            assert_eq!((unblocked >> 4) + 10, gen, "{}", p.name);
            assert_eq!(unblocked & 0xf, 1, "{}", p.name);
            assert!(lowest != 0 && lowest <= unblocked, "{}", p.name);
        }
    }

    #[test]
    fn cpuid_matches_cpu_type() {
        for p in PROFILES {
            assert_eq!(
                (p.cpuid >> 16) & 0xffff,
                u64::from(p.cpu_type),
                "{}",
                p.name
            );
            assert_eq!(p.cpuid & 0x8000, 0x8000, "{}: format bit", p.name);
            assert_eq!(p.cpuid >> 56, 0, "{}: LPAR version", p.name);
        }
    }

    #[test]
    fn plo_has_compare_and_load() {
        for p in PROFILES {
            assert!(bit_set(&p.subfunctions.plo, 0), "{}", p.name);
        }
    }

    #[test]
    fn msa_blocks_have_query_bit() {
        for p in PROFILES.iter().filter(|p| has(p, 17)) {
            let s = &p.subfunctions;
            for (name, b) in [
                ("km", &s.km),
                ("kmc", &s.kmc),
                ("kimd", &s.kimd),
                ("klmd", &s.klmd),
                ("kmac", &s.kmac),
            ] {
                assert!(bit_set(b, 0), "{} {}", p.name, name);
            }
        }
    }

    #[test]
    fn blocks_only_for_installed_facilities() {
        for p in PROFILES {
            let s = &p.subfunctions;
            let gated: [(&[u8], u16); 17] = [
                (&s.ptff, 28),
                (&s.kmac, 17),
                (&s.kmc, 17),
                (&s.km, 17),
                (&s.kimd, 17),
                (&s.klmd, 17),
                (&s.pckmo, 76),
                (&s.kmctr, 77),
                (&s.kmf, 77),
                (&s.kmo, 77),
                (&s.pcc, 77),
                (&s.ppno, 57),
                (&s.kma, 146),
                (&s.kdsa, 155),
                (&s.sortl, 150),
                (&s.dfltcc, 151),
                (&s.pfcr, 201),
            ];
            for (b, fac) in gated {
                let nonzero = b.iter().any(|&x| x != 0);
                assert_eq!(
                    nonzero,
                    has(p, fac),
                    "{}: block of facility {}",
                    p.name,
                    fac
                );
                if nonzero {
                    assert!(bit_set(b, 0), "{}: query bit of facility {}", p.name, fac);
                }
            }
        }
    }

    #[test]
    fn block_layout_is_msb0() {
        assert_eq!(
            KM_Z14[..8],
            [0xf0, 0x70, 0x38, 0x38, 0x00, 0x00, 0x28, 0x28]
        );
        assert_eq!(PTFF_Z14[..2], [0xfc, 0x24]);
        assert_eq!(PTFF_Z14[8..10], [0x44, 0x44]);
        assert_eq!(SORTL_Z15[16], 0x28);
        assert_eq!(SORTL_Z15[24], 0x80);
        assert_eq!(PPNO_Z14[0], 0x90);
        assert_eq!(PPNO_Z14[14], 0xa0);
    }

    #[test]
    fn names_are_unique() {
        assert_eq!(
            PROFILES.iter().map(|p| p.name).collect::<Vec<_>>(),
            ["z14", "z15", "z16"]
        );
    }
}
