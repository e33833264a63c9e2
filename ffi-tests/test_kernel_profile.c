/*
 * Kernel-version profiles: tests/ffi.rs runs this under KVM_S390_SHIM_KERNEL=6.1, 6.6, 6.12
 * and latest (and unset: 6.12) and each check follows the profile named in the environment.
 */
#include "memop.h"

static const char *profile(void)
{
	const char *k = getenv("KVM_S390_SHIM_KERNEL");
	return k ? k : "6.12";
}

static bool is(const char *name)
{
	return strcmp(profile(), name) == 0;
}

/* 6.3 added the memop cmpxchg: the extension capability is 1 before, BASE|CMPXCHG after. */
static bool test_mem_op_extension(void)
{
	bool ok = false;
	struct guest g = {.vm = -1};
	uint64_t cur = 5, expect = 5, repl = 6;

	if (!guest_open(&g, 0))
		FAIL("guest_open");
	CHECK_RET(KVM_IOCTL(g.vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP_EXTENSION), is("6.1") ? 1 : 3);
	memcpy(g.mem + 0x1000, &cur, 8);
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_CMPXCHG, 0x1000, 8, &repl, NO_KEY, 0);
	memset(m.reserved, 0, sizeof(m.reserved));
	m.old_addr = (uintptr_t)&expect;
	if (is("6.1")) {
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), EINVAL);
		memcpy(&cur, g.mem + 0x1000, 8);
		CHECK(cur == 5);
	} else {
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 0);
		memcpy(&cur, g.mem + 0x1000, 8);
		CHECK(cur == 6);
	}
	ok = true;
done:
	if (g.vm >= 0)
		KVM_CLOSE(g.vm);
	return ok;
}

/* 6.8 added KVM_SET_USER_MEMORY_REGION2. */
static bool test_user_memory2(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	bool has = !is("6.1") && !is("6.6");
	uint8_t *mem = map_aligned(MiB, MiB);

	CHECK(vm >= 0 && mem);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY2), has ? 1 : 0);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .memory_size = MiB, .userspace_addr = (uintptr_t)mem,
	};
	if (has)
		CHECK_RET(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION2, &r), 0);
	else
		CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION2, &r), ENOTTY);
	ok = true;
done:
	if (vm >= 0)
		KVM_CLOSE(vm);
	return ok;
}

/* KVM_S390_KEYOP (7.0) exists only under latest. */
static bool test_keyop_presence(void)
{
	bool ok = false;
	struct guest g = {.vm = -1};

	if (!guest_open(&g, 0))
		FAIL("guest_open");
	CHECK_RET(KVM_IOCTL(g.vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_KEYOP), is("latest") ? 1 : 0);
	struct kvm_s390_keyop k = {.guest_addr = 0x2000, .key = 0x31, .operation = KVM_S390_KEYOP_SSKE};
	if (!is("latest")) {
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), ENOTTY);
	} else {
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), 0);
		CHECK(k.key == 0);
		k.operation = KVM_S390_KEYOP_ISKE;
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), 0);
		CHECK(k.key == 0x30);
		k.operation = 0;
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), EINVAL);
		k.operation = 4;
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), EINVAL);
		k.operation = KVM_S390_KEYOP_ISKE;
		k.guest_addr = GUEST_SIZE;
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_KEYOP, &k), EFAULT);
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_KEYOP, (void *)8), EFAULT);
	}
	ok = true;
done:
	if (g.vm >= 0)
		KVM_CLOSE(g.vm);
	return ok;
}

/* The memop quirks of spec/memop.md: [6.x] under 6.1/6.6/6.12, [newest] under latest. */
static bool test_memop_quirks(void)
{
	bool ok = false;
	struct guest g = {.vm = -1};
	uint64_t v = 0, expect = 0;
	bool newest = is("latest");

	if (!guest_open(&g, 0))
		FAIL("guest_open");
	/* CHECK_ONLY with key 0 over a range running past guest memory: [6.x] only the first
	 * byte is checked (0); [newest] every page is looked up (5). */
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_READ, GUEST_SIZE - 4096, 8192, NULL, NO_KEY,
				       KVM_S390_MEMOP_F_CHECK_ONLY);
	CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), newest ? 5 : 0);
	/* A write outside guest memory from a bad buffer: [6.x] the addressing pre-check answers
	 * first (5); [newest] the buffer is copied in first (EFAULT). */
	m = mop(KVM_S390_MEMOP_ABSOLUTE_WRITE, GUEST_SIZE, 8, (void *)8, NO_KEY, 0);
	if (newest)
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), EFAULT);
	else
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 5);
	/* cmpxchg, misaligned and outside guest memory: [6.x] 5 first; [newest] EINVAL first.
	 * (6.1 has no cmpxchg at all: EINVAL.) */
	m = mop(KVM_S390_MEMOP_ABSOLUTE_CMPXCHG, GUEST_SIZE + 4, 8, &v, NO_KEY, 0);
	memset(m.reserved, 0, sizeof(m.reserved));
	m.old_addr = (uintptr_t)&expect;
	if (newest || is("6.1"))
		CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), EINVAL);
	else
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 5);
	ok = true;
done:
	if (g.vm >= 0)
		KVM_CLOSE(g.vm);
	return ok;
}

/* KVM_CAP_S390_USER_OPEREXEC (7.0): advertised and enabled only under latest. */
static bool test_user_operexec(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_USER_OPEREXEC};

	CHECK(vm >= 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_USER_OPEREXEC), is("latest") ? 1 : 0);
	if (is("latest")) {
		CHECK_RET(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0);
		cap.flags = 1;
		CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	} else {
		CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	}
	ok = true;
done:
	if (vm >= 0)
		KVM_CLOSE(vm);
	return ok;
}

/* kvm_s390_shim_set_kernel: the profile in use (fixed by now) is accepted again, another
 * one is EBUSY, an unknown name or NULL EINVAL. */
static bool test_set_kernel_api(void)
{
	bool ok = false;
	int (*set_kernel)(const char *) = SHIM_API(kvm_s390_shim_set_kernel);

	CHECK(set_kernel != NULL);
	CHECK_RET(set_kernel(profile()), 0);
	CHECK_ERR(set_kernel(is("6.1") ? "latest" : "6.1"), EBUSY);
	CHECK_ERR(set_kernel("6.2"), EINVAL);
	CHECK_ERR(set_kernel(NULL), EINVAL);
	ok = true;
done:
	return ok;
}

int main(void)
{
	printf("kernel profile %s\n", profile());
	RUN(test_mem_op_extension);
	RUN(test_user_memory2);
	RUN(test_keyop_presence);
	RUN(test_memop_quirks);
	RUN(test_user_operexec);
	RUN(test_set_kernel_api);
	DONE();
}
