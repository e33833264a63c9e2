/*
 * Runs work() (work.c, as raw s390x code) as guest code through the shim's KVM_RUN: a VM
 * with 4 MiB of memory, one vCPU in 64-bit supervisor state with DAT off, the same inputs
 * as driver.c, and a DIAG 0x501 at the return address. Prints "<nanoseconds> <result>" for
 * the KVM_RUN calls alone. Run with the shim preloaded (benches/cpu.rs does).
 *
 * Usage: kvm_run <work.bin> <entry address>
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "kvm_s390_shim.h"

#define MEM (4UL << 20)
#define TEXT 0x10000UL
#define RET 0x8000UL
#define BUF 0x100000UL
#ifndef LEN /* smaller for instruction counting: -DLEN=... -DN=... */
#define LEN (1UL << 20)
#endif
#define ARR 0x200000UL
#ifndef N
#define N (16L * 1024)
#endif
#define STACK 0x3f0000UL

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int kvm = open("/dev/kvm", O_RDWR);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	uint8_t *raw = mmap(NULL, MEM + (1UL << 20), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap");
	uint8_t *mem = (uint8_t *)(((uintptr_t)raw + (1UL << 20) - 1) & ~((1UL << 20) - 1));
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM,
		.userspace_addr = (uint64_t)(uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region))
		die("KVM_SET_USER_MEMORY_REGION");
	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (cpu < 0)
		die("KVM_CREATE_VCPU");
	int sz = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)sz, PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");

	FILE *f = fopen(argv[1], "rb");
	if (!f)
		die(argv[1]);
	size_t n = fread(mem + TEXT, 1, 0x10000, f);
	fclose(f);
	if (n == 0)
		return 2;
	static const uint8_t diag[] = {0x83, 0x00, 0x05, 0x01};
	memcpy(mem + RET, diag, sizeof(diag));
	uint64_t x = 0x2545f4914f6cdd1dULL;
	for (unsigned long i = 0; i < LEN; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		mem[BUF + i] = (uint8_t)(x >> 56);
	}
	for (long i = 0; i < N; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t w = (uint32_t)(x >> 32);
		for (int b = 0; b < 4; b++)
			mem[ARR + 4 * i + b] = (uint8_t)(w >> (24 - 8 * b));
	}
	struct kvm_regs regs;
	if (ioctl(cpu, KVM_GET_REGS, &regs))
		die("KVM_GET_REGS");
	regs.gprs[2] = BUF;
	regs.gprs[3] = LEN;
	regs.gprs[4] = ARR;
	regs.gprs[5] = N;
	regs.gprs[14] = RET;
	regs.gprs[15] = STACK - 160;
	if (ioctl(cpu, KVM_SET_REGS, &regs))
		die("KVM_SET_REGS");
	run->psw_mask = 0x0000000180000000ULL; /* EA, BA: 64-bit, supervisor, DAT off */
	run->psw_addr = strtoull(argv[2], NULL, 0);

	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = ioctl(cpu, KVM_RUN, 0);
		if (r == 0 && run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.ipa == 0x8300)
			break;
		if (r == -1 && errno == EINTR)
			continue;
		fprintf(stderr, "kvm_run: KVM_RUN %d errno %d exit %u psw %llx\n", r, errno,
			run->exit_reason, (unsigned long long)run->psw_addr);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (ioctl(cpu, KVM_GET_REGS, &regs))
		die("KVM_GET_REGS");
	printf("%lld %llu\n",
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	       (unsigned long long)regs.gprs[2]);
	return 0;
}
