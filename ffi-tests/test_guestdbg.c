/*
 * KVM_SET_GUEST_DEBUG with KVM_GUESTDBG_USE_HW_BP (arch/s390/kvm/guestdbg.c): hardware
 * breakpoints stop KVM_RUN with KVM_EXIT_DEBUG before the instruction at their address runs,
 * write watchpoints after the instruction whose store changed the watched bytes; the
 * breakpoint list is copied in with the kernel's limits and errnos, and disabling clears it.
 */
#include "test.h"
#include "vcpu.h"

/* Guest code shared by the breakpoint tests: three rounds of a loop. */
static const uint8_t loop_prog[] = {
	0xa7, 0x19, 0x00, 0x00, /* 1000: lghi %r1,0 */
	0xa7, 0x29, 0x00, 0x03, /* 1004: lghi %r2,3 */
	0xa7, 0x1a, 0x00, 0x01, /* 1008: ahi %r1,1 */
	0xa7, 0x1a, 0x00, 0x10, /* 100c: ahi %r1,16 */
	0xa7, 0x26, 0xff, 0xfc, /* 1010: brct %r2,1008 */
	0x83, 0x00, 0x05, 0x01, /* 1014: diag 0,0,0x501 */
};

static bool setup(struct cpu *c, const uint8_t *prog, size_t n)
{
	if (!cpu_open(c, 0))
		return false;
	memcpy(c->g.mem + 0x1000, prog, n);
	c->run->psw_mask = PSW_64;
	c->run->psw_addr = 0x1000;
	return true;
}

static int set_debug(struct cpu *c, uint32_t control, struct kvm_hw_breakpoint *bp, uint32_t n)
{
	struct kvm_guest_debug d = {.control = control};
	d.arch.nr_hw_bp = n;
	d.arch.hw_bp = (uint64_t)(uintptr_t)bp;
	return KVM_IOCTL(c->vcpu, KVM_SET_GUEST_DEBUG, &d);
}

#define HW_BP (KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP)

/* KVM_RUN returned KVM_EXIT_DEBUG with kvm_run.debug.arch = {addr, type}. */
static bool debug_exit(struct cpu *c, uint64_t addr, uint8_t type)
{
	if (KVM_IOCTL(c->vcpu, KVM_RUN, 0) != 0 || c->run->exit_reason != KVM_EXIT_DEBUG) {
		fprintf(stderr, "  exit reason %u, want KVM_EXIT_DEBUG\n", c->run->exit_reason);
		return false;
	}
	const uint8_t *d = (const uint8_t *)&c->run->s390_sieic;
	uint64_t a;
	memcpy(&a, d, 8);
	if (a != addr || d[8] != type) {
		fprintf(stderr, "  debug exit at %#llx type %u, want %#llx type %u\n", (unsigned long long)a,
			d[8], (unsigned long long)addr, type);
		return false;
	}
	return true;
}

static bool diag_exit(struct cpu *c)
{
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == 0 && c->run->exit_reason == KVM_EXIT_S390_SIEIC &&
	       c->run->s390_sieic.ipa == 0x8300;
}

/* A breakpoint in the middle of the loop stops every round before its instruction: the PSW
 * is at it and its AHI 16 has not run; continuing executes it and stops in the next round. */
static bool test_breakpoint_in_a_loop(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(setup(&c, loop_prog, sizeof(loop_prog)));
	struct kvm_hw_breakpoint bp = {.addr = 0x100c, .len = 1, .type = KVM_HW_BP};
	CHECK_RET(set_debug(&c, HW_BP, &bp, 1), 0);
	CHECK(debug_exit(&c, 0x100c, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x100c && c.run->s.regs.gprs[1] == 1 && c.run->s.regs.gprs[2] == 3);
	CHECK(debug_exit(&c, 0x100c, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x100c && c.run->s.regs.gprs[1] == 18 && c.run->s.regs.gprs[2] == 2);
	CHECK(debug_exit(&c, 0x100c, KVM_HW_BP));
	CHECK(c.run->s.regs.gprs[1] == 35 && c.run->s.regs.gprs[2] == 1);
	CHECK(diag_exit(&c));
	CHECK(c.run->s.regs.gprs[1] == 51 && c.run->s.regs.gprs[2] == 0 && c.run->psw_addr == 0x1018);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* A breakpoint on the loop head: reached in sequence the first time, by the BRCT branch
 * after that; each time before the AHI 1 there. */
static bool test_breakpoint_on_a_branch_target(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(setup(&c, loop_prog, sizeof(loop_prog)));
	struct kvm_hw_breakpoint bp = {.addr = 0x1008, .len = 1, .type = KVM_HW_BP};
	CHECK_RET(set_debug(&c, HW_BP, &bp, 1), 0);
	CHECK(debug_exit(&c, 0x1008, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x1008 && c.run->s.regs.gprs[1] == 0);
	CHECK(debug_exit(&c, 0x1008, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x1008 && c.run->s.regs.gprs[1] == 17 && c.run->s.regs.gprs[2] == 2);
	CHECK(debug_exit(&c, 0x1008, KVM_HW_BP));
	CHECK(c.run->s.regs.gprs[1] == 34);
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 51);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* A breakpoint at the PSW KVM_RUN starts with raises no event before that instruction (PER
 * reports the fetch when the instruction completes): the kernel reports it as missed, after
 * the instruction ran. A breakpoint reached after a DIAG that went to userspace is reported
 * by the next KVM_RUN without running anything (KVM_GUESTDBG_EXIT_PENDING). */
static bool test_breakpoint_at_entry_and_after_userspace(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	static const uint8_t prog[] = {
		0xa7, 0x19, 0x00, 0x05, /* 1000: lghi %r1,5 */
		0x83, 0x00, 0x05, 0x01, /* 1004: diag 0,0,0x501 */
		0xa7, 0x1a, 0x00, 0x01, /* 1008: ahi %r1,1 */
		0x83, 0x00, 0x05, 0x01, /* 100c: diag 0,0,0x501 */
	};
	CHECK(setup(&c, prog, sizeof(prog)));
	struct kvm_hw_breakpoint bp[2] = {
		{.addr = 0x1000, .len = 1, .type = KVM_HW_BP},
		{.addr = 0x1008, .len = 1, .type = KVM_HW_BP},
	};
	CHECK_RET(set_debug(&c, HW_BP, bp, 2), 0);
	CHECK(debug_exit(&c, 0x1000, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x1004 && c.run->s.regs.gprs[1] == 5);
	CHECK(diag_exit(&c) && c.run->psw_addr == 0x1008);
	CHECK(debug_exit(&c, 0x1008, KVM_HW_BP));
	CHECK(c.run->psw_addr == 0x1008 && c.run->s.regs.gprs[1] == 5);
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 6);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* A write watchpoint on a word: a store next to it and a store of the value it had when the
 * watchpoint was set do not stop; the store that changes it stops after the ST, with the
 * watchpoint's address; the kernel compares with that first snapshot, so a later store into
 * the range stops again while the word differs. */
static bool test_watchpoint_on_a_word(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	static const uint8_t prog[] = {
		0xa7, 0x19, 0x20, 0x00, /* 1000: lghi %r1,0x2000 */
		0xa7, 0x38, 0x00, 0x07, /* 1004: lhi %r3,7 */
		0x50, 0x30, 0x10, 0x04, /* 1008: st %r3,4(%r1) */
		0x50, 0x40, 0x10, 0x00, /* 100c: st %r4,0(%r1) */
		0x50, 0x30, 0x10, 0x00, /* 1010: st %r3,0(%r1) */
		0xa7, 0x38, 0x00, 0x08, /* 1014: lhi %r3,8 */
		0x42, 0x30, 0x10, 0x03, /* 1018: stc %r3,3(%r1) */
		0x83, 0x00, 0x05, 0x01, /* 101c: diag 0,0,0x501 */
	};
	CHECK(setup(&c, prog, sizeof(prog)));
	memset(c.g.mem + 0x2000, 0, 8);
	c.run->s.regs.gprs[4] = 0;
	c.run->kvm_dirty_regs |= KVM_SYNC_GPRS;
	struct kvm_hw_breakpoint wp = {.addr = 0x2000, .phys_addr = 0x2000, .len = 4, .type = KVM_HW_WP_WRITE};
	CHECK_RET(set_debug(&c, HW_BP, &wp, 1), 0);
	CHECK(debug_exit(&c, 0x2000, KVM_HW_WP_WRITE));
	CHECK(c.run->psw_addr == 0x1014 && c.g.mem[0x2003] == 7 && c.g.mem[0x2007] == 7);
	CHECK(debug_exit(&c, 0x2000, KVM_HW_WP_WRITE));
	CHECK(c.run->psw_addr == 0x101c && c.g.mem[0x2003] == 8);
	CHECK(diag_exit(&c));
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* The copy-in and its limits as kvm_s390_import_bp_data: an unreadable list is EFAULT, more
 * than 50 entries EINVAL, a watchpoint longer than 100 bytes (its length read as an int)
 * EINVAL, one whose 64-bit length cannot be allocated ENOMEM, one outside guest memory
 * EFAULT; an unknown type is ignored, no list sets nothing; unknown control flags (also the
 * kernel-internal EXIT_PENDING) are EINVAL. Every failure leaves debugging off. */
static bool test_import_errors(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(setup(&c, loop_prog, sizeof(loop_prog)));
	struct kvm_hw_breakpoint bp[51];
	memset(bp, 0, sizeof(bp));
	for (int i = 0; i < 51; i++) {
		bp[i].addr = 0x100c;
		bp[i].len = 1;
		bp[i].type = KVM_HW_BP;
	}
	CHECK_ERR(set_debug(&c, HW_BP, bp, 51), EINVAL);
	CHECK_RET(set_debug(&c, HW_BP, bp, 50), 0);
	/* A bad pointer, and a list running into an unmapped page. */
	CHECK_ERR(set_debug(&c, HW_BP, (struct kvm_hw_breakpoint *)8, 1), EFAULT);
	uint8_t *pages = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(pages != MAP_FAILED);
	munmap(pages + 4096, 4096);
	struct kvm_hw_breakpoint *tail = (struct kvm_hw_breakpoint *)(pages + 4096 - sizeof(*tail));
	memcpy(tail, &bp[0], sizeof(*tail));
	CHECK_RET(set_debug(&c, HW_BP, tail, 1), 0);
	CHECK_ERR(set_debug(&c, HW_BP, tail, 2), EFAULT);
	munmap(pages, 4096);
	struct kvm_hw_breakpoint wp = {.addr = 0x2000, .phys_addr = 0x2000, .len = 101, .type = KVM_HW_WP_WRITE};
	CHECK_ERR(set_debug(&c, HW_BP, &wp, 1), EINVAL);
	wp.len = 0xffffffffull;
	CHECK_ERR(set_debug(&c, HW_BP, &wp, 1), EINVAL);
	wp.len = 0x100000004ull;
	CHECK_ERR(set_debug(&c, HW_BP, &wp, 1), ENOMEM);
	wp.len = 100;
	CHECK_RET(set_debug(&c, HW_BP, &wp, 1), 0);
	wp.phys_addr = GUEST_SIZE - 50;
	CHECK_ERR(set_debug(&c, HW_BP, &wp, 1), EFAULT);
	/* A bad entry after a good breakpoint: nothing stays set, the guest runs to its DIAG. */
	struct kvm_hw_breakpoint two[2] = {bp[0], wp};
	CHECK_ERR(set_debug(&c, HW_BP, two, 2), EFAULT);
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 51);
	/* An unknown type is skipped. */
	struct kvm_hw_breakpoint odd = {.addr = 0x100c, .len = 1, .type = 3};
	CHECK_RET(set_debug(&c, HW_BP, &odd, 1), 0);
	CHECK_RET(set_debug(&c, HW_BP, NULL, 5), 0);
	CHECK_RET(set_debug(&c, HW_BP, bp, 0), 0);
	CHECK_ERR(set_debug(&c, HW_BP | 0x10000000, bp, 1), EINVAL);
	CHECK_ERR(set_debug(&c, HW_BP | 0x100, bp, 1), EINVAL);
	c.run->psw_addr = 0x1000;
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 51);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* Debugging off (or on without USE_HW_BP) clears the breakpoints: the guest runs through. */
static bool test_disable_clears(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(setup(&c, loop_prog, sizeof(loop_prog)));
	struct kvm_hw_breakpoint bp = {.addr = 0x100c, .len = 1, .type = KVM_HW_BP};
	CHECK_RET(set_debug(&c, HW_BP, &bp, 1), 0);
	CHECK(debug_exit(&c, 0x100c, KVM_HW_BP));
	CHECK_RET(set_debug(&c, 0, &bp, 1), 0);
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 51);
	c.run->psw_addr = 0x1000;
	CHECK_RET(set_debug(&c, HW_BP, &bp, 1), 0);
	CHECK(debug_exit(&c, 0x100c, KVM_HW_BP));
	CHECK_RET(set_debug(&c, KVM_GUESTDBG_ENABLE, &bp, 1), 0);
	CHECK(diag_exit(&c) && c.run->s.regs.gprs[1] == 51);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	alarm(60);
	RUN(test_breakpoint_in_a_loop);
	RUN(test_breakpoint_on_a_branch_target);
	RUN(test_breakpoint_at_entry_and_after_userspace);
	RUN(test_watchpoint_on_a_word);
	RUN(test_import_errors);
	RUN(test_disable_clears);
	DONE();
}
