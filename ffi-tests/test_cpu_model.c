/*
 * The CPU_MODEL attribute group against one machine profile, chosen by the harness through
 * KVM_S390_SHIM_MACHINE (z14, z15 or z16). Includes QEMU's host-model identification: the
 * host's cpuid type and unblocked IBC must select the intended CPU definition.
 */
#include "attr.h"

#include <stddef.h>

struct cpu_def {
	uint16_t type;
	uint8_t gen, ec_ga;
	const char *name;
};

/* QEMU's CPU definitions from z13 on (target/s390x/cpu_models.c), in its order. */
static const struct cpu_def defs[] = {
	{0x2964, 13, 1, "z13"},     {0x2964, 13, 2, "z13.2"},   {0x2965, 13, 2, "z13s"},
	{0x3906, 14, 1, "z14"},     {0x3906, 14, 2, "z14.2"},   {0x3907, 14, 1, "z14ZR1"},
	{0x8561, 15, 1, "gen15a"},  {0x8562, 15, 1, "gen15b"},  {0x3931, 16, 1, "gen16a"},
	{0x3932, 16, 1, "gen16b"},  {0x9175, 17, 1, "gen17a"},  {0x9176, 17, 1, "gen17b"},
};

/* QEMU's s390_find_cpu_def without a feature filter. */
static const char *find_cpu_def(uint16_t type, uint8_t gen, uint8_t ec_ga)
{
	const struct cpu_def *match = NULL, *last = NULL;
	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++) {
		const struct cpu_def *d = &defs[i];
		if (d->gen > gen || (d->gen == gen && ec_ga && d->ec_ga > ec_ga))
			break;
		if (d->type == type)
			match = d;
		last = d;
	}
	return match ? match->name : last ? last->name : "?";
}

struct expect {
	const char *machine, *qemu_def;
	uint16_t type;
	uint8_t gen;
	unsigned has[6], lacks[3];
};

static const struct expect expects[] = {
	{"z14", "z14", 0x3906, 14, {129, 133, 82, 11, 76, 139}, {155, 150, 151}},
	{"z15", "gen15a", 0x8561, 15, {129, 133, 155, 150, 151, 139}, {196, 197, 201}},
	{"z16", "gen16a", 0x3931, 16, {129, 133, 155, 150, 151, 196}, {201, 5, 300}},
};

static const struct expect *want;
static int vm = -1;
static struct kvm_s390_vm_cpu_machine mach;
static struct kvm_s390_vm_cpu_processor proc_;

static bool test_machine_identity(void)
{
	bool ok = false;
	const char *(*machine)(void) = SHIM_API(kvm_s390_shim_machine);
	CHECK(machine && strcmp(machine(), want->machine) == 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE, &mach), 0);
	uint16_t type = (mach.cpuid >> 16) & 0xffff;
	uint32_t unblocked = mach.ibc & 0xfff, lowest = (mach.ibc >> 16) & 0xfff;
	uint8_t gen = unblocked ? (uint8_t)((unblocked >> 4) + 10) : 0, ga = unblocked & 0xf;
	printf("  %s: cpuid %016llx ibc %08x -> type %04x gen %u GA%u -> QEMU \"%s\"\n", want->machine,
	       (unsigned long long)mach.cpuid, mach.ibc, type, gen, ga, find_cpu_def(type, gen, ga));
	CHECK(type == want->type && gen == want->gen && ga == 1);
	CHECK(mach.cpuid & 0x8000); /* format bit */
	CHECK(lowest != 0 && lowest <= unblocked);
	CHECK(strcmp(find_cpu_def(type, gen, ga), want->qemu_def) == 0);
	for (int i = 0; i < 6; i++)
		if (!fac_test(mach.fac_list, want->has[i]))
			FAIL("host lacks facility %u", want->has[i]);
	for (int i = 0; i < 3; i++)
		if (fac_test(mach.fac_list, want->lacks[i]))
			FAIL("host has facility %u", want->lacks[i]);
	/* Only the first 16 words hold the host list; the mask is a subset of it. */
	for (int i = 16; i < 256; i++)
		CHECK(mach.fac_list[i] == 0 && mach.fac_mask[i] == 0);
	for (int i = 0; i < 16; i++)
		CHECK((mach.fac_mask[i] & ~mach.fac_list[i]) == 0);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE, NULL), EFAULT);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE, &mach), ENXIO);
	ok = true;
done:
	return ok;
}

static bool test_processor(void)
{
	bool ok = false;
	uint32_t unblocked = mach.ibc & 0xfff, lowest = (mach.ibc >> 16) & 0xfff;
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &proc_), 0);
	/* The initial model: the host cpuid with version 0xff, the host's unblocked IBC, and a
	 * facility list inside the mask (vector is hypervisor-managed: off until the cap). */
	CHECK(proc_.cpuid >> 56 == 0xff && (proc_.cpuid << 8) == (mach.cpuid << 8));
	CHECK(proc_.ibc == unblocked);
	for (int i = 0; i < 256; i++)
		CHECK((proc_.fac_list[i] & ~mach.fac_mask[i]) == 0);
	CHECK(!fac_test(proc_.fac_list, 129) && fac_test(proc_.fac_list, 17));
	/* IBC clamping into [lowest, unblocked]; 0 leaves the stored value. */
	struct kvm_s390_vm_cpu_processor p = proc_, r;
	const struct {
		uint16_t set, expect;
	} ibcs[] = {
		{(uint16_t)(unblocked + 5), (uint16_t)unblocked}, {(uint16_t)(lowest - 1), (uint16_t)lowest},
		{0, (uint16_t)lowest}, {(uint16_t)(lowest + 1), (uint16_t)(lowest + 1)}, {0xfff, (uint16_t)unblocked},
	};
	for (size_t i = 0; i < sizeof(ibcs) / sizeof(ibcs[0]); i++) {
		p.ibc = ibcs[i].set;
		CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
		CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &r), 0);
		if (r.ibc != ibcs[i].expect)
			FAIL("ibc %#x stored as %#x, want %#x", ibcs[i].set, r.ibc, ibcs[i].expect);
	}
	/* cpuid and the facility list are stored verbatim (not filtered by the mask). */
	p.cpuid = 0x1122334455667788ull;
	p.fac_list[100] = 0xa5a5;
	fac_set(p.fac_list, 0);
	memset(p.pad, 0x55, sizeof(p.pad));
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	memset(&r, 0xee, sizeof(r));
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &r), 0);
	CHECK(r.cpuid == p.cpuid && memcmp(r.fac_list, p.fac_list, sizeof(r.fac_list)) == 0);
	for (int i = 0; i < 6; i++)
		CHECK(r.pad[i] == 0);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, NULL), EFAULT);
	/* The model is unchanged by the failed copy. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &r), 0);
	CHECK(r.cpuid == p.cpuid);
	/* Enabling the vector capability adds facility 129 to the model. */
	CHECK_RET(enable_cap(vm, KVM_CAP_S390_VECTOR_REGISTERS), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &r), 0);
	CHECK(fac_test(r.fac_list, 129));
	ok = true;
done:
	return ok;
}

static bool test_features_and_subfunctions(void)
{
	bool ok = false;
	struct kvm_s390_vm_cpu_feat mf, f;
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_FEAT, &mf), 0);
	/* ESOP only (the others need nested=1): feature 0, the top bit of byte 0. */
	const uint8_t *mfb = (const uint8_t *)mf.feat;
	CHECK(mfb[0] == 0x80);
	for (size_t i = 1; i < sizeof(mf.feat); i++)
		CHECK(mfb[i] == 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, &f), 0);
	CHECK(f.feat[0] == 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, &mf), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, &f), 0);
	CHECK(memcmp(&f, &mf, sizeof(f)) == 0);
	memset(&f, 0, sizeof(f));
	fac_set(f.feat, KVM_S390_VM_CPU_FEAT_SIEF2);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_FEAT, &f), EINVAL);
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_FEAT, &mf), ENXIO);

	struct kvm_s390_vm_cpu_subfunc ms, ps;
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_SUBFUNC, &ms), 0);
	/* Readable before any SET (seeded from the host), and equal to the host's. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_SUBFUNC, &ps), 0);
	CHECK(memcmp(&ms, &ps, sizeof(ms)) == 0);
	CHECK(ms.plo[0] & 0x80);
	CHECK(ms.km[0] & 0x80 && ms.kmc[0] & 0x80 && ms.kimd[0] & 0x80 && ms.klmd[0] & 0x80);
	bool sortl = ms.sortl[0] != 0, dfltcc = ms.dfltcc[0] != 0;
	CHECK(sortl == (want->gen >= 15) && dfltcc == (want->gen >= 15));
	for (int i = 0; i < (int)sizeof(ms.reserved); i++)
		CHECK(ms.reserved[i] == 0);
	/* SET takes any block (no validation against the host). */
	memset(&ps, 0x5a, sizeof(ps));
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_SUBFUNC, &ps), 0);
	memset(&ms, 0, sizeof(ms));
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_SUBFUNC, &ms), 0);
	CHECK(memcmp(&ms, &ps, sizeof(ms)) == 0);

	/* Ultravisor features: none on this host. */
	uint64_t uv = 7;
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_UV_FEAT_GUEST, &uv), 0);
	CHECK(uv == 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST, &uv), 0);
	struct kvm_s390_vm_cpu_uv_feat u = {.feat = 0};
	u.ap = 1;
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST, &u), EINVAL);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR_UV_FEAT_GUEST, &uv), 0);
	CHECK(uv == 0);
	CHECK_ERR(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, 8, &uv), ENXIO);
	ok = true;
done:
	return ok;
}

/*
 * The byte-image convention, read from the raw bytes of the structs: facility n is
 * 0x80 >> (n % 8) of byte n / 8 of fac_mask/fac_list, ESOP (feature 0) is 0x80 of byte 0 of
 * feat, exactly as s390 KVM leaves them in the buffer (what QEMU's s390_fill_feat_block and
 * test_be_bit expect). Endian-clean: only bytes are compared.
 */
static bool test_byte_image(void)
{
	bool ok = false;
	static struct kvm_s390_vm_cpu_machine m;
	static struct kvm_s390_vm_cpu_processor p, r;
	struct kvm_s390_vm_cpu_feat mf;
	const uint8_t *raw = (const uint8_t *)&m;
	const uint8_t *list = raw + offsetof(struct kvm_s390_vm_cpu_machine, fac_list);
	const uint8_t *mask = raw + offsetof(struct kvm_s390_vm_cpu_machine, fac_mask);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE, &m), 0);
	/* Byte 0 is facilities 0-7: every profile has 0-4, 6 and 7, none has 5. */
	CHECK(list[0] == 0xfb);
	for (int i = 0; i < 6; i++) {
		unsigned n = want->has[i];
		if (!(list[n / 8] & (0x80 >> (n % 8))))
			FAIL("facility %u not at byte %u mask %#x", n, n / 8, 0x80 >> (n % 8));
	}
	for (int i = 0; i < 3; i++) {
		unsigned n = want->lacks[i];
		CHECK(!(list[n / 8] & (0x80 >> (n % 8))));
	}
	/* MSA3 (76, byte 9 0x08) and z/Architecture mode (138, byte 17 0x20) are in the mask. */
	CHECK(mask[9] & 0x08);
	CHECK(mask[17] & 0x20);
	/* The PROCESSOR list of a new VM: MSA3 there too; vector (129, byte 16 0x40) not yet. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	const uint8_t *pl = (const uint8_t *)p.fac_list;
	CHECK(pl[9] & 0x08);
	/* A facility written as bytes reads back at the same byte, and is the one KVM tests:
	 * facility 77 (MSA4) set alone in byte 9 leaves 76 out. */
	uint8_t *wl = (uint8_t *)p.fac_list;
	wl[9] = (uint8_t)((wl[9] & ~0x08) | 0x04);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &r), 0);
	CHECK(((const uint8_t *)r.fac_list)[9] == wl[9]);
	CHECK(!fac_test(r.fac_list, 76) && fac_test(r.fac_list, 77));
	/* Key wrapping needs MSA3 in the model: refused now, accepted once byte 9 has 0x08. */
	CHECK_ERR(SET_ATTR(vm, KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_AES_KW, NULL), EINVAL);
	wl[9] |= 0x08;
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_PROCESSOR, &p), 0);
	CHECK_RET(SET_ATTR(vm, KVM_S390_VM_CRYPTO, KVM_S390_VM_CRYPTO_ENABLE_AES_KW, NULL), 0);
	/* ESOP: feature 0 is the top bit of byte 0 of feat. */
	CHECK_RET(GET_ATTR(vm, KVM_S390_VM_CPU_MODEL, KVM_S390_VM_CPU_MACHINE_FEAT, &mf), 0);
	CHECK(((const uint8_t *)mf.feat)[0] == 0x80);
	ok = true;
done:
	return ok;
}

static bool test_machine_selection(void)
{
	bool ok = false;
	int (*set_machine)(const char *) = SHIM_API(kvm_s390_shim_set_machine);
	CHECK(set_machine);
	CHECK_ERR(set_machine("z99"), EINVAL);
	CHECK_ERR(set_machine(NULL), EINVAL);
	/* A VM exists: the host is fixed. */
	CHECK_ERR(set_machine("z15"), EBUSY);
	ok = true;
done:
	return ok;
}

int main(void)
{
	const char *m = getenv("KVM_S390_SHIM_MACHINE");
	for (size_t i = 0; i < 3; i++)
		if (m && strcmp(m, expects[i].machine) == 0)
			want = &expects[i];
	if (!want) {
		fprintf(stderr, "set KVM_S390_SHIM_MACHINE to z14, z15 or z16\n");
		return 2;
	}
	vm = open_vm(NULL);
	RUN(test_machine_identity);
	RUN(test_processor);
	RUN(test_features_and_subfunctions);
	RUN(test_byte_image);
	RUN(test_machine_selection);
	DONE();
}
