/*
 * Building s390 DAT tables in guest memory for the tests (big-endian entries):
 * region-first/second/third and segment tables of 2048 entries (16 KiB, table length 3),
 * page tables of 256 entries (2 KiB). Empty entries have their invalid bit set.
 */
#ifndef KVM_S390_SHIM_DAT_H
#define KVM_S390_SHIM_DAT_H
#include "vcpu.h"

#define TBL_I 0x20ull   /* region/segment entry: invalid */
#define TBL_P 0x200ull  /* DAT protection */
#define SEG_FC 0x400ull /* segment: 1 MiB frame; region-third: 2 GiB frame */
#define PTE_I 0x400ull
#define PTE_P 0x200ull
#define PTE_Z 0x800ull
#define ASCE_R 0x20ull
#define ASCE_P 0x100ull

struct dat {
	struct cpu *c;
	uint64_t next; /* bump allocator for tables (guest absolute) */
	uint64_t top;  /* origin of the top-level table */
	int dt;        /* 3 region-first ... 0 segment */
};

static inline uint64_t dat_alloc(struct dat *d, uint64_t size, uint64_t inval)
{
	uint64_t a = (d->next + size - 1) & ~(size - 1);
	if (size < 4096)
		a = (d->next + 2047) & ~2047ull;
	d->next = a + size;
	for (uint64_t i = 0; i < size; i += 8)
		put64(d->c, a + i, inval);
	return a;
}

static inline uint64_t dat_table(struct dat *d)
{
	return dat_alloc(d, 16384, TBL_I);
}

/* Starts an address space whose top table has designation type dt at `base`. */
static inline void dat_init(struct dat *d, struct cpu *c, uint64_t base, int dt)
{
	d->c = c;
	d->next = base;
	d->dt = dt;
	d->top = dat_table(d);
}

static inline uint64_t dat_asce(struct dat *d)
{
	return d->top | ((uint64_t)d->dt << 2) | 3;
}

/* Index of vaddr in the table of `level` (3 region-first ... 0 segment, -1 page table). */
static inline uint64_t dat_index(uint64_t va, int level)
{
	switch (level) {
	case 3: return va >> 53;
	case 2: return (va >> 42) & 0x7ff;
	case 1: return (va >> 31) & 0x7ff;
	case 0: return (va >> 20) & 0x7ff;
	default: return (va >> 12) & 0xff;
	}
}

/* The address of the entry for va at `level`, creating the tables above it. */
static inline uint64_t dat_entry(struct dat *d, uint64_t va, int level)
{
	uint64_t table = d->top;
	for (int l = d->dt; l > level; l--) {
		uint64_t e = table + dat_index(va, l) * 8;
		uint64_t v = get64(d->c, e);
		if (v & TBL_I) {
			uint64_t next = l == 0 ? dat_alloc(d, 2048, PTE_I) : dat_table(d);
			v = next | (l == 0 ? 0 : ((uint64_t)l << 2) | 3); /* TT = this table's type, TF 0, TL 3 */
			put64(d->c, e, v);
		}
		table = l == 0 ? (v & ~0x7ffull) : (v & ~0xfffull);
	}
	return table + dat_index(va, level) * 8;
}

/* Maps the 4 KiB page at va to the real address `ra`. */
static inline void dat_map(struct dat *d, uint64_t va, uint64_t ra)
{
	put64(d->c, dat_entry(d, va, -1), ra & ~0xfffull);
}

#endif
