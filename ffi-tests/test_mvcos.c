/*
 * MOVE WITH OPTIONAL SPECIFICATIONS through KVM_RUN: each operand is accessed in the address
 * space and with the key its operand-access control in GR0 names (SA22-7832, "MOVE WITH
 * OPTIONAL SPECIFICATIONS"): a secondary-space source into a primary-space target, a target
 * key the storage key refuses (protection, nothing moved), MOVE TO PRIMARY, an
 * access-register-mode source through an access register set in the same run, and the
 * special-operation exception without CR0's secondary-space control.
 */
#include "dat.h"

#define CR0_SECONDARY (1ull << 26)
#define VA 0x100000ull
#define PRIMARY_PAGE 0x20000ull
#define SECONDARY_PAGE 0x30000ull
#define PGM_HANDLER 0x3000ull

/* Runs the MVCOS at 0x1000 (DAT on, primary space, PSW key 0) with GR0 = r0, 16 bytes. */
static bool run_mvcos(struct cpu *c, uint64_t r0)
{
	c->run->psw_mask = PSW_64 | PSW_DAT;
	c->run->psw_addr = 0x1000;
	c->run->s.regs.gprs[0] = r0;
	c->run->s.regs.gprs[4] = VA;
	c->run->s.regs.gprs[5] = VA;
	c->run->s.regs.gprs[6] = 16;
	c->run->kvm_dirty_regs = KVM_SYNC_GPRS;
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0) == 0 && c->run->exit_reason == KVM_EXIT_S390_SIEIC;
}

static bool test_mvcos_spaces_and_keys(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	struct dat p, s;
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0xc8, 0x60, 0x40, 0x00, 0x50, 0x00, /* 1000: mvcos 0(%r4),0(%r5),%r6 */
		0x83, 0x00, 0x05, 0x01,             /* 1006: diag 0,0,0x501 */
	};
	memcpy(c.g.mem + 0x1000, prog, sizeof(prog));
	set_pgm_handler(&c, PGM_HANDLER);
	/* Primary: the code page identically, VA at PRIMARY_PAGE; secondary: VA at SECONDARY_PAGE. */
	dat_init(&p, &c, 0x200000, 0);
	dat_map(&p, 0x1000, 0x1000);
	dat_map(&p, VA, PRIMARY_PAGE);
	dat_init(&s, &c, 0x240000, 0);
	dat_map(&s, VA, SECONDARY_PAGE);
	uint64_t crs[16] = {0};
	crs[0] = CR0_SECONDARY;
	crs[1] = dat_asce(&p);
	crs[7] = dat_asce(&s);
	crs[13] = dat_asce(&p);
	CHECK(set_crs(&c, crs));
	memset(c.g.mem + PRIMARY_PAGE, 0x11, 32);
	memset(c.g.mem + SECONDARY_PAGE, 0x22, 32);

	/* OAC1: primary (A); OAC2: secondary (A): 16 bytes of the secondary page land in the
	 * primary one, CC 0. */
	CHECK(run_mvcos(&c, 0x0001ull << 16 | 0x0081));
	CHECK(c.run->psw_addr == 0x100a && ((c.run->psw_mask >> 44) & 3) == 0);
	for (int i = 0; i < 32; i++)
		CHECK(c.g.mem[PRIMARY_PAGE + i] == (i < 16 ? 0x22 : 0x11));

	/* OAC1 with key 3 (K): the target page's key 5 refuses the store, nothing moves. */
	memset(c.g.mem + PRIMARY_PAGE, 0x11, 32);
	CHECK_RET(set_keys(c.g.vm, PRIMARY_PAGE >> 12, 1, 0x50), 0);
	CHECK(run_mvcos(&c, 0x3003ull << 16 | 0x0081));
	CHECK(c.run->psw_addr == PGM_HANDLER + 4 && load_be16(c.g.mem + 0x8e) == 0x04);
	CHECK(c.g.mem[PRIMARY_PAGE] == 0x11);
	/* With key 5 the store is allowed. */
	CHECK(run_mvcos(&c, 0x5003ull << 16 | 0x0081));
	CHECK(c.run->psw_addr == 0x100a && c.g.mem[PRIMARY_PAGE] == 0x22);

	/* MVCP 0(%r6,%r4),0(%r5),%r7: 8 bytes from the secondary space to the primary one. */
	static const uint8_t mvcp[] = {
		0xda, 0x67, 0x40, 0x00, 0x50, 0x00, /* 1100: mvcp 0(%r6,%r4),0(%r5),%r7 */
		0x83, 0x00, 0x05, 0x01,             /* 1106: diag 0,0,0x501 */
	};
	memcpy(c.g.mem + 0x1100, mvcp, sizeof(mvcp));
	memset(c.g.mem + PRIMARY_PAGE, 0x11, 32);
	memset(c.g.mem + SECONDARY_PAGE, 0x33, 32);
	c.run->psw_mask = PSW_64 | PSW_DAT;
	c.run->psw_addr = 0x1100;
	c.run->s.regs.gprs[4] = VA;
	c.run->s.regs.gprs[5] = VA;
	c.run->s.regs.gprs[6] = 8;
	c.run->s.regs.gprs[7] = 0;
	c.run->kvm_dirty_regs = KVM_SYNC_GPRS;
	CHECK(KVM_IOCTL(c.vcpu, KVM_RUN, 0) == 0 && c.run->psw_addr == 0x110a);
	for (int i = 0; i < 16; i++)
		CHECK(c.g.mem[PRIMARY_PAGE + i] == (i < 8 ? 0x33 : 0x11));

	/* Access-register mode for the source through access register 5, which the guest sets
	 * to ALET 1 (the secondary space) in the same run: the translation uses the value the
	 * CPU holds, not kvm_run's (which says 0, the primary space, until the exit). */
	static const uint8_t armode[] = {
		0xa7, 0x18, 0x00, 0x01,             /* 1200: lhi %r1,1 */
		0xb2, 0x4e, 0x00, 0x51,             /* 1204: sar %a5,%r1 */
		0xc8, 0x60, 0x40, 0x00, 0x50, 0x00, /* 1208: mvcos 0(%r4),0(%r5),%r6 */
		0x83, 0x00, 0x05, 0x01,             /* 120e: diag 0,0,0x501 */
	};
	memcpy(c.g.mem + 0x1200, armode, sizeof(armode));
	memset(c.g.mem + PRIMARY_PAGE, 0x11, 32);
	memset(c.g.mem + SECONDARY_PAGE, 0x44, 32);
	c.run->s.regs.acrs[5] = 0;
	c.run->psw_mask = PSW_64 | PSW_DAT;
	c.run->psw_addr = 0x1200;
	c.run->s.regs.gprs[0] = 0x0001ull << 16 | 0x0041; /* OAC1 primary, OAC2 AR mode */
	c.run->s.regs.gprs[4] = VA;
	c.run->s.regs.gprs[5] = VA;
	c.run->s.regs.gprs[6] = 16;
	c.run->kvm_dirty_regs = KVM_SYNC_GPRS | KVM_SYNC_ACRS;
	CHECK(KVM_IOCTL(c.vcpu, KVM_RUN, 0) == 0 && c.run->psw_addr == 0x1212);
	CHECK(c.run->s.regs.acrs[5] == 1);
	for (int i = 0; i < 32; i++)
		CHECK(c.g.mem[PRIMARY_PAGE + i] == (i < 16 ? 0x44 : 0x11));

	/* Without CR0's secondary-space control a secondary operand is a special operation. */
	crs[0] = 0;
	CHECK(set_crs(&c, crs));
	CHECK(run_mvcos(&c, 0x0001ull << 16 | 0x0081));
	CHECK(c.run->psw_addr == PGM_HANDLER + 4 && load_be16(c.g.mem + 0x8e) == 0x13);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	alarm(60);
	RUN(test_mvcos_spaces_and_keys);
	DONE();
}
