/*
 * Linked into each TSAN test by scripts/tsan.sh: starts TSAN's symbolizer before main. TSAN
 * starts it (a subprocess talking through pipes) the first time it symbolizes a stack, which
 * with a suppressions file happens at the first suppressed report; the pipes would then show
 * as an fd leak in the tests that count their fds.
 */
#include <stddef.h>

void __sanitizer_symbolize_pc(void *pc, const char *fmt, char *out_buf, size_t out_buf_size);

__attribute__((constructor)) static void start_symbolizer(void)
{
	char buf[256];
	__sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", buf, sizeof(buf));
}
