/* The shim header's side of the layout proof (see layout.c). */
#include <string.h>
#include "kvm_s390_shim.h"
#include "layout_consts.h"
#define TABLE shim_items
#include "layout_tables.h"

#undef LAYOUT_STRUCT
#undef LAYOUT_FIELD
#define NEW_STRUCT(s, size, align) {"sizeof " #s, sizeof(struct s)}, {"alignof " #s, _Alignof(struct s)},
#define NEW_FIELD(s, f, off, size) {"offsetof " #s "." #f, offsetof(struct s, f)}, \
	{"sizeof " #s "." #f, sizeof(((struct s *)0)->f)},
#define NEW_CONST(c, v) {#c, (unsigned long long)(c)},
struct item shim_new_items[] = {
#include "layout_items_new.h"
	{"uv_feat.ap bit", 0},
	{"uv_feat.ap_intr bit", 0},
	{0, 0},
};
#undef NEW_STRUCT
#undef NEW_FIELD
#undef NEW_CONST
#define NEW_STRUCT(s, size, align) {"sizeof " #s, size}, {"alignof " #s, align},
#define NEW_FIELD(s, f, off, size) {"offsetof " #s "." #f, off}, {"sizeof " #s "." #f, size},
#define NEW_CONST(c, v) {#c, v},
/* uv_feat bit-fields as the C compiler lays them out (spec vm.md A.3, E.2): bits 4 and 5 counted
 * from the least significant bit on a little-endian host, from the most significant (as s390
 * numbers them) on a big-endian one. */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define UV_FEAT_AP 0x0800000000000000ull
#define UV_FEAT_AP_INTR 0x0400000000000000ull
#else
#define UV_FEAT_AP 0x10
#define UV_FEAT_AP_INTR 0x20
#endif
const struct item expected_new_items[] = {
#include "layout_items_new.h"
	{"uv_feat.ap bit", UV_FEAT_AP},
	{"uv_feat.ap_intr bit", UV_FEAT_AP_INTR},
	{0, 0},
};

__attribute__((constructor)) static void fill_uv_bits(void)
{
	struct kvm_s390_vm_cpu_uv_feat f;
	for (struct item *i = shim_new_items; i->name; i++) {
		memset(&f, 0, sizeof(f));
		if (strcmp(i->name, "uv_feat.ap bit") == 0) {
			f.ap = 1;
			i->value = f.feat;
		} else if (strcmp(i->name, "uv_feat.ap_intr bit") == 0) {
			f.ap_intr = 1;
			i->value = f.feat;
		}
	}
}
