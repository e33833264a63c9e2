/*
 * The idle KVM_RUN: a vCPU without a guest function sleeps until a signal unblocked during the
 * run (the KVM_SET_SIGNAL_MASK mask, else the thread's own) arrives, without using the CPU;
 * KVM_SET_SIGNAL_MASK's rules; immediate_exit; vCPU ioctls wait for a running KVM_RUN while
 * VM ioctls do not; the guest-function wait.
 */
#include "selftest.h"
#include "vcpu.h"

#include <pthread.h>
#include <signal.h>
#include <time.h>

#define G(name) SHIM_API(kvm_s390_shim_guest_##name)

/* PSW bits 6 and 7: I/O and external interruptions enabled. */
#define PSW_IO (1ull << 57)
#define PSW_EXT (1ull << 56)
/* PSW bit 14: the wait state (without it, KVM_RUN executes the guest code at the PSW). */
#define PSW_WAIT (1ull << 49)

/* An enabled wait (I/O interruptions enabled, none pending): KVM_RUN sleeps until a signal. */
#define IDLE(c) ((c).run->psw_mask = PSW_64 | PSW_IO | PSW_WAIT)

static volatile sig_atomic_t usr1_count, usr2_count;

/* Atomic increments and errno kept, so the handlers are clean under ThreadSanitizer too. */
static void on_usr1(int sig)
{
	int e = errno;
	(void)sig;
	__atomic_fetch_add(&usr1_count, 1, __ATOMIC_SEQ_CST);
	errno = e;
}

static void on_usr2(int sig)
{
	int e = errno;
	(void)sig;
	__atomic_fetch_add(&usr2_count, 1, __ATOMIC_SEQ_CST);
	errno = e;
}

static bool install_handlers(void)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return false;
	sa.sa_handler = on_usr2;
	return sigaction(SIGUSR2, &sa, NULL) == 0;
}

static double now(clockid_t clk)
{
	struct timespec t;
	clock_gettime(clk, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
	while (nanosleep(&t, &t))
		;
}

static int set_sigmask(int vcpu, const sigset_t *s)
{
	if (!s)
		return KVM_IOCTL(vcpu, KVM_SET_SIGNAL_MASK, NULL);
	struct kvm_sigmask8 m = kvm_sigmask(s);
	return KVM_IOCTL(vcpu, KVM_SET_SIGNAL_MASK, &m);
}

/* A KVM_RUN on its own thread, with the thread's signal mask chosen by the test. */
struct runner {
	int vcpu;
	struct kvm_run *run;
	sigset_t thread_mask;
	pthread_t th;
	volatile int started, finished;
	int ret, err;
	uint32_t exit_reason;
	double cpu, wall;
};

static void *runner_main(void *arg)
{
	struct runner *r = arg;
	pthread_sigmask(SIG_SETMASK, &r->thread_mask, NULL);
	double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
	__atomic_store_n(&r->started, 1, __ATOMIC_SEQ_CST);
	errno = 0;
	r->ret = KVM_IOCTL(r->vcpu, KVM_RUN, 0);
	r->err = errno;
	r->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	r->wall = now(CLOCK_MONOTONIC) - w0;
	r->exit_reason = r->run->exit_reason;
	__atomic_store_n(&r->finished, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

static bool runner_start(struct runner *r, struct cpu *c, const sigset_t *thread_mask)
{
	memset(r, 0, sizeof(*r));
	r->vcpu = c->vcpu;
	r->run = c->run;
	r->thread_mask = *thread_mask;
	if (pthread_create(&r->th, NULL, runner_main, r))
		return false;
	while (!__atomic_load_n(&r->started, __ATOMIC_SEQ_CST))
		sleep_ms(1);
	/* Let it reach the sleep. */
	sleep_ms(50);
	return true;
}

static bool runner_finished(struct runner *r)
{
	return __atomic_load_n(&r->finished, __ATOMIC_SEQ_CST);
}

static sigset_t mask_of(int a, int b)
{
	sigset_t s;
	sigemptyset(&s);
	if (a)
		sigaddset(&s, a);
	if (b)
		sigaddset(&s, b);
	return s;
}

/* ---- the waiting KVM_RUN ---------------------------------------------------------------- */

/* With a run mask that unblocks SIGUSR2, KVM_RUN sleeps for a second using < 5 % of a core,
 * then the signal ends it: -1/EINTR, KVM_EXIT_INTR, the handler has run. */
static bool test_idle_run_sleeps(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	sigset_t run_mask = mask_of(SIGUSR1, 0), thread_mask = mask_of(SIGUSR1, SIGUSR2);
	CHECK_RET(set_sigmask(c.vcpu, &run_mask), 0);
	c.run->exit_reason = 0xff;
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	sleep_ms(950);
	CHECK(!runner_finished(&r));
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR);
	CHECK(r.exit_reason == KVM_EXIT_INTR);
	CHECK(__atomic_load_n(&usr2_count, __ATOMIC_SEQ_CST) == 1);
	CHECK(r.wall >= 0.9);
	if (r.cpu >= 0.05 * r.wall)
		FAIL("KVM_RUN used %.3f s of CPU in %.3f s", r.cpu, r.wall);
	printf("  # idle KVM_RUN: %.1f ms of CPU in %.3f s\n", r.cpu * 1e3, r.wall);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* Without KVM_SET_SIGNAL_MASK the thread's own mask applies: a signal it blocks does not end
 * the run, one it leaves unblocked does. */
static bool test_thread_mask_applies(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	__atomic_store_n(&usr1_count, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	pthread_kill(r.th, SIGUSR1);
	sleep_ms(100);
	CHECK(!runner_finished(&r) && __atomic_load_n(&usr1_count, __ATOMIC_SEQ_CST) == 0);
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR && r.exit_reason == KVM_EXIT_INTR);
	CHECK(__atomic_load_n(&usr2_count, __ATOMIC_SEQ_CST) == 1 && __atomic_load_n(&usr1_count, __ATOMIC_SEQ_CST) == 0);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* A run mask that blocks the kick signal: the signal does not end the run (it stays pending
 * and is handled once KVM_RUN has restored the thread's mask); another, unblocked one does.
 * A NULL mask returns to the thread's own mask. */
static bool test_run_mask_blocks_kick(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	sigset_t run_mask = mask_of(SIGUSR1, 0), thread_mask = mask_of(0, 0);
	CHECK_RET(set_sigmask(c.vcpu, &run_mask), 0);
	__atomic_store_n(&usr1_count, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	pthread_kill(r.th, SIGUSR1);
	sleep_ms(100);
	CHECK(!runner_finished(&r));
	CHECK(__atomic_load_n(&usr1_count, __ATOMIC_SEQ_CST) == 0);
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR && r.exit_reason == KVM_EXIT_INTR);
	CHECK(__atomic_load_n(&usr2_count, __ATOMIC_SEQ_CST) == 1);
	/* Pending through the run, handled when the thread's mask came back. */
	CHECK(__atomic_load_n(&usr1_count, __ATOMIC_SEQ_CST) == 1);

	/* NULL clears the run mask: SIGUSR1 now ends the run. */
	CHECK_RET(set_sigmask(c.vcpu, NULL), 0);
	__atomic_store_n(&usr1_count, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	pthread_kill(r.th, SIGUSR1);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR && __atomic_load_n(&usr1_count, __ATOMIC_SEQ_CST) == 1);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* A signal already pending at KVM_RUN and unblocked by the run mask: the run syncs registers
 * in and out and returns at once (how a VMM kicks a vCPU that is about to enter). */
static bool test_pending_signal_at_entry(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1234;
	double w0 = now(CLOCK_MONOTONIC);
	CHECK(cpu_run(&c));
	CHECK(now(CLOCK_MONOTONIC) - w0 < 0.5);
	CHECK(c.run->psw_addr == 0x1234);
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_OPERATING);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* immediate_exit: -1/EINTR at once, before anything else (exit_reason untouched). */
static bool test_immediate_exit(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	c.run->immediate_exit = 1;
	c.run->exit_reason = 0x77;
	double w0 = now(CLOCK_MONOTONIC);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 0), EINTR);
	CHECK(now(CLOCK_MONOTONIC) - w0 < 0.5);
	CHECK(c.run->exit_reason == 0x77);
	c.run->immediate_exit = 0;
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* ---- KVM_SET_SIGNAL_MASK rules ---------------------------------------------------------- */

static bool test_signal_mask_rules(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	uint8_t *pages = MAP_FAILED;
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	/* len must be the kernel's sizeof(sigset_t), 8. */
	struct kvm_sigmask8 m = {.len = 8};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, &m), 0);
	uint32_t bad_lens[] = {0, 4, 7, 9, 16, 128};
	for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++) {
		m.len = bad_lens[i];
		CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, &m), EINVAL);
	}
	/* NULL clears the mask. */
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, NULL), 0);
	/* EFAULT: an unreadable header; a readable header whose sigset is not readable. */
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, (void *)8), EFAULT);
	pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pages != MAP_FAILED);
	CHECK(mprotect(pages + 4096, 4096, PROT_NONE) == 0);
	uint32_t len8 = 8;
	memcpy(pages + 4096 - 4, &len8, 4);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, pages + 4096 - 4), EFAULT);
	/* The same header with a bad length: EINVAL comes first. */
	uint32_t len4 = 4;
	memcpy(pages + 4096 - 4, &len4, 4);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_SIGNAL_MASK, pages + 4096 - 4), EINVAL);
	/* Not on the VM fd. */
	m.len = 8;
	CHECK_ERR(KVM_IOCTL(c.g.vm, KVM_SET_SIGNAL_MASK, &m), ENOTTY);
	ok = true;
done:
	if (pages != MAP_FAILED)
		munmap(pages, 8192);
	cpu_close(&c);
	return ok;
}

/* ---- what waits for a running KVM_RUN ----------------------------------------------------- */

struct getter {
	int vcpu;
	volatile int done;
	int ret;
};

static void *getter_main(void *arg)
{
	struct getter *g = arg;
	struct kvm_regs regs;
	__atomic_store_n(&g->ret, KVM_IOCTL(g->vcpu, KVM_GET_REGS, &regs), __ATOMIC_SEQ_CST);
	__atomic_store_n(&g->done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* As in the kernel (kvm_vcpu_ioctl holds vcpu->mutex for the whole KVM_RUN), another vCPU
 * ioctl waits for the sleeping run to end; VM ioctls do not. */
static bool test_vcpu_ioctls_wait_for_run(void)
{
	bool ok = false, joined = true, getter_joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	struct getter g = {0};
	pthread_t gt;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	IDLE(c);
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	g.vcpu = c.vcpu;
	CHECK(pthread_create(&gt, NULL, getter_main, &g) == 0);
	getter_joined = false;
	sleep_ms(100);
	CHECK(!__atomic_load_n(&g.done, __ATOMIC_SEQ_CST));
	/* The VM is not held by the vCPU's run. */
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_PSW), 1);
	uint8_t b[8];
	struct kvm_s390_mem_op mo = mop(KVM_S390_MEMOP_ABSOLUTE_READ, 0, 8, b, NO_KEY, 0);
	CHECK_RET(vm_memop(c.g.vm, mo), 0);
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	pthread_join(gt, NULL);
	getter_joined = true;
	CHECK(r.ret == -1 && r.err == EINTR);
	CHECK(g.done && __atomic_load_n(&g.ret, __ATOMIC_SEQ_CST) == 0);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	if (!getter_joined)
		pthread_join(gt, NULL);
	cpu_close(&c);
	return ok;
}

/* ---- injection wakes a waiting vCPU ------------------------------------------------------------ */

#define CR0_EMERG (1ull << (63 - 49))

static int inject_emergency(int vcpu, uint16_t from)
{
	struct kvm_s390_irq irq;
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_INT_EMERGENCY;
	irq.u.emerg.code = from;
	return KVM_IOCTL(vcpu, KVM_S390_IRQ, &irq);
}

/* Sets up an enabled wait: CR0 enables emergency signals, the PSW external interrupts, and the
 * external new PSW (0x1b0) is an enabled wait at 0x5000. */
static bool enable_emergency(struct cpu *c)
{
	put64(c, 0x1b0, PSW_64 | PSW_EXT | PSW_WAIT);
	put64(c, 0x1b8, 0x5000);
	c->run->psw_mask = PSW_64 | PSW_EXT | PSW_WAIT;
	c->run->psw_addr = 0x1000;
	return set_cr(c, 0, CR0_EMERG);
}

/* An interrupt injected from another thread reaches the sleeping KVM_RUN (injection does not
 * wait for it), is delivered at once, and the vCPU keeps waiting; a signal then ends the run. */
static bool test_injection_wakes_run(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	CHECK(enable_emergency(&c));
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	double w0 = now(CLOCK_MONOTONIC);
	CHECK_RET(inject_emergency(c.vcpu, 0), 0);
	CHECK(now(CLOCK_MONOTONIC) - w0 < 0.5);
	sleep_ms(100);
	CHECK(!runner_finished(&r));
	CHECK(load_be32(c.g.mem + 0x84) == 0x00001201); /* CPU address 0, code 0x1201 */
	CHECK(get64(&c, 0x130) == (PSW_64 | PSW_EXT | PSW_WAIT) && get64(&c, 0x138) == 0x1000);
	/* Again: the old PSW is now the new PSW the first delivery loaded. */
	put64(&c, 0x138, 0);
	CHECK_RET(inject_emergency(c.vcpu, 0), 0);
	sleep_ms(100);
	CHECK(!runner_finished(&r));
	CHECK(get64(&c, 0x138) == 0x5000);
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR && r.exit_reason == KVM_EXIT_INTR);
	CHECK(c.run->psw_mask == (PSW_64 | PSW_EXT | PSW_WAIT) && c.run->psw_addr == 0x5000);
	if (r.cpu >= 0.05 * r.wall)
		FAIL("KVM_RUN used %.3f s of CPU in %.3f s", r.cpu, r.wall);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* An enabled clock comparator in the future bounds the sleep: the comparator interrupt is
 * delivered while KVM_RUN waits, about when the guest TOD passes it (the kernel's ckc timer). */
static bool test_clock_comparator_wakes_run(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	/* external new PSW: a wait with external interruptions disabled (I/O enabled), at 0x6000 */
	put64(&c, 0x1b0, PSW_64 | PSW_IO | PSW_WAIT);
	put64(&c, 0x1b8, 0x6000);
	c.run->psw_mask = PSW_64 | PSW_EXT | PSW_WAIT;
	c.run->psw_addr = 0x1000;
	CHECK(set_cr(&c, 0, 1ull << (63 - 52))); /* clock-comparator subclass */
	uint64_t tod;
	struct kvm_device_attr a = {.group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = (uintptr_t)&tod};
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_GET_DEVICE_ATTR, &a), 0);
	uint64_t ckc = tod + (300000ull << 12); /* 300 ms in TOD units */
	struct kvm_one_reg reg = {.id = KVM_REG_S390_CLOCK_COMP, .addr = (uintptr_t)&ckc};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &reg), 0);
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	sleep_ms(100);
	CHECK(!runner_finished(&r));
	CHECK(get64(&c, 0x138) == 0); /* not yet */
	sleep_ms(700);
	CHECK(!runner_finished(&r));
	CHECK(load_be32(c.g.mem + 0x84) == 0x00001004); /* CPU address 0, code 0x1004 */
	CHECK(get64(&c, 0x130) == (PSW_64 | PSW_EXT | PSW_WAIT) && get64(&c, 0x138) == 0x1000);
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(r.ret == -1 && r.err == EINTR);
	CHECK(c.run->psw_addr == 0x6000);
	if (r.cpu >= 0.05 * r.wall)
		FAIL("KVM_RUN used %.3f s of CPU in %.3f s", r.cpu, r.wall);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* ---- the guest-function wait -------------------------------------------------------------- */

struct wait_env {
	uint64_t psw_mask;
	int result;
	double cpu, wall;
	uint64_t psw_after;
};

static struct kvm_s390_shim_exit guest_waits(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct wait_env *w = opaque;
	G(set_reg)(cpu, 'p', 0, w->psw_mask);
	double c0 = now(CLOCK_THREAD_CPUTIME_ID), w0 = now(CLOCK_MONOTONIC);
	w->result = G(wait)(cpu);
	w->cpu = now(CLOCK_THREAD_CPUTIME_ID) - c0;
	w->wall = now(CLOCK_MONOTONIC) - w0;
	w->psw_after = G(get_reg)(cpu, 'p', 0);
	if (w->result == KVM_S390_SHIM_WAIT_SIGNAL)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
	if (w->result == KVM_S390_SHIM_WAIT_DISABLED)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 0x1c};
	return diag_501();
}

static bool test_guest_wait(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	struct wait_env w = {0};
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	CHECK_RET(SET_GUEST(c.vcpu, guest_waits, &w), 0);

	/* An enabled wait sleeps until the signal: the guest function sees SIGNAL, returns
	 * EXIT_INTR, and KVM_RUN ends with EINTR. */
	w.psw_mask = PSW_64 | PSW_IO | PSW_EXT;
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	sleep_ms(450);
	CHECK(!runner_finished(&r));
	pthread_kill(r.th, SIGUSR2);
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(w.result == KVM_S390_SHIM_WAIT_SIGNAL);
	CHECK(__atomic_load_n(&usr2_count, __ATOMIC_SEQ_CST) == 1);
	CHECK(r.ret == -1 && r.err == EINTR && r.exit_reason == KVM_EXIT_INTR);
	CHECK(w.wall >= 0.4);
	if (w.cpu >= 0.05 * w.wall)
		FAIL("the guest wait used %.3f s of CPU in %.3f s", w.cpu, w.wall);
	CHECK(w.psw_after == (PSW_64 | PSW_IO | PSW_EXT));

	/* A disabled wait (no I/O, external or machine-check enablement) returns at once. */
	w.psw_mask = PSW_64;
	double w0 = now(CLOCK_MONOTONIC);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	CHECK(now(CLOCK_MONOTONIC) - w0 < 0.5);
	CHECK(w.result == KVM_S390_SHIM_WAIT_DISABLED);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_SIEIC && c.run->s390_sieic.icptcode == 0x1c);

	/* An interrupt injected by another thread ends the wait with INTERRUPT: the new PSW. */
	w.psw_mask = PSW_64 | PSW_EXT;
	CHECK(enable_emergency(&c));
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	CHECK_RET(inject_emergency(c.vcpu, 0), 0);
	/* (Under heavy load the first one may be delivered by KVM_RUN before the guest function
	 * waits: inject again until the wait has ended.) */
	for (int i = 0; i < 50 && !runner_finished(&r); i++) {
		sleep_ms(100);
		if (!runner_finished(&r))
			CHECK_RET(inject_emergency(c.vcpu, 0), 0);
	}
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(w.result == KVM_S390_SHIM_WAIT_INTERRUPT);
	CHECK(w.psw_after == (PSW_64 | PSW_EXT | PSW_WAIT)); /* enable_emergency's new PSW */
	CHECK(r.ret == 0 && exit_was_hypercall(c.run));
	CHECK(c.run->psw_addr == 0x5000);
	CHECK(load_be32(c.g.mem + 0x84) == 0x00001201);

	/* Outside a guest function there is no CPU to wait. */
	CHECK_ERR(G(wait)(NULL), EINVAL);
	ok = true;
done:
	if (!joined) {
		pthread_kill(r.th, SIGUSR2);
		pthread_join(r.th, NULL);
	}
	cpu_close(&c);
	return ok;
}

/* ---- QEMU's kick: a handler that sets immediate_exit ------------------------------------ */

/* The kvm_run of the vCPU the kick handler stops (QEMU's kvm_ipi_signal, kvm_cpu_kick). */
static struct kvm_run *kick_target;

static void on_kick(int sig)
{
	(void)sig;
	__atomic_store_n(&kick_target->immediate_exit, 1, __ATOMIC_SEQ_CST);
}

struct kicked {
	struct cpu *c;
	pthread_t th;
	unsigned requested, served, stop;
	int ret, err;
};

/* QEMU's vCPU loop: KVM_RUN until EINTR; then clear immediate_exit and serve every request
 * made so far (QEMU's work list), and run again. */
static void *kicked_main(void *arg)
{
	struct kicked *k = arg;
	sigset_t open = mask_of(SIGUSR1, 0);
	pthread_sigmask(SIG_UNBLOCK, &open, NULL);
	while (!__atomic_load_n(&k->stop, __ATOMIC_SEQ_CST)) {
		errno = 0;
		int r = KVM_IOCTL(k->c->vcpu, KVM_RUN, 0);
		if (r != -1 || errno != EINTR) {
			k->ret = r;
			k->err = errno;
			break;
		}
		__atomic_store_n(&k->c->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
		__atomic_store_n(&k->served, __atomic_load_n(&k->requested, __ATOMIC_SEQ_CST),
				 __ATOMIC_SEQ_CST);
	}
	return NULL;
}

/* Another thread kicks the waiting vCPU `n` times, each time waiting until the vCPU loop has
 * served it: a signal that lands anywhere in KVM_RUN (before the sleep, in it, on the way
 * out) must end it, or its handler's immediate_exit must end the next one. A kick that is
 * lost leaves the vCPU asleep and fails the wait. */
static bool kick_many(struct cpu *c, unsigned n)
{
	bool ok = false;
	struct kicked k = {.c = c};
	struct sigaction sa = {.sa_handler = on_kick};
	sigemptyset(&sa.sa_mask);
	CHECK_RET(sigaction(SIGUSR1, &sa, NULL), 0);
	kick_target = c->run;
	CHECK_RET(pthread_create(&k.th, NULL, kicked_main, &k), 0);
	for (unsigned i = 1; i <= n; i++) {
		__atomic_store_n(&k.requested, i, __ATOMIC_SEQ_CST);
		pthread_kill(k.th, SIGUSR1);
		double t0 = now(CLOCK_MONOTONIC);
		while (__atomic_load_n(&k.served, __ATOMIC_SEQ_CST) < i && k.err == 0 &&
		       now(CLOCK_MONOTONIC) - t0 < 5)
			sched_yield();
		if (__atomic_load_n(&k.served, __ATOMIC_SEQ_CST) < i) {
			fprintf(stderr, "kick %u of %u lost (ret %d errno %d)\n", i, n, k.ret, k.err);
			break;
		}
	}
	ok = __atomic_load_n(&k.served, __ATOMIC_SEQ_CST) == n;
done:
	__atomic_store_n(&k.stop, 1, __ATOMIC_SEQ_CST);
	/* Wake it (a lost kick left it asleep) until it leaves. */
	for (int i = 0; i < 1000 && pthread_tryjoin_np(k.th, NULL) != 0; i++) {
		pthread_kill(k.th, SIGUSR1);
		sleep_ms(5);
	}
	install_handlers();
	return ok;
}

static bool test_no_kick_is_lost(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	struct wait_env w = {0};
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	/* The executor in an enabled wait. */
	IDLE(c);
	CHECK(kick_many(&c, 3000));
	/* A guest function waiting. */
	w.psw_mask = PSW_64 | PSW_IO | PSW_EXT;
	CHECK_RET(SET_GUEST(c.vcpu, guest_waits, &w), 0);
	CHECK(kick_many(&c, 3000));
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* ---- a KVM_RUN nested in a guest function -------------------------------------------------- */

struct nest {
	int vcpu;
	int ret, err;
	uint32_t exit_reason;
	struct kvm_run *run;
};

static struct kvm_s390_shim_exit guest_runs_another(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct nest *n = opaque;
	(void)cpu;
	errno = 0;
	n->ret = KVM_IOCTL(n->vcpu, KVM_RUN, 0);
	n->err = errno;
	n->exit_reason = n->run->exit_reason;
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
}

/* A guest function runs another vCPU, which waits: a signal the thread's own mask lets in ends
 * the inner run with EINTR (the inner run applies the thread's mask, not the all-blocked mask
 * the outer run holds while guest code runs), then the outer one. */
static bool test_nested_run_takes_signals(void)
{
	bool ok = false, joined = true;
	struct cpu c = {.vcpu = -1};
	struct runner r;
	struct nest n = {.vcpu = -1};
	CHECK(install_handlers());
	CHECK(cpu_open(&c, 0));
	n.vcpu = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 1);
	CHECK(n.vcpu >= 0);
	n.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, n.vcpu, 0);
	CHECK(n.run != MAP_FAILED);
	n.run->psw_mask = PSW_64 | PSW_IO | PSW_WAIT;
	CHECK_RET(SET_GUEST(c.vcpu, guest_runs_another, &n), 0);
	sigset_t thread_mask = mask_of(SIGUSR1, 0);
	__atomic_store_n(&usr2_count, 0, __ATOMIC_SEQ_CST);
	CHECK(runner_start(&r, &c, &thread_mask));
	joined = false;
	sleep_ms(100);
	CHECK(!runner_finished(&r));
	pthread_kill(r.th, SIGUSR2);
	for (int i = 0; i < 500 && !runner_finished(&r); i++)
		sleep_ms(10);
	if (!runner_finished(&r))
		FAIL("the nested KVM_RUN slept through the signal");
	pthread_join(r.th, NULL);
	joined = true;
	CHECK(n.ret == -1 && n.err == EINTR && n.exit_reason == KVM_EXIT_INTR);
	CHECK(__atomic_load_n(&usr2_count, __ATOMIC_SEQ_CST) == 1);
	CHECK(r.ret == -1 && r.err == EINTR);
	ok = true;
done:
	if (!joined) {
		/* Left asleep: end the process through the test's alarm rather than hang here. */
		return false;
	}
	if (n.run && n.run != MAP_FAILED)
		munmap(n.run, 4096);
	KVM_CLOSE(n.vcpu);
	cpu_close(&c);
	return ok;
}

int main(void)
{
	/* A hung KVM_RUN fails the test instead of hanging it. */
	alarm(60);
	RUN(test_idle_run_sleeps);
	RUN(test_thread_mask_applies);
	RUN(test_run_mask_blocks_kick);
	RUN(test_pending_signal_at_entry);
	RUN(test_immediate_exit);
	RUN(test_signal_mask_rules);
	RUN(test_vcpu_ioctls_wait_for_run);
	RUN(test_injection_wakes_run);
	RUN(test_clock_comparator_wakes_run);
	RUN(test_guest_wait);
	RUN(test_no_kick_is_lost);
	RUN(test_nested_run_takes_signals);
	DONE();
}
