/* vCPUs: creation, kvm_run, registers, resets, MP state, ONE_REG, KVM_RUN and sync regs
 * (spec vm.md D.5-D.7). */
#include "vcpu.h"
#include "attr.h"

#include <sys/wait.h>

static bool test_create_limits(void)
{
	bool ok = false;
	int vm = open_vm(NULL), fds[6] = {-1, -1, -1, -1, -1, -1};
	CHECK(vm >= 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS), 248);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID), 248);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS), 8);
	fds[0] = KVM_IOCTL(vm, KVM_CREATE_VCPU, 0);
	fds[1] = KVM_IOCTL(vm, KVM_CREATE_VCPU, 63);
	fds[2] = KVM_IOCTL(vm, KVM_CREATE_VCPU, 64);  /* switches to the extended SCA */
	fds[3] = KVM_IOCTL(vm, KVM_CREATE_VCPU, 247);
	for (int i = 0; i < 4; i++)
		CHECK(fds[i] > 2);
	CHECK(fcntl(fds[0], F_GETFD) == FD_CLOEXEC);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_VCPU, 248), EINVAL);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_VCPU, 255), EINVAL);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_VCPU, 1ull << 32), EINVAL);
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_VCPU, 63), EEXIST);
	/* A closed vCPU fd does not free its id (the vCPU lives with the VM). */
	KVM_CLOSE(fds[1]);
	fds[1] = -1;
	CHECK_ERR(KVM_IOCTL(vm, KVM_CREATE_VCPU, 63), EEXIST);
	ok = true;
done:
	for (int i = 0; i < 6; i++)
		if (fds[i] >= 0)
			KVM_CLOSE(fds[i]);
	KVM_CLOSE(vm);
	return ok;
}

static bool test_initial_state_and_busy_rules(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	/* PREFIX|GPRS|ACRS|CRS|ARCH0|PFAULT|DIAG318, BPBC (facility 82), VRS (vector host). */
	CHECK(c.run->kvm_valid_regs == 0x147f);
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
	uint64_t v = 0;
	struct kvm_one_reg r = {.id = KVM_REG_S390_PFTOKEN, .addr = (uintptr_t)&v};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
	CHECK(v == KVM_S390_PFAULT_TOKEN_INVALID);
	/* The attributes and capabilities that must come before the first vCPU. */
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_ENABLE_CMMA, NULL), EBUSY);
	uint64_t limit = 1ull << 32;
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_MEM_CTRL, KVM_S390_VM_MEM_LIMIT_SIZE, &limit), EBUSY);
	static struct kvm_s390_vm_cpu_processor p;
	CHECK_RET(GET_ATTR(c.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), EBUSY);
	static struct kvm_s390_vm_cpu_subfunc sf;
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_SUBFUNC, &sf), EBUSY);
	struct kvm_s390_vm_cpu_feat f = {{0}};
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, &f), EBUSY);
	uint64_t uv = 0;
	CHECK_ERR(SET_ATTR(c.g.vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST, &uv), EBUSY);
	CHECK_ERR(enable_cap(c.g.vm, KVM_CAP_S390_VECTOR_REGISTERS), EBUSY);
	CHECK_ERR(enable_cap(c.g.vm, KVM_CAP_S390_AIS), EBUSY);
	/* Creating a vCPU is a topology change (after the capability exists the bit reads 1). */
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

static bool test_registers(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	struct kvm_regs regs, r2;
	for (int i = 0; i < 16; i++)
		regs.gprs[i] = 0x1111111111111111ull * (uint64_t)i;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_REGS, &regs), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_REGS, &r2), 0);
	CHECK(memcmp(&regs, &r2, sizeof(regs)) == 0);
	CHECK(c.run->s.regs.gprs[7] == regs.gprs[7]); /* GPRs live in kvm_run */
	c.run->s.regs.gprs[3] = 42;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_REGS, &r2), 0);
	CHECK(r2.gprs[3] == 42);

	struct kvm_sregs s, s2;
	for (int i = 0; i < 16; i++) {
		s.acrs[i] = 0x100u + (uint32_t)i;
		s.crs[i] = 0xc000 + (uint64_t)i;
	}
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SREGS, &s), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s2), 0);
	CHECK(memcmp(&s, &s2, sizeof(s)) == 0);
	CHECK(c.run->s.regs.acrs[5] == 0x105);
	/* Control registers are internal: kvm_run's copy is stale until the next KVM_RUN exit. */
	CHECK(c.run->s.regs.crs[5] == 0);
	CHECK(cpu_run(&c));
	CHECK(c.run->s.regs.crs[5] == 0xc005);
	/* With KVM_SYNC_CRS dirty, kvm_run's CRs replace the internal ones at KVM_RUN. */
	c.run->s.regs.crs[5] = 0xbeef;
	CHECK(cpu_run(&c));
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s2), 0);
	CHECK(s2.crs[5] == 0xc005 && c.run->s.regs.crs[5] == 0xc005); /* not dirty: overwritten */
	c.run->s.regs.crs[5] = 0xbeef;
	c.run->kvm_dirty_regs = KVM_SYNC_CRS;
	CHECK(cpu_run(&c));
	CHECK(c.run->kvm_dirty_regs == 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s2), 0);
	CHECK(s2.crs[5] == 0xbeef);

	struct kvm_fpu fpu, f2;
	fpu.fpc = 0x12345678;
	for (int i = 0; i < 16; i++)
		fpu.fprs[i] = 0xf000000000000000ull | (uint64_t)i;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_FPU, &fpu), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_FPU, &f2), 0);
	CHECK(f2.fpc == fpu.fpc && memcmp(f2.fprs, fpu.fprs, sizeof(fpu.fprs)) == 0);
	/* The FPRs are the high halves of the vector registers. */
	CHECK(c.run->s.regs.vrs[9][0] == fpu.fprs[9] && c.run->s.regs.fpc == 0x12345678);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_REGS, NULL), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, (void *)8), EFAULT);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

static bool test_sync_regs(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	c.run->s.regs.prefix = 0x12345;
	c.run->s.regs.todpr = 7;
	c.run->s.regs.cputm = 8;
	c.run->s.regs.ckc = 9;
	c.run->s.regs.pp = 10;
	c.run->s.regs.gbea = 11;
	c.run->s.regs.pft = 12;
	c.run->s.regs.pfs = 13;
	c.run->s.regs.pfc = 14;
	c.run->s.regs.diag318 = 15;
	c.run->kvm_dirty_regs = KVM_SYNC_PREFIX | KVM_SYNC_ARCH0 | KVM_SYNC_PFAULT | KVM_SYNC_DIAG318;
	CHECK(cpu_run(&c));
	/* The prefix is 8 KiB aligned and below 2 GiB. */
	CHECK(c.run->s.regs.prefix == 0x12000);
	CHECK(c.run->s.regs.todpr == 7 && c.run->s.regs.cputm == 8 && c.run->s.regs.ckc == 9);
	CHECK(c.run->s.regs.pp == 10 && c.run->s.regs.gbea == 11 && c.run->s.regs.pft == 12);
	CHECK(c.run->s.regs.pfs == 13 && c.run->s.regs.pfc == 14 && c.run->s.regs.diag318 == 15);
	uint64_t v = 0;
	struct kvm_one_reg r = {.id = KVM_REG_S390_CLOCK_COMP, .addr = (uintptr_t)&v};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
	CHECK(v == 9);
	/* Without dirty bits the kvm_run values are overwritten at exit. */
	c.run->s.regs.ckc = 99;
	CHECK(cpu_run(&c));
	CHECK(c.run->s.regs.ckc == 9);
	/* BPBC: with facility 82 the bit syncs in and back. */
	c.run->s.regs.bpbc = 1;
	c.run->kvm_dirty_regs = KVM_SYNC_BPBC;
	CHECK(cpu_run(&c));
	CHECK(c.run->s.regs.bpbc == 1);
	/* Invalid sync bits, a non-zero argument, immediate_exit. */
	c.run->kvm_dirty_regs = 1ull << 13;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 0), EINVAL);
	c.run->kvm_dirty_regs = 0;
	c.run->kvm_valid_regs |= 1ull << 20;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 0), EINVAL);
	c.run->kvm_valid_regs &= ~(1ull << 20);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 1), EINVAL);
	c.run->immediate_exit = 1;
	c.run->exit_reason = 0;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 0), EINTR);
	CHECK(c.run->exit_reason == 0);
	c.run->immediate_exit = 0;
	CHECK(cpu_run(&c));
	CHECK(c.run->exit_reason == KVM_EXIT_INTR);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

static bool test_psw_mp_state_and_resets(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	struct kvm_s390_psw psw = {.mask = PSW_64, .addr = 0x10000};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_SET_INITIAL_PSW, &psw), 0);
	CHECK(c.run->psw_mask == PSW_64 && c.run->psw_addr == 0x10000);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_SET_INITIAL_PSW, NULL), EFAULT);
	/* KVM_RUN starts the vCPU (userspace does not control CPU states yet). */
	CHECK(cpu_run(&c));
	struct kvm_mp_state mp;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_OPERATING);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_SET_INITIAL_PSW, &psw), EBUSY);
	/* Resets. */
	struct kvm_regs regs;
	for (int i = 0; i < 16; i++)
		regs.gprs[i] = 5;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_REGS, &regs), 0);
	c.run->s.regs.acrs[3] = 3;
	c.run->s.regs.riccb[0] = 1;
	c.run->s.regs.gscb[1] = 2;
	c.run->s.regs.etoken = 3;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_NORMAL_RESET, 0), 0);
	CHECK(c.run->s.regs.riccb[0] == 0 && c.run->s.regs.gprs[1] == 5);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_MP_STATE, &mp), 0);
	CHECK(mp.mp_state == KVM_MP_STATE_STOPPED);
	c.run->s.regs.fpc = 9;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_INITIAL_RESET, 0), 0);
	CHECK(c.run->psw_mask == 0 && c.run->psw_addr == 0);
	CHECK(c.run->s.regs.crs[0] == 0xe0 && c.run->s.regs.crs[14] == 0xc2000000 && c.run->s.regs.crs[1] == 0);
	CHECK(c.run->s.regs.gbea == 1 && c.run->s.regs.fpc == 0 && c.run->s.regs.ckc == 0);
	CHECK(c.run->s.regs.gprs[1] == 5 && c.run->s.regs.acrs[3] == 3); /* not cleared */
	struct kvm_sregs s;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s), 0);
	CHECK(s.crs[0] == 0xe0 && s.crs[14] == 0xc2000000);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_CLEAR_RESET, 0), 0);
	CHECK(c.run->s.regs.gprs[1] == 0 && c.run->s.regs.acrs[3] == 0);
	CHECK(c.run->s.regs.gscb[1] == 0 && c.run->s.regs.etoken == 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_CHECK_EXTENSION, KVM_CAP_S390_VCPU_RESETS), -1);
	/* SET_MP_STATE hands control to userspace: a stopped vCPU can no longer run. */
	mp.mp_state = KVM_MP_STATE_LOAD;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_MP_STATE, &mp), ENXIO);
	mp.mp_state = KVM_MP_STATE_CHECK_STOP;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_MP_STATE, &mp), ENXIO);
	mp.mp_state = KVM_MP_STATE_STOPPED;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_MP_STATE, &mp), 0);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_RUN, 0), EINVAL);
	mp.mp_state = KVM_MP_STATE_OPERATING;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_MP_STATE, &mp), 0);
	CHECK(cpu_run(&c));
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

static bool test_one_reg_and_caps(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	static const uint64_t ids[] = {KVM_REG_S390_EPOCHDIFF, KVM_REG_S390_CPU_TIMER, KVM_REG_S390_CLOCK_COMP,
				       KVM_REG_S390_PFTOKEN,   KVM_REG_S390_PFCOMPARE, KVM_REG_S390_PFSELECT,
				       KVM_REG_S390_PP,        KVM_REG_S390_GBEA};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		uint64_t v = 0xabcd0000 + i, back = 0;
		struct kvm_one_reg r = {.id = ids[i], .addr = (uintptr_t)&v};
		CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &r), 0);
		r.addr = (uintptr_t)&back;
		CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
		CHECK(back == v);
	}
	/* TODPR is 32 bits wide. */
	uint32_t wide[2] = {0xeeeeeeee, 0xeeeeeeee};
	uint32_t todpr = 0x12345678;
	struct kvm_one_reg r = {.id = KVM_REG_S390_TODPR, .addr = (uintptr_t)&todpr};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &r), 0);
	r.addr = (uintptr_t)wide;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
	CHECK(wide[0] == 0x12345678 && wide[1] == 0xeeeeeeee);
	r.id = 0x5030000000000010ull;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), EINVAL);
	r.id = KVM_REG_S390_GBEA;
	r.addr = 8;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, NULL), EFAULT);
	/* vCPU capabilities: CSS support only. */
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_CSS_SUPPORT};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_ENABLE_CAP, &cap), 0);
	cap.flags = 1;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_ENABLE_CAP, &cap), EINVAL);
	cap = (struct kvm_enable_cap){.cap = KVM_CAP_S390_USER_SIGP};
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_ENABLE_CAP, &cap), EINVAL);
	/* Unknown requests: ENOTTY for KVM ones, EINVAL for other ioctl types. */
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_CREATE_VM, 0), ENOTTY);
	CHECK_ERR(KVM_IOCTL(c.vcpu, 0x5401, 0), EINVAL);
	/* Pending interrupts: none; a zero-length buffer is EINVAL. */
	struct kvm_s390_irq irq;
	struct kvm_s390_irq_state st = {.buf = (uintptr_t)&irq, .len = sizeof(irq)};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_GET_IRQ_STATE, &st), 0);
	st.len = 0;
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_GET_IRQ_STATE, &st), EINVAL);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

static bool test_tod_epoch(void)
{
	bool ok = false;
	struct cpu c = {0};
	int (*freeze)(uint8_t, uint64_t) = SHIM_API(kvm_s390_shim_tod_freeze);
	int (*realtime)(void) = SHIM_API(kvm_s390_shim_tod_realtime);
	CHECK(freeze && realtime);
	CHECK_RET(freeze(0, 0x4000000000000000ull), 0);
	CHECK(cpu_open(&c, 0));
	uint64_t tod = 0x4000000000001000ull, epoch = 0;
	struct kvm_one_reg r = {.id = KVM_REG_S390_EPOCHDIFF, .addr = (uintptr_t)&epoch};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
	CHECK(epoch == 0);
	/* SET TOD updates every vCPU's epoch; vCPUs created later inherit it. */
	CHECK_RET(SET_ATTR(c.g.vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &tod), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_ONE_REG, &r), 0);
	CHECK(epoch == 0x1000);
	int v2 = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 1);
	CHECK(v2 >= 0);
	epoch = 0;
	CHECK_RET(KVM_IOCTL(v2, KVM_GET_ONE_REG, &r), 0);
	CHECK(epoch == 0x1000);
	KVM_CLOSE(v2);
	/* EPOCHDIFF changes only this vCPU, not the VM's TOD. */
	epoch = 0x5000;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &r), 0);
	uint64_t low;
	CHECK_RET(GET_ATTR(c.g.vm, KVM_S390_VM_TOD, KVM_S390_VM_TOD_LOW, &low), 0);
	CHECK(low == tod);
	ok = true;
done:
	realtime();
	cpu_close(&c);
	return ok;
}

static bool test_lifetime_and_fork(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	/* The vCPU fd keeps the VM alive. */
	int vm = c.g.vm;
	c.g.vm = -1;
	CHECK_RET(KVM_CLOSE(vm), 0);
	struct kvm_regs regs;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_REGS, &regs), 0);
	CHECK(cpu_run(&c));
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		errno = 0;
		int r = KVM_IOCTL(c.vcpu, KVM_GET_REGS, &regs);
		_exit(r == -1 && errno == EIO ? 0 : 1);
	}
	int status;
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* Checks the store-status save area at `sa` (absolute address of 0x1200's equivalent). */
static bool save_area_ok(const uint8_t *m, uint64_t sa, uint64_t prefix)
{
	bool ok = false;
	for (int i = 0; i < 16; i++) {
		CHECK(load_be64(m + sa + 8 * i) == 0xf000ull + i);          /* FPRs */
		CHECK(load_be64(m + sa + 0x80 + 8 * i) == 0x1000ull + i);   /* GPRs */
		CHECK(load_be32(m + sa + 0x140 + 4 * i) == 0x100u + i);     /* ARs */
		CHECK(load_be64(m + sa + 0x180 + 8 * i) == 0xc000ull + i);  /* CRs */
	}
	CHECK(load_be64(m + sa + 0x100) == PSW_64 && load_be64(m + sa + 0x108) == 0x4444); /* PSW */
	CHECK(load_be32(m + sa + 0x118) == prefix);
	CHECK(load_be32(m + sa + 0x11c) == 0x11);       /* FPC */
	CHECK(load_be32(m + sa + 0x124) == 0x1234);     /* TOD programmable register */
	CHECK(load_be64(m + sa + 0x128) == 0x5555);     /* CPU timer */
	CHECK(load_be64(m + sa + 0x130) == 0x1234);     /* clock comparator >> 8 */
	ok = true;
done:
	return ok;
}

static bool test_store_status(void)
{
	bool ok = false;
	struct cpu c = {0};
	CHECK(cpu_open(&c, 0));
	uint8_t *m = c.g.mem;
	struct kvm_regs r;
	struct kvm_sregs sr;
	struct kvm_fpu f;
	for (int i = 0; i < 16; i++) {
		r.gprs[i] = 0x1000 + i;
		sr.acrs[i] = 0x100 + i;
		sr.crs[i] = 0xc000 + i;
		f.fprs[i] = 0xf000 + i;
	}
	f.fpc = 0x11;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_REGS, &r), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SREGS, &sr), 0);
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_FPU, &f), 0);
	/* KVM_REG_S390_TODPR is a 32-bit register; the others are 64 bits wide. */
	uint32_t todpr = 0x1234;
	uint64_t cputm = 0x5555, ckc = 0x123400;
	struct kvm_one_reg one = {.id = KVM_REG_S390_TODPR, .addr = (uintptr_t)&todpr};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &one), 0);
	one = (struct kvm_one_reg){.id = KVM_REG_S390_CPU_TIMER, .addr = (uintptr_t)&cputm};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &one), 0);
	one = (struct kvm_one_reg){.id = KVM_REG_S390_CLOCK_COMP, .addr = (uintptr_t)&ckc};
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_ONE_REG, &one), 0);
	/* PSW and prefix reach the CPU at KVM_RUN. */
	c.run->s.regs.prefix = 0x20000;
	c.run->kvm_dirty_regs = KVM_SYNC_PREFIX;
	CHECK(set_psw(&c, PSW_64, 0x4444));
	/* NOADDR: the save area at absolute 0x1200 and the architectural-mode id at 163. */
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_STORE_STATUS, KVM_S390_STORE_STATUS_NOADDR), 0);
	CHECK(m[163] == 1);
	CHECK(save_area_ok(m, 0x1200, 0x20000));
	/* PREFIXED: the same relative to the prefix. */
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_STORE_STATUS, KVM_S390_STORE_STATUS_PREFIXED), 0);
	CHECK(m[0x20000 + 163] == 1);
	CHECK(save_area_ok(m, 0x21200, 0x20000));
	/* An address: the save area itself starts there, and no mode id is stored. */
	m[163] = 0;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_S390_STORE_STATUS, 0x30000), 0);
	CHECK(save_area_ok(m, 0x30000, 0x20000));
	CHECK(m[163] == 0);
	/* Outside guest memory: EFAULT. */
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_STORE_STATUS, 0x10000000), EFAULT);
	CHECK_ERR(KVM_IOCTL(c.vcpu, KVM_S390_STORE_STATUS, 4 * MiB - 0x100), EFAULT);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	RUN(test_create_limits);
	RUN(test_initial_state_and_busy_rules);
	RUN(test_registers);
	RUN(test_sync_regs);
	RUN(test_psw_mp_state_and_resets);
	RUN(test_one_reg_and_caps);
	RUN(test_tod_epoch);
	RUN(test_store_status);
	RUN(test_lifetime_and_fork);
	DONE();
}
