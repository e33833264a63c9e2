/*
 * The vCPU memop's one-copy path (DESIGN.md "Logical memops"): what the kernel's staged
 * access (copy_from_user, access_guest_with_key, copy_to_user) shows must stay visible.
 *  - a store whose caller buffer faults is EFAULT before any guest byte is written, even
 *    when translation would raise an exception;
 *  - a fetch that raises an exception on a later page leaves the caller's buffer untouched;
 *  - a caller buffer that overlaps the guest memory accessed sees the staged result;
 *  - accesses that cross page, segment and large-frame boundaries inside one memop (the
 *    walk is reused between pages) give what page-by-page memops give;
 *  - the EDAT facilities follow a CPU-model change (the lock-free facility copy).
 */
#include "attr.h"
#include "dat.h"

#define FRAME 0x300000ull /* the 1 MiB frame mapped at va 0x100000 */

static struct cpu c;
static uint8_t buf[3 * 65536], want[3 * 65536], snapshot[GUEST_SIZE];

/*
 * va 0x000000-0x0fffff: identity, 4 KiB pages; 0x100000-0x1fffff: the 1 MiB frame at FRAME
 * (EDAT-1); 0x200000-0x20ffff: 4 KiB pages onto 0x100000-0x10ffff; 0x210000 invalid;
 * 0x211000 DAT-protected onto 0x111000; everything from 0x212000 on unmapped.
 */
static bool build(struct cpu *cc)
{
	struct dat d;
	dat_init(&d, cc, 0x180000, 1);
	for (uint64_t va = 0; va < 0x100000; va += 4096)
		dat_map(&d, va, va);
	put64(cc, dat_entry(&d, 0x100000, 0), FRAME | SEG_FC);
	for (uint64_t va = 0x200000; va < 0x210000; va += 4096)
		dat_map(&d, va, va - 0x100000);
	put64(cc, dat_entry(&d, 0x211000, -1), 0x111000 | PTE_P);
	for (uint64_t i = 0; i < GUEST_SIZE; i++)
		if (i < 0x180000 || i >= 0x1c0000) /* not the tables */
			cc->g.mem[i] = (uint8_t)(i * 7 + (i >> 12));
	return set_cr(cc, 1, dat_asce(&d)) && set_cr(cc, 0, CR0_EDAT) && set_psw(cc, PSW_64 | PSW_DAT, 0x1000);
}

/* The outcome of [ga, ga+size) taken one page fragment at a time: the first code, the data. */
static int by_pages(uint32_t op, uint64_t ga, uint32_t size, uint8_t *out)
{
	for (uint32_t off = 0; off < size;) {
		uint32_t n = 4096 - (uint32_t)((ga + off) & 4095);
		if (n > size - off)
			n = size - off;
		int r = lmop(&c, op, ga + off, n, out + off, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY, 0);
		if (r != 0)
			return r;
		if (op == KVM_S390_MEMOP_LOGICAL_READ && LREAD(&c, ga + off, n, out + off, NO_KEY, 0) != 0)
			return -1;
		off += n;
	}
	return 0;
}

static bool test_across_boundaries(void)
{
	bool ok = false;
	static const struct {
		uint64_t ga;
		uint32_t size;
	} cases[] = {
		{0xf8000, 65536},   /* 4 KiB pages into the 1 MiB frame */
		{0x1f8123, 65536},  /* the frame into a different segment's pages */
		{0x100800, 65536},  /* inside the frame */
		{0x208010, 65536},  /* into the invalid page: 0x11 */
		{0x20f000, 12288},  /* the invalid page, then the protected one */
		{0x211000, 4096},   /* protected: fetch fine, store 0x04 */
		{0x2ff000, 8192},   /* into an unmapped segment: 0x11, then 0x10 */
		{0x4000, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ga = cases[i].ga;
		uint32_t size = cases[i].size;
		memset(want, 0x5a, size);
		int code = by_pages(KVM_S390_MEMOP_LOGICAL_READ, ga, size, want);
		if (code != 0)
			memset(want, 0xa5, size); /* an exception leaves the buffer untouched */
		memset(buf, 0xa5, size);
		CHECK_RET(LREAD(&c, ga, size, buf, NO_KEY, 0), code);
		CHECK(memcmp(buf, want, size) == 0);
		/* Stores: the code of the first failing page, and nothing written if any fails. */
		int wcode = by_pages(KVM_S390_MEMOP_LOGICAL_WRITE, ga, size, want);
		memcpy(snapshot, c.g.mem, GUEST_SIZE);
		for (uint32_t j = 0; j < size; j++)
			buf[j] = (uint8_t)(j + i);
		CHECK_RET(LWRITE(&c, ga, size, buf, NO_KEY, 0), wcode);
		if (wcode == 0) {
			memset(want, 0, size);
			CHECK_RET(LREAD(&c, ga, size, want, NO_KEY, 0), 0);
			CHECK(memcmp(buf, want, size) == 0);
		} else {
			CHECK(memcmp(snapshot, c.g.mem, GUEST_SIZE) == 0);
		}
	}
	ok = true;
done:
	return ok;
}

/* A store's caller buffer is read before anything: EFAULT, no guest byte written. */
static bool test_store_with_bad_buffer(void)
{
	bool ok = false;
	uint8_t *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(two != MAP_FAILED);
	memset(two, 0x77, 8192);
	CHECK(munmap(two + 4096, 4096) == 0);
	uint8_t before[8192];
	memcpy(before, c.g.mem + 0x20000, 8192);
	CHECK_ERR(LWRITE(&c, 0x20000, 8192, two, NO_KEY, 0), EFAULT);
	CHECK(memcmp(before, c.g.mem + 0x20000, 8192) == 0);
	/* EFAULT comes before the translation exception the store would raise. */
	CHECK_ERR(LWRITE(&c, 0x20f000, 8192, two, NO_KEY, 0), EFAULT);
	CHECK_ERR(LWRITE(&c, 0x20000, 8192, two + 4096, NO_KEY, 0), EFAULT);
	/* A fetch reads the guest first: its exception comes before the buffer's EFAULT. */
	CHECK_RET(LREAD(&c, 0x300000, 8192, NULL, NO_KEY, 0), 0x10);
	CHECK_RET(LREAD(&c, 0x20f000, 8192, two + 4096, NO_KEY, 0), 0x11);
	CHECK_ERR(LREAD(&c, 0x20000, 8192, NULL, NO_KEY, 0), EFAULT);
	/* A fetch into it: the guest read happens, the copy-out faults. */
	CHECK_ERR(LREAD(&c, 0x20000, 8192, two, NO_KEY, 0), EFAULT);
	CHECK(memcmp(two, c.g.mem + 0x20000, 4096) == 0);
	munmap(two, 4096);
	ok = true;
done:
	return ok;
}

/* Fetch with keys: protection on the second page leaves the buffer untouched. */
static bool test_fetch_exception_leaves_buffer(void)
{
	bool ok = false;
	CHECK_RET(set_keys(c.g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	CHECK_RET(set_keys(c.g.vm, 0x41, 1, 0x18), 0);
	memset(buf, 0xa5, 8192);
	CHECK_RET(LREAD(&c, 0x40000, 8192, buf, 9, 0), 4);
	for (int i = 0; i < 8192; i++)
		CHECK(buf[i] == 0xa5);
	CHECK_RET(LREAD(&c, 0x40000, 4096, buf, 9, 0), 0);
	CHECK(memcmp(buf, c.g.mem + 0x40000, 4096) == 0);
	CHECK_RET(set_keys(c.g.vm, 0, GUEST_SIZE / PAGE, 0), 0);
	ok = true;
done:
	return ok;
}

/* A caller buffer inside the guest memory accessed: the staged result (a memmove). */
static bool test_overlapping_buffer(void)
{
	bool ok = false;
	/* Store from guest bytes 0x50000.. to guest 0x50010..: */
	memcpy(want, c.g.mem + 0x50000, 12288);
	CHECK_RET(LWRITE(&c, 0x50010, 12288, c.g.mem + 0x50000, NO_KEY, 0), 0);
	CHECK(memcmp(c.g.mem + 0x50010, want, 12288) == 0);
	/* Fetch from guest 0x60000.. into guest bytes 0x60010..: */
	memcpy(want, c.g.mem + 0x60000, 12288);
	CHECK_RET(LREAD(&c, 0x60000, 12288, c.g.mem + 0x60010, NO_KEY, 0), 0);
	CHECK(memcmp(c.g.mem + 0x60010, want, 12288) == 0);
	ok = true;
done:
	return ok;
}

/* With the facility list emptied before the vCPU exists, EDAT-1 is off: the large-frame
 * segment entry's FC bit is ignored and its origin taken as a page table (zeros: real 0). */
static bool test_edat_follows_the_cpu_model(void)
{
	bool ok = false;
	struct cpu e = {0};
	CHECK(guest_open(&e.g, 0));
	struct kvm_s390_vm_cpu_processor p;
	CHECK_RET(GET_ATTR(e.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	memset(p.fac_list, 0, sizeof(p.fac_list));
	CHECK_RET(SET_ATTR(e.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	e.vcpu = KVM_IOCTL(e.g.vm, KVM_CREATE_VCPU, 0);
	CHECK(e.vcpu >= 0);
	e.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, e.vcpu, 0);
	CHECK(e.run != MAP_FAILED);
	CHECK(build(&e));
	memset(e.g.mem + FRAME, 0, 2048); /* the "page table": valid entries onto real 0 */
	CHECK_RET(lmop(&e, KVM_S390_MEMOP_LOGICAL_READ, 0x100000, 4096, buf, NO_KEY, 0, 0), 0);
	CHECK(memcmp(buf, e.g.mem, 4096) == 0);
	/* The default model has EDAT-1: the frame. */
	CHECK_RET(LREAD(&c, 0x100000, 4096, buf, NO_KEY, 0), 0);
	CHECK(memcmp(buf, c.g.mem + FRAME, 4096) == 0);
	ok = true;
done:
	cpu_close(&e);
	return ok;
}

int main(void)
{
	if (!cpu_open(&c, 0) || !build(&c)) {
		printf("setup failed\n");
		return 1;
	}
	RUN(test_across_boundaries);
	RUN(test_store_with_bad_buffer);
	RUN(test_fetch_exception_leaves_buffer);
	RUN(test_overlapping_buffer);
	RUN(test_edat_follows_the_cpu_model);
	DONE();
}
