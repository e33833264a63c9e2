//! Binary statistics: the files `KVM_GET_STATS_FD` returns on VM and vCPU fds (Linux 6.12
//! `virt/kvm/binary_stats.c`, the descriptors of `arch/s390/kvm/kvm-s390.c`).
//!
//! A stats file is the kernel's byte layout: `struct kvm_stats_header`, the id string
//! (`kvm-<pid>` or `kvm-<pid>/vcpu-<id>`, 48 bytes), the descriptors (`struct kvm_stats_desc`
//! with a 48-byte name, in the kernel's order) and the values (the kernel's `struct
//! kvm_vm_stat` / `kvm_vcpu_stat`, `u64`s in host byte order at each descriptor's offset).
//!
//! The kernel serves `read` from the live counters, so every `pread` sees current values. The
//! shim does not interpose `read`/`pread` (a program may also read through a raw syscall), so
//! the counters themselves live in the file: the first `KVM_GET_STATS_FD` creates a sealed
//! memfd with that content, maps it shared, and from then on the counters are atomic `u64`s
//! in that mapping; each `KVM_GET_STATS_FD` returns a fresh read-only open file description
//! of it (its own offset, `write` fails with EBADF, close-on-exec). The file outlives the VM
//! as the kernel's does (its fds keep the memfd). Until the first call the counters are in
//! the heap; the switch moves them without losing a concurrent increment (see
//! [`Stats::publish`]).
// The counters are atomics in a shared mapping, reached through raw pointers.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::error::{Error, Result};
use crate::os;
use crate::uapi::*;

/// `KVM_STATS_NAME_SIZE` (kernel-internal; userspace reads it from `header.name_size`): the
/// id string and every descriptor name take this many bytes.
pub(crate) const KVM_STATS_NAME_SIZE: usize = 48;
/// `sizeof(struct kvm_stats_header)`.
const HEADER_SIZE: usize = std::mem::size_of::<kvm_stats_header>();
/// `sizeof(struct kvm_stats_desc)` with its 48-byte name, as the kernel lays them out.
const DESC_SIZE: usize = std::mem::size_of::<kvm_stats_desc>() + KVM_STATS_NAME_SIZE;

/// `HALT_POLL_HIST_COUNT`.
pub(crate) const HALT_POLL_HIST_COUNT: usize = 32;

/// One descriptor: the kernel's `STATS_DESC_*` fields; `word` is the value's index in the
/// data block (the kernel's `offset` / 8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desc {
    pub name: &'static str,
    pub flags: u32,
    pub exponent: i16,
    pub size: u16,
    pub word: usize,
}

const fn counter(name: &'static str, word: usize) -> Desc {
    Desc {
        name,
        flags: KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_NONE | KVM_STATS_BASE_POW10,
        exponent: 0,
        size: 1,
        word,
    }
}

const fn time_nsec(name: &'static str, word: usize) -> Desc {
    Desc {
        name,
        flags: KVM_STATS_TYPE_CUMULATIVE | KVM_STATS_UNIT_SECONDS | KVM_STATS_BASE_POW10,
        exponent: -9,
        size: 1,
        word,
    }
}

const fn loghist_nsec(name: &'static str, word: usize) -> Desc {
    Desc {
        name,
        flags: KVM_STATS_TYPE_LOG_HIST | KVM_STATS_UNIT_SECONDS | KVM_STATS_BASE_POW10,
        exponent: -9,
        size: HALT_POLL_HIST_COUNT as u16,
        word,
    }
}

const fn iboolean(name: &'static str, word: usize) -> Desc {
    Desc {
        name,
        flags: KVM_STATS_TYPE_INSTANT | KVM_STATS_UNIT_BOOLEAN | KVM_STATS_BASE_POW10,
        exponent: 0,
        size: 1,
        word,
    }
}

/// The VM's values (`struct kvm_vm_stat`): word indices.
pub mod vm {
    pub(crate) const REMOTE_TLB_FLUSH: usize = 0;
    pub(crate) const REMOTE_TLB_FLUSH_REQUESTS: usize = 1;
    pub(crate) const INJECT_IO: usize = 2;
    pub(crate) const INJECT_FLOAT_MCHK: usize = 3;
    pub(crate) const INJECT_PFAULT_DONE: usize = 4;
    pub(crate) const INJECT_SERVICE_SIGNAL: usize = 5;
    pub(crate) const INJECT_VIRTIO: usize = 6;
    pub(crate) const AEN_FORWARD: usize = 7;
    pub(crate) const GMAP_SHADOW_CREATE: usize = 8;
    pub(crate) const GMAP_SHADOW_REUSE: usize = 9;
    pub(crate) const GMAP_SHADOW_R1_ENTRY: usize = 10;
    pub(crate) const GMAP_SHADOW_R2_ENTRY: usize = 11;
    pub(crate) const GMAP_SHADOW_R3_ENTRY: usize = 12;
    pub(crate) const GMAP_SHADOW_SG_ENTRY: usize = 13;
    pub(crate) const GMAP_SHADOW_PG_ENTRY: usize = 14;
    /// `sizeof(struct kvm_vm_stat) / 8`.
    pub(crate) const WORDS: usize = 15;
}

/// The VM descriptors in the kernel's order (`kvm_vm_stats_desc`: the generic ones, then
/// s390's; `gmap_shadow_reuse` is listed before `gmap_shadow_create`, whose value comes
/// first in the struct).
pub static VM_DESCS: [Desc; 15] = [
    counter("remote_tlb_flush", vm::REMOTE_TLB_FLUSH),
    counter("remote_tlb_flush_requests", vm::REMOTE_TLB_FLUSH_REQUESTS),
    counter("inject_io", vm::INJECT_IO),
    counter("inject_float_mchk", vm::INJECT_FLOAT_MCHK),
    counter("inject_pfault_done", vm::INJECT_PFAULT_DONE),
    counter("inject_service_signal", vm::INJECT_SERVICE_SIGNAL),
    counter("inject_virtio", vm::INJECT_VIRTIO),
    counter("aen_forward", vm::AEN_FORWARD),
    counter("gmap_shadow_reuse", vm::GMAP_SHADOW_REUSE),
    counter("gmap_shadow_create", vm::GMAP_SHADOW_CREATE),
    counter("gmap_shadow_r1_entry", vm::GMAP_SHADOW_R1_ENTRY),
    counter("gmap_shadow_r2_entry", vm::GMAP_SHADOW_R2_ENTRY),
    counter("gmap_shadow_r3_entry", vm::GMAP_SHADOW_R3_ENTRY),
    counter("gmap_shadow_sg_entry", vm::GMAP_SHADOW_SG_ENTRY),
    counter("gmap_shadow_pg_entry", vm::GMAP_SHADOW_PG_ENTRY),
];

/// The s390 counters of `struct kvm_vcpu_stat`, after the generic part, in the struct's
/// order (which is also the descriptors' order).
pub static VCPU_ARCH_NAMES: [&str; 94] = [
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
    "pfault_sync",
];

/// The vCPU's values (`struct kvm_vcpu_stat`): word indices.
pub mod vcpu {
    use super::{arch, HALT_POLL_HIST_COUNT};
    pub(crate) const HALT_SUCCESSFUL_POLL: usize = 0;
    pub(crate) const HALT_ATTEMPTED_POLL: usize = 1;
    pub(crate) const HALT_POLL_INVALID: usize = 2;
    pub(crate) const HALT_WAKEUP: usize = 3;
    pub(crate) const HALT_POLL_SUCCESS_NS: usize = 4;
    pub(crate) const HALT_POLL_FAIL_NS: usize = 5;
    pub(crate) const HALT_WAIT_NS: usize = 6;
    pub(crate) const HALT_POLL_SUCCESS_HIST: usize = 7;
    pub(crate) const HALT_POLL_FAIL_HIST: usize = HALT_POLL_SUCCESS_HIST + HALT_POLL_HIST_COUNT;
    pub(crate) const HALT_WAIT_HIST: usize = HALT_POLL_FAIL_HIST + HALT_POLL_HIST_COUNT;
    pub(crate) const BLOCKING: usize = HALT_WAIT_HIST + HALT_POLL_HIST_COUNT;
    /// The first s390 counter.
    pub(crate) const ARCH: usize = BLOCKING + 1;
    pub(crate) const EXIT_USERSPACE: usize = arch("exit_userspace");
    pub(crate) const EXIT_EXTERNAL_INTERRUPT: usize = arch("exit_external_interrupt");
    pub(crate) const EXIT_STOP_REQUEST: usize = arch("exit_stop_request");
    pub(crate) const EXIT_VALIDITY: usize = arch("exit_validity");
    pub(crate) const EXIT_INSTRUCTION: usize = arch("exit_instruction");
    pub(crate) const EXIT_PEI: usize = arch("exit_pei");
    pub(crate) const EXIT_PROGRAM_INTERRUPTION: usize = arch("exit_program_interruption");
    pub(crate) const EXIT_INSTR_AND_PROGRAM: usize = arch("exit_instr_and_program");
    pub(crate) const EXIT_OPERATION_EXCEPTION: usize = arch("exit_operation_exception");
    pub(crate) const EXIT_WAIT_STATE: usize = arch("exit_wait_state");
    pub(crate) const INSTRUCTION_SIGP_SENSE: usize = arch("instruction_sigp_sense");
    pub(crate) const INSTRUCTION_SIGP_SENSE_RUNNING: usize = arch("instruction_sigp_sense_running");
    pub(crate) const INSTRUCTION_SIGP_EXTERNAL_CALL: usize = arch("instruction_sigp_external_call");
    pub(crate) const INSTRUCTION_SIGP_EMERGENCY: usize = arch("instruction_sigp_emergency");
    pub(crate) const INSTRUCTION_SIGP_COND_EMERGENCY: usize =
        arch("instruction_sigp_cond_emergency");
    pub(crate) const INSTRUCTION_SIGP_START: usize = arch("instruction_sigp_start");
    pub(crate) const INSTRUCTION_SIGP_STOP: usize = arch("instruction_sigp_stop");
    pub(crate) const INSTRUCTION_SIGP_STOP_STORE_STATUS: usize =
        arch("instruction_sigp_stop_store_status");
    pub(crate) const INSTRUCTION_SIGP_STORE_STATUS: usize = arch("instruction_sigp_store_status");
    pub(crate) const INSTRUCTION_SIGP_STORE_ADTL_STATUS: usize =
        arch("instruction_sigp_store_adtl_status");
    pub(crate) const INSTRUCTION_SIGP_ARCH: usize = arch("instruction_sigp_arch");
    pub(crate) const INSTRUCTION_SIGP_PREFIX: usize = arch("instruction_sigp_prefix");
    pub(crate) const INSTRUCTION_SIGP_RESTART: usize = arch("instruction_sigp_restart");
    pub(crate) const INSTRUCTION_SIGP_INIT_CPU_RESET: usize =
        arch("instruction_sigp_init_cpu_reset");
    pub(crate) const INSTRUCTION_SIGP_CPU_RESET: usize = arch("instruction_sigp_cpu_reset");
    pub(crate) const INSTRUCTION_SIGP_UNKNOWN: usize = arch("instruction_sigp_unknown");
    pub(crate) const DELIVER_CKC: usize = arch("deliver_ckc");
    pub(crate) const DELIVER_CPUTM: usize = arch("deliver_cputm");
    pub(crate) const DELIVER_EXTERNAL_CALL: usize = arch("deliver_external_call");
    pub(crate) const DELIVER_EMERGENCY_SIGNAL: usize = arch("deliver_emergency_signal");
    pub(crate) const DELIVER_SERVICE_SIGNAL: usize = arch("deliver_service_signal");
    pub(crate) const DELIVER_VIRTIO: usize = arch("deliver_virtio");
    pub(crate) const DELIVER_PREFIX_SIGNAL: usize = arch("deliver_prefix_signal");
    pub(crate) const DELIVER_RESTART_SIGNAL: usize = arch("deliver_restart_signal");
    pub(crate) const DELIVER_PROGRAM: usize = arch("deliver_program");
    pub(crate) const DELIVER_IO: usize = arch("deliver_io");
    pub(crate) const DELIVER_MACHINE_CHECK: usize = arch("deliver_machine_check");
    pub(crate) const INJECT_CKC: usize = arch("inject_ckc");
    pub(crate) const INJECT_CPUTM: usize = arch("inject_cputm");
    pub(crate) const INJECT_EXTERNAL_CALL: usize = arch("inject_external_call");
    pub(crate) const INJECT_EMERGENCY_SIGNAL: usize = arch("inject_emergency_signal");
    pub(crate) const INJECT_MCHK: usize = arch("inject_mchk");
    pub(crate) const INJECT_PFAULT_INIT: usize = arch("inject_pfault_init");
    pub(crate) const INJECT_PROGRAM: usize = arch("inject_program");
    pub(crate) const INJECT_RESTART: usize = arch("inject_restart");
    pub(crate) const INJECT_SET_PREFIX: usize = arch("inject_set_prefix");
    pub(crate) const INJECT_STOP_SIGNAL: usize = arch("inject_stop_signal");
    // The STSI and DIAGNOSE handlers (vcpu/stsi.rs, vcpu/diag.rs).
    pub(crate) const INSTRUCTION_STSI: usize = arch("instruction_stsi");
    pub(crate) const DIAGNOSE_10: usize = arch("instruction_diagnose_10");
    pub(crate) const DIAGNOSE_44: usize = arch("instruction_diagnose_44");
    pub(crate) const DIAGNOSE_9C: usize = arch("instruction_diagnose_9c");
    pub(crate) const DIAGNOSE_9C_IGNORED: usize = arch("diag_9c_ignored");
    pub(crate) const DIAGNOSE_258: usize = arch("instruction_diagnose_258");
    pub(crate) const DIAGNOSE_308: usize = arch("instruction_diagnose_308");
    pub(crate) const DIAGNOSE_500: usize = arch("instruction_diagnose_500");
    pub(crate) const DIAGNOSE_OTHER: usize = arch("instruction_diagnose_other");
    /// `sizeof(struct kvm_vcpu_stat) / 8`.
    pub(crate) const WORDS: usize = ARCH + super::VCPU_ARCH_NAMES.len();
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The word of the s390 vCPU counter `name` (a compile-time error if there is none).
const fn arch(name: &str) -> usize {
    let mut i = 0;
    while i < VCPU_ARCH_NAMES.len() {
        if str_eq(VCPU_ARCH_NAMES[i], name) {
            return vcpu::ARCH + i;
        }
        i += 1;
    }
    panic!("no such vCPU counter")
}

/// The vCPU descriptors in the kernel's order (`KVM_GENERIC_VCPU_STATS`, then s390's).
pub fn vcpu_descs() -> &'static [Desc] {
    static DESCS: OnceLock<Vec<Desc>> = OnceLock::new();
    DESCS.get_or_init(|| {
        let mut d = vec![
            counter("halt_successful_poll", vcpu::HALT_SUCCESSFUL_POLL),
            counter("halt_attempted_poll", vcpu::HALT_ATTEMPTED_POLL),
            counter("halt_poll_invalid", vcpu::HALT_POLL_INVALID),
            counter("halt_wakeup", vcpu::HALT_WAKEUP),
            time_nsec("halt_poll_success_ns", vcpu::HALT_POLL_SUCCESS_NS),
            time_nsec("halt_poll_fail_ns", vcpu::HALT_POLL_FAIL_NS),
            time_nsec("halt_wait_ns", vcpu::HALT_WAIT_NS),
            loghist_nsec("halt_poll_success_hist", vcpu::HALT_POLL_SUCCESS_HIST),
            loghist_nsec("halt_poll_fail_hist", vcpu::HALT_POLL_FAIL_HIST),
            loghist_nsec("halt_wait_hist", vcpu::HALT_WAIT_HIST),
            iboolean("blocking", vcpu::BLOCKING),
        ];
        d.extend(
            VCPU_ARCH_NAMES
                .iter()
                .enumerate()
                .map(|(i, n)| counter(n, vcpu::ARCH + i)),
        );
        d
    })
}

/// The file content for `descs` and `id`, values zero.
fn image(descs: &[Desc], words: usize, id: &str) -> Vec<u8> {
    let desc_offset = HEADER_SIZE + KVM_STATS_NAME_SIZE;
    let data_offset = desc_offset + descs.len() * DESC_SIZE;
    let mut out = Vec::with_capacity(data_offset + words * 8);
    let header = kvm_stats_header {
        flags: 0,
        name_size: KVM_STATS_NAME_SIZE as u32,
        num_desc: descs.len() as u32,
        id_offset: HEADER_SIZE as u32,
        desc_offset: desc_offset as u32,
        data_offset: data_offset as u32,
    };
    out.extend_from_slice(bytemuck::bytes_of(&header));
    let mut name = [0u8; KVM_STATS_NAME_SIZE];
    let n = id.len().min(KVM_STATS_NAME_SIZE - 1);
    name[..n].copy_from_slice(&id.as_bytes()[..n]);
    out.extend_from_slice(&name);
    for d in descs {
        let fixed = kvm_stats_desc {
            flags: d.flags,
            exponent: d.exponent,
            size: d.size,
            offset: (d.word * 8) as u32,
            bucket_size: 0,
        };
        out.extend_from_slice(bytemuck::bytes_of(&fixed));
        let mut name = [0u8; KVM_STATS_NAME_SIZE];
        name[..d.name.len()].copy_from_slice(d.name.as_bytes());
        out.extend_from_slice(&name);
    }
    out.resize(data_offset + words * 8, 0);
    out
}

/// The memfd behind a stats file and the shim's mapping of it.
struct StatsFile {
    page: os::MemfdPage,
    len: usize,
}

// SAFETY: the mapping is shared memory owned by this value; only atomics are accessed in it,
// from any thread, and it is unmapped once, on drop.
unsafe impl Send for StatsFile {}

impl Drop for StatsFile {
    fn drop(&mut self) {
        // SAFETY: the mapping came from `memfd_with` with this length; the counters no longer
        // point into it (the owning `Stats` is being dropped).
        unsafe { os::unmap(self.page.base, self.len) };
        os::close_placeholder(self.page.fd);
    }
}

/// The counters of one VM or vCPU and their stats file.
pub struct Stats {
    descs: &'static [Desc],
    id: String,
    /// Where the counters live until the file exists.
    heap: Box<[AtomicU64]>,
    /// The counters now: `heap`, or the file's data block.
    cur: AtomicPtr<AtomicU64>,
    file: Mutex<Option<StatsFile>>,
}

impl std::fmt::Debug for Stats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stats").field("id", &self.id).finish()
    }
}

/// The calling thread's id (the kernel's `task_pid_nr(current)` in the stats id).
fn tid() -> i64 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

impl Stats {
    fn new(descs: &'static [Desc], words: usize, id: String) -> Stats {
        let heap: Box<[AtomicU64]> = (0..words).map(|_| AtomicU64::new(0)).collect();
        let cur = AtomicPtr::new(heap.as_ptr().cast_mut());
        Stats {
            descs,
            id,
            heap,
            cur,
            file: Mutex::new(None),
        }
    }

    /// A new VM's counters (`kvm-<tid>`).
    pub fn for_vm() -> Stats {
        Stats::new(&VM_DESCS, vm::WORDS, format!("kvm-{}", tid()))
    }

    /// A new vCPU's counters (`kvm-<tid>/vcpu-<id>`).
    pub fn for_vcpu(id: u32) -> Stats {
        Stats::new(
            vcpu_descs(),
            vcpu::WORDS,
            format!("kvm-{}/vcpu-{id}", tid()),
        )
    }

    /// The id string of the file.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn words(&self) -> usize {
        self.heap.len()
    }

    /// The counter `word` in the current storage.
    fn at(&self, p: *mut AtomicU64, word: usize) -> &AtomicU64 {
        debug_assert!(word < self.words());
        let word = word.min(self.words() - 1);
        // SAFETY: `p` is `heap` or the file's data block, both `words()` aligned u64s that live
        // as long as `self` (the mapping is unmapped only when `self` is dropped).
        unsafe { &*p.add(word) }
    }

    /// Adds `n` to the counter `word`.
    pub fn add(&self, word: usize, n: u64) {
        let p = self.cur.load(Ordering::SeqCst);
        self.at(p, word).fetch_add(n, Ordering::SeqCst);
        if p == self.heap.as_ptr().cast_mut() {
            let now = self.cur.load(Ordering::SeqCst);
            if now != p {
                // The file appeared after we loaded `heap`: move what we added (and anything
                // else left there) into it.
                let v = self.heap[word.min(self.words() - 1)].swap(0, Ordering::SeqCst);
                self.at(now, word).fetch_add(v, Ordering::SeqCst);
            }
        }
    }

    /// Adds one to the counter `word`.
    pub fn inc(&self, word: usize) {
        self.add(word, 1);
    }

    /// Sets the instant value `word` (e.g. `blocking`).
    pub fn set(&self, word: usize, v: u64) {
        let p = self.cur.load(Ordering::SeqCst);
        self.at(p, word).store(v, Ordering::SeqCst);
        let now = self.cur.load(Ordering::SeqCst);
        if now != p {
            self.at(now, word).store(v, Ordering::SeqCst);
        }
    }

    /// The counter `word` now.
    pub fn get(&self, word: usize) -> u64 {
        self.at(self.cur.load(Ordering::SeqCst), word)
            .load(Ordering::SeqCst)
    }

    /// `kvm_stats_log_hist_update`: one more sample in the bucket of `value`.
    pub fn log_hist(&self, first: usize, value: u64) {
        let index = (64 - value.leading_zeros() as usize).min(HALT_POLL_HIST_COUNT - 1);
        self.inc(first + index);
    }

    /// Creates the file and moves the counters into it: publish the file's data block, then
    /// drain each heap counter into it. An `add` that loaded the heap before the publication
    /// and added after the drain sees the new pointer on its second load (the operations are
    /// sequentially consistent) and drains its own addition.
    fn publish(&self) -> Result<StatsFile> {
        let bytes = image(self.descs, self.words(), &self.id);
        let name = CString::new(if self.descs.len() == VM_DESCS.len() {
            "kvm-vm-stats"
        } else {
            "kvm-vcpu-stats"
        })
        .map_err(|_| Error::Os(libc::EINVAL))?;
        let page = os::memfd_with(&name, &bytes)?;
        let data_offset = bytes.len() - self.words() * 8;
        // SAFETY: the data block lies inside the mapping; its offset is a multiple of 8 and
        // the mapping page-aligned, so the u64s are aligned for AtomicU64.
        let data = unsafe { page.base.as_ptr().add(data_offset) }.cast::<AtomicU64>();
        let file = StatsFile {
            page,
            len: bytes.len(),
        };
        self.cur.store(data, Ordering::SeqCst);
        for (i, h) in self.heap.iter().enumerate() {
            let v = h.swap(0, Ordering::SeqCst);
            if v != 0 {
                self.at(data, i).fetch_add(v, Ordering::SeqCst);
            }
        }
        Ok(file)
    }

    /// `KVM_GET_STATS_FD`: a new read-only fd of the stats file.
    pub fn open_fd(&self) -> Result<RawFd> {
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_ref() {
            // The memfd is the shim's; if the application closed or replaced its number, the
            // current values stay in the mapping but no new fd of it can be made.
            if os::file_id(f.page.fd) != Some(f.page.id) {
                log::warn!(
                    "{}: the stats memfd was closed behind the shim's back",
                    self.id
                );
                return Err(Error::Os(libc::EBADF));
            }
        } else {
            *file = Some(self.publish()?);
        }
        let fd = file
            .as_ref()
            .map(|f| f.page.fd)
            .ok_or(Error::Os(libc::EBADF))?;
        os::reopen_read_only(fd)
    }
}

impl Drop for Stats {
    fn drop(&mut self) {
        // The counters point back into the heap before the file goes.
        let heap = self.heap.as_ptr().cast_mut();
        self.cur.store(heap, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_of_the_files() {
        let d = vcpu_descs();
        assert_eq!(d.len(), 11 + 94);
        assert_eq!(vcpu::WORDS, 104 + 94);
        assert_eq!(d[10].name, "blocking");
        assert_eq!(d[10].word, 103);
        assert_eq!(d[11].name, "exit_userspace");
        assert_eq!(vcpu::EXIT_USERSPACE, 104);
        assert_eq!(d.last().map(|d| d.name), Some("pfault_sync"));
        let img = image(&VM_DESCS, vm::WORDS, "kvm-1");
        assert_eq!(img.len(), 24 + 48 + 15 * 64 + 15 * 8);
        assert_eq!(&img[24..29], b"kvm-1");
        // gmap_shadow_reuse (9th descriptor) reads the struct's tenth value.
        let reuse = 72 + 8 * 64;
        assert_eq!(&img[reuse + 16..reuse + 33], b"gmap_shadow_reuse");
        assert_eq!(
            u32::from_ne_bytes(img[reuse + 8..reuse + 12].try_into().unwrap()),
            72
        );
    }

    #[test]
    fn counters_move_into_the_file() {
        let s = Stats::for_vcpu(3);
        s.inc(vcpu::EXIT_USERSPACE);
        s.set(vcpu::BLOCKING, 1);
        s.log_hist(vcpu::HALT_WAIT_HIST, 1000);
        let fd = s.open_fd().unwrap();
        s.inc(vcpu::EXIT_USERSPACE);
        let mut buf = vec![0u8; 8];
        let off = 72 + vcpu_descs().len() * 64 + vcpu::EXIT_USERSPACE * 8;
        use std::os::fd::FromRawFd;
        use std::os::unix::fs::FileExt;
        // SAFETY: `fd` was just returned by open_fd; the File owns and closes it.
        let f = unsafe { std::fs::File::from_raw_fd(fd) };
        let n = f.read_at(&mut buf, off as u64).unwrap();
        assert_eq!(n, 8);
        assert_eq!(u64::from_ne_bytes(buf[..8].try_into().unwrap()), 2);
        assert_eq!(s.get(vcpu::BLOCKING), 1);
        assert_eq!(s.get(vcpu::HALT_WAIT_HIST + 10), 1);
        // Read-only: writing fails with EBADF.
        let mut w = &f;
        assert_eq!(
            std::io::Write::write(&mut w, b"x")
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn concurrent_increments_survive_the_switch() {
        let s = std::sync::Arc::new(Stats::for_vm());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for _ in 0..20000 {
                        s.inc(vm::INJECT_IO);
                    }
                })
            })
            .collect();
        let fd = s.open_fd().unwrap();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(s.get(vm::INJECT_IO), 80000);
        os::close_placeholder(fd);
    }
}
