/* /dev/kvm and VM fd basics: API version, capabilities, VM creation, unknown requests. */
#include "test.h"

#ifndef SHIM_LINKED
/* Before main: a constructor of the program opens /dev/kvm through the interposer. */
static int early_version = -1;
__attribute__((constructor)) static void open_before_main(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		early_version = ioctl(fd, KVM_CHECK_EXTENSION, KVM_CAP_S390_COW) == 1 ? ioctl(fd, KVM_GET_API_VERSION, 0) : -2;
		close(fd);
	}
}

static bool test_before_main(void)
{
	bool ok = false;
	CHECK(early_version == 12);
	ok = true;
done:
	return ok;
}
#endif

static bool test_api_version(void)
{
	bool ok = false;
	int sys = KVM_OPEN(O_RDWR);
	CHECK(sys >= 0);
	CHECK_RET(KVM_IOCTL(sys, KVM_GET_API_VERSION, 0), 12);
	CHECK_ERR(KVM_IOCTL(sys, KVM_GET_API_VERSION, 1), EINVAL);
	CHECK_RET(KVM_IOCTL(sys, KVM_GET_VCPU_MMAP_SIZE, 0), 4096);
	CHECK_ERR(KVM_IOCTL(sys, KVM_GET_VCPU_MMAP_SIZE, 7), EINVAL);
	CHECK_RET(KVM_IOCTL(sys, KVM_S390_ENABLE_SIE, 0), 0);
	/* The request is a 32-bit value: a sign-extended upper half is ignored. */
	CHECK_RET(KVM_IOCTL(sys, 0xffffffff00000000ul | KVM_GET_API_VERSION, 0), 12);
	ok = true;
done:
	KVM_CLOSE(sys);
	return ok;
}

struct cap_answer {
	const char *name;
	unsigned long cap;
	int value;
};

/* Answers the foundation owns (Linux 6.12 on an IBM z16 host, spec vm.md D.2). */
static const struct cap_answer owned[] = {
	{"USER_MEMORY", KVM_CAP_USER_MEMORY, 1},
	{"USER_MEMORY2", KVM_CAP_USER_MEMORY2, 1},
	{"NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS, 32767},
	{"DESTROY_MEMORY_REGION_WORKS", KVM_CAP_DESTROY_MEMORY_REGION_WORKS, 1},
	{"JOIN_MEMORY_REGIONS_WORKS", KVM_CAP_JOIN_MEMORY_REGIONS_WORKS, 1},
	{"SYNC_MMU", KVM_CAP_SYNC_MMU, 1},
	{"S390_GMAP", KVM_CAP_S390_GMAP, 1},
	{"CHECK_EXTENSION_VM", KVM_CAP_CHECK_EXTENSION_VM, 1},
	{"ENABLE_CAP_VM", KVM_CAP_ENABLE_CAP_VM, 1},
	{"HALT_POLL", KVM_CAP_HALT_POLL, 1},
	{"S390_COW", KVM_CAP_S390_COW, 1},
	{"S390_MEM_OP_EXTENSION", KVM_CAP_S390_MEM_OP_EXTENSION, 3},
	{"S390_SKEYS", KVM_CAP_S390_SKEYS, 1},
	{"S390_MEM_OP", KVM_CAP_S390_MEM_OP, 65536},
	{"S390_HPAGE_1M", KVM_CAP_S390_HPAGE_1M, 0},
	{"S390_UCONTROL", KVM_CAP_S390_UCONTROL, 0},
	{"S390_PROTECTED", KVM_CAP_S390_PROTECTED, 0},
	{"READONLY_MEM", KVM_CAP_READONLY_MEM, 0},
	{"COALESCED_MMIO", KVM_CAP_COALESCED_MMIO, 0},
	{"MULTI_ADDRESS_SPACE", KVM_CAP_MULTI_ADDRESS_SPACE, 0},
	{"MANUAL_DIRTY_LOG_PROTECT2", KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2, 0},
	{"DIRTY_LOG_RING", KVM_CAP_DIRTY_LOG_RING, 0},
	{"VM_TYPES", KVM_CAP_VM_TYPES, 0},
	{"GUEST_MEMFD", KVM_CAP_GUEST_MEMFD, 0},
	{"unknown 100000", 100000, 0},
};

static bool check_caps(int fd)
{
	bool ok = false;
	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		errno = 0;
		int got = KVM_IOCTL(fd, KVM_CHECK_EXTENSION, owned[i].cap);
		if (got != owned[i].value)
			FAIL("KVM_CAP_%s = %d (errno %d), want %d", owned[i].name, got, errno, owned[i].value);
	}
	ok = true;
done:
	return ok;
}

static bool test_capabilities(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	CHECK(vm >= 0);
	CHECK(check_caps(sys));
	CHECK(check_caps(vm));
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_create_vm(void)
{
	bool ok = false;
	int sys = KVM_OPEN(O_RDWR), vm = -1, vm2 = -1;
	CHECK(sys >= 0);
	vm = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
	CHECK(vm > 2);
	vm2 = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
	CHECK(vm2 > 2 && vm2 != vm);
	/* VM fds are always close-on-exec, like the kernel's. */
	CHECK(fcntl(vm, F_GETFD) == FD_CLOEXEC);
	/* No ucontrol support in this host kernel: every non-zero type is EINVAL. */
	CHECK_ERR(KVM_IOCTL(sys, KVM_CREATE_VM, KVM_VM_S390_UCONTROL), EINVAL);
	CHECK_ERR(KVM_IOCTL(sys, KVM_CREATE_VM, 2), EINVAL);
	ok = true;
done:
	KVM_CLOSE(vm2);
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_unknown_requests(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	CHECK(vm >= 0);
	/* /dev/kvm: s390's arch device ioctl answers EINVAL; the VM fd answers ENOTTY. */
	CHECK_ERR(KVM_IOCTL(sys, KVM_RUN, 0), EINVAL);
	CHECK_ERR(KVM_IOCTL(sys, KVM_SET_USER_MEMORY_REGION, 0), EINVAL);
	CHECK_ERR(KVM_IOCTL(sys, 0x1234, 0), EINVAL);
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_API_VERSION, 0), ENOTTY);
	CHECK_ERR(KVM_IOCTL(vm, KVM_RUN, 0), ENOTTY);
	CHECK_ERR(KVM_IOCTL(vm, 0x5401 /* TCGETS */, 0), ENOTTY);
	/* KVM fds reject read and write like the kernel's (no read/write file operations). */
	char b[8];
	CHECK_ERR(read(vm, b, sizeof(b)), EINVAL);
	CHECK_ERR(write(vm, b, sizeof(b)), EINVAL);
	CHECK_ERR(read(sys, b, sizeof(b)), EINVAL);
	/* mmap of a VM fd: ENODEV. */
	errno = 0;
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, vm, 0) == MAP_FAILED && errno == ENODEV);
	/* The VFS-level requests work on KVM fds as on any file. */
	CHECK_RET(KVM_IOCTL(vm, FIONCLEX, 0), 0);
	CHECK(fcntl(vm, F_GETFD) == 0);
	CHECK_RET(KVM_IOCTL(vm, FIOCLEX, 0), 0);
	CHECK(fcntl(vm, F_GETFD) == FD_CLOEXEC);
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_enable_cap(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	CHECK(vm >= 0);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_USER_SIGP};
	CHECK_RET(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0);
	cap.flags = 1;
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_S390_VECTOR_REGISTERS};
	CHECK_RET(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_S390_HPAGE_1M};
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_S390_MEM_OP};
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_HALT_POLL, .args = {1ull << 32}};
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	cap.args[0] = 200000;
	CHECK_RET(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), 0);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_DIRTY_LOG_RING, .args = {4096}};
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, &cap), EINVAL);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

#ifdef SHIM_LINKED
static bool test_version_string(void)
{
	bool ok = false;
	const char *v = kvm_s390_shim_version();
	CHECK(v != NULL && strcmp(v, "0.1.0") == 0);
	ok = true;
done:
	return ok;
}
#endif

int main(void)
{
#ifndef SHIM_LINKED
	RUN(test_before_main);
#endif
	RUN(test_api_version);
	RUN(test_capabilities);
	RUN(test_create_vm);
	RUN(test_unknown_requests);
	RUN(test_enable_cap);
#ifdef SHIM_LINKED
	RUN(test_version_string);
#endif
	DONE();
}
