/*
 * CMMA migration (spec vm.md A.9, C): the host-side rows of the kernel selftest cmma_test.c
 * (numbers refer to the table in vm.md C.5), SET/PEEK round trips, and the selftest's
 * hole-skipping GET sequence.
 *
 * The selftest's guest makes the VM use CMMA with ESSA; here SET_CMMA_BITS does that (it sets
 * uses_cmm too). The selftest's row 29 re-dirties gfn 4096..4607 by ESSA; here MIGRATION_START
 * dirties every page and harvesting slot 0 leaves exactly those 512 pages dirty.
 */
#include "attr.h"

#define SLOT0_GFN 0
#define SLOT1_GFN 4096
#define SLOT2_GFN 8192
#define PAGE 4096ull

static uint8_t *mem;

static int status(int vm)
{
	uint64_t s = 99;
	if (GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, &s))
		return -1;
	return (int)s;
}

static int slot(int vm, int id, uint32_t flags)
{
	static const uint64_t gfn[] = {SLOT0_GFN, SLOT1_GFN, SLOT2_GFN};
	static const uint64_t pages[] = {512, 512, 256};
	return set_region(vm, id, flags, gfn[id] * PAGE, pages[id] * PAGE, mem + (size_t)id * 2 * MiB);
}

static int get_cmma(int vm, struct kvm_s390_cmma_log *log, uint64_t start, uint32_t count, uint32_t flags, uint8_t *buf)
{
	*log = (struct kvm_s390_cmma_log){.start_gfn = start, .count = count, .flags = flags,
					  .values = (uint64_t)(uintptr_t)buf};
	return KVM_IOCTL(vm, KVM_S390_GET_CMMA_BITS, log);
}

static int set_cmma(int vm, uint64_t start, uint32_t count, uint64_t mask, uint8_t *vals)
{
	struct kvm_s390_cmma_log log = {.start_gfn = start, .count = count, .mask = mask, .values = (uintptr_t)vals};
	return KVM_IOCTL(vm, KVM_S390_SET_CMMA_BITS, &log);
}

static int enable_cmma(int vm)
{
	return SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, NULL);
}

/* The selftest's guest: one ESSA, which makes the VM use CMMA. */
static int guest_uses_cmm(int vm)
{
	uint8_t v = 0;
	return set_cmma(vm, 0, 1, 0, &v);
}

static bool test_migration_mode(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	CHECK(vm >= 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_CMMA_MIGRATION), 1); /* 0b */
	CHECK_RET(HAS_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA), 0);  /* 0c */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), EINVAL); /* 1 */
	CHECK_RET(status(vm), 0);                                                       /* 2 */
	CHECK_RET(slot(vm, 0, 0), 0);                                                   /* 3 */
	CHECK_RET(slot(vm, 1, 0), 0);
	CHECK_RET(enable_cmma(vm), 0);                                                  /* 4 */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), EINVAL); /* 7 */
	CHECK_RET(status(vm), 0);
	CHECK_RET(slot(vm, 0, KVM_MEM_LOG_DIRTY_PAGES), 0);                             /* 8 */
	CHECK_RET(slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0); /* 9 */
	CHECK_RET(status(vm), 1);
	/* An identical memslot request is a no-op and keeps migration mode. */
	CHECK_RET(slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES), 0);
	CHECK_RET(status(vm), 1);
	CHECK_RET(slot(vm, 2, 0), 0);                                                   /* 11 */
	CHECK_RET(status(vm), 0);
	CHECK_RET(slot(vm, 2, KVM_MEM_LOG_DIRTY_PAGES), 0);                             /* 13 */
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0);
	CHECK_RET(status(vm), 1);
	CHECK_RET(slot(vm, 2, 0), 0);                                                   /* 14 */
	CHECK_RET(status(vm), 0);
	/* Deleting a slot never stops migration mode. */
	CHECK_RET(set_region(vm, 2, 0, 0, 0, NULL), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0);
	CHECK_RET(set_region(vm, 1, 0, 0, 0, NULL), 0);
	CHECK_RET(status(vm), 1);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_get_cmma_basic(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t buf[1024];
	struct kvm_s390_cmma_log log;
	CHECK(vm >= 0);
	CHECK_RET(slot(vm, 0, 0), 0);
	CHECK_RET(slot(vm, 1, 0), 0);
	CHECK_ERR(get_cmma(vm, &log, 0, 1024, 0, buf), ENXIO);                          /* 16 */
	CHECK_ERR(set_cmma(vm, 0, 1, ~0ull, buf), ENXIO);
	CHECK_RET(enable_cmma(vm), 0);                                                  /* 17 */
	CHECK_ERR(get_cmma(vm, &log, 0, 1024, 0, buf), EINVAL);                         /* 18 */
	CHECK_RET(get_cmma(vm, &log, 0, 1024, KVM_S390_CMMA_PEEK, buf), 0);             /* 19 */
	CHECK(errno == 0);
	CHECK_RET(slot(vm, 0, KVM_MEM_LOG_DIRTY_PAGES), 0);                             /* 20 */
	CHECK_RET(slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0);
	CHECK_ERR(get_cmma(vm, &log, 0, 1024, 0xfeedc0fe, buf), EINVAL);                /* 21 */
	CHECK_ERR(KVM_IOCTL(vm, KVM_S390_GET_CMMA_BITS, NULL), EFAULT);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

/* Rows 23-25: every page of both slots is CMMA-dirty after START. */
static bool assert_all_slots_cmma_dirty(int vm)
{
	bool ok = false;
	uint8_t buf[1025];
	struct kvm_s390_cmma_log log;
	memset(buf, 0xff, sizeof(buf));
	CHECK_RET(get_cmma(vm, &log, 0, 1024, 0, buf), 0);
	CHECK(log.count == 512 && log.remaining == 512 && log.start_gfn == 0);
	CHECK(buf[0] == 0 && buf[512] == 0xff);
	memset(buf, 0xff, sizeof(buf));
	CHECK_RET(get_cmma(vm, &log, 512, 1024, 0, buf), 0);
	CHECK(log.count == 512 && log.start_gfn == SLOT1_GFN && log.remaining == 0);
	CHECK(buf[0] == 0 && buf[512] == 0xff);
	memset(buf, 0xff, sizeof(buf));
	CHECK_RET(get_cmma(vm, &log, 4608, 1024, 0, buf), 0);
	CHECK(log.count == 0 && log.start_gfn == 0 && log.remaining == 0 && log.values == 0 && log.flags == 0);
	CHECK(buf[0] == 0xff);
	ok = true;
done:
	return ok;
}

/* Row 26 / 39. */
static bool assert_no_pages_cmma_dirty(int vm)
{
	bool ok = false;
	uint8_t buf[16];
	struct kvm_s390_cmma_log log;
	CHECK_RET(get_cmma(vm, &log, 0, 16, 0, buf), 0);
	CHECK(log.count == 0 && log.remaining == 0 && log.start_gfn == 0);
	ok = true;
done:
	return ok;
}

static int cmma_vm_in_migration(void)
{
	int vm = open_vm(NULL);
	if (vm < 0 || slot(vm, 0, 0) || slot(vm, 1, 0) || enable_cmma(vm) || guest_uses_cmm(vm) ||
	    slot(vm, 0, KVM_MEM_LOG_DIRTY_PAGES) || slot(vm, 1, KVM_MEM_LOG_DIRTY_PAGES) ||
	    SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL))
		return -1;
	return vm;
}

static bool test_initial_dirty(void)
{
	bool ok = false;
	int vm = cmma_vm_in_migration();                                                /* 22 */
	CHECK(vm >= 0);
	CHECK(assert_all_slots_cmma_dirty(vm));                                         /* 23-25 */
	CHECK(assert_no_pages_cmma_dirty(vm));                                          /* 26 */
	/* STOP keeps the (now clean) state; GET without migration mode is EINVAL again. */
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STOP, NULL), 0);
	struct kvm_s390_cmma_log log;
	uint8_t b[4];
	CHECK_ERR(get_cmma(vm, &log, 0, 4, 0, b), EINVAL);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool expect_get(int vm, uint64_t start, uint32_t count, uint64_t want_start, uint32_t want_count)
{
	bool ok = false;
	uint8_t buf[1024];
	struct kvm_s390_cmma_log log;
	memset(buf, 0xff, sizeof(buf));
	CHECK_RET(get_cmma(vm, &log, start, count, 0, buf), 0);
	if (log.start_gfn != want_start || log.count != want_count)
		FAIL("GET(%llu, %u): start %llu count %u, want %llu %u", (unsigned long long)start, count,
		     (unsigned long long)log.start_gfn, log.count, (unsigned long long)want_start, want_count);
	CHECK(buf[0] == 0x00 && buf[want_count] == 0xff);
	ok = true;
done:
	return ok;
}

static bool test_skip_holes(void)
{
	bool ok = false;
	uint8_t buf[512];
	struct kvm_s390_cmma_log log;
	int vm = cmma_vm_in_migration();
	CHECK(vm >= 0);
	/* Harvest slot 0: slot 1 (gfn 4096..4607) stays dirty, the state after row 29. */
	CHECK_RET(get_cmma(vm, &log, 0, 512, 0, buf), 0);
	CHECK(log.start_gfn == 0 && log.count == 512 && log.remaining == 512);
	CHECK(expect_get(vm, 0, 1, 4096, 1));                                           /* 30 */
	CHECK(expect_get(vm, 4608, 0x20, 4097, 32));                                    /* 31 */
	CHECK(expect_get(vm, 4096 + 0x41, 0x20, 4096 + 0x41, 32));                      /* 32 */
	CHECK(expect_get(vm, 4096, 1, 4096 + 0x21, 1));                                 /* 33 */
	CHECK(expect_get(vm, 4096 + 0x23, 15, 4096 + 0x23, 15));                        /* 34 */
	CHECK(expect_get(vm, 4096 + 0x22, 17, 4096 + 0x22, 17));                        /* 35 */
	CHECK(expect_get(vm, 4096 + 0x40, 25, 4096 + 0x40, 1));                         /* 36 */
	CHECK(expect_get(vm, 4096 + 0x33, 13, 4096 + 0x33, 13));                        /* 37 */
	CHECK(expect_get(vm, 4096, 415, 4096 + 0x61, 415));                             /* 38 */
	CHECK(assert_no_pages_cmma_dirty(vm));                                          /* 39 */
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_set_and_peek(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t in[8] = {0x01, 0x02, 0x03, 0x40, 0x43, 0xff, 0xbc, 0x00}, out[16];
	struct kvm_s390_cmma_log log;
	CHECK(vm >= 0);
	CHECK_RET(slot(vm, 0, 0), 0);
	CHECK_RET(enable_cmma(vm), 0);
	/* SET rules: flags, count, a bad buffer (uses_cmm stays off), count 0. */
	struct kvm_s390_cmma_log s = {.start_gfn = 0, .count = 8, .flags = 1, .mask = ~0ull, .values = (uintptr_t)in};
	CHECK_ERR(KVM_IOCTL(vm, KVM_S390_SET_CMMA_BITS, &s), EINVAL);
	CHECK_ERR(set_cmma(vm, 0, (1u << 20) + 1, ~0ull, in), EINVAL);
	CHECK_ERR(set_cmma(vm, 0, 8, ~0ull, NULL), EFAULT);
	CHECK_RET(set_cmma(vm, 0, 0, ~0ull, NULL), 0);
	/* Without uses_cmm, PEEK zeroes the whole struct. */
	memset(out, 0xee, sizeof(out));
	CHECK_RET(get_cmma(vm, &log, 5, 8, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(log.start_gfn == 0 && log.count == 0 && log.values == 0 && out[0] == 0xee);
	/* mask ~0: every value bit written, masked to 0x43. */
	CHECK_RET(set_cmma(vm, 100, 8, ~0ull, in), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_RET(get_cmma(vm, &log, 99, 10, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(log.start_gfn == 99 && log.count == 10 && log.remaining == 0 && out[10] == 0xee);
	const uint8_t want[10] = {0, 0x01, 0x02, 0x03, 0x40, 0x43, 0x43, 0x00, 0x00, 0};
	CHECK(memcmp(out, want, 10) == 0);
	/* The mask is in PGSTE bit positions: 0x43 writes nothing; 0x03000000 only the state. */
	uint8_t zeros[8] = {0};
	CHECK_RET(set_cmma(vm, 100, 8, 0x43, zeros), 0);
	CHECK_RET(get_cmma(vm, &log, 100, 8, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(memcmp(out, want + 1, 8) == 0);
	CHECK_RET(set_cmma(vm, 100, 8, 0x03000000, zeros), 0);
	CHECK_RET(get_cmma(vm, &log, 100, 8, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(out[0] == 0 && out[3] == 0x40 && out[4] == 0x40 && out[5] == 0x40);
	/* CLR_CMMA resets the usage state and keeps NODAT. */
	CHECK_RET(set_cmma(vm, 200, 8, ~0ull, in), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, NULL), 0);
	CHECK_RET(get_cmma(vm, &log, 200, 8, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(out[0] == 0 && out[2] == 0 && out[3] == 0x40 && out[4] == 0x40);
	/* A SET running into a hole: EFAULT, earlier pages updated. */
	CHECK_RET(set_cmma(vm, 510, 4, ~0ull, (uint8_t[]){0x01, 0x02, 0x03, 0x03}), -1);
	CHECK(errno == EFAULT);
	CHECK_RET(get_cmma(vm, &log, 510, 4, KVM_S390_CMMA_PEEK, out), 0);
	CHECK(log.count == 2 && out[0] == 0x01 && out[1] == 0x02); /* PEEK stops at the hole */
	/* PEEK starting in a hole: EFAULT, and the struct is not written back. */
	log = (struct kvm_s390_cmma_log){.start_gfn = 600, .count = 4, .flags = KVM_S390_CMMA_PEEK, .values = (uintptr_t)out};
	CHECK_ERR(KVM_IOCTL(vm, KVM_S390_GET_CMMA_BITS, &log), EFAULT);
	CHECK(log.start_gfn == 600 && log.count == 4);
	/* A bad values buffer: EFAULT. */
	CHECK_ERR(get_cmma(vm, &log, 0, 4, KVM_S390_CMMA_PEEK, NULL), EFAULT);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

int main(void)
{
	mem = map_aligned(6 * MiB, MiB);
	if (!mem)
		return 1;
	RUN(test_migration_mode);
	RUN(test_get_cmma_basic);
	RUN(test_initial_dirty);
	RUN(test_skip_holes);
	RUN(test_set_and_peek);
	DONE();
}
