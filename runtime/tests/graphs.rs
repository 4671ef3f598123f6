//! Random object graphs, mutated between collections: the verifier passes,
//! the reachable graph's checksum survives every collection, garbage is
//! reclaimed and weak slots to dead objects are cleared.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use runtime::{AllocSpec, Gc, Mode, Mutator, RawValue, Runtime, Value};

/// Allocates an object that stores `id` in its first raw word, and pushes
/// it on the value stack.
fn push_obj(m: &mut Mutator, id: u64, slots: u32, bytes: usize, pinned: bool, weak: bool) {
    let (m, obj) = m
        .alloc(AllocSpec {
            tag: 7,
            slots,
            bytes: bytes.max(8),
            pinned,
            weak,
        })
        .expect("test heap is large enough");
    obj.set_raw_word(0, id);
    m.push(obj.into());
}

fn id_of(o: Gc<'_>) -> u64 {
    o.raw_word(0)
}

fn obj(v: Value<'_>) -> Gc<'_> {
    v.as_object().expect("an object")
}

/// The value stack, bottom first.
fn stack(m: &Mutator) -> Vec<Value<'_>> {
    (0..m.stack_len()).map(|i| m.stack_get(i)).collect()
}

/// The size in bytes of an object (header included).
fn size_of(o: Gc<'_>) -> usize {
    (2 + o.slot_count()) * 8 + o.byte_len()
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
    /// A young collection (generational runtimes in stw; a full one
    /// elsewhere).
    CollectYoung,
    /// Start a concurrently marked cycle (uffd modes): the ops that follow
    /// run while it marks, plans and compacts.
    StartCycle,
    /// The same for a young cycle (generational runtimes; full elsewhere).
    StartYoungCycle,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..6, 0usize..200, 0u8..10).prop_map(|(slots, bytes, kind)| Op::Alloc { slots, bytes, kind }),
        6 => (any::<usize>(), any::<usize>(), any::<usize>()).prop_map(|(from, slot, to)| Op::Link { from, slot, to }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(from, slot)| Op::Unlink { from, slot }),
        3 => any::<usize>().prop_map(|root| Op::DropRoot { root }),
        1 => Just(Op::Collect),
        1 => Just(Op::CollectYoung),
        1 => Just(Op::StartCycle),
        1 => Just(Op::StartYoungCycle),
    ]
}

/// Ids of objects reachable from the roots through strong slots, and their bytes.
fn reachable(m: &Mutator) -> (HashSet<u64>, usize) {
    let mut seen = HashSet::new();
    let mut bytes = 0;
    let mut stack = stack(m);
    while let Some(v) = stack.pop() {
        let Some(o) = v.as_object() else {
            continue;
        };
        if !seen.insert(id_of(o)) {
            continue;
        }
        bytes += size_of(o);
        if o.is_weak() {
            continue;
        }
        for i in 0..o.slot_count() {
            stack.push(o.slot(i));
        }
    }
    (seen, bytes)
}

fn run_ops(mode: Mode, mark_threads: usize, ops: &[Op]) {
    run_threads(mode, mark_threads, 1, ops, 1.0, None);
}

/// Runs `ops` on `threads` mutator threads at once (with the dense prefix
/// at `dense_prefix`; 1 is off; generational collection with promotion
/// at `Some(age)`, off with `None`), each on its own graph
/// (thread `t` starts `t` quarters into the sequence), then drops every
/// root and checks that the heap drains to empty.
fn run_threads(
    mode: Mode,
    mark_threads: usize,
    threads: usize,
    ops: &[Op],
    dense_prefix: f64,
    generational: Option<u8>,
) {
    let mut builder = Runtime::builder().mode(mode);
    builder = match generational {
        Some(age) => builder.generational(true).promotion_age(age),
        None => builder.generational(false),
    };
    let rt = builder
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
                m.stack_truncate(0);
            });
        }
    });
    let mut m = rt.mutator().expect("mutator");
    m.collect().expect("final collection");
    m.quiesce();
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
                push_obj(m, next_id, slots, bytes, pinned, weak);
                next_id += 1;
            }
            Op::Link { from, slot, to } => {
                let n = m.stack_len();
                if n == 0 {
                    continue;
                }
                let (f, t) = (obj(m.stack_get(from % n)), m.stack_get(to % n));
                if f.slot_count() > 0 {
                    m.write(f, slot % f.slot_count(), t);
                }
            }
            Op::Unlink { from, slot } => {
                let n = m.stack_len();
                if n == 0 {
                    continue;
                }
                let f = obj(m.stack_get(from % n));
                if f.slot_count() > 0 {
                    m.write(f, slot % f.slot_count(), Value::number(slot as f64));
                }
            }
            Op::DropRoot { root } => {
                let n = m.stack_len();
                if n > 0 {
                    let top = m.pop().expect("n > 0").raw();
                    if root % n != n - 1 {
                        // SAFETY: a raw value just popped from this thread's
                        // roots, with no safepoint since.
                        m.stack_set(root % n, unsafe { Value::from_raw(top) });
                    }
                }
            }
            Op::Collect => collect_and_check(m, alone, false),
            Op::CollectYoung => collect_and_check(m, alone, true),
            Op::StartCycle => {
                m.start_cycle();
            }
            Op::StartYoungCycle => {
                m.start_young_cycle();
            }
        }
    }
    collect_and_check(m, alone, false);
}

/// Collects (young if `young`: old garbage may then stay, and weak slots to
/// it keep their targets) and checks the graph, the heap and weak slots.
fn collect_and_check(m: &mut Mutator, alone: bool, young: bool) {
    m.verify().expect("heap valid before the collection");
    let (live_ids, live_bytes) = reachable(m);
    // Weak slots and what they referred to before the collection.
    let mut weak_before: HashMap<(u64, usize), u64> = HashMap::new();
    for v in stack(m) {
        let o = obj(v);
        if o.is_weak() {
            for i in 0..o.slot_count() {
                if let Some(t) = m.load_weak(o, i).as_object() {
                    weak_before.insert((id_of(o), i), id_of(t));
                }
            }
        }
    }
    let before = m.checksum();
    if young {
        m.collect_young().expect("young collection");
    } else {
        m.collect().expect("collection");
    }
    // In the uffd modes this walk races the concurrent compaction: every
    // page it touches is served by a fault.
    assert_eq!(
        m.checksum(),
        before,
        "the reachable graph changed shape or payload"
    );
    let verified = m.verify().expect("heap valid after the collection");
    if alone && young {
        assert!(
            m.used_bytes() - verified.filler_bytes >= live_bytes,
            "a young collection keeps every live byte"
        );
    } else if alone {
        assert_eq!(
            m.used_bytes() - verified.filler_bytes,
            live_bytes,
            "used bytes after a collection are exactly the live bytes (and the dense prefix's fillers)"
        );
    }
    for v in stack(m) {
        let o = obj(v);
        if !o.is_weak() {
            continue;
        }
        for i in 0..o.slot_count() {
            if let Some(&target) = weak_before.get(&(id_of(o), i)) {
                let s = m.load_weak(o, i);
                if live_ids.contains(&target) {
                    assert!(
                        s.as_object().is_some_and(|t| id_of(t) == target),
                        "weak slot to a live object must survive and follow it"
                    );
                } else {
                    assert!(
                        s.is_nil() || young,
                        "weak slot to a dead object must read as nil"
                    );
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

    /// Generational: random young and full collections in stw.
    #[test]
    fn random_graphs_survive_young_and_full_collections_stw(ops in prop::collection::vec(op(), 1..300)) {
        run_threads(Mode::Stw, 1, 1, &ops, 1.0, Some(1));
    }

    /// The same with two mark threads and four mutator threads.
    #[test]
    fn random_graphs_survive_young_and_full_collections_stw_threads(ops in prop::collection::vec(op(), 1..300)) {
        run_threads(Mode::Stw, 2, 4, &ops, 1.0, Some(1));
    }

    /// Generational in the uffd modes: random young and full cycles, some
    /// marked concurrently while the ops run.
    #[test]
    fn random_graphs_survive_young_and_full_collections_uffd(ops in prop::collection::vec(op(), 1..300)) {
        for mode in [Mode::UffdCopy, Mode::UffdWorkers, Mode::UffdMove, Mode::Sigbus] {
            run_threads(mode, 1, 1, &ops, 1.0, Some(1));
        }
    }

    /// Generational with promotion after two survivals, stw (two mark
    /// threads, four mutators) and the uffd modes.
    #[test]
    fn random_graphs_survive_young_and_full_collections_age_two(ops in prop::collection::vec(op(), 1..300)) {
        run_threads(Mode::Stw, 1, 1, &ops, 1.0, Some(2));
        run_threads(Mode::Stw, 2, 4, &ops, 1.0, Some(2));
        for mode in [Mode::Uffd, Mode::UffdCopy, Mode::Sigbus] {
            run_threads(mode, 1, 1, &ops, 1.0, Some(2));
        }
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
            run_threads(mode, 1, 4, &ops, 1.0, None);
        }
    }

    /// Generational, four mutator threads, every mode.
    #[test]
    fn random_graphs_survive_young_and_full_collections_four_threads(ops in prop::collection::vec(op(), 1..300)) {
        for mode in Mode::ALL {
            run_threads(mode, 1, 4, &ops, 1.0, Some(1));
        }
    }

    /// The same with the dense prefix on, one thread, in every mode.
    #[test]
    fn random_graphs_survive_collections_with_a_dense_prefix(ops in prop::collection::vec(op(), 1..300)) {
        for mode in Mode::ALL {
            run_threads(mode, 1, 1, &ops, gc::heap::RECOMMENDED_DENSE_PREFIX_THRESHOLD, None);
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
        push_obj(&mut m, i, 1, 24 + (i as usize % 5) * 8, false, false);
    }
    // Keep every third object.
    let kept: Vec<RawValue> = stack(&m).iter().map(|v| v.raw()).step_by(3).collect();
    m.stack_truncate(0);
    for &k in &kept {
        // SAFETY: raw values read from this thread's roots just now, with no
        // safepoint since.
        m.push(unsafe { Value::from_raw(k) });
    }
    let live_bytes: usize = stack(&m).into_iter().map(|v| size_of(obj(v))).sum();
    let before = m.checksum();
    m.collect().expect("collect");
    m.finish_cycle().expect("the cycle ends");
    // Generational collection (on by default) plugs the rest of the old
    // generation's last page with a filler.
    let compacted = if rt.heap().old_generation_bytes() > 0 {
        live_bytes.next_multiple_of(gc::units::PAGE_SIZE)
    } else {
        live_bytes
    };
    assert_eq!(m.used_bytes(), compacted, "{mode}");
    let (base, top) = rt.heap().moving_range();
    assert_eq!(
        top - base,
        compacted,
        "{mode}: live data is contiguous from the base"
    );
    // The survivors are laid out in their old order, back to back.
    let mut expect = base;
    for v in stack(&m) {
        assert_eq!(obj(v).addr(), expect);
        expect += size_of(obj(v));
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
            Ok((m, o)) => {
                m.push(o.into());
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
    m.stack_truncate(10);
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
    assert!(
        matches!(big, Err(runtime::AllocError::TooLarge { .. })),
        "an object larger than the heap is refused as too large, not out of memory: {big:?}"
    );
}

#[test]
fn second_mutator_is_refused_with_a_clear_error() {
    let rt = Runtime::builder().build().expect("runtime");
    let _m = rt.mutator().expect("first mutator");
    let e = rt.mutator().expect_err("second mutator refused");
    assert!(e.to_string().contains("already has a mutator"), "{e}");
}
