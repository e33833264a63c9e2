//! DIAGNOSE (0x83) as KVM handles its intercept (`kvm_s390_handle_diag`,
//! `arch/s390/kvm/diag.c`). The function code is bits 48-63 of the second-operand address.
//!
//! | code | kernel handler | here |
//! |---|---|---|
//! | 0x010 | `diag_release_pages` | range checks (specification exception); the backing pages of the real range dropped (`MADV_DONTNEED`, the kernel's zap), the prefix pages swapped as the kernel swaps them |
//! | 0x044 | `__diag_time_slice_end` | yields the host CPU |
//! | 0x09c | `__diag_time_slice_end_directed` | yields when the target vCPU is not running; the counters as the kernel keeps them |
//! | 0x258 | `__diag_page_ref_service` | the pfault handshake: token init (subcode 0) and cancel (1) with their checks and return codes; other subcodes go to userspace |
//! | 0x308 | `__diag_ipl_functions` | load clear / load normal: `KVM_EXIT_S390_RESET`; other subcodes go to userspace |
//! | 0x500 | `__diag_virtio_hypercall` | virtio-ccw notify: an ioeventfd, else userspace |
//! | others (0x288, 0x318, 0x501, ...) | none | userspace (`KVM_EXIT_S390_SIEIC`), counted as `instruction_diagnose_other` |

use parking_lot::MutexGuard;

use super::cpu_run::{base_disp, Next, ICPT_INST};
use super::gaccess::Fail;
use super::guest::Exit;
use super::{Vcpu, VcpuState};
use crate::cpu::Cpu;
use crate::error::Result;
use crate::stats;
use crate::uapi::*;
use crate::vm::memslot::PAGE_SIZE;
use crate::vm::Vm;

const PGM_PRIVILEGED_OP: u16 = 0x02;
const PGM_ADDRESSING: u16 = 0x05;
const PGM_SPECIFICATION: u16 = 0x06;

/// The PSW problem-state bit.
const PSW_MASK_PSTATE: u64 = 1 << 48;

/// The DIAGNOSE 0x258 parameter block (`struct prs_parm`, 40 bytes, big-endian): code,
/// subcode, length in doublewords, version, token address, select and compare masks, and the
/// z/Architecture indication.
struct PageRefParm {
    code: u16,
    subcode: u16,
    len: u16,
    version: u16,
    token_addr: u64,
    select: u64,
    compare: u64,
    zarch: u64,
}

impl PageRefParm {
    const SIZE: usize = 40;

    fn parse(b: &[u8; Self::SIZE]) -> Self {
        let h = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let d = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&b[i..i + 8]);
            u64::from_be_bytes(w)
        };
        PageRefParm {
            code: h(0),
            subcode: h(2),
            len: h(4),
            version: h(6),
            token_addr: d(8),
            select: d(16),
            compare: d(24),
            zarch: d(32),
        }
    }
}

/// DIAGNOSE 0x10 on the real range `[start, end)` (checked: page-aligned, `start` past the
/// first two pages, `start < end`): the real pages are absolute ones except the two prefix
/// pages, which are absolute 0 and 1, so the kernel discards around them and discards
/// absolute page 0 when the range starts at or before the prefix, page 1 when it ends past
/// its first page.
fn release_pages(vm: &Vm, start: u64, end: u64, prefix: u64) {
    if end <= prefix || start >= prefix + 2 * PAGE_SIZE {
        discard_absolute(vm, start, end);
    } else {
        discard_absolute(vm, start, prefix);
        if start <= prefix {
            discard_absolute(vm, 0, PAGE_SIZE);
        }
        if end > prefix + PAGE_SIZE {
            discard_absolute(vm, PAGE_SIZE, 2 * PAGE_SIZE);
        }
        discard_absolute(vm, prefix + 2 * PAGE_SIZE, end);
    }
}

/// Drops the host pages backing absolute `[from, to)` where the guest's address space maps
/// them (`gmap_discard` walks the gmap: slots that are not segment-mapped are not in it).
fn discard_absolute(vm: &Vm, from: u64, to: u64) {
    let (first, last) = (from / PAGE_SIZE, to / PAGE_SIZE);
    if first >= last {
        return;
    }
    for slot in vm.memslots().iter() {
        let (lo, hi) = (slot.base_gfn.max(first), slot.end_gfn().min(last));
        if slot.segment_mapped && lo < hi {
            crate::os::discard(slot.hva(lo), (hi - lo) * PAGE_SIZE);
        }
    }
}

impl Vcpu {
    /// DIAGNOSE intercepted (the PSW points after it).
    pub(super) fn diag(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        ipa: u16,
        ipb: u32,
    ) -> Result<Next> {
        let to_user = Next::Exit(Exit::Intercept {
            icptcode: ICPT_INST,
            ipa,
            ipb,
        });
        let code = base_disp(cpu, ipb).0 & 0xffff;
        if cpu.psw_mask & PSW_MASK_PSTATE != 0 {
            return self.inject_code(vm, st, cpu, PGM_PRIVILEGED_OP);
        }
        let (r1, r3) = (((ipa >> 4) & 0xf) as u8, (ipa & 0xf) as u8);
        match code {
            // Release pages: the range is checked, the contents go.
            0x10 => {
                self.stats.inc(stats::vcpu::DIAGNOSE_10);
                let start = cpu.r64(r1);
                let end = cpu.r64(r3).wrapping_add(PAGE_SIZE);
                if start & (PAGE_SIZE - 1) != 0
                    || end & (PAGE_SIZE - 1) != 0
                    || start >= end
                    || start < 2 * PAGE_SIZE
                {
                    return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
                }
                release_pages(vm, start, end, u64::from(cpu.prefix));
                Ok(Next::Continue)
            }
            // Time-slice end: give the host CPU to someone else (`kvm_vcpu_on_spin`).
            0x44 => {
                self.stats.inc(stats::vcpu::DIAGNOSE_44);
                std::thread::yield_now();
                Ok(Next::Continue)
            }
            0x9c => {
                self.directed_yield(vm, cpu.r64(r1));
                Ok(Next::Continue)
            }
            0x258 => self.page_ref_service(vm, st, cpu, r1, r3, to_user),
            // IPL functions: load clear / load normal leave with a reset exit.
            0x308 => {
                self.stats.inc(stats::vcpu::DIAGNOSE_308);
                let flags = match cpu.r64(r3) & 0xffff {
                    3 => KVM_S390_RESET_CLEAR,
                    4 => 0,
                    _ => return Ok(to_user),
                };
                if !vm.user_cpu_state_ctrl() {
                    self.set_stopped(true);
                }
                Ok(Next::Exit(Exit::Reset {
                    flags: flags
                        | KVM_S390_RESET_SUBSYSTEM
                        | KVM_S390_RESET_IPL
                        | KVM_S390_RESET_CPU_INIT,
                }))
            }
            // virtio-ccw notify: an ioeventfd, else userspace.
            0x500 => {
                self.stats.inc(stats::vcpu::DIAGNOSE_500);
                let css = vm.state().css_support;
                if css && cpu.r64(1) == 3 {
                    let schid = cpu.r64(2) as u32;
                    if let Some(cookie) =
                        vm.ioeventfds
                            .virtio_ccw_notify(schid, cpu.r64(3), cpu.r64(4) as i64)
                    {
                        cpu.set_r64(2, cookie as u64);
                        return Ok(Next::Continue);
                    }
                }
                Ok(to_user)
            }
            _ => {
                self.stats.inc(stats::vcpu::DIAGNOSE_OTHER);
                Ok(to_user)
            }
        }
    }

    /// DIAGNOSE 0x9c, a yield directed to the vCPU with id `tid` (`__diag_time_slice_end_directed`).
    ///
    /// The kernel ignores a yield to itself or to no vCPU, and one to a vCPU that is running
    /// (loaded on a host CPU: forwarding to its host CPU is off by default,
    /// `diag9c_forwarding_hz` = 0) or asleep in its wait (`yield_to` refuses a sleeping
    /// task), and one to a vCPU that never ran (it has no task). Otherwise it yields the
    /// host CPU to the target's thread. A process cannot name the thread to yield to: the
    /// shim gives up the host CPU (`sched_yield`).
    fn directed_yield(&self, vm: &Vm, tid: u64) {
        self.stats.inc(stats::vcpu::DIAGNOSE_9C);
        let target = u32::try_from(tid as i32)
            .ok()
            .filter(|&t| t != self.id)
            .and_then(|t| vm.vcpu_by_id(t));
        let yielded = target.is_some_and(|t| {
            // In KVM_RUN (or another vCPU ioctl) and not asleep: running guest code.
            let running = t.ioctl_mutex.is_locked() && t.stats.get(stats::vcpu::BLOCKING) == 0;
            let asleep = t.stats.get(stats::vcpu::BLOCKING) != 0;
            let never_ran = t.stats.get(stats::vcpu::EXIT_USERSPACE) == 0;
            !(running || asleep || never_ran)
        });
        if yielded {
            std::thread::yield_now();
        } else {
            self.stats.inc(stats::vcpu::DIAGNOSE_9C_IGNORED);
        }
    }

    /// DIAGNOSE 0x258, the page-reference service (`__diag_page_ref_service`): the parameter
    /// block at the address in R1 (read with the PSW key, access register R1), subcode 0
    /// establishes the pfault token, subcode 1 cancels it; the return code goes to R3
    /// (0 done, 8 a token was already established, 4 none was).
    fn page_ref_service(
        &self,
        vm: &Vm,
        st: &mut MutexGuard<'_, VcpuState>,
        cpu: &mut Cpu,
        rx: u8,
        ry: u8,
        to_user: Next,
    ) -> Result<Next> {
        self.stats.inc(stats::vcpu::DIAGNOSE_258);
        let addr = cpu.r64(rx);
        if addr & 7 != 0 {
            return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
        }
        let mut raw = [0u8; PageRefParm::SIZE];
        match self.fetch_logical(vm, st, cpu, addr, rx, &mut raw) {
            Ok(()) => {}
            Err(Fail::Pgm(info)) => return self.inject_access(vm, st, cpu, info),
            Err(Fail::Errno(e)) => return Err(e),
        }
        let p = PageRefParm::parse(&raw);
        if p.version != 2 || p.len < 5 || p.code != 0x258 {
            return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
        }
        match p.subcode {
            // Establish the token.
            0 => {
                if st.pfault_token != KVM_S390_PFAULT_TOKEN_INVALID {
                    // Already established: the token stays (SC24-6084 return code 8).
                    cpu.set_r64(ry, 8);
                    return Ok(Next::Continue);
                }
                if p.compare & p.select != p.compare || p.token_addr & 7 != 0 || p.zarch != 1 << 63
                {
                    return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
                }
                if vm.memslots().by_gfn(p.token_addr / PAGE_SIZE).is_none() {
                    return self.inject_code(vm, st, cpu, PGM_ADDRESSING);
                }
                st.pfault_token = p.token_addr;
                st.pfault_select = p.select;
                st.pfault_compare = p.compare;
                cpu.set_r64(ry, 0);
                Ok(Next::Continue)
            }
            // Cancel: every outstanding token counts as delivered already.
            1 => {
                if p.token_addr != 0 || p.select != 0 || p.compare != 0 || p.zarch != 0 {
                    return self.inject_code(vm, st, cpu, PGM_SPECIFICATION);
                }
                if st.pfault_token == KVM_S390_PFAULT_TOKEN_INVALID {
                    // Not established (SC24-6084 return code 4).
                    cpu.set_r64(ry, 4);
                } else {
                    st.pfault_token = KVM_S390_PFAULT_TOKEN_INVALID;
                    cpu.set_r64(ry, 0);
                }
                Ok(Next::Continue)
            }
            _ => Ok(to_user),
        }
    }
}
