/*
 * KVM_GET_STATS_FD on VM and vCPU fds (Linux 6.12 virt/kvm/binary_stats.c and the s390
 * descriptors of arch/s390/kvm/kvm-s390.c): the header, the id string, every descriptor in the
 * kernel's order with its flags, exponent, size and offset, reads at any offset, counters that
 * move while the fd is open, and the fd's own rules (read-only, close-on-exec, its own file
 * position, alive after the VM is closed).
 */
#include "test.h"

#include <stddef.h>
#include <sys/syscall.h>

/* The kernel's KVM_STATS_NAME_SIZE (not in the uapi: readers take header.name_size). */
#define KVM_STATS_NAME_SIZE 48

/* The kernel's kvm_vm_stats_desc (6.12): name and byte offset in struct kvm_vm_stat. */
static const struct {
	const char *name;
	uint32_t offset;
} vm_descs[] = {
	{"remote_tlb_flush", 0},      {"remote_tlb_flush_requests", 8}, {"inject_io", 16},
	{"inject_float_mchk", 24},    {"inject_pfault_done", 32},       {"inject_service_signal", 40},
	{"inject_virtio", 48},        {"aen_forward", 56},              {"gmap_shadow_reuse", 72},
	{"gmap_shadow_create", 64},   {"gmap_shadow_r1_entry", 80},     {"gmap_shadow_r2_entry", 88},
	{"gmap_shadow_r3_entry", 96}, {"gmap_shadow_sg_entry", 104},    {"gmap_shadow_pg_entry", 112},
};

/* KVM_GENERIC_VCPU_STATS: name, flags, exponent, size, byte offset. */
static const struct {
	const char *name;
	uint32_t flags;
	int16_t exponent;
	uint16_t size;
	uint32_t offset;
} vcpu_generic[] = {
	{"halt_successful_poll", 0, 0, 1, 0},
	{"halt_attempted_poll", 0, 0, 1, 8},
	{"halt_poll_invalid", 0, 0, 1, 16},
	{"halt_wakeup", 0, 0, 1, 24},
	{"halt_poll_success_ns", KVM_STATS_UNIT_SECONDS, -9, 1, 32},
	{"halt_poll_fail_ns", KVM_STATS_UNIT_SECONDS, -9, 1, 40},
	{"halt_wait_ns", KVM_STATS_UNIT_SECONDS, -9, 1, 48},
	{"halt_poll_success_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 32, 56},
	{"halt_poll_fail_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 32, 56 + 256},
	{"halt_wait_hist", KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS, -9, 32, 56 + 512},
	{"blocking", KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN, 0, 1, 56 + 768},
};

/* The s390 counters of kvm_vcpu_stats_desc, in order; each a cumulative counter at
 * 832 + 8 * index. */
static const char *const vcpu_arch[] = {
	"exit_userspace",
	"exit_null",
	"exit_external_request",
	"exit_io_request",
	"exit_external_interrupt",
	"exit_stop_request",
	"exit_validity",
	"exit_instruction",
	"exit_pei",
	"halt_no_poll_steal",
	"instruction_lctl",
	"instruction_lctlg",
	"instruction_stctl",
	"instruction_stctg",
	"exit_program_interruption",
	"exit_instr_and_program",
	"exit_operation_exception",
	"deliver_ckc",
	"deliver_cputm",
	"deliver_external_call",
	"deliver_emergency_signal",
	"deliver_service_signal",
	"deliver_virtio",
	"deliver_stop_signal",
	"deliver_prefix_signal",
	"deliver_restart_signal",
	"deliver_program",
	"deliver_io",
	"deliver_machine_check",
	"exit_wait_state",
	"inject_ckc",
	"inject_cputm",
	"inject_external_call",
	"inject_emergency_signal",
	"inject_mchk",
	"inject_pfault_init",
	"inject_program",
	"inject_restart",
	"inject_set_prefix",
	"inject_stop_signal",
	"instruction_epsw",
	"instruction_gs",
	"instruction_io_other",
	"instruction_lpsw",
	"instruction_lpswe",
	"instruction_lpswey",
	"instruction_pfmf",
	"instruction_ptff",
	"instruction_sck",
	"instruction_sckpf",
	"instruction_stidp",
	"instruction_spx",
	"instruction_stpx",
	"instruction_stap",
	"instruction_iske",
	"instruction_ri",
	"instruction_rrbe",
	"instruction_sske",
	"instruction_ipte_interlock",
	"instruction_stsi",
	"instruction_stfl",
	"instruction_tb",
	"instruction_tpi",
	"instruction_tprot",
	"instruction_tsch",
	"instruction_sie",
	"instruction_essa",
	"instruction_sthyi",
	"instruction_sigp_sense",
	"instruction_sigp_sense_running",
	"instruction_sigp_external_call",
	"instruction_sigp_emergency",
	"instruction_sigp_cond_emergency",
	"instruction_sigp_start",
	"instruction_sigp_stop",
	"instruction_sigp_stop_store_status",
	"instruction_sigp_store_status",
	"instruction_sigp_store_adtl_status",
	"instruction_sigp_arch",
	"instruction_sigp_prefix",
	"instruction_sigp_restart",
	"instruction_sigp_init_cpu_reset",
	"instruction_sigp_cpu_reset",
	"instruction_sigp_unknown",
	"instruction_diagnose_10",
	"instruction_diagnose_44",
	"instruction_diagnose_9c",
	"diag_9c_ignored",
	"diag_9c_forward",
	"instruction_diagnose_258",
	"instruction_diagnose_308",
	"instruction_diagnose_500",
	"instruction_diagnose_other",
	"pfault_sync"
};

#define N_VM (sizeof(vm_descs) / sizeof(vm_descs[0]))
#define N_GEN (sizeof(vcpu_generic) / sizeof(vcpu_generic[0]))
#define N_ARCH (sizeof(vcpu_arch) / sizeof(vcpu_arch[0]))
#define DESC_SIZE (sizeof(struct kvm_stats_desc) + KVM_STATS_NAME_SIZE)

static int sys_fd = -1, vm = -1, vcpu = -1;

static const struct kvm_stats_desc *desc_at(const uint8_t *file, const struct kvm_stats_header *h, size_t i)
{
	return (const struct kvm_stats_desc *)(const void *)(file + h->desc_offset + i * DESC_SIZE);
}

/* Reads the whole file at `fd` (pread from 0) into a malloc'd buffer; returns its size. */
static ssize_t slurp(int fd, uint8_t **out)
{
	size_t cap = 16384;
	uint8_t *b = calloc(1, cap);
	if (!b)
		return -1;
	ssize_t n = pread(fd, b, cap, 0);
	*out = b;
	return n;
}

static uint64_t value_at(int fd, const struct kvm_stats_header *h, uint32_t offset)
{
	uint64_t v = ~0ull;
	if (pread(fd, &v, 8, h->data_offset + offset) != 8)
		return ~0ull;
	return v;
}

static bool test_capability(void)
{
	bool ok = false;
	CHECK_RET(KVM_IOCTL(sys_fd, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD), 1);
	CHECK_RET(KVM_IOCTL(vm, KVM_CHECK_EXTENSION, KVM_CAP_BINARY_STATS_FD), 1);
	/* Not a /dev/kvm request: kvm_arch_dev_ioctl answers EINVAL. */
	CHECK_ERR(KVM_IOCTL(sys_fd, KVM_GET_STATS_FD, 0), EINVAL);
	ok = true;
done:
	return ok;
}

static bool test_vm_file(void)
{
	bool ok = false;
	uint8_t *f = NULL;
	int fd = KVM_IOCTL(vm, KVM_GET_STATS_FD, 0);
	CHECK(fd >= 0);
	ssize_t n = slurp(fd, &f);
	struct kvm_stats_header h;
	memcpy(&h, f, sizeof(h));
	CHECK(h.flags == 0 && h.name_size == KVM_STATS_NAME_SIZE && h.num_desc == N_VM);
	CHECK(h.id_offset == sizeof(h) && h.desc_offset == sizeof(h) + KVM_STATS_NAME_SIZE);
	CHECK(h.data_offset == h.desc_offset + N_VM * DESC_SIZE);
	CHECK(n == (ssize_t)(h.data_offset + 15 * 8));
	char id[64];
	snprintf(id, sizeof(id), "kvm-%d", (int)getpid());
	if (strcmp((const char *)f + h.id_offset, id) != 0)
		FAIL("id \"%s\", want \"%s\"", (const char *)f + h.id_offset, id);
	for (size_t i = 0; i < N_VM; i++) {
		const struct kvm_stats_desc *d = desc_at(f, &h, i);
		if (strcmp(d->name, vm_descs[i].name) != 0 || d->offset != vm_descs[i].offset)
			FAIL("descriptor %zu: %s at %u, want %s at %u", i, d->name, d->offset, vm_descs[i].name,
			     vm_descs[i].offset);
		CHECK(d->flags == (KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10));
		CHECK(d->exponent == 0 && d->size == 1 && d->bucket_size == 0);
	}
	/* An idle VM: every value 0. */
	for (size_t i = 0; i < 15; i++) {
		uint64_t v;
		memcpy(&v, f + h.data_offset + 8 * i, 8);
		CHECK(v == 0);
	}
	ok = true;
done:
	free(f);
	if (fd >= 0)
		close(fd);
	return ok;
}

static bool test_vcpu_file(void)
{
	bool ok = false;
	uint8_t *f = NULL;
	int fd = KVM_IOCTL(vcpu, KVM_GET_STATS_FD, 0);
	CHECK(fd >= 0);
	ssize_t n = slurp(fd, &f);
	struct kvm_stats_header h;
	memcpy(&h, f, sizeof(h));
	CHECK(h.flags == 0 && h.name_size == KVM_STATS_NAME_SIZE && h.num_desc == N_GEN + N_ARCH);
	CHECK(h.id_offset == 24 && h.desc_offset == 72 && h.data_offset == 72 + (N_GEN + N_ARCH) * DESC_SIZE);
	CHECK(n == (ssize_t)(h.data_offset + 832 + 8 * N_ARCH));
	char id[64];
	snprintf(id, sizeof(id), "kvm-%d/vcpu-3", (int)syscall(SYS_gettid));
	if (strcmp((const char *)f + h.id_offset, id) != 0)
		FAIL("id \"%s\", want \"%s\"", (const char *)f + h.id_offset, id);
	for (size_t i = 0; i < N_GEN; i++) {
		const struct kvm_stats_desc *d = desc_at(f, &h, i);
		if (strcmp(d->name, vcpu_generic[i].name) != 0)
			FAIL("descriptor %zu: %s, want %s", i, d->name, vcpu_generic[i].name);
		CHECK(d->flags == vcpu_generic[i].flags && d->exponent == vcpu_generic[i].exponent);
		CHECK(d->size == vcpu_generic[i].size && d->offset == vcpu_generic[i].offset && d->bucket_size == 0);
	}
	for (size_t i = 0; i < N_ARCH; i++) {
		const struct kvm_stats_desc *d = desc_at(f, &h, N_GEN + i);
		if (strcmp(d->name, vcpu_arch[i]) != 0 || d->offset != 832 + 8 * i)
			FAIL("descriptor %zu: %s at %u, want %s at %zu", N_GEN + i, d->name, d->offset, vcpu_arch[i],
			     832 + 8 * i);
		CHECK(d->flags == 0 && d->exponent == 0 && d->size == 1 && d->bucket_size == 0);
	}
	ok = true;
done:
	free(f);
	if (fd >= 0)
		close(fd);
	return ok;
}

/* pread at any offset returns the same bytes as the whole file; reads past the end return 0;
 * read advances the fd's own position; the fd is read-only and close-on-exec. */
static bool test_reads(void)
{
	bool ok = false;
	uint8_t *f = NULL, part[300];
	int fd = KVM_IOCTL(vm, KVM_GET_STATS_FD, 0), fd2 = -1;
	CHECK(fd >= 0);
	ssize_t n = slurp(fd, &f);
	CHECK(n > 0);
	const size_t offs[] = {0, 1, 23, 24, 70, 72, 100, 1000, (size_t)n - 5, (size_t)n - 1};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		size_t want = (size_t)n - offs[i] < sizeof(part) ? (size_t)n - offs[i] : sizeof(part);
		CHECK_RET(pread(fd, part, sizeof(part), (off_t)offs[i]), want);
		CHECK(memcmp(part, f + offs[i], want) == 0);
	}
	CHECK_RET(pread(fd, part, sizeof(part), n), 0);
	CHECK_RET(pread(fd, part, sizeof(part), n + 4096), 0);
	CHECK_ERR(pread(fd, part, sizeof(part), -1), EINVAL);
	CHECK_RET(pread(fd, part, 0, 0), 0);
	/* read() walks the file from this fd's own position. */
	CHECK_RET(read(fd, part, 10), 10);
	CHECK_RET(read(fd, part + 10, 14), 14);
	CHECK(memcmp(part, f, 24) == 0);
	fd2 = KVM_IOCTL(vm, KVM_GET_STATS_FD, 0);
	CHECK(fd2 >= 0 && fd2 != fd);
	CHECK_RET(read(fd2, part, 4), 4);
	CHECK(memcmp(part, f, 4) == 0);
	CHECK_ERR(write(fd, "x", 1), EBADF);
	CHECK_ERR(pwrite(fd, "x", 1, 0), EBADF);
	CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	CHECK((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
	/* A KVM request on it is not a KVM fd's. */
	CHECK_ERR(KVM_IOCTL(fd, KVM_GET_STATS_FD, 0), PASSED_ON_ERRNO(ENOTTY));
	ok = true;
done:
	free(f);
	if (fd >= 0)
		close(fd);
	if (fd2 >= 0)
		close(fd2);
	return ok;
}

/* Counters move while a stats fd is open, and the file outlives the VM and vCPU fds. */
static bool test_counters(void)
{
	bool ok = false;
	struct kvm_stats_header vh, ch;
	int vfd = KVM_IOCTL(vm, KVM_GET_STATS_FD, 0), cfd = KVM_IOCTL(vcpu, KVM_GET_STATS_FD, 0);
	CHECK(vfd >= 0 && cfd >= 0);
	CHECK_RET(pread(vfd, &vh, sizeof(vh), 0), sizeof(vh));
	CHECK_RET(pread(cfd, &ch, sizeof(ch), 0), sizeof(ch));
	const uint32_t inject_virtio = 48, inject_io = 16;
	const uint32_t exit_userspace = 832, exit_stop = 832 + 8 * 5;
	uint32_t o_inject_stop = 0, o_inject_prog = 0, o_deliver_prog = 0;
	for (size_t i = 0; i < N_ARCH; i++) {
		if (strcmp(vcpu_arch[i], "inject_stop_signal") == 0)
			o_inject_stop = 832 + 8 * i;
		if (strcmp(vcpu_arch[i], "inject_program") == 0)
			o_inject_prog = 832 + 8 * i;
		if (strcmp(vcpu_arch[i], "deliver_program") == 0)
			o_deliver_prog = 832 + 8 * i;
	}
	CHECK(strcmp(vcpu_arch[5], "exit_stop_request") == 0);
	/* Floating interrupts: counted on every attempt. */
	struct kvm_s390_interrupt virtio = {.type = KVM_S390_INT_VIRTIO, .parm = 1, .parm64 = 2};
	CHECK_RET(KVM_IOCTL(vm, KVM_S390_INTERRUPT, &virtio), 0);
	CHECK_RET(KVM_IOCTL(vm, KVM_S390_INTERRUPT, &virtio), 0);
	CHECK(value_at(vfd, &vh, inject_virtio) == 2);
	CHECK(value_at(vfd, &vh, inject_io) == 0);
	/* An operating vCPU gets a SIGP STOP, then KVM_RUN: the stop intercept comes back to
	 * userspace. (A new vCPU is stopped, and a stop for a stopped CPU is a no-op.) */
	struct kvm_mp_state operating = {.mp_state = KVM_MP_STATE_OPERATING};
	CHECK_RET(KVM_IOCTL(vcpu, KVM_SET_MP_STATE, &operating), 0);
	struct kvm_s390_irq stop = {.type = KVM_S390_SIGP_STOP};
	CHECK_RET(KVM_IOCTL(vcpu, KVM_S390_IRQ, &stop), 0);
	CHECK(value_at(cfd, &ch, o_inject_stop) == 1);
	CHECK(value_at(cfd, &ch, exit_userspace) == 0);
	struct kvm_run *run = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	CHECK(run != MAP_FAILED);
	CHECK_RET(KVM_IOCTL(vcpu, KVM_RUN, 0), 0);
	CHECK(run->exit_reason == KVM_EXIT_S390_SIEIC && run->s390_sieic.icptcode == 0x28);
	munmap(run, 4096);
	CHECK(value_at(cfd, &ch, exit_stop) == 1);
	CHECK(value_at(cfd, &ch, exit_userspace) == 1);
	/* A program interrupt injected: counted; not delivered (the vCPU is stopped). */
	struct kvm_s390_irq pgm = {.type = KVM_S390_PROGRAM_INT, .u.pgm.code = 1};
	CHECK_RET(KVM_IOCTL(vcpu, KVM_S390_IRQ, &pgm), 0);
	CHECK(value_at(cfd, &ch, o_inject_prog) == 1);
	CHECK(value_at(cfd, &ch, o_deliver_prog) == 0);
	/* The VM and vCPU fds closed: the stats fds still read, with the last values. */
	KVM_CLOSE(vcpu);
	KVM_CLOSE(vm);
	vcpu = vm = -1;
	CHECK(value_at(vfd, &vh, inject_virtio) == 2);
	CHECK(value_at(cfd, &ch, o_inject_prog) == 1);
	char id[KVM_STATS_NAME_SIZE];
	CHECK_RET(pread(cfd, id, sizeof(id), ch.id_offset), sizeof(id));
	CHECK(strncmp(id, "kvm-", 4) == 0 && strstr(id, "/vcpu-3"));
	ok = true;
done:
	if (vfd >= 0)
		close(vfd);
	if (cfd >= 0)
		close(cfd);
	return ok;
}

int main(void)
{
	alarm(120); /* a KVM_RUN that never returns fails the test instead of hanging it */
	vm = open_vm(&sys_fd);
	vcpu = vm >= 0 ? KVM_IOCTL(vm, KVM_CREATE_VCPU, 3) : -1;
	if (vcpu < 0) {
		fprintf(stderr, "no VM/vCPU\n");
		return 1;
	}
	RUN(test_capability);
	RUN(test_vm_file);
	RUN(test_vcpu_file);
	RUN(test_reads);
	RUN(test_counters);
	DONE();
}
