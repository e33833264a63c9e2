/*
 * A fixed sequence of KVM calls for the golden trace test (tests/ffi.rs runs it with
 * KVM_S390_SHIM_LOG=trace and compares the trace, with thread ids, fd numbers, user
 * addresses and times masked, against tests/golden/trace_sequence.txt).
 * It prints "1 passed, 0 failed" when every call returned what it should.
 */
#include "test.h"

static bool test_sequence(void)
{
	bool ok = false;
	int kvm = -1, vm = -1, vcpu = -1;
	size_t mem_size = 1 << 20;
	/* s390 memory slots start on a 1 MiB (segment) boundary of the user address. */
	void *mem = map_aligned(mem_size, mem_size);
	uint64_t data = 0x0123456789abcdefull, back = 0;

	if (!mem)
		FAIL("mmap");
	kvm = KVM_OPEN(O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		FAIL("open /dev/kvm");
	CHECK_RET(KVM_IOCTL(kvm, KVM_GET_API_VERSION, 0), 12);
	CHECK_RET(KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP), 65536);
	vm = KVM_IOCTL(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		FAIL("KVM_CREATE_VM");
	struct kvm_userspace_memory_region r = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = mem_size,
		.userspace_addr = (uintptr_t)mem,
	};
	CHECK_RET(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r), 0);
	struct kvm_device_attr attr = {
		.group = KVM_S390_VM_CPU_MODEL,
		.attr = KVM_S390_VM_CPU_PROCESSOR,
	};
	CHECK_RET(KVM_IOCTL(vm, KVM_HAS_DEVICE_ATTR, &attr), 0);
	vcpu = KVM_IOCTL(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		FAIL("KVM_CREATE_VCPU");
	struct kvm_s390_mem_op op = {
		.gaddr = 0x1000,
		.size = sizeof(data),
		.op = KVM_S390_MEMOP_LOGICAL_WRITE,
		.buf = (uintptr_t)&data,
	};
	CHECK_RET(KVM_IOCTL(vcpu, KVM_S390_MEM_OP, &op), 0);
	op.op = KVM_S390_MEMOP_LOGICAL_READ;
	op.buf = (uintptr_t)&back;
	CHECK_RET(KVM_IOCTL(vcpu, KVM_S390_MEM_OP, &op), 0);
	if (back != data)
		FAIL("read back %" PRIx64, back);
	op.flags = 0x100;
	CHECK_ERR(KVM_IOCTL(vcpu, KVM_S390_MEM_OP, &op), EINVAL);
	struct kvm_s390_mem_op abs = {
		.gaddr = 0x2000,
		.size = 8,
		.op = KVM_S390_MEMOP_ABSOLUTE_READ,
		.buf = (uintptr_t)&back,
		.flags = KVM_S390_MEMOP_F_CHECK_ONLY,
	};
	CHECK_RET(KVM_IOCTL(vm, KVM_S390_MEM_OP, &abs), 0);
	struct kvm_s390_irq irq = { .type = KVM_S390_PROGRAM_INT };
	irq.u.pgm.code = 0x11;
	CHECK_RET(KVM_IOCTL(vcpu, KVM_S390_IRQ, &irq), 0);
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK_ERR(KVM_IOCTL(vcpu, KVM_CREATE_VM, 0), ENOTTY);
	ok = true;
done:
	if (vcpu >= 0)
		KVM_CLOSE(vcpu);
	if (vm >= 0)
		KVM_CLOSE(vm);
	if (kvm >= 0)
		KVM_CLOSE(kvm);
	return ok;
}

int main(void)
{
	RUN(test_sequence);
	DONE();
}
