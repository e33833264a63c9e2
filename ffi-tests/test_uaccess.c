/*
 * Caller memory where a fault cannot be recovered, and the fault handler's manners:
 *  - a thread that blocks SIGSEGV/SIGBUS (as QEMU's threads do) gets EFAULT or the kernel's
 *    program-exception code for every kind of access: argument structs in and out, memop
 *    buffers, guest memory behind a slot, cmpxchg, guest CS; also after its mask changed
 *    through pthread_sigmask, siglongjmp and swapcontext;
 *  - with KVM_S390_SHIM_UACCESS=syscall (tests/ffi.rs runs this file a second time so) and
 *    SIGSEGV at SIG_DFL, cmpxchg and guest CS on read-only or unmapped backing answer
 *    protection (4) like the kernel instead of killing the process;
 *  - a fault while the shim installs its handler reaches the application's handler (the
 *    handler is installed once per process, so this test runs first);
 *  - KVM_GET_FPU writes zeros in the padding of struct kvm_fpu, whatever was on the stack.
 */
#include "selftest.h"
#include "vcpu.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <ucontext.h>

#define G(name) SHIM_API(kvm_s390_shim_guest_##name)
#define SLOT1 (8 * MiB) /* guest absolute address of the second slot */

static bool syscall_mode(void)
{
	const char *m = getenv("KVM_S390_SHIM_UACCESS");
	return m && strcmp(m, "syscall") == 0;
}

static void *page(int prot)
{
	void *p = mmap(NULL, 4096, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* A first use of the shim on this thread that reads caller memory (and succeeds). */
static bool use_shim(void)
{
	int vm = open_vm(NULL);
	void *mem = map_aligned(MiB, MiB);
	bool ok = vm >= 0 && mem && set_region(vm, 0, 0, 0, MiB, mem) == 0;
	KVM_CLOSE(vm);
	return ok;
}

static void block_all(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
}

/* ---- the handler installation (defect: faults misrouted while it is under way) ------------ */

/*
 * A fault on any thread between the moment the shim's handler is in place and the moment it
 * knows the application's previous handler must still reach the application's handler. To hit
 * that window every time, the test interposes sigaction (the executable is linked with
 * -rdynamic, so the shim's calls bind to it) and faults, right after the shim's handler went
 * in, on a page the application's handler owns.
 */
static volatile int *owned;
static atomic_int app_faults, inject;

static void app_handler(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	atomic_fetch_add(&app_faults, 1);
	/* The application owns this memory: it grants access and lets the store run again. */
	mprotect((void *)((uintptr_t)si->si_addr & ~(uintptr_t)4095), 4096, PROT_READ | PROT_WRITE);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	static int (*real)(int, const struct sigaction *, struct sigaction *);
	if (!real)
		real = (__typeof__(real))dlsym(RTLD_NEXT, "sigaction");
	int r = real(sig, act, old);
	if (r == 0 && sig == SIGSEGV && act && act->sa_sigaction != app_handler && atomic_exchange(&inject, 0)) {
		mprotect((void *)owned, 4096, PROT_NONE);
		*owned += 1;
	}
	return r;
}

static bool test_handler_installation_loses_no_fault(void)
{
	bool ok = false;
	owned = page(PROT_READ | PROT_WRITE);
	CHECK(owned);
	struct sigaction sa = {.sa_sigaction = app_handler, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	atomic_store(&inject, 1);
	/* The first access to caller memory installs the shim's handler (not in syscall mode). */
	CHECK(use_shim());
	int want = syscall_mode() ? 0 : 1;
	CHECK(atomic_load(&inject) == 1 - want); /* the shim's installation was seen */
	CHECK(atomic_load(&app_faults) == want && *owned == want);
	/* Faults that are not the shim's keep reaching the application's handler. */
	mprotect((void *)owned, 4096, PROT_NONE);
	*owned += 1;
	CHECK(atomic_load(&app_faults) == want + 1 && *owned == want + 1);
	struct sigaction now;
	CHECK(sigaction(SIGSEGV, NULL, &now) == 0);
	CHECK((now.sa_sigaction == app_handler) == syscall_mode());
	ok = true;
done:
	return ok;
}

/* ---- every kind of access, where faults cannot be taken ------------------------------------ */

struct cs_result {
	int rc_ro, rc_none, rc_ok;
	uint8_t old_ok[8];
};

static struct kvm_s390_shim_exit cs_body(struct kvm_s390_shim_guest *g, void *opaque)
{
	struct cs_result *res = opaque;
	int (*cs)(struct kvm_s390_shim_guest *, uint64_t, size_t, void *, const void *, uint8_t) = G(cs);
	uint8_t old[16] = {0}, new[16] = {9, 9, 9, 9, 9, 9, 9, 9};
	res->rc_ro = cs(g, SLOT1, 8, old, new, 0);         /* read-only backing */
	res->rc_none = cs(g, SLOT1 + 4096, 8, old, new, 0); /* inaccessible backing */
	memset(old, 0, sizeof(old));
	res->rc_ok = cs(g, 0x5000, 8, old, new, 0);
	memcpy(res->old_ok, old, 8);
	return diag_501();
}

/*
 * Runs every access the shim makes to caller memory against bad memory. Slot 1 is backed by
 * two pages: the first read-only, the second inaccessible.
 */
static bool all_accesses_fail_cleanly(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	uint8_t *none = page(PROT_NONE), *ro = page(PROT_READ);
	uint8_t *b = map_aligned(MiB, MiB);
	CHECK(none && ro && b);
	CHECK(cpu_open(&c, 0));
	CHECK_RET(set_region(c.g.vm, 1, 0, SLOT1, MiB, b), 0);
	b[0] = 0x42;
	CHECK(mprotect(b, 4096, PROT_READ) == 0 && mprotect(b + 4096, 4096, PROT_NONE) == 0);

	/* Argument structs in and out. */
	CHECK_ERR(KVM_IOCTL(c.g.vm, KVM_SET_USER_MEMORY_REGION, none), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_REGS, none), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_MEM_OP, none + 4000), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_GET_FPU, ro), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, none), EFAULT);
	struct kvm_device_attr a = {.group = KVM_S390_VM_TOD, .attr = KVM_S390_VM_TOD_LOW, .addr = (uintptr_t)ro};
	CHECK_ERR(KVM_IOCTL(c.g.vm, KVM_GET_DEVICE_ATTR, &a), EFAULT);
	a.addr = (uintptr_t)none;
	CHECK_ERR(KVM_IOCTL(c.g.vm, KVM_SET_DEVICE_ATTR, &a), EFAULT);

	/* Memop buffers. */
	CHECK_ERR(abs_read(c.g.vm, 0, 16, ro, NO_KEY, 0), EFAULT);
	CHECK_ERR(abs_write(c.g.vm, 0, 16, none, NO_KEY, 0), EFAULT);
	CHECK_ERR(LREAD(&c, 0x5000, 16, ro, NO_KEY, 0), EFAULT);
	uint8_t nv[16] = {1}, ov[16] = {0};
	CHECK_ERR(cmpxchg(c.g.vm, 0x5000, 8, none, ov, NO_KEY), EFAULT);
	CHECK_ERR(cmpxchg(c.g.vm, 0x5000, 8, nv, none, NO_KEY), EFAULT);

	/* Guest memory behind a slot: the kernel reports protection (4). */
	uint8_t buf[16];
	CHECK_RET(abs_read(c.g.vm, SLOT1, 16, buf, NO_KEY, 0), 0);
	CHECK(buf[0] == 0x42);
	CHECK_RET(abs_write(c.g.vm, SLOT1, 16, buf, NO_KEY, 0), 4);
	CHECK_RET(abs_read(c.g.vm, SLOT1 + 4096, 16, buf, NO_KEY, 0), 4);
	CHECK_RET(abs_write(c.g.vm, SLOT1 + 4096 - 8, 16, buf, NO_KEY, 0), 4);
	CHECK_RET(LWRITE(&c, SLOT1, 16, buf, NO_KEY, 0), 4);
	CHECK_RET(LREAD(&c, SLOT1 + 4096, 16, buf, NO_KEY, 0), 4);

	/* cmpxchg on read-only and inaccessible backing: 4, zeros in *old_addr, memory intact. */
	for (uint32_t size = 1; size <= 16; size *= 2) {
		memset(ov, 0x77, sizeof(ov));
		CHECK_RET(cmpxchg(c.g.vm, SLOT1, size, nv, ov, NO_KEY), 4);
		for (uint32_t i = 0; i < size; i++)
			CHECK(ov[i] == 0);
		memset(ov, 0x77, sizeof(ov));
		CHECK_RET(cmpxchg(c.g.vm, SLOT1 + 4096, size, nv, ov, NO_KEY), 4);
		CHECK(ov[0] == 0 && ov[size - 1] == 0);
	}
	CHECK(b[0] == 0x42);
	/*
	 * A read-only old_addr: the exchange needs no store to it (0), but the value found after
	 * a mismatch cannot be stored (EFAULT), guest memory unchanged.
	 */
	for (uint32_t size = 1; size <= 16; size *= 2) {
		memset(c.g.mem + 0x5000, 0, 16);
		CHECK_RET(cmpxchg(c.g.vm, 0x5000, size, nv, ro, NO_KEY), 0);
		CHECK(c.g.mem[0x5000] == 1);
		CHECK_ERR(cmpxchg(c.g.vm, 0x5000, size, nv, ro, NO_KEY), EFAULT);
		CHECK(c.g.mem[0x5000] == 1);
	}
	/* And a good one still exchanges. */
	memset(ov, 0, sizeof(ov));
	memset(c.g.mem + 0x5000, 0, 8);
	CHECK_RET(cmpxchg(c.g.vm, 0x5000, 8, nv, ov, NO_KEY), 0);
	CHECK(c.g.mem[0x5000] == 1);

	/* Guest COMPARE AND SWAP: a protection exception presented to the guest. */
	struct cs_result res;
	memset(&res, 0, sizeof(res));
	memcpy(c.g.mem + 0x5000, "\0\0\0\0\0\0\0\0", 8);
	store_be64(c.g.mem + 0x1d0, PSW_64);
	store_be64(c.g.mem + 0x1d8, 0x7000);
	CHECK_RET(SET_GUEST(c.vcpu, cs_body, &res), 0);
	c.run->psw_mask = PSW_64;
	c.run->psw_addr = 0x1000;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	CHECK(exit_was_hypercall(c.run));
	CHECK(res.rc_ro == (0x100 | 4) && res.rc_none == (0x100 | 4));
	CHECK(res.rc_ok == 0 && c.g.mem[0x5000] == 9);
	ok = true;
done:
	if (c.vcpu >= 0)
		cpu_close(&c);
	munmap(none, 4096);
	munmap(ro, 4096);
	return ok;
}

/*
 * On a thread with deliverable signals; in syscall mode, where the shim needs no handler, a
 * second time with SIGSEGV and SIGBUS at SIG_DFL (as an application may set them after the
 * shim's first use).
 */
static bool test_unblocked(void)
{
	if (!all_accesses_fail_cleanly())
		return false;
	if (!syscall_mode())
		return true;
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	return all_accesses_fail_cleanly();
}

static void *blocked_thread(void *arg)
{
	bool *ok = arg;
	block_all();
	*ok = all_accesses_fail_cleanly();
	return NULL;
}

static bool test_blocked_thread(void)
{
	bool ok = false, thread_ok = false;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, blocked_thread, &thread_ok) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(thread_ok);
	ok = true;
done:
	return ok;
}

/* A thread that has used the shim with signals deliverable, then blocks them. */
static void *blocks_later_thread(void *arg)
{
	bool *ok = arg;
	if (!use_shim())
		return NULL;
	block_all();
	*ok = all_accesses_fail_cleanly();
	return NULL;
}

static bool test_thread_that_blocks_later(void)
{
	bool ok = false, thread_ok = false;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, blocks_later_thread, &thread_ok) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(thread_ok);
	ok = true;
done:
	return ok;
}

/* siglongjmp back into a blocked mask saved by sigsetjmp, after accesses unblocked. */
static void *longjmp_thread(void *arg)
{
	bool *ok = arg;
	static __thread sigjmp_buf env;
	block_all();
	if (sigsetjmp(env, 1) == 0) {
		sigset_t s;
		sigemptyset(&s);
		sigaddset(&s, SIGSEGV);
		sigaddset(&s, SIGBUS);
		pthread_sigmask(SIG_UNBLOCK, &s, NULL);
		if (!use_shim())
			return NULL;
		siglongjmp(env, 1);
	}
	*ok = all_accesses_fail_cleanly();
	return NULL;
}

static bool test_blocked_again_after_siglongjmp(void)
{
	bool ok = false, thread_ok = false;
	pthread_t t;
	CHECK(pthread_create(&t, NULL, longjmp_thread, &thread_ok) == 0);
	CHECK(pthread_join(t, NULL) == 0);
	CHECK(thread_ok);
	ok = true;
done:
	return ok;
}

/* A context whose saved mask blocks everything, entered with swapcontext. */
static ucontext_t main_ctx, blocked_ctx;
static bool ctx_ok;

static void blocked_context(void)
{
	ctx_ok = all_accesses_fail_cleanly();
}

static bool test_swapcontext_into_blocked_mask(void)
{
	bool ok = false;
	static uint8_t stack[256 * 1024];
	CHECK(getcontext(&blocked_ctx) == 0);
	blocked_ctx.uc_stack.ss_sp = stack;
	blocked_ctx.uc_stack.ss_size = sizeof(stack);
	blocked_ctx.uc_link = &main_ctx;
	sigfillset(&blocked_ctx.uc_sigmask);
	makecontext(&blocked_ctx, blocked_context, 0);
	/* This thread has learnt that its faults are deliverable. */
	CHECK(use_shim());
	ctx_ok = false;
	CHECK(swapcontext(&main_ctx, &blocked_ctx) == 0);
	CHECK(ctx_ok);
	ok = true;
done:
	return ok;
}

/* ---- byte views: KVM_GET_FPU's padding -------------------------------------------------------- */

/* Leaves `fill` in a large area of the stack below the caller's frame. */
static __attribute__((noinline)) void dirty_stack(uint8_t fill)
{
	volatile uint8_t junk[64 * 1024];
	memset((void *)junk, fill, sizeof(junk));
	__asm__ volatile("" : : "r"(junk) : "memory");
}

static bool test_get_fpu_zeroes_padding(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	struct kvm_fpu f;
	memset(&f, 0xff, sizeof(f));
	f.fpc = 0;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_FPU, &f), 0);
	for (int i = 0; i < 16; i++) {
		uint8_t out[sizeof(struct kvm_fpu)];
		memset(out, 0xa5, sizeof(out));
		dirty_stack((uint8_t)(0x5a + i));
		CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_FPU, out), 0);
		CHECK(offsetof(struct kvm_fpu, fprs) == 8);
		for (int j = 4; j < 8; j++)
			if (out[j] != 0)
				FAIL("byte %d of struct kvm_fpu (padding) is 0x%02x", j, out[j]);
		CHECK(out[8] == 0xff && out[sizeof(out) - 1] == 0xff);
	}
	ok = true;
done:
	if (c.vcpu >= 0)
		cpu_close(&c);
	return ok;
}

int main(void)
{
	/* First: the shim must not have been used yet. */
	RUN(test_handler_installation_loses_no_fault);
	RUN(test_blocked_thread);
	RUN(test_thread_that_blocks_later);
	RUN(test_blocked_again_after_siglongjmp);
	RUN(test_swapcontext_into_blocked_mask);
	RUN(test_get_fpu_zeroes_padding);
	/* Last: in syscall mode it resets SIGSEGV and SIGBUS to SIG_DFL. */
	RUN(test_unblocked);
	DONE();
}
