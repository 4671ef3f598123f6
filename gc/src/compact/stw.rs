//! Stop-the-world compaction: the baseline mode and the fallback where
//! userfaultfd is missing.
//!
//! In one pause: mark; build the forwarding plan; flip the moving space's
//! pages above the dense prefix to from-space with `MREMAP_DONTUNMAP` (the
//! space stays mapped, empty there); update the dense prefix's pages where
//! they are and compute every other live to-space page straight into place;
//! fix the non-moving objects and the roots; sweep; with generational
//! collection on, promote every survivor ([`crate::generations`]); move the
//! from-space pages the next allocations need back above the top and give
//! the rest back ([`crate::compact::recycle`]). Where the flip fails (`mremap` denied or failing), from-space is
//! filled by copying instead; where that fails too, or the plan's table
//! cannot be mapped, the cycle is abandoned with the heap as it was.

use std::fmt::Display;
use std::time::{Duration, Instant};

use crate::compact::forwarding::{ForwardingPlan, PlanTables, PAGE_WORDS};
use crate::compact::non_moving::{sweep, update_references};
use crate::compact::page::PageComputer;
use crate::compact::recycle::{finish_from_space, Flip};
use crate::error::HeapError;
use crate::generations::{promote_in_pause, Promotion};
use crate::heap::Heap;
use crate::mark::tracer::mark;
use crate::report::{thread_cpu, CycleReport, Phase};
use crate::roots::RootSet;
use crate::units::PAGE_SIZE;

/// Runs one stop-the-world collection (its plan's chunk table taken from
/// `tables`, which the caller keeps from cycle to cycle).
///
/// A failed step is either worked around (a failed flip copies from-space
/// instead, a failed release is noted) or, before anything moved, abandons
/// the cycle: the heap and the roots are then exactly as before, the marks
/// cleared, and the report says why in its notes (`Ok`: the runtime
/// continues). `Err` is left for nothing at present.
///
/// # Safety
/// Every mutator of `heap` is stopped (none allocates or writes until this
/// returns) with its allocation buffer retired, and `roots` are all the
/// roots there are, holding only this heap's references: objects move, and
/// any reference not in `roots` is stale afterwards.
pub unsafe fn collect(
    heap: &Heap,
    roots: &mut dyn RootSet,
    tables: &PlanTables,
) -> Result<CycleReport, HeapError> {
    let start = Instant::now();
    let cpu = thread_cpu();
    let mut report = CycleReport::new("stw", heap.used_bytes());
    let mut timer = PhaseTimer::new();

    // SAFETY: the world is stopped and `roots` are all the roots (the
    // caller's promise).
    let stats = unsafe { mark(heap, roots, heap.config().mark_threads) };
    report.marked = stats;
    timer.lap(&mut report, Phase::Mark);

    let old_top = heap.moving().top();
    match ForwardingPlan::build(heap, old_top, tables) {
        Ok(plan) => {
            timer.lap(&mut report, Phase::Forward);
            let promotion = Promotion::of(heap, &plan, heap.moving().base(), old_top, false);
            match compact_in_pause(heap, &plan, roots, &mut report, &mut timer) {
                Ok(flipped) => {
                    // SAFETY: the world is stopped and the moving space
                    // compacted, walkable from its base.
                    unsafe { promote_in_pause(heap, promotion) };
                    finish_from_space(heap, flipped, false, &mut report);
                    timer.lap(&mut report, Phase::Release);
                }
                Err(e) => abandon(heap, old_top, &mut report, &e),
            }
        }
        Err(e) => abandon(heap, old_top, &mut report, &e),
    }

    report.finish(heap.used_bytes(), start.elapsed(), start.elapsed());
    report.gc_cpu = thread_cpu().saturating_sub(cpu);
    Ok(report)
}

/// Gives up a cycle before anything moved: clears what marking set (marks
/// below `old_top` and in the non-moving space) and notes why. The heap and
/// the roots are as they were before the cycle.
pub(crate) fn abandon(heap: &Heap, old_top: usize, report: &mut CycleReport, why: &dyn Display) {
    let marks = heap.marks();
    // Objects allocated marked during a concurrent marking lie up to the
    // current top.
    let top = old_top.max(heap.moving().top());
    marks.moving.clear_below(top);
    marks.live.clear_below(top);
    marks.non_moving.clear_below(heap.non_moving().high_water());
    report.notes.push(format!(
        "cycle abandoned ({why}): nothing was moved, the heap is as before"
    ));
}

/// Compacts the moving space and updates and sweeps the non-moving space
/// in the pause, for `plan` (marking done, every mutator stopped, its TLAB
/// retired, the moving space unregistered from userfaultfd). Shared by the
/// stop-the-world mode and the concurrent modes' fallback.
///
/// The moving space's pages above the dense prefix go to from-space with
/// the DONTUNMAP flip; where that fails (say `mremap` is denied), from-space
/// is mapped and the live data copied there instead (O(used) more work,
/// noted). Returns what was flipped (`None`: nothing, or copied instead).
/// `Err` only if neither worked, before anything moved: the caller then
/// abandons the cycle.
pub(crate) fn compact_in_pause(
    heap: &Heap,
    plan: &ForwardingPlan,
    roots: &mut dyn RootSet,
    report: &mut CycleReport,
    timer: &mut PhaseTimer,
) -> Result<Option<Flip>, HeapError> {
    // The dense prefix's whole pages stay: nothing in them moves.
    let in_place = plan.dense_pages();
    let skip = in_place * PAGE_SIZE;
    let mut flipped = None;
    if skip < heap.space_bytes() {
        let base = heap.moving().base();
        let flip = Flip::of(heap, skip, plan.old_top());
        match heap
            .engine()
            .flip(base + skip, heap.from_base() + skip, flip.len())
        {
            Ok(f) => {
                report.flip_cost = Some(f.cost);
                flipped = Some(flip);
            }
            Err(e) => copy_to_from_space(heap, plan, flip, report, &e)?,
        }
    }
    timer.lap(report, Phase::Flip);

    fill_in_place(heap, plan, in_place, report, timer);
    let pc = PageComputer::new(heap, plan);

    let nm = heap.non_moving();
    let nm_top = nm.high_water();
    update_references(&pc, heap, nm.base(), nm_top, 0);
    roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
    timer.lap(report, Phase::UpdateRefs);

    // SAFETY: the world is stopped (this function's contract) and every
    // reference was updated above.
    unsafe { sweep_and_reset(heap, plan, nm_top, report, timer) };
    Ok(flipped)
}

/// The end of a stop-the-world compaction (full or young), after the
/// references were updated: sweeps the non-moving space, moves the top to
/// the plan's new top and clears the mark bitmaps below the old tops. Laps
/// `Sweep`; the caller then gives from-space back
/// ([`finish_from_space`]) and laps `Release`.
///
/// # Safety
/// The world is stopped, and `plan`'s live data was compacted and every
/// reference updated.
pub(crate) unsafe fn sweep_and_reset(
    heap: &Heap,
    plan: &ForwardingPlan,
    nm_top: usize,
    report: &mut CycleReport,
    timer: &mut PhaseTimer,
) {
    let (_, freed) = sweep(heap, 0);
    report.non_moving_freed_bytes = freed;
    timer.lap(report, Phase::Sweep);

    // SAFETY: the world is stopped and the plan's live data ends at its
    // new top (the caller's contract).
    unsafe { heap.moving().reset_top(plan.new_top()) };
    let marks = heap.marks();
    marks.moving.clear_below(plan.old_top());
    marks.live.clear_below(plan.old_top());
    marks.non_moving.clear_below(nm_top);
}

/// The flip's fallback: maps from-space (above `flip.from`) and copies the
/// moving space's used pages there, then empties the range `flip` would
/// have flipped in the moving space (discarded, or zeroed by hand if
/// `madvise` fails too: allocation relies on compacted-away tails and
/// recycled pages the top never reached reading zero). `Err` if from-space
/// cannot be mapped; nothing has changed then.
fn copy_to_from_space(
    heap: &Heap,
    plan: &ForwardingPlan,
    flip: Flip,
    report: &mut CycleReport,
    flip_error: &dyn Display,
) -> Result<(), HeapError> {
    let base = heap.moving().base();
    let skip = flip.from;
    // From-space needs the used pages; above them there may be recycled
    // pages the top never reached, emptied below with the rest.
    let len = (plan.old_top() - base)
        .next_multiple_of(PAGE_SIZE)
        .saturating_sub(skip);
    if len > 0 {
        heap.engine()
            .map_anon(heap.reservation(), heap.from_base() + skip, len)?;
        // SAFETY: both ranges are `len` bytes of mapped RW memory of this
        // heap (the moving space's used pages, from-space just mapped),
        // disjoint (different regions of the reservation); the world is
        // stopped, so nothing else reads or writes them.
        unsafe {
            std::ptr::copy_nonoverlapping(
                (base + skip) as *const u8,
                (heap.from_base() + skip) as *mut u8,
                len,
            );
        }
    }
    if let Err(e) = heap.engine().discard(base + skip, flip.len()) {
        // Live pages are overwritten whole by the compaction; only what
        // lies past them must read zero.
        let live_end = (plan.live_pages() * PAGE_SIZE).max(skip);
        if live_end < flip.to {
            // SAFETY: `[live_end, flip.to)` lies in the moving space's
            // mapped RW pages; the world is stopped and no reference into
            // it is held.
            unsafe { std::ptr::write_bytes((base + live_end) as *mut u8, 0, flip.to - live_end) };
        }
        report.notes.push(format!(
            "discarding the copied moving space failed ({e}): its tail was zeroed by hand"
        ));
    }
    report.notes.push(format!(
        "the flip failed ({flip_error}): from-space was filled by copying {} KiB instead",
        len >> 10
    ));
    Ok(())
}

/// Gives from-space back to the reservation. On failure its pages are at
/// least discarded (they would otherwise stay resident until the next
/// flip, whose `MREMAP_FIXED` replaces the mapping), and `notes` (the
/// cycle report's) say so: a failed release never passes silently.
pub(crate) fn release_from_space(heap: &Heap, notes: &mut Vec<String>) {
    let (from, space) = (heap.from_base(), heap.space_bytes());
    let engine = heap.engine();
    let Err(e) = engine.release(heap.reservation(), from, space) else {
        return;
    };
    // Once more: a transient failure (ENOMEM splitting a VMA) may pass.
    let Err(e) = engine
        .release(heap.reservation(), from, space)
        .map_err(|_| e)
    else {
        return;
    };
    let freed = match engine.discard(from, space) {
        Ok(()) => "its pages were discarded (MADV_DONTNEED) and the mapping stays until the next flip replaces it".to_string(),
        Err(d) => format!(
            "discarding its pages failed too ({d}): up to {} MiB stay resident until the next flip replaces the mapping",
            space >> 20
        ),
    };
    notes.push(format!("releasing from-space failed ({e}): {freed}"));
}

/// Fills every live to-space page in place (the world stopped, the moving
/// space unregistered and flipped above its first `in_place` pages, which
/// must be dense pages): updates those where they are, then one populate
/// call and `compute_page` page by page for the rest.
pub(crate) fn fill_in_place(
    heap: &Heap,
    plan: &ForwardingPlan,
    in_place: usize,
    report: &mut CycleReport,
    timer: &mut PhaseTimer,
) {
    let pc = PageComputer::with_in_place(heap, plan, in_place);
    let base = heap.moving().base();
    // A young plan's old pages were neither flipped nor are they computed.
    let first = in_place.max(plan.old_pages());
    // Fault the to-space in with one call: a first touch per page costs
    // a fault of its own, the batched populate one call.
    let live_len = plan.live_pages().saturating_sub(first) * PAGE_SIZE;
    if live_len > 0 {
        if let Err(e) = mremap_shim::sys::madvise(
            base + first * PAGE_SIZE,
            live_len,
            mremap_shim::sys::Advice::MADV_POPULATE_WRITE,
        ) {
            report
                .notes
                .push(format!("populate failed ({e}); pages fault in one by one"));
        }
    }
    timer.lap(report, Phase::Populate);
    for page in 0..in_place {
        // SAFETY: `page` is below the view's in-place pages, and the world
        // is stopped: nothing else touches the page.
        unsafe { pc.update_in_place(page) };
    }
    for page in first..plan.live_pages() {
        let dst = (base + page * PAGE_SIZE) as *mut [u64; PAGE_WORDS];
        // SAFETY: the page lies in the moving space, mapped RW and empty since
        // the flip; nothing else reads or writes it during the pause.
        pc.compute_page(page, unsafe { &mut *dst });
    }
    report.pages_compacted = plan.live_pages() - plan.old_pages();
    report.pages_dense = plan.dense_pages();
    heap.note_dense_pages(plan.dense_pages());
    timer.lap(report, Phase::Compact);
}

/// Times consecutive phases.
pub(crate) struct PhaseTimer {
    last: Instant,
}

impl PhaseTimer {
    pub(crate) fn new() -> PhaseTimer {
        PhaseTimer {
            last: Instant::now(),
        }
    }

    pub(crate) fn lap(&mut self, report: &mut CycleReport, phase: Phase) -> Duration {
        let now = Instant::now();
        let d = now - self.last;
        self.last = now;
        report.add_phase(phase, d);
        d
    }
}
