//! Young or full: which collection a stop-the-world cycle runs when
//! generational collection is on (docs/generational.md); kept by the
//! [`Policy`](super::Policy), which answers `cycle_kind` from it.
//!
//! For now a fixed rhythm: after a full cycle, young cycles, with every
//! [`FULL_EVERY`]th cycle full; explicit collections and the collection an
//! allocation runs after the triggered one failed to make room are full
//! (out of memory is only reported after a full collection). The measured
//! rule (young while its freed bytes per ms, halved, beat the full cycles'
//! mean) is step 7 of the plan and belongs in the policy.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::log::CycleKind;

/// One cycle in this many is full while generational collection is on.
pub(crate) const FULL_EVERY: u32 = 8;

/// The young/full rhythm.
#[derive(Debug)]
pub(crate) struct YoungOrFull {
    /// Young cycles since the last full one (the first cycle is full).
    young_since_full: AtomicU32,
}

impl Default for YoungOrFull {
    fn default() -> Self {
        YoungOrFull {
            young_since_full: AtomicU32::new(FULL_EVERY),
        }
    }
}

impl YoungOrFull {
    /// The kind the next policy-chosen cycle runs, `generational` saying
    /// whether young cycles are on.
    pub(crate) fn next(&self, generational: bool) -> CycleKind {
        if generational && self.young_since_full.load(Ordering::Relaxed) + 1 < FULL_EVERY {
            CycleKind::Young
        } else {
            CycleKind::Full
        }
    }

    /// Counts a finished cycle.
    pub(crate) fn ran(&self, young: bool) {
        if young {
            self.young_since_full.fetch_add(1, Ordering::Relaxed);
        } else {
            self.young_since_full.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_every_eighth_cycle_and_never_without_an_old_generation() {
        let p = YoungOrFull::default();
        assert_eq!(p.next(true), CycleKind::Full, "the first cycle");
        p.ran(false);
        let kinds: Vec<_> = (0..16)
            .map(|_| {
                let k = p.next(true);
                p.ran(k == CycleKind::Young);
                k
            })
            .collect();
        let full: Vec<_> = (0..16).filter(|&i| kinds[i] == CycleKind::Full).collect();
        assert_eq!(full, [7, 15], "{kinds:?}");
        assert_eq!(p.next(false), CycleKind::Full, "generational off");
    }
}
