/*
 * A port of the kernel selftest tools/testing/selftests/kvm/s390/memop.c, written anew for
 * kvm-s390-shim: every test case with the selftest's inputs and expected values (spec
 * memop.md 7). The guest code runs as shim guest programs; GUEST_SYNC(stage) is a DIAG 0x501
 * exit with the stage in GPR 2. As in the selftest, the vCPU runs in 64-bit mode with DAT on;
 * guest virtual and absolute addresses differ, and absolute memops use the translated address.
 */
#include "selftest.h"
#include "dat.h"

#include <pthread.h>

/* M(...) below gives .key a default of -1 ("no key") that callers override by design. */
#pragma GCC diagnostic ignored "-Woverride-init"

enum stage { STAGE_INITED = 1, STAGE_IDLED, STAGE_SKEYS_SET, STAGE_COPIED, STAGE_DONE };

#define MEM_SIZE 65536
#define MEM1_VA 0x10000000ull
#define MEM2_VA 0x10100000ull
#define MEM1_ABS 0x100000ull
#define MEM2_ABS 0x200000ull
#define LAST_PAGE_VA 0xfffffffffffff000ull
#define LAST_PAGE_ABS 0x300000ull
#define PAGE0_ABS 0x400000ull /* guest page 0 of the fetch-protection-override tests */
#define GUEST_MEM (8 * MiB)
#define CR0_FETCH_PROTECTION_OVERRIDE (1ull << (63 - 38))
#define CR0_STORAGE_PROTECTION_OVERRIDE (1ull << (63 - 39))
#define CMPXCHG_ITER_OUTER 100
#define CMPXCHG_ITER_INNER 10000
#define MAX_BLOCK 16

static uint8_t mem1[MEM_SIZE] __attribute__((aligned(16)));
static uint8_t mem2[MEM_SIZE] __attribute__((aligned(16)));

enum guest_kind {
	GUEST_IDLE, GUEST_COPY, GUEST_COPY_KEY, GUEST_COPY_KEY_FETCH_PROT, GUEST_COPY_KEY_FETCH_PROT_OVERRIDE,
	GUEST_ERROR_KEY, GUEST_CMPXCHG_KEY,
};

struct test_default {
	struct cpu c;
	enum guest_kind kind;
	int step;
	uint32_t size;
	int guest_failures;
};

/* Where guest virtual page 0 lives: the selftest allocates it a frame of its own in the
 * fetch-protection-override tests; elsewhere the low 2 MiB are identity-mapped. */
static uint64_t page0_abs;

static uint64_t gva2gpa(uint64_t va)
{
	if (va < 4096)
		return page0_abs + va;
	if (va >= MEM1_VA && va < MEM1_VA + MEM_SIZE)
		return MEM1_ABS + (va - MEM1_VA);
	if (va >= MEM2_VA && va < MEM2_VA + MEM_SIZE)
		return MEM2_ABS + (va - MEM2_VA);
	if (va >= LAST_PAGE_VA)
		return LAST_PAGE_ABS + (va - LAST_PAGE_VA);
	return va; /* page 0 and the tables are identity-mapped */
}

/* ---- guest side ---------------------------------------------------------------------- */

#define G(fn) SHIM_API(kvm_s390_shim_guest_##fn)

/* LRA then SSKE on every page of the range, as the selftest's guest does. */
static void set_storage_key_range(struct test_default *t, struct kvm_s390_shim_guest *cpu, uint64_t va, size_t len, uint8_t key)
{
	for (uint64_t p = va & ~0xfffull; p < va + len; p += 4096) {
		uint64_t abs;
		if (G(translate)(cpu, p, 0, &abs) != 0 || G(sske)(cpu, abs, key) != 0)
			t->guest_failures++;
	}
}

static void guest_memcpy(struct test_default *t, struct kvm_s390_shim_guest *cpu, uint64_t dst, uint64_t src, size_t len)
{
	static uint8_t buf[MEM_SIZE];
	if (G(read)(cpu, src, buf, len, 0) != 0 || G(write)(cpu, dst, buf, len, 0) != 0)
		t->guest_failures++;
}

static struct kvm_s390_shim_exit guest_sync(struct kvm_s390_shim_guest *cpu, enum stage s)
{
	G(set_reg)(cpu, 'g', 2, s);
	return diag_501();
}

/* ---- the concurrent cmpxchg test's arithmetic (values as 128-bit numbers, stored big-endian) */

typedef unsigned __int128 u128;

static u128 cut_to_size(int size, u128 v)
{
	return size == 16 ? v : v & (((u128)1 << (size * 8)) - 1);
}

static u128 rotate_right(int size, u128 v, int amount)
{
	int bits = size * 8;
	amount = ((amount % bits) + bits) % bits;
	v = cut_to_size(size, v);
	if (amount == 0)
		return v;
	return cut_to_size(size, (v << (bits - amount)) | (v >> amount));
}

/* The selftest's block choice: guest sizes 4/8/16, host sizes 1..16, aligned offsets. */
static void choose_block(bool guest, int i, int *size, int *offset)
{
	unsigned r = (unsigned)i;
	if (guest) {
		r = r * 19 + 11;
		*size = 1 << ((r % 3) + 2);
		r = r * 19 + 11;
	} else {
		r = r * 17 + 5;
		*size = 1 << (r % 5);
		r = r * 17 + 5;
	}
	*offset = (int)(r % MAX_BLOCK) & ~(*size - 1);
}

/* The selftest's bit permutation: swap two bytes of the block or rotate it; either keeps the
 * population count. */
static u128 permutate_bits(bool guest, int i, int size, u128 old)
{
	unsigned r = (unsigned)i * 3 + 1;
	if (guest)
		r = r * 3 + 1;
	if (r % 2 == 0) {
		r = r * 3 + 1;
		int a = (int)(r % (unsigned)size);
		r = r * 3 + 1;
		int b = (int)(r % (unsigned)size);
		if (a == b)
			return old;
		u128 byte_a = (old >> (a * 8)) & 0xff, byte_b = (old >> (b * 8)) & 0xff;
		u128 v = old & ~(((u128)0xff << (a * 8)) | ((u128)0xff << (b * 8)));
		return v | (byte_a << (b * 8)) | (byte_b << (a * 8));
	}
	r = r * 3 + 1;
	return rotate_right(size, old, (int)(r % (unsigned)(size * 8)));
}

static void to_be(uint8_t *dst, int size, u128 v)
{
	for (int k = size - 1; k >= 0; k--, v >>= 8)
		dst[k] = (uint8_t)v;
}

static u128 from_be(const uint8_t *src, int size)
{
	u128 v = 0;
	for (int k = 0; k < size; k++)
		v = v << 8 | src[k];
	return v;
}

/* The guest's CS/CSG/CDSG: like the selftest's asm, the old value comes back cut to size. */
static int guest_cmpxchg(struct kvm_s390_shim_guest *cpu, int size, uint64_t va, u128 *old, u128 new)
{
	uint8_t o[16], n[16];
	to_be(o, size, *old);
	to_be(n, size, new);
	int r = G(cs)(cpu, va, (size_t)size, o, n, 0);
	*old = from_be(o, size);
	return r;
}

/* Set by whichever side of the concurrent test fails, so the other stops waiting for it
 * (upstream's assertions end the process instead). */
static int concurrent_abort;

static bool aborted(void)
{
	return __atomic_load_n(&concurrent_abort, __ATOMIC_ACQUIRE) != 0;
}

static void abort_concurrent(void)
{
	__atomic_store_n(&concurrent_abort, 1, __ATOMIC_RELEASE);
}

/* The guest side of the concurrent test: take the 16-byte "lock" in mem1 (1 -> 0), then
 * permute blocks of mem2 with CS/CSG/CDSG, 100 x 10000 times. */
static void guest_cmpxchg_loops(struct test_default *t, struct kvm_s390_shim_guest *cpu)
{
	u128 old = 0, new;
	int size, offset, r;
	for (int i = 0; i < CMPXCHG_ITER_OUTER; i++) {
		do {
			old = 1;
			r = guest_cmpxchg(cpu, 16, MEM1_VA, &old, 0);
		} while (r == 1 && !aborted());
		if (r != 0)
			goto fail;
		for (int j = 0; j < CMPXCHG_ITER_INNER; j++) {
			choose_block(true, i + j, &size, &offset);
			do {
				new = permutate_bits(true, i + j, size, old);
				r = guest_cmpxchg(cpu, size, MEM2_VA + (uint64_t)offset, &old, new);
			} while (r == 1);
			if (r != 0)
				goto fail;
		}
	}
	return;
fail:
	t->guest_failures++;
	abort_concurrent();
}

static struct kvm_s390_shim_exit guest_program(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct test_default *t = opaque;
	int step = t->step++;
	switch (t->kind) {
	case GUEST_IDLE:
		return guest_sync(cpu, step == 0 ? STAGE_INITED : STAGE_IDLED);
	case GUEST_COPY:
		if (step == 0)
			return guest_sync(cpu, STAGE_INITED);
		guest_memcpy(t, cpu, MEM2_VA, MEM1_VA, MEM_SIZE);
		return guest_sync(cpu, STAGE_COPIED);
	case GUEST_COPY_KEY:
		if (step == 0) {
			set_storage_key_range(t, cpu, MEM1_VA, MEM_SIZE, 0x90);
			set_storage_key_range(t, cpu, MEM2_VA, MEM_SIZE, 0x90);
			return guest_sync(cpu, STAGE_SKEYS_SET);
		}
		guest_memcpy(t, cpu, MEM2_VA, MEM1_VA, MEM_SIZE);
		return guest_sync(cpu, STAGE_COPIED);
	case GUEST_COPY_KEY_FETCH_PROT:
		if (step == 0)
			return guest_sync(cpu, STAGE_INITED);
		if (step == 1) {
			set_storage_key_range(t, cpu, MEM1_VA, MEM_SIZE, 0x98);
			set_storage_key_range(t, cpu, MEM2_VA, MEM_SIZE, 0x98);
			return guest_sync(cpu, STAGE_SKEYS_SET);
		}
		guest_memcpy(t, cpu, MEM2_VA, MEM1_VA, MEM_SIZE);
		return guest_sync(cpu, STAGE_COPIED);
	case GUEST_COPY_KEY_FETCH_PROT_OVERRIDE:
		if (step == 0)
			return guest_sync(cpu, STAGE_INITED);
		if (step == 1) {
			set_storage_key_range(t, cpu, 0, 4096, 0x18);
			set_storage_key_range(t, cpu, LAST_PAGE_VA, 4096, 0x0);
			G(sske)(cpu, 0, 0x18);
			return guest_sync(cpu, STAGE_SKEYS_SET);
		}
		guest_memcpy(t, cpu, 0, MEM1_VA, 4096);
		return guest_sync(cpu, STAGE_COPIED);
	case GUEST_ERROR_KEY:
		if (step == 0)
			return guest_sync(cpu, STAGE_INITED);
		if (step == 1) {
			set_storage_key_range(t, cpu, MEM1_VA, 4096, 0x18);
			set_storage_key_range(t, cpu, MEM1_VA + 4096, MEM_SIZE - 4096, 0x98);
			return guest_sync(cpu, STAGE_SKEYS_SET);
		}
		return guest_sync(cpu, STAGE_IDLED);
	case GUEST_CMPXCHG_KEY:
		if (step == 0) {
			set_storage_key_range(t, cpu, MEM1_VA, MAX_BLOCK, 0x10);
			set_storage_key_range(t, cpu, MEM2_VA, MAX_BLOCK, 0x10);
			return guest_sync(cpu, STAGE_SKEYS_SET);
		}
		guest_cmpxchg_loops(t, cpu);
		return guest_sync(cpu, STAGE_DONE);
	}
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
}

/* ---- host side ------------------------------------------------------------------------ */

static bool test_default_init(struct test_default *t, enum guest_kind kind)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (!guest_open(&t->c.g, 0))
		return false;
	/* 8 MiB of guest memory in one slot. */
	uint8_t *m = map_aligned(GUEST_MEM, MiB);
	if (!m || set_region(t->c.g.vm, 0, 0, 0, 0, NULL) != 0 || set_region(t->c.g.vm, 0, 0, 0, GUEST_MEM, m) != 0)
		return false;
	t->c.g.mem = m;
	int kvm = KVM_OPEN(O_RDWR);
	int cap = KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP);
	KVM_CLOSE(kvm);
	t->size = cap < MEM_SIZE ? (uint32_t)cap : MEM_SIZE;
	t->c.vcpu = KVM_IOCTL(t->c.g.vm, KVM_CREATE_VCPU, 0);
	t->c.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, t->c.vcpu, 0);
	if (t->c.vcpu < 0 || t->c.run == MAP_FAILED)
		return false;
	/* Region-first tables: identity map of the low 2 MiB, mem1, mem2. */
	struct dat d;
	dat_init(&d, &t->c, 0x600000, 3);
	page0_abs = kind == GUEST_COPY_KEY_FETCH_PROT_OVERRIDE ? PAGE0_ABS : 0;
	dat_map(&d, 0, page0_abs);
	for (uint64_t va = 4096; va < 0x200000; va += 4096)
		dat_map(&d, va, va);
	for (uint64_t off = 0; off < MEM_SIZE; off += 4096) {
		dat_map(&d, MEM1_VA + off, MEM1_ABS + off);
		dat_map(&d, MEM2_VA + off, MEM2_ABS + off);
	}
	/* As in the selftest, only the fetch-protection-override tests map the last page. */
	if (kind == GUEST_COPY_KEY_FETCH_PROT_OVERRIDE)
		dat_map(&d, LAST_PAGE_VA, LAST_PAGE_ABS);
	struct kvm_sregs s;
	KVM_IOCTL(t->c.vcpu, KVM_GET_SREGS, &s);
	s.crs[0] |= 0x40000; /* as the selftest library sets it */
	s.crs[1] = dat_asce(&d);
	if (KVM_IOCTL(t->c.vcpu, KVM_SET_SREGS, &s))
		return false;
	struct kvm_s390_psw psw = {.mask = SELFTEST_PSW_MASK, .addr = 0x1000};
	return KVM_IOCTL(t->c.vcpu, KVM_S390_SET_INITIAL_PSW, &psw) == 0 && SET_GUEST(t->c.vcpu, guest_program, t) == 0;
}

static void test_default_free(struct test_default *t)
{
	munmap(t->c.run, 4096);
	KVM_CLOSE(t->c.vcpu);
	KVM_CLOSE(t->c.g.vm);
	munmap(t->c.g.mem, GUEST_MEM);
}

static bool host_sync(struct test_default *t, enum stage s)
{
	bool ok = false;
	CHECK_RET(KVM_IOCTL(t->c.vcpu, KVM_RUN, 0), 0);
	CHECK(exit_was_hypercall(t->c.run));
	if (t->c.run->s.regs.gprs[2] != (uint64_t)s)
		FAIL("guest reached stage %llu, want %d", (unsigned long long)t->c.run->s.regs.gprs[2], s);
	CHECK(t->guest_failures == 0);
	ok = true;
done:
	return ok;
}
#define HOST_SYNC(t, s) CHECK(host_sync((t), (s)))

enum target { LOGICAL, ABSOLUTE };

struct mop_desc {
	enum target target;
	uint32_t op;
	void *buf;
	uint32_t size;
	uint64_t gaddr_v; /* translated for ABSOLUTE unless gaddr_raw (the selftest's GADDR) */
	bool gaddr_raw;
	int key;          /* -1: none */
	uint64_t flags;
	uint8_t ar;
	void *old;        /* cmpxchg */
	bool *succ;
};

/* The selftest's ksmemop: virtual addresses are translated for absolute targets; for cmpxchg
 * "success" means the old buffer came back unchanged. */
static int do_mop(struct test_default *t, struct mop_desc d)
{
	struct kvm_s390_mem_op m;
	memcpy(m.reserved, "ignored_ignored_ignored_ignored", 32);
	m.gaddr = d.target == ABSOLUTE && !d.gaddr_raw ? gva2gpa(d.gaddr_v) : d.gaddr_v;
	m.flags = d.flags;
	m.size = d.size;
	m.buf = (uintptr_t)d.buf;
	if (d.op == KVM_S390_MEMOP_LOGICAL_READ || d.op == KVM_S390_MEMOP_LOGICAL_WRITE)
		m.op = d.target == ABSOLUTE ? d.op + 4 : d.op;
	else
		m.op = d.op;
	m.ar = d.ar;
	if (d.key >= 0) {
		m.flags |= KVM_S390_MEMOP_F_SKEY_PROTECTION;
		m.key = (uint8_t)d.key;
	}
	uint8_t before[16];
	if (d.old) {
		m.old_addr = (uintptr_t)d.old;
		memcpy(before, d.old, d.size > 16 ? 16 : d.size);
	}
	int fd = d.target == ABSOLUTE ? t->c.g.vm : t->c.vcpu;
	int r = KVM_IOCTL(fd, KVM_S390_MEM_OP, &m);
	if (d.succ)
		*d.succ = r == 0 && memcmp(before, d.old, d.size) == 0;
	return r;
}

/* A memop struct built field by field over the selftest's "ignored" text, as its ksmemop is. */
static struct kvm_s390_mem_op raw_mop(uint64_t gaddr, uint32_t size, uint32_t op, const void *buf)
{
	struct kvm_s390_mem_op m;
	memcpy(m.reserved, "ignored_ignored_ignored_ignored", 32);
	m.gaddr = gaddr;
	m.size = size;
	m.op = op;
	m.buf = (uintptr_t)buf;
	m.flags = 0;
	m.ar = 0;
	return m;
}

#define READ KVM_S390_MEMOP_LOGICAL_READ
#define WRITE KVM_S390_MEMOP_LOGICAL_WRITE
#define CMPXCHG KVM_S390_MEMOP_ABSOLUTE_CMPXCHG
#define SIDA_R KVM_S390_MEMOP_SIDA_READ
#define SIDA_W KVM_S390_MEMOP_SIDA_WRITE
#define CHECK_ONLY KVM_S390_MEMOP_F_CHECK_ONLY
#define INJECT KVM_S390_MEMOP_F_INJECT_EXCEPTION

/* MOP: must return 0. ERR_PROT_MOP: must return 4. Both run CHECK_ONLY first (CHECK_N_DO). */
static bool mop_ok(struct test_default *t, struct mop_desc d, bool check_n_do)
{
	bool ok = false;
	if (check_n_do) {
		struct mop_desc c = d;
		c.flags |= CHECK_ONLY;
		CHECK_RET(do_mop(t, c), 0);
	}
	CHECK_RET(do_mop(t, d), 0);
	ok = true;
done:
	return ok;
}

static bool err_prot_mop(struct test_default *t, struct mop_desc d, bool check_n_do)
{
	bool ok = false;
	if (check_n_do) {
		struct mop_desc c = d;
		c.flags |= CHECK_ONLY;
		CHECK_RET(do_mop(t, c), 4);
	}
	CHECK_RET(do_mop(t, d), 4);
	ok = true;
done:
	return ok;
}

#define M(...) ((struct mop_desc){.key = -1, __VA_ARGS__})

static void prepare_mem12(void)
{
	for (int i = 0; i < MEM_SIZE; i++)
		mem1[i] = (uint8_t)rand();
	memset(mem2, 0xaa, sizeof(mem2));
}

static bool default_write_read(struct test_default *t, enum target target, uint32_t size, int key)
{
	bool ok = false;
	prepare_mem12();
	CHECK(mop_ok(t, M(.target = target, .op = WRITE, .buf = mem1, .size = size, .gaddr_v = MEM1_VA, .key = key), true));
	HOST_SYNC(t, STAGE_COPIED);
	CHECK(mop_ok(t, M(.target = target, .op = READ, .buf = mem2, .size = size, .gaddr_v = MEM2_VA, .key = key), true));
	CHECK(memcmp(mem1, mem2, size) == 0);
	ok = true;
done:
	return ok;
}

static bool default_read(struct test_default *t, enum target target, uint32_t size, int key)
{
	bool ok = false;
	prepare_mem12();
	CHECK(mop_ok(t, M(.target = target, .op = WRITE, .buf = mem1, .size = size, .gaddr_v = MEM1_VA), true));
	HOST_SYNC(t, STAGE_COPIED);
	CHECK(mop_ok(t, M(.target = target, .op = READ, .buf = mem2, .size = size, .gaddr_v = MEM2_VA, .key = key), true));
	CHECK(memcmp(mem1, mem2, size) == 0);
	ok = true;
done:
	return ok;
}

static bool test_copy(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY));
	HOST_SYNC(&t, STAGE_INITED);
	CHECK(default_write_read(&t, LOGICAL, t.size, -1));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_common(struct test_default *t, enum target target, uint32_t size)
{
	bool ok = false;
	int rv;
	rv = do_mop(t, M(.target = target, .op = WRITE, .buf = mem1, .size = 0xffffffffu, .gaddr_v = MEM1_VA));
	CHECK(rv == -1 && errno == E2BIG);
	rv = do_mop(t, M(.target = target, .op = WRITE, .buf = mem1, .size = 0, .gaddr_v = MEM1_VA));
	CHECK(rv == -1 && (errno == EINVAL || errno == ENOMEM));
	rv = do_mop(t, M(.target = target, .op = WRITE, .buf = mem1, .size = size, .gaddr_v = MEM1_VA, .flags = ~0ull));
	CHECK(rv == -1 && errno == EINVAL);
	/* a bad guest address (not translated for absolute targets: GADDR, not GADDR_V) */
	struct mop_desc bad = M(.target = target, .op = WRITE, .buf = mem1, .size = size, .gaddr_v = ~0xfffull, .gaddr_raw = true,
				.flags = CHECK_ONLY);
	CHECK(do_mop(t, bad) > 0);
	bad.flags = 0;
	CHECK(do_mop(t, bad) > 0);
	rv = do_mop(t, M(.target = target, .op = WRITE, .buf = NULL, .size = size, .gaddr_v = MEM1_VA));
	CHECK(rv == -1 && errno == EFAULT);
	rv = do_mop(t, M(.target = target, .op = WRITE, .buf = mem1, .size = size, .gaddr_v = MEM1_VA, .key = 17));
	CHECK(rv == -1 && errno == EINVAL);
	ok = true;
done:
	return ok;
}

static bool test_errors(void)
{
	bool ok = false;
	struct test_default t;
	int rv;
	CHECK(test_default_init(&t, GUEST_IDLE));
	HOST_SYNC(&t, STAGE_INITED);
	CHECK(test_errors_common(&t, LOGICAL, t.size));
	CHECK(test_errors_common(&t, ABSOLUTE, t.size));
	/* bad operation, on the vCPU and on the VM */
	rv = do_mop(&t, M(.target = LOGICAL, .op = 0xffffffffu, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA));
	CHECK(rv == -1 && errno == EINVAL);
	struct kvm_s390_mem_op m = raw_mop(0, 4096, 0xffffffffu, mem1);
	CHECK_ERR(KVM_IOCTL(t.c.g.vm, KVM_S390_MEM_OP, &m), EINVAL);
	/* bad access register, in AR mode */
	t.c.run->psw_mask &= ~(3ull << (63 - 17));
	t.c.run->psw_mask |= 1ull << (63 - 17);
	HOST_SYNC(&t, STAGE_IDLED);
	rv = do_mop(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .ar = 17));
	CHECK(rv == -1 && errno == EINVAL);
	t.c.run->psw_mask &= ~(3ull << (63 - 17));
	HOST_SYNC(&t, STAGE_IDLED);
	/* SIDA operations on a non-protected guest */
	m = raw_mop(0, 8, SIDA_R, mem1);
	m.sida_offset = 0x1c0;
	CHECK_ERR(KVM_IOCTL(t.c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	m.op = SIDA_W;
	CHECK_ERR(KVM_IOCTL(t.c.vcpu, KVM_S390_MEM_OP, &m), EINVAL);
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_copy_key(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY));
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vm, no key */
	CHECK(default_write_read(&t, ABSOLUTE, t.size, -1));
	/* vm/vcpu, matching key or key 0 */
	CHECK(default_write_read(&t, LOGICAL, t.size, 0));
	CHECK(default_write_read(&t, LOGICAL, t.size, 9));
	CHECK(default_write_read(&t, ABSOLUTE, t.size, 0));
	CHECK(default_write_read(&t, ABSOLUTE, t.size, 9));
	/* the same within one page */
	CHECK(default_write_read(&t, LOGICAL, 1, 0));
	CHECK(default_write_read(&t, LOGICAL, 1, 9));
	CHECK(default_write_read(&t, ABSOLUTE, 1, 0));
	CHECK(default_write_read(&t, ABSOLUTE, 1, 9));
	/* vm/vcpu, mismatching keys on read, but no fetch protection */
	CHECK(default_read(&t, LOGICAL, t.size, 2));
	CHECK(default_read(&t, ABSOLUTE, t.size, 2));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool default_cmpxchg(struct test_default *t, int key)
{
	bool ok = false;
	for (uint32_t size = 1; size <= 16; size *= 2) {
		for (uint32_t offset = 0; offset < 16; offset += size) {
			uint8_t new[16] __attribute__((aligned(16))) = {0}, old[16] __attribute__((aligned(16)));
			bool succ = false;
			prepare_mem12();
			CHECK(default_write_read(t, LOGICAL, 16, -1));
			memcpy(old, mem1, 16);
			CHECK(mop_ok(t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = new + offset, .size = size,
					  .gaddr_v = MEM1_VA + offset, .old = old + offset, .succ = &succ, .key = key), false));
			CHECK(host_sync(t, STAGE_COPIED));
			CHECK(mop_ok(t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = 16, .gaddr_v = MEM2_VA), false));
			CHECK(succ);
			memcpy(mem1 + offset, new + offset, size);
			CHECK(memcmp(mem1, mem2, 16) == 0);
			memcpy(old, mem1, 16);
			new[offset]++;
			old[offset]++;
			CHECK(mop_ok(t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = new + offset, .size = size,
					  .gaddr_v = MEM1_VA + offset, .old = old + offset, .succ = &succ, .key = key), false));
			CHECK(host_sync(t, STAGE_COPIED));
			CHECK(mop_ok(t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = 16, .gaddr_v = MEM2_VA), false));
			CHECK(!succ);
			CHECK(memcmp(mem1, mem2, 16) == 0);
			CHECK(memcmp(old, mem1, 16) == 0);
		}
	}
	ok = true;
done:
	return ok;
}

static bool test_cmpxchg_key(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY));
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	CHECK(default_cmpxchg(&t, -1));
	CHECK(default_cmpxchg(&t, 0));
	CHECK(default_cmpxchg(&t, 9));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static int popcount16(const uint8_t *b)
{
	int n = 0;
	for (int i = 0; i < 16; i++)
		n += __builtin_popcount(b[i]);
	return n;
}

static void *run_guest(void *arg)
{
	struct test_default *t = arg;
	return (void *)(intptr_t)host_sync(t, STAGE_DONE);
}

/* The host's memop cmpxchg as the selftest issues it: on failure the current value replaces
 * the low `size` bytes of `old`, the rest of `old` is kept. */
static int host_cmpxchg(struct test_default *t, int size, uint64_t va, u128 *old, u128 new, bool *succ)
{
	uint8_t o[16], n[16];
	to_be(o, size, *old);
	to_be(n, size, new);
	int r = do_mop(t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = n, .size = (uint32_t)size, .gaddr_v = va, .old = o,
			    .succ = succ, .key = 1));
	*old = (*old & ~cut_to_size(size, ~(u128)0)) | from_be(o, size);
	return r;
}

static bool test_cmpxchg_key_concurrent(void)
{
	bool ok = false;
	struct test_default t;
	pthread_t thread;
	bool joined = true;
	CHECK(test_default_init(&t, GUEST_CMPXCHG_KEY));
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	prepare_mem12();
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = MAX_BLOCK, .gaddr_v = MEM2_VA), false));
	CHECK(pthread_create(&thread, NULL, run_guest, &t) == 0);
	joined = false;
	int size, offset, failures = 0;
	u128 old = 0, new;
	bool succ = false;
	__atomic_store_n(&concurrent_abort, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < CMPXCHG_ITER_OUTER && !failures && !aborted(); i++) {
		do {
			old = 0;
			new = 1;
			failures += host_cmpxchg(&t, 16, MEM1_VA, &old, new, &succ) != 0;
		} while (!succ && !failures && !aborted());
		for (int j = 0; j < CMPXCHG_ITER_INNER && !failures; j++) {
			choose_block(false, i + j, &size, &offset);
			do {
				new = permutate_bits(false, i + j, size, old);
				failures += host_cmpxchg(&t, size, MEM2_VA + (uint64_t)offset, &old, new, &succ) != 0;
			} while (!succ && !failures);
		}
	}
	if (failures)
		abort_concurrent();
	void *guest_ok = NULL;
	pthread_join(thread, &guest_ok);
	joined = true;
	CHECK(failures == 0);
	CHECK(guest_ok);
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = MAX_BLOCK, .gaddr_v = MEM2_VA), false));
	if (popcount16(mem1) != popcount16(mem2))
		FAIL("must retain number of set bits: %d, was %d", popcount16(mem2), popcount16(mem1));
	ok = true;
done:
	if (!joined)
		pthread_join(thread, NULL);
	test_default_free(&t);
	return ok;
}

static bool test_copy_key_storage_prot_override(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT));
	HOST_SYNC(&t, STAGE_INITED);
	t.c.run->s.regs.crs[0] |= CR0_STORAGE_PROTECTION_OVERRIDE;
	t.c.run->kvm_dirty_regs = KVM_SYNC_CRS;
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vcpu, mismatching keys, storage protection override in effect */
	CHECK(default_write_read(&t, LOGICAL, t.size, 2));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_copy_key_fetch_prot(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT));
	HOST_SYNC(&t, STAGE_INITED);
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vm/vcpu, matching key, fetch protection in effect */
	CHECK(default_read(&t, LOGICAL, t.size, 9));
	CHECK(default_read(&t, ABSOLUTE, t.size, 9));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_copy_key_fetch_prot_override(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT_OVERRIDE));
	HOST_SYNC(&t, STAGE_INITED);
	t.c.run->s.regs.crs[0] |= CR0_FETCH_PROTECTION_OVERRIDE;
	t.c.run->kvm_dirty_regs = KVM_SYNC_CRS;
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vcpu, mismatching keys on fetch, fetch protection override applies */
	prepare_mem12();
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = 4096, .gaddr_v = MEM1_VA), false));
	HOST_SYNC(&t, STAGE_COPIED);
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = 2048, .gaddr_v = 0, .key = 2), true));
	CHECK(memcmp(mem1, mem2, 2048) == 0);
	/* ... with wrap-around from the last page to page 0 */
	prepare_mem12();
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = 2 * 4096, .gaddr_v = LAST_PAGE_VA), false));
	HOST_SYNC(&t, STAGE_COPIED);
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = 4096 + 2048, .gaddr_v = LAST_PAGE_VA, .key = 2), true));
	CHECK(memcmp(mem1, mem2, 2048) == 0);
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_copy_access_register(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY));
	HOST_SYNC(&t, STAGE_INITED);
	prepare_mem12();
	t.c.run->psw_mask &= ~(3ull << (63 - 17));
	t.c.run->psw_mask |= 1ull << (63 - 17); /* AR mode */
	/* Access register 1 holds 0 in the guest: the primary space is used. */
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .ar = 1), true));
	HOST_SYNC(&t, STAGE_COPIED);
	CHECK(mop_ok(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = t.size, .gaddr_v = MEM2_VA, .ar = 1), true));
	CHECK(memcmp(mem1, mem2, t.size) == 0);
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_key(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_ERROR_KEY));
	HOST_SYNC(&t, STAGE_INITED);
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vm/vcpu, mismatching keys, fetch protection in effect */
	CHECK(err_prot_mop(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = t.size, .gaddr_v = MEM1_VA, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = t.size, .gaddr_v = MEM1_VA, .key = 2), true));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_cmpxchg_key(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT));
	HOST_SYNC(&t, STAGE_INITED);
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	for (uint32_t i = 1; i <= 16; i *= 2) {
		uint8_t old[16] __attribute__((aligned(16))) = {0};
		CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = mem2, .size = i, .gaddr_v = MEM2_VA, .old = old, .key = 2), false));
	}
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_cmpxchg(void)
{
	bool ok = false;
	struct test_default t;
	uint8_t old[16] __attribute__((aligned(16)));
	int rv, power = 1;
	CHECK(test_default_init(&t, GUEST_IDLE));
	HOST_SYNC(&t, STAGE_INITED);
	for (uint32_t i = 0; i < 32; i++) {
		if (i == (uint32_t)power) {
			power *= 2;
			continue;
		}
		rv = do_mop(&t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = mem1, .size = i, .gaddr_v = MEM1_VA, .old = old));
		CHECK(rv == -1 && errno == EINVAL);
	}
	for (uint32_t i = 1; i <= 16; i *= 2) {
		CHECK(do_mop(&t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = mem1, .size = i, .gaddr_v = ~0xfffull,
				   .gaddr_raw = true, .old = old)) > 0);
	}
	for (uint32_t i = 2; i <= 16; i *= 2) {
		rv = do_mop(&t, M(.target = ABSOLUTE, .op = CMPXCHG, .buf = mem1, .size = i, .gaddr_v = MEM1_VA + 1, .old = old));
		CHECK(rv == -1 && errno == EINVAL);
	}
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_termination(void)
{
	bool ok = false;
	struct test_default t;
	const uint64_t teid_mask = (1ull << (63 - 56)) | (1ull << (63 - 60)) | (1ull << (63 - 61));
	CHECK(test_default_init(&t, GUEST_ERROR_KEY));
	HOST_SYNC(&t, STAGE_INITED);
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vcpu, mismatching keys after the first page */
	CHECK_RET(do_mop(&t, M(.target = LOGICAL, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .key = 1, .flags = INJECT)), 4);
	/* The guest's program-new PSW is its current PSW: it continues where it was. */
	uint64_t prefix = t.c.run->s.regs.prefix;
	uint64_t psw[2] = {htobe64(t.c.run->psw_mask), htobe64(t.c.run->psw_addr)};
	struct kvm_s390_mem_op m = raw_mop(prefix + 464, sizeof(psw), KVM_S390_MEMOP_ABSOLUTE_WRITE, psw);
	CHECK_RET(KVM_IOCTL(t.c.g.vm, KVM_S390_MEM_OP, &m), 0);
	HOST_SYNC(&t, STAGE_IDLED);
	uint64_t teid = ~0ull; /* filled by the read below */
	m = raw_mop(prefix + 168, sizeof(teid), KVM_S390_MEMOP_ABSOLUTE_READ, &teid);
	CHECK_RET(KVM_IOCTL(t.c.g.vm, KVM_S390_MEM_OP, &m), 0);
	/* bits 56, 60 and 61 form a code; 0 is the only one allowing termination */
	CHECK((be64toh(teid) & teid_mask) == 0);
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_key_storage_prot_override(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT));
	HOST_SYNC(&t, STAGE_INITED);
	t.c.run->s.regs.crs[0] |= CR0_STORAGE_PROTECTION_OVERRIDE;
	t.c.run->kvm_dirty_regs = KVM_SYNC_CRS;
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vm, mismatching keys, storage protection override not applicable to the VM */
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = WRITE, .buf = mem1, .size = t.size, .gaddr_v = MEM1_VA, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = t.size, .gaddr_v = MEM2_VA, .key = 2), true));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_key_fetch_prot_override_not_enabled(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT_OVERRIDE));
	HOST_SYNC(&t, STAGE_INITED);
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vcpu, mismatching keys on fetch, fetch protection override not enabled */
	CHECK(err_prot_mop(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = 2048, .gaddr_v = 0, .key = 2), true));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

static bool test_errors_key_fetch_prot_override_enabled(void)
{
	bool ok = false;
	struct test_default t;
	CHECK(test_default_init(&t, GUEST_COPY_KEY_FETCH_PROT_OVERRIDE));
	HOST_SYNC(&t, STAGE_INITED);
	t.c.run->s.regs.crs[0] |= CR0_FETCH_PROTECTION_OVERRIDE;
	t.c.run->kvm_dirty_regs = KVM_SYNC_CRS;
	HOST_SYNC(&t, STAGE_SKEYS_SET);
	/* vcpu: the override does not apply beyond 2048 bytes */
	CHECK(err_prot_mop(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = 2048 + 1, .gaddr_v = 0, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = LOGICAL, .op = READ, .buf = mem2, .size = 4096 + 2048 + 1, .gaddr_v = LAST_PAGE_VA, .key = 2), true));
	/* vm: the override does not apply, at absolute 0 and at guest page 0's frame */
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = 2048, .gaddr_v = 0, .gaddr_raw = true, .key = 2), true));
	CHECK(err_prot_mop(&t, M(.target = ABSOLUTE, .op = READ, .buf = mem2, .size = 2048, .gaddr_v = 0, .key = 2), true));
	ok = true;
done:
	test_default_free(&t);
	return ok;
}

struct testdef {
	const char *name;
	bool (*test)(void);
	int needs; /* 0 none, 1 extension > 0, 2 extension & CMPXCHG */
};

static const struct testdef testlist[] = {
	{"simple copy", test_copy, 0},
	{"generic error checks", test_errors, 0},
	{"copy with storage keys", test_copy_key, 1},
	{"cmpxchg with storage keys", test_cmpxchg_key, 2},
	{"concurrently cmpxchg with storage keys", test_cmpxchg_key_concurrent, 2},
	{"copy with key storage protection override", test_copy_key_storage_prot_override, 1},
	{"copy with key fetch protection", test_copy_key_fetch_prot, 1},
	{"copy with key fetch protection override", test_copy_key_fetch_prot_override, 1},
	{"copy with access register mode", test_copy_access_register, 0},
	{"error checks with key", test_errors_key, 1},
	{"error checks for cmpxchg with key", test_errors_cmpxchg_key, 2},
	{"error checks for cmpxchg", test_errors_cmpxchg, 2},
	{"termination", test_termination, 1},
	{"error checks with key storage protection override", test_errors_key_storage_prot_override, 1},
	{"error checks without key fetch prot override", test_errors_key_fetch_prot_override_not_enabled, 1},
	{"error checks with key fetch prot override", test_errors_key_fetch_prot_override_enabled, 1},
};

int main(void)
{
	int kvm = KVM_OPEN(O_RDWR);
	int memop = KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP);
	int ext = KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP_EXTENSION);
	KVM_CLOSE(kvm);
	size_t n = sizeof(testlist) / sizeof(testlist[0]);
	printf("TAP version 13\n1..%zu\n", n);
	for (size_t i = 0; i < n; i++) {
		bool met = memop > 0 && (testlist[i].needs == 0 || (testlist[i].needs == 1 ? ext > 0 : (ext & 2) != 0));
		bool ok = met && testlist[i].test();
		test_count++;
		if (!ok)
			test_failed++;
		printf("%sok %d %s%s\n", ok ? "" : "not ", test_count, testlist[i].name, met ? "" : " (requirements not met)");
		fflush(stdout);
	}
	DONE();
}
