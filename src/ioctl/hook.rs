//! The dispatcher's hook: the decoded trace (`KVM_S390_SHIM_LOG=trace`) and fault injection
//! (`KVM_S390_SHIM_FAIL`), both read from the environment when the library is loaded.
//!
//! When neither is on, the dispatcher pays one relaxed load of [`ACTIVE`] and one predictable
//! branch per call; nothing else runs.
//!
//! # `KVM_S390_SHIM_FAIL`
//! A comma-separated list of rules `REQUEST[:ERRNO][@NTH | %PERCENT[:SEED]]`:
//! * `REQUEST`: a request name (`KVM_CREATE_VCPU`, `create_vcpu`) or number (`0xae41`);
//! * `ERRNO`: a name (`ENOMEM`) or number; `EIO` when left out;
//! * `@NTH`: only the NTH call of that request fails (counted from 1, process-wide, on any fd);
//! * `%PERCENT[:SEED]`: each call fails with probability PERCENT (0–100, decimals allowed),
//!   decided by a hash of SEED (0 when left out) and the call's number, so a run with the
//!   same calls fails the same calls;
//! * neither: every call fails.
//!
//! An injected failure returns before the handler runs (no state changes), and is logged at
//! `warn` (and shown in the trace).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use super::names;
use super::FdKind;
use crate::error::{Error, Result};

/// Whether the trace or a fault rule is on: the one flag the dispatcher tests.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// The fault rules, fixed at load time.
static RULES: OnceLock<Vec<FailRule>> = OnceLock::new();

/// The log target of the per-call trace lines.
pub const TRACE_TARGET: &str = "kvm_s390_shim::trace";

/// Whether the dispatcher must go through [`call`].
#[inline(always)]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// When a rule fires.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// Every call.
    Always,
    /// Only the n-th call (1-based).
    Nth(u64),
    /// With this probability (parts per million), from this seed.
    Percent { ppm: u64, seed: u64 },
}

/// One parsed `KVM_S390_SHIM_FAIL` rule.
#[derive(Debug)]
pub struct FailRule {
    /// The request it applies to.
    pub request: u32,
    /// The errno the call fails with.
    pub errno: i32,
    /// When it fires.
    pub when: When,
    /// Calls of `request` seen so far.
    calls: AtomicU64,
}

/// A `KVM_S390_SHIM_FAIL` value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FailSpecError {
    /// The request is neither a known name nor a number.
    #[error("unknown request `{0}`")]
    Request(String),
    /// The errno is neither a known name nor a number.
    #[error("unknown errno `{0}`")]
    Errno(String),
    /// `@` is not followed by a number from 1.
    #[error("bad call number `{0}` (expected @1, @2, ...)")]
    Nth(String),
    /// `%` is not followed by 0–100 (and optionally `:SEED`).
    #[error("bad percentage `{0}` (expected %0..%100, optionally :SEED)")]
    Percent(String),
}

/// Parses a `KVM_S390_SHIM_FAIL` value (see the module docs).
pub fn parse_fail_spec(spec: &str) -> std::result::Result<Vec<FailRule>, FailSpecError> {
    spec.split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(parse_rule)
        .collect()
}

fn parse_rule(rule: &str) -> std::result::Result<FailRule, FailSpecError> {
    let (head, when) = match rule.find(['@', '%']) {
        None => (rule, When::Always),
        Some(i) => {
            let tail = &rule[i + 1..];
            let when = if rule.as_bytes()[i] == b'@' {
                match names::parse_number(tail) {
                    Some(n) if n >= 1 => When::Nth(n),
                    _ => return Err(FailSpecError::Nth(tail.to_string())),
                }
            } else {
                let (p, seed) = match tail.split_once(':') {
                    Some((p, s)) => (
                        p,
                        names::parse_number(s)
                            .ok_or_else(|| FailSpecError::Percent(tail.to_string()))?,
                    ),
                    None => (tail, 0),
                };
                match p.parse::<f64>() {
                    Ok(p) if (0.0..=100.0).contains(&p) => When::Percent {
                        ppm: (p * 10_000.0).round() as u64,
                        seed,
                    },
                    _ => return Err(FailSpecError::Percent(tail.to_string())),
                }
            };
            (&rule[..i], when)
        }
    };
    let (req, errno) = match head.split_once(':') {
        Some((r, e)) => (
            r,
            names::errno_by_name(e).ok_or_else(|| FailSpecError::Errno(e.to_string()))?,
        ),
        None => (head, libc::EIO),
    };
    let request =
        names::request_by_name(req).ok_or_else(|| FailSpecError::Request(req.to_string()))?;
    Ok(FailRule {
        request,
        errno,
        when,
        calls: AtomicU64::new(0),
    })
}

/// splitmix64: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl FailRule {
    /// Counts one call of the rule's request; the errno if this call is to fail.
    fn fires(&self) -> Option<i32> {
        let n = self.calls.fetch_add(1, Ordering::Relaxed) + 1;
        let hit = match self.when {
            When::Always => true,
            When::Nth(k) => n == k,
            When::Percent { ppm, seed } => mix(seed ^ mix(n)) % 1_000_000 < ppm,
        };
        hit.then_some(self.errno)
    }
}

/// The errno the fault rules inject into this call of `req`, if any.
fn injected(req: u32) -> Option<i32> {
    let rules = RULES.get()?;
    let mut out = None;
    for r in rules.iter().filter(|r| r.request == req) {
        // Every matching rule counts the call, so each rule's numbering is its request's.
        if let Some(e) = r.fires() {
            out = out.or(Some(e));
        }
    }
    out
}

/// Reads `KVM_S390_SHIM_LOG`, `KVM_S390_SHIM_LOG_FILE` and `KVM_S390_SHIM_FAIL`: installs
/// the logger and the fault rules. Called once, when the library is loaded.
pub fn init_from_env() {
    let log = std::env::var("KVM_S390_SHIM_LOG").ok();
    let fail = std::env::var("KVM_S390_SHIM_FAIL").ok();
    let mut rules = Vec::new();
    let mut bad_spec = None;
    if let Some(spec) = &fail {
        match parse_fail_spec(spec) {
            Ok(r) => rules = r,
            Err(e) => bad_spec = Some(e),
        }
    }
    // Injected failures are logged at warn: a fault spec turns logging on at that level.
    let level = match (&log, fail.is_some()) {
        (Some(l), _) => Some(l.as_str()),
        (None, true) => Some("warn"),
        (None, false) => None,
    };
    if let Some(level) = level {
        init_logger(level, std::env::var_os("KVM_S390_SHIM_LOG_FILE"));
    }
    if let Some(e) = bad_spec {
        log::error!("KVM_S390_SHIM_FAIL ignored: {e}");
    }
    let _ = RULES.set(rules);
    let on = log::log_enabled!(target: TRACE_TARGET, log::Level::Trace)
        || RULES.get().is_some_and(|r| !r.is_empty());
    ACTIVE.store(on, Ordering::Relaxed);
}

/// Installs the `env_logger` backend with filter `level` (`error`..`trace`, or env_logger
/// directives), writing to `file` (appended) or stderr. Lines read
/// `kvm-s390-shim LEVEL message`.
fn init_logger(level: &str, file: Option<std::ffi::OsString>) {
    use std::io::Write;
    let mut b = env_logger::Builder::new();
    b.parse_filters(level)
        .format(|buf, rec| writeln!(buf, "kvm-s390-shim {:<5} {}", rec.level(), rec.args()));
    if let Some(path) = file {
        match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
        {
            Ok(f) => {
                b.target(env_logger::Target::Pipe(Box::new(f)));
            }
            Err(e) => eprintln!(
                "kvm-s390-shim: cannot open KVM_S390_SHIM_LOG_FILE {}: {e}; logging to stderr",
                std::path::Path::new(&path).display()
            ),
        }
    }
    // A program that installed its own logger keeps it.
    let _ = b.try_init();
}

/// Row facts the hook needs: the request's name, how its argument travels, its decoder.
pub struct RowInfo {
    /// The kernel's name.
    pub name: &'static str,
    /// How the argument travels.
    pub dir: super::Dir,
    /// Writes the argument out.
    pub decode: super::describe::ArgDecoder,
}

fn kind_name(kind: FdKind) -> &'static str {
    match kind {
        FdKind::System => "kvm",
        FdKind::Vm => "vm",
        FdKind::Vcpu => "vcpu",
        FdKind::Device => "device",
    }
}

/// Runs `serve` for `req` on fd `fd` (of `kind`) with the fault rules and the trace.
pub fn call(
    fd: i32,
    kind: FdKind,
    req: u32,
    arg: u64,
    serve: impl FnOnce() -> Result<i32>,
) -> Result<i32> {
    use super::Dir;
    let tracing = log::log_enabled!(target: TRACE_TARGET, log::Level::Trace);
    let row = super::row_info(kind, req);
    let name = row
        .as_ref()
        .map(|r| r.name)
        .or_else(|| names::request_name(req));
    let shown_name = || name.map_or_else(|| format!("{req:#x}"), str::to_string);
    let mut line = String::new();
    if tracing {
        let _ = write!(
            line,
            "[tid {}] {} {fd} {}",
            nix::unistd::gettid(),
            kind_name(kind),
            shown_name()
        );
        if let Some(r) = &row {
            if matches!(r.dir, Dir::Value | Dir::In | Dir::InOut) {
                let a = if req == crate::uapi::KVM_CHECK_EXTENSION {
                    super::describe::cap_arg(arg, kind)
                } else {
                    (r.decode)(arg, kind)
                };
                let _ = write!(line, " {a}");
            }
        }
    }
    let start = Instant::now();
    let (result, inj) = match injected(req) {
        Some(e) => {
            log::warn!(
                "injected failure: {} on {} fd {fd} fails with {}",
                shown_name(),
                kind_name(kind),
                names::errno_name(e)
            );
            (Err(Error::Injected(e)), true)
        }
        None => (serve(), false),
    };
    if tracing {
        let took = start.elapsed();
        if let (Some(r), Ok(_)) = (&row, &result) {
            if matches!(r.dir, Dir::Out | Dir::InOut) {
                let _ = write!(line, " => {}", (r.decode)(arg, kind));
            }
        }
        match &result {
            Ok(v) => {
                let _ = write!(line, " = {v}");
            }
            Err(e) => {
                let errno = e.errno();
                let _ = write!(line, " = -1 {}", names::errno_name(errno));
                if inj {
                    line += " (injected)";
                }
            }
        }
        let _ = write!(line, " <{}.{:06}>", took.as_secs(), took.subsec_micros());
        log::trace!(target: TRACE_TARGET, "{line}");
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::uapi::*;

    #[test]
    fn fail_specs_parse() {
        let r = parse_fail_spec("KVM_CREATE_VCPU:ENOMEM@3, s390_mem_op%12.5:7,run").unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].request, r[0].errno, r[0].when),
            (KVM_CREATE_VCPU, libc::ENOMEM, When::Nth(3))
        );
        assert_eq!(
            (r[1].request, r[1].errno, r[1].when),
            (
                KVM_S390_MEM_OP,
                libc::EIO,
                When::Percent {
                    ppm: 125_000,
                    seed: 7
                }
            )
        );
        assert_eq!((r[2].request, r[2].when), (KVM_RUN, When::Always));
        assert_eq!(
            parse_fail_spec("KVM_NOPE").unwrap_err(),
            FailSpecError::Request("KVM_NOPE".into())
        );
        assert_eq!(
            parse_fail_spec("KVM_RUN:EFOO").unwrap_err(),
            FailSpecError::Errno("EFOO".into())
        );
        assert_eq!(
            parse_fail_spec("KVM_RUN@0").unwrap_err(),
            FailSpecError::Nth("0".into())
        );
        assert_eq!(
            parse_fail_spec("KVM_RUN%101").unwrap_err(),
            FailSpecError::Percent("101".into())
        );
    }

    #[test]
    fn nth_fires_once_and_percent_is_seeded() {
        let r = parse_fail_spec("KVM_RUN:EINTR@2").unwrap();
        let fired: Vec<_> = (0..5).map(|_| r[0].fires()).collect();
        assert_eq!(fired, [None, Some(libc::EINTR), None, None, None]);
        let a = parse_fail_spec("KVM_RUN%30:99").unwrap();
        let b = parse_fail_spec("KVM_RUN%30:99").unwrap();
        let fa: Vec<_> = (0..1000).map(|_| a[0].fires().is_some()).collect();
        let fb: Vec<_> = (0..1000).map(|_| b[0].fires().is_some()).collect();
        assert_eq!(fa, fb);
        let n = fa.iter().filter(|x| **x).count();
        assert!((200..400).contains(&n), "{n} of 1000 at 30%");
        let none = parse_fail_spec("KVM_RUN%0").unwrap();
        assert!((0..1000).all(|_| none[0].fires().is_none()));
    }
}
