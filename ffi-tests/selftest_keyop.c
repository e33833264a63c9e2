/*
 * A port of the kernel selftest tools/testing/selftests/kvm/s390/keyop.c, written anew for
 * kvm-s390-shim: the same four scenarios (initialisation, RRBE, ISKE, SSKE), each with the
 * page fault-in (KVM_S390_VCPU_FAULT) at each of its five locations, the same 128-page
 * buffer at the top of 256 guest pages and the same key patterns. The upstream test has no
 * guest code. Upstream also requires KVM_CAP_S390_UCONTROL, which the test never uses and
 * the shim does not offer; only KVM_CAP_S390_KEYOP is required here.
 * Run by tests/ffi.rs with KVM_S390_SHIM_KERNEL=latest.
 */
#include "test.h"

#define PAGE 4096ul
#define BUF_PAGES 128ul
#define GUEST_PAGES 256ul
#define BUF_START_GFN (GUEST_PAGES - BUF_PAGES)
#define BUF_START_ADDR (BUF_START_GFN * PAGE)

#define KEY_ACC 0xf0
#define KEY_F 0x08
#define KEY_R 0x04
#define KEY_C 0x02
#define KEY_RC (KEY_R | KEY_C)
#define KEY_ALL (KEY_ACC | KEY_F | KEY_RC)

static uint8_t got[BUF_PAGES], prev[BUF_PAGES], want[BUF_PAGES];
static uint8_t *backing;

struct env {
	int vm, vcpu;
};

static int skeys(struct env *e, unsigned long req, uint8_t *keys)
{
	struct kvm_s390_skeys s = {
		.start_gfn = BUF_START_GFN,
		.count = BUF_PAGES,
		.skeydata_addr = (uintptr_t)keys,
	};
	return KVM_IOCTL(e->vm, req, &s);
}

/* One KEYOP on buffer page `page`; the old key in *out. False on failure or a set bit 0. */
static bool keyop(struct env *e, uint8_t op, unsigned long page, uint8_t key, uint8_t *out)
{
	struct kvm_s390_keyop k = {.guest_addr = BUF_START_ADDR + page * PAGE, .key = key, .operation = op};
	if (KVM_IOCTL(e->vm, KVM_S390_KEYOP, &k) != 0) {
		fprintf(stderr, "  keyop %u page %lu: %s\n", op, page, strerror(errno));
		return false;
	}
	if (k.key & 1) {
		fprintf(stderr, "  keyop %u page %lu: bit 0 of the old key %#x is set\n", op, page, k.key);
		return false;
	}
	*out = k.key;
	return true;
}

/* Faults in every buffer page when `loc` is the scenario's fault-in location `where`. */
static bool fault_in(struct env *e, int where, int loc)
{
	if (where != loc)
		return true;
	for (unsigned long i = 0; i < BUF_PAGES; i++)
		if (KVM_IOCTL(e->vcpu, KVM_S390_VCPU_FAULT, BUF_START_ADDR + i * PAGE) != 0) {
			fprintf(stderr, "  KVM_S390_VCPU_FAULT page %lu: %s\n", i, strerror(errno));
			return false;
		}
	return true;
}

static void pattern(uint8_t *k)
{
	for (unsigned long i = 0; i < BUF_PAGES; i++)
		k[i] = (uint8_t)(i << 1);
}

static bool same(const uint8_t *a, const uint8_t *b, const char *what, int loc)
{
	for (unsigned long i = 0; i < BUF_PAGES; i++)
		if (a[i] != b[i]) {
			fprintf(stderr, "  %s (fault-in location %d): page %lu expected %#x, got %#x\n", what, loc, i,
				b[i], a[i]);
			return false;
		}
	return true;
}

static bool scenario_init(struct env *e, int loc)
{
	memset(want, 0, sizeof(want));
	if (!fault_in(e, loc, 1) || skeys(e, KVM_S390_SET_SKEYS, want) != 0 || !fault_in(e, loc, 2) ||
	    skeys(e, KVM_S390_GET_SKEYS, got) != 0 || !same(got, want, "keys not zero", loc))
		return false;
	pattern(want);
	return fault_in(e, loc, 3) && skeys(e, KVM_S390_SET_SKEYS, want) == 0 && fault_in(e, loc, 4) &&
	       skeys(e, KVM_S390_GET_SKEYS, got) == 0 && same(got, want, "pattern not set", loc);
}

static bool scenario_rrbe(struct env *e, int loc)
{
	pattern(want);
	if (!fault_in(e, loc, 1) || skeys(e, KVM_S390_SET_SKEYS, want) != 0 || !fault_in(e, loc, 2))
		return false;
	for (unsigned long i = 0; i < BUF_PAGES; i++) {
		uint8_t k;
		if (!keyop(e, KVM_S390_KEYOP_RRBE, i, 0xff, &k))
			return false;
		if (k != (want[i] & KEY_RC)) {
			fprintf(stderr, "  RRBE page %lu: old R/C expected %#x, got %#x\n", i, want[i] & KEY_RC, k);
			return false;
		}
		if (i == BUF_PAGES / 2 && !fault_in(e, loc, 3))
			return false;
	}
	for (unsigned long i = 0; i < BUF_PAGES; i++)
		want[i] &= (uint8_t)~KEY_R;
	return fault_in(e, loc, 4) && skeys(e, KVM_S390_GET_SKEYS, got) == 0 &&
	       same(got, want, "RRBE: only R must be cleared", loc);
}

static bool scenario_iske(struct env *e, int loc)
{
	pattern(want);
	if (!fault_in(e, loc, 1) || skeys(e, KVM_S390_SET_SKEYS, want) != 0 || !fault_in(e, loc, 2))
		return false;
	for (unsigned long i = 0; i < BUF_PAGES; i++) {
		if (!keyop(e, KVM_S390_KEYOP_ISKE, i, 0xff, &got[i]))
			return false;
		if (i == BUF_PAGES / 2 && !fault_in(e, loc, 3))
			return false;
	}
	if (!same(got, want, "ISKE: old value", loc))
		return false;
	return fault_in(e, loc, 4) && skeys(e, KVM_S390_GET_SKEYS, got) == 0 &&
	       same(got, want, "ISKE changed the keys", loc);
}

static bool scenario_sske(struct env *e, int loc)
{
	uint8_t before[BUF_PAGES];
	pattern(before);
	if (!fault_in(e, loc, 1) || skeys(e, KVM_S390_SET_SKEYS, before) != 0 || !fault_in(e, loc, 2))
		return false;
	for (unsigned long i = 0; i < BUF_PAGES; i++) {
		/* The new key is the inversion of the old one, passed with bit 0 set. */
		want[i] = (uint8_t)(~before[i] & KEY_ALL);
		if (!keyop(e, KVM_S390_KEYOP_SSKE, i, want[i] | 1, &prev[i]))
			return false;
		if (i == BUF_PAGES / 2 && !fault_in(e, loc, 3))
			return false;
	}
	if (!same(prev, before, "SSKE: old value", loc))
		return false;
	return fault_in(e, loc, 4) && skeys(e, KVM_S390_GET_SKEYS, got) == 0 &&
	       same(got, want, "SSKE: new value", loc);
}

/* A fresh VM (256 pages at 0) with vCPU 0, keys initially disabled; runs `fn` at `loc`. */
static bool run_scenario(bool (*fn)(struct env *, int), int loc)
{
	struct env e = {.vm = open_vm(NULL), .vcpu = -1};
	bool ok = false;
	if (e.vm < 0 || set_region(e.vm, 0, 0, 0, GUEST_PAGES * PAGE, backing) != 0)
		FAIL("VM with %lu pages", GUEST_PAGES);
	e.vcpu = KVM_IOCTL(e.vm, KVM_CREATE_VCPU, 0);
	CHECK(e.vcpu >= 0);
	CHECK_RET(skeys(&e, KVM_S390_GET_SKEYS, got), KVM_S390_GET_SKEYS_NONE);
	memset(got, 0, sizeof(got));
	memset(prev, 0, sizeof(prev));
	memset(want, 0, sizeof(want));
	ok = fn(&e, loc);
done:
	if (e.vcpu >= 0)
		KVM_CLOSE(e.vcpu);
	if (e.vm >= 0)
		KVM_CLOSE(e.vm);
	return ok;
}

static const struct {
	const char *name;
	bool (*fn)(struct env *, int);
} plan[] = {
	{"Initialization", scenario_init},
	{"RRBE", scenario_rrbe},
	{"ISKE", scenario_iske},
	{"SSKE", scenario_sske},
};

int main(void)
{
	int kvm = KVM_OPEN(O_RDWR);
	if (kvm < 0 || KVM_IOCTL(kvm, KVM_CHECK_EXTENSION, KVM_CAP_S390_KEYOP) <= 0) {
		printf("not ok 1 requirements (KVM_CAP_S390_KEYOP: run with KVM_S390_SHIM_KERNEL=latest)\n"
		       "0 passed, 1 failed\n");
		return 1;
	}
	KVM_CLOSE(kvm);
	backing = map_aligned(GUEST_PAGES * PAGE, MiB);
	printf("TAP version 13\n1..20\n");
	for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++)
		for (int loc = 0; loc < 5; loc++) {
			bool ok = run_scenario(plan[i].fn, loc);
			test_count++;
			if (!ok)
				test_failed++;
			printf("%sok %d %s (fault-in location %d) [%s]\n", ok ? "" : "not ", test_count, plan[i].name,
			       loc, MODE);
		}
	DONE();
}
