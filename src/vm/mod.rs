//! The VM object: memory slots, dirty logging, VM capabilities.

pub mod attr;
pub mod cmma;
pub mod cpu_model;
pub mod ioeventfd;
pub mod keyop;
pub mod memop;
pub mod memslot;
pub mod skeys;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::error::{EnableCapRule, Error, MemslotRule, Result};
use crate::host::HostConfig;
use crate::irq::{Adapter, Ais, FloatIrqs, MAX_S390_IO_ADAPTERS};
use crate::rcu::{self, Rcu, RcuRef};
use crate::uaccess;
use crate::uapi::*;
use crate::vcpu::Vcpu;
use cpu_model::CpuModel;
use memslot::{
    DirtyBitmap, MemSlot, MemSlots, PageBytes, SlotFlags, KVM_MEM_MAX_NR_PAGES, KVM_USER_MEM_SLOTS,
    PAGE_SIZE, SEGMENT_SIZE,
};

/// VM state changed by configuration ioctls (the kernel's `kvm->lock` domain).
pub struct VmState {
    /// KVM_CAP_S390_IRQCHIP enabled.
    pub irqchip: bool,
    /// KVM_CAP_S390_USER_SIGP enabled.
    pub user_sigp: bool,
    /// KVM_CAP_S390_USER_STSI enabled.
    pub user_stsi: bool,
    /// KVM_CAP_S390_USER_INSTR0 enabled.
    pub user_instr0: bool,
    /// KVM_CAP_S390_USER_OPEREXEC enabled (`latest` kernel profile): operation exceptions
    /// go to userspace as KVM_EXIT_S390_SIEIC with icptcode 0x2c.
    pub user_operexec: bool,
    /// KVM_CAP_S390_AIS enabled.
    pub ais: bool,
    /// Async page faults enabled through the FLIC (`gmap->pfault_enabled`).
    pub pfault_enabled: bool,
    /// KVM_CAP_S390_HPAGE_1M enabled.
    pub hpage_1m: bool,
    /// CMMA enabled (MEM_CTRL ENABLE_CMMA).
    pub use_cmma: bool,
    /// Migration mode on.
    pub migration_mode: bool,
    /// `max_halt_poll_ns` (KVM_CAP_HALT_POLL).
    pub max_halt_poll_ns: u32,
    /// The CPU model.
    pub cpu_model: CpuModel,
    /// Guest TOD minus host TOD (mod 2^64).
    pub epoch: u64,
    /// Guest epoch index minus host epoch index.
    pub epdx: u8,
    /// AES key wrapping on, with its wrapping-key mask.
    pub aes_kw: bool,
    pub aes_wrapping_key_mask: [u8; 32],
    /// DEA key wrapping on, with its wrapping-key mask.
    pub dea_kw: bool,
    pub dea_wrapping_key_mask: [u8; 24],
    /// AP instruction interpretation on.
    pub apie: bool,
    /// The SCA topology-change-report bit.
    pub mtcr: bool,
    /// The guest has used CMMA (ESSA, or SET_CMMA_BITS).
    pub uses_cmm: bool,
    /// Pages whose CMMA-dirty bit is set.
    pub cmma_dirty_pages: u64,
    /// The guest address-space limit after LIMIT_SIZE (rounded by table depth).
    pub asce_limit: u64,
    /// Channel-subsystem support enabled (vCPU KVM_CAP_S390_CSS_SUPPORT).
    pub css_support: bool,
    /// The VM switched to the extended SCA (a vCPU id of 64 or more was created).
    pub esca: bool,
    /// The lock-free copy of the model's facilities ([`Vm::has_facility`]).
    facilities: Arc<FacilityCache>,
}

impl VmState {
    /// The kernel's `test_kvm_facility`: set in both the mask and the list of the model.
    pub fn has_facility(&self, nr: u32) -> bool {
        self.cpu_model.has_facility(nr)
    }

    fn set_facility(&mut self, nr: u32) {
        self.cpu_model.set_facility(nr);
        self.refresh_facilities();
    }

    /// Publishes the model's facilities to [`Vm::has_facility`]: called wherever the CPU
    /// model's facility mask or list changes, with the state locked.
    pub(crate) fn refresh_facilities(&self) {
        self.facilities.refresh(&self.cpu_model);
    }
}

/// The facilities below 256 (every facility defined to date) of the CPU model (`test_kvm_facility`: in
/// both the mask and the list), readable without the VM state lock. The model only changes
/// through [`VmState`] (and, in the kernel, only before the first vCPU exists); each change
/// republishes the bits, so the vCPU paths that test facilities (DAT's EDAT-1 and EDAT-2)
/// neither take the VM-wide lock nor serialise each other on it.
#[derive(Debug, Default)]
pub(crate) struct FacilityCache {
    words: [AtomicU64; 4],
}

impl FacilityCache {
    fn refresh(&self, model: &CpuModel) {
        for (i, w) in self.words.iter().enumerate() {
            let bits = (0..64).fold(0u64, |acc, b| {
                acc | u64::from(model.has_facility(i as u32 * 64 + b)) << b
            });
            w.store(bits, Ordering::Release);
        }
    }

    /// Facility `nr`, or None above the covered range.
    fn test(&self, nr: u32) -> Option<bool> {
        let w = self.words.get((nr / 64) as usize)?;
        Some(w.load(Ordering::Acquire) >> (nr % 64) & 1 != 0)
    }
}

/// A virtual machine.
pub struct Vm {
    /// The host this VM runs on.
    pub host: Arc<HostConfig>,
    /// The process token of the creating process ([`crate::os::process_token`]).
    epoch: u64,
    /// Created with KVM_VM_S390_UCONTROL.
    pub ucontrol: bool,
    /// The memory limit set at creation (GET LIMIT_SIZE and the memslot check use it).
    pub mem_limit: u64,
    /// The memory-slot snapshot, read inside read-side sections (the kernel's `kvm->srcu`).
    slots: Rcu<MemSlots>,
    /// The VM fd's `KVM_CHECK_EXTENSION` answers, computed once.
    pub caps: crate::caps::CapAnswers,
    /// Serialises memslot writers (the kernel's `slots_lock`).
    slots_lock: Mutex<()>,
    state: Mutex<VmState>,
    pub(crate) created_vcpus: AtomicU32,
    /// Whether the guest uses storage keys (set by SET_SKEYS, never cleared).
    uses_skeys: AtomicBool,
    /// Userspace controls the CPU states (after a KVM_SET_MP_STATE); never cleared.
    user_cpu_state_ctrl: AtomicBool,
    /// The VM's vCPUs; they live as long as the VM, as in the kernel.
    vcpus: Mutex<Vec<Arc<Vcpu>>>,
    /// Key-checked accesses hold this for reading across check and access; SET_SKEYS holds
    /// it for writing, so a key check and the access it guards are atomic with respect to it.
    keys_lock: RwLock<()>,
    /// The VM's ioeventfds (`KVM_IOEVENTFD`).
    pub ioeventfds: ioeventfd::IoEventFds,
    /// Floating interrupts (the kernel's `fi->lock` domain).
    float_irqs: Mutex<FloatIrqs>,
    /// Adapter-interruption suppression modes (`fi->ais_lock`).
    ais: Mutex<Ais>,
    /// Registered I/O adapters, by id.
    pub(crate) adapters: Mutex<[Option<Adapter>; MAX_S390_IO_ADAPTERS]>,
    /// Whether a FLIC exists (one per VM).
    pub(crate) has_flic: AtomicBool,
    /// The adapter routes (`KVM_SET_GSI_ROUTING`).
    pub(crate) routes: Mutex<Vec<crate::irqfd::AdapterRoute>>,
    /// The irqfds and their thread.
    pub(crate) irqfds: crate::irqfd::IrqfdSet,
    /// The CPU model's facilities, lock-free (shared with [`VmState`], which refreshes it).
    facilities: Arc<FacilityCache>,
    /// The VM's counters and stats file (`KVM_GET_STATS_FD`).
    pub stats: crate::stats::Stats,
}

/// The kind of memslot change (the kernel's `enum kvm_mr_change`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Change {
    Create,
    Delete,
    Move,
    FlagsOnly,
}

impl Vm {
    /// `KVM_CREATE_VM` (kvm_arch_init_vm): type checks and initial state.
    pub fn create(host: Arc<HostConfig>, vm_type: u64) -> Result<Arc<Vm>> {
        let ucontrol = if host.ucontrol {
            if vm_type & !u64::from(KVM_VM_S390_UCONTROL) != 0 {
                return Err(Error::VmType);
            }
            vm_type != 0
        } else if vm_type != 0 {
            return Err(Error::VmType);
        } else {
            false
        };
        let mem_limit = if ucontrol {
            KVM_S390_NO_MEM_LIMIT
        } else {
            host.initial_mem_limit()
        };
        let cpu_model = CpuModel::initial(&host);
        // With MSA3 (facility 76) key wrapping starts enabled, with fresh random masks.
        let msa3 = cpu_model.has_facility(76);
        let facilities = Arc::new(FacilityCache::default());
        facilities.refresh(&cpu_model);
        let state = VmState {
            irqchip: false,
            user_sigp: false,
            user_stsi: false,
            user_instr0: false,
            user_operexec: false,
            ais: false,
            pfault_enabled: false,
            hpage_1m: false,
            use_cmma: false,
            migration_mode: false,
            max_halt_poll_ns: 0,
            cpu_model,
            epoch: 0,
            epdx: 0,
            aes_kw: msa3,
            aes_wrapping_key_mask: if msa3 { attr::random_bytes() } else { [0; 32] },
            dea_kw: msa3,
            dea_wrapping_key_mask: if msa3 { attr::random_bytes() } else { [0; 24] },
            apie: false,
            mtcr: false,
            uses_cmm: false,
            cmma_dirty_pages: 0,
            asce_limit: mem_limit,
            css_support: false,
            esca: false,
            facilities: facilities.clone(),
        };
        Ok(Arc::new(Vm {
            host,
            epoch: crate::os::process_token(),
            ucontrol,
            mem_limit,
            slots: Rcu::new(MemSlots::default()),
            caps: crate::caps::CapAnswers::new(),
            slots_lock: Mutex::new(()),
            state: Mutex::new(state),
            created_vcpus: AtomicU32::new(0),
            uses_skeys: AtomicBool::new(false),
            user_cpu_state_ctrl: AtomicBool::new(false),
            vcpus: Mutex::new(Vec::new()),
            keys_lock: RwLock::new(()),
            ioeventfds: Default::default(),
            float_irqs: Mutex::new(FloatIrqs::default()),
            ais: Mutex::new(Ais::default()),
            adapters: Mutex::new([None; MAX_S390_IO_ADAPTERS]),
            has_flic: AtomicBool::new(false),
            routes: Mutex::new(Vec::new()),
            irqfds: Default::default(),
            facilities,
            stats: crate::stats::Stats::for_vm(),
        }))
    }

    /// Whether the calling process may use this VM (EIO otherwise).
    #[inline(always)]
    pub fn check_process(&self) -> Result<()> {
        if crate::os::same_process(self.epoch) {
            Ok(())
        } else {
            Err(Error::ForeignProcess)
        }
    }

    /// The current memory-slot snapshot, inside a read-side section that lasts as long as the
    /// result: hold it for exactly the accesses that use it (a slot update waits for it), and
    /// never across a guest function, a sleep or a slot update of the same thread.
    #[inline]
    pub fn memslots(&self) -> RcuRef<'_, MemSlots> {
        self.slots.read()
    }

    /// The kernel's `test_kvm_facility` without the state lock (for facilities from 256 on,
    /// none of which is defined yet, it takes the lock).
    #[inline]
    pub fn has_facility(&self, nr: u32) -> bool {
        self.facilities
            .test(nr)
            .unwrap_or_else(|| self.state().has_facility(nr))
    }

    /// Locks the configuration state.
    pub fn state(&self) -> MutexGuard<'_, VmState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of vCPUs ever created.
    pub fn created_vcpus(&self) -> u32 {
        self.created_vcpus.load(Ordering::Acquire)
    }

    /// `KVM_CREATE_VCPU`: the id limits of the SCA in use, EEXIST for a duplicate id.
    /// Returns the new vCPU and its fd.
    pub fn create_vcpu(&self, id: u64) -> Result<(Arc<Vcpu>, std::os::fd::RawFd)> {
        let mut vcpus = self.vcpus.lock().unwrap_or_else(|e| e.into_inner());
        if id >= u64::from(crate::host::KVM_MAX_VCPUS)
            || vcpus.len() as u32 >= crate::host::KVM_MAX_VCPUS
        {
            return Err(Error::VcpuId);
        }
        let id = id as u32;
        if !self.ucontrol && id >= crate::host::KVM_S390_BSCA_CPU_SLOTS {
            // Ids from 64 need the extended SCA (and the host's 64-bit SCA origin).
            if !self.host.has_esca || id >= crate::host::KVM_S390_ESCA_CPU_SLOTS {
                return Err(Error::VcpuId);
            }
            self.state().esca = true;
        }
        if vcpus.iter().any(|v| v.id == id) {
            return Err(Error::VcpuExists);
        }
        let (vcpu, fd) = Vcpu::new(self, id)?;
        let vcpu = Arc::new(vcpu);
        vcpus.push(vcpu.clone());
        self.created_vcpus.fetch_add(1, Ordering::AcqRel);
        // A new CPU is a topology change.
        self.state().mtcr = true;
        Ok((vcpu, fd))
    }

    /// The floating interrupts.
    pub(crate) fn float_irqs(&self) -> MutexGuard<'_, FloatIrqs> {
        self.float_irqs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The adapter-interruption suppression modes.
    pub(crate) fn ais(&self) -> MutexGuard<'_, Ais> {
        self.ais.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The vCPU with id `id` (`kvm_get_vcpu_by_id`).
    pub fn vcpu_by_id(&self, id: u32) -> Option<Arc<Vcpu>> {
        self.vcpus
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .find(|v| v.id == id)
            .cloned()
    }

    /// Runs `f` on every vCPU.
    pub fn for_each_vcpu(&self, mut f: impl FnMut(&Vcpu)) {
        let vcpus = self.vcpus.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for v in &vcpus {
            f(v);
        }
    }

    /// Whether userspace controls the CPU states.
    pub fn user_cpu_state_ctrl(&self) -> bool {
        self.user_cpu_state_ctrl.load(Ordering::Acquire)
    }

    /// Hands CPU-state control to userspace (for good).
    pub fn set_user_cpu_state_ctrl(&self) {
        self.user_cpu_state_ctrl.store(true, Ordering::Release);
    }

    /// Reads guest absolute memory (no key checking); Err carries the program code.
    pub fn read_abs(
        &self,
        slots: &MemSlots,
        gpa: u64,
        buf: &mut [u8],
    ) -> std::result::Result<(), u16> {
        match self.access_abs(slots, gpa, buf, false, 0) {
            memop::MemOpOutcome::Done => Ok(()),
            memop::MemOpOutcome::Exception(code) => Err(code),
        }
    }

    /// Writes guest absolute memory (no key checking); Err carries the program code.
    pub fn write_abs(
        &self,
        slots: &MemSlots,
        gpa: u64,
        data: &[u8],
    ) -> std::result::Result<(), u16> {
        let mut buf = data.to_vec();
        match self.access_abs(slots, gpa, &mut buf, true, 0) {
            memop::MemOpOutcome::Done => Ok(()),
            memop::MemOpOutcome::Exception(code) => Err(code),
        }
    }

    /// Takes the storage-key lock for a key-checked access.
    pub fn keys_read_lock(&self) -> std::sync::RwLockReadGuard<'_, ()> {
        self.keys_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    /// `KVM_SET_USER_MEMORY_REGION` (`v2` for KVM_SET_USER_MEMORY_REGION2).
    pub fn set_user_memory_region(
        &self,
        r: &kvm_userspace_memory_region2,
        v2: bool,
    ) -> Result<i32> {
        let inval = |rule| Err(Error::Memslot(rule));
        let flags = SlotFlags::from_bits_retain(r.flags);
        // kvm_vm_ioctl: the v1 ioctl rejects unknown flags first.
        if !v2 && !(SlotFlags::LOG_DIRTY_PAGES | SlotFlags::READONLY).contains(flags) {
            return inval(MemslotRule::Flags);
        }
        let id = r.slot as u16;
        let as_id = r.slot >> 16;
        if u32::from(id) >= KVM_USER_MEM_SLOTS {
            return inval(MemslotRule::SlotId);
        }
        // check_memory_region_flags: s390 has neither READONLY nor guest_memfd.
        if !SlotFlags::LOG_DIRTY_PAGES.contains(flags) {
            return inval(MemslotRule::Flags);
        }
        if r.memory_size % PAGE_SIZE != 0 {
            return inval(MemslotRule::SizeAlignment);
        }
        if r.guest_phys_addr % PAGE_SIZE != 0 {
            return inval(MemslotRule::GuestAddressAlignment);
        }
        if r.userspace_addr % PAGE_SIZE != 0
            || !uaccess::is_user_range(r.userspace_addr, r.memory_size)
        {
            return inval(MemslotRule::UserAddress);
        }
        if as_id != 0 {
            return inval(MemslotRule::AddressSpace);
        }
        if r.guest_phys_addr.checked_add(r.memory_size).is_none() {
            return inval(MemslotRule::Overflow);
        }
        let npages = r.memory_size / PAGE_SIZE;
        if npages > KVM_MEM_MAX_NR_PAGES {
            return inval(MemslotRule::TooManyPages);
        }
        let base_gfn = r.guest_phys_addr / PAGE_SIZE;
        // Waiting for the readers from inside a read-side section of this thread would never
        // end (a shim bug, e.g. a section held across a guest function): refuse instead.
        if rcu::in_section() {
            return Err(Error::InsideSection);
        }

        let writer = self.slots_lock.lock().unwrap_or_else(|e| e.into_inner());
        let slots = self.slots.read();
        let old = slots.by_id(id).cloned();
        let change = match (&old, npages) {
            (None, 0) => return inval(MemslotRule::DeleteMissing),
            (Some(_), 0) => Change::Delete,
            (None, _) => {
                if slots.total_pages().checked_add(npages).is_none() {
                    return inval(MemslotRule::TooManyPages);
                }
                Change::Create
            }
            (Some(o), _) => {
                if o.userspace_addr != r.userspace_addr
                    || o.npages != npages
                    || SlotFlags::from_bits_retain(o.flags ^ r.flags).contains(SlotFlags::READONLY)
                {
                    return inval(MemslotRule::Immutable);
                }
                if o.base_gfn != base_gfn {
                    Change::Move
                } else if o.flags != r.flags {
                    Change::FlagsOnly
                } else {
                    return Ok(0);
                }
            }
        };
        if matches!(change, Change::Create | Change::Move)
            && slots.overlaps(base_gfn, npages, Some(id))
        {
            return Err(Error::MemslotOverlap);
        }
        // The s390 checks come before any allocation: an invalid request of any size fails
        // with EINVAL and costs nothing. (The kernel allocates the dirty bitmap first; it
        // differs only in which error a request that is both invalid and too big for memory
        // gets.)
        self.check_memory_region(change, r)?;
        // Dirty bitmap: reused from the old slot while logging stays on, else fresh.
        let dirty = if !flags.contains(SlotFlags::LOG_DIRTY_PAGES) || change == Change::Delete {
            None
        } else {
            match old.as_ref().and_then(|o| o.dirty.clone()) {
                Some(d) => Some(d),
                None => Some(Arc::new(DirtyBitmap::new(npages)?)),
            }
        };
        // Storage keys and CMMA values belong to the backing memory: kept across moves and
        // flag changes. Fresh ones cost a chunk table; chunks come on first use.
        let (keys, cmma) = match old.as_ref() {
            Some(o) if change != Change::Delete => (o.keys.clone(), o.cmma.clone()),
            _ => (
                Arc::new(PageBytes::new(npages)?),
                Arc::new(PageBytes::new(npages)?),
            ),
        };
        // Migration mode stops when a slot is left without dirty logging (not on delete).
        if change != Change::Delete && !flags.contains(SlotFlags::LOG_DIRTY_PAGES) {
            self.state().migration_mode = false;
        }
        let next = match change {
            Change::Delete => slots.without(id),
            _ => slots.with(MemSlot {
                id,
                base_gfn,
                npages,
                userspace_addr: r.userspace_addr,
                flags: r.flags,
                dirty,
                keys,
                cmma,
                // kvm_arch_commit_memory_region maps 1 MiB segments; a failure (unaligned
                // gpa) is only logged by the kernel and the ioctl still succeeds.
                segment_mapped: r.guest_phys_addr % SEGMENT_SIZE == 0,
            }),
        };
        if matches!(change, Change::Create | Change::Move) && r.guest_phys_addr % SEGMENT_SIZE != 0
        {
            log::warn!(
                "memslot {id}: guest address {:#x} is not 1 MiB aligned; not mapped",
                r.guest_phys_addr
            );
        }
        drop(slots);
        drop(old);
        // Publish under the writers' lock, wait for the readers without it (so a reader that
        // waits for the lock inside its section cannot stall the wait), then free the old
        // snapshot: when this returns, no access can still use a deleted or moved slot's old
        // memory (the kernel's synchronize_srcu).
        let stale = self.slots.publish(next);
        drop(writer);
        drop(stale.wait().map_err(|_| Error::InsideSection)?);
        Ok(0)
    }

    /// The checks of the s390 `kvm_arch_prepare_memory_region` hook (its migration-mode side
    /// effect is applied by the caller once the request cannot fail any more).
    fn check_memory_region(&self, change: Change, r: &kvm_userspace_memory_region2) -> Result<()> {
        if self.ucontrol {
            return Err(Error::Memslot(MemslotRule::Ucontrol));
        }
        if matches!(change, Change::Create | Change::Move) {
            if r.userspace_addr & (SEGMENT_SIZE - 1) != 0 || r.memory_size & (SEGMENT_SIZE - 1) != 0
            {
                return Err(Error::Memslot(MemslotRule::SegmentAlignment));
            }
            if r.guest_phys_addr + r.memory_size > self.mem_limit {
                return Err(Error::Memslot(MemslotRule::MemoryLimit));
            }
        }
        Ok(())
    }

    /// `KVM_GET_DIRTY_LOG`.
    pub fn get_dirty_log(&self, log: &kvm_dirty_log) -> Result<i32> {
        if self.ucontrol || log.slot >= KVM_USER_MEM_SLOTS {
            return Err(Error::DirtyLogSlot);
        }
        let slots = self.memslots();
        let slot = slots
            .by_id(log.slot as u16)
            .ok_or(Error::DirtyLogNotEnabled)?;
        let bitmap = slot.dirty.as_ref().ok_or(Error::DirtyLogNotEnabled)?;
        bitmap.copy_to_user_and_clear(log.dirty_bitmap)?;
        Ok(0)
    }

    /// Marks the page `gfn` dirty in its slot's bitmap, if the slot logs dirty pages.
    pub fn mark_dirty(&self, gfn: u64) {
        let slots = self.memslots();
        if let Some(slot) = slots.by_gfn(gfn) {
            if let Some(d) = &slot.dirty {
                d.mark(gfn - slot.base_gfn);
            }
        }
    }

    /// `KVM_ENABLE_CAP` on the VM fd (generic part, then the s390 part).
    pub fn enable_cap(&self, cap: &kvm_enable_cap) -> Result<i32> {
        let refuse = |rule| Err(Error::EnableCap(rule));
        // kvm_vm_ioctl_enable_cap_generic.
        match cap.cap {
            KVM_CAP_HALT_POLL => {
                if cap.flags != 0 || cap.args[0] > u64::from(u32::MAX) {
                    return refuse(EnableCapRule::Arguments);
                }
                self.state().max_halt_poll_ns = cap.args[0] as u32;
                return Ok(0);
            }
            KVM_CAP_DIRTY_LOG_RING
            | KVM_CAP_DIRTY_LOG_RING_ACQ_REL
            | KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP => {
                return refuse(EnableCapRule::Unavailable);
            }
            _ => {}
        }
        // s390 kvm_vm_ioctl_enable_cap.
        if cap.flags != 0 {
            return refuse(EnableCapRule::Arguments);
        }
        let mut st = self.state();
        let busy = self.created_vcpus() > 0;
        let facility_cap = |st: &mut VmState, facilities: &[u32]| -> Result<i32> {
            if busy {
                return refuse(EnableCapRule::Busy);
            }
            if !facilities.iter().all(|&f| self.host.has_facility(f)) {
                return refuse(EnableCapRule::Unavailable);
            }
            for &f in facilities {
                st.set_facility(f);
            }
            Ok(0)
        };
        match cap.cap {
            KVM_CAP_S390_IRQCHIP => st.irqchip = true,
            KVM_CAP_S390_USER_SIGP => st.user_sigp = true,
            KVM_CAP_S390_USER_STSI => st.user_stsi = true,
            KVM_CAP_S390_USER_INSTR0 => st.user_instr0 = true,
            // Linux 7.0; like USER_INSTR0 it may be enabled with vCPUs running.
            KVM_CAP_S390_USER_OPEREXEC if crate::host::kernel::kernel().has_user_operexec() => {
                st.user_operexec = true
            }
            KVM_CAP_S390_VECTOR_REGISTERS => {
                // Vector facility 129 plus the vector-enhancement and packed-decimal facilities
                // the host has.
                facility_cap(&mut st, &[129])?;
                for f in [134, 135, 148, 152, 192] {
                    if self.host.has_facility(f) {
                        st.set_facility(f);
                    }
                }
            }
            KVM_CAP_S390_RI => return facility_cap(&mut st, &[64]),
            KVM_CAP_S390_GS => return facility_cap(&mut st, &[133]),
            KVM_CAP_S390_CPU_TOPOLOGY => return facility_cap(&mut st, &[11]),
            KVM_CAP_S390_AIS => {
                if busy {
                    return refuse(EnableCapRule::Busy);
                }
                st.set_facility(72);
                st.ais = true;
            }
            KVM_CAP_S390_HPAGE_1M => {
                if busy {
                    return refuse(EnableCapRule::Busy);
                }
                if !self.host.hpage || st.use_cmma || self.ucontrol {
                    return refuse(EnableCapRule::Unavailable);
                }
                st.hpage_1m = true;
            }
            _ => return refuse(EnableCapRule::Unknown),
        }
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::HostConfig;

    fn vm() -> Arc<Vm> {
        Vm::create(Arc::new(HostConfig::z16()), 0).unwrap()
    }

    fn region(
        slot: u32,
        flags: u32,
        gpa: u64,
        size: u64,
        uaddr: u64,
    ) -> kvm_userspace_memory_region2 {
        kvm_userspace_memory_region2 {
            slot,
            flags,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr: uaddr,
            ..Default::default()
        }
    }

    const MB: u64 = 1 << 20;
    const UA: u64 = 0x7f00_0000_0000;

    #[test]
    fn create_types() {
        let h = Arc::new(HostConfig::z16());
        assert_eq!(Vm::create(h.clone(), 1).err(), Some(Error::VmType));
        assert_eq!(Vm::create(h, 2).err(), Some(Error::VmType));
        let mut u = HostConfig::z16();
        u.ucontrol = true;
        let u = Arc::new(u);
        assert!(Vm::create(u.clone(), 1).unwrap().ucontrol);
        assert_eq!(Vm::create(u, 3).err(), Some(Error::VmType));
    }

    #[test]
    fn memslot_rules_in_order() {
        let v = vm();
        let e = |r| v.set_user_memory_region(&r, false).unwrap_err();
        use MemslotRule::*;
        assert_eq!(e(region(0, 4, 0, MB, UA)), Error::Memslot(Flags));
        assert_eq!(e(region(32767, 0, 1, MB, UA)), Error::Memslot(SlotId));
        assert_eq!(
            e(region(0, KVM_MEM_READONLY, 0, MB, UA)),
            Error::Memslot(Flags)
        );
        assert_eq!(
            e(region(0, 0, 0, MB + 1, UA)),
            Error::Memslot(SizeAlignment)
        );
        assert_eq!(
            e(region(0, 0, 1, MB, UA)),
            Error::Memslot(GuestAddressAlignment)
        );
        assert_eq!(e(region(0, 0, 0, MB, UA + 1)), Error::Memslot(UserAddress));
        assert_eq!(
            e(region(1 << 16, 0, 0, MB, UA)),
            Error::Memslot(AddressSpace)
        );
        assert_eq!(e(region(0, 0, !0xfff, MB, UA)), Error::Memslot(Overflow));
        assert_eq!(e(region(0, 0, 0, 0, UA)), Error::Memslot(DeleteMissing));
        assert_eq!(
            e(region(0, 0, 0, MB, UA + 4096)),
            Error::Memslot(SegmentAlignment)
        );
        assert_eq!(
            e(region(0, 0, 0, MB + 4096, UA)),
            Error::Memslot(SegmentAlignment)
        );
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, MB, UA), false),
            Ok(0)
        );
        assert_eq!(e(region(1, 0, 0, MB, UA + MB)), Error::MemslotOverlap);
        assert_eq!(e(region(0, 0, 0, 2 * MB, UA)), Error::Memslot(Immutable));
        assert_eq!(e(region(0, 0, 0, MB, UA + MB)), Error::Memslot(Immutable));
        // identical: no-op; flags-only; move; delete.
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, MB, UA), false),
            Ok(0)
        );
        assert_eq!(
            v.set_user_memory_region(&region(0, 1, 0, MB, UA), false),
            Ok(0)
        );
        assert!(v.memslots().by_id(0).unwrap().dirty.is_some());
        assert_eq!(
            v.set_user_memory_region(&region(0, 1, 4 * MB, MB, UA), false),
            Ok(0)
        );
        assert_eq!(v.memslots().by_gfn(1024).unwrap().id, 0);
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, 0, 0), false),
            Ok(0)
        );
        assert!(v.memslots().is_empty());
    }

    #[test]
    fn slot_update_inside_a_section_is_refused() {
        let v = vm();
        let section = crate::rcu::enter();
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, MB, UA), false),
            Err(Error::InsideSection)
        );
        drop(section);
        assert!(v.memslots().is_empty());
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, MB, UA), false),
            Ok(0)
        );
    }

    #[test]
    fn checks_come_before_allocation() {
        let v = vm();
        // 7 TiB, user address not 1 MiB aligned, with dirty logging: EINVAL, nothing
        // allocated (the bitmap alone would be 448 MiB).
        assert_eq!(
            v.set_user_memory_region(
                &region(0, KVM_MEM_LOG_DIRTY_PAGES, 0, 7 << 40, UA + 4096),
                false
            ),
            Err(Error::Memslot(MemslotRule::SegmentAlignment))
        );
        // A maximum-size slot allocates its chunk tables only.
        let max = (KVM_MEM_MAX_NR_PAGES * PAGE_SIZE) & !(MB - 1);
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, 0, max, 0x1000_0000_0000), false),
            Ok(0)
        );
        let slots = v.memslots();
        let s = slots.by_id(0).unwrap();
        assert_eq!(s.keys.allocated_bytes() + s.cmma.allocated_bytes(), 0);
    }

    #[test]
    fn unaligned_guest_address_is_accepted_but_unmapped() {
        let v = vm();
        assert_eq!(
            v.set_user_memory_region(&region(3, 0, 4096, MB, UA), false),
            Ok(0)
        );
        assert!(!v.memslots().by_id(3).unwrap().segment_mapped);
    }

    #[test]
    fn mem_limit_bounds_slots() {
        let mut h = HostConfig::z16();
        h.hamax = (1 << 40) - 1;
        let v = Vm::create(Arc::new(h), 0).unwrap();
        assert_eq!(v.mem_limit, 1 << 40);
        assert_eq!(
            v.set_user_memory_region(&region(0, 0, (1 << 40) - MB, MB, UA), false),
            Ok(0)
        );
        assert_eq!(
            v.set_user_memory_region(&region(1, 0, 1 << 40, MB, UA), false),
            Err(Error::Memslot(MemslotRule::MemoryLimit))
        );
    }

    #[test]
    fn migration_mode_stops_on_slot_without_dirty_logging() {
        let v = vm();
        v.state().migration_mode = true;
        v.set_user_memory_region(&region(0, 1, 0, MB, UA), false)
            .unwrap();
        assert!(v.state().migration_mode);
        v.set_user_memory_region(&region(0, 0, 0, 0, 0), false)
            .unwrap();
        assert!(
            v.state().migration_mode,
            "delete does not stop migration mode"
        );
        v.set_user_memory_region(&region(1, 0, 0, MB, UA), false)
            .unwrap();
        assert!(!v.state().migration_mode);
    }

    #[test]
    fn enable_cap_rules() {
        let v = vm();
        let cap = |c: u32, flags: u32| kvm_enable_cap {
            cap: c,
            flags,
            ..Default::default()
        };
        assert_eq!(v.enable_cap(&cap(KVM_CAP_S390_USER_SIGP, 0)), Ok(0));
        assert_eq!(
            v.enable_cap(&cap(KVM_CAP_S390_USER_SIGP, 1)),
            Err(Error::EnableCap(EnableCapRule::Arguments))
        );
        assert_eq!(v.enable_cap(&cap(KVM_CAP_S390_VECTOR_REGISTERS, 0)), Ok(0));
        assert!(v.state().has_facility(129));
        assert_eq!(
            v.enable_cap(&cap(KVM_CAP_S390_HPAGE_1M, 0)),
            Err(Error::EnableCap(EnableCapRule::Unavailable))
        );
        assert_eq!(
            v.enable_cap(&cap(KVM_CAP_S390_MEM_OP, 0)),
            Err(Error::EnableCap(EnableCapRule::Unknown))
        );
        let mut hp = kvm_enable_cap {
            cap: KVM_CAP_HALT_POLL,
            ..Default::default()
        };
        hp.args[0] = 1 << 32;
        assert_eq!(
            v.enable_cap(&hp),
            Err(Error::EnableCap(EnableCapRule::Arguments))
        );
        hp.args[0] = 5000;
        assert_eq!(v.enable_cap(&hp), Ok(0));
        v.created_vcpus.store(1, Ordering::Release);
        assert_eq!(
            v.enable_cap(&cap(KVM_CAP_S390_RI, 0)),
            Err(Error::EnableCap(EnableCapRule::Busy))
        );
        assert_eq!(
            v.enable_cap(&cap(KVM_CAP_S390_AIS, 0)),
            Err(Error::EnableCap(EnableCapRule::Busy))
        );
    }
}
