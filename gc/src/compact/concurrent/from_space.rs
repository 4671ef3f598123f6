//! Drained from-space, shared by the collector threads of a cycle.
//!
//! From-space below the source of the lowest unmapped to-space page is read
//! by no page left to compute: it is *drained*. The most recent drained
//! pages are kept as destinations for `UFFDIO_MOVE` (a page is computed in
//! place there and moved into to-space: no page allocated, no second copy),
//! handed out to one collector thread each; the rest are given back at once,
//! so that the cycle's peak memory stays near live size. In a cycle whose
//! end recycles from-space pages ([`crate::compact::recycle`]), the pages
//! above the moving space's current top are kept until then instead:
//! discarding them would leave the recycled range empty, to be faulted in
//! and zeroed by the kernel again (those below it, where mutators allocate
//! during the cycle, can never be recycled and go as they drain).
//!
//! Collector threads compute a run of pages before claiming them (so that a
//! mutator faulting on one meanwhile computes it itself rather than waiting
//! for the run). A page of the run may thus be mapped by someone else while
//! its computation still reads from-space, which must then not be drained
//! under it: each collector registers the first page of the run it computes
//! ([`FromSpace::begin_run`]), and the drained bound stays below every
//! registered run. Registration and the bound are taken under one lock, and
//! a run only computes pages still unclaimed after its registration: a page
//! unclaimed then was unclaimed at any earlier bound too, so its sources lay
//! above it.

use mremap_shim::engine::Engine;
use parking_lot::Mutex;

use super::pages::PageStates;
use crate::units::{PAGE_SIZE, PMD_SIZE};

/// MOVE refusals in a row after which a cycle copies.
const MAX_REFUSALS: u32 = 8;

/// Drained pages kept for MOVE at most (the rest are discarded).
const SPARE_BYTES: usize = 4 << 20;

/// One cycle's drained from-space (collector threads only: it takes a lock).
pub struct FromSpace {
    state: Mutex<State>,
}

struct State {
    /// `[spare, drained)` are drained pages kept for MOVE.
    spare: usize,
    /// From-space below this address is drained.
    drained: usize,
    /// Moving pages below this index are mapped.
    low: usize,
    /// Whether to compute into drained pages and move them.
    moves: bool,
    /// MOVE refusals in a row.
    refusals: u32,
    /// Per collector thread, the first page of the run it computes
    /// (`usize::MAX` when none).
    computing: Vec<usize>,
}

impl FromSpace {
    /// Nothing drained yet, from-space from `base` (the flipped range's
    /// start), moving pages below `first` mapped already (a young cycle's
    /// old pages), for `collectors` threads; `moves` says whether drained
    /// pages are handed out for MOVE.
    pub fn new(base: usize, first: usize, moves: bool, collectors: usize) -> FromSpace {
        FromSpace {
            state: Mutex::new(State {
                spare: base,
                drained: base,
                low: first,
                moves,
                refusals: 0,
                computing: vec![usize::MAX; collectors.max(1)],
            }),
        }
    }

    /// Finds how far from-space has drained and discards what is not kept:
    /// `moving` are the states of the moving space's live pages, `needed`
    /// gives the lowest from-space address that computing a page (or any
    /// later one) reads, `engine` discards, and from-space at or above
    /// `keep_from` is kept for the end of the cycle to recycle.
    pub fn advance(
        &self,
        moving: &PageStates,
        needed: impl Fn(usize) -> usize,
        engine: &Engine,
        keep_from: usize,
    ) {
        let (from, to) = {
            let mut s = self.state.lock();
            s.low = moving.first_unmapped(s.low);
            let computing = s.computing.iter().copied().min().unwrap_or(usize::MAX);
            let drained = needed(s.low.min(computing)) & !(PAGE_SIZE - 1);
            s.drained = s.drained.max(drained);
            let keep = if s.moves { SPARE_BYTES } else { 0 };
            let release_to = s.drained.saturating_sub(keep).min(keep_from) & !(PMD_SIZE - 1);
            if release_to <= s.spare {
                return;
            }
            let from = s.spare;
            s.spare = release_to;
            (from, release_to)
        };
        // Outside the lock: nobody is handed these pages any more. Ignore
        // failure: the whole from-space is released at the end.
        let _ = engine.discard(from, to - from);
    }

    /// Accounts one MOVE attempt. The kernel refuses (`EBUSY`) pages shared
    /// with a forked child, pinned, or in a huge page it cannot split; that
    /// run was copied instead. After `MAX_REFUSALS` (8) refusals in a row the
    /// rest of the cycle copies, and the note for the cycle's report saying
    /// so is returned.
    pub fn refused(&self, moved: bool) -> Option<String> {
        let mut s = self.state.lock();
        if moved {
            s.refusals = 0;
            return None;
        }
        s.refusals += 1;
        if s.refusals != MAX_REFUSALS {
            return None;
        }
        s.moves = false;
        Some(format!(
            "UFFDIO_MOVE refused {MAX_REFUSALS} times in a row (EBUSY: shared, pinned \
             or unsplittable pages): UFFDIO_COPY for the rest of the cycle"
        ))
    }

    /// Registers collector `thread` as computing a run from page `first`
    /// (until [`FromSpace::end_run`]) and hands it `n` contiguous drained
    /// pages to compute into and move, if there are.
    pub fn begin_run(&self, thread: usize, first: usize, n: usize) -> Option<usize> {
        let mut s = self.state.lock();
        s.computing[thread] = first;
        if !s.moves || s.drained - s.spare < n * PAGE_SIZE {
            return None;
        }
        let at = s.spare;
        s.spare += n * PAGE_SIZE;
        Some(at)
    }

    /// Collector `thread` has installed (or dropped) its run.
    pub fn end_run(&self, thread: usize) {
        self.state.lock().computing[thread] = usize::MAX;
    }
}
