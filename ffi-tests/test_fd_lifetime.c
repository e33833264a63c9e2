/*
 * fd lifetime guarantees: a dup racing a close, numbers closed behind the shim's back and
 * reused by calls it does not see, forks it is not told about (raw clone), and a vCPU fd
 * that cannot be truncated under its kvm_run page.
 */
#include "vcpu.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef F_GET_SEALS
#define F_ADD_SEALS 1033
#define F_GET_SEALS 1034
#endif

/* Closes `fd` with the raw system call: the shim does not see it. */
static int raw_close(int fd)
{
	return (int)syscall(SYS_close, fd);
}

/* Moves `fd` to number `n` (free) with a raw dup3 the shim does not see; returns `n`. */
static int move_to(int fd, int n)
{
	if (fd == n)
		return n;
	if (syscall(SYS_dup3, fd, n, 0) != n)
		return -1;
	raw_close(fd);
	return n;
}

/* The race: the main thread dups race_fd while the closer thread closes it. Each round the
 * closer announces it is ready and spins; the main thread releases it and dups after a delay
 * that tunes itself to the point where the dup and the close overlap (longer after a dup that
 * won, shorter after one that lost), with some jitter. Rounds in which the two did not
 * overlap (one thread was not running) do not count; the test runs until 1000 did. */
static atomic_int round_ready, round_go, close_started, round_done;
static int race_fd = -1;

static void *closer(void *arg)
{
	(void)arg;
	for (int i = 1;; i++) {
		atomic_store(&round_ready, i);
		int g;
		for (long spins = 0; (g = atomic_load(&round_go)) != i; spins++) {
			if (g < 0)
				return NULL;
			if (spins > 1000000)
				sched_yield();
		}
		atomic_store(&close_started, i);
		close(race_fd);
		atomic_store(&round_done, i);
	}
}

static bool test_dup_close_race(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys), won = 0, contested = 0, delay = 0, i;
	pthread_t t;
	bool started = false;
	CHECK(vm >= 0);
	CHECK(pthread_create(&t, NULL, closer, NULL) == 0);
	started = true;
	for (i = 1; contested < 1000 && i <= 50000; i++) {
		race_fd = dup(vm);
		if (race_fd < 0)
			FAIL("dup(vm) in round %d", i);
		while (atomic_load(&round_ready) != i)
			sched_yield();
		atomic_store(&round_go, i);
		for (volatile int k = 0; k < delay + (i * 7) % 64; k++)
			;
		bool close_pending = atomic_load(&round_done) != i;
		int d = dup(race_fd);
		if (close_pending && atomic_load(&close_started) == i)
			contested++;
		delay = d >= 0 ? (delay < 20000 ? delay + 16 : delay) : (delay > 16 ? delay - 16 : 0);
		while (atomic_load(&round_done) != i)
			sched_yield();
		if (d >= 0) {
			won++;
			/* Whatever the order, a successful dup duplicated the VM's file. */
			errno = 0;
			int r = KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_S390_MEM_OP);
			int e = errno;
			close(d);
			if (r != 65536)
				FAIL("round %d: dup raced close, then CHECK_EXTENSION gave %d errno %d", i,
				     r, e);
		}
	}
	printf("  # %d rounds, %d overlapped, %d dups succeeded\n", i - 1, contested, won);
	ok = true;
done:
	if (started) {
		atomic_store(&round_go, -1);
		pthread_join(t, NULL);
	}
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

/* A stale VM number reused by a pipe answers as the pipe; the entry is gone afterwards. */
static bool test_stale_vm_number_is_a_pipe(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys), p[2] = {-1, -1}, n = -1;
	CHECK(vm >= 0);
	CHECK_RET(raw_close(vm), 0);
	CHECK(pipe(p) == 0);
	p[0] = move_to(p[0], vm);
	CHECK(p[0] == vm);
	CHECK_RET(write(p[1], "abc", 3), 3);
	CHECK_RET(ioctl(vm, FIONREAD, &n), 0);
	CHECK(n == 3);
	/* The stale entry was dropped: a KVM request now gets the pipe's answer. */
	CHECK_ERR(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(ENOTTY));
	ok = true;
done:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	KVM_CLOSE(sys);
	return ok;
}

/* Another anon-inode file (an eventfd) on a stale /dev/kvm number is told apart too. */
static bool test_stale_system_number_is_an_eventfd(void)
{
	bool ok = false;
	int sys = KVM_OPEN(O_RDWR), ev = -1, n = -1;
	CHECK(sys >= 0);
	CHECK_RET(raw_close(sys), 0);
	ev = move_to(eventfd(0, EFD_CLOEXEC), sys);
	CHECK(ev == sys);
	/* An eventfd has no ioctls: ENOTTY (the shim's /dev/kvm would say EINVAL). */
	CHECK_ERR(ioctl(ev, FIONREAD, &n), ENOTTY);
	CHECK_ERR(KVM_IOCTL(ev, KVM_GET_API_VERSION, 0), PASSED_ON_ERRNO(ENOTTY));
	ok = true;
done:
	if (ev >= 0)
		close(ev);
	return ok;
}

/* A dup of a stale number is a dup of what the number holds now. */
static bool test_dup_of_stale_number(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys), ev = -1, d = -1;
	CHECK(vm >= 0);
	CHECK_RET(raw_close(vm), 0);
	ev = move_to(eventfd(0, EFD_CLOEXEC), vm);
	CHECK(ev == vm);
	d = dup(ev);
	CHECK(d >= 0);
	CHECK_ERR(KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(ENOTTY));
	CHECK_ERR(KVM_IOCTL(ev, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(ENOTTY));
	ok = true;
done:
	if (d >= 0)
		close(d);
	if (ev >= 0)
		close(ev);
	KVM_CLOSE(sys);
	return ok;
}

/* A stale vCPU number reused by a memfd: ftruncate and FIONREAD reach the memfd. */
static bool test_stale_vcpu_number_is_a_memfd(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	int m = -1, n = -1;
	CHECK(cpu_open(&c, 0));
	munmap(c.run, 4096);
	c.run = NULL;
	CHECK_RET(raw_close(c.vcpu), 0);
	m = move_to(memfd_create("not-a-vcpu", MFD_CLOEXEC), c.vcpu);
	CHECK(m == c.vcpu);
	c.vcpu = -1;
	CHECK_RET(ftruncate(m, 8192), 0);
	CHECK_RET(ioctl(m, FIONREAD, &n), 0);
	CHECK(n == 8192);
	ok = true;
done:
	if (m >= 0)
		close(m);
	cpu_close(&c);
	return ok;
}

/* Live KVM fds (and their dups) still answer other requests like the kernel's files. */
static bool test_live_fds_answer_like_kvm(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	int sys = KVM_OPEN(O_RDWR), n = -1, d = -1;
	CHECK(sys >= 0);
	CHECK(cpu_open(&c, 0));
	/* kvm_dev_ioctl: EINVAL; kvm_vm_ioctl: ENOTTY; kvm_vcpu_ioctl, non-KVMIO type: EINVAL. */
	CHECK_ERR(ioctl(sys, FIONREAD, &n), EINVAL);
	CHECK_ERR(ioctl(c.g.vm, FIONREAD, &n), ENOTTY);
	CHECK_ERR(ioctl(c.vcpu, FIONREAD, &n), EINVAL);
	d = dup(c.vcpu);
	CHECK(d >= 0);
	CHECK_ERR(ioctl(d, FIONREAD, &n), EINVAL);
	CHECK_RET(KVM_IOCTL(d, KVM_GET_MP_STATE, &(struct kvm_mp_state){0}), 0);
	/* do_sys_ftruncate: a KVM fd is not a regular file. */
	CHECK_ERR(ftruncate(sys, 0), EINVAL);
	CHECK_ERR(ftruncate(c.g.vm, 0), EINVAL);
	CHECK_ERR(ftruncate(c.vcpu, 4096), EINVAL);
	CHECK_ERR(ftruncate(d, 0), EINVAL);
	/* Seals belong to shmem files. */
	CHECK_ERR(fcntl(c.vcpu, F_GET_SEALS), EINVAL);
	CHECK_ERR(fcntl(c.vcpu, F_ADD_SEALS, 0x0008 /* F_SEAL_WRITE */), EINVAL);
	ok = true;
done:
	if (d >= 0)
		close(d);
	cpu_close(&c);
	if (sys >= 0)
		KVM_CLOSE(sys);
	return ok;
}

/* A program that closes or replaces every fd it did not open itself (the shim's own among
 * them) keeps its KVM fds, and stale numbers are still told apart afterwards. */
static bool test_foreign_fds_replaced(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys), ev = -1, d = -1, vm2 = -1, n = -1, others[256], nothers = 0;
	CHECK(vm >= 0);
	ev = eventfd(0, EFD_CLOEXEC);
	CHECK(ev >= 0);
	for (int fd = 3; fd < 256; fd++)
		if (fd != sys && fd != vm && fd != ev && fcntl(fd, F_GETFD) >= 0)
			others[nothers++] = fd;
	CHECK(nothers > 0);
	for (int i = 0; i < nothers; i++)
		if (i % 2 == 0)
			CHECK_RET(dup2(ev, others[i]), others[i]);
		else
			CHECK_RET(close(others[i]), 0);
	/* The shim still knows its fds: /dev/kvm answers EINVAL (the placeholder would say
	 * ENOTTY), and dups are KVM fds. */
	CHECK_ERR(ioctl(sys, FIONREAD, &n), EINVAL);
	d = dup(vm);
	CHECK(d >= 0);
	CHECK_RET(KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	close(d);
	/* An eventfd on a stale VM number is still not taken for the VM. */
	vm2 = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
	CHECK(vm2 >= 0);
	CHECK_RET(raw_close(vm2), 0);
	CHECK_RET(move_to(dup(ev), vm2), vm2);
	d = dup(vm2);
	CHECK(d >= 0);
	CHECK_ERR(KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(ENOTTY));
	ok = true;
done:
	for (int i = 0; i < nothers; i += 2)
		close(others[i]);
	if (d >= 0)
		close(d);
	if (vm2 >= 0)
		close(vm2);
	if (ev >= 0)
		close(ev);
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

/* The same with raw closes (the shim's own fd among them): KVM fds keep working, recognised
 * by their anon inode from then on. In a child, which leaves the parent's fds alone. */
static int raw_close_others_child(void)
{
	int sys = KVM_OPEN(O_RDWR), vm = sys < 0 ? -1 : KVM_IOCTL(sys, KVM_CREATE_VM, 0), n, code = 0;
	if (vm < 0)
		return 1;
	for (int fd = 3; fd < 256; fd++)
		if (fd != sys && fd != vm)
			raw_close(fd);
	errno = 0;
	if (ioctl(sys, FIONREAD, &n) != -1 || errno != EINVAL)
		code |= 2;
	int d = dup(vm);
	if (d < 0 || KVM_IOCTL(d, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != 1)
		code |= 4;
	int sys2 = KVM_OPEN(O_RDWR);
	int d2 = sys2 < 0 ? -1 : dup(sys2);
	if (d2 < 0 || KVM_IOCTL(d2, KVM_GET_API_VERSION, 0) != 12)
		code |= 8;
	return code;
}

static bool test_own_fd_closed_raw(void)
{
	bool ok = false;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(raw_close_others_child());
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("child status %#x", status);
	ok = true;
done:
	return ok;
}

/* A child of a raw clone (no atfork handlers run) gets EIO on the parent's VM and vCPU, and
 * can make its own. */
static bool test_raw_fork_child_gets_eio(void)
{
	/* qemu-user allowance: qemu-user 7.2 neither passes MADV_WIPEONFORK on (it ignores
	 * madvise hints) nor runs a raw clone as a plain fork, so a raw fork is invisible there. */
	if (under_qemu_user())
		return true;
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	int sys = KVM_OPEN(O_RDWR | O_CLOEXEC);
	CHECK(sys >= 0);
	CHECK(cpu_open(&c, 0));
	long pid = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	CHECK(pid >= 0);
	if (pid == 0) {
		int code = 0;
		struct kvm_regs regs;
		errno = 0;
		if (KVM_IOCTL(c.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != -1 || errno != EIO)
			code |= 1;
		errno = 0;
		if (KVM_IOCTL(c.vcpu, KVM_GET_REGS, &regs) != -1 || errno != EIO)
			code |= 2;
		/* The inherited /dev/kvm fd still works, and so does a fresh one. */
		int vm2 = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
		if (vm2 < 0 || KVM_IOCTL(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != 1)
			code |= 4;
		int sys3 = KVM_OPEN(O_RDWR);
		int vm3 = sys3 < 0 ? -1 : KVM_IOCTL(sys3, KVM_CREATE_VM, 0);
		int cpu3 = vm3 < 0 ? -1 : KVM_IOCTL(vm3, KVM_CREATE_VCPU, 0);
		if (cpu3 < 0 || KVM_IOCTL(cpu3, KVM_GET_REGS, &regs) != 0)
			code |= 8;
		_exit(code);
	}
	int status = 0;
	CHECK(waitpid((pid_t)pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("child status %#x", status);
	/* The parent is unaffected. */
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	CHECK(cpu_run(&c));
	ok = true;
done:
	cpu_close(&c);
	if (sys >= 0)
		KVM_CLOSE(sys);
	return ok;
}

/* A vfork child shares the parent's memory and mm: the VM is its own (no EIO). */
static bool test_vfork_child_uses_vm(void)
{
	/* qemu-user allowance: qemu-user runs vfork as a plain fork (no shared memory). */
	if (under_qemu_user())
		return true;
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	static volatile int child_r, child_errno;
	CHECK(vm >= 0);
	child_r = -2;
	pid_t pid = vfork();
	CHECK(pid >= 0);
	if (pid == 0) {
		child_r = KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
		child_errno = errno;
		_exit(0);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (child_r != 1)
		FAIL("vfork child: %d errno %d", child_r, child_errno);
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

/* ftruncate of a vCPU fd is refused (EINVAL; a raw one hits the seal) and the vCPU and its
 * kvm_run page stay usable. Run in a child: the old failure mode is SIGBUS. */
static int ftruncate_child(void)
{
	struct cpu c = {.vcpu = -1};
	struct kvm_regs regs;
	int code = 0;
	if (!cpu_open(&c, 0))
		return 1;
	c.run->s.regs.gprs[3] = 0x1234;
	errno = 0;
	if (ftruncate(c.vcpu, 0) != -1 || errno != EINVAL)
		code |= 2;
	errno = 0;
	if (ftruncate64(c.vcpu, 0) != -1 || errno != EINVAL)
		code |= 4;
	errno = 0;
	if (syscall(SYS_ftruncate, c.vcpu, 0) != -1 || errno != EPERM)
		code |= 8;
	if (KVM_IOCTL(c.vcpu, KVM_GET_REGS, &regs) != 0 || regs.gprs[3] != 0x1234)
		code |= 16;
	if (!cpu_run(&c))
		code |= 32;
	struct kvm_run *again = mmap(NULL, 4096, PROT_READ, MAP_SHARED, c.vcpu, 0);
	if (again == MAP_FAILED || again->s.regs.gprs[3] != 0x1234)
		code |= 64;
	cpu_close(&c);
	return code;
}

static bool test_ftruncate_vcpu_refused(void)
{
	bool ok = false;
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		_exit(ftruncate_child());
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("child status %#x (signal %d, code %#x)", status,
		     WIFSIGNALED(status) ? WTERMSIG(status) : 0, WIFEXITED(status) ? WEXITSTATUS(status) : 0);
	ok = true;
done:
	return ok;
}

int main(void)
{
	/* A bad close before the first KVM fd must leave the shim's own fd bookkeeping alone (the
	 * stale-number tests below need it intact). */
	if (close(-1) != -1 || errno != EBADF)
		return 1;
	RUN(test_dup_close_race);
	RUN(test_stale_vm_number_is_a_pipe);
	RUN(test_stale_system_number_is_an_eventfd);
	RUN(test_dup_of_stale_number);
	RUN(test_stale_vcpu_number_is_a_memfd);
	RUN(test_live_fds_answer_like_kvm);
	RUN(test_foreign_fds_replaced);
	RUN(test_own_fd_closed_raw);
	RUN(test_raw_fork_child_gets_eio);
	RUN(test_vfork_child_uses_vm);
	RUN(test_ftruncate_vcpu_refused);
	DONE();
}
