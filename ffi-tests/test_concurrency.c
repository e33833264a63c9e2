/*
 * The selftest's concurrent-cmpxchg pattern: 4 threads run KVM_S390_MEM_OP cmpxchg loops of
 * sizes 1..16 (key 1 on pages with key 0x10) on the same 16 bytes of guest memory while a
 * fifth thread runs native compare-and-swap loops (1 to 16 bytes) directly on the mapped guest
 * memory. Every update rotates its operand by one bit, which keeps the population count; a
 * lost or torn update would change it.
 */
#include "memop.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#define MEMOP_THREADS 4
#define EXCHANGES_PER_THREAD 250000

static struct guest g;
static atomic_long attempts;
static atomic_int errors;
static atomic_int stop_native;

/* Rotates `n` bytes, read as one big-endian bit string, left by one bit. */
static void rotate(uint8_t *dst, const uint8_t *src, unsigned n)
{
	uint8_t carry = src[0] >> 7;
	for (int i = (int)n - 1; i >= 0; i--) {
		uint8_t next = src[i] >> 7;
		dst[i] = (uint8_t)(src[i] << 1) | carry;
		carry = next;
	}
}

static int popcount16(const uint8_t *b)
{
	int n = 0;
	for (int i = 0; i < 16; i++)
		n += __builtin_popcount(b[i]);
	return n;
}

static void *memop_thread(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	long tries = 0;
	for (int done = 0; done < EXCHANGES_PER_THREAD;) {
		unsigned size = 1u << (rand_r(&seed) % 5);
		unsigned off = (rand_r(&seed) % (16 / size)) * size;
		uint8_t old[16], nv[16];
		if (abs_read(g.vm, MEM1 + off, size, old, NO_KEY, 0) != 0) {
			atomic_fetch_add(&errors, 1);
			return NULL;
		}
		for (;;) {
			uint8_t expect[16];
			memcpy(expect, old, size);
			rotate(nv, old, size);
			tries++;
			int r = cmpxchg(g.vm, MEM1 + off, size, nv, old, 1);
			if (r != 0) {
				atomic_fetch_add(&errors, 1);
				return NULL;
			}
			if (memcmp(old, expect, size) == 0)
				break; /* exchanged: old buffer untouched */
		}
		done++;
	}
	atomic_fetch_add(&attempts, tries);
	return NULL;
}

static void *native_thread(void *arg)
{
	(void)arg;
	uint8_t *p = g.mem + MEM1;
	unsigned seed = 99;
	long tries = 0;
	while (!atomic_load(&stop_native)) {
		unsigned size = 1u << (rand_r(&seed) % 5);
		unsigned off = (rand_r(&seed) % (16 / size)) * size;
		uint8_t *q = p + off;
		if ((++tries & 255) == 0)
			sched_yield(); /* share the CPUs with the memop threads on small machines */
		switch (size) {
		case 1: {
			uint8_t o = __atomic_load_n(q, __ATOMIC_RELAXED), n;
			do {
				rotate(&n, &o, 1);
			} while (!__atomic_compare_exchange_n(q, &o, n, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
			break;
		}
#define NATIVE_CAS(T)                                                                                        \
	{                                                                                                    \
		T o = __atomic_load_n((T *)q, __ATOMIC_RELAXED), n;                                          \
		do {                                                                                         \
			uint8_t ob[sizeof(T)], nb[sizeof(T)];                                                \
			memcpy(ob, &o, sizeof(T));                                                           \
			rotate(nb, ob, sizeof(T));                                                           \
			memcpy(&n, nb, sizeof(T));                                                           \
		} while (!__atomic_compare_exchange_n((T *)q, &o, n, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)); \
		break;                                                                                       \
	}
		case 2:
			NATIVE_CAS(uint16_t)
		case 4:
			NATIVE_CAS(uint32_t)
		case 8:
			NATIVE_CAS(uint64_t)
		case 16: {
#if defined(__x86_64__) && defined(__GCC_HAVE_SYNC_COMPARE_AND_SWAP_16)
			unsigned __int128 o, n;
			memcpy(&o, q, 16); /* a torn snapshot only makes the CAS fail */
			for (;;) {
				uint8_t ob[16], nb[16];
				memcpy(ob, &o, 16);
				rotate(nb, ob, 16);
				memcpy(&n, nb, 16);
				unsigned __int128 seen = __sync_val_compare_and_swap((unsigned __int128 *)q, o, n);
				if (seen == o)
					break;
				o = seen;
			}
#else
			NATIVE_CAS(uint64_t)
#endif
			break;
		}
		}
	}
	atomic_fetch_add(&attempts, tries);
	return NULL;
}

static bool test_concurrent_cmpxchg(void)
{
	bool ok = false;
	pthread_t m[MEMOP_THREADS], n;
	CHECK(guest_open(&g, 0));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x10), 0);
	const uint8_t init[16] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x80, 0x00, 0xff, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};
	CHECK_RET(abs_write(g.vm, MEM1, 16, (void *)init, 1, 0), 0);
	int before = popcount16(init);
	CHECK(pthread_create(&n, NULL, native_thread, NULL) == 0);
	for (int i = 0; i < MEMOP_THREADS; i++)
		CHECK(pthread_create(&m[i], NULL, memop_thread, (void *)(uintptr_t)(i + 1)) == 0);
	for (int i = 0; i < MEMOP_THREADS; i++)
		pthread_join(m[i], NULL);
	atomic_store(&stop_native, 1);
	pthread_join(n, NULL);
	uint8_t fin[16];
	CHECK_RET(abs_read(g.vm, MEM1, 16, fin, 1, 0), 0);
	printf("  %ld compare-and-swap attempts, %d exchanges through the memop\n", atomic_load(&attempts),
	       MEMOP_THREADS * EXCHANGES_PER_THREAD);
	if (atomic_load(&errors))
		FAIL("%d memops failed", atomic_load(&errors));
	if (popcount16(fin) != before)
		FAIL("population count %d, was %d: an update was lost", popcount16(fin), before);
	CHECK(atomic_load(&attempts) >= 1000000);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

int main(void)
{
	RUN(test_concurrent_cmpxchg);
	DONE();
}
