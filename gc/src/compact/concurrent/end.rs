//! The end of a concurrent compaction, run by the coordinating collector
//! thread once every page is mapped: unregister, give from-space and the
//! second view back, sweep the non-moving space, clear the bitmaps.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::cycle::Cycle;
use crate::cycle::{thread_cpu, CycleReport, Phase};
use crate::heap::PAGE_SIZE;

/// Ends `cycle` and returns its completed report. Mutators keep running.
pub fn end_cycle(cycle: &Cycle) -> CycleReport {
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
    let moving_len = cycle.moving.len() * PAGE_SIZE;
    if moving_len > 0 {
        let base = heap.moving().base();
        if let Err(e) = cycle.fd.unregister(base as *mut u8, moving_len) {
            notes.push(format!("unregistering the moving space failed: {e}"));
        }
        engine.note_uffd(base, moving_len, false);
    }
    if let Some(part) = &cycle.non_moving {
        let len = part.pages.len() * PAGE_SIZE;
        if let Err(e) = cycle.fd.unregister(part.base as *mut u8, len) {
            notes.push(format!("unregistering the non-moving space failed: {e}"));
        }
        engine.note_uffd(part.base, len, false);
    }
    let unregistered = start.elapsed();

    let space = heap.space_bytes();
    if let Err(e) = engine.release(heap.reservation(), heap.from_base(), space) {
        notes.push(format!("releasing from-space failed: {e}"));
    }
    if cycle.non_moving.is_some() {
        if let Err(e) = engine.release(heap.reservation(), heap.non_moving_view_base(), space) {
            notes.push(format!("releasing the second view failed: {e}"));
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

    let own_cpu = thread_cpu().saturating_sub(cpu);

    let mut report = cycle.report.lock().clone();
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
