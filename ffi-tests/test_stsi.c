/*
 * STORE SYSTEM INFORMATION and DIAGNOSE 0x258 as KVM handles them (arch/s390/kvm/priv.c
 * handle_stsi, diag.c __diag_page_ref_service): the configuration level, the host machine's
 * SYSIB 1.1.1 (the host is selected as a z15 before the first VM), the KVM guest's SYSIB 3.2.2,
 * condition code 3, the specification, privileged-operation and access exceptions,
 * KVM_CAP_S390_USER_STSI's KVM_EXIT_S390_STSI, the pfault handshake and its error paths, and
 * the vCPU counters.
 */
#include "test.h"
#include "vcpu.h"

#define PSW_PROBLEM (1ull << 48)
#define PGM_HANDLER 0x3000ull
#define BLOCK 0x2000ull
#define PFAULT_TOKEN_INVALID 0xffffffffffffffffull

/* stsi 0(%r2); ipm %r3; diag 0,0,0x501 */
static const uint8_t stsi_prog[] = {
	0xb2, 0x7d, 0x20, 0x00, /* 1000: stsi 0(%r2) */
	0xb2, 0x22, 0x00, 0x30, /* 1004: ipm %r3 */
	0x83, 0x00, 0x05, 0x01, /* 1008: diag 0,0,0x501 */
};

/* diag %r2,%r4,0x258; diag 0,0,0x501 */
static const uint8_t diag258_prog[] = {
	0x83, 0x24, 0x02, 0x58, /* 1000: diag %r2,%r4,0x258 */
	0x83, 0x00, 0x05, 0x01, /* 1004: diag 0,0,0x501 */
};

/* Loads `prog` at 0x1000 and the program new PSW (to a DIAG 0x501 at PGM_HANDLER). */
static void load(struct cpu *c, const uint8_t *prog, size_t n)
{
	memcpy(c->g.mem + 0x1000, prog, n);
	set_pgm_handler(c, PGM_HANDLER);
}

/* Runs from 0x1000 with the PSW mask `mask` and GRs 0-2 until the next exit (0 or -1). */
static int run_from(struct cpu *c, uint64_t mask, uint64_t r0, uint64_t r1, uint64_t r2)
{
	c->run->psw_mask = mask;
	c->run->psw_addr = 0x1000;
	c->run->s.regs.gprs[0] = r0;
	c->run->s.regs.gprs[1] = r1;
	c->run->s.regs.gprs[2] = r2;
	c->run->s.regs.gprs[3] = 0;
	return KVM_IOCTL(c->vcpu, KVM_RUN, 0);
}

/* STSI ran to its end: the DIAG 0x501 after the IPM exited. */
static bool stsi_done(struct cpu *c)
{
	return c->run->exit_reason == KVM_EXIT_S390_SIEIC && c->run->s390_sieic.ipa == 0x8300 &&
	       c->run->psw_addr == 0x100c;
}

/* The condition code the IPM saw. */
static unsigned stsi_cc(struct cpu *c)
{
	return (c->run->s.regs.gprs[3] >> 28) & 3;
}

/* A program interruption with `code` was presented for the 4-byte instruction at 0x1000. */
static bool took_pgm(struct cpu *c, uint16_t code)
{
	bool ok = c->run->exit_reason == KVM_EXIT_S390_SIEIC &&
		  c->run->psw_addr == PGM_HANDLER + 4 && load_be16(c->g.mem + 0x8e) == code &&
		  load_be16(c->g.mem + 0x8c) == 4;
	/* For the next one. */
	memset(c->g.mem + 0x8c, 0, 4);
	return ok;
}

/* `s` in EBCDIC (code page 500 for the letters, digits and "/" used here), blank-padded. */
static void ebcdic(uint8_t *out, const char *s, size_t len)
{
	memset(out, 0x40, len);
	for (size_t i = 0; s[i] && i < len; i++) {
		char ch = s[i];
		uint8_t e = 0x6f;
		if (ch >= 'A' && ch <= 'I')
			e = 0xc1 + (ch - 'A');
		else if (ch >= 'J' && ch <= 'R')
			e = 0xd1 + (ch - 'J');
		else if (ch >= 'S' && ch <= 'Z')
			e = 0xe2 + (ch - 'S');
		else if (ch >= 'a' && ch <= 'i')
			e = 0x81 + (ch - 'a');
		else if (ch >= 'j' && ch <= 'r')
			e = 0x91 + (ch - 'j');
		else if (ch >= 's' && ch <= 'z')
			e = 0xa2 + (ch - 's');
		else if (ch >= '0' && ch <= '9')
			e = 0xf0 + (ch - '0');
		else if (ch == '/')
			e = 0x61;
		out[i] = e;
	}
}

static bool has_text(struct cpu *c, uint64_t gpa, const char *s, size_t len)
{
	uint8_t want[16];
	ebcdic(want, s, len);
	return memcmp(c->g.mem + gpa, want, len) == 0;
}

/* Function code 0: GR0 = level 3 (a virtual machine), cc 0, nothing stored; the counter. */
static bool test_stsi_current_level(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	/* Bits 0-31 of GR0 and GR1 are ignored. */
	CHECK_RET(run_from(&c, PSW_64, 0xffffffff00000000ull, 0xffffffff00000000ull, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0);
	CHECK(c.run->s.regs.gprs[0] == 0x30000000ull);
	CHECK(c.g.mem[BLOCK] == 0xee && c.g.mem[BLOCK + PAGE - 1] == 0xee);
	CHECK(vcpu_stat(c.vcpu, "instruction_stsi") == 1);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* SYSIB 1.1.1 of the host selected (a z15, machine type 8561, model T01): manufacturer,
 * type, model, the whole 4K block stored; GR0 = 0 and cc 0. */
static bool test_stsi_1_1_1(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 1, 1, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0 && c.run->s.regs.gprs[0] == 0);
	CHECK(has_text(&c, BLOCK + 32, "IBM", 16));
	CHECK(has_text(&c, BLOCK + 48, "8561", 4));
	CHECK(has_text(&c, BLOCK + 100, "T01", 16));
	/* Reserved bytes and the rest of the page are zero. */
	CHECK(c.g.mem[BLOCK] == 0 && c.g.mem[BLOCK + 4] == 0 && c.g.mem[BLOCK + PAGE - 1] == 0);
	/* SYSIB 2.2.2: the LPAR's CPU count agrees with the machine's (1.2.2). */
	CHECK_RET(run_from(&c, PSW_64, (2u << 28) | 2, 2, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0);
	uint16_t lpar_cpus = load_be16(c.g.mem + BLOCK + 36);
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 2, 2, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0);
	CHECK(lpar_cpus >= 1 && load_be16(c.g.mem + BLOCK + 36) == lpar_cpus);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* SYSIB 3.2.2 with three vCPUs: one level-3 entry, the KVM guest. */
static bool test_stsi_3_2_2(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	int v1 = -1, v2 = -1;
	CHECK(cpu_open(&c, 0));
	v1 = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 1);
	v2 = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 5);
	CHECK(v1 >= 0 && v2 >= 0);
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	CHECK_RET(run_from(&c, PSW_64, (3u << 28) | 2, 2, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0 && c.run->s.regs.gprs[0] == 0);
	CHECK((c.g.mem[BLOCK + 31] & 0xf) == 1);
	CHECK(load_be16(c.g.mem + BLOCK + 36) == 3 && load_be16(c.g.mem + BLOCK + 38) == 3);
	CHECK(has_text(&c, BLOCK + 44, "KVMguest", 8));
	CHECK(load_be32(c.g.mem + BLOCK + 52) == 1000);
	CHECK(has_text(&c, BLOCK + 56, "KVM/Linux", 16));
	CHECK(c.g.mem[BLOCK + 72] == 0 && c.g.mem[BLOCK + PAGE - 1] == 0);
	ok = true;
done:
	KVM_CLOSE(v1);
	KVM_CLOSE(v2);
	cpu_close(&c);
	return ok;
}

/* Condition code 3, nothing stored and GR0 unchanged: function code 4 (even with reserved
 * bits set: the function code is looked at first), 15 without USER_STSI, and selectors the
 * configuration does not provide. */
static bool test_stsi_not_provided(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	static const struct {
		uint64_t r0, r1;
	} cases[] = {
		{4u << 28, 0},
		{(4u << 28) | 0x100, 0x10000},
		{15u << 28 | 1, 2},
		{(1u << 28) | 3, 1},
		{(1u << 28) | 1, 2},
		{(2u << 28) | 1, 1},
		{(3u << 28) | 2, 1},
		{(3u << 28) | 1, 1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CHECK_RET(run_from(&c, PSW_64, cases[i].r0, cases[i].r1, BLOCK), 0);
		if (!stsi_done(&c) || stsi_cc(&c) != 3 || c.run->s.regs.gprs[0] != cases[i].r0)
			FAIL("case %zu: cc %u gr0 %#llx", i, stsi_cc(&c),
			     (unsigned long long)c.run->s.regs.gprs[0]);
	}
	CHECK(c.g.mem[BLOCK] == 0xee && c.g.mem[BLOCK + PAGE - 1] == 0xee);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* Specification exceptions (reserved bits in GR0 and GR1, an operand off a 4K boundary),
 * the privileged-operation exception in the problem state, and access exceptions of the
 * store: addressing beyond guest memory, low-address protection. Nothing is stored. */
static bool test_stsi_exceptions(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 0x100 | 1, 1, BLOCK), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK_RET(run_from(&c, PSW_64, 0x00100000, 0, BLOCK), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 1, 0x10001, BLOCK), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 1, 1, BLOCK + 8), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK_RET(run_from(&c, PSW_64 | PSW_PROBLEM, (1u << 28) | 1, 1, BLOCK), 0);
	CHECK(took_pgm(&c, 0x02));
	CHECK(c.g.mem[BLOCK] == 0xee && c.g.mem[BLOCK + PAGE - 1] == 0xee);
	/* The first page beyond the 4 MiB of guest memory. */
	CHECK_RET(run_from(&c, PSW_64, (1u << 28) | 1, 1, GUEST_SIZE), 0);
	CHECK(took_pgm(&c, 0x05));
	/* Low-address protection covers the store to real page 0. */
	memset(c.g.mem + 0x200, 0xee, 0x200);
	struct kvm_sregs s;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_GET_SREGS, &s), 0);
	s.crs[0] |= CR0_LAP;
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_SET_SREGS, &s), 0);
	CHECK_RET(run_from(&c, PSW_64, (3u << 28) | 2, 2, 0), 0);
	CHECK(took_pgm(&c, 0x04));
	CHECK(c.g.mem[0x200] == 0xee && c.g.mem[0x3ff] == 0xee);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* KVM_CAP_S390_USER_STSI: the block is stored, GR0 = 0 and cc 0, then KVM_EXIT_S390_STSI
 * with the address, access register (the base register's number), fc and selectors; the
 * next KVM_RUN continues after the STSI. */
static bool test_user_stsi_exit(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_USER_STSI};
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_ENABLE_CAP, &cap), 0);
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	CHECK_RET(run_from(&c, PSW_64, (3u << 28) | 2, 2, BLOCK), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_STSI);
	CHECK(c.run->s390_stsi.addr == BLOCK && c.run->s390_stsi.ar == 2);
	CHECK(c.run->s390_stsi.fc == 3 && c.run->s390_stsi.sel1 == 2 && c.run->s390_stsi.sel2 == 2);
	CHECK(c.run->psw_addr == 0x1004 && ((c.run->psw_mask >> 44) & 3) == 0);
	CHECK(c.run->s.regs.gprs[0] == 0 && has_text(&c, BLOCK + 44, "KVMguest", 8));
	CHECK_RET(KVM_IOCTL(c.vcpu, KVM_RUN, 0), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 0);
	/* Function code 0 stores nothing and does not exit. */
	CHECK_RET(run_from(&c, PSW_64, 0, 0, BLOCK), 0);
	CHECK(stsi_done(&c) && c.run->s.regs.gprs[0] == 0x30000000ull);
	/* Function code 15 without the topology facility (11) in the CPU model: cc 3. */
	CHECK_RET(run_from(&c, PSW_64, (15u << 28) | 1, 2, BLOCK), 0);
	CHECK(stsi_done(&c) && stsi_cc(&c) == 3);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* Function code 15 (SYSIB 15.1.x) with the topology facility and USER_STSI: nothing stored,
 * GR0 and the condition code unchanged, KVM_EXIT_S390_STSI; reserved bits still raise the
 * specification exception. */
static bool test_user_stsi_topology(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(guest_open(&c.g, 0));
	struct kvm_enable_cap cap = {.cap = KVM_CAP_S390_USER_STSI};
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_ENABLE_CAP, &cap), 0);
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_CHECK_EXTENSION, KVM_CAP_S390_CPU_TOPOLOGY), 1);
	cap.cap = KVM_CAP_S390_CPU_TOPOLOGY;
	CHECK_RET(KVM_IOCTL(c.g.vm, KVM_ENABLE_CAP, &cap), 0);
	c.vcpu = KVM_IOCTL(c.g.vm, KVM_CREATE_VCPU, 0);
	CHECK(c.vcpu >= 0);
	c.run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, c.vcpu, 0);
	CHECK(c.run != MAP_FAILED);
	load(&c, stsi_prog, sizeof(stsi_prog));
	memset(c.g.mem + BLOCK, 0xee, PAGE);
	CHECK_RET(run_from(&c, PSW_64 | (2ull << 44), (15u << 28) | 1, 3, BLOCK), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_STSI && c.run->s390_stsi.addr == BLOCK);
	CHECK(c.run->s390_stsi.fc == 15 && c.run->s390_stsi.sel1 == 1 && c.run->s390_stsi.sel2 == 3);
	CHECK(c.run->s.regs.gprs[0] == ((15u << 28) | 1) && ((c.run->psw_mask >> 44) & 3) == 2);
	CHECK(c.run->psw_addr == 0x1004 && c.g.mem[BLOCK] == 0xee);
	CHECK_RET(run_from(&c, PSW_64, (15u << 28) | 0x200 | 1, 3, BLOCK), 0);
	CHECK(took_pgm(&c, 0x06));
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* The 0x258 parameter block at BLOCK. */
static void put_parm(struct cpu *c, uint16_t subcode, uint16_t len, uint16_t version, uint64_t token,
		     uint64_t select, uint64_t compare, uint64_t zarch)
{
	uint8_t *p = c->g.mem + BLOCK;
	uint16_t h[4] = {htobe16(0x258), htobe16(subcode), htobe16(len), htobe16(version)};
	memcpy(p, h, 8);
	store_be64(p + 8, token);
	store_be64(p + 16, select);
	store_be64(p + 24, compare);
	store_be64(p + 32, zarch);
}

/* Runs the DIAG 0x258 with the block at `addr`; R4 preset to 0x55. */
static int run_258(struct cpu *c, uint64_t addr)
{
	c->run->s.regs.gprs[4] = 0x55;
	return run_from(c, PSW_64, 0, 0, addr);
}

static bool diag_done(struct cpu *c)
{
	return c->run->exit_reason == KVM_EXIT_S390_SIEIC && c->run->s390_sieic.ipa == 0x8300 &&
	       c->run->psw_addr == 0x1008;
}

/* The pfault handshake: establish (0), again (8, the token stays), cancel (0), again (4);
 * the token, select and compare masks in the sync registers; the counter. */
static bool test_diag_258_handshake(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, diag258_prog, sizeof(diag258_prog));
	put_parm(&c, 0, 5, 2, 0x4000, 1ull << 48, 1ull << 48, 1ull << 63);
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(diag_done(&c) && c.run->s.regs.gprs[4] == 0);
	CHECK(c.run->s.regs.pft == 0x4000 && c.run->s.regs.pfs == 1ull << 48 &&
	      c.run->s.regs.pfc == 1ull << 48);
	put_parm(&c, 0, 5, 2, 0x5000, 0, 0, 1ull << 63);
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(diag_done(&c) && c.run->s.regs.gprs[4] == 8 && c.run->s.regs.pft == 0x4000);
	put_parm(&c, 1, 5, 2, 0, 0, 0, 0);
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(diag_done(&c) && c.run->s.regs.gprs[4] == 0);
	CHECK(c.run->s.regs.pft == PFAULT_TOKEN_INVALID);
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(diag_done(&c) && c.run->s.regs.gprs[4] == 4);
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_258") == 4);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* The error paths: specification (block off a doubleword, wrong version/length/code, compare
 * outside select, token off a doubleword, no z/Architecture bit, cancel with operands),
 * addressing (the token or the block outside guest memory), privileged operation, and an
 * unknown subcode, which goes to userspace. The token is not set by any of them. */
static bool test_diag_258_errors(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	load(&c, diag258_prog, sizeof(diag258_prog));
	put_parm(&c, 0, 5, 2, 0x4000, 1, 1, 1ull << 63);
	CHECK_RET(run_258(&c, BLOCK + 4), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK_RET(run_258(&c, GUEST_SIZE), 0);
	CHECK(took_pgm(&c, 0x05));
	static const struct {
		uint16_t subcode, len, version;
		uint64_t token, select, compare, zarch;
		uint16_t code;
	} cases[] = {
		{0, 5, 1, 0x4000, 1, 1, 1ull << 63, 0x06},
		{0, 4, 2, 0x4000, 1, 1, 1ull << 63, 0x06},
		{0, 5, 2, 0x4000, 1, 3, 1ull << 63, 0x06},
		{0, 5, 2, 0x4004, 1, 1, 1ull << 63, 0x06},
		{0, 5, 2, 0x4000, 1, 1, 0, 0x06},
		{0, 5, 2, GUEST_SIZE, 1, 1, 1ull << 63, 0x05},
		{1, 5, 2, 0x4000, 0, 0, 0, 0x06},
		{1, 5, 2, 0, 0, 0, 1ull << 63, 0x06},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		put_parm(&c, cases[i].subcode, cases[i].len, cases[i].version, cases[i].token,
			 cases[i].select, cases[i].compare, cases[i].zarch);
		CHECK_RET(run_258(&c, BLOCK), 0);
		if (!took_pgm(&c, cases[i].code) || c.run->s.regs.gprs[4] != 0x55)
			FAIL("case %zu", i);
	}
	/* The wrong DIAGNOSE code in the block. */
	put_parm(&c, 0, 5, 2, 0x4000, 1, 1, 1ull << 63);
	c.g.mem[BLOCK + 1] = 0x59;
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(took_pgm(&c, 0x06));
	CHECK(c.run->s.regs.pft == PFAULT_TOKEN_INVALID);
	/* Problem state. */
	put_parm(&c, 0, 5, 2, 0x4000, 1, 1, 1ull << 63);
	c.run->s.regs.gprs[4] = 0x55;
	CHECK_RET(run_from(&c, PSW_64 | PSW_PROBLEM, 0, 0, BLOCK), 0);
	CHECK(took_pgm(&c, 0x02) && c.run->s.regs.pft == PFAULT_TOKEN_INVALID);
	/* Subcode 2: the instruction intercept to userspace, PSW after the DIAG. */
	put_parm(&c, 2, 5, 2, 0, 0, 0, 0);
	CHECK_RET(run_258(&c, BLOCK), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_SIEIC && c.run->s390_sieic.icptcode == 4 &&
	      c.run->s390_sieic.ipa == 0x8324 && c.run->s390_sieic.ipb == 0x02580000);
	CHECK(c.run->psw_addr == 0x1004 && c.run->s.regs.gprs[4] == 0x55);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* The DIAGNOSE counters: time-slice end (0x44), directed yields (0x9c) to the vCPU itself
 * and to no vCPU (both ignored), and 0x318, which the kernel leaves to userspace. */
static bool test_diag_counters(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0x83, 0x00, 0x00, 0x44, /* 1000: diag 0,0,0x44 */
		0x83, 0x10, 0x00, 0x9c, /* 1004: diag %r1,%r0,0x9c */
		0x83, 0x20, 0x00, 0x9c, /* 1008: diag %r2,%r0,0x9c */
		0x83, 0x00, 0x03, 0x18, /* 100c: diag 0,0,0x318 */
	};
	load(&c, prog, sizeof(prog));
	CHECK_RET(run_from(&c, PSW_64, 0, 0, 7), 0);
	CHECK(c.run->exit_reason == KVM_EXIT_S390_SIEIC && c.run->s390_sieic.ipa == 0x8300 &&
	      c.run->s390_sieic.ipb == 0x03180000 && c.run->psw_addr == 0x1010);
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_44") == 1);
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_9c") == 2);
	CHECK(vcpu_stat(c.vcpu, "diag_9c_ignored") == 2);
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_other") == 1);
	/* Every instruction intercept: the three handled in the kernel and the one for userspace. */
	CHECK(vcpu_stat(c.vcpu, "exit_instruction") == 4);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

/* Fills absolute page `gpa` with `v`. */
static void fill_page(struct cpu *c, uint64_t gpa, uint8_t v)
{
	memset(c->g.mem + gpa, v, 4096);
}

/* Absolute page `gpa` holds only `v`. */
static bool page_is(struct cpu *c, uint64_t gpa, uint8_t v)
{
	for (size_t i = 0; i < 4096; i++)
		if (c->g.mem[gpa + i] != v)
			return false;
	return true;
}

/*
 * DIAGNOSE 0x10 releases the real pages R1 to R3 (diag_release_pages): the guest memory is
 * private anonymous, so released pages read as zeros afterwards, as after the kernel's zap.
 * The two prefix pages are real pages too: a range over them releases absolute pages 0 and
 * 1 and leaves the prefix area's absolute pages alone. Misaligned or inverted ranges and
 * ranges in the first two pages are specification exceptions, and release nothing.
 */
static bool test_diag_release_pages(void)
{
	bool ok = false;
	struct cpu c = {.vcpu = -1};
	CHECK(cpu_open(&c, 0));
	static const uint8_t prog[] = {
		0x83, 0x12, 0x00, 0x10, /* 1000: diag %r1,%r2,0x10 */
		0x83, 0x00, 0x05, 0x01, /* 1004: diag 0,0,0x501 */
	};
	load(&c, prog, sizeof(prog));
	for (uint64_t p = 0x10000; p < 0x14000; p += 0x1000)
		fill_page(&c, p, 0xaa);
	/* Releases 0x11000-0x12fff. */
	CHECK_RET(run_from(&c, PSW_64, 0, 0x11000, 0x12000), 0);
	CHECK(diag_done(&c) && c.run->psw_addr == 0x1008);
	CHECK(page_is(&c, 0x10000, 0xaa) && page_is(&c, 0x11000, 0) && page_is(&c, 0x12000, 0) &&
	      page_is(&c, 0x13000, 0xaa));
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_10") == 1);

	/* Start misaligned, start in the first two pages, end before start: nothing released. */
	fill_page(&c, 0x11000, 0xbb);
	static const uint64_t bad[][2] = {{0x11800, 0x11000}, {0x1000, 0x11000}, {0x12000, 0x10000}};
	for (size_t i = 0; i < 3; i++) {
		CHECK_RET(run_from(&c, PSW_64, 0, bad[i][0], bad[i][1]), 0);
		CHECK(took_pgm(&c, 6));
	}
	CHECK(page_is(&c, 0x11000, 0xbb));

	/* The prefix at 0x20000: the program and the lowcore move there. */
	load(&c, prog, sizeof(prog));
	memcpy(c.g.mem + 0x21000, c.g.mem + 0x1000, sizeof(prog));
	memcpy(c.g.mem + 0x20000, c.g.mem, 0x1000);
	c.run->s.regs.prefix = 0x20000;
	c.run->kvm_dirty_regs = KVM_SYNC_PREFIX;
	fill_page(&c, 0x1f000, 0xcc);
	fill_page(&c, 0x0000, 0xdd);
	fill_page(&c, 0x1000, 0xdd);
	fill_page(&c, 0x22000, 0xcc);
	/* Real 0x1f000-0x21fff: absolute 0x1f000 and 0-0x1fff go; the prefix area stays. */
	CHECK_RET(run_from(&c, PSW_64, 0, 0x1f000, 0x21000), 0);
	CHECK(diag_done(&c) && c.run->psw_addr == 0x1008);
	CHECK(page_is(&c, 0x1f000, 0) && page_is(&c, 0, 0) && page_is(&c, 0x1000, 0) &&
	      page_is(&c, 0x22000, 0xcc));
	CHECK(memcmp(c.g.mem + 0x21000, prog, sizeof(prog)) == 0 && c.g.mem[0x201d8 + 6] == 0x30);
	/* Real 0x21000 only (the prefix area's second page): absolute page 1, not page 0. */
	fill_page(&c, 0x0000, 0xdd);
	fill_page(&c, 0x1000, 0xdd);
	CHECK_RET(run_from(&c, PSW_64, 0, 0x21000, 0x21000), 0);
	CHECK(diag_done(&c));
	CHECK(page_is(&c, 0, 0xdd) && page_is(&c, 0x1000, 0));
	CHECK(vcpu_stat(c.vcpu, "instruction_diagnose_10") == 6);
	ok = true;
done:
	cpu_close(&c);
	return ok;
}

int main(void)
{
	alarm(120);
	int (*set_machine)(const char *) = SHIM_API(kvm_s390_shim_set_machine);
	if (!set_machine || set_machine("z15") != 0) {
		fprintf(stderr, "cannot select the z15 host\n");
		return 2;
	}
	RUN(test_stsi_current_level);
	RUN(test_stsi_1_1_1);
	RUN(test_stsi_3_2_2);
	RUN(test_stsi_not_provided);
	RUN(test_stsi_exceptions);
	RUN(test_user_stsi_exit);
	RUN(test_user_stsi_topology);
	RUN(test_diag_258_handshake);
	RUN(test_diag_258_errors);
	RUN(test_diag_counters);
	RUN(test_diag_release_pages);
	DONE();
}
