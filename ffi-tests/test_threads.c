/*
 * Concurrency: 8 threads create and destroy VMs and memory slots while 4 others look fds up
 * and issue ioctls on whatever fd numbers exist. No crash, consistent answers, no fd leak.
 */
#include "test.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>

#define CREATORS 8
#define LOOKERS 4
#define ROUNDS 300

static int sys_fd;
static atomic_int stop_lookers;
static atomic_int bad_answers;
static uint8_t *backing;

static int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void *creator(void *arg)
{
	int id = (int)(intptr_t)arg;
	for (int i = 0; i < ROUNDS; i++) {
		int vm = KVM_IOCTL(sys_fd, KVM_CREATE_VM, 0);
		if (vm < 0) {
			atomic_fetch_add(&bad_answers, 1);
			continue;
		}
		for (int s = 0; s < 4; s++) {
			uint64_t gpa = (uint64_t)s * MiB;
			if (set_region(vm, s, s & 1 ? KVM_MEM_LOG_DIRTY_PAGES : 0, gpa, MiB, backing + (size_t)id * MiB) != 0)
				atomic_fetch_add(&bad_answers, 1);
		}
		if (set_region(vm, 9, 0, 0, MiB, backing) != -1 || errno != EEXIST)
			atomic_fetch_add(&bad_answers, 1);
		for (int s = 0; s < 4; s += 2)
			if (set_region(vm, s, 0, 0, 0, NULL) != 0)
				atomic_fetch_add(&bad_answers, 1);
		int d = dup(vm);
		KVM_CLOSE(vm);
		if (KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS) != 32767)
			atomic_fetch_add(&bad_answers, 1);
		KVM_CLOSE(d);
	}
	return NULL;
}

static void *looker(void *arg)
{
	(void)arg;
	unsigned seed = 1;
	while (!atomic_load(&stop_lookers)) {
		int fd = 3 + (int)(rand_r(&seed) % 64);
		errno = 0;
		int r = KVM_IOCTL(fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS);
		/* Whatever the fd is at this instant, the answer is one of the legal ones (for an
		 * fd that is not the shim's, the kernel's, or qemu-user's: see test.h). */
		int e = errno;
		bool passed_on = e == PASSED_ON_ERRNO(EBADF) || e == PASSED_ON_ERRNO(ENOTTY);
		if (!(r == 32767 || (r == -1 && (passed_on || e == EINVAL))))
			atomic_fetch_add(&bad_answers, 1);
	}
	return NULL;
}

static bool test_create_destroy_under_lookups(void)
{
	bool ok = false;
	pthread_t c[CREATORS], l[LOOKERS];
	backing = map_aligned(CREATORS * MiB, MiB);
	CHECK(backing);
	sys_fd = KVM_OPEN(O_RDWR | O_CLOEXEC);
	CHECK(sys_fd >= 0);
	int before = count_fds();
	for (int i = 0; i < LOOKERS; i++)
		CHECK(pthread_create(&l[i], NULL, looker, NULL) == 0);
	for (int i = 0; i < CREATORS; i++)
		CHECK(pthread_create(&c[i], NULL, creator, (void *)(intptr_t)i) == 0);
	for (int i = 0; i < CREATORS; i++)
		pthread_join(c[i], NULL);
	atomic_store(&stop_lookers, 1);
	for (int i = 0; i < LOOKERS; i++)
		pthread_join(l[i], NULL);
	int after = count_fds();
	if (before != after)
		FAIL("fd count %d before, %d after", before, after);
	if (atomic_load(&bad_answers) != 0)
		FAIL("%d wrong answers", atomic_load(&bad_answers));
	ok = true;
done:
	KVM_CLOSE(sys_fd);
	return ok;
}

int main(void)
{
	RUN(test_create_destroy_under_lookups);
	DONE();
}
