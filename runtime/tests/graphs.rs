//! Random object graphs, mutated between collections: the verifier passes,
//! the reachable graph's checksum survives every collection, garbage is
//! reclaimed and weak slots to dead objects are cleared.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use runtime::{AllocSpec, Mode, Mutator, Runtime, Value};

/// Every test object stores its id in its first raw word.
fn alloc_obj(
    m: &mut Mutator,
    id: u64,
    slots: u32,
    bytes: usize,
    pinned: bool,
    weak: bool,
) -> Value {
    let obj = m
        .alloc(AllocSpec {
            tag: 7,
            slots,
            bytes: bytes.max(8),
            pinned,
            weak,
        })
        .expect("test heap is large enough");
    // SAFETY: fresh object, no safepoint until the write is done.
    unsafe { obj.bytes_mut()[..8].copy_from_slice(&id.to_le_bytes()) };
    Value::object(obj)
}

fn id_of(v: Value) -> u64 {
    // SAFETY: v is a live object read from the roots, no safepoint follows.
    let b = unsafe { v.as_object().bytes() };
    u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
}

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        slots: u32,
        bytes: usize,
        kind: u8,
    },
    Link {
        from: usize,
        slot: usize,
        to: usize,
    },
    Unlink {
        from: usize,
        slot: usize,
    },
    DropRoot {
        root: usize,
    },
    Collect,
    /// Start a concurrently marked cycle (uffd modes): the ops that follow
    /// run while it marks, plans and compacts.
    StartCycle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..6, 0usize..200, 0u8..10).prop_map(|(slots, bytes, kind)| Op::Alloc { slots, bytes, kind }),
        6 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(from, slot, to)| Op::Link { from, slot, to }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(from, slot)| Op::Unlink { from, slot }),
        3 => any::<usize>().prop_map(|root| Op::DropRoot { root }),
        1 => Just(Op::Collect),
        1 => Just(Op::StartCycle),
    ]
}

/// Ids of objects reachable from the roots through strong slots, and their bytes.
fn reachable(m: &mut Mutator) -> (HashSet<u64>, usize) {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    let mut stack: Vec<Value> = m.roots().clone();
    while let Some(v) = stack.pop() {
        if !v.is_object() {
            continue;
        }
        let o = v.as_object();
        if !seen.insert(id_of(v)) {
            continue;
        }
        bytes += o.size_words() * 8;
        if o.header().is_weak() {
            continue;
        }
        for i in 0..o.slot_count() {
            stack.push(o.slot(i));
        }
    }
    (seen, bytes)
}

fn run_ops(mode: Mode, mark_threads: usize, ops: &[Op]) {
    run_threads(mode, mark_threads, 1, ops, 1.0);
}

/// Runs `ops` on `threads` mutator threads at once (with the dense prefix
/// at `dense_prefix`; 1 is off), each on its own graph
/// (thread `t` starts `t` quarters into the sequence), then drops every
/// root and checks that the heap drains to empty.
fn run_threads(mode: Mode, mark_threads: usize, threads: usize, ops: &[Op], dense_prefix: f64) {
    let rt = Runtime::builder()
        .mode(mode)
        .dense_prefix(dense_prefix)
        .mark_threads(mark_threads)
        .heap_limit(64 << 20)
        .large_object_threshold(4 << 10)
        .concurrent_mark_delay(std::time::Duration::from_millis(1))
        .build()
        .expect("runtime");
    std::thread::scope(|s| {
        for t in 0..threads {
            let rt = &rt;
            s.spawn(move || {
                let mut m = rt.mutator().expect("mutator");
                let mut ops = ops.to_vec();
                let shift = t * ops.len() / threads;
                ops.rotate_left(shift);
                run_on(&mut m, (t as u64) << 40, threads == 1, &ops);
                m.roots().clear();
            });
        }
    });
    let mut m = rt.mutator().expect("mutator");
    m.collect().expect("final collection");
    rt.quiesce();
    assert_eq!(
        m.used_bytes(),
        0,
        "an empty root set must leave an empty heap"
    );
}

/// One thread's share: `ops` on its own graph, ids from `first_id`.
/// `alone` when no other thread allocates (used bytes are then exactly
/// this graph's).
fn run_on(m: &mut Mutator, first_id: u64, alone: bool, ops: &[Op]) {
    let mut next_id = first_id + 1;
    for op in ops {
        match *op {
            Op::Alloc { slots, bytes, kind } => {
                let (pinned, weak, bytes) = match kind {
                    0 => (true, false, bytes),
                    1 => (false, true, bytes),
                    2 => (false, false, 4096 + bytes * 16),
                    _ => (false, false, bytes),
                };
                let v = alloc_obj(m, next_id, slots, bytes, pinned, weak);
                next_id += 1;
                m.roots().push(v);
            }
            Op::Link { from, slot, to } => {
                let n = m.roots().len();
                if n == 0 {
                    continue;
                }
                let (f, t) = (m.roots()[from % n], m.roots()[to % n]);
                let fo = f.as_object();
                if fo.slot_count() > 0 {
                    m.write(fo, slot % fo.slot_count(), t);
                }
            }
            Op::Unlink { from, slot } => {
                let n = m.roots().len();
                if n == 0 {
                    continue;
                }
                let fo = m.roots()[from % n].as_object();
                if fo.slot_count() > 0 {
                    m.write(fo, slot % fo.slot_count(), Value::number(slot as f64));
                }
            }
            Op::DropRoot { root } => {
                let n = m.roots().len();
                if n > 0 {
                    m.roots().swap_remove(root % n);
                }
            }
            Op::Collect => collect_and_check(m, alone),
            Op::StartCycle => {
                m.start_cycle();
            }
        }
    }
    collect_and_check(m, alone);
}

fn collect_and_check(m: &mut Mutator, alone: bool) {
    m.verify().expect("heap valid before the collection");
    let (live_ids, live_bytes) = reachable(m);
    // Weak slots and what they referred to before the collection.
    let mut weak_before: HashMap<(u64, usize), u64> = HashMap::new();
    for v in m.roots().clone() {
        let o = v.as_object();
        if o.header().is_weak() {
            for i in 0..o.slot_count() {
                if o.slot(i).is_object() {
                    weak_before.insert((id_of(v), i), id_of(o.slot(i)));
                }
            }
        }
    }
    let before = m.checksum();
    m.collect().expect("collection");
    // In the uffd modes this walk races the concurrent compaction: every
    // page it touches is served by a fault.
    assert_eq!(
        m.checksum(),
        before,
        "the reachable graph changed shape or payload"
    );
    let verified = m.verify().expect("heap valid after the collection");
    if alone {
        assert_eq!(
            m.used_bytes() - verified.filler_bytes,
            live_bytes,
            "used bytes after a collection are exactly the live bytes (and the dense prefix's fillers)"
        );
    }
    for v in m.roots().clone() {
        let o = v.as_object();
        if !o.header().is_weak() {
            continue;
        }
        for i in 0..o.slot_count() {
            if let Some(&target) = weak_before.get(&(id_of(v), i)) {
                let s = o.slot(i);
                if live_ids.contains(&target) {
                    assert!(
                        s.is_object() && id_of(s) == target,
                        "weak slot to a live object must survive and follow it"
                    );
                } else {
                    assert!(s.is_nil(), "weak slot to a dead object must read as nil");
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn random_graphs_survive_collections_stw(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::Stw, 1, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_with_parallel_marking(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::Stw, 2, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_uffd_copy(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::UffdCopy, 1, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_uffd(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::Uffd, 2, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_uffd_workers(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::UffdWorkers, 1, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_sigbus(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::Sigbus, 1, &ops);
    }

    #[test]
    fn random_graphs_survive_collections_uffd_move(ops in prop::collection::vec(op(), 1..300)) {
        run_ops(Mode::UffdMove, 1, &ops);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// The same with four mutator threads, each on its own graph, in every
    /// mode: every thread's collections stop the others mid-mutation.
    #[test]
    fn random_graphs_survive_collections_four_threads(ops in prop::collection::vec(op(), 1..300)) {
        for mode in Mode::ALL {
            run_threads(mode, 1, 4, &ops, 1.0);
        }
    }

    /// The same with the dense prefix on, one thread, in every mode.
    #[test]
    fn random_graphs_survive_collections_with_a_dense_prefix(ops in prop::collection::vec(op(), 1..300)) {
        for mode in Mode::ALL {
            run_threads(mode, 1, 1, &ops, gc::heap::RECOMMENDED_DENSE_PREFIX_THRESHOLD);
        }
    }
}

const MODES: [Mode; 6] = Mode::ALL;

#[test]
fn fragmented_heap_compacts_to_contiguous_live_data() {
    for mode in MODES {
        fragmented_heap_compacts(mode);
    }
}

fn fragmented_heap_compacts(mode: Mode) {
    let rt = Runtime::builder()
        .mode(mode)
        .heap_limit(64 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    for i in 0..20_000u64 {
        let v = alloc_obj(&mut m, i, 1, 24 + (i as usize % 5) * 8, false, false);
        m.roots().push(v);
    }
    // Keep every third object; chain them so the graph has shape.
    let kept: Vec<Value> = m.roots().iter().copied().step_by(3).collect();
    m.roots().clear();
    m.roots().extend(kept.iter().copied());
    let live_bytes: usize = kept.iter().map(|v| v.as_object().size_words() * 8).sum();
    let before = m.checksum();
    m.collect().expect("collect");
    assert_eq!(m.used_bytes(), live_bytes);
    let heap = rt.heap();
    assert_eq!(
        heap.moving().top() - heap.moving().base(),
        live_bytes,
        "live data is contiguous from the base"
    );
    // The survivors are laid out in their old order, back to back.
    let mut expect = heap.moving().base();
    for v in m.roots().clone() {
        assert_eq!(v.object_addr(), expect);
        expect += v.as_object().size_words() * 8;
    }
    assert_eq!(m.checksum(), before);
}

#[test]
fn out_of_memory_is_an_error_and_the_runtime_recovers() {
    for mode in MODES {
        out_of_memory_recovers(mode);
    }
}

fn out_of_memory_recovers(mode: Mode) {
    let rt = Runtime::builder()
        .mode(mode)
        .heap_limit(8 << 20)
        .build()
        .expect("runtime");
    let mut m = rt.mutator().expect("mutator");
    let mut n = 0u64;
    let err = loop {
        match m.alloc(AllocSpec {
            tag: 1,
            slots: 2,
            bytes: 1000,
            ..Default::default()
        }) {
            Ok(o) => {
                m.roots().push(Value::object(o));
                n += 1;
            }
            Err(e) => break e,
        }
        assert!(
            n < 1_000_000,
            "an 8 MiB heap cannot hold a million 1 KiB objects"
        );
    };
    assert!(err.to_string().contains("out of memory"), "{err}");
    assert!(
        n > 1000,
        "most of the heap was usable before running out ({n} objects)"
    );
    m.roots().truncate(10);
    let o = m.alloc(AllocSpec {
        tag: 1,
        slots: 2,
        bytes: 1000,
        ..Default::default()
    });
    assert!(o.is_ok(), "after dropping roots the heap is usable again");
    let big = m.alloc(AllocSpec {
        tag: 1,
        slots: 0,
        bytes: 64 << 20,
        ..Default::default()
    });
    assert!(big.is_err(), "an object larger than the heap is refused");
}

#[test]
fn second_mutator_is_refused_with_a_clear_error() {
    let rt = Runtime::builder().build().expect("runtime");
    let _m = rt.mutator().expect("first mutator");
    let e = rt.mutator().err().expect("second mutator refused");
    assert!(e.to_string().contains("already has a mutator"), "{e}");
}
