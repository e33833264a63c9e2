/*
 * The guest-program API on its own: exits and their kvm_run fields, register sync in and out,
 * storage access with prefixing, translation and exceptions presented through the lowcore,
 * the storage-key instructions, interlocked compare-and-swap, ESSA, translation, several vCPUs
 * running guest functions at once, re-entry and bad arguments.
 */
#include "selftest.h"
#include "dat.h"

#include <pthread.h>

#define PSW_KEY(k) ((uint64_t)(k) << 52)
#define PREFIX 0x20000ull

#define G(name) SHIM_API(kvm_s390_shim_guest_##name)

struct env {
	struct cpu c;
	struct kvm_s390_shim_exit (*body)(struct kvm_s390_shim_guest *cpu, struct env *e);
	int calls;
	/* results recorded by guest bodies */
	long long r[32];
	uint64_t v[32];
	uint8_t buf[64];
};

static struct kvm_s390_shim_exit guest_main(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct env *e = opaque;
	e->calls++;
	return e->body(cpu, e);
}

static bool env_open(struct env *e)
{
	memset(e, 0, sizeof(*e));
	e->c.vcpu = -1;
	if (!cpu_open(&e->c, 0))
		return false;
	return SET_GUEST(e->c.vcpu, guest_main, e) == 0;
}

static void env_close(struct env *e)
{
	cpu_close(&e->c);
}

/* Loads a PSW and a prefix through kvm_run for the next KVM_RUN. */
static void load_psw_prefix(struct env *e, uint64_t mask, uint64_t addr, uint64_t prefix)
{
	e->c.run->psw_mask = mask;
	e->c.run->psw_addr = addr;
	e->c.run->s.regs.prefix = prefix;
	e->c.run->kvm_dirty_regs |= KVM_SYNC_PREFIX;
}

static int run(struct env *e)
{
	errno = 0;
	return KVM_IOCTL(e->c.vcpu, KVM_RUN, 0);
}

/* ---- exits ---------------------------------------------------------------------------- */

static struct kvm_s390_shim_exit next_exit;

static struct kvm_s390_shim_exit body_exit(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	(void)cpu;
	(void)e;
	return next_exit;
}

static bool test_exits(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_exit;

	/* An instruction intercept: KVM_RUN returns 0 with the guest's icptcode/ipa/ipb. */
	next_exit = diag_501();
	CHECK_RET(run(&e), 0);
	CHECK(e.calls == 1);
	CHECK(exit_was_hypercall(e.c.run));
	next_exit = (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 4, .ipa = 0xb2ab, .ipb = 0x00120000};
	CHECK_RET(run(&e), 0);
	CHECK(e.c.run->exit_reason == KVM_EXIT_S390_SIEIC && e.c.run->s390_sieic.icptcode == 4);
	CHECK(e.c.run->s390_sieic.ipa == 0xb2ab && e.c.run->s390_sieic.ipb == 0x00120000);

	/* Stop: intercept 0x28 and the CPU is stopped; without user CPU-state control the next
	 * KVM_RUN starts it again. */
	next_exit = (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_STOP};
	CHECK_RET(run(&e), 0);
	CHECK(e.c.run->exit_reason == KVM_EXIT_S390_SIEIC && e.c.run->s390_sieic.icptcode == 0x28);
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
	next_exit = diag_501();
	CHECK_RET(run(&e), 0);
	CHECK(e.calls == 4);
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_OPERATING);

	/* EINTR. */
	next_exit = (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
	CHECK_ERR(run(&e), EINTR);
	CHECK(e.c.run->exit_reason == KVM_EXIT_INTR);
	CHECK(e.calls == 5);

	/* An unknown exit kind is the harness's error: EINVAL, exit reason unknown. */
	next_exit = (struct kvm_s390_shim_exit){.kind = 99};
	CHECK_ERR(run(&e), EINVAL);
	CHECK(e.calls == 6 && e.c.run->exit_reason == KVM_EXIT_UNKNOWN);

	/* immediate_exit: EINTR before the guest function runs. */
	e.c.run->immediate_exit = 1;
	CHECK_ERR(run(&e), EINTR);
	CHECK(e.calls == 6);
	e.c.run->immediate_exit = 0;

	/* KVM_SET_MP_STATE hands CPU-state control to userspace: a stop intercept then leaves
	 * the CPU to userspace (handle_stop), and KVM_RUN refuses a CPU userspace stopped,
	 * without calling the guest function. */
	mp.mp_state = KVM_MP_STATE_OPERATING;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_SET_MP_STATE, &mp), 0);
	next_exit = (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_STOP};
	CHECK_RET(run(&e), 0);
	CHECK(e.calls == 7 && e.c.run->s390_sieic.icptcode == 0x28);
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_OPERATING);
	mp.mp_state = KVM_MP_STATE_STOPPED;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_SET_MP_STATE, &mp), 0);
	CHECK_ERR(run(&e), EINVAL);
	CHECK(e.calls == 7);
	mp.mp_state = KVM_MP_STATE_OPERATING;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_SET_MP_STATE, &mp), 0);
	next_exit = diag_501();
	CHECK_RET(run(&e), 0);
	CHECK(e.calls == 8);

	/* Without a guest function, KVM_RUN runs until kicked: a pending kick ends it with EINTR. */
	CHECK_RET(SET_GUEST(e.c.vcpu, NULL, NULL), 0);
	CHECK(cpu_run(&e.c));
	CHECK(e.calls == 8);
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- registers ------------------------------------------------------------------------ */

static struct kvm_s390_shim_exit body_regs(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	uint64_t (*get)(struct kvm_s390_shim_guest *, uint8_t, uint32_t) = G(get_reg);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	e->v[0] = get(cpu, 'g', 2);
	e->v[1] = get(cpu, 'p', 0);
	e->v[2] = get(cpu, 'p', 1);
	e->v[3] = get(cpu, 'x', 0);
	e->v[4] = get(cpu, 'c', 1);
	e->v[5] = get(cpu, 'a', 4);
	e->v[6] = get(cpu, 'z', 0);
	e->r[0] = set(cpu, 'g', 3, 0xabcdef0123456789ull);
	e->r[1] = set(cpu, 'c', 0, e->v[7] = get(cpu, 'c', 0) | 0x10000000ull);
	e->r[2] = set(cpu, 'a', 5, 7);
	e->r[3] = set(cpu, 'p', 1, 0x2000);
	errno = 0;
	e->r[4] = set(cpu, 'z', 0, 1);
	e->r[5] = errno;
	errno = 0;
	e->r[6] = set(cpu, 'g', 16, 1);
	e->r[7] = errno;
	errno = 0;
	e->r[8] = set(cpu, 'p', 2, 1);
	e->r[9] = errno;
	e->v[8] = get(cpu, 'g', 16) | get(cpu, 'p', 2);
	return diag_501();
}

static bool test_registers(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_regs;
	struct kvm_sregs s;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_SREGS, &s), 0);
	s.crs[1] = 0x12345000;
	s.acrs[4] = 0x44;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_SET_SREGS, &s), 0);
	load_psw_prefix(&e, PSW_64, 0x1000, PREFIX);
	e.c.run->s.regs.gprs[2] = 0x1234;
	e.c.run->kvm_dirty_regs |= KVM_SYNC_GPRS;
	CHECK_RET(run(&e), 0);
	/* What the guest saw: the registers synced in. */
	CHECK(e.v[0] == 0x1234);
	CHECK(e.v[1] == PSW_64 && e.v[2] == 0x1000);
	CHECK(e.v[3] == PREFIX);
	CHECK(e.v[4] == 0x12345000);
	CHECK(e.v[5] == 0x44);
	CHECK(e.v[6] == 0);
	CHECK(e.r[0] == 0 && e.r[1] == 0 && e.r[2] == 0 && e.r[3] == 0);
	CHECK(e.r[4] == -1 && e.r[5] == EINVAL);
	CHECK(e.r[6] == -1 && e.r[7] == EINVAL);
	CHECK(e.r[8] == -1 && e.r[9] == EINVAL);
	CHECK(e.v[8] == 0);
	/* What the guest changed: synced out to kvm_run and visible through the ioctls. */
	CHECK(e.c.run->s.regs.gprs[3] == 0xabcdef0123456789ull);
	CHECK(e.c.run->psw_addr == 0x2000 && e.c.run->psw_mask == PSW_64);
	CHECK(e.c.run->s.regs.acrs[5] == 7);
	CHECK(e.c.run->s.regs.crs[0] == e.v[7]);
	struct kvm_regs r;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_REGS, &r), 0);
	CHECK(r.gprs[3] == 0xabcdef0123456789ull && r.gprs[2] == 0x1234);
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_SREGS, &s), 0);
	CHECK(s.acrs[5] == 7 && s.crs[0] == e.v[7]);
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- storage, prefixing, exceptions ---------------------------------------------------- */

#define VA 0x10000000ull
#define VA_ABS 0x100000ull

static struct kvm_s390_shim_exit body_storage(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	int (*rd)(struct kvm_s390_shim_guest *, uint64_t, void *, size_t, uint8_t) = G(read);
	int (*wr)(struct kvm_s390_shim_guest *, uint64_t, const void *, size_t, uint8_t) = G(write);
	uint64_t (*get)(struct kvm_s390_shim_guest *, uint8_t, uint32_t) = G(get_reg);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	/* DAT off: real addresses with prefixing. */
	e->r[0] = wr(cpu, 0x100, "low", 4, 0);
	e->r[1] = wr(cpu, PREFIX + 0x100, "high", 5, 0);
	e->r[2] = rd(cpu, 0x3000, e->buf, 8, 0);
	/* A bad buffer is the caller's error, not the guest's: EFAULT, nothing presented. */
	errno = 0;
	e->r[3] = rd(cpu, 0x3000, NULL, 8, 0);
	e->r[4] = errno;
	errno = 0;
	e->r[5] = wr(cpu, 0x3000, (const void *)8, 8, 0);
	e->r[6] = errno;
	e->v[0] = get(cpu, 'p', 1);
	/* Beyond guest memory: an addressing exception, presented through the lowcore. */
	e->r[7] = rd(cpu, 0x500000, e->buf + 8, 8, 0);
	e->v[1] = get(cpu, 'p', 0);
	e->v[2] = get(cpu, 'p', 1);
	rd(cpu, 0x8e, e->buf + 32, 2, 0); /* the lowcore, through real 0 */
	rd(cpu, 0x150, e->buf + 40, 16, 0);
	/* DAT on (the ASCE is in CR1): a mapped page, then an invalid page-table entry. */
	set(cpu, 'p', 0, PSW_64 | PSW_DAT);
	e->r[8] = wr(cpu, VA + 0x10, "virtual", 8, 0);
	e->r[9] = rd(cpu, VA + 0x4000, e->buf + 16, 8, 0);
	e->v[3] = get(cpu, 'p', 1);
	return diag_501();
}

static bool test_storage(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_storage;
	uint8_t *m = e.c.g.mem;
	struct dat d;
	dat_init(&d, &e.c, 0x200000, 3);
	dat_map(&d, VA, VA_ABS);
	CHECK(set_cr(&e.c, 1, dat_asce(&d)));
	memcpy(m + 0x3000, "fetched", 8);
	/* Program-new PSW in the lowcore at the prefix. */
	store_be64(m + PREFIX + 0x1d0, PSW_64);
	store_be64(m + PREFIX + 0x1d8, 0x7000);
	load_psw_prefix(&e, PSW_64, 0x1000, PREFIX);
	CHECK_RET(run(&e), 0);
	CHECK(exit_was_hypercall(e.c.run));
	CHECK(e.r[0] == 0 && e.r[1] == 0 && e.r[2] == 0);
	/* Real 0 and the prefix area are swapped. */
	CHECK(memcmp(m + PREFIX + 0x100, "low", 4) == 0);
	CHECK(memcmp(m + 0x100, "high", 5) == 0);
	CHECK(memcmp(e.buf, "fetched", 8) == 0);
	CHECK(e.r[3] == -1 && e.r[4] == EFAULT);
	CHECK(e.r[5] == -1 && e.r[6] == EFAULT);
	CHECK(e.v[0] == 0x1000);
	/* The addressing exception: code 5, old PSW stored, new PSW loaded. */
	CHECK(e.r[7] == 5);
	CHECK(e.buf[32] == 0 && e.buf[33] == 5);
	CHECK(load_be64(e.buf + 40) == PSW_64 && load_be64(e.buf + 48) == 0x1000);
	CHECK(e.v[1] == PSW_64 && e.v[2] == 0x7000);
	/* Through DAT: the store reached the frame; the invalid page is a page-translation
	 * exception with the failing page in the TEID. */
	CHECK(e.r[8] == 0);
	CHECK(memcmp(m + VA_ABS + 0x10, "virtual", 8) == 0);
	CHECK(e.r[9] == 0x11);
	CHECK(m[PREFIX + 0x8f] == 0x11);
	CHECK((load_be64(m + PREFIX + 0xa8) & ~0xfffull) == VA + 0x4000);
	CHECK(load_be64(m + PREFIX + 0x150) == (PSW_64 | PSW_DAT) && load_be64(m + PREFIX + 0x158) == 0x7000);
	CHECK(e.v[3] == 0x7000);
	/* The PSW the guest ended with is synced out. */
	CHECK(e.c.run->psw_addr == 0x7000 && e.c.run->psw_mask == PSW_64);
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- storage keys ---------------------------------------------------------------------- */

static struct kvm_s390_shim_exit body_keys(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	int (*sske)(struct kvm_s390_shim_guest *, uint64_t, uint8_t) = G(sske);
	int (*iske)(struct kvm_s390_shim_guest *, uint64_t) = G(iske);
	int (*rrbe)(struct kvm_s390_shim_guest *, uint64_t) = G(rrbe);
	int (*rd)(struct kvm_s390_shim_guest *, uint64_t, void *, size_t, uint8_t) = G(read);
	int (*wr)(struct kvm_s390_shim_guest *, uint64_t, const void *, size_t, uint8_t) = G(write);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	if (e->calls == 1)
		return diag_501(); /* the host checks that keys are still off */
	e->r[0] = sske(cpu, 0x3000, 0x36);
	e->r[1] = iske(cpu, 0x3000);
	e->r[2] = rrbe(cpu, 0x3000);
	e->r[3] = iske(cpu, 0x3000);
	e->r[4] = rrbe(cpu, 0x3000);
	e->r[5] = sske(cpu, 0, 0x50); /* real 0: the prefix frame */
	e->r[6] = sske(cpu, 0x800000, 0x10);
	e->r[7] = iske(cpu, 0x800000);
	/* Key-controlled protection: frame 0x4000 gets ACC 3, then ACC 3 with fetch protection. */
	sske(cpu, 0x4000, 0x30);
	set(cpu, 'p', 0, PSW_64 | PSW_KEY(2));
	e->r[8] = wr(cpu, 0x4000, "x", 1, 0);
	e->r[9] = rd(cpu, 0x4000, e->buf, 1, 0);
	set(cpu, 'p', 0, PSW_64 | PSW_KEY(3));
	e->r[10] = wr(cpu, 0x4000, "y", 1, 0);
	sske(cpu, 0x4000, 0x38);
	set(cpu, 'p', 0, PSW_64 | PSW_KEY(2));
	e->r[11] = rd(cpu, 0x4000, e->buf, 1, 0);
	set(cpu, 'p', 0, PSW_64);
	e->r[12] = wr(cpu, 0x4000, "z", 1, 0);
	/* Privileged: a privileged-operation exception in the problem state. */
	set(cpu, 'p', 0, PSW_64 | (1ull << 48));
	e->r[13] = sske(cpu, 0x7000, 0x70);
	set(cpu, 'p', 0, PSW_64 | (1ull << 48)); /* the exception loaded the program-new PSW */
	e->r[14] = iske(cpu, 0x7000);
	set(cpu, 'p', 0, PSW_64 | (1ull << 48));
	e->r[15] = rrbe(cpu, 0x7000);
	/* 24-bit mode: the operand address wraps at 16 MiB. */
	set(cpu, 'p', 0, 0);
	e->r[16] = sske(cpu, 0x1008000, 0x80);
	set(cpu, 'p', 0, PSW_64);
	return diag_501();
}

static bool test_keys(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_keys;
	store_be64(e.c.g.mem + PREFIX + 0x1d0, PSW_64);
	store_be64(e.c.g.mem + PREFIX + 0x1d8, 0x7000);
	load_psw_prefix(&e, PSW_64, 0x1000, PREFIX);
	uint8_t keys[1024];
	struct kvm_s390_skeys sk = {.start_gfn = 0, .count = 1024, .skeydata_addr = (uintptr_t)keys};
	CHECK_RET(run(&e), 0);
	CHECK_RET(KVM_IOCTL(e.c.g.vm, KVM_S390_GET_SKEYS, &sk), KVM_S390_GET_SKEYS_NONE);
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == 0 && e.r[1] == 0x36);
	CHECK(e.r[2] == 3); /* R and C were set */
	CHECK(e.r[3] == 0x32);
	CHECK(e.r[4] == 1); /* C only */
	CHECK(e.r[5] == 0);
	CHECK(e.r[6] == 5 && e.r[7] == (0x100 | 5));
	CHECK(e.r[8] == 4 && e.r[9] == 0 && e.r[10] == 0);
	CHECK(e.r[11] == 4 && e.r[12] == 0);
	CHECK(e.r[13] == 2 && e.r[14] == (0x100 | 2) && e.r[15] == (0x100 | 2));
	CHECK(e.r[16] == 0);
	/* The first key instruction enabled storage keys; the host sees what the guest set. */
	CHECK_RET(KVM_IOCTL(e.c.g.vm, KVM_S390_GET_SKEYS, &sk), 0);
	CHECK(keys[3] == 0x32);
	CHECK((keys[PREFIX >> 12] & 0xf8) == 0x50); /* R/C: the lowcore was stored into since */
	CHECK((keys[4] & 0xf8) == 0x38);
	CHECK(keys[7] == 0 && keys[8] == 0x80);
	CHECK(e.c.g.mem[0x4000] == 'z');
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- compare and swap -------------------------------------------------------------------- */

static struct kvm_s390_shim_exit body_cs(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	int (*cs)(struct kvm_s390_shim_guest *, uint64_t, size_t, void *, const void *, uint8_t) = G(cs);
	int (*sske)(struct kvm_s390_shim_guest *, uint64_t, uint8_t) = G(sske);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	uint8_t old[16], new[16];
	memcpy(old, "\x11\x11\x11\x11", 4);
	memcpy(new, "\x22\x22\x22\x22", 4);
	e->r[0] = cs(cpu, 0x5000, 4, old, new, 0);
	memset(old, 0, 16);
	e->r[1] = cs(cpu, 0x5000, 4, old, new, 0);
	memcpy(e->buf, old, 4);
	memcpy(old, "AAAAAAAA", 8);
	memcpy(new, "BBBBBBBB", 8);
	e->r[2] = cs(cpu, 0x5008, 8, old, new, 0);
	memcpy(old, "CCCCCCCCCCCCCCCC", 16);
	memcpy(new, "DDDDDDDDDDDDDDDD", 16);
	e->r[3] = cs(cpu, 0x5010, 16, old, new, 0);
	memset(old, 0, 16);
	e->r[4] = cs(cpu, 0x5010, 16, old, new, 0);
	memcpy(e->buf + 16, old, 16);
	e->r[5] = cs(cpu, 0x5004, 8, old, new, 0);  /* not doubleword aligned */
	e->r[6] = cs(cpu, 0x5000, 3, old, new, 0);  /* no such instruction */
	e->r[7] = cs(cpu, 0x800000, 8, old, new, 0); /* beyond memory */
	errno = 0;
	e->r[8] = cs(cpu, 0x5000, 4, NULL, new, 0);
	e->r[9] = errno;
	sske(cpu, 0x6000, 0x30);
	set(cpu, 'p', 0, PSW_64 | PSW_KEY(2));
	memset(old, 0, 16);
	e->r[10] = cs(cpu, 0x6000, 8, old, new, 0); /* key-controlled protection */
	set(cpu, 'p', 0, PSW_64);
	return diag_501();
}

static bool test_cs(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_cs;
	uint8_t *m = e.c.g.mem;
	memcpy(m + 0x5000, "\x11\x11\x11\x11", 4);
	memcpy(m + 0x5008, "AAAAAAAA", 8);
	memcpy(m + 0x5010, "CCCCCCCCCCCCCCCC", 16);
	store_be64(m + PREFIX + 0x1d0, PSW_64);
	store_be64(m + PREFIX + 0x1d8, 0x7000);
	load_psw_prefix(&e, PSW_64, 0x1000, PREFIX);
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == 0 && memcmp(m + 0x5000, "\x22\x22\x22\x22", 4) == 0);
	CHECK(e.r[1] == 1 && memcmp(e.buf, "\x22\x22\x22\x22", 4) == 0);
	CHECK(e.r[2] == 0 && memcmp(m + 0x5008, "BBBBBBBB", 8) == 0);
	CHECK(e.r[3] == 0 && memcmp(m + 0x5010, "DDDDDDDDDDDDDDDD", 16) == 0);
	CHECK(e.r[4] == 1 && memcmp(e.buf + 16, "DDDDDDDDDDDDDDDD", 16) == 0);
	CHECK(e.r[5] == (0x100 | 6) && e.r[6] == (0x100 | 6));
	CHECK(e.r[7] == (0x100 | 5));
	CHECK(e.r[8] == -1 && e.r[9] == EFAULT);
	CHECK(e.r[10] == (0x100 | 4));
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- ESSA and translation ----------------------------------------------------------------- */

static struct kvm_s390_shim_exit body_essa(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	int (*essa)(struct kvm_s390_shim_guest *, uint64_t, uint8_t) = G(essa);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	/* R1 gets the previous usage state times 4 (0 stable, 1 unused, 2 potentially volatile,
	 * 3 volatile) and 0x20 for NODAT. */
	e->r[0] = essa(cpu, 0x5000, 2);  /* set unused: was stable */
	e->r[1] = essa(cpu, 0x5000, 0);  /* extract: unused */
	e->r[2] = essa(cpu, 0x5000, 4);  /* set potentially volatile */
	e->r[3] = essa(cpu, 0x5000, 0);  /* potentially volatile */
	e->r[4] = essa(cpu, 0x5000, 3);  /* set volatile */
	e->r[5] = essa(cpu, 0x5000, 7);  /* set stable + NODAT (facility 147): was volatile */
	e->r[6] = essa(cpu, 0x5000, 1);  /* set stable: was stable + NODAT; clears NODAT */
	e->r[7] = essa(cpu, 0x5000, 0);  /* stable */
	e->r[8] = essa(cpu, 0x5000, 8);  /* no such request */
	e->r[9] = essa(cpu, 0x800000, 1); /* beyond memory */
	set(cpu, 'p', 0, PSW_64 | (1ull << 48)); /* problem state */
	e->r[10] = essa(cpu, 0x6000, 1);
	set(cpu, 'p', 0, PSW_64);
	e->r[11] = essa(cpu, 0x6000, 3); /* leave a volatile page for the host to read */
	return diag_501();
}

/* A VM for the ESSA guest: CMMA enabled or not, facility 147 removed from the CPU model or
 * not (both before the vCPU exists, as QEMU does), the program-new PSW at 0x7000. */
static bool essa_env(struct env *e, bool cmma, bool without_147)
{
	bool ok = false;
	memset(e, 0, sizeof(*e));
	e->c.vcpu = -1;
	CHECK(guest_open(&e->c.g, 0));
	if (cmma) {
		struct kvm_device_attr a = {.group = KVM_S390_VM_MEM_CTRL, .attr = KVM_S390_VM_MEM_ENABLE_CMMA};
		CHECK_RET(KVM_IOCTL(e->c.g.vm, KVM_SET_DEVICE_ATTR, &a), 0);
	}
	if (without_147) {
		static struct kvm_s390_vm_cpu_processor proc;
		struct kvm_device_attr a = {.group = KVM_S390_VM_CPU_MODEL, .attr = KVM_S390_VM_CPU_PROCESSOR,
					    .addr = (uintptr_t)&proc};
		CHECK_RET(KVM_IOCTL(e->c.g.vm, KVM_GET_DEVICE_ATTR, &a), 0);
		CHECK(fac_test(proc.fac_list, 147)); /* KVM offers it on a z16 */
		fac_clear(proc.fac_list, 147);
		CHECK_RET(KVM_IOCTL(e->c.g.vm, KVM_SET_DEVICE_ATTR, &a), 0);
	}
	e->c.vcpu = KVM_IOCTL(e->c.g.vm, KVM_CREATE_VCPU, 0);
	CHECK(e->c.vcpu >= 0);
	e->c.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, e->c.vcpu, 0);
	CHECK(e->c.run != MAP_FAILED);
	CHECK_RET(SET_GUEST(e->c.vcpu, guest_main, e), 0);
	e->body = body_essa;
	store_be64(e->c.g.mem + 0x1d0, PSW_64);
	store_be64(e->c.g.mem + 0x1d8, 0x7000);
	ok = true;
done:
	return ok;
}

static bool test_essa(void)
{
	bool ok = false;
	struct env e;
	/* Without CMMA, ESSA is an operation exception. */
	CHECK(essa_env(&e, false, false));
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == (0x100 | 1) && e.r[1] == (0x100 | 1));
	env_close(&e);
	/* With CMMA and a CPU model without facility 147, code 7 is a specification exception. */
	CHECK(essa_env(&e, true, true));
	CHECK_RET(run(&e), 0);
	CHECK(e.r[4] == 8 && e.r[5] == (0x100 | 6));
	env_close(&e);
	/* With CMMA and the default model. */
	CHECK(essa_env(&e, true, false));
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == 0 && e.r[1] == 4 && e.r[2] == 4 && e.r[3] == 8);
	if (!(e.r[4] == 8 && e.r[5] == 12 && e.r[6] == 0x20 && e.r[7] == 0))
		FAIL("essa results %#llx %#llx %#llx %#llx", e.r[4], e.r[5], e.r[6], e.r[7]);
	CHECK(e.r[8] == (0x100 | 6) && e.r[9] == (0x100 | 5));
	CHECK(e.r[10] == (0x100 | 2) && e.r[11] == 0);
	/* The host reads the page states the guest set: stable (NODAT cleared), volatile. */
	uint8_t vals[8];
	struct kvm_s390_cmma_log log = {.start_gfn = 5, .count = 2, .flags = KVM_S390_CMMA_PEEK, .values = (uintptr_t)vals};
	CHECK_RET(KVM_IOCTL(e.c.g.vm, KVM_S390_GET_CMMA_BITS, &log), 0);
	CHECK(log.count == 2 && vals[0] == 0 && vals[1] == 3);
	ok = true;
done:
	env_close(&e);
	return ok;
}

static struct kvm_s390_shim_exit body_translate(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	int (*tr)(struct kvm_s390_shim_guest *, uint64_t, uint8_t, uint64_t *) = G(translate);
	uint64_t (*get)(struct kvm_s390_shim_guest *, uint8_t, uint32_t) = G(get_reg);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	e->r[0] = tr(cpu, 0x123, 0, &e->v[0]); /* DAT off: real 0 is the prefix frame */
	e->r[1] = tr(cpu, 0x3123, 0, &e->v[1]);
	set(cpu, 'p', 0, PSW_64 | PSW_DAT);
	e->r[2] = tr(cpu, VA + 0x123, 0, &e->v[2]);
	e->r[3] = tr(cpu, VA + 0x4000, 0, &e->v[3]); /* invalid page: reported, not presented */
	e->v[4] = get(cpu, 'p', 1);
	errno = 0;
	e->r[4] = tr(cpu, VA, 0, NULL);
	e->r[5] = errno;
	return diag_501();
}

static bool test_translate(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_translate;
	struct dat d;
	dat_init(&d, &e.c, 0x200000, 3);
	dat_map(&d, VA, VA_ABS);
	CHECK(set_cr(&e.c, 1, dat_asce(&d)));
	e.c.g.mem[PREFIX + 0x8f] = 0xee;
	load_psw_prefix(&e, PSW_64, 0x1000, PREFIX);
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == 0 && e.v[0] == PREFIX + 0x123);
	CHECK(e.r[1] == 0 && e.v[1] == 0x3123);
	CHECK(e.r[2] == 0 && e.v[2] == VA_ABS + 0x123);
	CHECK(e.r[3] == 0x11 && e.v[3] == 0);
	CHECK(e.v[4] == 0x1000 && e.c.g.mem[PREFIX + 0x8f] == 0xee);
	CHECK(e.r[4] == -1 && e.r[5] == EFAULT);
	ok = true;
done:
	env_close(&e);
	return ok;
}

/* ---- several vCPUs at once ------------------------------------------------------------------ */

#define NCPU 4
#define INCREMENTS 20000
#define COUNTER 0x6000ull

struct worker {
	int vcpu;
	struct kvm_run *run;
	int result;
};

/* Increments the big-endian counter with CS, retrying on a changed value. */
static struct kvm_s390_shim_exit guest_increment(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)opaque;
	int (*cs)(struct kvm_s390_shim_guest *, uint64_t, size_t, void *, const void *, uint8_t) = G(cs);
	int (*rd)(struct kvm_s390_shim_guest *, uint64_t, void *, size_t, uint8_t) = G(read);
	int (*set)(struct kvm_s390_shim_guest *, uint8_t, uint32_t, uint64_t) = G(set_reg);
	uint8_t old[8], new[8];
	if (rd(cpu, COUNTER, old, 8, 0) != 0)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
	uint64_t failures = 0;
	for (int i = 0; i < INCREMENTS; i++) {
		int cc;
		do {
			store_be64(new, load_be64(old) + 1);
			cc = cs(cpu, COUNTER, 8, old, new, 0);
			failures += cc == 1;
		} while (cc == 1);
		if (cc != 0)
			return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
		memcpy(old, new, 8);
	}
	set(cpu, 'g', 2, failures);
	return diag_501();
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->result = KVM_IOCTL(w->vcpu, KVM_RUN, 0) == 0 && exit_was_hypercall(w->run);
	return NULL;
}

static bool test_concurrent_vcpus(void)
{
	bool ok = false;
	struct guest g;
	struct worker w[NCPU];
	pthread_t th[NCPU];
	int started = 0;
	CHECK(guest_open(&g, 0));
	for (int i = 0; i < NCPU; i++) {
		w[i].vcpu = KVM_IOCTL(g.vm, KVM_CREATE_VCPU, i);
		CHECK(w[i].vcpu >= 0);
		w[i].run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w[i].vcpu, 0);
		CHECK(w[i].run != MAP_FAILED);
		/* Each CPU its own lowcore. */
		w[i].run->s.regs.prefix = 0x10000 + 0x2000 * (uint64_t)i;
		w[i].run->kvm_dirty_regs = KVM_SYNC_PREFIX;
		w[i].run->psw_mask = PSW_64;
		CHECK_RET(SET_GUEST(w[i].vcpu, guest_increment, NULL), 0);
	}
	for (; started < NCPU; started++)
		CHECK(pthread_create(&th[started], NULL, worker_main, &w[started]) == 0);
	/* Meanwhile the host increments the same counter with memop cmpxchg. */
	uint64_t host_failures = 0;
	for (int i = 0; i < INCREMENTS; i++) {
		for (;;) {
			uint8_t cur[8], want[8];
			struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_READ, COUNTER, 8, cur, NO_KEY, 0);
			CHECK_RET(vm_memop(g.vm, m), 0);
			store_be64(want, load_be64(cur) + 1);
			m = mop(KVM_S390_MEMOP_ABSOLUTE_CMPXCHG, COUNTER, 8, want, NO_KEY, 0);
			m.old_addr = (uintptr_t)cur;
			uint8_t expected[8];
			memcpy(expected, cur, 8);
			CHECK_RET(vm_memop(g.vm, m), 0);
			if (memcmp(cur, expected, 8) == 0)
				break;
			host_failures++;
		}
	}
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	started = 0;
	for (int i = 0; i < NCPU; i++)
		CHECK(w[i].result);
	CHECK(load_be64(g.mem + COUNTER) == (uint64_t)(NCPU + 1) * INCREMENTS);
	uint64_t guest_failures = 0;
	for (int i = 0; i < NCPU; i++)
		guest_failures += w[i].run->s.regs.gprs[2];
	printf("# counter %llu, CS retries %llu (guests) %llu (host)\n", (unsigned long long)load_be64(g.mem + COUNTER),
	       (unsigned long long)guest_failures, (unsigned long long)host_failures);
	ok = true;
done:
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	return ok;
}

/* ---- the VM's TOD set from two running guest functions at once ------------------------------- */

struct tod_setter {
	int vm;
	pthread_barrier_t *both_running;
	int errors;
};

/* Sets the VM's TOD many times while the other vCPU's guest function does the same: every
 * set updates both vCPUs, neither of which leaves its guest function meanwhile. */
static struct kvm_s390_shim_exit guest_set_tod(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)cpu;
	struct tod_setter *t = opaque;
	pthread_barrier_wait(t->both_running);
	for (int i = 0; i < 2000; i++) {
		uint64_t tod = 0x1000000000000000ull + (uint64_t)i;
		struct kvm_device_attr a = {.group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = (uintptr_t)&tod};
		if (KVM_IOCTL(t->vm, KVM_SET_DEVICE_ATTR, &a) != 0)
			t->errors++;
	}
	return diag_501();
}

struct tod_worker {
	int vcpu;
	struct kvm_run *run;
	int result;
};

static void *tod_worker_main(void *arg)
{
	struct tod_worker *w = arg;
	w->result = KVM_IOCTL(w->vcpu, KVM_RUN, 0) == 0 && exit_was_hypercall(w->run);
	return NULL;
}

static bool test_tod_from_two_guests(void)
{
	bool ok = false;
	struct guest g;
	struct tod_worker w[2];
	pthread_t th[2];
	pthread_barrier_t barrier;
	int started = 0;
	CHECK(pthread_barrier_init(&barrier, NULL, 2) == 0);
	/* A deadlock would hang here: the default SIGALRM action ends the test instead. */
	alarm(60);
	CHECK(guest_open(&g, 0));
	struct tod_setter setter = {.vm = g.vm, .both_running = &barrier};
	for (int i = 0; i < 2; i++) {
		w[i].vcpu = KVM_IOCTL(g.vm, KVM_CREATE_VCPU, i);
		CHECK(w[i].vcpu >= 0);
		w[i].run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, w[i].vcpu, 0);
		CHECK(w[i].run != MAP_FAILED);
		w[i].run->psw_mask = PSW_64;
		CHECK_RET(SET_GUEST(w[i].vcpu, guest_set_tod, &setter), 0);
	}
	for (; started < 2; started++)
		CHECK(pthread_create(&th[started], NULL, tod_worker_main, &w[started]) == 0);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	started = 0;
	CHECK(w[0].result && w[1].result);
	CHECK(setter.errors == 0);
	/* Both vCPUs hold the VM's epoch, which the VM's TOD attribute reflects. */
	uint64_t epoch[2];
	for (int i = 0; i < 2; i++) {
		struct kvm_one_reg r = {.id = KVM_REG_S390_EPOCHDIFF, .addr = (uintptr_t)&epoch[i]};
		CHECK_RET(KVM_IOCTL(w[i].vcpu, KVM_GET_ONE_REG, &r), 0);
	}
	CHECK(epoch[0] == epoch[1]);
	ok = true;
done:
	alarm(0);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&barrier);
	return ok;
}

/* ---- re-entry and bad arguments ------------------------------------------------------------- */

static int other_vcpu = -1;
static int outer_vcpu = -1;
static long long nested_r[4];

static struct kvm_s390_shim_exit body_reentry(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	(void)cpu;
	struct kvm_regs r;
	errno = 0;
	e->r[0] = KVM_IOCTL(e->c.vcpu, KVM_GET_REGS, &r);
	e->r[1] = errno;
	errno = 0;
	e->r[2] = SET_GUEST(e->c.vcpu, NULL, NULL);
	e->r[3] = errno;
	e->r[4] = KVM_IOCTL(other_vcpu, KVM_GET_REGS, &r);
	/* Another vCPU's guest function may run from inside this one. */
	e->r[5] = KVM_IOCTL(other_vcpu, KVM_RUN, 0);
	uint8_t b[4];
	struct kvm_s390_mem_op m = mop(KVM_S390_MEMOP_ABSOLUTE_READ, 0, 4, b, NO_KEY, 0);
	e->r[6] = vm_memop(e->c.g.vm, m);
	/* After the nested run, this vCPU is still ours. */
	errno = 0;
	e->r[7] = KVM_IOCTL(e->c.vcpu, KVM_GET_REGS, &r);
	e->r[8] = errno;
	/* A VM attribute that updates every vCPU, this one included: the TOD clock. */
	uint64_t tod = 0x1234567800000000ull;
	struct kvm_device_attr a = {.group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = (uintptr_t)&tod};
	e->r[9] = KVM_IOCTL(e->c.g.vm, KVM_SET_DEVICE_ATTR, &a);
	return diag_501();
}

/* The nested guest: it is inside the outer vCPU's guest function too, so ioctls on the outer
 * vCPU must not wait for it either. */
static struct kvm_s390_shim_exit guest_other(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)opaque;
	struct kvm_regs r;
	SHIM_API(kvm_s390_shim_guest_set_reg)(cpu, 'g', 9, 99);
	errno = 0;
	nested_r[0] = KVM_IOCTL(outer_vcpu, KVM_GET_REGS, &r);
	nested_r[1] = errno;
	errno = 0;
	nested_r[2] = SET_GUEST(outer_vcpu, NULL, NULL);
	nested_r[3] = errno;
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 8};
}

static bool test_reentry(void)
{
	bool ok = false;
	struct env e;
	CHECK(env_open(&e));
	e.body = body_reentry;
	other_vcpu = KVM_IOCTL(e.c.g.vm, KVM_CREATE_VCPU, 1);
	CHECK(other_vcpu >= 0);
	struct kvm_run *other_run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, other_vcpu, 0);
	CHECK(other_run != MAP_FAILED);
	CHECK_RET(SET_GUEST(other_vcpu, guest_other, NULL), 0);
	outer_vcpu = e.c.vcpu;
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == -1 && e.r[1] == EDEADLK);
	CHECK(e.r[2] == -1 && e.r[3] == EDEADLK);
	CHECK(e.r[4] == 0 && e.r[5] == 0 && e.r[6] == 0);
	CHECK(e.r[7] == -1 && e.r[8] == EDEADLK);
	CHECK(other_run->exit_reason == KVM_EXIT_S390_SIEIC && other_run->s390_sieic.icptcode == 8);
	CHECK(other_run->s.regs.gprs[9] == 99);
	CHECK(nested_r[0] == -1 && nested_r[1] == EDEADLK);
	CHECK(nested_r[2] == -1 && nested_r[3] == EDEADLK);
	/* The TOD set from inside the guest function reached both vCPUs. */
	CHECK(e.r[9] == 0);
	uint64_t ep0 = 0, ep1 = 1;
	struct kvm_one_reg reg = {.id = KVM_REG_S390_EPOCHDIFF, .addr = (uintptr_t)&ep0};
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_ONE_REG, &reg), 0);
	reg.addr = (uintptr_t)&ep1;
	CHECK_RET(KVM_IOCTL(other_vcpu, KVM_GET_ONE_REG, &reg), 0);
	CHECK(ep0 == ep1 && ep0 != 0);
	/* Outside the guest function the vCPU is usable again. */
	struct kvm_regs r;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_REGS, &r), 0);
	munmap(other_run, 4096);
	ok = true;
done:
	if (other_vcpu >= 0)
		KVM_CLOSE(other_vcpu);
	env_close(&e);
	return ok;
}

static struct kvm_s390_shim_guest *saved_handle;
static long long thread_r[2];

static void *use_handle_elsewhere(void *arg)
{
	uint8_t b[8];
	errno = 0;
	thread_r[0] = G(read)(arg, 0x1000, b, 8, 0);
	thread_r[1] = errno;
	return NULL;
}

static struct kvm_s390_shim_exit body_misuse(struct kvm_s390_shim_guest *cpu, struct env *e)
{
	static uint8_t big[65537];
	int (*rd)(struct kvm_s390_shim_guest *, uint64_t, void *, size_t, uint8_t) = G(read);
	int (*wr)(struct kvm_s390_shim_guest *, uint64_t, const void *, size_t, uint8_t) = G(write);
	int (*cs)(struct kvm_s390_shim_guest *, uint64_t, size_t, void *, const void *, uint8_t) = G(cs);
	uint64_t a;
	saved_handle = cpu;
	errno = 0;
	e->r[0] = rd(cpu, 0x1000, big, sizeof(big), 0);
	e->r[1] = errno;
	errno = 0;
	e->r[2] = wr(cpu, 0x1000, big, sizeof(big), 0);
	e->r[3] = errno;
	e->r[4] = rd(cpu, 0x1000, big, 65536, 0);
	errno = 0;
	e->r[5] = rd(cpu, 0x1000, big, 8, 16);
	e->r[6] = errno;
	errno = 0;
	e->r[7] = cs(cpu, 0x1000, 8, big, big, 16);
	e->r[8] = errno;
	errno = 0;
	e->r[9] = G(translate)(cpu, 0x1000, 16, &a);
	e->r[10] = errno;
	/* The handle belongs to this thread. */
	pthread_t th;
	if (pthread_create(&th, NULL, use_handle_elsewhere, cpu) == 0)
		pthread_join(th, NULL);
	return diag_501();
}

static bool test_bad_args(void)
{
	bool ok = false;
	struct env e;
	int p[2] = {-1, -1};
	CHECK(env_open(&e));
	CHECK_ERR(SET_GUEST(e.c.g.vm, guest_main, &e), EINVAL);
	int sys = KVM_OPEN(O_RDWR);
	CHECK(sys >= 0);
	CHECK_ERR(SET_GUEST(sys, guest_main, &e), EINVAL);
	KVM_CLOSE(sys);
	CHECK_ERR(SET_GUEST(-1, guest_main, &e), EBADF);
	CHECK_ERR(SET_GUEST(100000, guest_main, &e), EBADF);
	CHECK(pipe(p) == 0);
	CHECK_ERR(SET_GUEST(p[0], guest_main, &e), EBADF);
	/* Operations without a running guest function. */
	uint8_t b[8];
	CHECK_ERR(G(read)(NULL, 0, b, 8, 0), EINVAL);
	CHECK_ERR(G(write)(NULL, 0, b, 8, 0), EINVAL);
	CHECK_ERR(G(sske)(NULL, 0, 0), EINVAL);
	CHECK_ERR(G(iske)(NULL, 0), EINVAL);
	CHECK_ERR(G(rrbe)(NULL, 0), EINVAL);
	CHECK_ERR(G(essa)(NULL, 0, 0), EINVAL);
	CHECK_ERR(G(cs)(NULL, 0, 8, b, b, 0), EINVAL);
	uint64_t a;
	CHECK_ERR(G(translate)(NULL, 0, 0, &a), EINVAL);
	CHECK_ERR(G(set_reg)(NULL, 'g', 0, 0), EINVAL);
	CHECK(G(get_reg)(NULL, 'g', 0) == 0);
	/* Bad lengths and access registers; the handle from another thread or after return. */
	e.body = body_misuse;
	CHECK_RET(run(&e), 0);
	CHECK(e.r[0] == -1 && e.r[1] == E2BIG);
	CHECK(e.r[2] == -1 && e.r[3] == E2BIG);
	CHECK(e.r[4] == 0);
	CHECK(e.r[5] == -1 && e.r[6] == EINVAL);
	CHECK(e.r[7] == -1 && e.r[8] == EINVAL);
	CHECK(e.r[9] == -1 && e.r[10] == EINVAL);
	CHECK(thread_r[0] == -1 && thread_r[1] == EINVAL);
	CHECK_ERR(G(read)(saved_handle, 0x1000, b, 8, 0), EINVAL);
	CHECK_ERR(G(set_reg)(saved_handle, 'g', 0, 0), EINVAL);
	ok = true;
done:
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	env_close(&e);
	return ok;
}

int main(void)
{
	RUN(test_exits);
	RUN(test_registers);
	RUN(test_storage);
	RUN(test_keys);
	RUN(test_cs);
	RUN(test_essa);
	RUN(test_translate);
	RUN(test_concurrent_vcpus);
	RUN(test_tod_from_two_guests);
	RUN(test_reentry);
	RUN(test_bad_args);
	DONE();
}
