/*
 * s390 KVM uapi structs that use anonymous unions, bit-fields or implicit padding, which
 * cbindgen cannot express (the Rust mirrors name the padding). They are written out here with the same member names as the kernel's uapi
 * headers so that C code written against those headers compiles unchanged. The Rust mirrors
 * (src/uapi) and these definitions are both checked against the real s390x headers by
 * ffi-tests/layout.c.
 */

/* Payload of the TOD_EXT attribute (7 bytes of implicit padding after epoch_idx). */
struct kvm_s390_vm_tod_clock {
	uint8_t epoch_idx;
	uint64_t tod;
};

/* Argument of KVM_GET_FPU / KVM_SET_FPU (4 bytes of implicit padding after fpc). */
struct kvm_fpu {
	uint32_t fpc;
	uint64_t fprs[16];
};

/* Argument of KVM_S390_MEM_OP (Linux 6.3+ layout, with old_addr). */
struct kvm_s390_mem_op {
	uint64_t gaddr;		/* guest address */
	uint64_t flags;		/* KVM_S390_MEMOP_F_* */
	uint32_t size;		/* number of bytes */
	uint32_t op;		/* KVM_S390_MEMOP_* operation */
	uint64_t buf;		/* user buffer */
	union {
		struct {
			uint8_t ar;		/* access register number */
			uint8_t key;		/* access key (with F_SKEY_PROTECTION) */
			uint8_t pad1[6];
			uint64_t old_addr;	/* expected value (ABSOLUTE_CMPXCHG) */
		};
		uint32_t sida_offset;	/* offset into the SIDA */
		uint8_t reserved[32];
	};
};

/* Argument of KVM_S390_GET_CMMA_BITS / KVM_S390_SET_CMMA_BITS. */
struct kvm_s390_cmma_log {
	uint64_t start_gfn;
	uint32_t count;
	uint32_t flags;
	union {
		uint64_t remaining;	/* GET: dirty pages left */
		uint64_t mask;		/* SET: bits to write, PGSTE positions */
	};
	uint64_t values;	/* user buffer, one byte per page */
};

/* Payload of the CPU_MODEL *_UV_FEAT_GUEST attributes (Linux 6.7+). */
struct kvm_s390_vm_cpu_uv_feat {
	union {
		struct {
			uint64_t : 4;
			uint64_t ap : 1;
			uint64_t ap_intr : 1;
			uint64_t : 58;
		};
		uint64_t feat;
	};
};

/* s390 registers shared through kvm_run.s.regs. */
struct kvm_sync_regs {
	uint64_t prefix;
	uint64_t gprs[16];
	uint32_t acrs[16];
	uint64_t crs[16];
	uint64_t todpr;		/* KVM_SYNC_ARCH0 */
	uint64_t cputm;		/* KVM_SYNC_ARCH0 */
	uint64_t ckc;		/* KVM_SYNC_ARCH0 */
	uint64_t pp;		/* KVM_SYNC_ARCH0 */
	uint64_t gbea;		/* KVM_SYNC_ARCH0 */
	uint64_t pft;		/* KVM_SYNC_PFAULT */
	uint64_t pfs;		/* KVM_SYNC_PFAULT */
	uint64_t pfc;		/* KVM_SYNC_PFAULT */
	union {
		uint64_t vrs[32][2];	/* KVM_SYNC_VRS */
		uint64_t fprs[16];	/* KVM_SYNC_FPRS */
	};
	uint8_t reserved[512];
	uint32_t fpc;		/* with KVM_SYNC_VRS or KVM_SYNC_FPRS */
	uint8_t bpbc : 1;	/* KVM_SYNC_BPBC */
	uint8_t reserved2 : 7;
	uint8_t padding1[51];
	uint8_t riccb[64];	/* KVM_SYNC_RICCB */
	uint64_t diag318;	/* KVM_SYNC_DIAG318 */
	uint8_t padding2[184];
	union {
		uint8_t sdnx[256];
		struct {
			uint64_t reserved1[2];
			uint64_t gscb[4];	/* KVM_SYNC_GSCB */
			uint64_t etoken;	/* KVM_SYNC_ETOKEN */
			uint64_t etoken_extension;
		};
	};
};

/* The vCPU's shared kvm_run page, s390 view (mmap the vCPU fd at offset 0). */
struct kvm_run {
	uint8_t request_interrupt_window;
	uint8_t immediate_exit;
	uint8_t padding1[6];
	uint32_t exit_reason;
	uint8_t ready_for_interrupt_injection;
	uint8_t if_flag;
	uint16_t flags;
	uint64_t cr8;
	uint64_t apic_base;
	uint64_t psw_mask;	/* PSW mask */
	uint64_t psw_addr;	/* PSW address */
	union {
		struct {
			uint64_t hardware_exit_reason;
		} hw;
		struct {
			uint8_t icptcode;
			uint16_t ipa;
			uint32_t ipb;
		} s390_sieic;		/* KVM_EXIT_S390_SIEIC */
		uint64_t s390_reset_flags;	/* KVM_EXIT_S390_RESET */
		struct {
			uint64_t trans_exc_code;
			uint32_t pgm_code;
		} s390_ucontrol;	/* KVM_EXIT_S390_UCONTROL */
		struct {
			uint32_t suberror;
			uint32_t ndata;
			uint64_t data[16];
		} internal;		/* KVM_EXIT_INTERNAL_ERROR */
		struct {
			uint16_t subchannel_id;
			uint16_t subchannel_nr;
			uint32_t io_int_parm;
			uint32_t io_int_word;
			uint32_t ipb;
			uint8_t dequeued;
		} s390_tsch;		/* KVM_EXIT_S390_TSCH */
		struct {
			uint64_t addr;
			uint8_t ar;
			uint8_t reserved;
			uint8_t fc;
			uint8_t sel1;
			uint16_t sel2;
		} s390_stsi;		/* KVM_EXIT_S390_STSI */
		char padding[256];
	};
	uint64_t kvm_valid_regs;
	uint64_t kvm_dirty_regs;
	union {
		struct kvm_sync_regs regs;
		char padding[2048];
	} s;
};

/* A binary-stats descriptor (KVM_GET_STATS_FD); `name` is header.name_size bytes long. */
struct kvm_stats_desc {
	uint32_t flags;
	int16_t exponent;
	uint16_t size;
	uint32_t offset;
	uint32_t bucket_size;
	char name[];
};
