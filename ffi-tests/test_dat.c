/*
 * Table-driven DAT test for the logical memop: hand-built tables for each ASCE type and every
 * translation rule of spec memop.md 5.2-5.4, with the exact program-interruption code and the
 * TEID the guest would see (read back as the pending program interrupt).
 */
#include "dat.h"

#define TABLES 0x200000ull
#define FRAME 0x300000ull /* target of the 1 MiB large-frame cases */

static struct cpu c;
static struct dat d;

enum { NONE = 0 };

struct dat_case {
	const char *name;
	int dt;          /* top-level table (3 region-first ... 0 segment); -1: DAT off */
	int tl;          /* ASCE table length */
	uint64_t asce_bits;
	uint64_t cr0;
	uint64_t psw;    /* extra PSW bits: addressing mode, address space */
	uint64_t prefix;
	uint64_t va;
	int store;
	int tweak;       /* which table change to make (see apply_tweak) */
	int want;        /* 0 or the program-interruption code */
	uint64_t want_abs;
	uint64_t teid;   /* expected TEID (0 where the code has none) */
	uint8_t ar;
};

enum {
	T_NONE, T_MAP, T_PAGE_INVALID, T_SEG_TT, T_PTE_Z, T_PTE_P, T_SEG_P, T_SEG_CS, T_SEG_LARGE, T_SEG_LARGE_P,
	T_RT_TT, T_RT_TL0, T_RT_LARGE, T_RT_P, T_RS_TF1, T_RF_TL0, T_ALET_RES, T_ALEN, T_NO_SEG,
	T_RS_TT, T_RF_TT, T_RS_P, T_RF_P, T_RT_LARGE_P,
};

static uint64_t fsi(int store)
{
	return store ? 0x400 : 0x800;
}

/* Builds the address space of a case: maps va's page to FRAME-independent real page 0x12000
 * unless the tweak says otherwise. */
static bool build(const struct dat_case *k)
{
	uint64_t page = k->va & ~0xfffull;
	dat_init(&d, &c, TABLES, k->dt < 0 ? 0 : k->dt);
	if (k->dt < 0 || k->tweak == T_NONE || k->tweak == T_ALET_RES || k->tweak == T_ALEN)
		return true;
	if (k->tweak == T_NO_SEG) {
		/* Only a neighbouring segment exists. */
		dat_map(&d, page + 0x100000, 0x12000);
		return true;
	}
	if (k->tweak == T_PAGE_INVALID) {
		dat_map(&d, page + 0x1000, 0x12000);
		return true;
	}
	if (k->tweak == T_SEG_LARGE || k->tweak == T_SEG_LARGE_P) {
		uint64_t e = dat_entry(&d, page, 0);
		put64(&c, e, FRAME | SEG_FC | (k->tweak == T_SEG_LARGE_P ? TBL_P : 0));
		return true;
	}
	if (k->tweak == T_RT_LARGE || k->tweak == T_RT_LARGE_P) {
		uint64_t e = dat_entry(&d, page, 1);
		put64(&c, e, 0 | SEG_FC | (1ull << 2) | (k->tweak == T_RT_LARGE_P ? TBL_P : 0));
		return true;
	}
	dat_map(&d, page, 0x12000);
	uint64_t e;
	switch (k->tweak) {
	case T_SEG_TT: e = dat_entry(&d, page, 0); put64(&c, e, get64(&c, e) | (1ull << 2)); break;
	case T_PTE_Z: e = dat_entry(&d, page, -1); put64(&c, e, get64(&c, e) | PTE_Z); break;
	case T_PTE_P: e = dat_entry(&d, page, -1); put64(&c, e, get64(&c, e) | PTE_P); break;
	case T_SEG_P: e = dat_entry(&d, page, 0); put64(&c, e, get64(&c, e) | TBL_P); break;
	case T_SEG_CS: e = dat_entry(&d, page, 0); put64(&c, e, get64(&c, e) | 0x10); break;
	case T_RT_TT: e = dat_entry(&d, page, 1); put64(&c, e, get64(&c, e) & ~0xcull); break;
	case T_RT_TL0: e = dat_entry(&d, page, 1); put64(&c, e, get64(&c, e) & ~3ull); break;
	case T_RT_P: e = dat_entry(&d, page, 1); put64(&c, e, get64(&c, e) | TBL_P); break;
	case T_RS_TF1: e = dat_entry(&d, page, 2); put64(&c, e, get64(&c, e) | (1ull << 6)); break;
	case T_RF_TL0: e = dat_entry(&d, page, 3); put64(&c, e, get64(&c, e) & ~3ull); break;
	case T_RS_TT: e = dat_entry(&d, page, 2); put64(&c, e, get64(&c, e) & ~0xcull); break;
	case T_RF_TT: e = dat_entry(&d, page, 3); put64(&c, e, (get64(&c, e) & ~0xcull) | (2ull << 2)); break;
	case T_RS_P: e = dat_entry(&d, page, 2); put64(&c, e, get64(&c, e) | TBL_P); break;
	case T_RF_P: e = dat_entry(&d, page, 3); put64(&c, e, get64(&c, e) | TBL_P); break;
	}
	return true;
}

#define RW 0
#define W 1

static const struct dat_case cases[] = {
	/* Segment-table designation (2 GiB address space). */
	{"segment: mapped page", 0, 3, 0, 0, 0, 0, 0x10000, W, T_MAP, NONE, 0x12000, 0, 0},
	{"segment: RTX != 0 -> ASCE-type", 0, 3, 0, 0, 0, 0, 0x80000000, RW, T_NONE, 0x38, 0, 0x80000000, 0},
	{"segment: SX beyond the table length", 0, 0, 0, 0, 0, 0, 0x20000000, RW, T_NONE, 0x10, 0, 0x20000000, 0},
	{"segment: invalid segment entry", 0, 3, 0, 0, 0, 0, 0x100000, W, T_NO_SEG, 0x10, 0, 0x100000, 0},
	{"segment: invalid page entry", 0, 3, 0, 0, 0, 0, 0x11000, RW, T_PAGE_INVALID, 0x11, 0, 0x11000, 0},
	{"segment: entry of the wrong table type", 0, 3, 0, 0, 0, 0, 0x10000, RW, T_SEG_TT, 0x12, 0, 0, 0},
	{"page: Z bit set", 0, 3, 0, 0, 0, 0, 0x10000, RW, T_PTE_Z, 0x12, 0, 0, 0},
	{"page: DAT protection, fetch", 0, 3, 0, 0, 0, 0, 0x10000, RW, T_PTE_P, NONE, 0x12000, 0, 0},
	{"page: DAT protection, store", 0, 3, 0, 0, 0, 0, 0x10000, W, T_PTE_P, 0x04, 0, 0x10000 | 0x4, 0},
	{"segment: DAT protection, store", 0, 3, 0, 0, 0, 0, 0x10000, W, T_SEG_P, 0x04, 0, 0x10000 | 0x4, 0},
	{"segment: common segment, private ASCE", 0, 3, ASCE_P, 0, 0, 0, 0x10000, RW, T_SEG_CS, 0x12, 0, 0, 0},
	{"segment: common segment, ASCE not private", 0, 3, 0, 0, 0, 0, 0x10000, RW, T_SEG_CS, NONE, 0x12000, 0, 0},
	{"EDAT-1: 1 MiB frame (no prefixing)", 0, 3, 0, CR0_EDAT, 0, 0x20000, 0x101234, W, T_SEG_LARGE, NONE, FRAME + 0x1234, 0, 0},
	{"EDAT-1: 1 MiB frame, DAT protection", 0, 3, 0, CR0_EDAT, 0, 0, 0x101000, W, T_SEG_LARGE_P, 0x04, 0, 0x101000 | 0x4, 0},
	{"real-space ASCE", 0, 3, ASCE_R, 0, 0, 0, 0x3000, W, T_NONE, NONE, 0x3000, 0, 0},
	{"real-space ASCE, prefixed", 0, 3, ASCE_R, 0, 0, 0x20000, 0x100, W, T_NONE, NONE, 0x20100, 0, 0},
	/* Region-third designation. */
	{"region-third: mapped page", 1, 3, 0, 0, 0, 0, 0x80005000, W, T_MAP, NONE, 0x12000, 0, 0},
	{"region-third: RSX != 0 -> ASCE-type", 1, 3, 0, 0, 0, 0, 1ull << 42, RW, T_NONE, 0x38, 0, 1ull << 42, 0},
	{"region-third: RTX beyond the table length", 1, 0, 0, 0, 0, 0, 1ull << 40, RW, T_NONE, 0x3b, 0, 1ull << 40, 0},
	{"region-third: invalid entry", 1, 3, 0, 0, 0, 0, 0x100000000ull, W, T_NONE, 0x3b, 0, 0x100000000ull, 0},
	{"region-third: entry of the wrong type", 1, 3, 0, 0, 0, 0, 0x80005000, RW, T_RT_TT, 0x12, 0, 0, 0},
	{"region-third: SX outside the entry's length", 1, 3, 0, 0, 0, 0, 0xa0005000, RW, T_RT_TL0, 0x10, 0, 0xa0005000, 0},
	{"EDAT-2: 2 GiB frame", 1, 3, 0, CR0_EDAT, 0, 0, 0x80005000, W, T_RT_LARGE, NONE, 0x5000, 0, 0},
	{"EDAT-2: 2 GiB frame, DAT protection", 1, 3, 0, CR0_EDAT, 0, 0, 0x80005000, W, T_RT_LARGE_P, 0x04, 0, 0x80005000 | 0x4, 0},
	{"region-third: DAT protection with EDAT-1", 1, 3, 0, CR0_EDAT, 0, 0, 0x80005000, W, T_RT_P, 0x04, 0, 0x80005000 | 0x4, 0},
	{"region-third: P ignored without EDAT-1", 1, 3, 0, 0, 0, 0, 0x80005000, W, T_RT_P, NONE, 0x12000, 0, 0},
	/* Region-second designation. */
	{"region-second: mapped page", 2, 3, 0, 0, 0, 0, (1ull << 42) | 0x3000, W, T_MAP, NONE, 0x12000, 0, 0},
	{"region-second: RFX != 0 -> ASCE-type", 2, 3, 0, 0, 0, 0, 1ull << 53, RW, T_NONE, 0x38, 0, 1ull << 53, 0},
	{"region-second: RSX beyond the table length", 2, 0, 0, 0, 0, 0, 1ull << 51, RW, T_NONE, 0x3a, 0, 1ull << 51, 0},
	{"region-second: invalid entry", 2, 3, 0, 0, 0, 0, 1ull << 43, RW, T_NONE, 0x3a, 0, 1ull << 43, 0},
	{"region-second: entry of the wrong type", 2, 3, 0, 0, 0, 0, (1ull << 42) | 0x3000, RW, T_RS_TT, 0x12, 0, 0, 0},
	{"region-second: DAT protection with EDAT-1", 2, 3, 0, CR0_EDAT, 0, 0, (1ull << 42) | 0x3000, W, T_RS_P, 0x04, 0, (1ull << 42) | 0x3000 | 0x4, 0},
	{"region-second: P ignored without EDAT-1", 2, 3, 0, 0, 0, 0, (1ull << 42) | 0x3000, W, T_RS_P, NONE, 0x12000, 0, 0},
	{"region-second: RTX below the entry's offset", 2, 3, 0, 0, 0, 0, (1ull << 42) | 0x3000, RW, T_RS_TF1, 0x3b, 0, (1ull << 42) | 0x3000, 0},
	/* Region-first designation (the full 64-bit address space). */
	{"region-first: top page", 3, 3, 0, 0, 0, 0, 0xfffffffffffff000ull, W, T_MAP, NONE, 0x12000, 0, 0},
	{"region-first: RFX beyond the table length", 3, 0, 0, 0, 0, 0, 0xc000000000000000ull, RW, T_NONE, 0x39, 0, 0xc000000000000000ull, 0},
	{"region-first: invalid entry", 3, 3, 0, 0, 0, 0, 0x4000000000000000ull, W, T_NONE, 0x39, 0, 0x4000000000000000ull, 0},
	{"region-first: entry of the wrong type", 3, 3, 0, 0, 0, 0, 0xfffffffffffff000ull, RW, T_RF_TT, 0x12, 0, 0, 0},
	{"region-first: DAT protection with EDAT-1", 3, 3, 0, CR0_EDAT, 0, 0, 0xfffffffffffff000ull, W, T_RF_P, 0x04, 0, 0xfffffffffffff000ull | 0x4, 0},
	{"region-first: P ignored without EDAT-1, fetch", 3, 3, 0, 0, 0, 0, 0xfffffffffffff000ull, RW, T_RF_P, NONE, 0x12000, 0, 0},
	{"region-first: RSX outside the entry's length", 3, 3, 0, 0, 0, 0, (1ull << 51) | 0x3000, RW, T_RF_TL0, 0x3a, 0, (1ull << 51) | 0x3000, 0},
	/* Secondary and home spaces: the TEID names the address space. */
	{"secondary space: invalid page", 0, 3, 0, 0, PSW_AS_SEC, 0, 0x11000, RW, T_PAGE_INVALID, 0x11, 0, 0x11000 | 2, 0},
	{"home space: invalid page", 0, 3, 0, 0, PSW_AS_HOME, 0, 0x11000, RW, T_PAGE_INVALID, 0x11, 0, 0x11000 | 3, 0},
	/* DAT off: real addresses, prefixing and addressing modes. */
	{"DAT off: 24-bit masking", -1, 0, 0, 0, 0, 0, 0x12345678, W, T_NONE, NONE, 0x345678, 0, 0},
	{"DAT off: 31-bit masking", -1, 0, 0, 0, PSW_BA, 0, 0x80001000, W, T_NONE, NONE, 0x1000, 0, 0},
	{"DAT off: outside guest memory", -1, 0, 0, 0, PSW_64, 0, 0x7f000000, RW, T_NONE, 0x05, 0, 0, 0},
	{"prefixing: low page", -1, 0, 0, 0, PSW_64, 0x20000, 0x1100, W, T_NONE, NONE, 0x21100, 0, 0},
	{"prefixing: prefix page", -1, 0, 0, 0, PSW_64, 0x20000, 0x21100, W, T_NONE, NONE, 0x1100, 0, 0},
	{"prefixing: other pages", -1, 0, 0, 0, PSW_64, 0x20000, 0x30000, W, T_NONE, NONE, 0x30000, 0, 0},
	{"low-address protection: 0..511", -1, 0, 0, CR0_LAP, PSW_64, 0, 0x100, W, T_NONE, 0x04, 0, 0x80, 0},
	{"low-address protection: 4096..4607", -1, 0, 0, CR0_LAP, PSW_64, 0, 0x1100, W, T_NONE, 0x04, 0, 0x1000 | 0x80, 0},
	{"low-address protection: 512 is not low", -1, 0, 0, CR0_LAP, PSW_64, 0, 0x200, W, T_NONE, NONE, 0x200, 0, 0},
	{"low-address protection: fetches pass", -1, 0, 0, CR0_LAP, PSW_64, 0, 0x100, RW, T_NONE, NONE, 0x100, 0, 0},
	/* Access-register mode (real-space ASCEs in CR1/CR7 through ALETs 0 and 1). */
	{"AR mode: ALET 0 -> primary", 0, 3, ASCE_R, 0, PSW_AS_AR, 0, 0x4000, W, T_NONE, NONE, 0x4000, 0, 0},
	{"AR mode: ALET with reserved bits", 0, 3, ASCE_R, 0, PSW_AS_AR, 0, 0x4000, RW, T_ALET_RES, 0x28, 0, 0, 1},
	{"AR mode: ALEN beyond the access list", 0, 3, ASCE_R, 0, PSW_AS_AR, 0, 0x4000, RW, T_ALEN, 0x29, 0, 0, 1},
};

static bool run_case(const struct dat_case *k)
{
	bool ok = false;
	uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got[8];
	struct kvm_s390_pgm_info pgm;
	/* Start clean: no interrupt left pending by an earlier case. */
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_NORMAL_RESET, 0), 0);
	memset(c.g.mem + 0x10000, 0, 0x30000);
	if (k->want_abs)
		memset(c.g.mem + k->want_abs, 0, 8);
	CHECK(build(k));
	uint64_t asce = (d.top | ((uint64_t)(k->dt < 0 ? 0 : k->dt) << 2) | (uint64_t)k->tl) | k->asce_bits;
	uint64_t crs[16] = {0};
	crs[0] = k->cr0;
	crs[1] = crs[7] = crs[13] = asce;
	crs[2] = 0x7000; /* DUCT: access-list designation at 0x7010 */
	CHECK(set_crs(&c, crs));
	put64(&c, 0x7010, 0);       /* ALD: origin 0, length 0 (one 128-byte block) */
	c.run->s.regs.acrs[1] = k->tweak == T_ALET_RES ? 0xfe000000u : (k->tweak == T_ALEN ? 0x00000010u : 0);
	c.run->s.regs.prefix = k->prefix;
	c.run->kvm_dirty_regs = KVM_SYNC_PREFIX;
	/* Translation cases run in 64-bit mode, as the selftest guest does. */
	CHECK(set_psw(&c, (k->dt < 0 ? 0 : PSW_DAT | PSW_64) | k->psw, 0x1000));
	if (k->want == NONE && !k->store)
		memcpy(c.g.mem + k->want_abs, data, 8);
	uint32_t op = k->store ? KVM_S390_MEMOP_LOGICAL_WRITE : KVM_S390_MEMOP_LOGICAL_READ;
	int r = lmop(&c, op, k->va, 8, k->store ? data : got, NO_KEY, KVM_S390_MEMOP_F_INJECT_EXCEPTION, k->ar);
	if (r != k->want)
		FAIL("%s: returned %d, want %#x", k->name, r, k->want);
	if (k->want == NONE) {
		if (k->store)
			CHECK(memcmp(c.g.mem + k->want_abs, data, 8) == 0);
		else
			CHECK(memcmp(got, data, 8) == 0);
		CHECK(!pending_pgm(&c, &pgm));
	} else {
		CHECK(pending_pgm(&c, &pgm));
		uint64_t want_teid = k->teid ? (k->teid | (pgm.code == 0x05 || pgm.code == 0x12 || pgm.code == 0x28 ||
							    pgm.code == 0x29 ? 0 : fsi(k->store))) : 0;
		if (pgm.code != k->want || pgm.trans_exc_code != want_teid)
			FAIL("%s: code %#x teid %#llx, want %#x %#llx", k->name, pgm.code,
			     (unsigned long long)pgm.trans_exc_code, k->want, (unsigned long long)want_teid);
		/* The exception-access id is the access register for DAT, protection and AR codes. */
		CHECK(pgm.exc_access_id == ((k->want == 0x05 || k->want == 0x12 || k->want == 0x28) ? 0 : k->ar));
		/* CHECK_ONLY finds the same exception. */
		CHECK_RET(lmop(&c, op, k->va, 8, NULL, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY, k->ar), k->want);
		CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_NORMAL_RESET, 0), 0); /* drop the pending interrupt */
	}
	ok = true;
done:
	return ok;
}

static bool test_dat_cases(void)
{
	bool ok = true;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		bool one = run_case(&cases[i]);
		printf("  %s %s\n", one ? "ok    " : "FAILED", cases[i].name);
		ok &= one;
	}
	return ok;
}

/*
 * EDAT follows the VM's CPU model: the same tables and CR0 with facility 8 (EDAT-1) or 78
 * (EDAT-2) removed from the PROCESSOR list, written as the byte the s390 image puts it in
 * (facility n is 0x80 >> n % 8 of byte n / 8).
 */
static bool reopen_without(unsigned nr)
{
	bool ok = false;
	static struct kvm_s390_vm_cpu_processor proc;
	cpu_close(&c);
	memset(&c, 0, sizeof(c));
	c.vcpu = -1;
	CHECK(guest_open(&c.g, 0));
	struct kvm_device_attr a = {.group = KVM_S390_VM_CPU_MODEL, .attr = KVM_S390_VM_CPU_PROCESSOR,
				    .addr = (uintptr_t)&proc};
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_GET_DEVICE_ATTR, &a), 0);
	uint8_t *bytes = (uint8_t *)proc.fac_list;
	CHECK(bytes[nr / 8] & (0x80 >> (nr % 8)));
	bytes[nr / 8] &= (uint8_t)~(0x80 >> (nr % 8));
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_SET_DEVICE_ATTR, &a), 0);
	c.vcpu = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 0);
	CHECK(c.vcpu >= 0);
	c.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c.vcpu, 0);
	CHECK(c.run != MAP_FAILED);
	ok = true;
done:
	return ok;
}

static bool test_edat_follows_the_cpu_model(void)
{
	bool ok = false;
	/* Without facility 8, CR0's EDAT bit does nothing: the region-third P bit is ignored. */
	static const struct dat_case no_edat1 = {"region-third: P ignored without facility 8", 1, 3, 0, CR0_EDAT, 0, 0,
						 0x80005000, W, T_RT_P, NONE, 0x12000, 0, 0};
	/* With 8 but without 78, a region-third entry's FC bit is ignored: its origin (0) is
	 * taken as a segment table, whose zero entries lead to page 0. */
	static const struct dat_case no_edat2 = {"region-third: FC ignored without facility 78", 1, 3, 0, CR0_EDAT, 0, 0,
						 0x80005000, W, T_RT_LARGE, NONE, 0, 0, 0};
	CHECK(reopen_without(8));
	CHECK(run_case(&no_edat1));
	CHECK(reopen_without(78));
	memset(c.g.mem, 0, 0x1000);
	CHECK(run_case(&no_edat2));
	CHECK(load_be64(c.g.mem + 0x5000) == 0);
	ok = true;
done:
	return ok;
}

int main(void)
{
	if (!cpu_open(&c, 0))
		return 1;
	RUN(test_dat_cases);
	RUN(test_edat_follows_the_cpu_model);
	DONE();
}
