/*
 * Differential-test runner: an s390x static program run under qemu-s390x.
 *
 * Reads cases from stdin, runs each on the (emulated) CPU and writes the results to
 * stdout. All integers are big-endian (the native order here).
 *
 * Case:   u32 code_len (0 ends), code_len bytes of code, 16 x u64 initial GPRs, 16 x u64
 *         initial FPRs, u32 SPM operand (cc << 28 | program mask << 24), u32 FPC, WIN
 *         bytes of memory window.
 * Result: u32 status (0, or signo << 16 | si_code), u64 PSW address at the signal,
 *         16 x u64 GPRs, 16 x u64 FPRs, u32 (cc << 28 | program mask << 24), u32 FPC,
 *         WIN bytes.
 *
 * Layout (fixed low addresses, so the code can reach them with base register 0 and a
 * 20-bit displacement): code at 0x60000, register areas at 0x70000, window at 0x71000.
 * The code (built by tests/cpu_diff.rs) is a prologue that saves the C registers
 * (GPRs to SAVE, f8-f15 to FSAVE), sets CC and program mask from SPM_IN and loads FPRS_IN
 * and REGS_IN; the test code; an epilogue that stores the GPRs, FPRs and IPM result to
 * REGS_OUT, FPRS_OUT and IPM_OUT, restores the C registers and returns; then the execute
 * targets.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE 0x60000UL
#define STATE 0x70000UL
#define WIN_ADDR 0x71000UL
#define WIN 2048
#define REGS_IN (STATE + 0x000)
#define SPM_IN (STATE + 0x080)
#define FPC_IN (STATE + 0x084)
#define SAVE (STATE + 0x100)
#define REGS_OUT (STATE + 0x200)
#define IPM_OUT (STATE + 0x280)
#define FPC_OUT (STATE + 0x284)
#define FPRS_IN (STATE + 0x300)
#define FPRS_OUT (STATE + 0x380)


static sigjmp_buf env;
static volatile uint32_t status;
static volatile uint64_t fault_addr, fault_mask;
static volatile uint32_t fault_fpc;
static uint64_t fault_regs[16], fault_fprs[16];

static void handler(int sig, siginfo_t *si, void *uc_)
{
	ucontext_t *uc = uc_;
	status = (uint32_t)sig << 16 | (uint16_t)si->si_code;
	fault_addr = uc->uc_mcontext.psw.addr;
	fault_mask = uc->uc_mcontext.psw.mask;
	fault_fpc = uc->uc_mcontext.fpregs.fpc;
	for (int i = 0; i < 16; i++)
		fault_regs[i] = uc->uc_mcontext.gregs[i];
	memcpy(fault_fprs, &uc->uc_mcontext.fpregs.fprs, sizeof(fault_fprs));
	siglongjmp(env, 1);
}

static int readn(void *p, size_t n)
{
	return fread(p, 1, n, stdin) == n ? 0 : -1;
}

int main(void)
{
	static uint8_t altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;
	void *code, *state;

	code = mmap((void *)CODE, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	state = mmap((void *)STATE, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code != (void *)CODE || state != (void *)STATE) {
		fprintf(stderr, "runner: cannot map the fixed areas\n");
		return 2;
	}
	if (sigaltstack(&ss, NULL))
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);

	for (;;) {
		uint32_t len, spm, ipm, fpc, fpc_out;
		uint64_t addr = 0;
		uint8_t *c = code;

		if (readn(&len, 4) || len == 0 || len > 0x8000)
			break;
		if (readn(c, len))
			return 2;
		/* The code sent ends with the generator's epilogue (stmg to REGS_OUT, ipm
		 * to IPM_OUT, lmg from SAVE, br %r14), followed by execute targets. */
		if (readn((void *)REGS_IN, 128) || readn((void *)FPRS_IN, 128) || readn(&spm, 4) || readn(&fpc, 4) ||
		    readn((void *)WIN_ADDR, WIN))
			return 2;
		*(uint32_t *)SPM_IN = spm;
		*(uint32_t *)FPC_IN = fpc;
		/* The memory above the window that string and long-move instructions can
		 * reach starts zeroed, as on the shim's side. */
		memset((void *)(WIN_ADDR + WIN), 0, 0x74000 - (WIN_ADDR + WIN));
		__builtin___clear_cache((char *)c, (char *)c + len);
		status = 0;
		if (sigsetjmp(env, 1) == 0) {
			((void (*)(void))CODE)();
			ipm = *(uint32_t *)IPM_OUT;
			fpc_out = *(uint32_t *)FPC_OUT;
		} else {
			memcpy((void *)REGS_OUT, fault_regs, 128);
			memcpy((void *)FPRS_OUT, fault_fprs, 128);
			addr = fault_addr;
			fpc_out = fault_fpc;
			ipm = (uint32_t)((fault_mask >> 44) & 3) << 28 |
			      (uint32_t)((fault_mask >> 40) & 0xf) << 24;
		}
		{
			uint32_t st = status;
			fwrite(&st, 4, 1, stdout);
		}
		fwrite(&addr, 8, 1, stdout);
		fwrite((void *)REGS_OUT, 128, 1, stdout);
		fwrite((void *)FPRS_OUT, 128, 1, stdout);
		fwrite(&ipm, 4, 1, stdout);
		fwrite(&fpc_out, 4, 1, stdout);
		fwrite((void *)WIN_ADDR, WIN, 1, stdout);
	}
	fflush(stdout);
	return 0;
}
