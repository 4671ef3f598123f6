//! `Mutator::alloc_without_safepoint`: it never collects or stops (so it
//! answers `None` where `alloc` would: a full heap, a waiting pause, stress
//! collection, a request too large), and what it allocates is a normal
//! object: it survives collections when rooted, also one born during a
//! concurrent marking.

use std::sync::{Arc, Barrier};
use std::time::Duration;

use runtime::{AllocSpec, CyclePhase, Gc, Mode, Mutator, Runtime, Value};

mod common;
use common::id;

const SMALL: AllocSpec = AllocSpec {
    tag: 1,
    slots: 1,
    bytes: 8,
    pinned: false,
    weak: false,
};

fn stw(heap_limit: usize) -> Runtime {
    Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(heap_limit)
        .build()
        .expect("runtime")
}

#[test]
fn it_never_collects_and_gives_way_to_alloc_when_the_heap_is_full() {
    let rt = stw(4 << 20);
    let mut m = rt.mutator().expect("mutator");
    m.push(Value::NIL);
    // A rooted list built only through the fast path, until it says no.
    let mut n = 0u64;
    while let Some(node) = m.alloc_without_safepoint(SMALL) {
        node.set_raw_word(0, n);
        m.write(node, 0, m.stack_get(0));
        m.stack_set(0, node.into());
        n += 1;
    }
    assert_eq!(rt.stats().cycles, 0, "the fast path never collects");
    assert!(
        n > 10_000,
        "it filled the heap up to its trigger first ({n} objects)"
    );
    // `alloc` collects (the list is live, so it may not make room: then it
    // grows to the limit or reports out of memory, both fine here).
    let _ = m.alloc(SMALL);
    assert!(rt.stats().cycles >= 1, "alloc collected");
    // The list survived the collection, every node in order.
    let mut v = m.stack_get(0);
    let mut expect = n;
    while let Some(node) = v.as_object() {
        expect -= 1;
        assert_eq!(node.raw_word(0), expect);
        v = node.slot(0);
    }
    assert_eq!(expect, 0, "every node survived");
    m.verify().expect("heap valid");
}

#[test]
fn values_read_before_stay_valid_across_it() {
    let rt = stw(16 << 20);
    let m = rt.mutator().expect("mutator");
    let a = m.alloc_without_safepoint(SMALL).expect("room");
    a.set_raw_word(0, 7);
    // Many more allocations, refilling the buffer several times: `a` (not
    // rooted) is still where it was, which the borrow checker allows
    // because nothing can move.
    for i in 0..100_000u64 {
        let b = m.alloc_without_safepoint(SMALL).expect("room");
        b.set_raw_word(0, i);
        m.write(b, 0, a.into());
        assert_eq!(id(b.slot(0)), 7);
    }
    assert_eq!(a.raw_word(0), 7);
}

#[test]
fn stress_collection_and_too_large_requests_go_through_alloc() {
    let rt = Runtime::builder()
        .mode(Mode::Stw)
        .heap_limit(8 << 20)
        .stress(true)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    assert!(m.alloc_without_safepoint(SMALL).is_none(), "stress: no");
    let _ = m.alloc(SMALL).expect("alloc");
    assert_eq!(rt.stats().cycles, 1, "alloc collected under stress");

    let rt = stw(8 << 20);
    let m = rt.mutator().expect("mutator");
    let huge = AllocSpec {
        bytes: 16 << 20,
        ..SMALL
    };
    assert!(m.alloc_without_safepoint(huge).is_none());
    // A large object (non-moving space) is fine: no safepoint needed.
    let large = AllocSpec {
        bytes: 64 << 10,
        ..SMALL
    };
    let o = m.alloc_without_safepoint(large).expect("a large object");
    assert!(o.byte_len() >= 64 << 10);
}

#[test]
fn a_waiting_pause_makes_it_answer_none() {
    let rt = stw(16 << 20);
    let mut m = rt.mutator().expect("mutator");
    let start = Arc::new(Barrier::new(2));
    let other = {
        let rt = rt.clone();
        let start = start.clone();
        std::thread::spawn(move || {
            let mut m = rt.mutator().expect("second mutator");
            start.wait();
            m.collect().expect("collect");
        })
    };
    start.wait();
    // The other thread's pause raises the poll word and waits for this
    // thread, which must not allocate past it.
    while !m.safepoint_requested() {
        std::hint::spin_loop();
    }
    assert!(m.alloc_without_safepoint(SMALL).is_none());
    m.safepoint();
    other.join().expect("second thread");
    assert!(rt.stats().cycles >= 1);
}

#[test]
fn objects_it_allocates_during_a_concurrent_marking_survive() {
    for mode in [Mode::UffdCopy, Mode::UffdWorkers, Mode::Sigbus, Mode::Uffd] {
        let Some(rt) = common::in_mode(
            Runtime::builder()
                .heap_limit(64 << 20)
                .concurrent_mark_delay(Duration::from_millis(100)),
            mode,
        ) else {
            continue;
        };
        let mut m = rt.mutator().expect("mutator");
        let (m2, holder) = m.alloc(SMALL).expect("alloc");
        m2.push(holder.into());
        assert!(m.start_cycle(), "{mode}: a cycle starts");
        assert_eq!(m.cycle_phase(), CyclePhase::Marking);
        // Born during marking (allocated black), reachable only from an
        // object the marker may already have scanned.
        // The pause that started the cycle left the poll word raised
        // for the next safepoint, which takes it down.
        m.safepoint();
        // A cycle's start retires the allocation buffers (generational
        // collection) and sets the pacing threshold at the heap's use, so
        // the first buffer of the cycle comes through `alloc`'s slow path;
        // the objects that fit it after that come without a safepoint.
        let (mut count, mut without) = (0u64, 0);
        for i in 0..1000u64 {
            if let Some(o) = m.alloc_without_safepoint(SMALL) {
                push_onto_holder(&m, o, i);
                without += 1;
            } else {
                let (m2, o) = m.alloc(SMALL).expect("alloc");
                push_onto_holder(m2, o, i);
            }
            count += 1;
        }
        assert!(
            without > 900,
            "{mode}: {without} of 1000 allocated without a safepoint"
        );
        assert_eq!(
            m.cycle_phase(),
            CyclePhase::Marking,
            "{mode}: still marking"
        );
        m.finish_cycle().expect("cycle");
        m.verify().expect("heap valid");
        let mut v = m.stack_get(0).as_object().expect("holder").slot(0);
        let mut seen = 0;
        while let Some(o) = v.as_object() {
            assert_eq!(o.raw_word(0), count - 1 - seen, "{mode}");
            seen += 1;
            v = o.slot(0);
        }
        assert_eq!(seen, count, "{mode}: every newborn survived");
    }
}

/// Makes `o` (numbered `i`) the head of the list in the holder's slot 0.
fn push_onto_holder(m: &Mutator, o: Gc<'_>, i: u64) {
    o.set_raw_word(0, i);
    let holder = m.stack_get(0).as_object().expect("holder");
    m.write(o, 0, holder.slot(0));
    m.write(holder, 0, o.into());
}
