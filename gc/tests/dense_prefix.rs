//! The dense prefix: on a heap whose leading pages are almost all live and
//! whose tail is sparse, objects in the prefix keep their addresses, its
//! dead objects become fillers, references into and out of it are fixed,
//! sliding starts at its end (after a live object crossing it), and the
//! verifier passes; a threshold of 1.0 disables it. In the stop-the-world
//! mode (pages updated in place), by hand through `compute_page` (pages
//! copied from from-space and fixed, as the uffd modes do) and in the uffd
//! mode itself where the kernel allows.

mod by_hand;

use std::sync::Arc;
use std::time::Duration;

use gc::collector::{ConcurrentCollector, UffdOptions};
use gc::compact::forwarding::dense_prefix_words;
use gc::compact::non_moving::{sweep, update_references};
use gc::compact::{ForwardingPlan, PageComputer, PlanTables, PAGE_WORDS};
use gc::object::{FILLER_TAG, WORD};
use gc::units::PAGE_SIZE;
use gc::{AllocRequest, Heap, HeapConfig, ObjRef, Tlab, Value};

/// Bytes of a prefix or tail node (2 slots, 32 raw bytes): 64 nodes a page.
const NODE: usize = 64;
/// Prefix nodes: 20 pages and 61 nodes, so that the crossing object starts
/// 192 bytes before the end of page 20.
const PREFIX_NODES: usize = 20 * 64 + 61;
/// Every this many prefix nodes one is dead (at most 2 a page: >= 95% live).
const PREFIX_DEAD_EVERY: usize = 50;
/// Raw bytes of the object crossing from page 20 over pages 21 and 22 into
/// page 23 (10016 bytes in all).
const CROSSING_BYTES: usize = 10_000;
/// Tail nodes, one in three live.
const TAIL_NODES: usize = 3000;

/// The test heap and what the test needs to find in it.
struct Scene {
    heap: Heap,
    /// Roots: live prefix nodes, then (if live) the crossing object, then
    /// live tail nodes, then the weak holder.
    roots: Vec<Value>,
    /// Root indices of the live prefix nodes.
    prefix: std::ops::Range<usize>,
    /// Root index of the crossing object, if it is live.
    crossing: Option<usize>,
    /// Root indices of the live tail nodes.
    tail: std::ops::Range<usize>,
    /// Root index of a prefix object whose weak slot holds a dead tail node.
    weak_holder: usize,
    /// Addresses of the dead prefix nodes.
    dead_prefix: Vec<usize>,
    /// Address of the crossing object.
    crossing_addr: usize,
}

fn heap(threshold: f64) -> Heap {
    Heap::new(HeapConfig {
        heap_limit: 64 << 20,
        // One TLAB holds the whole scene, so objects lie in allocation order.
        tlab_bytes: 1 << 20,
        large_object_threshold: 64 << 10,
        dense_prefix_threshold: threshold,
        ..Default::default()
    })
    .expect("heap")
}

fn alloc(heap: &Heap, tlab: &mut Tlab, req: AllocRequest, id: u64) -> ObjRef {
    let o = by_hand::alloc(heap, tlab, &req).expect("room");
    // SAFETY: a fresh object with at least 8 raw bytes; no marking runs.
    unsafe { o.bytes_mut()[..8].copy_from_slice(&id.to_le_bytes()) };
    o
}

fn node(heap: &Heap, tlab: &mut Tlab, id: u64) -> ObjRef {
    let req = AllocRequest {
        tag: 1,
        slots: 2,
        bytes: 32,
        ..Default::default()
    };
    let o = alloc(heap, tlab, req, id);
    assert_eq!(o.size_words() * WORD, NODE);
    o
}

/// Sets slot `i` of `o` (no marking runs).
fn link(o: ObjRef, i: usize, to: ObjRef) {
    // SAFETY: slot i exists (callers link slots 0 and 1 of nodes); no
    // concurrent marking runs.
    unsafe { o.set_slot_raw(i, Value::object(to)) };
}

/// Builds the scene: a weak holder (first, so in the prefix), the prefix
/// nodes (linked to each other), the crossing object (live or dead), the
/// tail nodes (linked into the prefix and back).
fn scene(threshold: f64, crossing_live: bool) -> Scene {
    scene_with(threshold, crossing_live, true)
}

/// [`scene`], with the holder (the first object) dead if `holder_live` is
/// false: the heap then starts with a dead run.
fn scene_with(threshold: f64, crossing_live: bool, holder_live: bool) -> Scene {
    let heap = heap(threshold);
    let mut tlab = Tlab::empty();
    let holder = alloc(
        &heap,
        &mut tlab,
        AllocRequest {
            tag: 2,
            slots: 1,
            bytes: 40,
            weak: true,
            ..Default::default()
        },
        7,
    );
    assert_eq!(holder.size_words() * WORD, NODE, "the holder is node-sized");
    let mut prefix = Vec::new();
    let mut dead_prefix = Vec::new();
    for i in 1..PREFIX_NODES {
        let o = node(&heap, &mut tlab, i as u64);
        if i % PREFIX_DEAD_EVERY == 0 {
            dead_prefix.push(o.addr());
        } else {
            if let Some(&prev) = prefix.last() {
                link(o, 1, prev);
            }
            prefix.push(o);
        }
    }
    let crossing = alloc(
        &heap,
        &mut tlab,
        AllocRequest {
            tag: 3,
            slots: 1,
            bytes: CROSSING_BYTES - 8,
            ..Default::default()
        },
        1_000_000,
    );
    assert_eq!(
        crossing.addr() - heap.moving().base(),
        20 * PAGE_SIZE + 61 * NODE,
        "the crossing object starts 192 bytes before page 21"
    );
    let mut tail = Vec::new();
    let mut dead_tail = Vec::new();
    for i in 0..TAIL_NODES {
        let o = node(&heap, &mut tlab, 2_000_000 + i as u64);
        if i % 3 == 0 {
            // Out of the prefix and back in (one prefix node per tail node).
            let p = prefix[tail.len()];
            link(p, 0, o);
            link(o, 0, p);
            tail.push(o);
        } else {
            dead_tail.push(o);
        }
    }
    link(crossing, 0, tail[tail.len() / 2]);
    link(holder, 0, dead_tail[0]);
    by_hand::retire(&mut tlab);

    let mut roots: Vec<Value> = prefix.iter().map(|&o| Value::object(o)).collect();
    let prefix_range = 0..roots.len();
    let crossing_index = crossing_live.then(|| {
        roots.push(Value::object(crossing));
        roots.len() - 1
    });
    let tail_start = roots.len();
    roots.extend(tail.iter().map(|&o| Value::object(o)));
    let tail_range = tail_start..roots.len();
    if holder_live {
        roots.push(Value::object(holder));
    } else {
        dead_prefix.insert(0, holder.addr());
    }
    Scene {
        weak_holder: if holder_live {
            roots.len() - 1
        } else {
            usize::MAX
        },
        heap,
        roots,
        prefix: prefix_range,
        crossing: crossing_index,
        tail: tail_range,
        dead_prefix,
        crossing_addr: crossing.addr(),
    }
}

fn addr(v: Value) -> usize {
    v.object_addr()
}

/// Where the prefix ends in each scene, from the layout: the end of the
/// live crossing object, or page 21 (page 21 is all dead when it is dead).
fn expected_dense_words(s: &Scene) -> usize {
    let base = s.heap.moving().base();
    match s.crossing {
        Some(_) => (s.crossing_addr - base + CROSSING_BYTES + 16) / WORD,
        None => 21 * PAGE_WORDS,
    }
}

/// Checks a scene after one compaction with the dense prefix on.
fn check_after(s: &mut Scene, before: &[Value], checksum: u64) {
    let base = s.heap.moving().base();
    let dense_end = base + expected_dense_words(s) * WORD;
    for i in s.prefix.clone() {
        assert_eq!(
            addr(s.roots[i]),
            addr(before[i]),
            "prefix node {i} must keep its address"
        );
    }
    if let Some(c) = s.crossing {
        assert_eq!(
            addr(s.roots[c]),
            s.crossing_addr,
            "the crossing object stays"
        );
    }
    // Sliding starts exactly at the prefix's end.
    let first_tail = addr(s.roots[s.tail.start]);
    assert_eq!(
        first_tail, dense_end,
        "the first live tail node lands on the prefix's end"
    );
    for i in s.tail.clone().skip(1) {
        assert!(addr(s.roots[i]) < addr(before[i]), "tail node {i} slid");
    }
    // References out of the prefix follow the slid tail nodes, references
    // from the tail back into it are unchanged.
    for (k, i) in s.tail.clone().enumerate() {
        let t = by_hand::obj(s.roots[i]);
        let p = by_hand::obj(t.slot(0));
        assert!(p.addr() < dense_end, "tail node {k} points into the prefix");
        assert_eq!(
            p.slot(0),
            s.roots[i],
            "the prefix node refers to tail node {k}'s new address"
        );
    }
    // Dead prefix nodes are fillers now (each is followed by a live node).
    for &d in &s.dead_prefix {
        let f = by_hand::at(d);
        assert_eq!(f.tag(), FILLER_TAG, "dead prefix node at {d:#x}");
        assert_eq!(
            f.size_words() * WORD,
            NODE,
            "the filler covers the dead node"
        );
    }
    if s.crossing.is_none() {
        // The dead crossing object is cut at the prefix's end.
        let f = by_hand::at(s.crossing_addr);
        assert_eq!(f.tag(), FILLER_TAG);
        assert_eq!(s.crossing_addr + f.size_words() * WORD, dense_end);
    }
    if let Some(holder) = s.roots.get(s.weak_holder) {
        assert!(
            by_hand::obj(*holder).slot(0).is_nil(),
            "a weak slot in the prefix to a dead object is cleared"
        );
    }
    let report = by_hand::verify(&s.heap, &mut s.roots);
    assert!(report.filler_bytes >= s.dead_prefix.len() * NODE);
    assert_eq!(by_hand::graph_checksum(&mut s.roots), checksum);
}

#[test]
fn the_prefix_ends_after_a_live_object_crossing_its_last_page() {
    let s = scene(0.9, true);
    let mut roots = s.roots.clone();
    by_hand::mark(&s.heap, &mut roots, 1);
    let top = s.heap.moving().top();
    let words = dense_prefix_words(&s.heap, top, 0.9);
    assert_eq!(words, expected_dense_words(&s));
    assert_ne!(words % PAGE_WORDS, 0, "the crossing object ends mid-page");
    let plan = ForwardingPlan::build_with_threshold(&s.heap, top, 0.9, &PlanTables::default())
        .expect("plan");
    assert_eq!(plan.dense_words(), words);
    assert_eq!(plan.dense_pages(), 23);
    let first_tail = addr(s.roots[s.tail.start]);
    assert_eq!(
        plan.forward(first_tail),
        s.heap.moving().base() + words * WORD
    );
    let p = addr(s.roots[s.prefix.end - 1]);
    assert_eq!(plan.forward(p), p, "prefix objects forward to themselves");
    // A stricter threshold than the prefix's density ends it earlier; 1.0
    // or more disables it.
    assert_eq!(dense_prefix_words(&s.heap, top, 0.99), 0);
    assert_eq!(dense_prefix_words(&s.heap, top, 1.0), 0);
    assert_eq!(dense_prefix_words(&s.heap, top, 2.0), 0);
    let off = ForwardingPlan::build_with_threshold(&s.heap, top, 1.0, &PlanTables::default())
        .expect("plan");
    assert_eq!(off.dense_words(), 0);
    assert!(
        off.forward(p) < p,
        "without the prefix, nodes after a dead one slide"
    );
    assert_eq!(
        plan.live_words() - off.live_words(),
        s.dead_prefix.len() * NODE / WORD,
        "the prefix keeps its dead nodes' words as fillers"
    );
}

#[test]
fn the_prefix_ends_at_its_page_when_a_dead_object_crosses_it() {
    let s = scene(0.9, false);
    let mut roots = s.roots.clone();
    by_hand::mark(&s.heap, &mut roots, 1);
    let top = s.heap.moving().top();
    assert_eq!(dense_prefix_words(&s.heap, top, 0.9), 21 * PAGE_WORDS);
}

#[test]
fn stw_keeps_prefix_objects_in_place_and_slides_the_rest() {
    for crossing_live in [true, false] {
        let mut s = scene(0.9, crossing_live);
        let before = s.roots.clone();
        let checksum = by_hand::graph_checksum(&mut s.roots);
        let report = by_hand::collect(&s.heap, &mut s.roots).expect("collect");
        assert_eq!(report.pages_dense, expected_dense_words(&s) / PAGE_WORDS);
        assert_eq!(
            s.heap.dense_pages_total(),
            report.pages_dense as u64,
            "the heap counts the dense pages"
        );
        check_after(&mut s, &before, checksum);
    }
}

#[test]
fn stw_with_threshold_one_slides_everything() {
    let mut s = scene(1.0, true);
    let before = s.roots.clone();
    let checksum = by_hand::graph_checksum(&mut s.roots);
    let report = by_hand::collect(&s.heap, &mut s.roots).expect("collect");
    assert_eq!(report.pages_dense, 0);
    let moved = s
        .prefix
        .clone()
        .filter(|&i| addr(s.roots[i]) != addr(before[i]))
        .count();
    assert!(
        moved > 1000,
        "prefix nodes after a dead one slide ({moved})"
    );
    by_hand::verify(&s.heap, &mut s.roots);
    assert_eq!(by_hand::graph_checksum(&mut s.roots), checksum);
}

#[test]
fn stw_cycles_with_a_prefix_keep_the_heap_valid_and_the_mappings_few() {
    let mut s = scene(0.9, true);
    let checksum = by_hand::graph_checksum(&mut s.roots);
    let mut vmas = Vec::new();
    let mut tlab = Tlab::empty();
    for cycle in 0..6u64 {
        // Fresh garbage above the (now compacted) live data each time.
        for i in 0..2000 {
            node(&s.heap, &mut tlab, cycle * 10_000 + i);
        }
        by_hand::retire(&mut tlab);
        let report = by_hand::collect(&s.heap, &mut s.roots).expect("collect");
        assert!(
            report.pages_dense > 0,
            "cycle {cycle}: the live data is dense"
        );
        by_hand::verify(&s.heap, &mut s.roots);
        assert_eq!(
            by_hand::graph_checksum(&mut s.roots),
            checksum,
            "cycle {cycle}"
        );
        vmas.push(s.heap.engine().model_vmas().len());
    }
    assert_eq!(
        vmas.first(),
        vmas.last(),
        "flipping above the prefix must not fragment the mappings: {vmas:?}"
    );
}

#[test]
fn pages_computed_from_from_space_keep_the_prefix_in_place() {
    // What the uffd modes do: flip everything, compute every page (dense
    // ones copied and fixed) into a buffer, install it.
    for crossing_live in [true, false] {
        let mut s = scene(0.9, crossing_live);
        let before = s.roots.clone();
        let checksum = by_hand::graph_checksum(&mut s.roots);
        let heap = &s.heap;
        by_hand::mark(heap, &mut s.roots, 1);
        let plan =
            ForwardingPlan::build(heap, heap.moving().top(), &PlanTables::default()).expect("plan");
        assert_eq!(plan.dense_words(), expected_dense_words(&s));
        heap.engine()
            .flip(heap.moving().base(), heap.from_base(), heap.space_bytes())
            .expect("flip");
        let pc = PageComputer::new(heap, &plan);
        let mut buf = [0u64; PAGE_WORDS];
        // Dense pages in reverse order: each stands alone.
        for page in (0..plan.live_pages()).rev() {
            pc.compute_page(page, &mut buf);
            let dst = (heap.moving().base() + page * PAGE_SIZE) as *mut u64;
            // SAFETY: the moving space is mapped, empty after the flip and
            // ours; pages are installed once each.
            unsafe { std::ptr::copy_nonoverlapping(buf.as_ptr(), dst, PAGE_WORDS) };
        }
        let nm = heap.non_moving();
        let nm_top = nm.high_water();
        update_references(&pc, heap, nm.base(), nm_top, 0);
        for r in s.roots.iter_mut() {
            *r = pc.fix_value(*r);
        }
        sweep(heap, 0);
        heap.engine()
            .release(heap.reservation(), heap.from_base(), heap.space_bytes())
            .expect("release");
        by_hand::reset_top(heap, plan.new_top());
        heap.marks().moving.clear_below(plan.old_top());
        heap.marks().live.clear_below(plan.old_top());
        heap.marks().non_moving.clear_below(nm_top);
        check_after(&mut s, &before, checksum);
    }
}

#[test]
fn uffd_keeps_prefix_objects_in_place() {
    // A dead first object: the first page's first word has no object
    // before it (the collector's from-space accounting must cope).
    for (moves, holder_live) in [(false, true), (true, true), (false, false), (true, false)] {
        let mut s = scene_with(0.9, true, holder_live);
        let before = s.roots.clone();
        let checksum = by_hand::graph_checksum(&mut s.roots);
        let heap = Arc::new(std::mem::replace(&mut s.heap, heap(0.9)));
        // Two slowed collector threads: the coordinator often asks what
        // from-space page 0 needs while the other still computes it.
        let options = UffdOptions {
            moves,
            collector_threads: 2,
            page_delay: Duration::from_micros(100),
            ..Default::default()
        };
        let mut compactor = match ConcurrentCollector::new(heap.clone(), options) {
            Ok(c) => c,
            Err(why) => {
                eprintln!("skipping uffd_keeps_prefix_objects_in_place: {why}");
                return;
            }
        };
        // SAFETY: the test is the heap's only user (see `by_hand`): the
        // world is stopped, the buffer retired, and `s.roots` are all roots.
        unsafe { compactor.start(&mut s.roots, gc::PauseEntry::default(), false) }.expect("flip");
        let report = compactor.wait().expect("a report");
        assert_eq!(report.pages_dense, 23, "{}", compactor.mode_name());
        drop(compactor);
        s.heap = Arc::try_unwrap(heap)
            .ok()
            .expect("the compactor's threads let go of the heap");
        check_after(&mut s, &before, checksum);
    }
}
