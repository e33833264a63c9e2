/*
 * Adapter routes and irqfds (virt/kvm/irqchip.c, virt/kvm/eventfd.c, set_adapter_int): the
 * KVM_SET_GSI_ROUTING rules, KVM_IRQFD assign/deassign rules, and an eventfd write that sets the
 * indicator and summary bits in guest memory and makes the adapter interrupt pending.
 */
#include "vcpu.h"

#include <sys/eventfd.h>
#include <time.h>

#define IND 0x30000ull
#define SUM 0x31000ull

struct routing1 {
	struct kvm_irq_routing hdr;
	struct kvm_irq_routing_entry e[2];
};

struct fenv {
	struct guest g;
	int flic;
};

static bool fenv_open(struct fenv *f)
{
	f->flic = -1;
	if (!guest_open(&f->g, 0))
		return false;
	struct kvm_create_device cd = {.type = KVM_DEV_TYPE_FLIC};
	if (KVM_IOCTL(f->g.vm, KVM_CREATE_DEVICE, &cd))
		return false;
	f->flic = (int)cd.fd;
	return true;
}

static void fenv_close(struct fenv *f)
{
	if (f->flic >= 0)
		KVM_CLOSE(f->flic);
	KVM_CLOSE(f->g.vm);
}

static int register_adapter(struct fenv *f, uint32_t id, uint8_t isc, bool swap, bool maskable)
{
	struct kvm_s390_io_adapter ad = {.id = id, .isc = isc, .maskable = maskable, .swap = swap};
	struct kvm_device_attr a = {.group = KVM_DEV_FLIC_ADAPTER_REGISTER, .addr = (uintptr_t)&ad};
	return KVM_IOCTL(f->flic, KVM_SET_DEVICE_ATTR, &a);
}

static struct kvm_irq_routing_entry route(uint32_t gsi, uint32_t adapter, uint64_t ind_off, uint32_t sum_off)
{
	struct kvm_irq_routing_entry e;
	memset(&e, 0, sizeof(e));
	e.gsi = gsi;
	e.type = KVM_IRQ_ROUTING_S390_ADAPTER;
	e.u.adapter.ind_addr = IND;
	e.u.adapter.summary_addr = SUM;
	e.u.adapter.ind_offset = ind_off;
	e.u.adapter.summary_offset = sum_off;
	e.u.adapter.adapter_id = adapter;
	return e;
}

static int set_routes(struct fenv *f, unsigned nr, const struct kvm_irq_routing_entry *e)
{
	struct routing1 r;
	memset(&r, 0, sizeof(r));
	r.hdr.nr = nr;
	for (unsigned i = 0; i < nr; i++)
		r.e[i] = e[i];
	return KVM_IOCTL(f->g.vm, KVM_SET_GSI_ROUTING, &r);
}

static int pending_adapter_irqs(struct fenv *f)
{
	struct kvm_s390_irq buf[8];
	struct kvm_device_attr a = {.group = KVM_DEV_FLIC_GET_ALL_IRQS, .attr = sizeof(buf), .addr = (uintptr_t)buf};
	return KVM_IOCTL(f->flic, KVM_GET_DEVICE_ATTR, &a);
}

/* The irqfd thread injects after it has consumed the signal and set the bits (the kernel's
 * irqfd inject work is asynchronous too): waits up to 5 s for `want` pending interrupts and
 * returns the count then. */
static int wait_pending(struct fenv *f, int want)
{
	int n = pending_adapter_irqs(f);
	for (int i = 0; i < 5000 && n != want; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		n = pending_adapter_irqs(f);
	}
	return n;
}

/* The irqfd thread works asynchronously, as the kernel's eventfd wake-up does: waits up to 5 s
 * for the guest byte at `gpa` to have `mask` set. */
static bool wait_bits(struct fenv *f, uint64_t gpa, uint8_t mask)
{
	for (int i = 0; i < 5000; i++) {
		if ((__atomic_load_n(&f->g.mem[gpa], __ATOMIC_ACQUIRE) & mask) == mask)
			return true;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool signal_fd(int fd)
{
	uint64_t one = 1;
	return write(fd, &one, 8) == 8;
}

/* Waits until the irqfd thread has consumed `fd`'s count (its read resets it). */
static bool wait_consumed(int fd)
{
	for (int i = 0; i < 5000; i++) {
		uint64_t v;
		if (read(fd, &v, 8) < 0 && errno == EAGAIN)
			return true;
		/* We consumed it ourselves: put it back and wait. */
		if (!signal_fd(fd))
			return false;
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	return false;
}

static bool test_routing_rules(void)
{
	bool ok = false;
	struct fenv f;
	CHECK(fenv_open(&f));
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_IRQ_ROUTING), 4096);
	struct kvm_irq_routing_entry e[2] = {route(1, 0, 0, 0), route(2, 0, 0, 0)};
	CHECK_RET(set_routes(&f, 2, e), 0);
	/* Flags in the header or an entry, GSI out of range, a duplicate GSI, another type. */
	struct routing1 r;
	memset(&r, 0, sizeof(r));
	r.hdr.flags = 1;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_SET_GSI_ROUTING, &r), EINVAL);
	r.hdr.flags = 0;
	r.hdr.nr = 4097;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_SET_GSI_ROUTING, &r), EINVAL);
	e[1].flags = 1;
	CHECK_ERR(set_routes(&f, 2, e), EINVAL);
	e[1] = route(4096, 0, 0, 0);
	CHECK_ERR(set_routes(&f, 2, e), EINVAL);
	e[1] = route(1, 0, 0, 0);
	CHECK_ERR(set_routes(&f, 2, e), EINVAL);
	e[1] = route(2, 0, 0, 0);
	e[1].type = 1; /* KVM_IRQ_ROUTING_IRQCHIP */
	CHECK_ERR(set_routes(&f, 2, e), EINVAL);
	/* Guest addresses outside memory: EFAULT. */
	e[1] = route(2, 0, 0, 0);
	e[1].u.adapter.ind_addr = 1ull << 40;
	CHECK_ERR(set_routes(&f, 2, e), EFAULT);
	/* Entries beyond a PROT_NONE boundary: EFAULT. */
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_SET_GSI_ROUTING, (void *)8), EFAULT);
	/* nr 0 clears the table. */
	CHECK_RET(set_routes(&f, 0, e), 0);
	/* KVM_CREATE_IRQCHIP needs KVM_CAP_S390_IRQCHIP enabled. */
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_CREATE_IRQCHIP, 0), EINVAL);
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_IRQCHIP};
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_ENABLE_CAP, &cap), 0);
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_CREATE_IRQCHIP, 0), 0);
	ok = true;
done:
	fenv_close(&f);
	return ok;
}

static bool test_irqfd_rules(void)
{
	bool ok = false;
	struct fenv f;
	int efd = eventfd(0, EFD_NONBLOCK), efd2 = eventfd(0, EFD_NONBLOCK), p[2] = {-1, -1};
	CHECK(fenv_open(&f));
	CHECK(efd >= 0 && efd2 >= 0 && pipe(p) == 0);
	struct kvm_irqfd a = {.fd = (uint32_t)efd, .gsi = 1};
	a.flags = 4;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EINVAL);
	a.flags = 0;
	/* Not an eventfd: EINVAL; not open: EBADF. */
	a.fd = (uint32_t)p[0];
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EINVAL);
	a.fd = 999;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EBADF);
	a.fd = (uint32_t)efd;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	/* The same eventfd again (any GSI): EBUSY; through a dup too. */
	a.gsi = 2;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EBUSY);
	int d = dup(efd);
	a.fd = (uint32_t)d;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EBUSY);
	close(d);
	a.fd = (uint32_t)efd2;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	/* Deassign: of a pair that is not assigned is 0 too; a bad fd is EBADF. */
	a.flags = KVM_IRQFD_FLAG_DEASSIGN;
	a.fd = (uint32_t)efd;
	a.gsi = 7;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	a.gsi = 1;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	a.fd = 999;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EBADF);
	/* After deassign the eventfd can be assigned again. */
	a.flags = 0;
	a.fd = (uint32_t)efd;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	/* RESAMPLE with a bad resamplefd: EBADF. */
	int efd3 = eventfd(0, 0);
	a.fd = (uint32_t)efd3;
	a.flags = KVM_IRQFD_FLAG_RESAMPLE;
	a.resamplefd = 999;
	CHECK_ERR(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), EBADF);
	close(efd3);
	ok = true;
done:
	fenv_close(&f);
	close(efd);
	close(efd2);
	if (p[0] >= 0) {
		close(p[0]);
		close(p[1]);
	}
	return ok;
}

static bool test_irqfd_sets_indicators(void)
{
	bool ok = false;
	struct fenv f;
	int efd = eventfd(0, EFD_NONBLOCK), efd2 = eventfd(0, EFD_NONBLOCK);
	CHECK(fenv_open(&f));
	CHECK(efd >= 0 && efd2 >= 0);
	/* Adapter 0: MSB-0 bit numbering (swap), ISC 3; adapter 1: set_bit order, maskable. */
	CHECK_RET(register_adapter(&f, 0, 3, true, false), 0);
	CHECK_RET(register_adapter(&f, 1, 5, false, true), 0);
	struct kvm_irq_routing_entry e[2] = {route(1, 0, 13, 2), route(2, 1, 9, 70)};
	CHECK_RET(set_routes(&f, 2, e), 0);
	struct kvm_irqfd a = {.fd = (uint32_t)efd, .gsi = 1};
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	CHECK(signal_fd(efd));
	/* Swap: indicator bit 13 is 0x80 >> 5 of byte 1, summary bit 2 is 0x20 of byte 0. */
	CHECK(wait_bits(&f, IND + 1, 0x04));
	CHECK(wait_bits(&f, SUM, 0x20));
	CHECK(wait_consumed(efd));
	CHECK_RET(wait_pending(&f, 1), 1);
	struct kvm_s390_irq buf[4];
	struct kvm_device_attr ga = {.group = KVM_DEV_FLIC_GET_ALL_IRQS, .attr = sizeof(buf), .addr = (uintptr_t)buf};
	CHECK_RET(KVM_IOCTL(f.flic, KVM_GET_DEVICE_ATTR, &ga), 1);
	CHECK(buf[0].type == KVM_S390_INT_IO_AI_MASK && buf[0].u.io.io_int_word == 0x98000000);
	/* The summary bit is still set: the next signal is coalesced (no second interrupt). */
	f.g.mem[IND + 1] = 0;
	CHECK(signal_fd(efd));
	CHECK(wait_bits(&f, IND + 1, 0x04));
	CHECK(wait_consumed(efd));
	CHECK_RET(pending_adapter_irqs(&f), 1);
	/* Adapter 1 without swap: indicator bit 9 -> byte 6 of the first word, 0x02; summary bit 70
	 * -> second word, bit 6 -> byte 15, 0x40. Masked: the bits are set, no interrupt. */
	struct kvm_s390_io_adapter_req req = {.id = 1, .type = KVM_S390_IO_ADAPTER_MASK, .mask = 1};
	struct kvm_device_attr ma = {.group = KVM_DEV_FLIC_ADAPTER_MODIFY, .addr = (uintptr_t)&req};
	CHECK_RET(KVM_IOCTL(f.flic, KVM_SET_DEVICE_ATTR, &ma), 0);
	a.fd = (uint32_t)efd2;
	a.gsi = 2;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	CHECK(signal_fd(efd2));
	CHECK(wait_bits(&f, IND + 6, 0x02));
	CHECK(wait_bits(&f, SUM + 15, 0x40));
	CHECK(wait_consumed(efd2));
	CHECK_RET(pending_adapter_irqs(&f), 1);
	/* Unmasked, with the summary bit clear again: an interrupt on ISC 5. */
	req.mask = 0;
	CHECK_RET(KVM_IOCTL(f.flic, KVM_SET_DEVICE_ATTR, &ma), 0);
	f.g.mem[SUM + 15] = 0;
	CHECK(signal_fd(efd2));
	CHECK(wait_bits(&f, SUM + 15, 0x40));
	CHECK(wait_consumed(efd2));
	CHECK_RET(wait_pending(&f, 2), 2);
	CHECK_RET(KVM_IOCTL(f.flic, KVM_GET_DEVICE_ATTR, &ga), 2);
	CHECK(buf[1].u.io.io_int_word == 0xa8000000);
	/* After deassign, signals change nothing. */
	a.flags = KVM_IRQFD_FLAG_DEASSIGN;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	memset(f.g.mem + IND, 0, 16);
	CHECK(signal_fd(efd2));
	struct timespec ts = {0, 50000000};
	nanosleep(&ts, NULL);
	CHECK(f.g.mem[IND + 6] == 0);
	uint64_t v;
	CHECK(read(efd2, &v, 8) == 8 && v == 1); /* nobody consumed it */
	/* A count pending when the irqfd is assigned is delivered at once. */
	CHECK(signal_fd(efd2));
	a.flags = 0;
	CHECK_RET(KVM_IOCTL(f.g.vm, KVM_IRQFD, &a), 0);
	CHECK(wait_bits(&f, IND + 6, 0x02));
	ok = true;
done:
	fenv_close(&f);
	close(efd);
	close(efd2);
	return ok;
}

int main(void)
{
	RUN(test_routing_rules);
	RUN(test_irqfd_rules);
	RUN(test_irqfd_sets_indicators);
	DONE();
}
