/*
 * The fd model: open variants, dup family aliases, close and lifetime, fork, and that other
 * fds (files, pipes) behave exactly as without the shim.
 */
#include "test.h"

#include <sys/stat.h>
#include <sys/wait.h>

#ifndef SHIM_LINKED
int __open_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
#endif

/* True if `fd` is served by the shim (the s390 answer to a cap x86 KVM lacks). */
static bool is_shim_kvm(int fd)
{
	return KVM_IOCTL(fd, KVM_CHECK_EXTENSION, KVM_CAP_S390_COW) == 1 &&
	       KVM_IOCTL(fd, KVM_GET_API_VERSION, 0) == 12;
}

static bool test_open_variants(void)
{
	bool ok = false;
	int fds[8], n = 0, dir = -1;
	for (int i = 0; i < 8; i++)
		fds[i] = -1;
	fds[n++] = KVM_OPEN(O_RDWR);
#ifndef SHIM_LINKED
	fds[n++] = open("/dev/./kvm", O_RDWR);
	fds[n++] = open("//dev/../dev/kvm", O_RDWR | O_CLOEXEC);
	fds[n++] = openat(AT_FDCWD, "/dev/kvm", O_RDWR);
	dir = open("/dev", O_RDONLY | O_DIRECTORY);
	CHECK(dir >= 0);
	fds[n++] = openat(dir, "kvm", O_RDWR);
	fds[n++] = __open_2("/dev/kvm", O_RDWR);
	fds[n++] = __openat_2(dir, "kvm", O_RDWR);
	/* Through a symlink. */
	char link[64];
	snprintf(link, sizeof(link), "/tmp/kvm-shim-link-%d", (int)getpid());
	unlink(link);
	CHECK(symlink("/dev/kvm", link) == 0);
	fds[n++] = open(link, O_RDWR);
	unlink(link);
#endif
	for (int i = 0; i < n; i++) {
		if (fds[i] < 0 || !is_shim_kvm(fds[i]))
			FAIL("open variant %d: fd %d not served by the shim", i, fds[i]);
	}
	/* O_CLOEXEC is honoured on /dev/kvm fds. */
	CHECK(fcntl(fds[0], F_GETFD) == 0);
#ifndef SHIM_LINKED
	CHECK(fcntl(fds[2], F_GETFD) == FD_CLOEXEC);
	/* Wrong open modes get the kernel's answers. */
	CHECK_ERR(open("/dev/kvm", O_RDWR | O_DIRECTORY), ENOTDIR);
	CHECK_ERR(open("/dev/kvm", O_RDWR | O_CREAT | O_EXCL, 0600), EEXIST);
#endif
	ok = true;
done:
	for (int i = 0; i < n; i++)
		KVM_CLOSE(fds[i]);
	if (dir >= 0)
		close(dir);
	return ok;
}

static bool test_dup_aliases(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys), d1 = -1, d2 = -1, d3 = -1, d4 = -1;
	uint8_t *mem = map_aligned(MiB, MiB);
	CHECK(vm >= 0 && mem);
	d1 = dup(vm);
	d2 = fcntl(vm, F_DUPFD_CLOEXEC, 100);
	d3 = dup3(vm, 200, O_CLOEXEC);
	d4 = dup2(vm, 201);
	CHECK(d1 >= 0 && d2 >= 100 && d3 == 200 && d4 == 201);
	CHECK(fcntl(d2, F_GETFD) == FD_CLOEXEC);
	/* All aliases reach the same VM: a slot created through one is seen through another. */
	CHECK_RET(set_region(d1, 0, 0, 0, MiB, mem), 0);
	CHECK_ERR(set_region(d2, 1, 0, 0, MiB, mem), EEXIST);
	/* The VM outlives its original fd while aliases remain. */
	CHECK_RET(KVM_CLOSE(vm), 0);
	vm = -1;
	CHECK_ERR(set_region(d3, 1, 0, 0, MiB, mem), EEXIST);
	CHECK_RET(KVM_IOCTL(d4, KVM_CHECK_EXTENSION, KVM_CAP_NR_MEMSLOTS), 32767);
	/* dup2 onto itself keeps it; dup2 of a pipe over a KVM fd replaces it. */
	CHECK_RET(dup2(d4, d4), d4);
	CHECK_RET(KVM_IOCTL(d4, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	int p[2];
	CHECK(pipe(p) == 0);
	CHECK_RET(dup2(p[0], d4), d4);
	int avail = -1;
	CHECK_RET(ioctl(d4, FIONREAD, &avail), 0);
	CHECK(avail == 0);
	CHECK_ERR(KVM_IOCTL(d4, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(ENOTTY));
	close(p[0]);
	close(p[1]);
	/* A closed fd is gone. */
	CHECK_RET(KVM_CLOSE(d1), 0);
	CHECK_ERR(KVM_IOCTL(d1, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(EBADF));
	d1 = -1;
	ok = true;
done:
	if (vm >= 0)
		KVM_CLOSE(vm);
	if (d1 >= 0)
		KVM_CLOSE(d1);
	KVM_CLOSE(d2);
	KVM_CLOSE(d3);
	KVM_CLOSE(d4);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_closed_fds(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	CHECK(vm >= 0);
	CHECK_RET(KVM_CLOSE(vm), 0);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), PASSED_ON_ERRNO(EBADF));
	CHECK_ERR(KVM_CLOSE(vm), EBADF);
	CHECK_RET(KVM_CLOSE(sys), 0);
	CHECK_ERR(KVM_IOCTL(sys, KVM_GET_API_VERSION, 0), PASSED_ON_ERRNO(EBADF));
	CHECK_ERR(KVM_IOCTL(-1, KVM_GET_API_VERSION, 0), PASSED_ON_ERRNO(EBADF));
	CHECK_ERR(KVM_IOCTL(1 << 30, KVM_GET_API_VERSION, 0), PASSED_ON_ERRNO(EBADF));
	ok = true;
done:
	return ok;
}

static bool test_fork_gets_eio(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	CHECK(vm >= 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Child: the VM belongs to the parent's address space. */
		errno = 0;
		int r = KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY);
		int code = (r == -1 && errno == EIO) ? 0 : 10;
		/* The /dev/kvm fd keeps working, and a VM created here is the child's own. */
		int vm2 = KVM_IOCTL(sys, KVM_CREATE_VM, 0);
		if (vm2 < 0 || KVM_IOCTL(vm2, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY) != 1)
			code |= 20;
		_exit(code);
	}
	int status = 0;
	CHECK(waitpid(pid, &status, 0) == pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("child status %#x", status);
	/* The parent is unaffected. */
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_USER_MEMORY), 1);
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_other_fds_untouched(void)
{
	bool ok = false;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/kvm-shim-file-%d", (int)getpid());
	int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600), g = -1, p[2] = {-1, -1};
	CHECK(f >= 0);
	CHECK_RET(write(f, "hello", 5), 5);
	/* ioctl on a regular file: FIONREAD works, a KVM request is ENOTTY as without the shim. */
	int n = -1;
	CHECK_RET(ioctl(f, FIONREAD, &n), 0);
	CHECK(n == 0);
	CHECK_ERR(ioctl(f, KVM_GET_API_VERSION, 0), PASSED_ON_ERRNO(ENOTTY));
	CHECK_ERR(ioctl(f, KVM_CREATE_VM, 0), PASSED_ON_ERRNO(ENOTTY));
	g = dup(f);
	CHECK(g >= 0);
	CHECK(lseek(g, 0, SEEK_SET) == 0);
	char buf[8] = {0};
	CHECK_RET(read(g, buf, 5), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_RET(close(g), 0);
	CHECK_ERR(close(g), EBADF);
	CHECK(pipe(p) == 0);
	CHECK_RET(write(p[1], "abc", 3), 3);
	CHECK_RET(ioctl(p[0], FIONREAD, &n), 0);
	CHECK(n == 3);
	CHECK(fcntl(p[0], F_DUPFD, 50) >= 50);
	CHECK_ERR(ioctl(-5, FIONREAD, &n), EBADF);
	CHECK_ERR(open("/nonexistent/kvm-shim", O_RDONLY), ENOENT);
	CHECK_ERR(open("/dev/kvm-not-really", O_RDONLY), ENOENT);
	/* A bad path pointer gets EFAULT from the kernel, not a crash in the shim. */
	CHECK_ERR(open((const char *)8, O_RDONLY), EFAULT);
	ok = true;
done:
	if (f >= 0)
		close(f);
	unlink(path);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	return ok;
}

int main(void)
{
	RUN(test_open_variants);
	RUN(test_dup_aliases);
	RUN(test_closed_fds);
	RUN(test_fork_gets_eio);
	RUN(test_other_fds_untouched);
	DONE();
}
