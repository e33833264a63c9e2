/*
 * demo_vmm: a small C VMM run against kvm-s390-shim. It uses only the plain KVM API (open,
 * ioctl, close) and the s390 uapi definitions from kvm_s390_shim.h, so it runs unchanged
 * under LD_PRELOAD=libkvm_s390_shim.so (see examples/run-demo.sh).
 *
 * It prints what it does: the API version and capabilities, a VM with guest memory, the
 * memory-slot rules of s390 KVM, and dirty-log reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kvm_s390_shim.h"

#define MiB (1024ull * 1024)

static int failures;

/* Runs one ioctl, prints it with its result, and checks the expected outcome. */
static int step(const char *what, int ret, int want_errno)
{
	int e = errno;
	if (ret < 0)
		printf("  %-58s -> -1 %s\n", what, strerror(e));
	else
		printf("  %-58s -> %d\n", what, ret);
	if ((want_errno == 0 && ret < 0) || (want_errno != 0 && (ret != -1 || e != want_errno))) {
		printf("    UNEXPECTED (wanted %s)\n", want_errno ? strerror(want_errno) : "success");
		failures++;
	}
	return ret;
}

static int set_region(int vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *uaddr)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)uaddr};
	errno = 0;
	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

static const struct {
	const char *name;
	unsigned long cap;
} caps[] = {
	{"KVM_CAP_USER_MEMORY", KVM_CAP_USER_MEMORY},
	{"KVM_CAP_NR_MEMSLOTS", KVM_CAP_NR_MEMSLOTS},
	{"KVM_CAP_S390_GMAP", KVM_CAP_S390_GMAP},
	{"KVM_CAP_S390_COW", KVM_CAP_S390_COW},
	{"KVM_CAP_SYNC_MMU", KVM_CAP_SYNC_MMU},
	{"KVM_CAP_CHECK_EXTENSION_VM", KVM_CAP_CHECK_EXTENSION_VM},
	{"KVM_CAP_ENABLE_CAP_VM", KVM_CAP_ENABLE_CAP_VM},
	{"KVM_CAP_HALT_POLL", KVM_CAP_HALT_POLL},
	{"KVM_CAP_USER_MEMORY2", KVM_CAP_USER_MEMORY2},
	{"KVM_CAP_S390_HPAGE_1M", KVM_CAP_S390_HPAGE_1M},
	{"KVM_CAP_S390_PROTECTED", KVM_CAP_S390_PROTECTED},
	{"KVM_CAP_READONLY_MEM", KVM_CAP_READONLY_MEM},
	{"KVM_CAP_S390_MEM_OP", KVM_CAP_S390_MEM_OP},
	{"KVM_CAP_S390_MEM_OP_EXTENSION", KVM_CAP_S390_MEM_OP_EXTENSION},
	{"KVM_CAP_S390_SKEYS", KVM_CAP_S390_SKEYS},
	{"KVM_CAP_VM_ATTRIBUTES", KVM_CAP_VM_ATTRIBUTES},
	{"KVM_CAP_S390_CMMA_MIGRATION", KVM_CAP_S390_CMMA_MIGRATION},
	{"KVM_CAP_SYNC_REGS", KVM_CAP_SYNC_REGS},
};

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("demo_vmm: an s390 KVM client (shim %s)\n\n", "kvm-s390-shim");

	printf("1. /dev/kvm\n");
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0) {
		perror("open /dev/kvm");
		return 1;
	}
	printf("  open(\"/dev/kvm\") = fd %d\n", kvm);
	step("KVM_GET_API_VERSION", ioctl(kvm, KVM_GET_API_VERSION, 0), 0);
	step("KVM_GET_VCPU_MMAP_SIZE", ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), 0);

	printf("\n2. Capabilities (KVM_CHECK_EXTENSION on /dev/kvm)\n");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		printf("  %-34s = %d\n", caps[i].name, ioctl(kvm, KVM_CHECK_EXTENSION, caps[i].cap));

	printf("\n3. A VM with 4 MiB of guest memory\n");
	int vm = step("KVM_CREATE_VM(0)", ioctl(kvm, KVM_CREATE_VM, 0), 0);
	if (vm < 0)
		return 1;
	step("KVM_CREATE_VM(KVM_VM_S390_UCONTROL)", ioctl(kvm, KVM_CREATE_VM, KVM_VM_S390_UCONTROL), EINVAL);
	/* s390 maps memory slots in 1 MiB segments: back them with 1 MiB aligned memory. */
	uint8_t *raw = mmap(NULL, 6 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		return 1;
	uint8_t *mem = (uint8_t *)(((uintptr_t)raw + MiB - 1) & ~(uintptr_t)(MiB - 1));
	printf("  guest memory backed at %p\n", (void *)mem);
	step("slot 0: gpa 0, 2 MiB, dirty logging", set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 2 * MiB, mem), 0);
	step("slot 1: gpa 16 MiB, 2 MiB", set_region(vm, 1, 0, 16 * MiB, 2 * MiB, mem + 2 * MiB), 0);

	printf("\n4. Memory-slot rules\n");
	step("same request again (no-op)", set_region(vm, 1, 0, 16 * MiB, 2 * MiB, mem + 2 * MiB), 0);
	step("slot 2 overlapping slot 0", set_region(vm, 2, 0, MiB, MiB, mem + 4 * MiB), EEXIST);
	step("user address not 1 MiB aligned", set_region(vm, 2, 0, 32 * MiB, MiB, mem + 4096), EINVAL);
	step("size not a multiple of 1 MiB", set_region(vm, 2, 0, 32 * MiB, MiB + 4096, mem + 4 * MiB), EINVAL);
	step("size not a multiple of 4 KiB", set_region(vm, 2, 0, 32 * MiB, 100, mem + 4 * MiB), EINVAL);
	step("KVM_MEM_READONLY (not on s390)", set_region(vm, 2, KVM_MEM_READONLY, 32 * MiB, MiB, mem + 4 * MiB), EINVAL);
	step("slot id 32767", set_region(vm, 32767, 0, 32 * MiB, MiB, mem + 4 * MiB), EINVAL);
	step("gpa not 1 MiB aligned (accepted, not mapped)", set_region(vm, 2, 0, 32 * MiB + 4096, MiB, mem + 4 * MiB), 0);
	step("change slot 1's size", set_region(vm, 1, 0, 16 * MiB, MiB, mem + 2 * MiB), EINVAL);
	step("move slot 1 to 64 MiB", set_region(vm, 1, 0, 64 * MiB, 2 * MiB, mem + 2 * MiB), 0);
	step("delete slot 2", set_region(vm, 2, 0, 0, 0, NULL), 0);
	step("delete slot 2 again", set_region(vm, 2, 0, 0, 0, NULL), EINVAL);

	printf("\n5. Dirty log\n");
	uint64_t bitmap[8];
	struct kvm_dirty_log log = {.slot = 0, .dirty_bitmap = (uint64_t)(uintptr_t)bitmap};
	memset(bitmap, 0xff, sizeof(bitmap));
	step("KVM_GET_DIRTY_LOG slot 0", ioctl(vm, KVM_GET_DIRTY_LOG, &log), 0);
	printf("  dirty pages in slot 0: %s\n", bitmap[0] | bitmap[1] | bitmap[2] | bitmap[3] | bitmap[4] | bitmap[5] | bitmap[6] | bitmap[7] ? "some" : "none");
	log.slot = 1;
	step("KVM_GET_DIRTY_LOG slot 1 (not logging)", ioctl(vm, KVM_GET_DIRTY_LOG, &log), ENOENT);
	step("KVM_GET_DIRTY_LOG with a NULL bitmap", ioctl(vm, KVM_GET_DIRTY_LOG, &(struct kvm_dirty_log){.slot = 0}), EFAULT);

	printf("\n6. KVM_S390_MEM_OP on the VM fd (absolute guest addresses)\n");
	{
		char msg[] = "Hello from the host";
		char back[32] = {0};
		struct kvm_s390_mem_op m = {.gaddr = 0x1000, .size = sizeof(msg), .op = KVM_S390_MEMOP_ABSOLUTE_WRITE,
					    .buf = (uintptr_t)msg};
		step("ABSOLUTE_WRITE \"Hello from the host\" at 0x1000", ioctl(vm, KVM_S390_MEM_OP, &m), 0);
		m.op = KVM_S390_MEMOP_ABSOLUTE_READ;
		m.buf = (uintptr_t)back;
		step("ABSOLUTE_READ it back", ioctl(vm, KVM_S390_MEM_OP, &m), 0);
		printf("    read: \"%s\"; in the VMM's own mapping: \"%s\"\n", back, (char *)mem + 0x1000);
		m.gaddr = 0x7f000000;
		step("ABSOLUTE_READ outside guest memory (program exception)", ioctl(vm, KVM_S390_MEM_OP, &m), 0);

		uint64_t cur = 0, expect = 0, repl = 0x1122334455667788ull;
		memcpy(mem + 0x2000, &cur, 8);
		struct kvm_s390_mem_op x = {.gaddr = 0x2000, .size = 8, .op = KVM_S390_MEMOP_ABSOLUTE_CMPXCHG,
					    .buf = (uintptr_t)&repl, .old_addr = (uintptr_t)&expect};
		step("ABSOLUTE_CMPXCHG 0 -> 0x1122334455667788", ioctl(vm, KVM_S390_MEM_OP, &x), 0);
		printf("    exchanged: %s (old buffer unchanged: %#llx)\n", expect == 0 ? "yes" : "no", (unsigned long long)expect);
		uint64_t again = 0xaaaa;
		x.buf = (uintptr_t)&again;
		step("ABSOLUTE_CMPXCHG 0 -> 0xaaaa again (stale old value)", ioctl(vm, KVM_S390_MEM_OP, &x), 0);
		printf("    exchanged: %s; old buffer now holds the current value %#llx\n", expect == 0 ? "yes" : "no",
		       (unsigned long long)expect);

		uint8_t keys[4] = {0x30, 0x30, 0x30, 0x30}; /* access-control key 3 */
		struct kvm_s390_skeys sk = {.start_gfn = 0x10, .count = 4, .skeydata_addr = (uintptr_t)keys};
		uint8_t probe = 0;
		struct kvm_s390_skeys one = {.start_gfn = 0x10, .count = 1, .skeydata_addr = (uintptr_t)&probe};
		printf("  %-58s -> %d (KVM_S390_GET_SKEYS_NONE)\n", "KVM_S390_GET_SKEYS before any key is set",
		       ioctl(vm, KVM_S390_GET_SKEYS, &one));
		step("KVM_S390_SET_SKEYS gfn 0x10..0x13 = 0x30", ioctl(vm, KVM_S390_SET_SKEYS, &sk), 0);
		struct kvm_s390_mem_op w = {.gaddr = 0x10000, .size = 8, .op = KVM_S390_MEMOP_ABSOLUTE_WRITE,
					    .buf = (uintptr_t)msg, .flags = KVM_S390_MEMOP_F_SKEY_PROTECTION, .key = 5};
		printf("  %-58s -> %d (protection exception)\n", "ABSOLUTE_WRITE with access key 5 to a key-3 page",
		       ioctl(vm, KVM_S390_MEM_OP, &w));
		w.key = 3;
		step("ABSOLUTE_WRITE with access key 3", ioctl(vm, KVM_S390_MEM_OP, &w), 0);
		step("KVM_S390_GET_SKEYS gfn 0x10", ioctl(vm, KVM_S390_GET_SKEYS, &one), 0);
		printf("    storage key now %#x (ACC 3, reference and change bits set by the store)\n", probe);
		log.slot = 0;
		memset(bitmap, 0, sizeof(bitmap));
		step("KVM_GET_DIRTY_LOG slot 0", ioctl(vm, KVM_GET_DIRTY_LOG, &log), 0);
		printf("    dirty pages:");
		for (int i = 0; i < 512; i++)
			if ((bitmap[i / 64] >> (i % 64)) & 1)
				printf(" %#x", i);
		printf("\n");
	}

	printf("\n7. Teardown\n");
	int vm2 = dup(vm);
	close(vm);
	step("VM still usable through a dup after close", ioctl(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 0);
	close(vm2);
	close(kvm);
	printf("\ndemo_vmm: %s\n", failures ? "UNEXPECTED RESULTS" : "all steps behaved as on s390 KVM");
	return failures ? 1 : 0;
}
