/*
 * Shared harness for the C tests: one `static bool test_x(void)` per behaviour, run by
 * RUN(test_x), which prints "ok N name" / "not ok N name"; main() ends with DONE(), which
 * prints "N passed, M failed" and exits non-zero on any failure.
 *
 * Each test file is built twice by tests/ffi.rs:
 *   - preload: plain open()/ioctl()/close(), run with LD_PRELOAD=libkvm_s390_shim.so;
 *   - linked (-DSHIM_LINKED): the kvm_s390_shim_* API, linked against the library, no preload.
 */
#ifndef KVM_S390_SHIM_TEST_H
#define KVM_S390_SHIM_TEST_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <dlfcn.h>

#include "kvm_s390_shim.h"

#ifdef SHIM_LINKED
#define KVM_OPEN(flags) kvm_s390_shim_open(flags)
#define KVM_IOCTL(fd, req, arg) kvm_s390_shim_ioctl((fd), (req), (void *)(uintptr_t)(arg))
#define KVM_CLOSE(fd) kvm_s390_shim_close(fd)
#define MODE "linked"
#else
#define KVM_OPEN(flags) open("/dev/kvm", (flags))
#define KVM_IOCTL(fd, req, arg) ioctl((fd), (req), (arg))
#define KVM_CLOSE(fd) close(fd)
#define MODE "preload"
#endif

/* A kvm_s390_shim_* API function: called directly when linked, looked up in the preloaded
 * library otherwise (its symbols are global). */
#ifdef SHIM_LINKED
#define SHIM_API(fn) (&fn)
#else
#define SHIM_API(fn) ((__typeof__(&fn))dlsym(RTLD_DEFAULT, #fn))
#endif

static int test_count, test_failed;

/*
 * qemu-user allowances. The s390x CI stage (scripts/s390x/run.sh) runs these tests on a
 * big-endian host emulated by qemu-user 7.2 and sets KVM_S390_SHIM_QEMU_USER=1. That qemu-user
 * answers ENOSYS, before any fd lookup, for every ioctl request number it does not know, which
 * includes every KVM request; a real kernel answers ENOTTY (not a KVM fd) or EBADF (no such
 * fd). PASSED_ON_ERRNO(e) is the errno a test expects for a KVM request that the shim passes on
 * to the kernel: ENOSYS under qemu-user, `e` everywhere else. Nothing else is relaxed.
 */
static inline bool under_qemu_user(void)
{
	return getenv("KVM_S390_SHIM_QEMU_USER") != NULL;
}
#define PASSED_ON_ERRNO(e) (under_qemu_user() ? ENOSYS : (e))

#define FAIL(...)                                                                              \
	do {                                                                                   \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                             \
		fprintf(stderr, __VA_ARGS__);                                                  \
		fprintf(stderr, "\n");                                                         \
		goto done;                                                                     \
	} while (0)

/* Expect `expr` (an int-returning call) to return exactly `want`. */
#define CHECK_RET(expr, want)                                                                  \
	do {                                                                                   \
		errno = 0;                                                                     \
		long long got_ = (long long)(expr);                                            \
		if (got_ != (long long)(want))                                                 \
			FAIL("%s returned %lld (errno %d %s), want %lld", #expr, got_, errno,  \
			     strerror(errno), (long long)(want));                              \
	} while (0)

/* Expect `expr` to fail with -1 and errno `err`. */
#define CHECK_ERR(expr, err)                                                                   \
	do {                                                                                   \
		errno = 0;                                                                     \
		long long got_ = (long long)(expr);                                            \
		int e_ = errno;                                                                \
		if (got_ != -1 || e_ != (err))                                                 \
			FAIL("%s returned %lld errno %d (%s), want -1 errno %d (%s)", #expr,   \
			     got_, e_, strerror(e_), err, strerror(err));                      \
	} while (0)

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			FAIL("check failed: %s", #cond);                                      \
	} while (0)

#define RUN(t)                                                                                 \
	do {                                                                                   \
		bool ok_ = t();                                                                \
		test_count++;                                                                  \
		if (!ok_)                                                                      \
			test_failed++;                                                         \
		printf("%sok %d %s [%s]\n", ok_ ? "" : "not ", test_count, #t, MODE);         \
		fflush(stdout);                                                                \
	} while (0)

#define DONE()                                                                                 \
	do {                                                                                   \
		printf("%d passed, %d failed\n", test_count - test_failed, test_failed);       \
		return test_failed ? 1 : 0;                                                    \
	} while (0)

/* An anonymous mapping of `size` bytes whose address is aligned to `align`. */
static inline void *map_aligned(size_t size, size_t align)
{
	uint8_t *p = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	uintptr_t a = ((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1);
	return (void *)a;
}

static inline int open_vm(int *sys_out)
{
	int sys = KVM_OPEN(O_RDWR | O_CLOEXEC);
	if (sys < 0)
		return -1;
	int vm = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
	if (sys_out)
		*sys_out = sys;
	else
		KVM_CLOSE(sys);
	return vm;
}

static inline int set_region(int vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size, void *uaddr)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uint64_t)(uintptr_t)uaddr,
	};
	return KVM_IOCTL(vm, KVM_SET_USER_MEMORY_REGION, &r);
}

#define MiB (1024ull * 1024)

/*
 * MSB-0 bitmaps (facility lists, CPU-feature arrays, subfunction blocks) hold the s390 memory
 * image on every host: bit n is 0x80 >> (n % 8) of byte n / 8, whatever C type the uapi
 * header gives the array (__u64 fac_list[256]). These read and write the bytes.
 */
static inline bool fac_test(const void *list, unsigned nr)
{
	return ((const uint8_t *)list)[nr / 8] & (0x80u >> (nr % 8));
}

static inline void fac_set(void *list, unsigned nr)
{
	((uint8_t *)list)[nr / 8] |= (uint8_t)(0x80u >> (nr % 8));
}

static inline void fac_clear(void *list, unsigned nr)
{
	((uint8_t *)list)[nr / 8] &= (uint8_t)~(0x80u >> (nr % 8));
}

#endif
