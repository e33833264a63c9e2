/*
 * SIGNAL PROCESSOR between two vCPUs of one VM, as KVM executes it (arch/s390/kvm/sigp.c):
 * the condition code and the status in R1 for each order, the interrupts an order makes
 * pending on its target (and the kick that wakes a waiting target), SIGP STOP ending the
 * target's KVM_RUN with the stop intercept, the orders left to userspace (the SIGP
 * instruction intercept), and KVM_CAP_S390_USER_SIGP, which keeps only the fast orders in
 * the kernel. Counters through the vCPU stats file.
 *
 * vCPU A (id 1) issues every SIGP from one program: sigp %r2,%r4,0(%r5) with the order in r5,
 * the CPU address in r4, the parameter in r3 (R1 = 2 is even: the parameter is R1 + 1) and
 * the status in r2; ipm %r6 takes the condition code; DIAG 0x501 leaves. vCPU B (id 2) has
 * its lowcore at 0x10000.
 */
#include "test.h"
#include "vcpu.h"
#include "attr.h"

#define PSW_WAIT (1ull << 49)
#define PSW_EXT (1ull << 56)
#define PSW_PSTATE (1ull << 48)
#define CR0_EMERGENCY_SUBMASK (1ull << 14)

#define ID_A 1
#define ID_B 2
#define B_PREFIX 0x10000ull

/* Order codes and status bits (asm/sigp.h). */
#define SIGP_SENSE 0x01
#define SIGP_EXTERNAL_CALL 0x02
#define SIGP_EMERGENCY_SIGNAL 0x03
#define SIGP_START 0x04
#define SIGP_STOP 0x05
#define SIGP_RESTART 0x06
#define SIGP_STOP_AND_STORE_STATUS 0x09
#define SIGP_INITIAL_CPU_RESET 0x0b
#define SIGP_CPU_RESET 0x0c
#define SIGP_SET_PREFIX 0x0d
#define SIGP_STORE_STATUS_AT_ADDRESS 0x0e
#define SIGP_SET_ARCHITECTURE 0x12
#define SIGP_COND_EMERGENCY_SIGNAL 0x13
#define SIGP_SENSE_RUNNING 0x15
#define SIGP_UNASSIGNED 0x16

#define ST_INVALID_ORDER 0x002
#define ST_STOPPED 0x040
#define ST_EXT_CALL_PENDING 0x080
#define ST_INVALID_PARAMETER 0x100
#define ST_INCORRECT_STATE 0x200
#define ST_NOT_RUNNING 0x400

/* What sigp() returns for the SIGP instruction intercept. */
#define TO_USER 0x100

struct pair {
	struct cpu a, b;
};

static bool pair_open(struct pair *p)
{
	p->b.vcpu = -1;
	if (!cpu_open(&p->a, ID_A))
		return false;
	p->b.g = p->a.g;
	p->b.vcpu = KVM_IOCTL(p->a.g.vm, KVM_CREATE_VCPU, ID_B);
	if (p->b.vcpu < 0)
		return false;
	p->b.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p->b.vcpu, 0);
	if (p->b.run == MAP_FAILED)
		return false;
	static const uint8_t prog[] = {
		0xae, 0x24, 0x50, 0x00, /* 1000: sigp %r2,%r4,0(%r5) */
		0xb2, 0x22, 0x00, 0x60, /* 1004: ipm %r6 */
		0x83, 0x00, 0x05, 0x01, /* 1008: diag 0,0,0x501 */
	};
	memcpy(p->a.g.mem + 0x1000, prog, sizeof(prog));
	/* B: a DIAG 0x501 at 0x6000, then a counting loop; a DIAG at 0x5000 and 0x7000. */
	static const uint8_t b_prog[] = {
		0x83, 0x00, 0x05, 0x01, /* 6000: diag 0,0,0x501 */
		0xa7, 0x5a, 0x00, 0x01, /* 6004: ahi %r5,1 */
		0xa7, 0xf4, 0xff, 0xfe, /* 6008: j 6004 */
	};
	memcpy(p->a.g.mem + 0x6000, b_prog, sizeof(b_prog));
	static const uint8_t diag[] = {0x83, 0x00, 0x05, 0x01};
	memcpy(p->a.g.mem + 0x5000, diag, 4);
	memcpy(p->a.g.mem + 0x7000, diag, 4);
	p->b.run->s.regs.prefix = B_PREFIX;
	p->b.run->kvm_dirty_regs |= KVM_SYNC_PREFIX;
	p->b.run->psw_mask = PSW_64;
	p->b.run->psw_addr = 0x6000;
	return true;
}

static void pair_close(struct pair *p)
{
	if (p->b.run && p->b.run != MAP_FAILED)
		munmap(p->b.run, 4096);
	if (p->b.vcpu >= 0)
		KVM_CLOSE(p->b.vcpu);
	cpu_close(&p->a);
}

static bool run_to_exit(struct cpu *c)
{
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == 0 && c->run->exit_reason == KVM_EXIT_S390_SIEIC;
}

/* One SIGP by A: its condition code (status in *r2), TO_USER for the SIGP intercept, -1 for
 * anything else. */
static int sigp(struct pair *p, uint64_t order, uint64_t cpu_addr, uint64_t param, uint64_t *r2)
{
	struct kvm_run *r = p->a.run;
	r->s.regs.gprs[2] = *r2;
	r->s.regs.gprs[3] = param;
	r->s.regs.gprs[4] = cpu_addr;
	r->s.regs.gprs[5] = order;
	r->psw_mask = PSW_64;
	r->psw_addr = 0x1000;
	if (!run_to_exit(&p->a) || r->s390_sieic.icptcode != 4)
		return -1;
	*r2 = r->s.regs.gprs[2];
	if (r->s390_sieic.ipa == 0xae24 && r->s390_sieic.ipb == 0x50000000 && r->psw_addr == 0x1004)
		return TO_USER;
	if (r->s390_sieic.ipa != 0x8300 || r->psw_addr != 0x100c)
		return -1;
	return (int)((r->s.regs.gprs[6] >> 28) & 3);
}

/* A SIGP expected to end with condition code `cc` and R1 `want_r2` (from `r2`). */
#define SIGP_CC(p, order, addr, param, r2_in, cc, want_r2)                                     \
	do {                                                                                   \
		uint64_t r2_ = (r2_in);                                                        \
		int cc_ = sigp((p), (order), (addr), (param), &r2_);                          \
		if (cc_ != (cc) || r2_ != (uint64_t)(want_r2))                                 \
			FAIL("sigp order %#x to %#llx: cc %d r2 %#llx, want cc %d r2 %#llx",   \
			     (unsigned)(order), (unsigned long long)(addr), cc_,               \
			     (unsigned long long)r2_, (int)(cc), (unsigned long long)(want_r2)); \
	} while (0)

static int irq_state(struct cpu *c, struct kvm_s390_irq *irqs, size_t n)
{
	struct kvm_s390_irq_state s = {.buf = (uintptr_t)irqs, .len = (uint32_t)(n * sizeof(*irqs))};
	int r = KVM_IOCTL(c->vcpu, KVM_S390_GET_IRQ_STATE, &s);
	return r < 0 ? r : r / (int)sizeof(*irqs);
}

static int inject(struct cpu *c, uint64_t type)
{
	struct kvm_s390_irq irq = {.type = type};
	if (type == KVM_S390_INT_EMERGENCY)
		irq.u.emerg.code = ID_A;
	return KVM_IOCTL(c->vcpu, KVM_S390_IRQ, &irq);
}

struct runner {
	struct cpu *c;
	bool exited;
};

static void *run_thread(void *arg)
{
	struct runner *r = arg;
	r->exited = run_to_exit(r->c);
	return NULL;
}

/* B runs once to its DIAG at 0x6000 (leaving it operating), then its counting loop. */
static bool b_operating(struct pair *p)
{
	p->b.run->psw_mask = PSW_64;
	p->b.run->psw_addr = 0x6000;
	return run_to_exit(&p->b) && p->b.run->s390_sieic.ipa == 0x8300 && p->b.run->psw_addr == 0x6004;
}

static bool has_facility(int vm, unsigned nr)
{
	struct kvm_s390_vm_cpu_processor proc;
	if (GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &proc))
		return false;
	return fac_test(proc.fac_list, nr);
}

/* SENSE: an unknown CPU address is not operational (R1 untouched); a stopped CPU stores
 * "stopped" into bits 32-63 of R1, bits 0-31 stay; an operating CPU (the sender) accepts.
 * The order is the low byte of the second-operand address, the CPU address the low
 * halfword of R3. */
static bool test_sense(void)
{
	bool ok = false;
	struct pair p = {0};
	CHECK(pair_open(&p));
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0xdeadbeef12345678ull, 1, 0xdeadbeef00000040ull);
	SIGP_CC(&p, SIGP_SENSE, 7, 0, 0xdeadbeef12345678ull, 3, 0xdeadbeef12345678ull);
	SIGP_CC(&p, SIGP_SENSE, ID_A, 0, 0x12345678, 0, 0x12345678);
	SIGP_CC(&p, 0x1234500 | SIGP_SENSE, 0xabcd0000 | ID_B, 0, 0, 1, ST_STOPPED);
	/* Three orders reached a CPU; the one to the unknown address is not counted. */
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_sense") == 3);
	/* Every instruction intercept counts once: four SIGPs and four DIAG 0x501 exits. */
	CHECK(vcpu_stat(p.a.vcpu, "exit_instruction") == 8);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* EXTERNAL CALL: accepted, then "external call pending" (cc 1) while the first is pending,
 * which SENSE also reports; EMERGENCY SIGNAL is accepted; both are pending on the target with
 * the sender's CPU address. */
static bool test_external_call_and_emergency_pending(void)
{
	bool ok = false;
	struct pair p = {0};
	CHECK(pair_open(&p));
	SIGP_CC(&p, SIGP_EXTERNAL_CALL, ID_B, 0, 0, 0, 0);
	SIGP_CC(&p, SIGP_EXTERNAL_CALL, ID_B, 0, 0xffffffff00000000ull, 1,
		0xffffffff00000000ull | ST_EXT_CALL_PENDING);
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0, 1, ST_EXT_CALL_PENDING | ST_STOPPED);
	SIGP_CC(&p, SIGP_EMERGENCY_SIGNAL, ID_B, 0, 0, 0, 0);
	struct kvm_s390_irq irqs[4];
	CHECK(irq_state(&p.b, irqs, 4) == 2);
	CHECK(irqs[0].type == KVM_S390_INT_EXTERNAL_CALL && irqs[0].u.extcall.code == ID_A);
	CHECK(irqs[1].type == KVM_S390_INT_EMERGENCY && irqs[1].u.emerg.code == ID_A);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_external_call") == 2);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_emergency") == 1);
	CHECK(vcpu_stat(p.b.vcpu, "inject_external_call") == 2);
	CHECK(vcpu_stat(p.b.vcpu, "inject_emergency_signal") == 1);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* B sleeps in an enabled wait; A's EMERGENCY SIGNAL wakes it: external interruption 0x1201
 * with A's CPU address in B's lowcore, and B's external new PSW runs. */
static bool test_emergency_signal_wakes_a_waiting_target(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct pair p = {0};
	CHECK(pair_open(&p));
	CHECK(set_cr(&p.b, 0, 0xe0 | CR0_EMERGENCY_SUBMASK));
	put64(&p.b, B_PREFIX + 0x1b0, PSW_64);
	put64(&p.b, B_PREFIX + 0x1b8, 0x5000);
	p.b.run->psw_mask = PSW_64 | PSW_WAIT | PSW_EXT;
	p.b.run->psw_addr = 0x4000;
	struct runner r = {&p.b, false};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(20000);
	SIGP_CC(&p, SIGP_EMERGENCY_SIGNAL, ID_B, 0, 0, 0, 0);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && p.b.run->s390_sieic.ipa == 0x8300 && p.b.run->psw_addr == 0x5004);
	CHECK(load_be16(p.b.g.mem + B_PREFIX + 0x86) == 0x1201);
	CHECK(load_be16(p.b.g.mem + B_PREFIX + 0x84) == ID_A);
	CHECK(get64(&p.b, B_PREFIX + 0x130) == (PSW_64 | PSW_WAIT | PSW_EXT));
	ok = true;
done:
	if (!joined) {
		/* Wake B the userspace way so that the thread ends. */
		inject(&p.b, KVM_S390_INT_EMERGENCY);
		pthread_join(th, NULL);
	}
	pair_close(&p);
	return ok;
}

/* SIGP STOP ends B's KVM_RUN with the stop intercept and stops it (its registers are the
 * ones it had computed); RESTART goes to userspace, which injects the restart; while that is
 * pending every order finds B busy; B's next KVM_RUN takes it. */
static bool test_stop_and_restart(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct pair p = {0};
	CHECK(pair_open(&p));
	CHECK(b_operating(&p));
	p.b.run->s.regs.gprs[5] = 0;
	struct runner r = {&p.b, false};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(20000);
	SIGP_CC(&p, SIGP_STOP, ID_B, 0, 0, 0, 0);
	/* Busy until B has taken the stop, then stopped. */
	int cc = -1;
	uint64_t r2 = 0;
	for (int i = 0; i < 5000 && cc != 1; i++) {
		r2 = 0;
		cc = sigp(&p, SIGP_SENSE, ID_B, 0, &r2);
		if (cc == 2 || cc == 0)
			usleep(1000);
	}
	CHECK(cc == 1 && r2 == ST_STOPPED);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && p.b.run->s390_sieic.icptcode == 0x28);
	CHECK(p.b.run->s.regs.gprs[5] > 0);
	CHECK(p.b.run->psw_addr == 0x6004 || p.b.run->psw_addr == 0x6008);
	uint64_t loop_addr = p.b.run->psw_addr;
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(p.b.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
	/* RESTART is userspace's. */
	CHECK(sigp(&p, SIGP_RESTART, ID_B, 0, &r2) == TO_USER);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_restart") == 1);
	CHECK_RET(inject(&p.b, KVM_S390_RESTART), 0);
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0, 2, 0);
	SIGP_CC(&p, SIGP_RESTART, ID_B, 0, 0, 2, 0);
	SIGP_CC(&p, SIGP_EMERGENCY_SIGNAL, ID_B, 0, 0, 2, 0);
	put64(&p.b, B_PREFIX + 0x1a0, PSW_64);
	put64(&p.b, B_PREFIX + 0x1a8, 0x7000);
	CHECK(run_to_exit(&p.b) && p.b.run->s390_sieic.ipa == 0x8300 && p.b.run->psw_addr == 0x7004);
	CHECK(get64(&p.b, B_PREFIX + 0x128) == loop_addr);
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0, 0, 0);
	ok = true;
done:
	if (!joined) {
		inject(&p.b, KVM_S390_SIGP_STOP);
		pthread_join(th, NULL);
	}
	pair_close(&p);
	return ok;
}

/* STOP AND STORE STATUS: a running B stores its current registers at absolute 0x1200 when it
 * stops; a stopped B stores them at once. */
static bool test_stop_and_store_status(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct pair p = {0};
	CHECK(pair_open(&p));
	CHECK(b_operating(&p));
	p.b.run->s.regs.gprs[5] = 0;
	p.b.run->s.regs.gprs[9] = 0x9999;
	memset(p.a.g.mem + 0x1200, 0, 0x200);
	p.a.g.mem[163] = 0;
	struct runner r = {&p.b, false};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(20000);
	SIGP_CC(&p, SIGP_STOP_AND_STORE_STATUS, ID_B, 0, 0, 0, 0);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && p.b.run->s390_sieic.icptcode == 0x28);
	CHECK(p.b.run->s.regs.gprs[5] > 0);
	CHECK(get64(&p.b, 0x1280 + 5 * 8) == p.b.run->s.regs.gprs[5]);
	CHECK(get64(&p.b, 0x1280 + 9 * 8) == 0x9999);
	CHECK(get64(&p.b, 0x1308) == p.b.run->psw_addr);
	CHECK(load_be32(p.a.g.mem + 0x1318) == B_PREFIX && p.a.g.mem[163] == 1);
	/* Stopped: stored at once. */
	memset(p.a.g.mem + 0x1200, 0, 0x200);
	SIGP_CC(&p, SIGP_STOP_AND_STORE_STATUS, ID_B, 0, 0, 0, 0);
	CHECK(get64(&p.b, 0x1280 + 9 * 8) == 0x9999 && load_be32(p.a.g.mem + 0x1318) == B_PREFIX);
	SIGP_CC(&p, SIGP_STOP, ID_B, 0, 0, 0, 0);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_stop_store_status") == 2);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_stop") == 1);
	ok = true;
done:
	if (!joined) {
		inject(&p.b, KVM_S390_SIGP_STOP);
		pthread_join(th, NULL);
	}
	pair_close(&p);
	return ok;
}

/* SET PREFIX: memory outside every slot is an invalid parameter; a stopped CPU takes the
 * prefix when it next runs; an operating CPU is in the incorrect state. */
static bool test_set_prefix(void)
{
	bool ok = false;
	struct pair p = {0};
	CHECK(pair_open(&p));
	SIGP_CC(&p, SIGP_SET_PREFIX, ID_B, 0x7fffe000, 0, 1, ST_INVALID_PARAMETER);
	SIGP_CC(&p, SIGP_SET_PREFIX, ID_B, 0x20000 | 0x1fff, 0, 0, 0);
	CHECK(b_operating(&p));
	CHECK(p.b.run->s.regs.prefix == 0x20000);
	SIGP_CC(&p, SIGP_SET_PREFIX, ID_B, 0x30000, 0, 1, ST_INCORRECT_STATE);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_prefix") == 3);
	CHECK(vcpu_stat(p.b.vcpu, "deliver_prefix_signal") == 1);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* STORE STATUS AT ADDRESS: a stopped CPU's status at the 512-byte aligned address; outside
 * memory an invalid parameter; an operating CPU is in the incorrect state. */
static bool test_store_status_at_address(void)
{
	bool ok = false;
	struct pair p = {0};
	CHECK(pair_open(&p));
	struct kvm_regs regs;
	for (int i = 0; i < 16; i++)
		regs.gprs[i] = 0x1111ull * (uint64_t)(i + 1);
	CHECK_RET(KVM_IOCTL(p.b.vcpu, KVM_SET_REGS, &regs), 0);
	p.a.g.mem[163] = 0;
	SIGP_CC(&p, SIGP_STORE_STATUS_AT_ADDRESS, ID_B, 0x30000 | 0x1ff, 0, 0, 0);
	for (int i = 0; i < 16; i++)
		CHECK(get64(&p.b, 0x30080 + 8 * (uint64_t)i) == regs.gprs[i]);
	CHECK(p.a.g.mem[163] == 0);
	SIGP_CC(&p, SIGP_STORE_STATUS_AT_ADDRESS, ID_B, 0x7ffffe00, 0, 1, ST_INVALID_PARAMETER);
	CHECK(b_operating(&p));
	SIGP_CC(&p, SIGP_STORE_STATUS_AT_ADDRESS, ID_B, 0x30000, 0, 1, ST_INCORRECT_STATE);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_store_status") == 3);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* SET ARCHITECTURE is refused (invalid parameter, any CPU address); START, RESTART, the CPU
 * resets and unassigned orders leave KVM_RUN with the SIGP intercept, PSW after the SIGP;
 * to an unknown CPU address they are not operational. SENSE RUNNING STATUS with the
 * facility: the sender runs, a stopped CPU does not. */
static bool test_orders_for_userspace(void)
{
	bool ok = false;
	struct pair p = {0};
	uint64_t r2 = 0;
	CHECK(pair_open(&p));
	SIGP_CC(&p, SIGP_SET_ARCHITECTURE, 7, 2, 0, 1, ST_INVALID_PARAMETER);
	SIGP_CC(&p, SIGP_UNASSIGNED, 7, 0, 0, 3, 0);
	const uint64_t user[] = {SIGP_START, SIGP_RESTART, SIGP_INITIAL_CPU_RESET, SIGP_CPU_RESET, SIGP_UNASSIGNED};
	for (size_t i = 0; i < sizeof(user) / sizeof(user[0]); i++)
		CHECK(sigp(&p, user[i], ID_B, 0, &r2) == TO_USER);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_unknown") == 1);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_start") == 1);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_init_cpu_reset") == 1);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_arch") == 1);
	if (has_facility(p.a.g.vm, 9)) {
		SIGP_CC(&p, SIGP_SENSE_RUNNING, ID_A, 0, 0, 0, 0);
		SIGP_CC(&p, SIGP_SENSE_RUNNING, ID_B, 0, 0, 1, ST_NOT_RUNNING);
	} else {
		SIGP_CC(&p, SIGP_SENSE_RUNNING, ID_A, 0, 0, 1, ST_INVALID_ORDER);
	}
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* SIGP in the problem state is a privileged-operation exception. */
static bool test_problem_state(void)
{
	bool ok = false;
	struct pair p = {0};
	CHECK(pair_open(&p));
	set_pgm_handler(&p.a, 0x3000);
	p.a.run->s.regs.gprs[5] = SIGP_SENSE;
	p.a.run->s.regs.gprs[4] = ID_B;
	p.a.run->psw_mask = PSW_64 | PSW_PSTATE;
	p.a.run->psw_addr = 0x1000;
	CHECK(run_to_exit(&p.a) && p.a.run->s390_sieic.ipa == 0x8300 && p.a.run->psw_addr == 0x3004);
	CHECK(load_be16(p.a.g.mem + 0x8e) == 0x02 && load_be16(p.a.g.mem + 0x8c) == 4);
	CHECK(get64(&p.a, 0x158) == 0x1004);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* KVM_CAP_S390_USER_SIGP: SENSE, EXTERNAL CALL, EMERGENCY SIGNAL, CONDITIONAL EMERGENCY
 * SIGNAL and SENSE RUNNING STATUS stay in the kernel; every other order, even to an unknown
 * CPU address, leaves with the SIGP intercept and is counted. */
static bool test_user_sigp(void)
{
	bool ok = false;
	struct pair p = {0};
	uint64_t r2 = 0;
	CHECK(pair_open(&p));
	CHECK_RET(enable_cap(p.a.g.vm, KVM_CAP_S390_USER_SIGP), 0);
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0, 1, ST_STOPPED);
	SIGP_CC(&p, SIGP_SENSE, 7, 0, 0, 3, 0);
	SIGP_CC(&p, SIGP_EMERGENCY_SIGNAL, ID_B, 0, 0, 0, 0);
	SIGP_CC(&p, SIGP_COND_EMERGENCY_SIGNAL, ID_B, 0, 0, 0, 0);
	SIGP_CC(&p, SIGP_EXTERNAL_CALL, ID_B, 0, 0, 0, 0);
	if (has_facility(p.a.g.vm, 9))
		SIGP_CC(&p, SIGP_SENSE_RUNNING, ID_B, 0, 0, 1, ST_NOT_RUNNING);
	const uint64_t user[] = {SIGP_STOP, SIGP_STOP_AND_STORE_STATUS, SIGP_SET_PREFIX,
				 SIGP_SET_ARCHITECTURE, SIGP_STORE_STATUS_AT_ADDRESS, SIGP_RESTART};
	for (size_t i = 0; i < sizeof(user) / sizeof(user[0]); i++)
		CHECK(sigp(&p, user[i], ID_B, 0x20000, &r2) == TO_USER);
	CHECK(sigp(&p, SIGP_STOP, 7, 0, &r2) == TO_USER);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_stop") == 2);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_prefix") == 1);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_arch") == 0);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_unknown") == 1);
	CHECK(vcpu_stat(p.a.vcpu, "instruction_sigp_cond_emergency") == 1);
	/* Nothing reached B but the fast orders' interrupts. */
	struct kvm_s390_irq irqs[4];
	CHECK(irq_state(&p.b, irqs, 4) == 2);
	CHECK(irqs[0].type == KVM_S390_INT_EXTERNAL_CALL && irqs[1].type == KVM_S390_INT_EMERGENCY);
	ok = true;
done:
	pair_close(&p);
	return ok;
}

/* SIGP STOP to a CPU asleep in an enabled wait wakes it: its KVM_RUN ends with the stop
 * intercept and the CPU is stopped. */
static bool test_stop_wakes_a_waiting_target(void)
{
	bool ok = false, joined = true;
	pthread_t th;
	struct pair p = {0};
	CHECK(pair_open(&p));
	CHECK(b_operating(&p));
	p.b.run->psw_mask = PSW_64 | PSW_WAIT | PSW_EXT;
	p.b.run->psw_addr = 0x4000;
	struct runner r = {&p.b, false};
	CHECK(pthread_create(&th, NULL, run_thread, &r) == 0);
	joined = false;
	usleep(20000);
	SIGP_CC(&p, SIGP_STOP, ID_B, 0, 0, 0, 0);
	pthread_join(th, NULL);
	joined = true;
	CHECK(r.exited && p.b.run->s390_sieic.icptcode == 0x28);
	CHECK(p.b.run->psw_mask == (PSW_64 | PSW_WAIT | PSW_EXT) && p.b.run->psw_addr == 0x4000);
	SIGP_CC(&p, SIGP_SENSE, ID_B, 0, 0, 1, ST_STOPPED);
	ok = true;
done:
	if (!joined) {
		inject(&p.b, KVM_S390_SIGP_STOP);
		pthread_join(th, NULL);
	}
	pair_close(&p);
	return ok;
}

/* Both CPUs signal each other at once, 3000 emergency signals and senses each (the signals
 * stay pending: external interruptions are disabled): both finish, every order counted. */
static bool test_crossing_sigps(void)
{
	bool ok = false;
	pthread_t th[2];
	int started = 0;
	struct pair p = {0};
	CHECK(pair_open(&p));
	static const uint8_t prog[] = {
		0xa7, 0x78, 0x0b, 0xb8, /* 2000: lhi %r7,3000 */
		0xae, 0x24, 0x50, 0x00, /* 2004: sigp %r2,%r4,0(%r5) */
		0xae, 0x24, 0x00, 0x01, /* 2008: sigp %r2,%r4,1 */
		0xa7, 0x76, 0xff, 0xfc, /* 200c: brct %r7,2004 */
		0x83, 0x00, 0x05, 0x01, /* 2010: diag 0,0,0x501 */
	};
	memcpy(p.a.g.mem + 0x2000, prog, sizeof(prog));
	struct cpu *cs[2] = {&p.a, &p.b};
	const uint64_t other[2] = {ID_B, ID_A};
	struct runner r[2];
	for (int i = 0; i < 2; i++) {
		cs[i]->run->s.regs.gprs[4] = other[i];
		cs[i]->run->s.regs.gprs[5] = SIGP_EMERGENCY_SIGNAL;
		cs[i]->run->psw_mask = PSW_64;
		cs[i]->run->psw_addr = 0x2000;
		r[i] = (struct runner){cs[i], false};
	}
	for (; started < 2; started++)
		CHECK(pthread_create(&th[started], NULL, run_thread, &r[started]) == 0);
	for (; started > 0; started--)
		pthread_join(th[started - 1], NULL);
	for (int i = 0; i < 2; i++) {
		CHECK(r[i].exited && cs[i]->run->s390_sieic.ipa == 0x8300 && cs[i]->run->psw_addr == 0x2014);
		CHECK(vcpu_stat(cs[i]->vcpu, "instruction_sigp_emergency") == 3000);
		CHECK(vcpu_stat(cs[i]->vcpu, "instruction_sigp_sense") == 3000);
		CHECK(vcpu_stat(cs[i]->vcpu, "inject_emergency_signal") == 3000);
	}
	ok = true;
done:
	for (; started > 0; started--)
		pthread_join(th[started - 1], NULL);
	pair_close(&p);
	return ok;
}

int main(void)
{
	alarm(120);
	RUN(test_sense);
	RUN(test_external_call_and_emergency_pending);
	RUN(test_emergency_signal_wakes_a_waiting_target);
	RUN(test_stop_and_restart);
	RUN(test_stop_and_store_status);
	RUN(test_set_prefix);
	RUN(test_store_status_at_address);
	RUN(test_orders_for_userspace);
	RUN(test_problem_state);
	RUN(test_user_sigp);
	RUN(test_stop_wakes_a_waiting_target);
	RUN(test_crossing_sigps);
	DONE();
}
