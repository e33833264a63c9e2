/*
 * Fault injection: run by tests/ffi.rs with
 *   KVM_S390_SHIM_FAIL=KVM_CREATE_VCPU:ENOMEM@2,s390_mem_op:EFAULT@3,KVM_GET_API_VERSION:EPERM
 * Exactly the 2nd KVM_CREATE_VCPU fails with ENOMEM (and creates nothing: the same id then
 * succeeds), exactly the 3rd KVM_S390_MEM_OP fails with EFAULT, every
 * KVM_GET_API_VERSION fails with EPERM, and other requests are untouched.
 */
#include "memop.h"

static bool test_nth_create_vcpu_fails(void)
{
	bool ok = false;
	struct guest g = { .vm = -1 };
	int v0 = -1, v1 = -1;

	if (!guest_open(&g, 0))
		FAIL("guest_open");
	v0 = KVM_IOCTL(g.vm, KVM_CREATE_VCPU, 0);
	CHECK(v0 >= 0);
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_CREATE_VCPU, 1), ENOMEM);
	/* The injected failure ran no handler: vCPU 1 does not exist yet. */
	v1 = KVM_IOCTL(g.vm, KVM_CREATE_VCPU, 1);
	CHECK(v1 >= 0);
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_CREATE_VCPU, 1), EEXIST);
	ok = true;
done:
	if (v1 >= 0)
		KVM_CLOSE(v1);
	if (v0 >= 0)
		KVM_CLOSE(v0);
	if (g.vm >= 0)
		KVM_CLOSE(g.vm);
	return ok;
}

static bool test_nth_memop_fails(void)
{
	bool ok = false;
	struct guest g = { .vm = -1 };
	uint64_t v = 7;

	if (!guest_open(&g, 0))
		FAIL("guest_open");
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_WRITE, 0x1000, 8, &v, NO_KEY, 0);
	CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 0);
	CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 0);
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), EFAULT);
	for (int i = 0; i < 5; i++)
		CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_MEM_OP, &m), 0);
	ok = true;
done:
	if (g.vm >= 0)
		KVM_CLOSE(g.vm);
	return ok;
}

static bool test_every_call_fails(void)
{
	bool ok = false;
	int kvm = KVM_OPEN(O_RDWR);

	CHECK(kvm >= 0);
	for (int i = 0; i < 3; i++)
		CHECK_ERR(KVM_IOCTL(kvm, KVM_GET_API_VERSION, 0), EPERM);
	CHECK_RET(KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP), 65536);
	ok = true;
done:
	if (kvm >= 0)
		KVM_CLOSE(kvm);
	return ok;
}

int main(void)
{
	RUN(test_nth_create_vcpu_fails);
	RUN(test_nth_memop_fails);
	RUN(test_every_call_fails);
	DONE();
}
