/*
 * The CPU benchmark's compute loop (benches/cpu.rs): an Adler-32 checksum over 1 MiB and a
 * heapsort of 16 Ki words, as ordinary gcc -O2 -march=z10 output. Freestanding: no calls,
 * no globals, so the same bytes run on the shim's CPU (loaded at any address) and, linked
 * with driver.c, as an s390x user program under qemu-s390x.
 */
#include <stdint.h>

static void sift(uint32_t *a, long start, long end)
{
	long root = start;

	while (2 * root + 1 <= end) {
		long child = 2 * root + 1;
		long swap = root;

		if (a[swap] < a[child])
			swap = child;
		if (child + 1 <= end && a[swap] < a[child + 1])
			swap = child + 1;
		if (swap == root)
			return;
		uint32_t t = a[root];
		a[root] = a[swap];
		a[swap] = t;
		root = swap;
	}
}

uint64_t work(const uint8_t *buf, unsigned long len, uint32_t *a, long n)
{
	uint32_t s1 = 1, s2 = 0;

	for (unsigned long i = 0; i < len; i++) {
		s1 = (s1 + buf[i]) % 65521;
		s2 = (s2 + s1) % 65521;
	}
	for (long start = (n - 2) / 2; start >= 0; start--)
		sift(a, start, n - 1);
	for (long end = n - 1; end > 0; end--) {
		uint32_t t = a[end];
		a[end] = a[0];
		a[0] = t;
		sift(a, 0, end - 1);
	}
	uint64_t h = 0;
	for (long i = 0; i < n; i++)
		h = h * 31 + a[i];
	return (uint64_t)(s2 << 16 | s1) << 32 ^ h;
}
