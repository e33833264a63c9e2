/*
 * Shared pieces of the ports of the kernel's s390 KVM selftests: kselftest-style reporting
 * ("ok N name" / "not ok N name", then "N passed, M failed") and the DIAG 0x501 exit the
 * selftests' guests use to hand control back to the host.
 */
#ifndef KVM_S390_SHIM_SELFTEST_H
#define KVM_S390_SHIM_SELFTEST_H
#include "test.h"

/* The selftest library's vCPU PSW: DAT on, 64-bit addressing. */
#define SELFTEST_PSW_MASK 0x0400000180000000ull

/* KVM_RUN ended with the guest's DIAG 0x501 (assert_exit_was_hypercall). */
static inline bool exit_was_hypercall(struct kvm_run *run)
{
	return run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.icptcode == 4 &&
	       run->s390_sieic.ipa == 0x8300 && run->s390_sieic.ipb == 0x05010000;
}

static inline struct kvm_s390_shim_exit diag_501(void)
{
	return (struct kvm_s390_shim_exit){.kind = KVM_S390_SHIM_EXIT_SIEIC, .icptcode = 4, .ipa = 0x8300, .ipb = 0x05010000};
}

#define SET_GUEST(vcpu, fn, opaque) SHIM_API(kvm_s390_shim_set_guest)((vcpu), (fn), (opaque))

#endif
