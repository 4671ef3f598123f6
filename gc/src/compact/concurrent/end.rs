//! The end of a concurrent compaction, run by the coordinating collector
//! thread once every page is mapped: unregister, recycle from-space pages
//! above the top and give the rest and the second view back
//! ([`crate::compact::recycle`]), sweep the non-moving space, clear the
//! bitmaps. A step
//! that fails is retried once and, failing again, noted in the report and
//! left for the next flip (a range still registered) or the next flip's
//! `MREMAP_FIXED` (a mapping not released, its pages discarded meanwhile).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::in_flight::CycleInFlight;
use crate::compact::recycle::finish_from_space;
use crate::report::{thread_cpu, CycleReport, Phase};
use crate::units::PAGE_SIZE;

/// Ends `cycle` and returns its completed report. Mutators keep running.
pub fn end_cycle(cycle: &CycleInFlight) -> CycleReport {
    let cpu = thread_cpu();
    let heap = &*cycle.heap;
    let engine = heap.engine();
    let mut notes = Vec::new();
    let start = Instant::now();
    cycle.done.store(true, Ordering::Release);
    if let Some(slot) = cycle.sigbus_slot {
        super::sigbus::withdraw(slot);
    }

    // Every page is mapped, so nobody waits on these ranges any more.
    let moving_len = (cycle.moving.len() - cycle.first_page) * PAGE_SIZE;
    let mut registered_left = false;
    if moving_len > 0 {
        registered_left = !unregister(
            cycle,
            heap.moving().base() + cycle.first_page * PAGE_SIZE,
            moving_len,
            "moving",
            &mut notes,
        );
    }
    if let Some(part) = &cycle.non_moving {
        let len = part.pages.len() * PAGE_SIZE;
        unregister(cycle, part.base, len, "non-moving", &mut notes);
    }
    let unregistered = start.elapsed();

    // Only this thread reads the report now (every collector is done).
    let mut report = cycle.report.lock().clone();
    finish_from_space(heap, Some(cycle.flip), registered_left, &mut report);
    if cycle.non_moving.is_some() {
        let space = heap.space_bytes();
        if let Err(e) = engine.release(heap.reservation(), heap.non_moving_view_base(), space) {
            // The view maps the memfd, whose pages the space itself keeps:
            // nothing is leaked, and the next flip replaces the mapping.
            notes.push(format!(
                "releasing the second view failed ({e}): the next flip replaces it"
            ));
        }
    }
    let released = start.elapsed();

    if cycle.non_moving.is_some() {
        heap.non_moving().set_allocating_black(false, cycle.nm_top);
    }

    let marks = heap.marks();
    marks.moving.clear_below(cycle.plan.old_top());
    marks.live.clear_below(cycle.plan.old_top());
    marks.non_moving.clear_below(cycle.nm_top);
    if let Some(p) = cycle.promotion {
        // Every young non-moving object becomes old, also those born during
        // the cycle (each store into them dirtied its card, and the
        // concurrent modes never clean non-moving cards); first, so that
        // the card cleaning below counts them old. Allocation in the
        // non-moving space waits for the clear (its lock).
        heap.non_moving().clear_young();
        // SAFETY: every page is mapped: the moving space is compacted up
        // to the plan's new top, above the promotion's end.
        unsafe { crate::generations::promote_after(heap, p) };
    }

    let own_cpu = thread_cpu().saturating_sub(cpu);

    report.add_concurrent(Phase::Release, released - unregistered);
    report.add_concurrent(Phase::Register, unregistered);
    report.notes.extend(notes);
    report.faults = cycle.faults.count();
    report.pages_moved = cycle.moved_pages.load(Ordering::Relaxed);
    report.fault_service = cycle.faults.times();
    report.gc_cpu += own_cpu
        + Duration::from_nanos(cycle.gc_cpu_ns.load(Ordering::Relaxed))
        + Duration::from_nanos(cycle.worker_cpu_ns.swap(0, Ordering::Relaxed));
    report.used_after = heap.used_bytes();
    report.duration = cycle.started.elapsed();
    report
}

/// Unregisters `[addr, addr + len)`, once more if the first try fails (a
/// transient `ENOMEM` splitting a VMA). A range that stays registered would
/// make a later fault there wait for a cycle that never comes: it goes to
/// the compactor's stale list, which the next flip unregisters first (or
/// abandons its cycle). Returns whether the range is unregistered.
fn unregister(
    cycle: &CycleInFlight,
    addr: usize,
    len: usize,
    space: &str,
    notes: &mut Vec<String>,
) -> bool {
    let engine = cycle.heap.engine();
    let first = match cycle.fd.unregister(addr as *mut u8, len) {
        Ok(()) => {
            engine.note_uffd(addr, len, false);
            return true;
        }
        Err(e) => e,
    };
    match cycle.fd.unregister(addr as *mut u8, len) {
        Ok(()) => {
            engine.note_uffd(addr, len, false);
            notes.push(format!(
                "unregistering the {space} space failed once ({first}); the retry worked"
            ));
            true
        }
        Err(e) => {
            notes.push(format!(
                "unregistering the {space} space failed ({first}; again: {e}): retried at the next flip"
            ));
            cycle.stale.lock().push((addr, len));
            false
        }
    }
}
