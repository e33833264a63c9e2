//! Recognising paths that name /dev/kvm: "/dev/kvm" itself, relative paths and dirfd-relative
//! paths into /dev, paths with "." and ".." or symlinked directories, and symlinks to it.

use std::ffi::{CStr, CString};

use libc::{c_char, c_int};

use crate::uaccess;

/// Reads a NUL-terminated path from caller memory (None if unreadable or longer than PATH_MAX).
/// Copies never cross into the next page before the terminator is found, so a string that
/// ends just before an unmapped page is read correctly.
pub fn read_path(path: *const c_char) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    let mut addr = path as u64;
    let mut chunk = [0u8; 256];
    while out.len() < libc::PATH_MAX as usize {
        let to_page_end = 4096 - (addr % 4096) as usize;
        let n = to_page_end.min(chunk.len());
        uaccess::copy_from_user(&mut chunk[..n], addr).ok()?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            out.extend_from_slice(&chunk[..end]);
            return Some(out);
        }
        out.extend_from_slice(&chunk[..n]);
        addr += n as u64;
    }
    None
}

fn realpath(p: &[u8]) -> Option<Vec<u8>> {
    let c = CString::new(p).ok()?;
    let mut buf = [0 as c_char; libc::PATH_MAX as usize + 1];
    // SAFETY: `c` is NUL-terminated and `buf` has PATH_MAX+1 bytes as realpath requires.
    let r = unsafe { libc::realpath(c.as_ptr(), buf.as_mut_ptr()) };
    if r.is_null() {
        return None;
    }
    // SAFETY: realpath wrote a NUL-terminated string into `buf`.
    Some(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_bytes().to_vec())
}

/// The directory a relative path is resolved against.
fn base_dir(dirfd: c_int) -> Vec<u8> {
    if dirfd == libc::AT_FDCWD {
        b".".to_vec()
    } else {
        format!("/proc/self/fd/{dirfd}").into_bytes()
    }
}

/// Lexical normalisation of an absolute path ("." and ".." and repeated slashes).
fn normalize(abs: &[u8]) -> Vec<u8> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in abs.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Whether `path` (relative to `dirfd`) names /dev/kvm without following a final symlink.
pub fn names_dev_kvm(dirfd: c_int, path: &[u8]) -> bool {
    if path == b"/dev/kvm" {
        return true;
    }
    let (dir, base): (&[u8], &[u8]) = match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (b"", path),
    };
    if base != b"kvm" {
        return false;
    }
    let absolute = path.first() == Some(&b'/');
    let dir_path: Vec<u8> = if absolute {
        if dir.is_empty() {
            b"/".to_vec()
        } else {
            dir.to_vec()
        }
    } else {
        let mut d = base_dir(dirfd);
        if !dir.is_empty() {
            d.push(b'/');
            d.extend_from_slice(dir);
        }
        d
    };
    match realpath(&dir_path) {
        Some(real) => real == b"/dev",
        None => absolute && normalize(dir) == b"/dev",
    }
}

/// Whether `path` is a (possibly chained) symlink whose target names /dev/kvm. Used only
/// after a real open failed with ENOENT: on a host without /dev/kvm such a link dangles.
pub fn symlink_to_dev_kvm(dirfd: c_int, path: &[u8]) -> bool {
    let mut dirfd = dirfd;
    let mut current = path.to_vec();
    for _ in 0..8 {
        let Ok(c) = CString::new(current.clone()) else {
            return false;
        };
        let mut buf = [0u8; libc::PATH_MAX as usize];
        // SAFETY: `c` is NUL-terminated; readlinkat writes at most buf.len() bytes into `buf`.
        let n = unsafe { libc::readlinkat(dirfd, c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return false;
        }
        let target = &buf[..n as usize];
        let next = if target.first() == Some(&b'/') {
            dirfd = libc::AT_FDCWD;
            target.to_vec()
        } else {
            // Relative to the directory holding the link.
            let mut t = match current.iter().rposition(|&b| b == b'/') {
                Some(i) => current[..=i].to_vec(),
                None => Vec::new(),
            };
            t.extend_from_slice(target);
            t
        };
        if names_dev_kvm(dirfd, &next) {
            return true;
        }
        current = next;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_dev_kvm_spellings() {
        assert!(names_dev_kvm(libc::AT_FDCWD, b"/dev/kvm"));
        assert!(names_dev_kvm(libc::AT_FDCWD, b"//dev//kvm"));
        assert!(names_dev_kvm(libc::AT_FDCWD, b"/dev/./kvm"));
        assert!(names_dev_kvm(libc::AT_FDCWD, b"/tmp/../dev/kvm"));
        assert!(!names_dev_kvm(libc::AT_FDCWD, b"/dev/kvm2"));
        assert!(!names_dev_kvm(libc::AT_FDCWD, b"/tmp/kvm"));
        assert!(!names_dev_kvm(libc::AT_FDCWD, b"/dev/kvm/"));
        assert_eq!(normalize(b"/a/../../dev/./kvm"), b"/dev/kvm");
    }

    #[test]
    fn reads_paths_safely() {
        assert_eq!(read_path(c"/dev/kvm".as_ptr()).unwrap(), b"/dev/kvm");
        assert!(read_path(std::ptr::null()).is_none());
        assert!(read_path(8 as *const c_char).is_none());
    }
}
