/* Helpers for the VM attribute tests. */
#ifndef KVM_S390_SHIM_ATTR_H
#define KVM_S390_SHIM_ATTR_H
#include "test.h"

static inline int vm_attr(int vm, unsigned long req, uint32_t group, uint64_t attr, void *addr)
{
	struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)addr};
	return KVM_IOCTL(vm, req, &a);
}

#define SET_ATTR(vm, g, a, p) vm_attr((vm), KVM_SET_DEVICE_ATTR, (g), (a), (p))
#define GET_ATTR(vm, g, a, p) vm_attr((vm), KVM_GET_DEVICE_ATTR, (g), (a), (p))
#define HAS_ATTR(vm, g, a) vm_attr((vm), KVM_HAS_DEVICE_ATTR, (g), (a), NULL)

static inline int enable_cap(int vm, uint32_t cap)
{
	struct kvm_enable_cap c = {.cap = cap};
	return KVM_IOCTL(vm, KVM_ENABLE_CAP, &c);
}

#endif
