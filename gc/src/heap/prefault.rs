//! Pre-faulting the moving space ahead of allocation.
//!
//! Every compaction flips the moving space's pages (in a young cycle, those
//! above the old generation) to from-space (`MREMAP_DONTUNMAP`). A cycle
//! that flipped the whole space (a full one) gives all of from-space back,
//! so the free space above the compacted top is plain anonymous memory with
//! no page behind it (never registered with userfaultfd: only the live
//! pages are, and only until the cycle ends); a young cycle first moves the
//! from-space pages above the top back ([`crate::compact::recycle`]), and
//! this frontier then starts above them. Left alone, allocation into the
//! pages with nothing behind them takes one kernel page fault per 4 KiB:
//! trap, page allocation, memcg charge, zeroing. An allocation-heavy
//! program paid about as many faults as it allocated pages (demo-vm's
//! `instantiation.lox`: 118k faults for 28 cycles, 18-31% of the mutator's
//! samples in the kernel).
//!
//! So a TLAB refill that claims past the *frontier* (below which the pages
//! are known resident since the last compaction) populates the next
//! [`STEP`] bytes with one `MADV_POPULATE_WRITE` call (Linux 5.14+, probed
//! once when the heap is created; without it allocation faults page by
//! page as before, and [`Prefault::off_reason`] says why). The step never
//! passes the collection trigger, so resident memory grows by at most one
//! step beyond what the heap reaches before its next cycle anyway.
//!
//! Chosen by measurement (`benches/results/prefault-2026-12-07.md`): on
//! `instantiation.lox` both this and transparent huge pages for the moving
//! space (`MADV_HUGEPAGE`) cut the faults from 118k to 1-2k in `stw`, but
//! with huge pages the uffd modes kept 14-20k faults (most likely: the
//! registered live range splits the VMA inside a PMD, and `UFFDIO_COPY`
//! installs small pages) and peak RSS grew by 4-6 MiB; huge pages also
//! interact with the flip's page-table moves, `UFFDIO_MOVE` (refused on
//! huge pages it cannot split) and from-space discards. Populating is
//! invisible to all of those: it only makes resident the pages allocation
//! is about to write.

use std::sync::atomic::{AtomicUsize, Ordering};

use mremap_shim::sys::{madvise, Advice};

use crate::units::PAGE_SIZE;

/// Bytes populated per call: 64 pages a call instead of 64 faults. Small
/// enough that a mutator inside the call reaches a safepoint soon (one call
/// took 0.13 ms median on this loaded machine, a 2 MiB one 0.9 ms: time a
/// pause would wait) and that resident memory runs little ahead of use.
pub const STEP: usize = 256 << 10;

/// The moving space's pre-fault frontier.
pub struct Prefault {
    /// Pages below this address are resident (populated or allocated since
    /// the last compaction).
    frontier: AtomicUsize,
    /// Why pre-faulting is off, if it is.
    off: Option<String>,
}

impl Prefault {
    /// A frontier at `base`, on if the kernel knows `MADV_POPULATE_WRITE`:
    /// `madvise` checks the advice before the length, so a zero-length call
    /// answers `EINVAL` exactly where it is missing.
    pub fn probe(base: usize) -> Prefault {
        let off = madvise(base, 0, Advice::MADV_POPULATE_WRITE)
            .err()
            .map(|e| {
                format!(
                    "MADV_POPULATE_WRITE is unavailable ({e}; Linux 5.14+): allocation faults \
                     the moving space in page by page"
                )
            });
        Prefault {
            frontier: AtomicUsize::new(base),
            off,
        }
    }

    /// Why pre-faulting is off (the kernel lacks `MADV_POPULATE_WRITE`).
    pub fn off_reason(&self) -> Option<&str> {
        self.off.as_deref()
    }

    /// After a compaction to `top`: nothing above it is resident.
    pub(crate) fn reset(&self, top: usize) {
        self.frontier
            .store(top.next_multiple_of(PAGE_SIZE), Ordering::Release);
    }

    /// Pages below `end` are resident (recycled from-space pages were
    /// moved there): nothing below it needs populating.
    pub(crate) fn resident_to(&self, end: usize) {
        self.frontier.fetch_max(end, Ordering::AcqRel);
    }

    /// The frontier: pages below it are resident.
    pub(crate) fn frontier(&self) -> usize {
        self.frontier.load(Ordering::Acquire)
    }

    /// A claim up to `end` was made and the heap may grow to `limit` (the
    /// trigger, clamped to the space) before its next cycle: if `end` lies
    /// past the frontier, populates from there one [`STEP`] (at least to
    /// `end`, at most to `limit`). One thread wins each step; others fault
    /// as usual meanwhile. Failures are ignored: populating is only advice.
    pub(crate) fn ahead(&self, end: usize, limit: usize) {
        if self.off.is_some() {
            return;
        }
        let from = self.frontier.load(Ordering::Acquire);
        if end <= from {
            return;
        }
        let to = (from + STEP)
            .min(limit)
            .max(end)
            .next_multiple_of(PAGE_SIZE);
        if self
            .frontier
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // Pages above the compacted top are never registered with
            // userfaultfd (see the module docs), and a page some mutator
            // already wrote keeps its contents: populating only faults in
            // what is missing.
            let _ = madvise(from, to - from, Advice::MADV_POPULATE_WRITE);
        }
    }
}
