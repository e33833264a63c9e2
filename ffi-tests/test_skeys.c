/* KVM_S390_GET_SKEYS / KVM_S390_SET_SKEYS (spec vm.md B) and R/C bits set by memops. */
#include "memop.h"

static bool test_none_until_set(void)
{
	bool ok = false;
	struct guest g;
	uint8_t buf[16];
	CHECK(guest_open(&g, 0));
	memset(buf, 0xee, sizeof(buf));
	/* Fresh VM: KVM_S390_GET_SKEYS_NONE (1), before the count check, nothing written. */
	CHECK_RET(get_keys(g.vm, 0, 1, buf), KVM_S390_GET_SKEYS_NONE);
	CHECK_RET(get_keys(g.vm, 0, 0, buf), 1);
	CHECK_RET(get_keys(g.vm, 1ull << 40, 1 << 30, buf), 1);
	CHECK(buf[0] == 0xee);
	/* flags are checked first. */
	struct kvm_s390_skeys s = {.start_gfn = 0, .count = 1, .skeydata_addr = (uintptr_t)buf, .flags = 1};
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_GET_SKEYS, &s), EINVAL);
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), EINVAL);
	/* A SET whose buffer cannot be read does not enable keys. */
	s = (struct kvm_s390_skeys){.start_gfn = 0, .count = 4, .skeydata_addr = 0};
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), EFAULT);
	CHECK_RET(get_keys(g.vm, 0, 1, buf), 1);
	/* SET count limits. */
	s.skeydata_addr = (uintptr_t)buf;
	s.count = 0;
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), EINVAL);
	s.count = KVM_S390_SKEYS_MAX + 1;
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), EINVAL);
	CHECK_RET(get_keys(g.vm, 0, 1, buf), 1);
	/* A SET that fails on a gfn outside guest memory still enables keys. */
	CHECK_ERR(set_keys(g.vm, GUEST_SIZE / PAGE, 1, 0x10), EFAULT);
	CHECK_RET(get_keys(g.vm, 0, 1, buf), 0);
	CHECK(buf[0] == 0);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_set_get_exact(void)
{
	bool ok = false;
	struct guest g;
	enum { N = 1024 };
	uint8_t in[N], out[N + 1];
	CHECK(guest_open(&g, 0));
	for (int i = 0; i < N; i++)
		in[i] = (uint8_t)((i * 37) & 0xfe);
	struct kvm_s390_skeys s = {.start_gfn = 0, .count = N, .skeydata_addr = (uintptr_t)in};
	CHECK_RET(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), 0);
	memset(out, 0xee, sizeof(out));
	CHECK_RET(get_keys(g.vm, 0, N, out), 0);
	CHECK(memcmp(in, out, N) == 0 && out[N] == 0xee);
	CHECK_RET(get_keys(g.vm, 100, 3, out), 0);
	CHECK(memcmp(out, in + 100, 3) == 0);
	/* GET limits and errors once keys are in use. */
	CHECK_ERR(get_keys(g.vm, 0, 0, out), EINVAL);
	CHECK_ERR(get_keys(g.vm, 0, KVM_S390_SKEYS_MAX + 1, out), EINVAL);
	memset(out, 0xee, sizeof(out));
	CHECK_ERR(get_keys(g.vm, N - 1, 2, out), EFAULT);
	CHECK(out[0] == 0xee);
	CHECK_ERR(get_keys(g.vm, 0, 8, NULL), EFAULT);
	/* Reserved bit: keys before the failing one stay applied, later ones are not. */
	uint8_t bad[4] = {0x20, 0x30, 0x41, 0x50};
	s = (struct kvm_s390_skeys){.start_gfn = 10, .count = 4, .skeydata_addr = (uintptr_t)bad};
	CHECK_ERR(KVM_IOCTL(g.vm, KVM_S390_SET_SKEYS, &s), EINVAL);
	CHECK_RET(get_keys(g.vm, 10, 4, out), 0);
	CHECK(out[0] == 0x20 && out[1] == 0x30 && out[2] == in[12] && out[3] == in[13]);
	/* Keys belong to the backing memory and follow a moved slot. */
	CHECK_RET(set_region(g.vm, 0, 0, 64 * MiB, GUEST_SIZE, g.mem), 0);
	CHECK_RET(get_keys(g.vm, 64 * MiB / PAGE + 10, 2, out), 0);
	CHECK(out[0] == 0x20 && out[1] == 0x30);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

static bool test_reference_and_change_bits(void)
{
	bool ok = false;
	struct guest g;
	uint8_t buf[64], k[8];
	CHECK(guest_open(&g, 0));
	CHECK_RET(set_keys(g.vm, 0, GUEST_SIZE / PAGE, 0x90), 0);
	CHECK_RET(abs_read(g.vm, 1 * PAGE, 8, buf, NO_KEY, 0), 0);
	CHECK_RET(abs_write(g.vm, 2 * PAGE, 8, buf, NO_KEY, 0), 0);
	uint8_t nv[8] = {1}, ov[8] = {0};
	memset(g.mem + 3 * PAGE, 0, 8);
	CHECK_RET(cmpxchg(g.vm, 3 * PAGE, 8, nv, ov, NO_KEY), 0); /* exchanged */
	memset(ov, 0x77, 8);
	CHECK_RET(cmpxchg(g.vm, 4 * PAGE, 8, nv, ov, NO_KEY), 0); /* mismatch */
	/* A write across a page boundary touches both pages. */
	CHECK_RET(abs_write(g.vm, 6 * PAGE - 4, 8, buf, NO_KEY, 0), 0);
	/* CHECK_ONLY and refused accesses touch nothing. */
	CHECK_RET(abs_write(g.vm, 7 * PAGE, 8, buf, NO_KEY, KVM_S390_MEMOP_F_CHECK_ONLY), 0);
	CHECK_RET(get_keys(g.vm, 0, 8, k), 0);
	CHECK(k[0] == 0x90);
	CHECK(k[1] == 0x94);
	CHECK(k[2] == 0x96);
	CHECK(k[3] == 0x96);
	CHECK(k[4] == 0x94);
	CHECK(k[5] == 0x96 && k[6] == 0x96);
	CHECK(k[7] == 0x90);
	ok = true;
done:
	KVM_CLOSE(g.vm);
	return ok;
}

int main(void)
{
	RUN(test_none_until_set);
	RUN(test_set_get_exact);
	RUN(test_reference_and_change_bits);
	DONE();
}
