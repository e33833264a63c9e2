/* Bad caller pointers (NULL, unmapped, read-only) get EFAULT, never a crash. */
#include "test.h"

static void *unmapped_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	munmap(p, 4096);
	return p;
}

static void *readonly_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static bool test_argument_structs(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	void *gone = unmapped_page();
	CHECK(vm >= 0 && gone);
	/* The kernel reads these structs: NULL and unmapped are EFAULT. */
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, NULL), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, gone), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION2, (char *)gone + 4000), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, NULL), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, gone), EFAULT);
	CHECK_ERR(KVM_IOCTL(vm, KVM_ENABLE_CAP, (void *)-4096L), EFAULT);
	/* A struct that straddles into an unmapped page. */
	uint8_t *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(two != MAP_FAILED);
	munmap(two + 4096, 4096);
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, two + 4096 - 16), EFAULT);
	munmap(two, 4096);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_output_buffers(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t *mem = map_aligned(MiB, MiB);
	void *gone = unmapped_page();
	void *ro = readonly_page();
	CHECK(vm >= 0 && mem && gone && ro);
	CHECK_RET(set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, MiB, mem), 0);
	/* The kernel writes the dirty bitmap: NULL, unmapped and read-only are EFAULT. */
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = 0};
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), EFAULT);
	log.dirty_bitmap = (uintptr_t)gone;
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), EFAULT);
	log.dirty_bitmap = (uintptr_t)ro;
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), EFAULT);
	/* A read-only struct is fine where the kernel only reads it. */
	struct kvm_userspace_memory_region *r = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(r != MAP_FAILED);
	*r = (struct kvm_userspace_memory_region){.slot = 1, .guest_phys_addr = 4 * MiB, .memory_size = MiB,
						    .userspace_addr = (uintptr_t)mem};
	CHECK(mprotect(r, 4096, PROT_READ) == 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, r), 0);
	munmap(r, 4096);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

int main(void)
{
	RUN(test_argument_structs);
	RUN(test_output_buffers);
	DONE();
}
