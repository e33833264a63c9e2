/* Memory-slot lifetime and cost: a slot delete returns only when no memop can still touch the
 * old backing memory (the kernel's synchronize_srcu), and slot requests are validated before
 * anything is allocated, with per-page metadata allocated lazily (no abort on any input). */
#include "test.h"
#include "vcpu.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

/* The writer's memop covers this much of the slot: a long copy widens the race window. */
#define WRITE_SIZE (16 * PAGE)
#define MARKER 0xa5

struct writer {
	int vm;
	atomic_bool stop;
	atomic_ulong writes;
	uint8_t data[WRITE_SIZE];
};

static void *memop_writer(void *arg)
{
	struct writer *w = arg;
	struct kvm_s390_mem_op op = {
		.gaddr = 0,
		.size = WRITE_SIZE,
		.op = KVM_S390_MEMOP_ABSOLUTE_WRITE,
		.buf = (uint64_t)(uintptr_t)w->data,
	};
	while (!atomic_load(&w->stop)) {
		/* 0 while the slot exists, 5 (addressing) while it is deleted. */
		int r = KVM_IOCTL(w->vm, KVM_S390_MEM_OP, &op);
		if (r != 0 && r != 5) {
			atomic_store(&w->stop, true);
			return (void *)1;
		}
		atomic_fetch_add(&w->writes, 1);
	}
	return NULL;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* Gives a write still in flight time to land: a memop copy takes microseconds. */
static void settle(void)
{
	double until = now_s() + 50e-6;
	while (now_s() < until)
		;
}

/* One thread keeps writing a marker into slot 0 with VM memops; the other deletes the slot,
 * clears the old backing memory, gives any straggling write time to land, checks that none
 * did, and re-creates the slot. Before read-side sections a memop that had looked the slot
 * up before the delete still wrote the memory afterwards (hundreds of times in 20000). */
static bool test_delete_waits_for_inflight_memops(void)
{
	bool ok = false;
	struct writer *w = calloc(1, sizeof(*w));
	uint8_t *mem = map_aligned(MiB, MiB);
	pthread_t t;
	bool started = false;
	int late = 0, iterations = 0;
	CHECK(w && mem);
	memset(w->data, MARKER, sizeof(w->data));
	w->vm = open_vm(NULL);
	CHECK(w->vm >= 0);
	CHECK_RET(set_region(w->vm, 0, 0, 0, MiB, mem), 0);
	CHECK(pthread_create(&t, NULL, memop_writer, w) == 0);
	started = true;
	double end = now_s() + 3.0;
	for (; iterations < 20000 && now_s() < end; iterations++) {
		/* Let the writer get going on this incarnation of the slot. */
		unsigned long seen = atomic_load(&w->writes);
		while (atomic_load(&w->writes) == seen && !atomic_load(&w->stop))
			;
		CHECK_RET(set_region(w->vm, 0, 0, 0, 0, NULL), 0);
		memset(mem, 0, WRITE_SIZE);
		/* A write still in flight would land within a few microseconds. */
		settle();
		for (size_t i = 0; i < WRITE_SIZE; i++) {
			if (mem[i]) {
				late++;
				break;
			}
		}
		CHECK_RET(set_region(w->vm, 0, 0, 0, MiB, mem), 0);
	}
	if (late)
		FAIL("memops wrote a deleted slot's memory after the delete returned: %d of %d "
		     "iterations",
		     late, iterations);
	fprintf(stderr, "  %d iterations\n", iterations);
	CHECK(iterations >= 20);
	ok = true;
done:
	if (started) {
		void *r;
		atomic_store(&w->stop, true);
		pthread_join(t, &r);
		if (r)
			ok = false;
	}
	if (w)
		KVM_CLOSE(w->vm);
	free(w);
	return ok;
}

/* A move returns only when no memop can still reach the memory through the old address. */
static bool test_move_waits_for_inflight_memops(void)
{
	bool ok = false;
	struct writer *w = calloc(1, sizeof(*w));
	uint8_t *mem = map_aligned(MiB, MiB);
	pthread_t t;
	bool started = false;
	int late = 0, iterations = 0;
	CHECK(w && mem);
	memset(w->data, MARKER, sizeof(w->data));
	w->vm = open_vm(NULL);
	CHECK(w->vm >= 0);
	CHECK_RET(set_region(w->vm, 0, 0, 0, MiB, mem), 0);
	CHECK(pthread_create(&t, NULL, memop_writer, w) == 0);
	started = true;
	double end = now_s() + 1.0;
	for (; iterations < 5000 && now_s() < end; iterations++) {
		unsigned long seen = atomic_load(&w->writes);
		while (atomic_load(&w->writes) == seen && !atomic_load(&w->stop))
			;
		/* Away from guest address 0, where the writer writes. */
		CHECK_RET(set_region(w->vm, 0, 0, 16 * MiB, MiB, mem), 0);
		memset(mem, 0, WRITE_SIZE);
		settle();
		for (size_t i = 0; i < WRITE_SIZE; i++) {
			if (mem[i]) {
				late++;
				break;
			}
		}
		CHECK_RET(set_region(w->vm, 0, 0, 0, MiB, mem), 0);
	}
	if (late)
		FAIL("memops wrote a moved slot's memory through its old address: %d of %d", late,
		     iterations);
	ok = true;
done:
	if (started) {
		void *r;
		atomic_store(&w->stop, true);
		pthread_join(t, &r);
		if (r)
			ok = false;
	}
	if (w)
		KVM_CLOSE(w->vm);
	free(w);
	return ok;
}

/* Virtual size and resident size of this process, in bytes. */
static bool statm(uint64_t *vsz, uint64_t *rss)
{
	unsigned long long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f)
		return false;
	bool ok = fscanf(f, "%llu %llu", &size, &resident) == 2;
	fclose(f);
	*vsz = size * (uint64_t)sysconf(_SC_PAGESIZE);
	*rss = resident * (uint64_t)sysconf(_SC_PAGESIZE);
	return ok;
}

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

/* The body of test_huge_requests, run in a child whose address space is limited to what it
 * uses plus 1 GiB (like `ulimit -v`; not under ASan, which reserves terabytes up front and
 * then cannot allocate). Exit status: 0 if every check passed. */
static int huge_requests_child(void)
{
	uint64_t vsz0, rss0, vsz1, rss1;
	if (!statm(&vsz0, &rss0))
		return 10;
#ifndef UNDER_ASAN
	struct rlimit lim = {vsz0 + 1024 * MiB, vsz0 + 1024 * MiB};
	if (setrlimit(RLIMIT_AS, &lim) != 0)
		return 11;
#endif
	int vm = open_vm(NULL);
	if (vm < 0)
		return 12;
	/* No memory is needed behind a slot until it is accessed; the addresses only have to be
	 * user addresses. */
	uint64_t ua = 0x100000000000ull;
	/* 7 TiB with a user address that is not 1 MiB aligned: the s390 check refuses it. */
	errno = 0;
	if (set_region(vm, 0, 0, 0, 7ull << 40, (void *)(uintptr_t)(ua + PAGE)) != -1 ||
	    errno != EINVAL) {
		fprintf(stderr, "  7 TiB misaligned: errno %d\n", errno);
		return 13;
	}
	/* The same with dirty logging (whose bitmap the kernel allocates first). */
	errno = 0;
	if (set_region(vm, 0, KVM_MEM_LOG_DIRTY_PAGES, 0, 7ull << 40,
		       (void *)(uintptr_t)(ua + PAGE)) != -1 ||
	    errno != EINVAL) {
		fprintf(stderr, "  7 TiB misaligned, dirty logging: errno %d\n", errno);
		return 14;
	}
	/* A valid slot of the maximum size (2^31 - 1 pages, rounded down to 1 MiB). */
	uint64_t max = ((1ull << 31) - 1) * PAGE & ~(MiB - 1);
	if (set_region(vm, 0, 0, 0, max, (void *)(uintptr_t)ua) != 0) {
		fprintf(stderr, "  maximum-size slot: errno %d\n", errno);
		return 15;
	}
	if (!statm(&vsz1, &rss1))
		return 16;
	if (vsz1 > vsz0 + 64 * MiB || rss1 > rss0 + 64 * MiB) {
		fprintf(stderr, "  maximum-size slot grew VSZ by %llu MiB, RSS by %llu MiB\n",
			(unsigned long long)((vsz1 - vsz0) / MiB),
			(unsigned long long)((rss1 - rss0) / MiB));
		return 17;
	}
	/* Storage keys still work on it: the first key change allocates one chunk. */
	uint8_t key = 0x30, got = 0;
	struct kvm_s390_skeys sk = {.start_gfn = (max - MiB) / PAGE, .count = 1,
				    .skeydata_addr = (uintptr_t)&key};
	if (KVM_IOCTL(vm, KVM_S390_SET_SKEYS, &sk) != 0)
		return 18;
	sk.skeydata_addr = (uintptr_t)&got;
	if (KVM_IOCTL(vm, KVM_S390_GET_SKEYS, &sk) != 0 || got != 0x30)
		return 19;
	KVM_CLOSE(vm);
	return 0;
}

static bool test_huge_requests(void)
{
	bool ok = false;
	int status = 0;
	fflush(NULL);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(huge_requests_child());
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		FAIL("child killed by signal %d (an allocation abort is SIGABRT)", WTERMSIG(status));
	if (WEXITSTATUS(status) != 0)
		FAIL("child failed check %d", WEXITSTATUS(status));
	ok = true;
done:
	return ok;
}

/* A forked child has only the forking thread: sections that other threads of the parent were
 * inside at the fork must not make the child's slot updates wait forever. */
static bool test_fork_child_updates_slots(void)
{
	bool ok = false;
	struct writer *w = calloc(1, sizeof(*w));
	uint8_t *mem = map_aligned(MiB, MiB);
	pthread_t t;
	bool started = false;
	CHECK(w && mem);
	w->vm = open_vm(NULL);
	CHECK(w->vm >= 0);
	CHECK_RET(set_region(w->vm, 0, 0, 0, MiB, mem), 0);
	CHECK(pthread_create(&t, NULL, memop_writer, w) == 0);
	started = true;
	for (int i = 0; i < 20; i++) {
		int status = 0;
		fflush(NULL);
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			alarm(10);
			uint8_t *m = map_aligned(MiB, MiB);
			int vm = open_vm(NULL);
			if (vm < 0 || set_region(vm, 0, 0, 0, MiB, m) != 0 ||
			    set_region(vm, 0, 0, 0, 0, NULL) != 0)
				_exit(1);
			_exit(0);
		}
		CHECK(waitpid(pid, &status, 0) == pid);
		if (WIFSIGNALED(status))
			FAIL("fork %d: child killed by signal %d (SIGALRM: a slot update hung)", i,
			     WTERMSIG(status));
		CHECK(WEXITSTATUS(status) == 0);
	}
	ok = true;
done:
	if (started) {
		void *r;
		atomic_store(&w->stop, true);
		pthread_join(t, &r);
		if (r)
			ok = false;
	}
	if (w)
		KVM_CLOSE(w->vm);
	free(w);
	return ok;
}

#define SET_GUEST_FN(vcpu, fn, opaque) SHIM_API(kvm_s390_shim_set_guest)((vcpu), (fn), (opaque))

struct slot_guest {
	struct cpu c;
	uint8_t *extra;
	int deleted, recreated, read;
	uint8_t byte;
};

/* A guest function that changes memory slots: KVM_RUN holds no read-side section while it
 * runs, so the update's wait for readers does not wait for itself; the guest operations take
 * their own sections. */
static struct kvm_s390_shim_exit slot_changing_guest(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct slot_guest *e = opaque;
	e->deleted = set_region(e->c.g.vm, 1, 0, 0, 0, NULL);
	e->recreated = set_region(e->c.g.vm, 1, 0, 64 * MiB, MiB, e->extra);
	e->read = SHIM_API(kvm_s390_shim_guest_read)(cpu, 64 * MiB, &e->byte, 1, 0);
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
}

static bool test_guest_function_changes_slots(void)
{
	bool ok = false;
	struct slot_guest e = {0};
	e.c.vcpu = -1;
	e.extra = map_aligned(MiB, MiB);
	CHECK(e.extra && cpu_open(&e.c, 0));
	e.extra[0] = 0x5a;
	CHECK_RET(set_region(e.c.g.vm, 1, 0, 64 * MiB, MiB, e.extra), 0);
	CHECK_RET(SET_GUEST_FN(e.c.vcpu, slot_changing_guest, &e), 0);
	/* PSW: 64-bit mode, DAT off, so logical = real = absolute above the prefix area. */
	e.c.run->psw_mask = PSW_64;
	e.c.run->psw_addr = 0;
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_RUN, 0), EINTR);
	CHECK(e.deleted == 0 && e.recreated == 0);
	CHECK(e.read == 0 && e.byte == 0x5a);
	ok = true;
done:
	cpu_close(&e.c);
	return ok;
}

int main(void)
{
	RUN(test_delete_waits_for_inflight_memops);
	RUN(test_move_waits_for_inflight_memops);
	RUN(test_huge_requests);
	RUN(test_guest_function_changes_slots);
	RUN(test_fork_child_updates_slots);
	DONE();
}
