//! Fault service times, recorded by fault handlers: every fault counted in a
//! fixed log-linear histogram of atomic counters (no allocation, no lock,
//! safe in a signal handler), each time kept to within 1/32 (3%).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two (the relative precision is 1/SUB).
const SUB_BITS: u32 = 5;
const SUB: usize = 1 << SUB_BITS;
/// Powers of two above the linear range: up to 2^(SUB_BITS + POWERS) ns,
/// about 68 s; longer times land in the last bucket.
const POWERS: usize = 31;
const BUCKETS: usize = SUB * (POWERS + 1);

/// Fault service times of one cycle.
pub struct FaultLog {
    buckets: Box<[AtomicU64]>,
}

/// The bucket of `ns`: values below `SUB` exactly, above it by their
/// leading `SUB_BITS + 1` bits.
fn bucket(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let power = 63 - ns.leading_zeros(); // >= SUB_BITS
    let shift = power - SUB_BITS;
    let index = (shift as usize + 1) * SUB + ((ns >> shift) as usize & (SUB - 1));
    index.min(BUCKETS - 1)
}

/// The smallest value of bucket `index` (what it reports).
fn bucket_value(index: usize) -> u64 {
    if index < SUB {
        return index as u64;
    }
    let shift = (index / SUB - 1) as u32;
    ((SUB + index % SUB) as u64) << shift
}

impl FaultLog {
    /// An empty log (allocate it before serving faults).
    pub(crate) fn new() -> FaultLog {
        FaultLog {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Records one fault served in `d`. Async-signal-safe.
    #[inline]
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// Faults recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// The recorded times as (nanoseconds, faults) pairs, shortest first,
    /// each time rounded down to its bucket (call once the cycle is over).
    pub fn times(&self) -> Vec<(u64, u64)> {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| match b.load(Ordering::Relaxed) {
                0 => None,
                n => Some((bucket_value(i), n)),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_three_percent() {
        let values: Vec<u64> = (0..100_000u64)
            .chain((17..36).map(|p| (1u64 << p) + 12345))
            .collect();
        assert!(values.is_sorted());
        let mut last = 0;
        for ns in values {
            let b = bucket(ns);
            assert!(b >= last, "bucket order at {ns}");
            last = b;
            let v = bucket_value(b);
            assert!(v <= ns, "{ns} reported as {v}");
            assert!(ns - v <= ns / SUB as u64, "{ns} reported as {v}");
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn counts_every_fault() {
        let log = FaultLog::new();
        for us in [5, 5, 9, 40] {
            log.record(Duration::from_micros(us));
        }
        assert_eq!(log.count(), 4);
        let times = log.times();
        assert_eq!(times.iter().map(|&(_, n)| n).sum::<u64>(), 4);
        assert_eq!(times[0].1, 2, "two faults of 5 us share a bucket");
        assert!(times[0].0 <= 5_000 && times[0].0 > 4_800);
        assert!(times[2].0 <= 40_000 && times[2].0 > 38_700);
    }
}
