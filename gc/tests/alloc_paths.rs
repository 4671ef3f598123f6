//! `Heap::alloc`'s two paths give the same objects: the inline one (a bump
//! in the thread's buffer) and the out-of-line one (a refill, a large or
//! pinned object). Both write the header and nil slots, and while marking
//! allocates black both mark what they allocate (start bit and every live
//! word), so that an object born during a concurrent marking survives it.

mod by_hand;

use gc::{AllocRequest, Heap, HeapConfig, ObjRef, Tlab, Value};

fn heap() -> Heap {
    let heap = Heap::new(HeapConfig {
        heap_limit: 64 << 20,
        ..HeapConfig::default()
    })
    .expect("heap");
    heap.set_alloc_threshold(64 << 20);
    heap
}

/// Requests of every kind: small (inline), a weak one, a large one (the
/// non-moving space) and a pinned one.
fn requests() -> Vec<AllocRequest> {
    let small = AllocRequest {
        tag: 3,
        slots: 2,
        bytes: 8,
        ..AllocRequest::default()
    };
    vec![
        small,
        AllocRequest {
            weak: true,
            ..small
        },
        AllocRequest {
            bytes: 40 << 10,
            ..small
        },
        AllocRequest {
            pinned: true,
            ..small
        },
    ]
}

fn check_shape(o: ObjRef, req: &AllocRequest) {
    assert_eq!(o.tag(), req.tag);
    assert_eq!(o.slot_count(), req.slots as usize);
    assert_eq!(o.is_weak(), req.weak);
    for i in 0..o.slot_count() {
        assert_eq!(o.slot(i), Value::NIL);
    }
    assert!(o.byte_len() >= req.bytes);
}

/// Whether `o` is marked, and (in the moving space) every word live.
fn marked(heap: &Heap, o: ObjRef) -> bool {
    let start = heap.is_marked(o.addr());
    if heap.moving().contains(o.addr()) {
        let words = (0..o.size_words())
            .filter(|w| heap.marks().live.test(o.addr() + w * gc::object::WORD))
            .count();
        assert!(
            words == 0 || words == o.size_words(),
            "all or none of an object's words are live"
        );
        assert_eq!(start, words > 0, "start bit and live words agree");
    }
    start
}

/// Allocates each request many times (so that most small ones take the
/// inline path, a few the refill) and checks each object.
fn allocate_and_check(heap: &Heap, black: bool) {
    let mut tlab = Tlab::empty();
    for req in requests() {
        let n = if req.bytes > 1024 || req.pinned {
            4
        } else {
            5000
        };
        for _ in 0..n {
            let o = by_hand::alloc(heap, &mut tlab, &req).expect("room");
            check_shape(o, &req);
            assert_eq!(marked(heap, o), black, "{req:?}");
        }
    }
    by_hand::retire(&mut tlab);
}

#[test]
fn both_paths_mark_what_they_allocate_while_marking_allocates_black() {
    let heap = heap();
    heap.set_allocating_black(true);
    allocate_and_check(&heap, true);
}

#[test]
fn neither_path_marks_otherwise() {
    let heap = heap();
    allocate_and_check(&heap, false);
}
