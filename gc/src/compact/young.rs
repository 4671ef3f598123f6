//! Young cycles in the stop-the-world mode (generational collection).
//!
//! In one pause: count the old non-moving objects as marked; mark from the
//! roots and the slots on dirty cards, old moving objects counting as marked
//! without being traced; plan only above the old end; flip only the pages
//! above it; compute the young survivors' pages; update the young and old
//! non-moving objects, the roots and the dirty cards' slots; sweep the dead
//! young non-moving objects; promote the survivors old enough
//! ([`crate::generations`]). Old garbage stays until a full cycle.

use std::time::Instant;

use crate::compact::forwarding::{ForwardingPlan, PlanTables};
use crate::compact::non_moving::update_references;
use crate::compact::page::PageComputer;
use crate::compact::recycle::{finish_from_space, Flip};
use crate::compact::stw::{abandon, fill_in_place, sweep_and_reset, PhaseTimer};
use crate::error::HeapError;
use crate::generations::{promote_in_pause, Promotion};
use crate::heap::Heap;
use crate::mark::cards::{mark_old_non_moving, CardRoots};
use crate::mark::tracer::mark_above;
use crate::report::{thread_cpu, CycleReport, Phase};
use crate::roots::RootSet;
use crate::units::PAGE_SIZE;

/// Runs one stop-the-world young collection, or a full one
/// ([`crate::compact::stw::collect`]) with generational collection off.
/// Before the first promotion every object is young, and a young cycle
/// does a full one's work. Failures are handled as the full collection
/// handles them.
///
/// # Safety
/// As for [`crate::compact::stw::collect`].
pub unsafe fn collect_young(
    heap: &Heap,
    roots: &mut dyn RootSet,
    tables: &PlanTables,
) -> Result<CycleReport, HeapError> {
    let old_end = heap.generations().old_end();
    if !heap.generations().is_enabled() {
        // SAFETY: the caller's promise.
        return unsafe { crate::compact::stw::collect(heap, roots, tables) };
    }
    let start = Instant::now();
    let cpu = thread_cpu();
    let mut report = CycleReport::new("stw", heap.used_bytes());
    report.young = true;
    let mut timer = PhaseTimer::new();

    mark_old_non_moving(heap);
    {
        // SAFETY: the world is stopped and walkable (the caller's promise);
        // only marking reads the slots meanwhile.
        let mut card_roots = unsafe { CardRoots::new(heap, roots, true) };
        // SAFETY: the world is stopped and the roots with the dirty cards'
        // slots reach every young object the heap can reach (the card
        // invariant).
        report.marked =
            unsafe { mark_above(heap, &mut card_roots, heap.config().mark_threads, old_end) };
        card_roots.add_to(&mut report.marked);
    }
    timer.lap(&mut report, Phase::Mark);

    let old_top = heap.moving().top();
    match ForwardingPlan::build_young(heap, old_end, old_top, tables) {
        Ok(plan) => {
            timer.lap(&mut report, Phase::Forward);
            let promotion = Promotion::of(heap, &plan, old_end, old_top, true);
            match compact_young(heap, &plan, roots, &mut report, &mut timer) {
                Ok(flip) => {
                    // SAFETY: the world is stopped and the young survivors
                    // are compacted up to the top.
                    unsafe { promote_in_pause(heap, promotion) };
                    finish_from_space(heap, Some(flip), false, &mut report);
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

/// Compacts the young range above the plan's old pages in the pause,
/// updates the references into it and sweeps; returns what was flipped
/// (from-space is given back by the caller, after promotion). `Err` (before anything
/// moved) if the flip and its copying fallback both failed.
fn compact_young(
    heap: &Heap,
    plan: &ForwardingPlan,
    roots: &mut dyn RootSet,
    report: &mut CycleReport,
    timer: &mut PhaseTimer,
) -> Result<Flip, HeapError> {
    let old_pages = plan.old_pages();
    let skip = old_pages * PAGE_SIZE;
    let base = heap.moving().base();
    let flip = Flip::of(heap, skip, plan.old_top());
    match heap
        .engine()
        .flip(base + skip, heap.from_base() + skip, flip.len())
    {
        Ok(flip) => report.flip_cost = Some(flip.cost),
        Err(e) => return Err(e.into()),
    }
    timer.lap(report, Phase::Flip);

    fill_in_place(heap, plan, 0, report, timer);
    let pc = PageComputer::new(heap, plan);

    let nm = heap.non_moving();
    let nm_top = nm.high_water();
    update_references(&pc, heap, nm.base(), nm_top, 0);
    {
        // SAFETY: the world is stopped; the old generation did not move.
        let mut card_roots = unsafe { CardRoots::new(heap, roots, false) };
        card_roots.for_each_root(&mut |v| *v = pc.fix_value(*v));
        report.cards_fixed = card_roots.cards();
    }
    timer.lap(report, Phase::UpdateRefs);

    // SAFETY: the world is stopped (`collect_young`'s contract), the young
    // range was compacted and every reference updated above.
    unsafe { sweep_and_reset(heap, plan, nm_top, report, timer) };
    Ok(flip)
}
