/*
 * KVM_S390_MEM_OP on the vCPU fd: the vCPU rows of the kernel selftest memop.c that need no
 * guest code (spec memop.md 7), keys set with SET_SKEYS. As in the selftest the vCPU runs in
 * 64-bit mode with DAT on, over an identity map of guest memory plus a mapping of the last
 * page of the 64-bit address space (region-first tables).
 */
#include "dat.h"

#define LAST_PAGE 0xfffffffffffff000ull
#define LAST_PAGE_ABS 0x300000ull /* where the last virtual page lives */

static uint8_t wbuf[TSIZE], rbuf[TSIZE];
static struct cpu c;

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 13 + (i >> 9));
}

static bool setup(void)
{
	if (!cpu_open(&c, 0))
		return false;
	struct dat d;
	dat_init(&d, &c, 0x200000, 3);
	for (uint64_t va = 0; va < 0x200000; va += 4096)
		dat_map(&d, va, va);
	dat_map(&d, LAST_PAGE, LAST_PAGE_ABS);
	return set_cr(&c, 1, dat_asce(&d)) && set_psw(&c, PSW_64 | PSW_DAT, 0x1000);
}

static bool test_generic_errors(void)
{
	bool ok = false;
	CHECK_ERR(LWRITE(&c, MEM1, 0xffffffffu, wbuf, NO_KEY, 0), E2BIG);
	CHECK_ERR(LWRITE(&c, MEM1, 0, wbuf, NO_KEY, 0), EINVAL);
	CHECK_ERR(LWRITE(&c, MEM1, TSIZE, wbuf, NO_KEY, ~0ull), EINVAL);
	/* An unmapped address: a translation exception (> 0), with and without CHECK_ONLY. */
	CHECK(LWRITE(&c, 0xfffffffffff00000ull, TSIZE, wbuf, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY) > 0);
	CHECK(LWRITE(&c, 0xfffffffffff00000ull, TSIZE, wbuf, NO_KEY, 0) > 0);
	CHECK_ERR(LWRITE(&c, MEM1, TSIZE, NULL, NO_KEY, 0), EFAULT);
	CHECK_ERR(LWRITE(&c, MEM1, TSIZE, wbuf, 17, 0), EINVAL);
	CHECK_ERR(lmop(&c, 0xffffffffu, MEM1, TSIZE, wbuf, NO_KEY, 0, 0), EINVAL);
	/* Absolute operations are VM-fd only. */
	CHECK_ERR(lmop(&c, KVM_S390_MEMOP_ABSOLUTE_READ, MEM1, 8, wbuf, NO_KEY, 0, 0), EINVAL);
	/* AR 17 (ar >= 16 is refused whatever the addressing mode). */
	CHECK(set_psw(&c, PSW_64 | PSW_DAT | PSW_AS_AR, 0x1000));
	CHECK_ERR(lmop(&c, KVM_S390_MEMOP_LOGICAL_WRITE, MEM1, TSIZE, wbuf, NO_KEY, 0, 17), EINVAL);
	CHECK(set_psw(&c, PSW_64 | PSW_DAT, 0x1000));
	/* SIDA on a non-protected vCPU: EINVAL, but E2BIG first when size+offset > 4096. */
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_SIDA_READ, 0, 8, wbuf, NO_KEY, 0);
	m.sida_offset = 0x1c0;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	m.op = KVM_S390_MEMOP_SIDA_WRITE;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	m.size = 4096;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, &m), E2BIG);
	m.sida_offset = 0xffffffffu;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	m = mop(KVM_S390_MEMOP_SIDA_READ, 0, 8, wbuf, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	ok = true;
done:
	return ok;
}

static bool copy_check(uint64_t ga, uint32_t size, int wkey, int rkey, unsigned seed)
{
	bool ok = false;
	fill(wbuf, size, seed);
	CHECK_RET(LWRITE(&c, ga, size, wbuf, wkey, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(LWRITE(&c, ga, size, wbuf, wkey, 0), 0);
	memset(rbuf, 0, size);
	CHECK_RET(LREAD(&c, ga, size, rbuf, rkey, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(LREAD(&c, ga, size, rbuf, rkey, 0), 0);
	CHECK(memcmp(wbuf, rbuf, size) == 0);
	ok = true;
done:
	return ok;
}

static bool test_copy(void)
{
	bool ok = false;
	CHECK(copy_check(MEM1, TSIZE, NO_KEY, NO_KEY, 1));
	/* The data is in guest memory at the identity-mapped address. */
	CHECK(memcmp(c.g.mem + MEM1, wbuf, TSIZE) == 0);
	/* AR mode with guest AR1 = 0: the primary space. */
	CHECK(set_psw(&c, PSW_64 | PSW_DAT | PSW_AS_AR, 0x1000));
	fill(wbuf, TSIZE, 2);
	CHECK_RET(lmop(&c, KVM_S390_MEMOP_LOGICAL_WRITE, MEM2, TSIZE, wbuf, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY, 1), 0);
	CHECK_RET(lmop(&c, KVM_S390_MEMOP_LOGICAL_WRITE, MEM2, TSIZE, wbuf, NO_KEY, 0, 1), 0);
	CHECK_RET(lmop(&c, KVM_S390_MEMOP_LOGICAL_READ, MEM2, TSIZE, rbuf, NO_KEY, 0, 1), 0);
	CHECK(memcmp(wbuf, rbuf, TSIZE) == 0 && memcmp(c.g.mem + MEM2, wbuf, TSIZE) == 0);
	CHECK(set_psw(&c, PSW_64 | PSW_DAT, 0x1000));
	ok = true;
done:
	return ok;
}

static bool test_copy_with_keys(void)
{
	bool ok = false;
	CHECK_RET(set_keys(c.g.vm, 0, GUEST_SIZE / PAGE, 0x90), 0);
	CHECK(copy_check(MEM1, TSIZE, 0, 0, 3));
	CHECK(copy_check(MEM1, TSIZE, 9, 9, 4));
	CHECK(copy_check(MEM1, 1, 0, 0, 5));
	CHECK(copy_check(MEM1, 1, 9, 9, 6));
	/* Key mismatch without fetch protection: reads are allowed. */
	CHECK(copy_check(MEM1, TSIZE, NO_KEY, 2, 7));
	ok = true;
done:
	return ok;
}

static bool test_storage_and_fetch_protection(void)
{
	bool ok = false;
	CHECK_RET(set_keys(c.g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	/* Key 2 on key-9 pages: protection exception without the override ... */
	CHECK_RET(LWRITE(&c, MEM1, TSIZE, wbuf, 2, KVM_S390_MEMOP_F_CHECK_ONLY), 4);
	CHECK_RET(LREAD(&c, MEM1, TSIZE, rbuf, 2, 0), 4);
	/* ... and allowed with storage-protection override (CR0.39, pages with key 9). */
	CHECK(set_cr(&c, 0, CR0_SPO));
	CHECK(copy_check(MEM1, TSIZE, 2, 2, 8));
	CHECK(set_cr(&c, 0, 0));
	/* Fetch protection: the matching key reads. */
	fill(wbuf, TSIZE, 9);
	CHECK_RET(LWRITE(&c, MEM1, TSIZE, wbuf, NO_KEY, 0), 0);
	CHECK_RET(LREAD(&c, MEM1, TSIZE, rbuf, 9, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(LREAD(&c, MEM1, TSIZE, rbuf, 9, 0), 0);
	CHECK(memcmp(wbuf, rbuf, TSIZE) == 0);
	ok = true;
done:
	return ok;
}

static bool test_fetch_protection_override(void)
{
	bool ok = false;
	/* Page 0 fetch-protected with key 1, the last page's frame unprotected (key 0). */
	CHECK_RET(set_keys(c.g.vm, 0, 1, 0x18), 0);
	CHECK_RET(set_keys(c.g.vm, LAST_PAGE_ABS / PAGE, 1, 0x00), 0);
	fill(wbuf, 4096, 10);
	CHECK_RET(LWRITE(&c, 0, 4096, wbuf, NO_KEY, 0), 0);
	/* Without the override, key 2 cannot read page 0. */
	CHECK_RET(LREAD(&c, 0, 2048, rbuf, 2, KVM_S390_MEMOP_F_CHECK_ONLY), 4);
	CHECK_RET(LREAD(&c, 0, 2048, rbuf, 2, 0), 4);
	CHECK(set_cr(&c, 0, CR0_FPO));
	for (int check = 1; check >= 0; check--) {
		uint64_t f = check ? KVM_S390_MEMOP_F_CHECK_ONLY : 0;
		memset(rbuf, 0, 2048);
		CHECK_RET(LREAD(&c, 0, 2048, rbuf, 2, f), 0);
		if (!check)
			CHECK(memcmp(rbuf, wbuf, 2048) == 0);
		/* 2049 bytes leave the override's range. */
		CHECK_RET(LREAD(&c, 0, 2049, rbuf, 2, f), 4);
	}
	/* Wrap-around from the top of the 64-bit address space to 0. */
	fill(wbuf, 8192, 11);
	CHECK_RET(LWRITE(&c, LAST_PAGE, 8192, wbuf, NO_KEY, 0), 0);
	CHECK(memcmp(c.g.mem + LAST_PAGE_ABS, wbuf, 4096) == 0 && memcmp(c.g.mem, wbuf + 4096, 4096) == 0);
	for (int check = 1; check >= 0; check--) {
		uint64_t f = check ? KVM_S390_MEMOP_F_CHECK_ONLY : 0;
		memset(rbuf, 0, 8192);
		CHECK_RET(LREAD(&c, LAST_PAGE, 4096 + 2048, rbuf, 2, f), 0);
		if (!check)
			CHECK(memcmp(rbuf, wbuf, 4096 + 2048) == 0);
		CHECK_RET(LREAD(&c, LAST_PAGE, 4096 + 2049, rbuf, 2, f), 4);
	}
	/* Not applicable to the VM ioctl (absolute access). */
	CHECK_RET(abs_read(c.g.vm, 0, 2048, rbuf, 2, 0), 4);
	CHECK(set_cr(&c, 0, 0));
	ok = true;
done:
	return ok;
}

static bool test_errors_with_key_and_termination(void)
{
	bool ok = false;
	struct kvm_s390_pgm_info pgm;
	/* mem1: first page 0x18 (ACC 1), the rest 0x98 (ACC 9). */
	CHECK_RET(set_keys(c.g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	CHECK_RET(set_keys(c.g.vm, MEM1 / PAGE, 1, 0x18), 0);
	for (int check = 1; check >= 0; check--) {
		uint64_t f = check ? KVM_S390_MEMOP_F_CHECK_ONLY : 0;
		CHECK_RET(LWRITE(&c, MEM1, TSIZE, wbuf, 2, f), 4);
		CHECK_RET(LREAD(&c, MEM1, TSIZE, rbuf, 2, f), 4);
	}
	/* Without INJECT nothing is queued. */
	CHECK(!pending_pgm(&c, &pgm));
	/* A store refused on its first page: key-controlled protection, suppressing (bit 60). */
	CHECK_RET(LWRITE(&c, MEM1, TSIZE, wbuf, 2, KVM_S390_MEMOP_F_INJECT_EXCEPTION), 4);
	CHECK(pending_pgm(&c, &pgm));
	CHECK(pgm.code == 4 && pgm.trans_exc_code == (MEM1 | 0x400 | 0x8));
	/* Key 1: the first page is written, the second refused: terminating (no 56/60/61). */
	fill(wbuf, TSIZE, 12);
	memset(c.g.mem + MEM1, 0, 2 * 4096);
	CHECK_RET(LWRITE(&c, MEM1, TSIZE, wbuf, 1, KVM_S390_MEMOP_F_INJECT_EXCEPTION), 4);
	CHECK(memcmp(c.g.mem + MEM1, wbuf, 4096) == 0 && c.g.mem[MEM1 + 4096] == 0);
	CHECK(pending_pgm(&c, &pgm));
	CHECK(pgm.code == 4 && pgm.trans_exc_code == ((MEM1 + 4096) | 0x400));
	/* Delivery at KVM_RUN into the lowcore at the prefix (0): the program new PSW is loaded. */
	uint8_t new_psw[16];
	uint64_t nm = htobe64(PSW_64), na = htobe64(0x4000);
	memcpy(new_psw, &nm, 8);
	memcpy(new_psw + 8, &na, 8);
	CHECK_RET(abs_write(c.g.vm, 464, 16, new_psw, NO_KEY, 0), 0);
	uint64_t old_mask = c.run->psw_mask, old_addr = c.run->psw_addr;
	CHECK(cpu_run(&c));
	uint8_t teid[8];
	CHECK_RET(abs_read(c.g.vm, 168, 8, teid, NO_KEY, 0), 0);
	CHECK((teid[7] & 0x8c) == 0);
	CHECK(get64(&c, 168) == ((MEM1 + 4096) | 0x400));
	CHECK(c.g.mem[142] == 0 && c.g.mem[143] == 4);    /* program-interruption code */
	CHECK(get64(&c, 336) == old_mask && get64(&c, 344) == old_addr); /* old PSW */
	CHECK(c.run->psw_mask == PSW_64 && c.run->psw_addr == 0x4000);   /* new PSW */
	CHECK(!pending_pgm(&c, &pgm));
	/* CHECK_ONLY with INJECT queues too. */
	CHECK(set_psw(&c, PSW_64 | PSW_DAT, 0x1000));
	CHECK_RET(LREAD(&c, MEM1, TSIZE, rbuf, 2, KVM_S390_MEMOP_F_CHECK_ONLY | KVM_S390_MEMOP_F_INJECT_EXCEPTION), 4);
	CHECK(pending_pgm(&c, &pgm) && pgm.code == 4 && pgm.trans_exc_code == (MEM1 | 0x800 | 0x8));
	ok = true;
done:
	return ok;
}

int main(void)
{
	if (!setup()) {
		printf("setup failed\n");
		return 1;
	}
	RUN(test_generic_errors);
	RUN(test_copy);
	RUN(test_copy_with_keys);
	RUN(test_storage_and_fetch_protection);
	RUN(test_fetch_protection_override);
	RUN(test_errors_with_key_and_termination);
	DONE();
}
