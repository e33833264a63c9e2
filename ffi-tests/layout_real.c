/* The real s390x uapi headers' side of the layout proof (see layout.c). */
#include <string.h>
#include <linux/kvm.h>
#include "layout_consts.h"
#define TABLE real_items
#include "layout_tables.h"
