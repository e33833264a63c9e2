/*
 * Interrupts (arch/s390/kvm/interrupt.c): the FLIC device and every attribute group, floating
 * and local injection with the kernel's validation, KVM_S390_GET/SET_IRQ_STATE, delivery into
 * the lowcore for each class, priorities, masks that keep interrupts pending, SIGP stop and set
 * prefix, adapters and adapter-interruption suppression.
 *
 * KVM_RUN runs a guest function that exits at once with DIAG 0x501: interrupts are delivered
 * before it is called, so each KVM_RUN delivers what is deliverable and returns.
 */
#include "selftest.h"
#include "vcpu.h"

#define PREFIX 0x20000ull
#define NEW_PSW_ADDR 0x8000ull

#define PSW_IO (1ull << 57)
#define PSW_EXT (1ull << 56)
#define PSW_MCHK (1ull << 50)

#define CR0_EMERG (1ull << (63 - 49))
#define CR0_EXTCALL (1ull << (63 - 50))
#define CR0_SERVICE (1ull << (63 - 54))
#define CR14_CHANNEL_REPORT (1ull << 28)
#define ISC_BIT(isc) ((0x80ull >> (isc)) << 24)
#define INT_IO(ai, cssid, ssid, schid) ((((uint32_t)(ai)) << 26) | (((uint32_t)(cssid)) << 8) | (((uint32_t)(ssid)) << 1) | 1)

static struct kvm_s390_shim_exit guest_exit_at_once(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)cpu;
	(void)opaque;
	return diag_501();
}

/* A VM with memory, vCPU 0 (and vCPU 1 if `two`) running the immediate-exit guest. */
struct irqenv {
	struct cpu c;
	int vcpu1;
	int flic;
};

static bool irq_open(struct irqenv *e, bool two, bool ais)
{
	memset(e, 0, sizeof(*e));
	e->vcpu1 = -1;
	e->flic = -1;
	e->c.g.vm = open_vm(NULL);
	e->c.g.mem = map_aligned(GUEST_SIZE, MiB);
	if (e->c.g.vm < 0 || !e->c.g.mem || set_region(e->c.g.vm, 0, 0, 0, GUEST_SIZE, e->c.g.mem))
		return false;
	if (ais) {
		struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_AIS};
		if (KVM_IOCTL(e->c.g.vm, KVM_ENABLE_CAP, &cap))
			return false;
	}
	e->c.vcpu = KVM_IOCTL(e->c.g.vm, KVM_CREATE_VCPU, 0);
	if (e->c.vcpu < 0)
		return false;
	e->c.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, e->c.vcpu, 0);
	if (e->c.run == MAP_FAILED)
		return false;
	if (two && (e->vcpu1 = KVM_IOCTL(e->c.g.vm, KVM_CREATE_VCPU, 1)) < 0)
		return false;
	struct kvm_create_device cd = {.type = KVM_DEV_TYPE_FLIC};
	if (KVM_IOCTL(e->c.g.vm, KVM_CREATE_DEVICE, &cd))
		return false;
	e->flic = (int)cd.fd;
	e->c.run->s.regs.prefix = PREFIX;
	e->c.run->kvm_dirty_regs = KVM_SYNC_PREFIX;
	return SET_GUEST(e->c.vcpu, guest_exit_at_once, NULL) == 0;
}

static void irq_close(struct irqenv *e)
{
	if (e->flic >= 0)
		KVM_CLOSE(e->flic);
	if (e->vcpu1 >= 0)
		KVM_CLOSE(e->vcpu1);
	cpu_close(&e->c);
}

/* Runs vCPU 0 once with `mask` as the PSW mask (address 0x1000): true if it exited with the
 * guest's DIAG 0x501. */
static bool run_with_psw(struct irqenv *e, uint64_t mask)
{
	e->c.run->psw_mask = mask;
	e->c.run->psw_addr = 0x1000;
	return KVM_IOCTL(e->c.vcpu, KVM_RUN, 0) == 0 && exit_was_hypercall(e->c.run);
}

/* A new PSW in the lowcore at `off`: 64-bit mode, every interrupt disabled. */
static void set_new_psw(struct irqenv *e, uint64_t off, uint64_t addr)
{
	put64(&e->c, PREFIX + off, PSW_64);
	put64(&e->c, PREFIX + off + 8, addr);
}

static uint16_t lc16(struct irqenv *e, uint64_t off)
{
	return (uint16_t)(e->c.g.mem[PREFIX + off] << 8 | e->c.g.mem[PREFIX + off + 1]);
}

static uint32_t lc32(struct irqenv *e, uint64_t off)
{
	return load_be32(e->c.g.mem + PREFIX + off);
}

static int flic_attr(int flic, unsigned long req, uint32_t group, uint64_t attr, void *addr)
{
	struct kvm_device_attr a = {.group = group, .attr = attr, .addr = (uint64_t)(uintptr_t)addr};
	return KVM_IOCTL(flic, req, &a);
}

static int vm_inject(int vm, uint32_t type, uint32_t parm, uint64_t parm64)
{
	struct kvm_s390_interrupt s = {.type = type, .parm = parm, .parm64 = parm64};
	return KVM_IOCTL(vm, KVM_S390_INTERRUPT, &s);
}

static int vcpu_irq(int vcpu, uint64_t type, uint16_t code)
{
	struct kvm_s390_irq irq;
	memset(&irq, 0, sizeof(irq));
	irq.type = type;
	irq.u.emerg.code = code; /* also extcall.code: the same offset */
	return KVM_IOCTL(vcpu, KVM_S390_IRQ, &irq);
}

static int get_all(int flic, struct kvm_s390_irq *buf, uint64_t len)
{
	return flic_attr(flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_GET_ALL_IRQS, len, buf);
}

static int irq_state(int vcpu, struct kvm_s390_irq *buf, uint32_t len)
{
	struct kvm_s390_irq_state s = {.buf = (uintptr_t)buf, .len = len};
	return KVM_IOCTL(vcpu, KVM_S390_GET_IRQ_STATE, &s);
}

/* ---- the FLIC device ------------------------------------------------------------------------ */

static bool test_flic_device(void)
{
	bool ok = false;
	struct irqenv e;
	CHECK(irq_open(&e, false, false));
	CHECK_RET(KVM_IOCTL(e.c.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_DEVICE_CTRL), 1);
	/* One FLIC per VM; TEST succeeds regardless and creates nothing. */
	struct kvm_create_device cd = {.type = KVM_DEV_TYPE_FLIC};
	CHECK_ERR(KVM_IOCTL(e.c.g.vm, KVM_CREATE_DEVICE, &cd), EINVAL);
	cd.flags = KVM_CREATE_DEVICE_TEST;
	cd.fd = 1234;
	CHECK_RET(KVM_IOCTL(e.c.g.vm, KVM_CREATE_DEVICE, &cd), 0);
	CHECK(cd.fd == 1234);
	/* HAS: groups 1..11 exist, others ENXIO. */
	for (uint32_t g = 0; g <= 12; g++) {
		if (g >= KVM_DEV_FLIC_GET_ALL_IRQS && g <= KVM_DEV_FLIC_AISM_ALL)
			CHECK_RET(flic_attr(e.flic, KVM_HAS_DEVICE_ATTR, g, 0, NULL), 0);
		else
			CHECK_ERR(flic_attr(e.flic, KVM_HAS_DEVICE_ATTR, g, 0, NULL), ENXIO);
	}
	/* Unknown groups: EINVAL for GET and SET. */
	CHECK_ERR(flic_attr(e.flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_ENQUEUE, 0, NULL), EINVAL);
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, 99, 0, NULL), EINVAL);
	/* Other requests on the device fd: ENOTTY. */
	CHECK_ERR(KVM_IOCTL(e.flic, KVM_CHECK_EXTENSION, 0), ENOTTY);
	/* The FLIC lives as long as its VM (kvm_flic_ops has no release): closing its fd does not
	 * allow a second one. */
	KVM_CLOSE(e.flic);
	e.flic = -1;
	cd.flags = 0;
	CHECK_ERR(KVM_IOCTL(e.c.g.vm, KVM_CREATE_DEVICE, &cd), EINVAL);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

/* ---- floating injection and GET_ALL_IRQS ------------------------------------------------------ */

static bool test_floating_injection(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_s390_irq buf[8];
	CHECK(irq_open(&e, false, false));
	/* Invalid floating types. */
	CHECK_ERR(vm_inject(e.c.g.vm, KVM_S390_PROGRAM_INT, 0, 0), EINVAL);
	CHECK_ERR(vm_inject(e.c.g.vm, KVM_S390_INT_EMERGENCY, 0, 0), EINVAL);
	CHECK_ERR(vm_inject(e.c.g.vm, 0xfffe7000, 0, 0), EINVAL);
	/* Service, virtio, two I/O on ISC 3 and one on ISC 1, a floating CRW machine check. */
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_INT_SERVICE, 0x1234560, 0), 0);
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_INT_VIRTIO, 0x11, 0x2222), 0);
	CHECK_RET(vm_inject(e.c.g.vm, INT_IO(0, 0, 0, 1), 0x00010001, (0xaaaaull << 32) | 0x18000000), 0);
	CHECK_RET(vm_inject(e.c.g.vm, INT_IO(0, 0, 0, 1), 0x00010002, (0xbbbbull << 32) | 0x18000000), 0);
	CHECK_RET(vm_inject(e.c.g.vm, INT_IO(0, 0, 0, 1), 0x00010003, (0xccccull << 32) | 0x08000000), 0);
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_MCHK, CR14_CHANNEL_REPORT, 1ull << 56), 0);
	/* A second SCCB while one is pending is dropped silently. */
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_INT_SERVICE, 0x7777770, 0), 0);
	/* EINVAL for length 0; ENOMEM when the records do not fit. */
	CHECK_ERR(get_all(e.flic, buf, 0), EINVAL);
	CHECK_ERR(get_all(e.flic, buf, 5 * sizeof(buf[0])), ENOMEM);
	CHECK_ERR(get_all(e.flic, (void *)8, sizeof(buf)), EFAULT);
	/* Kernel order: I/O lists by ISC (1 before 3), virtio, then service, then machine check. */
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 6);
	CHECK(buf[0].type == INT_IO(0, 0, 0, 1) && buf[0].u.io.subchannel_nr == 3 && buf[0].u.io.io_int_parm == 0xcccc);
	CHECK(buf[1].u.io.subchannel_nr == 1 && buf[1].u.io.subchannel_id == 1 && buf[1].u.io.io_int_word == 0x18000000);
	CHECK(buf[2].u.io.subchannel_nr == 2);
	CHECK(buf[3].type == KVM_S390_INT_VIRTIO && buf[3].u.ext.ext_params == 0x11 && buf[3].u.ext.ext_params2 == 0x2222);
	CHECK(buf[4].type == KVM_S390_INT_SERVICE && buf[4].u.ext.ext_params == 0x1234560);
	CHECK(buf[5].type == KVM_S390_MCHK && buf[5].u.mchk.mcic == 1ull << 56 && buf[5].u.mchk.cr14 == CR14_CHANNEL_REPORT);
	/* CLEAR_IO_IRQ: rules, then removes the matching subchannel's interrupt. */
	uint32_t schid = 0x00010002;
	struct kvm_device_attr a = {.group = KVM_DEV_FLIC_CLEAR_IO_IRQ, .attr = 4, .addr = (uintptr_t)&schid};
	a.attr = 8;
	CHECK_ERR(KVM_IOCTL(e.flic, KVM_SET_DEVICE_ATTR, &a), EINVAL);
	a.attr = 4;
	a.flags = 1;
	CHECK_ERR(KVM_IOCTL(e.flic, KVM_SET_DEVICE_ATTR, &a), EINVAL);
	a.flags = 0;
	CHECK_RET(KVM_IOCTL(e.flic, KVM_SET_DEVICE_ATTR, &a), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 5);
	CHECK(buf[1].u.io.subchannel_nr == 1 && buf[2].type == KVM_S390_INT_VIRTIO);
	/* CLEAR_IRQS empties everything; ENQUEUE re-injects saved records in order. */
	struct kvm_s390_irq saved[8];
	memcpy(saved, buf, sizeof(buf));
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_CLEAR_IRQS, 0, NULL), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 0);
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ENQUEUE, 5 * sizeof(saved[0]) - 1, saved), EINVAL);
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ENQUEUE, sizeof(saved[0]), (void *)8), EFAULT);
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ENQUEUE, 5 * sizeof(saved[0]), saved), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, saved, 5 * sizeof(buf[0])) == 0);
	/* An unknown type in ENQUEUE: EINVAL. */
	saved[0].type = KVM_S390_PROGRAM_INT;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ENQUEUE, sizeof(saved[0]), saved), EINVAL);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

/* ---- local injection rules and IRQ_STATE -------------------------------------------------------- */

static bool test_local_injection_and_state(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_s390_irq buf[8], irq;
	CHECK(irq_open(&e, true, false));
	/* Emergency and external call need an existing source CPU. */
	CHECK_ERR(vcpu_irq(e.c.vcpu, KVM_S390_INT_EMERGENCY, 7), EINVAL);
	CHECK_ERR(vcpu_irq(e.c.vcpu, KVM_S390_INT_EXTERNAL_CALL, 7), EINVAL);
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EMERGENCY, 1), 0);
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EMERGENCY, 0), 0);
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EXTERNAL_CALL, 1), 0);
	/* A second external call: EBUSY. */
	CHECK_ERR(vcpu_irq(e.c.vcpu, KVM_S390_INT_EXTERNAL_CALL, 0), EBUSY);
	/* Floating types are not vCPU interrupts. */
	CHECK_ERR(vcpu_irq(e.c.vcpu, KVM_S390_INT_SERVICE, 0), EINVAL);
	CHECK_ERR(vcpu_irq(e.c.vcpu, INT_IO(0, 0, 0, 1), 0), EINVAL);
	/* SIGP STOP flags other than STORE_STATUS: EINVAL. */
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_SIGP_STOP;
	irq.u.stop.flags = 2;
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), EINVAL);
	/* SET PREFIX is accepted on a stopped CPU (a new vCPU is stopped). */
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_SIGP_SET_PREFIX;
	irq.u.prefix.address = 0x40000;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), 0);
	/* Legacy KVM_S390_INTERRUPT on the vCPU: parameters above 16 bits are EINVAL. */
	struct kvm_s390_interrupt s = {.type = KVM_S390_PROGRAM_INT, .parm = 0x10000};
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_S390_INTERRUPT, &s), EINVAL);
	s.parm = 0x11;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_INTERRUPT, &s), 0);
	s.type = KVM_S390_RESTART;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_INTERRUPT, &s), 0);
	/* GET_IRQ_STATE: EINVAL for len 0, ENOBUFS when too small, else the kernel's order:
	 * ascending pending types (set prefix, restart, external call, program), then one
	 * emergency record per source CPU. */
	CHECK_ERR(irq_state(e.c.vcpu, buf, 0), EINVAL);
	CHECK_ERR(irq_state(e.c.vcpu, buf, 3 * sizeof(buf[0])), ENOBUFS);
	CHECK_ERR(irq_state(e.c.vcpu, (void *)8, sizeof(buf)), EFAULT);
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), 6 * (int)sizeof(buf[0]));
	CHECK(buf[0].type == KVM_S390_SIGP_SET_PREFIX && buf[0].u.prefix.address == 0x40000);
	CHECK(buf[1].type == KVM_S390_RESTART);
	CHECK(buf[2].type == KVM_S390_INT_EXTERNAL_CALL && buf[2].u.extcall.code == 1);
	CHECK(buf[3].type == KVM_S390_PROGRAM_INT && buf[3].u.pgm.code == 0x11);
	/* No intercept happened: ILC 0, marked valid. */
	CHECK(buf[3].u.pgm.flags == KVM_S390_PGM_FLAGS_ILC_VALID);
	CHECK(buf[4].type == KVM_S390_INT_EMERGENCY && buf[4].u.emerg.code == 0);
	CHECK(buf[5].type == KVM_S390_INT_EMERGENCY && buf[5].u.emerg.code == 1);
	/* SET_IRQ_STATE: length rules, EBUSY while anything is pending, then a round trip. */
	struct kvm_s390_irq_state st = {.buf = (uintptr_t)buf, .len = 0};
	CHECK_ERR(KVM_IOCTL(e.vcpu1, KVM_S390_SET_IRQ_STATE, &st), EINVAL);
	st.len = sizeof(buf[0]) + 1;
	CHECK_ERR(KVM_IOCTL(e.vcpu1, KVM_S390_SET_IRQ_STATE, &st), EINVAL);
	st.len = 288 * sizeof(buf[0]);
	CHECK_ERR(KVM_IOCTL(e.vcpu1, KVM_S390_SET_IRQ_STATE, &st), EINVAL);
	st.len = 6 * sizeof(buf[0]);
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_S390_SET_IRQ_STATE, &st), EBUSY);
	CHECK_RET(KVM_IOCTL(e.vcpu1, KVM_S390_SET_IRQ_STATE, &st), 0);
	struct kvm_s390_irq back[8];
	CHECK_RET(irq_state(e.vcpu1, back, sizeof(back)), 6 * (int)sizeof(back[0]));
	CHECK(memcmp(back, buf, 6 * sizeof(buf[0])) == 0);
	/* A normal reset clears the local interrupts. */
	CHECK_RET(KVM_IOCTL(e.vcpu1, KVM_S390_NORMAL_RESET, 0), 0);
	CHECK_RET(irq_state(e.vcpu1, back, sizeof(back)), 0);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

/* ---- delivery ------------------------------------------------------------------------------------ */

static bool test_delivery_external_and_io(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_s390_irq buf[4];
	CHECK(irq_open(&e, true, false));
	set_new_psw(&e, 0x1b0, NEW_PSW_ADDR);      /* external */
	set_new_psw(&e, 0x1f0, NEW_PSW_ADDR + 16); /* I/O */
	/* An emergency signal with external interrupts disabled stays pending. */
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EMERGENCY, 1), 0);
	CHECK(set_cr(&e.c, 0, CR0_EMERG));
	CHECK(run_with_psw(&e, PSW_64));
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), (int)sizeof(buf[0]));
	/* Enabled in the PSW but not in CR0: still pending. */
	CHECK(set_cr(&e.c, 0, 0));
	CHECK(run_with_psw(&e, PSW_64 | PSW_EXT));
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), (int)sizeof(buf[0]));
	/* Enabled: delivered. Code 0x1201, CPU address 1, old PSW, new PSW loaded. */
	CHECK(set_cr(&e.c, 0, CR0_EMERG));
	CHECK(run_with_psw(&e, PSW_64 | PSW_EXT));
	CHECK(lc16(&e, 0x86) == 0x1201 && lc16(&e, 0x84) == 1);
	CHECK(get64(&e.c, PREFIX + 0x130) == (PSW_64 | PSW_EXT) && get64(&e.c, PREFIX + 0x138) == 0x1000);
	CHECK(e.c.run->psw_mask == PSW_64 && e.c.run->psw_addr == NEW_PSW_ADDR);
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), 0);
	/* I/O: needs the PSW I/O bit and the ISC's CR6 bit. */
	CHECK_RET(vm_inject(e.c.g.vm, INT_IO(0, 0, 0, 1), 0x00010005, (0x12345678ull << 32) | 0x28000000), 0);
	CHECK(run_with_psw(&e, PSW_64 | PSW_IO));
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 1);
	CHECK(set_cr(&e.c, 6, ISC_BIT(5)));
	CHECK(run_with_psw(&e, PSW_64 | PSW_IO));
	CHECK(lc16(&e, 0xb8) == 1 && lc16(&e, 0xba) == 5 && lc32(&e, 0xbc) == 0x12345678 && lc32(&e, 0xc0) == 0x28000000);
	CHECK(get64(&e.c, PREFIX + 0x170) == (PSW_64 | PSW_IO) && e.c.run->psw_addr == NEW_PSW_ADDR + 16);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 0);
	/* Service signal: parameter at 0x80. */
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_INT_SERVICE, 0xabcd0, 0), 0);
	CHECK(set_cr(&e.c, 0, CR0_SERVICE));
	CHECK(run_with_psw(&e, PSW_64 | PSW_EXT));
	CHECK(lc16(&e, 0x86) == 0x2401 && lc32(&e, 0x80) == 0xabcd0);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

static bool test_delivery_priority(void)
{
	bool ok = false;
	struct irqenv e;
	CHECK(irq_open(&e, true, false));
	/* Every new PSW disables interrupts: one delivery per KVM_RUN, highest priority first. */
	set_new_psw(&e, 0x1b0, 0x9000);
	set_new_psw(&e, 0x1f0, 0x9100);
	set_new_psw(&e, 0x1d0, 0x9200);
	set_new_psw(&e, 0x1e0, 0x9300);
	set_new_psw(&e, 0x1a0, 0x9400);
	CHECK(set_cr(&e.c, 0, CR0_EMERG | CR0_EXTCALL | CR0_SERVICE));
	CHECK(set_cr(&e.c, 6, ISC_BIT(0)));
	CHECK(set_cr(&e.c, 14, CR14_CHANNEL_REPORT));
	CHECK_RET(vm_inject(e.c.g.vm, INT_IO(0, 0, 0, 1), 0x00010001, 0x00000000), 0);
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_INT_SERVICE, 0x1000, 0), 0);
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EXTERNAL_CALL, 1), 0);
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_INT_EMERGENCY, 1), 0);
	CHECK_RET(vm_inject(e.c.g.vm, KVM_S390_MCHK, CR14_CHANNEL_REPORT, 1ull << 56), 0);
	struct kvm_s390_irq pgm;
	memset(&pgm, 0, sizeof(pgm));
	pgm.type = KVM_S390_PROGRAM_INT;
	pgm.u.pgm.code = 0x0007;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &pgm), 0);
	const uint64_t all = PSW_64 | PSW_EXT | PSW_IO | PSW_MCHK;
	/* program > machine check (repressible) > emergency > external call > service > I/O */
	const uint64_t order[] = {0x9200, 0x9300, 0x9000, 0x9000, 0x9000, 0x9100};
	const uint16_t ext_codes[] = {0, 0, 0x1201, 0x1202, 0x2401, 0};
	for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		CHECK(run_with_psw(&e, all));
		if (e.c.run->psw_addr != order[i])
			FAIL("delivery %u went to %#llx, want %#llx", i, (unsigned long long)e.c.run->psw_addr,
			     (unsigned long long)order[i]);
		if (ext_codes[i] && lc16(&e, 0x86) != ext_codes[i])
			FAIL("delivery %u: external code %#x, want %#x", i, lc16(&e, 0x86), ext_codes[i]);
	}
	/* The program interrupt: code 7, ILC 0, old PSW at 0x150. */
	CHECK(lc16(&e, 0x8e) == 7 && lc16(&e, 0x8c) == 0);
	/* The machine check: its code at 0xe8, the mode id at 163, old PSW at 0x160. */
	CHECK(get64(&e.c, PREFIX + 0xe8) == 1ull << 56 && e.c.g.mem[PREFIX + 163] == 1);
	CHECK(get64(&e.c, PREFIX + 0x160) == all);
	/* A restart ignores every mask, so it follows whatever was delivered before it in the same
	 * pass, as the kernel's delivery loop does: the program interrupt first, then the restart
	 * (whose old PSW is the program new PSW). */
	CHECK_RET(vcpu_irq(e.c.vcpu, KVM_S390_RESTART, 0), 0);
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &pgm), 0);
	CHECK(run_with_psw(&e, all));
	CHECK(e.c.run->psw_addr == 0x9400);
	CHECK(get64(&e.c, PREFIX + 0x120) == PSW_64 && get64(&e.c, PREFIX + 0x128) == 0x9200);
	CHECK(get64(&e.c, PREFIX + 0x150) == all);
	/* Nothing left. */
	struct kvm_s390_irq buf[4];
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 0);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

static bool test_stop_and_prefix(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_mp_state mp;
	CHECK(irq_open(&e, false, false));
	/* SET PREFIX on the stopped CPU; delivered at the next KVM_RUN (which starts the CPU). */
	struct kvm_s390_irq irq;
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_SIGP_SET_PREFIX;
	irq.u.prefix.address = 0x40000 | 0x1fff; /* low bits are ignored */
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), 0);
	CHECK(run_with_psw(&e, PSW_64));
	CHECK(e.c.run->s.regs.prefix == 0x40000);
	/* Now operating: SET PREFIX is EBUSY. */
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), EBUSY);
	/* SIGP STOP with STORE_STATUS: KVM_RUN exits with the stop intercept, the CPU stops and its
	 * status is stored at absolute 0x1200.. (the GPRs at 0x1280). */
	e.c.run->s.regs.gprs[3] = 0x3333;
	e.c.run->kvm_dirty_regs = 0;
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_SIGP_STOP;
	irq.u.stop.flags = KVM_S390_STOP_FLAG_STORE_STATUS;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), 0);
	CHECK_ERR(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), EBUSY);
	e.c.run->psw_mask = PSW_64;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_RUN, 0), 0);
	CHECK(e.c.run->exit_reason == KVM_EXIT_S390_SIEIC && e.c.run->s390_sieic.icptcode == 0x28);
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
	CHECK(get64(&e.c, 0x1280 + 3 * 8) == 0x3333 && e.c.g.mem[163] == 1);
	/* The stop irq was consumed. */
	struct kvm_s390_irq buf[2];
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), 0);
	/* STOP on a stopped CPU: accepted, nothing pending. */
	irq.u.stop.flags = 0;
	CHECK_RET(KVM_IOCTL(e.c.vcpu, KVM_S390_IRQ, &irq), 0);
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), 0);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

/* ---- adapters and AIS ------------------------------------------------------------------------------ */

static bool test_adapters_and_ais(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_s390_irq buf[4];
	CHECK(irq_open(&e, false, false));
	struct kvm_s390_io_adapter ad = {.id = 3, .isc = 6, .maskable = 1, .flags = KVM_S390_ADAPTER_SUPPRESSIBLE};
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_REGISTER, 0, &ad), 0);
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_REGISTER, 0, &ad), EINVAL);
	ad.id = 64;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_REGISTER, 0, &ad), EINVAL);
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_REGISTER, 0, (void *)8), EFAULT);
	/* MODIFY: mask, map/unmap no-ops, unknown type and adapter EINVAL. */
	struct kvm_s390_io_adapter_req req = {.id = 3, .type = KVM_S390_IO_ADAPTER_MASK, .mask = 1};
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_MODIFY, 0, &req), 0);
	req.type = KVM_S390_IO_ADAPTER_MAP;
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_MODIFY, 0, &req), 0);
	req.type = 9;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_MODIFY, 0, &req), EINVAL);
	req.id = 4;
	req.type = KVM_S390_IO_ADAPTER_MASK;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_MODIFY, 0, &req), EINVAL);
	/* AIRQ_INJECT: an adapter I/O interrupt on the adapter's ISC; unknown adapter EINVAL. */
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AIRQ_INJECT, 9, NULL), EINVAL);
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AIRQ_INJECT, 3, NULL), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 1);
	CHECK(buf[0].type == KVM_S390_INT_IO_AI_MASK && buf[0].u.io.io_int_word == 0xb0000000);
	/* Without facility 72 (KVM_CAP_S390_AIS not enabled), the AIS groups are EOPNOTSUPP. */
	struct kvm_s390_ais_req aisreq = {.isc = 6, .mode = 1};
	struct kvm_s390_ais_all all = {0};
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM, 0, &aisreq), EOPNOTSUPP);
	CHECK_ERR(flic_attr(e.flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_AISM_ALL, sizeof(all), &all), EOPNOTSUPP);
	irq_close(&e);

	CHECK(irq_open(&e, false, true));
	ad.id = 3;
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_ADAPTER_REGISTER, 0, &ad), 0);
	aisreq.isc = 8;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM, 0, &aisreq), EINVAL);
	aisreq.isc = 6;
	aisreq.mode = 2;
	CHECK_ERR(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM, 0, &aisreq), EINVAL);
	/* Single mode: the first adapter interrupt goes through and sets NIMM, the next is
	 * suppressed until ALL mode is set again. */
	aisreq.mode = 1;
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM, 0, &aisreq), 0);
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AIRQ_INJECT, 3, NULL), 0);
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AIRQ_INJECT, 3, NULL), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 1);
	CHECK_ERR(flic_attr(e.flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_AISM_ALL, sizeof(all) - 1, &all), EINVAL);
	CHECK_RET(flic_attr(e.flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_AISM_ALL, sizeof(all), &all), 0);
	CHECK(all.simm == 0x02 && all.nimm == 0x02);
	aisreq.mode = 0;
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM, 0, &aisreq), 0);
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AIRQ_INJECT, 3, NULL), 0);
	CHECK_RET(get_all(e.flic, buf, sizeof(buf)), 2);
	/* AISM_ALL set round trip. */
	all.simm = 0x81;
	all.nimm = 0x01;
	CHECK_RET(flic_attr(e.flic, KVM_SET_DEVICE_ATTR, KVM_DEV_FLIC_AISM_ALL, sizeof(all), &all), 0);
	memset(&all, 0, sizeof(all));
	CHECK_RET(flic_attr(e.flic, KVM_GET_DEVICE_ATTR, KVM_DEV_FLIC_AISM_ALL, sizeof(all), &all), 0);
	CHECK(all.simm == 0x81 && all.nimm == 0x01);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

/* A guest function may inject into its own vCPU: injection does not take the vCPU mutex. */
static struct kvm_s390_shim_exit guest_self_inject(struct kvm_s390_shim_guest *cpu, void *opaque)
{
	(void)cpu;
	int *vcpu = opaque;
	struct kvm_s390_irq irq;
	memset(&irq, 0, sizeof(irq));
	irq.type = KVM_S390_RESTART;
	if (KVM_IOCTL(*vcpu, KVM_S390_IRQ, &irq) != 0)
		return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_INTR};
	return diag_501();
}

static bool test_self_injection(void)
{
	bool ok = false;
	struct irqenv e;
	struct kvm_s390_irq buf[2];
	CHECK(irq_open(&e, false, false));
	CHECK_RET(SET_GUEST(e.c.vcpu, guest_self_inject, &e.c.vcpu), 0);
	CHECK(run_with_psw(&e, PSW_64));
	CHECK_RET(irq_state(e.c.vcpu, buf, sizeof(buf)), (int)sizeof(buf[0]));
	CHECK(buf[0].type == KVM_S390_RESTART);
	ok = true;
done:
	irq_close(&e);
	return ok;
}

int main(void)
{
	RUN(test_flic_device);
	RUN(test_floating_injection);
	RUN(test_local_injection_and_state);
	RUN(test_delivery_external_and_io);
	RUN(test_delivery_priority);
	RUN(test_stop_and_prefix);
	RUN(test_adapters_and_ais);
	RUN(test_self_injection);
	DONE();
}
