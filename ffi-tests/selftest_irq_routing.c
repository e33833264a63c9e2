/*
 * A port, written anew, of the kernel selftest tools/testing/selftests/kvm/s390/irq_routing.c:
 * KVM_SET_GSI_ROUTING refuses an s390 adapter route whose summary or indicator bit offset
 * leaves the page of its address, and accepts one just inside it. As upstream: a VM with one
 * vCPU, two guest pages at 42 * 4096 as both addresses, one route for GSI 1, the same entry
 * updated between the four checks.
 */
#include "selftest.h"

#define GUEST_MEM (1 * MiB)
#define PAGES_AT (4096ull * 42)

static int vm = -1;
static struct {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry entries[1];
} routing;

static bool set_routing(void)
{
	errno = 0;
	return KVM_IOCTL(vm, KVM_SET_GSI_ROUTING, &routing) == 0;
}

static bool summary_offset_outside_of_page(void)
{
	routing.entries[0].u.adapter.summary_offset = 4096 * 8;
	return !set_routing() && errno == EINVAL;
}

static bool summary_offset_inside_of_page(void)
{
	routing.entries[0].u.adapter.summary_offset -= 4;
	return set_routing();
}

static bool ind_offset_outside_of_page(void)
{
	routing.entries[0].u.adapter.ind_offset = 4096 * 8;
	return !set_routing() && errno == EINVAL;
}

static bool ind_offset_inside_of_page(void)
{
	routing.entries[0].u.adapter.ind_offset -= 4;
	return set_routing();
}

int main(void)
{
	int kvm = KVM_OPEN(O_RDWR);
	if (kvm < 0 || KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING) <= 0) {
		printf("not ok 1 requirements (KVM_CAP_IRQ_ROUTING)\n0 passed, 1 failed\n");
		return 1;
	}
	vm = KVM_IOCTL(kvm, KVM_CREATE_VM, 0);
	void *mem = map_aligned(GUEST_MEM, MiB);
	if (vm < 0 || !mem || set_region(vm, 0, 0, 0, GUEST_MEM, mem) || KVM_IOCTL(vm, KVM_CREATE_VCPU, 0) < 0) {
		printf("not ok 1 VM with one vCPU\n0 passed, 1 failed\n");
		return 1;
	}
	routing.hdr.nr = 1;
	routing.entries[0].type = KVM_IRQ_ROUTING_S390_ADAPTER;
	routing.entries[0].gsi = 1;
	routing.entries[0].u.adapter.summary_addr = PAGES_AT;
	routing.entries[0].u.adapter.ind_addr = PAGES_AT;
	printf("TAP version 13\n1..4\n");
	RUN(summary_offset_outside_of_page);
	RUN(summary_offset_inside_of_page);
	RUN(ind_offset_outside_of_page);
	RUN(ind_offset_inside_of_page);
	DONE();
}
