//! The ioctl dispatcher: routes a request on a KVM fd to its handler, copying argument
//! structs in and out through [`crate::uaccess`].
//!
//! One table per fd kind lists every request that has a handler; [`implemented`] reads the
//! same tables, so capability answers (crate::caps) can never advertise a missing handler.

pub mod describe;
pub mod hook;
pub mod names;
pub mod user;

use std::os::fd::RawFd;
use std::sync::Arc;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::object::{install_new, Object, TABLE};
use crate::rcu;
use crate::system::System;
use crate::uapi::*;
use crate::vcpu::Vcpu;
use crate::vm::Vm;

/// The kinds of KVM fd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdKind {
    /// /dev/kvm.
    System,
    /// A VM fd.
    Vm,
    /// A vCPU fd.
    Vcpu,
    /// A device fd.
    Device,
}

/// How a request's argument travels between the caller and its handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// The argument is ignored.
    None,
    /// The argument is a plain value (`_IO` requests that take a number).
    Value,
    /// A struct the dispatcher copies in (`_IOW`).
    In,
    /// A struct the handler returns and the dispatcher copies out (`_IOR`).
    Out,
    /// A struct copied in, updated by the handler and copied out on success (`_IOWR`).
    InOut,
}

/// One row of a request table: the request, its name, how its argument travels, and the
/// handler, which takes and returns plain Rust values (the `ioctl!` macro generates the copy
/// in and out around it, and checks at compile time that the argument type has the size
/// and direction the request number encodes).
pub struct Ioctl<H> {
    /// The request number.
    pub request: u32,
    /// The kernel's name for it.
    pub name: &'static str,
    /// How its argument travels.
    pub dir: Dir,
    /// The handler, wrapped in the argument copies.
    pub handler: H,
    /// Writes the argument out for the trace.
    pub decode: describe::ArgDecoder,
}

/// `_IOC_SIZE` and `_IOC_DIR` of `request` equal `size` and `dir`.
const fn encodes(request: u32, dir: u32, size: usize) -> bool {
    (request >> 30) == dir && ((request >> 16) & 0x3fff) as usize == size
}

/// One table row. Forms (`$o` are the object parameters of the table's handler type):
/// * `ioctl!(REQ, none, |$o| body)`: the argument is ignored;
/// * `ioctl!(REQ, value, |$o; a| body)`: `a` is the argument as a `u64`;
/// * `ioctl!(REQ, in T, |$o; a| body)`: `a: &T` copied in;
/// * `ioctl!(REQ, in T, |$o; a @ addr| body)`: the same, with the argument's address (for a
///   header followed by a flexible array);
/// * `ioctl!(REQ, out T, |$o| body)`: `body` is a `Result<T>` copied out, the ioctl returns 0;
/// * `ioctl!(REQ, inout T, |$o; a| body)`: `a: &mut T`, copied back out when `body` succeeds.
macro_rules! ioctl {
    ($req:ident, none, |$($o:tt),+| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::None,
                decode: describe::no_arg,
                handler: |$($o),+, _arg: u64| $body }
    };
    ($req:ident, value, |$($o:tt),+; $a:ident| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::Value,
                decode: describe::value_arg,
                handler: |$($o),+, $a: u64| $body }
    };
    ($req:ident, in $t:ty, |$($o:tt),+; $a:ident| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::In,
                decode: describe::struct_arg::<$t>,
                handler: |$($o),+, arg: u64| {
                    const { assert!(encodes($req, IOC_WRITE, std::mem::size_of::<$t>())) };
                    // Filled in place and used there (see `uaccess::read_user_uninit`).
                    let mut storage = std::mem::MaybeUninit::<$t>::uninit();
                    let $a: &$t = user::copy_in_place(arg, &mut storage)?;
                    $body
                } }
    };
    ($req:ident, in $t:ty, |$($o:tt),+; $a:ident @ $addr:ident| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::In,
                decode: describe::struct_arg::<$t>,
                handler: |$($o),+, $addr: u64| {
                    const { assert!(encodes($req, IOC_WRITE, std::mem::size_of::<$t>())) };
                    let mut storage = std::mem::MaybeUninit::<$t>::uninit();
                    let $a: &$t = user::copy_in_place($addr, &mut storage)?;
                    $body
                } }
    };
    ($req:ident, out $t:ty, |$($o:tt),+| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::Out,
                decode: describe::struct_arg::<$t>,
                handler: |$($o),+, arg: u64| {
                    const { assert!(encodes($req, IOC_READ, std::mem::size_of::<$t>())) };
                    let v: $t = Result::<$t>::from($body)?;
                    user::copy_out(arg, &v)?;
                    Ok(0)
                } }
    };
    ($req:ident, inout $t:ty, |$($o:tt),+; $a:ident| $body:expr) => {
        Ioctl { request: $req, name: stringify!($req), dir: Dir::InOut,
                decode: describe::struct_arg::<$t>,
                handler: |$($o),+, arg: u64| {
                    const {
                        assert!(encodes($req, IOC_READ | IOC_WRITE, std::mem::size_of::<$t>()))
                    };
                    let mut storage = std::mem::MaybeUninit::<$t>::uninit();
                    let v: &mut $t = user::copy_in_place(arg, &mut storage)?;
                    let r: i32 = Result::<i32>::from({ let $a = &mut *v; $body })?;
                    user::copy_out(arg, v)?;
                    Ok(r)
                } }
    };
}

/// A request table and its direct index: the request's number byte (`_IOC_NR`) selects the
/// row, whose full request number must then match (so another size, direction or ioctl type
/// with the same number byte is not found). Built at compile time, which also checks that
/// every row is a `KVMIO` request and that no two rows of a table share a number byte.
pub struct IoctlTable<H: 'static> {
    rows: &'static [Ioctl<H>],
    /// `index[nr]`: 1 + the row of number byte `nr`, or 0.
    index: [u8; 256],
}

impl<H> IoctlTable<H> {
    /// Indexes `rows` (a compile-time error if two rows share a number byte).
    pub const fn new(rows: &'static [Ioctl<H>]) -> Self {
        let mut index = [0u8; 256];
        let mut i = 0;
        assert!(rows.len() < 256, "request table too long for a u8 index");
        while i < rows.len() {
            let req = rows[i].request;
            assert!(
                (req >> 8) & 0xff == KVMIO,
                "a row that is not a KVMIO request"
            );
            let nr = (req & 0xff) as usize;
            assert!(index[nr] == 0, "two rows share a request number byte");
            index[nr] = (i + 1) as u8;
            i += 1;
        }
        IoctlTable { rows, index }
    }

    /// The rows.
    pub fn rows(&self) -> &'static [Ioctl<H>] {
        self.rows
    }

    /// The row of `request`, if the kernel profile has the request
    /// ([`crate::host::kernel`]): a request newer than the profile is unknown, as on that
    /// kernel. One indexed load and one compare; the profile is asked only for the requests
    /// it gates.
    #[inline(always)]
    pub fn find(&self, request: u32) -> Option<&'static Ioctl<H>> {
        use crate::host::kernel::{kernel, Kernel};
        let i = self.index[(request & 0xff) as usize] as usize;
        // i == 0 (no row) wraps to usize::MAX: no row.
        let row = self.rows.get(i.wrapping_sub(1))?;
        (row.request == request && (!Kernel::gated(request) || kernel().has_request(request)))
            .then_some(row)
    }
}

type SystemHandler = fn(&System, u64) -> Result<i32>;
/// A VM request runs inside the dispatcher's read-side section, which it may use for its
/// own published loads (the memory slots) instead of entering another.
type VmHandler = fn(&Arc<Vm>, &rcu::Section, u64) -> Result<i32>;
/// A VM request that runs outside any section (it waits for grace periods).
type VmSlotHandler = fn(&Arc<Vm>, u64) -> Result<i32>;
type VcpuHandler = fn(&Vm, &Vcpu, u64) -> Result<i32>;
type DeviceHandler = fn(&Vm, &Device, u64) -> Result<i32>;

/// Requests served on /dev/kvm (`kvm_dev_ioctl`).
pub static SYSTEM_IOCTLS: IoctlTable<SystemHandler> = IoctlTable::new(&[
    ioctl!(KVM_GET_API_VERSION, value, |s; a| s.api_version(a)),
    ioctl!(KVM_CREATE_VM, value, |s; a| install_new(Object::Vm(s.create_vm(a)?), true)),
    ioctl!(KVM_CHECK_EXTENSION, value, |s; a| s.check_extension(a)),
    ioctl!(KVM_GET_VCPU_MMAP_SIZE, value, |s; a| s.vcpu_mmap_size(a)),
    ioctl!(KVM_S390_ENABLE_SIE, none, |s| s.enable_sie()),
]);

/// Requests served on a VM fd (`kvm_vm_ioctl`, `kvm_arch_vm_ioctl`).
pub static VM_IOCTLS: IoctlTable<VmHandler> = IoctlTable::new(&[
    ioctl!(KVM_CHECK_EXTENSION, value, |vm, _; cap| {
        Ok(vm.caps.answer(vm, cap))
    }),
    ioctl!(KVM_GET_DIRTY_LOG, in kvm_dirty_log, |vm, _; log| vm.get_dirty_log(log)),
    ioctl!(KVM_ENABLE_CAP, in kvm_enable_cap, |vm, _; cap| vm.enable_cap(cap)),
    ioctl!(KVM_S390_MEM_OP, in kvm_s390_mem_op, |vm, section; mop| vm.mem_op(mop, section)),
    ioctl!(KVM_SET_GSI_ROUTING, in kvm_irq_routing, |vm, _; r @ addr| {
        if r.nr > crate::irqfd::KVM_MAX_IRQ_ROUTES || r.flags != 0 {
            return Err(Error::Routing);
        }
        // The entries follow the 8-byte header (vmemdup_array_user).
        let size = std::mem::size_of::<kvm_irq_routing_entry>() as u64;
        let entries: Vec<kvm_irq_routing_entry> = (0..u64::from(r.nr))
            .map(|i| user::UserPtr::new(addr.wrapping_add(8 + i * size)).read())
            .collect::<Result<_>>()?;
        vm.set_gsi_routing(r, &entries)
    }),
    ioctl!(KVM_CREATE_IRQCHIP, none, |vm, _| vm.create_irqchip()),
    ioctl!(KVM_IRQFD, in kvm_irqfd, |vm, _; a| vm.irqfd(a)),
    ioctl!(KVM_S390_INTERRUPT, in kvm_s390_interrupt, |vm, _; s| {
        vm.inject_floating(crate::irq::inti_from_interrupt(s)?)?;
        Ok(0)
    }),
    ioctl!(KVM_S390_GET_SKEYS, in kvm_s390_skeys, |vm, _; a| vm.get_skeys(a)),
    ioctl!(KVM_S390_KEYOP, inout kvm_s390_keyop, |vm, _; k| vm.keyop(k)),
    ioctl!(KVM_S390_SET_SKEYS, in kvm_s390_skeys, |vm, _; a| vm.set_skeys(a)),
    ioctl!(KVM_SET_DEVICE_ATTR, in kvm_device_attr, |vm, _; a| vm.set_attr(a)),
    ioctl!(KVM_GET_DEVICE_ATTR, in kvm_device_attr, |vm, _; a| vm.get_attr(a)),
    ioctl!(KVM_HAS_DEVICE_ATTR, in kvm_device_attr, |vm, _; a| vm.has_attr(a)),
    ioctl!(KVM_S390_GET_CMMA_BITS, inout kvm_s390_cmma_log, |vm, _; log| {
        vm.get_cmma_bits(log)
    }),
    ioctl!(KVM_S390_SET_CMMA_BITS, in kvm_s390_cmma_log, |vm, _; log| {
        vm.set_cmma_bits(log)
    }),
    ioctl!(KVM_CREATE_DEVICE, inout kvm_create_device, |vm, _; cd| {
        if let Some(dev) = crate::device::create(vm, cd)? {
            cd.fd = install_new(Object::Device(vm.clone(), dev), true)? as u32;
        }
        Ok(0)
    }),
    ioctl!(KVM_IOEVENTFD, in kvm_ioeventfd, |vm, _; a| vm.ioeventfds.ioctl(a)),
    // The argument is ignored, as in the kernel.
    ioctl!(KVM_GET_STATS_FD, none, |vm, _| vm.stats.open_fd()),
    ioctl!(KVM_CREATE_VCPU, value, |vm, _; id| {
        let (vcpu, fd) = vm.create_vcpu(id)?;
        crate::object::install(fd, Object::Vcpu(vm.clone(), vcpu))
    }),
]);

/// VM requests served outside any section: the slot updates, which wait for a grace period
/// (see [`OUTSIDE_SECTION`]).
pub static VM_SLOT_IOCTLS: IoctlTable<VmSlotHandler> = IoctlTable::new(&[
    ioctl!(
        KVM_SET_USER_MEMORY_REGION,
        in kvm_userspace_memory_region,
        |vm; r| {
            let r2 = kvm_userspace_memory_region2 {
                slot: r.slot,
                flags: r.flags,
                guest_phys_addr: r.guest_phys_addr,
                memory_size: r.memory_size,
                userspace_addr: r.userspace_addr,
                ..Default::default()
            };
            vm.set_user_memory_region(&r2, false)
        }
    ),
    ioctl!(KVM_SET_USER_MEMORY_REGION2, in kvm_userspace_memory_region2, |vm; r| {
        vm.set_user_memory_region(r, true)
    }),
]);

/// Requests served on a vCPU fd (`kvm_vcpu_ioctl`, `kvm_arch_vcpu_ioctl`).
pub static VCPU_IOCTLS: IoctlTable<VcpuHandler> = IoctlTable::new(&[
    ioctl!(KVM_RUN, value, |vm, v; a| v.run(vm, a)),
    ioctl!(KVM_GET_REGS, out kvm_regs, |_, v| Ok(v.get_regs())),
    ioctl!(KVM_SET_REGS, in kvm_regs, |_, v; r| v.set_regs(r)),
    ioctl!(KVM_GET_SREGS, out kvm_sregs, |_, v| Ok(v.get_sregs())),
    ioctl!(KVM_SET_SREGS, in kvm_sregs, |_, v; s| v.set_sregs(s)),
    ioctl!(KVM_GET_FPU, out kvm_fpu, |_, v| Ok(v.get_fpu())),
    ioctl!(KVM_SET_FPU, in kvm_fpu, |_, v; f| v.set_fpu(f)),
    ioctl!(KVM_S390_SET_INITIAL_PSW, in kvm_s390_psw, |_, v; psw| {
        v.set_initial_psw(psw)
    }),
    ioctl!(KVM_S390_NORMAL_RESET, none, |vm, v| {
        v.reset(vm, KVM_S390_NORMAL_RESET)
    }),
    ioctl!(KVM_S390_INITIAL_RESET, none, |vm, v| {
        v.reset(vm, KVM_S390_INITIAL_RESET)
    }),
    ioctl!(KVM_S390_CLEAR_RESET, none, |vm, v| {
        v.reset(vm, KVM_S390_CLEAR_RESET)
    }),
    ioctl!(KVM_GET_MP_STATE, out kvm_mp_state, |_, v| Ok(v.get_mp_state())),
    ioctl!(KVM_SET_MP_STATE, in kvm_mp_state, |vm, v; s| v.set_mp_state(vm, s)),
    ioctl!(KVM_GET_ONE_REG, in kvm_one_reg, |_, v; r| v.get_one_reg(r)),
    ioctl!(KVM_SET_ONE_REG, in kvm_one_reg, |_, v; r| v.set_one_reg(r)),
    ioctl!(KVM_ENABLE_CAP, in kvm_enable_cap, |vm, v; cap| v.enable_cap(vm, cap)),
    ioctl!(KVM_S390_MEM_OP, in kvm_s390_mem_op, |vm, v; mop| {
        Ok(v.mem_op(vm, mop)?.ret())
    }),
    ioctl!(KVM_S390_GET_IRQ_STATE, in kvm_s390_irq_state, |_, v; s| {
        v.get_irq_state(s)
    }),
    ioctl!(KVM_S390_IRQ, in kvm_s390_irq, |vm, v; irq| {
        v.inject(vm, irq)?;
        Ok(0)
    }),
    ioctl!(KVM_S390_INTERRUPT, in kvm_s390_interrupt, |vm, v; s| {
        v.inject(vm, &crate::irq::irq_from_interrupt(s)?)?;
        Ok(0)
    }),
    ioctl!(KVM_S390_SET_IRQ_STATE, in kvm_s390_irq_state, |vm, v; s| {
        let size = std::mem::size_of::<kvm_s390_irq>();
        if s.len > crate::irq::VCPU_IRQS_MAX_BUF || s.len == 0 || s.len as usize % size != 0 {
            return Err(Error::IrqState);
        }
        let mut bytes = vec![0u8; s.len as usize];
        user::UserBuf::new(s.buf, bytes.len()).read_into(&mut bytes)?;
        let records: Vec<kvm_s390_irq> = bytes
            .chunks_exact(size)
            .map(crate::irq::irq_from_bytes)
            .collect();
        v.set_irq_state(vm, &records)
    }),
    ioctl!(KVM_S390_STORE_STATUS, value, |vm, v; addr| v.store_status(vm, addr)),
    ioctl!(KVM_GET_STATS_FD, none, |_, v| v.stats.open_fd()),
    ioctl!(KVM_SET_GUEST_DEBUG, in kvm_guest_debug, |vm, v; d| v.set_guest_debug(vm, d)),
    // The argument is a pointer the handler follows itself: NULL clears the mask.
    ioctl!(KVM_SET_SIGNAL_MASK, value, |_, v; a| v.set_signal_mask(a)),
    // gmap_fault: the shim's guest memory is always mapped, so only the address is checked.
    ioctl!(KVM_S390_VCPU_FAULT, value, |vm, _; gpa| {
        vm.memslots()
            .by_gfn(gpa / 4096)
            .map(|_| 0)
            .ok_or(Error::Fault)
    }),
]);

/// vCPU requests served without the vCPU ioctl mutex (`kvm_arch_vcpu_async_ioctl` on s390):
/// interrupt injection reaches a vCPU while its `KVM_RUN` runs or sleeps.
pub const VCPU_ASYNC_IOCTLS: [u32; 2] = [KVM_S390_IRQ, KVM_S390_INTERRUPT];

/// Requests served on a device fd (`kvm_device_ioctl`).
pub static DEVICE_IOCTLS: IoctlTable<DeviceHandler> = IoctlTable::new(&[
    ioctl!(KVM_SET_DEVICE_ATTR, in kvm_device_attr, |vm, d; a| d.ops.set_attr(vm, a)),
    ioctl!(KVM_GET_DEVICE_ATTR, in kvm_device_attr, |vm, d; a| d.ops.get_attr(vm, a)),
    ioctl!(KVM_HAS_DEVICE_ATTR, in kvm_device_attr, |vm, d; a| d.ops.has_attr(vm, a)),
]);

/// Whether `request` has a handler on fds of `kind`.
pub fn implemented(kind: FdKind, request: u32) -> bool {
    match kind {
        FdKind::System => SYSTEM_IOCTLS.find(request).is_some(),
        FdKind::Vm => VM_IOCTLS.find(request).is_some() || VM_SLOT_IOCTLS.find(request).is_some(),
        FdKind::Vcpu => VCPU_IOCTLS.find(request).is_some(),
        FdKind::Device => DEVICE_IOCTLS.find(request).is_some(),
    }
}

/// The name, direction and decoder of `request` on fds of `kind` (for the trace).
pub fn row_info(kind: FdKind, request: u32) -> Option<hook::RowInfo> {
    fn find<H>(t: &IoctlTable<H>, request: u32) -> Option<hook::RowInfo> {
        t.find(request).map(|r| hook::RowInfo {
            name: r.name,
            dir: r.dir,
            decode: r.decode,
        })
    }
    match kind {
        FdKind::System => find(&SYSTEM_IOCTLS, request),
        FdKind::Vm => find(&VM_IOCTLS, request).or_else(|| find(&VM_SLOT_IOCTLS, request)),
        FdKind::Vcpu => find(&VCPU_IOCTLS, request),
        FdKind::Device => find(&DEVICE_IOCTLS, request),
    }
}

/// Requests the VFS answers for every file before the file's own ioctl (`do_vfs_ioctl`):
/// they go to the placeholder fd, which behaves like a KVM anon-inode fd for them.
const VFS_IOCTLS: [libc::c_ulong; 4] =
    [libc::FIOCLEX, libc::FIONCLEX, libc::FIONBIO, libc::FIOASYNC];

/// VM and device requests that run outside a read-side section: the slot updates (they wait
/// for a grace period). They hold a reference to the object instead.
const OUTSIDE_SECTION: [u32; 2] = [KVM_SET_USER_MEMORY_REGION, KVM_SET_USER_MEMORY_REGION2];

/// Serves `ioctl(fd, request, arg)` if `fd` is a KVM fd; `None` means "not ours, pass it on".
///
/// `/dev/kvm`, VM and device requests borrow their object from the fd table inside a
/// read-side section, without taking a reference count, so concurrent ioctls on one VM write
/// no shared cache line here. vCPU requests take one reference to the table entry and run
/// outside any section, as the kernel's vCPU ioctls run outside `kvm->srcu`: they may wait
/// for the vCPU mutex held by a `KVM_RUN` whose guest function is waiting for a grace period,
/// and `KVM_RUN` itself sleeps.
///
/// The common case, a KVM request on a VM fd with no trace or fault injection, is served
/// inline without further checks; everything else goes through [`dispatch_general`].
#[inline(always)]
pub fn dispatch(fd: RawFd, request: libc::c_ulong, arg: u64) -> Option<Result<i32>> {
    // The syscall passes the request as a 32-bit unsigned int.
    if (request as u32 >> 8) & 0xff == KVMIO {
        return dispatch_kvmio_then(fd, request, arg, Some, || None);
    }
    dispatch_general(fd, request, arg)
}

/// [`dispatch`] for a request of type `KVMIO`, ending in `served` with the result, or in
/// `not_ours` when `fd` is no KVM fd, both called outside the section: the interposer passes
/// its conversion to the C return value, so that the common case hands the handler's result
/// straight to it.
#[inline(always)]
pub fn dispatch_kvmio_then<R>(
    fd: RawFd,
    request: libc::c_ulong,
    arg: u64,
    served: impl FnOnce(Result<i32>) -> R,
    not_ours: impl FnOnce() -> R,
) -> R {
    let req = request as u32;
    debug_assert_eq!((req >> 8) & 0xff, KVMIO);
    if !OUTSIDE_SECTION.contains(&req) && !hook::active() {
        let section = rcu::enter();
        match TABLE.load(fd, &section) {
            Some(Object::Vm(vm)) => {
                let r = serve_vm(vm, &section, req, arg);
                drop(section);
                return served(r);
            }
            Some(_) => {}
            // Not a KVM fd at all.
            None => {
                drop(section);
                return not_ours();
            }
        }
    }
    match dispatch_general(fd, request, arg) {
        Some(r) => served(r),
        None => not_ours(),
    }
}

/// [`dispatch`] for every request and fd kind.
#[inline(never)]
fn dispatch_general(fd: RawFd, request: libc::c_ulong, arg: u64) -> Option<Result<i32>> {
    let req = request as u32;
    // The VFS requests are not of type KVMIO: a KVM request skips the search.
    if (req >> 8) & 0xff != KVMIO && VFS_IOCTLS.contains(&(request & 0xffff_ffff)) {
        return None;
    }
    if !OUTSIDE_SECTION.contains(&req) {
        let section = rcu::enter();
        let obj = TABLE.load(fd, &section)?;
        if !matches!(obj, Object::Vcpu(..)) {
            return Some(serve_hooked(fd, obj, Some(&section), req, arg));
        }
    }
    let entry = TABLE.entry(fd)?;
    Some(serve_hooked(fd, entry.object(), None, req, arg))
}

/// The fd kind of `obj`.
fn kind_of(obj: &Object) -> FdKind {
    match obj {
        Object::System(_) => FdKind::System,
        Object::Vm(_) => FdKind::Vm,
        Object::Vcpu(..) => FdKind::Vcpu,
        Object::Device(..) => FdKind::Device,
    }
}

/// [`serve`], through the trace and fault injection when either is on.
#[inline(always)]
fn serve_hooked(
    fd: RawFd,
    obj: &Object,
    section: Option<&rcu::Section>,
    req: u32,
    arg: u64,
) -> Result<i32> {
    if hook::active() {
        hook::call(fd, kind_of(obj), req, arg, || serve(obj, section, req, arg))
    } else {
        serve(obj, section, req, arg)
    }
}

/// Runs `req` on a VM fd inside `section`.
#[inline(always)]
fn serve_vm(vm: &Arc<Vm>, section: &rcu::Section, req: u32, arg: u64) -> Result<i32> {
    vm.check_process()?;
    match VM_IOCTLS.find(req) {
        Some(row) => (row.handler)(vm, section, arg),
        None => Err(Error::UnknownIoctl),
    }
}

/// Runs `req` on `obj` from the table of its fd kind; `section` is the read-side section it
/// runs in, `None` for vCPU requests and the slot updates.
#[inline(always)]
fn serve(obj: &Object, section: Option<&rcu::Section>, req: u32, arg: u64) -> Result<i32> {
    match obj {
        Object::System(sys) => match SYSTEM_IOCTLS.find(req) {
            Some(row) => (row.handler)(sys, arg),
            None => Err(Error::UnknownSystemIoctl),
        },
        Object::Vm(vm) => match section {
            Some(section) => serve_vm(vm, section, req, arg),
            None => vm
                .check_process()
                .and_then(|()| match VM_SLOT_IOCTLS.find(req) {
                    Some(row) => (row.handler)(vm, arg),
                    None => Err(Error::UnknownIoctl),
                }),
        },
        Object::Vcpu(vm, vcpu) => vm.check_process().and_then(|()| {
            // kvm_vcpu_ioctl: a request of another ioctl type is EINVAL, unknown KVM ones ENOTTY.
            if (req >> 8) & 0xff != KVMIO {
                return Err(Error::NotKvmIoctl);
            }
            // Injection is an async ioctl (kvm_arch_vcpu_async_ioctl): it does not take the
            // vCPU mutex, so a guest function may inject into its own vCPU.
            let async_ioctl = VCPU_ASYNC_IOCTLS.contains(&req);
            if !async_ioctl && crate::vcpu::guest::is_running_here(vcpu) {
                return Err(Error::GuestReentry);
            }
            // Every other vCPU request holds the vCPU ioctl mutex for the whole call
            // (kvm_vcpu_ioctl's vcpu->mutex), so it waits for a running KVM_RUN.
            let _serial = (!async_ioctl).then(|| vcpu.serialize());
            match VCPU_IOCTLS.find(req) {
                Some(row) => (row.handler)(vm, vcpu, arg),
                None => Err(Error::UnknownIoctl),
            }
        }),
        Object::Device(vm, dev) => {
            vm.check_process()
                .and_then(|()| match DEVICE_IOCTLS.find(req) {
                    Some(row) => (row.handler)(vm, dev, arg),
                    None => Err(Error::UnknownIoctl),
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The direct index finds every row, and only by its full request number: the same number
    /// byte with another size, direction or ioctl type is unknown.
    #[test]
    fn indexed_lookup_finds_rows_by_full_request() {
        fn check<H>(t: &IoctlTable<H>) {
            for row in t.rows() {
                use crate::host::kernel::{kernel, Kernel};
                let present = !Kernel::gated(row.request) || kernel().has_request(row.request);
                assert_eq!(t.find(row.request).is_some(), present);
                for other in [
                    row.request ^ (1 << 16),
                    row.request ^ (1 << 30),
                    (row.request & !0xff00) | (0x54 << 8),
                ] {
                    assert!(t.find(other).map_or(true, |r| r.request == other));
                }
            }
            assert!(t.find(0).is_none());
        }
        check(&SYSTEM_IOCTLS);
        check(&VM_IOCTLS);
        check(&VM_SLOT_IOCTLS);
        check(&VCPU_IOCTLS);
        check(&DEVICE_IOCTLS);
        assert_eq!(
            VM_IOCTLS.find(KVM_S390_MEM_OP).map(|r| r.name),
            Some("KVM_S390_MEM_OP")
        );
        // KVM_CREATE_VCPU's number byte with a struct size encoded is not KVM_CREATE_VCPU.
        assert!(VM_IOCTLS.find(KVM_CREATE_VCPU | (8 << 16)).is_none());
    }
}
