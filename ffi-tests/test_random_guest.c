/*
 * Hostile guest code: KVM_RUN on random bytes and on random instructions of every format, with
 * random registers, control registers (DAT tables, address spaces, access registers made of
 * random memory), PSW and prefix, each run ended by a timer signal. Whatever the guest does,
 * KVM_RUN returns (an exit, or EINTR for the signal), never with the shim's panic marker (EIO),
 * and never crashes or hangs the process; afterwards the vCPU still runs a known program.
 */
#include "test.h"
#include "vcpu.h"

#include <sys/time.h>

#define SPAN 0x40000ull /* the guest memory the random state lives in */

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The VMM idiom for a kick that may come before KVM_RUN holds the signals (a slow machine,
 * or TSAN, can take longer than the timer between setitimer and the entry): the handler sets
 * immediate_exit, so KVM_RUN then returns EINTR at once instead of running a looping guest
 * with nobody left to kick it. */
static struct kvm_run *volatile kick_run;

static void on_alarm(int sig)
{
	(void)sig;
	if (kick_run)
		kick_run->immediate_exit = 1;
}

static void *watchdog(void *arg)
{
	(void)arg;
	/* The timer's SIGALRM is for the vCPU thread. */
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	const char *env = getenv("RANDOM_GUEST_ROUNDS");
	sleep(env ? 240 + (unsigned)atoi(env) / 50 : 240);
	fprintf(stderr, "test_random_guest: hung\n");
	_exit(3);
}

/* Some state for one run: the memory, the registers through kvm_run and the sregs. */
static bool randomize(struct cpu *c, int round)
{
	for (uint64_t a = 0; a < SPAN; a += 8)
		put64(c, a, next());
	if (round % 2) {
		/* Mostly valid-looking instructions: opcodes from the populated ranges. */
		static const uint8_t ops[] = {0x18, 0x1a, 0x41, 0x50, 0x58, 0x83, 0x92, 0xa7, 0xb2, 0xb9,
					      0xc0, 0xc8, 0xd2, 0xd9, 0xda, 0xe3, 0xe5, 0xeb, 0xae, 0x82};
		for (uint64_t a = 0; a < SPAN; a += 2)
			if (next() % 3 == 0)
				c->g.mem[a] = ops[next() % sizeof(ops)];
	}
	struct kvm_sregs s;
	if (KVM_IOCTL(c->vcpu, KVM_GET_SREGS, &s))
		return false;
	for (int i = 0; i < 16; i++) {
		s.crs[i] = next() % 2 ? next() : next() % SPAN;
		s.acrs[i] = next() % 4 ? (uint32_t)(next() % 8) : (uint32_t)next();
	}
	if (KVM_IOCTL(c->vcpu, KVM_SET_SREGS, &s))
		return false;
	for (int i = 0; i < 16; i++)
		c->run->s.regs.gprs[i] = next() % 4 ? next() % SPAN : next();
	c->run->s.regs.prefix = (uint32_t)(next() % SPAN) & ~0x1fffu;
	c->run->kvm_dirty_regs = KVM_SYNC_GPRS | KVM_SYNC_PREFIX;
	static const uint64_t modes[] = {PSW_64, PSW_BA, 0};
	c->run->psw_mask = modes[next() % 3] | (next() & 0x4f0f0f0000000000ull); /* PER, DAT, I/O, EXT, key, M, W, P, AS, CC, PM */
	c->run->psw_addr = next() % SPAN & ~1ull;
	return true;
}

static bool test_random_guests_end_cleanly(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	struct sigaction sa = {.sa_handler = on_alarm};
	sigemptyset(&sa.sa_mask);
	CHECK_RET(sigaction(SIGALRM, &sa, NULL), 0);
	/* RANDOM_GUEST_ROUNDS and RANDOM_GUEST_SEED for longer runs. */
	const char *env = getenv("RANDOM_GUEST_ROUNDS");
	int rounds = env ? atoi(env) : 300;
	env = getenv("RANDOM_GUEST_SEED");
	if (env)
		rng = strtoull(env, NULL, 0) | 1;
	int exits = 0, eintr = 0, other = 0;
	kick_run = c.run;
	for (int round = 0; round < rounds; round++) {
		CHECK(randomize(&c, round));
		c.run->immediate_exit = 0;
		struct itimerval t = {.it_value = {.tv_usec = 2000}};
		CHECK_RET(setitimer(ITIMER_REAL, &t, NULL), 0);
		errno = 0;
		int r = KVM_IOCTL(c.vcpu, KVM_RUN, 0);
		int e = errno;
		struct itimerval off = {0};
		setitimer(ITIMER_REAL, &off, NULL);
		if (r == -1 && e == EIO)
			FAIL("round %d: KVM_RUN failed with EIO (a panic inside the shim)", round);
		if (r == 0)
			exits++;
		else if (e == EINTR)
			eintr++;
		else
			other++;
	}
	kick_run = NULL;
	c.run->immediate_exit = 0;
	fprintf(stderr, "  %d random guests: %d exits, %d EINTR, %d other errors\n", rounds, exits, eintr, other);
	/* Both endings happened: guests that exit, and guests that had to be interrupted. */
	CHECK(exits > 0 && eintr > 0);

	/* The vCPU still works: a clean lowcore and a DIAG 0x501. */
	memset(c.g.mem, 0, SPAN);
	static const uint8_t prog[] = {0x83, 0x00, 0x05, 0x01};
	memcpy(c.g.mem + 0x1000, prog, sizeof(prog));
	struct kvm_sregs s = {0};
	s.crs[0] = 0xe0;
	s.crs[14] = 0xc2000000;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SREGS, &s), 0);
	c.run->s.regs.prefix = 0;
	c.run->kvm_dirty_regs = KVM_SYNC_PREFIX;
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_SIEIC && c.run->psw_addr == 0x1004);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	pthread_t w;
	pthread_create(&w, NULL, watchdog, NULL);
	RUN(test_random_guests_end_cleanly);
	DONE();
}
