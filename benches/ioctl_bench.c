/*
 * ioctl_bench: cost of KVM ioctls served by kvm-s390-shim through the LD_PRELOAD path,
 * against a real system call measured in the same run. Run by `cargo bench` (benches/ioctl.rs).
 * Prints one line per case: name, ns/op (best of several rounds), ratio to the real ioctl.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kvm_s390_shim.h"

#define MiB (1024ull * 1024)
#define ROUNDS 7

static int pipe_fd, vm_fd;
static struct kvm_userspace_memory_region region;
static struct kvm_dirty_log dirty_log;
static uint64_t bitmap[8];
static int sink;

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static void op_getpid(void) { sink += (int)syscall(SYS_getpid); }
static void op_raw_ioctl(void) { int n; sink += (int)syscall(SYS_ioctl, pipe_fd, FIONREAD, &n); }
static void op_pipe_ioctl(void) { int n; sink += ioctl(pipe_fd, FIONREAD, &n); }
static void op_check_extension(void) { sink += ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY); }
static void op_set_region_noop(void) { sink += ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region); }
static void op_get_dirty_log(void) { sink += ioctl(vm_fd, KVM_GET_DIRTY_LOG, &dirty_log); }

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

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 200000;
	int p[2];
	if (pipe(p))
		return 1;
	pipe_fd = p[0];
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	vm_fd = ioctl(kvm, KVM_CREATE_VM, 0);
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_S390_COW) != 1) {
		fprintf(stderr, "not running under kvm-s390-shim\n");
		return 1;
	}
	uint8_t *raw = mmap(NULL, 3 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *mem = (uint8_t *)(((uintptr_t)raw + MiB - 1) & ~(uintptr_t)(MiB - 1));
	region = (struct kvm_userspace_memory_region){.slot = 0, .flags = KVM_MEM_LOG_DIRTY_PAGES,
		.guest_phys_addr = 0, .memory_size = 2 * MiB, .userspace_addr = (uintptr_t)mem};
	if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region))
		return 1;
	dirty_log = (struct kvm_dirty_log){.slot = 0, .dirty_bitmap = (uintptr_t)bitmap};

	const char *mode = getenv("KVM_S390_SHIM_UACCESS");
	printf("caller-memory access: %s\n", mode ? mode : "fault (default)");
	double base = measure(op_pipe_ioctl, iters);
	struct {
		const char *name;
		void (*op)(void);
	} cases[] = {
		{"syscall(SYS_getpid)", op_getpid},
		{"raw syscall ioctl(pipe, FIONREAD)", op_raw_ioctl},
		{"ioctl(pipe, FIONREAD) via interposer [baseline]", op_pipe_ioctl},
		{"KVM_CHECK_EXTENSION (VM fd)", op_check_extension},
		{"KVM_SET_USER_MEMORY_REGION no-op (32 B in)", op_set_region_noop},
		{"KVM_GET_DIRTY_LOG 2 MiB slot (16 B in, 64 B out)", op_get_dirty_log},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double ns = measure(cases[i].op, iters);
		printf("%-50s %8.1f ns/op  %5.2fx baseline\n", cases[i].name, ns, ns / base);
	}
	return sink == 42 ? 2 : 0;
}
