//! Young or full: which collection a stop-the-world cycle runs when
//! generational collection is on (docs/generational.md).
//!
//! For now a fixed rhythm: after a full cycle, young cycles, with every
//! [`FULL_EVERY`]th cycle full; explicit collections and the collection an
//! allocation runs after the triggered one failed to make room are full
//! (out of memory is only reported after a full collection). The measured
//! rule (young while its freed bytes per ms, halved, beat the full cycles'
//! mean) is step 7 of the plan and belongs in the policy.

use std::sync::atomic::{AtomicU32, Ordering};

use gc::Heap;

/// One cycle in this many is full while generational collection is on.
pub(crate) const FULL_EVERY: u32 = 8;

/// What a collection does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CycleKind {
    /// Mark and move only the objects allocated since the last cycle.
    Young,
    /// Mark and compact the whole heap.
    Full,
}

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
    /// The kind the next policy-chosen cycle of `heap` runs.
    pub(crate) fn next(&self, heap: &Heap) -> CycleKind {
        if heap.generations().is_enabled()
            && self.young_since_full.load(Ordering::Relaxed) + 1 < FULL_EVERY
        {
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
        let heap = Heap::new(gc::HeapConfig {
            heap_limit: 8 << 20,
            ..Default::default()
        })
        .expect("heap");
        let p = YoungOrFull::default();
        heap.generations().set_enabled(true);
        assert_eq!(p.next(&heap), CycleKind::Full, "the first cycle");
        p.ran(false);
        let kinds: Vec<_> = (0..16)
            .map(|_| {
                let k = p.next(&heap);
                p.ran(k == CycleKind::Young);
                k
            })
            .collect();
        let full: Vec<_> = (0..16).filter(|&i| kinds[i] == CycleKind::Full).collect();
        assert_eq!(full, [7, 15], "{kinds:?}");
        heap.generations().set_enabled(false);
        assert_eq!(p.next(&heap), CycleKind::Full, "generational off");
    }
}
