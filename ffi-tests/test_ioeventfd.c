/*
 * KVM_IOEVENTFD with KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY: assign, duplicate, deassign, missing,
 * the argument and fd checks of kvm_assign_ioeventfd / kvm_deassign_ioeventfd, the
 * capabilities, and the guest side: DIAGNOSE 0x500 subcode 3 from a guest function signals the
 * matching eventfd without an exit (new cookie in gpr 2), and exits with the DIAGNOSE intercept
 * when nothing matches.
 */
#include "selftest.h"
#include "vcpu.h"

#include <sys/eventfd.h>

#define G(name) SHIM_API(kvm_s390_shim_guest_##name)

#define CCW KVM_IOEVENTFD_FLAG_VIRTIO_CCW_NOTIFY
#define DM KVM_IOEVENTFD_FLAG_DATAMATCH
#define DEASSIGN KVM_IOEVENTFD_FLAG_DEASSIGN

/* Subchannel ids as a virtio-ccw guest passes them: 0x0001 (ssid 0) | schno. */
#define SCHID(n) (0x00010000u | (n))

static int ioeventfd(int vm, int fd, uint64_t addr, uint32_t len, uint64_t datamatch, uint32_t flags)
{
	struct kvm_ioeventfd a = {.datamatch = datamatch, .addr = addr, .len = len, .fd = fd, .flags = flags};
	return KVM_IOCTL(vm, KVM_IOEVENTFD, &a);
}

/* The eventfd counter (0 when not signalled). */
static uint64_t counter(int efd)
{
	uint64_t v = 0;
	if (read(efd, &v, 8) != 8)
		return 0;
	return v;
}

static bool test_caps(void)
{
	bool ok = false;
	int sys = -1, vm = open_vm(&sys);
	CHECK(vm >= 0);
	CHECK_RET(KVM_IOCTL(sys, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD), 1);
	CHECK_RET(KVM_IOCTL(sys, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH), 1);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD), 1);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_ANY_LENGTH), 1);
	ok = true;
done:
	KVM_CLOSE(vm);
	KVM_CLOSE(sys);
	return ok;
}

static bool test_assign_deassign(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	int a = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), b = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), a2 = -1;
	CHECK(vm >= 0 && a >= 0 && b >= 0);
	/* QEMU's registration: 8 bytes, datamatch on the queue index. */
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, CCW | DM), 0);
	CHECK_ERR(ioeventfd(vm, a, SCHID(1), 8, 0, CCW | DM), EEXIST);
	/* Collisions ignore the eventfd: another fd on the same address and value, a wildcard,
	 * or a length-0 registration at the address. */
	CHECK_ERR(ioeventfd(vm, b, SCHID(1), 8, 0, CCW | DM), EEXIST);
	CHECK_ERR(ioeventfd(vm, b, SCHID(1), 8, 0, CCW), EEXIST);
	CHECK_ERR(ioeventfd(vm, b, SCHID(1), 0, 0, CCW), EEXIST);
	/* Another queue, another length, another subchannel, another bus: no collision. */
	CHECK_RET(ioeventfd(vm, b, SCHID(1), 8, 1, CCW | DM), 0);
	CHECK_RET(ioeventfd(vm, b, SCHID(1), 4, 0, CCW | DM), 0);
	CHECK_RET(ioeventfd(vm, a, SCHID(2), 8, 0, CCW | DM), 0);
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, DM), 0);
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, KVM_IOEVENTFD_FLAG_PIO | DM), 0);
	/* Deassign: the exact registration (bus, eventfd, address, length, datamatch). */
	CHECK_ERR(ioeventfd(vm, a, SCHID(1), 8, 1, CCW | DM | DEASSIGN), ENOENT);
	CHECK_ERR(ioeventfd(vm, b, SCHID(1), 8, 0, CCW | DM | DEASSIGN), ENOENT);
	CHECK_ERR(ioeventfd(vm, a, SCHID(1), 8, 0, CCW | DEASSIGN), ENOENT);
	CHECK_ERR(ioeventfd(vm, a, SCHID(1), 4, 0, CCW | DM | DEASSIGN), ENOENT);
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, CCW | DM | DEASSIGN), 0);
	CHECK_ERR(ioeventfd(vm, a, SCHID(1), 8, 0, CCW | DM | DEASSIGN), ENOENT);
	/* Another fd of the same eventfd names it too. */
	a2 = dup(a);
	CHECK(a2 >= 0);
	CHECK_RET(ioeventfd(vm, a2, SCHID(2), 8, 0, CCW | DM | DEASSIGN), 0);
	/* The bus is part of the key. */
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, DM | DEASSIGN), 0);
	CHECK_RET(ioeventfd(vm, a, SCHID(1), 8, 0, KVM_IOEVENTFD_FLAG_PIO | DM | DEASSIGN), 0);
	/* Freed: the address takes a new registration. */
	CHECK_RET(ioeventfd(vm, b, SCHID(1), 8, 0, CCW | DM), 0);
	ok = true;
done:
	close(a);
	close(b);
	if (a2 >= 0)
		close(a2);
	KVM_CLOSE(vm);
	return ok;
}

static bool test_argument_checks(void)
{
	bool ok = false;
	int vm = open_vm(NULL);
	int e = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), file = open("/dev/null", O_RDONLY | O_CLOEXEC), closed = -1;
	CHECK(vm >= 0 && e >= 0 && file >= 0);
	/* Lengths 0, 1, 2, 4 and 8 only. */
	uint32_t bad_lens[] = {3, 5, 16, 0x80000000u};
	for (size_t i = 0; i < sizeof(bad_lens) / sizeof(bad_lens[0]); i++)
		CHECK_ERR(ioeventfd(vm, e, SCHID(1), bad_lens[i], 0, CCW), EINVAL);
	/* Range overflow. */
	CHECK_ERR(ioeventfd(vm, e, ~0ull - 3, 8, 0, CCW), EINVAL);
	CHECK_ERR(ioeventfd(vm, e, ~0ull - 7, 8, 0, CCW), EINVAL);
	CHECK_RET(ioeventfd(vm, e, ~0ull - 8, 8, 0, CCW), 0);
	/* Unknown flags (bit 4, the internal fast-MMIO bit, is accepted). */
	CHECK_ERR(ioeventfd(vm, e, SCHID(3), 8, 0, CCW | (1u << 5)), EINVAL);
	CHECK_ERR(ioeventfd(vm, e, SCHID(3), 8, 0, CCW | (1u << 31)), EINVAL);
	CHECK_RET(ioeventfd(vm, e, SCHID(3), 8, 0, CCW | (1u << 4)), 0);
	/* Length 0 with DATAMATCH or PIO. */
	CHECK_ERR(ioeventfd(vm, e, SCHID(4), 0, 0, CCW | DM), EINVAL);
	CHECK_ERR(ioeventfd(vm, e, SCHID(4), 0, 0, KVM_IOEVENTFD_FLAG_PIO), EINVAL);
	CHECK_RET(ioeventfd(vm, e, SCHID(4), 0, 0, CCW), 0);
	/* The argument checks come before the fd's. */
	CHECK_ERR(ioeventfd(vm, -1, SCHID(5), 3, 0, CCW), EINVAL);
	/* Not an open fd: EBADF; open but not an eventfd: EINVAL. */
	CHECK_ERR(ioeventfd(vm, -1, SCHID(5), 8, 0, CCW), EBADF);
	closed = dup(e);
	CHECK(closed >= 0);
	close(closed);
	CHECK_ERR(ioeventfd(vm, closed, SCHID(5), 8, 0, CCW), EBADF);
	CHECK_ERR(ioeventfd(vm, file, SCHID(5), 8, 0, CCW), EINVAL);
	CHECK_ERR(ioeventfd(vm, vm, SCHID(5), 8, 0, CCW), EINVAL);
	/* Deassign checks the fd first, and nothing else but the match. */
	CHECK_ERR(ioeventfd(vm, -1, SCHID(5), 3, 0, CCW | DEASSIGN), EBADF);
	CHECK_ERR(ioeventfd(vm, file, SCHID(5), 8, 0, CCW | DEASSIGN), EINVAL);
	CHECK_ERR(ioeventfd(vm, e, SCHID(5), 3, 0, CCW | DEASSIGN | (1u << 9)), ENOENT);
	/* A bad argument pointer. */
	CHECK_ERR(KVM_IOCTL(vm, KVM_IOEVENTFD, (void *)8), EFAULT);
	/* Not on a vCPU fd. */
	int vcpu = KVM_IOCTL(vm, KVM_CREATE_VCPU, 0);
	CHECK(vcpu >= 0);
	struct kvm_ioeventfd arg = {.addr = SCHID(6), .len = 8, .fd = e, .flags = CCW};
	CHECK_ERR(KVM_IOCTL(vcpu, KVM_IOEVENTFD, &arg), ENOTTY);
	KVM_CLOSE(vcpu);
	ok = true;
done:
	close(e);
	close(file);
	KVM_CLOSE(vm);
	return ok;
}

/* ---- the guest side: DIAGNOSE 0x500 --------------------------------------------------------- */

struct notify {
	uint64_t gpr[5];
	int result;
	uint64_t gpr2_after;
};

static struct kvm_s390_shim_exit guest_notify(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	struct notify *n = opaque;
	for (int i = 1; i <= 4; i++)
		G(set_reg)(cpu, 'g', i, n->gpr[i]);
	n->result = G(diag500)(cpu);
	n->gpr2_after = G(get_reg)(cpu, 'g', 2);
	if (n->result == KVM_S390_SHIM_DIAG500_EXIT)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 4, .ipa = 0x8324, .ipb = 0x05000000};
	return diag_501();
}

/* Runs the guest notify with gprs 1-4; true if KVM_RUN returned 0. */
static bool notify(struct cpu *c, struct notify *n, uint64_t subcode, uint32_t schid, uint64_t queue, int64_t cookie)
{
	n->gpr[1] = subcode;
	n->gpr[2] = 0xdead000000000000ull | schid;
	n->gpr[3] = queue;
	n->gpr[4] = (uint64_t)cookie;
	n->result = -2;
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == 0;
}

static bool diag_exit(struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.icptcode == 4 &&
	       run->s390_sieic.ipa == 0x8324 && run->s390_sieic.ipb == 0x05000000;
}

static bool test_guest_notify(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	struct notify n = {0};
	int q0 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), q1 = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	int other = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	CHECK(q0 >= 0 && q1 >= 0 && other >= 0);
	CHECK(cpu_open(&c, 0));
	CHECK_RET(SET_GUEST(c.vcpu, guest_notify, &n), 0);
	c.run->psw_mask = PSW_64;
	/* Bus order (kvm_io_bus_register_dev: before the first greater range, equal ranges in
	 * registration order): SCHID(1)/q1, SCHID(1)/q0, SCHID(7). */
	CHECK_RET(ioeventfd(c.g.vm, other, SCHID(7), 8, 0, CCW), 0);
	CHECK_RET(ioeventfd(c.g.vm, q1, SCHID(1), 8, 1, CCW | DM), 0);
	CHECK_RET(ioeventfd(c.g.vm, q0, SCHID(1), 8, 0, CCW | DM), 0);

	/* Without CSS support the kernel leaves every DIAG 0x500 to userspace. */
	CHECK(notify(&c, &n, 3, SCHID(1), 0, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_EXIT && diag_exit(c.run));
	CHECK(n.gpr2_after == (0xdead000000000000ull | SCHID(1)));
	CHECK(counter(q0) == 0);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_CSS_SUPPORT};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_ENABLE_CAP, &cap), 0);

	/* A match: the eventfd is signalled, gpr 2 gets the cookie (the bus index), no exit. */
	CHECK(notify(&c, &n, 3, SCHID(1), 0, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_HANDLED && exit_was_hypercall(c.run));
	CHECK(n.gpr2_after == 1);
	CHECK(counter(q0) == 1 && counter(q1) == 0);
	CHECK(notify(&c, &n, 3, SCHID(1), 1, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_HANDLED && n.gpr2_after == 0);
	CHECK(counter(q1) == 1 && counter(q0) == 0);
	/* A wildcard registration takes any queue; only the subchannel id's low word counts. */
	CHECK(notify(&c, &n, 3, SCHID(7), 42, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_HANDLED && n.gpr2_after == 2);
	CHECK(counter(other) == 1);
	/* A correct cookie hits directly; a stale one (another device, out of range) is
	 * corrected. */
	CHECK(notify(&c, &n, 3, SCHID(1), 1, 0));
	CHECK(n.gpr2_after == 0 && counter(q1) == 1);
	CHECK(notify(&c, &n, 3, SCHID(1), 1, 2));
	CHECK(n.gpr2_after == 0 && counter(q1) == 1);
	CHECK(notify(&c, &n, 3, SCHID(1), 0, 0));
	CHECK(n.gpr2_after == 1 && counter(q0) == 1);
	CHECK(notify(&c, &n, 3, SCHID(1), 0, 12345));
	CHECK(n.gpr2_after == 1 && counter(q0) == 1);
	/* Several notifies add up before the VMM reads. */
	CHECK(notify(&c, &n, 3, SCHID(1), 0, 0));
	CHECK(notify(&c, &n, 3, SCHID(1), 0, 0));
	CHECK(counter(q0) == 2);

	/* No match (another queue, another subchannel), or another subcode: the DIAGNOSE
	 * intercept, gpr 2 untouched, nothing signalled. */
	CHECK(notify(&c, &n, 3, SCHID(1), 2, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_EXIT && diag_exit(c.run));
	CHECK(n.gpr2_after == (0xdead000000000000ull | SCHID(1)));
	CHECK(notify(&c, &n, 3, SCHID(2), 0, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_EXIT && diag_exit(c.run));
	CHECK(notify(&c, &n, 4, SCHID(1), 0, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_EXIT && diag_exit(c.run));
	CHECK(counter(q0) == 0 && counter(q1) == 0 && counter(other) == 0);

	/* Deassigned: the notify goes to userspace again. */
	CHECK_RET(ioeventfd(c.g.vm, q0, SCHID(1), 8, 0, CCW | DM | DEASSIGN), 0);
	CHECK(notify(&c, &n, 3, SCHID(1), 0, 0));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_EXIT && diag_exit(c.run));
	CHECK(counter(q0) == 0);
	/* The registration outlives the caller's fd (the kernel holds the eventfd). */
	int keep = dup(q1);
	CHECK(keep >= 0);
	close(q1);
	q1 = -1;
	CHECK(notify(&c, &n, 3, SCHID(1), 1, -1));
	CHECK(n.result == KVM_S390_SHIM_DIAG500_HANDLED && counter(keep) == 1);
	close(keep);

	/* In the problem state: a privileged-operation exception, presented to the guest. */
	c.run->psw_mask = PSW_64 | (1ull << 48);
	CHECK(notify(&c, &n, 3, SCHID(7), 0, -1));
	CHECK(n.result == 0x102);
	CHECK(counter(other) == 0);
	CHECK_ERR(G(diag500)(NULL), EINVAL);
	ok = true;
done:
	close(q0);
	if (q1 >= 0)
		close(q1);
	close(other);
	cpu_close(&c);
	return ok;
}

int main(void)
{
	alarm(60);
	RUN(test_caps);
	RUN(test_assign_deassign);
	RUN(test_argument_checks);
	RUN(test_guest_notify);
	DONE();
}
