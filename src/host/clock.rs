//! The host TOD clock: the real time of day in s390 TOD format, or a deterministic clock the
//! caller controls (for tests).
//!
//! TOD format: a 64-bit count where bit 51 ticks once per microsecond (4096 units per µs) and 0
//! is 1900-01-01 00:00 UTC; the extended clock adds an 8-bit epoch index that counts
//! wrap-arounds of the 64-bit part (the first is in 2042).

use std::sync::Mutex;

/// TOD value of the Unix epoch (1970-01-01 00:00 UTC): 2208988800 s × 4096 × 10^6.
pub(crate) const TOD_UNIX_EPOCH: u64 = 0x7D91_048B_CA00_0000;

/// A host TOD sample: epoch index and 64-bit TOD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostTod {
    /// Epoch index (wrap count of the 64-bit part).
    pub epoch_idx: u8,
    /// The 64-bit TOD clock.
    pub tod: u64,
}

/// Where host TOD samples come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockSource {
    /// The host's real-time clock, converted to TOD.
    RealTime,
    /// A fixed value, changed only by [`set_clock`] / [`advance_clock`].
    Frozen(HostTod),
}

static SOURCE: Mutex<Option<ClockSource>> = Mutex::new(None);

fn lock() -> std::sync::MutexGuard<'static, Option<ClockSource>> {
    SOURCE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The source chosen by `KVM_S390_SHIM_TOD`: `realtime` (default) or `frozen:<hex tod>`
/// (optionally `frozen:<hex epoch index>:<hex tod>`).
fn from_env() -> ClockSource {
    let Ok(v) = std::env::var("KVM_S390_SHIM_TOD") else {
        return ClockSource::RealTime;
    };
    let Some(rest) = v.strip_prefix("frozen:") else {
        return ClockSource::RealTime;
    };
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let parsed = match rest.split_once(':') {
        Some((ei, tod)) => hex(ei).zip(hex(tod)).map(|(e, t)| HostTod {
            epoch_idx: e as u8,
            tod: t,
        }),
        None => hex(rest).map(|t| HostTod {
            epoch_idx: 0,
            tod: t,
        }),
    };
    parsed.map_or(ClockSource::RealTime, ClockSource::Frozen)
}

/// Converts nanoseconds since the Unix epoch to an extended TOD value.
pub fn tod_from_unix_ns(ns: u128) -> HostTod {
    let v = u128::from(TOD_UNIX_EPOCH) + ns * 512 / 125;
    HostTod {
        epoch_idx: (v >> 64) as u8,
        tod: v as u64,
    }
}

/// A host TOD sample.
pub fn host_tod() -> HostTod {
    let src = *lock().get_or_insert_with(from_env);
    match src {
        ClockSource::Frozen(t) => t,
        ClockSource::RealTime => {
            let ns = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            tod_from_unix_ns(ns)
        }
    }
}

/// Selects the clock source.
pub fn set_source(src: ClockSource) {
    *lock() = Some(src);
}

/// Freezes the host clock at `t`.
pub fn set_clock(t: HostTod) {
    set_source(ClockSource::Frozen(t));
}

/// Advances a frozen host clock by `delta` TOD units (carrying into the epoch index).
/// Returns false if the clock is not frozen.
pub fn advance_clock(delta: u64) -> bool {
    let mut g = lock();
    match g.get_or_insert_with(from_env) {
        ClockSource::Frozen(t) => {
            let (tod, carry) = t.tod.overflowing_add(delta);
            t.tod = tod;
            t.epoch_idx = t.epoch_idx.wrapping_add(u8::from(carry));
            true
        }
        ClockSource::RealTime => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_epoch_and_microseconds() {
        assert_eq!(TOD_UNIX_EPOCH, 2_208_988_800u64 * 4096 * 1_000_000);
        assert_eq!(
            tod_from_unix_ns(0),
            HostTod {
                epoch_idx: 0,
                tod: TOD_UNIX_EPOCH
            }
        );
        assert_eq!(tod_from_unix_ns(1000).tod - TOD_UNIX_EPOCH, 4096);
        // The 64-bit TOD wraps in 2042 (epoch index 1 afterwards).
        let wrap_ns = (((1u128 << 64) - u128::from(TOD_UNIX_EPOCH)) * 125).div_ceil(512);
        assert_eq!(tod_from_unix_ns(wrap_ns).epoch_idx, 1);
        assert_eq!(tod_from_unix_ns(wrap_ns - 1000).epoch_idx, 0);
    }
}
