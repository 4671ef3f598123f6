//! A memo of validated mremap transitions, so that the GC's steady-state
//! flips (the same request from the same layout, cycle after cycle) skip
//! re-running the model.
//!
//! The model's verdict is a pure function of the request and the model
//! state. The engine's model runs in cheap mode and never faults a page, so
//! its state is its VMA list (no PTEs, no page cache, no anon identities
//! handed out); two states with equal VMA lists give equal verdicts and
//! equal successors. A hit therefore returns exactly what the model would
//! have said, at the cost of one O(VMAs) comparison instead of a clone and
//! a model run (which cost more than the whole PUD-level flip: see
//! `benches/flip.rs`).

use std::sync::Arc;

use crate::model::{AddressSpace, MremapOutcome, MremapRequest};

/// Transitions remembered (a GC flips between a handful of layouts).
const CAPACITY: usize = 8;

struct Transition {
    req: MremapRequest,
    before: Arc<AddressSpace>,
    outcome: MremapOutcome,
    after: Arc<AddressSpace>,
}

/// The memo (owned by the engine's locked state).
#[derive(Default)]
pub(crate) struct TransitionMemo {
    entries: Vec<Transition>,
    /// Next slot to overwrite once full (round robin).
    next: usize,
}

/// Whether two engine model states are the same for the model's purposes.
fn same_state(a: &Arc<AddressSpace>, b: &Arc<AddressSpace>) -> bool {
    Arc::ptr_eq(a, b) || (a.map_count() == b.map_count() && a.vmas().eq(b.vmas()))
}

impl TransitionMemo {
    /// The remembered outcome and successor of `req` from `state`.
    pub(crate) fn lookup(
        &self,
        state: &Arc<AddressSpace>,
        req: &MremapRequest,
    ) -> Option<(MremapOutcome, Arc<AddressSpace>)> {
        self.entries
            .iter()
            .find(|t| t.req == *req && same_state(&t.before, state))
            .map(|t| (t.outcome, Arc::clone(&t.after)))
    }

    /// Remember a validated transition (only for states the memo's
    /// reasoning covers: no faulted VMA).
    pub(crate) fn insert(
        &mut self,
        req: MremapRequest,
        before: Arc<AddressSpace>,
        outcome: MremapOutcome,
        after: Arc<AddressSpace>,
    ) {
        if before.vmas().chain(after.vmas()).any(|v| v.anon.is_some()) {
            return;
        }
        let t = Transition {
            req,
            before,
            outcome,
            after,
        };
        if self.entries.len() < CAPACITY {
            self.entries.push(t);
        } else {
            self.entries[self.next] = t;
            self.next = (self.next + 1) % CAPACITY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Backing, ModelConfig, Prot, VmaFlags};

    const G: u64 = 1 << 30;

    fn space() -> AddressSpace {
        let mut m = AddressSpace::new(ModelConfig {
            track_pages: false,
            ..ModelConfig::default()
        });
        let f = VmaFlags {
            noreserve: true,
            ..VmaFlags::default()
        };
        m.mmap(
            0x7f00_0000_0000,
            4 * G,
            Prot::NONE,
            Backing::PrivateAnon,
            f,
            0,
        )
        .unwrap();
        m.mmap(0x7f00_0000_0000, G, Prot::RW, Backing::PrivateAnon, f, 0)
            .unwrap();
        m
    }

    fn flip(from: u64, to: u64) -> MremapRequest {
        MremapRequest {
            addr: from,
            old_len: G,
            new_len: G,
            flags: 7,
            new_addr: to,
        }
    }

    #[test]
    fn equal_state_hits_and_returns_the_models_successor() {
        let before = Arc::new(space());
        let req = flip(0x7f00_0000_0000, 0x7f00_0000_0000 + 2 * G);
        let mut after = (*before).clone();
        let outcome = after.mremap(&req).unwrap();
        let after = Arc::new(after);
        let mut memo = TransitionMemo::default();
        memo.insert(req, Arc::clone(&before), outcome, Arc::clone(&after));
        // A separately built but equal state hits.
        let (o, next) = memo.lookup(&Arc::new(space()), &req).expect("hit");
        assert_eq!(o, outcome);
        assert!(next.vmas().eq(after.vmas()));
        // Another request or another state misses.
        assert!(memo
            .lookup(&before, &flip(0x7f00_0000_0000, 3 * G))
            .is_none());
        assert!(memo.lookup(&after, &req).is_none());
    }

    #[test]
    fn memo_keeps_at_most_capacity_entries() {
        let s = Arc::new(space());
        let mut memo = TransitionMemo::default();
        for i in 0..(CAPACITY as u64 + 3) {
            let req = flip(0x7f00_0000_0000, 0x7f00_0000_0000 + 2 * G + i * 4096);
            let o = MremapOutcome {
                new_addr: req.new_addr,
                cost: Default::default(),
            };
            memo.insert(req, Arc::clone(&s), o, Arc::clone(&s));
        }
        assert_eq!(memo.entries.len(), CAPACITY);
    }
}
