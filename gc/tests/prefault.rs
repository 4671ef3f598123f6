//! Pre-faulting the moving space: after a compaction emptied it, the
//! buffers allocation claims are resident before it writes them (the old
//! code took one fault per 4 KiB page), and populating runs no further
//! than one step past what was claimed (or past the from-space pages the
//! cycle recycled above the top, resident already).

mod by_hand;

use gc::heap::prefault::STEP;
use gc::units::PAGE_SIZE;
use gc::{AllocRequest, Heap, HeapConfig, Tlab, Value};

/// Bytes allocated before the cycle and checked after it.
const ALLOCATED: usize = 8 << 20;

/// Bytes resident in `[from, to)` (page-aligned `from`).
fn resident(from: usize, to: usize) -> usize {
    mremap_shim::sys::mincore(from, to - from)
        .expect("mincore")
        .iter()
        .filter(|&&r| r)
        .count()
        * PAGE_SIZE
}

/// Allocates `bytes` of small objects (32 bytes each), all garbage;
/// returns the end of the last one (the buffer's cursor).
fn allocate(heap: &Heap, tlab: &mut Tlab, bytes: usize) -> usize {
    let req = AllocRequest {
        tag: 1,
        slots: 2,
        ..AllocRequest::default()
    };
    let (mut done, mut end) = (0, 0);
    while done < bytes {
        let obj = by_hand::alloc(heap, tlab, &req).expect("room below the trigger");
        let size = obj.size_words() * gc::object::WORD;
        done += size;
        end = obj.addr() + size;
    }
    end
}

/// A heap whose trigger lies well above what the test allocates, after one
/// stop-the-world cycle over 8 MiB of garbage.
fn collected_heap() -> Option<(Heap, Tlab)> {
    let heap = Heap::new(HeapConfig {
        heap_limit: 64 << 20,
        ..HeapConfig::default()
    })
    .expect("heap");
    if let Some(why) = heap.moving().prefault().off_reason() {
        eprintln!("skipped: {why}");
        return None;
    }
    heap.set_alloc_threshold(64 << 20);
    let mut tlab = Tlab::empty();
    let _ = allocate(&heap, &mut tlab, ALLOCATED);
    by_hand::retire(&mut tlab);
    let mut roots: Vec<Value> = Vec::new();
    by_hand::collect(&heap, &mut roots).expect("collect");
    assert_eq!(heap.moving().used(), 0, "everything was garbage");
    Some((heap, tlab))
}

/// Every TLAB claimed after the cycle is resident before allocation first
/// writes its pages: allocation takes no page fault of its own (the old
/// code faulted each page in on its first write, 256 faults a MiB; the
/// fault count itself is measured by `perf stat` in the benchmark, since
/// `getrusage` also counts the faults `MADV_POPULATE_WRITE` takes).
#[test]
fn buffers_are_resident_before_allocation_touches_them() {
    let Some((heap, mut tlab)) = collected_heap() else {
        return;
    };
    let (mut checked, mut allocated) = (0, 0);
    while allocated < ALLOCATED {
        let cursor = allocate(&heap, &mut tlab, 4 << 10);
        allocated += 4 << 10;
        // One thread allocates: its buffer is the last claim, ending at
        // the top; its untouched pages start past the cursor's page.
        let top = heap.moving().top();
        let untouched = cursor.next_multiple_of(PAGE_SIZE);
        if untouched < top {
            assert_eq!(
                resident(untouched, top),
                top - untouched,
                "a claimed buffer's untouched pages are not resident ({allocated} bytes in)"
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "only {checked} buffers checked");
}

#[test]
fn populates_at_most_one_step_ahead() {
    let Some((heap, mut tlab)) = collected_heap() else {
        return;
    };
    // The cycle moved from-space pages back above the top (recycled,
    // resident by design, up to the old top): populating starts past them.
    // Not a multiple of a step: the top ends inside one (buffers are
    // claimed 32 KiB at a time, steps populated 256 KiB at a time).
    let moving = heap.moving();
    let (_, recycled_end) = moving.recycled().range();
    let recycled = recycled_end.saturating_sub(moving.top());
    let _ = allocate(&heap, &mut tlab, recycled + (1 << 20) + (100 << 10));
    let top = moving.top().next_multiple_of(PAGE_SIZE);
    let end = moving.base() + (16 << 20);
    let resident = resident(top, end);
    assert!(resident > 0, "nothing populated ahead of the top");
    assert!(
        resident <= STEP,
        "{resident} bytes resident above the top (at most one step, {STEP})"
    );
}
