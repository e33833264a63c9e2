/* Helpers for vCPU tests: a VM with guest memory and one vCPU with its mapped kvm_run. */
#ifndef KVM_S390_SHIM_VCPU_H
#define KVM_S390_SHIM_VCPU_H
#include "memop.h"

#include <endian.h>
#include <pthread.h>
#include <signal.h>

struct cpu {
	struct guest g;
	int vcpu;
	struct kvm_run *run;
};

static inline bool cpu_open(struct cpu *c, uint32_t id)
{
	if (!guest_open(&c->g, 0))
		return false;
	c->vcpu = KVM_IOCTL(c->g.vm, KVM_CREATE_VCPU, id);
	if (c->vcpu < 0)
		return false;
	c->run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c->vcpu, 0);
	return c->run != MAP_FAILED;
}

static inline void cpu_close(struct cpu *c)
{
	if (c->run && c->run != MAP_FAILED)
		munmap(c->run, 4096);
	KVM_CLOSE(c->vcpu);
	KVM_CLOSE(c->g.vm);
}

/*
 * The kick signal, as QEMU kicks its vCPU threads (SIG_IPI): a no-op handler, blocked on the
 * thread outside KVM_RUN and unblocked inside it through KVM_SET_SIGNAL_MASK.
 */
#define KICK_SIGNAL SIGUSR1

static void kick_handler(int sig)
{
	(void)sig;
}

/* KVM_SET_SIGNAL_MASK's argument: `len` and, right after it (offset 4, unaligned), the
 * kernel's 8-byte sigset. */
struct kvm_sigmask8 {
	uint32_t len;
	uint8_t set[8];
};
_Static_assert(offsetof(struct kvm_sigmask8, set) == sizeof(struct kvm_signal_mask), "sigset offset");

/* The argument for a glibc sigset_t (the kernel's sigset is its first 8 bytes). */
static inline struct kvm_sigmask8 kvm_sigmask(const sigset_t *s)
{
	struct kvm_sigmask8 m = {.len = 8};
	memcpy(m.set, s, 8);
	return m;
}

/* Sets the run signal mask of `vcpu` to the thread's mask without `sig`. */
static inline int set_run_mask_unblocking(int vcpu, int sig)
{
	sigset_t cur;
	pthread_sigmask(SIG_SETMASK, NULL, &cur);
	sigdelset(&cur, sig);
	struct kvm_sigmask8 m = kvm_sigmask(&cur);
	return KVM_IOCTL(vcpu, KVM_SET_SIGNAL_MASK, &m);
}

/*
 * Makes the next KVM_RUN of `vcpu` on this thread return at once with EINTR: KICK_SIGNAL is
 * made pending on the thread (blocked), and unblocked for the run.
 */
static inline bool cpu_kick_self(int vcpu)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	if (sigaction(KICK_SIGNAL, &sa, NULL))
		return false;
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, KICK_SIGNAL);
	if (pthread_sigmask(SIG_BLOCK, &block, NULL))
		return false;
	if (set_run_mask_unblocking(vcpu, KICK_SIGNAL))
		return false;
	return pthread_kill(pthread_self(), KICK_SIGNAL) == 0;
}

/*
 * KVM_RUN of a vCPU without a guest program, kicked out as a VMM does: it syncs registers in,
 * delivers, finds the kick signal pending and returns to userspace with EINTR.
 */
static inline bool cpu_run(struct cpu *c)
{
	if (!cpu_kick_self(c->vcpu))
		return false;
	errno = 0;
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == -1 && errno == EINTR && c->run->exit_reason == KVM_EXIT_INTR;
}

/* Loads a PSW through kvm_run (synced in by KVM_RUN). */
static inline bool set_psw(struct cpu *c, uint64_t mask, uint64_t addr)
{
	c->run->psw_mask = mask;
	c->run->psw_addr = addr;
	return cpu_run(c);
}

static inline bool set_crs(struct cpu *c, const uint64_t crs[16])
{
	struct kvm_sregs s;
	if (KVM_IOCTL(c->vcpu, KVM_GET_SREGS, &s))
		return false;
	memcpy(s.crs, crs, sizeof(s.crs));
	return KVM_IOCTL(c->vcpu, KVM_SET_SREGS, &s) == 0;
}

static inline bool set_cr(struct cpu *c, int n, uint64_t v)
{
	struct kvm_sregs s;
	if (KVM_IOCTL(c->vcpu, KVM_GET_SREGS, &s))
		return false;
	s.crs[n] = v;
	return KVM_IOCTL(c->vcpu, KVM_SET_SREGS, &s) == 0;
}

static inline int lmop(struct cpu *c, uint32_t op, uint64_t ga, uint32_t size, void *buf, int key, uint64_t flags, uint8_t ar)
{
	struct kvm_s390_mem_op m = mop(op, ga, size, buf, key, flags);
	m.ar = ar;
	return KVM_IOCTL(c->vcpu, KVM_S390_MEM_OP, &m);
}

#define LREAD(c, ga, size, buf, key, flags) lmop((c), KVM_S390_MEMOP_LOGICAL_READ, (ga), (size), (buf), (key), (flags), 0)
#define LWRITE(c, ga, size, buf, key, flags) lmop((c), KVM_S390_MEMOP_LOGICAL_WRITE, (ga), (size), (buf), (key), (flags), 0)

/* PSW bits. */
#define PSW_DAT (1ull << 58)
#define PSW_EA (1ull << 32)
#define PSW_BA (1ull << 31)
#define PSW_64 (PSW_EA | PSW_BA)
#define PSW_AS_AR (1ull << 46)
#define PSW_AS_SEC (2ull << 46)
#define PSW_AS_HOME (3ull << 46)

/* CR0 bits. */
#define CR0_LAP (1ull << 28)
#define CR0_FPO (1ull << 25)
#define CR0_SPO (1ull << 24)
#define CR0_EDAT (1ull << 23)

/* The pending program interrupt, through KVM_S390_GET_IRQ_STATE (false if none). */
static inline bool pending_pgm(struct cpu *c, struct kvm_s390_pgm_info *pgm)
{
	struct kvm_s390_irq irqs[4];
	struct kvm_s390_irq_state s = {.buf = (uintptr_t)irqs, .len = sizeof(irqs)};
	int n = KVM_IOCTL(c->vcpu, KVM_S390_GET_IRQ_STATE, &s);
	if (n < (int)sizeof(struct kvm_s390_irq) || irqs[0].type != KVM_S390_PROGRAM_INT)
		return false;
	*pgm = irqs[0].u.pgm;
	return true;
}

/* Big-endian values in guest storage (as s390 stores them), at any alignment. */
static inline uint16_t load_be16(const void *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return be16toh(v);
}

static inline uint64_t load_be64(const void *p)
{
	uint64_t be;
	memcpy(&be, p, 8);
	return be64toh(be);
}

static inline uint32_t load_be32(const void *p)
{
	uint32_t be;
	memcpy(&be, p, 4);
	return be32toh(be);
}

static inline void store_be64(void *p, uint64_t v)
{
	uint64_t be = htobe64(v);
	memcpy(p, &be, 8);
}

static inline void put64(struct cpu *c, uint64_t gpa, uint64_t v)
{
	store_be64(c->g.mem + gpa, v);
}

static inline uint64_t get64(struct cpu *c, uint64_t gpa)
{
	return load_be64(c->g.mem + gpa);
}

/* A vCPU counter by name from its binary stats file (KVM_GET_STATS_FD); ~0 if absent. */
static inline uint64_t vcpu_stat(int vcpu, const char *name)
{
	uint64_t v = ~0ull;
	int fd = KVM_IOCTL(vcpu, KVM_GET_STATS_FD, 0);
	if (fd < 0)
		return v;
	struct kvm_stats_header h;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto out;
	size_t dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	uint8_t d[sizeof(struct kvm_stats_desc) + 256];
	if (dsz > sizeof(d))
		goto out;
	for (uint32_t i = 0; i < h.num_desc; i++) {
		if (pread(fd, d, dsz, h.desc_offset + i * dsz) != (ssize_t)dsz)
			goto out;
		struct kvm_stats_desc desc;
		memcpy(&desc, d, sizeof(desc));
		if (strcmp((const char *)d + sizeof(desc), name) == 0) {
			if (pread(fd, &v, 8, h.data_offset + desc.offset) != 8)
				v = ~0ull;
			break;
		}
	}
out:
	close(fd);
	return v;
}

/* A program-interruption handler at absolute `at`: a DIAG 0x501 (a KVM_EXIT_S390_SIEIC with
 * ipa 0x8300), reached through the program new PSW (64-bit, DAT off) of the lowcore at 0. */
static inline void set_pgm_handler(struct cpu *c, uint64_t at)
{
	static const uint8_t diag501[] = {0x83, 0x00, 0x05, 0x01};
	memcpy(c->g.mem + at, diag501, sizeof(diag501));
	put64(c, 0x1d0, PSW_64);
	put64(c, 0x1d8, at);
}

#endif
