//! The end of a compaction's from-space: the pages allocation will need
//! before the next cycle go back into the moving space's free area, the
//! rest to the kernel.
//!
//! Giving all of from-space back (`mmap(PROT_NONE)` over it) and then
//! faulting fresh pages in above the compacted top makes the kernel free,
//! allocate, charge and zero every page an allocation-heavy program touches
//! once per cycle (about 2 us a page, close to half the CPU time of
//! `binarytrees` in the uffd mode). Instead, the from-space pages in
//! `[lo, hi)` are moved back to the same addresses of the moving space
//! with one page-table move: `lo` is the first page above the top (and
//! above the pre-fault frontier, whose pages are resident already), `hi`
//! the end of the flip (from-space has no pages above it), at most the
//! allocation threshold's reach (resident memory never runs ahead of what
//! allocation reaches before its next cycle) and never the space's last
//! page. Their garbage is zeroed by whoever claims them
//! ([`crate::heap::recycled`]), in user space.
//!
//! Conditions:
//! - Same offsets: the moved pages keep their page offsets, so the moving
//!   space's VMA merges back whole (the VMA-hygiene test checks it).
//! - Only after a flip that left part of the VMA in place: a flip of the
//!   whole VMA drops its `anon_vma` (`dontunmap_complete`), and pages moved
//!   back with the old one could not merge. So a flip ends at the old top's
//!   page (`Flip::of`), not at the space's end, and covers the whole VMA
//!   only when the heap is full to its last page; that cycle releases as
//!   before, and in the uffd modes `anchor_anon_vma` keeps the
//!   registration from splitting the space for good.
//! - From-space is no longer read: every caller runs after the last page
//!   was computed, and (in the uffd modes) after the live range was
//!   unregistered; the recycled range lies above the top, never in the
//!   registered live range. A cycle that recycles keeps its from-space
//!   above the moving space's top until then (the concurrent collectors
//!   discard drained from-space only below it).
//! - No claim owns a byte of `[lo, hi)`: the bump pointer is fenced across
//!   the move (`MovingSpace::fence_top`), so claims made
//!   while the concurrent end runs wait for one `mremap`.
//! - Garbage never stays behind unaccounted: the next flip covers the
//!   recycled range even where the top never reached it, and a flip that
//!   fails and copies instead empties it too.
//!
//! A move the engine rejects or the kernel refuses leaves the pages in
//! from-space, which is then released whole as before, and the cycle's
//! notes say so.

use crate::heap::Heap;
use crate::report::CycleReport;
use crate::units::PAGE_SIZE;

/// The part of the moving space a compaction flips to from-space, as
/// offsets from the space's base: `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flip {
    /// The first byte flipped: what stays in place below (the old
    /// generation, or the dense prefix) ends here.
    pub from: usize,
    /// One past the last byte flipped.
    pub to: usize,
}

impl Flip {
    /// The flip of a cycle that keeps its first `skip` bytes in place and
    /// found the top at `old_top`: up to the old top's page (from-space
    /// needs nothing above it) or, if recycled pages the top never reached
    /// lie further, up to their end (they hold garbage and must not stay
    /// behind once the top is reset); at least one page, never past the
    /// space. Stopping short of the space's end keeps the VMA's `anon_vma`,
    /// so full cycles recycle too (see the module docs).
    pub fn of(heap: &Heap, skip: usize, old_top: usize) -> Flip {
        let base = heap.moving().base();
        let (_, recycled_hi) = heap.moving().recycled().range();
        let to = (old_top - base)
            .next_multiple_of(PAGE_SIZE)
            .max(recycled_hi.saturating_sub(base))
            .max(skip + PAGE_SIZE)
            .min(heap.space_bytes());
        Flip { from: skip, to }
    }

    /// Bytes flipped.
    pub fn len(&self) -> usize {
        self.to.saturating_sub(self.from)
    }

    /// Whether nothing is flipped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether pages of this flip can move back and merge: only if the flip
    /// left part of the moving space's VMA in place (see the module docs).
    fn recycles(&self, space: usize) -> bool {
        self.from > 0 || self.to < space
    }
}

/// After a flip of the whole moving space (its VMA's `anon_vma` dropped),
/// before the live range `[base, live_end)` is registered with userfaultfd:
/// gives the VMA an `anon_vma` by writing a zero byte to its last page, so
/// that the registered part and the rest, split by the registration, share
/// it and merge back when the cycle unregisters (otherwise the rest gets an
/// `anon_vma` of its own at its first fault, the space stays two VMAs, and
/// a later cycle's registered range spanning both fails `UFFDIO_COPY` runs
/// across the boundary with `ENOENT`). Nothing if the flip was partial or
/// the live range reaches the last page (nothing is split off then).
///
/// # Safety
/// The world is stopped, and the flip emptied the moving space above
/// `flip.from`: nothing lives above `live_end`.
pub(crate) unsafe fn anchor_anon_vma(heap: &Heap, flip: Flip, live_end: usize) {
    let last = heap.moving().base() + heap.space_bytes() - PAGE_SIZE;
    if flip.recycles(heap.space_bytes()) || live_end > last {
        return;
    }
    // SAFETY: `last` is a mapped RW page of the moving space above every
    // live object and above the top (the caller's promise); a zero keeps
    // it reading zero, as allocation expects of free memory.
    unsafe { std::ptr::write_volatile(last as *mut u8, 0) };
}

/// Ends a compaction's use of from-space: recycles what allocation will
/// need into the moving space (see the module docs) and releases the rest
/// ([`crate::compact::stw::release_from_space`]). `flip` is what the cycle
/// flipped (`None` when from-space was not filled by a flip: nothing is
/// recycled). Counts the recycled pages in `report`.
///
/// Runs after every page was computed, with the moving space unregistered
/// from userfaultfd (`registered_left`: a range of it failed to unregister,
/// nothing is recycled); mutators may be running.
pub(crate) fn finish_from_space(
    heap: &Heap,
    flip: Option<Flip>,
    registered_left: bool,
    report: &mut CycleReport,
) {
    if let (Some(flip), false) = (flip, registered_left) {
        if flip.recycles(heap.space_bytes()) {
            report.pages_recycled = recycle(heap, flip, &mut report.notes);
        }
    }
    crate::compact::stw::release_from_space(heap, &mut report.notes);
}

/// The from-space address from which a concurrent cycle that flipped
/// `flip` keeps its pages for the end to recycle, not discarding them as
/// they drain, while the moving space's top is at `top`: the offset of the
/// first page above the top (from-space below it can never be recycled:
/// mutators allocate there); `usize::MAX` when the cycle does not recycle.
pub(crate) fn keep_from(heap: &Heap, flip: Flip, top: usize) -> usize {
    if !flip.recycles(heap.space_bytes()) {
        return usize::MAX;
    }
    heap.from_base() + (top.next_multiple_of(PAGE_SIZE) - heap.moving().base())
}

/// Moves from-space pages back above the top (see the module docs);
/// returns how many pages were moved.
fn recycle(heap: &Heap, flip: Flip, notes: &mut Vec<String>) -> usize {
    let moving = heap.moving();
    let base = moving.base();
    let limit = heap.moving_limit(heap.non_moving().used()) & !(PAGE_SIZE - 1);
    let top = moving.fence_top();
    let lo = top
        .next_multiple_of(PAGE_SIZE)
        .max(moving.prefault().frontier())
        .max(base + flip.from);
    // Never the last page: a recycled range reaching the space's end would
    // make the next flip (which covers it) a flip of the whole VMA.
    let hi = (base + flip.to)
        .min(limit)
        .min(base + heap.space_bytes() - PAGE_SIZE);
    let mut pages = 0;
    if lo < hi {
        let from = heap.from_base() + (lo - base);
        // The DONTUNMAP move alone (the emptied source is released with
        // the rest of from-space after the fence is lifted).
        match heap.engine().flip(from, lo, hi - lo) {
            Ok(_) => {
                moving.recycled().set(lo, hi);
                moving.prefault().resident_to(hi);
                pages = (hi - lo) / PAGE_SIZE;
            }
            Err(e) => notes.push(format!(
                "recycling {} KiB of from-space failed ({e}): released instead",
                (hi - lo) >> 10
            )),
        }
    }
    moving.unfence_top();
    if pages > 0 && !one_vma(heap) {
        notes.push(format!(
            "recycling {pages} pages split the moving space's VMA (anon_vma or page offset \
             mismatch)"
        ));
    }
    pages
}

/// Whether the engine's model shows the moving space as one VMA.
fn one_vma(heap: &Heap) -> bool {
    let (base, end) = (
        heap.moving().base(),
        heap.moving().base() + heap.space_bytes(),
    );
    heap.engine()
        .model_vmas()
        .iter()
        .any(|v| v.start <= base as u64 && v.end >= end as u64)
}
