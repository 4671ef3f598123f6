//! Stop-the-world compaction: the baseline mode and the fallback where
//! userfaultfd is missing.
//!
//! In one pause: mark; build the forwarding plan; flip the moving space's
//! pages above the dense prefix to from-space with `MREMAP_DONTUNMAP` (the
//! space stays mapped, empty there); update the dense prefix's pages where
//! they are and compute every other live to-space page straight into place;
//! fix the non-moving objects and the roots; sweep; give the from-space
//! back.

use std::time::{Duration, Instant};

use crate::compact::forwarding::{ForwardingPlan, PAGE_WORDS};
use crate::compact::non_moving::{sweep, update_references};
use crate::compact::page::PageComputer;
use crate::cycle::{thread_cpu, CycleReport, Phase};
use crate::error::HeapError;
use crate::heap::{Heap, PAGE_SIZE};
use crate::mark::tracer::mark;
use crate::roots::RootSet;

/// Runs one stop-the-world collection. Every mutator must be stopped and
/// must have retired its TLAB; `roots` are all the roots there are.
pub fn collect(heap: &Heap, roots: &mut dyn RootSet) -> Result<CycleReport, HeapError> {
    let start = Instant::now();
    let cpu = thread_cpu();
    let mut report = CycleReport::new("stw", heap.used_bytes());
    let mut timer = PhaseTimer::new();

    let stats = mark(heap, roots, heap.config().mark_threads);
    report.marked = stats;
    timer.lap(&mut report, Phase::Mark);

    let old_top = heap.moving().top();
    let plan = ForwardingPlan::build(heap, old_top);
    timer.lap(&mut report, Phase::Forward);

    // The dense prefix's whole pages stay: nothing in them moves.
    let in_place = plan.dense_pages();
    let skip = in_place * PAGE_SIZE;
    if skip < heap.space_bytes() {
        let flip = heap.engine().flip(
            heap.moving().base() + skip,
            heap.from_base() + skip,
            heap.space_bytes() - skip,
        )?;
        report.flip_cost = Some(flip.cost);
    }
    timer.lap(&mut report, Phase::Flip);

    fill_in_place(heap, &plan, in_place, &mut report, &mut timer);
    let pc = PageComputer::new(heap, &plan);

    let nm = heap.non_moving();
    let nm_top = nm.high_water();
    update_references(&pc, heap, nm.base(), nm_top, 0);
    roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
    timer.lap(&mut report, Phase::UpdateRefs);

    let (_, freed) = sweep(heap, 0);
    report.non_moving_freed_bytes = freed;
    timer.lap(&mut report, Phase::Sweep);

    heap.engine()
        .release(heap.reservation(), heap.from_base(), heap.space_bytes())?;
    heap.moving().reset_top(plan.new_top());
    let marks = heap.marks();
    marks.moving.clear_below(old_top);
    marks.live.clear_below(old_top);
    marks.non_moving.clear_below(nm_top);
    timer.lap(&mut report, Phase::Release);

    report.finish(heap.used_bytes(), start.elapsed(), start.elapsed());
    report.gc_cpu = thread_cpu().saturating_sub(cpu);
    Ok(report)
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
    // Fault the to-space in with one call: a first touch per page costs
    // a fault of its own, the batched populate one call.
    let live_len = plan.live_pages().saturating_sub(in_place) * PAGE_SIZE;
    if live_len > 0 {
        if let Err(e) = mremap_shim::sys::madvise(
            base + in_place * PAGE_SIZE,
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
    for page in in_place..plan.live_pages() {
        let dst = (base + page * PAGE_SIZE) as *mut [u64; PAGE_WORDS];
        // SAFETY: the page lies in the moving space, mapped RW and empty since
        // the flip; nothing else reads or writes it during the pause.
        pc.compute_page(page, unsafe { &mut *dst });
    }
    report.pages_compacted = plan.live_pages();
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
