/* KVM_SET_USER_MEMORY_REGION(2) and KVM_GET_DIRTY_LOG: the kernel's decision order and errnos. */
#include "test.h"

static bool test_region_errors(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t *mem = map_aligned(4 * MiB, MiB);
	CHECK(vm >= 0 && mem);

	/* Flags: unknown bits, then READONLY (not supported on s390). */
	CHECK_ERR(set_region(vm, 0, 4, 0, MiB, mem), EINVAL);
	CHECK_ERR(set_region(vm, 0, KVM_MEM_READONLY, 0, MiB, mem), EINVAL);
	/* Slot ids: 32767 and up, and any address-space bits. */
	CHECK_ERR(set_region(vm, 32767, 0, 0, MiB, mem), EINVAL);
	CHECK_ERR(set_region(vm, 0xffff, 0, 0, MiB, mem), EINVAL);
	CHECK_ERR(set_region(vm, 1u << 16, 0, 0, MiB, mem), EINVAL);
	/* 4 KiB alignment of size, guest address and user address. */
	CHECK_ERR(set_region(vm, 0, 0, 0, MiB + 1, mem), EINVAL);
	CHECK_ERR(set_region(vm, 0, 0, 0x800, MiB, mem), EINVAL);
	CHECK_ERR(set_region(vm, 0, 0, 0, MiB, mem + 8), EINVAL);
	/* gpa + size wraps. */
	CHECK_ERR(set_region(vm, 0, 0, 0xfffffffffff00000ull, 2 * MiB, mem), EINVAL);
	/* Deleting a slot that does not exist. */
	CHECK_ERR(set_region(vm, 5, 0, 0, 0, NULL), EINVAL);
	/* s390: user address and size must be 1 MiB aligned for a new slot. */
	CHECK_ERR(set_region(vm, 0, 0, 0, MiB, mem + 4096), EINVAL);
	CHECK_ERR(set_region(vm, 0, 0, 0, MiB + 4096, mem), EINVAL);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_region_lifecycle(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t *mem = map_aligned(4 * MiB, MiB);
	CHECK(vm >= 0 && mem);

	CHECK_RET(set_region(vm, 0, 0, 0, MiB, mem), 0);
	/* Identical request: a no-op. */
	CHECK_RET(set_region(vm, 0, 0, 0, MiB, mem), 0);
	/* Overlap with slot 0, for a new slot and for a moved one. */
	CHECK_ERR(set_region(vm, 1, 0, 0, MiB, mem + MiB), EEXIST);
	CHECK_ERR(set_region(vm, 1, 0, 512 * 1024, MiB, mem + MiB), EEXIST);
	CHECK_RET(set_region(vm, 1, 0, MiB, MiB, mem + MiB), 0);
	CHECK_ERR(set_region(vm, 1, 0, 0, MiB, mem + MiB), EEXIST);
	/* An existing slot cannot change its user address or size. */
	CHECK_ERR(set_region(vm, 1, 0, MiB, MiB, mem + 2 * MiB), EINVAL);
	CHECK_ERR(set_region(vm, 1, 0, MiB, 2 * MiB, mem + MiB), EINVAL);
	/* Move slot 1, then flags-only change (dirty logging on). */
	CHECK_RET(set_region(vm, 1, 0, 8 * MiB, MiB, mem + MiB), 0);
	CHECK_RET(set_region(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, 8 * MiB, MiB, mem + MiB), 0);
	/* The old range is free again. */
	CHECK_RET(set_region(vm, 2, 0, MiB, MiB, mem + 2 * MiB), 0);
	/* s390 quirk: a guest address that is not 1 MiB aligned is accepted (the segment
	 * mapping fails silently in the kernel). */
	CHECK_RET(set_region(vm, 3, 0, 16 * MiB + 4096, MiB, mem + 3 * MiB), 0);
	/* Delete, then delete again. */
	CHECK_RET(set_region(vm, 3, 0, 0, 0, NULL), 0);
	CHECK_ERR(set_region(vm, 3, 0, 0, 0, NULL), EINVAL);
	/* The highest slot id. */
	CHECK_RET(set_region(vm, 32766, 0, 64 * MiB, MiB, mem + 3 * MiB), 0);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_region2(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t *mem = map_aligned(MiB, MiB);
	CHECK(vm >= 0 && mem);
	struct kvm_userspace_memory_region2 r = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = MiB, .userspace_addr = (uintptr_t)mem};
	CHECK_RET(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION2, &r), 0);
	r.flags = KVM_MEM_GUEST_MEMFD;
	CHECK_ERR(KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION2, &r), EINVAL);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

static bool test_dirty_log(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	uint8_t *mem = map_aligned(4 * MiB, MiB);
	uint8_t bitmap[80];
	CHECK(vm >= 0 && mem);
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = (uintptr_t)bitmap};
	/* No slot, then a slot without dirty logging: ENOENT. */
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), ENOENT);
	CHECK_RET(set_region(vm, 0, 0, 0, MiB, mem), 0);
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), ENOENT);
	/* Slot ids out of range, including address-space bits: EINVAL. */
	log.slot = 32767;
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), EINVAL);
	log.slot = 1u << 16;
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), EINVAL);
	/* With dirty logging: ALIGN(256 pages, 64) / 8 = 32 bytes, nothing dirty, nothing past. */
	CHECK_RET(set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, MiB, mem), 0);
	log.slot = 0;
	memset(bitmap, 0xaa, sizeof(bitmap));
	CHECK_RET(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), 0);
	for (int i = 0; i < 32; i++)
		CHECK(bitmap[i] == 0);
	CHECK(bitmap[32] == 0xaa);
	/* A 3 MiB slot: 768 pages = 96 bytes. */
	uint8_t big[100];
	memset(big, 0xaa, sizeof(big));
	CHECK_RET(set_region(vm, 7, KVM_MEM_LOG_DIRTY_PAGES, 16 * MiB, 3 * MiB, mem + MiB), 0);
	log = (struct kvm_dirty_log){.slot = 7, .dirty_bitmap = (uintptr_t)big};
	CHECK_RET(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), 0);
	CHECK(big[95] == 0 && big[96] == 0xaa);
	/* Turning logging off frees the bitmap. */
	CHECK_RET(set_region(vm, 7, 0, 16 * MiB, 3 * MiB, mem + MiB), 0);
	CHECK_ERR(KVM_IOCTL(vm, KVM_GET_DIRTY_LOG, &log), ENOENT);
	ok = true;
done:
	KVM_CLOSE(vm);
	return ok;
}

int main(void)
{
	RUN(test_region_errors);
	RUN(test_region_lifecycle);
	RUN(test_region2);
	RUN(test_dirty_log);
	DONE();
}
