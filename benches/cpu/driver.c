/*
 * Runs work() (work.c) on the benchmark's inputs under qemu-s390x and prints
 * "<nanoseconds> <result>" for the call alone (the JIT's translation of the loop included,
 * qemu's start-up not).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define LEN (1UL << 20)
#define N (16L * 1024)

uint64_t work(const uint8_t *buf, unsigned long len, uint32_t *a, long n);

int main(void)
{
	static uint8_t buf[LEN];
	static uint32_t a[N];
	uint64_t x = 0x2545f4914f6cdd1dULL;
	struct timespec t0, t1;

	for (unsigned long i = 0; i < LEN; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		buf[i] = (uint8_t)(x >> 56);
	}
	for (long i = 0; i < N; i++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		a[i] = (uint32_t)(x >> 32);
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	uint64_t r = work(buf, LEN, a, N);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%lld %llu\n",
	       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
	       (unsigned long long)r);
	return 0;
}
