/*
 * demo_vmm: a small C VMM run against kvm-s390-shim. It uses only the plain KVM API (open,
 * ioctl, close) and the s390 uapi definitions from kvm_s390_shim.h, so it runs unchanged
 * under LD_PRELOAD=libkvm_s390_shim.so (see examples/run-demo.sh).
 *
 * It prints what it does: the API version and capabilities, a VM with guest memory, the
 * memory-slot rules of s390 KVM, dirty-log reads, memops, storage keys, the VM attributes,
 * CMMA migration, a vCPU with page tables, and finally a guest program: a C function the shim
 * runs inside KVM_RUN as the guest. The guest-program functions are looked up with dlsym, so
 * the demo needs no link-time dependency on the shim.
 *
 * A vCPU without a guest program executes the s390x guest code at its PSW; a vCPU in an
 * enabled wait (PSW bit 14) sleeps in KVM_RUN until an interrupt or until the VMM kicks it with
 * a signal, as QEMU kicks its vCPU threads (SIG_IPI).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <endian.h>

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

/*
 * Facility lists and CPU-feature arrays are MSB-0 bitmaps in the s390 memory image, on every
 * host: bit n is 0x80 >> (n % 8) of byte n / 8 (the uapi header's __u64 arrays are read as
 * bytes, as QEMU does).
 */
static int be_bit(const void *map, unsigned n)
{
	return (((const uint8_t *)map)[n / 8] >> (7 - n % 8)) & 1;
}

static int set_region(int vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *uaddr)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot, .flags = flags, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)uaddr};
	errno = 0;
	return ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

/*
 * Kicking a vCPU out of KVM_RUN, as QEMU does: SIG_IPI (here SIGUSR1) has a no-op handler and
 * is blocked on the VMM's threads; KVM_SET_SIGNAL_MASK unblocks it for the duration of KVM_RUN.
 * A KVM_RUN with nothing to run sleeps until the signal arrives and returns -1/EINTR with
 * KVM_EXIT_INTR; a signal sent before KVM_RUN stays pending and ends the next one at once.
 */
#define SIG_IPI SIGUSR1

static void ipi_handler(int sig)
{
	(void)sig;
}

static void block_sig_ipi(void)
{
	struct sigaction sa = {.sa_handler = ipi_handler};
	sigemptyset(&sa.sa_mask);
	sigaction(SIG_IPI, &sa, NULL);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIG_IPI);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
}

/* KVM_SET_SIGNAL_MASK: the thread's mask without SIG_IPI, as the kernel's 8-byte sigset. */
static int unblock_sig_ipi_in_run(int cpu)
{
	sigset_t set;
	pthread_sigmask(SIG_SETMASK, NULL, &set);
	sigdelset(&set, SIG_IPI);
	/* len, then the kernel's 8-byte sigset right after it (offset 4). */
	struct {
		uint32_t len;
		uint8_t set[8];
	} m = {.len = 8};
	memcpy(m.set, &set, 8);
	return ioctl(cpu, KVM_SET_SIGNAL_MASK, &m);
}

/* KVM_RUN of a vCPU without a guest program, kicked before it starts. */
static int run_kicked(int cpu)
{
	pthread_kill(pthread_self(), SIG_IPI);
	errno = 0;
	return ioctl(cpu, KVM_RUN, 0);
}

static double seconds(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* A vCPU thread: one KVM_RUN, timed. */
struct vcpu_thread {
	int cpu, ret, err;
	double wall, used;
};

static void *vcpu_thread_main(void *arg)
{
	struct vcpu_thread *t = arg;
	double w0 = seconds(CLOCK_MONOTONIC), c0 = seconds(CLOCK_THREAD_CPUTIME_ID);
	errno = 0;
	t->ret = ioctl(t->cpu, KVM_RUN, 0);
	t->err = errno;
	t->used = seconds(CLOCK_THREAD_CPUTIME_ID) - c0;
	t->wall = seconds(CLOCK_MONOTONIC) - w0;
	return NULL;
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

/* ---- the guest program of section 11 ------------------------------------------------------ */

/* The guest-program API, resolved at run time (the shim is LD_PRELOADed). */
static struct {
	int (*set_guest)(int, kvm_s390_shim_guest_fn, void *);
	int (*read)(struct kvm_s390_shim_guest *, uint64_t, void *, size_t, uint8_t);
	int (*write)(struct kvm_s390_shim_guest *, uint64_t, const void *, size_t, uint8_t);
	int (*sske)(struct kvm_s390_shim_guest *, uint64_t, uint8_t);
	int (*cs)(struct kvm_s390_shim_guest *, uint64_t, size_t, void *, const void *, uint8_t);
	uint64_t (*get_reg)(struct kvm_s390_shim_guest *, uint8_t, uint32_t);
	int (*set_reg)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t);
} shim;

#define SRC 0x140000ull  /* the guest copies 8 KiB from here ... */
#define DST 0x142000ull  /* ... to here, two pages with storage key 0x10 (access key 1) */
#define COUNTER 0x144000ull

/*
 * The guest: stage 0 sets the keys of the destination pages, switches to PSW key 1, copies
 * the source to the destination page by page, tries one store with the wrong key, goes back
 * to key 0 and bumps a counter with COMPARE AND SWAP, and reports with DIAG 0x501 (GPR 2: bytes copied, GPR 3: the
 * program-interruption code of the wrong-key store). Stage 1, after the VMM resumed it, stops
 * the CPU.
 */
static struct kvm_s390_shim_exit demo_guest(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	int *stage = opaque;
	if ((*stage)++ > 0)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_STOP};
	shim.sske(cpu, DST, 0x10);
	shim.sske(cpu, DST + 4096, 0x10);
	uint64_t mask = shim.get_reg(cpu, 'p', 0);
	shim.set_reg(cpu, 'p', 0, (mask & ~(0xfull << 52)) | (1ull << 52));
	uint8_t page[4096];
	uint64_t copied = 0;
	for (uint64_t off = 0; off < 8192; off += 4096) {
		if (shim.read(cpu, SRC + off, page, sizeof(page), 0) || shim.write(cpu, DST + off, page, sizeof(page), 0))
			break;
		copied += sizeof(page);
	}
	shim.set_reg(cpu, 'p', 0, (mask & ~(0xfull << 52)) | (2ull << 52));
	int code = shim.write(cpu, DST, "x", 1, 0);
	shim.set_reg(cpu, 'p', 0, mask); /* back to key 0 for the counter (its frame has key 0) */
	uint32_t old = 0, new;
	do {
		new = htobe32(be32toh(old) + 1);
	} while (shim.cs(cpu, COUNTER, 4, &old, &new, 0) == 1);
	shim.set_reg(cpu, 'g', 2, copied);
	shim.set_reg(cpu, 'g', 3, (uint64_t)code);
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 4, .ipa = 0x8300, .ipb = 0x05010000};
}

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

	printf("\n7. The host CPU model, queried like QEMU does\n");
	{
		static const uint64_t needed[] = {KVM_S390_VM_CPU_MACHINE, KVM_S390_VM_CPU_PROCESSOR,
						  KVM_S390_VM_CPU_MACHINE_FEAT, KVM_S390_VM_CPU_PROCESSOR_FEAT,
						  KVM_S390_VM_CPU_MACHINE_SUBFUNC};
		int have = 0;
		for (int i = 0; i < 5; i++) {
			struct kvm_device_attr a = {.group = KVM_S390_VM_CPU_MODEL, .attr = needed[i]};
			have += ioctl(vm, KVM_HAS_DEVICE_ATTR, &a) == 0;
		}
		printf("  KVM_HAS_DEVICE_ATTR: %d of the 5 CPU-model attributes QEMU needs\n", have);
		static struct kvm_s390_vm_cpu_machine mach;
		struct kvm_device_attr a = {.group = KVM_S390_VM_CPU_MODEL, .attr = KVM_S390_VM_CPU_MACHINE,
					    .addr = (uintptr_t)&mach};
		step("GET MACHINE", ioctl(vm, KVM_GET_DEVICE_ATTR, &a), 0);
		unsigned type = (mach.cpuid >> 16) & 0xffff, ibc = mach.ibc & 0xfff;
		printf("    cpuid %016llx: machine type %04x; IBC %08x: generation %u GA%u (lowest %03x)\n",
		       (unsigned long long)mach.cpuid, type, mach.ibc, (ibc >> 4) + 10, ibc & 0xf, (mach.ibc >> 16) & 0xfff);
		static const struct {
			unsigned nr;
			const char *name;
		} facs[] = {{17, "message-security assist"}, {76, "MSA extension 3"}, {129, "vector"},
			    {133, "guarded storage"}, {139, "multiple epoch"}, {150, "enhanced sort"},
			    {155, "MSA extension 9"}, {196, "processor activity instrumentation"}};
		for (size_t i = 0; i < sizeof(facs) / sizeof(facs[0]); i++)
			printf("    facility %3u %-36s %s\n", facs[i].nr, facs[i].name,
			       be_bit(mach.fac_list, facs[i].nr) ? "yes" : "no");
		/* The byte image: facilities 0-4, 6 and 7 are byte 0 = 0xfb on every profile. */
		const uint8_t *list = (const uint8_t *)mach.fac_list;
		printf("    facility list bytes 0..2: %02x %02x %02x (facility n is 0x80 >> n%%8 of byte n/8)\n",
		       list[0], list[1], list[2]);
		if (list[0] != 0xfb || !be_bit(mach.fac_mask, 76)) {
			printf("    UNEXPECTED: facility list not in the s390 byte order\n");
			failures++;
		}
		struct kvm_s390_vm_cpu_feat feat;
		a.attr = KVM_S390_VM_CPU_MACHINE_FEAT;
		a.addr = (uintptr_t)&feat;
		step("GET MACHINE_FEAT", ioctl(vm, KVM_GET_DEVICE_ATTR, &a), 0);
		printf("    CPU features: ESOP %s (byte 0: %02x)\n", be_bit(feat.feat, KVM_S390_VM_CPU_FEAT_ESOP) ? "yes" : "no",
		       ((const uint8_t *)feat.feat)[0]);
		if (((const uint8_t *)feat.feat)[0] != 0x80) {
			printf("    UNEXPECTED: ESOP is not the top bit of byte 0\n");
			failures++;
		}
		static struct kvm_s390_vm_cpu_subfunc sub;
		a.attr = KVM_S390_VM_CPU_MACHINE_SUBFUNC;
		a.addr = (uintptr_t)&sub;
		step("GET MACHINE_SUBFUNC", ioctl(vm, KVM_GET_DEVICE_ATTR, &a), 0);
		printf("    KM functions: %02x%02x%02x%02x..., SORTL %s, DFLTCC %s\n", sub.km[0], sub.km[1], sub.km[2],
		       sub.km[3], sub.sortl[0] ? "yes" : "no", sub.dfltcc[0] ? "yes" : "no");

		printf("  apply a model (as QEMU does once, before the first vCPU):\n");
		static struct kvm_s390_vm_cpu_processor proc;
		proc.cpuid = mach.cpuid | 0xff00000000000000ull;
		proc.ibc = (uint16_t)ibc;
		memcpy(proc.fac_list, mach.fac_mask, sizeof(proc.fac_list));
		a.attr = KVM_S390_VM_CPU_PROCESSOR;
		a.addr = (uintptr_t)&proc;
		step("SET PROCESSOR (cpuid, ibc, facility list)", ioctl(vm, KVM_SET_DEVICE_ATTR, &a), 0);
		a.attr = KVM_S390_VM_CPU_PROCESSOR_FEAT;
		a.addr = (uintptr_t)&feat;
		step("SET PROCESSOR_FEAT", ioctl(vm, KVM_SET_DEVICE_ATTR, &a), 0);
		a.attr = KVM_S390_VM_CPU_PROCESSOR_SUBFUNC;
		a.addr = (uintptr_t)&sub;
		step("SET PROCESSOR_SUBFUNC", ioctl(vm, KVM_SET_DEVICE_ATTR, &a), 0);
		struct kvm_device_attr cmma = {.group = KVM_S390_VM_MEM_CTRL, .attr = KVM_S390_VM_MEM_ENABLE_CMMA};
		step("SET MEM_CTRL ENABLE_CMMA", ioctl(vm, KVM_SET_DEVICE_ATTR, &cmma), 0);
	}

	printf("\n8. TOD clock\n");
	{
		struct kvm_s390_vm_tod_clock tod;
		struct kvm_device_attr a = {.group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_EXT, .addr = (uintptr_t)&tod};
		printf("  %-58s -> %d (QEMU then falls back to TOD_LOW/HIGH)\n", "HAS TOD_EXT", ioctl(vm, KVM_HAS_DEVICE_ATTR, &a));
		step("GET TOD_EXT", ioctl(vm, KVM_GET_DEVICE_ATTR, &a), 0);
		printf("    guest TOD %02x:%016llx (the host's clock; bit 51 ticks once per microsecond)\n", tod.epoch_idx,
		       (unsigned long long)tod.tod);
		tod.tod += 3600ull * 1000000 * 4096;
		step("SET TOD_EXT one hour ahead", ioctl(vm, KVM_SET_DEVICE_ATTR, &a), 0);
		uint64_t low;
		a.attr = KVM_S390_VM_TOD_LOW;
		a.addr = (uintptr_t)&low;
		step("GET TOD_LOW", ioctl(vm, KVM_GET_DEVICE_ATTR, &a), 0);
		printf("    guest TOD now %016llx (%+.3f s from the value set)\n", (unsigned long long)low,
		       (double)(int64_t)(low - tod.tod) / 4096e6);
	}

	printf("\n9. A CMMA migration pass (QEMU's s390-stattrib loop)\n");
	{
		uint8_t states[8] = {0x01, 0x03, 0x00, 0x40, 0x01, 0x01, 0x02, 0x03};
		struct kvm_s390_cmma_log set = {.start_gfn = 0x20, .count = 8, .mask = ~0ull, .values = (uintptr_t)states};
		step("SET_CMMA_BITS gfn 0x20..0x27 (guest page states)", ioctl(vm, KVM_S390_SET_CMMA_BITS, &set), 0);
		step("slot 1 back at 16 MiB with dirty logging",
		     set_region(vm, 1, KVM_MEM_LOG_DIRTY_PAGES, 16 * MiB, 2 * MiB, mem + 2 * MiB), 0);
		struct kvm_device_attr mig = {.group = KVM_S390_VM_MIGRATION, .attr = KVM_S390_VM_MIGRATION_START};
		step("MIGRATION_START", ioctl(vm, KVM_SET_DEVICE_ATTR, &mig), 0);
		static uint8_t vals[4096];
		uint64_t cursor = 0, sent = 0;
		int rounds = 0;
		for (;;) {
			struct kvm_s390_cmma_log peek = {.start_gfn = 0, .count = 1, .flags = KVM_S390_CMMA_PEEK,
							 .values = (uintptr_t)vals};
			if (ioctl(vm, KVM_S390_GET_CMMA_BITS, &peek) || peek.remaining == 0)
				break;
			struct kvm_s390_cmma_log log = {.start_gfn = cursor, .count = sizeof(vals), .values = (uintptr_t)vals};
			if (ioctl(vm, KVM_S390_GET_CMMA_BITS, &log)) {
				step("GET_CMMA_BITS", -1, 0);
				break;
			}
			if (log.count == 0)
				break;
			printf("    GET_CMMA_BITS from gfn %#llx: %u values (e.g. gfn %#llx = %#x), %llu pages left\n",
			       (unsigned long long)log.start_gfn, log.count, (unsigned long long)log.start_gfn + 0x20,
			       log.count > 0x20 ? vals[0x20] : 0, (unsigned long long)log.remaining);
			sent += log.count;
			cursor = log.start_gfn + log.count;
			if (++rounds > 16)
				break;
		}
		printf("    %llu page states sent in %d rounds\n", (unsigned long long)sent, rounds);
		mig.attr = KVM_S390_VM_MIGRATION_STOP;
		step("MIGRATION_STOP", ioctl(vm, KVM_SET_DEVICE_ATTR, &mig), 0);
	}

	printf("\n10. A vCPU, page tables, and memory access through guest virtual addresses\n");
	{
		int cpu = step("KVM_CREATE_VCPU(0)", ioctl(vm, KVM_CREATE_VCPU, 0), 0);
		int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
		struct kvm_run *run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
		if (run == MAP_FAILED) {
			perror("mmap vcpu");
			return 1;
		}
		printf("    kvm_run mapped (%d bytes), kvm_valid_regs %#llx\n", size, (unsigned long long)run->kvm_valid_regs);
		/* A segment-table address space: virtual 0x40000000 + n pages -> absolute 0x100000 + n pages,
		 * page 2 DAT-protected, page 8 invalid. Tables live at absolute 0x80000 (big-endian). */
		const uint64_t st = 0x80000, pt = 0x84000, va = 0x40000000, abs = 0x100000;
		for (int i = 0; i < 2048; i++)
			*(uint64_t *)(mem + st + 8 * i) = htobe64(0x20);          /* invalid segment entries */
		for (int i = 0; i < 256; i++)
			*(uint64_t *)(mem + pt + 8 * i) = htobe64(0x400);         /* invalid page entries */
		*(uint64_t *)(mem + st + 8 * (va >> 20)) = htobe64(pt);        /* segment 0x400 -> page table */
		for (int i = 0; i < 8; i++)
			*(uint64_t *)(mem + pt + 8 * i) = htobe64((abs + 4096ull * i) | (i == 2 ? 0x200 : 0));
		struct kvm_sregs sregs;
		ioctl(cpu, KVM_GET_SREGS, &sregs);
		sregs.crs[1] = st | 3; /* primary ASCE: segment table, length 3 */
		step("KVM_SET_SREGS (CR1 = segment-table ASCE)", ioctl(cpu, KVM_SET_SREGS, &sregs), 0);
		/* DAT on, 64-bit, external interruptions enabled, wait: the vCPU idles until kicked. */
		struct kvm_s390_psw psw = {.mask = (1ull << 58) | (3ull << 31) | (1ull << 56) | (1ull << 49), .addr = 0x2000};
		step("KVM_S390_SET_INITIAL_PSW (DAT on, 64-bit, enabled wait)", ioctl(cpu, KVM_S390_SET_INITIAL_PSW, &psw), 0);
		/* The vCPU runs on its own thread, SIG_IPI blocked outside KVM_RUN, unblocked inside. */
		block_sig_ipi();
		step("KVM_SET_SIGNAL_MASK (SIG_IPI unblocked during KVM_RUN)", unblock_sig_ipi_in_run(cpu), 0);
		struct vcpu_thread vt = {.cpu = cpu};
		pthread_t th;
		pthread_create(&th, NULL, vcpu_thread_main, &vt);
		struct timespec pause = {.tv_nsec = 300 * 1000 * 1000};
		nanosleep(&pause, NULL);
		pthread_kill(th, SIG_IPI);
		pthread_join(th, NULL);
		printf("  %-58s -> %d %s, exit_reason %u (KVM_EXIT_INTR)\n", "KVM_RUN on a vCPU thread (loads the PSW)", vt.ret,
		       strerror(vt.err), run->exit_reason);
		printf("    it slept %.2f s using %.1f ms of CPU until the VMM kicked it with SIG_IPI\n", vt.wall,
		       vt.used * 1e3);
		if (vt.ret != -1 || vt.err != EINTR || run->exit_reason != KVM_EXIT_INTR) {
			printf("    UNEXPECTED KVM_RUN result\n");
			failures++;
		}

		char text[] = "written through a virtual address";
		struct kvm_s390_mem_op m = {.gaddr = va + 0x1010, .size = sizeof(text), .op = KVM_S390_MEMOP_LOGICAL_WRITE,
					    .buf = (uintptr_t)text, .flags = KVM_S390_MEMOP_F_INJECT_EXCEPTION};
		step("LOGICAL_WRITE at virtual 0x40001010", ioctl(cpu, KVM_S390_MEM_OP, &m), 0);
		printf("    absolute 0x101010 now holds \"%s\"\n", (char *)mem + abs + 0x1010);

		m.gaddr = va + 0x8000;
		m.op = KVM_S390_MEMOP_LOGICAL_READ;
		char back[64];
		m.buf = (uintptr_t)back;
		printf("  %-58s -> %#x (page-translation exception)\n", "LOGICAL_READ at virtual 0x40008000 (invalid page)",
		       ioctl(cpu, KVM_S390_MEM_OP, &m));
		struct kvm_s390_irq irq;
		struct kvm_s390_irq_state is = {.buf = (uintptr_t)&irq, .len = sizeof(irq)};
		if (ioctl(cpu, KVM_S390_GET_IRQ_STATE, &is) == (int)sizeof(irq))
			printf("    pending program interrupt: code %#x, TEID %#llx (page address, fetch)\n", irq.u.pgm.code,
			       (unsigned long long)irq.u.pgm.trans_exc_code);
		/* The guest's program-new PSW, then KVM_RUN delivers the interrupt into the lowcore. */
		uint64_t new_psw[2] = {htobe64(3ull << 31), htobe64(0x7000)};
		memcpy(mem + 464, new_psw, 16);
		run_kicked(cpu);
		printf("    after KVM_RUN: lowcore code %#x, TEID %#llx; PSW now %016llx %016llx\n",
		       be16toh(*(uint16_t *)(mem + 142)), (unsigned long long)be64toh(*(uint64_t *)(mem + 168)),
		       (unsigned long long)run->psw_mask, (unsigned long long)run->psw_addr);

		run->psw_mask = psw.mask; /* back to the DAT-on PSW for the next access */
		run->psw_addr = 0x2000;
		run_kicked(cpu);
		m.gaddr = va + 0x2000;
		m.op = KVM_S390_MEMOP_LOGICAL_WRITE;
		m.buf = (uintptr_t)text;
		printf("  %-58s -> %#x (protection exception)\n", "LOGICAL_WRITE at virtual 0x40002000 (DAT-protected)",
		       ioctl(cpu, KVM_S390_MEM_OP, &m));
		if (ioctl(cpu, KVM_S390_GET_IRQ_STATE, &is) == (int)sizeof(irq))
			printf("    pending program interrupt: code %#x, TEID %#llx (store, DAT protection)\n",
			       irq.u.pgm.code, (unsigned long long)irq.u.pgm.trans_exc_code);
		munmap(run, (size_t)size);
		close(cpu);
	}

	printf("\n11. A guest program: storage keys, a copy, COMPARE AND SWAP, and a DIAG exit\n");
	{
		shim.set_guest = dlsym(RTLD_DEFAULT, "kvm_s390_shim_set_guest");
		shim.read = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_read");
		shim.write = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_write");
		shim.sske = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_sske");
		shim.cs = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_cs");
		shim.get_reg = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_get_reg");
		shim.set_reg = dlsym(RTLD_DEFAULT, "kvm_s390_shim_guest_set_reg");
		if (!shim.set_guest || !shim.read || !shim.write || !shim.sske || !shim.cs || !shim.get_reg || !shim.set_reg) {
			printf("    the guest-program API is not loaded (run under LD_PRELOAD=libkvm_s390_shim.so)\n");
			failures++;
		} else {
			int cpu = step("KVM_CREATE_VCPU(1)", ioctl(vm, KVM_CREATE_VCPU, 1), 0);
			struct kvm_run *run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
			if (run == MAP_FAILED) {
				perror("mmap vcpu");
				return 1;
			}
			for (int i = 0; i < 8192; i++)
				mem[SRC + i] = (uint8_t)(i * 7);
			int stage = 0;
			step("kvm_s390_shim_set_guest(vcpu 1, demo_guest)", shim.set_guest(cpu, demo_guest, &stage), 0);
			struct kvm_s390_psw psw = {.mask = 3ull << 31, .addr = 0x3000}; /* 64-bit, DAT off */
			step("KVM_S390_SET_INITIAL_PSW (DAT off, 64-bit)", ioctl(cpu, KVM_S390_SET_INITIAL_PSW, &psw), 0);
			step("KVM_RUN", ioctl(cpu, KVM_RUN, 0), 0);
			bool diag = run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.icptcode == 4 &&
				    run->s390_sieic.ipa == 0x8300 && (run->s390_sieic.ipb >> 16) == 0x0501;
			printf("    exit: KVM_EXIT_S390_SIEIC icptcode %u ipa %#x ipb %#010x -> %s\n", run->s390_sieic.icptcode,
			       run->s390_sieic.ipa, run->s390_sieic.ipb, diag ? "DIAG 0x501" : "unexpected");
			printf("    the VMM handles the DIAG: guest copied %llu bytes, its wrong-key store got code %llu\n",
			       (unsigned long long)run->s.regs.gprs[2], (unsigned long long)run->s.regs.gprs[3]);
			uint8_t keys[5];
			struct kvm_s390_skeys sk = {.start_gfn = SRC >> 12, .count = 5, .skeydata_addr = (uintptr_t)keys};
			step("KVM_S390_GET_SKEYS gfn 0x140..0x144", ioctl(vm, KVM_S390_GET_SKEYS, &sk), 0);
			printf("    keys %#04x %#04x [%#04x %#04x] %#04x (destination: access key 1, referenced, changed)\n",
			       keys[0], keys[1], keys[2], keys[3], keys[4]);
			uint8_t back[8192];
			struct kvm_s390_mem_op m = {.gaddr = DST, .size = sizeof(back), .op = KVM_S390_MEMOP_ABSOLUTE_READ,
						    .buf = (uintptr_t)back};
			step("ABSOLUTE_READ of the destination", ioctl(vm, KVM_S390_MEM_OP, &m), 0);
			uint32_t counter;
			memcpy(&counter, mem + COUNTER, 4);
			printf("    copy %s, counter %u\n", memcmp(back, mem + SRC, sizeof(back)) ? "DIFFERS" : "matches",
			       be32toh(counter));
			if (!diag || run->s.regs.gprs[2] != 8192 || run->s.regs.gprs[3] != 4 || memcmp(back, mem + SRC, sizeof(back)) ||
			    be32toh(counter) != 1 || keys[2] != 0x16 || keys[3] != 0x16) {
				printf("    UNEXPECTED guest results\n");
				failures++;
			}
			/* Resume the guest after the DIAG: it stops. */
			step("KVM_RUN (resume after the DIAG)", ioctl(cpu, KVM_RUN, 0), 0);
			struct kvm_mp_state mp;
			ioctl(cpu, KVM_GET_MP_STATE, &mp);
			printf("    exit: icptcode %#x (stop request), MP state %s\n", run->s390_sieic.icptcode,
			       mp.mp_state == KVM_MP_STATE_STOPPED ? "STOPPED" : "not stopped");
			if (run->s390_sieic.icptcode != 0x28 || mp.mp_state != KVM_MP_STATE_STOPPED)
				failures++;
			munmap(run, 4096);
			close(cpu);
		}
	}

	printf("\n11b. s390x guest code on the shim's CPU: keys, a copy, a page fault it handles, DIAG 0x501\n");
	{
		/*
		 * The guest (assembled with s390x-linux-gnu-as; main at 0x20000, handler at 0x20100):
		 *   main:    lgfi %r1,0x60000; lghi %r2,0x30; sske %r2,%r1; aghi %r1,4096; sske %r2,%r1
		 *            spka 0x30                        PSW key 3 (matches the new keys)
		 *            lgfi %r2,0x60000; lgfi %r3,8192; lgfi %r4,0x40000; lgfi %r5,8192
		 *            mvcl %r2,%r4                     copy 8 KiB with key 3
		 *            spka 0; lgfi %r6,0xf0000
		 *            mvi 0(%r6),0x5a                  virtual page 0xf0 is invalid: page fault
		 *            diag %r0,%r0,0x501               exit to the VMM
		 *   handler: lg %r7,0xa8                      the TEID: the faulting page
		 *            nill %r7,0xf000; srlg %r8,%r7,12; nill %r8,0xff; sllg %r8,%r8,3
		 *            lgfi %r9,0xe0000; lgfi %r10,0x8c000
		 *            stg %r9,0(%r8,%r10)              page-table entry -> frame 0xe0000
		 *            asi 0x300,1                      count the fault
		 *            lpswe 0x150                      retry the store (program old PSW)
		 */
		static const uint8_t guest_main[] = {
			0xc0, 0x11, 0x00, 0x06, 0x00, 0x00, 0xa7, 0x29, 0x00, 0x30, 0xb2, 0x2b, 0x00, 0x21, 0xa7, 0x1b,
			0x10, 0x00, 0xb2, 0x2b, 0x00, 0x21, 0xb2, 0x0a, 0x00, 0x30, 0xc0, 0x21, 0x00, 0x06, 0x00, 0x00,
			0xc0, 0x31, 0x00, 0x00, 0x20, 0x00, 0xc0, 0x41, 0x00, 0x04, 0x00, 0x00, 0xc0, 0x51, 0x00, 0x00,
			0x20, 0x00, 0x0e, 0x24, 0xb2, 0x0a, 0x00, 0x00, 0xc0, 0x61, 0x00, 0x0f, 0x00, 0x00, 0x92, 0x5a,
			0x60, 0x00, 0x83, 0x00, 0x05, 0x01};
		static const uint8_t guest_handler[] = {
			0xe3, 0x70, 0x00, 0xa8, 0x00, 0x04, 0xa5, 0x77, 0xf0, 0x00, 0xeb, 0x87, 0x00, 0x0c, 0x00, 0x0c,
			0xa5, 0x87, 0x00, 0xff, 0xeb, 0x88, 0x00, 0x03, 0x00, 0x0d, 0xc0, 0x91, 0x00, 0x0e, 0x00, 0x00,
			0xc0, 0xa1, 0x00, 0x08, 0xc0, 0x00, 0xe3, 0x98, 0xa0, 0x00, 0x00, 0x24, 0xeb, 0x01, 0x03, 0x00,
			0x00, 0x6a, 0xb2, 0xb2, 0x01, 0x50};
		const uint64_t seg = 0x88000, pt = 0x8c000, dat64 = (1ull << 58) | (3ull << 31);
		memcpy(mem + 0x20000, guest_main, sizeof(guest_main));
		memcpy(mem + 0x20100, guest_handler, sizeof(guest_handler));
		for (int i = 0; i < 8192; i++)
			mem[0x40000 + i] = (uint8_t)(i * 7 + 3);
		memset(mem + 0x60000, 0, 8192);
		mem[0xe0000] = 0;
		memset(mem + 0x300, 0, 4);
		/* Virtual 0..1 MiB -> absolute 0..1 MiB, except page 0xf0 (invalid). */
		for (int i = 0; i < 2048; i++)
			*(uint64_t *)(mem + seg + 8 * i) = htobe64(i == 0 ? pt : 0x20);
		for (int i = 0; i < 256; i++)
			*(uint64_t *)(mem + pt + 8 * i) = htobe64(i == 0xf0 ? 0x400 : 4096ull * i);
		uint64_t pgm_new[2] = {htobe64(dat64), htobe64(0x20100)};
		memcpy(mem + 0x1d0, pgm_new, 16);
		int cpu = step("KVM_CREATE_VCPU(3)", ioctl(vm, KVM_CREATE_VCPU, 3), 0);
		struct kvm_run *run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
		if (run == MAP_FAILED) {
			perror("mmap vcpu");
			return 1;
		}
		struct kvm_sregs sregs;
		ioctl(cpu, KVM_GET_SREGS, &sregs);
		sregs.crs[1] = seg | 3;
		step("KVM_SET_SREGS (CR1: segment table at 0x88000)", ioctl(cpu, KVM_SET_SREGS, &sregs), 0);
		run->psw_mask = dat64;
		run->psw_addr = 0x20000;
		step("KVM_RUN (DAT on, 64-bit, at 0x20000)", ioctl(cpu, KVM_RUN, 0), 0);
		int diag = run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.icptcode == 4 &&
			   run->s390_sieic.ipa == 0x8300 && run->s390_sieic.ipb == 0x05010000;
		printf("    -> %s (exit_reason %u, ipa %#x, ipb %#x), PSW %016llx %016llx\n", diag ? "DIAG 0x501" : "other",
		       run->exit_reason, run->s390_sieic.ipa, run->s390_sieic.ipb, (unsigned long long)run->psw_mask,
		       (unsigned long long)run->psw_addr);
		uint8_t keys[2] = {0};
		struct kvm_s390_skeys sk = {.start_gfn = 0x60, .count = 2, .skeydata_addr = (uintptr_t)keys};
		ioctl(vm, KVM_S390_GET_SKEYS, &sk);
		uint32_t faults;
		memcpy(&faults, mem + 0x300, 4);
		int copied = !memcmp(mem + 0x60000, mem + 0x40000, 8192);
		printf("    storage keys of 0x60000/0x61000: %#x %#x (key 3, referenced, changed)\n", keys[0], keys[1]);
		printf("    copy %s; page faults handled by the guest: %u; byte at absolute 0xe0000: %#x\n",
		       copied ? "matches" : "DIFFERS", be32toh(faults), mem[0xe0000]);
		if (!diag || run->psw_addr != 0x20046 || keys[0] != 0x36 || keys[1] != 0x36 || !copied ||
		    be32toh(faults) != 1 || mem[0xe0000] != 0x5a) {
			printf("    UNEXPECTED guest results\n");
			failures++;
		}
		munmap(run, 4096);
		close(cpu);
	}

	printf("\n12. Interrupts into a waiting vCPU\n");
	{
		/* vCPU 2 in an enabled wait: external and I/O interrupts enabled in the PSW, emergency
		 * signals in CR0, ISC 3 in CR6; the new PSWs keep them enabled (a guest's idle loop). */
		int cpu = step("KVM_CREATE_VCPU(2)", ioctl(vm, KVM_CREATE_VCPU, 2), 0);
		struct kvm_run *run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
		if (run == MAP_FAILED) {
			perror("mmap vcpu");
			return 1;
		}
		/* 64-bit, I/O, external, wait */
		const uint64_t wait_psw = (3ull << 31) | (1ull << 57) | (1ull << 56) | (1ull << 49);
		uint64_t ext_new[2] = {htobe64(wait_psw), htobe64(0x6000)}, io_new[2] = {htobe64(wait_psw), htobe64(0x7000)};
		memcpy(mem + 0x1b0, ext_new, 16);
		memcpy(mem + 0x1f0, io_new, 16);
		struct kvm_sregs sregs;
		ioctl(cpu, KVM_GET_SREGS, &sregs);
		sregs.crs[0] = 1ull << (63 - 49);  /* emergency-signal subclass */
		sregs.crs[6] = 0x80ull >> 3 << 24; /* I/O interruption subclass 3 */
		step("KVM_SET_SREGS (CR0 emergency signal, CR6 ISC 3)", ioctl(cpu, KVM_SET_SREGS, &sregs), 0);
		step("KVM_SET_SIGNAL_MASK (SIG_IPI unblocked during KVM_RUN)", unblock_sig_ipi_in_run(cpu), 0);
		run->psw_mask = wait_psw;
		run->psw_addr = 0x1000;
		struct vcpu_thread vt = {.cpu = cpu};
		pthread_t th;
		pthread_create(&th, NULL, vcpu_thread_main, &vt);
		struct timespec pause = {.tv_nsec = 100 * 1000 * 1000};
		nanosleep(&pause, NULL);
		struct kvm_s390_irq emerg;
		memset(&emerg, 0, sizeof(emerg));
		emerg.type = KVM_S390_INT_EMERGENCY;
		emerg.u.emerg.code = 1; /* from CPU 1 */
		step("KVM_S390_IRQ emergency signal from CPU 1 (vCPU waiting)", ioctl(cpu, KVM_S390_IRQ, &emerg), 0);
		nanosleep(&pause, NULL);
		printf("    lowcore: external code %#x from CPU %u, old PSW %016llx %016llx\n", be16toh(*(uint16_t *)(mem + 0x86)),
		       be16toh(*(uint16_t *)(mem + 0x84)), (unsigned long long)be64toh(*(uint64_t *)(mem + 0x130)),
		       (unsigned long long)be64toh(*(uint64_t *)(mem + 0x138)));
		struct kvm_s390_interrupt io = {.type = 1 /* KVM_S390_INT_IO(0, 0, 0, 1) */, .parm = 0x00010005,
						.parm64 = (0xcafe0001ull << 32) | (3u << 27)};
		step("KVM_S390_INTERRUPT I/O, subchannel 0.0.0005, ISC 3 (VM fd)", ioctl(vm, KVM_S390_INTERRUPT, &io), 0);
		nanosleep(&pause, NULL);
		printf("    lowcore: subchannel id %#x nr %#x, parameter %#x, word %#x, old PSW address %#llx\n",
		       be16toh(*(uint16_t *)(mem + 0xb8)), be16toh(*(uint16_t *)(mem + 0xba)), be32toh(*(uint32_t *)(mem + 0xbc)),
		       be32toh(*(uint32_t *)(mem + 0xc0)), (unsigned long long)be64toh(*(uint64_t *)(mem + 0x178)));
		pthread_kill(th, SIG_IPI);
		pthread_join(th, NULL);
		printf("  %-58s -> %d %s, exit_reason %u\n", "KVM_RUN (kicked with SIG_IPI)", vt.ret, strerror(vt.err),
		       run->exit_reason);
		printf("    the vCPU waited %.2f s using %.1f ms of CPU; PSW now %016llx %016llx\n", vt.wall, vt.used * 1e3,
		       (unsigned long long)run->psw_mask, (unsigned long long)run->psw_addr);
		if (vt.ret != -1 || vt.err != EINTR || be16toh(*(uint16_t *)(mem + 0x86)) != 0x1201 ||
		    be16toh(*(uint16_t *)(mem + 0xba)) != 5 || run->psw_addr != 0x7000) {
			printf("    UNEXPECTED interrupt results\n");
			failures++;
		}
		munmap(run, 4096);
		close(cpu);
	}

	printf("\n13. Teardown\n");
	int vm2 = dup(vm);
	close(vm);
	step("VM still usable through a dup after close", ioctl(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 0);
	close(vm2);
	close(kvm);
	printf("\ndemo_vmm: %s\n", failures ? "UNEXPECTED RESULTS" : "all steps behaved as on s390 KVM");
	return failures ? 1 : 0;
}
