/*
 * KVM_RUN executes s390x guest code when no guest function is registered: the registers
 * travel through kvm_run and the register ioctls, DIAG 0x501 leaves with the instruction
 * intercept, program interruptions go through the lowcore as on KVM, and COMPARE AND SWAP is
 * atomic with respect to the host's atomics on the same word.
 */
#include "test.h"
#include "vcpu.h"

#define PSW_WAIT (1ull << 49)
#define CR0_LAP (1ull << 28)

static void code(struct cpu *c, uint64_t gpa, const uint8_t *bytes, size_t n)
{
	memcpy(c->g.mem + gpa, bytes, n);
}

static bool run_to_exit(struct cpu *c)
{
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == 0 && c->run->exit_reason == KVM_EXIT_S390_SIEIC;
}

/* Two DIAG 0x501 exits: the intercept contents, the registers at each exit, and the PSW after
 * the DIAG (the next KVM_RUN continues there). */
static bool test_diag_501_exits(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa7, 0x19, 0x00, 0x05, /* lghi %r1,5 */
		0xa7, 0x1a, 0x00, 0x01, /* ahi %r1,1 */
		0x83, 0x01, 0x05, 0x01, /* diag %r0,%r1,0x501 */
		0xa7, 0x1a, 0x00, 0x01, /* ahi %r1,1 */
		0x83, 0x01, 0x05, 0x01, /* diag %r0,%r1,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK(run_to_exit(&c));
	CHECK(c.run->s390_sieic.icptcode == 4 && c.run->s390_sieic.ipa == 0x8301 &&
	      c.run->s390_sieic.ipb == 0x05010000);
	CHECK(c.run->s.regs.gprs[1] == 6 && c.run->psw_addr == 0x100c);
	struct kvm_regs r;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_REGS, &r), 0);
	CHECK(r.gprs[1] == 6);
	/* A register set between two runs reaches the guest. */
	r.gprs[1] = 100;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_REGS, &r), 0);
	CHECK(run_to_exit(&c));
	CHECK(c.run->s.regs.gprs[1] == 101 && c.run->psw_addr == 0x1014);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* DIAG 0x501 as the target of EXECUTE RELATIVE LONG: the intercept names the target's bytes
 * (with R1's byte ORed in) and the PSW goes past the EXRL, not past the target. */
static bool test_intercept_under_execute(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa7, 0x29, 0x00, 0x10,             /* 1000: lghi %r2,0x10 */
		0xc6, 0x20, 0x00, 0x00, 0x00, 0x08, /* 1004: exrl %r2,1014 */
		0xa7, 0x1a, 0x00, 0x01,             /* 100a: ahi %r1,1 */
		0x83, 0x01, 0x05, 0x01,             /* 100e: diag %r0,%r1,0x501 */
		0x07, 0x07,                         /* 1012: nopr */
		0x83, 0x01, 0x05, 0x01,             /* 1014: diag %r0,%r1,0x501 (target) */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK(run_to_exit(&c));
	CHECK(c.run->s390_sieic.icptcode == 4 && c.run->s390_sieic.ipa == 0x8311 &&
	      c.run->s390_sieic.ipb == 0x05010000);
	CHECK(c.run->psw_addr == 0x100a);
	/* The next run continues after the EXRL. */
	CHECK(run_to_exit(&c));
	CHECK(c.run->s390_sieic.ipa == 0x8301 && c.run->psw_addr == 0x1012 &&
	      c.run->s.regs.gprs[1] == 1);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* An operation exception and a low-address-protection exception: code, ILC, old PSW (after the
 * instruction) and TEID in the lowcore, then the program new PSW runs. */
static bool test_program_interruptions(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	set_pgm_handler(&c, 0x3000);
	static const uint8_t bad[] = {0x00, 0x00};
	code(&c, 0x1000, bad, sizeof(bad));
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK(run_to_exit(&c) && c.run->psw_addr == 0x3004);
	CHECK(load_be16(c.g.mem + 0x8e) == 0x01 && load_be16(c.g.mem + 0x8c) == 2);
	CHECK(get64(&c, 0x150) == PSW_64 && get64(&c, 0x158) == 0x1002);

	/* mvi 0x100,1 with low-address protection on: suppressed, PSW after the instruction. */
	static const uint8_t store_low[] = {0x92, 0x01, 0x01, 0x00};
	code(&c, 0x1000, store_low, sizeof(store_low));
	struct kvm_sregs s;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s), 0);
	s.crs[0] |= CR0_LAP;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SREGS, &s), 0);
	c.run->psw_addr = 0x1000;
	c.g.mem[0x100] = 0;
	CHECK(run_to_exit(&c) && c.run->psw_addr == 0x3004);
	CHECK(load_be16(c.g.mem + 0x8e) == 0x04 && load_be16(c.g.mem + 0x8c) == 4);
	CHECK(get64(&c, 0x158) == 0x1004 && c.g.mem[0x100] == 0);
	/* TEID: a store (bit 52), low-address protection (bit 56). */
	CHECK(get64(&c, 0xa8) == 0x480);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

struct host_adder {
	uint32_t *word;
	int n;
};

/* Big-endian increments with the host's compare-and-exchange. */
static void *host_adds(void *arg)
{
	struct host_adder *h = arg;
	for (int i = 0; i < h->n; i++) {
		uint32_t old = __atomic_load_n(h->word, __ATOMIC_SEQ_CST), new;
		do
			new = htobe32(be32toh(old) + 1);
		while (!__atomic_compare_exchange_n(h->word, &old, new, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
	}
	return NULL;
}

/* The guest increments a word 20000 times with CS while a host thread does the same with its
 * own atomics: no increment is lost. */
static bool test_cs_is_atomic_with_the_host(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa7, 0x39, 0x20, 0x00, /* 1000: lghi %r3,0x2000 */
		0xa7, 0x48, 0x4e, 0x20, /* 1004: lhi %r4,20000 */
		0x58, 0x20, 0x30, 0x00, /* 1008: l %r2,0(%r3) */
		0x18, 0x52,             /* 100c: lr %r5,%r2 */
		0xa7, 0x5a, 0x00, 0x01, /* 100e: ahi %r5,1 */
		0xba, 0x25, 0x30, 0x00, /* 1012: cs %r2,%r5,0(%r3) */
		0xa7, 0x44, 0xff, 0xfb, /* 1016: jl 100c */
		0xa7, 0x46, 0xff, 0xf7, /* 101a: brct %r4,1008 */
		0x83, 0x00, 0x05, 0x01, /* 101e: diag 0,0,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	memset(c.g.mem + 0x2000, 0, 4);
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	struct host_adder h = {(uint32_t *)(c.g.mem + 0x2000), 20000};
	pthread_t th;
	CHECK(pthread_create(&th, NULL, host_adds, &h) == 0);
	bool exited = run_to_exit(&c);
	pthread_join(th, NULL);
	CHECK(exited && c.run->psw_addr == 0x1022);
	CHECK(load_be32(c.g.mem + 0x2000) == 40000);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* A disabled wait PSW leaves KVM_RUN with the wait intercept (0x1c). */
static bool test_disabled_wait_exits(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	c.run->psw_mask = PSW_64 | PSW_WAIT;
	c.run->psw_addr = 0x1000;
	CHECK(run_to_exit(&c) && c.run->s390_sieic.icptcode == 0x1c);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* KVM_SET_GUEST_DEBUG: unknown control flags are EINVAL; single-stepping runs one instruction
 * per KVM_RUN and exits with KVM_EXIT_DEBUG (KVM_SINGLESTEP, the next instruction's address). */
static bool test_single_step(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa7, 0x19, 0x00, 0x05, /* lghi %r1,5 */
		0xa7, 0x1a, 0x00, 0x01, /* ahi %r1,1 */
		0x83, 0x00, 0x05, 0x01, /* diag 0,0,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	struct kvm_guest_debug dbg = {.control = KVM_GUESTDBG_ENABLE | 0x100};
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_GUEST_DEBUG, &dbg), EINVAL);
	dbg.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_GUEST_DEBUG, &dbg), 0);
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	/* kvm_run.debug.arch (struct kvm_debug_exit_arch: addr, type) starts the exit union. */
	const uint8_t *dbg_exit = (const uint8_t *)&c.run->s390_sieic;
	uint64_t per_addr;
	memcpy(&per_addr, dbg_exit, 8);
	CHECK(c.run->exit_reason == KVM_EXIT_DEBUG && dbg_exit[8] == KVM_SINGLESTEP);
	CHECK(c.run->psw_addr == 0x1004 && per_addr == 0x1004 && c.run->s.regs.gprs[1] == 5);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_DEBUG && c.run->psw_addr == 0x1008 && c.run->s.regs.gprs[1] == 6);
	/* Debugging off: the guest runs to its DIAG. */
	dbg.control = 0;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_GUEST_DEBUG, &dbg), 0);
	CHECK(run_to_exit(&c) && c.run->s390_sieic.ipa == 0x8300 && c.run->psw_addr == 0x100c);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

struct runner_result {
	struct cpu *c;
	bool exited;
	int done;
};

static void *run_thread(void *arg)
{
	struct runner_result *r = arg;
	r->exited = run_to_exit(r->c);
	__atomic_store_n(&r->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* A memory slot deleted and re-created under a guest that keeps reading it: once the delete
 * has returned the guest never reads the old memory again (the executor's TLB keeps host
 * addresses only for the slots snapshot they came from). The guest loops while it reads 0xaa
 * bytes (slot 1's first memory), takes the addressing exceptions of the gap back to its loop,
 * and leaves with DIAG 0x501 when it reads anything else: the new slot's 0xbb, or the 0xcc
 * that replaced the old memory at the same host address if a stale translation survived. */
static bool test_slot_replaced_under_a_running_guest(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct cpu c = {.vcpu = -1};
	const uint64_t gpa = 0x10000000;
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa5, 0x1e, 0x10, 0x00,             /* 1000: llilh %r1,0x1000 */
		0xc0, 0x39, 0xaa, 0xaa, 0xaa, 0xaa, /* 1004: iilf %r3,0xaaaaaaaa */
		0x58, 0x20, 0x10, 0x00,             /* 100a: l %r2,0(%r1) */
		0x19, 0x23,                         /* 100e: cr %r2,%r3 */
		0xa7, 0x84, 0xff, 0xfd,             /* 1010: je 100a */
		0x83, 0x00, 0x05, 0x01,             /* 1014: diag 0,0,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	/* The program new PSW: back to the load. */
	uint64_t pgm_new[2] = {htobe64(PSW_64), htobe64(0x100a)};
	memcpy(c.g.mem + 0x1d0, pgm_new, 16);
	uint8_t *a = map_aligned(MiB, MiB), *b = map_aligned(MiB, MiB);
	CHECK(a && b);
	memset(a, 0xaa, MiB);
	memset(b, 0xbb, MiB);
	CHECK_RET(set_region(c.g.vm, 1, 0, gpa, MiB, a), 0);
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	struct runner_result r = {&c, false, 0};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(50000);
	CHECK_RET(set_region(c.g.vm, 1, 0, gpa, 0, a), 0);
	/* The old memory's host address now holds other bytes. */
	CHECK(mmap(a, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == a);
	memset(a, 0xcc, MiB);
	/* Until the guest has met the gap (or, reading stale memory, has left). */
	for (int i = 0; i < 5000 && load_be16(c.g.mem + 0x8e) != 5 &&
			!__atomic_load_n(&r.done, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	CHECK_RET(set_region(c.g.vm, 1, 0, gpa, MiB, b), 0);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && c.run->s390_sieic.ipa == 0x8300);
	if (c.run->s.regs.gprs[2] != 0xbbbbbbbb)
		FAIL("the guest read %#llx", (unsigned long long)c.run->s.regs.gprs[2]);
	/* The gap was an addressing exception (code 5) to the guest. */
	CHECK(load_be16(c.g.mem + 0x8e) == 5);
	ok = true;
done:
	if (!joined)
		pthread_join(th, NULL);
	cpu_close(&c);
	return ok;
}

/* A machine check taken while guest code runs stores the registers the guest has now in the
 * lowcore save areas (general registers at 0x1280), not those KVM_RUN started with. */
static bool test_machine_check_saves_current_registers(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xa7, 0x59, 0x12, 0x34, /* 1000: lghi %r5,0x1234 */
		0xa7, 0xf4, 0x00, 0x00, /* 1004: j 1004 */
	};
	static const uint8_t handler[] = {
		0x83, 0x00, 0x05, 0x01, /* 2000: diag 0,0,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	code(&c, 0x2000, handler, sizeof(handler));
	uint64_t mck_new[2] = {htobe64(PSW_64), htobe64(0x2000)};
	memcpy(c.g.mem + 0x1e0, mck_new, 16);
	/* Channel-report-pending machine checks enabled in CR14 and the PSW (bit 13). */
	CHECK(set_cr(&c, 14, 1ull << 28));
	c.run->psw_mask = PSW_64 | (1ull << 50);
	c.run->psw_addr = 0x1000;
	struct runner_result r = {&c, false, 0};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(50000);
	struct kvm_s390_interrupt mchk = {.type = KVM_S390_MCHK, .parm = 1u << 28, .parm64 = 1ull << 56};
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_S390_INTERRUPT, &mchk), 0);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && c.run->s390_sieic.ipa == 0x8300 && c.run->psw_addr == 0x2004);
	/* The machine-check old PSW points into the loop; the save area holds r5 = 0x1234. */
	CHECK(load_be64(c.g.mem + 0x168) == 0x1004);
	if (load_be64(c.g.mem + 0x1280 + 5 * 8) != 0x1234)
		FAIL("saved r5 = %#llx", (unsigned long long)load_be64(c.g.mem + 0x1280 + 5 * 8));
	ok = true;
done:
	if (!joined) {
		struct kvm_s390_interrupt mchk = {.type = KVM_S390_MCHK, .parm = 1u << 28, .parm64 = 1ull << 56};
		KVM_IOCTL(c.g.vm, KVM_S390_INTERRUPT, &mchk);
		pthread_join(th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/*
 * COMPARE AND SWAP AND STORE checks its store operand before it swaps: with the store operand
 * in a page whose key the PSW key does not match, a protection exception and neither operand
 * changed; with the key matching, the swap value and the store value from the parameter list.
 */
static bool test_csst_checks_the_store_operand_first(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	set_pgm_handler(&c, 0x3000);
	static const uint8_t prog[] = {
		0xc8, 0x62, 0x40, 0x00, 0x50, 0x00, /* 1000: csst 0(%r4),0(%r5),%r6 */
		0x83, 0x00, 0x05, 0x01,             /* 1006: diag 0,0,0x501 */
	};
	code(&c, 0x1000, prog, sizeof(prog));
	put64(&c, 0x5000, 0x1111111111111111ull);
	put64(&c, 0x6000, 0x2222222222222222ull);
	put64(&c, 0x7000, 0xaaaaaaaaaaaaaaaaull);  /* the swap value */
	put64(&c, 0x7010, 0xbbbbbbbbbbbbbbbbull);  /* the store value */
	CHECK_RET(set_keys(c.g.vm, 5, 1, 0x60), 0);
	CHECK_RET(set_keys(c.g.vm, 6, 1, 0x50), 0);
	for (int matching = 0; matching < 2; matching++) {
		c.run->psw_mask = PSW_64 | 6ull << 52; /* PSW key 6 */
		c.run->psw_addr = 0x1000;
		c.run->s.regs.gprs[0] = 1 | 3 << 8; /* 8-byte swap, 8-byte store */
		c.run->s.regs.gprs[1] = 0x7000;
		c.run->s.regs.gprs[4] = 0x5000;
		c.run->s.regs.gprs[5] = 0x6000;
		c.run->s.regs.gprs[6] = 0x1111111111111111ull;
		c.run->kvm_dirty_regs = KVM_SYNC_GPRS;
		CHECK(run_to_exit(&c));
		if (!matching) {
			CHECK(c.run->psw_addr == 0x3004 && load_be16(c.g.mem + 0x8e) == 0x04);
			CHECK(get64(&c, 0x5000) == 0x1111111111111111ull);
			CHECK(get64(&c, 0x6000) == 0x2222222222222222ull);
			CHECK_RET(set_keys(c.g.vm, 6, 1, 0x60), 0);
		} else {
			CHECK(c.run->psw_addr == 0x100a && ((c.run->psw_mask >> 44) & 3) == 0);
			CHECK(get64(&c, 0x5000) == 0xaaaaaaaaaaaaaaaaull);
			CHECK(get64(&c, 0x6000) == 0xbbbbbbbbbbbbbbbbull);
		}
	}
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	alarm(120);
	RUN(test_single_step);
	RUN(test_diag_501_exits);
	RUN(test_intercept_under_execute);
	RUN(test_program_interruptions);
	RUN(test_cs_is_atomic_with_the_host);
	RUN(test_disabled_wait_exits);
	RUN(test_slot_replaced_under_a_running_guest);
	RUN(test_machine_check_saves_current_registers);
	RUN(test_csst_checks_the_store_operand_first);
	DONE();
}
