//! Generations by hand: a full stop-the-world cycle promotes every survivor
//! to a page-aligned old generation; the verifier's card check catches an
//! old-to-young slot on a clean card; a young plan forwards the old
//! generation to itself; a young cycle keeps a young object reachable only
//! through a dirty card, frees young garbage and keeps old garbage; with
//! promotion age 2 a young cycle's survivors stay young until the next.

mod by_hand;

use gc::compact::{ForwardingPlan, PlanTables};
use gc::units::PAGE_SIZE;
use gc::verify::VerifyError;
use gc::{AllocRequest, Heap, HeapConfig, ObjRef, Tlab, Value};

fn heap() -> Heap {
    let heap = Heap::new(HeapConfig {
        heap_limit: 64 << 20,
        ..Default::default()
    })
    .expect("heap");
    heap.generations().set_enabled(true);
    heap
}

fn node(heap: &Heap, tlab: &mut Tlab, id: u64, slots: u32, pinned: bool) -> ObjRef {
    let req = AllocRequest {
        tag: 1,
        slots,
        bytes: 8,
        pinned,
        ..Default::default()
    };
    let o = by_hand::alloc(heap, tlab, &req).expect("room");
    // SAFETY: a fresh object with 8 raw bytes; no marking runs.
    unsafe { o.bytes_mut()[..8].copy_from_slice(&id.to_le_bytes()) };
    o
}

fn id(o: ObjRef) -> u64 {
    // SAFETY: a live object of the test's heap with 8 raw bytes.
    u64::from_le_bytes(unsafe { o.bytes() }[..8].try_into().expect("8 bytes"))
}

/// Stores `v` into slot `i` of `holder` without the card (what a barrier
/// without its card store would do).
fn store_raw(holder: ObjRef, i: usize, v: ObjRef) {
    // SAFETY: a slot of a live object; no marking runs.
    unsafe { holder.set_slot_raw(i, Value::object(v)) };
}

/// A heap whose roots are one moving and one non-moving old holder (4
/// slots each) after a full cycle.
fn old_holders() -> (Heap, Vec<Value>) {
    let heap = heap();
    let mut tlab = Tlab::default();
    let moving = node(&heap, &mut tlab, 1, 4, false);
    let pinned = node(&heap, &mut tlab, 2, 4, true);
    // Some garbage, so the full cycle slides.
    for i in 0..100 {
        node(&heap, &mut tlab, 100 + i, 1, false);
    }
    by_hand::retire(&mut tlab);
    let mut roots = vec![Value::object(moving), Value::object(pinned)];
    by_hand::collect(&heap, &mut roots).expect("full cycle");
    (heap, roots)
}

#[test]
fn a_full_cycle_promotes_every_survivor_to_a_page_aligned_old_generation() {
    let (heap, mut roots) = old_holders();
    let (base, top) = (heap.moving().base(), heap.moving().top());
    let old_end = heap.generations().old_end();
    assert_eq!(old_end, top, "everything is old");
    assert!(old_end > base && (old_end - base).is_multiple_of(PAGE_SIZE));
    assert!(heap.generations().old_starts().test(base));
    assert_eq!(heap.cards().count_dirty(base, base + (64 << 20)), 0);
    by_hand::verify(&heap, &mut roots);
}

#[test]
fn the_verifier_reports_an_old_to_young_slot_on_a_clean_card() {
    for holder_root in 0..2 {
        let (heap, mut roots) = old_holders();
        let holder = by_hand::obj(roots[holder_root]);
        let mut tlab = Tlab::default();
        let young = node(&heap, &mut tlab, 3, 0, false);
        by_hand::retire(&mut tlab);
        store_raw(holder, 2, young);
        match by_hand::try_verify(&heap, &mut roots) {
            Err(VerifyError::MissingCardMark {
                holder: h,
                slot: 2,
                target,
            }) => assert_eq!((h, target), (holder.addr(), young.addr())),
            other => panic!("holder {holder_root}: expected a missing card mark, got {other:?}"),
        }
        heap.cards().dirty(holder.slot_addr(2));
        by_hand::verify(&heap, &mut roots);
    }
}

#[test]
fn a_young_plan_forwards_the_old_generation_to_itself() {
    let (heap, mut roots) = old_holders();
    let old_end = heap.generations().old_end();
    let mut tlab = Tlab::default();
    let dead = node(&heap, &mut tlab, 4, 0, false);
    let live = node(&heap, &mut tlab, 5, 0, false);
    by_hand::retire(&mut tlab);
    roots.push(Value::object(live));
    // SAFETY: the test owns the heap alone on one thread (see `by_hand`).
    let marked = unsafe { gc::mark::tracer::mark_above(&heap, &mut roots, 1, old_end) };
    assert_eq!(marked.objects, 2, "the young object and the pinned holder");
    let plan =
        ForwardingPlan::build_young(&heap, old_end, heap.moving().top(), &PlanTables::default())
            .expect("plan");
    let old = by_hand::obj(roots[0]).addr();
    assert_eq!(plan.forward_marked(old), Some(old), "old counts as live");
    assert_eq!(plan.forward_marked(dead.addr()), None);
    assert_eq!(plan.forward_marked(live.addr()), Some(old_end));
    assert_eq!(plan.new_top(), old_end + live.size_words() * 8);
    assert_eq!(
        plan.old_pages(),
        (old_end - heap.moving().base()) / PAGE_SIZE
    );
}

#[test]
fn a_young_cycle_keeps_what_dirty_cards_reach_and_frees_young_garbage_only() {
    let (heap, mut roots) = old_holders();
    let (moving_holder, pinned_holder) = (by_hand::obj(roots[0]), by_hand::obj(roots[1]));
    // Old garbage: an old object nothing refers to any more.
    let mut tlab = Tlab::default();
    let old_garbage_target = node(&heap, &mut tlab, 6, 0, false);
    store_raw(moving_holder, 3, old_garbage_target);
    heap.cards().dirty(moving_holder.slot_addr(3));
    by_hand::retire(&mut tlab);
    by_hand::collect(&heap, &mut roots).expect("full: promotes the target");
    let old_end = heap.generations().old_end();
    let moving_holder = by_hand::obj(roots[0]);
    let old_garbage = by_hand::obj(moving_holder.slot(3)).addr();
    assert!(old_garbage < old_end);
    // SAFETY: a slot of a live object; nothing runs.
    unsafe { moving_holder.set_slot_raw(3, Value::NIL) };

    let mut tlab = Tlab::default();
    let young_moving = node(&heap, &mut tlab, 7, 0, false);
    let young_pinned = node(&heap, &mut tlab, 8, 0, true);
    for i in 0..200 {
        node(&heap, &mut tlab, 1000 + i, 1, false);
    }
    by_hand::retire(&mut tlab);
    store_raw(moving_holder, 1, young_moving);
    heap.cards().dirty(moving_holder.slot_addr(1));
    store_raw(pinned_holder, 1, young_pinned);
    heap.cards().dirty(pinned_holder.slot_addr(1));
    let sum = by_hand::graph_checksum(&mut roots);
    let used = heap.used_bytes();
    let report = by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    assert!(report.young, "a young cycle ran: {report}");
    assert_eq!(by_hand::graph_checksum(&mut roots), sum);
    let holder = by_hand::obj(roots[0]);
    assert_eq!(holder.addr(), moving_holder.addr(), "old objects stay");
    assert_eq!(id(by_hand::obj(holder.slot(1))), 7);
    assert_eq!(id(by_hand::obj(by_hand::obj(roots[1]).slot(1))), 8);
    assert!(
        by_hand::obj(holder.slot(1)).addr() >= old_end,
        "slid to the old end"
    );
    assert!(heap.used_bytes() < used, "young garbage freed");
    assert_eq!(by_hand::at(old_garbage).size_words(), 4, "old garbage kept");
    assert!(heap.generations().old_end() > old_end, "survivors promoted");
    by_hand::verify(&heap, &mut roots);
}

#[test]
fn with_promotion_age_two_a_young_cycle_keeps_its_survivors_young_until_the_next() {
    let (heap, mut roots) = old_holders();
    heap.generations().set_promotion_age(2);
    let gens = heap.generations();
    let old_end = gens.old_end();
    assert_eq!(
        gens.aged_end(),
        old_end,
        "a full cycle leaves no age-1 object"
    );
    let mut tlab = Tlab::default();
    // Survivors of mixed sizes over a few pages, so that a page boundary
    // falls on an object start among them.
    for i in 0..600 {
        roots.push(Value::object(node(
            &heap,
            &mut tlab,
            10 + i,
            (i % 3) as u32,
            false,
        )));
    }
    by_hand::retire(&mut tlab);
    let sum = by_hand::graph_checksum(&mut roots);
    by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    assert_eq!(by_hand::graph_checksum(&mut roots), sum);
    assert_eq!(gens.old_end(), old_end, "one survival promotes nothing");
    assert_eq!(
        gens.aged_end(),
        heap.moving().top(),
        "every survivor has age 1"
    );
    by_hand::verify(&heap, &mut roots);

    let mut tlab = Tlab::default();
    let newborn = node(&heap, &mut tlab, 9, 0, false);
    by_hand::retire(&mut tlab);
    roots.push(Value::object(newborn));
    let aged_end = gens.aged_end();
    let sum = by_hand::graph_checksum(&mut roots);
    by_hand::collect_young(&heap, &mut roots).expect("young cycle");
    assert_eq!(by_hand::graph_checksum(&mut roots), sum);
    let promoted = gens.old_end();
    assert!(
        promoted > old_end && promoted <= aged_end,
        "two survivals promote up to a page boundary below the aged end: \
         {promoted:#x} in ({old_end:#x}, {aged_end:#x}]"
    );
    let newborn = by_hand::obj(roots[roots.len() - 1]).addr();
    assert!(
        newborn >= promoted && newborn < gens.aged_end(),
        "the newborn survived once: young, below the new aged end"
    );
    by_hand::verify(&heap, &mut roots);
}
