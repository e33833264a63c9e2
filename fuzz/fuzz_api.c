/*
 * libFuzzer target for the shim's C API (see fuzz/README.md and fuzz/run.sh).
 *
 * Each input is a program of operations read byte by byte: open /dev/kvm, create VMs and
 * vCPUs, set memory slots over host memory that includes PROT_NONE pages, read-only pages and
 * the pages of a memfd truncated under its mapping (SIGBUS), every KVM request the header
 * declares (plus unknown ones) on system, VM and vCPU fds with fuzzed argument structs whose
 * pointers are valid, NULL, wild, PROT_NONE, read-only, unaligned, beyond EOF or straddle a
 * PROT_NONE boundary, dup/dup2/dup3/F_DUPFD/close/close_range of KVM fds, and guest functions
 * whose bodies are fuzzed sequences of guest operations (read, write, CS, SSKE, ISKE, RRBE,
 * ESSA, translate, get/set register, and ioctls on other fds from inside the guest).
 *
 * Bounded and deterministic per input: at most MAX_OPS operations, guest programs of at most
 * PROG_LEN bytes, nesting of guest functions at most MAX_DEPTH, KVM_RUN only on a vCPU that
 * has a guest function (which always returns) or with kvm_run.immediate_exit set. Every fd an
 * input opens is closed when it ends, host memory is reset before the next one, and the TOD
 * clock is frozen. Oracles besides the sanitizers: a shim panic shows as errno EIO (which
 * nothing else produces in a process that does not fork) and aborts; so does an fd left open
 * after an input has closed all of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kvm_s390_shim.h"

#define MiB (1024ul * 1024)
#define PAGE 4096ul

#define MAX_OPS 200
#define MAX_FDS 24
#define MAX_OBJS 64
#define PROG_LEN 96
#define MAX_DEPTH 2
#define MAX_BUF (128 * 1024)

/* ---- input reader ---------------------------------------------------------------------- */

struct reader {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct reader *r)
{
	if (!r->n)
		return 0;
	r->n--;
	return *r->p++;
}

static uint16_t u16(struct reader *r)
{
	return (uint16_t)(u8(r) | (uint16_t)u8(r) << 8);
}

static uint32_t u32(struct reader *r)
{
	return u16(r) | (uint32_t)u16(r) << 16;
}

static uint64_t u64(struct reader *r)
{
	return u32(r) | (uint64_t)u32(r) << 32;
}

static void bytes(struct reader *r, void *dst, size_t len)
{
	size_t k = len < r->n ? len : r->n;
	memcpy(dst, r->p, k);
	memset((uint8_t *)dst + k, 0, len - k);
	r->p += k;
	r->n -= k;
}

/* ---- host memory (mapped once) --------------------------------------------------------- */

/*
 * Argument memory: MAX_BUF read-write bytes, then a PROT_NONE page, then a read-only page.
 * Guest backing: 4 MiB at a 1 MiB boundary:
 *   MiB 0: read-write;
 *   MiB 1: read-write except page 5 (PROT_NONE), page 6 (read-only) and page 255 (PROT_NONE);
 *   MiB 2: a shared memfd mapping whose file is 512 KiB long (pages 128-255 raise SIGBUS);
 *   MiB 3: read-only.
 */
static uint8_t *argmem, *arg_none, *arg_ro;
static uint8_t *backing;
static bool page_writable[512]; /* the pages of MiB 0 and 1 */
static int memfd = -1;

static void die(const char *what)
{
	fprintf(stderr, "fuzz_api: %s: %s\n", what, strerror(errno));
	abort();
}

static void reset_backing(void)
{
	if (mprotect(backing, 2 * MiB, PROT_READ | PROT_WRITE))
		die("mprotect");
	memset(backing, 0, 2 * MiB);
	if (mprotect(backing + MiB + 5 * PAGE, PAGE, PROT_NONE) ||
	    mprotect(backing + MiB + 6 * PAGE, PAGE, PROT_READ) ||
	    mprotect(backing + MiB + 255 * PAGE, PAGE, PROT_NONE))
		die("mprotect");
	for (int i = 0; i < 512; i++)
		page_writable[i] = i != 256 + 5 && i != 256 + 6 && i != 256 + 255;
	/* Truncating to 0 drops the file's pages, so the first half reads as zeros again. */
	if (ftruncate(memfd, 0) || ftruncate(memfd, MiB / 2))
		die("ftruncate");
}

static void setup_memory(void)
{
	argmem = mmap(NULL, MAX_BUF + 2 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (argmem == MAP_FAILED)
		die("mmap");
	arg_none = argmem + MAX_BUF;
	arg_ro = arg_none + PAGE;
	if (mprotect(arg_none, PAGE, PROT_NONE) || mprotect(arg_ro, PAGE, PROT_READ))
		die("mprotect");

	uint8_t *raw = mmap(NULL, 5 * MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (raw == MAP_FAILED)
		die("mmap");
	backing = (uint8_t *)(((uintptr_t)raw + MiB - 1) & ~(uintptr_t)(MiB - 1));
	if (mmap(backing, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED)
		die("mmap");
	memfd = (int)syscall(SYS_memfd_create, "fuzz-backing", 0);
	if (memfd < 0)
		die("memfd_create");
	/* Keep it out of the numbers the inputs use. */
	int high = fcntl(memfd, F_DUPFD_CLOEXEC, 900);
	if (high < 0)
		die("F_DUPFD");
	close(memfd);
	memfd = high;
	if (ftruncate(memfd, MiB / 2))
		die("ftruncate");
	if (mmap(backing + 2 * MiB, MiB, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, memfd, 0) == MAP_FAILED)
		die("mmap memfd");
	if (mmap(backing + 3 * MiB, MiB, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die("mmap");
	reset_backing();
}

/*
 * A user pointer for an object of `size` bytes (at most MAX_BUF), of a fuzzed kind; with
 * `fill`, the writable part of it is filled from the input.
 */
static uint64_t pick_ptr_fill(struct reader *r, size_t size, bool fill)
{
	if (size > MAX_BUF)
		size = MAX_BUF;
	uint8_t kind = u8(r);
	uint64_t p;
	switch (kind % 16) {
	case 0:
		return 0;
	case 1: { /* wild */
		static const uint64_t wild[] = {
			1,
			0xfff,
			0xdead0000ull,
			0x00007fffffffe000ull,
			0x0000800000000000ull,
			0xffff800000000000ull,
			~0ull,
			~0ull - 7,
		};
		uint8_t w = u8(r);
		return w < 8 ? wild[w] : u64(r);
	}
	case 2:
		return (uint64_t)(uintptr_t)(arg_none + (u8(r) & ~7u));
	case 3:
		return (uint64_t)(uintptr_t)(arg_ro + (size <= PAGE ? (u16(r) % (PAGE - size + 1)) & ~7u : 0));
	case 4: { /* straddles the PROT_NONE page */
		size_t k = size > 1 ? 1 + u16(r) % (size - 1) : 0;
		p = (uint64_t)(uintptr_t)(arg_none - k);
		if (fill)
			bytes(r, arg_none - k, k);
		return p;
	}
	case 5: /* beyond the memfd's end: SIGBUS */
		return (uint64_t)(uintptr_t)(backing + 2 * MiB + MiB / 2 + (u16(r) & ~7u));
	case 6: { /* inside guest backing memory */
		uint64_t off = (u32(r) % (2 * MiB)) & ~7u;
		if (off + size > 2 * MiB)
			off = 2 * MiB - size;
		return (uint64_t)(uintptr_t)(backing + off);
	}
	case 7: { /* unaligned */
		uint64_t off = 1 + u8(r) % 7;
		p = (uint64_t)(uintptr_t)(argmem + off);
		if (fill)
			bytes(r, argmem + off, size < MAX_BUF - off ? size : MAX_BUF - off);
		return p;
	}
	default: { /* valid, 8-byte aligned */
		size_t off = size < MAX_BUF ? (u16(r) % (MAX_BUF - size + 1)) & ~7ul : 0;
		if (fill)
			bytes(r, argmem + off, size);
		return (uint64_t)(uintptr_t)(argmem + off);
	}
	}
}

/* A pointer to a buffer the request reads or writes, filled from the input. */
static uint64_t pick_ptr(struct reader *r, size_t size)
{
	return pick_ptr_fill(r, size, true);
}

/* A pointer for an argument struct that `place` then writes. */
static uint64_t pick_arg_ptr(struct reader *r, size_t size)
{
	return pick_ptr_fill(r, size, false);
}

/* Copies `len` bytes of `src` to the accessible part of the user pointer `p`. */
static void place(uint64_t p, const void *src, size_t len)
{
	uint8_t *d = (uint8_t *)(uintptr_t)p;
	size_t lim = 0;
	if (d >= argmem && d < arg_none)
		lim = (size_t)(arg_none - d);
	else if (d >= backing && d < backing + 2 * MiB)
		lim = 0; /* guest memory: left as the guest wrote it */
	if (lim)
		memcpy(d, src, len < lim ? len : lim);
}

/* ---- fds and objects ------------------------------------------------------------------- */

/* K_DEV: a device fd (KVM_CREATE_DEVICE); K_OTHER: an fd the kernel made (stats), left alone. */
enum kind { K_NONE, K_SYS, K_VM, K_VCPU, K_DEV, K_OTHER };

struct prog {
	size_t len;
	uint8_t code[PROG_LEN];
};

struct obj {
	enum kind kind;
	struct kvm_run *run; /* vCPU: our mapping of its kvm_run page, or NULL */
	bool guest;          /* vCPU: a guest function is registered */
	struct prog prog;
};

struct fdent {
	int fd; /* -1: free */
	int obj;
};

static struct fdent fds[MAX_FDS];
static struct obj objs[MAX_OBJS];
static int nobjs;
static int depth;
static struct kvm_s390_shim_guest *stale_handle;

/* FUZZ_API_TRACE=1 prints every call and its result (for reading a reproducer). */
static bool trace;
#define TRACE(...)                                                                             \
	do {                                                                                   \
		if (trace) {                                                                   \
			int e_ = errno;                                                        \
			fprintf(stderr, "%*s", 2 * depth, "");                                 \
			fprintf(stderr, __VA_ARGS__);                                          \
			fprintf(stderr, " (errno %d)\n", e_);                                  \
			errno = e_;                                                            \
		}                                                                              \
	} while (0)

/*
 * FUZZ_API_MAX_SLOT_MB=N keeps memory slots below N MiB (reduced modulo N MiB): for runs that
 * must not spend their time on slots of terabytes with dirty logging, whose bitmap is allocated
 * whole (as the kernel's is). Unset: any size.
 */
static uint64_t max_slot;

static uint64_t clamp_slot_size(uint64_t size)
{
	return max_slot && size > max_slot ? size % max_slot : size;
}

static void check_no_panic(const char *what)
{
	/* Only a panic caught at the C boundary (or a VM used after fork) answers EIO. */
	if (errno == EIO) {
		fprintf(stderr, "fuzz_api: %s failed with EIO: a panic inside the shim\n", what);
		abort();
	}
}

static int new_obj(enum kind k)
{
	if (nobjs == MAX_OBJS)
		return -1;
	memset(&objs[nobjs], 0, sizeof(objs[nobjs]));
	objs[nobjs].kind = k;
	return nobjs++;
}

static int free_slot(void)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].fd < 0)
			return i;
	return -1;
}

static int slot_of(int fd)
{
	for (int i = 0; i < MAX_FDS; i++)
		if (fds[i].fd == fd)
			return i;
	return -1;
}

/* Records a new fd (closing it again if the table is full). */
static void track(int fd, int obj)
{
	if (fd < 0)
		return;
	int s = slot_of(fd);
	if (s < 0)
		s = free_slot();
	if (s < 0 || obj < 0) {
		kvm_s390_shim_close(fd);
		return;
	}
	fds[s].fd = fd;
	fds[s].obj = obj;
	if (objs[obj].kind == K_VCPU && !objs[obj].run) {
		void *m = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		objs[obj].run = m == MAP_FAILED ? NULL : m;
	}
}

/* A tracked fd (or, rarely, a number that is certainly not open), and its slot or -1. */
static int pick_fd(struct reader *r, int *slot)
{
	uint8_t b = u8(r);
	*slot = -1;
	if (b >= 0xf0)
		return 1000 + (b & 0xf);
	int n = 0;
	for (int i = 0; i < MAX_FDS; i++)
		n += fds[i].fd >= 0;
	if (!n)
		return 1000;
	int want = b % n;
	for (int i = 0; i < MAX_FDS; i++) {
		if (fds[i].fd >= 0 && want-- == 0) {
			*slot = i;
			return fds[i].fd;
		}
	}
	return 1000;
}

/* A tracked fd of kind `k` if there is one (else any). */
static int pick_fd_kind(struct reader *r, enum kind k, int *slot)
{
	uint8_t b = u8(r);
	for (int i = 0; i < MAX_FDS; i++) {
		int s = (b + i) % MAX_FDS;
		if (fds[s].fd >= 0 && objs[fds[s].obj].kind == k) {
			*slot = s;
			return fds[s].fd;
		}
	}
	return pick_fd(r, slot);
}

static void untrack(int fd)
{
	int s = slot_of(fd);
	if (s >= 0)
		fds[s].fd = -1;
}

/* ---- requests ------------------------------------------------------------------------- */

enum argkind { A_VAL, A_PTR };

struct req {
	unsigned long nr;
	enum argkind arg;
	size_t size; /* of the pointed-to struct */
};

#define VAL(n) {n, A_VAL, 0}
#define PTR(n, t) {n, A_PTR, sizeof(t)}

static const struct req reqs[] = {
	VAL(KVM_GET_API_VERSION),
	VAL(KVM_CREATE_VM),
	VAL(KVM_CHECK_EXTENSION),
	VAL(KVM_GET_VCPU_MMAP_SIZE),
	VAL(KVM_S390_ENABLE_SIE),
	VAL(KVM_CREATE_VCPU),
	PTR(KVM_GET_DIRTY_LOG, struct kvm_dirty_log),
	PTR(KVM_SET_USER_MEMORY_REGION, struct kvm_userspace_memory_region),
	PTR(KVM_SET_USER_MEMORY_REGION2, struct kvm_userspace_memory_region2),
	VAL(KVM_CREATE_IRQCHIP),
	PTR(KVM_SET_GSI_ROUTING, struct kvm_irq_routing),
	PTR(KVM_IRQFD, struct kvm_irqfd),
	PTR(KVM_IOEVENTFD, struct kvm_ioeventfd),
	PTR(KVM_S390_PV_COMMAND, struct kvm_pv_cmd),
	VAL(KVM_GET_STATS_FD),
	PTR(KVM_CREATE_DEVICE, struct kvm_create_device),
	PTR(KVM_SET_DEVICE_ATTR, struct kvm_device_attr),
	PTR(KVM_GET_DEVICE_ATTR, struct kvm_device_attr),
	PTR(KVM_HAS_DEVICE_ATTR, struct kvm_device_attr),
	PTR(KVM_ENABLE_CAP, struct kvm_enable_cap),
	PTR(KVM_S390_MEM_OP, struct kvm_s390_mem_op),
	PTR(KVM_S390_GET_SKEYS, struct kvm_s390_skeys),
	PTR(KVM_S390_SET_SKEYS, struct kvm_s390_skeys),
	PTR(KVM_S390_GET_CMMA_BITS, struct kvm_s390_cmma_log),
	PTR(KVM_S390_SET_CMMA_BITS, struct kvm_s390_cmma_log),
	PTR(KVM_S390_INTERRUPT, struct kvm_s390_interrupt),
	PTR(KVM_GET_REGS, struct kvm_regs),
	PTR(KVM_SET_REGS, struct kvm_regs),
	PTR(KVM_GET_SREGS, struct kvm_sregs),
	PTR(KVM_SET_SREGS, struct kvm_sregs),
	PTR(KVM_GET_FPU, struct kvm_fpu),
	PTR(KVM_SET_FPU, struct kvm_fpu),
	VAL(KVM_S390_STORE_STATUS),
	PTR(KVM_S390_SET_INITIAL_PSW, struct kvm_s390_psw),
	VAL(KVM_S390_INITIAL_RESET),
	PTR(KVM_GET_MP_STATE, struct kvm_mp_state),
	PTR(KVM_SET_MP_STATE, struct kvm_mp_state),
	PTR(KVM_SET_GUEST_DEBUG, struct kvm_guest_debug),
	PTR(KVM_GET_ONE_REG, struct kvm_one_reg),
	PTR(KVM_SET_ONE_REG, struct kvm_one_reg),
	PTR(KVM_S390_IRQ, struct kvm_s390_irq),
	PTR(KVM_S390_SET_IRQ_STATE, struct kvm_s390_irq_state),
	PTR(KVM_S390_GET_IRQ_STATE, struct kvm_s390_irq_state),
	VAL(KVM_S390_NORMAL_RESET),
	VAL(KVM_S390_CLEAR_RESET),
	PTR(KVM_S390_UCAS_MAP, struct kvm_s390_ucas_mapping),
	PTR(KVM_S390_UCAS_UNMAP, struct kvm_s390_ucas_mapping),
	VAL(KVM_S390_VCPU_FAULT),
	/* The requests the VFS answers for every file. */
	VAL(FIOCLEX),
	VAL(FIONCLEX),
	PTR(FIONBIO, int),
	PTR(FIOASYNC, int),
};

#define NREQS (sizeof(reqs) / sizeof(reqs[0]))

static bool creates_fd(unsigned long nr)
{
	return nr == KVM_CREATE_VM || nr == KVM_CREATE_VCPU || nr == KVM_GET_STATS_FD;
}

/* A value argument: small numbers, the STORE_STATUS specials, a pointer, or anything. */
static uint64_t pick_val(struct reader *r)
{
	uint8_t b = u8(r);
	switch (b % 8) {
	case 0:
		return 0;
	case 1:
	case 2:
	case 3:
		return u8(r);
	case 4:
		return (uint64_t)-1 - (u8(r) & 1); /* STORE_STATUS NOADDR / PREFIXED */
	case 5:
		return pick_arg_ptr(r, 512);
	case 6:
		return u32(r);
	default:
		return u64(r);
	}
}

/* A guest absolute/logical address biased towards the slots, page edges and low core. */
static uint64_t pick_gaddr(struct reader *r)
{
	uint8_t b = u8(r);
	switch (b % 6) {
	case 0:
		return u16(r);
	case 1:
		return (u8(r) % 8) * MiB + u32(r) % MiB;
	case 2:
		return (u8(r) % 8) * MiB + (uint64_t)(u8(r)) * PAGE - (u8(r) % 16); /* near an edge */
	case 3:
		return u64(r);
	default:
		return u32(r) % (8 * MiB);
	}
}

static size_t pick_len(struct reader *r)
{
	uint8_t b = u8(r);
	switch (b % 5) {
	case 0:
		return u8(r);
	case 1:
		return PAGE + (u8(r) % 16);
	case 2:
		return u16(r) % (65536 + 16);
	case 3:
		return 1u << (u8(r) % 5);
	default:
		return u8(r) % 32;
	}
}

/* Sets the embedded pointers (and some lengths) of request arguments to fuzzed user pointers. */
static void patch(struct reader *r, unsigned long nr, uint8_t *a)
{
	bool sane = u8(r) & 1;
	switch (nr) {
	case KVM_GET_DIRTY_LOG: {
		struct kvm_dirty_log *d = (void *)a;
		if (sane)
			d->slot %= 4;
		d->dirty_bitmap = pick_ptr(r, 64);
		break;
	}
	case KVM_SET_USER_MEMORY_REGION:
	case KVM_SET_USER_MEMORY_REGION2: {
		struct kvm_userspace_memory_region *m = (void *)a;
		if (sane) {
			m->slot %= 4;
			m->flags &= KVM_MEM_LOG_DIRTY_PAGES;
			m->guest_phys_addr = (m->guest_phys_addr % 8) * MiB;
			m->memory_size = (m->memory_size % 5) * MiB;
			m->userspace_addr = (uint64_t)(uintptr_t)(backing + (m->userspace_addr % 4) * MiB);
		}
		m->memory_size = clamp_slot_size(m->memory_size);
		break;
	}
	case KVM_SET_DEVICE_ATTR:
	case KVM_GET_DEVICE_ATTR:
	case KVM_HAS_DEVICE_ATTR: {
		struct kvm_device_attr *d = (void *)a;
		if (sane) {
			/* VM groups 0-5, FLIC groups 1-11; FLIC's GET_ALL_IRQS takes a length in attr. */
			d->flags = 0;
			d->group %= 12;
			d->attr = u8(r) & 1 ? d->attr % 12 : pick_len(r);
		}
		d->addr = pick_ptr(r, 2048);
		break;
	}
	case KVM_S390_MEM_OP: {
		struct kvm_s390_mem_op *m = (void *)a;
		if (sane) {
			m->op %= 8;
			m->flags &= 7;
			m->size = (uint32_t)pick_len(r);
			m->gaddr = pick_gaddr(r);
			m->ar %= 17;
			if (u8(r) & 1)
				memset(m->reserved + 16, 0, 16);
		}
		m->buf = pick_ptr(r, m->size);
		if (m->op == KVM_S390_MEMOP_ABSOLUTE_CMPXCHG)
			m->old_addr = pick_ptr(r, 16);
		break;
	}
	case KVM_S390_GET_SKEYS:
	case KVM_S390_SET_SKEYS: {
		struct kvm_s390_skeys *s = (void *)a;
		if (sane) {
			s->start_gfn %= 2048;
			s->count = pick_len(r);
			s->flags = 0;
			memset(s->reserved, 0, sizeof(s->reserved));
		}
		s->skeydata_addr = pick_ptr(r, s->count);
		break;
	}
	case KVM_S390_GET_CMMA_BITS:
	case KVM_S390_SET_CMMA_BITS: {
		struct kvm_s390_cmma_log *c = (void *)a;
		if (sane) {
			c->start_gfn %= 2048;
			c->count = (uint32_t)pick_len(r);
			c->flags &= 1;
		}
		c->values = pick_ptr(r, c->count);
		break;
	}
	case KVM_GET_ONE_REG:
	case KVM_SET_ONE_REG: {
		struct kvm_one_reg *o = (void *)a;
		if (sane) {
			static const uint64_t ids[] = {
				KVM_REG_S390_TODPR,     KVM_REG_S390_EPOCHDIFF, KVM_REG_S390_CPU_TIMER,
				KVM_REG_S390_CLOCK_COMP, KVM_REG_S390_PFTOKEN,  KVM_REG_S390_PFCOMPARE,
				KVM_REG_S390_PFSELECT,   KVM_REG_S390_PP,       KVM_REG_S390_GBEA,
			};
			o->id = ids[o->id % (sizeof(ids) / sizeof(ids[0]))];
		}
		o->addr = pick_ptr(r, 8);
		break;
	}
	case KVM_S390_SET_IRQ_STATE:
	case KVM_S390_GET_IRQ_STATE: {
		struct kvm_s390_irq_state *s = (void *)a;
		if (sane) {
			s->len = (uint32_t)pick_len(r);
			s->flags = 0;
		}
		s->buf = pick_ptr(r, s->len);
		break;
	}
	case KVM_S390_PV_COMMAND: {
		struct kvm_pv_cmd *p = (void *)a;
		p->data = pick_ptr(r, 64);
		break;
	}
	case KVM_ENABLE_CAP: {
		struct kvm_enable_cap *c = (void *)a;
		if (sane) {
			c->cap %= 256;
			c->flags = 0;
			c->args[0] %= 4;
		}
		break;
	}
	case KVM_CREATE_DEVICE: {
		struct kvm_create_device *c = (void *)a;
		if (sane) {
			c->type = c->type & 0x10 ? c->type % 8 : KVM_DEV_TYPE_FLIC;
			c->flags &= 1;
		}
		break;
	}
	case KVM_S390_INTERRUPT:
	case KVM_S390_IRQ:
		if (sane) {
			/* SIGP stop, program, set prefix, restart, pfault init/done, machine check,
			 * clock comparator, CPU timer, virtio, service, emergency, external call, I/O. */
			static const uint32_t types[] = {
				0xfffe0000, 0xfffe0001, 0xfffe0002, 0xfffe0003, 0xfffe0004, 0xfffe0005,
				0x00001000, 0xffff1004, 0xffff1005, 0xffff2603, 0xffff2401, 0xffff1201,
				0xffff1202, 0x04000000, 0x00010001, 0x00000000,
			};
			uint32_t t = types[a[0] % 16];
			memcpy(a, &t, 4);
			if (nr == KVM_S390_IRQ)
				memset(a + 4, 0, 4);
		}
		break;
	case KVM_IRQFD:
	case KVM_IOEVENTFD:
		/* Never one of this process's real fds. */
		*(uint32_t *)a = 1000 + (*(uint32_t *)a % 16);
		break;
	default:
		break;
	}
}

static void after_create_device(uint64_t p, int ret)
{
	uint8_t *a = (uint8_t *)(uintptr_t)p;
	if (ret == 0 && a >= argmem && a + sizeof(struct kvm_create_device) <= arg_none) {
		struct kvm_create_device d;
		memcpy(&d, a, sizeof(d));
		if (!(d.flags & 1)) /* KVM_CREATE_DEVICE_TEST */
			track((int)d.fd, new_obj(K_DEV));
	}
}

static void op_run(struct reader *r);

/* One request with fuzzed arguments on a fuzzed fd. */
static void op_ioctl(struct reader *r)
{
	int slot;
	int fd = pick_fd(r, &slot);
	uint8_t b = u8(r);
	unsigned long nr;
	/* A K_OTHER fd is not the shim's: leave it alone. */
	if (slot >= 0 && objs[fds[slot].obj].kind == K_OTHER)
		return;
	const struct req *q = NULL;
	if (b < 0xf0) {
		q = &reqs[b % NREQS];
		nr = q->nr;
	} else {
		/* Unknown requests: another type byte, another number, a sign-extended upper half. */
		nr = u32(r);
		if (b & 1)
			nr |= 0xffffffff00000000ul;
		if (b & 2)
			nr = (nr & ~0xff00ul) | 0xae00;
		for (size_t i = 0; i < NREQS; i++)
			if ((uint32_t)nr == (uint32_t)reqs[i].nr)
				return;
		if ((uint32_t)nr == KVM_RUN)
			return;
		/* Requests not for KVM go to the kernel on non-KVM fds: keep them to KVM fds. */
		if (slot < 0)
			return;
	}
	if (q && q->arg == A_PTR && fd >= 1000 && (nr == FIONBIO || nr == FIOASYNC))
		return;
	uint64_t arg;
	uint8_t buf[MAX_BUF < 4096 ? MAX_BUF : 4096];
	if (!q) {
		arg = pick_val(r);
	} else if (q->arg == A_VAL) {
		arg = pick_val(r);
	} else {
		size_t size = q->size;
		bytes(r, buf, size);
		patch(r, nr, buf);
		arg = pick_arg_ptr(r, size);
		place(arg, buf, size);
	}
	errno = 0;
	int ret = kvm_s390_shim_ioctl(fd, nr, (void *)(uintptr_t)arg);
	TRACE("ioctl(%d, %#lx, %#llx) = %d", fd, nr, (unsigned long long)arg, ret);
	check_no_panic("ioctl");
	if (ret >= 0 && slot >= 0 && creates_fd(nr)) {
		enum kind k = nr == KVM_CREATE_VM ? K_VM : nr == KVM_CREATE_VCPU ? K_VCPU : K_OTHER;
		track(ret, new_obj(k));
	}
	if (nr == KVM_CREATE_DEVICE)
		after_create_device(arg, ret);
}

/* ---- guest functions ------------------------------------------------------------------ */

static uint8_t gbuf_old[16], gbuf_new[16];
/* The handles of the guest functions running now, outermost first. */
static struct kvm_s390_shim_guest *handles[MAX_DEPTH + 2];

static struct kvm_s390_shim_exit guest_fn(struct kvm_s390_shim_guest *g, void *opaque)
{
	struct prog *p = opaque;
	struct reader r = {p->code, p->len};
	struct kvm_s390_shim_guest *h = g;
	struct kvm_s390_shim_exit exit = {KVM_S390_SHIM_EXIT_SIEIC, 4, 0x8300, 0x05010000};
	handles[depth++] = g;
	for (int i = 0; i < 24 && r.n; i++) {
		uint8_t op = u8(&r);
		/* Now and then a wrong handle: NULL, a stale one, or a pointer to something else. */
		if (op & 0x80) {
			uint8_t w = u8(&r) % 4;
			h = w == 0 ? NULL : w == 1 ? stale_handle : w == 2 ? handles[0] : (void *)gbuf_old;
		} else {
			h = g;
		}
		errno = 0;
		switch (op % 14) {
		case 0: {
			uint64_t ga = pick_gaddr(&r);
			size_t len = pick_len(&r);
			uint64_t buf = pick_ptr(&r, len);
			kvm_s390_shim_guest_read(h, ga, (void *)(uintptr_t)buf, len, u8(&r) % 17);
			break;
		}
		case 1: {
			uint64_t ga = pick_gaddr(&r);
			size_t len = pick_len(&r);
			uint64_t buf = pick_ptr(&r, len);
			kvm_s390_shim_guest_write(h, ga, (void *)(uintptr_t)buf, len, u8(&r) % 17);
			break;
		}
		case 2: {
			uint64_t ga = pick_gaddr(&r);
			static const size_t sizes[] = {4, 8, 16, 0, 1, 2, 3, 32};
			size_t size = sizes[u8(&r) % 8];
			bytes(&r, gbuf_old, 16);
			bytes(&r, gbuf_new, 16);
			kvm_s390_shim_guest_cs(h, ga, size, gbuf_old, gbuf_new, u8(&r) % 17);
			break;
		}
		case 3:
			kvm_s390_shim_guest_sske(h, pick_gaddr(&r), u8(&r));
			break;
		case 4:
			kvm_s390_shim_guest_iske(h, pick_gaddr(&r));
			break;
		case 5:
			kvm_s390_shim_guest_rrbe(h, pick_gaddr(&r));
			break;
		case 6:
			kvm_s390_shim_guest_essa(h, pick_gaddr(&r), u8(&r) % 9);
			break;
		case 7: {
			uint64_t abs = 0;
			kvm_s390_shim_guest_translate(h, pick_gaddr(&r), u8(&r) % 17, &abs);
			break;
		}
		case 8: {
			static const char kinds[] = "gcapx?";
			kvm_s390_shim_guest_get_reg(h, (uint8_t)kinds[u8(&r) % 6], u8(&r) % 18);
			break;
		}
		case 9: {
			static const char kinds[] = "gcapx?";
			uint8_t k = (uint8_t)kinds[u8(&r) % 6];
			uint32_t n = u8(&r) % 18;
			uint64_t v = u8(&r) & 1 ? u64(&r) : u8(&r) % 8 * MiB;
			kvm_s390_shim_guest_set_reg(h, k, n, v);
			break;
		}
		case 10:
			/* Requests on other fds (or our own vCPU: EDEADLK) from inside the guest. */
			if (depth <= MAX_DEPTH)
				op_ioctl(&r);
			break;
		case 11:
			if (depth <= MAX_DEPTH)
				op_run(&r);
			break;
		case 12:
			exit.kind = u8(&r) % 5;
			exit.icptcode = u8(&r);
			exit.ipa = u16(&r);
			exit.ipb = u32(&r);
			break;
		default:
			/* Re-register (or remove) the guest function of a vCPU, maybe our own. */
			if (depth <= MAX_DEPTH) {
				int slot;
				int fd = pick_fd_kind(&r, K_VCPU, &slot);
				bool set = u8(&r) & 1;
				if (kvm_s390_shim_set_guest(fd, set ? guest_fn : NULL, opaque) == 0 && slot >= 0)
					objs[fds[slot].obj].guest = set;
			}
			break;
		}
		TRACE("guest op %d (handle %s)", op % 14, h == g ? "own" : "other");
		check_no_panic("guest operation");
	}
	stale_handle = g;
	depth--;
	return exit;
}

static void op_set_guest(struct reader *r)
{
	int slot;
	int fd = pick_fd_kind(r, K_VCPU, &slot);
	bool set = u8(r) % 4 != 0;
	struct obj *o = slot >= 0 ? &objs[fds[slot].obj] : NULL;
	if (o && set) {
		o->prog.len = u8(r) % (PROG_LEN + 1);
		bytes(r, o->prog.code, o->prog.len);
	}
	errno = 0;
	int ret = kvm_s390_shim_set_guest(fd, set ? guest_fn : NULL, o ? (void *)&o->prog : NULL);
	TRACE("set_guest(%d, %s) = %d", fd, set ? "fn" : "NULL", ret);
	check_no_panic("set_guest");
	if (ret == 0 && o && o->kind == K_VCPU)
		o->guest = set;
}

/* KVM_RUN, only where it returns by itself: a guest function exits, or immediate_exit is set. */
static void op_run(struct reader *r)
{
	int slot;
	int fd = pick_fd_kind(r, K_VCPU, &slot);
	if (slot < 0)
		return;
	struct obj *o = &objs[fds[slot].obj];
	if (o->kind == K_OTHER)
		return;
	if (o->kind == K_VCPU) {
		if (!o->guest && !o->run)
			return;
		if (o->run) {
			uint8_t what = u8(r);
			if (what & 1)
				o->run->kvm_valid_regs = u64(r) & (u8(r) & 1 ? ~0ull : 0x3ffull);
			if (what & 2)
				o->run->kvm_dirty_regs = u64(r) & (u8(r) & 1 ? ~0ull : 0x3ffull);
			if (what & 4)
				bytes(r, (uint8_t *)&o->run->s.regs + (u16(r) % 2048 & ~7u), 8);
			if (what & 8) {
				o->run->psw_mask = u64(r);
				o->run->psw_addr = u64(r);
			}
			o->run->immediate_exit = o->guest ? (what >> 4) == 0xf : 1;
		}
	}
	errno = 0;
	int ret = kvm_s390_shim_ioctl(fd, KVM_RUN, (void *)(uintptr_t)(u8(r) == 0xff ? 1 : 0));
	TRACE("KVM_RUN(%d) = %d, exit_reason %u", fd, ret,
	      o->kind == K_VCPU && o->run ? o->run->exit_reason : 0u);
	check_no_panic("KVM_RUN");
}

/* ---- other operations ----------------------------------------------------------------- */

static void op_open(struct reader *r)
{
	static const int flags[] = {O_RDWR, O_RDWR | O_CLOEXEC, O_RDONLY, O_RDWR | O_DIRECTORY,
				    O_RDWR | O_CREAT | O_EXCL, O_WRONLY | O_NONBLOCK};
	errno = 0;
	int fd = kvm_s390_shim_open(flags[u8(r) % 6]);
	TRACE("open() = %d", fd);
	check_no_panic("open");
	if (fd >= 0)
		track(fd, new_obj(K_SYS));
}

static void op_create(struct reader *r, bool vcpu)
{
	int slot;
	int fd = pick_fd_kind(r, vcpu ? K_VM : K_SYS, &slot);
	uint64_t arg = u8(r) & 0x80 ? pick_val(r) : u8(r) % 4;
	errno = 0;
	int ret = kvm_s390_shim_ioctl(fd, vcpu ? KVM_CREATE_VCPU : KVM_CREATE_VM, (void *)(uintptr_t)arg);
	TRACE("%s(%d, %#llx) = %d", vcpu ? "CREATE_VCPU" : "CREATE_VM", fd, (unsigned long long)arg, ret);
	check_no_panic("create");
	if (ret >= 0)
		track(ret, new_obj(vcpu ? K_VCPU : K_VM));
}

static void op_slot(struct reader *r)
{
	int slot;
	int fd = pick_fd_kind(r, K_VM, &slot);
	struct kvm_userspace_memory_region2 m;
	memset(&m, 0, sizeof(m));
	uint8_t b = u8(r);
	m.slot = b & 0x80 ? u32(r) : u8(r) % 4;
	m.flags = b & 0x40 ? u32(r) : (b & 1) * KVM_MEM_LOG_DIRTY_PAGES;
	m.guest_phys_addr = b & 0x20 ? u64(r) : (u8(r) % 8) * MiB;
	m.memory_size = b & 0x10 ? u64(r) : (u8(r) % 5) * MiB + (b & 2 ? PAGE : 0);
	m.memory_size = clamp_slot_size(m.memory_size);
	m.userspace_addr = b & 0x08 ? pick_ptr(r, 0) : (uint64_t)(uintptr_t)(backing + (u8(r) % 4) * MiB);
	if (b & 4) {
		bytes(r, &m.guest_memfd_offset, 8);
		m.pad1 = u8(r) & 1;
	}
	errno = 0;
	uint64_t p = pick_arg_ptr(r, sizeof(m));
	place(p, &m, sizeof(m));
	int ret = kvm_s390_shim_ioctl(fd, b & 4 ? KVM_SET_USER_MEMORY_REGION2 : KVM_SET_USER_MEMORY_REGION,
				      (void *)(uintptr_t)p);
	TRACE("SET_USER_MEMORY_REGION%s(%d, slot %#x flags %#x gpa %#llx size %#llx uaddr %#llx @%#llx) = %d",
	      b & 4 ? "2" : "", fd, m.slot, m.flags, (unsigned long long)m.guest_phys_addr,
	      (unsigned long long)m.memory_size, (unsigned long long)m.userspace_addr,
	      (unsigned long long)p, ret);
	check_no_panic("set memory region");
}

static void op_dup(struct reader *r)
{
	int slot;
	int fd = pick_fd(r, &slot);
	uint8_t how = u8(r);
	int target = -1, tslot = -1;
	if (how % 5 == 2 || how % 5 == 3) {
		/* Onto a tracked fd (which dup2/dup3 close first) or a free number from 200. */
		if (u8(r) & 1)
			target = pick_fd(r, &tslot);
		else
			target = 200 + u8(r) % 32;
		if (target >= 1000)
			target = 200;
	}
	if (slot < 0 && free_slot() < 0)
		return;
	if (free_slot() < 0 && tslot < 0)
		return;
	errno = 0;
	int ret;
	switch (how % 5) {
	case 0:
		ret = dup(fd);
		break;
	case 1:
		ret = fcntl(fd, how & 0x80 ? F_DUPFD_CLOEXEC : F_DUPFD, 200 + u8(r) % 32);
		break;
	case 2:
		ret = dup2(fd, target);
		break;
	case 3:
		ret = dup3(fd, target, how & 0x80 ? O_CLOEXEC : 0);
		break;
	default:
		ret = fcntl(fd, how & 0x80 ? F_SETFD : F_GETFD, FD_CLOEXEC);
		return;
	}
	TRACE("dup%d(%d, %d) = %d", how % 5, fd, target, ret);
	check_no_panic("dup");
	if (ret < 0 || ret == fd)
		return;
	if (slot < 0) {
		/* Duplicated something untracked (cannot happen: numbers >= 1000 are closed). */
		close(ret);
		return;
	}
	int obj = fds[slot].obj;
	untrack(ret); /* dup2/dup3 replaced what was there */
	track(ret, obj);
}

static void op_close(struct reader *r)
{
	uint8_t how = u8(r);
	if (how % 4 == 3) {
		unsigned lo = 200 + u8(r) % 32, hi = lo + u8(r) % 8;
		/* Only numbers from 200 on: none but this input's own fds live there. */
		errno = 0;
		close_range(lo, hi, 0);
		check_no_panic("close_range");
		for (unsigned n = lo; n <= hi; n++)
			untrack((int)n);
		return;
	}
	int slot;
	int fd = pick_fd(r, &slot);
	errno = 0;
	int ret = how & 1 ? kvm_s390_shim_close(fd) : close(fd);
	TRACE("close(%d) = %d", fd, ret);
	check_no_panic("close");
	untrack(fd);
}

static void op_memory(struct reader *r)
{
	uint8_t how = u8(r);
	switch (how % 4) {
	case 0: /* truncate the memfd under its mapping */
		if (ftruncate(memfd, (off_t)(u8(r) % 257) * PAGE))
			die("ftruncate");
		break;
	case 1: { /* change a page of the read-write backing */
		static const int prot[] = {PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE};
		int i = u16(r) % 512, p = u8(r) % 3;
		if (mprotect(backing + i * PAGE, PAGE, prot[p]))
			die("mprotect");
		page_writable[i] = p == 2;
		break;
	}
	case 2: { /* host writes into guest memory */
		int i = u16(r) % 512;
		size_t off = u16(r) % (PAGE - 64);
		if (page_writable[i])
			bytes(r, backing + i * PAGE + off, 64);
		break;
	}
	default:
		kvm_s390_shim_tod_advance(u32(r));
		break;
	}
}

static void op_misc(struct reader *r)
{
	static const char *names[] = {"z14", "z15", "z16", "z17", "", NULL};
	uint8_t how = u8(r);
	errno = 0;
	switch (how % 4) {
	case 0:
		kvm_s390_shim_set_machine(names[u8(r) % 6]);
		break;
	case 1: {
		/* A name that runs into the PROT_NONE page, or at a wild address. */
		uint64_t p = u8(r) & 1 ? (uint64_t)(uintptr_t)(arg_none - 3) : pick_ptr(r, 8);
		if ((uint8_t *)(uintptr_t)p == arg_none - 3)
			memcpy(arg_none - 3, "z16", 3);
		kvm_s390_shim_set_machine((const char *)(uintptr_t)p);
		break;
	}
	case 2:
		if (!kvm_s390_shim_version() || !kvm_s390_shim_machine())
			abort();
		break;
	default: {
		/* Guest operations with a handle outside any guest function. */
		uint8_t b[8];
		kvm_s390_shim_guest_read(stale_handle, 0, b, sizeof(b), 0);
		kvm_s390_shim_guest_sske(stale_handle, 0, 0);
		kvm_s390_shim_guest_set_reg(NULL, 'g', 0, 0);
		break;
	}
	}
	check_no_panic("misc");
}

/* ---- driver --------------------------------------------------------------------------- */

/* Marks the open fds below 1024 (other than the directory stream's own). */
static void open_fds(bool set[1024])
{
	memset(set, 0, 1024);
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		die("opendir /proc/self/fd");
	struct dirent *e;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] != '.' && fd != dirfd(d) && fd < 1024)
			set[fd] = true;
	}
	closedir(d);
}

static bool fds_before[1024];

static void cleanup(void)
{
	for (int i = 0; i < MAX_FDS; i++) {
		if (fds[i].fd >= 0) {
			kvm_s390_shim_close(fds[i].fd);
			fds[i].fd = -1;
		}
	}
	for (int i = 0; i < nobjs; i++)
		if (objs[i].run)
			munmap(objs[i].run, PAGE);
	nobjs = 0;
	stale_handle = NULL;
	reset_backing();
	bool after[1024];
	open_fds(after);
	for (int fd = 0; fd < 1024; fd++) {
		if (after[fd] && !fds_before[fd]) {
			fprintf(stderr, "fuzz_api: fd %d still open after the input closed all of its fds\n", fd);
			abort();
		}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	trace = getenv("FUZZ_API_TRACE") != NULL;
	if (getenv("FUZZ_API_MAX_SLOT_MB"))
		max_slot = strtoull(getenv("FUZZ_API_MAX_SLOT_MB"), NULL, 0) * MiB;
	setup_memory();
	for (int i = 0; i < MAX_FDS; i++)
		fds[i].fd = -1;
	/* Fix the host model now (it is fixed from the first VM on anyway). */
	kvm_s390_shim_set_machine("z16");
	int sys = kvm_s390_shim_open(O_RDWR);
	int vm = kvm_s390_shim_ioctl(sys, KVM_CREATE_VM, 0);
	kvm_s390_shim_close(vm);
	kvm_s390_shim_close(sys);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = {data, size};
	kvm_s390_shim_tod_freeze(0, 0x1234567890000000ull);
	open_fds(fds_before);
	for (int i = 0; i < MAX_OPS && r.n; i++) {
		uint8_t op = u8(&r);
		switch (op % 16) {
		case 0:
			op_open(&r);
			break;
		case 1:
			op_create(&r, false);
			break;
		case 2:
			op_create(&r, true);
			break;
		case 3:
		case 4:
			op_slot(&r);
			break;
		case 5:
		case 6:
		case 7:
		case 8:
			op_ioctl(&r);
			break;
		case 9:
			op_dup(&r);
			break;
		case 10:
			op_close(&r);
			break;
		case 11:
			op_set_guest(&r);
			break;
		case 12:
		case 13:
			op_run(&r);
			break;
		case 14:
			op_memory(&r);
			break;
		default:
			op_misc(&r);
			break;
		}
	}
	cleanup();
	return 0;
}
