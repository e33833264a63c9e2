//! Generates `include/kvm_s390_shim.h` with cbindgen.
//!
//! The ioctl request numbers are not visible to cbindgen (they are produced by a macro), so
//! this script compiles the uapi module itself and appends one `#define` per row of its
//! `IOCTLS` table. The file is rewritten only when its content changes; CI checks that the
//! checked-in copy is current.

use std::fmt::Write as _;
use std::path::PathBuf;

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "src/uapi/mod.rs"]
mod uapi;

fn main() {
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    let anon = std::fs::read_to_string(crate_dir.join("src/uapi/anon_unions.h"))
        .expect("src/uapi/anon_unions.h exists");

    let mut ioctls = String::from(
        "#ifndef KVM_S390_SHIM_NO_UAPI\n/* KVM ioctl request numbers: _IOC(dir, KVMIO, nr, sizeof(arg)). */\n",
    );
    for def in uapi::IOCTLS {
        writeln!(
            ioctls,
            "#define {} 0x{:08X}u /* {} */",
            def.name, def.request, def.definition
        )
        .expect("write to String");
    }
    ioctls.push_str("#endif /* KVM_S390_SHIM_NO_UAPI */\n");

    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .with_after_include(format!(
            "\n#ifndef KVM_S390_SHIM_NO_UAPI\n{anon}#endif /* KVM_S390_SHIM_NO_UAPI */\n"
        ))
        .with_trailer(ioctls)
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    let path = crate_dir.join("include/kvm_s390_shim.h");
    if std::fs::read(&path).ok().as_deref() != Some(&out[..]) {
        std::fs::create_dir_all(crate_dir.join("include")).expect("create include/");
        std::fs::write(&path, out).expect("write include/kvm_s390_shim.h");
    }
}
