/*
 * A port of the kernel selftest tools/testing/selftests/kvm/s390/cmma_test.c, written anew
 * for kvm-s390-shim: the same scenarios, inputs and expected values (spec vm.md C.5), with
 * the guest code run as shim guest programs (ESSA through kvm_s390_shim_guest_essa, the
 * DIAG 0x501 hypercall as the exit).
 */
#include "selftest.h"

#define MAIN_PAGE_COUNT 512
#define TEST_DATA_START_GFN 4096
#define TEST_DATA_PAGE_COUNT 512
#define TEST_DATA_MEMSLOT 1
#define TEST_DATA_TWO_START_GFN 8192
#define TEST_DATA_TWO_PAGE_COUNT 256
#define TEST_DATA_TWO_MEMSLOT 2
#define ESSA_SET_STABLE 1

static uint8_t cmma_value_buf[MAIN_PAGE_COUNT + TEST_DATA_PAGE_COUNT];
static uint8_t *backing;

struct vm {
	int fd;
	int vcpu;
	struct kvm_run *run;
};

static int region(struct vm *vm, int slot, uint32_t flags)
{
	static const uint64_t gfn[] = {0, TEST_DATA_START_GFN, TEST_DATA_TWO_START_GFN};
	static const uint64_t pages[] = {MAIN_PAGE_COUNT, TEST_DATA_PAGE_COUNT, TEST_DATA_TWO_PAGE_COUNT};
	return set_region(vm->fd, slot, flags, gfn[slot] * 4096, pages[slot] * 4096, backing + (size_t)slot * 2 * MiB);
}

/* The guest ends with the hypercall only if its ESSAs went through; an exception would have
 * taken it elsewhere, so it returns to the host with EINTR instead. */
static struct kvm_s390_shim_exit essa_exit(bool ok)
{
	return ok ? diag_501() : (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
}

/* Guest: ESSA (set stable) on the first TEST_DATA page and on the first page of its second
 * MiB (as upstream does since the gmap rewrite), then the hypercall. */
static struct kvm_s390_shim_exit guest_do_one_essa(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)opaque;
	int (*essa)(struct kvm_s390_shim_guest *, uint64_t, uint8_t) = SHIM_API(kvm_s390_shim_guest_essa);
	uint64_t addr = (uint64_t)TEST_DATA_START_GFN << 12;
	int r1 = essa(cpu, addr, ESSA_SET_STABLE), r2 = essa(cpu, addr + 0x100000, ESSA_SET_STABLE);
	bool ok = r1 >= 0 && r1 < 0x100 && r2 >= 0 && r2 < 0x100;
	return essa_exit(ok);
}

/* Guest: ESSA (set stable) on every TEST_DATA page, then the hypercall. */
static struct kvm_s390_shim_exit guest_dirty_test_data(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)opaque;
	int (*essa)(struct kvm_s390_shim_guest *, uint64_t, uint8_t) = SHIM_API(kvm_s390_shim_guest_essa);
	bool ok = true;
	for (uint64_t gfn = TEST_DATA_START_GFN; gfn < TEST_DATA_START_GFN + TEST_DATA_PAGE_COUNT; gfn++) {
		int r = essa(cpu, gfn << 12, ESSA_SET_STABLE);
		ok = r >= 0 && r < 0x100 && ok;
	}
	return essa_exit(ok);
}

static bool vm_create_barebones(struct vm *vm)
{
	vm->fd = open_vm(NULL);
	vm->vcpu = -1;
	return vm->fd >= 0;
}

static bool create_memslots(struct vm *vm)
{
	return region(vm, 0, 0) == 0 && region(vm, TEST_DATA_MEMSLOT, 0) == 0;
}

static bool vcpu_add(struct vm *vm, kvm_s390_shim_guest_fn fn)
{
	vm->vcpu = KVM_IOCTL(vm->fd, KVM_CREATE_VCPU, 1);
	if (vm->vcpu < 0)
		return false;
	vm->run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vm->vcpu, 0);
	if (vm->run == MAP_FAILED)
		return false;
	struct kvm_s390_psw psw = {.mask = SELFTEST_PSW_MASK, .addr = 0x10000};
	return KVM_IOCTL(vm->vcpu, KVM_S390_SET_INITIAL_PSW, &psw) == 0 && SET_GUEST(vm->vcpu, fn, NULL) == 0;
}

static bool vcpu_run(struct vm *vm)
{
	return KVM_IOCTL(vm->vcpu, KVM_RUN, 0) == 0 && exit_was_hypercall(vm->run);
}

static void vm_free(struct vm *vm)
{
	if (vm->vcpu >= 0) {
		munmap(vm->run, 4096);
		KVM_CLOSE(vm->vcpu);
	}
	KVM_CLOSE(vm->fd);
}

static int enable_cmma(struct vm *vm)
{
	struct kvm_device_attr a = {.group = KVM_S390_VM_MEM_CTRL, .attr = KVM_S390_VM_MEM_ENABLE_CMMA};
	return KVM_IOCTL(vm->fd, KVM_SET_DEVICE_ATTR, &a);
}

static bool enable_dirty_tracking(struct vm *vm)
{
	return region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES) == 0 && region(vm, TEST_DATA_MEMSLOT, KVM_MEM_LOG_DIRTY_PAGES) == 0;
}

static int enable_migration_mode(struct vm *vm)
{
	struct kvm_device_attr a = {.group = KVM_S390_VM_MIGRATION, .attr = KVM_S390_VM_MIGRATION_START};
	return KVM_IOCTL(vm->fd, KVM_SET_DEVICE_ATTR, &a);
}

/* Migration mode: 1 on, 0 off, -1 if the attribute could not be read (a failure either way). */
static int migration_mode(struct vm *vm)
{
	uint64_t out = 0;
	struct kvm_device_attr a = {.group = KVM_S390_VM_MIGRATION, .attr = KVM_S390_VM_MIGRATION_STATUS,
				    .addr = (uintptr_t)&out};
	if (KVM_IOCTL(vm->fd, KVM_GET_DEVICE_ATTR, &a) != 0)
		return -1;
	return out == 1;
}

static int vm_get_cmma_bits(struct vm *vm, uint64_t flags, int *errno_out)
{
	struct kvm_s390_cmma_log args = {.start_gfn = 0, .count = sizeof(cmma_value_buf), .flags = (uint32_t)flags,
					 .values = (uintptr_t)cmma_value_buf};
	errno = 0;
	int r = KVM_IOCTL(vm->fd, KVM_S390_GET_CMMA_BITS, &args);
	*errno_out = errno;
	return r;
}

/* KVM_S390_GET_CMMA_BITS (harvesting) into a buffer prefilled with 0xff; true if it succeeded. */
static bool query_cmma_range(struct vm *vm, uint64_t start_gfn, uint32_t gfn_count, struct kvm_s390_cmma_log *out)
{
	*out = (struct kvm_s390_cmma_log){.start_gfn = start_gfn, .count = gfn_count, .values = (uintptr_t)cmma_value_buf};
	memset(cmma_value_buf, 0xff, sizeof(cmma_value_buf));
	return KVM_IOCTL(vm->fd, KVM_S390_GET_CMMA_BITS, out) == 0;
}

static bool assert_cmma_dirty(uint64_t first_dirty_gfn, uint32_t dirty_gfn_count, const struct kvm_s390_cmma_log *log)
{
	bool ok = false;
	if (log->start_gfn != first_dirty_gfn || log->count != dirty_gfn_count)
		FAIL("start_gfn %llu count %u, want %llu %u", (unsigned long long)log->start_gfn, log->count,
		     (unsigned long long)first_dirty_gfn, dirty_gfn_count);
	CHECK(cmma_value_buf[0] == 0x00);               /* stable state */
	CHECK(cmma_value_buf[dirty_gfn_count] == 0xff); /* not touched */
	ok = true;
done:
	return ok;
}

static bool assert_all_slots_cmma_dirty(struct vm *vm)
{
	bool ok = false;
	struct kvm_s390_cmma_log args;
	CHECK(query_cmma_range(vm, 0, sizeof(cmma_value_buf), &args));
	CHECK(args.count == MAIN_PAGE_COUNT && args.remaining == TEST_DATA_PAGE_COUNT && args.start_gfn == 0);
	CHECK(query_cmma_range(vm, MAIN_PAGE_COUNT, sizeof(cmma_value_buf), &args));
	CHECK(args.count == TEST_DATA_PAGE_COUNT && args.start_gfn == TEST_DATA_START_GFN && args.remaining == 0);
	CHECK(query_cmma_range(vm, TEST_DATA_START_GFN + TEST_DATA_PAGE_COUNT, sizeof(cmma_value_buf), &args));
	CHECK(args.count == 0 && args.start_gfn == 0 && args.remaining == 0);
	ok = true;
done:
	return ok;
}

static bool assert_no_pages_cmma_dirty(struct vm *vm)
{
	bool ok = false;
	struct kvm_s390_cmma_log args;
	CHECK(query_cmma_range(vm, 0, sizeof(cmma_value_buf), &args));
	if (args.count || args.remaining || args.start_gfn)
		FAIL("pages are still dirty: start_gfn %llu count %u remaining %llu", (unsigned long long)args.start_gfn,
		     args.count, (unsigned long long)args.remaining);
	ok = true;
done:
	return ok;
}

static bool test_get_cmma_basic(void)
{
	bool ok = false;
	struct vm vm;
	int e = 0;
	CHECK(vm_create_barebones(&vm) && create_memslots(&vm));
	/* GET_CMMA_BITS without CMMA enabled should fail */
	CHECK(vm_get_cmma_bits(&vm, 0, &e) == -1 && e == ENXIO);
	CHECK_RET(enable_cmma(&vm), 0);
	CHECK(vcpu_add(&vm, guest_do_one_essa));
	CHECK(vcpu_run(&vm));
	/* GET_CMMA_BITS without migration mode and without peeking should fail */
	CHECK(vm_get_cmma_bits(&vm, 0, &e) == -1 && e == EINVAL);
	/* GET_CMMA_BITS without migration mode and with peeking should work */
	CHECK(vm_get_cmma_bits(&vm, KVM_S390_CMMA_PEEK, &e) == 0 && e == 0);
	CHECK(enable_dirty_tracking(&vm));
	CHECK_RET(enable_migration_mode(&vm), 0);
	/* GET_CMMA_BITS with invalid flags */
	CHECK(vm_get_cmma_bits(&vm, 0xfeedc0fe, &e) == -1 && e == EINVAL);
	ok = true;
done:
	vm_free(&vm);
	return ok;
}

static bool test_migration_mode(void)
{
	bool ok = false;
	struct vm vm;
	CHECK(vm_create_barebones(&vm));
	/* enabling migration mode on a VM without memory should fail */
	CHECK_ERR(enable_migration_mode(&vm), EINVAL);
	CHECK(0 == migration_mode(&vm));
	CHECK(create_memslots(&vm));
	CHECK_RET(enable_cmma(&vm), 0);
	CHECK(vcpu_add(&vm, guest_do_one_essa));
	uint64_t orig_psw = vm.run->psw_addr;
	/* one ESSA, so that the guest uses CMMA */
	CHECK(vcpu_run(&vm));
	/* migration mode when memslots have dirty tracking off should fail */
	CHECK_ERR(enable_migration_mode(&vm), EINVAL);
	CHECK(0 == migration_mode(&vm));
	CHECK(enable_dirty_tracking(&vm));
	CHECK_RET(enable_migration_mode(&vm), 0);
	CHECK(1 == migration_mode(&vm));
	/* another ESSA goes fine */
	vm.run->psw_addr = orig_psw;
	CHECK(vcpu_run(&vm));
	/* a new memslot with dirty tracking off turns migration mode off */
	CHECK(1 == migration_mode(&vm));
	CHECK_RET(region(&vm, TEST_DATA_TWO_MEMSLOT, 0), 0);
	CHECK(0 == migration_mode(&vm));
	vm.run->psw_addr = orig_psw;
	CHECK(vcpu_run(&vm));
	/* dirty tracking on the new memslot: migration mode can be turned on again */
	CHECK_RET(region(&vm, TEST_DATA_TWO_MEMSLOT, KVM_MEM_LOG_DIRTY_PAGES), 0);
	CHECK_RET(enable_migration_mode(&vm), 0);
	CHECK(1 == migration_mode(&vm));
	CHECK(1 == migration_mode(&vm));
	/* a flags-only change that turns dirty tracking off turns migration mode off */
	CHECK_RET(region(&vm, TEST_DATA_TWO_MEMSLOT, 0), 0);
	CHECK(0 == migration_mode(&vm));
	vm.run->psw_addr = orig_psw;
	CHECK(vcpu_run(&vm));
	ok = true;
done:
	vm_free(&vm);
	return ok;
}

static bool test_get_initial_dirty(void)
{
	bool ok = false;
	struct vm vm;
	CHECK(vm_create_barebones(&vm) && create_memslots(&vm));
	CHECK_RET(enable_cmma(&vm), 0);
	CHECK(vcpu_add(&vm, guest_do_one_essa));
	CHECK(vcpu_run(&vm));
	CHECK(enable_dirty_tracking(&vm));
	CHECK_RET(enable_migration_mode(&vm), 0);
	CHECK(assert_all_slots_cmma_dirty(&vm));
	/* start from the beginning again: nothing else has been dirtied */
	CHECK(assert_no_pages_cmma_dirty(&vm));
	ok = true;
done:
	vm_free(&vm);
	return ok;
}

static bool test_get_skip_holes(void)
{
	bool ok = false;
	struct vm vm;
	struct kvm_s390_cmma_log log;
	CHECK(vm_create_barebones(&vm) && create_memslots(&vm));
	CHECK_RET(enable_cmma(&vm), 0);
	CHECK(vcpu_add(&vm, guest_dirty_test_data));
	uint64_t orig_psw = vm.run->psw_addr;
	CHECK(vcpu_run(&vm));
	CHECK(enable_dirty_tracking(&vm));
	CHECK_RET(enable_migration_mode(&vm), 0);
	/* un-dirty all pages */
	CHECK(assert_all_slots_cmma_dirty(&vm));
	/* then dirty just the TEST_DATA memslot */
	vm.run->psw_addr = orig_psw;
	CHECK(vcpu_run(&vm));
	uint64_t g = TEST_DATA_START_GFN;
	/* one page from page 0: the first page of TEST_DATA */
	CHECK(query_cmma_range(&vm, 0, 1, &log));
	CHECK(assert_cmma_dirty(g, 1, &log));
	g++;
	/* 0x20 pages past the end of TEST_DATA: wraps to TEST_DATA page 1 */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN + TEST_DATA_PAGE_COUNT, 0x20, &log));
	CHECK(assert_cmma_dirty(g, 0x20, &log));
	g += 0x20;
	/* skip 0x20 pages, query the next 0x20 */
	g += 0x20;
	CHECK(query_cmma_range(&vm, g, 0x20, &log));
	CHECK(assert_cmma_dirty(g, 0x20, &log));
	g += 0x20;
	/* one page from the start of TEST_DATA: page 0x21 */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN, 1, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x21, 1, &log));
	/* 15 pages from 0x23 */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN + 0x23, 15, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x23, 15, &log));
	/* 17 pages from 0x22: 0x22 and the clean gap up to 0x32 */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN + 0x22, 17, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x22, 17, &log));
	/* 25 pages from 0x40: just 0x40, more than 16 clean pages follow */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN + 0x40, 25, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x40, 1, &log));
	/* pages [0x33, 0x40) */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN + 0x33, 0x40 - 0x33, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x33, 0x40 - 0x33, &log));
	/* the remaining pages [0x61, 0x200) */
	CHECK(query_cmma_range(&vm, TEST_DATA_START_GFN, TEST_DATA_PAGE_COUNT - 0x61, &log));
	CHECK(assert_cmma_dirty(TEST_DATA_START_GFN + 0x61, TEST_DATA_PAGE_COUNT - 0x61, &log));
	CHECK(assert_no_pages_cmma_dirty(&vm));
	ok = true;
done:
	vm_free(&vm);
	return ok;
}

static bool machine_has_cmma(void)
{
	struct vm vm;
	if (!vm_create_barebones(&vm))
		return false;
	struct kvm_device_attr a = {.group = KVM_S390_VM_MEM_CTRL, .attr = KVM_S390_VM_MEM_ENABLE_CMMA};
	bool r = KVM_IOCTL(vm.fd, KVM_HAS_DEVICE_ATTR, &a) == 0;
	KVM_CLOSE(vm.fd);
	return r;
}

int main(void)
{
	int kvm = KVM_OPEN(O_RDWR);
	if (kvm < 0 || KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_SYNC_REGS) <= 0 ||
	    KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_CMMA_MIGRATION) <= 0 || !machine_has_cmma()) {
		printf("not ok 1 requirements (SYNC_REGS, CMMA_MIGRATION, CMMA)\n0 passed, 1 failed\n");
		return 1;
	}
	backing = map_aligned(6 * MiB, MiB);
	printf("TAP version 13\n1..4\n");
	RUN(test_migration_mode);
	RUN(test_get_cmma_basic);
	RUN(test_get_initial_dirty);
	RUN(test_get_skip_holes);
	DONE();
}
