/*
 * KVM_S390_MEM_OP on the VM fd: every VM-fd row of the kernel selftest memop.c that needs no
 * guest code (spec memop.md 7), with the selftest's inputs and exact results.
 */
#include "memop.h"

static uint8_t wbuf[TSIZE], rbuf[TSIZE];

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(seed + i * 7 + (i >> 8));
}

static bool test_generic_errors(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	CHECK_ERR(abs_write(g.vm, MEM1, 0xffffffffu, wbuf, NO_KEY, 0), E2BIG);
	CHECK_ERR(abs_write(g.vm, MEM1, 0, wbuf, NO_KEY, 0), EINVAL);
	CHECK_ERR(abs_write(g.vm, MEM1, TSIZE, wbuf, NO_KEY, ~0ull), EINVAL);
	CHECK_RET(abs_write(g.vm, 0xfffffffffffff000ull, TSIZE, wbuf, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY), 5);
	CHECK_RET(abs_write(g.vm, 0xfffffffffffff000ull, TSIZE, wbuf, NO_KEY, 0), 5);
	CHECK_ERR(abs_write(g.vm, MEM1, TSIZE, NULL, NO_KEY, 0), EFAULT);
	CHECK_ERR(abs_write(g.vm, MEM1, TSIZE, wbuf, 17, 0), EINVAL);
	CHECK_ERR(vm_memop(g.vm, mop(0xffffffffu, 0, 4096, wbuf, NO_KEY, 0)), EINVAL);
	/* Logical and SIDA operations exist only on vCPU fds. */
	for (uint32_t op = 0; op < 4; op++)
		CHECK_ERR(vm_memop(g.vm, mop(op, MEM1, 8, wbuf, NO_KEY, 0)), EINVAL);
	CHECK_ERR(vm_memop(g.vm, mop(7, MEM1, 8, wbuf, NO_KEY, 0)), EINVAL);
	/* INJECT_EXCEPTION is a vCPU flag. */
	CHECK_ERR(abs_read(g.vm, MEM1, 8, rbuf, NO_KEY, KVM_S390_MEMOP_F_INJECT_EXCEPTION), EINVAL);
	/* A bad read buffer: EFAULT, after the data was fetched. */
	CHECK_ERR(abs_read(g.vm, MEM1, 8, (void *)8, NO_KEY, 0), EFAULT);
	/* CHECK_ONLY needs no buffer. */
	CHECK_RET(abs_read(g.vm, MEM1, TSIZE, NULL, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	/* The memop struct itself must be readable. */
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, NULL), EFAULT);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_cmpxchg_errors(void)
{
	bool ok = false;
	struct guest g;
	uint8_t nv[32] = {0}, ov[32] = {0};
	CHECK(guest_open(&g, 0));
	for (uint32_t size = 0; size < 32; size++) {
		if (size == 1 || size == 2 || size == 4 || size == 8 || size == 16)
			continue;
		errno = 0;
		if (cmpxchg(g.vm, MEM1, size, nv, ov, NO_KEY) != -1 || errno != EINVAL)
			FAIL("cmpxchg size %u: not EINVAL", size);
	}
	for (uint32_t size = 1; size <= 16; size *= 2) {
		CHECK_RET(cmpxchg(g.vm, 0xfffffffffffff000ull, size, nv, ov, NO_KEY), 5);
		if (size > 1)
			CHECK_ERR(cmpxchg(g.vm, MEM1 + 1, size, nv, ov, NO_KEY), EINVAL);
	}
	/* CHECK_ONLY and INJECT_EXCEPTION are not cmpxchg flags. */
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_CMPXCHG, MEM1, 8, nv, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY);
	m.old_addr = (uintptr_t)ov;
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), EINVAL);
	/* Unreadable new or old value: EFAULT. */
	CHECK_ERR(cmpxchg(g.vm, MEM1, 8, NULL, ov, NO_KEY), EFAULT);
	CHECK_ERR(cmpxchg(g.vm, MEM1, 8, nv, NULL, NO_KEY), EFAULT);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

/* Write then read back t.size and 1 byte at MEM1, CHECK_ONLY first, with the given key. */
static bool copy_round_trip(int vm, int key, unsigned seed)
{
	bool ok = false;
	fill(wbuf, TSIZE, seed);
	CHECK_RET(abs_write(vm, MEM1, TSIZE, wbuf, key, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(abs_write(vm, MEM1, TSIZE, wbuf, key, 0), 0);
	memset(rbuf, 0, TSIZE);
	CHECK_RET(abs_read(vm, MEM1, TSIZE, rbuf, key, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(abs_read(vm, MEM1, TSIZE, rbuf, key, 0), 0);
	CHECK(memcmp(wbuf, rbuf, TSIZE) == 0);
	CHECK_RET(abs_write(vm, MEM1, 1, wbuf + 5, key, 0), 0);
	CHECK_RET(abs_read(vm, MEM1, 1, rbuf, key, 0), 0);
	CHECK(rbuf[0] == wbuf[5]);
	ok = true;
done:
	return ok;
}

static bool test_copy_with_keys(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	CHECK(copy_round_trip(g.vm, NO_KEY, 1));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x90), 0);
	CHECK(copy_round_trip(g.vm, NO_KEY, 2));
	CHECK(copy_round_trip(g.vm, 0, 3));
	CHECK(copy_round_trip(g.vm, 9, 4));
	/* The data really is in guest memory. */
	CHECK(memcmp(g.mem + MEM1 + 1, wbuf + 1, TSIZE - 1) == 0 && g.mem[MEM1] == wbuf[5]);
	/* Key mismatch, no fetch protection: reads still work. */
	fill(wbuf, TSIZE, 5);
	CHECK_RET(abs_write(g.vm, MEM1, TSIZE, wbuf, NO_KEY, 0), 0);
	memset(rbuf, 0, TSIZE);
	CHECK_RET(abs_read(g.vm, MEM1, TSIZE, rbuf, 2, 0), 0);
	CHECK(memcmp(wbuf, rbuf, TSIZE) == 0);
	/* ... but stores need the matching key. */
	CHECK_RET(abs_write(g.vm, MEM1, TSIZE, wbuf, 2, KVM_S390_MEMOP_F_CHECK_ONLY), 4);
	CHECK_RET(abs_write(g.vm, MEM1, TSIZE, wbuf, 2, 0), 4);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_fetch_protection(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	fill(wbuf, TSIZE, 6);
	CHECK_RET(abs_write(g.vm, MEM1, TSIZE, wbuf, NO_KEY, 0), 0);
	memset(rbuf, 0, TSIZE);
	CHECK_RET(abs_read(g.vm, MEM1, TSIZE, rbuf, 9, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(abs_read(g.vm, MEM1, TSIZE, rbuf, 9, 0), 0);
	CHECK(memcmp(wbuf, rbuf, TSIZE) == 0);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_errors_with_key(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	/* mem1: first page 0x18 (ACC 1, fetch-protected), the rest 0x98. */
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	CHECK_RET(set_keys(g.vm, MEM1 / PAGE, 1, 0x18), 0);
	fill(wbuf, TSIZE, 7);
	memset(rbuf, 0xcd, TSIZE);
	uint8_t before = g.mem[MEM1];
	for (int check = 1; check >= 0; check--) {
		uint64_t f = check ? KVM_S390_MEMOP_F_CHECK_ONLY : 0;
		CHECK_RET(abs_write(g.vm, MEM1, TSIZE, wbuf, 2, f), 4);
		CHECK_RET(abs_read(g.vm, MEM1, TSIZE, rbuf, 2, f), 4);
	}
	/* Nothing was stored, nothing was copied out. */
	CHECK(g.mem[MEM1] == before && rbuf[0] == 0xcd && rbuf[TSIZE - 1] == 0xcd);
	/* Storage- and fetch-protection override do not apply to the VM ioctl (keys 0x98 and
	 * page 0 with key 0x18, which the override would allow at addresses 0..2047). */
	CHECK_RET(set_keys(g.vm, 0, 1, 0x18), 0);
	for (int check = 1; check >= 0; check--) {
		uint64_t f = check ? KVM_S390_MEMOP_F_CHECK_ONLY : 0;
		CHECK_RET(abs_write(g.vm, MEM2, TSIZE, wbuf, 2, f), 4);
		CHECK_RET(abs_read(g.vm, MEM2, TSIZE, rbuf, 2, f), 4);
		CHECK_RET(abs_read(g.vm, 0, 2048, rbuf, 2, f), 4);
	}
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_partial_and_addressing(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	/* A write that runs off the end of guest memory: 5, with the first page stored. */
	uint64_t last = GUEST_SIZE - PAGE;
	fill(wbuf, 2 * PAGE, 8);
	memset(g.mem + last, 0, PAGE);
	CHECK_RET(abs_write(g.vm, last, 2 * PAGE, wbuf, NO_KEY, 0), 5);
	CHECK(memcmp(g.mem + last, wbuf, PAGE) == 0);
	/* A read that runs off the end: 5, and the buffer is untouched. */
	memset(rbuf, 0xee, 2 * PAGE);
	CHECK_RET(abs_read(g.vm, last, 2 * PAGE, rbuf, NO_KEY, 0), 5);
	CHECK(rbuf[0] == 0xee && rbuf[2 * PAGE - 1] == 0xee);
	/* Linux 6.x CHECK_ONLY with key 0 checks only the first byte; with a key, every page. */
	CHECK_RET(abs_read(g.vm, last, 2 * PAGE, NULL, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(abs_read(g.vm, last, 2 * PAGE, NULL, 3, KVM_S390_MEMOP_F_CHECK_ONLY), 5);
	/* A gap between slots. */
	uint8_t *m2 = map_aligned(MiB, MiB);
	CHECK(m2);
	CHECK_RET(set_region(g.vm, 1, 0, GUEST_SIZE + MiB, MiB, m2), 0);
	CHECK_RET(abs_read(g.vm, GUEST_SIZE + MiB, 16, rbuf, NO_KEY, 0), 0);
	CHECK_RET(abs_read(g.vm, GUEST_SIZE + 4096, 16, rbuf, NO_KEY, 0), 5);
	/* Backing memory the VMM unmapped: the access faults and reports protection (4). */
	munmap(m2, MiB);
	CHECK_RET(abs_read(g.vm, GUEST_SIZE + MiB, 16, rbuf, NO_KEY, 0), 4);
	CHECK_RET(abs_write(g.vm, GUEST_SIZE + MiB, 16, wbuf, NO_KEY, 0), 4);
	uint8_t nv[16] = {1}, ov[16] = {2};
	CHECK_RET(cmpxchg(g.vm, GUEST_SIZE + MiB, 16, nv, ov, NO_KEY), 4);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static const int keys_to_try[] = {NO_KEY, 0, 9};

static bool test_cmpxchg_with_keys(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x90), 0);
	for (size_t k = 0; k < 3; k++) {
		for (uint32_t size = 1; size <= 16; size *= 2) {
			for (uint32_t off = 0; off < 16; off += size) {
				uint8_t init[16], nv[16], ov[16], mem[16];
				fill(init, 16, size * 31 + off + k);
				fill(nv, 16, size * 17 + off + k + 100);
				CHECK_RET(abs_write(g.vm, MEM1, 16, init, NO_KEY, 0), 0);
				/* Matching old value: exchanged, old buffer unchanged, R and C set. */
				uint8_t sk;
				CHECK_RET(set_keys(g.vm, MEM1 / PAGE, 1, 0x90), 0);
				memcpy(ov, init + off, size);
				CHECK_RET(cmpxchg(g.vm, MEM1 + off, size, nv, ov, keys_to_try[k]), 0);
				CHECK(memcmp(ov, init + off, size) == 0);
				CHECK_RET(get_keys(g.vm, MEM1 / PAGE, 1, &sk), 0);
				CHECK(sk == 0x96);
				CHECK_RET(abs_read(g.vm, MEM1, 16, mem, NO_KEY, 0), 0);
				CHECK(memcmp(mem + off, nv, size) == 0);
				CHECK(memcmp(mem, init, off) == 0 && memcmp(mem + off + size, init + off + size, 16 - off - size) == 0);
				/* Mismatching old value: not exchanged, old buffer gets the current value. */
				uint8_t nv2[16];
				fill(nv2, 16, 200 + size + off);
				memcpy(ov, init + off, size); /* stale: memory now holds nv */
				CHECK_RET(set_keys(g.vm, MEM1 / PAGE, 1, 0x90), 0);
				CHECK_RET(cmpxchg(g.vm, MEM1 + off, size, nv2, ov, keys_to_try[k]), 0);
				CHECK(memcmp(ov, nv, size) == 0);
				/* Only referenced. */
				CHECK_RET(get_keys(g.vm, MEM1 / PAGE, 1, &sk), 0);
				CHECK(sk == 0x94);
				CHECK_RET(abs_read(g.vm, MEM1, 16, mem, NO_KEY, 0), 0);
				CHECK(memcmp(mem + off, nv, size) == 0);
			}
		}
	}
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_cmpxchg_key_protected(void)
{
	bool ok = false;
	struct guest g;
	CHECK(guest_open(&g, 0));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x98), 0);
	memset(g.mem + MEM2, 0x5a, 16);
	for (uint32_t size = 1; size <= 16; size *= 2) {
		uint8_t nv[16], ov[16];
		memset(nv, 0x11, 16);
		memset(ov, 0xff, 16);
		CHECK_RET(cmpxchg(g.vm, MEM2, size, nv, ov, 2), 4);
		/* The kernel writes zeros as the "observed" value on a protection exception. */
		for (uint32_t i = 0; i < size; i++)
			CHECK(ov[i] == 0);
		CHECK(ov[size - 1 + (size < 16)] == (size < 16 ? 0xff : 0));
		CHECK(g.mem[MEM2] == 0x5a);
	}
	/* A matching key is allowed. */
	uint8_t nv[8] = {1, 2, 3, 4, 5, 6, 7, 8}, ov[8];
	memset(ov, 0x5a, 8);
	CHECK_RET(cmpxchg(g.vm, MEM2, 8, nv, ov, 9), 0);
	CHECK(memcmp(g.mem + MEM2, nv, 8) == 0);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_dirty_bits(void)
{
	bool ok = false;
	struct guest g;
	/* KVM's dirty bitmap is in set_bit_le order on every host: page n is bit n % 8 of byte
	 * n / 8 (read as native 64-bit words it would be byte-swapped on a big-endian host). */
	uint8_t bm[GUEST_SIZE / PAGE / 8];
	CHECK(guest_open(&g, KVM_MEM_LOG_DIRTY_PAGES));
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = (uintptr_t)bm};
	CHECK_RET(KVM_IOCTL(g.vm, KVM_GET_DIRTY_LOG, &log), 0);
	/* Reads do not dirty. */
	CHECK_RET(abs_read(g.vm, MEM1, TSIZE, rbuf, NO_KEY, 0), 0);
	/* A write of 2 pages + 1 byte starting mid-page touches 3 pages (gfn 16..18). */
	CHECK_RET(abs_write(g.vm, MEM1 + 100, 2 * PAGE + 1, wbuf, NO_KEY, 0), 0);
	/* A cmpxchg that does not exchange (gfn 48) and one that does (gfn 50): both dirty. */
	uint8_t nv[8] = {0}, ov[8] = {9}, nv2[8] = {7}, ov2[8] = {0};
	CHECK_RET(cmpxchg(g.vm, MEM2, 8, nv, ov, NO_KEY), 0);
	CHECK(ov[0] == 0);
	CHECK_RET(cmpxchg(g.vm, MEM2 + 2 * PAGE, 8, nv2, ov2, NO_KEY), 0);
	CHECK(g.mem[MEM2 + 2 * PAGE] == 7);
	CHECK_RET(KVM_IOCTL(g.vm, KVM_GET_DIRTY_LOG, &log), 0);
	for (unsigned gfn = 0; gfn < GUEST_SIZE / PAGE; gfn++) {
		bool want = (gfn >= 16 && gfn <= 18) || gfn == 48 || gfn == 50;
		bool got = (bm[gfn / 8] >> (gfn % 8)) & 1;
		if (got != want)
			FAIL("gfn %u dirty=%d", gfn, got);
	}
	/* Read and cleared. */
	CHECK_RET(KVM_IOCTL(g.vm, KVM_GET_DIRTY_LOG, &log), 0);
	for (unsigned i = 0; i < sizeof(bm); i++)
		CHECK(bm[i] == 0);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

/* Caller memory: HOLE bytes readable and writable, then a PROT_NONE page. */
#define HOLE (4 * PAGE)
static uint8_t *holed_pages(void)
{
	uint8_t *p = mmap(NULL, HOLE + PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + HOLE, PAGE, PROT_NONE)) {
		munmap(p, HOLE + PAGE);
		return NULL;
	}
	return p;
}

static bool guest_bytes_are(const uint8_t *m, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (m[i] != v)
			return false;
	return true;
}

/* The one-copy memop keeps what the kernel's bounce buffer makes observable: a write whose
 * source faults writes no guest byte (small staged writes, in-page probed writes, multi-page
 * writes); a read that raises an exception leaves the caller's buffer untouched; a write
 * whose guest memory faults on a later page has stored the earlier pages. */
static bool test_one_copy_rules(void)
{
	bool ok = false;
	struct guest g;
	uint8_t *src = holed_pages();
	CHECK(src);
	CHECK(guest_open(&g, 0));
	memset(src, 0x11, HOLE);
	/* Sources ending 8 bytes into the hole, for a staged, an in-page and a multi-page write. */
	static const uint32_t sizes[] = {40, 3000, 3 * PAGE};
	for (unsigned i = 0; i < 3; i++) {
		uint64_t ga = i == 2 ? MEM1 : MEM1 + 512;
		memset(g.mem + MEM1, 0x5a, 4 * PAGE);
		CHECK_ERR(abs_write(g.vm, ga, sizes[i], src + HOLE + 8 - sizes[i], NO_KEY, 0), EFAULT);
		if (!guest_bytes_are(g.mem + MEM1, 4 * PAGE, 0x5a))
			FAIL("write of %u bytes with a faulting source wrote guest bytes", sizes[i]);
	}
	/* A read of three pages whose last page's backing is gone: 4, the buffer untouched. */
	CHECK(mprotect(g.mem + MEM1 + 2 * PAGE, PAGE, PROT_NONE) == 0);
	memset(rbuf, 0xee, 3 * PAGE);
	CHECK_RET(abs_read(g.vm, MEM1, 3 * PAGE, rbuf, NO_KEY, 0), 4);
	CHECK(guest_bytes_are(rbuf, 3 * PAGE, 0xee));
	/* In one page: the same, and the readable page still reads. */
	CHECK_RET(abs_read(g.vm, MEM1 + 2 * PAGE + 8, 300, rbuf, NO_KEY, 0), 4);
	CHECK(guest_bytes_are(rbuf, 300, 0xee));
	/* A write over a readable, then a read-only page: 4, the first page stored. */
	CHECK(mprotect(g.mem + MEM1 + 2 * PAGE, PAGE, PROT_READ) == 0);
	fill(wbuf, 2 * PAGE, 3);
	memset(g.mem + MEM1 + PAGE, 0, PAGE);
	CHECK_RET(abs_write(g.vm, MEM1 + PAGE, 2 * PAGE, wbuf, NO_KEY, 0), 4);
	CHECK(memcmp(g.mem + MEM1 + PAGE, wbuf, PAGE) == 0);
	CHECK(mprotect(g.mem + MEM1 + 2 * PAGE, PAGE, PROT_READ | PROT_WRITE) == 0);
	/* A read into a caller buffer that runs into the hole: EFAULT (the caller's side). */
	fill(g.mem + MEM1, 2 * PAGE, 5);
	CHECK_ERR(abs_read(g.vm, MEM1, 40, src + HOLE - 13, NO_KEY, 0), EFAULT);
	CHECK(memcmp(src + HOLE - 13, g.mem + MEM1, 13) == 0);
	CHECK_ERR(abs_read(g.vm, MEM1, 2 * PAGE, src + HOLE - 100, NO_KEY, 0), EFAULT);
	/* Reads and writes of every size up to 300 bytes around a page boundary round-trip. */
	for (uint32_t n = 1; n <= 300; n++) {
		fill(wbuf, n, n);
		CHECK_RET(abs_write(g.vm, MEM1 + PAGE - n / 2, n, wbuf, NO_KEY, 0), 0);
		CHECK(memcmp(g.mem + MEM1 + PAGE - n / 2, wbuf, n) == 0);
		memset(rbuf, 0, n);
		CHECK_RET(abs_read(g.vm, MEM1 + PAGE - n / 2, n, rbuf, NO_KEY, 0), 0);
		CHECK(memcmp(rbuf, wbuf, n) == 0);
	}
	ok = true;
done:
	KVM_CLOSE(g.vm);
	if (src)
		munmap(src, HOLE + PAGE);
	return ok;
}

static bool test_capabilities(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP_EXTENSION), 3);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP), 65536);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_SKEYS), 1);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

int main(void)
{
	RUN(test_generic_errors);
	RUN(test_cmpxchg_errors);
	RUN(test_copy_with_keys);
	RUN(test_fetch_protection);
	RUN(test_errors_with_key);
	RUN(test_partial_and_addressing);
	RUN(test_cmpxchg_with_keys);
	RUN(test_cmpxchg_key_protected);
	RUN(test_dirty_bits);
	RUN(test_one_copy_rules);
	RUN(test_capabilities);
	DONE();
}
