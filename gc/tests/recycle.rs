//! Recycled from-space pages (a young stop-the-world cycle moves the
//! from-space pages above the compacted top back instead of freeing them):
//! they held garbage, yet every byte allocation hands out from them reads
//! zero, and the heap stays walkable and its graph intact across further
//! cycles.

mod by_hand;

use gc::units::PAGE_SIZE;
use gc::{AllocRequest, Heap, HeapConfig, ObjRef, Tlab, Value};

/// Raw bytes per test object (with 1 slot and the header: 16 words).
const RAW: usize = 104;

/// What garbage objects are filled with.
const PATTERN: u8 = 0xA5;

fn request() -> AllocRequest {
    AllocRequest {
        tag: 1,
        slots: 1,
        bytes: RAW,
        ..Default::default()
    }
}

/// Allocates `bytes` of objects whose raw bytes are all [`PATTERN`].
fn garbage(heap: &Heap, tlab: &mut Tlab, bytes: usize) {
    let mut done = 0;
    while done < bytes {
        let o = by_hand::alloc(heap, tlab, &request()).expect("room");
        // SAFETY: a fresh object of the test's heap; nothing else runs.
        unsafe { o.bytes_mut().fill(PATTERN) };
        done += o.size_words() * gc::object::WORD;
    }
    by_hand::retire(tlab);
}

/// A 64 MiB heap with generational collection on.
fn generational_heap() -> Heap {
    let heap = Heap::new(HeapConfig {
        heap_limit: 64 << 20,
        ..Default::default()
    })
    .expect("heap");
    heap.generations().set_enabled(true);
    heap
}

/// A generational heap after a full cycle (one old root object, `roots[0]`)
/// and a young cycle over `young` bytes of garbage filled with
/// [`PATTERN`]: returns the heap, its roots and the recycled range.
fn recycled_heap(young: usize) -> (Heap, Vec<Value>, (usize, usize)) {
    let heap = generational_heap();
    let mut tlab = Tlab::default();
    let root = by_hand::alloc(&heap, &mut tlab, &request()).expect("room");
    garbage(&heap, &mut tlab, 1 << 20);
    let mut roots = vec![Value::object(root)];
    by_hand::collect(&heap, &mut roots).expect("full cycle");
    assert!(heap.generations().old_end() > heap.moving().base());
    garbage(&heap, &mut tlab, young);
    let report = by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    assert!(report.young, "a young cycle ran: {report}");
    let range = heap.moving().recycled().range();
    assert!(
        report.pages_recycled > 0 && range.0 < range.1,
        "pages were recycled: {report}, range {range:x?}"
    );
    assert_eq!(
        (range.1 - range.0) / PAGE_SIZE,
        report.pages_recycled,
        "the range is what the report counts"
    );
    (heap, roots, range)
}

/// The number of bytes of `o` (header words included) that are not zero,
/// other than the header and its one (nil) slot.
fn nonzero_raw_bytes(o: ObjRef) -> usize {
    // SAFETY: a live object of the test's heap; nothing else runs.
    unsafe { o.bytes() }.iter().filter(|&&b| b != 0).count()
}

#[test]
fn allocation_from_recycled_pages_reads_zero() {
    let young = 4 << 20;
    let (heap, mut roots, (lo, hi)) = recycled_heap(young);
    // The recycled pages hold the garbage until claimed: the zeroing is the
    // claim's, not the kernel's.
    // SAFETY: `[lo, lo + 8)` is mapped moving-space memory (recycled); a
    // read of a word nobody writes.
    let first = unsafe { std::ptr::read_volatile(lo as *const u64) };
    assert_ne!(first, 0, "the recycled pages still hold from-space garbage");
    let mut tlab = Tlab::default();
    let (mut inside, mut total) = (0, 0);
    while heap.moving().top() < hi + (64 << 10) {
        let o = by_hand::alloc(&heap, &mut tlab, &request()).expect("room");
        total += 1;
        if (lo..hi).contains(&o.addr()) {
            inside += 1;
        }
        assert_eq!(
            nonzero_raw_bytes(o),
            0,
            "the object at {:#x} (recycled range {lo:#x}..{hi:#x}) reads garbage",
            o.addr()
        );
    }
    assert!(
        inside * PAGE_SIZE >= (hi - lo) / 2,
        "{inside} of {total} objects were allocated in the recycled range"
    );
    // Retired tails and the recycled pages stay walkable, and the next
    // cycles see the graph intact.
    by_hand::retire(&mut tlab);
    by_hand::verify(&heap, &mut roots);
    let sum = by_hand::graph_checksum(&mut roots);
    by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    by_hand::collect(&heap, &mut roots).expect("full cycle");
    assert_eq!(by_hand::graph_checksum(&mut roots), sum);
    by_hand::verify(&heap, &mut roots);
}

#[test]
fn recycling_stays_below_the_allocation_threshold_and_the_old_top() {
    let heap = generational_heap();
    let mut tlab = Tlab::default();
    let root = by_hand::alloc(&heap, &mut tlab, &request()).expect("room");
    let mut roots = vec![Value::object(root)];
    by_hand::retire(&mut tlab);
    by_hand::collect(&heap, &mut roots).expect("full cycle");
    garbage(&heap, &mut tlab, 8 << 20);
    let old_top = heap.moving().top();
    // The next cycle's allocation reaches 2 MiB above the base: no page
    // above that is kept.
    let base = heap.moving().base();
    heap.set_alloc_threshold(2 << 20);
    let report = by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    let (lo, hi) = heap.moving().recycled().range();
    assert!(report.pages_recycled > 0, "{report}");
    assert!(hi <= base + (2 << 20), "recycled up to {:#x}", hi - base);
    assert!(hi <= old_top.next_multiple_of(PAGE_SIZE));
    assert!(lo >= heap.moving().top(), "the range lies above the top");
    // From-space keeps nothing: what was not recycled was released.
    let from = heap.from_base();
    let resident = mremap_shim::sys::mincore(from, heap.space_bytes())
        .expect("mincore")
        .iter()
        .filter(|&&r| r)
        .count();
    assert_eq!(resident, 0, "from-space pages left resident");
}
