/*
 * bulk_bench: the DAT and bulk migration paths of kvm-s390-shim through the LD_PRELOAD path,
 * each row a ratio to a native operation or to another memop measured in the same run. Run by
 * `cargo bench --bench bulk` (benches/bulk.rs). Times are the best of several rounds.
 *
 * Rows:
 *  - LOGICAL_READ 64 KiB through 5-level DAT against ABSOLUTE_READ of the same 64 KiB, and
 *    both against memcpy;
 *  - two vCPUs of one VM doing logical memops at once: each one's throughput as a share of
 *    its throughput alone;
 *  - KVM_GET_DIRTY_LOG of a 16 GiB slot (512 KiB of bitmap) against memcpy of 512 KiB, and
 *    the 1 GiB slot for the growth;
 *  - KVM_S390_GET_CMMA_BITS harvesting 16 GiB in migration mode: ns per page.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kvm_s390_shim.h"

#define KiB 1024ull
#define MiB (1024ull * KiB)
#define GiB (1024ull * MiB)
#define ROUNDS 7

static int sink;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static double measure(void (*op)(void), long iters)
{
	double best = 1e30;
	for (int r = 0; r < ROUNDS; r++) {
		double t0 = now_ns();
		for (long i = 0; i < iters; i++)
			op();
		double per = (now_ns() - t0) / iters;
		if (per < best)
			best = per;
	}
	return best;
}

static void row(const char *name, double a, double b, const char *unit)
{
	printf("%-58s %10.1f %10.1f %8.3fx %s\n", name, a, b, a / b, unit);
}

/* ---- DAT ---------------------------------------------------------------------------- */

static uint8_t *guest;
static uint64_t tbl_next;

static void put_be(uint64_t gpa, uint64_t v)
{
	uint64_t be = __builtin_bswap64(v);
	memcpy(guest + gpa, &be, 8);
}

static uint64_t get_be(uint64_t gpa)
{
	uint64_t be;
	memcpy(&be, guest + gpa, 8);
	return __builtin_bswap64(be);
}

static uint64_t new_table(uint64_t size, uint64_t inval)
{
	uint64_t a = (tbl_next + size - 1) & ~(size - 1);
	tbl_next = a + size;
	for (uint64_t i = 0; i < size; i += 8)
		put_be(a + i, inval);
	return a;
}

/* Maps va -> ra in the address space whose top table (type top_dt) is at `top`. */
static void map_page(uint64_t top, int top_dt, uint64_t va, uint64_t ra)
{
	static const int shift[] = {20, 31, 42, 53};
	uint64_t table = top;
	for (int l = top_dt; l >= 0; l--) {
		uint64_t e = table + ((va >> shift[l]) & 0x7ff) * 8;
		uint64_t v = get_be(e);
		if (v & 0x20) {
			uint64_t next = l == 0 ? new_table(2048, 0x400) : new_table(16384, 0x20);
			v = next | (l == 0 ? 0 : ((uint64_t)l << 2) | 3);
			put_be(e, v);
		}
		table = l == 0 ? (v & ~0x7ffull) : (v & ~0xfffull);
	}
	put_be(table + ((va >> 12) & 0xff) * 8, ra);
}

static int vm_fd, vcpu_fd[2];
static struct kvm_s390_mem_op abs_rd, log_rd;
static uint8_t host_buf[2][64 * KiB];
static uint32_t copy_size;

static void op_memcpy(void)
{
	memcpy(host_buf[0], guest + 0x10000, copy_size);
	__asm__ volatile("" ::"r"(host_buf) : "memory");
}
static void op_abs_read(void) { sink += ioctl(vm_fd, KVM_S390_MEM_OP, &abs_rd); }
static void op_log_read(void) { sink += ioctl(vcpu_fd[0], KVM_S390_MEM_OP, &log_rd); }

/* Two vCPUs: each thread reads through its own vCPU into its own buffer. */
static long par_iters;
static uint32_t par_size;
static uint64_t par_va;
static pthread_barrier_t par_start;

static int par_native; /* the control: memcpy of the same size, no shim */

static double par_cpu[2]; /* each thread's CPU time per op in the last round */
static long par_waits[2]; /* and its voluntary context switches (blocking on a lock) */

static long voluntary_switches(void)
{
	struct rusage ru;
	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_nvcsw;
}

static double thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void *par_reader(void *arg)
{
	int i = (int)(intptr_t)arg;
	struct kvm_s390_mem_op m = {.gaddr = par_va, .size = par_size, .op = KVM_S390_MEMOP_LOGICAL_READ,
				    .buf = (uintptr_t)host_buf[i]};
	pthread_barrier_wait(&par_start);
	double c0 = thread_cpu_ns();
	long w0 = voluntary_switches();
	for (long n = 0; n < par_iters; n++) {
		if (par_native) {
			memcpy(host_buf[i], guest + 0x10000, par_size);
			__asm__ volatile("" ::"r"(host_buf) : "memory");
		} else {
			sink += ioctl(vcpu_fd[i], KVM_S390_MEM_OP, &m);
		}
	}
	par_cpu[i] = (thread_cpu_ns() - c0) / par_iters;
	par_waits[i] = voluntary_switches() - w0;
	return NULL;
}

/* ns per memop of each of `threads` vCPUs running at once in one round, wall clock; `cpu`
 * gets the round's CPU time per op of a thread (the cost of the op itself, which contention
 * between the threads raises and waiting for a core does not). */
static long par_total_waits, par_rounds_together;

static double par_round(int threads, double *cpu)
{
	pthread_t t[2];
	pthread_barrier_init(&par_start, NULL, (unsigned)threads + 1);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, par_reader, (void *)(intptr_t)i);
	double t0 = now_ns();
	pthread_barrier_wait(&par_start);
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	double per = (now_ns() - t0) / par_iters;
	pthread_barrier_destroy(&par_start);
	if (threads == 2) {
		par_total_waits += par_waits[0] + par_waits[1];
		par_rounds_together++;
	}
	*cpu = threads == 2 ? (par_cpu[0] + par_cpu[1]) / 2 : par_cpu[0];
	return per;
}

/* The best round alone and the best round together (and the best CPU time of each),
 * alternating the two for about 3 s and at least ROUNDS rounds each: the machine's slow
 * phases can last a second, and measuring one side after the other could put one of them
 * wholly inside one. */
static void par_pair(double *one, double *two, double *c1, double *c2)
{
	*one = *two = *c1 = *c2 = 1e30;
	par_total_waits = par_rounds_together = 0;
	double end = now_ns() + 3e9;
	for (int r = 0; r < ROUNDS || now_ns() < end; r++) {
		for (int threads = 1; threads <= 2; threads++) {
			double c, per = par_round(threads, &c);
			double *best = threads == 1 ? one : two, *best_c = threads == 1 ? c1 : c2;
			if (per < *best)
				*best = per;
			if (c < *best_c)
				*best_c = c;
		}
	}
}

static int dat_rows(long iters)
{
	vm_fd = ioctl(open("/dev/kvm", O_RDWR | O_CLOEXEC), KVM_CREATE_VM, 0);
	uint8_t *raw = mmap(NULL, 3 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	guest = (uint8_t *)(((uintptr_t)raw + MiB - 1) & ~(uintptr_t)(MiB - 1));
	struct kvm_userspace_memory_region region = {.slot = 0, .guest_phys_addr = 0, .memory_size = 2 * MiB,
						     .userspace_addr = (uintptr_t)guest};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region))
		return 1;
	tbl_next = 0x100000;
	uint64_t rf_top = new_table(16384, 0x20);
	const uint64_t rf_va = 0xfff0000000100000ull;
	for (uint64_t i = 0; i < 16; i++)
		map_page(rf_top, 3, rf_va + i * 4096, 0x10000 + i * 4096);
	for (int c = 0; c < 2; c++) {
		vcpu_fd[c] = ioctl(vm_fd, KVM_CREATE_VCPU, c);
		if (vcpu_fd[c] < 0)
			return 1;
		struct kvm_sregs sr;
		ioctl(vcpu_fd[c], KVM_GET_SREGS, &sr);
		sr.crs[1] = rf_top | (3 << 2) | 3;
		ioctl(vcpu_fd[c], KVM_SET_SREGS, &sr);
		struct kvm_s390_psw psw = {.mask = (1ull << 58) | (3ull << 31), .addr = 0x1000};
		if (ioctl(vcpu_fd[c], KVM_S390_SET_INITIAL_PSW, &psw))
			return 1;
	}
	printf("%-58s %10s %10s %9s\n", "DAT (region-first, 5 levels)", "ns/op", "ns/op", "ratio");
	static const uint32_t sizes[] = {4096, 65536};
	/* BULK_BENCH_SIZE=4096 or 65536 keeps one size (instruction counts under callgrind). */
	const char *only_size = getenv("BULK_BENCH_SIZE");
	for (int z = 0; z < 2; z++) {
		uint32_t size = sizes[z];
		if (only_size && (uint32_t)atoi(only_size) != size)
			continue;
		long n = size > 4096 ? iters / 8 : iters;
		abs_rd = (struct kvm_s390_mem_op){.gaddr = 0x10000, .size = size, .op = KVM_S390_MEMOP_ABSOLUTE_READ,
						  .buf = (uintptr_t)host_buf[0]};
		log_rd = (struct kvm_s390_mem_op){.gaddr = rf_va, .size = size, .op = KVM_S390_MEMOP_LOGICAL_READ,
						  .buf = (uintptr_t)host_buf[0]};
		if (ioctl(vcpu_fd[0], KVM_S390_MEM_OP, &log_rd) != 0) {
			fprintf(stderr, "logical read failed\n");
			return 1;
		}
		copy_size = size;
		double lr = measure(op_log_read, n), ar = measure(op_abs_read, n), mc = measure(op_memcpy, n);
		char name[96];
		snprintf(name, sizeof(name), "LOGICAL_READ %u B vs ABSOLUTE_READ %u B", size, size);
		row(name, lr, ar, size == 65536 ? "(target <= 1.2x)" : "");
		snprintf(name, sizeof(name), "LOGICAL_READ %u B vs memcpy", size);
		row(name, lr, mc, "");
		snprintf(name, sizeof(name), "ABSOLUTE_READ %u B vs memcpy", size);
		row(name, ar, mc, "");
	}
	for (int z = 0; z < 2; z++) {
		par_size = sizes[z];
		if (only_size)
			continue;
		par_va = rf_va;
		par_iters = par_size > 4096 ? iters / 8 : iters;
		double one, two, c1, c2, n1, n2, nc1, nc2;
		par_native = 0;
		par_pair(&one, &two, &c1, &c2);
		long waits = par_total_waits, rounds_together = par_rounds_together;
		par_native = 1;
		par_pair(&n1, &n2, &nc1, &nc2);
		char name[96];
		snprintf(name, sizeof(name), "2 vCPUs LOGICAL_READ %u B: each, alone vs together", par_size);
		printf("%-58s %10.1f %10.1f %8.3fx %s\n", name, one, two, one / two, "of alone, wall (target >= 0.8x)");
		snprintf(name, sizeof(name), "  the same in CPU time per op");
		printf("%-58s %10.1f %10.1f %8.3fx %s\n", name, c1, c2, c1 / c2, "of alone (contention only)");
		printf("  %-56s %10.3f per 1000 ops together\n", "blocking waits (voluntary context switches)",
		       1000.0 * (double)waits / (double)(2 * rounds_together * par_iters));
		snprintf(name, sizeof(name), "  control: 2 threads memcpy %u B, wall", par_size);
		printf("%-58s %10.1f %10.1f %8.3fx %s\n", name, n1, n2, n1 / n2, "(how free two cores are)");
	}
	return 0;
}

/* `size` bytes of address space, 1 MiB aligned (as memory slots must be), never backed unless
 * touched. */
static void *big_map(uint64_t size)
{
	uint8_t *p = mmap(NULL, size + MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return p;
	return (void *)(((uintptr_t)p + MiB - 1) & ~(uintptr_t)(MiB - 1));
}

/* ---- dirty log ------------------------------------------------------------------------ */

static int dl_vm;
static struct kvm_dirty_log dlog;
static uint8_t *bm_dst, *bm_src;
static size_t bm_bytes;

static void op_dirty_log(void) { sink += ioctl(dl_vm, KVM_GET_DIRTY_LOG, &dlog); }
static void op_bm_memcpy(void)
{
	memcpy(bm_dst, bm_src, bm_bytes);
	__asm__ volatile("" ::"r"(bm_dst) : "memory");
}

static int dirty_rows(long iters)
{
	dl_vm = ioctl(open("/dev/kvm", O_RDWR | O_CLOEXEC), KVM_CREATE_VM, 0);
	/* BULK_BENCH_GIB scales the large slot down (valgrind limits the address space). */
	const char *gib = getenv("BULK_BENCH_GIB");
	const uint64_t big = (gib ? (uint64_t)atoi(gib) : 16) * GiB;
	void *mem = big_map(big + 1 * GiB);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("\n%-58s %10s %10s %9s\n", "KVM_GET_DIRTY_LOG (clean bitmap)", "ns/op", "memcpy", "ratio");
	const uint64_t sizes[] = {1 * GiB, big};
	double t[2];
	for (int i = 0; i < 2; i++) {
		struct kvm_userspace_memory_region r = {.slot = (uint32_t)i, .flags = KVM_MEM_LOG_DIRTY_PAGES,
							.guest_phys_addr = i ? 1 * GiB : 0, .memory_size = sizes[i],
							.userspace_addr = (uintptr_t)mem + (i ? 1 * GiB : 0)};
		if (ioctl(dl_vm, KVM_SET_USER_MEMORY_REGION, &r)) {
			perror("KVM_SET_USER_MEMORY_REGION");
			return 1;
		}
		bm_bytes = sizes[i] / 4096 / 8;
		bm_dst = aligned_alloc(4096, bm_bytes);
		bm_src = aligned_alloc(4096, bm_bytes);
		memset(bm_dst, 1, bm_bytes);
		memset(bm_src, 0, bm_bytes);
		dlog = (struct kvm_dirty_log){.slot = (uint32_t)i, .dirty_bitmap = (uintptr_t)bm_dst};
		long n = i ? iters / 64 : iters / 4;
		t[i] = measure(op_dirty_log, n);
		double m = measure(op_bm_memcpy, n);
		char name[96];
		snprintf(name, sizeof(name), "GET_DIRTY_LOG %llu GiB slot vs memcpy %zu KiB",
			 (unsigned long long)(sizes[i] / GiB), bm_bytes / 1024);
		row(name, t[i], m, i ? "(target <= 3x)" : "");
		free(bm_dst);
		free(bm_src);
	}
	char lin[96];
	snprintf(lin, sizeof(lin), "GET_DIRTY_LOG %llu GiB vs 1 GiB (linear: %llux)", (unsigned long long)(big / GiB),
		 (unsigned long long)(big / GiB));
	row(lin, t[1], t[0], "");
	return 0;
}

/* ---- CMMA harvest ------------------------------------------------------------------------ */

static int cmma_rows(void)
{
	int vm = ioctl(open("/dev/kvm", O_RDWR | O_CLOEXEC), KVM_CREATE_VM, 0);
	struct kvm_device_attr en = {.group = KVM_S390_VM_MEM_CTRL, .attr = KVM_S390_VM_MEM_ENABLE_CMMA};
	if (ioctl(vm, KVM_SET_DEVICE_ATTR, &en)) {
		printf("\nCMMA: not offered by this host profile, rows skipped\n");
		return 0;
	}
	const char *gib = getenv("BULK_BENCH_GIB");
	const uint64_t size = (gib ? (uint64_t)atoi(gib) : 16) * GiB, pages = size / 4096;
	void *mem = big_map(size);
	struct kvm_userspace_memory_region r = {.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES, .memory_size = size,
						.userspace_addr = (uintptr_t)mem};
	if (mem == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r))
		return 1;
	/* Values on every page (so the harvest copies real bytes), which also makes the VM use CMMA. */
	static uint8_t vals[1 << 20];
	for (size_t i = 0; i < sizeof(vals); i++)
		vals[i] = (uint8_t)(i * 7);
	for (uint64_t g = 0; g < pages; g += sizeof(vals)) {
		uint64_t n = pages - g < sizeof(vals) ? pages - g : sizeof(vals);
		struct kvm_s390_cmma_log s = {.start_gfn = g, .count = (uint32_t)n, .mask = ~0ull, .values = (uintptr_t)vals};
		if (ioctl(vm, KVM_S390_SET_CMMA_BITS, &s)) {
			perror("KVM_S390_SET_CMMA_BITS");
			return 1;
		}
	}
	uint8_t *out = malloc(1 << 20);
	memset(out, 0, 1 << 20);
	double best = 1e30;
	for (int round = 0; round < ROUNDS; round++) {
		struct kvm_device_attr start = {.group = KVM_S390_VM_MIGRATION, .attr = KVM_S390_VM_MIGRATION_START};
		struct kvm_device_attr stop = {.group = KVM_S390_VM_MIGRATION, .attr = KVM_S390_VM_MIGRATION_STOP};
		if (ioctl(vm, KVM_SET_DEVICE_ATTR, &start))
			return 1;
		uint64_t got = 0, gfn = 0;
		double t0 = now_ns();
		for (;;) {
			struct kvm_s390_cmma_log l = {.start_gfn = gfn, .count = 1 << 20, .values = (uintptr_t)out};
			if (ioctl(vm, KVM_S390_GET_CMMA_BITS, &l))
				return 1;
			got += l.count;
			gfn = l.start_gfn + l.count;
			if (l.remaining == 0 || l.count == 0)
				break;
		}
		double per = (now_ns() - t0) / (double)pages;
		if (got != pages) {
			fprintf(stderr, "harvested %llu of %llu pages\n", (unsigned long long)got, (unsigned long long)pages);
			return 1;
		}
		ioctl(vm, KVM_SET_DEVICE_ATTR, &stop);
		if (per < best)
			best = per;
	}
	char name[96];
	snprintf(name, sizeof(name), "GET_CMMA_BITS harvest, %llu GiB all dirty", (unsigned long long)(size / GiB));
	printf("\n%-58s %10.3f ns/page %s\n", name, best, "(target <= 1 ns)");
	return 0;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 100000;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	int probe = ioctl(kvm, KVM_CREATE_VM, 0);
	if (ioctl(probe, KVM_CHECK_EXTENSION, KVM_CAP_S390_COW) != 1) {
		fprintf(stderr, "not running under kvm-s390-shim\n");
		return 1;
	}
	const char *only = getenv("BULK_BENCH_ONLY");
	if ((!only || strstr(only, "dat")) && dat_rows(iters))
		return 1;
	if ((!only || strstr(only, "dirty")) && dirty_rows(iters))
		return 1;
	if ((!only || strstr(only, "cmma")) && cmma_rows())
		return 1;
	return sink == 42 ? 2 : 0;
}
