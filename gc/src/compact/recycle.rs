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
//! the old top (from-space has no pages above it), at most the allocation
//! threshold's reach (resident memory never runs ahead of what allocation
//! reaches before its next cycle). Their garbage is zeroed by whoever
//! claims them ([`crate::heap::recycled`]), in user space.
//!
//! Conditions:
//! - Same offsets: the moved pages keep their page offsets, so the moving
//!   space's VMA merges back whole (the VMA-hygiene test checks it).
//! - Only after a flip that began above the space's base (a young cycle,
//!   or a dense prefix): a flip of the whole VMA drops its `anon_vma`
//!   (`dontunmap_complete`), so pages moved back with the old one could
//!   not merge and would split the space. Those cycles release as before.
//! - From-space is no longer read: every caller runs after the last page
//!   was computed, and (in the uffd modes) after the live range was
//!   unregistered; the recycled range lies above the top, never in the
//!   registered live range.
//! - No claim owns a byte of `[lo, hi)`: the bump pointer is fenced across
//!   the move ([`crate::heap::MovingSpace::fence_top`]), so claims made
//!   while the concurrent end runs wait for one `mremap`.
//!
//! A move the engine rejects or the kernel refuses leaves the pages in
//! from-space, which is then released whole as before, and the cycle's
//! notes say so.

use crate::heap::Heap;
use crate::report::CycleReport;
use crate::units::PAGE_SIZE;

/// Ends a compaction's use of from-space: recycles what allocation will
/// need into the moving space (see the module docs) and releases the rest
/// ([`crate::compact::stw::release_from_space`]). `flipped_from` is the
/// offset from the space's base where the cycle's flip began (`None` when
/// from-space was not filled by a flip: nothing is recycled), `old_top`
/// the top before the cycle. Counts the recycled pages in `report`.
///
/// Runs after every page was computed, with the moving space unregistered
/// from userfaultfd (`registered_left`: a range of it failed to unregister,
/// nothing is recycled); mutators may be running.
pub(crate) fn finish_from_space(
    heap: &Heap,
    flipped_from: Option<usize>,
    old_top: usize,
    registered_left: bool,
    report: &mut CycleReport,
) {
    if let (Some(from), false) = (flipped_from, registered_left) {
        if recycles(from) {
            report.pages_recycled = recycle(heap, from, old_top, &mut report.notes);
        }
    }
    crate::compact::stw::release_from_space(heap, &mut report.notes);
}

/// Whether a cycle whose flip began `flipped_from` bytes above the space's
/// base recycles: only if the flip left the start of the moving space's
/// VMA in place (see the module docs).
fn recycles(flipped_from: usize) -> bool {
    flipped_from > 0
}

/// The from-space address from which a concurrent cycle (its flip began
/// `flipped_from` bytes above the base, its live data ends at `new_top`)
/// keeps its pages for the end to recycle, not discarding them as they
/// drain: the first page above the compacted top (`usize::MAX` when the
/// cycle does not recycle).
pub(crate) fn keep_from(heap: &Heap, flipped_from: usize, new_top: usize) -> usize {
    if !recycles(flipped_from) {
        return usize::MAX;
    }
    heap.from_base() + (new_top.next_multiple_of(PAGE_SIZE) - heap.moving().base())
}

/// Moves from-space pages back above the top (see the module docs);
/// returns how many pages were moved.
fn recycle(heap: &Heap, flipped_from: usize, old_top: usize, notes: &mut Vec<String>) -> usize {
    let moving = heap.moving();
    let base = moving.base();
    let limit = heap.moving_limit(heap.non_moving().used()) & !(PAGE_SIZE - 1);
    let top = moving.fence_top();
    let lo = top
        .next_multiple_of(PAGE_SIZE)
        .max(moving.prefault().frontier())
        .max(base + flipped_from);
    let hi = old_top.next_multiple_of(PAGE_SIZE).min(limit);
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
