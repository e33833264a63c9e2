/*
 * Included by layout_real.c and layout_shim.c after their header: expands the item lists
 * into a table named TABLE. LAYOUT_CONSTS is the generated list of common integer macros.
 */
#include <stddef.h>

struct item {
	const char *name;
	unsigned long long value;
};

#define LAYOUT_STRUCT(s) {"sizeof " #s, sizeof(struct s)}, {"alignof " #s, _Alignof(struct s)},
#define LAYOUT_FIELD(s, f) {"offsetof " #s "." #f, offsetof(struct s, f)}, \
	{"sizeof " #s "." #f, sizeof(((struct s *)0)->f)},
#define LAYOUT_CONST(c) {#c, (unsigned long long)(c)},

static unsigned long long bpbc_byte(void)
{
	struct kvm_sync_regs r;
	memset(&r, 0, sizeof(r));
	r.bpbc = 1;
	return ((unsigned char *)&r)[1420];
}

struct item TABLE[] = {
#include "layout_items.h"
	LAYOUT_CONSTS
	{"bpbc bit in byte 1420", 0},
	{0, 0},
};

/* Bit-field positions cannot be computed in a constant initialiser. */
__attribute__((constructor)) static void fill_bitfields(void)
{
	for (struct item *i = TABLE; i->name; i++)
		if (strcmp(i->name, "bpbc bit in byte 1420") == 0)
			i->value = bpbc_byte();
}
