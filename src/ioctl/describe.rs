//! Decoders for the trace: each argument type of the request tables written out with its
//! fields by name, strace-style (`{op=KVM_S390_MEMOP_LOGICAL_READ, gaddr=0x1000, ...}`).

use super::names::{self, or_hex};
use super::FdKind;
use crate::uapi::*;

/// An argument struct that the trace can write out.
pub trait Describe {
    /// The struct's fields, by name, as passed on an fd of `kind`.
    fn describe(&self, kind: FdKind) -> String;
}

/// How the trace writes the argument of a table row: copies the struct in from the caller
/// address (the copy may fail: the trace then shows the address) and describes it.
pub type ArgDecoder = fn(u64, FdKind) -> String;

/// The [`ArgDecoder`] of a struct argument of type `T`.
pub fn struct_arg<T: Describe + crate::uaccess::FromBytes>(arg: u64, kind: FdKind) -> String {
    match super::user::copy_in::<T>(arg) {
        Ok(v) => v.describe(kind),
        Err(_) => format!("{arg:#x} (unreadable)"),
    }
}

/// The [`ArgDecoder`] of a plain value argument.
pub fn value_arg(arg: u64, _: FdKind) -> String {
    arg.to_string()
}

/// The [`ArgDecoder`] of an ignored argument.
pub fn no_arg(_: u64, _: FdKind) -> String {
    String::new()
}

/// The [`ArgDecoder`] of `KVM_CHECK_EXTENSION`: the capability's name.
pub fn cap_arg(arg: u64, _: FdKind) -> String {
    or_hex(names::CAPS, arg)
}

/// Describes the types whose derived `Debug` already reads well, with `Type { a: 1 }`
/// rewritten to `{a=1}`.
macro_rules! by_debug {
    ($($t:ty),* $(,)?) => {$(
        impl Describe for $t {
            fn describe(&self, _: FdKind) -> String {
                debug_fields(&format!("{self:?}"))
            }
        }
    )*};
}

by_debug!(
    kvm_dirty_log,
    kvm_s390_skeys,
    kvm_regs,
    kvm_sregs,
    kvm_fpu,
    kvm_s390_psw,
    kvm_s390_irq_state,
);

/// `kvm_regs { gprs: [1, 2] }` → `{gprs=[1, 2]}`.
fn debug_fields(s: &str) -> String {
    let body = match s.find('{') {
        Some(i) => &s[i..],
        None => s,
    };
    body.replace(": ", "=")
        .replace("{ ", "{")
        .replace(" }", "}")
}

impl Describe for kvm_s390_mem_op {
    fn describe(&self, _: FdKind) -> String {
        let mut s = format!(
            "{{op={}, flags={}, gaddr={:#x}, size={}, buf={:#x}",
            or_hex(names::MEMOP_OPS, u64::from(self.op)),
            names::flags(names::MEMOP_FLAGS, self.flags),
            self.gaddr,
            self.size,
            self.buf
        );
        match self.op {
            KVM_S390_MEMOP_SIDA_READ | KVM_S390_MEMOP_SIDA_WRITE => {
                s += &format!(", sida_offset={:#x}}}", self.sida_offset());
            }
            op => {
                let ext = self.ext();
                s += &format!(", key={}, ar={}", ext.key, ext.ar);
                if op == KVM_S390_MEMOP_ABSOLUTE_CMPXCHG {
                    s += &format!(", old_addr={:#x}", ext.old_addr);
                }
                s += "}";
            }
        }
        s
    }
}

impl Describe for kvm_device_attr {
    fn describe(&self, kind: FdKind) -> String {
        let g = u64::from(self.group);
        let (group, attr) = if kind == FdKind::Device {
            (or_hex(names::FLIC_GROUPS, g), format!("{:#x}", self.attr))
        } else {
            (
                or_hex(names::VM_ATTR_GROUPS, g),
                or_hex(names::vm_attrs(g), self.attr),
            )
        };
        format!(
            "{{flags={:#x}, group={group}, attr={attr}, addr={:#x}}}",
            self.flags, self.addr
        )
    }
}

impl Describe for kvm_userspace_memory_region {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{slot={}, flags={:#x}, guest_phys_addr={:#x}, memory_size={:#x}, \
             userspace_addr={:#x}}}",
            self.slot, self.flags, self.guest_phys_addr, self.memory_size, self.userspace_addr
        )
    }
}

impl Describe for kvm_userspace_memory_region2 {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{slot={}, flags={:#x}, guest_phys_addr={:#x}, memory_size={:#x}, \
             userspace_addr={:#x}, guest_memfd_offset={:#x}, guest_memfd={}}}",
            self.slot,
            self.flags,
            self.guest_phys_addr,
            self.memory_size,
            self.userspace_addr,
            self.guest_memfd_offset,
            self.guest_memfd
        )
    }
}

impl Describe for kvm_s390_interrupt {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{type={}, parm={:#x}, parm64={:#x}}}",
            names::irq_type(u64::from(self.type_)),
            self.parm,
            self.parm64
        )
    }
}

impl Describe for kvm_s390_irq {
    fn describe(&self, _: FdKind) -> String {
        let t = self.type_;
        let payload = match t as u32 {
            KVM_S390_PROGRAM_INT => format!(", pgm.code={:#x}", self.pgm().code),
            KVM_S390_SIGP_SET_PREFIX => format!(", prefix.address={:#x}", self.prefix().address),
            KVM_S390_INT_EMERGENCY => format!(", emerg.code={}", self.emerg().code),
            KVM_S390_INT_EXTERNAL_CALL => format!(", extcall.code={}", self.extcall().code),
            KVM_S390_SIGP_STOP => format!(", stop.flags={:#x}", self.stop().flags),
            KVM_S390_INT_SERVICE
            | KVM_S390_INT_VIRTIO
            | KVM_S390_INT_PFAULT_INIT
            | KVM_S390_INT_PFAULT_DONE => {
                let e = self.ext();
                format!(
                    ", ext.ext_params={:#x}, ext.ext_params2={:#x}",
                    e.ext_params, e.ext_params2
                )
            }
            KVM_S390_MCHK => {
                let m = self.mchk();
                format!(", mchk.cr14={:#x}, mchk.mcic={:#x}", m.cr14, m.mcic)
            }
            _ if t <= u64::from(KVM_S390_INT_IO_MAX) => {
                let io = self.io();
                format!(
                    ", io.subchannel_id={:#x}, io.subchannel_nr={:#x}, io.io_int_parm={:#x}, \
                     io.io_int_word={:#x}",
                    io.subchannel_id, io.subchannel_nr, io.io_int_parm, io.io_int_word
                )
            }
            _ => String::new(),
        };
        format!("{{type={}{payload}}}", names::irq_type(t))
    }
}

impl Describe for kvm_irq_routing {
    fn describe(&self, _: FdKind) -> String {
        format!("{{nr={}, flags={:#x}}}", self.nr, self.flags)
    }
}

impl Describe for kvm_enable_cap {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{cap={}, flags={:#x}, args=[{:#x}, {:#x}, {:#x}, {:#x}]}}",
            or_hex(names::CAPS, u64::from(self.cap)),
            self.flags,
            self.args[0],
            self.args[1],
            self.args[2],
            self.args[3]
        )
    }
}

impl Describe for kvm_create_device {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{type={}, fd={}, flags={:#x}}}",
            or_hex(names::DEVICE_TYPES, u64::from(self.type_)),
            self.fd as i32,
            self.flags
        )
    }
}

impl Describe for kvm_s390_keyop {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{guest_addr={:#x}, key={:#04x}, operation={}}}",
            self.guest_addr,
            self.key,
            or_hex(names::KEYOP_OPS, u64::from(self.operation))
        )
    }
}

impl Describe for kvm_one_reg {
    fn describe(&self, _: FdKind) -> String {
        format!("{{id={:#x}, addr={:#x}}}", self.id, self.addr)
    }
}

impl Describe for kvm_irqfd {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{fd={}, gsi={}, flags={:#x}, resamplefd={}}}",
            self.fd as i32, self.gsi, self.flags, self.resamplefd as i32
        )
    }
}

impl Describe for kvm_ioeventfd {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{datamatch={:#x}, addr={:#x}, len={}, fd={}, flags={:#x}}}",
            self.datamatch, self.addr, self.len, self.fd, self.flags
        )
    }
}

impl Describe for kvm_guest_debug {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{control={:#x}, nr_hw_bp={}, hw_bp={:#x}}}",
            self.control, self.arch.nr_hw_bp, self.arch.hw_bp
        )
    }
}

impl Describe for kvm_mp_state {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{mp_state={}}}",
            or_hex(names::MP_STATES, u64::from(self.mp_state))
        )
    }
}

impl Describe for kvm_s390_cmma_log {
    fn describe(&self, _: FdKind) -> String {
        format!(
            "{{start_gfn={:#x}, count={}, flags={:#x}, remaining/mask={:#x}, values={:#x}}}",
            self.start_gfn,
            self.count,
            self.flags,
            self.mask(),
            self.values
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memop_and_attr_read_by_name() {
        let mut m: kvm_s390_mem_op = bytemuck::Zeroable::zeroed();
        m.op = KVM_S390_MEMOP_LOGICAL_WRITE;
        m.flags = KVM_S390_MEMOP_F_CHECK_ONLY;
        m.gaddr = 0x1000;
        m.size = 8;
        assert_eq!(
            m.describe(FdKind::Vcpu),
            "{op=KVM_S390_MEMOP_LOGICAL_WRITE, flags=KVM_S390_MEMOP_F_CHECK_ONLY, \
             gaddr=0x1000, size=8, buf=0x0, key=0, ar=0}"
        );
        let a = kvm_device_attr {
            group: KVM_S390_VM_TOD,
            attr: KVM_S390_VM_TOD_EXT,
            ..Default::default()
        };
        assert_eq!(
            a.describe(FdKind::Vm),
            "{flags=0x0, group=KVM_S390_VM_TOD, attr=KVM_S390_VM_TOD_EXT, addr=0x0}"
        );
        let psw = kvm_s390_psw { mask: 1, addr: 2 };
        assert_eq!(psw.describe(FdKind::Vcpu), "{mask=1, addr=2}");
    }
}
