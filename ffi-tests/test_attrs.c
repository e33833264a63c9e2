/*
 * VM device attributes (spec vm.md A.4-A.10): the SET/GET/HAS dispatch tables, MEM_CTRL, TOD,
 * CRYPTO, CPU_TOPOLOGY and the CPU-model rules that need no particular host.
 */
#include "attr.h"

struct has_row {
	uint32_t group;
	uint64_t attr;
	int want; /* 0, or the errno */
};

static bool test_has_table(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	static const struct has_row rows[] = {
		{KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, 0},
		{KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, 0},
		{KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, 0},
		{KVM_S390_VM_MEM_CTRL, 3, ENXIO},
		{KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, 0},
		{KVM_S390_VM_TOD, KVM_S390_VM_TOD_HIGH, 0},
		{KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, ENXIO}, /* the kernel's quirk */
		{KVM_S390_VM_TOD, 3, ENXIO},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_FEAT, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_SUBFUNC, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_SUBFUNC, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST, 0},
		{KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST, 0},
		{KVM_S390_VM_CPU_MODEL, 8, ENXIO},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_AES_KW, 0},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_DEA_KW, 0},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_DISABLE_AES_KW, 0},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_DISABLE_DEA_KW, 0},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_APIE, 0},
		{KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_DISABLE_APIE, 0},
		{KVM_S390_VM_CRYPTO, 6, ENXIO},
		{KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STOP, 0},
		{KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, 0},
		{KVM_S390_VM_MIGRATION, 12345, 0}, /* quirk: any attribute */
		{KVM_S390_VM_CPU_TOPOLOGY, 0, ENXIO}, /* facility 11 off until the capability */
		{6, 0, ENXIO},
		{0xffffffff, 0, ENXIO},
	};
	CHECK(vm >= 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		errno = 0;
		int r = HAS_ATTR(vm, rows[i].group, rows[i].attr);
		bool good = rows[i].want ? (r == -1 && errno == rows[i].want) : r == 0;
		if (!good)
			FAIL("HAS(%u, %llu) = %d errno %d, want %d", rows[i].group, (unsigned long long)rows[i].attr, r,
			     errno, rows[i].want);
	}
	/* HAS ignores flags and never touches addr. */
	struct kvm_device_attr a = {.flags = 7, .group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = 8};
	CHECK_RET(KVM_IOCTL(vm, KVM_HAS_DEVICE_ATTR, &a), 0);
	/* Unknown groups for SET and GET too; the attribute struct itself must be readable. */
	CHECK_ERR(SET_ATTR(vm, 6, 0, NULL), ENXIO);
	CHECK_ERR(GET_ATTR(vm, 6, 0, NULL), ENXIO);
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_DEVICE_ATTR, NULL), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_HAS_DEVICE_ATTR, (void *)16), EFAULT);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_VM_ATTRIBUTES), 1);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_mem_ctrl(void)
{
	bool ok = false;
	int vm = open_vm(NULL), vm2 = open_vm(NULL);
	uint64_t limit = 0, v;
	CHECK(vm >= 0 && vm2 >= 0);
	/* CLR before ENABLE: EINVAL. ENABLE ignores addr and may be repeated. */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, NULL), EINVAL);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, NULL), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, (void *)8), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_CLR_CMMA, NULL), 0);
	/* ENABLE/CLR are write-only. */
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, &v), ENXIO);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, 3, &v), ENXIO);
	/* LIMIT_SIZE: the creation value, TASK_SIZE_MAX on this host. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &limit), 0);
	CHECK(limit == 0xfffffffffffff000ull);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, NULL), EFAULT);
	v = limit + 1;
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &v), E2BIG);
	v = 0;
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &v), EINVAL);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, NULL), EFAULT);
	v = 4ull << 30;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &v), 0);
	/* Quirk: GET keeps returning the creation value, and the memslot limit stays. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &v), 0);
	CHECK(v == limit);
	uint8_t *mem = map_aligned(MiB, MiB);
	CHECK_RET(set_region(vm, 0, 0, 8ull << 30, MiB, mem), 0);
	v = limit;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &v), 0);
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(vm2);
	return ok;
}

static bool test_tod(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	int (*freeze)(uint8_t, uint64_t) = SHIM_API(kvm_s390_shim_tod_freeze);
	int (*advance)(uint64_t) = SHIM_API(kvm_s390_shim_tod_advance);
	int (*realtime)(void) = SHIM_API(kvm_s390_shim_tod_realtime);
	struct kvm_s390_vm_tod_clock t, g;
	uint64_t low;
	uint8_t high[2];
	CHECK(vm >= 0 && freeze && advance && realtime);
	CHECK_RET(freeze(0, 0xd000000000000000ull), 0);
	/* SET EXT, GET EXT: exactly the value, plus the elapsed host time. */
	t = (struct kvm_s390_vm_tod_clock){.epoch_idx = 0, .tod = 0x1234567800000000ull};
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &t), 0);
	memset(&g, 0xee, sizeof(g));
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.epoch_idx == 0 && g.tod == t.tod);
	CHECK(((uint8_t *)&g)[1] == 0); /* the padding is zeroed */
	CHECK_RET(advance(4096 * 1000), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.tod == t.tod + 4096 * 1000);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &low), 0);
	CHECK(low == t.tod + 4096 * 1000);
	/* HIGH: reads one byte 0, accepts only 0. */
	memset(high, 0x77, 2);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_HIGH, high), 0);
	CHECK(high[0] == 0 && high[1] == 0x77);
	high[0] = 1;
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_HIGH, high), EINVAL);
	high[0] = 0;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_HIGH, high), 0);
	/* LOW sets the TOD with epoch index 0. */
	low = 0x5555000000000000ull;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &low), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.epoch_idx == 0 && g.tod == low);
	/* Epoch index with a borrow: guest TOD below the host TOD. */
	t = (struct kvm_s390_vm_tod_clock){.epoch_idx = 1, .tod = 0x100};
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &t), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.epoch_idx == 1 && g.tod == 0x100);
	/* ... and a carry when the host clock wraps into epoch index 1. */
	CHECK_RET(freeze(0, 0xffffffffffffff00ull), 0);
	t = (struct kvm_s390_vm_tod_clock){.epoch_idx = 0x10, .tod = 0x100};
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &t), 0);
	CHECK_RET(advance(0x200), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.epoch_idx == 0x10 && g.tod == 0x300);
	/* flags must be 0 on SET and GET; unknown attributes; bad addresses. */
	struct kvm_device_attr a = {.flags = 1, .group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = (uintptr_t)&low};
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_DEVICE_ATTR, &a), EINVAL);
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DEVICE_ATTR, &a), EINVAL);
	a.attr = 9;
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DEVICE_ATTR, &a), EINVAL); /* flags before the attribute */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_TOD, 9, &low), ENXIO);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, NULL), EFAULT);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, NULL), EFAULT);
	/* Without facility 139 (multiple epoch) an epoch index is refused and reads as 0. */
	struct kvm_s390_vm_cpu_processor *p = calloc(1, sizeof(*p));
	CHECK(p);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, p), 0);
	fac_clear(p->fac_list, 139);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, p), 0);
	free(p);
	t = (struct kvm_s390_vm_tod_clock){.epoch_idx = 2, .tod = 0x100};
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &t), EINVAL);
	t.epoch_idx = 0;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &t), 0);
	CHECK_RET(advance(0x200), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_EXT, &g), 0);
	CHECK(g.epoch_idx == 0 && g.tod == 0x300);
	/* Back to real time: the guest clock moves with the host's. */
	CHECK_RET(realtime(), 0);
	CHECK_ERR(advance(1), EINVAL);
	uint64_t l1, l2;
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &l1), 0);
	usleep(2000);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &l2), 0);
	CHECK(l2 - l1 >= 4096ull * 1000 && l2 - l1 < 4096ull * 1000000);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_crypto(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	CHECK(vm >= 0);
	for (uint64_t a = KVM_S390_VM_CRYPTO_ENABLE_AES_KW; a <= KVM_S390_VM_CRYPTO_DISABLE_APIE; a++)
		CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CRYPTO, a, NULL), 0);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CRYPTO, 6, NULL), ENXIO);
	/* There is no GET in this group. */
	uint64_t v;
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_AES_KW, &v), ENXIO);
	/* Key wrapping needs MSA3 (facility 76) in the VM's model. */
	struct kvm_s390_vm_cpu_processor *p = calloc(1, sizeof(*p));
	CHECK(p);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, p), 0);
	/* Facility 76 is 0x08 of byte 9 of the list (the s390 image, on every host). */
	CHECK(((const uint8_t *)p->fac_list)[9] & 0x08);
	fac_clear(p->fac_list, 76);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, p), 0);
	for (uint64_t a = KVM_S390_VM_CRYPTO_ENABLE_AES_KW; a <= KVM_S390_VM_CRYPTO_DISABLE_DEA_KW; a++)
		CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CRYPTO, a, NULL), EINVAL);
	/* Set again as a byte, key wrapping is accepted. */
	fac_set(p->fac_list, 76);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, p), 0);
	free(p);
	for (uint64_t a = KVM_S390_VM_CRYPTO_ENABLE_AES_KW; a <= KVM_S390_VM_CRYPTO_DISABLE_DEA_KW; a++)
		CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CRYPTO, a, NULL), 0);
	/* APIE depends on the host's AP instructions only. */
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_APIE, NULL), 0);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_topology(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t mtcr = 0xee;
	CHECK(vm >= 0);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 1, NULL), ENXIO);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, &mtcr), ENXIO);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_CPU_TOPOLOGY), 1);
	CHECK_RET(enable_cap(vm, KVM_CAP_S390_CPU_TOPOLOGY), 0);
	CHECK_RET(HAS_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, &mtcr), 0);
	CHECK(mtcr == 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 5, NULL), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, &mtcr), 0);
	CHECK(mtcr == 1);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, NULL), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, &mtcr), 0);
	CHECK(mtcr == 0);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_CPU_TOPOLOGY, 0, NULL), EFAULT);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_migration_attrs(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint64_t status = 7;
	uint8_t *mem = map_aligned(MiB, MiB);
	CHECK(vm >= 0 && mem);
	/* No memory slots: START fails. */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), EINVAL);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, &status), 0);
	CHECK(status == 0);
	/* Without CMMA, dirty logging is not required. */
	CHECK_RET(set_region(vm, 0, 0, 0, MiB, mem), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, &status), 0);
	CHECK(status == 1);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, NULL), 0);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, NULL), ENXIO);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_START, &status), ENXIO);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STOP, NULL), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STOP, NULL), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, &status), 0);
	CHECK(status == 0);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_MIGRATION, KVM_S390_VM_MIGRATION_STATUS, NULL), EFAULT);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

/* KVM_CREATE_DEVICE for types the VM does not offer (everything but the FLIC): ENODEV with or
 * without KVM_CREATE_DEVICE_TEST, the struct untouched; EFAULT for a bad argument. */
static bool test_create_device(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	CHECK(vm >= 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_DEVICE_CTRL), 1);
	const uint32_t types[] = {4 /* VFIO */, 0, 1, 5, 7, 100, 0xffffffffu};
	for (unsigned i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		struct kvm_create_device cd = {.type = types[i], .fd = 77};
		CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_DEVICE, &cd), ENODEV);
		cd.flags = KVM_CREATE_DEVICE_TEST;
		CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_DEVICE, &cd), ENODEV);
		CHECK(cd.fd == 77);
	}
	struct kvm_create_device flic = {.type = KVM_DEV_TYPE_FLIC, .fd = 77, .flags = KVM_CREATE_DEVICE_TEST};
	CHECK_RET(KVM_IOCTL(vm, KVM_CREATE_DEVICE, &flic), 0);
	CHECK(flic.fd == 77);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_DEVICE, (void *)8), EFAULT);
	ok = true;
done:
	if (vm >= 0)
		KVM_CLOSE(vm);
	return ok;
}

int main(void)
{
	RUN(test_has_table);
	RUN(test_mem_ctrl);
	RUN(test_tod);
	RUN(test_crypto);
	RUN(test_topology);
	RUN(test_migration_attrs);
	RUN(test_create_device);
	DONE();
}
