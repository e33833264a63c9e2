/* Helpers shared by the memop and storage-key tests. */
#ifndef KVM_S390_SHIM_MEMOP_H
#define KVM_S390_SHIM_MEMOP_H
#include "test.h"

#define PAGE 4096ull
#define TSIZE 65536u   /* min(KVM_CAP_S390_MEM_OP, 65536), as the kernel selftest uses */
#define GUEST_SIZE (4 * MiB)
#define MEM1 0x10000ull /* guest absolute address of the selftest's "mem1" */
#define MEM2 0x30000ull /* and "mem2" */
#define NO_KEY (-1)

struct guest {
	int vm;
	uint8_t *mem; /* host view of guest absolute 0..GUEST_SIZE */
};

static inline bool guest_open(struct guest *g, uint32_t flags)
{
	g->vm = open_vm(NULL);
	g->mem = map_aligned(GUEST_SIZE, MiB);
	return g->vm >= 0 && g->mem && set_region(g->vm, 0, flags, 0, GUEST_SIZE, g->mem) == 0;
}

/* A memop struct with the selftest's "ignored" text in the unused bytes. */
static inline struct kvm_s390_mem_op mop(uint32_t op, uint64_t gaddr, uint32_t size, void *buf, int key, uint64_t flags)
{
	struct kvm_s390_mem_op m;
	memcpy(m.reserved, "ignored_ignored_ignored_ignored", 32);
	m.gaddr = gaddr;
	m.size = size;
	m.op = op;
	m.buf = (uint64_t)(uintptr_t)buf;
	m.flags = flags;
	if (key != NO_KEY) {
		m.flags |= KVM_S390_MEMOP_F_SKEY_PROTECTION;
		m.key = (uint8_t)key;
	}
	return m;
}

static inline int vm_memop(int vm, struct kvm_s390_mem_op m)
{
	return KVM_IOCTL(vm, KVM_S390_MEM_OP, &m);
}

static inline int abs_write(int vm, uint64_t ga, uint32_t size, void *buf, int key, uint64_t flags)
{
	return vm_memop(vm, mop(KVM_S390_MEMOP_ABSOLUTE_WRITE, ga, size, buf, key, flags));
}

static inline int abs_read(int vm, uint64_t ga, uint32_t size, void *buf, int key, uint64_t flags)
{
	return vm_memop(vm, mop(KVM_S390_MEMOP_ABSOLUTE_READ, ga, size, buf, key, flags));
}

static inline int cmpxchg(int vm, uint64_t ga, uint32_t size, void *new_val, void *old_val, int key)
{
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_CMPXCHG, ga, size, new_val, key, 0);
	m.old_addr = (uint64_t)(uintptr_t)old_val;
	return KVM_IOCTL(vm, KVM_S390_MEM_OP, &m);
}

/* Sets `count` storage keys from guest frame `gfn` to `key`. */
static inline int set_keys(int vm, uint64_t gfn, uint64_t count, uint8_t key)
{
	uint8_t *keys = malloc(count);
	memset(keys, key, count);
	struct kvm_s390_skeys s = {.start_gfn = gfn, .count = count, .skeydata_addr = (uintptr_t)keys};
	int r = KVM_IOCTL(vm, KVM_S390_SET_SKEYS, &s);
	free(keys);
	return r;
}

static inline int get_keys(int vm, uint64_t gfn, uint64_t count, uint8_t *out)
{
	struct kvm_s390_skeys s = {.start_gfn = gfn, .count = count, .skeydata_addr = (uintptr_t)out};
	return KVM_IOCTL(vm, KVM_S390_GET_SKEYS, &s);
}

#endif
